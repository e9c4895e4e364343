//! `coffer report verify REPORT.json --public-key archive.pub`: checks a signed integrity
//! report (from `POST /api/v1/volumes/{year}/verify`, `POST /api/v1/audit/verify` or
//! `coffer verify --report`) with nothing but the public key. The format is
//! `volume/FORMAT.md`, section "Integrity reports". The public key may be an older key
//! of the archive: the report carries the key transitions from it to the signing key
//! (each signed by both of its keys), and the check follows them. Exit status 0 only
//! when the signature verifies; the report's own verdict is printed, not judged again.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use coffer_volume::{PublicKey, SignedReport};
use serde::Serialize;

use crate::output;

/// `coffer report ...`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Verify a signed integrity report offline (exit status 0 only when it verifies).
    Verify(ReportVerifyArgs),
}

/// Arguments of `coffer report verify`.
#[derive(Debug, Args)]
pub struct ReportVerifyArgs {
    /// The signed report.
    report: PathBuf,
    /// The archive's public key (keys/archive.pub), or any older key of the archive.
    #[arg(long)]
    public_key: PathBuf,
    /// Print the verdict as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Verdict {
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generated_us: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    intact: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    volumes: Option<usize>,
    /// The fingerprint of the key that signed the report.
    #[serde(skip_serializing_if = "Option::is_none")]
    signed_by: Option<String>,
    /// Key transitions followed from the given key to the signing key.
    #[serde(skip_serializing_if = "Option::is_none")]
    key_transitions: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Runs `coffer report ...`.
pub fn run(command: ReportCommand) -> Result<i32> {
    let ReportCommand::Verify(args) = command;
    let key = PublicKey::load(&args.public_key)?;
    let bytes = std::fs::read(&args.report)
        .with_context(|| format!("reading {}", args.report.display()))?;
    let verdict = match SignedReport::from_json(&bytes).and_then(|d| {
        d.verify(&key)?;
        Ok(d)
    }) {
        Ok(doc) => Verdict {
            valid: true,
            scope: Some(doc.report.scope.clone()),
            generated_us: Some(doc.report.generated_us),
            intact: Some(doc.report.intact),
            volumes: Some(doc.report.volumes.len()),
            signed_by: Some(doc.key.clone()),
            key_transitions: Some(
                doc.report
                    .key_transitions
                    .iter()
                    .skip_while(|t| t.old_fingerprint().ok().as_deref() != Some(key.fingerprint()))
                    .count(),
            ),
            error: None,
        },
        Err(e) => Verdict {
            valid: false,
            scope: None,
            generated_us: None,
            intact: None,
            volumes: None,
            signed_by: None,
            key_transitions: None,
            error: Some(e.to_string()),
        },
    };
    if args.json {
        output::print_json(&verdict)?;
    } else if verdict.valid {
        crate::outln!(
            "valid integrity report ({}, {} volume(s), generated at {} µs{}): the archive {}",
            verdict.scope.as_deref().unwrap_or(""),
            verdict.volumes.unwrap_or(0),
            verdict.generated_us.unwrap_or(0),
            match verdict.key_transitions {
                Some(n) if n > 0 => format!(
                    ", signed by {} reached through {n} key transition(s)",
                    verdict.signed_by.as_deref().unwrap_or("")
                ),
                _ => String::new(),
            },
            if verdict.intact == Some(true) {
                "was intact"
            } else {
                "reported DAMAGE"
            }
        );
    } else {
        crate::outln!(
            "INVALID integrity report: {}",
            verdict.error.as_deref().unwrap_or("")
        );
    }
    Ok(if verdict.valid { 0 } else { 1 })
}
