//! `/api/v1/tokens`: journal API tokens, so a mail server can be connected while Coffer
//! runs. The administrator creates (the secret is in that answer only), lists (never the
//! secrets) and revokes them; every change is audited before it is applied
//! ([`coffer_accounts::Administration`]). Names stay taken after revocation, so the audit
//! trail's actor names stay unambiguous.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use coffer_catalog::sessions::ApiTokenRecord;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, cap};
use crate::error::{ApiError, AppJson, AppPath, ErrorResponse};
use crate::routes::rfc3339;
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
}

/// A new token.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenSpec {
    /// A name for the token (the audit trail's actor for its submissions).
    name: String,
}

/// A token (never its secret, except in the answer that created it).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenView {
    /// Its name.
    pub name: String,
    /// `journal`.
    pub role: String,
    /// Created (RFC 3339).
    pub created: String,
    /// Whether it was revoked.
    pub revoked: bool,
    /// The secret, only in the answer that created it (send it as `Authorization:
    /// Bearer ...`, or as the AUTH PLAIN password over SMTP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl TokenView {
    pub(crate) fn new(record: ApiTokenRecord, token: Option<String>) -> Self {
        Self {
            name: record.name,
            role: record.role.to_string(),
            created: rfc3339(record.created),
            revoked: record.revoked,
            token,
        }
    }
}

/// Every token.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenList {
    /// Tokens by name.
    pub tokens: Vec<TokenView>,
}

/// Create a journal token (the secret is returned once).
#[utoipa::path(post, path = "/tokens", tag = "tokens", security(("bearer" = [])), request_body = TokenSpec,
    responses((status = 201, body = TokenView), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 409, body = ErrorResponse)))]
async fn create_token(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageAccounts>,
    AppJson(spec): AppJson<TokenSpec>,
) -> Result<(StatusCode, AppJson<TokenView>), ApiError> {
    let (token, record) = state
        .administration()
        .create_token(&caller.actor(), &spec.name)
        .await?;
    Ok((
        StatusCode::CREATED,
        AppJson(TokenView::new(record, Some(token))),
    ))
}

/// List tokens.
#[utoipa::path(get, path = "/tokens", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, body = TokenList), (status = 403, body = ErrorResponse)))]
async fn list_tokens(
    State(state): State<AppState>,
    Authorized(_caller, _): Authorized<cap::ManageAccounts>,
) -> Result<AppJson<TokenList>, ApiError> {
    let tokens = state.catalog().list_api_tokens().await?;
    Ok(AppJson(TokenList {
        tokens: tokens
            .into_iter()
            .map(|t| TokenView::new(t, None))
            .collect(),
    }))
}

/// Revoke a token.
#[utoipa::path(delete, path = "/tokens/{name}", tag = "tokens", security(("bearer" = [])),
    params(("name" = String, Path, description = "token name")),
    responses((status = 204), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn revoke_token(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageAccounts>,
    AppPath(name): AppPath<String>,
) -> Result<Response, ApiError> {
    state
        .administration()
        .revoke_token(&caller.actor(), &name)
        .await?;
    Ok(crate::no_content())
}
