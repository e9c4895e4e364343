//! `/api/v1/retention`: policies and their assignments (admin changes; a change that
//! shortens retention becomes a proposal a second administrator approves), why a message
//! is kept until when, and the auditors' report. See `coffer_retention::manage`.

use std::str::FromStr;

use axum::extract::State;
use coffer_model::MessageId;
use coffer_retention::manage::{ChangeOutcome, Explanation, PolicyChange, PolicyListing, Report};
use coffer_retention::{Period, Target};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, cap};
use crate::error::{ApiError, AppJson, AppPath, AppQuery, ErrorResponse};
use crate::routes::rfc3339;
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_policies))
        .routes(routes!(set_policy))
        .routes(routes!(assign, unassign))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(explain))
        .routes(routes!(report))
}

/// A policy.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyView {
    /// Name.
    pub name: String,
    /// Period: `90d`, `7y` or `forever`.
    pub period: String,
    /// Version (1 when created).
    pub version: i64,
    /// Last changed (RFC 3339).
    pub updated: String,
    /// By whom.
    pub updated_by: String,
}

/// An assignment.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AssignmentView {
    /// `default`, `domain`, `group` or `mailbox`.
    pub kind: String,
    /// The domain, group or mailbox (empty for the default).
    pub name: String,
    /// The policy.
    pub policy: String,
    /// When (RFC 3339).
    pub assigned: String,
    /// By whom (`proposer+approver` for an approved change).
    pub assigned_by: String,
}

/// A proposed change awaiting a second administrator.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProposalView {
    /// Id.
    pub id: i64,
    /// What it does.
    pub summary: String,
    /// The change.
    #[schema(value_type = Object)]
    pub change: serde_json::Value,
    /// Who proposed it.
    pub proposed_by: String,
    /// When (RFC 3339).
    pub proposed: String,
    /// `pending`, `approved` or `rejected`.
    pub state: String,
    /// Who decided.
    pub decided_by: Option<String>,
}

/// One version of a policy.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionView {
    /// Policy name.
    pub name: String,
    /// Version.
    pub version: i64,
    /// Its period.
    pub period: String,
    /// When (RFC 3339).
    pub changed: String,
    /// Who made (or proposed) the change.
    pub changed_by: String,
    /// Who approved it, when it shortened retention.
    pub approved_by: Option<String>,
}

/// Policies, assignments, history and proposals.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyPage {
    /// Policies in force.
    pub policies: Vec<PolicyView>,
    /// Assignments in force.
    pub assignments: Vec<AssignmentView>,
    /// Changes awaiting approval, and decided ones (newest first).
    pub proposals: Vec<ProposalView>,
    /// Every version of every policy.
    pub versions: Vec<VersionView>,
}

impl From<PolicyListing> for PolicyPage {
    fn from(l: PolicyListing) -> Self {
        Self {
            policies: l
                .policies
                .into_iter()
                .map(|p| PolicyView {
                    name: p.name,
                    period: p.period,
                    version: p.version,
                    updated: rfc3339(p.updated),
                    updated_by: p.updated_by,
                })
                .collect(),
            assignments: l
                .assignments
                .into_iter()
                .map(|a| AssignmentView {
                    kind: a.target_kind,
                    name: a.target,
                    policy: a.policy,
                    assigned: rfc3339(a.assigned),
                    assigned_by: a.assigned_by,
                })
                .collect(),
            proposals: l.proposals.into_iter().map(proposal_view).collect(),
            versions: l
                .versions
                .into_iter()
                .map(|v| VersionView {
                    name: v.name,
                    version: v.version,
                    period: v.period,
                    changed: rfc3339(v.changed),
                    changed_by: v.changed_by,
                    approved_by: v.approved_by,
                })
                .collect(),
        }
    }
}

/// What became of a change.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChangeView {
    /// `applied`, or `proposed` (it shortens retention: a second administrator approves).
    pub outcome: String,
    /// The proposal, when proposed.
    pub proposal: Option<i64>,
}

impl From<ChangeOutcome> for ChangeView {
    fn from(o: ChangeOutcome) -> Self {
        match o {
            ChangeOutcome::Applied => ChangeView {
                outcome: "applied".into(),
                proposal: None,
            },
            ChangeOutcome::Proposed { proposal } => ChangeView {
                outcome: "proposed".into(),
                proposal: Some(proposal),
            },
        }
    }
}

/// A policy's period.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PeriodSpec {
    /// `90d`, `7y` or `forever`.
    period: String,
}

/// What a policy is assigned to.
#[derive(Debug, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TargetSpec {
    /// `default`, `domain`, `group` or `mailbox`.
    kind: String,
    /// The domain, group or mailbox (none for the default).
    #[serde(default)]
    name: Option<String>,
}

