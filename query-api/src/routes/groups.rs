//! `/api/v1/groups`: groups of users (administration and archiving rules; a group
//! grants no access to anyone's mail).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use coffer_catalog::users::GroupRecord;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, cap};
use crate::error::{ApiError, AppJson, AppPath, ErrorResponse};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_group, list_groups))
        .routes(routes!(delete_group, set_group_rule))
}

/// A new group.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupSpec {
    /// Name.
    name: String,
    /// Member usernames.
    #[serde(default)]
    members: Vec<String>,
    /// `internal`, `external`, `both` (default) or `none`.
    #[serde(default)]
    archiving_rule: Option<String>,
}

/// A group.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupView {
    /// Name.
    pub name: String,
    /// Archiving rule.
    pub archiving_rule: String,
    /// Member usernames.
    pub members: Vec<String>,
}

impl From<GroupRecord> for GroupView {
    fn from(g: GroupRecord) -> Self {
        Self {
            name: g.name,
            archiving_rule: g.archiving_rule,
            members: g.members,
        }
    }
}

/// Every group.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupList {
    /// Groups by name.
    pub groups: Vec<GroupView>,
}

/// Create a group.
#[utoipa::path(post, path = "/groups", tag = "groups", security(("bearer" = [])), request_body = GroupSpec,
    responses((status = 201, body = GroupView), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn create_group(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageAccounts>,
    AppJson(spec): AppJson<GroupSpec>,
) -> Result<(StatusCode, AppJson<GroupView>), ApiError> {
    let group = state
        .administration()
        .create_group(
            &caller.actor(),
            &spec.name,
            spec.archiving_rule.as_deref(),
            &spec.members,
        )
        .await?;
    Ok((StatusCode::CREATED, AppJson(group.into())))
}

/// List groups.
#[utoipa::path(get, path = "/groups", tag = "groups", security(("bearer" = [])),
    responses((status = 200, body = GroupList), (status = 403, body = ErrorResponse)))]
async fn list_groups(
    State(state): State<AppState>,
    Authorized(_caller, _): Authorized<cap::ManageAccounts>,
) -> Result<AppJson<GroupList>, ApiError> {
    let groups = state.catalog().list_groups().await?;
    Ok(AppJson(GroupList {
        groups: groups.into_iter().map(Into::into).collect(),
    }))
}

/// A change of a group's archiving rule.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupRuleChange {
    /// `internal`, `external`, `both` or `none`.
    archiving_rule: String,
}

/// Set a group's archiving rule.
#[utoipa::path(patch, path = "/groups/{name}", tag = "groups", security(("bearer" = [])),
    params(("name" = String, Path, description = "group name")), request_body = GroupRuleChange,
    responses((status = 204), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn set_group_rule(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageAccounts>,
    AppPath(name): AppPath<String>,
    AppJson(change): AppJson<GroupRuleChange>,
) -> Result<Response, ApiError> {
    state
        .administration()
        .set_group_rule(&caller.actor(), &name, &change.archiving_rule)
        .await?;
    Ok(crate::no_content())
}

/// Delete a group (its members stay).
#[utoipa::path(delete, path = "/groups/{name}", tag = "groups", security(("bearer" = [])),
    params(("name" = String, Path, description = "group name")),
    responses((status = 204), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn delete_group(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageAccounts>,
    AppPath(name): AppPath<String>,
) -> Result<Response, ApiError> {
    state
        .administration()
        .delete_group(&caller.actor(), &name)
        .await?;
    Ok(crate::no_content())
}
