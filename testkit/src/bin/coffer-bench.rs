//! `coffer-bench`: measured, not assumed. Generates a deterministic corpus, then times
//! Coffer's import against `sha256sum` and `zstd -3` on the same bytes in the same run
//! (ratios, because these machines are noisy), and reports sizes and peak memory.
//!
//! A binary of the test kit, not of the shipped `coffer`:
//! `cargo run --release -p coffer-testkit --bin coffer-bench -- SUBCOMMAND ...`.
//!
//! - `coffer-bench corpus --messages N --out DIR [--format maildir|mbox]` writes a corpus.
//! - `coffer-bench import [--messages N] [--format maildir|mbox] [--work DIR]
//!   [--coffer PATH]` runs the import benchmark: the `coffer import` child process is
//!   timed and its peak RSS read from /proc while it runs. `--coffer` names the binary to
//!   time (default: the `coffer` beside this one, i.e. of the same target directory), so
//!   the same harness and corpus can time an older build for a before/after comparison.
//! - `coffer-bench [--data-dir DIR] search QUERY... [--runs N]` times searches in one
//!   process with the index open (the latency the API serves, without HTTP): each query
//!   is run `--warmup` times, then `--runs` times; p50 and p99 per query.
//!   `scripts/bench-search` reports it beside the whole-command latencies. This one
//!   measures the index code built into `coffer-bench` itself.

use std::fs::{self, File};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use coffer_index::{HitText, IndexSet, SearchRequest, Sort};
use coffer_ingest::DataDir;
use coffer_ingest::hit_text::VolumeHitText;
use coffer_model::{MessageId, Scope};
use coffer_testkit::directory_bytes;
use coffer_testkit::index_bench::nearest_rank;
use coffer_testkit::mail_corpus::{CorpusFormat, MailCorpus, write_corpus};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Benchmarks of Coffer on generated corpora (see the README).
#[derive(Debug, Parser)]
#[command(name = "coffer-bench", version, about, long_about = None)]
struct Cli {
    /// Data directory whose index `search` opens.
    #[arg(
        long,
        global = true,
        env = "COFFER_DATA_DIR",
        default_value = "./coffer-data"
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: BenchCommand,
}

