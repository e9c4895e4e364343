//! Every operator of the query language against answers computed by the plain-Rust
//! oracle in `common` from the fixtures' known contents.

mod common;

use coffer_model::{MessageDoc, Scope};
use common::*;

fn check(
    set: &coffer_index::IndexSet,
    docs: &[MessageDoc],
    query: &str,
    predicate: impl Fn(&MessageDoc) -> bool,
) {
    let got = search_ids(set, query, &Scope::All);
    let want = expected(docs, &Scope::All, predicate);
    assert_eq!(got, want, "query {query:?}");
}

#[test]
fn every_operator_matches_the_oracle() {
    let docs = corpus(64);
    let (_dir, set) = build(&docs);
    let nonempty = |query: &str, predicate: &dyn Fn(&MessageDoc) -> bool| {
        let want = expected(&docs, &Scope::All, predicate);
        assert!(!want.is_empty(), "fixture must exercise {query:?}");
        assert!(
            want.len() < docs.len(),
            "fixture must not match everything for {query:?}"
        );
        check(&set, &docs, query, predicate);
    };
    // `FIELD:VALUE` against the oracle's "FIELD has VALUE".
    let nonempty_in = |field: &str, value: &str| {
        nonempty(&format!("{field}:{value}"), &|d| has_text(d, field, value));
    };

    // Plain words, in every default field, case-insensitive.
    nonempty("budget", &|d| has_text(d, "", "budget"));
    nonempty("BUDGET", &|d| has_text(d, "", "budget"));
    nonempty("smith", &|d| has_text(d, "", "smith"));
    nonempty("xlsx", &|d| has_text(d, "", "xlsx"));
    // Fields.
    nonempty_in("from", "alice.smith@acme.example");
    nonempty("from:Alice.Smith@ACME.example", &|d| {
        has_text(d, "from", "alice.smith@acme.example")
    });
    nonempty_in("from", "alice");
    nonempty_in("from", "smith");
    nonempty_in("from", "acme.example");
    nonempty_in("from", "initech.example");
    nonempty_in("from", "dave");
    nonempty_in("from", "news");
    nonempty_in("participant", "grace");
    nonempty_in("participant", "h");
    nonempty_in("from", "globex");
    nonempty_in("from", "dave+news@globex.example");
    nonempty_in("to", "bob@acme.example");
    nonempty_in("to", "globex.example");
    nonempty_in("cc", "carol");
    nonempty_in("bcc", "acme.example");
    nonempty_in("envelope", "heidi@globex.example");
    nonempty_in("participant", "eve@initech.example");
    // Sender and Delivered-To are participants (and plain words), not senders.
    nonempty_in("participant", "ivan.assistant@initech.example");
    nonempty_in("participant", "assistant");
    nonempty_in("participant", "judy.archive");
    nonempty("ivan", &|d| has_text(d, "", "ivan"));
    nonempty("judy.archive@globex.example", &|d| {
        has_text(d, "", "judy.archive@globex.example")
    });
    check(&set, &docs, "from:ivan", |d| has_text(d, "from", "ivan"));
    assert!(search_ids(&set, "from:ivan", &Scope::All).is_empty());
    nonempty_in("subject", "merger");
    nonempty_in("body", "lunch");
    nonempty_in("attachment", "audit");
    nonempty_in("filename", "pdf");
    nonempty_in("filename", "Q3_report.pdf");
    nonempty("from:(bob OR carol)", &|d| {
        has_text(d, "from", "bob") || has_text(d, "from", "carol")
    });
    nonempty("from:\"alice smith\"", &|d| {
        has_text(d, "from", "alice smith")
    });
    // Phrases.
    nonempty("\"quarterly report is attached\"", &|d| {
        has_text(d, "", "quarterly report is attached")
    });
    nonempty("body:\"report is\"", &|d| has_text(d, "body", "report is"));
    check(&set, &docs, "\"attached report\"", |d| {
        has_text(d, "", "attached report")
    });
    // Phrases of common words (indexed as common grams), across punctuation, and never
    // across two attachments.
    nonempty("\"of the\"", &|d| has_text(d, "", "of the"));
    nonempty("\"the end of the\"", &|d| has_text(d, "", "the end of the"));
    nonempty("\"it is in the plan\"", &|d| {
        has_text(d, "", "it is in the plan")
    });
    nonempty("\"to be or not to be\"", &|d| {
        has_text(d, "", "to be or not to be")
    });
    check(&set, &docs, "attachment:\"review of the\"", |d| {
        has_text(d, "attachment", "review of the")
    });
    let across = docs.iter().any(|d| {
        d.attachments.windows(2).any(|pair| {
            let first = pair[0].text.as_deref().unwrap_or_default();
            let second = pair[1].text.as_deref().unwrap_or_default();
            first.ends_with("review of") && second.to_lowercase().starts_with("the")
        })
    });
    assert!(
        across,
        "fixture must have \"review of\" | \"the\" across two attachments"
    );
    nonempty("body:\"of the\"", &|d| has_text(d, "body", "of the"));
    nonempty("attachment:\"of the\"", &|d| {
        has_text(d, "attachment", "of the")
    });
    check(&set, &docs, "\"of of\"", |d| has_text(d, "", "of of"));
    nonempty("of-the", &|d| has_text(d, "", "of the"));
    // Prefixes.
    nonempty("budg*", &|d| has_prefix(d, "", "budg"));
    nonempty("budgeta*", &|d| has_prefix(d, "", "budgeta"));
    nonempty("subject:con*", &|d| has_prefix(d, "subject", "con"));
    nonempty("from:gra*", &|d| has_prefix(d, "from", "gra"));
    // Mailbox and Message-ID.
    nonempty("mailbox:bob@acme.example", &|d| {
        d.mailboxes.iter().any(|m| m == "bob@acme.example")
    });
    nonempty("mailbox:globex.example", &|d| {
        d.mailboxes.iter().any(|m| m.ends_with("@globex.example"))
    });
    nonempty("mailbox:carol*", &|d| {
        d.mailboxes.iter().any(|m| m.starts_with("carol"))
    });
    check(&set, &docs, "message-id:<msg5.x@mail.example>", |d| {
        d.message_id.as_deref() == Some("<Msg5.X@Mail.Example>")
    });
    check(&set, &docs, "message-id:MSG5.X@mail.example", |d| {
        d.message_id.as_deref() == Some("<Msg5.X@Mail.Example>")
    });
    // Filters.
    nonempty("has:attachment", &|d| !d.attachments.is_empty());
    nonempty("flag:malformed", &|d| {
        d.flags.names().contains(&"malformed")
    });
    nonempty("size>1M", &|d| d.size > 1 << 20);
    nonempty("size>=1M", &|d| d.size >= 1 << 20);
    nonempty("size<10k", &|d| d.size < 10 * 1024);
    nonempty("size<=20000", &|d| d.size <= 20_000);
    nonempty("size>2.5M", &|d| d.size > 2_621_440);
    nonempty("during:2023", &|d| {
        let (s, e) = period("2023");
        (s..e).contains(&effective_date(d))
    });
    nonempty("during:2024-03", &|d| {
        let (s, e) = period("2024-03");
        (s..e).contains(&effective_date(d))
    });
    nonempty("after:2024-06-15", &|d| {
        effective_date(d) >= period("2024-06-15").0
    });
    nonempty("before:2023-02-01", &|d| {
        effective_date(d) < period("2023-02-01").0
    });
    nonempty("after:2023 before:2024", &|d| {
        let (s, e) = period("2023");
        (s..e).contains(&effective_date(d))
    });
    // Boolean operators, precedence and negation.
    nonempty("budget merger", &|d| {
        has_text(d, "", "budget") && has_text(d, "", "merger")
    });
    nonempty("budget AND merger", &|d| {
        has_text(d, "", "budget") && has_text(d, "", "merger")
    });
    nonempty("budget OR merger", &|d| {
        has_text(d, "", "budget") || has_text(d, "", "merger")
    });
    nonempty("lunch OR budget merger", &|d| {
        has_text(d, "", "lunch") || (has_text(d, "", "budget") && has_text(d, "", "merger"))
    });
    nonempty("(lunch OR budget) merger", &|d| {
        (has_text(d, "", "lunch") || has_text(d, "", "budget")) && has_text(d, "", "merger")
    });
    nonempty("budget -merger", &|d| {
        has_text(d, "", "budget") && !has_text(d, "", "merger")
    });
    nonempty("budget NOT merger", &|d| {
        has_text(d, "", "budget") && !has_text(d, "", "merger")
    });
    nonempty("-budget", &|d| !has_text(d, "", "budget"));
    nonempty("NOT has:attachment", &|d| d.attachments.is_empty());
    nonempty("-budget -merger", &|d| {
        !has_text(d, "", "budget") && !has_text(d, "", "merger")
    });
    nonempty("lunch OR -budget", &|d| {
        has_text(d, "", "lunch") || !has_text(d, "", "budget")
    });
    nonempty("-(budget OR merger)", &|d| {
        !(has_text(d, "", "budget") || has_text(d, "", "merger"))
    });
    nonempty("NOT NOT budget", &|d| has_text(d, "", "budget"));
    check(&set, &docs, "*", |_| true);
    check(&set, &docs, "size<0", |_| false);
    check(&set, &docs, "during:2024 during:2023", |_| false);
}

