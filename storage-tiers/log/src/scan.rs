//! Sequential batch scanning over a segment file with large positioned reads.
//! Used by recovery, index rebuilds, producer-state replay and timestamp lookups.

use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::batch::{peek_total_len, RecordBatchHeader, BATCH_HEADER_LEN};

const CHUNK: usize = 1 << 20;

/// One step of a scan.
pub(crate) enum ScanItem<'a> {
    /// A whole, parsed (and, if requested, CRC-checked) batch at `pos`.
    Batch {
        pos: u64,
        header: RecordBatchHeader<'a>,
    },
    /// The data at `pos` is not a valid batch (partial, bad length/magic/CRC).
    Invalid { pos: u64, reason: String },
    /// Reached the end of the range.
    End,
}

pub(crate) struct BatchScanner<'f> {
    file: &'f File,
    pos: u64,
    end: u64,
    check_crc: bool,
    buf: Vec<u8>,
    buf_start: u64,
}

impl<'f> BatchScanner<'f> {
    pub(crate) fn new(file: &'f File, start: u64, end: u64, check_crc: bool) -> Self {
        BatchScanner {
            file,
            pos: start,
            end,
            check_crc,
            buf: Vec::new(),
            buf_start: start,
        }
    }

    fn ensure(&mut self, from: u64, len: usize) -> std::io::Result<()> {
        let have_end = self.buf_start + self.buf.len() as u64;
        if from >= self.buf_start && from + len as u64 <= have_end {
            return Ok(());
        }
        let want = (len.max(CHUNK) as u64).min(self.end - from) as usize;
        self.buf.resize(want, 0);
        self.file.read_exact_at(&mut self.buf, from)?;
        self.buf_start = from;
        Ok(())
    }

    pub(crate) fn next_item(&mut self) -> std::io::Result<ScanItem<'_>> {
        let pos = self.pos;
        if pos >= self.end {
            return Ok(ScanItem::End);
        }
        let remaining = self.end - pos;
        if remaining < BATCH_HEADER_LEN as u64 {
            return Ok(ScanItem::Invalid {
                pos,
                reason: format!("partial batch header of {remaining} bytes"),
            });
        }
        self.ensure(pos, BATCH_HEADER_LEN)?;
        let at = (pos - self.buf_start) as usize;
        let total = match peek_total_len(&self.buf[at..]) {
            Ok(Some(t)) => t,
            Ok(None) => {
                return Ok(ScanItem::Invalid {
                    pos,
                    reason: "short header".to_string(),
                })
            }
            Err(e) => {
                return Ok(ScanItem::Invalid {
                    pos,
                    reason: e.to_string(),
                })
            }
        };
        if total as u64 > remaining {
            return Ok(ScanItem::Invalid {
                pos,
                reason: format!("batch of {total} bytes but only {remaining} remain"),
            });
        }
        self.ensure(pos, total)?;
        let at = (pos - self.buf_start) as usize;
        let slice = &self.buf[at..at + total];
        let header = match RecordBatchHeader::parse(slice) {
            Ok(h) => h,
            Err(e) => {
                return Ok(ScanItem::Invalid {
                    pos,
                    reason: e.to_string(),
                })
            }
        };
        if self.check_crc && !header.is_crc_valid() {
            return Ok(ScanItem::Invalid {
                pos,
                reason: format!(
                    "crc mismatch: stored {:#x}, computed {:#x}",
                    header.crc(),
                    header.compute_crc()
                ),
            });
        }
        self.pos = pos + total as u64;
        Ok(ScanItem::Batch { pos, header })
    }
}
