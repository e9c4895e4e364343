//! Authentication and THE role check (DESIGN.md, "Roles").
//!
//! Handlers take [`Authorized<C>`] where `C` names a [`Capability`]: the extractor
//! authenticates the bearer token (a login session `cs_...` or a journal API token
//! `cj_...`, through [`coffer_accounts::authenticate`]), builds the [`Caller`] with role and scope, and checks the capability
//! against [`allows`] — the only table of who may do what. A missing or invalid token
//! is 401; a role without the capability is 403 and audited (action = capability,
//! target = method and path, outcome `denied`).
//!
//! # Browser sessions (the web UI)
//! A browser holds the same login session in a cookie instead of an `Authorization`
//! header ([`SESSION_COOKIE`]: `HttpOnly`, `SameSite=Strict`, `Path=/`, `Secure` when a
//! trusted proxy says the request came over TLS), set by `POST /api/v1/session/cookie`.
//! Only session tokens are accepted from it (never a journal token). A request that
//! authenticates by cookie and changes state (any method but GET, HEAD and OPTIONS)
//! must also carry [`CSRF_HEADER`] with the session's CSRF token ([`csrf_token`], a
//! one-way derivation of the session token that the login answer and
//! `GET /api/v1/session` hand to the page; the cookie itself is unreadable to scripts);
//! without it the request is refused 403 and audited (`csrf`). A bearer token wins
//! over a cookie, so API clients are unaffected: a cross-site page can make a browser
//! send its cookie, never an `Authorization` header.
//!
//! # Scope
//! [`coffer_accounts::scope_of`] derives what content a caller may see: a `user` their own mailbox
//! addresses (aliases included), an `officer` the mailboxes of their domains (or all
//! with `*`); admins, auditors and journal tokens see none. Groups grant nothing. The
//! scope goes into the index search and every per-message lookup ([`Caller::content_scope`],
//! [`Caller::proof_scope`]); a message outside it is answered 404 like a missing one.

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, OriginalUri};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use coffer_audit::{AuditEntry, Outcome};
pub use coffer_model::{Capability, allows};
use coffer_model::{RecipientView, Role, Scope};

use crate::error::ApiError;
use crate::local::LocalPeer;
use crate::state::{AppState, now_secs};
use coffer_accounts::token_hash;
use coffer_ingest::smtp::Cidr;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// User id (or API token id for journal tokens); what logs carry.
    pub id: i64,
    /// Username or token name; what the audit trail names.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Content scope.
    pub scope: Scope,
    /// Client address.
    pub client: String,
    /// SHA-256 of the bearer token (to end the session).
    pub token_hash: [u8; 32],
    /// The session's CSRF token, when the request authenticated by cookie.
    pub csrf: Option<String>,
}

impl Caller {
    /// The scope for content (search, view, raw, attachments).
    pub fn content_scope(&self) -> &Scope {
        &self.scope
    }

    /// The scope for proofs: roles that see no content may prove any message by id
    /// (the proof then carries no custody metadata).
    pub fn proof_scope(&self) -> Scope {
        if allows(self.role, Capability::ReadContent) {
            self.scope.clone()
        } else {
            Scope::All
        }
    }

    /// Whose hidden recipients this caller may learn: a user (custodian) only their own
    /// mailbox addresses; everybody else every recipient (officers see the evidence;
    /// other roles see no content at all).
    pub fn recipient_view(&self) -> RecipientView {
        match (&self.role, &self.scope) {
            (Role::User, Scope::Restricted { mailboxes, .. }) => {
                RecipientView::own(mailboxes.iter())
            }
            (Role::User, Scope::All) => RecipientView::Own(Default::default()),
            _ => RecipientView::All,
        }
    }

    /// The domains whose legal holds this caller places and sees: an officer's domains
    /// (`*` for all); every other role `*` (auditors read every hold).
    pub fn hold_domains(&self) -> Vec<String> {
        match (&self.role, &self.scope) {
            (Role::Officer, Scope::Restricted { domains, .. }) => domains.iter().cloned().collect(),
            _ => vec!["*".to_string()],
        }
    }

    /// Whether responses may include content-derived data (custody metadata).
    pub fn sees_content(&self) -> bool {
        allows(self.role, Capability::ReadContent)
    }

    /// The only actor whose audit entries this caller may read (officers: themselves).
    pub fn audit_actor_restriction(&self) -> Option<&str> {
        (self.role == Role::Officer).then_some(self.name.as_str())
    }

    /// This caller as the actor of an account change.
    pub fn actor(&self) -> coffer_accounts::Actor {
        if self.client == "local" && self.name.starts_with("local:") {
            coffer_accounts::Actor {
                name: self.name.clone(),
                client: self.client.clone(),
                account: None,
            }
        } else {
            coffer_accounts::Actor::person(&self.name, &self.client)
        }
    }

