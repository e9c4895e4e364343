//! Disposition runs: proposed by one person, approved by another, executed by
//! crypto-shredding, certified with a signed certificate kept in the audit trail for
//! ever (issue 26; DESIGN.md "Retention and disposition"; `volume/FORMAT.md`
//! "Encrypted content").
//!
//! # Steps
//! 1. **Propose** ([`Dispositions::propose`]): every message is decided
//!    ([`crate::decide`]); the eligible ones (period over, no hold) form the list, with
//!    counts per policy and year and the holds in force. Audited.
//! 2. **Approve** ([`Dispositions::approve`]) by a second, different person
//!    ([`crate::disposition::may_approve`]: not the proposer; no hold placed since), or
//!    **reject**. Audited.
//! 3. **Execute** ([`Dispositions::execute`], right after the approval in the server, or
//!    when the server next starts): every proposed message is decided **again**; one
//!    that is no longer eligible (held since, policy lengthened) is skipped, and so is one
//!    whose content is not encrypted (written before crypto-shredding existed: it cannot
//!    be shredded on its own and waits for its whole volume's disposition). For the
//!    rest a certificate is built and signed, recorded in the audit trail (durable) and
//!    stored with the run (state `executing`); only then are their data keys destroyed
//!    (the key store is rewritten atomically), their index documents purged (delete,
//!    commit, merge, old segment files collected) and their catalog rows removed; the run
//!    ends `executed`, audited again.
//!
//! # Crash safety
//! Before the certificate is durable nothing is destroyed (the run is still
//! `approved`: the next start decides again and certifies). After it, every step is
//! idempotent and a run found `executing` at start-up is finished. So a message is at
//! every moment readable, or certified as disposed (or both, for the moment between the
//! certificate and the key store's rename) — never neither.
//!
//! # Copies that arrive during a run
//! The archive deduplicates: a copy of an archived message becomes a link record (new
//! mailboxes) or nothing at all (a duplicate), and is acknowledged. A copy of a message
//! this run shreds must not be: acknowledged, then unreadable once the key is gone. So
//! before the messages are decided again, the executor **fences** them in the writer
//! ([`DedupFence`], under the writer's dedup lock): from then on a copy of one of them
//! is stored in full, as a new message with its own data key (the catalog may list both
//! for a moment: content hashes are not unique there), and the fence returns only once
//! every record written before it is in the catalog, so the decision sees every mailbox
//! acknowledged for them. The fence is lifted once their catalog rows are gone. A run
//! found `executing` at start-up fences its certified messages before anything is
//! served, and keeps (**withdraws**, recorded in `disposition.execute`) any certified
//! message a link written after the certificate names. `coffer import`, the writer
//! that may run between the crash and this start, fences the certified messages of
//! runs left `executing` itself ([`certified_in_flight`]), so its copies are stored
//! anew and nothing is withdrawn; the withdrawal remains the safety net for any other
//! writer. So no acknowledged message or link points at a destroyed key unless it is
//! itself certified as disposed.
//!
//! # The certificate
//! Canonical compact JSON in the field order of [`Certificate`]; `signature` is the
//! archive's ed25519 signature over `"coffer-disposition-certificate-v1\0"` followed by
//! the certificate's JSON without its `signature` field (the same serialisation). The
//! records are listed with their id, record hash and content SHA-256; `records_root` is
//! the RFC 9162 Merkle root over their record hashes in list order, so a certificate can
//! also be checked against a shorter extract. [`verify_certificate`] checks one with
//! the public key alone.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use coffer_audit::{Actor, AuditLog};
use coffer_catalog::Catalog;
use coffer_catalog::disposition::{DispositionRunRecord, NewDispositionRun};
use coffer_index::IndexSet;
use coffer_keystore::KeyStore;
use coffer_model::MessageId;
use coffer_volume::merkle::MerkleTree;
use coffer_volume::{ArchiveKey, PublicKey, VolumeSet};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::disposition::{HoldSnapshot, may_approve};
use crate::manage::{RetentionAdmin, RetentionError, now_us};
use crate::{Hold, KeptBecause};

