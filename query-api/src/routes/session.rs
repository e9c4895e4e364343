//! `POST /api/v1/session` (log in) and `DELETE /api/v1/session` (log out); for the web
//! UI, `POST /api/v1/session/cookie` (log in, the session in an `HttpOnly` cookie) and
//! `GET /api/v1/session` (who am I: role, capabilities from the role table, the CSRF
//! token of a cookie session). Logging out and changing one's password clear the cookie.
//!
//! A login is counted by the throttle before the password is checked
//! ([`crate::throttle`]: per account and client, per client, per account), waits for one
//! of a few Argon2id slots, verifies on a blocking thread (against a dummy hash when the
//! user is unknown or disabled, so timing does not tell), and is audited either way —
//! failures summarised per account and client ([`crate::login_failures`]). The token is
//! returned once; only its SHA-256 is stored.

use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use coffer_audit::{AuditEntry, Outcome};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{
    Authorized, Capability, ClientAddr, OverTls, allows, cap, csrf_token, session_cookie_header,
};
use crate::error::{ApiError, AppJson, ErrorResponse};
use crate::routes::rfc3339;
use crate::state::{AppState, now_secs};
use coffer_accounts::{SESSION_PREFIX, new_token, verify_password_blocking};

/// Longest a login waits for a password-checking slot before 503.
const LOGIN_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login, logout, whoami))
        .routes(routes!(cookie_login))
        .routes(routes!(change_password))
}

/// Credentials.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    /// Login name.
    username: String,
    /// Password.
    password: String,
}

/// A new session.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LoginResponse {
    /// Bearer token (`cs_...`), shown once.
    token: String,
    /// The user's role.
    role: String,
    /// When the session ends (RFC 3339).
    expires: String,
}

/// A session that was just opened.
struct Opened {
    token: String,
    username: String,
    role: coffer_model::Role,
    expires: i64,
}

/// Checks credentials (throttled, audited either way) and opens a session.
async fn open_session(
    state: &AppState,
    client: String,
    body: LoginRequest,
) -> Result<Opened, ApiError> {
    let username = body.username.trim().to_ascii_lowercase();
    let now = Instant::now();
    let credentials = state.catalog().credentials(&username).await?;
    // Known usernames are named in the audit trail; unknown ones are not recorded (they
    // are often passwords typed into the wrong field).
    let actor = if credentials.is_some() {
        username.clone()
    } else {
        "anonymous".to_string()
    };
    let attempt = match state.throttle().begin(&username, &client, now) {
        Ok(attempt) => attempt,
        Err(wait) => {
            state.metrics().auth_failure("throttled");
            state.login_failed(&actor, &client, "throttled").await?;
            return Err(ApiError::Throttled {
                retry_after: wait.as_secs().max(1),
            });
        }
    };
    let (hash, usable) = match &credentials {
        Some(c) if !c.disabled => (c.password_hash.clone(), true),
        _ => (state.dummy_hash().to_string(), false),
    };
    // At most a few Argon2id checks at once (19 MiB each): a burst waits its turn
    // instead of taking the server's memory.
    let permit = tokio::time::timeout(LOGIN_QUEUE_WAIT, state.password_checks().acquire())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| ApiError::Unavailable("too many logins at once; retry shortly".into()))?;
    let verified = verify_password_blocking(body.password, hash).await && usable;
    drop(permit);
    let Some(user) = credentials.filter(|_| verified) else {
        state.metrics().auth_failure("login");
        tracing::info!("login failed");
        state
            .login_failed(&actor, &client, "invalid credentials")
            .await?;
        return Err(ApiError::Unauthenticated("invalid username or password"));
    };
    state.throttle().succeeded(&attempt);
    let (token, hash) = new_token(SESSION_PREFIX);
    let created = now_secs();
    let ttl = i64::try_from(state.config().session_ttl.as_secs()).unwrap_or(i64::MAX);
    let expires = created.saturating_add(ttl);
    state
        .catalog()
        .create_session(&hash, user.id, created, expires)
        .await?;
    state
        .audit()
        .record(AuditEntry::new(
            username.clone(),
            "login",
            username.clone(),
            Outcome::Success,
            client,
        ))
        .await?;
    tracing::info!(user_id = user.id, "login");
    Ok(Opened {
        token,
        username,
        role: user.role,
        expires,
    })
}

/// Log in.
#[utoipa::path(post, path = "/session", tag = "session", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 400, body = ErrorResponse),
              (status = 401, body = ErrorResponse), (status = 429, body = ErrorResponse)))]
async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    AppJson(body): AppJson<LoginRequest>,
) -> Result<AppJson<LoginResponse>, ApiError> {
    let opened = open_session(&state, client, body).await?;
    Ok(AppJson(LoginResponse {
        token: opened.token,
        role: opened.role.to_string(),
        expires: rfc3339(opened.expires),
    }))
}

/// The signed-in person as the web UI needs them.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SessionInfo {
    /// Login name.
    username: String,
    /// Role.
    role: String,
    /// What the role may do (names of the role table's capabilities).
    capabilities: Vec<&'static str>,
    /// The CSRF token to send as `X-CSRF-Token` with every change (cookie sessions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf: Option<String>,
    /// When the session ends at the latest (RFC 3339; in the login answer only).
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<String>,
    /// The session ends after this many seconds without a request.
    idle_timeout_secs: u64,
}

