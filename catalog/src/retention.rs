//! Retention's tables (migration 0011): policies with their versions, assignments,
//! proposals awaiting a second administrator, legal holds — and the facts about
//! messages the retention engine decides on (dates, flags, mailboxes with their domains
//! and their owners' groups).
//!
//! The rules (what wins, what needs approval) live in `coffer-retention`; this module
//! only stores and reads. Policy periods are stored as their text ("7y") and hold scopes
//! as JSON, so the catalog needs no knowledge of either.

use std::collections::{BTreeMap, HashMap};

use coffer_model::MessageId;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Catalog, Error, KEYS_PER_LOOKUP, Result, in_list, to_i64};

/// A policy as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRecord {
    /// Name.
    pub name: String,
    /// Period text (`90d`, `7y`, `forever`).
    pub period: String,
    /// Version (1 when created).
    pub version: i64,
    /// Last changed, Unix seconds.
    pub updated: i64,
    /// Who changed it last.
    pub updated_by: String,
}

/// One version of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersionRecord {
    /// Name.
    pub name: String,
    /// Version.
    pub version: i64,
    /// Period text.
    pub period: String,
    /// When, Unix seconds.
    pub changed: i64,
    /// Who proposed or made the change.
    pub changed_by: String,
    /// Who approved it (a shortening), if anyone had to.
    pub approved_by: Option<String>,
}

/// An assignment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentRecord {
    /// `default`, `domain`, `group` or `mailbox`.
    pub target_kind: String,
    /// The domain, group or mailbox; empty for the default.
    pub target: String,
    /// The policy's name.
    pub policy: String,
    /// When, Unix seconds.
    pub assigned: i64,
    /// By whom.
    pub assigned_by: String,
}

/// A proposed change awaiting approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalRecord {
    /// Id.
    pub id: i64,
    /// The change (JSON, as the retention crate wrote it).
    pub change: String,
    /// One line saying what it does.
    pub summary: String,
    /// Who proposed it.
    pub proposed_by: String,
    /// When, Unix seconds.
    pub proposed: i64,
    /// `pending`, `approved` or `rejected`.
    pub state: String,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When, Unix seconds.
    pub decided: Option<i64>,
}

/// A legal hold as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRecord {
    /// Id.
    pub id: i64,
    /// Name (the matter).
    pub name: String,
    /// Why.
    pub reason: String,
    /// What it covers (JSON).
    pub scope: String,
    /// The placing officer's domains (JSON array; `["*"]` for all).
    pub domains: String,
    /// Who placed it.
    pub placed_by: String,
    /// When, Unix microseconds.
    pub placed_us: i64,
    /// Who released it.
    pub released_by: Option<String>,
    /// When, Unix microseconds.
    pub released_us: Option<i64>,
    /// Why it was released.
    pub release_reason: Option<String>,
}

/// A new hold.
#[derive(Debug, Clone)]
pub struct NewHold {
    /// Name.
    pub name: String,
    /// Why.
    pub reason: String,
    /// Scope (JSON).
    pub scope: String,
    /// The placing officer's domains (JSON).
    pub domains: String,
    /// Who.
    pub placed_by: String,
    /// When, Unix microseconds.
    pub placed_us: i64,
}

/// What retention needs to know about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRetentionRow {
    /// The message.
    pub id: MessageId,
    /// Its date, Unix seconds.
    pub date: Option<i64>,
    /// Receive time, Unix seconds.
    pub received: i64,
    /// `MessageFlags` bits.
    pub flags: i64,
    /// Its mailboxes (lowercase addresses).
    pub mailboxes: Vec<String>,
}

fn policy(row: &AnyRow) -> Result<PolicyRecord> {
    Ok(PolicyRecord {
        name: row.try_get(0)?,
        period: row.try_get(1)?,
        version: row.try_get(2)?,
        updated: row.try_get(3)?,
        updated_by: row.try_get(4)?,
    })
}

fn proposal(row: &AnyRow) -> Result<ProposalRecord> {
    Ok(ProposalRecord {
        id: row.try_get(0)?,
        change: row.try_get(1)?,
        summary: row.try_get(2)?,
        proposed_by: row.try_get(3)?,
        proposed: row.try_get(4)?,
        state: row.try_get(5)?,
        decided_by: row.try_get(6)?,
        decided: row.try_get(7)?,
    })
}

fn hold(row: &AnyRow) -> Result<HoldRecord> {
    Ok(HoldRecord {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        reason: row.try_get(2)?,
        scope: row.try_get(3)?,
        domains: row.try_get(4)?,
        placed_by: row.try_get(5)?,
        placed_us: row.try_get(6)?,
        released_by: row.try_get(7)?,
        released_us: row.try_get(8)?,
        release_reason: row.try_get(9)?,
    })
}

const HOLD_COLUMNS: &str = "id, name, reason, scope, domains, placed_by, placed_us, released_by, released_us, release_reason";
const PROPOSAL_COLUMNS: &str =
    "id, change, summary, proposed_by, proposed, state, decided_by, decided";

