//! `coffer import PATH...`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use coffer_ingest::import::{MboxFlavor, MboxOptions, WalkOptions, total_bytes};
use coffer_ingest::importer::{ImportOptions, ImportSummary, run_import};
use coffer_ingest::parse::MailboxPolicy;
use coffer_ingest::remote::{self, RemoteImport};

use crate::output;

/// Arguments of `coffer import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files and folders to import (.eml, mbox, Maildir, folders of them).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Assign every imported message to this mailbox (repeatable).
    #[arg(long = "mailbox", value_name = "ADDR")]
    mailboxes: Vec<String>,
    /// A local domain for this import only, besides the catalog's (`coffer domain add`
    /// keeps one for good): its participants become mailboxes (repeatable).
    #[arg(long = "local-domain", value_name = "DOMAIN")]
    local_domains: Vec<String>,
    /// How `>From ` lines in mbox files are read: mboxrd (default) or mboxo.
    #[arg(long, value_name = "FLAVOR", default_value = "mboxrd", value_parser = ["mboxrd", "mboxo"])]
    mbox_flavor: String,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// Store and catalog now, but leave indexing (and attachment text extraction) to
    /// the next start or `coffer reindex`: for bulk migrations.
    #[arg(long)]
    defer_index: bool,
    /// Import through a running server (`https://HOST:PORT`, or `http://` on loopback)
    /// instead of opening the data directory (which the server holds).
    #[arg(long, value_name = "URL", requires = "token")]
    server: Option<String>,
    /// A CA certificate (PEM) to trust for --server, besides the system's (repeatable).
    #[arg(long = "ca-cert", value_name = "FILE", requires = "server")]
    ca_certs: Vec<PathBuf>,
    /// Journal token for --server (`coffer token create`).
    #[arg(long, env = "COFFER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print a JSON line on stdout after every durable batch (for scripts and tests).
    #[arg(long, hide = true)]
    progress_json: bool,
}

/// Runs the import and prints the summary; returns the exit status.
pub async fn run(data_dir: &Path, args: ImportArgs) -> Result<i32> {
    if let Some(server) = &args.server {
        return run_remote(server, &args).await;
    }
    let (archive, config) = match super::open_archive_with(
        data_dir,
        "coffer import",
        args.defer_index,
    )
    .await
    {
        Ok(opened) => opened,
        Err(e) => {
            if held_by_server(&e) {
                eprintln!(
                    "note: a running `coffer serve` holds this data directory; import through it with `coffer import --server http://HOST:PORT --token TOKEN PATH...` (a journal token from `coffer token create`)"
                );
            }
            return Err(e);
        }
    };
    let policy = if args.mailboxes.is_empty() {
        let catalog_domains: Vec<String> = archive
            .catalog()
            .list_domains()
            .await?
            .into_iter()
            .map(|d| d.name)
            .collect();
        let mut domains: Vec<String> = config
            .local_domains
            .iter()
            .chain(&catalog_domains)
            .chain(&args.local_domains)
            .map(|d| d.trim().to_ascii_lowercase())
            .collect();
        domains.sort();
        domains.dedup();
        if domains.is_empty() && !args.json {
            eprintln!(
                "note: no local domain (`coffer domain add DOMAIN`, or --local-domain) and no --mailbox: messages are archived without mailboxes and only officers with an unrestricted scope will see them"
            );
        }
        MailboxPolicy::LocalDomains(domains)
    } else {
        MailboxPolicy::Fixed(args.mailboxes.clone())
    };
    let flavor = flavor(&args.mbox_flavor)?;
    let options = ImportOptions {
        policy,
        walk: WalkOptions {
            mbox: MboxOptions {
                flavor,
                ..MboxOptions::default()
            },
        },
    };
    let total = total_bytes(&args.paths);
    let bar = if args.json {
        indicatif::ProgressBar::hidden()
    } else {
        output::progress_bar(Some(total), "importing")
    };
    let paths = args.paths.clone();
    let worker = archive.clone();
    let progress_bar = bar.clone();
    let progress_json = args.progress_json;
    let started = std::time::Instant::now();
    let runtime = tokio::runtime::Handle::current();
    let summary = tokio::task::spawn_blocking(move || {
        let mut summary = run_import(&worker, &paths, &options, &mut |p| {
            progress_bar.set_position(p.raw_bytes.min(total));
            progress_bar.set_message(format!("{} messages", p.messages));
            if progress_json {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(
                    out,
                    "{{\"messages\":{},\"archived\":{},\"duplicates\":{}}}",
                    p.messages, p.archived, p.duplicates
                );
                let _ = out.flush();
            }
        });
        let flushed = runtime.block_on(worker.shutdown());
        // Until the catalog and the index have caught up and committed: the whole import,
        // not only the storage loop.
        summary.seconds = started.elapsed().as_secs_f64();
        (summary, flushed)
    })
    .await
    .context("import panicked")?;
    bar.finish_and_clear();
    let (summary, flushed) = summary;
    flushed.context("applying the import to the catalog and index")?;
    if args.json {
        output::print_json(&summary)?;
    } else {
        print_summary(&summary);
    }
    Ok(summary.exit_code())
}

