//! The `coffer` binary: command-line parsing and wiring of the crates. No archive logic
//! lives here; each command opens what it needs and calls into the crates.

// A binary has no public API: `pub` inside it only means "visible to sibling modules".
#![allow(unreachable_pub)]

mod commands;
mod config;
mod output;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Coffer: a compliance archive and e-discovery service for email.
#[derive(Debug, Parser)]
#[command(name = "coffer", version, about, long_about = None)]
struct Cli {
    /// Data directory (volumes, keys, catalog, index, coffer.toml).
    #[arg(
        long,
        global = true,
        env = "COFFER_DATA_DIR",
        default_value = "./coffer-data"
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import .eml files, mbox files, Maildir folders, or folders of them.
    Import(commands::import::ImportArgs),
    /// Verify every volume (or one copied volume with --volume and --public-key).
    Verify(commands::verify::VerifyArgs),
    /// Volumes: list, seal.
    #[command(subcommand)]
    Volume(commands::volume::VolumeCommand),
    /// Show a message's metadata, or its original bytes with --raw.
    Show(commands::show::ShowArgs),
    /// Rebuild the catalog from the volumes.
    Recatalog,
    /// Rebuild the index and the catalog from the volumes.
    Reindex(commands::rebuild::ReindexArgs),
    /// Archiving rules of users and groups (journaled mail).
    #[command(subcommand)]
    Rule(commands::rule::RuleCommand),
    /// Search from the shell (the query language of the API and the UI).
    Search(commands::search::SearchArgs),
    /// Serve the HTTP API (creates the data directory and an admin account on first start).
    Serve(commands::serve::ServeArgs),
    /// Accounts: add, list, import (CSV), disable, passwd.
    #[command(subcommand)]
    User(commands::user::UserCommand),
    /// Journal API tokens for mail servers: create, list, revoke.
    #[command(subcommand)]
    Token(commands::user::TokenCommand),
    /// Offline proofs: verify (needs only the public key).
    #[command(subcommand)]
    Proof(commands::proof::ProofCommand),
    /// The signing key: rotate (server stopped).
    #[command(subcommand)]
    Key(commands::key::KeyCommand),
    /// Signed integrity reports: verify (needs only the public key).
    #[command(subcommand)]
    Report(commands::report::ReportCommand),
    /// The audit trail: verify.
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// Local domains (their participants become mailboxes): add, list, remove.
    #[command(subcommand)]
    Domain(commands::domain::DomainCommand),
    /// Retention: policies and assignments, approvals, why a message is kept, the report.
    #[command(subcommand)]
    Retention(commands::retention::RetentionCommand),
    /// Disposition runs: propose, approve (a second person), reject, list, certificates.
    #[command(subcommand)]
    Disposition(commands::disposition::DispositionCommand),
    /// Legal holds: place, list, release.
    #[command(subcommand)]
    Hold(commands::disposition::HoldCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(commands::docs::CompletionsArgs),
    /// Print the man page (or write every page into --dir).
    Man(commands::docs::ManArgs),
}

fn main() {
    // Everything this process creates — volumes, catalog, index, keys, the audit trail,
    // sockets — is for the data directory's owner alone (files 0600, directories 0700),
    // whatever umask the service manager or shell gave it.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", output::error_report(&e));
            2
        }
    };
    #[allow(clippy::exit)]
    std::process::exit(code);
}

fn run(cli: Cli) -> Result<i32> {
    let verbose_default = matches!(
        cli.command,
        Command::Import(_) | Command::Reindex(_) | Command::Recatalog | Command::Serve(_)
    );
    output::init_logging(if verbose_default {
        "warn,coffer=info,coffer_index=warn"
    } else {
        "warn"
    });
    let data_dir = cli.data_dir;
    let command = match cli.command {
        Command::Search(args) => return commands::search::run(&data_dir, args),
        Command::Proof(cmd) => return commands::proof::run(cmd),
        Command::Report(cmd) => return commands::report::run(cmd),
        Command::Key(cmd) => return commands::key::run(&data_dir, cmd),
        Command::Completions(args) => return commands::docs::completions::<Cli>(&args),
        Command::Man(args) => return commands::docs::man::<Cli>(&args),
        other => other,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match command {
            Command::Import(args) => commands::import::run(&data_dir, args).await,
            Command::Verify(args) => commands::verify::run(&data_dir, args).await,
            Command::Volume(cmd) => commands::volume::run(&data_dir, cmd).await,
            Command::Show(args) => commands::show::run(&data_dir, args).await,
            Command::Recatalog => commands::rebuild::recatalog(&data_dir).await,
            Command::Reindex(args) => commands::rebuild::reindex(&data_dir, args).await,
            // Normally run above, before any runtime exists.
            Command::Search(args) => commands::search::run(&data_dir, args),
            Command::Rule(cmd) => commands::rule::run(&data_dir, cmd).await,
            Command::Serve(args) => commands::serve::run(&data_dir, args).await,
            Command::User(cmd) => commands::user::run_user(&data_dir, cmd).await,
            Command::Token(cmd) => commands::user::run_token(&data_dir, cmd).await,
            Command::Audit(cmd) => commands::audit::run(&data_dir, cmd).await,
            Command::Domain(cmd) => commands::domain::run(&data_dir, cmd).await,
            Command::Retention(cmd) => commands::retention::run(&data_dir, cmd).await,
            Command::Disposition(cmd) => commands::disposition::run(&data_dir, cmd).await,
            Command::Hold(cmd) => commands::disposition::run_hold(&data_dir, cmd).await,
            Command::Proof(cmd) => commands::proof::run(cmd),
            Command::Report(cmd) => commands::report::run(cmd),
            Command::Key(cmd) => commands::key::run(&data_dir, cmd),
            // Normally run above, before any runtime exists.
            Command::Completions(args) => commands::docs::completions::<Cli>(&args),
            Command::Man(args) => commands::docs::man::<Cli>(&args),
        }
    })
}