impl Catalog {
    /// Every policy, by name.
    pub async fn retention_policies(&self) -> Result<Vec<PolicyRecord>> {
        let rows = sqlx::query(
            "SELECT name, period, version, updated, updated_by FROM retention_policies ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(policy).collect()
    }

    /// Creates a policy (version 1) or changes its period (one version more), and keeps
    /// the version in the history, in one transaction.
    pub async fn set_retention_policy(
        &self,
        name: &str,
        period: &str,
        by: &str,
        approved_by: Option<&str>,
        now: i64,
    ) -> Result<PolicyRecord> {
        // The write comes first: a transaction that reads before it writes would fail
        // with SQLITE_BUSY when another writer commits in between (no busy wait helps).
        let mut tx = self.pool().begin().await?;
        let version: i64 = sqlx::query(
            "INSERT INTO retention_policies (name, period, version, updated, updated_by) VALUES ($1, $2, 1, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET period = excluded.period, version = retention_policies.version + 1, \
             updated = excluded.updated, updated_by = excluded.updated_by RETURNING version",
        )
        .bind(name.to_string())
        .bind(period.to_string())
        .bind(now)
        .bind(by.to_string())
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        sqlx::query(
            "INSERT INTO retention_policy_versions (name, version, period, changed, changed_by, approved_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(name.to_string())
        .bind(version)
        .bind(period.to_string())
        .bind(now)
        .bind(by.to_string())
        .bind(approved_by.map(str::to_string))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(PolicyRecord {
            name: name.to_string(),
            period: period.to_string(),
            version,
            updated: now,
            updated_by: by.to_string(),
        })
    }

    /// Every version of every policy, by name then version.
    pub async fn retention_policy_versions(&self) -> Result<Vec<PolicyVersionRecord>> {
        let rows = sqlx::query(
            "SELECT name, version, period, changed, changed_by, approved_by \
             FROM retention_policy_versions ORDER BY name, version",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PolicyVersionRecord {
                    name: r.try_get(0)?,
                    version: r.try_get(1)?,
                    period: r.try_get(2)?,
                    changed: r.try_get(3)?,
                    changed_by: r.try_get(4)?,
                    approved_by: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Every assignment.
    pub async fn retention_assignments(&self) -> Result<Vec<AssignmentRecord>> {
        let rows = sqlx::query(
            "SELECT target_kind, target, policy, assigned, assigned_by FROM retention_assignments \
             ORDER BY target_kind, target",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AssignmentRecord {
                    target_kind: r.try_get(0)?,
                    target: r.try_get(1)?,
                    policy: r.try_get(2)?,
                    assigned: r.try_get(3)?,
                    assigned_by: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Assigns `policy` to a target (replacing what it had).
    pub async fn assign_retention(&self, record: &AssignmentRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO retention_assignments (target_kind, target, policy, assigned, assigned_by) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (target_kind, target) DO UPDATE SET \
             policy = excluded.policy, assigned = excluded.assigned, assigned_by = excluded.assigned_by",
        )
        .bind(record.target_kind.clone())
        .bind(record.target.clone())
        .bind(record.policy.clone())
        .bind(record.assigned)
        .bind(record.assigned_by.clone())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Removes a target's assignment; whether there was one.
    pub async fn unassign_retention(&self, target_kind: &str, target: &str) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM retention_assignments WHERE target_kind = $1 AND target = $2")
                .bind(target_kind.to_string())
                .bind(target.to_string())
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a proposal awaiting approval.
    pub async fn create_retention_proposal(
        &self,
        change: &str,
        summary: &str,
        by: &str,
        now: i64,
    ) -> Result<ProposalRecord> {
        let row = sqlx::query(
            "INSERT INTO retention_proposals (change, summary, proposed_by, proposed, state) \
             VALUES ($1, $2, $3, $4, 'pending') RETURNING id",
        )
        .bind(change.to_string())
        .bind(summary.to_string())
        .bind(by.to_string())
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        let id: i64 = row.try_get(0)?;
        self.retention_proposal(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("proposal {id} vanished")))
    }

    /// Rows of `table` (one by `id`, or all in `order`), mapped by `map`.
    async fn select<T>(
        &self,
        table: &str,
        columns: &str,
        id: Option<i64>,
        order: &str,
        map: fn(&AnyRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let filter = if id.is_some() { "WHERE id = $1" } else { "" };
        let sql = format!("SELECT {columns} FROM {table} {filter} ORDER BY {order}");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(id) = id {
            query = query.bind(id);
        }
        query
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(map)
            .collect()
    }

    /// One proposal.
    pub async fn retention_proposal(&self, id: i64) -> Result<Option<ProposalRecord>> {
        let found = self
            .select(
                "retention_proposals",
                PROPOSAL_COLUMNS,
                Some(id),
                "id",
                proposal,
            )
            .await?;
        Ok(found.into_iter().next())
    }

    /// Every proposal, newest first.
    pub async fn retention_proposals(&self) -> Result<Vec<ProposalRecord>> {
        self.select(
            "retention_proposals",
            PROPOSAL_COLUMNS,
            None,
            "id DESC",
            proposal,
        )
        .await
    }

    /// Decides a pending proposal (`approved` or `rejected`); false when it was not
    /// pending any more (decided concurrently).
    pub async fn decide_retention_proposal(
        &self,
        id: i64,
        state: &str,
        by: &str,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE retention_proposals SET state = $1, decided_by = $2, decided = $3 \
             WHERE id = $4 AND state = 'pending'",
        )
        .bind(state.to_string())
        .bind(by.to_string())
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Places a hold.
    pub async fn create_hold(&self, new: &NewHold) -> Result<HoldRecord> {
        let inserted = sqlx::query(
            "INSERT INTO legal_holds (name, reason, scope, domains, placed_by, placed_us) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(new.name.clone())
        .bind(new.reason.clone())
        .bind(new.scope.clone())
        .bind(new.domains.clone())
        .bind(new.placed_by.clone())
        .bind(new.placed_us)
        .fetch_one(self.pool())
        .await;
        let id: i64 = match inserted {
            Ok(row) => row.try_get(0)?,
            Err(e) if crate::users::is_unique_violation(&e) => {
                return Err(Error::Conflict(format!(
                    "a hold named {:?} exists",
                    new.name
                )));
            }
            Err(e) => return Err(e.into()),
        };
        self.hold(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("hold {id} vanished")))
    }

    /// One hold.
    pub async fn hold(&self, id: i64) -> Result<Option<HoldRecord>> {
        let found = self
            .select("legal_holds", HOLD_COLUMNS, Some(id), "id", hold)
            .await?;
        Ok(found.into_iter().next())
    }

    /// Every hold, released ones included, by id.
    pub async fn holds(&self) -> Result<Vec<HoldRecord>> {
        self.select("legal_holds", HOLD_COLUMNS, None, "id", hold)
            .await
    }

    /// Releases a hold in force; false when it was released already.
    pub async fn release_hold(&self, id: i64, by: &str, now_us: i64, reason: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE legal_holds SET released_by = $1, released_us = $2, release_reason = $3 \
             WHERE id = $4 AND released_us IS NULL",
        )
        .bind(by.to_string())
        .bind(now_us)
        .bind(reason.to_string())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The retention facts of one message.
    pub async fn retention_row(&self, id: MessageId) -> Result<Option<MessageRetentionRow>> {
        let Ok(key) = crate::key_of(id) else {
            return Ok(None);
        };
        let row = sqlx::query("SELECT date, received, flags FROM messages WHERE id = $1")
            .bind(key)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(MessageRetentionRow {
            id,
            date: row.try_get(0)?,
            received: row.try_get(1)?,
            flags: row.try_get(2)?,
            mailboxes: self.mailboxes_of(id).await?,
        }))
    }

    /// The retention facts of up to `limit` messages of `year` after sequence number
    /// `after`, in order (a report walks the archive page by page).
    pub async fn retention_rows(
        &self,
        year: i32,
        after: u64,
        limit: u64,
    ) -> Result<Vec<MessageRetentionRow>> {
        let Some((from, to)) = crate::key_range(year, after.saturating_add(1), u64::MAX) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "SELECT id, date, received, flags FROM messages WHERE id >= $1 AND id <= $2 \
             ORDER BY id LIMIT $3",
        )
        .bind(from)
        .bind(to)
        .bind(to_i64(limit)?)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(MessageRetentionRow {
                id: crate::from_key(row.try_get(0)?)?,
                date: row.try_get(1)?,
                received: row.try_get(2)?,
                flags: row.try_get(3)?,
                mailboxes: Vec::new(),
            });
        }
        let ids: Vec<MessageId> = out.iter().map(|r| r.id).collect();
        let mut mailboxes = self.mailboxes_of_many(&ids).await?;
        for r in &mut out {
            r.mailboxes = mailboxes.remove(&r.id).unwrap_or_default();
        }
        Ok(out)
    }

    /// The groups of the users owning each of `addresses` (lowercase), for group
    /// policies; addresses no user owns are absent.
    pub async fn groups_of_mailboxes(
        &self,
        addresses: &[String],
    ) -> Result<HashMap<String, Vec<String>>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for chunk in addresses.chunks(KEYS_PER_LOOKUP) {
            let sql = format!(
                "SELECT um.address, g.name FROM user_mailboxes um \
                 JOIN group_members gm ON gm.user_id = um.user_id \
                 JOIN user_groups g ON g.id = gm.group_id \
                 WHERE um.address IN ({}) ORDER BY um.address, g.name",
                in_list(self.backend(), chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for a in chunk {
                q = q.bind(a.clone());
            }
            for row in q.fetch_all(self.pool()).await? {
                let address: String = row.try_get(0)?;
                let group: String = row.try_get(1)?;
                let groups = out.entry(address).or_default();
                if !groups.contains(&group) {
                    groups.push(group);
                }
            }
        }
        Ok(out.into_iter().collect())
    }
}
