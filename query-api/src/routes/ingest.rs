//! `POST /api/v1/messages`: journal submission over HTTP by a mail server holding a
//! journal API token. The body is the raw RFC 5322 message; the envelope comes as query
//! parameters (`mail_from`, `rcpt` repeated). The answer is 201 only after the journaling
//! pipeline ([`coffer_ingest::journaling::Journal`]) returned, i.e. after the record is
//! fsynced; a byte-identical resubmission answers 201 with
//! `duplicate: true` and the original id. A message no mailbox's archiving rule admits
//! is not stored: 200 with `excluded: true`, recorded in the audit trail (no content).
//!
//! The body is read into memory drawn from the journal's memory budget, which SMTP/LMTP
//! sessions share ([`coffer_ingest::budget`]): a `Content-Length` is reserved before the
//! body is read, a chunked body as it arrives. When the budget cannot hold it the answer
//! is 503 with `Retry-After` (the body is not read further); past
//! [`crate::ApiConfig::max_message_body`] it is 413.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use coffer_ingest::budget::{BufferFull, MemoryBudget, MessageBuffer, Reservation};
use coffer_ingest::journaling::{DeliveredBy, Source, Submission};
use coffer_ingest::parse::MailboxPolicy;
use coffer_ingest::{Incoming, Outcome};
use coffer_model::Envelope;
use http_body_util::BodyExt as _;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, cap};
use crate::error::{ApiError, AppJson, AppQuery, BUSY_RETRY_AFTER, ErrorResponse};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(submit))
}

/// The stored message.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Submitted {
    /// Message id (absent when excluded).
    id: Option<String>,
    /// Whether the message was already archived (no new message record).
    duplicate: bool,
    /// Of a duplicate: whether it added mailboxes (a link record was written).
    linked: bool,
    /// Whether the archiving rules excluded it (200, nothing stored; audited).
    excluded: bool,
    /// Bytes the new record takes in its volume (0 for a duplicate).
    stored_bytes: u64,
    /// Flags of a new message (`malformed`, `date-unreliable`, ...): what reading it
    /// found.
    flags: Vec<&'static str>,
}

impl Submitted {
    fn of(outcome: &Outcome) -> Self {
        let (stored_bytes, flags) = match outcome {
            Outcome::Archived {
                stored_bytes,
                flags,
                ..
            } => (*stored_bytes, flags.names()),
            _ => (0, Vec::new()),
        };
        Self {
            id: outcome.id().map(|id| id.to_string()),
            duplicate: matches!(outcome, Outcome::Linked { .. } | Outcome::Duplicate { .. }),
            linked: matches!(outcome, Outcome::Linked { .. }),
            excluded: matches!(outcome, Outcome::Excluded { .. }),
            stored_bytes,
            flags,
        }
    }
}

/// Most recipients accepted in the envelope.
const MAX_RCPT: usize = 10_000;

