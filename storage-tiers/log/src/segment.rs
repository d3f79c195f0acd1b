//! One log segment: the `.log` file of whole batches plus its two sparse indexes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::batch::RecordBatchHeader;
use crate::config::LogConfig;
use crate::error::LogError;
use crate::files::{offset_file, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use crate::index::{OffsetIndex, TimeIndex};
use crate::scan::{BatchScanner, ScanItem};

#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) base_offset: i64,
    log_path: PathBuf,
    log: File,
    /// Bytes of whole batches in the file.
    pub(crate) size: u64,
    pub(crate) offset_index: OffsetIndex,
    pub(crate) time_index: TimeIndex,
    bytes_since_index: u64,
    /// Last offset + 1; `base_offset` when empty.
    pub(crate) next_offset: i64,
    /// Largest batch max timestamp; -1 when empty.
    pub(crate) max_timestamp: i64,
    /// Last offset of the first batch that reached `max_timestamp`.
    pub(crate) max_ts_offset: i64,
    /// Time used for `segment.ms`: wall time of the first append, or the first
    /// batch's max timestamp for a segment loaded from disk.
    pub(crate) rolling_ts: Option<i64>,
}

fn open_log(path: &Path, truncate: bool) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .truncate(false)
        .open(path)
        .and_then(|f| {
            if truncate {
                f.set_len(0)?;
            }
            Ok(f)
        })
}

impl Segment {
    /// Creates an empty segment (existing files with the same base are emptied).
    pub(crate) fn create(dir: &Path, base: i64, config: &LogConfig) -> Result<Self, LogError> {
        let log_path = offset_file(dir, base, LOG_SUFFIX);
        let log = open_log(&log_path, true)?;
        let (mut oi, _) = OffsetIndex::open(
            &offset_file(dir, base, INDEX_SUFFIX),
            config.segment_index_bytes,
            u64::MAX,
        )?;
        oi.clear()?;
        let (mut ti, _) = TimeIndex::open(
            &offset_file(dir, base, TIME_INDEX_SUFFIX),
            config.segment_index_bytes,
        )?;
        ti.clear()?;
        Ok(Segment {
            base_offset: base,
            log_path,
            log,
            size: 0,
            offset_index: oi,
            time_index: ti,
            bytes_since_index: 0,
            next_offset: base,
            max_timestamp: -1,
            max_ts_offset: -1,
            rolling_ts: None,
        })
    }

    /// Opens an existing segment without scanning it. Returns whether both
    /// indexes fit the file; if not, call [`Segment::recover`].
    pub(crate) fn open(
        dir: &Path,
        base: i64,
        config: &LogConfig,
    ) -> Result<(Self, bool), LogError> {
        let log_path = offset_file(dir, base, LOG_SUFFIX);
        let log = open_log(&log_path, false)?;
        let size = log.metadata()?.len();
        let (oi, ok1) = OffsetIndex::open(
            &offset_file(dir, base, INDEX_SUFFIX),
            config.segment_index_bytes,
            size,
        )?;
        let (ti, ok2) = TimeIndex::open(
            &offset_file(dir, base, TIME_INDEX_SUFFIX),
            config.segment_index_bytes,
        )?;
        let seg = Segment {
            base_offset: base,
            log_path,
            log,
            size,
            offset_index: oi,
            time_index: ti,
            bytes_since_index: 0,
            next_offset: base,
            max_timestamp: -1,
            max_ts_offset: -1,
            rolling_ts: None,
        };
        Ok((seg, ok1 && ok2))
    }

    pub(crate) fn set_index_max_bytes(&mut self, max_bytes: u64) {
        self.offset_index.set_max_bytes(max_bytes);
        self.time_index.set_max_bytes(max_bytes);
    }

