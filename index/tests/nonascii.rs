//! Accents, CJK, Arabic and Hebrew: what users type finds what was written.

mod common;

use std::collections::BTreeSet;

use coffer_index::{IndexSet, SearchRequest};
use coffer_model::{Address, AttachmentDoc, MessageDoc, MessageId, Scope};
use common::search_ids;

fn doc(seq: u64, subject: &str, body: &str) -> MessageDoc {
    MessageDoc {
        id: MessageId::new(2024, seq),
        received: 1_710_000_000 + seq as i64 * 60,
        subject: Some(subject.into()),
        body: body.into(),
        from: vec![Address {
            name: Some("Zoë Ångström".into()),
            email: format!("user{seq}@example.org"),
        }],
        mailboxes: vec![format!("user{seq}@example.org")],
        ..MessageDoc::default()
    }
}

fn fixture() -> (tempfile::TempDir, IndexSet, Vec<MessageDoc>) {
    let mut docs = vec![
        doc(1, "Café meeting", "Rendez-vous au café à midi."),
        doc(2, "CAFE", "plain ascii cafe"),
        doc(
            3,
            "decomposed",
            "cafe\u{301} written with a combining accent; naïve résumé",
        ),
        doc(4, "German", "Die Straße ist gesperrt. Grüße aus München."),
        doc(5, "中文", "我们明天在北京开会，讨论预算。"),
        doc(6, "日本語", "東京都で会議があります。カタカナとひらがな。"),
        doc(7, "한국어", "서울에서 회의가 있습니다"),
        doc(8, "عربي", "مرحبا بالعالم، الاجتماع غداً في الْمَكْتَب"),
        doc(9, "עברית", "שָׁלוֹם עולם, הפגישה מחר"),
        doc(
            10,
            "PDF ligatures",
            "The ﬁnancial report is ﬁnal. Ｅｘｃｅｌ sheet attached.",
        ),
        doc(11, "北京烤鸭", "unrelated"),
    ];
    docs[10].attachments.push(AttachmentDoc {
        filename: Some("Résumé_Zoë.pdf".into()),
        content_type: "application/pdf".into(),
        size: 100,
        text: Some("Прием заявок до пятницы".into()),
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let set = IndexSet::open(dir.path()).expect("opens");
    for d in &docs {
        set.add(d).expect("adds");
    }
    set.commit(2024, 11).expect("commits");
    (dir, set, docs)
}

fn ids(seqs: &[u64]) -> BTreeSet<MessageId> {
    seqs.iter().map(|s| MessageId::new(2024, *s)).collect()
}

#[test]
fn accents_and_case_are_ignored() {
    let (_dir, set, _) = fixture();
    let all = Scope::All;
    assert_eq!(search_ids(&set, "café", &all), ids(&[1, 2, 3]));
    assert_eq!(search_ids(&set, "CAFE", &all), ids(&[1, 2, 3]));
    assert_eq!(search_ids(&set, "cafe\u{301}", &all), ids(&[1, 2, 3]));
    assert_eq!(search_ids(&set, "naive resume", &all), ids(&[3]));
    assert_eq!(search_ids(&set, "strasse", &all), ids(&[4]));
    assert_eq!(search_ids(&set, "Straße", &all), ids(&[4]));
    assert_eq!(search_ids(&set, "grusse muenchen", &all), BTreeSet::new());
    assert_eq!(search_ids(&set, "grüße münchen", &all), ids(&[4]));
    assert_eq!(search_ids(&set, "from:zoe", &all).len(), 11);
    assert_eq!(search_ids(&set, "from:\"Zoe Angstrom\"", &all).len(), 11);
    assert_eq!(search_ids(&set, "filename:resume", &all), ids(&[11]));
    assert_eq!(search_ids(&set, "attachment:пятницы", &all), ids(&[11]));
    assert_eq!(search_ids(&set, "financial final", &all), ids(&[10]));
    assert_eq!(search_ids(&set, "excel", &all), ids(&[10]));
}

#[test]
fn cjk_words_match_as_character_sequences() {
    let (_dir, set, _) = fixture();
    let all = Scope::All;
    assert_eq!(search_ids(&set, "北京", &all), ids(&[5, 11]));
    assert_eq!(search_ids(&set, "预算", &all), ids(&[5]));
    assert_eq!(search_ids(&set, "北京开会", &all), ids(&[5]));
    // Frequent characters and kana are indexed as common grams too.
    assert_eq!(search_ids(&set, "我们", &all), ids(&[5]));
    assert_eq!(search_ids(&set, "们明", &all), ids(&[5]));
    assert_eq!(search_ids(&set, "があります", &all), ids(&[6]));
    assert_eq!(search_ids(&set, "がありま", &all), ids(&[6]));
    assert_eq!(search_ids(&set, "ありがとう", &all), BTreeSet::new());
    assert_eq!(search_ids(&set, "\"在北京\"", &all), ids(&[5]));
    assert_eq!(
        search_ids(&set, "东京", &all),
        BTreeSet::new(),
        "simplified 东 is another character"
    );
    assert_eq!(search_ids(&set, "東京", &all), ids(&[6]));
    assert_eq!(search_ids(&set, "会議", &all), ids(&[6]));
    assert_eq!(search_ids(&set, "カタカナ", &all), ids(&[6]));
    assert_eq!(search_ids(&set, "회의", &all), ids(&[7]));
    assert_eq!(search_ids(&set, "subject:烤鸭", &all), ids(&[11]));
    assert_eq!(search_ids(&set, "北京 -烤鸭", &all), ids(&[5]));
    let results = set
        .search(&SearchRequest::new("预算", all.clone()))
        .expect("searches");
    assert!(
        results.hits[0].snippet.contains("<b>预算</b>"),
        "{}",
        results.hits[0].snippet
    );
}

#[test]
fn arabic_and_hebrew_words_match_with_or_without_diacritics() {
    let (_dir, set, _) = fixture();
    let all = Scope::All;
    assert_eq!(search_ids(&set, "مرحبا", &all), ids(&[8]));
    assert_eq!(search_ids(&set, "المكتب", &all), ids(&[8]));
    assert_eq!(search_ids(&set, "الْمَكْتَب", &all), ids(&[8]));
    assert_eq!(search_ids(&set, "\"مرحبا بالعالم\"", &all), ids(&[8]));
    assert_eq!(search_ids(&set, "שלום", &all), ids(&[9]));
    assert_eq!(search_ids(&set, "שָׁלוֹם", &all), ids(&[9]));
    assert_eq!(search_ids(&set, "הפגישה מחר", &all), ids(&[9]));
    let results = set
        .search(&SearchRequest::new("שלום", all.clone()))
        .expect("searches");
    assert!(
        results.hits[0].snippet.contains("<b>שָׁלוֹם</b>"),
        "{}",
        results.hits[0].snippet
    );
}