/// `coffer-bench ...`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Write a generated corpus.
    Corpus {
        /// Number of messages.
        #[arg(long, default_value_t = 100_000)]
        messages: u64,
        /// Output directory (Maildir) or file (mbox).
        #[arg(long)]
        out: PathBuf,
        /// maildir or mbox.
        #[arg(long, default_value = "maildir")]
        format: String,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// No attachments (a few KB per message): many messages, few bytes.
        #[arg(long)]
        text_only: bool,
    },
    /// Import benchmark against sha256sum and zstd -3 baselines.
    Import {
        /// Number of messages.
        #[arg(long, default_value_t = 100_000)]
        messages: u64,
        /// maildir or mbox.
        #[arg(long, default_value = "maildir")]
        format: String,
        /// Working directory (corpus is cached there between runs).
        #[arg(long, default_value = "./coffer-bench")]
        work: PathBuf,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also index during the import (default: storage path only, index deferred).
        #[arg(long)]
        with_index: bool,
        /// The `coffer` binary to time (default: the one beside `coffer-bench`).
        #[arg(long, value_name = "PATH")]
        coffer: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// In-process search latency over the data directory's index.
    Search {
        /// Queries (Coffer query language), each timed on its own.
        #[arg(required = true)]
        queries: Vec<String>,
        /// Only messages of this mailbox (for every query).
        #[arg(long = "mailbox", value_name = "ADDR")]
        mailboxes: Vec<String>,
        /// Timed runs per query.
        #[arg(long, default_value_t = 100)]
        runs: usize,
        /// Untimed runs per query first.
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        /// Hits per search (with snippets).
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// In-process latency of one query (`coffer-bench search`).
#[derive(Debug, Serialize)]
struct SearchLatency {
    query: String,
    total: u64,
    runs: usize,
    p50_ms: f64,
    p99_ms: f64,
    /// Bodies read back from the volumes per search (hits whose snippet words lie past
    /// the stored preview), over the timed runs.
    read_backs_per_search: f64,
    /// Mean time of one read-back (read, decrypt, decompress, parse the body).
    read_back_us: f64,
}

/// The archive's [`HitText`] with a count and the time of its read-backs, so the
/// report says how much of a query's latency they are.
struct TimedHitText {
    inner: VolumeHitText,
    calls: AtomicU64,
    nanos: AtomicU64,
}

impl TimedHitText {
    /// (read-backs, nanoseconds) so far.
    fn totals(&self) -> (u64, u64) {
        (
            self.calls.load(Ordering::Relaxed),
            self.nanos.load(Ordering::Relaxed),
        )
    }
}

impl HitText for TimedHitText {
    fn body(&self, id: MessageId) -> Option<String> {
        let started = Instant::now();
        let body = self.inner.body(id);
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
        body
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli.data_dir, cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs a bench command.
fn run(data_dir: &Path, command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Corpus {
            messages,
            out,
            format,
            seed,
            text_only,
        } => {
            let format = parse_format(&format)?;
            let corpus = if text_only {
                MailCorpus::new(messages, seed).text_only()
            } else {
                MailCorpus::new(messages, seed)
            };
            let bytes = write_with_progress(&corpus, format, &out)?;
            outln!(
                "wrote {messages} messages, {} ({bytes} bytes) to {}",
                human_bytes(bytes),
                out.display()
            );
            Ok(())
        }
        BenchCommand::Import {
            messages,
            format,
            work,
            seed,
            with_index,
            coffer,
            json,
        } => {
            let coffer = match coffer {
                Some(path) => path,
                None => beside_this_binary("coffer")?,
            };
            import_bench(
                messages,
                parse_format(&format)?,
                &work,
                seed,
                with_index,
                &coffer,
                json,
            )
        }
        BenchCommand::Search {
            queries,
            mailboxes,
            runs,
            warmup,
            limit,
            json,
        } => search_bench(data_dir, &queries, &mailboxes, runs, warmup, limit, json),
    }
}

fn parse_format(name: &str) -> Result<CorpusFormat> {
    name.parse().map_err(anyhow::Error::msg)
}

/// `name` in the directory of the running executable (the same target directory).
fn beside_this_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating coffer-bench")?;
    let path = exe
        .parent()
        .context("coffer-bench has no directory")?
        .join(name);
    fs::metadata(&path).with_context(|| {
        format!(
            "no {name} beside coffer-bench at {} (build it with `cargo build --release \
             --bin {name}`, or name one with --coffer)",
            path.display()
        )
    })?;
    Ok(path)
}

/// `coffer-bench search`: each query `warmup` times untimed, then `runs` times.
fn search_bench(
    data_dir: &Path,
    queries: &[String],
    mailboxes: &[String],
    runs: usize,
    warmup: usize,
    limit: usize,
    json: bool,
) -> Result<()> {
    let index = IndexSet::open_snapshot(&data_dir.join("index")).context("opening the index")?;
    // As `coffer search` does: snippets past the stored preview are read back from the
    // volumes (the key store at its default place).
    let read_back = Arc::new(TimedHitText {
        inner: VolumeHitText::reader(DataDir::new(data_dir), None),
        calls: AtomicU64::new(0),
        nanos: AtomicU64::new(0),
    });
    index.set_hit_text(Arc::clone(&read_back) as Arc<dyn HitText>);
    let scope = if mailboxes.is_empty() {
        Scope::All
    } else {
        Scope::mailboxes(mailboxes)
    };
    let mut report = Vec::new();
    for query in queries {
        let request = SearchRequest {
            query: query.clone(),
            scope: scope.clone(),
            recipients: coffer_model::RecipientView::All,
            sort: Sort::Relevance,
            limit,
            offset: 0,
        };
        let mut total = 0;
        for _ in 0..warmup {
            total = index.search(&request)?.total;
        }
        let (calls_before, nanos_before) = read_back.totals();
        let mut times: Vec<f64> = (0..runs.max(1))
            .map(|_| {
                let started = Instant::now();
                index.search(&request).map(|results| {
                    total = results.total;
                    started.elapsed().as_secs_f64() * 1e3
                })
            })
            .collect::<Result<_, _>>()?;
        times.sort_by(f64::total_cmp);
        let percentile = |p: f64| nearest_rank(&times, p);
        let (calls, nanos) = read_back.totals();
        let (calls, nanos) = (calls - calls_before, nanos - nanos_before);
        report.push(SearchLatency {
            query: query.clone(),
            total,
            runs: times.len(),
            p50_ms: percentile(0.50),
            p99_ms: percentile(0.99),
            read_backs_per_search: calls as f64 / times.len() as f64,
            read_back_us: if calls == 0 {
                0.0
            } else {
                nanos as f64 / calls as f64 / 1e3
            },
        });
    }
    if json {
        print_json(&report)?;
    } else {
        for line in &report {
            outln!(
                "{:>8.3} ms p50  {:>8.3} ms p99  {:>8} hits  {:>5.1} read-backs of {:>6.1} µs  {}",
                line.p50_ms,
                line.p99_ms,
                line.total,
                line.read_backs_per_search,
                line.read_back_us,
                line.query
            );
        }
    }
    Ok(())
}

/// [`write_corpus`] with a progress bar on a terminal; returns the raw bytes written.
fn write_with_progress(corpus: &MailCorpus, format: CorpusFormat, out: &Path) -> Result<u64> {
    let bar = progress_bar(corpus.len(), "generating");
    let bytes = write_corpus(corpus, format, out, |written| bar.set_position(written))
        .with_context(|| format!("writing the corpus to {}", out.display()))?;
    bar.finish_and_clear();
    Ok(bytes)
}

#[derive(Debug, Serialize)]
struct ImportReport {
    /// The `coffer` binary timed.
    coffer: String,
    messages: u64,
    format: String,
    raw_bytes: u64,
    import_seconds: f64,
    import_messages_per_second: f64,
    import_mb_per_second: f64,
    indexed_during_import: bool,
    sha256sum_mb_per_second: f64,
    zstd3_mb_per_second: f64,
    import_vs_zstd3_throughput: f64,
    zstd3_bytes: u64,
    volume_bytes: u64,
    volume_vs_zstd3_bytes: f64,
    stored_vs_raw: f64,
    peak_rss_mb: f64,
    archived: u64,
    flagged: u64,
}

/// `coffer-bench import`: the corpus (cached in `work`), the baselines, then `coffer`'s
/// import of the corpus into a fresh data directory.
fn import_bench(
    messages: u64,
    format: CorpusFormat,
    work: &Path,
    seed: u64,
    with_index: bool,
    coffer: &Path,
    json: bool,
) -> Result<()> {
    let name = format.as_str();
    fs::create_dir_all(work)?;
    let corpus_path = work.join(format!("corpus-{messages}-{seed}.{name}"));
    let concat = work.join(format!("corpus-{messages}-{seed}.raw"));
    if fs::symlink_metadata(&corpus_path).is_err() {
        eprintln!("generating the corpus in {} ...", corpus_path.display());
        let tmp = work.join(format!(".tmp-corpus-{messages}-{seed}.{name}"));
        let _ = fs::remove_dir_all(&tmp);
        let _ = fs::remove_file(&tmp);
        write_with_progress(&MailCorpus::new(messages, seed), format, &tmp)?;
        fs::rename(&tmp, &corpus_path)?;
    }
    if fs::symlink_metadata(&concat).is_err() {
        // The baselines run over exactly the bytes Coffer archives, concatenated.
        let corpus = MailCorpus::new(messages, seed);
        let mut w = BufWriter::with_capacity(1 << 20, File::create(&concat)?);
        for i in 0..messages {
            w.write_all(&corpus.message(i))?;
        }
        w.flush()?;
    }
    let raw_bytes = fs::metadata(&concat)?.len();
    // Warm the page cache for everyone alike.
    warm(&corpus_path)?;
    warm(&concat)?;
    let sha_secs = time_command(Command::new("sha256sum").arg(&concat).stdout(Stdio::null()))?;
    let zst = work.join("baseline.zst");
    let zstd_secs = time_command(
        Command::new("zstd")
            .args(["-3", "-q", "-f", "-T1", "-o"])
            .arg(&zst)
            .arg(&concat),
    )?;
    let zstd_bytes = fs::metadata(&zst)?.len();
    let _ = fs::remove_file(&zst);

    let data = work.join("data");
    let _ = fs::remove_dir_all(&data);
    let mut cmd = Command::new(coffer);
    cmd.arg("--data-dir")
        .arg(&data)
        .arg("import")
        .arg(&corpus_path)
        .args(["--json", "--local-domain", "corp.example"]);
    if !with_index {
        cmd.arg("--defer-index");
    }
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .env("COFFER_LOG", "warn");
    let started = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("running {}", coffer.display()))?;
    let pid = child.id();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let watcher_peak = std::sync::Arc::clone(&peak);
    let watcher = std::thread::spawn(move || {
        let status = format!("/proc/{pid}/status");
        while let Ok(text) = fs::read_to_string(&status) {
            if let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                watcher_peak.fetch_max(kb, std::sync::atomic::Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let out = child.wait_with_output()?;
    let import_secs = started.elapsed().as_secs_f64();
    let _ = watcher.join();
    if !out.status.success() {
        bail!("import failed with {:?}", out.status.code());
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("import summary")?;
    let volume_bytes = directory_bytes(&data.join("volumes"));
    let mb = raw_bytes as f64 / 1e6;
    let report = ImportReport {
        coffer: coffer.display().to_string(),
        messages,
        format: name.to_string(),
        raw_bytes,
        import_seconds: import_secs,
        import_messages_per_second: messages as f64 / import_secs,
        import_mb_per_second: mb / import_secs,
        indexed_during_import: with_index,
        sha256sum_mb_per_second: mb / sha_secs,
        zstd3_mb_per_second: mb / zstd_secs,
        import_vs_zstd3_throughput: (mb / import_secs) / (mb / zstd_secs),
        zstd3_bytes: zstd_bytes,
        volume_bytes,
        volume_vs_zstd3_bytes: volume_bytes as f64 / zstd_bytes as f64,
        stored_vs_raw: volume_bytes as f64 / raw_bytes as f64,
        peak_rss_mb: peak.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0,
        archived: summary["archived"].as_u64().unwrap_or(0),
        flagged: summary["flagged"].as_u64().unwrap_or(0),
    };
    if json {
        print_json(&report)?;
    } else {
        outln!(
            "corpus              {} messages, {} ({})",
            report.messages,
            human_bytes(raw_bytes),
            report.format
        );
        outln!(
            "sha256sum           {:.0} MB/s",
            report.sha256sum_mb_per_second
        );
        outln!(
            "zstd -3 (1 thread)  {:.0} MB/s, {} ",
            report.zstd3_mb_per_second,
            human_bytes(zstd_bytes)
        );
        outln!(
            "coffer import       {:.1} s, {:.0} messages/s, {:.0} MB/s ({}) = {:.2} x zstd -3 throughput",
            import_secs,
            report.import_messages_per_second,
            report.import_mb_per_second,
            if with_index {
                "with indexing"
            } else {
                "storage path; index deferred"
            },
            report.import_vs_zstd3_throughput
        );
        outln!(
            "volume bytes        {} = {:.3} x zstd -3 output, {:.3} x raw",
            human_bytes(volume_bytes),
            report.volume_vs_zstd3_bytes,
            report.stored_vs_raw
        );
        outln!("peak RSS            {:.0} MB", report.peak_rss_mb);
        outln!("binary              {}", report.coffer);
    }
    Ok(())
}

fn time_command(cmd: &mut Command) -> Result<f64> {
    let started = Instant::now();
    let status = cmd
        .status()
        .with_context(|| format!("running {cmd:?} (is it installed?)"))?;
    if !status.success() {
        bail!("{cmd:?} failed");
    }
    Ok(started.elapsed().as_secs_f64())
}

fn warm(path: &Path) -> Result<()> {
    let status = Command::new("sh")
        .arg("-c")
        .arg("find \"$1\" -type f -exec cat {} + > /dev/null")
        .arg("sh")
        .arg(path)
        .status()?;
    if !status.success() {
        bail!("could not read {}", path.display());
    }
    Ok(())
}

/// `println!` that does not panic when stdout is closed (`coffer-bench ... | head`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
use outln;

/// Prints a value as pretty JSON on stdout.
fn print_json<T: Serialize>(value: &T) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `1.5 MB`-style sizes (powers of 1000), as `coffer` prints them.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A progress bar over `total` messages on a terminal, hidden otherwise.
fn progress_bar(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(&format!(
        "{what} {{bar:40}} {{pos}}/{{len}} ({{per_sec}}, eta {{eta}})"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::new(total).with_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
