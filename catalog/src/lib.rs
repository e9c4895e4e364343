//! Coffer's catalog: the relational view of the archive (messages, mailboxes, which
//! mailbox holds which message, and how far each volume has been applied).
//!
//! # Derived, never authoritative
//! Every row in the message tables is derived from volume records (DESIGN principle 1).
//! [`Catalog::apply`] writes a batch of derived rows and the volume high-water mark in
//! one transaction, so after a crash the catalog is exactly "everything up to the mark";
//! start-up replays records after the mark, and `coffer recatalog` calls
//! [`Catalog::clear_derived`] and replays everything. Inserts are idempotent
//! (`ON CONFLICT DO NOTHING`), so replaying a record twice is harmless.
//!
//! # One code path for SQLite and PostgreSQL
//! The catalog talks to the database through `sqlx::Any`, which picks the driver from
//! the URL at run time (`sqlite://...` or `postgres://...`). All SQL is written once, in
//! the dialect both accept: `$N` placeholders, `INSERT ... ON CONFLICT ... DO NOTHING /
//! DO UPDATE SET x = excluded.x`, integers as 64-bit, hashes as blobs, times as Unix
//! seconds (the Any driver has no date or JSON types, which keeps us portable). Only
//! the DDL differs, so there are two migration folders, `migrations/sqlite` and
//! `migrations/postgres`, kept table-for-table identical; [`Catalog::connect`] runs the
//! one that matches the URL. Adding PostgreSQL for several nodes therefore means: point
//! `catalog_url` at the server; nothing else changes. The test suite runs against
//! SQLite always and against PostgreSQL when `COFFER_TEST_POSTGRES_URL` is set.
//!
//! SQLite runs in WAL mode with `synchronous=NORMAL`: the catalog needs no fsync of its
//! own because the volume is the write-ahead log — a lost catalog transaction is
//! replayed from the volumes on the next start. [`Catalog::checkpoint_wal`] folds the WAL
//! back into the file after bulk work (an import, a disposition run).
//!
//! # Compact message tables (issue 24, migration 0015)
//! The catalog costs what each message costs whatever its size, so its rows hold only
//! what a query of the catalog reads; everything else is in the volume record (and, for
//! search, in the index):
//! - A message's key is one integer, `year * 10^10 + seq` ([`MessageId`] "YEAR-SEQ" is
//!   converted at this crate's edge only; API, CLI and audit keep the text form). On
//!   SQLite it is the rowid, so rows are stored in key order and a year is one key range
//!   (`message_hashes`, `mailboxes_in_range`, `retention_rows` scan that range).
//! - A row keeps the content hash and identity in full, the dates, size, attachment
//!   count and flags: what dedup, `coffer verify`, retention and the access check read.
//!   Message-ID, sender and subject are not kept: `coffer show` and the message view read
//!   them from the record's bytes, as the row was derived from them.
//! - The content-hash and identity indexes hold the first 8 bytes of the digest
//!   (`substr(x, 1, 8)`, an expression index on both databases); the query compares the
//!   full digest in the row, so a prefix collision costs a row read, never a wrong match.
//! - The mailboxes a message record names are one column of its row (migration 0016):
//!   their ids, ascending, comma-separated (`mailbox_list`). Only links named by a later
//!   link record have rows, `(message, mailbox, via)` in `message_links`, keyed by
//!   message (no query looks links up by mailbox: the index scopes searches), `via` the
//!   key of that link record. Readers merge both; the message record's own link wins
//!   when a link record names the same mailbox again.
//!
//! Measured with SQLite's `dbstat` on 20,000 generated business messages (2.2 KB each)
//! imported with their local domain (2.4 mailbox links each): 0015 kept 96 bytes per
//! message row, 22 per digest-index entry and 17 per link row, 3.85 MB in all = 0.085 x
//! the mail; with the links in the row, 104 bytes per message row and no link rows,
//! 3.21 MB = 0.071 x (about 4 bytes per link; 0014's tables: 460 bytes per message =
//! 0.207 x).

pub mod audit;
pub mod disposition;
mod mailbox_list;
pub mod retention;
pub mod sessions;
pub mod users;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use coffer_model::{ErrorCode, MessageDoc, MessageId, Sha256};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, AssertSqlSafe, Executor, Row};

