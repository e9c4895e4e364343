//! `coffer verify`: every volume of the data directory (mail and audit), then the catalog
//! against the mail volumes (every catalog message must be a message record of its volume
//! with the same SHA-256); or, with `--volume`, one copied volume alone. With `--since
//! HEAD.json` (a signed tree head an auditor kept), also that the head's volume (mail or
//! audit) still extends it: nothing it covered was changed or removed. With `--report
//! FILE`, also a signed integrity report of every volume (the run is audited).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use coffer_ingest::DataDir;
use coffer_ingest::consistency::{CatalogCheck, check_catalog as check_catalog_against};
use coffer_query_api::local::{LocalAccess, LocalAdmin};
use coffer_volume::{
    ArchiveKey, DisposedRecord, IntegrityReport, Problem, PublicKey, SignedTreeHead, SinceReport,
    VerifyReport, Volume, VolumeIntegrity, WitnessState, check_since, verify_volume,
};
use serde::Serialize;

use crate::output;

/// Arguments of `coffer verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify this volume directory alone (no data directory or database needed).
    #[arg(long, requires = "public_key")]
    volume: Option<PathBuf>,
    /// The archive's public key (keys/archive.pub) for --volume.
    #[arg(long)]
    public_key: Option<PathBuf>,
    /// A signed tree head kept outside the archive (from GET .../tree-head, a witness
    /// or an earlier run): prove that its volume still extends it.
    #[arg(long, value_name = "HEAD.json")]
    since: Option<PathBuf>,
    /// Also write a signed integrity report (coffer-integrity-report-v1) of every volume
    /// to FILE, signed with the archive key; the run is recorded in the audit trail.
    /// Check it anywhere with `coffer report verify FILE --public-key archive.pub`.
    #[arg(long, value_name = "FILE", conflicts_with = "volume")]
    report: Option<PathBuf>,
    /// With --volume: a disposition certificate (`coffer disposition certificate N`;
    /// repeatable). Its signature is checked, and every record it names in this volume
    /// must be there with the record hash it names; they are listed as disposed.
    #[arg(long = "certificate", value_name = "CERT.json", requires = "volume")]
    certificates: Vec<PathBuf>,
    /// Print the reports as JSON.
    #[arg(long)]
    json: bool,
}

/// Lists the records `certificates` name in the volume of `report` as disposed, after
/// checking each certificate's signature and each record's hash in the volume; any
/// mismatch is a problem of the report.
fn apply_certificates(report: &mut VerifyReport, key: &PublicKey, certificates: &[String]) {
    let volume = Volume::open_read_only(&report.dir).ok().map(|(v, _)| v);
    for (n, text) in certificates.iter().enumerate() {
        let cert = match coffer_retention::runs::verify_certificate(text, key) {
            Ok(cert) => cert,
            Err(e) => {
                report.problems.push(Problem {
                    file: format!("certificate #{}", n + 1),
                    offset: None,
                    seq: None,
                    what: format!("does not verify: {e}"),
                });
                continue;
            }
        };
        for r in &cert.records {
            let Ok(id) = r.id.parse::<coffer_model::MessageId>() else {
                continue;
            };
            if Some(id.year) != report.year {
                continue;
            }
            let held = volume
                .as_ref()
                .and_then(|v| v.record_hash(id.seq).ok())
                .map(hex::encode);
            if held.as_deref() == Some(r.record_hash.as_str()) {
                report.disposed.push(DisposedRecord {
                    seq: id.seq,
                    record_hash: r.record_hash.clone(),
                    content_sha256: r.content_sha256.clone(),
                    by: format!("disposition run {}", cert.run),
                });
            } else {
                report.problems.push(Problem {
                    file: format!("certificate of run {}", cert.run),
                    offset: None,
                    seq: Some(id.seq),
                    what: format!(
                        "names record {} with hash {}, the volume holds {}",
                        r.id,
                        r.record_hash,
                        held.as_deref().unwrap_or("no such record")
                    ),
                });
            }
        }
    }
}

#[derive(Serialize)]
struct Summary {
    intact: bool,
    volumes: Vec<VerifyReport>,
    catalog: Vec<CatalogCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<SinceReport>,
}

