//! `coffer disposition propose|approve|reject|list|show|certificate|verify` and
//! `coffer hold place|list|release`: four-eyes disposition runs with their signed
//! certificates, and legal holds — the operations of `/api/v1/dispositions` and
//! `/api/v1/holds` through [`LocalAdmin`] (directly, or through a running server),
//! audited as `local:OSUSER`. `disposition verify` needs no data directory: it checks a
//! saved certificate with the archive's public key.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use coffer_query_api::local::LocalAdmin;
use coffer_query_api::local::LocalHold;
use coffer_query_api::views::{DispositionView, HoldView};
use coffer_volume::PublicKey;

use crate::config::Config;
use crate::output;

/// `coffer disposition ...`.
#[derive(Debug, Subcommand)]
pub enum DispositionCommand {
    /// Propose a run of every message eligible now (a second person approves it).
    Propose {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a proposed run (not its proposer): the server executes it.
    Approve {
        /// The run's id.
        id: i64,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Reject a proposed run.
    Reject {
        /// The run's id.
        id: i64,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Every run, newest first.
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// One run.
    Show {
        /// The run's id.
        id: i64,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a run's signed certificate (canonical JSON; save it for auditors).
    Certificate {
        /// The run's id.
        id: i64,
    },
    /// Check a saved certificate offline with the archive's public key.
    Verify {
        /// The certificate file.
        certificate: PathBuf,
        /// The archive's public key (`keys/archive.pub`).
        #[arg(long)]
        public_key: PathBuf,
        /// Print the certificate's records as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `coffer hold ...`.
#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// Place a legal hold (as an officer of every domain; audited as local:OSUSER).
    Place {
        /// The hold's name (the matter), unique.
        name: String,
        /// Why it is placed.
        #[arg(long)]
        reason: String,
        /// A custodian mailbox (repeatable).
        #[arg(long = "custodian", value_name = "ADDR")]
        custodians: Vec<String>,
        /// A query of the search language.
        #[arg(long)]
        query: Option<String>,
        /// Earliest message date covered (YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// Message dates before this are covered (YYYY-MM-DD).
        #[arg(long)]
        until: Option<String>,
    },
    /// Every hold, released ones included.
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Release a hold.
    Release {
        /// The hold's id.
        id: i64,
        /// Why it ends.
        #[arg(long)]
        reason: String,
    },
}

/// Runs a disposition command.
pub async fn run(data_dir: &Path, command: DispositionCommand) -> Result<i32> {
    if let DispositionCommand::Verify {
        certificate,
        public_key,
        json,
    } = &command
    {
        return verify(certificate, public_key, *json);
    }
    let config = Config::load(data_dir)?;
    let admin = LocalAdmin::open(
        data_dir,
        config.catalog_url.as_deref(),
        config.keys.signing_key.as_deref(),
        "coffer disposition",
    )
    .await?;
    let result = disposition(&admin, command).await;
    admin.close().await?;
    result
}

/// Runs a hold command.
pub async fn run_hold(data_dir: &Path, command: HoldCommand) -> Result<i32> {
    let config = Config::load(data_dir)?;
    let admin = LocalAdmin::open(
        data_dir,
        config.catalog_url.as_deref(),
        config.keys.signing_key.as_deref(),
        "coffer hold",
    )
    .await?;
    let result = hold(&admin, command).await;
    admin.close().await?;
    result
}

fn print_run(run: &DispositionView, json: bool) -> Result<()> {
    if json {
        return output::print_json(run);
    }
    crate::outln!(
        "run #{} {} — {} message(s), proposed by {} at {}",
        run.id,
        run.state,
        run.total,
        run.proposed_by,
        run.proposed_at
    );
    for c in &run.counts {
        crate::outln!("  {:<6} {:<24} {:>9}", c.year, c.policy, c.messages);
    }
    if let (Some(by), Some(at)) = (&run.decided_by, &run.decided_at) {
        crate::outln!("  decided by {by} at {at}");
    }
    if let Some(reason) = &run.reason {
        crate::outln!("  reason: {reason}");
    }
    if let Some(n) = run.disposed {
        crate::outln!(
            "  disposed of: {n} (certificate: coffer disposition certificate {})",
            run.id
        );
    }
    if run.state == "approved" {
        crate::outln!(
            "  approved: the server executes it (now, or when `coffer serve` next starts)"
        );
    }
    if run.state == "executed" {
        crate::outln!(
            "  reminder: backups of keys/data-keys older than this run still hold the destroyed keys; destroy them"
        );
    }
    Ok(())
}

async fn disposition(admin: &LocalAdmin, command: DispositionCommand) -> Result<i32> {
    match command {
        DispositionCommand::Propose { json } => {
            let run = admin.propose_disposition().await?;
            print_run(&run, json)?;
            if !json {
                crate::outln!(
                    "a second person approves it: coffer disposition approve {} (or rejects it)",
                    run.id
                );
            }
        }
        DispositionCommand::Approve { id, json } => {
            print_run(&admin.decide_disposition(id, true, "").await?, json)?;
        }
        DispositionCommand::Reject { id, reason } => {
            print_run(&admin.decide_disposition(id, false, &reason).await?, false)?;
        }
        DispositionCommand::List { json } => {
            let list = admin.dispositions().await?;
            if json {
                output::print_json(&list)?;
            } else {
                for run in &list.dispositions {
                    print_run(run, false)?;
                }
            }
        }
        DispositionCommand::Show { id, json } => {
            print_run(&admin.disposition(id).await?, json)?;
        }
        DispositionCommand::Certificate { id } => {
            crate::outln!("{}", admin.disposition_certificate(id).await?);
        }
        DispositionCommand::Verify { .. } => unreachable!("handled without a data directory"),
    }
    Ok(0)
}

/// Checks a certificate file; exit status 0 only when it verifies.
fn verify(path: &Path, public_key: &Path, json: bool) -> Result<i32> {
    let key = PublicKey::load(public_key)?;
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    match coffer_retention::runs::verify_certificate(&text, &key) {
        Ok(cert) => {
            if json {
                output::print_json(&cert)?;
            } else {
                crate::outln!(
                    "certificate of disposition run {} verifies: {} record(s) disposed of, proposed by {}, approved by {}, signed with {}",
                    cert.run,
                    cert.count,
                    cert.proposed_by,
                    cert.approved_by,
                    cert.key
                );
                for r in &cert.records {
                    crate::outln!("  {} {} ({})", r.id, r.record_hash, r.policy);
                }
            }
            Ok(0)
        }
        Err(e) => {
            eprintln!("certificate does not verify: {e}");
            Ok(1)
        }
    }
}

fn date_secs(what: &str, value: Option<&str>) -> Result<Option<i64>> {
    value
        .map(|v| {
            chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .with_context(|| format!("--{what} {v:?} is not YYYY-MM-DD"))
                .map(|d| {
                    d.and_hms_opt(0, 0, 0)
                        .map_or(0, |t| t.and_utc().timestamp())
                })
        })
        .transpose()
}

fn print_hold(h: &HoldView) {
    crate::outln!(
        "hold #{} {:?} {} — placed by {} at {}",
        h.id,
        h.name,
        if h.in_force { "in force" } else { "released" },
        h.placed_by,
        h.placed
    );
    if !h.custodians.is_empty() {
        crate::outln!("  custodians: {}", h.custodians.join(", "));
    }
    if let Some(q) = &h.query {
        crate::outln!("  query: {q}");
    }
}

async fn hold(admin: &LocalAdmin, command: HoldCommand) -> Result<i32> {
    match command {
        HoldCommand::Place {
            name,
            reason,
            custodians,
            query,
            from,
            until,
        } => {
            let placed = admin
                .place_hold(LocalHold {
                    name,
                    reason,
                    custodians,
                    query,
                    from: date_secs("from", from.as_deref())?,
                    until: date_secs("until", until.as_deref())?,
                })
                .await?;
            print_hold(&placed);
        }
        HoldCommand::List { json } => {
            let list = admin.holds().await?;
            if json {
                output::print_json(&list)?;
            } else {
                for h in &list.holds {
                    print_hold(h);
                }
            }
        }
        HoldCommand::Release { id, reason } => {
            print_hold(&admin.release_hold(id, &reason).await?);
        }
    }
    Ok(0)
}
