//! Deleting a whole sealed volume whose every message record is disposed of (issue 26,
//! item 4: "Whole sealed volumes whose every record is disposed of may be deleted").
//!
//! # Decision
//! Disposition is per message; the volume it leaves behind holds ciphertext no key
//! opens and the custody metadata of messages that no longer exist. An administrator
//! may delete it as a whole (`coffer volume delete YEAR`, with the server stopped, like
//! `volume move`) only when:
//! - it is **sealed**, **intact** (verified with the public key and the key store) and
//!   online (an offline volume is attached first);
//! - **every message record** in it is disposed of (its data key destroyed by a
//!   certified run): a record written before crypto-shredding, or one still kept,
//!   keeps the volume;
//! - **no link record** in it adds mailboxes to a message that is kept (in another
//!   year's volume): deleting it would drop those mailboxes from a live message;
//! - **no legal hold in force covers it**: a hold whose custodians include any mailbox
//!   its records name, or one without custodians (a query or a date range alone cannot
//!   be evaluated on disposed content: it counts as covering — the safe side).
//!
//! The decision is pure ([`deletion_refusal`]); the deletion is audited (`volume.delete`,
//! recorded before anything is removed, with the volume id, root, record counts, the
//! runs that disposed of its records and the holds checked), refusals too. What stays
//! is described in `coffer_volume::disposal`: the manifest, the final signed tree head
//! (`SEAL`) and a `DISPOSED` record under `disposed-volumes/YEAR/`, beside the
//! disposition certificates in the audit trail — so an auditor still sees that the
//! year existed, what its tree was, and that each record in it was disposed of.
//! Volumes are not deleted automatically by a disposition run: deletion removes custody
//! metadata too, which is a separate, deliberate act.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use coffer_audit::Actor;
use coffer_keystore::KeyStore;
use coffer_volume::disposal::{VolumeEvidence, check_deletable, delete_volume};
use coffer_volume::{ContentKeys, PublicKey};
use serde_json::json;

use crate::Hold;
use crate::manage::{RetentionError, now_us};
use crate::runs::Dispositions;

type Result<T> = std::result::Result<T, RetentionError>;

/// Test and drill hook: `COFFER_PAUSE_VOLUME_DELETE=recorded` (evidence written, volume
/// still in place) or `unlinked` (volume renamed away, not yet removed) stops a
/// deletion there; the process then waits to be killed.
pub const PAUSE_VAR: &str = "COFFER_PAUSE_VOLUME_DELETE";

/// What a volume's records name (read by the caller from the record metadata, which
/// disposition leaves in place).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeFacts {
    /// The year.
    pub year: i32,
    /// Every mailbox its records name (lowercase).
    pub mailboxes: Vec<String>,
    /// Its link records that add mailboxes to a kept message: (link id, target id).
    pub live_links: Vec<(String, String)>,
}

/// Why a volume with these facts may not be deleted now (`None`: it may, as far as
/// links and holds go; the volume itself is checked by `coffer_volume::disposal`).
pub fn deletion_refusal(facts: &VolumeFacts, holds: &[Hold], now_us: i64) -> Option<String> {
    if let Some((link, target)) = facts.live_links.first() {
        return Some(format!(
            "{} link record(s) of {} add mailboxes to messages that are kept (e.g. {link} → {target})",
            facts.live_links.len(),
            facts.year
        ));
    }
    let mailboxes: Vec<&str> = facts.mailboxes.iter().map(String::as_str).collect();
    let covering: Vec<String> = holds
        .iter()
        .filter(|h| h.in_force(now_us) && covers_volume(h, &mailboxes))
        .map(|h| format!("{} ({})", h.id, h.name))
        .collect();
    if covering.is_empty() {
        None
    } else {
        Some(format!(
            "legal hold(s) in force cover the volume of {}: {}",
            facts.year,
            covering.join(", ")
        ))
    }
}

/// Whether a hold may cover something of a volume whose records name `mailboxes`:
/// its custodians meet them, or it names none (its query or date range cannot be
/// decided on disposed content).
fn covers_volume(hold: &Hold, mailboxes: &[&str]) -> bool {
    hold.scope.custodians.is_empty() || hold.covers(mailboxes, None, true)
}

/// What deleting one year's volume needs.
pub struct VolumeDeletion {
    /// The volume's year directory (`volumes/YEAR`).
    pub year_dir: PathBuf,
    /// Where the evidence of deleted volumes goes (`disposed-volumes/`).
    pub evidence_root: PathBuf,
    /// The archive's public key (the volume is verified before anything is removed).
    pub public_key: PublicKey,
    /// The data-key store (tells disposed records).
    pub keys: Arc<KeyStore>,
    /// What its records name.
    pub facts: VolumeFacts,
}

