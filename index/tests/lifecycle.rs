//! Commits and high-water marks, replay, replace, damage detection and rebuild,
//! read-only readers beside a writer, concurrency, date pruning, pagination and sort,
//! hit contents and request validation.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use coffer_index::{Error, IndexSet, SearchRequest, Sort, YearStatus};
use coffer_model::{ErrorCode, MessageDoc, MessageId, Scope};
use common::*;

fn request(query: &str, sort: Sort, limit: usize, offset: usize) -> SearchRequest {
    SearchRequest {
        query: query.into(),
        scope: Scope::All,
        recipients: coffer_model::RecipientView::All,
        sort,
        limit,
        offset,
    }
}

fn total(set: &IndexSet, query: &str) -> u64 {
    set.search(&request(query, Sort::Relevance, 0, 0))
        .expect("searches")
        .total
}

fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .expect("lists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    out.sort();
    out
}

fn docs_of(year: i32, n: u64) -> Vec<MessageDoc> {
    corpus(4 * n as usize)
        .into_iter()
        .filter(|d| d.id.year == year)
        .collect()
}

#[test]
fn high_water_and_date_range_survive_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let docs = docs_of(2023, 10);
    {
        let set = IndexSet::open(dir.path()).expect("opens");
        assert_eq!(set.high_water(2023), None);
        for doc in &docs {
            set.add(doc).expect("adds");
        }
        assert_eq!(set.pending(2023), docs.len() as u64);
        assert_eq!(
            total(&set, "*"),
            0,
            "nothing is searchable before the commit"
        );
        set.commit(2023, 17).expect("commits");
        assert_eq!(set.pending(2023), 0);
        assert_eq!(total(&set, "*"), docs.len() as u64);
        let error = set
            .commit(2023, 16)
            .expect_err("high-water mark cannot go back");
        assert_eq!(error.code(), ErrorCode::InvalidInput);
    }
    let status = IndexSet::check(dir.path()).expect("checks");
    let min = docs.iter().map(effective_date).min();
    let max = docs.iter().map(effective_date).max();
    match &status[&2023] {
        YearStatus::Ready(info) => {
            assert_eq!(info.docs, docs.len() as u64);
            assert_eq!(info.high_water, Some(17));
            assert_eq!(info.min_date, min);
            assert_eq!(info.max_date, max);
        }
        other => panic!("unexpected {other:?}"),
    }
    let set = IndexSet::open(dir.path()).expect("reopens");
    assert_eq!(set.high_water(2023), Some(17));
    assert_eq!(set.years(), vec![2023]);
}

#[test]
fn uncommitted_documents_are_lost_and_replay_does_not_duplicate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let docs = docs_of(2024, 12);
    let (first, rest) = docs.split_at(6);
    {
        let set = IndexSet::open(dir.path()).expect("opens");
        for doc in first {
            set.add(doc).expect("adds");
        }
        set.commit(2024, first.last().expect("doc").id.seq)
            .expect("commits");
        for doc in rest {
            set.add(doc).expect("adds");
        }
        // Dropped without a commit: a crash.
    }
    let set = IndexSet::open(dir.path()).expect("reopens");
    let high_water = set.high_water(2024).expect("has a high-water mark");
    assert_eq!(total(&set, "*"), first.len() as u64);
    // Replay everything from the volume, including what was already applied.
    for doc in &docs {
        set.add(doc).expect("replays");
    }
    set.commit(2024, docs.last().expect("doc").id.seq)
        .expect("commits");
    assert!(set.high_water(2024) > Some(high_water));
    assert_eq!(
        total(&set, "*"),
        docs.len() as u64,
        "replayed messages are not duplicated"
    );
    let ids: BTreeSet<MessageId> = set
        .search(&request("*", Sort::DateAsc, 100, 0))
        .expect("searches")
        .hits
        .iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(ids, docs.iter().map(|d| d.id).collect());
}

