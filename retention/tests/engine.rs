//! The retention engine as a table: each row a situation, the verdict it must reach.

use coffer_retention::disposition::{HoldSnapshot, Refusal, may_approve, shortens};
use coffer_retention::{
    Assignment, Hold, HoldScope, KeptBecause, MailboxFacts, MessageFacts, Period, Policy,
    PolicyBook, Target, decide,
};

const DAY: i64 = 86_400;
/// 2026-12-06T00:00:00Z.
const NOW: i64 = 1_796_515_200;

fn ts(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("an RFC 3339 time")
        .timestamp()
}

fn book(assignments: &[(Target, &str)]) -> PolicyBook {
    let policy = |name: &str, period: Period| Policy {
        name: name.into(),
        period,
        version: 1,
    };
    PolicyBook {
        policies: vec![
            policy("one-year", Period::Years(1)),
            policy("seven-years", Period::Years(7)),
            policy("forever", Period::Forever),
            policy("ninety-days", Period::Days(90)),
        ],
        assignments: assignments
            .iter()
            .map(|(target, policy)| Assignment {
                target: target.clone(),
                policy: policy.to_string(),
            })
            .collect(),
    }
}

fn mailbox(address: &str, groups: &[&str]) -> MailboxFacts {
    MailboxFacts {
        address: address.into(),
        domain: address.split('@').nth(1).expect("an address").into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

fn message(
    date: &str,
    unreliable: bool,
    received: &str,
    mailboxes: &[MailboxFacts],
) -> MessageFacts {
    MessageFacts {
        date: Some(ts(date)),
        date_unreliable: unreliable,
        received: ts(received),
        mailboxes: mailboxes.to_vec(),
    }
}

fn hold(id: i64, scope: HoldScope, placed: i64, released: Option<i64>) -> Hold {
    Hold {
        id,
        name: format!("matter {id}"),
        scope,
        placed_us: placed * 1_000_000,
        released_us: released.map(|r| r * 1_000_000),
    }
}

fn custodians(list: &[&str]) -> HoldScope {
    HoldScope {
        custodians: list.iter().map(|c| c.to_string()).collect(),
        ..HoldScope::default()
    }
}

struct Row {
    what: &'static str,
    book: PolicyBook,
    message: MessageFacts,
    holds: Vec<Hold>,
    /// Which holds' queries the message matches.
    query_matches: Vec<i64>,
    keep_until: Option<i64>,
    policy: Option<&'static str>,
    held_by: Vec<i64>,
    eligible: bool,
}

#[test]
fn verdicts() {
    let alice = || mailbox("alice@example.com", &["sales"]);
    let bob = || mailbox("bob@example.com", &[]);
    let carol = || mailbox("carol@other.example", &["legal"]);
    let old = || {
        message(
            "2018-05-01T12:00:00Z",
            false,
            "2026-11-01T00:00:00Z",
            &[alice(), bob()],
        )
    };
    let rows = vec![
        Row {
            what: "the longest policy of any mailbox wins",
            book: book(&[
                (Target::Mailbox("alice@example.com".into()), "one-year"),
                (Target::Mailbox("bob@example.com".into()), "seven-years"),
            ]),
            message: old(),
            holds: vec![],
            query_matches: vec![],
            keep_until: Some(ts("2025-05-01T12:00:00Z")),
            policy: Some("seven-years"),
            held_by: vec![],
            eligible: true,
        },
        Row {
            what: "a domain's longer policy beats a mailbox's shorter one",
            book: book(&[
                (Target::Mailbox("alice@example.com".into()), "one-year"),
                (Target::Domain("example.com".into()), "forever"),
            ]),
            message: old(),
            holds: vec![],
            query_matches: vec![],
            keep_until: None,
            policy: Some("forever"),
            held_by: vec![],
            eligible: false,
        },
        Row {
            what: "a group's policy reaches its members' mailboxes",
            book: book(&[
                (Target::Default, "one-year"),
                (Target::Group("legal".into()), "seven-years"),
            ]),
            message: message(
                "2018-05-01T12:00:00Z",
                false,
                "2026-11-01T00:00:00Z",
                &[carol()],
            ),
            holds: vec![],
            query_matches: vec![],
            keep_until: Some(ts("2025-05-01T12:00:00Z")),
            policy: Some("seven-years"),
            held_by: vec![],
            eligible: true,
        },
        Row {
            what: "the default applies when no assignment reaches a mailbox",
            book: book(&[
                (Target::Default, "one-year"),
                (Target::Domain("elsewhere.example".into()), "forever"),
            ]),
            message: old(),
            holds: vec![],
            query_matches: vec![],
            keep_until: Some(ts("2019-05-01T12:00:00Z")),
            policy: Some("one-year"),
            held_by: vec![],
            eligible: true,
        },
        Row {
            what: "the default does not apply once an assignment reaches a mailbox",
            book: book(&[
                (Target::Default, "seven-years"),
                (Target::Mailbox("alice@example.com".into()), "one-year"),
            ]),
            message: old(),
            holds: vec![],
            query_matches: vec![],
            keep_until: Some(ts("2019-05-01T12:00:00Z")),
            policy: Some("one-year"),
            held_by: vec![],
            eligible: true,
        },
        Row {
            what: "an unreliable date counts from the receive time",
            book: book(&[(Target::Default, "one-year")]),
            message: message(
                "2018-05-01T12:00:00Z",
                true,
                "2026-11-01T00:00:00Z",
                &[alice()],
            ),
            holds: vec![],
            query_matches: vec![],
            keep_until: Some(ts("2027-11-01T00:00:00Z")),
            policy: Some("one-year"),
            held_by: vec![],
            eligible: false,
        },
        Row {
            what: "no policy and no default keeps the message",
            book: book(&[(Target::Domain("elsewhere.example".into()), "one-year")]),
            message: old(),
            holds: vec![],
            query_matches: vec![],
            keep_until: None,
            policy: None,
            held_by: vec![],
            eligible: false,
        },
        Row {
            what: "an assignment to a missing policy keeps the message",
            book: book(&[(Target::Mailbox("bob@example.com".into()), "deleted-policy")]),
            message: old(),
            holds: vec![],
            query_matches: vec![],
            keep_until: None,
            policy: None,
            held_by: vec![],
            eligible: false,
        },
        Row {
            what: "a hold on a custodian beats an expired policy",
            book: book(&[(Target::Default, "one-year")]),
            message: old(),
            holds: vec![hold(
                7,
                custodians(&["bob@example.com"]),
                NOW - 10 * DAY,
                None,
            )],
            query_matches: vec![],
            keep_until: Some(ts("2019-05-01T12:00:00Z")),
            policy: Some("one-year"),
            held_by: vec![7],
            eligible: false,
        },
        Row {
            what: "a hold covers mail that arrived after it was placed",
            book: book(&[(Target::Default, "ninety-days")]),
            message: message(
                "2020-01-01T00:00:00Z",
                false,
                "2026-12-01T00:00:00Z",
                &[bob()],
            ),
            holds: vec![hold(
                3,
                custodians(&["BOB@example.com"]),
                ts("2025-01-01T00:00:00Z"),
                None,
            )],
            query_matches: vec![],
            keep_until: Some(ts("2020-03-31T00:00:00Z")),
            policy: Some("ninety-days"),
            held_by: vec![3],
            eligible: false,
        },
        Row {
            what: "a released hold no longer holds",
            book: book(&[(Target::Default, "one-year")]),
            message: old(),
            holds: vec![hold(
                7,
                custodians(&["bob@example.com"]),
                NOW - 10 * DAY,
                Some(NOW - DAY),
            )],
            query_matches: vec![],
            keep_until: Some(ts("2019-05-01T12:00:00Z")),
            policy: Some("one-year"),
            held_by: vec![],
            eligible: true,
        },
        Row {
            what: "a hold on another custodian does not hold",
            book: book(&[(Target::Default, "one-year")]),
            message: old(),
            holds: vec![hold(
                7,
                custodians(&["carol@other.example"]),
                NOW - DAY,
                None,
            )],
            query_matches: vec![],
            keep_until: Some(ts("2019-05-01T12:00:00Z")),
            policy: Some("one-year"),
            held_by: vec![],
            eligible: true,
        },
        Row {
            what: "a hold's date range: outside does not hold",
            book: book(&[(Target::Default, "one-year")]),
            message: old(),
            holds: vec![hold(
                4,
                HoldScope {
                    from: Some(ts("2019-01-01T00:00:00Z")),
                    until: Some(ts("2020-01-01T00:00:00Z")),
                    ..HoldScope::default()
                },
                NOW - DAY,
                None,
            )],
            query_matches: vec![],
            keep_until: Some(ts("2019-05-01T12:00:00Z")),
            policy: Some("one-year"),
            held_by: vec![],
            eligible: true,
        },
        Row {
            what: "a hold's date range: inside holds",
            book: book(&[(Target::Default, "one-year")]),
            message: old(),
            holds: vec![hold(
                4,
                HoldScope {
                    from: Some(ts("2018-01-01T00:00:00Z")),
                    until: Some(ts("2019-01-01T00:00:00Z")),
                    ..HoldScope::default()
                },
                NOW - DAY,
                None,
            )],
            query_matches: vec![],
            keep_until: Some(ts("2019-05-01T12:00:00Z")),
            policy: Some("one-year"),
            held_by: vec![4],
            eligible: false,
        },
        Row {
            what: "a query hold holds what its query matches, and only that",
            book: book(&[(Target::Default, "one-year")]),
            message: old(),
            holds: vec![
                hold(
                    5,
                    HoldScope {
                        query: Some("project:falcon".into()),
                        ..HoldScope::default()
                    },
                    NOW - DAY,
                    None,
                ),
                hold(
                    6,
                    HoldScope {
                        query: Some("merger".into()),
                        ..HoldScope::default()
                    },
                    NOW - DAY,
                    None,
                ),
            ],
            query_matches: vec![6],
            keep_until: Some(ts("2019-05-01T12:00:00Z")),
            policy: Some("one-year"),
            held_by: vec![6],
            eligible: false,
        },
        Row {
            what: "custodian and query together: both must match",
            book: book(&[(Target::Default, "one-year")]),
            message: old(),
            holds: vec![hold(
                8,
                HoldScope {
                    custodians: vec!["alice@example.com".into()],
                    query: Some("merger".into()),
                    ..HoldScope::default()
                },
                NOW - DAY,
                None,
            )],
            query_matches: vec![],
            keep_until: Some(ts("2019-05-01T12:00:00Z")),
            policy: Some("one-year"),
            held_by: vec![],
            eligible: true,
        },
        Row {
            what: "a hold placed in the future is not yet in force",
            book: book(&[(Target::Default, "one-year")]),
            message: old(),
            holds: vec![hold(9, custodians(&["alice@example.com"]), NOW + DAY, None)],
            query_matches: vec![],
            keep_until: Some(ts("2019-05-01T12:00:00Z")),
            policy: Some("one-year"),
            held_by: vec![],
            eligible: true,
        },
        Row {
            what: "a period that has not ended is not eligible",
            book: book(&[(Target::Default, "seven-years")]),
            message: message(
                "2024-02-29T08:00:00Z",
                false,
                "2024-02-29T08:00:01Z",
                &[alice()],
            ),
            holds: vec![],
            query_matches: vec![],
            keep_until: Some(ts("2031-03-01T08:00:00Z")),
            policy: Some("seven-years"),
            held_by: vec![],
            eligible: false,
        },
        Row {
            what: "mail with no mailbox falls to the default",
            book: book(&[(Target::Default, "one-year")]),
            message: message("2018-05-01T12:00:00Z", false, "2026-11-01T00:00:00Z", &[]),
            holds: vec![hold(1, custodians(&["alice@example.com"]), NOW - DAY, None)],
            query_matches: vec![],
            keep_until: Some(ts("2019-05-01T12:00:00Z")),
            policy: Some("one-year"),
            held_by: vec![],
            eligible: true,
        },
    ];
    for row in rows {
        let decision = decide(&row.message, &row.book, &row.holds, NOW * 1_000_000, |h| {
            row.query_matches.contains(&h.id)
        });
        assert_eq!(
            decision.keep_until, row.keep_until,
            "{}: keep until",
            row.what
        );
        let policy = match &decision.because {
            KeptBecause::Policy { policy, .. } => Some(policy.as_str()),
            _ => None,
        };
        assert_eq!(policy, row.policy, "{}: policy", row.what);
        assert_eq!(decision.held_by, row.held_by, "{}: holds", row.what);
        assert_eq!(decision.eligible, row.eligible, "{}: eligible", row.what);
    }
}

#[test]
fn the_reason_names_the_mailbox_and_target() {
    let b = book(&[
        (Target::Mailbox("alice@example.com".into()), "one-year"),
        (Target::Group("sales".into()), "seven-years"),
    ]);
    let m = message(
        "2018-05-01T12:00:00Z",
        false,
        "2026-11-01T00:00:00Z",
        &[mailbox("alice@example.com", &["sales"])],
    );
    let d = decide(&m, &b, &[], NOW * 1_000_000, |_| false);
    assert_eq!(
        d.because,
        KeptBecause::Policy {
            policy: "seven-years".into(),
            version: 1,
            target: Target::Group("sales".into()),
            mailbox: Some("alice@example.com".into()),
        }
    );
    let none = decide(
        &m,
        &book(&[(Target::Mailbox("x@y".into()), "gone")]),
        &[],
        0,
        |_| false,
    );
    assert_eq!(none.because, KeptBecause::NoPolicy);
}

#[test]
fn four_eyes_and_holds_since_the_proposal() {
    let proposed_at = NOW * 1_000_000;
    let holds = vec![hold(1, custodians(&["a@example.com"]), NOW - DAY, None)];
    let snapshot = HoldSnapshot::take(&holds, proposed_at);
    assert_eq!(
        may_approve("admin", "ADMIN", &snapshot, &holds, proposed_at),
        Err(Refusal::SamePerson("admin".into()))
    );
    assert_eq!(
        may_approve("admin", "records", &snapshot, &holds, proposed_at),
        Ok(())
    );
    // A hold placed after the proposal invalidates it.
    let mut later = holds.clone();
    later.push(hold(2, custodians(&["b@example.com"]), NOW + 60, None));
    assert_eq!(
        may_approve(
            "admin",
            "records",
            &snapshot,
            &later,
            (NOW + 120) * 1_000_000
        ),
        Err(Refusal::HoldsChanged(vec![2]))
    );
    // A release does not: it only means the list holds back more than it must.
    let released = vec![hold(
        1,
        custodians(&["a@example.com"]),
        NOW - DAY,
        Some(NOW + 60),
    )];
    assert_eq!(
        may_approve(
            "admin",
            "records",
            &snapshot,
            &released,
            (NOW + 120) * 1_000_000
        ),
        Ok(())
    );
}

#[test]
fn shortening_a_policy_is_recognised() {
    for (old, new, shorter) in [
        (Period::Years(7), Period::Years(1), true),
        (Period::Years(1), Period::Years(7), false),
        (Period::Forever, Period::Years(100), true),
        (Period::Years(1), Period::Forever, false),
        (Period::Years(1), Period::Days(365), true),
        (Period::Years(1), Period::Days(366), false),
        (Period::Days(30), Period::Days(30), false),
    ] {
        assert_eq!(shortens(&old, &new), shorter, "{old} -> {new}");
    }
}
