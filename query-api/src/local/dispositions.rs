//! The command line's disposition runs (`coffer disposition ...`) and legal holds
//! (`coffer hold ...`): the same operations as `/api/v1/dispositions` and
//! `/api/v1/holds`, made directly when no server runs or sent through the running
//! server's admin socket — either way audited as `local:OSUSER`.
//!
//! # Holds from the shell
//! The socket's caller has the administrator's capabilities, and administrators do not
//! place holds through the API (that is the officers' duty). The shell is different: a
//! hold only ever keeps more mail, it reads no content, and whoever runs commands as the
//! data directory's owner could stop the archive anyway. So the machine's operator may
//! place and release holds as an officer of every domain, through socket routes of its
//! own (`/api/v1/local/holds`), audited under their operating-system name. A release
//! destroys nothing by itself: mail it frees still needs a four-eyes disposition run.
//!
//! # Executing a run
//! Approval from the shell while the server runs executes the run in the server. With
//! no server running, the run is approved here and executed when `coffer serve` next
//! starts (the shell has no writer of the volumes, the key store or the index).

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Path as AxumPath, State};
use axum::http::StatusCode;
use coffer_accounts::Actor;
use coffer_retention::HoldScope;
use coffer_retention::manage::HoldSpec;

use super::{Body, LocalAdmin, LocalError, LocalPeer};
use crate::error::{ApiError, AppJson};
use crate::routes::dispositions::disposition_view;
use crate::state::AppState;
use crate::views::{DispositionList, DispositionView, HoldList, HoldView};

/// Every domain: the shell's holds.
fn all_domains() -> Vec<String> {
    vec!["*".to_string()]
}

/// A hold from the shell.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LocalHold {
    /// Name.
    pub name: String,
    /// Why.
    pub reason: String,
    /// Custodian mailboxes.
    #[serde(default)]
    pub custodians: Vec<String>,
    /// A search-language query.
    #[serde(default)]
    pub query: Option<String>,
    /// Earliest message date covered (Unix seconds).
    #[serde(default)]
    pub from: Option<i64>,
    /// Message dates before this are covered (Unix seconds).
    #[serde(default)]
    pub until: Option<i64>,
}

impl From<LocalHold> for HoldSpec {
    fn from(h: LocalHold) -> Self {
        HoldSpec {
            name: h.name,
            reason: h.reason,
            scope: HoldScope {
                custodians: h.custodians,
                query: h.query,
                from: h.from,
                until: h.until,
            },
        }
    }
}

/// `GET /api/v1/local/holds` (socket only).
pub(super) async fn list_holds(
    State(state): State<AppState>,
) -> Result<AppJson<HoldList>, ApiError> {
    let holds = state.retention().holds().await?;
    Ok(AppJson(HoldList {
        holds: holds.into_iter().map(Into::into).collect(),
    }))
}

/// `POST /api/v1/local/holds` (socket only).
pub(super) async fn place_hold(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<LocalPeer>,
    AppJson(hold): AppJson<LocalHold>,
) -> Result<(StatusCode, AppJson<HoldView>), ApiError> {
    let placed = state
        .retention()
        .place_hold(&Actor::local(&peer.user), hold.into(), &all_domains())
        .await?;
    Ok((StatusCode::CREATED, AppJson(placed.into())))
}

/// A release from the shell.
#[derive(Debug, serde::Deserialize)]
pub(super) struct LocalRelease {
    reason: String,
}

/// `POST /api/v1/local/holds/{id}/release` (socket only).
pub(super) async fn release_hold(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<LocalPeer>,
    AxumPath(id): AxumPath<i64>,
    AppJson(release): AppJson<LocalRelease>,
) -> Result<AppJson<HoldView>, ApiError> {
    let released = state
        .retention()
        .release_hold(
            &Actor::local(&peer.user),
            id,
            &release.reason,
            &all_domains(),
        )
        .await?;
    Ok(AppJson(released.into()))
}