/// `--server`: the same import through a running server's HTTP API.
async fn run_remote(server: &str, args: &ImportArgs) -> Result<i32> {
    if !args.local_domains.is_empty() {
        anyhow::bail!(
            "--local-domain does not apply with --server: the server's local domains decide; add one with `coffer domain add DOMAIN` (beside the running server) or POST /api/v1/domains, or give --mailbox"
        );
    }
    let remote = RemoteImport {
        server: remote::server_url(server)?,
        token: args.token.clone().unwrap_or_default(),
        mailboxes: args.mailboxes.clone(),
        ca_certs: args.ca_certs.clone(),
        walk: WalkOptions {
            mbox: MboxOptions {
                flavor: flavor(&args.mbox_flavor)?,
                ..MboxOptions::default()
            },
        },
    };
    let total = total_bytes(&args.paths);
    let bar = if args.json {
        indicatif::ProgressBar::hidden()
    } else {
        output::progress_bar(Some(total), "importing")
    };
    let progress_bar = bar.clone();
    let summary = remote::run(remote, args.paths.clone(), move |messages, bytes| {
        progress_bar.set_position(bytes.min(total));
        progress_bar.set_message(format!("{messages} messages"));
    })
    .await?;
    bar.finish_and_clear();
    if args.json {
        output::print_json(&summary)?;
    } else {
        print_summary(&summary);
    }
    Ok(summary.exit_code())
}

fn flavor(name: &str) -> Result<MboxFlavor> {
    match name {
        "mboxrd" => Ok(MboxFlavor::Mboxrd),
        "mboxo" => Ok(MboxFlavor::Mboxo),
        other => anyhow::bail!("unknown mbox flavor {other:?} (mboxrd or mboxo)"),
    }
}

fn print_summary(s: &ImportSummary) {
    let rate = if s.seconds > 0.0 {
        s.messages as f64 / s.seconds
    } else {
        0.0
    };
    let mb_rate = if s.seconds > 0.0 {
        s.raw_bytes as f64 / s.seconds / 1e6
    } else {
        0.0
    };
    crate::outln!("files read        {}", s.files);
    crate::outln!("messages read     {}", s.messages);
    crate::outln!("archived          {}", s.archived);
    crate::outln!(
        "duplicates        {} ({} added mailboxes)",
        s.duplicates,
        s.linked
    );
    crate::outln!("flagged           {}", s.flagged);
    crate::outln!("rejected          {}", s.rejected.len());
    for r in &s.rejected {
        crate::outln!("  {}: {}", r.path, r.reason);
    }
    crate::outln!("skipped           {}", s.skipped.len());
    for skipped in &s.skipped {
        crate::outln!("  {}: {}", skipped.path, skipped.reason);
    }
    if !s.failed.is_empty() {
        crate::outln!("failed            {}", s.failed.len());
        for r in &s.failed {
            crate::outln!("  {}: {}", r.path, r.reason);
        }
    }
    crate::outln!(
        "raw bytes         {} ({})",
        s.raw_bytes,
        output::bytes(s.raw_bytes)
    );
    crate::outln!(
        "stored bytes      {} ({})",
        s.stored_bytes,
        output::bytes(s.stored_bytes)
    );
    crate::outln!(
        "time              {:.2} s ({rate:.0} messages/s, {mb_rate:.1} MB/s)",
        s.seconds
    );
}

/// Whether opening the archive failed because `coffer serve` holds the data directory.
fn held_by_server(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let locked = match cause.downcast_ref::<coffer_ingest::IngestError>() {
            Some(coffer_ingest::IngestError::Volume(v)) => Some(v),
            _ => cause.downcast_ref::<coffer_volume::Error>(),
        };
        matches!(locked, Some(coffer_volume::Error::Locked { holder, .. }) if holder.contains(super::SERVE_HOLDER))
    })
}