    pub(crate) fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub(crate) fn file(&self) -> &File {
        &self.log
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Offset relative to the base, if it fits a u32 index entry.
    pub(crate) fn relative(&self, offset: i64) -> Option<u32> {
        u32::try_from(offset.checked_sub(self.base_offset)?).ok()
    }

    /// Byte position from which to scan for `offset` (via the offset index).
    pub(crate) fn lookup_position(&self, offset: i64) -> u64 {
        match offset.checked_sub(self.base_offset) {
            Some(d) if d >= 0 => u64::from(
                self.offset_index
                    .lookup(u32::try_from(d).unwrap_or(u32::MAX)),
            ),
            _ => 0,
        }
    }

    /// Updates in-memory state and the indexes for a batch now at `pos`.
    fn track_batch(
        &mut self,
        pos: u64,
        h: &RecordBatchHeader<'_>,
        interval: u64,
    ) -> std::io::Result<()> {
        let len = h.total_len() as u64;
        let last = h.last_offset();
        if h.max_timestamp() > self.max_timestamp {
            self.max_timestamp = h.max_timestamp();
            self.max_ts_offset = last;
        }
        if self.rolling_ts.is_none() {
            self.rolling_ts = Some(h.max_timestamp());
        }
        self.next_offset = last + 1;
        self.bytes_since_index += len;
        if self.bytes_since_index >= interval {
            if let (Some(rel), Ok(p)) = (self.relative(last), u32::try_from(pos)) {
                self.offset_index.append(rel, p)?;
                if let Some(mrel) = self.relative(self.max_ts_offset) {
                    self.time_index.append(self.max_timestamp, mrel)?;
                }
            }
            self.bytes_since_index = 0;
        }
        Ok(())
    }

    /// Appends `data` (whole batches already stamped with offsets; `batches`
    /// are their ranges in `data`) at the end of the file and indexes them.
    /// On a write error the file is truncated back to its previous size.
    pub(crate) fn append(
        &mut self,
        data: &[u8],
        now_ms: i64,
        interval: u64,
    ) -> Result<(), LogError> {
        let start = self.size;
        if let Err(e) = self.log.write_all(data) {
            let _ = self.log.set_len(start);
            return Err(e.into());
        }
        if self.rolling_ts.is_none() {
            self.rolling_ts = Some(now_ms);
        }
        self.size += data.len() as u64;
        let mut at = 0usize;
        while at < data.len() {
            let h = RecordBatchHeader::parse(&data[at..])?;
            self.track_batch(start + at as u64, &h, interval)?;
            at += h.total_len();
        }
        Ok(())
    }

    /// Cuts the segment before the first batch whose last offset is at or past
    /// `offset` and rebuilds its indexes: afterwards it ends at that batch's base (or
    /// holds nothing from `offset` on).
    pub(crate) fn truncate_to_offset(
        &mut self,
        offset: i64,
        interval: u64,
    ) -> Result<(), LogError> {
        let file = self.log.try_clone()?;
        let mut scanner = BatchScanner::new(&file, 0, self.size, false);
        let mut cut = self.size;
        loop {
            match scanner.next_item()? {
                ScanItem::Batch { pos, header } => {
                    if header.last_offset() >= offset {
                        cut = pos;
                        break;
                    }
                }
                ScanItem::Invalid { pos, .. } => {
                    cut = pos;
                    break;
                }
                ScanItem::End => break,
            }
        }
        if cut < self.size {
            self.log.set_len(cut)?;
            self.size = cut;
        }
        self.recover(interval)?;
        self.log.sync_data()?;
        Ok(())
    }

    /// Reads up to `len` bytes at `pos` (fewer at the end of the segment).
    pub(crate) fn read_at(&self, pos: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let len = (len as u64).min(self.size.saturating_sub(pos)) as usize;
        let mut buf = vec![0u8; len];
        self.log.read_exact_at(&mut buf, pos)?;
        Ok(buf)
    }

    /// Full scan: checks every batch (length, magic, CRC, offsets increasing
    /// from the base), rebuilds both indexes, and truncates the file at the
    /// first invalid or partial batch. Returns true if anything was truncated.
    pub(crate) fn recover(&mut self, interval: u64) -> Result<bool, LogError> {
        self.offset_index.clear()?;
        self.time_index.clear()?;
        self.bytes_since_index = 0;
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.max_ts_offset = -1;
        self.rolling_ts = None;
        let file = self.log.try_clone()?;
        let mut scanner = BatchScanner::new(&file, 0, self.size, true);
        let mut valid_end = 0u64;
        loop {
            match scanner.next_item()? {
                ScanItem::End => break,
                ScanItem::Invalid { pos, reason } => {
                    tracing::warn!(segment = %self.log_path.display(), pos, %reason, "truncating invalid tail");
                    break;
                }
                ScanItem::Batch { pos, header } => {
                    if header.base_offset() < self.next_offset
                        || header.last_offset_delta() < 0
                        || self.relative(header.last_offset()).is_none()
                    {
                        tracing::warn!(segment = %self.log_path.display(), pos, "truncating batch with bad offsets");
                        break;
                    }
                    self.track_batch(pos, &header, interval)?;
                    valid_end = pos + header.total_len() as u64;
                }
            }
        }
        let truncated = valid_end < self.size;
        if truncated {
            self.log.set_len(valid_end)?;
            self.size = valid_end;
        }
        Ok(truncated)
    }

    /// For a segment trusted from its indexes: scans only from the last
    /// offset-index entry to the end to learn the end offset and the max
    /// timestamp. Returns false if that tail is not valid (caller recovers).
    pub(crate) fn load_tail(&mut self) -> Result<bool, LogError> {
        let start = self
            .offset_index
            .last()
            .map(|(_, p)| u64::from(p))
            .unwrap_or(0);
        if let Some((ts, rel)) = self.time_index.last() {
            self.max_timestamp = ts;
            self.max_ts_offset = self.base_offset + i64::from(rel);
        }
        // The first batch's timestamp drives segment.ms for a reloaded segment.
        if self.size > 0 {
            let first = self.read_at(0, crate::batch::BATCH_HEADER_LEN)?;
            if let Some(Ok(b)) = first.get(35..43).map(<[u8; 8]>::try_from) {
                self.rolling_ts = Some(i64::from_be_bytes(b));
            }
        }
        let file = self.log.try_clone()?;
        let mut scanner = BatchScanner::new(&file, start, self.size, true);
        loop {
            match scanner.next_item()? {
                ScanItem::End => break,
                ScanItem::Invalid { .. } => return Ok(false),
                ScanItem::Batch { header, .. } => {
                    if header.max_timestamp() > self.max_timestamp {
                        self.max_timestamp = header.max_timestamp();
                        self.max_ts_offset = header.last_offset();
                    }
                    self.next_offset = header.last_offset() + 1;
                }
            }
        }
        self.bytes_since_index = self.size - start;
        Ok(true)
    }

    /// fsyncs the log file and both indexes.
    pub(crate) fn flush(&self) -> Result<(), LogError> {
        self.log.sync_data()?;
        self.offset_index.sync()?;
        self.time_index.sync()?;
        Ok(())
    }

    /// Removes the segment's three files.
    pub(crate) fn delete_files(self) -> Result<(), LogError> {
        for p in [
            self.log_path.clone(),
            self.offset_index.path().to_path_buf(),
            self.time_index.path().to_path_buf(),
        ] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
