//! `GET /api/v1/search`: the query language over the caller's scope. The scope is
//! applied inside the index search, so no query can reach outside it. Each search is
//! audited with its query text and result count before the hits are returned.

use axum::extract::State;
use coffer_audit::Outcome;
use coffer_index::{Hit, SearchRequest, Sort};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, cap};
use crate::error::{ApiError, AppJson, AppQuery, ErrorResponse};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search))
}

/// Search parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchParams {
    /// Query in the Coffer query language.
    #[serde(default)]
    q: String,
    /// Hits per page (default 20, at most 1000; 0 counts only).
    #[serde(default = "default_limit")]
    limit: usize,
    /// Hits to skip.
    #[serde(default)]
    offset: usize,
    /// `relevance` (default), `date_desc` or `date_asc`.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    sort: Sort,
}

fn default_limit() -> usize {
    20
}

/// One hit.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct HitSchema {
    /// Message id (`2026-42`).
    id: String,
    /// Receive time, Unix seconds.
    received: i64,
    /// Message date, Unix seconds.
    date: Option<i64>,
    /// From.
    from: String,
    /// To.
    to: Vec<String>,
    /// Subject.
    subject: Option<String>,
    /// HTML-safe excerpt with `<b>` highlights.
    snippet: String,
    /// Archive mailboxes holding the message.
    mailboxes: Vec<String>,
    /// Attachment count.
    attachments: u32,
}

/// Search results.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SearchResponse {
    /// Every match in scope (exact).
    total: u64,
    /// The requested page.
    #[schema(value_type = Vec<HitSchema>)]
    hits: Vec<Hit>,
    /// Years whose volume is offline (moved to secondary storage that is absent): their
    /// hits are listed from the index, but their messages cannot be opened until the
    /// volume is attached again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    offline_years: Vec<i32>,
}

/// Search the messages in the caller's scope.
#[utoipa::path(get, path = "/search", tag = "search", security(("bearer" = [])), params(SearchParams),
    responses((status = 200, body = SearchResponse), (status = 400, body = ErrorResponse),
              (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse)))]
async fn search(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ReadContent>,
    AppQuery(params): AppQuery<SearchParams>,
) -> Result<AppJson<SearchResponse>, ApiError> {
    let request = SearchRequest {
        query: params.q.clone(),
        scope: caller.content_scope().clone(),
        recipients: caller.recipient_view(),
        sort: params.sort,
        limit: params.limit,
        offset: params.offset,
    };
    let index = state.index().clone();
    let started = std::time::Instant::now();
    let result = tokio::task::spawn_blocking(move || index.search(&request))
        .await
        .map_err(ApiError::internal)?;
    let detail = |results: Option<u64>| {
        serde_json::json!({
            "query": params.q,
            "results": results,
            "sort": params.sort,
            "limit": params.limit,
            "offset": params.offset,
        })
    };
    match result {
        Ok(found) => {
            state
                .audit()
                .record(
                    caller
                        .entry("search", "", Outcome::Success)
                        .with_detail(detail(Some(found.total))),
                )
                .await?;
            tracing::debug!(
                total = found.total,
                hits = found.hits.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "search"
            );
            let volumes = state.archive().volumes().clone();
            let offline_years = tokio::task::spawn_blocking(move || offline_years(&volumes))
                .await
                .map_err(ApiError::internal)?;
            Ok(AppJson(SearchResponse {
                total: found.total,
                hits: found.hits,
                offline_years,
            }))
        }
        Err(e) => {
            let error = ApiError::from(e);
            if matches!(error, ApiError::BadQuery(_) | ApiError::BadRequest(_)) {
                state
                    .audit()
                    .record(
                        caller
                            .entry("search", "", Outcome::Failure)
                            .with_detail(detail(None)),
                    )
                    .await?;
            }
            Err(error)
        }
    }
}

/// The years whose volume was moved to storage that is absent now (blocking: looks at
/// each year directory).
fn offline_years(volumes: &coffer_volume::VolumeSet) -> Vec<i32> {
    volumes
        .years()
        .unwrap_or_default()
        .into_iter()
        .filter(|y| {
            matches!(
                volumes.placement(*y),
                Ok(Some(coffer_volume::Placement::Moved { present: false, .. }))
            )
        })
        .collect()
}