#[test]
fn replace_updates_mailboxes_without_duplicates() {
    let docs = corpus(16);
    let (_dir, set) = build(&docs);
    let mut changed = docs[5].clone();
    let scope = Scope::mailboxes(["legal-hold@acme.example"]);
    assert!(search_ids(&set, "*", &scope).is_empty());
    changed.mailboxes.push("legal-hold@acme.example".into());
    set.replace(&changed).expect("replaces");
    set.commit(changed.id.year, 100).expect("commits");
    assert_eq!(search_ids(&set, "*", &scope), BTreeSet::from([changed.id]));
    assert_eq!(total(&set, "*"), docs.len() as u64);
}

fn damaged(set: &IndexSet, year: i32) -> String {
    match set.year_status(year) {
        Some(YearStatus::NeedsRebuild { reason }) => reason,
        other => panic!("expected NeedsRebuild, got {other:?}"),
    }
}

fn assert_search_refuses(set: &IndexSet, year: i32) {
    match set.search(&request("budget", Sort::Relevance, 10, 0)) {
        Err(Error::NeedsRebuild { year: reported, .. }) => assert_eq!(reported, year),
        other => panic!("search must refuse a damaged year, got {other:?}"),
    }
    let error = set
        .search(&request("budget", Sort::Relevance, 10, 0))
        .expect_err("refuses");
    assert_eq!(error.code(), ErrorCode::Unavailable);
}

/// Builds two years, damages 2023 with `damage`, and checks detection and rebuild.
fn damage_and_rebuild(damage: impl FnOnce(&Path)) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let docs = corpus(24);
    {
        let set = IndexSet::open(dir.path()).expect("opens");
        for doc in docs
            .iter()
            .filter(|d| d.id.year == 2023 || d.id.year == 2024)
        {
            set.add(doc).expect("adds");
        }
        set.commit(2023, 50).expect("commits");
        set.commit(2024, 50).expect("commits");
        set.close_writer(2023).expect("closes");
    }
    damage(&dir.path().join("2023"));
    let set = IndexSet::open(dir.path()).expect("opens despite damage");
    let reason = damaged(&set, 2023);
    assert!(matches!(set.year_status(2024), Some(YearStatus::Ready(_))));
    assert!(matches!(
        IndexSet::check(dir.path()).expect("checks").get(&2023),
        Some(YearStatus::NeedsRebuild { .. })
    ));
    assert_search_refuses(&set, 2023);
    let add_error = set
        .add(docs.iter().find(|d| d.id.year == 2023).expect("doc"))
        .expect_err("refuses");
    assert!(matches!(add_error, Error::NeedsRebuild { year: 2023, .. }));
    // Rebuild from the "volume".
    set.clear_year(2023).expect("clears");
    assert_eq!(set.high_water(2023), None);
    let year_docs: Vec<&MessageDoc> = docs.iter().filter(|d| d.id.year == 2023).collect();
    for doc in &year_docs {
        set.add(doc).expect("re-adds");
    }
    set.commit(2023, 50).expect("commits");
    let in_2023 = search_ids(&set, "*", &Scope::All)
        .into_iter()
        .filter(|id| id.year == 2023)
        .count();
    assert_eq!(in_2023, year_docs.len());
    drop(set);
    let set = IndexSet::open(dir.path()).expect("reopens");
    assert!(matches!(set.year_status(2023), Some(YearStatus::Ready(_))));
    reason
}

#[test]
fn a_deleted_segment_file_needs_a_rebuild() {
    let reason = damage_and_rebuild(|year| {
        let postings = files_with_extension(year, "idx");
        assert!(!postings.is_empty());
        fs::remove_file(&postings[0]).expect("removes");
    });
    assert!(reason.contains("segments"), "{reason}");
}

#[test]
fn a_truncated_segment_file_needs_a_rebuild() {
    damage_and_rebuild(|year| {
        let store = files_with_extension(year, "store");
        let file = fs::OpenOptions::new()
            .write(true)
            .open(&store[0])
            .expect("opens");
        file.set_len(3).expect("truncates");
    });
}

#[test]
fn a_corrupt_meta_json_needs_a_rebuild() {
    let reason = damage_and_rebuild(|year| {
        fs::write(year.join("meta.json"), b"{ this is not json").expect("writes");
    });
    assert!(reason.contains("meta"), "{reason}");
}

