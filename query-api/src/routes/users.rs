//! `/api/v1/users`: the administrator creates, lists, changes and disables accounts.
//! Users are never deleted (the audit trail names them): `DELETE` disables the account
//! and ends its sessions. Every change is audited with what changed (never passwords).

use axum::extract::State;
use axum::http::StatusCode;
use coffer_audit::Outcome;
use coffer_catalog::users::UserRecord;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, cap};
use crate::error::{ApiError, AppJson, AppPath, ErrorResponse};
use crate::routes::rfc3339;
use crate::state::{AppState, now_secs};
use coffer_accounts::{self as accounts, UserChange, UserSpec};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user, update_user, disable_user))
}

/// A user account as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UserView {
    /// Login name.
    username: String,
    /// Role.
    role: String,
    /// Created (RFC 3339).
    created: String,
    /// Whether the account is disabled.
    disabled: bool,
    /// Archiving rule.
    archiving_rule: String,
    /// Mailbox addresses (role user).
    mailboxes: Vec<String>,
    /// Officer domains (`*` = all).
    domains: Vec<String>,
    /// Groups.
    groups: Vec<String>,
    /// The generated password, only in the answer that created the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
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
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UserList {
    /// Users by name.
    users: Vec<UserView>,
}

fn describe(user: &UserRecord) -> serde_json::Value {
    serde_json::json!({
        "role": user.role,
        "mailboxes": user.mailboxes,
        "domains": user.domains,
        "groups": user.groups,
        "disabled": user.disabled,
        "archiving_rule": user.archiving_rule,
    })
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
    let target = spec.username.trim().to_ascii_lowercase();
    match accounts::create_user(state.catalog(), &spec, state.config().password, now_secs()).await {
        Ok(created) => {
            let entry = caller.entry(
                "user.create",
                created.user.username.clone(),
                Outcome::Success,
            );
            state
                .audit()
                .record(entry.with_detail(describe(&created.user)))
                .await?;
            tracing::info!(user_id = created.user.id, "user created");
            Ok((
                StatusCode::CREATED,
                AppJson(UserView::new(created.user, created.generated_password)),
            ))
        }
        Err(e) => {
            let entry = caller.entry("user.create", target, Outcome::Failure);
            state
                .audit()
                .record(entry.with_detail(serde_json::json!({ "error": e.to_string() })))
                .await?;
            Err(e.into())
        }
    }
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
    if change.disabled == Some(true) && username.trim().eq_ignore_ascii_case(&caller.name) {
        return Err(ApiError::Conflict(
            "an administrator cannot disable their own account".into(),
        ));
    }
    let result = accounts::update_user(
        state.catalog(),
        &username,
        &change,
        state.config().password,
        now_secs(),
    )
    .await;
    let target = username.trim().to_ascii_lowercase();
    match result {
        Ok(user) => {
            let mut detail = describe(&user);
            if change.password.is_some()
                && let Some(map) = detail.as_object_mut()
            {
                map.insert("password_changed".into(), serde_json::Value::Bool(true));
            }
            state
                .audit()
                .record(
                    caller
                        .entry("user.update", target, Outcome::Success)
                        .with_detail(detail),
                )
                .await?;
            Ok(AppJson(UserView::new(user, None)))
        }
        Err(e) => {
            let entry = caller.entry("user.update", target, Outcome::Failure);
            state
                .audit()
                .record(entry.with_detail(serde_json::json!({ "error": e.to_string() })))
                .await?;
            Err(e.into())
        }
    }
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
