//! The durable, append-only metadata log with snapshots.
//!
//! Layout of the metadata directory:
//! - `meta.properties`: `cluster.id` and `node.id`;
//! - `<base offset>.log`: log entries, one per [`MetadataStore::commit`]
//!   call, each a frame (see `frame.rs`) holding a `MetadataRecordBatch`;
//! - `<end offset>.snapshot`: one frame holding a `MetadataSnapshot`, the
//!   records that rebuild the image of every record before `end offset`.
//!
//! Offsets (20-digit, zero-padded in names) count records, not entries.

mod files;
mod frame;
pub(crate) mod meta_properties;
mod recovery;

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use prost::Message;

use crate::error::MetadataError;
use crate::image::MetadataImage;
use crate::records::{MetadataRecord, MetadataRecordBatch, MetadataSnapshot};

/// Tunables of a [`MetadataStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Write a snapshot (and start a new log file) once this many records
    /// were committed since the last one. Minimum 1.
    pub snapshot_every: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            snapshot_every: 1000,
        }
    }
}

/// The metadata directory of one node: the image and the log it came from.
///
/// Contract: after `commit` returns `Ok`, the records survive a crash and are
/// in [`MetadataStore::image`]; after it returns `Err`, neither the image nor
/// the recovered log contain any record of that call. An I/O error that
/// cannot be rolled back makes every later `commit` fail with
/// [`MetadataError::Failed`] until the store is reopened.
#[derive(Debug)]
pub struct MetadataStore {
    dir: PathBuf,
    cluster_id: String,
    node_id: i32,
    options: StoreOptions,
    image: MetadataImage,
    /// Offset the next committed record gets.
    next_offset: u64,
    /// End offset of the newest snapshot on disk (0 if none).
    snapshot_offset: u64,
    active: ActiveLog,
    failed: bool,
}

#[derive(Debug)]
struct ActiveLog {
    path: PathBuf,
    base_offset: u64,
    file: File,
    len: u64,
}

impl ActiveLog {
    fn open(path: PathBuf, base_offset: u64) -> Result<ActiveLog, MetadataError> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| MetadataError::io(&path, e))?;
        let len = file
            .seek(SeekFrom::End(0))
            .map_err(|e| MetadataError::io(&path, e))?;
        Ok(ActiveLog {
            path,
            base_offset,
            file,
            len,
        })
    }
}

impl MetadataStore {
    /// Opens (creating) the metadata directory `dir` with default options.
    ///
    /// Reads or creates `meta.properties` (`cluster.id`, a random 22-char
    /// base64url UUID like Kafka's, and `node.id`; a stored `node.id` other
    /// than `node_id` is an error), loads the newest valid snapshot, replays
    /// the log after it, and truncates a torn or CRC-failing tail of the
    /// newest log file. Damage anywhere else is [`MetadataError::Corrupt`].
    pub fn open(dir: &Path, node_id: i32) -> Result<MetadataStore, MetadataError> {
        Self::open_with_options(dir, node_id, StoreOptions::default())
    }

    /// [`MetadataStore::open`] with explicit options.
    pub fn open_with_options(
        dir: &Path,
        node_id: i32,
        options: StoreOptions,
    ) -> Result<MetadataStore, MetadataError> {
        std::fs::create_dir_all(dir).map_err(|e| MetadataError::io(dir, e))?;
        let props = meta_properties::load_or_create(dir, node_id)?;
        let recovered = recovery::recover(dir)?;
        let active = ActiveLog::open(recovered.active_log, recovered.active_base)?;
        files::sync_dir(dir)?;
        let store = MetadataStore {
            dir: dir.to_path_buf(),
            cluster_id: props.cluster_id,
            node_id,
            options: StoreOptions {
                snapshot_every: options.snapshot_every.max(1),
            },
            image: recovered.image,
            next_offset: recovered.next_offset,
            snapshot_offset: recovered.snapshot_offset,
            active,
            failed: false,
        };
        store.remove_files_before_snapshot()?;
        Ok(store)
    }

    /// The cluster id from `meta.properties`.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// This node's id.
    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    /// The image of every committed record.
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// Offset the next committed record will get (= records committed so far).
    pub fn next_offset(&self) -> u64 {
        self.next_offset
    }

