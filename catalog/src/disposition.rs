//! Disposition runs (migration 0013): proposals of expired messages to dispose of, their
//! approval or rejection, their execution and certificate — and removing a disposed
//! message's rows (its metadata and mailbox links) from the catalog.
//!
//! The rules (four eyes, holds unchanged, every message decided again) live in
//! `coffer-retention`; this module only stores and reads. Counts, holds, items and the
//! certificate are stored as JSON text, so the catalog needs no knowledge of them.

use coffer_model::MessageId;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Catalog, Error, KEYS_PER_LOOKUP, Result, in_list};

/// A disposition run as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispositionRunRecord {
    /// Id.
    pub id: i64,
    /// `proposed`, `approved`, `executing`, `executed` or `rejected`.
    pub state: String,
    /// Who proposed it.
    pub proposed_by: String,
    /// When (Unix µs).
    pub proposed_us: i64,
    /// Who approved or rejected it.
    pub decided_by: Option<String>,
    /// When (Unix µs).
    pub decided_us: Option<i64>,
    /// When its execution ended (Unix µs).
    pub executed_us: Option<i64>,
    /// Holds in force at proposal (JSON list of ids).
    pub holds: String,
    /// Counts per policy and year (JSON).
    pub counts: String,
    /// Messages proposed.
    pub total: i64,
    /// The proposed messages (JSON).
    pub items: String,
    /// A rejection's reason.
    pub note: Option<String>,
    /// The signed certificate (JSON) once executed.
    pub certificate: Option<String>,
}

/// A new proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDispositionRun {
    /// Who proposes it.
    pub proposed_by: String,
    /// When (Unix µs).
    pub proposed_us: i64,
    /// Holds in force (JSON).
    pub holds: String,
    /// Counts (JSON).
    pub counts: String,
    /// Messages proposed.
    pub total: i64,
    /// The messages (JSON).
    pub items: String,
}

const RUN_COLUMNS: &str = "id, state, proposed_by, proposed_us, decided_by, decided_us, \
     executed_us, holds, counts, total, items, note, certificate";

fn run(row: &AnyRow) -> Result<DispositionRunRecord> {
    Ok(DispositionRunRecord {
        id: row.try_get(0)?,
        state: row.try_get(1)?,
        proposed_by: row.try_get(2)?,
        proposed_us: row.try_get(3)?,
        decided_by: row.try_get(4)?,
        decided_us: row.try_get(5)?,
        executed_us: row.try_get(6)?,
        holds: row.try_get(7)?,
        counts: row.try_get(8)?,
        total: row.try_get(9)?,
        items: row.try_get(10)?,
        note: row.try_get(11)?,
        certificate: row.try_get(12)?,
    })
}

impl Catalog {
    /// Stores a new proposal (state `proposed`).
    pub async fn create_disposition_run(
        &self,
        new: &NewDispositionRun,
    ) -> Result<DispositionRunRecord> {
        let row = sqlx::query(
            "INSERT INTO disposition_runs (state, proposed_by, proposed_us, holds, counts, total, items) \
             VALUES ('proposed', $1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(new.proposed_by.clone())
        .bind(new.proposed_us)
        .bind(new.holds.clone())
        .bind(new.counts.clone())
        .bind(new.total)
        .bind(new.items.clone())
        .fetch_one(self.pool())
        .await?;
        let id: i64 = row.try_get(0)?;
        self.disposition_run(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("disposition run {id} vanished")))
    }

    /// One run.
    pub async fn disposition_run(&self, id: i64) -> Result<Option<DispositionRunRecord>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM disposition_runs WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(run).transpose()
    }

    /// Every run, newest first.
    pub async fn disposition_runs(&self) -> Result<Vec<DispositionRunRecord>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM disposition_runs ORDER BY id DESC");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(run)
            .collect()
    }

    /// Moves run `id` from state `from` to `to`, recording who decided and when when
    /// `decided` is given; false when the run was not in state `from` (decided meanwhile).
    pub async fn move_disposition_run(
        &self,
        id: i64,
        from: &str,
        to: &str,
        decided: Option<(&str, i64)>,
        note: Option<&str>,
    ) -> Result<bool> {
        let done = match decided {
            Some((by, at)) => {
                sqlx::query(
                    "UPDATE disposition_runs SET state = $1, decided_by = $2, decided_us = $3, \
                     note = $4 WHERE id = $5 AND state = $6",
                )
                .bind(to.to_string())
                .bind(by.to_string())
                .bind(at)
                .bind(note.map(str::to_string))
                .bind(id)
                .bind(from.to_string())
                .execute(self.pool())
                .await?
            }
            None => {
                sqlx::query("UPDATE disposition_runs SET state = $1 WHERE id = $2 AND state = $3")
                    .bind(to.to_string())
                    .bind(id)
                    .bind(from.to_string())
                    .execute(self.pool())
                    .await?
            }
        };
        Ok(done.rows_affected() == 1)
    }

    /// Records run `id`'s certificate (state stays as it is).
    pub async fn set_disposition_certificate(&self, id: i64, certificate: &str) -> Result<()> {
        sqlx::query("UPDATE disposition_runs SET certificate = $1 WHERE id = $2")
            .bind(certificate.to_string())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Marks run `id` executed at `at_us`.
    pub async fn finish_disposition_run(&self, id: i64, at_us: i64) -> Result<()> {
        sqlx::query(
            "UPDATE disposition_runs SET state = 'executed', executed_us = $1 WHERE id = $2",
        )
        .bind(at_us)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Removes disposed messages from the catalog: their rows (date, identity, sizes,
    /// flags) and their mailbox links. Their ids and content hashes
    /// stay in the disposition certificate. Idempotent.
    pub async fn remove_disposed(&self, ids: &[MessageId]) -> Result<u64> {
        let mut removed = 0;
        // Ids outside the key range have no rows.
        let keys: Vec<i64> = ids
            .iter()
            .filter_map(|&id| crate::key_of(id).ok())
            .collect();
        for chunk in keys.chunks(KEYS_PER_LOOKUP) {
            let list = in_list(self.backend(), chunk.len());
            let mut tx = self.pool().begin().await?;
            let sql = format!("DELETE FROM message_links WHERE message IN ({list})");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for key in chunk {
                q = q.bind(*key);
            }
            q.execute(&mut *tx).await?;
            let sql = format!("DELETE FROM messages WHERE id IN ({list})");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for key in chunk {
                q = q.bind(*key);
            }
            removed += q.execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
        }
        Ok(removed)
    }
}
