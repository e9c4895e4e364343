//! `GET /api/v1/audit`: the audit trail, newest first, filtered by actor, action
//! (exact, or a prefix ending in `.` or `*`) and time range. Admins and auditors read
//! everything; an officer reads only their own actions.

use axum::extract::State;
use coffer_catalog::audit::AuditFilter;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, cap};
use crate::error::{ApiError, AppJson, AppQuery, ErrorResponse};
use crate::routes::{parse_time, rfc3339_us};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditParams {
    /// Exact actor (username, token name, `anonymous`).
    actor: Option<String>,
    /// Exact action, or a prefix ending in `.` or `*` (`message.`).
    action: Option<String>,
    /// From this time on (RFC 3339 or Unix seconds).
    from: Option<String>,
    /// Before this time (RFC 3339 or Unix seconds).
    to: Option<String>,
    /// Page size (default 100, at most 1000).
    limit: Option<u64>,
    /// Entries to skip.
    offset: Option<u64>,
}

/// One entry.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct EntryView {
    /// When (RFC 3339, microseconds).
    time: String,
    /// Who.
    actor: String,
    /// What.
    action: String,
    /// On what.
    target: String,
    /// `success`, `failure`, `denied` or `not_found`.
    outcome: String,
    /// Client address.
    client: String,
    /// Further facts (ids, hashes, counts, query text).
    #[schema(value_type = Object)]
    detail: serde_json::Value,
    /// Audit volume year.
    year: i32,
    /// Record sequence number in that volume.
    seq: u64,
}

/// A page of entries.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AuditPage {
    /// Every matching entry.
    total: u64,
    /// The page, newest first.
    entries: Vec<EntryView>,
}

/// Read the audit trail.
#[utoipa::path(get, path = "/audit", tag = "audit", security(("bearer" = [])), params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse)))]
async fn list(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ReadAudit>,
    AppQuery(params): AppQuery<AuditParams>,
) -> Result<AppJson<AuditPage>, ApiError> {
    let limit = params.limit.unwrap_or(100);
    if limit > 1000 {
        return Err(ApiError::BadRequest("limit is at most 1000".into()));
    }
    let mut actor = params.actor;
    if let Some(own) = caller.audit_actor_restriction() {
        if actor.as_deref().is_some_and(|a| a != own) {
            return Ok(AppJson(AuditPage {
                total: 0,
                entries: Vec::new(),
            }));
        }
        actor = Some(own.to_string());
    }
    let filter = AuditFilter {
        actor,
        action: params.action,
        from_us: params
            .from
            .as_deref()
            .map(|v| parse_time("from", v))
            .transpose()?,
        to_us: params
            .to
            .as_deref()
            .map(|v| parse_time("to", v))
            .transpose()?,
        limit,
        offset: params.offset.unwrap_or(0),
    };
    // The catalog rows are applied in the background: catch up first, so the answer
    // holds every durable entry.
    state.audit().catch_up().await?;
    let (total, rows) = state.catalog().audit_entries(&filter).await?;
    let entries = rows
        .into_iter()
        .map(|r| EntryView {
            time: rfc3339_us(r.time_us),
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
            actor: r.actor,
            action: r.action,
            target: r.target,
            outcome: r.outcome,
            client: r.client,
            year: r.year,
            seq: r.seq,
        })
        .collect();
    Ok(AppJson(AuditPage { total, entries }))
}
