//! One message: metadata and rendered content, the original bytes, one attachment, and
//! an inclusion proof.
//!
//! Every lookup goes through [`load`]: the id is resolved in the catalog and checked
//! against the caller's scope; a message that does not exist and one outside the scope
//! get the same 404 (audited as `not_found`, with the reason in the detail), so ids
//! cannot be probed. Content is audited (and fsynced) before it is returned.

use std::borrow::Cow;
use std::str::FromStr;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use coffer_audit::Outcome;
use coffer_catalog::MessageRow;
use coffer_ingest::as_received::as_received;
use coffer_ingest::reader::read_message;
use coffer_model::{MessageFlags, MessageId, RecipientView, Scope};
use coffer_volume::Record;
use coffer_volume::proof::{INCLUSION_FORMAT, InclusionProof};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, Caller, cap};
use crate::error::{ApiError, AppJson, AppPath, ErrorResponse};
use crate::render::{self, AddressView, AttachmentView};
use crate::routes::{rfc3339, rfc3339_us};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(view))
        .routes(routes!(html))
        .routes(routes!(raw))
        .routes(routes!(attachment))
        .routes(routes!(proof))
}

/// Resolves `id` for `caller` within `scope`: the catalog row, or 404 (audited).
async fn find(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: &str,
    scope: &Scope,
) -> Result<MessageRow, ApiError> {
    let not_found = |reason: &'static str| {
        let entry = caller.entry(action, id.to_string(), Outcome::NotFound);
        (
            entry.with_detail(serde_json::json!({ "reason": reason })),
            ApiError::NotFound("no such message".into()),
        )
    };
    let parsed = MessageId::from_str(id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let (entry, error) = match state.catalog().message(parsed).await? {
        Some(row) if scope.admits(row.mailboxes.iter().map(String::as_str)) => {
            if backed_by_record(state, &row, scope).await? {
                return Ok(row);
            }
            tracing::warn!(user_id = caller.id, message = %parsed, "the catalog links that admit the caller are named by no volume record");
            not_found("link not backed by a volume record")
        }
        Some(_) => {
            tracing::info!(user_id = caller.id, message = %parsed, "message outside the caller's scope");
            not_found("outside scope")
        }
        None => not_found("no such message"),
    };
    state.audit().record(entry).await?;
    Err(error)
}

/// Whether one of the catalog links that admit a restricted caller is named by a volume
/// record (the message's own, or a link record): the catalog is a derived view, and an
/// access decision relies only on links the archive's own records back (an SQL edit of
/// the catalog gives nobody a foreign message). An unrestricted scope needs no link.
async fn backed_by_record(
    state: &AppState,
    row: &MessageRow,
    scope: &Scope,
) -> Result<bool, ApiError> {
    if matches!(scope, Scope::All) {
        return Ok(true);
    }
    let provenance = state.catalog().link_provenance(row.id).await?;
    let candidates: Vec<(String, coffer_model::MessageId)> = row
        .mailboxes
        .iter()
        .filter(|m| scope.admits([m.as_str()]))
        .map(|m| {
            // No link at all (the row changed in between): only the message record
            // itself can back it.
            let via = provenance.get(m).copied().unwrap_or(row.id);
            (m.clone(), via)
        })
        .collect();
    let volumes = state.archive().volumes().clone();
    let target = row.id;
    crate::blocking(move || -> Result<bool, ApiError> {
        Ok(candidates.iter().any(|(mailbox, via)| {
            coffer_ingest::consistency::record_names(&volumes, *via, target, mailbox)
        }))
    })
    .await
}

/// [`find`], then the volume record (content verified against its SHA-256 on read).
async fn load(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: &str,
) -> Result<(MessageRow, Record), ApiError> {
    let row = find(state, caller, id, action, caller.content_scope()).await?;
    let archive = state.archive().clone();
    let message = row.id;
    let record = crate::blocking(move || read_message(archive.volumes(), message))
        .await
        .map_err(|e| match e {
            // The catalog named it: a missing volume or a wrong kind is damage, not 404.
            ApiError::NotFound(detail) => {
                ApiError::Internal(format!("catalog names {message}: {detail}"))
            }
            other => other,
        })?;
    Ok((row, record))
}

/// Audits a successful content access (durably, before the content is returned).
async fn audited(
    state: &AppState,
    caller: &Caller,
    action: &str,
    row: &MessageRow,
    extra: serde_json::Value,
) -> Result<(), ApiError> {
    let mut detail = serde_json::json!({ "sha256": row.sha256.to_hex() });
    if let (Some(map), serde_json::Value::Object(extra)) = (detail.as_object_mut(), extra) {
        map.extend(extra);
    }
    state
        .audit()
        .record(
            caller
                .entry(action, row.id.to_string(), Outcome::Success)
                .with_detail(detail),
        )
        .await?;
    Ok(())
}

