//! A scoped search never returns a message outside the scope, whatever the query says.

mod common;

use std::collections::BTreeSet;

use coffer_index::{SearchRequest, Sort};
use coffer_model::Scope;
use common::*;

/// `known` plus enough absent mailboxes to make a scope of `size` mailboxes: scopes
/// of up to 32 terms are filtered by a union of term queries, larger ones by a term set.
fn padded(known: &[&str], size: usize) -> Scope {
    let absent = (known.len()..size).map(|i| format!("absent{i}@acme.example"));
    Scope::mailboxes(known.iter().map(|m| m.to_string()).chain(absent))
}

fn scopes() -> Vec<Scope> {
    vec![
        padded(&["BOB@acme.example"], 32),
        padded(&["alice.smith@acme.example", "carol@globex.example"], 33),
        padded(&["alice.smith@acme.example", "carol@globex.example"], 200),
        Scope::mailboxes(["alice.smith@acme.example"]),
        Scope::mailboxes(["carol@globex.example", "BOB@acme.example"]),
        Scope::domains(["globex.example"]),
        Scope::Restricted {
            mailboxes: ["alice.smith@acme.example".to_string()].into(),
            domains: ["globex.example".to_string()].into(),
        },
        Scope::mailboxes(["nobody@acme.example"]),
        Scope::mailboxes(Vec::<String>::new()),
        Scope::domains(["initech.example"]),
    ]
}

const TRICKS: [&str; 14] = [
    "*",
    "budget",
    "mailbox:bob@acme.example",
    "mailbox:globex.example",
    "mailbox:acme.example OR mailbox:globex.example",
    "budget OR *",
    "budget OR -budget",
    "-mailbox:alice.smith@acme.example",
    "NOT mailbox:carol@globex.example",
    "-(mailbox:acme.example)",
    "(budget OR NOT budget) AND (merger OR NOT merger)",
    "from:eve@initech.example OR to:initech.example",
    "participant:acme.example OR participant:globex.example OR participant:initech.example",
    "-nothingatall",
];

#[test]
fn scoped_searches_stay_inside_the_scope() {
    let docs = corpus(64);
    let (_dir, set) = build(&docs);
    for scope in scopes() {
        let admitted: BTreeSet<_> = expected(&docs, &scope, |_| true);
        for query in TRICKS {
            let got = search_ids(&set, query, &scope);
            assert!(
                got.is_subset(&admitted),
                "{query:?} in {scope:?} escaped the scope"
            );
        }
        // And the scoped answer is exactly the unscoped answer intersected with the scope.
        let mut rng = SplitMix64::new(11);
        for _ in 0..60 {
            let query = Q::random(&mut rng, 3);
            let text = query.render(&mut rng);
            let got = search_ids(&set, &text, &scope);
            let want = expected(&docs, &scope, |d| query.eval(d));
            assert_eq!(got, want, "{text:?} in {scope:?}");
        }
    }
    // The widest trick in a one-mailbox scope returns exactly that mailbox.
    let scope = Scope::mailboxes(["alice.smith@acme.example"]);
    let got = search_ids(&set, "budget OR -budget", &scope);
    assert_eq!(got, expected(&docs, &scope, |_| true));
    assert!(!got.is_empty());
}

#[test]
fn empty_scope_returns_nothing_and_counts_nothing() {
    let docs = corpus(20);
    let (_dir, set) = build(&docs);
    let request = SearchRequest {
        query: "*".into(),
        scope: Scope::mailboxes(Vec::<String>::new()),
        recipients: coffer_model::RecipientView::All,
        sort: Sort::Relevance,
        limit: 10,
        offset: 0,
    };
    let results = set.search(&request).expect("searches");
    assert_eq!(results.total, 0);
    assert!(results.hits.is_empty());
}
