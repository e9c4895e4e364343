//! `GET /api/v1/volumes` (admin, officer, auditor);
//! `POST /api/v1/volumes/{year}/verify` and `POST /api/v1/audit/verify` (auditor: run
//! verification, answer a signed integrity report, every run audited); the signed tree
//! heads auditors keep and the consistency proofs between them, for the mail volumes
//! (`/volumes/{year}/tree-head`, `/volumes/{year}/consistency`) and the audit trail's own
//! (`/audit/volumes/{year}/...`). Heads and proofs are served as their canonical bytes
//! (`volume/FORMAT.md`), so a saved response is what `coffer verify --since` and `coffer
//! proof verify` read.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use coffer_audit::Outcome;
use coffer_ingest::witness::WitnessStatus;
use coffer_volume::{
    ConsistencyRequestError, IntegrityReport, KeyTransition, SignedReport, SignedTreeHead,
    VerifyReport, Volume, VolumeIntegrity, WitnessState, consistency_document, key_for_volume,
    newest_head, verify_volume,
};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, cap};
use crate::error::{ApiError, AppJson, AppPath, AppQuery, ErrorResponse};
use crate::routes::rfc3339_us;
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(verify))
        .routes(routes!(audit_verify))
        .routes(routes!(tree_head))
        .routes(routes!(consistency))
        .routes(routes!(audit_tree_head))
        .routes(routes!(audit_consistency))
        .routes(routes!(witnesses))
}

/// The witnesses' state.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WitnessList {
    /// One per configured witness (empty when none is configured).
    #[schema(value_type = Vec<Object>)]
    witnesses: Vec<WitnessStatus>,
}

/// Where signed tree heads are published and how far each witness has taken them: the
/// newest size per volume, the last success, pending heads, failures and the last error.
#[utoipa::path(get, path = "/witnesses", tag = "volumes", security(("bearer" = [])),
    responses((status = 200, body = WitnessList), (status = 403, body = ErrorResponse)))]
async fn witnesses(
    State(state): State<AppState>,
    Authorized(_caller, _): Authorized<cap::ReadVolumes>,
) -> Result<AppJson<WitnessList>, ApiError> {
    Ok(AppJson(WitnessList {
        witnesses: state.witness_status(),
    }))
}

/// Canonical JSON bytes as a response.
fn canonical(bytes: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response()
}

/// Which volumes: the mail volumes or the audit trail's.
fn volume_of(state: &AppState, audit: bool, year: i32) -> Result<Volume, ApiError> {
    let set = if audit {
        state.audit().volumes()
    } else {
        state.archive().volumes()
    };
    set.get(year)?
        .ok_or_else(|| ApiError::NotFound("no volume for that year".into()))
}

async fn head_response(state: AppState, audit: bool, year: i32) -> Result<Response, ApiError> {
    let head = crate::blocking(move || -> Result<_, ApiError> {
        let volume = volume_of(&state, audit, year)?;
        newest_head(&volume)?
            .ok_or_else(|| ApiError::NotFound("the volume has no signed tree head yet".into()))
    })
    .await?;
    Ok(canonical(head.to_json()))
}

async fn consistency_response(
    state: AppState,
    audit: bool,
    year: i32,
    params: ConsistencyParams,
) -> Result<Response, ApiError> {
    let document = crate::blocking(move || -> Result<_, ApiError> {
        let volume = volume_of(&state, audit, year)?;
        consistency_document(&volume, params.from, params.to).map_err(|e| match e {
            ConsistencyRequestError::NoHead(_) => ApiError::NotFound(e.to_string()),
            ConsistencyRequestError::Order { .. } => ApiError::BadRequest(e.to_string()),
            ConsistencyRequestError::Volume(e) => e.into(),
        })
    })
    .await?;
    Ok(canonical(document.to_json()))
}

/// Sizes of a consistency proof.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ConsistencyParams {
    /// The tree size of the head you hold.
    from: u64,
    /// The size of a newer signed head (default: the newest).
    to: Option<u64>,
}

