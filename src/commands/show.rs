//! `coffer show ID [--raw]`: a message's metadata, or exactly its original bytes.

use std::io::Write;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use coffer_catalog::Catalog;
use coffer_ingest::meta::MessageMeta;
use coffer_model::{MessageFlags, MessageId, Sha256};
use coffer_volume::{RecordKind, Volume, VolumeSet};
use serde::Serialize;

use crate::config::Config;
use crate::output;

/// Arguments of `coffer show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A message id (`2026-42`) or the SHA-256 (64 hex digits) of its original bytes.
    id: String,
    /// Write the original RFC 5322 bytes to standard output, byte for byte.
    #[arg(long)]
    raw: bool,
    /// Print the metadata as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Shown {
    id: MessageId,
    sha256: String,
    received: String,
    date: Option<String>,
    message_id: Option<String>,
    from: Option<String>,
    subject: Option<String>,
    size: u64,
    attachments: Option<u32>,
    flags: Vec<&'static str>,
    mailboxes: Vec<String>,
    source: String,
    origin: Option<String>,
    envelope: Option<coffer_model::Envelope>,
    record_hash: String,
}

/// Receive years whose volumes are searched for records not yet in the catalog: the newest
/// two (a message acknowledged moments ago was received this year, or last year just after
/// New Year). Older volumes are complete in the catalog once a server has started, and
/// opening one reads every record header.
const UNAPPLIED_YEARS: usize = 2;

/// The message whose original bytes have SHA-256 `sha`: the catalog's, or else one whose
/// record is durable in a volume but not yet applied to the catalog (past the catalog's
/// high-water mark for that year). A server acknowledges a message once its record is
/// fsynced and applies it to the catalog moments later, so without the second look a
/// message acknowledged a moment ago would be "not archived" to this command.
async fn message_with_sha256(
    catalog: &Catalog,
    volumes: &Arc<VolumeSet>,
    sha: Sha256,
) -> Result<Option<MessageId>> {
    // The high-water marks are read before the catalog is asked: a record applied in
    // between is then in the catalog, or at or past the mark read, never in neither.
    let mut marks = Vec::new();
    for year in volumes.years()?.into_iter().rev().take(UNAPPLIED_YEARS) {
        marks.push((year, catalog.high_water("mail", year).await?));
    }
    if let Some(row) = catalog.message_by_sha256(&sha).await? {
        return Ok(Some(row.id));
    }
    for (year, applied) in marks {
        let volumes = Arc::clone(volumes);
        let found = tokio::task::spawn_blocking(move || -> Result<Option<u64>> {
            let Some(volume) = volumes.get(year)? else {
                return Ok(None);
            };
            for seq in applied + 1..=volume.last_seq() {
                if volume.kind(seq)? == RecordKind::Message
                    && volume.read_meta(seq)?.0.content_sha256 == sha.0
                {
                    return Ok(Some(seq));
                }
            }
            Ok(None)
        })
        .await
        .context("volume scan panicked")?
        .with_context(|| {
            format!(
                "{sha} is not in the catalog, and volume {year} could not be searched for \
                 records not yet applied to it"
            )
        })?;
        if let Some(seq) = found {
            return Ok(Some(MessageId { year, seq }));
        }
    }
    Ok(None)
}

/// Prints the message; exit status 0, or an error when it does not exist.
pub async fn run(data_dir: &Path, args: ShowArgs) -> Result<i32> {
    let config = Config::load(data_dir)?;
    let catalog = match &config.catalog_url {
        Some(url) => Catalog::connect(url).await?,
        None => Catalog::open_sqlite(&data_dir.join("catalog.sqlite")).await?,
    };
    let volumes = Arc::new(VolumeSet::reader(&data_dir.join("volumes"), "mail"));
    let id = match MessageId::from_str(&args.id) {
        Ok(id) => id,
        Err(_) => {
            let sha = Sha256::from_str(&args.id).map_err(|_| {
                anyhow::anyhow!(
                    "{:?} is neither a message id (YEAR-SEQUENCE) nor a SHA-256 hex digest",
                    args.id
                )
            })?;
            match message_with_sha256(&catalog, &volumes, sha).await? {
                Some(id) => id,
                None => bail!("no archived message has SHA-256 {sha}"),
            }
        }
    };
    let year = id.year;
    let volume: Volume = tokio::task::spawn_blocking(move || volumes.get(year))
        .await
        .context("volume open panicked")??
        .with_context(|| format!("no volume for year {year}"))?;
    let record = tokio::task::spawn_blocking(move || volume.read(id.seq))
        .await
        .context("read panicked")??;
    if record.header.kind != RecordKind::Message {
        bail!(
            "{id} is a {} record, not a message",
            record.header.kind.name()
        );
    }
    if args.raw {
        let mut out = std::io::stdout().lock();
        out.write_all(&record.content)?;
        out.flush()?;
        return Ok(0);
    }
    let meta = MessageMeta::from_bytes(&record.meta).unwrap_or_default();
    let row = catalog.message(id).await?;
    let shown = Shown {
        id,
        sha256: hex::encode(record.header.content_sha256),
        received: output::time(record.header.received_us.div_euclid(1_000_000)),
        date: row.as_ref().and_then(|r| r.date).map(output::time),
        message_id: row.as_ref().and_then(|r| r.message_id.clone()),
        from: row.as_ref().and_then(|r| r.sender.clone()),
        subject: row.as_ref().and_then(|r| r.subject.clone()),
        size: record.content.len() as u64,
        attachments: row.as_ref().map(|r| r.attachments),
        flags: row
            .as_ref()
            .map(|r| MessageFlags(r.flags).names())
            .unwrap_or_default(),
        mailboxes: row
            .as_ref()
            .map(|r| r.mailboxes.clone())
            .unwrap_or(meta.mailboxes.clone()),
        source: meta.source.clone(),
        origin: meta.origin.clone(),
        envelope: meta.envelope.clone(),
        record_hash: hex::encode(record.hash),
    };
    if args.json {
        output::print_json(&shown)?;
    } else {
        crate::outln!("id           {}", shown.id);
        crate::outln!("sha256       {}", shown.sha256);
        crate::outln!("received     {}", shown.received);
        crate::outln!("date         {}", shown.date.as_deref().unwrap_or("-"));
        crate::outln!(
            "message-id   {}",
            shown.message_id.as_deref().unwrap_or("-")
        );
        crate::outln!("from         {}", shown.from.as_deref().unwrap_or("-"));
        crate::outln!("subject      {}", shown.subject.as_deref().unwrap_or("-"));
        crate::outln!("size         {} bytes", shown.size);
        if let Some(a) = shown.attachments {
            crate::outln!("attachments  {a}");
        }
        crate::outln!(
            "flags        {}",
            if shown.flags.is_empty() {
                "-".to_string()
            } else {
                shown.flags.join(", ")
            }
        );
        crate::outln!(
            "mailboxes    {}",
            if shown.mailboxes.is_empty() {
                "-".to_string()
            } else {
                shown.mailboxes.join(", ")
            }
        );
        crate::outln!("source       {}", shown.source);
        if let Some(o) = &shown.origin {
            crate::outln!("origin       {o}");
        }
        crate::outln!("record hash  {}", shown.record_hash);
        if row.is_none() {
            crate::outln!("note: the catalog has not applied this record yet");
        }
    }
    Ok(0)
}
