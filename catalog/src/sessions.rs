//! Login sessions and long-lived API tokens.
//!
//! Only the SHA-256 of a bearer token is stored, so a copy of the catalog does not hold
//! usable credentials. A session is valid while it is neither revoked nor expired and
//! its user is not disabled; the check is one query ([`Catalog::session_user`]).

use coffer_model::Role;
use sqlx::Row;

use crate::users::UserRecord;
use crate::{Catalog, Error, Result};

/// A long-lived API token (mail servers submitting journal copies).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiTokenRecord {
    /// Token id.
    pub id: i64,
    /// Name given at creation (what the audit trail names as the actor).
    pub name: String,
    /// Role (`journal`).
    pub role: Role,
    /// Creation time, Unix seconds.
    pub created: i64,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// How often a session's last use is written, seconds (the precision of the
/// inactivity timeout).
const SEEN_GRANULARITY: i64 = 60;

impl Catalog {
    /// Stores a new session for `user_id`, valid until `expires` (Unix seconds).
    pub async fn create_session(
        &self,
        token_hash: &[u8; 32],
        user_id: i64,
        now: i64,
        expires: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created, expires, revoked) VALUES ($1, $2, $3, $4, 0)")
            .bind(token_hash.to_vec())
            .bind(user_id)
            .bind(now)
            .bind(expires)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The user of a valid session (not revoked, not expired at `now`, used within the
    /// last `idle` seconds, user enabled). Records the use (at most once a minute, so a
    /// busy session does not write on every request).
    pub async fn session_user(
        &self,
        token_hash: &[u8; 32],
        now: i64,
        idle: i64,
    ) -> Result<Option<UserRecord>> {
        let row = sqlx::query(
            "SELECT s.user_id, s.last_seen FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.revoked = 0 AND s.expires > $2 AND u.disabled = 0 \
             AND (CASE WHEN s.last_seen > s.created THEN s.last_seen ELSE s.created END) > $3",
        )
        .bind(token_hash.to_vec())
        .bind(now)
        .bind(now.saturating_sub(idle))
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let last_seen: i64 = row.try_get(1)?;
        if last_seen < now.saturating_sub(SEEN_GRANULARITY) {
            sqlx::query("UPDATE sessions SET last_seen = $1 WHERE token_hash = $2")
                .bind(now)
                .bind(token_hash.to_vec())
                .execute(self.pool())
                .await?;
        }
        self.user_by_id(row.try_get(0)?).await
    }

    /// Revokes one session; false when it did not exist or was already revoked.
    pub async fn revoke_session(&self, token_hash: &[u8; 32]) -> Result<bool> {
        let done =
            sqlx::query("UPDATE sessions SET revoked = 1 WHERE token_hash = $1 AND revoked = 0")
                .bind(token_hash.to_vec())
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes sessions that expired before `now` (housekeeping); returns how many.
    pub async fn purge_expired_sessions(&self, now: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Stores a new API token; [`Error::Conflict`] when the name is taken.
    pub async fn create_api_token(
        &self,
        name: &str,
        token_hash: &[u8; 32],
        role: Role,
        now: i64,
    ) -> Result<ApiTokenRecord> {
        let name = name.trim().to_string();
        let inserted = sqlx::query(
            "INSERT INTO api_tokens (name, token_hash, role, created, revoked) VALUES ($1, $2, $3, $4, 0) RETURNING id",
        )
        .bind(name.clone())
        .bind(token_hash.to_vec())
        .bind(role.as_str())
        .bind(now)
        .fetch_one(self.pool())
        .await;
        let id: i64 = match inserted {
            Ok(row) => row.try_get(0)?,
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(Error::Conflict(format!("a token named {name:?} exists")));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(ApiTokenRecord {
            id,
            name,
            role,
            created: now,
            revoked: false,
        })
    }

    /// The API token with this hash, if it exists and is not revoked.
    pub async fn api_token(&self, token_hash: &[u8; 32]) -> Result<Option<ApiTokenRecord>> {
        let row = sqlx::query("SELECT id, name, role, created, revoked FROM api_tokens WHERE token_hash = $1 AND revoked = 0")
            .bind(token_hash.to_vec())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| decode_token(&r)).transpose()
    }

    /// Every API token (never the secret), by name.
    pub async fn list_api_tokens(&self) -> Result<Vec<ApiTokenRecord>> {
        let rows =
            sqlx::query("SELECT id, name, role, created, revoked FROM api_tokens ORDER BY name")
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(decode_token).collect()
    }

    /// Revokes an API token by name; false when there was no such live token.
    pub async fn revoke_api_token(&self, name: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE api_tokens SET revoked = 1 WHERE name = $1 AND revoked = 0")
            .bind(name.trim().to_string())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

fn decode_token(row: &sqlx::any::AnyRow) -> Result<ApiTokenRecord> {
    Ok(ApiTokenRecord {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        role: row
            .try_get::<String, _>(2)?
            .parse()
            .map_err(|e: String| Error::Invalid(format!("stored token role: {e}")))?,
        created: row.try_get(3)?,
        revoked: row.try_get::<i64, _>(4)? != 0,
    })
}
