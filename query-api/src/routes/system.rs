//! Liveness, Prometheus metrics and the OpenAPI document. They hold no content; still,
//! `/metrics` can require a token of its own ([`crate::ApiConfig::metrics_token`]) and
//! can be moved to a listener of its own ([`crate::metrics_router`], with
//! [`crate::ApiConfig::metrics_on_main`] off), e.g. an address only the monitoring
//! network reaches.

use std::sync::LazyLock;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, AppJson};
use crate::metrics::{self, YearGauges};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Health {
    /// Always `ok` when the process answers.
    status: &'static str,
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
async fn healthz() -> AppJson<Health> {
    AppJson(Health { status: "ok" })
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(
    State(state): State<AppState>,
    listener: Option<axum::Extension<MetricsListener>>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    if listener.is_none() && !state.config().metrics_on_main {
        return Err(ApiError::NoRoute);
    }
    if let Some(expected) = &state.config().metrics_token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Compared as digests: the time taken says nothing about the token.
        if coffer_accounts::token_hash(presented) != coffer_accounts::token_hash(expected) {
            state.metrics().auth_failure("token");
            return Err(ApiError::Unauthenticated(
                "/metrics needs its bearer token (metrics_token)",
            ));
        }
    }
    let archive = state.archive().clone();
    let volumes: Vec<(i32, coffer_volume::VolumeStats, u64)> =
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for year in archive.volumes().years().unwrap_or_default() {
                if let Ok(Some(v)) = archive.volumes().get(year) {
                    out.push((year, v.stats(), v.last_seq()));
                }
            }
            out
        })
        .await
        .unwrap_or_default();
    let mut years = Vec::with_capacity(volumes.len());
    for (year, stats, last) in volumes {
        let indexed = state.index().high_water(year).unwrap_or(0);
        let cataloged = state
            .catalog()
            .high_water(coffer_ingest::MAIL, year)
            .await
            .unwrap_or(0);
        years.push(YearGauges {
            year,
            messages: stats.messages,
            records: last,
            index_lag: last.saturating_sub(indexed),
            catalog_lag: last.saturating_sub(cataloged),
        });
    }
    Ok((
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics().render(&years),
    )
        .into_response())
}

/// Marks requests that arrived on the metrics listener of [`crate::metrics_router`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct MetricsListener;

static OPENAPI_JSON: LazyLock<String> = LazyLock::new(|| {
    crate::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
});

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "system", responses((status = 200, content_type = "application/json", body = Object)))]
async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        OPENAPI_JSON.as_str(),
    )
}
