//! The one error type of the HTTP API and the one place where errors become responses.
//!
//! Every handler returns `Result<_, ApiError>`; every crate error converts into it
//! through its coarse [`ErrorCode`]. The body always has the same shape,
//! `{"error": {"code": "...", "message": "..."}}`, with a stable machine `code`. Server
//! errors (5xx) say only "internal error" (or "temporarily unavailable"): their details
//! travel in a response extension ([`InternalDetail`]) to the one middleware that logs
//! them (`observe` in `lib.rs`), so internals never leave the process. Client-error
//! messages come from our own validation or the query parser (which quotes the caller's
//! own query back to them) and are never logged.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use coffer_model::ErrorCode;
use serde::Serialize;

/// Everything an API call can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (our own message).
    #[error("{0}")]
    BadRequest(String),
    /// 400: the search query does not parse (the parser's message, with its position).
    #[error("{0}")]
    BadQuery(String),
    /// 401: no valid bearer token, or wrong username or password.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// 403: the caller's role may not do this (the message names the caller's role, the
    /// capability and the roles that have it; nothing about the target).
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such thing, or outside the caller's scope.
    #[error("{0}")]
    NotFound(String),
    /// 404: no route matches the path.
    #[error("no such endpoint")]
    NoRoute,
    /// 405: the path exists with other methods.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the change conflicts with existing state.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than the limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 415: the body has the wrong content type.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429: too many failed logins; retry after this many seconds.
    #[error("too many failed logins; retry later")]
    Throttled {
        /// Seconds until the next attempt is accepted.
        retry_after: u64,
    },
    /// 503: a temporary condition (details logged, not sent).
    #[error("temporarily unavailable")]
    Unavailable(String),
    /// 503: the message's volume is on secondary storage that is not present.
    #[error(
        "the volume of {0} is offline (on secondary storage that is not present); an operator can attach it again"
    )]
    Offline(i32),
    /// 503 with `Retry-After`: the server is busy (the journal's memory budget or its
    /// pipeline is full); the request may be repeated after this many seconds.
    #[error("the server is busy; retry later")]
    Busy {
        /// Seconds after which a retry is worth it.
        retry_after: u64,
    },
    /// 500: stored data failed an integrity check (details logged, not sent).
    #[error("stored data failed an integrity check")]
    Corruption(String),
    /// 500: anything else (details logged, not sent).
    #[error("internal error")]
    Internal(String),
}

/// The details of a server error, attached to the response for the logging middleware.
#[derive(Debug, Clone)]
pub struct InternalDetail(pub String);

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorInner<'a>,
}

#[derive(Serialize)]
struct ErrorInner<'a> {
    code: &'a str,
    message: String,
}

/// The JSON shape of every error (for the OpenAPI document).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorObject,
}

/// `error` inside [`ErrorResponse`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorObject {
    /// Stable machine code: `invalid_input`, `invalid_query`, `unauthenticated`,
    /// `forbidden`, `not_found`, `no_route`, `method_not_allowed`, `conflict`,
    /// `payload_too_large`, `unsupported_media_type`, `throttled`, `unavailable`,
    /// `corruption`, `internal`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

impl ApiError {
    /// Maps a crate error by its coarse code; only client-error messages are kept for
    /// the response, the rest become log-only details.
    pub fn from_code(code: ErrorCode, message: String) -> Self {
        match code {
            ErrorCode::InvalidInput => ApiError::BadRequest(message),
            ErrorCode::NotFound => ApiError::NotFound(message),
            ErrorCode::Conflict => ApiError::Conflict(message),
            ErrorCode::Unauthenticated => ApiError::Unauthenticated("authentication required"),
            ErrorCode::Forbidden => ApiError::Forbidden(message),
            ErrorCode::Unavailable => ApiError::Unavailable(message),
            ErrorCode::Corruption => ApiError::Corruption(message),
            ErrorCode::Internal => ApiError::Internal(message),
        }
    }