type Result<T> = std::result::Result<T, RetentionError>;

/// The domain separator of the certificate signature.
pub const CERTIFICATE_CONTEXT: &[u8] = b"coffer-disposition-certificate-v1\0";
/// The certificate's format name.
pub const CERTIFICATE_FORMAT: &str = "coffer-disposition-certificate-v1";

/// Test and drill hook: `COFFER_PAUSE_DISPOSITION=certified` stops an execution after
/// the certificate is durable (audit trail and catalog) and before any key is destroyed,
/// `keys` after the keys are destroyed and before the index and catalog are cleaned;
/// the process then waits to be killed.
pub const PAUSE_VAR: &str = "COFFER_PAUSE_DISPOSITION";

/// With [`PAUSE_VAR`]: `COFFER_PAUSE_DISPOSITION_RELEASE=FILE` ends the pause once FILE
/// exists, and the run goes on (a test delivers mail while a run is paused, then lets
/// it finish in the same process).
pub const RELEASE_VAR: &str = "COFFER_PAUSE_DISPOSITION_RELEASE";

/// Messages of one policy and year in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
pub struct CountLine {
    /// The deciding policy.
    pub policy: String,
    /// The volume (receive) year.
    pub year: i32,
    /// How many messages.
    pub messages: u64,
}

/// One proposed message: its id and deciding policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item(pub i32, pub u64, pub String);

/// One disposed record in a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertifiedRecord {
    /// The message id (`YEAR-SEQ`).
    pub id: String,
    /// Its record hash (hex): its leaf in the volume's Merkle tree.
    pub record_hash: String,
    /// SHA-256 of the content it held (hex).
    pub content_sha256: String,
    /// The policy under which it was disposed of.
    pub policy: String,
}

/// What the execution left alone, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Decided again at execution: no longer eligible (a hold, a longer policy).
    pub no_longer_eligible: u64,
    /// Stored unencrypted (before crypto-shredding): disposed only with its volume.
    pub not_encrypted: u64,
    /// No longer in the archive's catalog (disposed by an earlier run).
    pub gone: u64,
}

/// A signed disposition certificate (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// [`CERTIFICATE_FORMAT`].
    pub format: String,
    /// The run.
    pub run: i64,
    /// Fingerprint of the signing key.
    pub key: String,
    /// Who proposed the run.
    pub proposed_by: String,
    /// When (Unix µs).
    pub proposed_us: i64,
    /// Who approved it.
    pub approved_by: String,
    /// When (Unix µs).
    pub approved_us: i64,
    /// When the certificate was made, just before the keys were destroyed (Unix µs).
    pub certified_us: i64,
    /// The holds in force when the messages were decided again (ids).
    pub holds_checked: Vec<i64>,
    /// Messages disposed of per policy and year.
    pub counts: Vec<CountLine>,
    /// What was left alone.
    pub skipped: Skipped,
    /// How many records were disposed of.
    pub count: u64,
    /// RFC 9162 Merkle root over the record hashes of `records`, in order (hex).
    pub records_root: String,
    /// The records disposed of.
    pub records: Vec<CertifiedRecord>,
    /// The ed25519 signature (hex) over [`CERTIFICATE_CONTEXT`] ‖ this JSON without it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signature: String,
}

impl Certificate {
    /// The bytes the signature covers.
    fn signed_bytes(&self) -> Vec<u8> {
        let mut unsigned = self.clone();
        unsigned.signature.clear();
        let mut bytes = CERTIFICATE_CONTEXT.to_vec();
        bytes.extend_from_slice(&serde_json::to_vec(&unsigned).unwrap_or_default());
        bytes
    }

