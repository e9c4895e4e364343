//! The audit trail's catalog rows: derived from the audit volumes (`<data>/audit`),
//! applied with their high-water mark (purpose [`AUDIT`] in `high_water`) in one
//! transaction, exactly like message rows, and filtered for `GET /api/v1/audit`.
//!
//! The volume records are the authority; `coffer-audit` writes them and replays what
//! this table misses on start-up.

use sqlx::{AssertSqlSafe, Row};

use crate::{Catalog, Result, to_i64, to_u64};

/// Purpose name of the audit volumes and their high-water marks.
pub const AUDIT: &str = "audit";

/// One audit entry as stored for filtering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Audit volume year.
    pub year: i32,
    /// Record sequence number in that volume.
    pub seq: u64,
    /// When, Unix microseconds.
    pub time_us: i64,
    /// Who.
    pub actor: String,
    /// What (`login`, `search`, `message.view`, ...).
    pub action: String,
    /// On what (message id, username, year; empty when none).
    pub target: String,
    /// `success`, `failure`, `denied` or `not_found`.
    pub outcome: String,
    /// Client address.
    pub client: String,
    /// JSON object with further facts (never message content).
    pub detail: String,
}

/// Filters for [`Catalog::audit_entries`]; every `Some` must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Exact actor.
    pub actor: Option<String>,
    /// Exact action, or a prefix when it ends with `.` or `*` (`message.`).
    pub action: Option<String>,
    /// Entries at or after this time (Unix microseconds).
    pub from_us: Option<i64>,
    /// Entries before this time (Unix microseconds).
    pub to_us: Option<i64>,
    /// Page size.
    pub limit: u64,
    /// Entries to skip.
    pub offset: u64,
}

impl Catalog {
    /// Applies audit rows of one volume and moves its high-water mark to `up_to_seq`,
    /// atomically. Idempotent.
    pub async fn apply_audit(&self, year: i32, up_to_seq: u64, rows: &[AuditRow]) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        for row in rows {
            sqlx::query(
                "INSERT INTO audit (year, seq, time_us, actor, action, target, outcome, client, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
            )
            .bind(i64::from(row.year))
            .bind(to_i64(row.seq)?)
            .bind(row.time_us)
            .bind(row.actor.clone())
            .bind(row.action.clone())
            .bind(row.target.clone())
            .bind(row.outcome.clone())
            .bind(row.client.clone())
            .bind(row.detail.clone())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO high_water (purpose, year, applied_seq) VALUES ($1, $2, $3) \
             ON CONFLICT (purpose, year) DO UPDATE SET applied_seq = excluded.applied_seq",
        )
        .bind(AUDIT)
        .bind(i64::from(year))
        .bind(to_i64(up_to_seq)?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The matching entries, newest first, and how many match in all.
    pub async fn audit_entries(&self, filter: &AuditFilter) -> Result<(u64, Vec<AuditRow>)> {
        let mut clauses: Vec<String> = Vec::new();
        let mut binds: Vec<Bind> = Vec::new();
        if let Some(actor) = &filter.actor {
            binds.push(Bind::Text(actor.clone()));
            clauses.push(format!("actor = ${}", binds.len()));
        }
        if let Some(action) = &filter.action {
            if let Some(prefix) = action
                .strip_suffix('*')
                .or_else(|| action.ends_with('.').then_some(action.as_str()))
            {
                // Prefix match without LIKE wildcards: compare the leading characters
                // (the length is a number we computed, so it is inlined: PostgreSQL has
                // no SUBSTR(text, int, bigint)).
                binds.push(Bind::Text(prefix.to_string()));
                clauses.push(format!(
                    "SUBSTR(action, 1, {}) = ${}",
                    prefix.chars().count(),
                    binds.len()
                ));
            } else {
                binds.push(Bind::Text(action.clone()));
                clauses.push(format!("action = ${}", binds.len()));
            }
        }
        if let Some(from) = filter.from_us {
            binds.push(Bind::Int(from));
            clauses.push(format!("time_us >= ${}", binds.len()));
        }
        if let Some(to) = filter.to_us {
            binds.push(Bind::Int(to));
            clauses.push(format!("time_us < ${}", binds.len()));
        }
        let condition = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        let count_sql = format!("SELECT COUNT(*) FROM audit{condition}");
        let mut count = sqlx::query(AssertSqlSafe(count_sql));
        for b in &binds {
            count = b.bind(count);
        }
        let total = to_u64(count.fetch_one(self.pool()).await?.try_get::<i64, _>(0)?)?;
        let page_sql = format!(
            "SELECT year, seq, time_us, actor, action, target, outcome, client, detail FROM audit{condition} \
             ORDER BY time_us DESC, year DESC, seq DESC LIMIT ${} OFFSET ${}",
            binds.len() + 1,
            binds.len() + 2
        );
        let mut page = sqlx::query(AssertSqlSafe(page_sql));
        for b in &binds {
            page = b.bind(page);
        }
        let rows = page
            .bind(to_i64(filter.limit)?)
            .bind(to_i64(filter.offset)?)
            .fetch_all(self.pool())
            .await?;
        let entries = rows
            .iter()
            .map(|r| {
                Ok(AuditRow {
                    year: i32::try_from(r.try_get::<i64, _>(0)?)
                        .map_err(|_| crate::Error::Invalid("audit year".into()))?,
                    seq: to_u64(r.try_get::<i64, _>(1)?)?,
                    time_us: r.try_get(2)?,
                    actor: r.try_get(3)?,
                    action: r.try_get(4)?,
                    target: r.try_get(5)?,
                    outcome: r.try_get(6)?,
                    client: r.try_get(7)?,
                    detail: r.try_get(8)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((total, entries))
    }
}

impl Catalog {
    /// Every audit row of `year`, by sequence number (for the cross-check against the
    /// audit volume).
    pub async fn audit_rows(&self, year: i32) -> Result<Vec<AuditRow>> {
        let rows = sqlx::query(
            "SELECT year, seq, time_us, actor, action, target, outcome, client, detail \
             FROM audit WHERE year = $1 ORDER BY seq",
        )
        .bind(i64::from(year))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let year: i64 = r.try_get(0)?;
                Ok(AuditRow {
                    year: year as i32,
                    seq: to_u64(r.try_get(1)?)?,
                    time_us: r.try_get(2)?,
                    actor: r.try_get(3)?,
                    action: r.try_get(4)?,
                    target: r.try_get(5)?,
                    outcome: r.try_get(6)?,
                    client: r.try_get(7)?,
                    detail: r.try_get(8)?,
                })
            })
            .collect()
    }

    /// The years that have audit rows.
    pub async fn audit_years(&self) -> Result<Vec<i32>> {
        let rows = sqlx::query("SELECT DISTINCT year FROM audit ORDER BY year")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<i64, _>(0)? as i32))
            .collect()
    }
}

enum Bind {
    Text(String),
    Int(i64),
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

impl Bind {
    fn bind<'q>(&self, q: AnyQuery<'q>) -> AnyQuery<'q> {
        match self {
            Bind::Text(s) => q.bind(s.clone()),
            Bind::Int(i) => q.bind(*i),
        }
    }
}