#[test]
fn a_missing_meta_json_needs_a_rebuild() {
    let reason = damage_and_rebuild(|year| {
        fs::remove_file(year.join("meta.json")).expect("removes");
    });
    assert!(reason.contains("meta.json missing"), "{reason}");
}

#[test]
fn a_missing_payload_needs_a_rebuild() {
    let reason = damage_and_rebuild(|year| {
        let path = year.join("meta.json");
        let text = fs::read_to_string(&path).expect("reads");
        let mut meta: serde_json::Value = serde_json::from_str(&text).expect("json");
        meta.as_object_mut().expect("object").remove("payload");
        fs::write(&path, serde_json::to_string(&meta).expect("encodes")).expect("writes");
    });
    assert!(reason.contains("payload"), "{reason}");
}

#[test]
fn a_future_payload_format_needs_a_rebuild() {
    let reason = damage_and_rebuild(|year| {
        let path = year.join("meta.json");
        let text = fs::read_to_string(&path).expect("reads");
        let mut meta: serde_json::Value = serde_json::from_str(&text).expect("json");
        meta["payload"] = serde_json::Value::String(r#"{"format":99,"high_water":1}"#.into());
        fs::write(&path, serde_json::to_string(&meta).expect("encodes")).expect("writes");
    });
    assert!(reason.contains("format 99"), "{reason}");
}

#[test]
fn flipped_bytes_are_found_by_verification() {
    let dir = tempfile::tempdir().expect("temp dir");
    let docs = docs_of(2022, 20);
    {
        let set = IndexSet::open(dir.path()).expect("opens");
        for doc in &docs {
            set.add(doc).expect("adds");
        }
        set.commit(2022, 99).expect("commits");
    }
    let positions = files_with_extension(&dir.path().join("2022"), "pos");
    let mut bytes = fs::read(&positions[0]).expect("reads");
    let middle = bytes.len() / 3;
    bytes[middle] ^= 0xFF;
    fs::write(&positions[0], &bytes).expect("writes");
    let set = IndexSet::open(dir.path()).expect("opens");
    match set.verify_year(2022).expect("verifies") {
        YearStatus::NeedsRebuild { reason } => assert!(reason.contains("checksum"), "{reason}"),
        other => panic!("expected a checksum failure, got {other:?}"),
    }
    assert_search_refuses(&set, 2022);
}

#[test]
fn a_reader_process_sees_a_writer_process_commits() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(matches!(
        IndexSet::open_read_only(&dir.path().join("absent")),
        Err(Error::NoIndex(_))
    ));
    let docs = corpus(16);
    let writer = IndexSet::open(dir.path()).expect("opens");
    for doc in docs.iter().filter(|d| d.id.year == 2022) {
        writer.add(doc).expect("adds");
    }
    writer.commit(2022, 10).expect("commits");
    let reader = IndexSet::open_read_only(dir.path()).expect("opens read-only");
    assert_eq!(total(&reader, "*"), 4);
    assert!(matches!(reader.add(&docs[0]), Err(Error::ReadOnly(_))));
    assert!(matches!(reader.clear_year(2022), Err(Error::ReadOnly(_))));
    for doc in docs.iter().filter(|d| d.id.year == 2023) {
        writer.add(doc).expect("adds");
    }
    writer.commit(2023, 10).expect("commits");
    reader.refresh().expect("refreshes");
    assert_eq!(reader.years(), vec![2022, 2023]);
    assert_eq!(total(&reader, "*"), 8);
    // The writer rebuilds 2022 (with fewer messages) and drops 2023.
    writer.clear_year(2022).expect("clears");
    for doc in docs.iter().filter(|d| d.id.year == 2022).take(1) {
        writer.add(doc).expect("adds");
    }
    writer.commit(2022, 1).expect("commits");
    writer.remove_year(2023).expect("removes");
    reader.refresh().expect("refreshes");
    assert_eq!(reader.years(), vec![2022]);
    assert_eq!(total(&reader, "*"), 1);
}