/// An assignment to make.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssignSpec {
    /// `default`, `domain`, `group` or `mailbox`.
    kind: String,
    /// The domain, group or mailbox (none for the default).
    #[serde(default)]
    name: Option<String>,
    /// The policy.
    policy: String,
}

pub(crate) fn target(kind: &str, name: Option<String>) -> Result<Target, ApiError> {
    let name = name.unwrap_or_default();
    let needs_name = |t: fn(String) -> Target| {
        if name.trim().is_empty() {
            Err(ApiError::BadRequest(format!(
                "a {kind} assignment needs a name"
            )))
        } else {
            Ok(t(name.clone()))
        }
    };
    match kind {
        "default" if name.is_empty() => Ok(Target::Default),
        "default" => Err(ApiError::BadRequest("the default takes no name".into())),
        "domain" => needs_name(Target::Domain),
        "group" => needs_name(Target::Group),
        "mailbox" => needs_name(Target::Mailbox),
        other => Err(ApiError::BadRequest(format!(
            "unknown kind {other:?} (default, domain, group or mailbox)"
        ))),
    }
}

/// Policies, assignments, their history and proposals.
#[utoipa::path(get, path = "/retention/policies", tag = "retention", security(("bearer" = [])),
    responses((status = 200, body = PolicyPage), (status = 403, body = ErrorResponse)))]
async fn list_policies(
    State(state): State<AppState>,
    Authorized(_caller, _): Authorized<cap::ReadRetention>,
) -> Result<AppJson<PolicyPage>, ApiError> {
    Ok(AppJson(state.retention().listing().await?.into()))
}

/// Create a policy or change its period (a shortening becomes a proposal).
#[utoipa::path(put, path = "/retention/policies/{name}", tag = "retention", security(("bearer" = [])),
    params(("name" = String, Path, description = "the policy")), request_body = PeriodSpec,
    responses((status = 200, body = ChangeView), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse)))]
async fn set_policy(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageRetention>,
    AppPath(name): AppPath<String>,
    AppJson(spec): AppJson<PeriodSpec>,
) -> Result<AppJson<ChangeView>, ApiError> {
    let period = Period::from_str(&spec.period).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let outcome = state
        .retention()
        .change(&caller.actor(), PolicyChange::SetPolicy { name, period })
        .await?;
    Ok(AppJson(outcome.into()))
}

