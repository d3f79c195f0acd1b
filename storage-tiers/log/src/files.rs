//! File naming and small durable files of a partition directory.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::LogError;

pub(crate) const LOG_SUFFIX: &str = "log";
pub(crate) const INDEX_SUFFIX: &str = "index";
pub(crate) const TIME_INDEX_SUFFIX: &str = "timeindex";
pub(crate) const SNAPSHOT_SUFFIX: &str = "snapshot";
pub(crate) const RECOVERY_POINT_FILE: &str = "recovery-point-offset";
pub(crate) const LOG_START_FILE: &str = "log-start-offset";
pub(crate) const CLEAN_SHUTDOWN_FILE: &str = "clean-shutdown";

/// `{dir}/{offset:020}.{suffix}`.
pub(crate) fn offset_file(dir: &Path, offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{offset:020}.{suffix}"))
}

/// Parses `{offset:020}.{suffix}` file names.
pub(crate) fn parse_offset_file(name: &str, suffix: &str) -> Option<i64> {
    let stem = name.strip_suffix(suffix)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// fsyncs a directory so that creations, renames and deletions in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `data` to `path` atomically: tmp file, fsync, rename, fsync dir.
pub(crate) fn atomic_write(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// Durably writes a small checkpoint holding one offset, with a CRC line.
pub(crate) fn write_offset_checkpoint(dir: &Path, name: &str, offset: i64) -> std::io::Result<()> {
    let body = offset.to_string();
    let crc = crc32c::crc32c(body.as_bytes());
    atomic_write(dir, name, format!("{body}\n{crc}\n").as_bytes())
}

/// Reads a checkpoint written by [`write_offset_checkpoint`]. `Ok(None)` when
/// absent or unreadable as a checkpoint (a torn or corrupted file is ignored).
pub(crate) fn read_offset_checkpoint(dir: &Path, name: &str) -> Result<Option<i64>, LogError> {
    let text = match std::fs::read_to_string(dir.join(name)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut lines = text.lines();
    let (Some(body), Some(crc)) = (lines.next(), lines.next()) else {
        tracing::warn!(file = name, "ignoring malformed checkpoint");
        return Ok(None);
    };
    if crc.parse::<u32>().ok() != Some(crc32c::crc32c(body.as_bytes())) {
        tracing::warn!(file = name, "ignoring checkpoint with a bad crc");
        return Ok(None);
    }
    Ok(body.parse().ok())
}
