//! The command line's retention administration (`coffer retention ...`): the same
//! changes and reads as `/api/v1/retention`, made directly when no server runs, or sent
//! through the running server's admin socket — either way audited as `local:OSUSER`.

use coffer_ingest::clock::now_us;
use coffer_model::MessageId;
use coffer_retention::Period;
use coffer_retention::manage::PolicyChange;

use super::{Body, LocalAdmin, LocalError, path_segment};
use crate::routes::retention::{explanation_view, proposal_view, target};
use crate::views::{ChangeView, ExplanationView, PolicyPage, ProposalView, ReportView};

impl From<coffer_retention::manage::RetentionError> for LocalError {
    fn from(e: coffer_retention::manage::RetentionError) -> Self {
        LocalError::Refused(e.to_string())
    }
}

impl LocalAdmin {
    /// Policies, assignments, versions and proposals.
    pub async fn retention_policies(&self) -> Result<PolicyPage, LocalError> {
        match self {
            LocalAdmin::Direct { retention, .. } => Ok(retention.listing().await?.into()),
            LocalAdmin::Server { client, socket } => {
                Self::required(
                    client,
                    socket,
                    reqwest::Method::GET,
                    "/api/v1/retention/policies",
                    None,
                )
                .await
            }
        }
    }

    /// Creates a policy or changes its period (a shortening becomes a proposal).
    pub async fn set_retention_policy(
        &self,
        name: &str,
        period: &str,
    ) -> Result<ChangeView, LocalError> {
        match self {
            LocalAdmin::Direct {
                retention, actor, ..
            } => {
                let period: Period =
                    period
                        .parse()
                        .map_err(|e: coffer_retention::ParsePeriodError| {
                            LocalError::Refused(e.to_string())
                        })?;
                let change = PolicyChange::SetPolicy {
                    name: name.to_string(),
                    period,
                };
                Ok(retention.change(actor, change).await?.into())
            }
            LocalAdmin::Server { client, socket } => {
                Self::required(
                    client,
                    socket,
                    reqwest::Method::PUT,
                    &format!("/api/v1/retention/policies/{}", path_segment(name)),
                    Some(Body::Json(serde_json::json!({ "period": period }))),
                )
                .await
            }
        }
    }

    /// Assigns a policy (`policy: Some`) or removes an assignment (`None`) of a target
    /// (`kind`: default, domain, group, mailbox).
    pub async fn assign_retention(
        &self,
        kind: &str,
        name: Option<&str>,
        policy: Option<&str>,
    ) -> Result<ChangeView, LocalError> {
        match self {
            LocalAdmin::Direct {
                retention, actor, ..
            } => {
                let target = target(kind, name.map(str::to_string))
                    .map_err(|e| LocalError::Refused(e.to_string()))?;
                let change = match policy {
                    Some(policy) => PolicyChange::Assign {
                        target,
                        policy: policy.to_string(),
                    },
                    None => PolicyChange::Unassign { target },
                };
                Ok(retention.change(actor, change).await?.into())
            }
            LocalAdmin::Server { client, socket } => match policy {
                Some(policy) => {
                    Self::required(
                        client,
                        socket,
                        reqwest::Method::PUT,
                        "/api/v1/retention/assignments",
                        Some(Body::Json(
                            serde_json::json!({ "kind": kind, "name": name, "policy": policy }),
                        )),
                    )
                    .await
                }
                None => {
                    let mut path =
                        format!("/api/v1/retention/assignments?kind={}", path_segment(kind));
                    if let Some(name) = name {
                        path.push_str(&format!("&name={}", path_segment(name)));
                    }
                    Self::required(client, socket, reqwest::Method::DELETE, &path, None).await
                }
            },
        }
    }

    /// Approves (`approve`) or rejects a proposal.
    pub async fn decide_retention(
        &self,
        id: i64,
        approve: bool,
    ) -> Result<ProposalView, LocalError> {
        match self {
            LocalAdmin::Direct {
                retention, actor, ..
            } => Ok(proposal_view(retention.decide(actor, id, approve).await?)),
            LocalAdmin::Server { client, socket } => {
                let verb = if approve { "approve" } else { "reject" };
                Self::required(
                    client,
                    socket,
                    reqwest::Method::POST,
                    &format!("/api/v1/retention/proposals/{id}/{verb}"),
                    None,
                )
                .await
            }
        }
    }

    /// Why message `id` is kept until when.
    pub async fn explain_retention(&self, id: MessageId) -> Result<ExplanationView, LocalError> {
        match self {
            LocalAdmin::Direct { retention, .. } => retention
                .explain(id, now_us())
                .await?
                .map(explanation_view)
                .ok_or_else(|| LocalError::Refused(format!("no message {id}"))),
            LocalAdmin::Server { client, socket } => {
                Self::required(
                    client,
                    socket,
                    reqwest::Method::GET,
                    &format!("/api/v1/retention/messages/{id}"),
                    None,
                )
                .await
            }
        }
    }

    /// The retention report.
    pub async fn retention_report(&self) -> Result<ReportView, LocalError> {
        match self {
            LocalAdmin::Direct { retention, .. } => Ok(retention.report(now_us()).await?.into()),
            LocalAdmin::Server { client, socket } => {
                Self::required(
                    client,
                    socket,
                    reqwest::Method::GET,
                    "/api/v1/retention/report",
                    None,
                )
                .await
            }
        }
    }
}