    /// Appends `records` durably, then applies them to the image.
    ///
    /// The records are first applied to a clone of the image; an invalid
    /// record fails the call with image and log unchanged. The whole call is
    /// one log entry (one write + fdatasync), so a torn write loses the whole
    /// call on recovery, never part of it. An empty `records` is a no-op.
    /// Every `snapshot_every` records a snapshot is written and a new log file
    /// started; a failure there is logged and retried on the next commit (the
    /// records are already durable).
    pub fn commit(&mut self, records: Vec<MetadataRecord>) -> Result<(), MetadataError> {
        if self.failed {
            return Err(MetadataError::Failed);
        }
        if records.is_empty() {
            return Ok(());
        }
        let mut next_image = self.image.clone();
        for record in &records {
            next_image.apply(record)?;
        }
        let count = records.len() as u64;
        let base_offset = i64::try_from(self.next_offset)
            .map_err(|_| MetadataError::invalid("metadata log offset overflow"))?;
        let batch = MetadataRecordBatch {
            base_offset,
            records,
        };
        let framed = frame::encode(&batch.encode_to_vec())
            .ok_or_else(|| MetadataError::invalid("record batch larger than 4 GiB"))?;
        self.append(&framed)?;
        self.image = next_image;
        self.next_offset += count;
        if self.next_offset - self.snapshot_offset >= self.options.snapshot_every {
            if let Err(e) = self.snapshot() {
                tracing::warn!(error = %e, dir = %self.dir.display(), "metadata snapshot failed; will retry");
            }
        }
        Ok(())
    }

    /// Writes a snapshot of the current image now (tmp + fsync + rename +
    /// directory fsync), starts a new log file at the current offset, and
    /// removes older log files and snapshots.
    pub fn snapshot(&mut self) -> Result<(), MetadataError> {
        if self.failed {
            return Err(MetadataError::Failed);
        }
        let end_offset = i64::try_from(self.next_offset)
            .map_err(|_| MetadataError::invalid("metadata log offset overflow"))?;
        let snapshot = MetadataSnapshot {
            end_offset,
            records: self.image.to_records(),
        };
        let framed = frame::encode(&snapshot.encode_to_vec())
            .ok_or_else(|| MetadataError::invalid("snapshot larger than 4 GiB"))?;
        files::write_atomically(&self.dir, &files::snapshot_name(self.next_offset), &framed)?;
        self.snapshot_offset = self.next_offset;
        if self.active.base_offset != self.next_offset {
            let path = self.dir.join(files::log_name(self.next_offset));
            self.active = ActiveLog::open(path, self.next_offset)?;
            files::sync_dir(&self.dir)?;
        }
        self.remove_files_before_snapshot()
    }

    fn append(&mut self, framed: &[u8]) -> Result<(), MetadataError> {
        let result = self
            .active
            .file
            .write_all(framed)
            .and_then(|()| self.active.file.sync_data());
        match result {
            Ok(()) => {
                self.active.len += framed.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Roll the file back so a later successful commit does not
                // follow a half-written entry.
                let rollback = self
                    .active
                    .file
                    .set_len(self.active.len)
                    .and_then(|()| self.active.file.seek(SeekFrom::Start(self.active.len)))
                    .and_then(|_| self.active.file.sync_data());
                if rollback.is_err() {
                    self.failed = true;
                }
                Err(MetadataError::io(&self.active.path, e))
            }
        }
    }

    /// Removes snapshots older than the newest and log files entirely
    /// covered by it.
    fn remove_files_before_snapshot(&self) -> Result<(), MetadataError> {
        let listing = files::list(&self.dir)?;
        let mut removed = false;
        for (offset, path) in &listing.snapshots {
            if *offset < self.snapshot_offset {
                files::remove(path)?;
                removed = true;
            }
        }
        // A log file is covered when the next file starts at or before the
        // snapshot; the active file is never removed.
        for pair in listing.logs.windows(2) {
            let (_, path) = &pair[0];
            let (next_base, _) = pair[1];
            if next_base <= self.snapshot_offset && *path != self.active.path {
                files::remove(path)?;
                removed = true;
            }
        }
        if removed {
            files::sync_dir(&self.dir)?;
        }
        Ok(())
    }
}