impl LocalAdmin {
    /// Every disposition run.
    pub async fn dispositions(&self) -> Result<DispositionList, LocalError> {
        match self {
            LocalAdmin::Direct { dispositions, .. } => Ok(DispositionList {
                dispositions: dispositions
                    .list()
                    .await?
                    .into_iter()
                    .map(disposition_view)
                    .collect(),
            }),
            LocalAdmin::Server { client, socket } => {
                Self::required(
                    client,
                    socket,
                    reqwest::Method::GET,
                    "/api/v1/dispositions",
                    None,
                )
                .await
            }
        }
    }

    /// One run.
    pub async fn disposition(&self, id: i64) -> Result<DispositionView, LocalError> {
        match self {
            LocalAdmin::Direct { dispositions, .. } => {
                Ok(disposition_view(dispositions.get(id).await?))
            }
            LocalAdmin::Server { client, socket } => {
                Self::required(
                    client,
                    socket,
                    reqwest::Method::GET,
                    &format!("/api/v1/dispositions/{id}"),
                    None,
                )
                .await
            }
        }
    }

    /// Proposes a run.
    pub async fn propose_disposition(&self) -> Result<DispositionView, LocalError> {
        match self {
            LocalAdmin::Direct {
                dispositions,
                actor,
                ..
            } => Ok(disposition_view(dispositions.propose(actor).await?)),
            LocalAdmin::Server { client, socket } => {
                Self::required(
                    client,
                    socket,
                    reqwest::Method::POST,
                    "/api/v1/dispositions",
                    None,
                )
                .await
            }
        }
    }

    /// Approves (`approve`) or rejects a run.
    pub async fn decide_disposition(
        &self,
        id: i64,
        approve: bool,
        reason: &str,
    ) -> Result<DispositionView, LocalError> {
        match self {
            LocalAdmin::Direct {
                dispositions,
                actor,
                ..
            } => Ok(disposition_view(if approve {
                dispositions.approve(actor, id).await?
            } else {
                dispositions.reject(actor, id, reason).await?
            })),
            LocalAdmin::Server { client, socket } => {
                let (verb, body) = if approve {
                    ("approve", None)
                } else {
                    (
                        "reject",
                        Some(Body::Json(serde_json::json!({ "reason": reason }))),
                    )
                };
                Self::required(
                    client,
                    socket,
                    reqwest::Method::POST,
                    &format!("/api/v1/dispositions/{id}/{verb}"),
                    body,
                )
                .await
            }
        }
    }

    /// A run's signed certificate (its canonical JSON).
    pub async fn disposition_certificate(&self, id: i64) -> Result<String, LocalError> {
        match self {
            LocalAdmin::Direct { dispositions, .. } => {
                let run = dispositions.get(id).await?;
                run.certificate.ok_or_else(|| {
                    LocalError::Refused(format!(
                        "disposition run {id} is {} and has no certificate",
                        run.state
                    ))
                })
            }
            LocalAdmin::Server { client, socket } => {
                let value: serde_json::Value = Self::required(
                    client,
                    socket,
                    reqwest::Method::GET,
                    &format!("/api/v1/dispositions/{id}/certificate"),
                    None,
                )
                .await?;
                // Re-serialised in the certificate's own field order (canonical).
                let cert: coffer_retention::runs::Certificate = serde_json::from_value(value)
                    .map_err(|e| LocalError::Refused(format!("unexpected certificate: {e}")))?;
                Ok(cert.to_json())
            }
        }
    }

