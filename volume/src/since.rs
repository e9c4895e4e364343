//! `verify --since HEAD.json`: does this volume still extend a signed tree head an
//! auditor (or a witness) kept outside the host?
//!
//! A volume can be cut at a record boundary together with its later checkpoints, or
//! rewritten and re-signed by whoever holds the key, and still verify from the inside.
//! A head kept elsewhere settles it: the volume's first `tree_size` records must still
//! form the tree with the held root, and the newest signed head must extend it
//! (checked with an RFC 9162 consistency proof built from the records). The verdict
//! names the sizes.

use serde::Serialize;

use crate::keys::PublicKey;
use crate::proof::check_extends;
use crate::transition::KeyChain;
use crate::treehead::SignedTreeHead;
use crate::volume::Volume;

/// The outcome of checking a volume against a held head.
#[derive(Debug, Clone, Serialize)]
pub struct SinceReport {
    /// Size of the held head.
    pub held_size: u64,
    /// Root of the held head, hex.
    pub held_root: String,
    /// Records in the volume now.
    pub records: u64,
    /// Size of the volume's newest signed head (0 when none).
    pub current_size: u64,
    /// Root of the volume's newest signed head, hex.
    pub current_root: String,
    /// Hashes in the consistency proof that was checked.
    pub proof_hashes: usize,
    /// What is wrong; empty means the volume extends the held head.
    pub problems: Vec<String>,
}