/// Reads a held tree head: the head's canonical JSON, as served by the tree-head
/// endpoints and kept by witnesses (one trailing newline allowed).
fn load_head(path: &Path) -> Result<SignedTreeHead> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    SignedTreeHead::from_canonical_json(body)
        .with_context(|| format!("{} is not a signed tree head", path.display()))
}

/// Finds the volume the head belongs to (by volume id, among the mail and audit volumes,
/// or the one given with --volume) and checks it against the head.
fn check_held(
    data_dir: &Path,
    volume: Option<&Path>,
    key: &PublicKey,
    head: &SignedTreeHead,
) -> Result<SinceReport> {
    let dirs: Vec<PathBuf> = match volume {
        Some(dir) => vec![dir.to_path_buf()],
        None => [data_dir.join("volumes"), data_dir.join("audit")]
            .iter()
            .map(|root| root.join(head.year.to_string()))
            .collect(),
    };
    for dir in dirs {
        let Ok(manifest) = coffer_volume::Manifest::load(&dir) else {
            continue;
        };
        if manifest.volume_id != head.volume_id {
            continue;
        }
        let (volume, _) = coffer_volume::Volume::open_read_only(&dir)
            .with_context(|| format!("opening {}", dir.display()))?;
        return Ok(check_since(&volume, key, head));
    }
    anyhow::bail!(
        "no volume {} of year {} here: the held head's volume is missing",
        head.volume_id,
        head.year
    )
}

/// Cross-checks the catalog's message rows against the (already verified) volumes.
async fn check_catalog(data_dir: &Path) -> Result<Vec<CatalogCheck>> {
    let config = crate::config::Config::load(data_dir)?;
    let dir = DataDir::new(data_dir);
    if config.catalog_url.is_none() && std::fs::symlink_metadata(dir.catalog_file()).is_err() {
        return Ok(Vec::new());
    }
    let catalog = dir.open_catalog(config.catalog_url.as_deref()).await?;
    let keys: Arc<dyn coffer_volume::ContentKeys> =
        Arc::new(dir.read_key_store(config.kek_file(data_dir).as_deref())?);
    let volumes = Arc::new(
        coffer_volume::VolumeSet::reader(&dir.volumes(), coffer_ingest::MAIL)
            .with_content_keys(keys),
    );
    let checks = check_catalog_against(&catalog, volumes).await;
    catalog.close().await;
    Ok(checks?)
}

/// Signs an integrity report of `reports` with the archive key, records the run in the
/// audit trail (through the running server when there is one) and writes the report.
async fn write_signed_report(data_dir: &Path, path: &Path, reports: &[VerifyReport]) -> Result<()> {
    let config = crate::config::Config::load(data_dir)?;
    let key_path = crate::commands::signing_key_path(data_dir, &config);
    let key = ArchiveKey::load(&key_path)
        .with_context(|| "the archive signing key (needed to sign the report)")?;
    let witnesses: Vec<WitnessState> = config
        .witness
        .targets
        .iter()
        .cloned()
        .chain(
            config
                .witness
                .timestamp_authority
                .iter()
                .map(|url| format!("timestamp:{url}")),
        )
        .map(WitnessState::unobserved)
        .collect();
    let volumes = reports
        .iter()
        .map(|r| VolumeIntegrity::from_verification(r, r.year.unwrap_or_default(), &witnesses))
        .collect();
    let actor = format!("local:{}", coffer_query_api::local::current_os_user());
    // The key chain the report carries comes from every key transition of the mail
    // and audit volumes (FORMAT.md, "Integrity reports").
    let layout = DataDir::new(data_dir);
    let mut known = coffer_volume::VolumeSet::reader(&layout.volumes(), "").key_transitions();
    known.extend(coffer_volume::VolumeSet::reader(&layout.audit(), "").key_transitions());
    let signed = IntegrityReport::new(
        "all",
        coffer_ingest::clock::now_us(),
        actor,
        volumes,
        witnesses,
    )
    .sign_with_chain(&key, &known);
    let admin = LocalAdmin::open(
        data_dir,
        config.catalog_url.as_deref(),
        config.keys.signing_key.as_deref(),
        "coffer verify",
    )
    .await?;
    let recorded = admin
        .record_access(LocalAccess {
            action: "volume.verify".into(),
            target: "all".into(),
            detail: signed.report.audit_detail(&signed.signature),
        })
        .await;
    admin.close().await?;
    recorded.context("recording the verification in the audit trail")?;
    let mut bytes = signed.to_json();
    bytes.push(b'\n');
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// One volume to verify: its directory, year, the key its heads are signed with and the
/// data-key store for its encrypted content.
type VolumeJob<'a> = (
    PathBuf,
    i32,
    PublicKey,
    Option<&'a dyn coffer_volume::ContentKeys>,
);

