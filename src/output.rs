//! Terminal output: logging setup, progress bars, byte and time formatting.
//!
//! Colour and bold go only to a terminal, and never when `NO_COLOR` is set
//! (<https://no-color.org>): piped output and log files carry no escape codes.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Third-party log targets that may quote message content; always off.
const SILENCED: &str =
    "pdf_extract=off,lopdf=off,html2text=off,html5ever=off,tantivy=warn,sqlx=warn";

/// Whether `stream` may carry colour and bold: a terminal, and `NO_COLOR` unset or empty.
pub fn styled(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Logs to stderr; `COFFER_LOG` overrides the default filter.
pub fn init_logging(default: &str) {
    let filter = std::env::var("COFFER_LOG").unwrap_or_else(|_| default.to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{filter},{SILENCED}"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("warn,{SILENCED}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(styled(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// A progress bar on a terminal, hidden otherwise (and without colour under `NO_COLOR`:
/// the templates use none).
pub fn progress_bar(total: Option<u64>, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template(&format!(
                "{what} {{bar:40}} {{binary_bytes}}/{{binary_total_bytes}} ({{binary_bytes_per_sec}}, eta {{eta}}) {{msg}}"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template(&format!("{what} {{spinner}} {{pos}} {{msg}}"))
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// `1.5 MB`-style sizes.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A Unix time (seconds) as RFC 3339 UTC.
pub fn time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map_or_else(
        || secs.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

/// An error and its causes on one line, outermost first, as `{:#}` would print them but
/// without a cause that the message before it already ends with. Many of our error
/// types say "what failed: {source}" (or are transparent) and also chain that source,
/// so the plain chain printed every detail twice ("invalid query at position 5: missing
/// value after 'from:': at position 5: missing value after 'from:'"). Only a quoted
/// *ending* is skipped, so a distinct cause that merely appears inside an outer message
/// is still printed.
pub fn error_report(error: &anyhow::Error) -> String {
    let mut report = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if text.is_empty() || report.ends_with(&text) {
            continue;
        }
        if !report.is_empty() {
            report.push_str(": ");
        }
        report.push_str(&text);
    }
    report
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    crate::outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Writes `text` (whole lines, each ending in a newline) to stdout in one write; like
/// [`outln!`](crate::outln), output to a closed pipe is dropped.
pub fn print_text(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// `println!` that does not panic when stdout is closed (`coffer search ... | head`):
/// output to a closed pipe is simply dropped.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[cfg(test)]
mod tests {
    use super::error_report;

    #[derive(Debug, thiserror::Error)]
    #[error("at position 5: missing value")]
    struct Parse;

    #[derive(Debug, thiserror::Error)]
    #[error("invalid query {0}")]
    struct Query(#[from] Parse);

    #[test]
    fn a_cause_quoted_by_its_outer_message_is_not_repeated() {
        let error = anyhow::Error::from(Query(Parse));
        assert_eq!(error.chain().count(), 2);
        assert_eq!(
            error_report(&error),
            "invalid query at position 5: missing value"
        );
    }

    #[test]
    fn context_and_a_distinct_cause_are_both_kept() {
        let error = anyhow::Error::from(Query(Parse)).context("opening the index");
        assert_eq!(
            error_report(&error),
            "opening the index: invalid query at position 5: missing value"
        );
        let io = anyhow::Error::from(std::io::Error::other("disk full")).context("writing x");
        assert_eq!(error_report(&io), "writing x: disk full");
    }
}
