//! How many bytes a volume takes for a directory of mail, against stream `zstd -3` of
//! the same messages concatenated, computed in the same run (issue 24's target: a volume
//! at most 1.5 × that).
//!
//! ```text
//! cargo run -p coffer-volume --example footprint -- MAIL_DIR [VOLUME_DIR]
//! ```
//!
//! Every regular file of `MAIL_DIR` (sorted by name) is one message. They are written
//! into a fresh volume through the path the importer takes — [`Volume::prepare`] (which
//! trains and writes the dictionaries), [`Volume::write_prepared`], a group commit with
//! its checkpoint every `FOOTPRINT_BATCH` messages (default 500) — with per-message
//! encryption (an in-memory key store; the format adds a fixed 32 bytes per message)
//! and binary custody metadata of the size an import writes. The volume is then read
//! back (every message equal to its file) and verified, and its bytes are broken down
//! by part. `VOLUME_DIR` (default: a temporary directory) keeps the volume.
//!
//! The dictionary parameters can be varied without rebuilding, to compare settings on
//! the same corpus: `FOOTPRINT_DICT_MAX_SIZE`, `FOOTPRINT_DICT_SAMPLE_BYTES`,
//! `FOOTPRINT_DICT_FIRST_SAMPLE_BYTES`, `FOOTPRINT_DICT_MAX_SAMPLE_LEN`,
//! `FOOTPRINT_DICT_LEVEL`, `FOOTPRINT_DICT_WINDOW_BYTES` (bytes or levels, decimal).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coffer_volume::record::{RecordHeader, RecordKind};
use coffer_volume::segment::SEGMENT_HEADER_LEN;
use coffer_volume::{
    ArchiveKey, ContentKey, ContentKeys, DictionaryConfig, KeyId, KeyLookup, Volume, VolumeConfig,
    verify_volume_with,
};

/// An in-memory key store: what the volume needs of one, nothing durable.
#[derive(Debug, Default)]
struct MemoryKeys {
    keys: Mutex<BTreeMap<KeyId, [u8; 32]>>,
    next: Mutex<u64>,
}

