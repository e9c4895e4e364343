//! The mailboxes a message record names, as its catalog row keeps them (migration 0016,
//! issue 24): the mailbox ids, ascending, in decimal, separated by commas ("3,17,250"),
//! NULL for none. One column of the message row instead of a row per link: on business
//! mail (2.4 links per message) the link rows were a fifth of the catalog. Text, not a
//! binary list, so that both databases' migrations build it in SQL (`group_concat`,
//! `string_agg`) and a person reading the database sees what it says.

use crate::{Error, Result};

/// The column value for mailbox ids `ids` (any order, repeats allowed): `None` for none.
pub(crate) fn encode(mut ids: Vec<i64>) -> Option<String> {
    ids.sort_unstable();
    ids.dedup();
    (!ids.is_empty()).then(|| ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","))
}

/// The mailbox ids of a column value, ascending and without repeats; anything but
/// comma-separated positive decimal integers is an invalid catalog.
pub(crate) fn decode(list: &str) -> Result<Vec<i64>> {
    let mut ids = list
        .split(',')
        .map(|part| {
            part.parse::<i64>()
                .ok()
                .filter(|id| *id > 0 && part.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| Error::Invalid(format!("mailbox list {list:?}")))
        })
        .collect::<Result<Vec<i64>>>()?;
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_sorted_without_repeats() {
        assert_eq!(encode(vec![]), None);
        assert_eq!(encode(vec![250, 3, 17, 3]).as_deref(), Some("3,17,250"));
        assert_eq!(decode("3,17,250").expect("decodes"), vec![3, 17, 250]);
        // As a database's aggregate may order it.
        assert_eq!(decode("17,3,3").expect("decodes"), vec![3, 17]);
        for ids in [vec![1], vec![1, i64::MAX], (1..500).collect()] {
            let list = encode(ids.clone()).expect("some");
            assert_eq!(decode(&list).expect("decodes"), ids);
        }
    }

    #[test]
    fn anything_else_is_invalid() {
        for bad in [
            "",
            ",",
            "3,",
            ",3",
            "3,,4",
            "0",
            "-3",
            "+3",
            " 3",
            "3 ",
            "x",
            "3;4",
            "99999999999999999999",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }
}
