//! Walking the batches of a remote segment chunk by chunk.

use bytes::{Bytes, BytesMut};
use strata_log::{BatchSpan, BATCH_SPAN_LEN};
use strata_remote::RemoteLogSegmentMetadata;

use crate::error::CacheError;
use crate::reader::RemoteReader;

/// Bytes of a batch header needed for its offsets and length.
const PEEK: usize = BATCH_SPAN_LEN;

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
        if self.pos.saturating_add(PEEK as u64) > size {
            return Ok(None);
        }
        let head = self.bytes(self.pos, PEEK as u64).await?;
        let span = match BatchSpan::peek(&head) {
            Ok(Some(span)) => span,
            Ok(None) => return Err(self.corrupt(format!("short header at {}", self.pos))),
            Err(e) => return Err(self.corrupt(format!("at position {}: {e}", self.pos))),
        };
        let total = span.total_len as u64;
        let end = self.pos.checked_add(total).filter(|&end| end <= size);
        let Some(end) = end else {
            return Err(self.corrupt(format!(
                "batch of {total} bytes at position {} overruns the segment's {size}",
                self.pos
            )));
        };
        let at = BatchHead {
            last_offset: span.last_offset,
            pos: self.pos,
            len: total,
        };
        self.pos = end;
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
        let end = pos
            .checked_add(len)
            .ok_or_else(|| self.corrupt(format!("range {pos}+{len} overflows")))?;
        let mut parts = self.parts(pos, end).await?;
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
        if at.checked_add(len).is_none_or(|end| end > chunk.len()) {
            return Err(self.corrupt(format!(
                "chunk shorter ({}) than the segment size says ({at}+{len})",
                chunk.len(),
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
