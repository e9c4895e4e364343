//! How record content is stored: zstd frames, with or without a dictionary of the
//! volume, and the per-volume dictionary trainer.
//!
//! Most mail is a few KB of text whose headers and phrasing repeat from message to
//! message; compressed one frame per message (so each stays readable, verifiable and
//! exportable on its own) it takes about twice the bytes of the same mail compressed as
//! one stream. A zstd dictionary trained on the volume's own first messages recovers
//! most of that. The dictionary is a record of the volume (kind 16, covered by the chain
//! and the Merkle tree), so a copied volume stays self-contained: a reader needs nothing
//! else (`FORMAT.md`, "Compression and dictionaries").
//!
//! The [`Trainer`] keeps a rolling window of recent content (the first
//! [`DictionaryConfig::max_sample_len`] bytes of each message), trains the first
//! dictionary once [`DictionaryConfig::sample_bytes`] were seen, then watches the ratio
//! achieved with it: when a window of [`DictionaryConfig::window_bytes`] compresses
//! worse than the window right after training by more than
//! [`DictionaryConfig::drift`], it trains a new one from the recent samples.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;

use zstd::dict::{DecoderDictionary, EncoderDictionary};
use zstd::zstd_safe;

use crate::record::Codec;

/// The magic number at the start of a zstd dictionary (little-endian 0xEC30A437).
pub const ZSTD_DICT_MAGIC: [u8; 4] = [0x37, 0xA4, 0x30, 0xEC];

/// How a volume trains and uses dictionaries.
#[derive(Debug, Clone)]
pub struct DictionaryConfig {
    /// Whether new records may use dictionaries at all.
    pub enabled: bool,
    /// Samples seen before the first dictionary is trained (small, so that most of a
    /// volume benefits; a larger one replaces it once `sample_bytes` were seen).
    pub first_sample_bytes: usize,
    /// The rolling window of samples later dictionaries are trained from.
    pub sample_bytes: usize,
    /// Only the first bytes of each message are sampled (headers and text; long
    /// attachments would crowd them out and gain nothing).
    pub max_sample_len: usize,
    /// Largest dictionary trained.
    pub max_size: usize,
    /// zstd level of content compressed with a dictionary.
    pub level: i32,
    /// Longer content is compressed without the dictionary, at the volume's plain level:
    /// a dictionary only helps the first few KB of a message, and the higher level would
    /// cost most on long attachments, where it gains least.
    pub max_content_len: usize,
    /// Content per drift measurement window.
    pub window_bytes: u64,
    /// A window whose stored/raw ratio exceeds the ratio measured right after training
    /// by this fraction triggers a new dictionary.
    pub drift: f64,
    /// At most this many dictionaries per volume.
    pub max_dictionaries: usize,
}

impl Default for DictionaryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            first_sample_bytes: 256 * 1024,
            sample_bytes: 2 * 1024 * 1024,
            max_sample_len: 16 * 1024,
            max_size: 256 * 1024,
            level: 6,
            max_content_len: 64 * 1024,
            window_bytes: 2 * 1024 * 1024,
            drift: 0.15,
            max_dictionaries: 32,
        }
    }
}

/// A dictionary of a volume, ready for compression and decompression.
pub struct VolumeDictionary {
    /// Sequence number of the dictionary record.
    pub seq: u64,
    /// zstd dictionary id (from the dictionary header; frames name it).
    pub id: u32,
    /// Length of the dictionary in bytes.
    pub len: usize,
    encoder: Option<EncoderDictionary<'static>>,
    decoder: DecoderDictionary<'static>,
}

impl std::fmt::Debug for VolumeDictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeDictionary")
            .field("seq", &self.seq)
            .field("id", &self.id)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl VolumeDictionary {
    /// Loads the content of dictionary record `seq` for decompression only.
    pub fn for_reading(seq: u64, bytes: &[u8]) -> Result<Self, String> {
        let id = check_dictionary(bytes)?;
        let decoder = DecoderDictionary::try_copy(bytes)
            .map_err(|e| format!("dictionary record {seq} does not load: {e}"))?;
        Ok(Self {
            seq,
            id,
            len: bytes.len(),
            encoder: None,
            decoder,
        })
    }

    /// Loads the content of dictionary record `seq` for compression at `level` too.
    pub fn for_writing(seq: u64, bytes: &[u8], level: i32) -> Result<Self, String> {
        let mut dict = Self::for_reading(seq, bytes)?;
        dict.encoder = Some(
            EncoderDictionary::try_copy(bytes, level)
                .map_err(|e| format!("dictionary record {seq} does not load: {e}"))?,
        );
        Ok(dict)
    }

    /// Whether this dictionary can compress (loaded with [`VolumeDictionary::for_writing`]).
    pub fn can_compress(&self) -> bool {
        self.encoder.is_some()
    }
}