impl SinceReport {
    /// Whether the volume extends the held head.
    pub fn extends(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the volume against `held`. I/O errors opening the volume are problems too:
/// a volume that cannot be read does not extend anything.
pub fn check_since(volume: &Volume, public_key: &PublicKey, held: &SignedTreeHead) -> SinceReport {
    let mut report = SinceReport {
        held_size: held.tree_size,
        held_root: held.root.clone(),
        records: volume.last_seq(),
        current_size: 0,
        current_root: String::new(),
        proof_hashes: 0,
        problems: Vec::new(),
    };
    let manifest = volume.manifest();
    // Any key of the volume's chain may be the one trusted; each head is checked with
    // the key of the chain it names.
    let chain = match KeyChain::build(&manifest.key, &volume.key_transitions(), public_key) {
        Ok(chain) => chain,
        Err(e) => {
            report.problems.push(e);
            return report;
        }
    };
    let key_of = |head: &SignedTreeHead| chain.key(&head.key).unwrap_or(public_key).clone();
    if let Err(e) = held.verify_signature(&key_of(held)) {
        report
            .problems
            .push(format!("the held head does not verify: {e}"));
        return report;
    }
    if held.volume_id != manifest.volume_id || held.year != manifest.year {
        report.problems.push(format!(
            "the held head is of volume {} ({}), this is volume {} ({})",
            held.volume_id, held.year, manifest.volume_id, manifest.year
        ));
        return report;
    }
    let Some(current) = volume.latest_tree_head() else {
        report.problems.push(format!(
            "the volume has no signed tree head, but the held head covers {} records: records 1..={} were removed",
            held.tree_size, held.tree_size
        ));
        return report;
    };
    report.current_size = current.tree_size;
    report.current_root = current.root.clone();
    if report.records < held.tree_size {
        report.problems.push(format!(
            "the volume holds {} records but the held head covers {}: records {}..={} were removed (the volume was truncated)",
            report.records,
            held.tree_size,
            report.records + 1,
            held.tree_size
        ));
        return report;
    }
    if current.tree_size < held.tree_size {
        report.problems.push(format!(
            "the newest signed head covers {} records, fewer than the held head's {}: signed heads were removed",
            current.tree_size, held.tree_size
        ));
    }
    match volume.root_at(held.tree_size) {
        Ok(root) if hex::encode(root) == held.root => {}
        Ok(root) => report.problems.push(format!(
            "records 1..={} no longer form the tree of the held head (size {}): root {} instead of {} — records the held head covers were changed, removed or reordered, and the volume re-signed",
            held.tree_size,
            held.tree_size,
            hex::encode(root),
            held.root
        )),
        Err(e) => report.problems.push(e.to_string()),
    }
    if !report.problems.is_empty() {
        return report;
    }
    let proof = if held.tree_size == 0 {
        Ok(Vec::new())
    } else {
        volume.consistency_proof(held.tree_size, current.tree_size)
    };
    match proof {
        Ok(proof) => {
            let hex: Vec<String> = proof.iter().map(hex::encode).collect();
            report.proof_hashes = hex.len();
            if let Err(e) = current.verify_signature(&key_of(&current)) {
                report
                    .problems
                    .push(format!("the volume's newest head does not verify: {e}"));
            } else if let Err(e) = check_extends(held, &current, &hex) {
                report.problems.push(format!(
                    "size {} does not extend size {}: {e}",
                    current.tree_size, held.tree_size
                ));
            }
        }
        Err(e) => report.problems.push(e.to_string()),
    }
    report
}

/// The newest signed tree head of a volume: the `SEAL` file of a sealed volume (it
/// covers every record), else the newest checkpoint's.
pub fn newest_head(volume: &Volume) -> crate::Result<Option<SignedTreeHead>> {
    if volume.manifest().state == crate::VolumeState::Sealed {
        let path = volume.dir().join(crate::SEAL_FILE);
        let bytes = std::fs::read(&path).map_err(|source| crate::Error::Io {
            path: path.clone(),
            source,
        })?;
        return SignedTreeHead::from_canonical_json(&bytes).map(Some);
    }
    Ok(volume.latest_tree_head())
}

/// The signed tree head of exactly `size` records, if the volume has one: the head in
/// checkpoint or seal record `size + 1`, or the `SEAL` file.
pub fn signed_head_at(volume: &Volume, size: u64) -> crate::Result<Option<SignedTreeHead>> {
    if let Some(newest) = newest_head(volume)?
        && newest.tree_size == size
    {
        return Ok(Some(newest));
    }
    if size >= volume.last_seq() {
        return Ok(None);
    }
    if !matches!(
        volume.kind(size + 1)?,
        crate::RecordKind::Checkpoint | crate::RecordKind::Seal
    ) {
        return Ok(None);
    }
    let (_, meta) = volume.read_meta(size + 1)?;
    let head = SignedTreeHead::from_canonical_json(&meta)?;
    Ok((head.tree_size == size).then_some(head))
}

/// The key transitions recorded before a head of `size` (what leads to its key).
fn transitions_up_to(volume: &Volume, size: u64) -> Vec<crate::transition::KeyTransition> {
    volume
        .key_transitions()
        .into_iter()
        .filter(|t| t.tree_size < size)
        .collect()
}

/// Why a consistency proof cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ConsistencyRequestError {
    /// No signed head of the requested size (or none at all).
    #[error("no signed tree head of size {0}")]
    NoHead(u64),
    /// `from` is larger than `to`.
    #[error("from ({from}) must not be larger than to ({to})")]
    Order {
        /// The older size asked for.
        from: u64,
        /// The newer size.
        to: u64,
    },
    /// Reading the volume failed.
    #[error(transparent)]
    Volume(#[from] crate::Error),
}

/// The consistency proof document from size `from` to the signed head of size `to`
/// (the newest signed head when `to` is `None`).
pub fn consistency_document(
    volume: &Volume,
    from: u64,
    to: Option<u64>,
) -> Result<crate::proof::ConsistencyProof, ConsistencyRequestError> {
    let head = match to {
        Some(to) => signed_head_at(volume, to)?.ok_or(ConsistencyRequestError::NoHead(to))?,
        None => newest_head(volume)?.ok_or(ConsistencyRequestError::NoHead(0))?,
    };
    if from > head.tree_size {
        return Err(ConsistencyRequestError::Order {
            from,
            to: head.tree_size,
        });
    }
    let proof = if from == 0 {
        Vec::new()
    } else {
        volume.consistency_proof(from, head.tree_size)?
    };
    Ok(crate::proof::ConsistencyProof {
        format: crate::proof::CONSISTENCY_FORMAT.to_string(),
        volume_id: head.volume_id.clone(),
        year: head.year,
        from,
        to: head.tree_size,
        from_root: hex::encode(volume.root_at(from)?),
        proof: proof.iter().map(hex::encode).collect(),
        key_transitions: transitions_up_to(volume, head.tree_size),
        tree_head: head,
    })
}

/// The inclusion proof document of record `seq` against `head` (which must be a signed
/// head of this volume covering it); with the record header and metadata when
/// `with_record` (what binds the content SHA-256).
pub fn inclusion_document(
    volume: &Volume,
    seq: u64,
    head: SignedTreeHead,
    with_record: bool,
) -> crate::Result<crate::proof::InclusionProof> {
    let (header, meta) = volume.read_meta(seq)?;
    let year = volume.year();
    Ok(crate::proof::InclusionProof {
        format: crate::proof::INCLUSION_FORMAT.to_string(),
        message_id: format!("{year}-{seq}"),
        year,
        content_sha256: with_record.then(|| hex::encode(header.content_sha256)),
        record_header: with_record.then(|| hex::encode(header.encode())),
        record_meta: with_record.then(|| hex::encode(&meta)),
        record_prev: with_record.then(|| header.proof_prev()).flatten(),
        record_hash: hex::encode(volume.record_hash(seq)?),
        leaf_index: seq - 1,
        tree_size: head.tree_size,
        audit_path: volume
            .inclusion_proof(seq, head.tree_size)?
            .iter()
            .map(hex::encode)
            .collect(),
        key_transitions: transitions_up_to(volume, head.tree_size),
        tree_head: head,
    })
}
