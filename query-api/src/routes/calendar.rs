//! `GET /api/v1/calendar`: the years (and, for one year, the months) that hold mail in
//! the caller's scope, with counts — what the web UI's personal archive lists, so a user
//! whose mail goes back to 2009 sees 2009 and no empty years.
//!
//! It is built from the same search as `GET /api/v1/search`, with the caller's scope
//! applied inside the index: the oldest and newest message (`*` sorted by date), then one
//! count-only `during:` query per year between them and per month of the year asked
//! for. The counts therefore agree exactly with what browsing a year or month lists
//! (same message date: the Date header, or the receive time without one). Readers of
//! content only (the role check is [`cap::ReadContent`]); audited once per request as a
//! `search` with the query `calendar`, like any other look at the archive.

use axum::extract::State;
use chrono::Datelike;
use coffer_audit::Outcome;
use coffer_index::{IndexSet, SearchRequest, Sort};
use coffer_model::{RecipientView, Scope};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, cap};
use crate::error::{ApiError, AppJson, AppQuery, ErrorResponse};
use crate::state::AppState;

/// At most this many years are counted (the newest ones); ingest keeps message dates
/// between 1980 and the receive time, so a real archive never reaches it.
const MAX_YEARS: i32 = 100;

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
    let result = tokio::task::spawn_blocking(move || count(&index, &scope, &recipients, year))
        .await
        .map_err(ApiError::internal)?;
    let calendar = result?;
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

/// The counts (blocking: index searches).
fn count(
    index: &IndexSet,
    scope: &Scope,
    recipients: &RecipientView,
    year: Option<i32>,
) -> Result<Calendar, ApiError> {
    let search = |query: String, sort: Sort, limit: usize| {
        index.search(&SearchRequest {
            query,
            scope: scope.clone(),
            recipients: recipients.clone(),
            sort,
            limit,
            offset: 0,
        })
    };
    let year_of = |sort: Sort| -> Result<Option<i32>, ApiError> {
        let found = search("*".into(), sort, 1)?;
        Ok(found.hits.first().and_then(|hit| {
            chrono::DateTime::from_timestamp(hit.date.unwrap_or(hit.received), 0).map(|t| t.year())
        }))
    };
    let total = search("*".into(), Sort::DateDesc, 0)?.total;
    let mut years = Vec::new();
    if total > 0
        && let (Some(oldest), Some(newest)) = (year_of(Sort::DateAsc)?, year_of(Sort::DateDesc)?)
    {
        for y in (oldest.max(newest - MAX_YEARS + 1)..=newest).rev() {
            let messages = search(format!("during:{y:04}"), Sort::DateDesc, 0)?.total;
            if messages > 0 {
                years.push(YearCount { year: y, messages });
            }
        }
    }
    let months = match year {
        Some(y) if years.iter().any(|c| c.year == y) => {
            let mut months = Vec::new();
            for month in 1..=12u32 {
                let messages =
                    search(format!("during:{y:04}-{month:02}"), Sort::DateDesc, 0)?.total;
                if messages > 0 {
                    months.push(MonthCount { month, messages });
                }
            }
            Some(months)
        }
        Some(_) => Some(Vec::new()),
        None => None,
    };
    Ok(Calendar {
        total,
        years,
        months,
    })
}