/// Checks that `bytes` are a zstd dictionary with a non-zero id, and returns the id.
pub fn check_dictionary(bytes: &[u8]) -> Result<u32, String> {
    if bytes.len() < 8 || bytes[..4] != ZSTD_DICT_MAGIC {
        return Err("dictionary record does not hold a zstd dictionary".into());
    }
    let id = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if id == 0 {
        return Err("dictionary record holds a dictionary with id 0".into());
    }
    Ok(id)
}

thread_local! {
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { RefCell::new(None) };
    static CCTX: RefCell<Option<zstd_safe::CCtx<'static>>> = const { RefCell::new(None) };
    static DCTX: RefCell<Option<zstd_safe::DCtx<'static>>> = const { RefCell::new(None) };
}

fn zstd_error(code: usize) -> String {
    zstd_safe::get_error_name(code).to_string()
}

/// Compresses with a per-thread reusable zstd context (much cheaper than a new context
/// per message).
pub(crate) fn compress(content: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        match slot.as_mut() {
            Some((_, compressor)) => compressor.compress(content),
            None => unreachable!("compressor was just set"),
        }
    })
}

/// Compresses with a dictionary (one frame naming the dictionary id), with a
/// per-thread reusable context.
pub(crate) fn compress_with(content: &[u8], dict: &VolumeDictionary) -> std::io::Result<Vec<u8>> {
    let Some(encoder) = &dict.encoder else {
        return Err(std::io::Error::other(
            "dictionary was loaded for reading only",
        ));
    };
    CCTX.with(|cell| {
        let mut slot = cell.borrow_mut();
        let cctx = slot.get_or_insert_with(zstd_safe::CCtx::create);
        let mut out = Vec::with_capacity(zstd_safe::compress_bound(content.len()));
        cctx.compress_using_cdict(&mut out, content, encoder.as_cdict())
            .map_err(|code| std::io::Error::other(zstd_error(code)))?;
        Ok(out)
    })
}

/// Decompresses stored content; the error says what went wrong. `dict` must be the
/// dictionary the header names when the codec is [`Codec::ZstdDictionary`].
pub(crate) fn decompress(
    codec: Codec,
    stored: &[u8],
    raw_len: u32,
    dict: Option<&VolumeDictionary>,
) -> Result<Vec<u8>, String> {
    if codec != Codec::None {
        check_single_frame(stored, raw_len)?;
    }
    let out = match codec {
        // Stored as is: the original length is the stored length.
        Codec::None if stored.len() != raw_len as usize => {
            return Err(format!(
                "content stored as is has {} bytes, header says {raw_len}",
                stored.len()
            ));
        }
        Codec::None => return Ok(stored.to_vec()),
        Codec::Zstd => DCTX
            .with(|cell| {
                let mut slot = cell.borrow_mut();
                let dctx = slot.get_or_insert_with(zstd_safe::DCtx::create);
                let mut out = Vec::with_capacity(raw_len as usize);
                dctx.decompress(&mut out, stored).map(|_| out)
            })
            .map_err(|code| format!("content does not decompress: {}", zstd_error(code)))?,
        Codec::ZstdDictionary => {
            let Some(dict) = dict else {
                return Err("content needs a dictionary this volume does not hold".into());
            };
            if let Some(id) = zstd_safe::get_dict_id_from_frame(stored)
                && id.get() != dict.id
            {
                return Err(format!(
                    "content was compressed with dictionary id {id}, record {} holds id {}",
                    dict.seq, dict.id
                ));
            }
            DCTX.with(|cell| {
                let mut slot = cell.borrow_mut();
                let dctx = slot.get_or_insert_with(zstd_safe::DCtx::create);
                let mut out = Vec::with_capacity(raw_len as usize);
                dctx.decompress_using_ddict(&mut out, stored, dict.decoder.as_ddict())
                    .map(|_| out)
            })
            .map_err(|code| format!("content does not decompress: {}", zstd_error(code)))?
        }
    };
    if out.len() != raw_len as usize {
        return Err(format!(
            "content decompresses to {} bytes, header says {raw_len}",
            out.len()
        ));
    }
    Ok(out)
}

