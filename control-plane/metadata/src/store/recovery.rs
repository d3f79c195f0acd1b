//! Start-up recovery: newest valid snapshot, then the log after it.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use prost::Message;

use super::files;
use super::frame::{self, Frame};
use crate::error::MetadataError;
use crate::image::MetadataImage;
use crate::records::{MetadataRecordBatch, MetadataSnapshot};

/// What recovery rebuilt.
pub(super) struct Recovered {
    pub(super) image: MetadataImage,
    pub(super) next_offset: u64,
    pub(super) snapshot_offset: u64,
    /// The log file to append to (may not exist yet).
    pub(super) active_log: PathBuf,
    pub(super) active_base: u64,
}

/// Rebuilds the image from `dir`: loads the newest valid snapshot, replays
/// the log entries after it, and truncates a torn or CRC-failing tail of the
/// newest log file. Leftover temporary files are removed.
pub(super) fn recover(dir: &Path) -> Result<Recovered, MetadataError> {
    let listing = files::list(dir)?;
    for tmp in &listing.tmp {
        files::remove(tmp)?;
    }

    let (mut image, snapshot_offset) = load_newest_snapshot(&listing.snapshots);

    // Files before the last one starting at or below the snapshot hold only
    // records the snapshot covers.
    let first = listing
        .logs
        .iter()
        .rposition(|(base, _)| *base <= snapshot_offset);
    let to_replay = match first {
        Some(i) => &listing.logs[i..],
        None => {
            if let Some((base, path)) = listing.logs.first() {
                return Err(MetadataError::Corrupt {
                    path: path.clone(),
                    reason: format!(
                        "log starts at offset {base}, after the snapshot end offset {snapshot_offset}"
                    ),
                });
            }
            &[]
        }
    };

    let mut next_offset = snapshot_offset;
    for (i, (_, path)) in to_replay.iter().enumerate() {
        let is_last = i + 1 == to_replay.len();
        replay_file(path, is_last, &mut image, &mut next_offset)?;
    }

    let (active_base, active_log) = match to_replay.last() {
        Some((base, path)) if *base >= snapshot_offset || next_offset > snapshot_offset => {
            (*base, path.clone())
        }
        _ => (snapshot_offset, dir.join(files::log_name(snapshot_offset))),
    };
    Ok(Recovered {
        image,
        next_offset,
        snapshot_offset,
        active_log,
        active_base,
    })
}

/// The image and end offset of the newest snapshot that loads; an empty
/// image at offset 0 if none does.
fn load_newest_snapshot(snapshots: &[(u64, PathBuf)]) -> (MetadataImage, u64) {
    for (offset, path) in snapshots.iter().rev() {
        match load_snapshot(path, *offset) {
            Ok(image) => return (image, *offset),
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "skipping unreadable metadata snapshot");
            }
        }
    }
    (MetadataImage::default(), 0)
}

fn load_snapshot(path: &Path, offset: u64) -> Result<MetadataImage, MetadataError> {
    let corrupt = |reason: String| MetadataError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = fs::read(path).map_err(|e| MetadataError::io(path, e))?;
    let payload = match frame::decode(&bytes) {
        Frame::Valid { payload, total } if total == bytes.len() => payload,
        Frame::Valid { .. } => return Err(corrupt("trailing bytes after the snapshot".into())),
        Frame::Truncated => return Err(corrupt("truncated snapshot".into())),
        Frame::BadCrc => return Err(corrupt("snapshot crc mismatch".into())),
    };
    let snapshot = MetadataSnapshot::decode(payload)
        .map_err(|e| corrupt(format!("undecodable snapshot: {e}")))?;
    if u64::try_from(snapshot.end_offset).ok() != Some(offset) {
        return Err(corrupt(format!(
            "snapshot end offset {} does not match its file name",
            snapshot.end_offset
        )));
    }
    let mut image = MetadataImage::default();
    for record in &snapshot.records {
        image
            .apply(record)
            .map_err(|e| corrupt(format!("snapshot record does not apply: {e}")))?;
    }
    Ok(image)
}

/// Replays the entries of one log file onto `image`, skipping those the
/// snapshot already covers. A damaged tail is truncated if `is_last`,
/// otherwise it is corruption.
fn replay_file(
    path: &Path,
    is_last: bool,
    image: &mut MetadataImage,
    next_offset: &mut u64,
) -> Result<(), MetadataError> {
    let corrupt = |reason: String| MetadataError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = fs::read(path).map_err(|e| MetadataError::io(path, e))?;
    let mut pos = 0usize;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let damage = match frame::decode(rest) {
            Frame::Valid { payload, total } => {
                let batch = MetadataRecordBatch::decode(payload)
                    .map_err(|e| corrupt(format!("undecodable entry at byte {pos}: {e}")))?;
                if batch.records.is_empty() {
                    // Never written by commit; a zero-filled tail looks like this.
                    Some("empty entry")
                } else {
                    apply_batch(&batch, image, next_offset)
                        .map_err(|reason| corrupt(format!("entry at byte {pos}: {reason}")))?;
                    pos += total;
                    None
                }
            }
            Frame::Truncated => Some("torn entry"),
            Frame::BadCrc => Some("crc mismatch"),
        };
        if let Some(what) = damage {
            if !is_last {
                return Err(corrupt(format!(
                    "{what} at byte {pos} of a sealed log file"
                )));
            }
            tracing::warn!(
                path = %path.display(),
                at = pos,
                dropped_bytes = bytes.len() - pos,
                "truncating metadata log tail: {what}"
            );
            truncate(path, pos as u64)?;
            break;
        }
    }
    Ok(())
}

fn apply_batch(
    batch: &MetadataRecordBatch,
    image: &mut MetadataImage,
    next_offset: &mut u64,
) -> Result<(), String> {
    let base = u64::try_from(batch.base_offset)
        .map_err(|_| format!("negative base offset {}", batch.base_offset))?;
    let end = base + batch.records.len() as u64;
    if end <= *next_offset {
        return Ok(()); // covered by the snapshot
    }
    if base != *next_offset {
        return Err(format!("base offset {base}, expected {}", *next_offset));
    }
    for record in &batch.records {
        image
            .apply(record)
            .map_err(|e| format!("record does not apply: {e}"))?;
    }
    *next_offset = end;
    Ok(())
}

fn truncate(path: &Path, len: u64) -> Result<(), MetadataError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len).and_then(|()| f.sync_all()))
        .map_err(|e| MetadataError::io(path, e))
}