/// The newest signed tree head of a mail volume (keep it: `coffer verify --since`).
#[utoipa::path(get, path = "/volumes/{year}/tree-head", tag = "volumes", security(("bearer" = [])),
    params(("year" = i32, Path, description = "volume year")),
    responses((status = 200, body = Object, description = "signed tree head (canonical JSON)"), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn tree_head(
    State(state): State<AppState>,
    Authorized(_caller, _): Authorized<cap::ReadVolumes>,
    AppPath(year): AppPath<i32>,
) -> Result<Response, ApiError> {
    head_response(state, false, year).await
}

/// RFC 9162 consistency proof of a mail volume between a held head and a newer one.
#[utoipa::path(get, path = "/volumes/{year}/consistency", tag = "volumes", security(("bearer" = [])),
    params(("year" = i32, Path, description = "volume year"), ConsistencyParams),
    responses((status = 200, body = Object, description = "coffer-consistency-proof-v1 document"), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn consistency(
    State(state): State<AppState>,
    Authorized(_caller, _): Authorized<cap::ReadVolumes>,
    AppPath(year): AppPath<i32>,
    AppQuery(params): AppQuery<ConsistencyParams>,
) -> Result<Response, ApiError> {
    consistency_response(state, false, year, params).await
}

/// The newest signed tree head of an audit-trail volume.
#[utoipa::path(get, path = "/audit/volumes/{year}/tree-head", tag = "audit", security(("bearer" = [])),
    params(("year" = i32, Path, description = "audit volume year")),
    responses((status = 200, body = Object, description = "signed tree head (canonical JSON)"), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn audit_tree_head(
    State(state): State<AppState>,
    Authorized(_caller, _): Authorized<cap::ReadVolumes>,
    AppPath(year): AppPath<i32>,
) -> Result<Response, ApiError> {
    head_response(state, true, year).await
}

/// RFC 9162 consistency proof of an audit-trail volume.
#[utoipa::path(get, path = "/audit/volumes/{year}/consistency", tag = "audit", security(("bearer" = [])),
    params(("year" = i32, Path, description = "audit volume year"), ConsistencyParams),
    responses((status = 200, body = Object, description = "coffer-consistency-proof-v1 document"), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn audit_consistency(
    State(state): State<AppState>,
    Authorized(_caller, _): Authorized<cap::ReadVolumes>,
    AppPath(year): AppPath<i32>,
    AppQuery(params): AppQuery<ConsistencyParams>,
) -> Result<Response, ApiError> {
    consistency_response(state, true, year, params).await
}

/// A mail volume.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct VolumeView {
    /// Year (UTC receive year).
    year: i32,
    /// `open`, `sealed` or `disposed`.
    #[schema(value_type = String)]
    state: coffer_volume::VolumeState,
    /// Volume id, hex.
    volume_id: String,
    /// Durable records (messages, links, checkpoints, ...).
    records: u64,
    /// Message records.
    messages: u64,
    /// Original bytes of the messages.
    raw_bytes: u64,
    /// Bytes on disk.
    stored_bytes: u64,
    /// `stored_bytes / raw_bytes` (0 when nothing is stored): what capacity planning
    /// multiplies mail volume by.
    ratio: f64,
    /// Compression dictionaries in the volume.
    dictionaries: u64,
    /// Bytes of the year's search index.
    index_bytes: u64,
    /// Segment files.
    segments: u32,
    /// Created (RFC 3339).
    created: String,
    /// Sealed (RFC 3339).
    sealed: Option<String>,
    /// The newest signed tree head.
    #[schema(value_type = Option<Object>)]
    tree_head: Option<SignedTreeHead>,
    /// Where the volume lives.
    location: String,
    /// Whether its storage is present. An offline volume (moved to secondary storage
    /// that is not mounted) is listed with its year, state `sealed` and location, and no
    /// figures: they are read from its files (`coffer volume attach DIR` brings it back).
    online: bool,
}

/// Every mail volume.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct VolumeList {
    /// By year.
    volumes: Vec<VolumeView>,
    /// Bytes of every year's search index.
    index_bytes: u64,
    /// Bytes of the SQLite catalog with its write-ahead log (absent for PostgreSQL).
    catalog_bytes: Option<u64>,
}

/// List the mail volumes.
#[utoipa::path(get, path = "/volumes", tag = "volumes", security(("bearer" = [])),
    responses((status = 200, body = VolumeList), (status = 403, body = ErrorResponse)))]
