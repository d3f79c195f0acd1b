//! Walking the batches of a remote segment chunk by chunk.

use bytes::{Bytes, BytesMut};
use strata_remote::RemoteLogSegmentMetadata;
use tokio_util::sync::CancellationToken;

use crate::error::CacheError;
use crate::reader::RemoteReader;

/// Bytes of a batch header needed for its offsets and length.
const PEEK: usize = 27;
/// The smallest legal `batchLength` of a v2 batch.
const MIN_BATCH_LENGTH: i32 = 49;

/// One batch as stored.
pub(crate) struct Batch {
    pub last_offset: i64,
    /// Byte position of the batch in the segment.
    pub pos: u64,
    pub bytes: Bytes,
}

/// Position in a remote segment, with the chunk under it kept at hand.
pub(crate) struct BatchCursor<'a> {
    reader: &'a RemoteReader,
    meta: &'a RemoteLogSegmentMetadata,
    pos: u64,
    read_ahead: bool,
    next: &'a [RemoteLogSegmentMetadata],
    current: Option<(u64, Bytes)>,
}

impl<'a> BatchCursor<'a> {
    pub(crate) fn new(
        reader: &'a RemoteReader,
        meta: &'a RemoteLogSegmentMetadata,
        pos: u64,
        read_ahead: bool,
        next: &'a [RemoteLogSegmentMetadata],
    ) -> Self {
        Self {
            reader,
            meta,
            pos,
            read_ahead,
            next,
            current: None,
        }
    }

    /// The batch at the cursor, advancing past it; `None` at the segment's end.
    pub(crate) async fn next_batch(
        &mut self,
        _cancel: &CancellationToken,
    ) -> Result<Option<Batch>, CacheError> {
        let size = self.meta.segment_size_bytes;
        if self.pos + PEEK as u64 > size {
            return Ok(None);
        }
        let head = self.range(self.pos, PEEK as u64).await?;
        let len = i32::from_be_bytes([head[8], head[9], head[10], head[11]]);
        let total = len as u64 + 12;
        if len < MIN_BATCH_LENGTH || self.pos + total > size {
            return Err(CacheError::Corrupt {
                segment: self.meta.segment_id.id.to_string(),
                reason: format!("batch length {len} at position {}", self.pos),
            });
        }
        let mut base = [0u8; 8];
        base.copy_from_slice(&head[..8]);
        let delta = i32::from_be_bytes([head[23], head[24], head[25], head[26]]);
        let bytes = self.range(self.pos, total).await?;
        let pos = self.pos;
        self.pos += total;
        Ok(Some(Batch {
            last_offset: i64::from_be_bytes(base) + i64::from(delta),
            pos,
            bytes,
        }))
    }

    /// Bytes `start..end` of the segment as a slice of the chunk at hand, if they all
    /// lie in it.
    pub(crate) fn slice_of_current_chunk(&self, start: u64, end: u64) -> Option<Bytes> {
        let cs = self.reader.chunk_bytes();
        let (k, chunk) = self.current.as_ref()?;
        let from = start.checked_sub(k * cs)?;
        let to = end.checked_sub(k * cs)?;
        (from <= to && to <= chunk.len() as u64).then(|| chunk.slice(from as usize..to as usize))
    }

    /// Bytes `pos..pos+len` of the segment: a slice of one chunk when it fits in one,
    /// else a copy spanning several.
    async fn range(&mut self, pos: u64, len: u64) -> Result<Bytes, CacheError> {
        let cs = self.reader.chunk_bytes();
        let first = pos / cs;
        let last = (pos + len - 1) / cs;
        if first == last {
            let chunk = self.chunk(first).await?;
            let at = (pos - first * cs) as usize;
            return slice(&chunk, at, len as usize, self.meta);
        }
        let mut out = BytesMut::with_capacity(len as usize);
        for k in first..=last {
            let chunk = self.chunk(k).await?;
            let from = if k == first {
                (pos - k * cs) as usize
            } else {
                0
            };
            let to = if k == last {
                (pos + len - k * cs) as usize
            } else {
                chunk.len()
            };
            out.extend_from_slice(&slice(&chunk, from, to.saturating_sub(from), self.meta)?);
        }
        Ok(out.freeze())
    }

    async fn chunk(&mut self, k: u64) -> Result<Bytes, CacheError> {
        if let Some((i, b)) = &self.current {
            if *i == k {
                return Ok(b.clone());
            }
        }
        let b = self
            .reader
            .chunk(self.meta, k, self.read_ahead, self.next)
            .await?;
        self.current = Some((k, b.clone()));
        Ok(b)
    }
}

fn slice(
    chunk: &Bytes,
    at: usize,
    len: usize,
    meta: &RemoteLogSegmentMetadata,
) -> Result<Bytes, CacheError> {
    if at + len > chunk.len() {
        return Err(CacheError::Corrupt {
            segment: meta.segment_id.id.to_string(),
            reason: format!(
                "chunk shorter ({}) than the segment size says ({})",
                chunk.len(),
                at + len
            ),
        });
    }
    Ok(chunk.slice(at..at + len))
}
