//! What a signed tree head at the end of every group commit costs: appends of
//! message-sized records by concurrent writers (each waiting for its fsync, as SMTP
//! sessions do), with `head_every_commit` on and off, alternating in the same run.
//!
//! ```text
//! cargo run --release -p coffer-volume --example commit_cost -- [DIR] [RECORDS] [ROUNDS]
//! ```
//!
//! `DIR` (default: a temporary directory) should be on the disk the archive uses:
//! fsync dominates. Prints, per writer count and setting, records per second (best
//! and median of the rounds) and the bytes the checkpoints add.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use coffer_volume::{ArchiveKey, RecordKind, Volume, VolumeConfig};

fn content(i: usize) -> Vec<u8> {
    format!(
        "From: a{i}@example.com\r\nSubject: bench {i}\r\n\r\n{}\r\n",
        "lorem ipsum dolor sit amet ".repeat(200 + i % 100)
    )
    .into_bytes()
}

fn run(dir: &std::path::Path, writers: usize, records: usize, signed: bool) -> (f64, u64) {
    let key = ArchiveKey::generate().expect("key");
    let vdir = dir.join(format!("v-{writers}-{signed}-{}", rand_suffix()));
    let config = VolumeConfig {
        head_every_commit: signed,
        checkpoint_interval: Duration::from_secs(3600),
        ..VolumeConfig::default()
    };
    let (volume, _) = Volume::create(&vdir, "mail", 2026, &key, config).expect("create");
    let per = records / writers;
    let start = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let volume = volume.clone();
            std::thread::spawn(move || {
                for i in 0..per {
                    volume
                        .append(
                            RecordKind::Message,
                            b"{}".to_vec(),
                            Some(&content(w * per + i)),
                        )
                        .expect("append");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer");
    }
    let rate = (per * writers) as f64 / start.elapsed().as_secs_f64();
    let stored = volume.stats().stored_bytes;
    drop(volume);
    let _ = std::fs::remove_dir_all(&vdir);
    (rate, stored)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = args
        .get(1)
        .map_or_else(|| tmp.path().to_path_buf(), PathBuf::from);
    let records: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let rounds: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
    println!("| writers | head every commit | records/s best | records/s median | stored bytes |");
    println!("|---|---|---|---|---|");
    for writers in [1, 16, 64] {
        let mut results = [Vec::new(), Vec::new()];
        let mut bytes = [0u64; 2];
        for _ in 0..rounds {
            for (slot, signed) in [(0, false), (1, true)] {
                let (rate, stored) = run(&dir, writers, records, signed);
                results[slot].push(rate);
                bytes[slot] = stored;
            }
        }
        for (slot, signed) in [(0, false), (1, true)] {
            let r = &mut results[slot];
            r.sort_by(f64::total_cmp);
            println!(
                "| {writers} | {signed} | {:.0} | {:.0} | {} |",
                r[r.len() - 1],
                r[r.len() / 2],
                bytes[slot]
            );
        }
    }
}