    /// An audit entry by this caller.
    pub fn entry(&self, action: &str, target: impl Into<String>, outcome: Outcome) -> AuditEntry {
        AuditEntry::new(
            self.name.clone(),
            action,
            target,
            outcome,
            self.client.clone(),
        )
    }
}

/// The client address of a request: the peer's, or — when the peer is a trusted proxy
/// ([`crate::ApiConfig::trusted_proxies`]) — the right-most `X-Forwarded-For` address that
/// is not itself a trusted proxy. Clients set whatever they like at the left of that
/// header; only what the trusted proxies appended is believed.
pub fn client_addr(parts: &Parts, state: &AppState) -> String {
    let Some(peer) = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
    else {
        return "unknown".to_string();
    };
    forwarded_client(
        peer,
        parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok()),
        &state.config().trusted_proxies,
    )
    .to_string()
}

/// The client behind `peer` as the `X-Forwarded-For` values tell it, trusting only
/// `proxies` (see [`client_addr`]).
fn forwarded_client<'a>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'a str>,
    proxies: &[Cidr],
) -> IpAddr {
    if !Cidr::any_contains(proxies, peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            // An unreadable hop: what is left of it cannot be believed.
            return client;
        };
        client = ip;
        if !Cidr::any_contains(proxies, ip) {
            return ip;
        }
    }
    client
}

/// The client address as an extractor (for the login, which has no caller yet).
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(ClientAddr(client_addr(parts, state)))
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The name of the browser session cookie.
pub const SESSION_COOKIE: &str = "coffer_session";

/// The header that carries the CSRF token of a cookie session.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session token in the request's [`SESSION_COOKIE`], if any.
fn session_cookie(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// The CSRF token bound to a session token: hex SHA-256 over a purpose label and the
/// token. Whoever can compute it holds the session token already.
pub fn csrf_token(session_token: &str) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(b"coffer-csrf-v1\0");
    hasher.update(session_token.as_bytes());
    hex::encode(hasher.finalize())
}

/// Whether `a` and `b` are equal, in time that does not depend on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the request came over TLS: a trusted proxy ([`crate::ApiConfig::trusted_proxies`])
/// said so with `X-Forwarded-Proto: https` (Coffer's HTTP listener is plain HTTP).
pub fn came_over_tls(parts: &Parts, state: &AppState) -> bool {
    let from_trusted_proxy = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(addr)| {
            Cidr::any_contains(&state.config().trusted_proxies, addr.ip())
        });
    from_trusted_proxy
        && parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.rsplit(',')
                    .next()
                    .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
            })
}

/// Whether the request came over TLS ([`came_over_tls`]), as an extractor.
#[derive(Debug, Clone, Copy)]
pub struct OverTls(pub bool);

impl FromRequestParts<AppState> for OverTls {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(OverTls(came_over_tls(parts, state)))
    }
}

