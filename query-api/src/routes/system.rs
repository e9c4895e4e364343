//! Liveness, Prometheus metrics and the OpenAPI document. None needs a token: they hold
//! no content (put `/metrics` behind the proxy's access rules if its counters matter).

use std::sync::LazyLock;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::AppJson;
use crate::metrics::Gauge;
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
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut gauges = Vec::new();
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
    for (year, stats, last) in volumes {
        let labels = vec![("year", year.to_string())];
        gauges.push(Gauge {
            name: "coffer_archived_messages",
            help: "Message records in each mail volume (ingest count, every source).",
            labels: labels.clone(),
            value: stats.messages as f64,
        });
        gauges.push(Gauge {
            name: "coffer_volume_records",
            help: "Durable records in each mail volume.",
            labels: labels.clone(),
            value: last as f64,
        });
        let indexed = state.index().high_water(year).unwrap_or(0);
        gauges.push(Gauge {
            name: "coffer_index_lag_records",
            help: "Durable volume records not yet committed to the search index.",
            labels: labels.clone(),
            value: last.saturating_sub(indexed) as f64,
        });
        let cataloged = state.catalog().high_water("mail", year).await.unwrap_or(0);
        gauges.push(Gauge {
            name: "coffer_catalog_lag_records",
            help: "Durable volume records not yet applied to the catalog.",
            labels,
            value: last.saturating_sub(cataloged) as f64,
        });
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics().render(&gauges),
    )
}

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
