//! The command line's way in: account changes and shell reads of content from the
//! machine Coffer runs on, audited like everything else, whether or not a server runs.
//!
//! # The local admin socket
//! `coffer serve` listens on `DATA/admin.sock`, a Unix socket of mode 0600 inside the
//! 0700 data directory: only the data directory's owner (and root) can connect, and the
//! peer's operating-system user, read from the socket itself (`SO_PEERCRED`), is the
//! actor: `local:OSUSER` with the administrator's capabilities. The socket serves the
//! account routes of the API (users, groups, domains, tokens) and one route of its own,
//! `POST /api/v1/local/audit`, which records a shell read of content (`coffer search`,
//! `coffer show`) in the audit trail. TCP clients can never be that caller: the identity
//! comes only from the socket connection.
//!
//! # The command line ([`LocalAdmin`])
//! A command that changes accounts or reads content takes the data directory's lock
//! when it can (no server running): it opens the catalog and the audit trail itself and
//! makes the change through the same [`Administration`]; when `coffer serve` holds the
//! lock it sends the change through the socket instead. Either way the change and its
//! audit entry are one outcome.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::serve::IncomingStream;
use coffer_accounts::{Actor, Administration, PasswordParams, UserChange, UserSpec};
use coffer_audit::{AuditEntry, AuditLog, Outcome, audit_dir};
use coffer_catalog::Catalog;
use coffer_index::IndexSet;
use coffer_ingest::DataDir;
use coffer_retention::manage::RetentionAdmin;
use coffer_retention::runs::Dispositions;
use coffer_volume::{ArchiveKey, DataDirLock, VolumeConfig};
use serde::{Deserialize, Serialize};
use tokio::net::UnixListener;
use tokio::sync::watch;

use crate::error::{ApiError, AppJson};
use crate::routes::domains::DomainView;
use crate::routes::groups::GroupView;
use crate::routes::tokens::TokenView;
use crate::routes::users::{ImportView, UserView};
use crate::state::AppState;

/// File name of the admin socket inside the data directory.
pub const ADMIN_SOCKET: &str = "admin.sock";

/// How `coffer serve` names itself in the lock file; a lock held by this holder means
/// the socket is there to use.
pub const SERVE_HOLDER: &str = "coffer serve";

/// The operating-system user at the other end of the admin socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPeer {
    /// User name (or `uid:N` when the system has no name for it).
    pub user: String,
}

impl Connected<IncomingStream<'_, UnixListener>> for LocalPeer {
    fn connect_info(stream: IncomingStream<'_, UnixListener>) -> Self {
        let user = match stream.io().peer_cred() {
            Ok(cred) => os_user_name(cred.uid()),
            // Unknown peers get a name that is no user's; the socket's mode already
            // limits who can connect.
            Err(_) => "unknown".to_string(),
        };
        LocalPeer { user }
    }
}

/// The name of user `uid`, or `uid:N`.
fn os_user_name(uid: u32) -> String {
    uzers::get_user_by_uid(uid)
        .map(|u| u.name().to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("uid:{uid}"))
}

/// The operating-system user running this process.
pub fn current_os_user() -> String {
    os_user_name(uzers::get_current_uid())
}

/// A shell read of content, for the audit trail.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LocalAccess {
    /// `search`, `message.view`, `message.raw`.
    pub action: String,
    /// A message id, or empty.
    pub target: String,
    /// Ids, hashes, counts, the query text; never message content.
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// `POST /api/v1/local/audit` (admin socket only): records a shell read of content.
async fn record_access(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<LocalPeer>,
    AppJson(access): AppJson<LocalAccess>,
) -> Result<axum::http::StatusCode, ApiError> {
    let entry = Actor::local(&peer.user);
    let entry = AuditEntry::new(
        entry.name,
        &access.action,
        access.target,
        Outcome::Success,
        entry.client,
    )
    .with_detail(access.detail);
    state.audit().record(entry).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Serves the admin socket at `data_dir/admin.sock` until `stopping` turns true, then
/// removes it.
pub async fn serve_admin_socket(
    state: AppState,
    data_dir: &Path,
    mut stopping: watch::Receiver<bool>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use std::os::unix::fs::PermissionsExt;
    let path = data_dir.join(ADMIN_SOCKET);
    // The server holds the data directory's lock: a socket file left here is stale.
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let (api, _) = crate::account_routes().split_for_parts();
    let app: Router = api
        .route("/api/v1/local/audit", axum::routing::post(record_access))
        .route(
            "/api/v1/local/holds",
            axum::routing::get(dispositions::list_holds).post(dispositions::place_hold),
        )
        .route(
            "/api/v1/local/holds/{id}/release",
            axum::routing::post(dispositions::release_hold),
        )
        .fallback(|| async { ApiError::NoRoute })
        .with_state(state);
    let service = app.into_make_service_with_connect_info::<LocalPeer>();
    Ok(tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        };
        if let Err(e) = axum::serve(listener, service)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "admin socket stopped");
        }
        let _ = std::fs::remove_file(&path);
    }))
}

