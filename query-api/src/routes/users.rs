//! `/api/v1/users`: the administrator creates, lists, changes and disables accounts.
//! Users are never deleted (the audit trail names them): `DELETE` disables the account
//! and ends its sessions. Every change goes through [`coffer_accounts::Administration`]:
//! audited with what changed (never passwords) before it is applied; nobody changes their
//! own role, mailboxes or domains, or disables themselves.

use axum::extract::State;
use axum::http::StatusCode;
use coffer_catalog::users::UserRecord;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, cap};
use crate::error::{ApiError, AppJson, AppPath, ErrorResponse};
use crate::routes::rfc3339;
use crate::state::AppState;
use coffer_accounts::{UserChange, UserSpec};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(import_users))
        .routes(routes!(get_user, update_user, disable_user))
}

/// A user account as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserView {
    /// Login name.
    pub username: String,
    /// Role.
    pub role: String,
    /// Created (RFC 3339).
    pub created: String,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// Archiving rule.
    pub archiving_rule: String,
    /// Mailbox addresses (role user).
    pub mailboxes: Vec<String>,
    /// Officer domains (`*` = all).
    pub domains: Vec<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// The generated password, only in the answer that created the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl UserView {
    pub(crate) fn new(user: UserRecord, password: Option<String>) -> Self {
        Self {
            username: user.username,
            role: user.role.to_string(),
            created: rfc3339(user.created),
            disabled: user.disabled,
            archiving_rule: user.archiving_rule,
            mailboxes: user.mailboxes,
            domains: user.domains,
            groups: user.groups,
            password,
        }
    }
}

/// Every user.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserList {
    /// Users by name.
    pub users: Vec<UserView>,
}

/// Create a user (password generated and returned once when absent).
#[utoipa::path(post, path = "/users", tag = "users", security(("bearer" = [])), request_body = UserSpec,
    responses((status = 201, body = UserView), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 409, body = ErrorResponse)))]
async fn create_user(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageAccounts>,
    AppJson(spec): AppJson<UserSpec>,
) -> Result<(StatusCode, AppJson<UserView>), ApiError> {
    let created = state
        .administration()
        .create_user(&caller.actor(), &spec)
        .await?;
    tracing::info!(user_id = created.user.id, "user created");
    Ok((
        StatusCode::CREATED,
        AppJson(UserView::new(created.user, created.generated_password)),
    ))
}

/// A bad row of a CSV import.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RowError {
    /// Line number (1 = the header).
    pub line: u64,
    /// What is wrong.
    pub error: String,
}

/// The outcome of a CSV import.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportView {
    /// Users created, with their generated passwords where none was given.
    pub created: Vec<UserView>,
    /// Bad rows (nothing created for them).
    pub errors: Vec<RowError>,
}

impl From<coffer_accounts::ImportReport> for ImportView {
    fn from(report: coffer_accounts::ImportReport) -> Self {
        Self {
            created: report
                .created
                .into_iter()
                .map(|c| UserView::new(c.user, c.generated_password))
                .collect(),
            errors: report
                .errors
                .into_iter()
                .map(|(line, error)| RowError { line, error })
                .collect(),
        }
    }
}

/// Create users from CSV (header `username,role,password,mailboxes,domains,groups,
/// archiving_rule`; only username and role required; lists `;`-separated; an empty
/// password is generated and returned once). Good rows are created (each audited);
/// bad rows are reported with their line.
#[utoipa::path(post, path = "/users/import", tag = "users", security(("bearer" = [])),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportView), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse)))]
async fn import_users(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageAccounts>,
    body: axum::body::Bytes,
) -> Result<AppJson<ImportView>, ApiError> {
    let report = state
        .administration()
        .import_csv(&caller.actor(), body.as_ref())
        .await?;
    Ok(AppJson(report.into()))
}

/// List users.
#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserList), (status = 403, body = ErrorResponse)))]
async fn list_users(
    State(state): State<AppState>,
    Authorized(_caller, _): Authorized<cap::ManageAccounts>,
) -> Result<AppJson<UserList>, ApiError> {
    let users = state.catalog().list_users().await?;
    Ok(AppJson(UserList {
        users: users.into_iter().map(|u| UserView::new(u, None)).collect(),
    }))
}

/// One user.
#[utoipa::path(get, path = "/users/{username}", tag = "users", security(("bearer" = [])),
    params(("username" = String, Path, description = "login name")),
    responses((status = 200, body = UserView), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn get_user(
    State(state): State<AppState>,
    Authorized(_caller, _): Authorized<cap::ManageAccounts>,
    AppPath(username): AppPath<String>,
) -> Result<AppJson<UserView>, ApiError> {
    let user = state
        .catalog()
        .user_by_name(&username)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such user".into()))?;
    Ok(AppJson(UserView::new(user, None)))
}

/// Change a user (absent fields stay; lists are replaced).
#[utoipa::path(patch, path = "/users/{username}", tag = "users", security(("bearer" = [])), request_body = UserChange,
    params(("username" = String, Path, description = "login name")),
    responses((status = 200, body = UserView), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
async fn update_user(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageAccounts>,
    AppPath(username): AppPath<String>,
    AppJson(change): AppJson<UserChange>,
) -> Result<AppJson<UserView>, ApiError> {
    let user = state
        .administration()
        .update_user(&caller.actor(), &username, &change)
        .await?;
    Ok(AppJson(UserView::new(user, None)))
}

/// Disable a user (accounts are never deleted); their sessions end.
#[utoipa::path(delete, path = "/users/{username}", tag = "users", security(("bearer" = [])),
    params(("username" = String, Path, description = "login name")),
    responses((status = 200, body = UserView), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 409, body = ErrorResponse)))]
async fn disable_user(
    State(state): State<AppState>,
    authorized: Authorized<cap::ManageAccounts>,
    path: AppPath<String>,
) -> Result<AppJson<UserView>, ApiError> {
    let change = UserChange {
        disabled: Some(true),
        ..Default::default()
    };
    update_user(State(state), authorized, path, AppJson(change)).await
}