impl ContentKeys for MemoryKeys {
    fn new_key(&self) -> Result<ContentKey, String> {
        let mut next = self.next.lock().map_err(|e| e.to_string())?;
        *next += 1;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&next.to_le_bytes());
        let key = coffer_volume::record::sha256(&id);
        self.keys.lock().map_err(|e| e.to_string())?.insert(id, key);
        Ok(ContentKey { id, key })
    }
    fn make_durable(&self, _: &KeyId) -> Result<(), String> {
        Ok(())
    }
    fn lookup(&self, id: &KeyId) -> Result<KeyLookup, String> {
        Ok(match self.keys.lock().map_err(|e| e.to_string())?.get(id) {
            Some(key) => KeyLookup::Found(ContentKey { id: *id, key: *key }),
            None => KeyLookup::Missing,
        })
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Binary custody metadata (FORMAT.md, "Metadata of Coffer's record kinds") as an import
/// of one mbox into one mailbox writes it.
fn custody_meta(i: usize) -> Vec<u8> {
    fn put(m: &mut Vec<u8>, s: &str) {
        m.push(s.len() as u8);
        m.extend_from_slice(s.as_bytes());
    }
    let mut m = vec![0x02];
    put(&mut m, "import");
    m.push(1);
    put(&mut m, "archive@example.org");
    m.push(1);
    put(&mut m, &format!("mbox:/srv/import/corpus.mbox#{i}"));
    m.extend_from_slice(&[0, 0]);
    m
}

#[derive(Default)]
struct Parts {
    records: u64,
    headers: u64,
    meta: u64,
    message_stored: u64,
    dictionaries: u64,
    dictionary_stored: u64,
    other_stored: u64,
    segment_headers: u64,
    by_version: BTreeMap<u8, u64>,
}

fn parts(dir: &Path) -> Parts {
    let mut p = Parts::default();
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("volume dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segments.sort();
    for path in segments {
        let bytes = std::fs::read(&path).expect("segment");
        p.segment_headers += SEGMENT_HEADER_LEN;
        let mut at = SEGMENT_HEADER_LEN as usize;
        while at < bytes.len() {
            let h = RecordHeader::decode(&bytes[at..]).expect("header");
            p.records += 1;
            *p.by_version.entry(h.version).or_default() += 1;
            p.headers += h.prefix_len() as u64;
            p.meta += u64::from(h.meta_len);
            match h.kind {
                RecordKind::Message => p.message_stored += u64::from(h.stored_len),
                RecordKind::Dictionary => {
                    p.dictionaries += 1;
                    p.dictionary_stored += u64::from(h.stored_len);
                }
                _ => p.other_stored += u64::from(h.stored_len),
            }
            at += h.record_len() as usize;
        }
    }
    p
}

fn mb(n: u64) -> String {
    format!("{:.2} MB", n as f64 / 1e6)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(mail_dir) = args.first() else {
        eprintln!("usage: footprint MAIL_DIR [VOLUME_DIR]");
        std::process::exit(2);
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(mail_dir)
        .expect("mail dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let messages: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("message"))
        .collect();
    let raw: u64 = messages.iter().map(|m| m.len() as u64).sum();
    let stream = zstd::bulk::compress(&messages.concat(), 3)
        .expect("zstd")
        .len() as u64;

    let tmp;
    let volume_dir = match args.get(1) {
        Some(d) => PathBuf::from(d),
        None => {
            tmp = tempfile::tempdir().expect("tempdir");
            tmp.path().join("2026")
        }
    };
    let d = DictionaryConfig::default();
    let dictionary = DictionaryConfig {
        max_size: env_usize("FOOTPRINT_DICT_MAX_SIZE", d.max_size),
        sample_bytes: env_usize("FOOTPRINT_DICT_SAMPLE_BYTES", d.sample_bytes),
        first_sample_bytes: env_usize("FOOTPRINT_DICT_FIRST_SAMPLE_BYTES", d.first_sample_bytes),
        max_sample_len: env_usize("FOOTPRINT_DICT_MAX_SAMPLE_LEN", d.max_sample_len),
        level: env_usize("FOOTPRINT_DICT_LEVEL", d.level as usize) as i32,
        window_bytes: env_usize("FOOTPRINT_DICT_WINDOW_BYTES", d.window_bytes as usize) as u64,
        ..d
    };
    println!("dictionary config: {dictionary:?}");
    let keys = Arc::new(MemoryKeys::default());
    let config = VolumeConfig {
        checkpoint_interval: Duration::from_secs(3600),
        dictionary,
        content_keys: Some(keys.clone() as Arc<dyn ContentKeys>),
        ..VolumeConfig::default()
    };
    let key = ArchiveKey::from_seed([7; 32]);
    let (volume, _) = Volume::create(&volume_dir, "mail", 2026, &key, config).expect("create");
    let batch = env_usize("FOOTPRINT_BATCH", 500).max(1);
    let start = Instant::now();
    let base_us = volume.manifest().created_us;
    let mut last = 0;
    for (i, m) in messages.iter().enumerate() {
        let prepared = volume
            .prepare(
                RecordKind::Message,
                base_us + i as i64,
                custody_meta(i),
                Some(m),
                None,
            )
            .expect("prepare");
        last = volume.write_prepared(prepared).expect("write").seq;
        if (i + 1) % batch == 0 {
            volume.sync_to(last).expect("sync");
        }
    }
    volume.sync_to(last).expect("sync");
    let elapsed = start.elapsed();
    volume.seal().expect("seal");
    drop(volume);

    // Read back and verify: every message equal to its file, the volume intact.
    let (reader, _) =
        Volume::open_read_only_with(&volume_dir, Some(keys.clone() as Arc<dyn ContentKeys>))
            .expect("open");
    let mut n = 0;
    for seq in 1..=reader.last_seq() {
        if reader.kind(seq).expect("kind") == RecordKind::Message {
            assert_eq!(reader.read(seq).expect("read").content, messages[n]);
            n += 1;
        }
    }
    assert_eq!(n, messages.len());
    let report = verify_volume_with(&volume_dir, &key.public_key(), Some(keys.as_ref()));
    assert!(report.is_intact(), "{:?}", report.problems);

    let p = parts(&volume_dir);
    let total: u64 = std::fs::read_dir(&volume_dir)
        .expect("dir")
        .map(|e| e.expect("entry").metadata().expect("meta").len())
        .sum();
    println!(
        "{} messages, {} raw; stream zstd -3 {}",
        messages.len(),
        mb(raw),
        mb(stream)
    );
    println!(
        "volume {} = {:.3} × stream zstd -3 ({:.3} × raw); written in {:.1} s",
        mb(total),
        total as f64 / stream as f64,
        total as f64 / raw as f64,
        elapsed.as_secs_f64()
    );
    println!(
        "  message content {} ({:.3} × stream; of which encryption {})",
        mb(p.message_stored),
        p.message_stored as f64 / stream as f64,
        mb(32 * messages.len() as u64)
    );
    println!(
        "  record headers + hashes {} ({} records, {:.1} B each; versions {:?})",
        mb(p.headers),
        p.records,
        p.headers as f64 / p.records as f64,
        p.by_version
    );
    println!("  metadata {}", mb(p.meta));
    println!(
        "  {} dictionaries {} stored",
        p.dictionaries,
        mb(p.dictionary_stored)
    );
    println!(
        "  other content {}, segment headers {}, manifest and SEAL {}",
        mb(p.other_stored),
        mb(p.segment_headers),
        mb(total
            - p.headers
            - p.meta
            - p.message_stored
            - p.dictionary_stored
            - p.other_stored
            - p.segment_headers)
    );
}