/// Whether `error` says that `coffer serve` holds the data directory.
fn held_by_server(error: &coffer_volume::Error) -> bool {
    matches!(error, coffer_volume::Error::Locked { holder, .. } if holder.contains(SERVE_HOLDER))
}

/// How long a command waits for another command (not a server) to release the lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Takes the data directory's lock, waiting up to [`LOCK_WAIT`] while another short
/// command holds it (two shell searches at once); a running server's lock is returned
/// at once as the error it is.
async fn acquire_lock(data_dir: &Path, holder: &str) -> Result<DataDirLock, coffer_volume::Error> {
    let started = std::time::Instant::now();
    loop {
        match DataDirLock::acquire(data_dir, holder) {
            Err(e @ coffer_volume::Error::Locked { .. })
                if !held_by_server(&e) && started.elapsed() < LOCK_WAIT =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

/// Errors of [`LocalAdmin`].
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The change was refused or failed (the reason is the API's).
    #[error("{0}")]
    Refused(String),
    /// The data directory could not be opened.
    #[error(transparent)]
    Volume(#[from] coffer_volume::Error),
    /// The catalog could not be opened.
    #[error(transparent)]
    Ingest(#[from] coffer_ingest::IngestError),
    /// The audit trail could not be opened or written.
    #[error(transparent)]
    Audit(#[from] coffer_audit::Error),
    /// An account rule refused the change.
    #[error(transparent)]
    Account(#[from] coffer_accounts::AccountError),
    /// The running server could not be reached on its socket.
    #[error("the running server's admin socket {}: {source}", path.display())]
    Socket {
        /// The socket.
        path: PathBuf,
        /// What went wrong.
        source: reqwest::Error,
    },
    /// A blocking task failed.
    #[error("{0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The command line's account administration and content-access audit (see the
/// [module docs](self)).
pub enum LocalAdmin {
    /// No server runs: this process holds the lock and writes the audit trail itself.
    Direct {
        /// Audited administration.
        administration: Administration,
        /// The audit trail (for shell reads; checkpointed on [`LocalAdmin::close`]).
        audit: AuditLog,
        /// The actor (`local:OSUSER`).
        actor: Actor,
        /// Retention administration over the same catalog and trail.
        retention: RetentionAdmin,
        /// Disposition runs (proposed, approved and rejected here; executed by the
        /// server when it next starts).
        dispositions: Box<Dispositions>,
        /// The data directory's lock, held until closed.
        lock: DataDirLock,
    },
    /// A server runs: changes go through its admin socket.
    Server {
        /// The HTTP client bound to the socket.
        client: reqwest::Client,
        /// The socket (for messages).
        socket: PathBuf,
    },
}

impl std::fmt::Debug for LocalAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LocalAdmin::Direct { actor, .. } => write!(f, "LocalAdmin::Direct({})", actor.name),
            LocalAdmin::Server { socket, .. } => {
                write!(f, "LocalAdmin::Server({})", socket.display())
            }
        }
    }
}

/// The JSON error body of the API.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: String,
}

impl LocalAdmin {
    /// Opens the data directory for an account change or a shell read: directly when no
    /// server runs (`holder` names this command in the lock file), else through the
    /// running server's admin socket. `catalog_url` is the configured catalog,
    /// `signing_key` the configured private key path (default `keys/archive.key`).
    pub async fn open(
        data_dir: &Path,
        catalog_url: Option<&str>,
        signing_key: Option<&Path>,
        holder: &str,
    ) -> Result<Self, LocalError> {
        std::fs::create_dir_all(data_dir).map_err(|source| coffer_volume::Error::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        match acquire_lock(data_dir, holder).await {
            Ok(lock) => {
                let dir =
                    DataDir::new(data_dir).with_signing_key(signing_key.map(Path::to_path_buf));
                let catalog = Arc::new(dir.open_catalog(catalog_url).await?);
                let (private, keys) = (dir.signing_key(), dir.keys());
                let layout = dir.clone();
                let (key, _) = tokio::task::spawn_blocking(move || -> Result<_, LocalError> {
                    // Like every writer: finish a key rotation a crash interrupted.
                    coffer_ingest::key_rotation::finish_interrupted(&layout, &mut |_| {})?;
                    Ok(ArchiveKey::load_or_create_at(&private, &keys)?)
                })
                .await??;
                let audit = AuditLog::open(
                    &audit_dir(data_dir),
                    key,
                    catalog.clone(),
                    VolumeConfig::default(),
                )
                .await?;
                // Holds defined by a query are evaluated on the index when there is
                // one; without it they count as covering everything (the safe side).
                let index = IndexSet::open_read_only(&dir.index()).ok().map(Arc::new);
                let retention = RetentionAdmin::new(catalog.clone(), audit.clone(), index);
                let dispositions = Box::new(Dispositions::new(
                    retention.clone(),
                    catalog.clone(),
                    audit.clone(),
                    None,
                ));
                Ok(LocalAdmin::Direct {
                    retention,
                    dispositions,
                    administration: Administration::new(
                        catalog,
                        audit.clone(),
                        PasswordParams::default(),
                    ),
                    audit,
                    actor: Actor::local(&current_os_user()),
                    lock,
                })
            }
            Err(e) if held_by_server(&e) => {
                let socket = data_dir.join(ADMIN_SOCKET);
                let client = reqwest::Client::builder()
                    .unix_socket(socket.clone())
                    .build()
                    .map_err(|source| LocalError::Socket {
                        path: socket.clone(),
                        source,
                    })?;
                Ok(LocalAdmin::Server { client, socket })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the change goes through a running server.
    pub fn through_server(&self) -> bool {
        matches!(self, LocalAdmin::Server { .. })
    }

    /// Sends one request over the socket and decodes the answer (`T = ()` for 204).
    async fn call<T: serde::de::DeserializeOwned>(
        client: &reqwest::Client,
        socket: &Path,
        method: reqwest::Method,
        path: &str,
        body: Option<Body>,
    ) -> Result<Option<T>, LocalError> {
        let socket_error = |source| LocalError::Socket {
            path: socket.to_path_buf(),
            source,
        };
        let mut request = client.request(method, format!("http://localhost{path}"));
        request = match body {
            Some(Body::Json(value)) => request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(value.to_string()),
            Some(Body::Csv(bytes)) => request
                .header(reqwest::header::CONTENT_TYPE, "text/csv")
                .body(bytes),
            None => request,
        };
        let response = request.send().await.map_err(socket_error)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(socket_error)?;
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|b| b.error.message)
                .unwrap_or_else(|_| status.to_string());
            return Err(LocalError::Refused(message));
        }
        if bytes.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| LocalError::Refused(format!("unexpected answer from the server: {e}")))
    }

    async fn required<T: serde::de::DeserializeOwned>(
        client: &reqwest::Client,
        socket: &Path,
        method: reqwest::Method,
        path: &str,
        body: Option<Body>,
    ) -> Result<T, LocalError> {
        Self::call(client, socket, method, path, body)
            .await?
            .ok_or_else(|| LocalError::Refused("empty answer from the server".into()))
    }

    /// Creates a user.
    pub async fn create_user(&self, spec: &UserSpec) -> Result<UserView, LocalError> {
        match self {
            LocalAdmin::Direct {
                administration,
                actor,
                ..
            } => {
                let created = administration.create_user(actor, spec).await?;
                Ok(UserView::new(created.user, created.generated_password))
            }
            LocalAdmin::Server { client, socket } => {
                Self::required(
                    client,
                    socket,
                    reqwest::Method::POST,
                    "/api/v1/users",
                    Some(Body::Json(user_spec_json(spec))),
                )
                .await
            }
        }
    }

    /// Changes a user.
    pub async fn update_user(
        &self,
        username: &str,
        change: &UserChange,
    ) -> Result<UserView, LocalError> {
        match self {
            LocalAdmin::Direct {
                administration,
                actor,
                ..
            } => Ok(UserView::new(
                administration.update_user(actor, username, change).await?,
                None,
            )),
            LocalAdmin::Server { client, socket } => {
                Self::required(
                    client,
                    socket,
                    reqwest::Method::PATCH,
                    &format!("/api/v1/users/{}", path_segment(username)),
                    Some(Body::Json(user_change_json(change))),
                )
                .await
            }
        }
    }

    /// Every user.
    pub async fn list_users(&self) -> Result<Vec<UserView>, LocalError> {
        match self {
            LocalAdmin::Direct { administration, .. } => Ok(administration
                .catalog()
                .list_users()
                .await
                .map_err(coffer_accounts::AccountError::from)?
                .into_iter()
                .map(|u| UserView::new(u, None))
                .collect()),
            LocalAdmin::Server { client, socket } => {
                let list: crate::routes::users::UserList =
                    Self::required(client, socket, reqwest::Method::GET, "/api/v1/users", None)
                        .await?;
                Ok(list.users)
            }
        }
    }

    /// Creates users from CSV.
    pub async fn import_users(&self, csv: Vec<u8>) -> Result<ImportView, LocalError> {
        match self {
            LocalAdmin::Direct {
                administration,
                actor,
                ..
            } => Ok(administration
                .import_csv(actor, csv.as_slice())
                .await?
                .into()),
            LocalAdmin::Server { client, socket } => {
                Self::required(
                    client,
                    socket,
                    reqwest::Method::POST,
                    "/api/v1/users/import",
                    Some(Body::Csv(csv)),
                )
                .await
            }
        }
    }

    /// Creates a journal token (the secret is in the answer).
    pub async fn create_token(&self, name: &str) -> Result<TokenView, LocalError> {
        match self {
            LocalAdmin::Direct {
                administration,
                actor,
                ..
            } => {
                let (token, record) = administration.create_token(actor, name).await?;
                Ok(TokenView::new(record, Some(token)))
            }
            LocalAdmin::Server { client, socket } => {
                Self::required(
                    client,
                    socket,
                    reqwest::Method::POST,
                    "/api/v1/tokens",
                    Some(Body::Json(serde_json::json!({ "name": name }))),
                )
                .await
            }
        }
    }

    /// Every journal token (never the secrets).
    pub async fn list_tokens(&self) -> Result<Vec<TokenView>, LocalError> {
        match self {
            LocalAdmin::Direct { administration, .. } => Ok(administration
                .catalog()
                .list_api_tokens()
                .await
                .map_err(coffer_accounts::AccountError::from)?
                .into_iter()
                .map(|t| TokenView::new(t, None))
                .collect()),
            LocalAdmin::Server { client, socket } => {
                let list: crate::routes::tokens::TokenList =
                    Self::required(client, socket, reqwest::Method::GET, "/api/v1/tokens", None)
                        .await?;
                Ok(list.tokens)
            }
        }
    }

    /// Revokes a journal token.
    pub async fn revoke_token(&self, name: &str) -> Result<(), LocalError> {
        match self {
            LocalAdmin::Direct {
                administration,
                actor,
                ..
            } => Ok(administration.revoke_token(actor, name).await?),
            LocalAdmin::Server { client, socket } => {
                Self::call::<serde_json::Value>(
                    client,
                    socket,
                    reqwest::Method::DELETE,
                    &format!("/api/v1/tokens/{}", path_segment(name)),
                    None,
                )
                .await?;
                Ok(())
            }
        }
    }

    /// Every group.
    pub async fn list_groups(&self) -> Result<Vec<GroupView>, LocalError> {
        match self {
            LocalAdmin::Direct { administration, .. } => Ok(administration
                .catalog()
                .list_groups()
                .await
                .map_err(coffer_accounts::AccountError::from)?
                .into_iter()
                .map(GroupView::from)
                .collect()),
            LocalAdmin::Server { client, socket } => {
                let list: crate::routes::groups::GroupList =
                    Self::required(client, socket, reqwest::Method::GET, "/api/v1/groups", None)
                        .await?;
                Ok(list.groups)
            }
        }
    }

    /// Sets a group's archiving rule.
    pub async fn set_group_rule(&self, name: &str, rule: &str) -> Result<(), LocalError> {
        match self {
            LocalAdmin::Direct {
                administration,
                actor,
                ..
            } => Ok(administration.set_group_rule(actor, name, rule).await?),
            LocalAdmin::Server { client, socket } => {
                Self::call::<serde_json::Value>(
                    client,
                    socket,
                    reqwest::Method::PATCH,
                    &format!("/api/v1/groups/{}", path_segment(name)),
                    Some(Body::Json(serde_json::json!({ "archiving_rule": rule }))),
                )
                .await?;
                Ok(())
            }
        }
    }

    /// Adds a local domain.
    pub async fn add_domain(&self, name: &str) -> Result<DomainView, LocalError> {
        match self {
            LocalAdmin::Direct {
                administration,
                actor,
                ..
            } => Ok(administration.add_domain(actor, name).await?.into()),
            LocalAdmin::Server { client, socket } => {
                Self::required(
                    client,
                    socket,
                    reqwest::Method::POST,
                    "/api/v1/domains",
                    Some(Body::Json(serde_json::json!({ "name": name }))),
                )
                .await
            }
        }
    }

    /// Every local domain.
    pub async fn list_domains(&self) -> Result<Vec<DomainView>, LocalError> {
        match self {
            LocalAdmin::Direct { administration, .. } => Ok(administration
                .catalog()
                .list_domains()
                .await
                .map_err(coffer_accounts::AccountError::from)?
                .into_iter()
                .map(DomainView::from)
                .collect()),
            LocalAdmin::Server { client, socket } => {
                let list: crate::routes::domains::DomainList = Self::required(
                    client,
                    socket,
                    reqwest::Method::GET,
                    "/api/v1/domains",
                    None,
                )
                .await?;
                Ok(list.domains)
            }
        }
    }

    /// Removes a local domain.
    pub async fn delete_domain(&self, name: &str) -> Result<(), LocalError> {
        match self {
            LocalAdmin::Direct {
                administration,
                actor,
                ..
            } => Ok(administration.delete_domain(actor, name).await?),
            LocalAdmin::Server { client, socket } => {
                Self::call::<serde_json::Value>(
                    client,
                    socket,
                    reqwest::Method::DELETE,
                    &format!("/api/v1/domains/{}", path_segment(name)),
                    None,
                )
                .await?;
                Ok(())
            }
        }
    }

    /// Records a shell read of content (`coffer search`, `coffer show`) in the audit
    /// trail, durably, before the content is printed.
    pub async fn record_access(&self, access: LocalAccess) -> Result<(), LocalError> {
        match self {
            LocalAdmin::Direct { audit, actor, .. } => {
                let entry = AuditEntry::new(
                    actor.name.clone(),
                    &access.action,
                    access.target,
                    Outcome::Success,
                    actor.client.clone(),
                )
                .with_detail(access.detail);
                audit.record(entry).await?;
                Ok(())
            }
            LocalAdmin::Server { client, socket } => {
                Self::call::<serde_json::Value>(
                    client,
                    socket,
                    reqwest::Method::POST,
                    "/api/v1/local/audit",
                    Some(Body::Json(
                        serde_json::to_value(&access).unwrap_or_default(),
                    )),
                )
                .await?;
                Ok(())
            }
        }
    }

    /// The catalog, when this process opened it (no server running).
    pub fn catalog(&self) -> Option<&Arc<Catalog>> {
        match self {
            LocalAdmin::Direct { administration, .. } => Some(administration.catalog()),
            LocalAdmin::Server { .. } => None,
        }
    }

    /// Signs a final checkpoint of the audit trail and releases the lock (direct mode).
    pub async fn close(self) -> Result<(), LocalError> {
        if let LocalAdmin::Direct { audit, lock, .. } = self {
            // The catalog rows of what this command recorded, before the lock goes.
            audit.catch_up().await?;
            tokio::task::spawn_blocking(move || audit.checkpoint()).await??;
            drop(lock);
        }
        Ok(())
    }
}

mod dispositions;
mod retention;

pub use dispositions::LocalHold;

/// A request body for the socket.
enum Body {
    Json(serde_json::Value),
    Csv(Vec<u8>),
}

fn path_segment(value: &str) -> String {
    value
        .trim()
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn user_spec_json(spec: &UserSpec) -> serde_json::Value {
    serde_json::json!({
        "username": spec.username,
        "password": spec.password,
        "role": spec.role,
        "mailboxes": spec.mailboxes,
        "domains": spec.domains,
        "groups": spec.groups,
        "archiving_rule": spec.archiving_rule,
    })
}

fn user_change_json(change: &UserChange) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    let mut put = |name: &str, value: serde_json::Value| {
        if !value.is_null() {
            out.insert(name.to_string(), value);
        }
    };
    put("password", serde_json::json!(change.password));
    put("role", serde_json::json!(change.role));
    put("mailboxes", serde_json::json!(change.mailboxes));
    put("domains", serde_json::json!(change.domains));
    put("groups", serde_json::json!(change.groups));
    put("disabled", serde_json::json!(change.disabled));
    put("archiving_rule", serde_json::json!(change.archiving_rule));
    serde_json::Value::Object(out)
}