/// The `Set-Cookie` value that stores `token` for `max_age_secs` (0 clears it).
pub fn session_cookie_header(token: &str, max_age_secs: i64, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Authenticates the bearer token of a request — or, on the local admin socket, the
/// operating-system user at the other end of it ([`crate::local`]).
async fn authenticate(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    if let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<LocalPeer>>() {
        let actor = coffer_accounts::Actor::local(&peer.user);
        return Ok(Caller {
            id: 0,
            name: actor.name,
            role: Role::Admin,
            scope: Scope::mailboxes(Vec::<String>::new()),
            client: actor.client,
            token_hash: [0; 32],
            csrf: None,
        });
    }
    let unauthenticated = |reason| {
        state.metrics().auth_failure("token");
        ApiError::Unauthenticated(reason)
    };
    let (token, by_cookie) = match (bearer(parts), session_cookie(parts)) {
        (Some(token), _) => (token, false),
        (None, Some(token)) if token.starts_with(coffer_accounts::SESSION_PREFIX) => (token, true),
        _ => {
            return Err(unauthenticated(
                "a bearer token is required (POST /api/v1/session)",
            ));
        }
    };
    let idle = i64::try_from(state.config().session_idle.as_secs()).unwrap_or(i64::MAX);
    let principal = coffer_accounts::authenticate(state.catalog(), token, now_secs(), idle).await?;
    let caller = principal.map(|p| Caller {
        id: p.id,
        name: p.name,
        role: p.role,
        scope: p.scope,
        client: client_addr(parts, state),
        token_hash: token_hash(token),
        csrf: by_cookie.then(|| csrf_token(token)),
    });
    let caller =
        caller.ok_or_else(|| unauthenticated("the token is invalid, expired or revoked"))?;
    tracing::Span::current().record("user_id", caller.id);
    if let Some(expected) = &caller.csrf
        && !parts.method.is_safe()
    {
        let presented = parts
            .headers
            .get(CSRF_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !same_secret(presented, expected.as_bytes()) {
            state.metrics().auth_failure("csrf");
            tracing::info!(
                user_id = caller.id,
                "state change by cookie without the csrf token"
            );
            let entry = caller.entry("csrf", request_target(parts), Outcome::Denied);
            if let Err(e) = state.audit().record(entry).await {
                state.metrics().audit_failure();
                tracing::error!(error = %e, "could not audit a refused request");
            }
            return Err(ApiError::Forbidden(format!(
                "forbidden: a change made with a session cookie needs the {CSRF_HEADER} header of that session"
            )));
        }
    }
    Ok(caller)
}

/// A capability as a type, so a handler states what it needs in its signature.
pub trait Needs: Send + Sync + 'static {
    /// The capability.
    const CAPABILITY: Capability;
}

/// Capability marker types for [`Authorized`].
pub mod cap {
    use super::{Capability, Needs};

    macro_rules! markers {
        ($($name:ident),* $(,)?) => {$(
            #[doc = concat!("Marker for [`Capability::", stringify!($name), "`].")]
            #[derive(Debug)]
            pub struct $name;
            impl Needs for $name {
                const CAPABILITY: Capability = Capability::$name;
            }
        )*};
    }
    markers!(
        ManageAccounts,
        ReadContent,
        ReadProofs,
        ReadVolumes,
        RunVerification,
        ReadAudit,
        SubmitMessages,
        OwnSession,
        ManageRetention,
        ReadRetention,
        ManageHolds,
        ReadHolds,
        ManageDispositions,
        ReadDispositions
    );
}

/// An authenticated caller whose role has capability `C`.
#[derive(Debug)]
pub struct Authorized<C: Needs>(pub Caller, pub(crate) PhantomData<C>);

impl<C: Needs> FromRequestParts<AppState> for Authorized<C> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = authenticate(parts, state).await?;
        if allows(caller.role, C::CAPABILITY) {
            return Ok(Authorized(caller, PhantomData));
        }
        state.metrics().auth_failure("forbidden");
        tracing::info!(user_id = caller.id, role = %caller.role, capability = C::CAPABILITY.name(), "request denied");
        let entry = caller.entry(C::CAPABILITY.name(), request_target(parts), Outcome::Denied);
        if let Err(e) = state.audit().record(entry).await {
            state.metrics().audit_failure();
            tracing::error!(error = %e, "could not audit a denied request");
        }
        Err(ApiError::Forbidden(denial(caller.role, C::CAPABILITY)))
    }
}

/// A refused request as the audit trail names it: the method and the full path (nested
/// routers see only their part of `parts.uri`); never the query string, which can carry
/// query text.
fn request_target(parts: &Parts) -> String {
    let path = parts
        .extensions
        .get::<OriginalUri>()
        .map_or_else(|| parts.uri.path(), |u| u.0.path());
    format!("{} {path}", parts.method)
}

/// Why a request was refused, for the caller: their own role, the capability and the
/// roles that have it (from the one role table), so that an administrator who tries to
/// search learns that content is for officers and users rather than just "forbidden".
fn denial(role: Role, capability: Capability) -> String {
    let allowed: Vec<&str> = Role::ALL
        .into_iter()
        .filter(|r| allows(*r, capability))
        .map(Role::as_str)
        .collect();
    format!(
        "forbidden: the {role} role does not have {} (roles that do: {})",
        capability.name(),
        allowed.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hops_appended_by_trusted_proxies_are_believed() {
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        let proxies: Vec<Cidr> = vec!["10.0.0.0/24".parse().expect("cidr")];
        let client = |peer: IpAddr, header: &[&str]| {
            forwarded_client(peer, header.iter().copied(), &proxies).to_string()
        };
        // A spoofed left-most value is ignored: the proxy appended the real client.
        assert_eq!(client(proxy, &["6.6.6.6, 203.0.113.7"]), "203.0.113.7");
        // Two trusted proxies in a row.
        assert_eq!(client(proxy, &["203.0.113.7, 10.0.0.2"]), "203.0.113.7");
        assert_eq!(client(proxy, &["6.6.6.6", "203.0.113.7"]), "203.0.113.7");
        // Not from a trusted proxy: the header is ignored.
        let stranger: IpAddr = "198.51.100.9".parse().expect("ip");
        assert_eq!(client(stranger, &["1.2.3.4"]), "198.51.100.9");
        // Nothing untrusted in the header: the left-most trusted hop.
        assert_eq!(client(proxy, &["10.0.0.3"]), "10.0.0.3");
        assert_eq!(client(proxy, &[]), "10.0.0.1");
        assert_eq!(client(proxy, &["junk, 203.0.113.7"]), "203.0.113.7");
    }
}
