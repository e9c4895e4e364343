//! `/api/v1/domains`: the organisation's own domains. Their participants become
//! mailboxes of journal submissions over HTTP (with `local_domains` of `coffer.toml`).
//! Removing a domain changes nothing already archived.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use coffer_catalog::users::DomainRecord;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, cap};
use crate::error::{ApiError, AppJson, AppPath, ErrorResponse};
use crate::routes::rfc3339;
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_domain, list_domains))
        .routes(routes!(delete_domain))
}

/// A new domain.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DomainSpec {
    /// The domain (`example.com`).
    name: String,
}

/// A domain.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DomainView {
    /// The domain.
    pub name: String,
    /// Added (RFC 3339).
    pub created: String,
    /// Archived mailboxes in the domain.
    pub mailboxes: u64,
}

impl From<DomainRecord> for DomainView {
    fn from(d: DomainRecord) -> Self {
        Self {
            name: d.name,
            created: rfc3339(d.created),
            mailboxes: d.mailboxes,
        }
    }
}

/// Every domain.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DomainList {
    /// Domains by name.
    pub domains: Vec<DomainView>,
}

/// Add a domain.
#[utoipa::path(post, path = "/domains", tag = "domains", security(("bearer" = [])), request_body = DomainSpec,
    responses((status = 201, body = DomainView), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 409, body = ErrorResponse)))]
async fn add_domain(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageAccounts>,
    AppJson(spec): AppJson<DomainSpec>,
) -> Result<(StatusCode, AppJson<DomainView>), ApiError> {
    let domain = state
        .administration()
        .add_domain(&caller.actor(), &spec.name)
        .await?;
    state.refresh_local_domains().await?;
    Ok((StatusCode::CREATED, AppJson(domain.into())))
}

/// List domains.
#[utoipa::path(get, path = "/domains", tag = "domains", security(("bearer" = [])),
    responses((status = 200, body = DomainList), (status = 403, body = ErrorResponse)))]
async fn list_domains(
    State(state): State<AppState>,
    Authorized(_caller, _): Authorized<cap::ManageAccounts>,
) -> Result<AppJson<DomainList>, ApiError> {
    let domains = state.catalog().list_domains().await?;
    Ok(AppJson(DomainList {
        domains: domains.into_iter().map(Into::into).collect(),
    }))
}

/// Remove a domain.
#[utoipa::path(delete, path = "/domains/{name}", tag = "domains", security(("bearer" = [])),
    params(("name" = String, Path, description = "the domain")),
    responses((status = 204), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn delete_domain(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageAccounts>,
    AppPath(name): AppPath<String>,
) -> Result<Response, ApiError> {
    state
        .administration()
        .delete_domain(&caller.actor(), &name)
        .await?;
    state.refresh_local_domains().await?;
    Ok(crate::no_content())
}
