//! File names in the metadata directory and durable file helpers.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::MetadataError;

const LOG_SUFFIX: &str = ".log";
const SNAPSHOT_SUFFIX: &str = ".snapshot";
const TMP_SUFFIX: &str = ".tmp";

/// `<base offset, 20 digits>.log`: log entries from that offset on.
pub(crate) fn log_name(base_offset: u64) -> String {
    format!("{base_offset:020}{LOG_SUFFIX}")
}

/// `<end offset, 20 digits>.snapshot`: the image before that offset.
pub(crate) fn snapshot_name(end_offset: u64) -> String {
    format!("{end_offset:020}{SNAPSHOT_SUFFIX}")
}

/// Files of the metadata directory, each list sorted by offset.
#[derive(Debug, Default)]
pub(crate) struct DirListing {
    pub(crate) logs: Vec<(u64, PathBuf)>,
    pub(crate) snapshots: Vec<(u64, PathBuf)>,
    pub(crate) tmp: Vec<PathBuf>,
}

/// Lists log, snapshot and leftover temporary files in `dir`; other files
/// are ignored.
pub(crate) fn list(dir: &Path) -> Result<DirListing, MetadataError> {
    let mut out = DirListing::default();
    let entries = fs::read_dir(dir).map_err(|e| MetadataError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| MetadataError::io(dir, e))?;
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(TMP_SUFFIX) {
            out.tmp.push(path);
        } else if let Some(offset) = parse_offset(name, LOG_SUFFIX) {
            out.logs.push((offset, path));
        } else if let Some(offset) = parse_offset(name, SNAPSHOT_SUFFIX) {
            out.snapshots.push((offset, path));
        }
    }
    out.logs.sort();
    out.snapshots.sort();
    Ok(out)
}

fn parse_offset(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Writes `dir/name` atomically and durably: temporary file, fsync, rename,
/// directory fsync.
pub(crate) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), MetadataError> {
    let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
    let dest = dir.join(name);
    let mut file = File::create(&tmp).map_err(|e| MetadataError::io(&tmp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| MetadataError::io(&tmp, e))?;
    drop(file);
    fs::rename(&tmp, &dest).map_err(|e| MetadataError::io(&dest, e))?;
    sync_dir(dir)
}

/// Fsyncs a directory so that creations, renames and removals in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), MetadataError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| MetadataError::io(dir, e))
}

/// Removes a file, ignoring one that is already gone.
pub(crate) fn remove(path: &Path) -> Result<(), MetadataError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(MetadataError::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        assert_eq!(parse_offset(&log_name(42), LOG_SUFFIX), Some(42));
        assert_eq!(parse_offset(&snapshot_name(7), SNAPSHOT_SUFFIX), Some(7));
        assert_eq!(parse_offset("42.log", LOG_SUFFIX), None);
        assert_eq!(parse_offset(&log_name(1), SNAPSHOT_SUFFIX), None);
    }
}