    /// The canonical JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Why a certificate does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// Not JSON of the certificate's shape.
    #[error("not a disposition certificate: {0}")]
    Malformed(String),
    /// The bytes are not the canonical form of what they parse to.
    #[error("the certificate is not in canonical form")]
    NotCanonical,
    /// Signed by another key.
    #[error("signed with key {0}, not this public key")]
    WrongKey(String),
    /// The signature does not verify.
    #[error("the signature does not verify")]
    BadSignature,
    /// The count, counts or Merkle root disagree with the records listed.
    #[error("{0}")]
    Inconsistent(String),
}

/// The Merkle root (hex) over record hashes (hex), in order.
fn records_root(records: &[CertifiedRecord]) -> std::result::Result<String, String> {
    let mut tree = MerkleTree::new();
    for r in records {
        let hash: [u8; 32] = hex::decode(&r.record_hash)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("record {}: record hash is not 64 hex digits", r.id))?;
        tree.push(&hash);
    }
    Ok(hex::encode(tree.root()))
}

/// Checks a certificate (its JSON text) with the archive's public key: canonical form,
/// key, signature, and that count, counts and Merkle root match the records listed.
pub fn verify_certificate(
    text: &str,
    key: &PublicKey,
) -> std::result::Result<Certificate, CertificateError> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let cert: Certificate =
        serde_json::from_str(text).map_err(|e| CertificateError::Malformed(e.to_string()))?;
    if cert.format != CERTIFICATE_FORMAT {
        return Err(CertificateError::Malformed(format!(
            "format {:?}",
            cert.format
        )));
    }
    if cert.to_json() != text {
        return Err(CertificateError::NotCanonical);
    }
    if cert.key != key.fingerprint() {
        return Err(CertificateError::WrongKey(cert.key));
    }
    let signature = hex::decode(&cert.signature).map_err(|_| CertificateError::BadSignature)?;
    if !key.verify(&cert.signed_bytes(), &signature) {
        return Err(CertificateError::BadSignature);
    }
    if cert.count != cert.records.len() as u64 {
        return Err(CertificateError::Inconsistent(format!(
            "count {} but {} records listed",
            cert.count,
            cert.records.len()
        )));
    }
    let root = records_root(&cert.records).map_err(CertificateError::Inconsistent)?;
    if root != cert.records_root {
        return Err(CertificateError::Inconsistent(
            "records_root is not the Merkle root of the records listed".into(),
        ));
    }
    let summed: u64 = cert.counts.iter().map(|c| c.messages).sum();
    if summed != cert.count {
        return Err(CertificateError::Inconsistent(format!(
            "counts add up to {summed}, not {}",
            cert.count
        )));
    }
    Ok(cert)
}

/// A boxed future (the [`DedupFence`] is used as a trait object).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The archive writer's deduplication, as a disposition run needs it (see the
/// [module docs](self), "Copies that arrive during a run"). The server implements it
/// over `coffer_ingest`'s writer (this crate does not depend on `ingest`).
pub trait DedupFence: Send + Sync {
    /// From now on, a copy of one of `ids` is stored as a new message with its own data
    /// key, never deduplicated against them (no link, no duplicate); returns once every
    /// record written before is applied to the catalog.
    fn fence<'a>(&'a self, ids: &'a [MessageId]) -> BoxFuture<'a, std::result::Result<(), String>>;
    /// Ends the fence of `ids` (their catalog rows are gone, or they are kept).
    fn lift<'a>(&'a self, ids: &'a [MessageId]) -> BoxFuture<'a, ()>;
}

/// What execution needs beyond the catalog: the volumes with their key store, the
/// index, the archive's signing key, and the writer's dedup fence. Only the process
/// that writes the archive (the server) has it.
#[derive(Clone)]
pub struct Executor {
    /// The mail volumes (with the key store attached for reading).
    pub volumes: Arc<VolumeSet>,
    /// The data-key store.
    pub keys: Arc<KeyStore>,
    /// The search index.
    pub index: Arc<IndexSet>,
    /// The archive's signing key.
    pub signing: ArchiveKey,
    /// The writer's deduplication, fenced off the messages being disposed of.
    pub fence: Arc<dyn DedupFence>,
}

