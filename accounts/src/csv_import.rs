//! Many users at once from a CSV file (see the [crate docs](crate) for the header).

use std::io::Read;

use crate::AccountError;
use crate::users::{Created, UserSpec};
use crate::validate::invalid;

/// The rows of a CSV file.
#[derive(Debug, Default)]
pub(crate) struct CsvRows {
    /// Good rows: line number and the user they describe.
    pub(crate) specs: Vec<(u64, UserSpec)>,
    /// Bad rows: line number and what is wrong.
    pub(crate) errors: Vec<(u64, String)>,
}

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

/// The rows of a CSV file of users (see the [crate docs](crate) for the header): each
/// good row as a spec with its line number, each unreadable row as a line number and
/// what is wrong. A header that lacks `username` or `role`, or names an unknown column,
/// fails the whole file. Creating the users is [`crate::admin::Administration::import_csv`].
pub(crate) fn read_rows(input: impl Read) -> Result<CsvRows, AccountError> {
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
    let mut rows = CsvRows::default();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                rows.errors.push((line, format!("unreadable CSV: {e}")));
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
            rows.errors.push((
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
        rows.specs.push((line, spec));
    }
    Ok(rows)
}
