//! RFC 6962 / RFC 9162 Merkle trees over record hashes: tree hashes, inclusion and
//! consistency proofs, and the verifiers an auditor runs.
//!
//! Leaf hash = SHA-256(0x00 ‖ record hash); node hash = SHA-256(0x01 ‖ left ‖ right).
//! The tree is the one of RFC 6962 section 2.1: for n leaves, the left subtree holds the
//! largest power of two smaller than n.
//!
//! [`MerkleTree`] keeps, for every level k, the hashes of the complete, aligned subtrees
//! of 2^k leaves, so appending is O(1) amortised and every root, inclusion proof and
//! consistency proof costs O(log n) hashes (about 64 bytes per leaf of memory).
//! The verifiers ([`verify_inclusion`], [`verify_consistency`]) are the algorithms of
//! RFC 9162 sections 2.1.3.2 and 2.1.4.2, written independently of the tree code and
//! tested against the transparency-dev vectors in `testdata/rfc6962`.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// SHA-256 of the empty string: the root of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Leaf hash of a record hash: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// Interior node hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// A Merkle tree that grows by appending leaves.
#[derive(Debug, Clone, Default)]
pub struct MerkleTree {
    /// `levels[k][i]` = hash of the complete subtree over leaves `[i*2^k, (i+1)*2^k)`.
    levels: Vec<Vec<Hash>>,
}

/// A root or proof was asked for sizes or indexes the tree cannot answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofRangeError {
    /// A root of more leaves than the tree has.
    #[error("tree size {size} is larger than the tree ({tree_len})")]
    TreeSize {
        /// The size asked for.
        size: u64,
        /// Leaves in the tree.
        tree_len: u64,
    },
    /// An inclusion proof for a leaf outside the tree of that size.
    #[error("no inclusion proof for leaf {index} in a tree of {size} (tree has {tree_len})")]
    Inclusion {
        /// The leaf index asked for.
        index: u64,
        /// The tree size asked for.
        size: u64,
        /// Leaves in the tree.
        tree_len: u64,
    },
    /// A consistency proof between sizes that do not form one.
    #[error("no consistency proof from {old_size} to {new_size} (tree has {tree_len})")]
    Consistency {
        /// The older tree size.
        old_size: u64,
        /// The newer tree size.
        new_size: u64,
        /// Leaves in the tree.
        tree_len: u64,
    },
}

