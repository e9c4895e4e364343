//! Small durable-file helpers: directory fsync and atomic replace.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Fsyncs a directory, so that a created, renamed or removed entry is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    fs::File::open(dir).map_err(io)?.sync_all().map_err(io)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory,
/// fsynced, renamed over `path`, then the directory fsynced.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp"));
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Io { path: p, source }
    };
    {
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(dir)
}
