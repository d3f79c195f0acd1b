//! Walking the batches of a remote segment chunk by chunk.

use bytes::{Bytes, BytesMut};
use strata_remote::RemoteLogSegmentMetadata;

use crate::error::CacheError;
use crate::reader::RemoteReader;

/// Bytes of a batch header needed for its offsets and length.
const PEEK: usize = 27;
/// The smallest legal `batchLength` of a v2 batch.
const MIN_BATCH_LENGTH: i32 = 49;

/// Where one stored batch lies, from its header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchHead {
    pub last_offset: i64,
    /// Byte position of the batch in the segment.
    pub pos: u64,
    /// Bytes of the whole batch (its length field plus the 12 bytes before it).
    pub len: u64,
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

    /// The header of the batch at the cursor, advancing past the batch; `None` at the
    /// segment's end. Only the header's bytes are fetched.
    pub(crate) async fn next_header(&mut self) -> Result<Option<BatchHead>, CacheError> {
        let size = self.meta.segment_size_bytes;
        if self.pos + PEEK as u64 > size {
            return Ok(None);
        }
        let head = self.bytes(self.pos, PEEK as u64).await?;
        let len = i32::from_be_bytes([head[8], head[9], head[10], head[11]]);
        let total = len as u64 + 12;
        if len < MIN_BATCH_LENGTH || self.pos + total > size {
            return Err(self.corrupt(format!("batch length {len} at position {}", self.pos)));
        }
        let mut base = [0u8; 8];
        base.copy_from_slice(&head[..8]);
        let delta = i32::from_be_bytes([head[23], head[24], head[25], head[26]]);
        let at = BatchHead {
            last_offset: i64::from_be_bytes(base) + i64::from(delta),
            pos: self.pos,
            len: total,
        };
        self.pos += total;
        Ok(Some(at))
    }

    /// Bytes `start..end` of the segment as slices of the chunks holding them, in
    /// order (no copy).
    pub(crate) async fn parts(&mut self, start: u64, end: u64) -> Result<Vec<Bytes>, CacheError> {
        let cs = self.reader.chunk_bytes();
        if end <= start {
            return Ok(Vec::new());
        }
        let (first, last) = (start / cs, (end - 1) / cs);
        let mut out = Vec::with_capacity((last - first + 1) as usize);
        for k in first..=last {
            let chunk = self.chunk(k).await?;
            let from = start.max(k * cs) - k * cs;
            let to = end.min((k + 1) * cs) - k * cs;
            out.push(self.slice(&chunk, from as usize, (to - from) as usize)?);
        }
        Ok(out)
    }

    /// Bytes `pos..pos+len` of the segment in one buffer: a slice of one chunk when
    /// it fits in one, else a copy spanning several.
    pub(crate) async fn bytes(&mut self, pos: u64, len: u64) -> Result<Bytes, CacheError> {
        let mut parts = self.parts(pos, pos + len).await?;
        if parts.len() == 1 {
            return Ok(parts.remove(0));
        }
        let mut out = BytesMut::with_capacity(len as usize);
        for p in parts {
            out.extend_from_slice(&p);
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

    fn slice(&self, chunk: &Bytes, at: usize, len: usize) -> Result<Bytes, CacheError> {
        if at + len > chunk.len() {
            return Err(self.corrupt(format!(
                "chunk shorter ({}) than the segment size says ({})",
                chunk.len(),
                at + len
            )));
        }
        Ok(chunk.slice(at..at + len))
    }

    fn corrupt(&self, reason: String) -> CacheError {
        CacheError::Corrupt {
            segment: self.meta.segment_id.id.to_string(),
            reason,
        }
    }
}
