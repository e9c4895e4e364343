//! `coffer proof verify PROOF.json --public-key archive.pub [--message FILE.eml]
//! [--since HEAD.json]`: checks an offline proof (inclusion, or consistency with
//! `--since`) with nothing but the public key — no data directory, no server. The
//! format is `volume/FORMAT.md`, section "Proofs". Exit status 0 only when it verifies.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use coffer_volume::proof::{CONSISTENCY_FORMAT, ConsistencyProof, InclusionProof};
use coffer_volume::{PublicKey, SignedTreeHead};
use serde::Serialize;

use crate::output;

/// `coffer proof ...`.
#[derive(Debug, Subcommand)]
pub enum ProofCommand {
    /// Verify a proof offline (exit status 0 only when it verifies).
    Verify(ProofVerifyArgs),
}

/// Arguments of `coffer proof verify`.
#[derive(Debug, Args)]
pub struct ProofVerifyArgs {
    /// The proof document (from GET /api/v1/messages/{id}/proof or .../consistency).
    proof: PathBuf,
    /// The archive's public key (keys/archive.pub).
    #[arg(long)]
    public_key: PathBuf,
    /// The original message: it must be the archived bytes the proof names.
    #[arg(long, value_name = "FILE.eml")]
    message: Option<PathBuf>,
    /// For a consistency proof: the earlier signed tree head you kept.
    #[arg(long, value_name = "HEAD.json")]
    since: Option<PathBuf>,
    /// Print the verdict as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Verdict {
    valid: bool,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Runs `coffer proof ...`.
pub fn run(command: ProofCommand) -> Result<i32> {
    let ProofCommand::Verify(args) = command;
    let key = PublicKey::load(&args.public_key)?;
    let bytes =
        std::fs::read(&args.proof).with_context(|| format!("reading {}", args.proof.display()))?;
    let is_consistency = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("format").and_then(|f| f.as_str()).map(str::to_string))
        .is_some_and(|f| f == CONSISTENCY_FORMAT);
    let verdict = if is_consistency {
        let since = args
            .since
            .as_ref()
            .context("a consistency proof is checked against a head you kept: --since HEAD.json")?;
        let held_bytes =
            std::fs::read(since).with_context(|| format!("reading {}", since.display()))?;
        let held = SignedTreeHead::from_canonical_json(
            held_bytes.strip_suffix(b"\n").unwrap_or(&held_bytes),
        )
        .with_context(|| format!("{} is not a signed tree head", since.display()))?;
        let result = ConsistencyProof::from_json(&bytes).and_then(|p| {
            p.verify(&key, &held)?;
            Ok(p)
        });
        match result {
            Ok(p) => Verdict {
                valid: true,
                kind: "consistency",
                detail: Some(serde_json::json!({
                    "volume_id": p.volume_id, "year": p.year, "from": p.from, "to": p.to,
                    "to_time_us": p.tree_head.time_us,
                })),
                error: None,
            },
            Err(e) => Verdict {
                valid: false,
                kind: "consistency",
                detail: None,
                error: Some(e.to_string()),
            },
        }
    } else {
        let message = args
            .message
            .as_ref()
            .map(|m| std::fs::read(m).with_context(|| format!("reading {}", m.display())))
            .transpose()?;
        let result =
            InclusionProof::from_json(&bytes).and_then(|p| p.verify(&key, message.as_deref()));
        match result {
            Ok(v) => Verdict {
                valid: true,
                kind: "inclusion",
                detail: Some(serde_json::to_value(&v)?),
                error: None,
            },
            Err(e) => Verdict {
                valid: false,
                kind: "inclusion",
                detail: None,
                error: Some(e.to_string()),
            },
        }
    };
    if args.json {
        output::print_json(&verdict)?;
    } else if verdict.valid {
        crate::outln!(
            "valid {} proof: {}",
            verdict.kind,
            verdict
                .detail
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        );
    } else {
        crate::outln!(
            "INVALID {} proof: {}",
            verdict.kind,
            verdict.error.as_deref().unwrap_or("")
        );
    }
    Ok(if verdict.valid { 0 } else { 1 })
}