async fn list(
    State(state): State<AppState>,
    Authorized(_caller, _): Authorized<cap::ReadVolumes>,
) -> Result<AppJson<VolumeList>, ApiError> {
    let archive = state.archive().clone();
    let listing = crate::blocking(move || -> Result<VolumeList, ApiError> {
        let layout = archive.data_dir().clone();
        let mut out = Vec::new();
        for year in archive.volumes().years()? {
            let v = match archive.volumes().get(year) {
                Ok(Some(v)) => v,
                Ok(None) => continue,
                Err(coffer_volume::Error::Offline { location, .. }) => {
                    out.push(VolumeView {
                        year,
                        // Only sealed volumes are ever moved.
                        state: coffer_volume::VolumeState::Sealed,
                        volume_id: String::new(),
                        records: 0,
                        messages: 0,
                        raw_bytes: 0,
                        stored_bytes: 0,
                        ratio: 0.0,
                        dictionaries: 0,
                        index_bytes: layout.index_bytes(year),
                        segments: 0,
                        created: String::new(),
                        sealed: None,
                        tree_head: None,
                        location: location.display().to_string(),
                        online: false,
                    });
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let manifest = v.manifest();
            let stats = v.stats();
            out.push(VolumeView {
                year,
                state: manifest.state,
                volume_id: manifest.volume_id.clone(),
                records: v.last_seq(),
                messages: stats.messages,
                raw_bytes: stats.raw_bytes,
                stored_bytes: stats.stored_bytes,
                ratio: if stats.raw_bytes == 0 {
                    0.0
                } else {
                    stats.stored_bytes as f64 / stats.raw_bytes as f64
                },
                dictionaries: stats.dictionaries,
                index_bytes: layout.index_bytes(year),
                segments: stats.segments,
                created: rfc3339_us(manifest.created_us),
                sealed: manifest.sealed_us.map(rfc3339_us),
                tree_head: v.latest_tree_head(),
                location: v.dir().display().to_string(),
                online: true,
            });
        }
        Ok(VolumeList {
            volumes: out,
            index_bytes: coffer_ingest::data_dir::disk_bytes(&layout.index()),
            catalog_bytes: layout.catalog_bytes(),
        })
    })
    .await?;
    Ok(AppJson(listing))
}

/// Verification results, each with the year it was verified as.
type YearReports = Vec<(i32, VerifyReport)>;

/// Every key transition the archive's mail and audit volumes record: where a report's
/// key chain comes from (FORMAT.md, "Integrity reports").
fn known_transitions(
    archive: &coffer_ingest::Archive,
    audit: &coffer_audit::AuditLog,
) -> Vec<KeyTransition> {
    let mut known = archive.volumes().key_transitions();
    known.extend(audit.volumes().key_transitions());
    known
}

/// Builds the signed integrity report of `scope` from `reports` (each with the year it
/// was verified as), the witnesses' state and the archive key.
fn signed_report(
    state: &AppState,
    caller: &crate::auth::Caller,
    scope: String,
    reports: &[(i32, VerifyReport)],
    known_transitions: &[coffer_volume::KeyTransition],
) -> SignedReport {
    let witnesses: Vec<WitnessState> = state
        .witness_status()
        .iter()
        .map(WitnessStatus::to_report_state)
        .collect();
    let volumes = reports
        .iter()
        .map(|(year, r)| VolumeIntegrity::from_verification(r, *year, &witnesses))
        .collect();
    IntegrityReport::new(
        scope,
        coffer_ingest::clock::now_us(),
        caller.name.clone(),
        volumes,
        witnesses,
    )
    .sign_with_chain(state.archive().key(), known_transitions)
}

/// Records a verification run in the audit trail: per volume its verdict, records,
/// root and problems, and the report's signature (so the audit trail names the exact
/// report handed out).
async fn audit_run(
    state: &AppState,
    caller: &crate::auth::Caller,
    action: &str,
    target: String,
    signed: &SignedReport,
) -> Result<(), ApiError> {
    let outcome = if signed.report.intact {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    let detail = signed.report.audit_detail(&signed.signature);
    state
        .audit()
        .record(caller.entry(action, target, outcome).with_detail(detail))
        .await?;
    Ok(())
}

/// Canonical JSON bytes of a signed report as the response (what `coffer report verify`
/// checks, byte for byte).
fn report_response(signed: &SignedReport) -> Response {
    canonical(signed.to_json())
}

/// Verify one mail volume from its files and the public key (chain, tree, signatures)
/// and answer a signed integrity report (`coffer-integrity-report-v1`, FORMAT.md
/// "Integrity reports"); the run is audited.
#[utoipa::path(post, path = "/volumes/{year}/verify", tag = "volumes", security(("bearer" = [])),
    params(("year" = i32, Path, description = "volume year")),
    responses((status = 200, body = Object, description = "signed integrity report (canonical JSON)"), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn verify(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::RunVerification>,
    AppPath(year): AppPath<i32>,
) -> Result<Response, ApiError> {
    let archive = state.archive().clone();
    let key = state.public_key().clone();
    let audit = state.audit().clone();
    let (report, transitions) = crate::blocking(
        move || -> Result<(Option<VerifyReport>, Vec<KeyTransition>), ApiError> {
            if !archive.volumes().years()?.contains(&year) {
                return Ok((None, Vec::new()));
            }
            let known = known_transitions(&archive, &audit);
            let dir = archive.volumes().dir_for(year);
            let report = verify_volume(&dir, &key_for_volume(&dir, &key, &known));
            Ok((Some(report), known))
        },
    )
    .await?;
    let Some(report) = report else {
        state
            .audit()
            .record(caller.entry("volume.verify", year.to_string(), Outcome::NotFound))
            .await?;
        return Err(ApiError::NotFound("no volume for that year".into()));
    };
    let signed = signed_report(
        &state,
        &caller,
        format!("mail {year}"),
        &[(year, report)],
        &transitions,
    );
    audit_run(&state, &caller, "volume.verify", year.to_string(), &signed).await?;
    tracing::info!(
        user_id = caller.id,
        year,
        intact = signed.report.intact,
        "volume verified"
    );
    Ok(report_response(&signed))
}

/// Verify every volume of the audit trail and answer a signed integrity report; the
/// run is itself audited (after the verification, so the report covers the trail as it
/// was when asked).
#[utoipa::path(post, path = "/audit/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = Object, description = "signed integrity report (canonical JSON)"), (status = 403, body = ErrorResponse)))]
async fn audit_verify(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::RunVerification>,
) -> Result<Response, ApiError> {
    let audit = state.audit().clone();
    let archive = state.archive().clone();
    let key = state.public_key().clone();
    let (reports, transitions) = crate::blocking(
        move || -> Result<(YearReports, Vec<KeyTransition>), ApiError> {
            let known = known_transitions(&archive, &audit);
            let set = audit.volumes();
            let mut out = Vec::new();
            for year in set.years()? {
                let dir = set.dir_for(year);
                out.push((
                    year,
                    verify_volume(&dir, &key_for_volume(&dir, &key, &known)),
                ));
            }
            Ok((out, known))
        },
    )
    .await?;
    let signed = signed_report(&state, &caller, "audit".into(), &reports, &transitions);
    audit_run(&state, &caller, "audit.verify", String::new(), &signed).await?;
    tracing::info!(
        user_id = caller.id,
        volumes = reports.len(),
        intact = signed.report.intact,
        "audit trail verified"
    );
    Ok(report_response(&signed))
}