impl std::fmt::Debug for VolumeDeletion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeDeletion")
            .field("year_dir", &self.year_dir)
            .finish_non_exhaustive()
    }
}

fn pause_at(step: &str) {
    if std::env::var(PAUSE_VAR).as_deref() == Ok(step) {
        tracing::warn!(step, "{PAUSE_VAR}: pausing the volume deletion");
        loop {
            std::thread::park();
        }
    }
}

impl Dispositions {
    /// Deletes a sealed volume whose every message record is disposed of (see the
    /// [module docs](self)); audited, refusals too.
    pub async fn delete_volume(
        &self,
        actor: &Actor,
        deletion: VolumeDeletion,
    ) -> Result<VolumeEvidence> {
        let year = deletion.facts.year;
        let target = year.to_string();
        let now = now_us();
        let holds: Vec<Hold> = self
            .retention()
            .holds()
            .await?
            .into_iter()
            .map(|h| h.hold)
            .collect();
        let checked = {
            let (year_dir, key, keys) = (
                deletion.year_dir.clone(),
                deletion.public_key.clone(),
                Arc::clone(&deletion.keys),
            );
            tokio::task::spawn_blocking(move || {
                check_deletable(&year_dir, &key, keys.as_ref() as &dyn ContentKeys)
            })
            .await
            .map_err(|e| RetentionError::Invalid(e.to_string()))?
        };
        let report = match checked {
            Ok(report) => report,
            Err(e) => {
                return self
                    .audit()
                    .refused(
                        actor,
                        "volume.delete",
                        &target,
                        RetentionError::Invalid(format!("the volume of {year} stays: {e}")),
                    )
                    .await;
            }
        };
        if let Some(why) = deletion_refusal(&deletion.facts, &holds, now) {
            return self
                .audit()
                .refused(
                    actor,
                    "volume.delete",
                    &target,
                    RetentionError::Invalid(why),
                )
                .await;
        }
        let mut runs: BTreeMap<String, u64> = BTreeMap::new();
        for d in &report.disposed {
            *runs.entry(d.by.clone()).or_default() += 1;
        }
        let in_force: Vec<i64> = holds
            .iter()
            .filter(|h| h.in_force(now))
            .map(|h| h.id)
            .collect();
        let detail = json!({
            "year": year,
            "volume_id": report.volume_id,
            "records": report.records,
            "messages": report.messages,
            "root": report.root,
            "seal": report.last_signed_head,
            "disposed_by": runs,
            "holds_checked": in_force,
        });
        let who = actor.account.clone().unwrap_or_else(|| actor.name.clone());
        self.audit()
            .record_then_apply(actor, "volume.delete", &target, detail, async move {
                tokio::task::spawn_blocking(move || {
                    delete_volume(
                        &deletion.year_dir,
                        &deletion.evidence_root,
                        &report,
                        &who,
                        now,
                        pause_at,
                    )
                })
                .await
                .map_err(|e| RetentionError::Invalid(e.to_string()))?
                .map_err(|e| RetentionError::Invalid(e.to_string()))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HoldScope;

    fn hold(id: i64, custodians: &[&str], query: Option<&str>, released: Option<i64>) -> Hold {
        Hold {
            id,
            name: format!("matter {id}"),
            scope: HoldScope {
                custodians: custodians.iter().map(|c| c.to_string()).collect(),
                query: query.map(str::to_string),
                from: None,
                until: None,
            },
            placed_us: 0,
            released_us: released,
        }
    }

    #[test]
    fn links_to_kept_mail_and_holds_keep_a_volume() {
        let facts = VolumeFacts {
            year: 2019,
            mailboxes: vec!["carol@corp.example".into(), "dave@corp.example".into()],
            live_links: vec![],
        };
        let now = 10;
        // (holds, deletable)
        let table: Vec<(Vec<Hold>, bool)> = vec![
            (vec![], true),
            // another custodian's hold
            (vec![hold(1, &["ursula@corp.example"], None, None)], true),
            // a custodian named in the volume
            (vec![hold(2, &["Carol@corp.example"], None, None)], false),
            // released before now
            (vec![hold(3, &["carol@corp.example"], None, Some(5))], true),
            // a query alone cannot be decided on disposed content: kept
            (vec![hold(4, &[], Some("merger"), None)], false),
            // custodians and a query: the custodians decide
            (
                vec![hold(5, &["ursula@corp.example"], Some("merger"), None)],
                true,
            ),
        ];
        for (holds, deletable) in table {
            assert_eq!(
                deletion_refusal(&facts, &holds, now).is_none(),
                deletable,
                "{holds:?}"
            );
        }
        let linked = VolumeFacts {
            live_links: vec![("2019-7".into(), "2024-3".into())],
            ..facts
        };
        let why = deletion_refusal(&linked, &[], now).expect("refused");
        assert!(why.contains("2019-7 → 2024-3"), "{why}");
    }
}