/// Result with the catalog [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Catalog errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A database error.
    #[error("catalog database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("catalog migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value is not what the schema promises.
    #[error("catalog holds an invalid value: {0}")]
    Invalid(String),
    /// The URL names a database this build does not support.
    #[error("unsupported catalog URL {0:?} (use sqlite://PATH or postgres://...)")]
    UnsupportedUrl(String),
    /// The change conflicts with a row that exists (a taken username, group or token name).
    #[error("{0}")]
    Conflict(String),
    /// The row the change refers to does not exist.
    #[error("{0}")]
    NotFound(String),
}

impl Error {
    /// The coarse class of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::UnsupportedUrl(_) => ErrorCode::InvalidInput,
            Error::Conflict(_) => ErrorCode::Conflict,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::Database(sqlx::Error::PoolTimedOut) => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        }
    }
}

/// Which database is behind the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file (the default, embedded).
    Sqlite,
    /// PostgreSQL server (several nodes).
    Postgres,
}

/// A derived change to apply for one volume record.
#[derive(Debug, Clone)]
pub enum Applied {
    /// A message record.
    Message(std::sync::Arc<MessageDoc>),
    /// A link record: more mailboxes for an archived message.
    Link {
        /// The message.
        target: MessageId,
        /// The mailboxes to add (lowercased addresses).
        mailboxes: Vec<String>,
        /// The link record naming them.
        via: MessageId,
    },
}

/// Derived rows for a contiguous run of records of one volume, ending at `up_to_seq`.
#[derive(Debug, Clone)]
pub struct ApplyBatch {
    /// `mail` or `audit`.
    pub purpose: &'static str,
    /// The volume year.
    pub year: i32,
    /// The last sequence number this batch covers (becomes the high-water mark).
    pub up_to_seq: u64,
    /// The derived changes (records without catalog rows contribute nothing).
    pub items: Vec<Applied>,
}

/// A message already in the catalog, as dedup needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownMessage {
    /// Its id.
    pub id: MessageId,
    /// Its mailboxes.
    pub mailboxes: Vec<String>,
}

/// A catalog row for one message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MessageRow {
    /// Stable id.
    pub id: MessageId,
    /// SHA-256 of the original bytes.
    pub sha256: Sha256,
    /// Message date (Unix seconds).
    pub date: Option<i64>,
    /// Receive time (Unix seconds).
    pub received: i64,
    /// Original size.
    pub size: u64,
    /// Attachment count.
    pub attachments: u32,
    /// Flag bits.
    pub flags: u32,
    /// Mailboxes holding the message.
    pub mailboxes: Vec<String>,
}

/// The catalog.
#[derive(Debug)]
pub struct Catalog {
    pool: AnyPool,
    backend: Backend,
    mailbox_ids: Mutex<HashMap<String, i64>>,
    mailbox_addresses: Mutex<HashMap<i64, String>>,
}

/// Which messages a link query is about.
#[derive(Clone, Copy)]
enum KeySelection<'a> {
    /// These keys (at most [`KEYS_PER_LOOKUP`]).
    Keys(&'a [i64]),
    /// The keys in this inclusive range.
    Range(i64, i64),
}

/// The address of mailbox `mailbox` (a link of the message with key `key`); a link to a
/// mailbox that does not exist is an invalid catalog, not a link to leave out.
fn known_address(addresses: &HashMap<i64, String>, mailbox: i64, key: i64) -> Result<String> {
    addresses.get(&mailbox).cloned().ok_or_else(|| {
        Error::Invalid(format!(
            "message {} is linked to mailbox id {mailbox}, which does not exist",
            from_key(key).map_or_else(|_| key.to_string(), |id| id.to_string())
        ))
    })
}

/// The newest migration that rewrites the message tables (0016_packed_links; 0015 gave
/// messages integer keys): a catalog migrated from before it is vacuumed once.
const COMPACT_TABLES_MIGRATION: i64 = 16;

/// The newest migration applied to the database (0 for a new one).
async fn applied_migration(pool: &AnyPool) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