#[test]
fn concurrent_adds_and_searches() {
    let dir = tempfile::tempdir().expect("temp dir");
    let set = Arc::new(IndexSet::open(dir.path()).expect("opens"));
    let docs = Arc::new(corpus(200));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let set = Arc::clone(&set);
            let docs = Arc::clone(&docs);
            std::thread::spawn(move || {
                for doc in docs.iter().skip(t).step_by(4) {
                    set.add(doc).expect("adds");
                }
                for _ in 0..5 {
                    set.search(&SearchRequest::new("budget OR merger", Scope::All))
                        .expect("searches");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("thread ok");
    }
    for year in 2022..=2025 {
        set.commit(year, 1000).expect("commits");
    }
    assert_eq!(total(&set, "*"), 200);
}

#[test]
fn date_filters_prune_years_by_message_date() {
    let mut docs = corpus(40);
    // Received in 2025 but written in 2019 (an old message imported late).
    let late = docs
        .iter_mut()
        .rev()
        .find(|d| d.id.year == 2025)
        .expect("doc");
    late.date = Some(period("2019-06-01").0 + 3600);
    let late_id = late.id;
    let (_dir, set) = build(&docs);
    let results = set
        .search(&request("during:2019", Sort::DateDesc, 10, 0))
        .expect("searches");
    assert_eq!(
        results.hits.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![late_id]
    );
    assert_eq!(results.years_searched, vec![2025]);
    // Years whose message dates cannot meet the filter are not searched.
    let results = set
        .search(&request("after:2025-06-01", Sort::DateDesc, 10, 0))
        .expect("searches");
    for year in &results.years_searched {
        let max = docs
            .iter()
            .filter(|d| d.id.year == *year)
            .map(effective_date)
            .max()
            .expect("docs");
        assert!(max >= period("2025-06-01").0);
    }
    assert!(!results.years_searched.contains(&2022));
    let expected_ids = expected(&docs, &Scope::All, |d| {
        effective_date(d) >= period("2025-06-01").0
    });
    assert_eq!(results.total as usize, expected_ids.len());
    // An OR with an undated clause searches everything.
    let results = set
        .search(&request("during:2019 OR budget", Sort::DateDesc, 0, 0))
        .expect("searches");
    assert_eq!(results.years_searched, vec![2022, 2023, 2024, 2025]);
    let results = set
        .search(&request("-during:2019", Sort::DateDesc, 0, 0))
        .expect("searches");
    assert_eq!(results.total as usize, docs.len() - 1);
}

#[test]
fn pagination_and_sort_orders() {
    let docs = corpus(60);
    let dates: BTreeSet<i64> = docs.iter().map(effective_date).collect();
    assert_eq!(dates.len(), docs.len(), "fixture dates are distinct");
    let (_dir, set) = build(&docs);

    let query = "budget OR merger OR lunch";
    let matching: Vec<&MessageDoc> = docs
        .iter()
        .filter(|d| {
            has_text(d, "", "budget") || has_text(d, "", "merger") || has_text(d, "", "lunch")
        })
        .collect();
    let mut newest_first: Vec<MessageId> = {
        let mut sorted = matching.clone();
        sorted.sort_by_key(|d| std::cmp::Reverse(effective_date(d)));
        sorted.iter().map(|d| d.id).collect()
    };
    for (sort, want) in [
        (Sort::DateDesc, newest_first.clone()),
        (Sort::DateAsc, {
            newest_first.reverse();
            newest_first.clone()
        }),
    ] {
        let mut pages = Vec::new();
        for page in 0.. {
            let results = set
                .search(&request(query, sort, 7, page * 7))
                .expect("searches");
            assert_eq!(results.total as usize, want.len());
            if results.hits.is_empty() {
                break;
            }
            pages.extend(results.hits.iter().map(|h| h.id));
        }
        assert_eq!(pages, want, "{sort:?}");
    }

    let all = set
        .search(&request(query, Sort::Relevance, 100, 0))
        .expect("searches");
    assert_eq!(all.hits.len(), matching.len());
    assert!(
        all.hits.windows(2).all(|w| w[0].score >= w[1].score),
        "scores descend"
    );
    let mut pages = Vec::new();
    for page in 0..(matching.len() / 5 + 1) {
        let results = set
            .search(&request(query, Sort::Relevance, 5, page * 5))
            .expect("searches");
        pages.extend(results.hits.iter().map(|h| h.id));
    }
    assert_eq!(pages, all.hits.iter().map(|h| h.id).collect::<Vec<_>>());

    // Filters only: newest first even when relevance is asked for.
    let filters = set
        .search(&request("has:attachment", Sort::Relevance, 100, 0))
        .expect("searches");
    let dates: Vec<i64> = filters
        .hits
        .iter()
        .map(|h| effective_date(docs.iter().find(|d| d.id == h.id).expect("doc")))
        .collect();
    assert!(dates.windows(2).all(|w| w[0] > w[1]));
}

#[test]
fn relevance_uses_statistics_of_all_searched_years() {
    let mut docs = corpus(40);
    // The same text in a small year and in a large one must score the same.
    let mut twin_a = docs[0].clone();
    twin_a.id = MessageId::new(2030, 1);
    twin_a.body = "zeppelin hangar".into();
    twin_a.subject = Some("airship".into());
    twin_a.attachments.clear();
    let mut twin_b = twin_a.clone();
    twin_b.id = MessageId::new(2022, 999);
    docs.push(twin_a.clone());
    docs.push(twin_b.clone());
    let (_dir, set) = build(&docs);
    let results = set
        .search(&request("zeppelin", Sort::Relevance, 10, 0))
        .expect("searches");
    assert_eq!(results.hits.len(), 2);
    assert!(
        (results.hits[0].score - results.hits[1].score).abs() < 1e-6,
        "{:?}",
        results.hits
    );
    assert!(results.hits[0].score > 0.0);
}

#[test]
fn hits_carry_what_the_api_shows() {
    let mut docs = corpus(8);
    docs[0].date = None;
    docs[0].body = "Please review the <budget> & the plan before Friday.".into();
    let (_dir, set) = build(&docs);
    let results = set
        .search(&SearchRequest::new(
            format!("message-id:{}", docs[0].message_id.as_deref().expect("id")),
            Scope::All,
        ))
        .expect("searches");
    assert_eq!(results.hits.len(), 1);
    let hit = &results.hits[0];
    let doc = &docs[0];
    assert_eq!(hit.id, doc.id);
    assert_eq!(hit.received, doc.received);
    assert_eq!(hit.date, None);
    assert_eq!(hit.subject, doc.subject);
    assert_eq!(hit.mailboxes, doc.mailboxes);
    assert_eq!(hit.attachments as usize, doc.attachments.len());
    let from = &doc.from[0];
    let want_from = match &from.name {
        Some(name) => format!("{name} <{}>", from.email),
        None => from.email.clone(),
    };
    assert_eq!(hit.from, want_from);
    assert_eq!(hit.to.len(), doc.to.len());
    assert!(
        hit.snippet.starts_with("Please review the &lt;budget&gt;"),
        "{}",
        hit.snippet
    );

    let results = set
        .search(&SearchRequest::new("budget plan", Scope::All))
        .expect("searches");
    let hit = results
        .hits
        .iter()
        .find(|h| h.id == docs[0].id)
        .expect("found");
    assert!(
        hit.snippet.contains("&lt;<b>budget</b>&gt;"),
        "{}",
        hit.snippet
    );
    assert!(hit.snippet.contains("<b>plan</b>"), "{}", hit.snippet);
    let json = serde_json::to_value(hit).expect("serializes");
    let keys: BTreeSet<&str> = json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "id",
            "received",
            "date",
            "from",
            "to",
            "subject",
            "snippet",
            "mailboxes",
            "attachments"
        ])
    );
    assert_eq!(
        json["id"],
        serde_json::Value::String(docs[0].id.to_string())
    );
}

