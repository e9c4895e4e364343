//! Throttling of logins: every attempt is counted *before* its password is checked, and
//! the counts are kept so that one client's burst cannot lock anybody else out.
//!
//! Three counters, each with its own allowance of free failures before an exponentially
//! growing delay (1 s, 2 s, 4 s, ... capped at 15 minutes) since the last failure:
//! - **account × client** (5 free): guessing one account's password from one address;
//!   the account stays open from every other address;
//! - **client** (20 distinct accounts): one address trying many accounts (password
//!   spraying); a burst against one account counts once here, so the colleagues behind
//!   the same NAT are not locked out by it;
//! - **account** (100 free, over all addresses): a distributed attack on one account; the
//!   allowance is large enough that no single client reaches it.
//!
//! [`Throttle::begin`] checks all three and counts the attempt as a failure in one step
//! under one lock, so 32 parallel attempts cannot all pass a check that the first
//! failures have not yet updated; [`Throttle::succeeded`] takes a successful attempt
//! back. Attempts inside a delay are refused with 429 and a `Retry-After` before any
//! password is checked. Counters are forgotten after `window` without failures; state is
//! in memory (a restart forgets it, which only shortens delays).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Throttling settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures per account from one client before delays start.
    pub account_client_free_failures: u32,
    /// Distinct accounts one client may fail on before its delays start.
    pub client_free_accounts: u32,
    /// Failures per account over all clients before delays start.
    pub account_free_failures: u32,
    /// First delay.
    pub base_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
    /// A counter is forgotten after this long without failures.
    pub window: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            account_client_free_failures: 5,
            client_free_accounts: 20,
            account_free_failures: 100,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    AccountClient(String, String),
    Client(String),
    Account(String),
}

#[derive(Debug, Clone, Default)]
struct Entry {
    failures: u32,
    last: Option<Instant>,
    /// For [`Key::Client`]: the accounts it failed on (bounded).
    accounts: HashSet<String>,
}

/// Most keys kept; beyond it the expired ones are dropped (then all, as a last resort).
const MAX_KEYS: usize = 100_000;
/// Most distinct accounts remembered per client.
const MAX_ACCOUNTS_PER_CLIENT: usize = 1_000;

/// One login attempt that passed the throttle; already counted as a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    account: String,
    client: String,
}

/// The throttle state.
#[derive(Debug)]
pub struct Throttle {
    config: ThrottleConfig,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl Throttle {
    /// An empty throttle.
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            entries: Mutex::new(HashMap::new()),
        }
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