/// Rows per multi-row INSERT (keeps statements well under every parameter limit).
const ROWS_PER_INSERT: usize = 16;

/// Keys per `IN (...)` lookup (one parameter each).
pub(crate) const KEYS_PER_LOOKUP: usize = 64;

/// Appends the `n`th (1-based) parameter of a statement built at run time: `$n` for
/// PostgreSQL, an anonymous `?` for SQLite (parameters are bound in order either way).
///
/// Why not `$n` everywhere: sqlx's SQLite driver asks SQLite for the name of every
/// parameter of a statement each time it binds, and SQLite finds a parameter's name by
/// scanning the statement's list of names, so binding a statement of `n` named
/// parameters costs time proportional to `n²`. Anonymous parameters have no names to
/// scan. (With `$n`, a 64-row INSERT of 832 parameters spent about 40% of the catalog
/// thread's CPU binding; at 16 rows, what remained was still about 1.3% of a whole
/// 50,000-message import, perf.)
fn push_param(sql: &mut String, backend: Backend, n: usize) {
    match backend {
        Backend::Sqlite => sql.push('?'),
        Backend::Postgres => {
            sql.push('$');
            sql.push_str(&n.to_string());
        }
    }
}

/// The parameter list of an `IN (...)` clause with `n` keys (`$1, $2, ..., $n` or
/// `?, ?, ..., ?`, see [`push_param`]).
pub(crate) fn in_list(backend: Backend, n: usize) -> String {
    let mut sql = String::with_capacity(n * 5);
    for i in 1..=n {
        if i > 1 {
            sql.push_str(", ");
        }
        push_param(&mut sql, backend, i);
    }
    sql
}

