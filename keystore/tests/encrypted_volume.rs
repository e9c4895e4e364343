//! A volume whose message content is encrypted with data keys from a real key store:
//! read back, verified with and without the store, one key destroyed (disposed: the
//! record no longer reads, verification lists it as disposed and still passes), and
//! reopened from disk. Real files, no mocks.

use std::sync::Arc;

use coffer_keystore::KeyStore;
use coffer_volume::{
    ArchiveKey, ContentKeys, Error, RecordKind, Volume, VolumeConfig, verify_volume,
    verify_volume_with,
};

fn setup(tmp: &std::path::Path) -> (Arc<KeyStore>, ArchiveKey, VolumeConfig) {
    let store =
        Arc::new(KeyStore::open_writer(&tmp.join("data-keys"), &tmp.join("kek")).expect("store"));
    let key = ArchiveKey::generate().expect("key");
    let config = VolumeConfig {
        content_keys: Some(Arc::clone(&store) as Arc<dyn ContentKeys>),
        ..VolumeConfig::default()
    };
    (store, key, config)
}

#[test]
fn encrypted_records_read_verify_and_dispose() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (store, key, config) = setup(tmp.path());
    let dir = tmp.path().join("2026");
    let (volume, _) = Volume::create(&dir, "mail", 2026, &key, config.clone()).expect("create");
    let bodies: Vec<Vec<u8>> = (0..5)
        .map(|i| format!("Subject: m{i}\r\n\r\nconfidential body number {i}\r\n").into_bytes())
        .collect();
    let mut seqs = Vec::new();
    for b in &bodies {
        seqs.push(
            volume
                .append(RecordKind::Message, b"{}".to_vec(), Some(b))
                .expect("append")
                .seq,
        );
    }
    // A link record (no content) is never encrypted.
    let link = volume
        .append(RecordKind::Link, b"{}".to_vec(), None)
        .expect("link")
        .seq;
    volume.checkpoint().expect("checkpoint");
    for (seq, body) in seqs.iter().zip(&bodies) {
        let r = volume.read(*seq).expect("read");
        assert!(r.header.is_encrypted());
        assert_eq!(&r.content, body);
    }
    assert!(!volume.read_meta(link).expect("meta").0.is_encrypted());
    // The plain text is not in the segment file.
    let seg = std::fs::read(dir.join("000001.seg")).expect("segment");
    assert!(!seg.windows(12).any(|w| w == b"confidential"));

    let public = key.public_key();
    let report = verify_volume_with(&dir, &public, Some(store.as_ref()));
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!((report.encrypted, report.decrypted), (5, 5));
    let alone = verify_volume(&dir, &public);
    assert!(alone.is_intact(), "{:?}", alone.problems);
    assert_eq!((alone.encrypted, alone.decrypted), (5, 0));

    // Dispose of record 2: its key goes, the record no longer reads, everything verifies.
    let id = volume.key_id(seqs[1]).expect("key id").expect("encrypted");
    let done = store.destroy(&[id], 9, 1).expect("destroy");
    assert_eq!(done.destroyed, 1);
    assert!(matches!(volume.read(seqs[1]), Err(Error::Disposed { .. })));
    assert_eq!(
        volume.disposed(seqs[1]).expect("disposed"),
        Some("disposition run 9".to_string())
    );
    assert_eq!(volume.disposed(seqs[0]).expect("kept"), None);
    let report = verify_volume_with(&dir, &public, Some(store.as_ref()));
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.disposed.len(), 1);
    assert_eq!(report.disposed[0].seq, seqs[1]);
    assert_eq!(report.decrypted, 4);
    drop(volume);

    // From disk again: the store and the volume agree.
    let store = Arc::new(
        KeyStore::open_writer(&tmp.path().join("data-keys"), &tmp.path().join("kek"))
            .expect("reopen"),
    );
    let (volume, _) =
        Volume::open_read_only_with(&dir, Some(store as Arc<dyn ContentKeys>)).expect("open");
    assert_eq!(volume.read(seqs[0]).expect("read").content, bodies[0]);
    assert!(matches!(volume.read(seqs[1]), Err(Error::Disposed { .. })));
    // A key store that lost a key (no tombstone) is a problem, not a disposal.
    let other = KeyStore::open_writer(&tmp.path().join("other-keys"), &tmp.path().join("kek2"))
        .expect("other store");
    let report = verify_volume_with(&dir, &public, Some(&other));
    assert!(!report.is_intact());
    assert!(
        report.problems[0]
            .what
            .contains("missing from the key store")
    );
}