/// A message as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MessageView {
    /// Id.
    id: String,
    /// SHA-256 of the original bytes.
    sha256: String,
    /// Received by the archive (RFC 3339).
    received: String,
    /// The message's own date (RFC 3339).
    date: Option<String>,
    /// Message-ID header.
    message_id: Option<String>,
    /// From.
    from: Vec<AddressView>,
    /// To.
    to: Vec<AddressView>,
    /// Cc.
    cc: Vec<AddressView>,
    /// Bcc (header).
    bcc: Vec<AddressView>,
    /// Subject.
    subject: Option<String>,
    /// Archive mailboxes holding the message.
    mailboxes: Vec<String>,
    /// Flags (`malformed`, `encoding-problem`, ...).
    flags: Vec<&'static str>,
    /// Size of the original in bytes.
    size: u64,
    /// Plain-text body (text parts, joined).
    text: Option<String>,
    /// Sanitized HTML body (no scripts, no remote content).
    html: Option<String>,
    /// Attachments.
    attachments: Vec<AttachmentView>,
}

/// Metadata and rendered content.
#[utoipa::path(get, path = "/messages/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path, description = "message id, e.g. 2026-42")),
    responses((status = 200, body = MessageView), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
async fn view(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ReadContent>,
    AppPath(id): AppPath<String>,
) -> Result<AppJson<MessageView>, ApiError> {
    let (row, record) = load(&state, &caller, &id, "message.view").await?;
    let content = record.content;
    let view = caller.recipient_view();
    let rendered =
        tokio::task::spawn_blocking(move || render::render(&as_received(&content, &view)))
            .await
            .map_err(ApiError::internal)?;
    audited(&state, &caller, "message.view", &row, serde_json::json!({})).await?;
    tracing::debug!(user_id = caller.id, message = %row.id, size = row.size, "message viewed");
    Ok(AppJson(MessageView {
        id: row.id.to_string(),
        sha256: row.sha256.to_hex(),
        received: rfc3339_us(record.header.received_us),
        date: row.date.map(rfc3339),
        message_id: rendered.message_id,
        from: rendered.from,
        to: rendered.to,
        cc: rendered.cc,
        bcc: rendered.bcc,
        subject: rendered.subject,
        mailboxes: caller.recipient_view().visible(row.mailboxes),
        flags: MessageFlags(row.flags).names(),
        size: row.size,
        text: rendered.text,
        html: rendered.html,
        attachments: rendered.attachments,
    }))
}

/// The sanitized HTML body as a document of its own, for the web UI's sandboxed frame
/// (`coffer_ui::message_frame_document`), under a policy that lets nothing load or run
/// ([`coffer_ui::MESSAGE_FRAME_CSP`]). 404 when the message has no HTML body. Audited
/// as `message.html`.
#[utoipa::path(get, path = "/messages/{id}/html", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path, description = "message id")),
    responses((status = 200, content_type = "text/html", body = String), (status = 403, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
async fn html(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ReadContent>,
    AppPath(id): AppPath<String>,
) -> Result<Response, ApiError> {
    let (row, record) = load(&state, &caller, &id, "message.html").await?;
    let content = record.content;
    let view = caller.recipient_view();
    let rendered =
        tokio::task::spawn_blocking(move || render::render(&as_received(&content, &view)))
            .await
            .map_err(ApiError::internal)?;
    let Some(body) = rendered.html else {
        return Err(ApiError::NotFound("the message has no HTML body".into()));
    };
    audited(&state, &caller, "message.html", &row, serde_json::json!({})).await?;
    let mut response = coffer_ui::message_frame_document(&body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(coffer_ui::MESSAGE_FRAME_CSP),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    Ok(response)
}

fn download(content_type: &str, filename: &str, bytes: Vec<u8>) -> Response {
    // RFC 6266: an ASCII fallback and the UTF-8 name.
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    response
}

/// The original RFC 5322 bytes, exactly as archived — for a user, as they received it
/// (the original of a journal report; no one else's Bcc or delivery headers: see
/// [`coffer_ingest::as_received`]).
#[utoipa::path(get, path = "/messages/{id}/raw", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path, description = "message id")),
    responses((status = 200, content_type = "message/rfc822", body = Vec<u8>), (status = 403, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
async fn raw(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ReadContent>,
    AppPath(id): AppPath<String>,
) -> Result<Response, ApiError> {
    let (row, record) = load(&state, &caller, &id, "message.raw").await?;
    let view = caller.recipient_view();
    let bytes = match as_received(&record.content, &view) {
        Cow::Borrowed(_) => record.content,
        Cow::Owned(received) => received,
    };
    audited(
        &state,
        &caller,
        "message.raw",
        &row,
        serde_json::json!({ "size": bytes.len(), "as_received": view != RecipientView::All }),
    )
    .await?;
    Ok(download(
        "message/rfc822",
        &format!("{}.eml", row.id),
        bytes,
    ))
}

/// One attachment, decoded, as a download.
#[utoipa::path(get, path = "/messages/{id}/attachments/{n}", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path, description = "message id"), ("n" = usize, Path, description = "attachment index from 0")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 403, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
async fn attachment(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ReadContent>,
    AppPath((id, n)): AppPath<(String, usize)>,
) -> Result<Response, ApiError> {
    let (row, record) = load(&state, &caller, &id, "message.attachment").await?;
    let content = record.content;
    let view = caller.recipient_view();
    let found =
        tokio::task::spawn_blocking(move || render::attachment(&as_received(&content, &view), n))
            .await
            .map_err(ApiError::internal)?;
    let Some((filename, content_type, bytes)) = found else {
        return Err(ApiError::NotFound("no such attachment".into()));
    };
    let detail =
        serde_json::json!({ "attachment": n, "size": bytes.len(), "content_type": content_type });
    audited(&state, &caller, "message.attachment", &row, detail).await?;
    let name = filename.unwrap_or_else(|| format!("{}-attachment-{n}", row.id));
    Ok(download(&content_type, &name, bytes))
}

/// Inclusion proof of the message's record against the latest signed tree head of its
/// volume: the offline proof document of `volume/FORMAT.md` ("Proofs",
/// `coffer-inclusion-proof-v1`), served as its canonical bytes so that the saved response
/// is what `coffer proof verify` checks. Roles that may not read content get it without
/// the record header and custody metadata (participant addresses): it then proves the
/// record hash only.
#[utoipa::path(get, path = "/messages/{id}/proof", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path, description = "message id")),
    responses((status = 200, body = Object, description = "coffer-inclusion-proof-v1 document"), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn proof(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::ReadProofs>,
    AppPath(id): AppPath<String>,
) -> Result<Response, ApiError> {
    let row = find(&state, &caller, &id, "message.proof", &caller.proof_scope()).await?;
    let archive = state.archive().clone();
    let message = row.id;
    let (head, path, record_hash, record_header, meta, transitions) =
        crate::blocking(move || -> Result<_, ApiError> {
            let volume = archive.volumes().get(message.year)?.ok_or_else(|| {
                ApiError::Internal(format!("catalog names {message} but its volume is missing"))
            })?;
            let head = match volume.latest_tree_head() {
                Some(head) if head.tree_size >= message.seq => head,
                _ => volume.checkpoint()?.ok_or_else(|| {
                    ApiError::Unavailable("the volume has no signed tree head yet".into())
                })?,
            };
            let path = volume.inclusion_proof(message.seq, head.tree_size)?;
            let record_hash = volume.record_hash(message.seq)?;
            let (record_header, meta) = volume.read_meta(message.seq)?;
            // The key transitions before the head lead from any key of the chain an
            // auditor trusts to the key that signed it.
            let transitions: Vec<_> = volume
                .key_transitions()
                .into_iter()
                .filter(|t| t.tree_size < head.tree_size)
                .collect();
            Ok((head, path, record_hash, record_header, meta, transitions))
        })
        .await?;
    audited(
        &state,
        &caller,
        "message.proof",
        &row,
        serde_json::json!({ "tree_size": head.tree_size }),
    )
    .await?;
    let binds_content = caller.sees_content();
    let document = InclusionProof {
        format: INCLUSION_FORMAT.to_string(),
        message_id: message.to_string(),
        year: message.year,
        content_sha256: binds_content.then(|| hex::encode(record_header.content_sha256)),
        record_header: binds_content.then(|| hex::encode(record_header.encode())),
        record_meta: binds_content.then(|| hex::encode(&meta)),
        record_prev: binds_content.then(|| record_header.proof_prev()).flatten(),
        record_hash: hex::encode(record_hash),
        leaf_index: message.seq - 1,
        tree_size: head.tree_size,
        audit_path: path.iter().map(hex::encode).collect(),
        tree_head: head,
        key_transitions: transitions,
    };
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        document.to_json(),
    )
        .into_response())
}