impl Catalog {
    /// Opens (creating if needed) the SQLite catalog file at `path`.
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        Self::connect(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Connects to `sqlite://...` or `postgres://...` and runs the migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(Error::UnsupportedUrl(url.to_string()));
        };
        let options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        // Statement journals (a multi-row INSERT that can fail on a
                        // constraint keeps one, to undo just that statement) and sorters
                        // stay in memory instead of spilling to files under /var/tmp.
                        conn.execute("PRAGMA temp_store = MEMORY").await?;
                        // Deleted rows are overwritten with zeros, not left in free
                        // space: nothing of a disposed message (its links, its dates,
                        // its identity) may survive in the file (`remove_disposed`).
                        conn.execute("PRAGMA secure_delete = ON").await?;
                    }
                    Ok(())
                })
            });
        let pool = options.connect(url).await?;
        let before = applied_migration(&pool).await;
        match backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&pool).await?,
        }
        // 0015 and 0016 rewrote the message tables of an existing catalog: SQLite keeps
        // the pages of the old ones as free pages inside the file until VACUUM gives
        // them back.
        if backend == Backend::Sqlite && (1..COMPACT_TABLES_MIGRATION).contains(&before) {
            pool.execute("VACUUM").await?;
        }
        Ok(Self {
            pool,
            backend,
            mailbox_ids: Mutex::new(HashMap::new()),
            mailbox_addresses: Mutex::new(HashMap::new()),
        })
    }

    /// Which database is behind the catalog.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool (for sibling modules of later features).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Moves SQLite's write-ahead log into the database file and truncates it (after
    /// bulk work: an import leaves a WAL of several MB that otherwise stays until the
    /// last connection closes cleanly). Nothing to do for PostgreSQL.
    pub async fn checkpoint_wal(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Closes the pool (flushes SQLite's WAL on the last connection).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The high-water mark of a volume: the last record sequence applied (0 if none).
    pub async fn high_water(&self, purpose: &str, year: i32) -> Result<u64> {
        let row =
            sqlx::query("SELECT applied_seq FROM high_water WHERE purpose = $1 AND year = $2")
                .bind(purpose)
                .bind(i64::from(year))
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some(r) => to_u64(r.try_get::<i64, _>(0)?)?,
            None => 0,
        })
    }

    /// Applies a batch of derived rows and moves the high-water mark, atomically.
    pub async fn apply(&self, batch: &ApplyBatch) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let mut new_mailboxes: HashMap<String, i64> = HashMap::new();
        // Mailbox ids first: a message row carries those its record names.
        let mut resolved: HashMap<String, i64> = HashMap::new();
        for item in &batch.items {
            let mailboxes = match item {
                Applied::Message(doc) => &doc.mailboxes,
                Applied::Link { mailboxes, .. } => mailboxes,
            };
            for address in mailboxes {
                let address = address.to_ascii_lowercase();
                if let std::collections::hash_map::Entry::Vacant(entry) = resolved.entry(address) {
                    let id = self
                        .resolve_mailbox(&mut tx, &mut new_mailboxes, entry.key())
                        .await?;
                    entry.insert(id);
                }
            }
        }
        let ids_of = |mailboxes: &[String]| -> Vec<i64> {
            mailboxes
                .iter()
                .filter_map(|a| resolved.get(&a.to_ascii_lowercase()).copied())
                .collect()
        };
        let messages: Vec<(&MessageDoc, Option<String>)> = batch
            .items
            .iter()
            .filter_map(|a| match a {
                Applied::Message(doc) => {
                    Some((doc.as_ref(), mailbox_list::encode(ids_of(&doc.mailboxes))))
                }
                Applied::Link { .. } => None,
            })
            .collect();
        for chunk in messages.chunks(ROWS_PER_INSERT) {
            let sql = multi_row_insert(
                self.backend,
                "INSERT INTO messages (id, sha256, identity, date, received, size, attachments, flags, mailboxes) VALUES ",
                9,
                chunk.len(),
                " ON CONFLICT DO NOTHING",
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (doc, mailboxes) in chunk {
                q = q
                    .bind(key_of(doc.id)?)
                    .bind(doc.sha256.0.to_vec())
                    .bind(doc.identity.map(|d| d.0.to_vec()))
                    .bind(doc.date)
                    .bind(doc.received)
                    .bind(to_i64(doc.size)?)
                    .bind(doc.attachments.len() as i64)
                    .bind(i64::from(doc.flags.0))
                    .bind(mailboxes.clone());
            }
            q.execute(&mut *tx).await?;
        }
        // Links named by link records get rows of their own, with that record's key.
        let mut links: Vec<(i64, i64, i64)> = Vec::new();
        for item in &batch.items {
            if let Applied::Link {
                target,
                mailboxes,
                via,
            } = item
            {
                let (message, via) = (key_of(*target)?, key_of(*via)?);
                links.extend(ids_of(mailboxes).into_iter().map(|m| (message, m, via)));
            }
        }
        for chunk in links.chunks(ROWS_PER_INSERT) {
            let sql = multi_row_insert(
                self.backend,
                "INSERT INTO message_links (message, mailbox, via) VALUES ",
                3,
                chunk.len(),
                " ON CONFLICT DO NOTHING",
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (message, mailbox, via) in chunk {
                q = q.bind(*message).bind(*mailbox).bind(*via);
            }
            q.execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO high_water (purpose, year, applied_seq) VALUES ($1, $2, $3) \
             ON CONFLICT (purpose, year) DO UPDATE SET applied_seq = excluded.applied_seq",
        )
        .bind(batch.purpose)
        .bind(i64::from(batch.year))
        .bind(to_i64(batch.up_to_seq)?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if !new_mailboxes.is_empty() {
            self.lock_ids().extend(new_mailboxes);
        }
        Ok(())
    }

    fn lock_ids(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.mailbox_ids.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cached_mailbox(&self, address: &str) -> Option<i64> {
        self.lock_ids().get(address).copied()
    }

    /// The id of mailbox `address` (lowercased): cached, created in this batch, or
    /// looked up (inserted first when new, inside `tx`).
    async fn resolve_mailbox(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        new_mailboxes: &mut HashMap<String, i64>,
        address: &str,
    ) -> Result<i64> {
        if let Some(id) = self
            .cached_mailbox(address)
            .or_else(|| new_mailboxes.get(address).copied())
        {
            return Ok(id);
        }
        let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        sqlx::query(
            "INSERT INTO mailboxes (address, domain) VALUES ($1, $2) ON CONFLICT (address) DO NOTHING",
        )
        .bind(address.to_string())
        .bind(domain.to_string())
        .execute(&mut **tx)
        .await?;
        let row = sqlx::query("SELECT id FROM mailboxes WHERE address = $1")
            .bind(address.to_string())
            .fetch_one(&mut **tx)
            .await?;
        let id: i64 = row.try_get(0)?;
        new_mailboxes.insert(address.to_string(), id);
        Ok(id)
    }

    /// The addresses of mailbox ids `ids` (cached; unknown ids are absent).
    async fn mailbox_addresses(&self, ids: &[i64]) -> Result<HashMap<i64, String>> {
        let mut out = HashMap::new();
        let mut missing: Vec<i64> = Vec::new();
        {
            let cache = self.lock_addresses();
            for id in ids {
                match cache.get(id) {
                    Some(address) => {
                        out.insert(*id, address.clone());
                    }
                    None => missing.push(*id),
                }
            }
        }
        missing.sort_unstable();
        missing.dedup();
        for chunk in missing.chunks(KEYS_PER_LOOKUP) {
            let sql = format!(
                "SELECT id, address FROM mailboxes WHERE id IN ({})",
                in_list(self.backend, chunk.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            let rows = q.fetch_all(&self.pool).await?;
            let mut cache = self.lock_addresses();
            for row in rows {
                let (id, address): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
                cache.insert(id, address.clone());
                out.insert(id, address);
            }
        }
        Ok(out)
    }

    fn lock_addresses(&self) -> std::sync::MutexGuard<'_, HashMap<i64, String>> {
        self.mailbox_addresses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Every mailbox link of the messages `keys` selects, as `(message key, mailbox id,
    /// via)`: those the message row lists (`via` `None`: the message record names them),
    /// then the rows of links named by link records.
    async fn link_rows(&self, keys: KeySelection<'_>) -> Result<Vec<(i64, i64, Option<i64>)>> {
        let (condition_m, condition_l, binds): (String, String, Vec<i64>) = match keys {
            KeySelection::Keys(keys) => {
                let list = in_list(self.backend, keys.len());
                (
                    format!("id IN ({list})"),
                    format!("message IN ({list})"),
                    keys.to_vec(),
                )
            }
            KeySelection::Range(from, to) => {
                let mut first = String::new();
                let mut second = String::new();
                push_param(&mut first, self.backend, 1);
                push_param(&mut second, self.backend, 2);
                (
                    format!("id >= {first} AND id <= {second}"),
                    format!("message >= {first} AND message <= {second}"),
                    vec![from, to],
                )
            }
        };
        let mut out = Vec::new();
        let sql = format!(
            "SELECT id, mailboxes FROM messages WHERE {condition_m} AND mailboxes IS NOT NULL"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for key in &binds {
            q = q.bind(*key);
        }
        for row in q.fetch_all(&self.pool).await? {
            let key: i64 = row.try_get(0)?;
            let list: String = row.try_get(1)?;
            for mailbox in mailbox_list::decode(&list)? {
                out.push((key, mailbox, None));
            }
        }
        let sql = format!("SELECT message, mailbox, via FROM message_links WHERE {condition_l}");
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for key in &binds {
            q = q.bind(*key);
        }
        for row in q.fetch_all(&self.pool).await? {
            out.push((row.try_get(0)?, row.try_get(1)?, Some(row.try_get(2)?)));
        }
        Ok(out)
    }

    /// [`Catalog::link_rows`] with each mailbox id resolved to its address: `(message
    /// key, address, via)`, the message row's own links first.
    async fn addressed_links(
        &self,
        keys: KeySelection<'_>,
    ) -> Result<Vec<(i64, String, Option<i64>)>> {
        let rows = self.link_rows(keys).await?;
        let ids: Vec<i64> = rows.iter().map(|(_, mailbox, _)| *mailbox).collect();
        let addresses = self.mailbox_addresses(&ids).await?;
        rows.into_iter()
            .map(|(key, mailbox, via)| Ok((key, known_address(&addresses, mailbox, key)?, via)))
            .collect()
    }

    /// The mailbox addresses of the messages `keys` selects, by message key, each list
    /// sorted and without repeats; messages without mailboxes are absent.
    async fn mailboxes_by_key(&self, keys: KeySelection<'_>) -> Result<HashMap<i64, Vec<String>>> {
        let mut out: HashMap<i64, Vec<String>> = HashMap::new();
        for (key, address, _) in self.addressed_links(keys).await? {
            out.entry(key).or_default().push(address);
        }
        for mailboxes in out.values_mut() {
            mailboxes.sort();
            mailboxes.dedup();
        }
        Ok(out)
    }

    /// Messages already archived with one of these SHA-256 digests, with their mailboxes
    /// (the newest message when two hold the same bytes).
    pub async fn find_by_sha256(
        &self,
        digests: &[Sha256],
    ) -> Result<HashMap<Sha256, KnownMessage>> {
        let mut out: HashMap<Sha256, KnownMessage> = HashMap::new();
        for chunk in digests.chunks(KEYS_PER_LOOKUP) {
            // The index holds the first 8 bytes; the full digest is compared here.
            let sql = format!(
                "SELECT sha256, id FROM messages WHERE substr(sha256, 1, 8) IN ({})",
                in_list(self.backend, chunk.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for d in chunk {
                q = q.bind(prefix(d).to_vec());
            }
            for row in q.fetch_all(&self.pool).await? {
                let sha = to_sha(row.try_get::<Vec<u8>, _>(0)?)?;
                if !chunk.contains(&sha) {
                    continue;
                }
                let id = from_key(row.try_get(1)?)?;
                let entry = out.entry(sha).or_insert_with(|| KnownMessage {
                    id,
                    mailboxes: Vec::new(),
                });
                // Two records of the same bytes (a copy stored while the other was being
                // disposed of): the newest is the one that stays.
                if id > entry.id {
                    entry.id = id;
                }
            }
        }
        let ids: Vec<MessageId> = out.values().map(|known| known.id).collect();
        let mut mailboxes = self.mailboxes_of_many(&ids).await?;
        for known in out.values_mut() {
            known.mailboxes = mailboxes.remove(&known.id).unwrap_or_default();
        }
        Ok(out)
    }

    /// A message with this identity (journal copies; see `coffer_ingest::identity`), with
    /// its mailboxes. The oldest one when several share it.
    pub async fn find_by_identity(&self, identity: &Sha256) -> Result<Option<KnownMessage>> {
        let row = sqlx::query(
            "SELECT id FROM messages WHERE substr(identity, 1, 8) = $1 AND identity = $2 \
             ORDER BY id LIMIT 1",
        )
        .bind(prefix(identity).to_vec())
        .bind(identity.0.to_vec())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id = from_key(row.try_get(0)?)?;
        let mailboxes = self.mailboxes_of(id).await?;
        Ok(Some(KnownMessage { id, mailboxes }))
    }

    /// One message by id.
    pub async fn message(&self, id: MessageId) -> Result<Option<MessageRow>> {
        // An id no volume can hold (a sequence number past the key's range) has no row.
        let Ok(key) = key_of(id) else {
            return Ok(None);
        };
        let row = sqlx::query(MESSAGE_SELECT_BY_ID)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        self.finish_row(row).await
    }

    /// One message by the SHA-256 of its original bytes (the newest when two hold them).
    pub async fn message_by_sha256(&self, sha: &Sha256) -> Result<Option<MessageRow>> {
        let row = sqlx::query(MESSAGE_SELECT_BY_SHA)
            .bind(prefix(sha).to_vec())
            .bind(sha.0.to_vec())
            .fetch_optional(&self.pool)
            .await?;
        self.finish_row(row).await
    }

    async fn finish_row(&self, row: Option<AnyRow>) -> Result<Option<MessageRow>> {
        let Some(row) = row else { return Ok(None) };
        let mut message = decode_message(&row)?;
        message.mailboxes = self.mailboxes_of(message.id).await?;
        Ok(Some(message))
    }

    /// The mailboxes of a message, sorted.
    pub async fn mailboxes_of(&self, id: MessageId) -> Result<Vec<String>> {
        let Ok(key) = key_of(id) else {
            return Ok(Vec::new());
        };
        let mut by_key = self.mailboxes_by_key(KeySelection::Keys(&[key])).await?;
        Ok(by_key.remove(&key).unwrap_or_default())
    }

    /// The mailboxes of each of `ids`, each list sorted; messages without mailboxes (or
    /// unknown) are absent.
    pub async fn mailboxes_of_many(
        &self,
        ids: &[MessageId],
    ) -> Result<HashMap<MessageId, Vec<String>>> {
        let keys: Vec<i64> = ids.iter().filter_map(|&id| key_of(id).ok()).collect();
        let mut out: HashMap<MessageId, Vec<String>> = HashMap::new();
        for chunk in keys.chunks(KEYS_PER_LOOKUP) {
            for (key, mailboxes) in self.mailboxes_by_key(KeySelection::Keys(chunk)).await? {
                out.insert(from_key(key)?, mailboxes);
            }
        }
        Ok(out)
    }

    /// The mailboxes of every message of volume `year` with a sequence number in
    /// `from_seq..=to_seq`, each list sorted; messages without mailboxes are absent.
    /// One query for a whole replay chunk instead of one per message (a range of keys).
    pub async fn mailboxes_in_range(
        &self,
        year: i32,
        from_seq: u64,
        to_seq: u64,
    ) -> Result<HashMap<u64, Vec<String>>> {
        let Some((from, to)) = key_range(year, from_seq, to_seq) else {
            return Ok(HashMap::new());
        };
        let mut out = HashMap::new();
        for (key, mailboxes) in self.mailboxes_by_key(KeySelection::Range(from, to)).await? {
            out.insert(from_key(key)?.seq, mailboxes);
        }
        Ok(out)
    }

    /// The record that names each of `mailboxes` as a mailbox of message `id`: a link
    /// record, or the message record itself (also for a link applied before provenance
    /// was kept, which only the message record can back; `coffer recatalog` records the
    /// rest). Mailboxes without a link are absent.
    pub async fn link_provenance(&self, id: MessageId) -> Result<HashMap<String, MessageId>> {
        let Ok(key) = key_of(id) else {
            return Ok(HashMap::new());
        };
        let mut out = HashMap::new();
        // The message record's own links come first and win over a link record naming
        // the same mailbox again.
        for (_, address, via) in self.addressed_links(KeySelection::Keys(&[key])).await? {
            let via = match via {
                Some(via) => from_key(via)?,
                None => id,
            };
            out.entry(address).or_insert(via);
        }
        Ok(out)
    }

    /// `(sequence, SHA-256)` of every message of a volume year, in sequence order (for
    /// cross-checking the catalog against the volume).
    pub async fn message_hashes(&self, year: i32) -> Result<Vec<(u64, Sha256)>> {
        let Some((from, to)) = key_range(year, 0, u64::MAX) else {
            return Ok(Vec::new());
        };
        let rows =
            sqlx::query("SELECT id, sha256 FROM messages WHERE id >= $1 AND id <= $2 ORDER BY id")
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    from_key(r.try_get(0)?)?.seq,
                    to_sha(r.try_get::<Vec<u8>, _>(1)?)?,
                ))
            })
            .collect()
    }

    /// Number of messages per volume year.
    pub async fn message_counts(&self) -> Result<HashMap<i32, u64>> {
        let sql =
            format!("SELECT id / {KEY_YEAR}, COUNT(*) FROM messages GROUP BY id / {KEY_YEAR}");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        let mut out = HashMap::new();
        for r in rows {
            let year = i32::try_from(r.try_get::<i64, _>(0)?)
                .map_err(|_| Error::Invalid("year".into()))?;
            out.insert(year, to_u64(r.try_get::<i64, _>(1)?)?);
        }
        Ok(out)
    }

    /// Removes every derived row of `purpose` (and its high-water marks), for a rebuild.
    pub async fn clear_derived(&self, purpose: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        if purpose == "mail" {
            tx.execute("DELETE FROM message_links").await?;
            tx.execute("DELETE FROM messages").await?;
            tx.execute("DELETE FROM mailboxes").await?;
        }
        if purpose == audit::AUDIT {
            tx.execute("DELETE FROM audit").await?;
        }
        sqlx::query("DELETE FROM high_water WHERE purpose = $1")
            .bind(purpose.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.lock_ids().clear();
        self.lock_addresses().clear();
        Ok(())
    }
}

/// The columns `decode_message` reads, in order.
macro_rules! message_columns {
    () => {
        "id, sha256, date, received, size, attachments, flags"
    };
}
const MESSAGE_SELECT_BY_ID: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE id = $1"
);
const MESSAGE_SELECT_BY_SHA: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE substr(sha256, 1, 8) = $1 AND sha256 = $2 ORDER BY id DESC LIMIT 1"
);

fn decode_message(row: &AnyRow) -> Result<MessageRow> {
    Ok(MessageRow {
        id: from_key(row.try_get(0)?)?,
        sha256: to_sha(row.try_get::<Vec<u8>, _>(1)?)?,
        date: row.try_get(2)?,
        received: row.try_get(3)?,
        size: to_u64(row.try_get::<i64, _>(4)?)?,
        attachments: u32::try_from(row.try_get::<i64, _>(5)?)
            .map_err(|_| Error::Invalid("attachments".into()))?,
        flags: u32::try_from(row.try_get::<i64, _>(6)?)
            .map_err(|_| Error::Invalid("flags".into()))?,
        mailboxes: Vec::new(),
    })
}

fn multi_row_insert(
    backend: Backend,
    prefix: &str,
    columns: usize,
    rows: usize,
    suffix: &str,
) -> String {
    let mut sql = String::with_capacity(prefix.len() + rows * columns * 5 + suffix.len());
    sql.push_str(prefix);
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            n += 1;
            push_param(&mut sql, backend, n);
        }
        sql.push(')');
    }
    sql.push_str(suffix);
    sql
}