/// The zstd frame magic number (RFC 8878 3.1.1), as it appears in the file.
const ZSTD_FRAME_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// FORMAT.md "Zstandard content": stored content of codec 1 or 2 is exactly one zstd
/// frame — not a skippable frame, nothing before or after it — and a content size
/// declared in its header must equal the record's original length. (The frame checksum
/// is optional; when present, decompression checks it.)
fn check_single_frame(stored: &[u8], raw_len: u32) -> Result<(), String> {
    if stored.get(..4) != Some(&ZSTD_FRAME_MAGIC[..]) {
        return Err("content is not a zstd frame (magic 28 b5 2f fd)".into());
    }
    match zstd_safe::find_frame_compressed_size(stored) {
        Ok(n) if n == stored.len() => {}
        Ok(n) => {
            return Err(format!(
                "content holds {} bytes after its zstd frame (exactly one frame is allowed)",
                stored.len() - n
            ));
        }
        Err(code) => return Err(format!("content is not a zstd frame: {}", zstd_error(code))),
    }
    match zstd_safe::get_frame_content_size(stored) {
        Ok(Some(declared)) if declared != u64::from(raw_len) => Err(format!(
            "zstd frame declares {declared} bytes, header says {raw_len}"
        )),
        Ok(_) => Ok(()),
        Err(_) => Err("zstd frame header unreadable".into()),
    }
}

/// A dictionary trained and waiting to be written as a record.
#[derive(Debug)]
pub(crate) struct Trained {
    /// The dictionary bytes.
    pub(crate) bytes: Vec<u8>,
    /// How many samples it was trained on.
    pub(crate) samples: usize,
    /// Their total length.
    pub(crate) sample_bytes: usize,
}

#[derive(Debug)]
enum Phase {
    /// Collecting until the sample window is full (first dictionary, or after drift).
    Collecting,
    /// Measuring the ratio of the first window after training.
    Baseline { raw: u64, stored: u64 },
    /// Comparing each window with the baseline.
    Watching {
        baseline: f64,
        raw: u64,
        stored: u64,
    },
    /// No more dictionaries (limit reached, or training failed).
    Done,
}

/// The per-volume dictionary state of a writer: the current dictionary, the rolling
/// window of samples, and the drift watch. Owned by the volume behind a mutex; the
/// expensive parts (compression, training) run outside it.
#[derive(Debug)]
pub(crate) struct Trainer {
    config: DictionaryConfig,
    current: Option<Arc<VolumeDictionary>>,
    samples: VecDeque<Vec<u8>>,
    sampled: usize,
    phase: Phase,
    training: bool,
    dictionaries: usize,
    /// The first dictionary came from `first_sample_bytes`: replace it once the full
    /// window was seen.
    upgrade: bool,
}

impl Trainer {
    pub(crate) fn new(
        config: DictionaryConfig,
        existing: Option<Arc<VolumeDictionary>>,
        count: usize,
    ) -> Self {
        let phase = if !config.enabled || count >= config.max_dictionaries {
            Phase::Done
        } else if existing.is_some() {
            Phase::Baseline { raw: 0, stored: 0 }
        } else {
            Phase::Collecting
        };
        Self {
            config,
            current: existing,
            samples: VecDeque::new(),
            sampled: 0,
            phase,
            training: false,
            dictionaries: count,
            upgrade: false,
        }
    }

    /// The dictionary new content is compressed with, if any.
    pub(crate) fn current(&self) -> Option<Arc<VolumeDictionary>> {
        if self.config.enabled {
            self.current.clone()
        } else {
            None
        }
    }