    /// A 500 from any displayable error (blocking task failures and the like).
    pub fn internal(error: impl std::fmt::Display) -> Self {
        ApiError::Internal(error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let retry_after = match &self {
            ApiError::Throttled { retry_after } | ApiError::Busy { retry_after } => {
                Some(*retry_after)
            }
            _ => None,
        };
        let (status, code, detail) = match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_input", None),
            ApiError::BadQuery(_) => (StatusCode::BAD_REQUEST, "invalid_query", None),
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated", None),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", None),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            ApiError::NoRoute => (StatusCode::NOT_FOUND, "no_route", None),
            ApiError::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None)
            }
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", None),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None),
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                None,
            ),
            ApiError::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "throttled", None),
            ApiError::Unavailable(d) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", Some(d)),
            ApiError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None),
            ApiError::Offline(_) => (StatusCode::SERVICE_UNAVAILABLE, "offline", None),
            ApiError::Corruption(d) => (StatusCode::INTERNAL_SERVER_ERROR, "corruption", Some(d)),
            ApiError::Internal(d) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", Some(d)),
        };
        let body = ErrorBody {
            error: ErrorInner { code, message },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(detail) = detail {
            response.extensions_mut().insert(InternalDetail(detail));
        }
        response
    }
}

impl From<coffer_catalog::Error> for ApiError {
    fn from(e: coffer_catalog::Error) -> Self {
        ApiError::from_code(e.code(), e.to_string())
    }
}

impl From<coffer_volume::Error> for ApiError {
    fn from(e: coffer_volume::Error) -> Self {
        match e {
            coffer_volume::Error::Offline { year, .. } => ApiError::Offline(year),
            other => ApiError::from_code(other.code(), other.to_string()),
        }
    }
}

impl From<coffer_ingest::IngestError> for ApiError {
    fn from(e: coffer_ingest::IngestError) -> Self {
        match e {
            coffer_ingest::IngestError::Saturated => ApiError::Busy {
                retry_after: BUSY_RETRY_AFTER,
            },
            coffer_ingest::IngestError::Volume(v) => v.into(),
            other => ApiError::from_code(other.code(), other.to_string()),
        }
    }
}

/// The `Retry-After` of [`ApiError::Busy`]: long enough for messages in flight to be
/// stored and their memory given back.
pub(crate) const BUSY_RETRY_AFTER: u64 = 5;

impl From<coffer_accounts::AccountError> for ApiError {
    fn from(e: coffer_accounts::AccountError) -> Self {
        ApiError::from_code(e.code(), e.to_string())
    }
}

impl From<coffer_retention::manage::RetentionError> for ApiError {
    fn from(e: coffer_retention::manage::RetentionError) -> Self {
        use coffer_retention::manage::RetentionError as R;
        match e {
            R::Audit(a) => a.into(),
            R::Index(i) => i.into(),
            other => ApiError::from_code(other.code(), other.to_string()),
        }
    }
}

impl From<coffer_audit::Error> for ApiError {
    fn from(e: coffer_audit::Error) -> Self {
        // The audit trail must not fail open: no audit, no content.
        match e.code() {
            ErrorCode::Corruption => ApiError::Corruption(format!("audit trail: {e}")),
            _ => ApiError::Unavailable(format!("audit trail: {e}")),
        }
    }
}

impl From<coffer_index::Error> for ApiError {
    fn from(e: coffer_index::Error) -> Self {
        match e {
            coffer_index::Error::Query(_) => ApiError::BadQuery(e.to_string()),
            other => ApiError::from_code(other.code(), other.to_string()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ApiError::UnsupportedMediaType("expected Content-Type: application/json".into())
            }
            _ => ApiError::BadRequest(format!("malformed JSON body: {}", rejection.body_text())),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(format!("malformed query string: {}", rejection.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(format!("malformed path: {}", rejection.body_text()))
    }
}

/// `Json` whose rejection is an [`ApiError`] (so malformed JSON gets our error shape);
/// also a JSON response.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct AppJson<T>(pub T);

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// `Query` whose rejection is an [`ApiError`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct AppQuery<T>(pub T);

/// `Path` whose rejection is an [`ApiError`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct AppPath<T>(pub T);