#[test]
fn bad_requests_are_rejected_precisely() {
    let docs = corpus(8);
    let (_dir, set) = build(&docs);
    match set.search(&SearchRequest::new("budget form:alice", Scope::All)) {
        Err(Error::Query(error)) => {
            assert_eq!(error.position, 7);
            assert!(error.message.contains("did you mean 'from:'"));
        }
        other => panic!("expected a query error, got {other:?}"),
    }
    let error = set
        .search(&SearchRequest::new("(budget", Scope::All))
        .expect_err("rejects");
    assert_eq!(error.code(), ErrorCode::InvalidInput);
    let error = set
        .search(&request("budget", Sort::Relevance, 5000, 0))
        .expect_err("rejects");
    assert_eq!(error.code(), ErrorCode::InvalidInput);
    let error = set
        .search(&request("budget", Sort::Relevance, 10, 200_000))
        .expect_err("rejects");
    assert_eq!(error.code(), ErrorCode::InvalidInput);
    let long_word = "x".repeat(100);
    let error = set
        .search(&SearchRequest::new(long_word, Scope::All))
        .expect_err("rejects");
    assert_eq!(error.code(), ErrorCode::InvalidInput);
    let counted = set
        .search(&request("budget", Sort::Relevance, 0, 0))
        .expect("counts");
    assert!(counted.hits.is_empty());
    assert_eq!(
        counted.total as usize,
        expected(&docs, &Scope::All, |d| has_text(d, "", "budget")).len()
    );
    let invalid_year = MessageDoc {
        id: MessageId::new(99_999, 1),
        ..docs[0].clone()
    };
    assert_eq!(
        set.add(&invalid_year).expect_err("rejects").code(),
        ErrorCode::InvalidInput
    );
}