impl MerkleTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a leaf, given as the record hash (the leaf hash is computed here).
    pub fn push(&mut self, record_hash: &Hash) {
        self.push_leaf_hash(leaf_hash(record_hash));
    }

    /// Appends an already computed leaf hash.
    pub fn push_leaf_hash(&mut self, leaf: Hash) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let mut level = 0;
        while self.levels[level].len().is_multiple_of(2) {
            let n = self.levels[level].len();
            let parent = node_hash(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(parent);
            level += 1;
        }
    }

    /// The leaf hash at `index`.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels
            .first()?
            .get(usize::try_from(index).ok()?)
            .copied()
    }

    /// Root of the tree over the first `size` leaves (`size` ≤ len).
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofRangeError> {
        if size > self.len() {
            return Err(ProofRangeError::TreeSize {
                size,
                tree_len: self.len(),
            });
        }
        if size == 0 {
            return Ok(empty_root());
        }
        Ok(self.subtree(0, size))
    }

    /// Root of the whole tree.
    pub fn root(&self) -> Hash {
        if self.is_empty() {
            empty_root()
        } else {
            self.subtree(0, self.len())
        }
    }

    /// MTH(D[start:end]) for a range produced by the RFC 6962 recursion: `start` is a
    /// multiple of the largest power of two ≥ end - start, so the left part of every
    /// split is a complete aligned subtree.
    fn subtree(&self, start: u64, end: u64) -> Hash {
        let n = end - start;
        debug_assert!(n > 0);
        if n.is_power_of_two() {
            let level = n.trailing_zeros() as usize;
            let index = (start >> level) as usize;
            return self.levels[level][index];
        }
        let k = largest_power_of_two_below(n);
        node_hash(
            &self.subtree(start, start + k),
            &self.subtree(start + k, end),
        )
    }

    /// Inclusion proof (audit path) for leaf `index` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofRangeError> {
        if size > self.len() || index >= size {
            return Err(ProofRangeError::Inclusion {
                index,
                size,
                tree_len: self.len(),
            });
        }
        let mut proof = Vec::new();
        self.path(index, 0, size, &mut proof);
        Ok(proof)
    }

    /// PATH(m, D[start:end]) of RFC 6962 2.1.1, with `m` relative to the whole tree.
    fn path(&self, m: u64, start: u64, end: u64, out: &mut Vec<Hash>) {
        let n = end - start;
        if n <= 1 {
            return;
        }
        let k = largest_power_of_two_below(n);
        if m - start < k {
            self.path(m, start, start + k, out);
            out.push(self.subtree(start + k, end));
        } else {
            self.path(m, start + k, end, out);
            out.push(self.subtree(start, start + k));
        }
    }

    /// Consistency proof between the trees of `old_size` and `new_size` leaves.
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, ProofRangeError> {
        if old_size == 0 || old_size > new_size || new_size > self.len() {
            return Err(ProofRangeError::Consistency {
                old_size,
                new_size,
                tree_len: self.len(),
            });
        }
        let mut proof = Vec::new();
        if old_size < new_size {
            self.subproof(old_size, 0, new_size, true, &mut proof);
        }
        Ok(proof)
    }

    /// SUBPROOF(m, D[start:end], b) of RFC 6962 2.1.2.
    fn subproof(&self, m: u64, start: u64, end: u64, complete: bool, out: &mut Vec<Hash>) {
        let n = end - start;
        if m == n {
            if !complete {
                out.push(self.subtree(start, end));
            }
            return;
        }
        let k = largest_power_of_two_below(n);
        if m <= k {
            self.subproof(m, start, start + k, complete, out);
            out.push(self.subtree(start + k, end));
        } else {
            self.subproof(m - k, start + k, end, false, out);
            out.push(self.subtree(start, start + k));
        }
    }
}