/// Assign a policy to the default, a domain, a group or a mailbox.
#[utoipa::path(put, path = "/retention/assignments", tag = "retention", security(("bearer" = [])),
    request_body = AssignSpec,
    responses((status = 200, body = ChangeView), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
async fn assign(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageRetention>,
    AppJson(spec): AppJson<AssignSpec>,
) -> Result<AppJson<ChangeView>, ApiError> {
    let target = target(&spec.kind, spec.name)?;
    let outcome = state
        .retention()
        .change(
            &caller.actor(),
            PolicyChange::Assign {
                target,
                policy: spec.policy,
            },
        )
        .await?;
    Ok(AppJson(outcome.into()))
}

/// Remove an assignment.
#[utoipa::path(delete, path = "/retention/assignments", tag = "retention", security(("bearer" = [])),
    params(TargetSpec),
    responses((status = 200, body = ChangeView), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
async fn unassign(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageRetention>,
    AppQuery(spec): AppQuery<TargetSpec>,
) -> Result<AppJson<ChangeView>, ApiError> {
    let target = target(&spec.kind, spec.name)?;
    let outcome = state
        .retention()
        .change(&caller.actor(), PolicyChange::Unassign { target })
        .await?;
    Ok(AppJson(outcome.into()))
}

pub(crate) fn proposal_view(p: coffer_catalog::retention::ProposalRecord) -> ProposalView {
    ProposalView {
        id: p.id,
        summary: p.summary,
        change: serde_json::from_str(&p.change).unwrap_or_default(),
        proposed_by: p.proposed_by,
        proposed: rfc3339(p.proposed),
        state: p.state,
        decided_by: p.decided_by,
    }
}

/// Approve a proposed change (not the proposer).
#[utoipa::path(post, path = "/retention/proposals/{id}/approve", tag = "retention", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the proposal")),
    responses((status = 200, body = ProposalView), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
async fn approve(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageRetention>,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<ProposalView>, ApiError> {
    let p = state.retention().decide(&caller.actor(), id, true).await?;
    Ok(AppJson(proposal_view(p)))
}

/// Reject a proposed change.
#[utoipa::path(post, path = "/retention/proposals/{id}/reject", tag = "retention", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the proposal")),
    responses((status = 200, body = ProposalView), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
async fn reject(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ManageRetention>,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<ProposalView>, ApiError> {
    let p = state.retention().decide(&caller.actor(), id, false).await?;
    Ok(AppJson(proposal_view(p)))
}

/// Why a message is kept until when.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExplanationView {
    /// The message.
    pub id: String,
    /// The moment the clock counts from (RFC 3339): the message date, or the receive
    /// time when the date is unreliable.
    pub clock_start: String,
    /// Kept until (RFC 3339); none: kept for ever.
    pub keep_until: Option<String>,
    /// Why: the deciding policy, its version, what it is assigned to and through which
    /// mailbox; or `no_policy` / `unknown_policy`.
    #[schema(value_type = Object)]
    pub because: serde_json::Value,
    /// The holds covering it (ids and names).
    pub held_by: Vec<HeldBy>,
    /// Whether a disposition run may remove it now.
    pub eligible: bool,
    /// The facts decided on: date, reliability, receive time, mailboxes with domains and
    /// groups.
    #[schema(value_type = Object)]
    pub facts: serde_json::Value,
}

/// A hold covering a message.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeldBy {
    /// Hold id.
    pub id: i64,
    /// Hold name.
    pub name: String,
}

/// Why a message is kept until when: policy, mailbox, holds.
#[utoipa::path(get, path = "/retention/messages/{id}", tag = "retention", security(("bearer" = [])),
    params(("id" = String, Path, description = "message id (YEAR-SEQ)")),
    responses((status = 200, body = ExplanationView), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn explain(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ReadRetention>,
    AppPath(id): AppPath<String>,
) -> Result<AppJson<ExplanationView>, ApiError> {
    let parsed = MessageId::from_str(&id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let not_found = || ApiError::NotFound("no such message".into());
    let explanation = state
        .retention()
        .explain(parsed, coffer_ingest::clock::now_us())
        .await?
        .ok_or_else(not_found)?;
    // An officer sees only messages of their scope (admins and auditors: by id).
    let mailboxes = explanation
        .facts
        .mailboxes
        .iter()
        .map(|m| m.address.as_str());
    if !caller.proof_scope().admits(mailboxes) {
        return Err(not_found());
    }
    Ok(AppJson(explanation_view(explanation)))
}

/// The API's shape of an explanation.
pub(crate) fn explanation_view(explanation: Explanation) -> ExplanationView {
    let d = &explanation.decision;
    ExplanationView {
        id: explanation.id.to_string(),
        clock_start: rfc3339(d.clock_start),
        keep_until: d.keep_until.map(rfc3339),
        because: serde_json::to_value(&d.because).unwrap_or_default(),
        held_by: d
            .held_by
            .iter()
            .zip(&explanation.hold_names)
            .map(|(id, name)| HeldBy {
                id: *id,
                name: name.clone(),
            })
            .collect(),
        eligible: d.eligible,
        facts: serde_json::to_value(&explanation.facts).unwrap_or_default(),
    }
}

/// The retention report: per year and policy, messages kept, held, eligible and
/// disposed; the next eligibility; holds in force.
#[utoipa::path(get, path = "/retention/report", tag = "retention", security(("bearer" = [])),
    responses((status = 200, body = ReportView), (status = 403, body = ErrorResponse)))]
async fn report(
    State(state): State<AppState>,
    Authorized(_caller, _): Authorized<cap::ReadRetention>,
) -> Result<AppJson<ReportView>, ApiError> {
    let report = state
        .retention()
        .report(coffer_ingest::clock::now_us())
        .await?;
    Ok(AppJson(report.into()))
}

/// One line of the report.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportLineView {
    /// Volume (receive) year.
    pub year: i32,
    /// The deciding policy (`(none)`: no policy applies, kept).
    pub policy: String,
    /// Kept (not expired, or held).
    pub kept: u64,
    /// Of those, held.
    pub held: u64,
    /// Expired and unheld.
    pub eligible: u64,
    /// Disposed of.
    pub disposed: u64,
    /// When the next kept, unheld message becomes eligible (RFC 3339).
    pub next_eligible: Option<String>,
}

/// The retention report.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportView {
    /// When (RFC 3339).
    pub generated: String,
    /// Per year and policy.
    pub lines: Vec<ReportLineView>,
    /// Holds in force (ids).
    pub holds_in_force: Vec<i64>,
}

impl From<Report> for ReportView {
    fn from(r: Report) -> Self {
        Self {
            generated: rfc3339(r.generated),
            lines: r
                .lines
                .into_iter()
                .map(|l| ReportLineView {
                    year: l.year,
                    policy: l.policy,
                    kept: l.kept,
                    held: l.held,
                    eligible: l.eligible,
                    disposed: l.disposed,
                    next_eligible: l.next_eligible.map(rfc3339),
                })
                .collect(),
            holds_in_force: r.holds_in_force,
        }
    }
}