#[test]
fn absurd_dates_are_indexed_and_searched_exactly() {
    let mut docs = corpus(8);
    docs[0].date = Some(253_402_300_799); // 9999-12-31T23:59:59Z
    docs[1].date = Some(-62_135_596_800); // 0001-01-01
    docs[2].date = Some(i64::MAX);
    docs[3].date = Some(i64::MIN);
    let (_dir, set) = build(&docs);
    let ids = |query: &str| search_ids(&set, query, &Scope::All);
    assert_eq!(ids("during:9999"), BTreeSet::from([docs[0].id]));
    assert_eq!(ids("after:9999"), BTreeSet::from([docs[0].id, docs[2].id]));
    assert_eq!(ids("before:1000"), BTreeSet::from([docs[1].id, docs[3].id]));
    assert_eq!(ids("during:2300"), BTreeSet::new());
    let newest = set
        .search(&request("*", Sort::DateDesc, 2, 0))
        .expect("searches");
    assert_eq!(newest.hits[0].id, docs[2].id);
    assert_eq!(newest.hits[0].date, Some(i64::MAX));
    assert_eq!(newest.hits[1].id, docs[0].id);
    let oldest = set
        .search(&request("*", Sort::DateAsc, 1, 0))
        .expect("searches");
    assert_eq!(oldest.hits[0].id, docs[3].id);
}

/// Bounds (issue 22, item 9): a prefix that expands to more terms than allowed is
/// refused as an invalid request before the search runs (a longer one is fine), and a
/// search past its time limit stops with [`Error::TimedOut`] instead of running on.
#[test]
fn prefix_expansion_and_search_time_are_bounded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let docs = docs_of(2023, 40);
    {
        let set = IndexSet::open(dir.path()).expect("opens");
        for doc in &docs {
            set.add(doc).expect("adds");
        }
        set.commit(2023, docs.len() as u64).expect("commits");
    }
    let bounded = IndexSet::open_with(
        dir.path(),
        coffer_index::IndexOptions {
            max_prefix_terms: 3,
            ..coffer_index::IndexOptions::default()
        },
    )
    .expect("opens");
    // A two-letter prefix that starts more than three different words of the corpus.
    let mut words: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for doc in &docs {
        for word in doc.body.split(|c: char| !c.is_alphanumeric()) {
            let word = word.to_lowercase();
            if word.chars().count() > 2 && word.is_ascii() {
                words.entry(word[..2].to_string()).or_default().insert(word);
            }
        }
    }
    let (prefix, _) = words
        .iter()
        .max_by_key(|(_, w)| w.len())
        .expect("the corpus has words");
    let query = format!("{prefix}*");
    let refused = bounded
        .search(&request(&query, Sort::Relevance, 10, 0))
        .expect_err("the prefix expands to many words");
    assert!(
        matches!(refused, Error::InvalidRequest(ref m) if m.contains("more than 3")),
        "{refused}"
    );
    assert_eq!(refused.code(), ErrorCode::InvalidInput);
    // The same query under the default bound works.
    let unbounded = IndexSet::open(dir.path()).expect("opens");
    assert!(total(&unbounded, &query) > 0);
    drop(unbounded);
    drop(bounded);
    let hurried = IndexSet::open_with(
        dir.path(),
        coffer_index::IndexOptions {
            search_time_limit: Some(std::time::Duration::ZERO),
            ..coffer_index::IndexOptions::default()
        },
    )
    .expect("opens");
    for sort in [Sort::Relevance, Sort::DateDesc] {
        let stopped = hurried
            .search(&request(&format!("the OR {query}"), sort, 10, 0))
            .expect_err("no time at all");
        assert!(matches!(stopped, Error::TimedOut), "{stopped}");
    }
}