/// Checks 300 random boolean queries (from `seed`) against the oracle; returns how many
/// had a non-trivial answer (neither nothing nor everything).
fn random_queries_match_the_oracle(
    set: &coffer_index::IndexSet,
    docs: &[MessageDoc],
    seed: u64,
) -> usize {
    let mut rng = SplitMix64::new(seed);
    let mut nontrivial = 0;
    for _ in 0..300 {
        let query = Q::random(&mut rng, 3);
        let text = query.render(&mut rng);
        let got = search_ids(set, &text, &Scope::All);
        let want = expected(docs, &Scope::All, |d| query.eval(d));
        assert_eq!(got, want, "query {text:?}");
        if !want.is_empty() && want.len() < docs.len() {
            nontrivial += 1;
        }
    }
    nontrivial
}

#[test]
fn random_boolean_queries_match_the_oracle() {
    let docs = corpus(80);
    let (_dir, set) = build(&docs);
    let nontrivial: usize = [42, 7, 2024]
        .into_iter()
        .map(|seed| random_queries_match_the_oracle(&set, &docs, seed))
        .sum();
    assert!(
        nontrivial > 300,
        "only {nontrivial} queries had a non-trivial answer"
    );
}

/// An index where some fields hold no term at all (an import: no envelope, no Sender or
/// Delivered-To, no Bcc, no flags, no Message-ID, no mailbox, no attachment). The search
/// leaves such fields out of the query; the answers must not change, and a bad word in
/// such a field must still be an error.
#[test]
fn fields_that_hold_no_term_give_the_oracle_answers() {
    let docs: Vec<MessageDoc> = corpus(80)
        .into_iter()
        .map(|mut d| {
            d.envelope_recipients.clear();
            d.sender.clear();
            d.delivered_to.clear();
            d.bcc.clear();
            d.flags = coffer_model::MessageFlags::default();
            d.message_id = None;
            d.mailboxes.clear();
            d.attachments.clear();
            d
        })
        .collect();
    let (_dir, set) = build(&docs);
    let some = |query: &str, predicate: &dyn Fn(&MessageDoc) -> bool| {
        assert!(
            !expected(&docs, &Scope::All, predicate).is_empty(),
            "fixture must exercise {query:?}"
        );
        check(&set, &docs, query, predicate);
    };
    some("budget", &|d| has_text(d, "", "budget"));
    some("smith", &|d| has_text(d, "", "smith"));
    some("participant:alice", &|d| {
        has_text(d, "participant", "alice")
    });
    some("bud*", &|d| has_prefix(d, "", "bud"));
    some("-smith", &|d| !has_text(d, "", "smith"));
    for empty in [
        "envelope:alice",
        "bcc:alice",
        "envelope:alice OR bcc:smith",
        "flag:malformed",
        "has:attachment", // always indexed (true or false): checked for its answer only
        "attachment:budget",
        "filename:xlsx",
        "message-id:msg5.x@mail.example",
        "mailbox:acme.example",
        "mailbox:bob@acme.example",
        "mailbox:carol*",
    ] {
        check(&set, &docs, empty, |_| false);
    }
    check(&set, &docs, "-envelope:alice", |_| true);
    for scope in [
        Scope::mailboxes(["bob@acme.example"]),
        Scope::domains(["acme.example"]),
    ] {
        assert!(search_ids(&set, "*", &scope).is_empty(), "{scope:?}");
    }
    check(&set, &docs, "smith -has:attachment", |d| {
        has_text(d, "", "smith")
    });

    let long = "x".repeat(300);
    for query in [
        format!("envelope:{long}"),
        format!("bcc:{long}"),
        long.clone(),
    ] {
        let request = coffer_index::SearchRequest {
            query: query.clone(),
            scope: Scope::All,
            recipients: coffer_model::RecipientView::All,
            sort: coffer_index::Sort::Relevance,
            limit: 10,
            offset: 0,
        };
        let error = set.search(&request).expect_err("a word too long to index");
        assert!(
            error.to_string().contains("longer than"),
            "{query}: {error}"
        );
    }

    let nontrivial = random_queries_match_the_oracle(&set, &docs, 99);
    assert!(
        nontrivial > 100,
        "only {nontrivial} queries had a non-trivial answer"
    );

    // A field that comes to hold terms is searched from the next commit on (what the
    // index holds is worked out again for each new searcher generation).
    let mut late = docs[0].clone();
    late.id.seq = docs.iter().map(|d| d.id.seq).max().unwrap_or(0) + 1;
    late.envelope_recipients = vec!["late.recipient@acme.example".into()];
    set.add(&late).expect("adds");
    set.commit(late.id.year, late.id.seq).expect("commits");
    for query in ["envelope:late.recipient@acme.example", "late.recipient"] {
        let got = search_ids(&set, query, &Scope::All);
        assert_eq!(got, [late.id].into_iter().collect(), "{query}");
    }
}