/// The largest power of two strictly smaller than `n` (n ≥ 2).
fn largest_power_of_two_below(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// A hash had the wrong length.
    #[error("{what} is {len} bytes, not 32")]
    BadHashLength {
        /// Which hash.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// The leaf index is not inside the tree.
    #[error("invalid proof parameters: leaf index {index} ≥ tree size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof from the empty tree (there is none to check).
    #[error("invalid proof parameters: the first tree is empty")]
    EmptyFirstTree,
    /// A consistency proof from a larger tree to a smaller one.
    #[error("invalid proof parameters: size {size1} > size {size2}")]
    FirstTreeLarger {
        /// The first (claimed older) tree size.
        size1: u64,
        /// The second tree size.
        size2: u64,
    },
    /// The proof has the wrong number of hashes.
    #[error("proof has {0} hashes, which does not fit the sizes")]
    WrongLength(usize),
    /// The recomputed root does not match.
    #[error("recomputed root does not match the expected root")]
    RootMismatch,
}

fn to_hash(bytes: &[u8], what: &'static str) -> Result<Hash, ProofError> {
    bytes.try_into().map_err(|_| ProofError::BadHashLength {
        what,
        len: bytes.len(),
    })
}

/// Verifies that `leaf_hash` is leaf `index` of the tree of `size` leaves with `root`
/// (RFC 9162 2.1.3.2). Takes slices so that malformed input is rejected, not panicked on.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf_hash: &[u8],
    proof: &[impl AsRef<[u8]>],
    root: &[u8],
) -> Result<(), ProofError> {
    let leaf = to_hash(leaf_hash, "leaf hash")?;
    let root = to_hash(root, "root")?;
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = leaf;
    for p in proof {
        let p = to_hash(p.as_ref(), "proof hash")?;
        if s_n == 0 {
            return Err(ProofError::WrongLength(proof.len()));
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(&p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, &p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength(proof.len()));
    }
    if r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `size2` leaves with `root2` extends the tree of `size1`
/// leaves with `root1` (RFC 9162 2.1.4.2).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &[u8],
    root2: &[u8],
    proof: &[impl AsRef<[u8]>],
) -> Result<(), ProofError> {
    if size1 == size2 && size1 > 0 {
        // Same tree: the proof must be empty and the roots identical.
        if !proof.is_empty() {
            return Err(ProofError::WrongLength(proof.len()));
        }
        return if root1 == root2 {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let root1 = to_hash(root1, "first root")?;
    let root2 = to_hash(root2, "second root")?;
    if size1 == 0 {
        return Err(ProofError::EmptyFirstTree);
    }
    if size1 > size2 {
        return Err(ProofError::FirstTreeLarger { size1, size2 });
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength(proof.len()));
        }
        return if root1 == root2 {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(root1);
    }
    for p in proof {
        path.push(to_hash(p.as_ref(), "proof hash")?);
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength(0));
    }
    let mut f_n = size1 - 1;
    let mut s_n = size2 - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut f_r = path[0];
    let mut s_r = path[0];
    for c in &path[1..] {
        if s_n == 0 {
            return Err(ProofError::WrongLength(proof.len()));
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength(proof.len()));
    }
    if f_r != root1 || s_r != root2 {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The eight leaves of the RFC 6962 reference tests (certificate-transparency,
    /// transparency-dev `testonly`); the vectors in `testdata/rfc6962` are built on them.
    fn reference_leaves() -> Vec<Vec<u8>> {
        vec![
            vec![],
            vec![0x00],
            vec![0x10],
            vec![0x20, 0x21],
            vec![0x30, 0x31],
            vec![0x40, 0x41, 0x42, 0x43],
            vec![0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            vec![
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ]
    }

    fn reference_tree() -> MerkleTree {
        let mut t = MerkleTree::new();
        for leaf in reference_leaves() {
            t.push_leaf_hash(leaf_hash(&leaf));
        }
        t
    }

    /// Published roots of the reference tree at sizes 1..=8 (RFC 6962 test data).
    const REFERENCE_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn roots_match_published_reference_roots() {
        let t = reference_tree();
        for (i, want) in REFERENCE_ROOTS.iter().enumerate() {
            let got = t.root_at(i as u64 + 1).expect("size within tree");
            assert_eq!(hex::encode(got), *want, "root at size {}", i + 1);
        }
        assert_eq!(t.root_at(0).expect("empty"), empty_root());
    }

    #[test]
    fn incremental_tree_matches_naive_definition() {
        fn naive(leaves: &[Hash]) -> Hash {
            match leaves.len() {
                0 => empty_root(),
                1 => leaves[0],
                n => {
                    let k = largest_power_of_two_below(n as u64) as usize;
                    node_hash(&naive(&leaves[..k]), &naive(&leaves[k..]))
                }
            }
        }
        let mut t = MerkleTree::new();
        let mut leaves = Vec::new();
        for i in 0u32..70 {
            let l = leaf_hash(&i.to_le_bytes());
            leaves.push(l);
            t.push_leaf_hash(l);
            for size in 1..=leaves.len() {
                assert_eq!(t.root_at(size as u64), Ok(naive(&leaves[..size])));
            }
        }
    }

    #[test]
    fn generated_proofs_verify_for_all_sizes() {
        let mut t = MerkleTree::new();
        for i in 0u32..40 {
            t.push(&Sha256::digest(i.to_le_bytes()).into());
        }
        for size in 1..=t.len() {
            let root = t.root_at(size).expect("root");
            for index in 0..size {
                let proof = t.inclusion_proof(index, size).expect("proof");
                let leaf = t.leaf(index).expect("leaf");
                assert_eq!(verify_inclusion(index, size, &leaf, &proof, &root), Ok(()));
                let other = t.leaf((index + 1) % t.len()).expect("leaf");
                if other != leaf {
                    assert!(verify_inclusion(index, size, &other, &proof, &root).is_err());
                }
            }
            for old in 1..=size {
                let proof = t.consistency_proof(old, size).expect("proof");
                let old_root = t.root_at(old).expect("root");
                assert_eq!(
                    verify_consistency(old, size, &old_root, &root, &proof),
                    Ok(())
                );
            }
        }
    }
}
