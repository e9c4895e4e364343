//! Where new signed tree heads go once they are durable: the hook that lets heads leave
//! the host (witnesses, timestamp authorities) without the volume knowing about them.
//!
//! A volume writer calls its [`HeadSink`] for every signed tree head whose record is on
//! stable storage — never before, so an outside copy of a head always describes records
//! the volume really holds — outside its lock, from the thread that completed the group
//! commit. A sink must return quickly (queue, don't publish): the caller is about to
//! acknowledge records.

use std::sync::Arc;

use crate::treehead::SignedTreeHead;

/// Receives `(purpose, head)` for each new durable signed tree head of a volume
/// (`purpose` is the manifest's: `mail` or `audit`).
#[derive(Clone)]
pub struct HeadSink(Arc<HeadFn>);

/// The callback a [`HeadSink`] wraps.
type HeadFn = dyn Fn(&str, &SignedTreeHead) + Send + Sync;

impl HeadSink {
    /// Wraps a callback.
    pub fn new(f: impl Fn(&str, &SignedTreeHead) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Hands a head to the callback.
    pub fn publish(&self, purpose: &str, head: &SignedTreeHead) {
        (self.0)(purpose, head);
    }
}

impl std::fmt::Debug for HeadSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeadSink")
    }
}
