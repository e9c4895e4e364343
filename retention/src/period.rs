//! Retention periods: "7y", "90d", "forever", and when a period that starts at some
//! moment ends.
//!
//! Years are calendar years in UTC: a period of one year from 29 February ends on
//! 1 March of the next year, never earlier than a full year (fail-safe).

use chrono::{DateTime, Datelike, Months, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// How long a policy keeps a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// A number of days.
    Days(u32),
    /// A number of calendar years.
    Years(u16),
    /// Never disposed of.
    Forever,
}

/// Why a period's text does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a retention period: write a number of days or years (90d, 7y) or \"forever\""
)]
pub struct ParsePeriodError(pub String);

/// The longest period expressible (1,000 years): beyond it, write "forever".
const MAX_YEARS: u16 = 1000;
const MAX_DAYS: u32 = 366_000;

impl std::str::FromStr for Period {
    type Err = ParsePeriodError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let bad = || ParsePeriodError(s.to_string());
        if t == "forever" {
            return Ok(Period::Forever);
        }
        let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (number, unit) = t.split_at(split);
        let n: u32 = number.parse().map_err(|_| bad())?;
        match unit.trim() {
            "d" | "day" | "days" if (1..=MAX_DAYS).contains(&n) => Ok(Period::Days(n)),
            "y" | "year" | "years" if (1..=u32::from(MAX_YEARS)).contains(&n) => {
                Ok(Period::Years(n as u16))
            }
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Period::Days(n) => write!(f, "{n}d"),
            Period::Years(n) => write!(f, "{n}y"),
            Period::Forever => f.write_str("forever"),
        }
    }
}

impl Period {
    /// When a period that starts at `start` (Unix seconds) ends, in Unix seconds; `None`
    /// for "forever" or when the end cannot be represented (which keeps the message).
    pub fn end(&self, start: i64) -> Option<i64> {
        let start = DateTime::<Utc>::from_timestamp(start, 0)?;
        let end = match *self {
            Period::Forever => return None,
            Period::Days(n) => start.checked_add_signed(TimeDelta::try_days(i64::from(n))?)?,
            Period::Years(n) => {
                let end = start.checked_add_months(Months::new(u32::from(n) * 12))?;
                // chrono clamps 29 February to 28 February; a year is never shorter.
                if end.day() < start.day() {
                    end.checked_add_signed(TimeDelta::try_days(1)?)?
                } else {
                    end
                }
            }
        };
        Some(end.timestamp())
    }

    /// Whether this period keeps mail at least as long as `other` from any start.
    pub fn at_least(&self, other: &Period) -> bool {
        self.order_key() >= other.order_key()
    }

    /// A total order by length: days compared with years as 365.25-day years would
    /// mislead at the edges, so years are ordered as 366 days (never shorter than they
    /// can be) and days as themselves.
    fn order_key(&self) -> u64 {
        match *self {
            Period::Days(n) => u64::from(n),
            Period::Years(n) => u64::from(n) * 366,
            Period::Forever => u64::MAX,
        }
    }
}

impl PartialOrd for Period {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Period {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order_key()
            .cmp(&other.order_key())
            .then_with(|| self.to_string().cmp(&other.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }

    #[test]
    fn parses_and_prints() {
        for (text, period) in [
            ("7y", Period::Years(7)),
            ("90d", Period::Days(90)),
            ("1 year", Period::Years(1)),
            ("30 days", Period::Days(30)),
            ("Forever", Period::Forever),
        ] {
            assert_eq!(text.parse::<Period>().unwrap(), period, "{text}");
        }
        assert_eq!(Period::Years(7).to_string(), "7y");
        for bad in [
            "",
            "y",
            "0y",
            "7",
            "7w",
            "-1d",
            "1001y",
            "99999999999d",
            "forever!",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ends_on_calendar_dates() {
        let start = ts("2019-03-15T10:00:00Z");
        assert_eq!(
            Period::Years(1).end(start),
            Some(ts("2020-03-15T10:00:00Z"))
        );
        assert_eq!(
            Period::Days(10).end(start),
            Some(ts("2019-03-25T10:00:00Z"))
        );
        assert_eq!(Period::Forever.end(start), None);
        // A leap day plus one year is never shorter than a year.
        let leap = ts("2020-02-29T00:00:00Z");
        assert_eq!(Period::Years(1).end(leap), Some(ts("2021-03-01T00:00:00Z")));
        assert_eq!(Period::Years(4).end(leap), Some(ts("2024-02-29T00:00:00Z")));
        // Beyond what can be represented: no end, so the message is kept.
        assert_eq!(Period::Years(1000).end(i64::MAX / 2), None);
    }

    #[test]
    fn orders_by_length() {
        assert!(Period::Years(1) > Period::Days(365));
        assert!(Period::Days(367) > Period::Years(1));
        assert!(Period::Forever > Period::Years(1000));
        assert!(Period::Years(7).at_least(&Period::Years(7)));
        assert!(!Period::Years(1).at_least(&Period::Years(7)));
    }
}
