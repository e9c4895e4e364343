//! `coffer search QUERY`: the query language from the shell.
//!
//! The command line reads the index directly (read-only, beside a running server): whoever
//! can read the data directory can read everything in it, so there is no role check here;
//! `--mailbox` limits the search to one mailbox (the same scope filter the API applies).
//! Like every read of content, the search is recorded in the audit trail — actor
//! `local:OSUSER`, the query and the result count — before any result is printed
//! ([`LocalAdmin::record_access`]: directly, or through a running server's socket).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use coffer_index::{IndexSet, SearchRequest, Sort};
use coffer_ingest::DataDir;
use coffer_ingest::hit_text::VolumeHitText;
use coffer_model::Scope;
use coffer_query_api::local::{LocalAccess, LocalAdmin};

use crate::config::Config;
use crate::output;

/// Arguments of `coffer search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query (Coffer query language; quote it for the shell). It may start with
    /// `-` (a negation such as `-has:attachment`): it is never taken for an option.
    #[arg(allow_hyphen_values = true)]
    query: String,
    /// Only messages of this mailbox (repeatable).
    #[arg(long = "mailbox", value_name = "ADDR")]
    mailboxes: Vec<String>,
    /// Hits to print.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Hits to skip.
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// Order of the hits: relevance, date-desc (newest first; also `date`) or date-asc.
    #[arg(long, default_value = "relevance", value_parser = ["relevance", "date-desc", "date-asc", "date"])]
    sort: String,
    /// Print `{total, hits}` as JSON (the API's hit fields).
    #[arg(long)]
    json: bool,
}

/// Runs the search; exit status 0 (also when nothing matches), 2 on a bad query.
/// Synchronous on the calling thread (no async runtime, no thread started): a search
/// from the shell is a short process whose start-up is most of its time.
pub fn run(data_dir: &Path, args: SearchArgs) -> Result<i32> {
    let sort: Sort = args.sort.parse()?;
    let scope = if args.mailboxes.is_empty() {
        Scope::All
    } else {
        Scope::mailboxes(&args.mailboxes)
    };
    let index_dir = data_dir.join("index");
    let request = SearchRequest {
        query: args.query,
        scope,
        recipients: coffer_model::RecipientView::All,
        sort,
        limit: args.limit,
        offset: args.offset,
    };
    let index = IndexSet::open_snapshot(&index_dir).context("opening the index")?;
    let kek_file = Config::load(data_dir)?.kek_file(data_dir);
    index.set_hit_text(Arc::new(VolumeHitText::reader(
        DataDir::new(data_dir),
        kek_file,
    )));
    let results = index.search(&request)?;
    audit_search(data_dir, &request, results.total)?;
    if args.json {
        output::print_json(&results)?;
        return Ok(0);
    }
    let bold_out = output::styled(&std::io::stdout());
    // One write for the whole listing: stdout is line-buffered, and a write per line was
    // 41 system calls for 20 hits.
    let mut listing = format!("{} message(s)\n", results.total);
    for hit in &results.hits {
        let date = hit.date.unwrap_or(hit.received);
        let _ = writeln!(
            listing,
            "{}  {}  {}  {}",
            hit.id,
            output::time(date),
            hit.from,
            hit.subject.as_deref().unwrap_or("(no subject)")
        );
        let (bold, plain) = if bold_out {
            ("\x1b[1m", "\x1b[0m")
        } else {
            ("", "")
        };
        let snippet = hit.snippet.replace("<b>", bold).replace("</b>", plain);
        if !snippet.is_empty() {
            let _ = writeln!(listing, "    {}", html_unescape(&snippet));
        }
    }
    output::print_text(&listing);
    Ok(0)
}

/// Records the search in the audit trail (durably) before anything is printed. The
/// search itself runs without an async runtime; this starts a small one.
fn audit_search(data_dir: &Path, request: &SearchRequest, total: u64) -> Result<()> {
    let config = Config::load(data_dir)?;
    let access = LocalAccess {
        action: "search".into(),
        target: String::new(),
        detail: serde_json::json!({
            "query": request.query,
            "results": total,
            "mailboxes": match &request.scope {
                Scope::All => Vec::new(),
                Scope::Restricted { mailboxes, .. } => mailboxes.iter().cloned().collect(),
            },
            "limit": request.limit,
            "offset": request.offset,
        }),
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let admin = LocalAdmin::open(
                data_dir,
                config.catalog_url.as_deref(),
                config.keys.signing_key.as_deref(),
                "coffer search",
            )
            .await?;
            let recorded = admin.record_access(access).await;
            admin.close().await?;
            recorded
        })
        .context("recording the search in the audit trail (nothing is shown without it)")
}

/// Undoes the HTML escaping of snippets for terminal display.
fn html_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}
