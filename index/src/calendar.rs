//! The years (and, for one year, the months) that hold mail in a scope, with counts: what
//! a personal archive lists, so a user whose mail goes back to 2009 sees 2009 and no
//! empty years (`GET /api/v1/calendar`).
//!
//! Built from the search itself, with the scope applied inside it: the oldest and newest
//! message (`*` sorted by date), then one count-only `during:` query per year between
//! them (at most [`MAX_CALENDAR_YEARS`]) and per month of the year asked for. The counts
//! therefore agree exactly with what browsing a year or month lists (the same message
//! date: the Date header, or the receive time without one).

use chrono::Datelike;
use coffer_model::{RecipientView, Scope};

use crate::error::Result;
use crate::search::{SearchRequest, Sort};
use crate::set::IndexSet;

/// Most years a calendar lists, counting back from the newest message; ingest keeps
/// message dates between 1980 and the receive time, so a real archive never reaches it.
pub const MAX_CALENDAR_YEARS: i32 = 100;

/// Messages per year and, for one year, per month; only periods that hold mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// Every message in scope.
    pub total: u64,
    /// `(year, messages)`, newest first.
    pub years: Vec<(i32, u64)>,
    /// `(month, messages)` of the year asked for, January first; `None` when no year
    /// was asked for.
    pub months: Option<Vec<(u32, u64)>>,
}

impl IndexSet {
    /// The [`Calendar`] of `scope` as `recipients` may see it; with `year`, also its
    /// months.
    pub fn calendar(
        &self,
        scope: &Scope,
        recipients: &RecipientView,
        year: Option<i32>,
    ) -> Result<Calendar> {
        let search = |query: String, sort: Sort, limit: usize| {
            self.search(&SearchRequest {
                query,
                scope: scope.clone(),
                recipients: recipients.clone(),
                sort,
                limit,
                offset: 0,
            })
        };
        let year_of = |sort: Sort| -> Result<Option<i32>> {
            let found = search("*".into(), sort, 1)?;
            Ok(found.hits.first().and_then(|hit| {
                chrono::DateTime::from_timestamp(hit.date.unwrap_or(hit.received), 0)
                    .map(|t| t.year())
            }))
        };
        let total = search("*".into(), Sort::DateDesc, 0)?.total;
        let mut years = Vec::new();
        if total > 0
            && let (Some(oldest), Some(newest)) =
                (year_of(Sort::DateAsc)?, year_of(Sort::DateDesc)?)
        {
            for y in (oldest.max(newest - MAX_CALENDAR_YEARS + 1)..=newest).rev() {
                let messages = search(format!("during:{y:04}"), Sort::DateDesc, 0)?.total;
                if messages > 0 {
                    years.push((y, messages));
                }
            }
        }
        let months = match year {
            Some(y) if years.iter().any(|(year, _)| *year == y) => {
                let mut months = Vec::new();
                for month in 1..=12u32 {
                    let messages =
                        search(format!("during:{y:04}-{month:02}"), Sort::DateDesc, 0)?.total;
                    if messages > 0 {
                        months.push((month, messages));
                    }
                }
                Some(months)
            }
            Some(_) => Some(Vec::new()),
            None => None,
        };
        Ok(Calendar {
            total,
            years,
            months,
        })
    }
}