/// Disposition runs over the catalog and the audit trail (see the [module docs](self)).
#[derive(Clone)]
pub struct Dispositions {
    admin: RetentionAdmin,
    catalog: Arc<Catalog>,
    audit: AuditLog,
    executor: Option<Executor>,
}

impl std::fmt::Debug for Dispositions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispositions").finish_non_exhaustive()
    }
}

/// The policy name a decision counts under.
fn policy_of(because: &KeptBecause) -> String {
    match because {
        KeptBecause::Policy { policy, .. } => policy.clone(),
        KeptBecause::NoPolicy => "(none)".into(),
        KeptBecause::UnknownPolicy { policy, .. } => format!("(unknown {policy})"),
    }
}

fn counts_of<'a>(items: impl Iterator<Item = (i32, &'a str)>) -> Vec<CountLine> {
    let mut counts: BTreeMap<(String, i32), u64> = BTreeMap::new();
    for (year, policy) in items {
        *counts.entry((policy.to_string(), year)).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((policy, year), messages)| CountLine {
            policy,
            year,
            messages,
        })
        .collect()
}

fn pause_at(step: &str) {
    if std::env::var(PAUSE_VAR).as_deref() == Ok(step) {
        tracing::warn!(step, "{PAUSE_VAR}: pausing the disposition run");
        let release = std::env::var_os(RELEASE_VAR).map(std::path::PathBuf::from);
        loop {
            match &release {
                Some(file) if std::fs::metadata(file).is_ok() => return,
                Some(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
                None => std::thread::park(),
            }
        }
    }
}

fn who(actor: &Actor) -> &str {
    actor.account.as_deref().unwrap_or(&actor.name)
}

impl Dispositions {
    /// Runs over `admin`'s catalog and audit trail; `executor` when this process writes
    /// the archive (without it an approved run waits for the server to execute it).
    pub fn new(
        admin: RetentionAdmin,
        catalog: Arc<Catalog>,
        audit: AuditLog,
        executor: Option<Executor>,
    ) -> Self {
        Self {
            admin,
            catalog,
            audit,
            executor,
        }
    }

    /// The retention administration (policies, holds) these runs decide with.
    pub(crate) fn retention(&self) -> &RetentionAdmin {
        &self.admin
    }

    /// The audit trail.
    pub(crate) fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Every run, newest first.
    pub async fn list(&self) -> Result<Vec<DispositionRunRecord>> {
        Ok(self.catalog.disposition_runs().await?)
    }

    /// One run.
    pub async fn get(&self, id: i64) -> Result<DispositionRunRecord> {
        self.catalog
            .disposition_run(id)
            .await?
            .ok_or_else(|| RetentionError::NotFound(format!("no disposition run {id}")))
    }

    /// The eligible messages now, with their deciding policy, and the holds in force.
    async fn eligible(&self, now: i64) -> Result<(Vec<Item>, Vec<i64>)> {
        let mut years: Vec<i32> = self.catalog.message_counts().await?.into_keys().collect();
        years.sort_unstable();
        let mut items = Vec::new();
        let in_force = self
            .admin
            .decide_all(&years, now, |id, decision| {
                if decision.eligible {
                    items.push(Item(id.year, id.seq, policy_of(&decision.because)));
                }
            })
            .await?;
        Ok((items, in_force))
    }

    /// Proposes a run of every message eligible now.
    pub async fn propose(&self, actor: &Actor) -> Result<DispositionRunRecord> {
        let now = now_us();
        let (items, in_force) = match self.eligible(now).await {
            Ok(x) => x,
            Err(e) => {
                return self
                    .audit
                    .refused(actor, "disposition.propose", "", e)
                    .await;
            }
        };
        if items.is_empty() {
            return self
                .audit
                .refused(
                    actor,
                    "disposition.propose",
                    "",
                    RetentionError::Invalid("no message is eligible for disposition now".into()),
                )
                .await;
        }
        let counts = counts_of(items.iter().map(|i| (i.0, i.2.as_str())));
        let new = NewDispositionRun {
            proposed_by: who(actor).to_string(),
            proposed_us: now,
            holds: serde_json::to_string(&HoldSnapshot {
                in_force: in_force.clone(),
            })
            .unwrap_or_default(),
            counts: serde_json::to_string(&counts).unwrap_or_default(),
            total: items.len() as i64,
            items: serde_json::to_string(&items).unwrap_or_default(),
        };
        let detail = json!({ "total": items.len(), "counts": counts, "holds_in_force": in_force });
        self.audit
            .record_then_apply(actor, "disposition.propose", "", detail, async {
                Ok::<_, RetentionError>(self.catalog.create_disposition_run(&new).await?)
            })
            .await
    }

    /// Rejects a proposed run.
    pub async fn reject(
        &self,
        actor: &Actor,
        id: i64,
        reason: &str,
    ) -> Result<DispositionRunRecord> {
        let target = id.to_string();
        let run = match self.get(id).await {
            Ok(run) if run.state == "proposed" => run,
            Ok(run) => {
                let e = RetentionError::Invalid(format!(
                    "disposition run {id} is {}, not proposed",
                    run.state
                ));
                return self
                    .audit
                    .refused(actor, "disposition.reject", &target, e)
                    .await;
            }
            Err(e) => {
                return self
                    .audit
                    .refused(actor, "disposition.reject", &target, e)
                    .await;
            }
        };
        let detail = json!({ "reason": reason, "proposed_by": run.proposed_by });
        self.audit
            .record_then_apply(actor, "disposition.reject", &target, detail, async {
                let moved = self
                    .catalog
                    .move_disposition_run(
                        id,
                        "proposed",
                        "rejected",
                        Some((who(actor), now_us())),
                        Some(reason),
                    )
                    .await?;
                if moved {
                    Ok(())
                } else {
                    Err(RetentionError::Invalid(format!(
                        "disposition run {id} was decided meanwhile"
                    )))
                }
            })
            .await?;
        self.get(id).await
    }

    /// Approves a proposed run (a second, different person; no hold placed since), then
    /// executes it when this process can.
    pub async fn approve(&self, actor: &Actor, id: i64) -> Result<DispositionRunRecord> {
        let target = id.to_string();
        let now = now_us();
        let checked = async {
            let run = self.get(id).await?;
            if run.state != "proposed" {
                return Err(RetentionError::Invalid(format!(
                    "disposition run {id} is {}, not proposed",
                    run.state
                )));
            }
            let snapshot: HoldSnapshot = serde_json::from_str(&run.holds).map_err(|e| {
                RetentionError::Invalid(format!("run {id}'s holds cannot be read: {e}"))
            })?;
            let holds: Vec<Hold> = self
                .admin
                .holds()
                .await?
                .into_iter()
                .map(|h| h.hold)
                .collect();
            may_approve(&run.proposed_by, who(actor), &snapshot, &holds, now).map_err(
                |e| match e {
                    crate::disposition::Refusal::SamePerson(_) => {
                        RetentionError::Forbidden(e.to_string())
                    }
                    _ => RetentionError::Invalid(e.to_string()),
                },
            )?;
            Ok(run)
        };
        let run = match checked.await {
            Ok(run) => run,
            Err(e) => {
                return self
                    .audit
                    .refused(actor, "disposition.approve", &target, e)
                    .await;
            }
        };
        let detail = json!({ "proposed_by": run.proposed_by, "total": run.total });
        self.audit
            .record_then_apply(actor, "disposition.approve", &target, detail, async {
                let moved = self
                    .catalog
                    .move_disposition_run(id, "proposed", "approved", Some((who(actor), now)), None)
                    .await?;
                if moved {
                    Ok(())
                } else {
                    Err(RetentionError::Invalid(format!(
                        "disposition run {id} was decided meanwhile"
                    )))
                }
            })
            .await?;
        if self.executor.is_some() {
            self.execute(id).await?;
        }
        self.get(id).await
    }

    /// Executes (or finishes) every run left `approved` or `executing` — at start-up.
    pub async fn resume(&self) -> Result<Vec<i64>> {
        let mut done = Vec::new();
        for run in self.list().await?.into_iter().rev() {
            if matches!(run.state.as_str(), "approved" | "executing") {
                tracing::info!(run = run.id, state = %run.state, "executing an unfinished disposition run");
                self.execute(run.id).await?;
                done.push(run.id);
            }
        }
        Ok(done)
    }

    /// Executes run `id` (state `approved`), or finishes it (state `executing`).
    pub async fn execute(&self, id: i64) -> Result<DispositionRunRecord> {
        let executor = self.executor.clone().ok_or_else(|| {
            RetentionError::Invalid(
                "disposition runs execute in the server (`coffer serve`); it will run this one when it starts".into(),
            )
        })?;
        let actor = Actor {
            name: format!("coffer (disposition run {id})"),
            client: "local".into(),
            account: None,
        };
        let mut run = self.get(id).await?;
        // Fenced before the certificate is decided in this process: nothing can be
        // linked to them from then on, and every link written before is in the catalog
        // when they are decided again.
        let fenced_before_certifying = run.state == "approved";
        let mut proposed: Vec<MessageId> = Vec::new();
        if run.state == "approved" {
            let items: Vec<Item> = serde_json::from_str(&run.items).map_err(|e| {
                RetentionError::Invalid(format!("run {id}'s list cannot be read: {e}"))
            })?;
            proposed = items.iter().map(|i| MessageId::new(i.0, i.1)).collect();
            executor
                .fence
                .fence(&proposed)
                .await
                .map_err(|e| RetentionError::Invalid(format!("disposition run {id}: {e}")))?;
            let cert = self.certify(&executor, &run).await?;
            let text = cert.to_json();
            let detail: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            self.audit
                .record_then_apply(
                    &actor,
                    "disposition.certify",
                    &id.to_string(),
                    detail,
                    async {
                        self.catalog.set_disposition_certificate(id, &text).await?;
                        if self
                            .catalog
                            .move_disposition_run(id, "approved", "executing", None, None)
                            .await?
                        {
                            Ok(())
                        } else {
                            Err(RetentionError::Invalid(format!(
                                "disposition run {id} changed meanwhile"
                            )))
                        }
                    },
                )
                .await?;
            run = self.get(id).await?;
        }
        if run.state != "executing" {
            executor.fence.lift(&proposed).await;
            return Ok(run);
        }
        let cert: Certificate =
            serde_json::from_str(run.certificate.as_deref().unwrap_or_default()).map_err(|e| {
                RetentionError::Invalid(format!("run {id}'s certificate cannot be read: {e}"))
            })?;
        let certified: Vec<MessageId> = cert
            .records
            .iter()
            .filter_map(|r| r.id.parse().ok())
            .collect();
        let mut withdrawn: Vec<MessageId> = Vec::new();
        if !fenced_before_certifying {
            // Finishing a run certified by an earlier process (a crash, then this
            // start): fence first, then keep whatever was linked to since the
            // certificate (by another writer that ran in between, which no fence held).
            executor
                .fence
                .fence(&certified)
                .await
                .map_err(|e| RetentionError::Invalid(format!("disposition run {id}: {e}")))?;
            withdrawn = self.linked_since(&executor, &cert, &certified).await?;
            if !withdrawn.is_empty() {
                tracing::warn!(
                    run = id,
                    withdrawn = withdrawn.len(),
                    "certified messages linked to since the certificate are kept"
                );
            }
        }
        tokio::task::spawn_blocking(|| pause_at("certified"))
            .await
            .map_err(|e| RetentionError::Invalid(e.to_string()))?;
        let ids: Vec<MessageId> = certified
            .iter()
            .filter(|i| !withdrawn.contains(i))
            .copied()
            .collect();
        let destroyed = {
            let executor = executor.clone();
            let ids = ids.clone();
            tokio::task::spawn_blocking(move || -> std::result::Result<_, String> {
                let mut key_ids = Vec::with_capacity(ids.len());
                for id in &ids {
                    let volume = executor
                        .volumes
                        .get(id.year)
                        .map_err(|e| e.to_string())?
                        .ok_or_else(|| format!("no volume for {id}"))?;
                    if let Some(key) = volume.key_id(id.seq).map_err(|e| e.to_string())? {
                        key_ids.push(key);
                    }
                }
                let done = executor
                    .keys
                    .destroy(&key_ids, id as u64, now_us())
                    .map_err(|e| e.to_string())?;
                pause_at("keys");
                let mut by_year: BTreeMap<i32, Vec<u64>> = BTreeMap::new();
                for id in &ids {
                    by_year.entry(id.year).or_default().push(id.seq);
                }
                for (year, seqs) in by_year {
                    executor
                        .index
                        .purge(year, &seqs)
                        .map_err(|e| e.to_string())?;
                }
                Ok(done)
            })
            .await
            .map_err(|e| RetentionError::Invalid(e.to_string()))?
            .map_err(|e| RetentionError::Invalid(format!("disposition run {id}: {e}")))?
        };
        let removed = self.catalog.remove_disposed(&ids).await?;
        // Old page images of the removed rows leave SQLite's write-ahead log too.
        self.catalog.checkpoint_wal().await?;
        let detail = json!({
            "keys_destroyed": destroyed.destroyed,
            "keys_destroyed_before": destroyed.already,
            "keys_unknown": destroyed.unknown.len(),
            "catalog_rows_removed": removed,
            "records": cert.count,
            "withdrawn": withdrawn.iter().map(MessageId::to_string).collect::<Vec<_>>(),
        });
        self.audit
            .record_then_apply(
                &actor,
                "disposition.execute",
                &id.to_string(),
                detail,
                async {
                    Ok::<_, RetentionError>(
                        self.catalog.finish_disposition_run(id, now_us()).await?,
                    )
                },
            )
            .await?;
        // The catalog no longer knows them: nothing can be deduplicated against them.
        executor.fence.lift(&proposed).await;
        executor.fence.lift(&certified).await;
        tracing::info!(
            run = id,
            records = cert.count,
            keys = destroyed.destroyed,
            "disposition run executed"
        );
        self.get(id).await
    }

    /// The certified messages that a link record written after the certificate names as
    /// its target: they were acknowledged again, for mailboxes the certificate did not
    /// decide, and are kept (withdrawn from the run, recorded in its execution).
    async fn linked_since(
        &self,
        executor: &Executor,
        cert: &Certificate,
        certified: &[MessageId],
    ) -> Result<Vec<MessageId>> {
        let mut links: Vec<(MessageId, MessageId)> = Vec::new();
        for &id in certified {
            for via in self.catalog.link_provenance(id).await?.into_values() {
                if via != id {
                    links.push((id, via));
                }
            }
        }
        if links.is_empty() {
            return Ok(Vec::new());
        }
        let volumes = Arc::clone(&executor.volumes);
        let since = cert.certified_us;
        tokio::task::spawn_blocking(move || -> std::result::Result<Vec<MessageId>, String> {
            let mut out: Vec<MessageId> = Vec::new();
            for (id, via) in links {
                let volume = volumes
                    .get(via.year)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("no volume for {via}"))?;
                let (header, _) = volume.read_meta(via.seq).map_err(|e| e.to_string())?;
                if header.received_us >= since && !out.contains(&id) {
                    out.push(id);
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| RetentionError::Invalid(e.to_string()))?
        .map_err(RetentionError::Invalid)
    }

    /// Decides the proposed messages again and builds the signed certificate of those
    /// that are still eligible and can be shredded.
    async fn certify(
        &self,
        executor: &Executor,
        run: &DispositionRunRecord,
    ) -> Result<Certificate> {
        let items: Vec<Item> = serde_json::from_str(&run.items).map_err(|e| {
            RetentionError::Invalid(format!("run {}'s list cannot be read: {e}", run.id))
        })?;
        let now = now_us();
        let proposed: BTreeSet<MessageId> =
            items.iter().map(|i| MessageId::new(i.0, i.1)).collect();
        let mut years: Vec<i32> = items.iter().map(|i| i.0).collect();
        years.sort_unstable();
        years.dedup();
        let mut still: BTreeMap<MessageId, String> = BTreeMap::new();
        let mut seen: BTreeSet<MessageId> = BTreeSet::new();
        let holds_checked = self
            .admin
            .decide_all(&years, now, |id, decision| {
                if proposed.contains(&id) {
                    seen.insert(id);
                    if decision.eligible {
                        still.insert(id, policy_of(&decision.because));
                    }
                }
            })
            .await?;
        let mut skipped = Skipped {
            gone: (proposed.len() - seen.len()) as u64,
            no_longer_eligible: (seen.len() - still.len()) as u64,
            not_encrypted: 0,
        };
        let volumes = Arc::clone(&executor.volumes);
        let candidates: Vec<(MessageId, String)> = still.into_iter().collect();
        let (records, not_encrypted) = tokio::task::spawn_blocking(
            move || -> std::result::Result<(Vec<CertifiedRecord>, u64), String> {
                let mut records = Vec::new();
                let mut not_encrypted = 0;
                for (id, policy) in candidates {
                    let volume = volumes
                        .get(id.year)
                        .map_err(|e| e.to_string())?
                        .ok_or_else(|| format!("no volume for {id}"))?;
                    let (header, _) = volume.read_meta(id.seq).map_err(|e| e.to_string())?;
                    if !header.is_encrypted() {
                        not_encrypted += 1;
                        continue;
                    }
                    records.push(CertifiedRecord {
                        id: id.to_string(),
                        record_hash: hex::encode(
                            volume.record_hash(id.seq).map_err(|e| e.to_string())?,
                        ),
                        content_sha256: hex::encode(header.content_sha256),
                        policy,
                    });
                }
                Ok((records, not_encrypted))
            },
        )
        .await
        .map_err(|e| RetentionError::Invalid(e.to_string()))?
        .map_err(RetentionError::Invalid)?;
        skipped.not_encrypted = not_encrypted;
        let counts = counts_of(records.iter().map(|r| {
            let year =
                r.id.split('-')
                    .next()
                    .and_then(|y| y.parse().ok())
                    .unwrap_or(0);
            (year, r.policy.as_str())
        }));
        let mut cert = Certificate {
            format: CERTIFICATE_FORMAT.into(),
            run: run.id,
            key: executor.signing.fingerprint().to_string(),
            proposed_by: run.proposed_by.clone(),
            proposed_us: run.proposed_us,
            approved_by: run.decided_by.clone().unwrap_or_default(),
            approved_us: run.decided_us.unwrap_or_default(),
            certified_us: now,
            holds_checked,
            counts,
            skipped,
            count: records.len() as u64,
            records_root: records_root(&records).map_err(RetentionError::Invalid)?,
            records,
            signature: String::new(),
        };
        cert.signature = hex::encode(executor.signing.sign(&cert.signed_bytes()));
        Ok(cert)
    }
}

/// The messages certified by runs left `executing` (a crash between the certificate and
/// the end of the run): a writer other than the server (`coffer import`) fences them
/// before it writes ([`DedupFence`]), so a copy it brings is stored anew instead of
/// linked to a message whose key the next start destroys (which would then have to be
/// kept against its certificate).
pub async fn certified_in_flight(catalog: &Catalog) -> Result<Vec<MessageId>> {
    let mut ids = Vec::new();
    for run in catalog.disposition_runs().await? {
        if run.state != "executing" {
            continue;
        }
        let cert: Certificate =
            serde_json::from_str(run.certificate.as_deref().unwrap_or_default()).map_err(|e| {
                RetentionError::Invalid(format!("run {}'s certificate cannot be read: {e}", run.id))
            })?;
        ids.extend(
            cert.records
                .iter()
                .filter_map(|r| r.id.parse::<MessageId>().ok()),
        );
    }
    Ok(ids)
}