/// Submit a journaled message (raw RFC 5322 body).
#[utoipa::path(post, path = "/messages", tag = "ingest", security(("bearer" = [])),
    params(("mail_from" = Option<String>, Query, description = "envelope sender"),
           ("rcpt" = Option<Vec<String>>, Query, description = "envelope recipient (repeat for each)"),
           ("mode" = Option<String>, Query, description = "journal (default) or import (coffer import --server: no envelope, no archiving rules)"),
           ("mailbox" = Option<Vec<String>>, Query, description = "mode=import: assign to this mailbox (repeat; default: participants in local domains)"),
           ("origin" = Option<String>, Query, description = "mode=import: where the message came from (file path)")),
    request_body(content = Vec<u8>, content_type = "message/rfc822"),
    responses((status = 201, body = Submitted), (status = 200, body = Submitted), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 413, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
async fn submit(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<cap::SubmitMessages>,
    AppQuery(params): AppQuery<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, AppJson<Submitted>), ApiError> {
    let (body, _memory) = read_body(
        body,
        &headers,
        state.config().max_message_body,
        state.journal().memory_budget(),
    )
    .await?;
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "the body must be the raw message".into(),
        ));
    }
    let mut mail_from = None;
    let mut rcpt_to = Vec::new();
    let mut import = false;
    let mut mailboxes = Vec::new();
    let mut origin = None;
    for (key, value) in params {
        match key.as_str() {
            "mail_from" => mail_from = Some(value),
            "rcpt" => rcpt_to.push(value),
            "mode" if value == "journal" => import = false,
            "mode" if value == "import" => import = true,
            "mode" => {
                return Err(ApiError::BadRequest(format!(
                    "unknown mode {value:?} (journal or import)"
                )));
            }
            "mailbox" => mailboxes.push(value),
            "origin" => origin = Some(value),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown parameter {other:?} (mail_from, rcpt, mode, mailbox, origin)"
                )));
            }
        }
    }
    if !import && (!mailboxes.is_empty() || origin.is_some()) {
        return Err(ApiError::BadRequest(
            "mailbox and origin apply to mode=import only".into(),
        ));
    }
    if rcpt_to.len() > MAX_RCPT {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_RCPT} recipients"
        )));
    }
    let envelope = Envelope {
        protocol: Source::Http.as_str().into(),
        mail_from,
        rcpt_to,
        client_addr: Some(caller.client.clone()),
        helo: None,
        tls: false,
    };
    let size = body.len();
    let started = std::time::Instant::now();
    state.refresh_local_domains().await?;
    let outcome = if import {
        // An import through the server (`coffer import --server`): no envelope, no
        // archiving rules, mailboxes as the importer chose them.
        let policy = if mailboxes.is_empty() {
            MailboxPolicy::LocalDomains(state.archive().local_domains())
        } else {
            MailboxPolicy::Fixed(mailboxes)
        };
        state
            .journal()
            .import(Incoming {
                raw: body,
                source: "import".into(),
                envelope: None,
                origin: Some(format!(
                    "token:{}: {}",
                    caller.name,
                    origin.unwrap_or_default()
                )),
                policy,
                journaled: false,
            })
            .await?
    } else {
        state
            .journal()
            .deliver(Submission {
                raw: body,
                envelope,
                source: Source::Http,
                delivered_by: DeliveredBy::Token(caller.name.clone()),
                client: caller.client.clone(),
            })
            .await?
    };
    let elapsed_ms = started.elapsed().as_millis() as u64;
    if let Outcome::Excluded { size, .. } = outcome {
        tracing::info!(
            token_id = caller.id,
            size,
            elapsed_ms,
            "journal submission excluded by the archiving rules"
        );
        return Ok((StatusCode::OK, AppJson(Submitted::of(&outcome))));
    }
    let submitted = Submitted::of(&outcome);
    let (duplicate, id) = (submitted.duplicate, submitted.id.clone());
    tracing::info!(
        token_id = caller.id,
        message = id.as_deref().unwrap_or("-"),
        size,
        duplicate,
        elapsed_ms,
        "journal submission stored"
    );
    Ok((StatusCode::CREATED, AppJson(submitted)))
}

/// Reads the raw message into memory drawn from `budget` (see the module docs); the
/// reservation is held by the caller until the journal has answered.
async fn read_body(
    mut body: Body,
    headers: &HeaderMap,
    limit: usize,
    budget: &MemoryBudget,
) -> Result<(Vec<u8>, Reservation), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or(0);
    let full = |why| match why {
        BufferFull::TooLarge => ApiError::PayloadTooLarge,
        BufferFull::OverBudget => ApiError::Busy {
            retry_after: BUSY_RETRY_AFTER,
        },
    };
    let mut buffer = MessageBuffer::new(budget, limit as u64, declared).map_err(full)?;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
        if let Some(data) = frame.data_ref() {
            buffer.push(data).map_err(full)?;
        }
    }
    Ok(buffer.into_parts())
}