/// The bodies of some messages, as the volumes would give them back (the index's side
/// of the contract; the real source, over volume records, is tested through the server
/// in tests/serve_api.rs).
struct Bodies {
    bodies: Vec<(MessageId, String)>,
    asked: std::sync::Mutex<Vec<MessageId>>,
}

impl coffer_index::HitText for Bodies {
    fn body(&self, id: MessageId) -> Option<String> {
        self.asked.lock().expect("lock").push(id);
        self.bodies
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, b)| b.clone())
    }
}

/// The snippet of hit `id` among `results`.
fn snippet_of(results: &coffer_index::SearchResults, id: MessageId) -> &str {
    &results
        .hits
        .iter()
        .find(|h| h.id == id)
        .expect("hit")
        .snippet
}

#[test]
fn snippets_past_the_stored_preview_are_read_back_only_when_needed() {
    let mut docs = corpus(8);
    let filler = "Quarterly figures follow in the usual order. ".repeat(40);
    assert!(filler.len() > coffer_index::BODY_PREVIEW_BYTES);
    docs[0].body = format!("{filler}The zanzibar clause is at the end.");
    docs[1].body = "A short note about zanzibar.".into();
    // A long body without the word, which only its attachment text holds; and a long
    // body that holds it past the preview, as does the attachment text.
    docs[3].body = format!("{filler}The zanzibar memo is attached.");
    docs[3].attachments = vec![coffer_model::AttachmentDoc {
        filename: Some("memo.txt".into()),
        content_type: "text/plain".into(),
        size: 32,
        text: Some("The zanzibar memo itself.".into()),
    }];
    docs[2].body = filler.clone();
    docs[2].attachments = vec![coffer_model::AttachmentDoc {
        filename: Some("annex.txt".into()),
        content_type: "text/plain".into(),
        size: 32,
        text: Some("The zanzibar annex, as attached.".into()),
    }];
    let (_dir, set) = build(&docs);

    // Without a source the index has only the preview: a plain snippet of its start.
    let results = set
        .search(&SearchRequest::new("zanzibar", Scope::All))
        .expect("searches");
    let long = snippet_of(&results, docs[0].id);
    assert!(!long.contains("<b>"), "{long}");
    assert!(long.starts_with("Quarterly figures"), "{long}");

    let source = Arc::new(Bodies {
        bodies: vec![(docs[0].id, docs[0].body.clone())],
        asked: std::sync::Mutex::new(Vec::new()),
    });
    set.set_hit_text(Arc::clone(&source) as Arc<dyn coffer_index::HitText>);
    let results = set
        .search(&SearchRequest::new("zanzibar", Scope::All))
        .expect("searches");
    let long = snippet_of(&results, docs[0].id);
    assert!(long.contains("<b>zanzibar</b> clause"), "{long}");
    let short = snippet_of(&results, docs[1].id);
    assert!(short.contains("<b>zanzibar</b>"), "{short}");
    let annex = snippet_of(&results, docs[2].id);
    assert!(annex.contains("<b>zanzibar</b> annex"), "{annex}");
    let memo = snippet_of(&results, docs[3].id);
    assert!(memo.contains("<b>zanzibar</b> memo itself"), "{memo}");
    // Only the message whose words lie past its preview was read back: not the one
    // whose long body does not hold the word (its postings say so), nor the one whose
    // attachment text shows the word without reading anything back.
    assert_eq!(*source.asked.lock().expect("lock"), vec![docs[0].id]);

    // The same for a prefix: the body holding a word that starts with it is read back.
    source.asked.lock().expect("lock").clear();
    let results = set
        .search(&SearchRequest::new("zanzib*", Scope::All))
        .expect("searches");
    let long = snippet_of(&results, docs[0].id);
    assert!(long.contains("<b>zanzibar</b> clause"), "{long}");
    assert_eq!(*source.asked.lock().expect("lock"), vec![docs[0].id]);

    // Words of `subject:` or `attachment:` clauses are never looked for in the body,
    // even on a hit whose body goes on past its preview.
    source.asked.lock().expect("lock").clear();
    let id = docs[0].message_id.as_deref().expect("id");
    for query in [
        format!("message-id:{id} OR subject:zanzibar"),
        format!("message-id:{id} OR attachment:zanzibar"),
    ] {
        let results = set
            .search(&SearchRequest::new(query, Scope::All))
            .expect("searches");
        assert!(results.hits.iter().any(|h| h.id == docs[0].id));
    }
    assert!(source.asked.lock().expect("lock").is_empty());

    // A filter-only query highlights nothing and reads nothing back.
    let results = set
        .search(&SearchRequest::new(
            format!("message-id:{}", docs[0].message_id.as_deref().expect("id")),
            Scope::All,
        ))
        .expect("searches");
    assert_eq!(results.hits.len(), 1);
    assert!(source.asked.lock().expect("lock").is_empty());
}