/// Verifies the volumes of `jobs`, as many at a time as there are cores (each volume is
/// one sequential pass: its chain, tree and heads are checked in record order), and
/// returns their reports in the order of `jobs`. An archive of many years, or one with a
/// large audit volume beside its mail, verifies in the time of its largest volume
/// rather than of all of them in turn.
fn verify_in_parallel(jobs: &[VolumeJob<'_>]) -> Result<Vec<VerifyReport>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(jobs.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let verified: Vec<Vec<(usize, VerifyReport)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((dir, year, key, keys)) = jobs.get(i) else {
                            return done;
                        };
                        let mut report = coffer_volume::verify_volume_with(dir, key, *keys);
                        report.year.get_or_insert(*year);
                        done.push((i, report));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a volume's verification panicked"))
            })
            .collect::<Result<_>>()
    })?;
    let mut reports: Vec<(usize, VerifyReport)> = verified.into_iter().flatten().collect();
    reports.sort_by_key(|(i, _)| *i);
    Ok(reports.into_iter().map(|(_, r)| r).collect())
}

/// Verifies and prints; exit status 0 only when everything is intact.
pub async fn run(data_dir: &Path, args: VerifyArgs) -> Result<i32> {
    let json = args.json;
    let standalone = args.volume.is_some();
    let data_dir = data_dir.to_path_buf();
    let data_dir_for_catalog = data_dir.clone();
    let held = args.since.as_deref().map(load_head).transpose()?;
    let report_path = args.report.clone();
    let config = crate::config::Config::load(&data_dir)?;
    let kek_file = config.kek_file(&data_dir);
    let work = tokio::task::spawn_blocking(
        move || -> Result<(Vec<VerifyReport>, Option<SinceReport>)> {
            let key = match (&args.volume, &args.public_key) {
                (Some(_), None) => anyhow::bail!("--public-key is required with --volume"),
                (_, Some(path)) => PublicKey::load(path)?,
                (None, None) => PublicKey::load(
                    &data_dir
                        .join("keys")
                        .join(coffer_volume::keys::PUBLIC_KEY_FILE),
                )
                .with_context(|| "the archive public key (is this a Coffer data directory?)")?,
            };
            let since = held
                .as_ref()
                .map(|head| check_held(&data_dir, args.volume.as_deref(), &key, head))
                .transpose()?;
            if let Some(dir) = args.volume {
                let mut report = verify_volume(&dir, &key);
                let texts = args
                    .certificates
                    .iter()
                    .map(|p| std::fs::read_to_string(p).with_context(|| format!("{}", p.display())))
                    .collect::<Result<Vec<_>>>()?;
                apply_certificates(&mut report, &key, &texts);
                return Ok((vec![report], since));
            }
            // The mail volumes with the data-key store: encrypted content is decrypted
            // and checked, disposed records are listed as such.
            let keys = DataDir::new(&data_dir).read_key_store(kek_file.as_deref())?;
            // A volume sealed before a key rotation holds no transition to the current
            // key: the archive's key chain (every volume's transitions) authenticates
            // the older key it names. Transitions are read only for a volume whose
            // manifest names another key (`key_for_volume_with`), the archive's once;
            // the sets keep the volumes they open for them.
            let mail = coffer_volume::VolumeSet::reader(&data_dir.join("volumes"), "");
            let audit = coffer_volume::VolumeSet::reader(&data_dir.join("audit"), "");
            let mut known: Option<Vec<coffer_volume::KeyTransition>> = None;
            let mut jobs = Vec::new();
            for (set, keys) in [
                (&mail, Some(&keys as &dyn coffer_volume::ContentKeys)),
                (&audit, None),
            ] {
                for year in set.years()? {
                    let dir = set.dir_for(year);
                    let volume_key = coffer_volume::key_for_volume_with(
                        &dir,
                        &key,
                        || {
                            known
                                .get_or_insert_with(|| {
                                    let mut all = mail.key_transitions();
                                    all.extend(audit.key_transitions());
                                    all
                                })
                                .clone()
                        },
                        || match set.get_online(year) {
                            Ok(Some(volume)) => volume.key_transitions(),
                            _ => Vec::new(),
                        },
                    );
                    jobs.push((dir, year, volume_key, keys));
                }
            }
            let reports = verify_in_parallel(&jobs)?;
            Ok((reports, since))
        },
    );
    // The catalog is checked while the volumes are verified: each reads the volumes on
    // its own, so on two cores the run takes about as long as the longer of the two.
    let catalog = async {
        if standalone {
            Ok(Vec::new())
        } else {
            check_catalog(&data_dir_for_catalog).await
        }
    };
    let (work, catalog) = tokio::join!(work, catalog);
    let (reports, since) = work.context("verification panicked")??;
    let catalog = catalog?;
    if let Some(path) = &report_path {
        write_signed_report(&data_dir_for_catalog, path, &reports).await?;
    }
    let intact = reports.iter().all(VerifyReport::is_intact)
        && catalog.iter().all(|c| c.problems.is_empty())
        && since.as_ref().is_none_or(SinceReport::extends);
    if json {
        output::print_json(&Summary {
            intact,
            volumes: reports,
            catalog,
            since,
        })?;
    } else {
        if let Some(s) = &since {
            if s.extends() {
                crate::outln!(
                    "since: the volume extends the held head — size {} → {} (newest signed head), consistency proof of {} hashes verified",
                    s.held_size,
                    s.current_size,
                    s.proof_hashes
                );
            } else {
                crate::outln!(
                    "since: DOES NOT EXTEND the held head of size {} (the volume has {} records, newest signed head {})",
                    s.held_size,
                    s.records,
                    s.current_size
                );
                for p in &s.problems {
                    crate::outln!("  {p}");
                }
            }
        }
        if reports.is_empty() {
            crate::outln!("no volumes found");
        }
        for r in &reports {
            let name = r.dir.display();
            if r.is_intact() {
                crate::outln!(
                    "{name}: intact — {} records ({} messages), {} signatures verified, root {}",
                    r.records,
                    r.messages,
                    r.signatures_verified,
                    r.root
                );
            } else {
                crate::outln!("{name}: DAMAGED — {} problem(s)", r.problems.len());
                for p in &r.problems {
                    crate::outln!("  {p}");
                }
            }
            if r.encrypted > 0 {
                if standalone {
                    crate::outln!(
                        "  {} message(s) with encrypted content: their stored bytes verified against the chain (content is decrypted only with the data-key store)",
                        r.encrypted
                    );
                } else {
                    crate::outln!(
                        "  {} message(s) with encrypted content, {} decrypted and checked against their SHA-256, {} disposed of",
                        r.encrypted,
                        r.decrypted,
                        r.disposed.len()
                    );
                }
            }
            for d in &r.disposed {
                crate::outln!(
                    "  disposed: record {} (content SHA-256 {}) by {} — its certificate: coffer disposition certificate {}",
                    d.seq,
                    d.content_sha256,
                    d.by,
                    d.by.rsplit(' ').next().unwrap_or_default()
                );
            }
            for n in &r.notes {
                crate::outln!("  note: {n}");
            }
        }
        for c in &catalog {
            if c.problems.is_empty() {
                crate::outln!(
                    "catalog {}: {} messages, every one a message record of the volume with the same SHA-256 (applied up to record {} of {})",
                    c.year,
                    c.catalog_messages,
                    c.applied_up_to,
                    c.volume_records
                );
            } else {
                crate::outln!(
                    "catalog {}: INCONSISTENT — {} problem(s)",
                    c.year,
                    c.problems.len()
                );
                for p in c.problems.iter().take(50) {
                    crate::outln!("  {p}");
                }
            }
        }
    }
    Ok(if intact { 0 } else { 1 })
}
