//! `coffer volume list`, `seal YEAR`, `move YEAR DIR`, `attach DIR` and `delete YEAR`:
//! the volumes, sealing a year, secondary storage (`coffer_volume::location`: a move
//! copies, verifies, switches and removes the original, so a crash at any step loses
//! nothing; an attach verifies before it brings a volume back), and deleting a sealed
//! volume whose every message is disposed of (`coffer_retention::volumes`: audited; its
//! manifest, final signed tree head and a record of what it held stay in
//! `disposed-volumes/YEAR`). Move, attach and delete take the data directory's lock:
//! stop `coffer serve` first.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use coffer_index::IndexSet;
use coffer_volume::{PublicKey, VolumeSet};
use serde::Serialize;

use crate::output;

/// `coffer volume ...`.
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// List the volumes: year, state, records, messages, raw and stored bytes and their
    /// ratio, index bytes, tree head, key, index lag; then the catalog's bytes.
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Seal a year's volume: final signed tree head, SEAL file, read-only.
    Seal {
        /// The year.
        year: i32,
        /// Seal even though the year has not ended (later mail for it is then refused).
        #[arg(long)]
        force: bool,
    },
    /// Move a sealed volume to secondary storage (DIR/YEAR): copy, verify, switch, remove.
    Move {
        /// The year.
        year: i32,
        /// The secondary storage directory (another mount).
        dir: PathBuf,
    },
    /// Bring back a volume directory (moved, remounted elsewhere, restored): verified first.
    Attach {
        /// The volume directory (holding its MANIFEST).
        dir: PathBuf,
    },
    /// Delete a sealed volume whose every message is disposed of (no legal hold covering
    /// it, no link into kept mail); audited. Its manifest, final signed tree head and a
    /// record of what it held stay in disposed-volumes/YEAR. Stop `coffer serve` first.
    Delete {
        /// The year.
        year: i32,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Set to `copied`, `verified` or `located`: `volume move` stops after that step and
/// waits to be killed (crash drills and tests).
const PAUSE_VAR: &str = "COFFER_PAUSE_AFTER";

/// What `volume list --json` prints: the volumes and the archive-wide sizes.
#[derive(Debug, Serialize)]
struct Listing {
    volumes: Vec<VolumeRow>,
    raw_bytes: u64,
    stored_bytes: u64,
    index_bytes: u64,
    /// The SQLite catalog with its WAL (absent for PostgreSQL).
    catalog_bytes: Option<u64>,
}

#[derive(Debug, Serialize)]
struct VolumeRow {
    year: i32,
    state: String,
    records: u64,
    messages: u64,
    raw_bytes: u64,
    stored_bytes: u64,
    /// stored_bytes / raw_bytes (0 when nothing is stored).
    ratio: f64,
    dictionaries: u64,
    index_bytes: u64,
    segments: u32,
    tree_size: u64,
    root_hash: String,
    signed_tree_size: Option<u64>,
    key_fingerprint: String,
    index_high_water: Option<u64>,
    index_lag: u64,
    location: String,
}

impl VolumeRow {
    /// A volume whose secondary storage is absent: only where it was moved is known.
    fn offline(year: i32, location: &Path) -> Self {
        VolumeRow {
            year,
            state: "offline".into(),
            records: 0,
            messages: 0,
            raw_bytes: 0,
            stored_bytes: 0,
            ratio: 0.0,
            dictionaries: 0,
            index_bytes: 0,
            segments: 0,
            tree_size: 0,
            root_hash: String::new(),
            signed_tree_size: None,
            key_fingerprint: String::new(),
            index_high_water: None,
            index_lag: 0,
            location: location.display().to_string(),
        }
    }
}

/// Runs a volume command.
pub async fn run(data_dir: &Path, command: VolumeCommand) -> Result<i32> {
    match command {
        VolumeCommand::List { json } => list(data_dir, json).await,
        VolumeCommand::Seal { year, force } => seal(data_dir, year, force).await,
        VolumeCommand::Move { year, dir } => relocate(data_dir, Some(year), dir).await,
        VolumeCommand::Attach { dir } => relocate(data_dir, None, dir).await,
        VolumeCommand::Delete { year, json } => delete(data_dir, year, json).await,
    }
}

async fn delete(data_dir: &Path, year: i32, json: bool) -> Result<i32> {
    let config = crate::config::Config::load(data_dir)?;
    let admin = coffer_query_api::local::LocalAdmin::open(
        data_dir,
        config.catalog_url.as_deref(),
        config.keys.signing_key.as_deref(),
        "coffer volume delete",
    )
    .await?;
    let kek_file = config.kek_file(data_dir);
    let result = admin
        .delete_volume(data_dir, kek_file.as_deref(), year)
        .await;
    admin.close().await?;
    let evidence = result?;
    if json {
        output::print_json(&evidence)?;
        return Ok(0);
    }
    crate::outln!(
        "deleted the volume of {year}: {} records, {} messages (every one disposed of), root {}; its manifest, final signed tree head and DISPOSED record stay in {}",
        evidence.records,
        evidence.messages,
        evidence.root,
        coffer_ingest::DataDir::new(data_dir)
            .disposed_volumes()
            .join(year.to_string())
            .display()
    );
    Ok(0)
}

async fn list(data_dir: &Path, json: bool) -> Result<i32> {
    let data_dir = data_dir.to_path_buf();
    let rows = tokio::task::spawn_blocking(move || -> Result<(Listing, Option<String>)> {
        let layout = coffer_ingest::DataDir::new(&data_dir);
        let set = VolumeSet::reader(&data_dir.join("volumes"), "mail");
        let index = IndexSet::open_read_only(&data_dir.join("index")).ok();
        let archive_key = PublicKey::load(
            &data_dir
                .join("keys")
                .join(coffer_volume::keys::PUBLIC_KEY_FILE),
        )
        .ok()
        .map(|k| k.fingerprint().to_string());
        let mut rows = Vec::new();
        for year in set.years()? {
            let volume = match set.get(year) {
                Ok(Some(volume)) => volume,
                Ok(None) => continue,
                Err(coffer_volume::Error::Offline { location, .. }) => {
                    rows.push(VolumeRow::offline(year, &location));
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let stats = volume.stats();
            let manifest = volume.manifest();
            let tree_size = volume.last_seq();
            let index_high_water = index.as_ref().and_then(|i| i.high_water(year));
            rows.push(VolumeRow {
                year,
                state: manifest.state.as_str().to_string(),
                records: stats.records,
                messages: stats.messages,
                raw_bytes: stats.raw_bytes,
                stored_bytes: stats.stored_bytes,
                ratio: if stats.raw_bytes == 0 {
                    0.0
                } else {
                    stats.stored_bytes as f64 / stats.raw_bytes as f64
                },
                dictionaries: stats.dictionaries,
                index_bytes: layout.index_bytes(year),
                segments: stats.segments,
                tree_size,
                root_hash: hex::encode(volume.root_at(tree_size)?),
                signed_tree_size: volume.latest_tree_head().map(|h| h.tree_size),
                key_fingerprint: manifest.key.clone(),
                index_high_water,
                index_lag: tree_size.saturating_sub(index_high_water.unwrap_or(0)),
                location: volume.dir().display().to_string(),
            });
        }
        for gone in coffer_volume::disposal::deleted_volumes(&layout.disposed_volumes())? {
            if rows.iter().any(|r| r.year == gone.year) {
                // A deletion cut short before the volume went: the volume is in force.
                continue;
            }
            rows.push(VolumeRow {
                year: gone.year,
                state: "deleted".into(),
                records: gone.records,
                messages: gone.messages,
                raw_bytes: 0,
                stored_bytes: 0,
                ratio: 0.0,
                dictionaries: 0,
                index_bytes: 0,
                segments: 0,
                tree_size: gone.records,
                root_hash: gone.root.clone(),
                signed_tree_size: Some(gone.records),
                key_fingerprint: String::new(),
                index_high_water: None,
                index_lag: 0,
                location: layout
                    .disposed_volumes()
                    .join(gone.year.to_string())
                    .display()
                    .to_string(),
            });
        }
        rows.sort_by_key(|r| r.year);
        let listing = Listing {
            raw_bytes: rows.iter().map(|r| r.raw_bytes).sum(),
            stored_bytes: rows.iter().map(|r| r.stored_bytes).sum(),
            index_bytes: coffer_ingest::data_dir::disk_bytes(&layout.index()),
            catalog_bytes: layout.catalog_bytes(),
            volumes: rows,
        };
        Ok((listing, archive_key))
    })
    .await
    .context("listing panicked")??;
    let (listing, key) = rows;
    if json {
        output::print_json(&listing)?;
        return Ok(0);
    }
    let rows = &listing.volumes;
    if let Some(key) = key {
        crate::outln!("archive key {key}");
    }
    if rows.is_empty() {
        crate::outln!("no volumes yet");
    }
    for r in rows {
        if r.state == "deleted" {
            crate::outln!(
                "{}  deleted  {} records, every one of its {} messages disposed of; root {}; evidence in {}",
                r.year,
                r.records,
                r.messages,
                r.root_hash,
                r.location
            );
            continue;
        }
        if r.state == "offline" {
            crate::outln!(
                "{}  offline  moved to {}, which is not present",
                r.year,
                r.location
            );
            continue;
        }
        crate::outln!(
            "{}  {:<6}  {} records  {} messages  raw {}  stored {} ({:.2} x raw, {} dictionaries)  index {}  tree size {} (signed {})  root {}  key {}  index lag {}",
            r.year,
            r.state,
            r.records,
            r.messages,
            output::bytes(r.raw_bytes),
            output::bytes(r.stored_bytes),
            r.ratio,
            r.dictionaries,
            output::bytes(r.index_bytes),
            r.tree_size,
            r.signed_tree_size
                .map_or("none".to_string(), |s| s.to_string()),
            r.root_hash,
            r.key_fingerprint,
            r.index_lag
        );
    }
    if !rows.is_empty() {
        let raw = listing.raw_bytes.max(1) as f64;
        let share = |n: u64| n as f64 / raw;
        let catalog = listing
            .catalog_bytes
            .map_or("not a file here".to_string(), |c| {
                format!("{} ({:.2} x raw)", output::bytes(c), share(c))
            });
        crate::outln!(
            "total  raw {}  volumes {} ({:.2} x raw)  index {} ({:.2} x raw)  catalog {catalog}",
            output::bytes(listing.raw_bytes),
            output::bytes(listing.stored_bytes),
            share(listing.stored_bytes),
            output::bytes(listing.index_bytes),
            share(listing.index_bytes),
        );
    }
    Ok(0)
}

async fn seal(data_dir: &Path, year: i32, force: bool) -> Result<i32> {
    let current = coffer_ingest::clock::year_of(coffer_ingest::clock::now_us());
    if year >= current && !force {
        bail!(
            "year {year} has not ended: mail received this year still goes to its volume; seal it after the year ends, or pass --force (later mail for {year} will then be refused)"
        );
    }
    let (archive, _) = super::open_archive(data_dir, "coffer volume seal").await?;
    let volumes = archive.volumes().clone();
    let volume = tokio::task::spawn_blocking(move || volumes.get(year))
        .await??
        .with_context(|| format!("no volume for year {year}"))?;
    archive.flush().await?;
    let head = tokio::task::spawn_blocking(move || volume.seal()).await??;
    archive.shutdown().await?;
    crate::outln!(
        "sealed {year}: {} records, root {}, signed by {}",
        head.tree_size,
        head.root,
        head.key
    );
    Ok(0)
}

/// `volume move YEAR DIR` (`year` given) or `volume attach DIR`.
async fn relocate(data_dir: &Path, year: Option<i32>, dir: PathBuf) -> Result<i32> {
    let data_dir = data_dir.to_path_buf();
    let done = tokio::task::spawn_blocking(move || -> Result<coffer_volume::Relocated> {
        let holder = if year.is_some() {
            "coffer volume move"
        } else {
            "coffer volume attach"
        };
        let _lock = coffer_volume::DataDirLock::acquire(&data_dir, holder)?;
        let key = PublicKey::load(
            &data_dir
                .join("keys")
                .join(coffer_volume::keys::PUBLIC_KEY_FILE),
        )
        .context("the archive public key (is this a Coffer data directory?)")?;
        let root = data_dir.join("volumes");
        Ok(match year {
            Some(year) => {
                let pause_after = std::env::var(PAUSE_VAR).ok();
                coffer_volume::move_volume(&root.join(year.to_string()), &dir, &key, |step| {
                    crate::outln!("{step}");
                    if pause_after.as_deref() == Some(step) {
                        loop {
                            std::thread::park();
                        }
                    }
                })?
            }
            None => coffer_volume::attach_volume(&root, &dir, &key)?,
        })
    })
    .await
    .context("relocation panicked")??;
    crate::outln!(
        "volume {} is at {}: verified, {} records, root {}",
        done.year,
        done.to.display(),
        done.report.records,
        done.report.root
    );
    Ok(0)
}
