//! Many users at once from a CSV file (see the [crate docs](crate) for the header).

use std::io::Read;

use coffer_catalog::Catalog;

use crate::AccountError;
use crate::password::PasswordParams;
use crate::users::{Created, UserSpec, create_user};
use crate::validate::invalid;

/// The outcome of a CSV import.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Users created, with generated passwords where none was given.
    pub created: Vec<Created>,
    /// Bad rows: line number (1 = the header) and what is wrong.
    pub errors: Vec<(u64, String)>,
}

const CSV_COLUMNS: [&str; 7] = [
    "username",
    "role",
    "password",
    "mailboxes",
    "domains",
    "groups",
    "archiving_rule",
];

/// Imports users from CSV (see the [crate docs](crate) for the header). A header that
/// lacks `username` or `role`, or names an unknown column, fails the whole file.
pub async fn import_csv(
    catalog: &Catalog,
    input: impl Read,
    params: PasswordParams,
    now: i64,
) -> Result<ImportReport, AccountError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| invalid(format!("line 1: unreadable CSV header: {e}")))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    for h in &headers {
        if !CSV_COLUMNS.contains(&h.as_str()) {
            return Err(invalid(format!(
                "line 1: unknown column {h:?} (expected {})",
                CSV_COLUMNS.join(",")
            )));
        }
    }
    for required in ["username", "role"] {
        if !headers.iter().any(|h| h == required) {
            return Err(invalid(format!(
                "line 1: the header has no {required:?} column"
            )));
        }
    }
    let mut report = ImportReport::default();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                report.errors.push((line, format!("unreadable CSV: {e}")));
                // A broken quote can swallow the rest; stop rather than guess.
                if !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) {
                    break;
                }
                continue;
            }
        }
        let line = record.position().map_or(line, csv::Position::line);
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() != headers.len() {
            report.errors.push((
                line,
                format!("expected {} fields, found {}", headers.len(), record.len()),
            ));
            continue;
        }
        let mut spec = UserSpec::default();
        for (name, value) in headers.iter().zip(record.iter()) {
            let list = || {
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            };
            match name.as_str() {
                "username" => spec.username = value.to_string(),
                "role" => spec.role = value.to_string(),
                "password" => spec.password = (!value.is_empty()).then(|| value.to_string()),
                "mailboxes" => spec.mailboxes = list(),
                "domains" => spec.domains = list(),
                "groups" => spec.groups = list(),
                "archiving_rule" => {
                    spec.archiving_rule = (!value.is_empty()).then(|| value.to_string())
                }
                _ => {}
            }
        }
        match create_user(catalog, &spec, params, now).await {
            Ok(created) => report.created.push(created),
            Err(AccountError::Invalid(m)) => report.errors.push((line, m)),
            Err(AccountError::Catalog(
                e @ (coffer_catalog::Error::Conflict(_) | coffer_catalog::Error::NotFound(_)),
            )) => report.errors.push((line, e.to_string())),
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}