impl SessionInfo {
    fn new(
        state: &AppState,
        username: String,
        role: coffer_model::Role,
        csrf: Option<String>,
        expires: Option<i64>,
    ) -> Self {
        Self {
            username,
            role: role.to_string(),
            capabilities: Capability::ALL
                .into_iter()
                .filter(|c| allows(role, *c))
                .map(Capability::name)
                .collect(),
            csrf,
            expires: expires.map(rfc3339),
            idle_timeout_secs: state.config().session_idle.as_secs(),
        }
    }
}

/// Log in from a browser: the session goes into an `HttpOnly`, `SameSite=Strict` cookie
/// (`Secure` under TLS); the answer carries the CSRF token that changes need.
#[utoipa::path(post, path = "/session/cookie", tag = "session", request_body = LoginRequest,
    responses((status = 200, body = SessionInfo), (status = 400, body = ErrorResponse),
              (status = 401, body = ErrorResponse), (status = 429, body = ErrorResponse)))]
async fn cookie_login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    OverTls(secure): OverTls,
    AppJson(body): AppJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let opened = open_session(&state, client, body).await?;
    let max_age = opened.expires.saturating_sub(now_secs()).max(0);
    let cookie = session_cookie_header(&opened.token, max_age, secure);
    let info = SessionInfo::new(
        &state,
        opened.username,
        opened.role,
        Some(csrf_token(&opened.token)),
        Some(opened.expires),
    );
    let mut response = AppJson(info).into_response();
    set_cookie(&mut response, &cookie);
    Ok(response)
}

/// Who is signed in: role, capabilities, and (cookie sessions) the CSRF token.
#[utoipa::path(get, path = "/session", tag = "session", security(("bearer" = [])),
    responses((status = 200, body = SessionInfo), (status = 401, body = ErrorResponse)))]
async fn whoami(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::OwnSession>,
) -> Result<AppJson<SessionInfo>, ApiError> {
    Ok(AppJson(SessionInfo::new(
        &state,
        caller.name,
        caller.role,
        caller.csrf,
        None,
    )))
}

/// Adds a `Set-Cookie` header.
fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// A response that also clears the session cookie.
fn clearing_cookie(mut response: Response, secure: bool) -> Response {
    set_cookie(&mut response, &session_cookie_header("", 0, secure));
    response
}

/// Log out: the token stops working at once.
#[utoipa::path(delete, path = "/session", tag = "session", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorResponse)))]
async fn logout(
    State(state): State<AppState>,
    OverTls(secure): OverTls,
    Authorized(caller, _): Authorized<cap::OwnSession>,
) -> Result<Response, ApiError> {
    state.catalog().revoke_session(&caller.token_hash).await?;
    state
        .audit()
        .record(caller.entry("logout", caller.name.clone(), Outcome::Success))
        .await?;
    Ok(clearing_cookie(crate::no_content(), secure))
}

/// A change of one's own password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordChange {
    /// The current password.
    current: String,
    /// The new one (10 to 1024 characters).
    new: String,
}

/// Change one's own password (any person; the current password is checked, throttled
/// like a login; the change is audited before it is applied). It ends every session of
/// the account, this one included: sign in again with the new password.
#[utoipa::path(post, path = "/session/password", tag = "session", security(("bearer" = [])),
    request_body = PasswordChange,
    responses((status = 204), (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
              (status = 429, body = ErrorResponse)))]
async fn change_password(
    State(state): State<AppState>,
    OverTls(secure): OverTls,
    Authorized(caller, _): Authorized<cap::OwnSession>,
    AppJson(body): AppJson<PasswordChange>,
) -> Result<Response, ApiError> {
    let now = Instant::now();
    let attempt = match state.throttle().begin(&caller.name, &caller.client, now) {
        Ok(attempt) => attempt,
        Err(wait) => {
            state.metrics().auth_failure("throttled");
            return Err(ApiError::Throttled {
                retry_after: wait.as_secs().max(1),
            });
        }
    };
    let hash = state
        .catalog()
        .credentials(&caller.name)
        .await?
        .map(|c| c.password_hash)
        .ok_or(ApiError::Unauthenticated("invalid username or password"))?;
    let permit = tokio::time::timeout(LOGIN_QUEUE_WAIT, state.password_checks().acquire())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| ApiError::Unavailable("too many logins at once; retry shortly".into()))?;
    let verified = verify_password_blocking(body.current, hash).await;
    drop(permit);
    if !verified {
        state.metrics().auth_failure("login");
        state
            .login_failed(&caller.name, &caller.client, "wrong current password")
            .await?;
        return Err(ApiError::Unauthenticated("the current password is wrong"));
    }
    state.throttle().succeeded(&attempt);
    let change = coffer_accounts::UserChange {
        password: Some(body.new),
        ..Default::default()
    };
    state
        .administration()
        .update_user(&caller.actor(), &caller.name, &change)
        .await?;
    Ok(clearing_cookie(crate::no_content(), secure))
}
