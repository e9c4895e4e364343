//! `coffer show ID [--raw]`: a message's metadata, or exactly its original bytes —
//! recorded in the audit trail (actor `local:OSUSER`) before anything is printed.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;
use coffer_ingest::DataDir;
use coffer_ingest::meta::MessageMeta;
use coffer_ingest::reader::Reader;
use coffer_model::{MessageFlags, MessageId, Sha256};
use coffer_query_api::local::{LocalAccess, LocalAdmin};
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

/// Prints the message; exit status 0, or an error when it does not exist.
pub async fn run(data_dir: &Path, args: ShowArgs) -> Result<i32> {
    let config = Config::load(data_dir)?;
    let reader = Reader::open(
        &DataDir::new(data_dir),
        config.catalog_url.as_deref(),
        config.kek_file(data_dir).as_deref(),
    )
    .await?;
    let id = reader.resolve(&args.id).await?;
    let record = reader.record(id).await?;
    // Recorded in the audit trail (durably) before anything is shown.
    let access = LocalAccess {
        action: if args.raw {
            "message.raw"
        } else {
            "message.view"
        }
        .into(),
        target: id.to_string(),
        detail: serde_json::json!({ "sha256": hex::encode(record.header.content_sha256) }),
    };
    let admin = LocalAdmin::open(
        data_dir,
        config.catalog_url.as_deref(),
        config.keys.signing_key.as_deref(),
        "coffer show",
    )
    .await?;
    let recorded = admin.record_access(access).await;
    admin.close().await?;
    recorded.context("recording the access in the audit trail (nothing is shown without it)")?;
    if args.raw {
        let mut out = std::io::stdout().lock();
        out.write_all(&record.content)?;
        out.flush()?;
        return Ok(0);
    }
    let meta = MessageMeta::from_bytes(&record.meta).unwrap_or_default();
    let row = reader.catalog().message(id).await?;
    // Message-ID, sender and subject are read from the bytes themselves (the catalog
    // keeps no copy of them, issue 24), as the catalog row's other fields were derived.
    let received_s = record.header.received_us.div_euclid(1_000_000);
    let doc = coffer_ingest::parse::build_doc(
        &record.content,
        Sha256(record.header.content_sha256),
        received_s,
        &meta,
        None,
    );
    let shown = Shown {
        id,
        sha256: hex::encode(record.header.content_sha256),
        received: output::time(received_s),
        date: row.as_ref().and_then(|r| r.date).map(output::time),
        message_id: doc.message_id,
        from: doc.from.into_iter().next().map(|a| a.email),
        subject: doc.subject,
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
