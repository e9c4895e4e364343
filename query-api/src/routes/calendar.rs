//! `GET /api/v1/calendar`: the years (and, for one year, the months) that hold mail in
//! the caller's scope, with counts — what the web UI's personal archive lists, so a user
//! whose mail goes back to 2009 sees 2009 and no empty years.
//!
//! The counting is [`coffer_index::IndexSet::calendar`]: the same search as `GET
//! /api/v1/search`, with the caller's scope applied inside the index, so the counts agree
//! exactly with what browsing a year or month lists. Readers of
//! content only (the role check is [`cap::ReadContent`]); audited once per request as a
//! `search` with the query `calendar`, like any other look at the archive.

use axum::extract::State;
use coffer_audit::Outcome;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, cap};
use crate::error::{ApiError, AppJson, AppQuery, ErrorResponse};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(calendar))
}

/// Calendar parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct CalendarParams {
    /// Also count the months of this year.
    year: Option<i32>,
}

/// Messages of one year.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct YearCount {
    /// The year (of the message date, UTC).
    year: i32,
    /// Messages dated in it.
    messages: u64,
}

/// Messages of one month.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MonthCount {
    /// 1 to 12.
    month: u32,
    /// Messages dated in it.
    messages: u64,
}

/// The years and months that hold mail in the caller's scope.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Calendar {
    /// Every message in scope.
    total: u64,
    /// Years holding mail, newest first (years without any are left out).
    years: Vec<YearCount>,
    /// With `year`: its months holding mail, January first.
    #[serde(skip_serializing_if = "Option::is_none")]
    months: Option<Vec<MonthCount>>,
}

/// The years (and the months of one year) holding mail in the caller's scope, with counts.
#[utoipa::path(get, path = "/calendar", tag = "search", security(("bearer" = [])), params(CalendarParams),
    responses((status = 200, body = Calendar), (status = 400, body = ErrorResponse),
              (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse)))]
async fn calendar(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ReadContent>,
    AppQuery(params): AppQuery<CalendarParams>,
) -> Result<AppJson<Calendar>, ApiError> {
    if let Some(year) = params.year
        && !(1..=9999).contains(&year)
    {
        return Err(ApiError::BadRequest(format!(
            "year {year} is not a calendar year"
        )));
    }
    let index = state.index().clone();
    let scope = caller.content_scope().clone();
    let recipients = caller.recipient_view();
    let year = params.year;
    let counted = tokio::task::spawn_blocking(move || index.calendar(&scope, &recipients, year))
        .await
        .map_err(ApiError::internal)??;
    let calendar = Calendar {
        total: counted.total,
        years: counted
            .years
            .into_iter()
            .map(|(year, messages)| YearCount { year, messages })
            .collect(),
        months: counted.months.map(|months| {
            months
                .into_iter()
                .map(|(month, messages)| MonthCount { month, messages })
                .collect()
        }),
    };
    state
        .audit()
        .record(
            caller
                .entry("search", "", Outcome::Success)
                .with_detail(serde_json::json!({
                    "query": "calendar",
                    "year": year,
                    "results": calendar.total,
                })),
        )
        .await?;
    tracing::debug!(
        total = calendar.total,
        years = calendar.years.len(),
        "calendar"
    );
    Ok(AppJson(calendar))
}