    /// Deletes the sealed volume of `year` whose every message record is disposed of
    /// (`coffer volume delete`; `coffer_retention::volumes`). Only with the server
    /// stopped: this process must hold the data directory's lock, as for `volume move`.
    /// `kek_file` is the configured key-encryption key (default `keys/kek`).
    pub async fn delete_volume(
        &self,
        data_dir: &std::path::Path,
        kek_file: Option<&std::path::Path>,
        year: i32,
    ) -> Result<coffer_volume::disposal::VolumeEvidence, LocalError> {
        let LocalAdmin::Direct {
            dispositions,
            actor,
            ..
        } = self
        else {
            return Err(LocalError::Refused(
                "a volume is deleted with the server stopped (like `volume move`): stop `coffer serve` first".into(),
            ));
        };
        let layout = coffer_ingest::DataDir::new(data_dir);
        // A deletion cut short after the volume was renamed away: finish it.
        coffer_volume::disposal::finish_interrupted(&layout.volumes())?;
        if coffer_volume::location::placement(&layout.volumes().join(year.to_string()))?.is_none()
            && let Some(done) =
                coffer_volume::disposal::deleted_volume(&layout.disposed_volumes(), year)?
        {
            return Ok(done);
        }
        let kek_file = kek_file.map(std::path::Path::to_path_buf);
        let (keys, facts, public_key) = tokio::task::spawn_blocking(move || {
            let keys = std::sync::Arc::new(layout.read_key_store(kek_file.as_deref())?);
            let volumes = coffer_volume::VolumeSet::reader(&layout.volumes(), "mail")
                .with_content_keys(
                    std::sync::Arc::clone(&keys) as std::sync::Arc<dyn coffer_volume::ContentKeys>
                );
            let contents = coffer_ingest::volume_contents::volume_contents(&volumes, year)?;
            let public_key = coffer_volume::PublicKey::load(
                &layout.keys().join(coffer_volume::keys::PUBLIC_KEY_FILE),
            )
            .map_err(|e| LocalError::Refused(format!("the archive public key: {e}")))?;
            let facts = coffer_retention::volumes::VolumeFacts {
                year,
                mailboxes: contents.mailboxes.into_iter().collect(),
                live_links: contents
                    .live_links
                    .iter()
                    .map(|(link, target)| (link.to_string(), target.to_string()))
                    .collect(),
            };
            Ok::<_, LocalError>((keys, facts, public_key))
        })
        .await??;
        let layout = coffer_ingest::DataDir::new(data_dir);
        let deletion = coffer_retention::volumes::VolumeDeletion {
            year_dir: layout.volumes().join(year.to_string()),
            evidence_root: layout.disposed_volumes(),
            public_key,
            keys,
            facts,
        };
        Ok(dispositions.delete_volume(actor, deletion).await?)
    }

    /// Every legal hold.
    pub async fn holds(&self) -> Result<HoldList, LocalError> {
        match self {
            LocalAdmin::Direct { retention, .. } => Ok(HoldList {
                holds: retention
                    .holds()
                    .await?
                    .into_iter()
                    .map(Into::into)
                    .collect(),
            }),
            LocalAdmin::Server { client, socket } => {
                Self::required(
                    client,
                    socket,
                    reqwest::Method::GET,
                    "/api/v1/local/holds",
                    None,
                )
                .await
            }
        }
    }

    /// Places a hold (as an officer of every domain: see the module docs).
    pub async fn place_hold(&self, hold: LocalHold) -> Result<HoldView, LocalError> {
        match self {
            LocalAdmin::Direct {
                retention, actor, ..
            } => Ok(retention
                .place_hold(actor, hold.into(), &all_domains())
                .await?
                .into()),
            LocalAdmin::Server { client, socket } => {
                let body =
                    serde_json::to_value(&hold).map_err(|e| LocalError::Refused(e.to_string()))?;
                Self::required(
                    client,
                    socket,
                    reqwest::Method::POST,
                    "/api/v1/local/holds",
                    Some(Body::Json(body)),
                )
                .await
            }
        }
    }

    /// Releases a hold.
    pub async fn release_hold(&self, id: i64, reason: &str) -> Result<HoldView, LocalError> {
        match self {
            LocalAdmin::Direct {
                retention, actor, ..
            } => Ok(retention
                .release_hold(actor, id, reason, &all_domains())
                .await?
                .into()),
            LocalAdmin::Server { client, socket } => {
                Self::required(
                    client,
                    socket,
                    reqwest::Method::POST,
                    &format!("/api/v1/local/holds/{id}/release"),
                    Some(Body::Json(serde_json::json!({ "reason": reason }))),
                )
                .await
            }
        }
    }
}