/// A page with many bodies to read back gives every hit its own snippet (none taken
/// from another hit), a page of one the same; a body the source cannot give keeps the
/// plain preview.
#[test]
fn many_read_backs_on_one_page_give_each_hit_its_own_snippet() {
    let mut docs = corpus(12);
    let filler = "Quarterly figures follow in the usual order. ".repeat(40);
    for (i, doc) in docs.iter_mut().enumerate().take(9) {
        doc.body = format!("{filler}The zanzibar clause number {i} is at the end.");
        // Small text messages: the kind a snippet reads back.
        doc.attachments.clear();
        doc.size = doc.body.len() as u64 + 500;
    }
    let (_dir, set) = build(&docs);
    // Every body but the last of the nine can be read back.
    let source = Arc::new(Bodies {
        bodies: docs[..8].iter().map(|d| (d.id, d.body.clone())).collect(),
        asked: std::sync::Mutex::new(Vec::new()),
    });
    set.set_hit_text(Arc::clone(&source) as Arc<dyn coffer_index::HitText>);
    for limit in [20, 1] {
        source.asked.lock().expect("lock").clear();
        let mut request = SearchRequest::new("zanzibar", Scope::All);
        request.limit = limit;
        let results = set.search(&request).expect("searches");
        assert_eq!(results.hits.len(), limit.min(9));
        for hit in &results.hits {
            let i = docs.iter().position(|d| d.id == hit.id).expect("a doc");
            if i < 8 {
                let expected = format!("<b>zanzibar</b> clause number {i} ");
                assert!(hit.snippet.contains(&expected), "{i}: {}", hit.snippet);
            } else {
                assert!(!hit.snippet.contains("<b>"), "{}", hit.snippet);
                assert!(
                    hit.snippet.starts_with("Quarterly figures"),
                    "{}",
                    hit.snippet
                );
            }
        }
        let mut asked = source.asked.lock().expect("lock").clone();
        asked.sort();
        let mut shown: Vec<MessageId> = results.hits.iter().map(|h| h.id).collect();
        shown.sort();
        assert_eq!(asked, shown, "every hit shown was read back, once");
    }
}