pub(crate) fn to_i64(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::Invalid(format!("{v} does not fit a 64-bit signed column")))
}

pub(crate) fn to_u64(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::Invalid(format!("negative count {v}")))
}

fn to_sha(bytes: Vec<u8>) -> Result<Sha256> {
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| Error::Invalid("sha256 is not 32 bytes".into()))?;
    Ok(Sha256(arr))
}

/// A message's key in the catalog is `year * KEY_YEAR + seq`: one 64-bit integer (the
/// rowid on SQLite, so rows are stored in key order and a year is one key range) that
/// takes 6 bytes in a row, against 10 to 16 for the text "YEAR-SEQ" it replaces. Years
/// 0..=9999 (what a "YEAR-SEQ" id can say), sequence numbers below 10^10 per volume.
pub(crate) const KEY_YEAR: i64 = 10_000_000_000;

/// The catalog key of `id`, or `Invalid` for an id outside the key's range.
pub(crate) fn key_of(id: MessageId) -> Result<i64> {
    match i64::try_from(id.seq) {
        Ok(seq) if (0..=9999).contains(&id.year) && seq < KEY_YEAR => {
            Ok(i64::from(id.year) * KEY_YEAR + seq)
        }
        _ => Err(Error::Invalid(format!(
            "message id {id} is outside the catalog's key range"
        ))),
    }
}

/// The id of catalog key `key` (inverse of [`key_of`]).
pub(crate) fn from_key(key: i64) -> Result<MessageId> {
    let year = i32::try_from(key.div_euclid(KEY_YEAR))
        .ok()
        .filter(|y| (0..=9999).contains(y))
        .ok_or_else(|| Error::Invalid(format!("message key {key}")))?;
    Ok(MessageId::new(year, to_u64(key.rem_euclid(KEY_YEAR))?))
}

/// The keys of the messages of `year` with sequence numbers in `from_seq..=to_seq`
/// (clamped to what a key can hold); `None` when that is nothing.
pub(crate) fn key_range(year: i32, from_seq: u64, to_seq: u64) -> Option<(i64, i64)> {
    let last = (KEY_YEAR - 1) as u64;
    let to_seq = to_seq.min(last);
    if from_seq > to_seq {
        return None;
    }
    let from = key_of(MessageId::new(year, from_seq)).ok()?;
    let to = key_of(MessageId::new(year, to_seq)).ok()?;
    Some((from, to))
}

/// The first 8 bytes of a digest: what the `messages_sha256` and `messages_identity`
/// indexes hold (the full value stays in the row and is compared there).
fn prefix(digest: &Sha256) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest.0[..8]);
    out
}