    /// Records one compressed message: adds its head to the sample window and updates
    /// the drift watch. Returns the samples to train on when a dictionary is due (the
    /// caller trains outside the lock and calls [`Trainer::installed`]).
    pub(crate) fn observe(
        &mut self,
        content: &[u8],
        stored_len: usize,
        with_dictionary: bool,
    ) -> Option<Vec<Vec<u8>>> {
        if matches!(self.phase, Phase::Done) || content.is_empty() {
            return None;
        }
        let head = &content[..content.len().min(self.config.max_sample_len)];
        self.samples.push_back(head.to_vec());
        self.sampled += head.len();
        while self.sampled > self.config.sample_bytes
            && let Some(old) = self.samples.pop_front()
        {
            self.sampled -= old.len();
        }
        let window = self.config.window_bytes;
        let full = self.sampled + self.config.max_sample_len > self.config.sample_bytes;
        let upgrade = self.upgrade && full;
        let target = if self.dictionaries == 0 {
            self.config.first_sample_bytes.min(self.config.sample_bytes)
        } else {
            self.config.sample_bytes
        };
        let phase_due = match &mut self.phase {
            Phase::Collecting => self.sampled + self.config.max_sample_len > target,
            Phase::Baseline { raw, stored } => {
                if with_dictionary {
                    *raw += content.len() as u64;
                    *stored += stored_len as u64;
                    if *raw >= window {
                        self.phase = Phase::Watching {
                            baseline: *stored as f64 / *raw as f64,
                            raw: 0,
                            stored: 0,
                        };
                    }
                }
                false
            }
            Phase::Watching {
                baseline,
                raw,
                stored,
            } => {
                let mut drifted = false;
                if with_dictionary {
                    *raw += content.len() as u64;
                    *stored += stored_len as u64;
                    if *raw >= window {
                        let ratio = *stored as f64 / *raw as f64;
                        drifted = ratio > *baseline * (1.0 + self.config.drift);
                        *raw = 0;
                        *stored = 0;
                    }
                }
                drifted
            }
            Phase::Done => false,
        };
        let due = phase_due || upgrade;
        if !due || self.training {
            return None;
        }
        if upgrade {
            self.upgrade = false;
        }
        self.training = true;
        Some(self.samples.iter().cloned().collect())
    }

    /// A training attempt ended: `Some` installs the new dictionary (already written
    /// as a record), `None` gives up on dictionaries for this writer.
    pub(crate) fn installed(&mut self, dict: Option<Arc<VolumeDictionary>>) {
        self.training = false;
        match dict {
            Some(dict) => {
                self.upgrade = self.dictionaries == 0
                    && self.config.first_sample_bytes < self.config.sample_bytes;
                self.dictionaries += 1;
                self.current = Some(dict);
                self.phase = if self.dictionaries >= self.config.max_dictionaries {
                    Phase::Done
                } else {
                    Phase::Baseline { raw: 0, stored: 0 }
                };
            }
            None => self.phase = Phase::Done,
        }
    }

    /// The level of dictionary compression.
    pub(crate) fn level(&self) -> i32 {
        self.config.level
    }

    /// Whether the volume's first dictionary is being trained right now.
    pub(crate) fn first_training(&self) -> bool {
        self.training && self.current.is_none()
    }

    /// Whether content of `len` bytes is compressed with the dictionary (when there is one).
    pub(crate) fn suits(&self, len: usize) -> bool {
        len <= self.config.max_content_len
    }

    /// The largest dictionary to train.
    pub(crate) fn max_size(&self) -> usize {
        self.config.max_size
    }
}

/// How dictionaries are trained: zstd's fastCover with a fixed segment size of 1,024
/// bytes and dmers of 8 (zstd's other defaults: f = 20, acceleration 1, every sample used
/// for training).
///
/// `ZDICT_trainFromBuffer` (zstd's default trainer) searches four segment sizes, each
/// trained, then tried by compressing a quarter of the samples, and keeps the best.
/// Measured on 2 MiB windows of SpamAssassin and of the generated business mail (first
/// window, a window from the middle; the next 1,500 messages compressed at level 6): the
/// fixed parameters compress within 0.3% of the searched ones (better on the first
/// 256 KiB of SpamAssassin: 0.278 of raw against 0.300), and train 3-7 x faster. The
/// search was 17% of the CPU of importing SpamAssassin (perf, December 2026).
const FAST_COVER: zstd_safe::FastCoverParams = zstd_safe::FastCoverParams {
    k: 1024,
    d: 8,
    f: 0,
    accel: 0,
    compression_level: 0,
};