    /// Checks whether a login for `username` from `client` may be tried now and, if so,
    /// counts it as a failure at once (see the module docs). `Err(wait)` when it must
    /// wait.
    pub fn begin(&self, username: &str, client: &str, now: Instant) -> Result<Attempt, Duration> {
        let account = username.trim().to_ascii_lowercase();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let window = self.config.window;
        let live = |e: &Entry| e.last.is_some_and(|last| now.duration_since(last) < window);
        let keys = [
            (
                Key::AccountClient(account.clone(), client.to_string()),
                self.config.account_client_free_failures,
            ),
            (
                Key::Client(client.to_string()),
                self.config.client_free_accounts,
            ),
            (
                Key::Account(account.clone()),
                self.config.account_free_failures,
            ),
        ];
        let mut wait = Duration::ZERO;
        for (key, free) in &keys {
            let Some(e) = entries.get(key).filter(|e| live(e)) else {
                continue;
            };
            let failures = match key {
                Key::Client(_) => u32::try_from(e.accounts.len()).unwrap_or(u32::MAX),
                _ => e.failures,
            };
            if let Some(last) = e.last {
                let until = last + self.delay(failures, *free);
                if until > now {
                    wait = wait.max(until - now);
                }
            }
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        if entries.len() >= MAX_KEYS {
            entries.retain(|_, e| live(e));
            if entries.len() >= MAX_KEYS {
                entries.clear();
            }
        }
        for (key, _) in keys {
            let e = entries.entry(key.clone()).or_default();
            if !live(e) {
                *e = Entry::default();
            }
            e.failures = e.failures.saturating_add(1);
            e.last = Some(now);
            if matches!(key, Key::Client(_)) && e.accounts.len() < MAX_ACCOUNTS_PER_CLIENT {
                e.accounts.insert(account.clone());
            }
        }
        Ok(Attempt {
            account,
            client: client.to_string(),
        })
    }

    /// A successful attempt: its account starts over from this client and its failure
    /// is taken back everywhere else.
    pub fn succeeded(&self, attempt: &Attempt) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(&Key::AccountClient(
            attempt.account.clone(),
            attempt.client.clone(),
        ));
        if let Some(e) = entries.get_mut(&Key::Account(attempt.account.clone())) {
            e.failures = e.failures.saturating_sub(1);
        }
        if let Some(e) = entries.get_mut(&Key::Client(attempt.client.clone())) {
            e.failures = e.failures.saturating_sub(1);
            e.accounts.remove(&attempt.account);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_per_account_and_client_and_reset() {
        let t = Throttle::new(ThrottleConfig::default());
        let start = Instant::now();
        for i in 0..5 {
            assert!(t.begin("Amy", "1.1.1.1", start).is_ok(), "attempt {i}");
        }
        assert_eq!(
            t.begin("amy", "1.1.1.1", start),
            Err(Duration::from_secs(1))
        );
        assert!(
            t.begin("amy", "2.2.2.2", start).is_ok(),
            "the same account from another address is not locked out"
        );
        let bob = t
            .begin("bob", "1.1.1.1", start)
            .expect("other account, same address");
        t.succeeded(&bob);
        let later = start + Duration::from_secs(1);
        assert!(t.begin("amy", "1.1.1.1", later).is_ok());
        assert_eq!(
            t.begin("amy", "1.1.1.1", later),
            Err(Duration::from_secs(2))
        );
        let amy = t
            .begin("amy", "1.1.1.1", later + Duration::from_secs(2))
            .expect("after the wait");
        t.succeeded(&amy);
        assert!(
            t.begin("amy", "1.1.1.1", later + Duration::from_secs(2))
                .is_ok()
        );
    }

    #[test]
    fn spraying_many_accounts_from_one_address_is_delayed() {
        let t = Throttle::new(ThrottleConfig::default());
        let start = Instant::now();
        for i in 0..20 {
            assert!(t.begin(&format!("u{i}"), "3.3.3.3", start).is_ok());
        }
        assert!(t.begin("zed", "3.3.3.3", start).is_err());
        assert!(
            t.begin("zed", "4.4.4.4", start).is_ok(),
            "other addresses unaffected"
        );
        assert!(
            t.begin("zed", "3.3.3.3", start + Duration::from_secs(15 * 60))
                .is_ok(),
            "window passed"
        );
    }

    #[test]
    fn a_burst_on_one_account_counts_once_for_its_address() {
        let t = Throttle::new(ThrottleConfig::default());
        let start = Instant::now();
        let passed = (0..32)
            .filter(|_| t.begin("victim", "5.5.5.5", start).is_ok())
            .count();
        assert_eq!(passed, 5, "only the free attempts pass");
        let colleague = t.begin("colleague", "5.5.5.5", start);
        assert!(colleague.is_ok(), "the same address, another account");
    }

    #[test]
    fn a_distributed_attack_on_one_account_is_delayed() {
        let t = Throttle::new(ThrottleConfig::default());
        let start = Instant::now();
        for i in 0..100 {
            assert!(
                t.begin("ceo", &format!("10.0.{}.{}", i / 250, i % 250), start)
                    .is_ok()
            );
        }
        assert!(t.begin("ceo", "10.9.9.9", start).is_err());
    }
}
