//! Coffer's HTTP API (axum): authentication, the single role check, search, messages,
//! proofs, journal submission, volumes, the audit trail, account management, health,
//! metrics and the OpenAPI document.
//!
//! - [`router`] builds the whole service from an [`AppState`] (tests call it with
//!   `oneshot` or serve it on `127.0.0.1:0`; `coffer serve` serves it).
//! - [`auth`]: the bearer-token extractor and THE role check against the role table
//!   ([`coffer_model::allows`]).
//! - [`error`]: [`ApiError`], the one place errors become responses, with a stable
//!   JSON shape; [`error::AppJson`] etc. give malformed input the same shape.
//! - `routes/*`: one module per resource, each with `fn router()`; handlers extract,
//!   call one domain function, audit, and map the result.
//! - the web UI (`coffer_ui`) at `/`, over the same routes and the same authentication
//!   (a browser's session cookie and CSRF token: [`auth`]).
//! - [`openapi`]: the OpenAPI 3.1 document, generated from the same route definitions
//!   (utoipa-axum), served at `/api/v1/openapi.json`.
//!
//! # Audit before content
//! Every content access (search with its query text and result count, message view,
//! raw download, attachment download, proof) is written to the audit trail and fsynced
//! *before* the response is produced; if the audit write fails, the request fails with
//! 503 and no content leaves. Logins (success and failure), logouts, account changes,
//! verification runs and denied requests are audited too.
//!
//! # Logs
//! Request spans carry the method, the matched route template (never the raw path or
//! query string), a request id and the caller's user id; handlers log ids, sizes,
//! counts and timings. Never subjects, bodies, participant addresses, query text,
//! passwords or tokens (DESIGN principle 5).
//!
//! # TLS
//! The API speaks plain HTTP and binds to loopback by default; expose it through a TLS
//! reverse proxy (and list it in `trusted_proxies` so client addresses in the audit trail
//! are the real ones). See the README.

pub mod auth;
pub mod error;
pub mod local;
pub mod login_failures;
pub mod metrics;
mod render;
mod routes;
mod state;
pub mod throttle;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

pub use error::ApiError;
/// The JSON shapes of accounts and retention, shared with the command line's [`local`]
/// client.
pub mod views {
    pub use crate::routes::dispositions::{CountView, DispositionList, DispositionView};
    pub use crate::routes::domains::{DomainList, DomainView};
    pub use crate::routes::groups::{GroupList, GroupView};
    pub use crate::routes::holds::{HoldList, HoldView};
    pub use crate::routes::retention::{
        AssignmentView, ChangeView, ExplanationView, PolicyPage, PolicyView, ProposalView,
        ReportLineView, ReportView, VersionView,
    };
    pub use crate::routes::tokens::{TokenList, TokenView};
    pub use crate::routes::users::{ImportView, RowError, UserList, UserView};
}
pub use metrics::{Metrics, YearGauges};
pub use state::{ApiConfig, AppState};

/// The OpenAPI document of every route [`router`] serves (from the same definitions).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().into_openapi()
}

fn api_routes() -> OpenApiRouter<AppState> {
    let mut doc = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Coffer API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Compliance e-mail archive. Bearer tokens from POST /api/v1/session (people) or \
                     `coffer token create` (journal sources). Errors: {\"error\": {\"code\", \"message\"}}.",
                ))
                .build(),
        )
        .build();
    let mut components = utoipa::openapi::Components::new();
    components.add_security_scheme(
        "bearer",
        utoipa::openapi::security::SecurityScheme::Http(utoipa::openapi::security::Http::new(
            utoipa::openapi::security::HttpAuthScheme::Bearer,
        )),
    );
    doc.components = Some(components);
    OpenApiRouter::with_openapi(doc)
        .merge(routes::system::router())
        .nest(
            "/api/v1",
            OpenApiRouter::new()
                .merge(routes::session::router())
                .merge(routes::users::router())
                .merge(routes::groups::router())
                .merge(routes::domains::router())
                .merge(routes::tokens::router())
                .merge(routes::search::router())
                .merge(routes::calendar::router())
                .merge(routes::messages::router())
                .merge(routes::ingest::router())
                .merge(routes::volumes::router())
                .merge(routes::audit::router())
                .merge(routes::retention::router())
                .merge(routes::holds::router())
                .merge(routes::dispositions::router()),
        )
}

/// The account and retention routes (users, groups, domains, tokens, policies), also served on the local admin
/// socket ([`local`]).
fn account_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().nest(
        "/api/v1",
        OpenApiRouter::new()
            .merge(routes::users::router())
            .merge(routes::groups::router())
            .merge(routes::domains::router())
            .merge(routes::tokens::router())
            .merge(routes::retention::router())
            .merge(routes::dispositions::router()),
    )
}

/// `/metrics` alone, for a listener of its own (`[http] metrics_listen`).
pub fn metrics_router(state: AppState) -> Router {
    let (api, _) = OpenApiRouter::new()
        .merge(routes::system::router())
        .split_for_parts();
    api.fallback(|| async { ApiError::NoRoute })
        .layer(axum::Extension(routes::system::MetricsListener))
        .with_state(state)
}

/// The whole HTTP service over `state`.
pub fn router(state: AppState) -> Router {
    let config = state.config().clone();
    let (api, _) = api_routes().split_for_parts();
    api.merge(coffer_ui::router())
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(config.max_json_body))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        // API answers are data, never a page: opened in a browser, nothing in them runs
        // or loads, and no page may frame them (the UI and the message frame set their own).
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; sandbox"),
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::x_request_id(RequestIds::default()))
        .with_state(state)
}

/// Request ids: a per-process random prefix and a counter (no content, unique enough
/// to correlate one process's logs).
#[derive(Clone)]
struct RequestIds {
    prefix: u32,
    next: std::sync::Arc<AtomicU64>,
}

impl Default for RequestIds {
    fn default() -> Self {
        let mut bytes = [0u8; 4];
        rand::fill(&mut bytes[..]);
        Self {
            prefix: u32::from_le_bytes(bytes),
            next: std::sync::Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{:08x}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// The span of one request: method, route template, request id, and (filled in by the
/// auth extractor) the caller's user id. Never the raw URI: paths and query strings can
/// carry query text.
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let request_id = request
        .headers()
        .get(HeaderName::from_static("x-request-id"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("http", method = %request.method(), route, request_id, user_id = tracing::field::Empty)
}

/// Records metrics for every request and logs the details of server errors (the one
/// place they are logged; see [`error`]).
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    state
        .metrics()
        .request(&route, response.status().as_u16(), elapsed);
    if let Some(detail) = response.extensions().get::<error::InternalDetail>() {
        tracing::error!(status = response.status().as_u16(), error = %detail.0, "request failed");
    }
    if elapsed > Duration::from_secs(5) {
        tracing::warn!(elapsed_ms = elapsed.as_millis() as u64, "slow request");
    }
    response
}

/// Helper for handlers: a blocking call on the blocking pool, errors mapped.
pub(crate) async fn blocking<T, E>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
        .map_err(Into::into)
}

/// `IntoResponse` for a status with no body.
pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}