/// Trains a dictionary from samples (pure CPU; about 0.1-0.3 s for 2 MiB).
pub(crate) fn train(samples: &[Vec<u8>], max_size: usize) -> Result<Trained, String> {
    let sizes: Vec<usize> = samples.iter().map(Vec::len).collect();
    let total: usize = sizes.iter().sum();
    let mut data = Vec::with_capacity(total);
    for s in samples {
        data.extend_from_slice(s);
    }
    let mut bytes = Vec::with_capacity(max_size);
    zstd_safe::train_from_buffer_fast_cover(&mut bytes, &data, &sizes, FAST_COVER)
        .map_err(|code| format!("dictionary training failed: {}", zstd_error(code)))?;
    check_dictionary(&bytes)?;
    Ok(Trained {
        bytes,
        samples: samples.len(),
        sample_bytes: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(i: usize) -> Vec<u8> {
        format!(
            "Received: from mail{0}.example.com (mail{0}.example.com [192.0.2.{1}])\r\n\
             From: Person {0} <person{0}@example.com>\r\nTo: team@example.org\r\n\
             Subject: weekly report number {0}\r\nMessage-ID: <{0}.{1}@example.com>\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n\
             Hello team, here is the weekly report {0}. Sales went up by {1} percent.\r\n\
             Regards, Person {0}\r\n",
            i,
            i % 250
        )
        .into_bytes()
    }

    /// The vendored zstd's one-shot functions (third_party/zstd/COFFER.md) reuse one
    /// context per thread: each call must give what a fresh context gives, whatever the
    /// calls before it did (another level, a failed call).
    #[test]
    fn one_shot_zstd_calls_on_a_reused_context_match_fresh_contexts() {
        let raw: Vec<u8> = (0..40).flat_map(message).collect();
        let mut out = vec![0u8; zstd_safe::compress_bound(raw.len())];
        for level in [3, 19, 1, 3, -5, 3] {
            let fresh = zstd::bulk::Compressor::new(level)
                .and_then(|mut c| c.compress(&raw))
                .expect("fresh compress");
            let n = zstd::bulk::compress_to_buffer(&raw, &mut out, level).expect("compress");
            assert_eq!(&out[..n], &fresh[..], "level {level}");
            // A destination too small fails, and the next call is unaffected.
            assert!(zstd::bulk::compress_to_buffer(&raw, &mut [0u8; 8], level).is_err());
        }
        let frame = zstd::bulk::compress(&raw, 3).expect("compress");
        let mut back = vec![0u8; raw.len()];
        for round in 0..3 {
            let mut damaged = frame.clone();
            let at = damaged.len() / 2 + round;
            damaged[at] ^= 0x55;
            damaged.truncate(damaged.len() - round);
            // Damage is reported (or, if the flip lands where zstd cannot see it, the
            // output differs); either way the next call decodes the intact frame.
            let _ = zstd::bulk::decompress_to_buffer(&damaged, &mut back);
            assert!(zstd::bulk::decompress_to_buffer(b"not zstd", &mut back).is_err());
            assert!(zstd::bulk::decompress_to_buffer(&frame, &mut [0u8; 16]).is_err());
            let n = zstd::bulk::decompress_to_buffer(&frame, &mut back).expect("decompress");
            assert_eq!(&back[..n], &raw[..], "round {round}");
        }
    }

    /// FORMAT.md "Zstandard content": exactly one frame, nothing around it, a declared
    /// size equal to the header's.
    #[test]
    fn content_must_be_exactly_one_zstd_frame_of_the_declared_size() {
        let raw = message(1);
        let frame = zstd::bulk::compress(&raw, 3).expect("compress");
        let len = raw.len() as u32;
        assert_eq!(decompress(Codec::Zstd, &frame, len, None), Ok(raw.clone()));
        let mut two = frame.clone();
        two.extend_from_slice(&frame);
        assert!(
            decompress(Codec::Zstd, &two, 2 * len, None).is_err(),
            "two frames"
        );
        let mut trailing = frame.clone();
        trailing.push(0);
        assert!(
            decompress(Codec::Zstd, &trailing, len, None).is_err(),
            "trailing byte"
        );
        // A skippable frame (magic 0x184D2A50) before the real one.
        let mut skippable = vec![0x50, 0x2a, 0x4d, 0x18, 1, 0, 0, 0, 0];
        skippable.extend_from_slice(&frame);
        assert!(
            decompress(Codec::Zstd, &skippable, len, None).is_err(),
            "skippable"
        );
        assert!(
            decompress(Codec::Zstd, &frame, len + 1, None).is_err(),
            "size"
        );
        assert!(decompress(Codec::Zstd, b"", 0, None).is_err(), "empty");
        assert_eq!(
            decompress(Codec::None, b"abc", 3, None),
            Ok(b"abc".to_vec())
        );
        assert!(
            decompress(Codec::None, b"abc", 2, None).is_err(),
            "R = S when stored as is"
        );
    }

    #[test]
    fn a_trained_dictionary_round_trips_and_compresses_better() {
        let samples: Vec<Vec<u8>> = (0..2000).map(message).collect();
        let trained = train(&samples, 16 * 1024).expect("trains");
        let dict = VolumeDictionary::for_writing(5, &trained.bytes, 3).expect("loads");
        assert_eq!(dict.id, check_dictionary(&trained.bytes).expect("id"));
        let m = message(4242);
        let with = compress_with(&m, &dict).expect("compresses");
        let without = compress(&m, 3).expect("compresses");
        assert!(
            with.len() * 2 < without.len(),
            "{} vs {}",
            with.len(),
            without.len()
        );
        let back = decompress(Codec::ZstdDictionary, &with, m.len() as u32, Some(&dict))
            .expect("decompresses");
        assert_eq!(back, m);
        // Without the dictionary, or with another one, it does not decompress.
        assert!(decompress(Codec::ZstdDictionary, &with, m.len() as u32, None).is_err());
        let other_samples: Vec<Vec<u8>> = (0..2000).map(|i| message(i + 7)).collect();
        let other = train(&other_samples, 16 * 1024).expect("trains");
        let other = VolumeDictionary::for_reading(9, &other.bytes).expect("loads");
        assert!(decompress(Codec::ZstdDictionary, &with, m.len() as u32, Some(&other)).is_err());
        let reader = VolumeDictionary::for_reading(5, &trained.bytes).expect("loads");
        assert!(compress_with(&m, &reader).is_err());
    }

    #[test]
    fn not_a_dictionary_is_refused() {
        assert!(check_dictionary(b"hello world").is_err());
        assert!(check_dictionary(&[0x37, 0xA4, 0x30, 0xEC, 0, 0, 0, 0, 1]).is_err());
        assert!(VolumeDictionary::for_reading(1, b"\x37\xA4\x30\xEC\x01\0\0\0junk").is_err());
    }

    #[test]
    fn the_trainer_trains_once_the_window_is_full_then_on_drift() {
        let config = DictionaryConfig {
            sample_bytes: 64 * 1024,
            window_bytes: 16 * 1024,
            ..DictionaryConfig::default()
        };
        let mut trainer = Trainer::new(config, None, 0);
        let mut due = None;
        let mut i = 0;
        while due.is_none() {
            let m = message(i);
            due = trainer.observe(&m, m.len() / 2, false);
            i += 1;
            assert!(i < 10_000, "never due");
        }
        let samples = due.expect("due");
        assert!(samples.iter().map(Vec::len).sum::<usize>() <= 64 * 1024);
        // While training, nothing else is due.
        assert!(trainer.observe(&message(1), 10, false).is_none());
        let trained = train(&samples, 16 * 1024).expect("trains");
        let dict = VolumeDictionary::for_writing(3, &trained.bytes, 3).expect("loads");
        trainer.installed(Some(Arc::new(dict)));
        assert_eq!(trainer.current().map(|d| d.seq), Some(3));
        // Steady ratio: no retraining.
        for _ in 0..1000 {
            let m = message(i);
            assert!(trainer.observe(&m, m.len() / 5, true).is_none());
            i += 1;
        }
        // The ratio worsens by half: retraining is due within two windows.
        let mut retrain = false;
        for _ in 0..1000 {
            let m = message(i);
            if trainer.observe(&m, m.len() * 3 / 10, true).is_some() {
                retrain = true;
                break;
            }
            i += 1;
        }
        assert!(retrain, "drift was not noticed");
    }

    #[test]
    fn a_small_first_dictionary_is_replaced_once_the_full_window_was_seen() {
        let config = DictionaryConfig {
            first_sample_bytes: 48 * 1024,
            sample_bytes: 160 * 1024,
            ..DictionaryConfig::default()
        };
        let mut trainer = Trainer::new(config, None, 0);
        let (mut i, mut seen) = (0, 0);
        let first = loop {
            let m = message(i);
            seen += m.len();
            i += 1;
            if let Some(samples) = trainer.observe(&m, m.len() / 2, false) {
                break samples;
            }
        };
        assert!(seen < 64 * 1024, "first dictionary after {seen} bytes");
        let trained = train(&first, 4 * 1024).expect("trains");
        let dict = VolumeDictionary::for_writing(2, &trained.bytes, 3).expect("loads");
        trainer.installed(Some(Arc::new(dict)));
        let second = loop {
            let m = message(i);
            i += 1;
            // Steady ratio: only the upgrade can make a dictionary due.
            if let Some(samples) = trainer.observe(&m, m.len() / 5, true) {
                break samples;
            }
            assert!(i < 100_000, "never upgraded");
        };
        assert!(second.iter().map(Vec::len).sum::<usize>() > 140 * 1024);
    }
}
