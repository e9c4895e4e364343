//! `/api/v1/holds`: legal holds. Officers place and release them (by custodian mailboxes,
//! a query of the search language and/or a date range of message dates, with a name and
//! a reason); a hold covers mail that arrives later too, until released. Officers see
//! the holds of their domains, auditors every hold. Every placement and release is
//! audited (see `coffer_retention::manage`).

use axum::extract::State;
use axum::http::StatusCode;
use coffer_retention::HoldScope;
use coffer_retention::manage::{HoldEntry, HoldSpec};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, cap};
use crate::error::{ApiError, AppJson, AppPath, ErrorResponse};
use crate::routes::{parse_time, rfc3339_us};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, place))
        .routes(routes!(show))
        .routes(routes!(release))
}

/// A legal hold.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HoldView {
    /// Id.
    pub id: i64,
    /// Name (the matter).
    pub name: String,
    /// Why it was placed.
    pub reason: String,
    /// Custodian mailboxes (empty: any).
    pub custodians: Vec<String>,
    /// A search-language query (none: any message).
    pub query: Option<String>,
    /// Earliest message date covered (RFC 3339).
    pub from: Option<String>,
    /// Message dates before this are covered (RFC 3339).
    pub until: Option<String>,
    /// Who placed it.
    pub placed_by: String,
    /// When (RFC 3339).
    pub placed: String,
    /// Whether it is in force.
    pub in_force: bool,
    /// Who released it.
    pub released_by: Option<String>,
    /// When (RFC 3339).
    pub released: Option<String>,
    /// Why.
    pub release_reason: Option<String>,
}

impl From<HoldEntry> for HoldView {
    fn from(h: HoldEntry) -> Self {
        let secs = |s: i64| rfc3339_us(s.saturating_mul(1_000_000));
        Self {
            id: h.hold.id,
            name: h.hold.name,
            reason: h.reason,
            custodians: h.hold.scope.custodians,
            query: h.hold.scope.query,
            from: h.hold.scope.from.map(secs),
            until: h.hold.scope.until.map(secs),
            placed_by: h.placed_by,
            placed: rfc3339_us(h.hold.placed_us),
            in_force: h.hold.released_us.is_none(),
            released_by: h.released_by,
            released: h.hold.released_us.map(rfc3339_us),
            release_reason: h.release_reason,
        }
    }
}

/// The holds a caller sees.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HoldList {
    /// Holds by id, released ones included.
    pub holds: Vec<HoldView>,
}

/// A hold to place.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlaceSpec {
    /// Name (the matter), unique.
    name: String,
    /// Why (the matter, the request).
    reason: String,
    /// Custodian mailboxes.
    #[serde(default)]
    custodians: Vec<String>,
    /// A search-language query.
    #[serde(default)]
    query: Option<String>,
    /// Earliest message date covered (RFC 3339, YYYY-MM-DD or Unix seconds).
    #[serde(default)]
    from: Option<String>,
    /// Message dates before this are covered (RFC 3339, YYYY-MM-DD or Unix seconds).
    #[serde(default)]
    until: Option<String>,
}

/// A release.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReleaseSpec {
    /// Why the hold ends.
    reason: String,
}

/// The holds the caller sees (officer: of their domains; auditor: all).
#[utoipa::path(get, path = "/holds", tag = "holds", security(("bearer" = [])),
    responses((status = 200, body = HoldList), (status = 403, body = ErrorResponse)))]
async fn list(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ReadHolds>,
) -> Result<AppJson<HoldList>, ApiError> {
    let domains = caller.hold_domains();
    let holds = state.retention().holds().await?;
    Ok(AppJson(HoldList {
        holds: holds
            .into_iter()
            .filter(|h| h.visible_to(&domains))
            .map(Into::into)
            .collect(),
    }))
}

/// One hold.
#[utoipa::path(get, path = "/holds/{id}", tag = "holds", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the hold")),
    responses((status = 200, body = HoldView), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn show(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ReadHolds>,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<HoldView>, ApiError> {
    let domains = caller.hold_domains();
    state
        .retention()
        .holds()
        .await?
        .into_iter()
        .find(|h| h.hold.id == id && h.visible_to(&domains))
        .map(|h| AppJson(h.into()))
        .ok_or_else(|| ApiError::NotFound(format!("no hold {id}")))
}

/// Place a hold.
#[utoipa::path(post, path = "/holds", tag = "holds", security(("bearer" = [])), request_body = PlaceSpec,
    responses((status = 201, body = HoldView), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 409, body = ErrorResponse)))]
async fn place(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageHolds>,
    AppJson(spec): AppJson<PlaceSpec>,
) -> Result<(StatusCode, AppJson<HoldView>), ApiError> {
    let secs = |what: &str, v: &Option<String>| -> Result<Option<i64>, ApiError> {
        v.as_deref()
            .map(|v| parse_time(what, v).map(|us| us.div_euclid(1_000_000)))
            .transpose()
    };
    let spec = HoldSpec {
        name: spec.name,
        reason: spec.reason,
        scope: HoldScope {
            custodians: spec.custodians,
            query: spec.query,
            from: secs("from", &spec.from)?,
            until: secs("until", &spec.until)?,
        },
    };
    let hold = state
        .retention()
        .place_hold(&caller.actor(), spec, &caller.hold_domains())
        .await?;
    Ok((StatusCode::CREATED, AppJson(hold.into())))
}

/// Release a hold.
#[utoipa::path(post, path = "/holds/{id}/release", tag = "holds", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the hold")), request_body = ReleaseSpec,
    responses((status = 200, body = HoldView), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
async fn release(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageHolds>,
    AppPath(id): AppPath<i64>,
    AppJson(spec): AppJson<ReleaseSpec>,
) -> Result<AppJson<HoldView>, ApiError> {
    let hold = state
        .retention()
        .release_hold(&caller.actor(), id, &spec.reason, &caller.hold_domains())
        .await?;
    Ok(AppJson(hold.into()))
}
