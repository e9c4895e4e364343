//! Throttling of failed logins, per username and per client address.
//!
//! Each key (`user:<name>`, `ip:<address>`) counts failures; after `free_failures`
//! (5 per username, 20 per address) every further attempt must wait an exponentially
//! growing delay since the last failure (1 s, 2 s, 4 s, ... capped at 15 minutes);
//! attempts inside the delay are refused with 429 and a `Retry-After`, *before* the
//! password is checked, so a locked-out attacker learns nothing. Counters reset after
//! `window` without failures; a successful login resets its username's counter (not
//! the address's). State is in memory: a restart forgets it, which only shortens delays.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Throttling settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures per username before delays start.
    pub user_free_failures: u32,
    /// Failures per client address before delays start.
    pub ip_free_failures: u32,
    /// First delay.
    pub base_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
    /// A key is forgotten after this long without failures.
    pub window: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            user_free_failures: 5,
            ip_free_failures: 20,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
}

/// Most keys kept; beyond it the oldest are dropped first.
const MAX_KEYS: usize = 100_000;

/// The throttle state.
#[derive(Debug)]
pub struct Throttle {
    config: ThrottleConfig,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Throttle {
    /// An empty throttle.
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn keys(username: &str, client: &str) -> [(String, bool); 2] {
        [
            (
                format!("user:{}", username.trim().to_ascii_lowercase()),
                true,
            ),
            (format!("ip:{client}"), false),
        ]
    }

    fn delay(&self, failures: u32, free: u32) -> Duration {
        if failures < free {
            return Duration::ZERO;
        }
        let doublings = (failures - free).min(20);
        self.config
            .base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.config.max_delay)
    }

    /// `Err(wait)` when an attempt for this username from this client must wait.
    pub fn check(&self, username: &str, client: &str, now: Instant) -> Result<(), Duration> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = Duration::ZERO;
        for (key, is_user) in Self::keys(username, client) {
            let Some(e) = entries.get(&key) else { continue };
            if now.duration_since(e.last) >= self.config.window {
                continue;
            }
            let free = if is_user {
                self.config.user_free_failures
            } else {
                self.config.ip_free_failures
            };
            let until = e.last + self.delay(e.failures, free);
            if until > now {
                wait = wait.max(until - now);
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Counts a failed attempt.
    pub fn failure(&self, username: &str, client: &str, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_KEYS {
            let window = self.config.window;
            entries.retain(|_, e| now.duration_since(e.last) < window);
            if entries.len() >= MAX_KEYS {
                entries.clear();
            }
        }
        for (key, _) in Self::keys(username, client) {
            let e = entries.entry(key).or_insert(Entry {
                failures: 0,
                last: now,
            });
            if now.duration_since(e.last) >= self.config.window {
                e.failures = 0;
            }
            e.failures = e.failures.saturating_add(1);
            e.last = now;
        }
    }

    /// A successful login: the username's counter starts over.
    pub fn success(&self, username: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(&format!("user:{}", username.trim().to_ascii_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_after_free_failures_and_reset() {
        let t = Throttle::new(ThrottleConfig::default());
        let start = Instant::now();
        for i in 0..5 {
            assert!(t.check("amy", "1.1.1.1", start).is_ok(), "attempt {i}");
            t.failure("Amy", "1.1.1.1", start);
        }
        assert_eq!(
            t.check("amy", "2.2.2.2", start),
            Err(Duration::from_secs(1))
        );
        assert!(
            t.check("bob", "1.1.1.1", start).is_ok(),
            "other user, same address"
        );
        let later = start + Duration::from_secs(1);
        assert!(t.check("amy", "1.1.1.1", later).is_ok());
        t.failure("amy", "1.1.1.1", later);
        assert_eq!(
            t.check("amy", "1.1.1.1", later),
            Err(Duration::from_secs(2))
        );
        t.success("amy");
        assert!(t.check("amy", "1.1.1.1", later).is_ok());
        // The address alone: 20 free failures over many usernames.
        for i in 0..20 {
            t.failure(&format!("u{i}"), "3.3.3.3", start);
        }
        assert!(t.check("zed", "3.3.3.3", start).is_err());
        assert!(
            t.check("zed", "3.3.3.3", start + Duration::from_secs(15 * 60))
                .is_ok(),
            "window passed"
        );
    }
}
