//! Failed and throttled logins, summarised for the audit trail: one entry per account
//! (or `anonymous`) and client address per window, with a count — not one fsynced,
//! undeletable record per request (1,000 failed requests in a second must not write
//! 1,000 audit records).
//!
//! The first failure of a window is recorded at once (an attack shows in the trail while
//! it happens); the rest are counted and written as one `login` entry with
//! `detail.summary = true`, `detail.count` and the count per reason when the window
//! ends ([`LoginFailures::due`], called by the server's housekeeping every few seconds,
//! and for everything on shutdown).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use coffer_audit::{AuditEntry, Outcome};

/// How long failures of one account and client are gathered into one entry.
pub const SUMMARY_WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Window {
    started: Instant,
    /// Failures after the first (the first was recorded on its own), by reason.
    reasons: BTreeMap<&'static str, u64>,
}

/// Failed logins waiting to be summarised.
#[derive(Debug, Default)]
pub struct LoginFailures {
    windows: Mutex<HashMap<(String, String), Window>>,
}

fn entry(actor: &str, client: &str, detail: serde_json::Value) -> AuditEntry {
    AuditEntry::new(actor, "login", actor, Outcome::Failure, client).with_detail(detail)
}

impl LoginFailures {
    /// Counts one failed or throttled login; returns the entry to record now when it
    /// opens a window.
    pub fn failed(
        &self,
        actor: &str,
        client: &str,
        reason: &'static str,
        now: Instant,
    ) -> Option<AuditEntry> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let key = (actor.to_string(), client.to_string());
        match windows.get_mut(&key) {
            Some(window) if now.duration_since(window.started) < SUMMARY_WINDOW => {
                *window.reasons.entry(reason).or_insert(0) += 1;
                None
            }
            _ => {
                windows.insert(
                    key,
                    Window {
                        started: now,
                        reasons: BTreeMap::new(),
                    },
                );
                Some(entry(
                    actor,
                    client,
                    serde_json::json!({ "reason": reason, "count": 1 }),
                ))
            }
        }
    }

    /// Summary entries of the windows that have ended by `now` (every window when
    /// `all`), which are then forgotten. A window with nothing after its first failure
    /// needs no summary.
    pub fn due(&self, now: Instant, all: bool) -> Vec<AuditEntry> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let ended: Vec<(String, String)> = windows
            .iter()
            .filter(|(_, w)| all || now.duration_since(w.started) >= SUMMARY_WINDOW)
            .map(|(k, _)| k.clone())
            .collect();
        let mut entries = Vec::new();
        for key in ended {
            let Some(window) = windows.remove(&key) else {
                continue;
            };
            let count: u64 = window.reasons.values().sum();
            if count == 0 {
                continue;
            }
            let (actor, client) = key;
            entries.push(entry(
                &actor,
                &client,
                serde_json::json!({
                    "summary": true,
                    "count": count,
                    "reasons": window.reasons,
                    "window_seconds": SUMMARY_WINDOW.as_secs(),
                }),
            ));
        }
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_is_recorded_and_the_rest_summarised() {
        let f = LoginFailures::default();
        let start = Instant::now();
        assert!(
            f.failed("amy", "1.1.1.1", "invalid credentials", start)
                .is_some()
        );
        for _ in 0..999 {
            assert!(
                f.failed("amy", "1.1.1.1", "invalid credentials", start)
                    .is_none()
            );
        }
        assert!(f.failed("amy", "1.1.1.1", "throttled", start).is_none());
        assert!(
            f.failed("bob", "1.1.1.1", "invalid credentials", start)
                .is_some()
        );
        assert!(f.due(start, false).is_empty(), "the window has not ended");
        let summaries = f.due(start + SUMMARY_WINDOW, false);
        assert_eq!(summaries.len(), 1, "bob had one failure: no summary");
        assert_eq!(summaries[0].detail["count"], 1000);
        assert_eq!(summaries[0].detail["reasons"]["throttled"], 1);
        assert!(f.due(start + SUMMARY_WINDOW * 2, true).is_empty());
        assert!(
            f.failed(
                "amy",
                "1.1.1.1",
                "invalid credentials",
                start + SUMMARY_WINDOW * 2
            )
            .is_some(),
            "a new window"
        );
    }
}
