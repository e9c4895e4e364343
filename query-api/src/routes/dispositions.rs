//! `/api/v1/dispositions`: disposition runs of expired mail (issue 26). An administrator
//! proposes a run (the eligible messages, counted per policy and year); a second,
//! different administrator approves it — the server then executes it by crypto-shredding
//! (see `coffer_retention::runs`) — or rejects it. Administrators, officers and auditors
//! read runs and their signed certificates. Every step is audited.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use coffer_catalog::disposition::DispositionRunRecord;
use coffer_retention::runs::CountLine;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, cap};
use crate::error::{ApiError, AppJson, AppPath, ErrorResponse};
use crate::routes::rfc3339_us;
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, propose))
        .routes(routes!(show))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(certificate))
}

/// Messages of one policy and year in a run.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CountView {
    /// The deciding policy.
    pub policy: String,
    /// The volume (receive) year.
    pub year: i32,
    /// Messages.
    pub messages: u64,
}

/// A disposition run.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DispositionView {
    /// Id.
    pub id: i64,
    /// `proposed`, `approved`, `executing`, `executed` or `rejected`.
    pub state: String,
    /// Who proposed it.
    pub proposed_by: String,
    /// When (RFC 3339).
    pub proposed_at: String,
    /// Messages proposed, per policy and year.
    pub counts: Vec<CountView>,
    /// Messages proposed.
    pub total: i64,
    /// Ids of the legal holds in force at proposal.
    pub holds_in_force: Vec<i64>,
    /// Who approved or rejected it.
    pub decided_by: Option<String>,
    /// When (RFC 3339).
    pub decided_at: Option<String>,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// When its execution ended (RFC 3339).
    pub executed_at: Option<String>,
    /// Records disposed of (from its certificate), once certified.
    pub disposed: Option<u64>,
    /// Whether a signed certificate exists (`GET .../certificate`).
    pub certified: bool,
}

/// Disposition runs.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DispositionList {
    /// Runs, newest first.
    pub dispositions: Vec<DispositionView>,
}

/// A rejection.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RejectSpec {
    /// Why.
    #[serde(default)]
    reason: String,
}

/// The view of a stored run.
pub(crate) fn disposition_view(run: DispositionRunRecord) -> DispositionView {
    let counts: Vec<CountLine> = serde_json::from_str(&run.counts).unwrap_or_default();
    let holds: coffer_retention::disposition::HoldSnapshot = serde_json::from_str(&run.holds)
        .unwrap_or(coffer_retention::disposition::HoldSnapshot {
            in_force: Vec::new(),
        });
    let disposed = run.certificate.as_deref().and_then(|c| {
        serde_json::from_str::<coffer_retention::runs::Certificate>(c)
            .ok()
            .map(|c| c.count)
    });
    DispositionView {
        id: run.id,
        state: run.state,
        proposed_by: run.proposed_by,
        proposed_at: rfc3339_us(run.proposed_us),
        counts: counts
            .into_iter()
            .map(|c| CountView {
                policy: c.policy,
                year: c.year,
                messages: c.messages,
            })
            .collect(),
        total: run.total,
        holds_in_force: holds.in_force,
        decided_by: run.decided_by,
        decided_at: run.decided_us.map(rfc3339_us),
        reason: run.note,
        executed_at: run.executed_us.map(rfc3339_us),
        disposed,
        certified: run.certificate.is_some(),
    }
}

/// Every disposition run, newest first.
#[utoipa::path(get, path = "/dispositions", tag = "dispositions", security(("bearer" = [])),
    responses((status = 200, body = DispositionList), (status = 403, body = ErrorResponse)))]
async fn list(
    State(state): State<AppState>,
    _reader: Authorized<cap::ReadDispositions>,
) -> Result<AppJson<DispositionList>, ApiError> {
    let runs = state.dispositions().list().await?;
    Ok(AppJson(DispositionList {
        dispositions: runs.into_iter().map(disposition_view).collect(),
    }))
}

/// Propose a run of every message eligible now (counts per policy and year).
#[utoipa::path(post, path = "/dispositions", tag = "dispositions", security(("bearer" = [])),
    responses((status = 201, body = DispositionView), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse)))]
async fn propose(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageDispositions>,
) -> Result<(StatusCode, AppJson<DispositionView>), ApiError> {
    let run = state.dispositions().propose(&caller.actor()).await?;
    Ok((StatusCode::CREATED, AppJson(disposition_view(run))))
}

/// One run.
#[utoipa::path(get, path = "/dispositions/{id}", tag = "dispositions", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the run")),
    responses((status = 200, body = DispositionView), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn show(
    State(state): State<AppState>,
    _reader: Authorized<cap::ReadDispositions>,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<DispositionView>, ApiError> {
    Ok(AppJson(disposition_view(
        state.dispositions().get(id).await?,
    )))
}

/// Approve a proposed run (not its proposer; refused when a hold was placed since): the
/// server executes it at once and answers with its final state.
#[utoipa::path(post, path = "/dispositions/{id}/approve", tag = "dispositions", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the run")),
    responses((status = 200, body = DispositionView), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
async fn approve(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageDispositions>,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<DispositionView>, ApiError> {
    let run = state.dispositions().approve(&caller.actor(), id).await?;
    Ok(AppJson(disposition_view(run)))
}

/// Reject a proposed run (body `{"reason": "..."}`; `{}` for none).
#[utoipa::path(post, path = "/dispositions/{id}/reject", tag = "dispositions", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the run")), request_body = RejectSpec,
    responses((status = 200, body = DispositionView), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
async fn reject(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageDispositions>,
    AppPath(id): AppPath<i64>,
    AppJson(spec): AppJson<RejectSpec>,
) -> Result<AppJson<DispositionView>, ApiError> {
    let run = state
        .dispositions()
        .reject(&caller.actor(), id, spec.reason.trim())
        .await?;
    Ok(AppJson(disposition_view(run)))
}

/// The run's signed certificate, as its canonical JSON bytes (save them as a file:
/// `coffer disposition verify FILE --public-key archive.pub` checks it offline).
#[utoipa::path(get, path = "/dispositions/{id}/certificate", tag = "dispositions", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the run")),
    responses((status = 200, description = "the certificate (JSON)"), (status = 403, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
async fn certificate(
    State(state): State<AppState>,
    _reader: Authorized<cap::ReadDispositions>,
    AppPath(id): AppPath<i64>,
) -> Result<Response, ApiError> {
    let run = state.dispositions().get(id).await?;
    let text = run.certificate.ok_or_else(|| {
        ApiError::NotFound(format!(
            "disposition run {id} is {} and has no certificate",
            run.state
        ))
    })?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        text,
    )
        .into_response())
}
