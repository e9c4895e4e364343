//! Legal holds: what they cover.
//!
//! A hold names custodian mailboxes, a query of the search language and/or a date range;
//! a message is covered when it matches every part the hold names (a hold naming none
//! covers nothing — the API refuses to create one). The query part is evaluated by the
//! index, outside this crate: the caller says whether the message matched it. A hold
//! covers mail that arrives after it was placed too, until it is released.

use serde::{Deserialize, Serialize};

/// What a hold covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldScope {
    /// Custodian mailboxes (lowercase addresses); empty: any mailbox.
    #[serde(default)]
    pub custodians: Vec<String>,
    /// A search-language query; `None`: any message.
    #[serde(default)]
    pub query: Option<String>,
    /// Earliest message date covered (Unix seconds, inclusive).
    #[serde(default)]
    pub from: Option<i64>,
    /// Latest message date covered (Unix seconds, exclusive).
    #[serde(default)]
    pub until: Option<i64>,
}

impl HoldScope {
    /// Whether the scope names anything at all (a scope naming nothing is refused).
    pub fn is_empty(&self) -> bool {
        self.custodians.is_empty()
            && self.query.is_none()
            && self.from.is_none()
            && self.until.is_none()
    }
}

/// A legal hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Its id.
    pub id: i64,
    /// Name (the matter it is for).
    pub name: String,
    /// What it covers.
    pub scope: HoldScope,
    /// When it was placed (Unix microseconds).
    pub placed_us: i64,
    /// When it was released (Unix microseconds), if it was.
    pub released_us: Option<i64>,
}

impl Hold {
    /// Whether the hold is in force at `now_us`.
    pub fn in_force(&self, now_us: i64) -> bool {
        self.placed_us <= now_us && self.released_us.is_none_or(|r| r > now_us)
    }

    /// Whether the hold covers a message with these mailboxes and this date (Unix seconds;
    /// the date the retention clock counts from), given whether the message matched the
    /// hold's query (ignored when the hold has none). A message whose date is uncertain
    /// (`None`) is covered by any date range: holding too much is the safe error.
    pub fn covers(&self, mailboxes: &[&str], date: Option<i64>, query_matched: bool) -> bool {
        let scope = &self.scope;
        if scope.is_empty() {
            return false;
        }
        let custodian = scope.custodians.is_empty()
            || mailboxes
                .iter()
                .any(|m| scope.custodians.iter().any(|c| c.eq_ignore_ascii_case(m)));
        let query = scope.query.is_none() || query_matched;
        let in_range = match date {
            None => true,
            Some(d) => scope.from.is_none_or(|f| d >= f) && scope.until.is_none_or(|u| d < u),
        };
        custodian && query && in_range
    }
}