mod never_panics {
    use std::sync::OnceLock;

    use coffer_index::{IndexSet, SearchRequest, Sort};
    use coffer_model::Scope;
    use proptest::prelude::*;

    use super::common::{build, corpus};

    fn fixture() -> &'static (tempfile::TempDir, IndexSet) {
        static FIXTURE: OnceLock<(tempfile::TempDir, IndexSet)> = OnceLock::new();
        FIXTURE.get_or_init(|| build(&corpus(24)))
    }

    fn run(query: &str, sort: Sort) {
        let (_, set) = fixture();
        for scope in [Scope::All, Scope::domains(["acme.example"])] {
            let request = SearchRequest {
                query: query.to_string(),
                scope,
                recipients: coffer_model::RecipientView::All,
                sort,
                limit: 5,
                offset: 1,
            };
            if let Ok(results) = set.search(&request) {
                assert!(results.hits.len() <= 5);
                assert!(results.total as usize >= results.hits.len());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn searching_arbitrary_text_never_panics(query in any::<String>()) {
            run(&query, Sort::Relevance);
        }

        #[test]
        fn searching_query_like_text_never_panics(
            query in r#"([a-z]{0,6}(:|\*|>|<|=|-)?|"|\(|\)| |AND|OR|NOT|-|of the|during:9999|after:1000|size>1G|from:|[0-9./kMG]{0,5}|é|東京|の){0,16}"#,
            descending in any::<bool>(),
        ) {
            run(&query, if descending { Sort::DateDesc } else { Sort::Relevance });
        }
    }
}
