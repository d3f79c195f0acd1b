//! Record batch format v2: a zero-copy header view and batch splitting.
//!
//! Layout (big-endian): baseOffset i64 @0, batchLength i32 @8,
//! partitionLeaderEpoch i32 @12, magic i8 @16, crc u32 @17, attributes i16 @21,
//! lastOffsetDelta i32 @23, baseTimestamp i64 @27, maxTimestamp i64 @35,
//! producerId i64 @43, producerEpoch i16 @51, baseSequence i32 @53,
//! recordsCount i32 @57, records @61. The CRC-32C covers bytes `[21..end]`.

use std::ops::Range;

use crate::config::TimestampType;
use crate::error::LogError;

/// Length of the fixed v2 batch header; the records start at this offset.
pub const BATCH_HEADER_LEN: usize = 61;
/// Bytes before the part counted by `batchLength` (baseOffset + batchLength).
pub(crate) const LOG_OVERHEAD: usize = 12;
/// Smallest legal `batchLength` (header without the first 12 bytes).
pub(crate) const MIN_BATCH_LENGTH: i32 = (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32;

pub(crate) const BASE_OFFSET_POS: usize = 0;
pub(crate) const LENGTH_POS: usize = 8;
pub(crate) const LEADER_EPOCH_POS: usize = 12;
pub(crate) const MAGIC_POS: usize = 16;
pub(crate) const CRC_POS: usize = 17;
pub(crate) const ATTRIBUTES_POS: usize = 21;
pub(crate) const LAST_OFFSET_DELTA_POS: usize = 23;
pub(crate) const BASE_TIMESTAMP_POS: usize = 27;
pub(crate) const MAX_TIMESTAMP_POS: usize = 35;
pub(crate) const PRODUCER_ID_POS: usize = 43;
pub(crate) const PRODUCER_EPOCH_POS: usize = 51;
pub(crate) const BASE_SEQUENCE_POS: usize = 53;
pub(crate) const RECORDS_COUNT_POS: usize = 57;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

/// A zero-copy view over exactly one v2 record batch.
///
/// Construction checks only the length fields and the magic byte; call
/// [`RecordBatchHeader::is_crc_valid`] to check the content.
#[derive(Debug, Clone, Copy)]
pub struct RecordBatchHeader<'a> {
    buf: &'a [u8],
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Bytes of a stored batch's header that [`BatchSpan::peek`] reads: its offsets and
/// length, without the rest of the header.
pub const BATCH_SPAN_LEN: usize = LAST_OFFSET_DELTA_POS + 4;

/// Where a stored batch lies, read from the first [`BATCH_SPAN_LEN`] bytes of its
/// header: the one reader of those fields for local segments, remote chunks and
/// requests alike. Every value is checked before any arithmetic uses it, since the
/// bytes come from a file, a bucket or the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSpan {
    pub base_offset: i64,
    pub last_offset: i64,
    /// Bytes of the whole batch, the 12 bytes before `batchLength` included.
    pub total_len: usize,
}

impl BatchSpan {
    /// The span of the batch at the start of `buf`; `None` when fewer than
    /// [`BATCH_SPAN_LEN`] bytes are there. Errors on a length below the minimum, a
    /// negative last-offset delta, or offsets that overflow.
    pub fn peek(buf: &[u8]) -> Result<Option<BatchSpan>, LogError> {
        if buf.len() < BATCH_SPAN_LEN {
            return Ok(None);
        }
        let total_len = total_len(be_i32(buf, LENGTH_POS))?;
        let base_offset = be_i64(buf, BASE_OFFSET_POS);
        let delta = be_i32(buf, LAST_OFFSET_DELTA_POS);
        let last_offset = (delta >= 0)
            .then(|| base_offset.checked_add(i64::from(delta)))
            .flatten()
            .ok_or_else(|| {
                LogError::CorruptRecord(format!(
                    "batch at base offset {base_offset} has last offset delta {delta}"
                ))
            })?;
        Ok(Some(BatchSpan {
            base_offset,
            last_offset,
            total_len,
        }))
    }
}

/// The whole size of a batch whose `batchLength` field is `len`, refusing a length
/// below the minimum (a negative one included) before adding to it.
fn total_len(len: i32) -> Result<usize, LogError> {
    if len < MIN_BATCH_LENGTH {
        return Err(LogError::CorruptRecord(format!(
            "batch length {len} is below the minimum {MIN_BATCH_LENGTH}"
        )));
    }
    Ok(len as usize + LOG_OVERHEAD)
}

/// Total on-disk size of the batch starting at `buf[0]`, from its length
/// field, if at least 12 bytes are present. Errors if the length is too small.
pub(crate) fn peek_total_len(buf: &[u8]) -> Result<Option<usize>, LogError> {
    if buf.len() < LOG_OVERHEAD {
        return Ok(None);
    }
    total_len(be_i32(buf, LENGTH_POS)).map(Some)
}

/// Kafka's sequence arithmetic: `base + delta`, wrapping past `i32::MAX` to 0.
pub(crate) fn increment_sequence(base: i32, delta: i32) -> i32 {
    if base > i32::MAX - delta {
        delta - (i32::MAX - base) - 1
    } else {
        base + delta
    }
}

impl<'a> RecordBatchHeader<'a> {
    /// Parses the batch at the start of `buf`. Needs at least 61 bytes and the
    /// whole batch (`batchLength + 12` bytes); the view covers exactly the batch.
    /// Errors: `UnsupportedMagic` when magic != 2, `CorruptRecord` for short
    /// input or `batchLength < 49`.
    pub fn parse(buf: &'a [u8]) -> Result<Self, LogError> {
        if buf.len() < BATCH_HEADER_LEN {
            return Err(LogError::CorruptRecord(format!(
                "{} bytes is shorter than a batch header",
                buf.len()
            )));
        }
        let total = peek_total_len(buf)?.unwrap_or(usize::MAX);
        let magic = buf[MAGIC_POS] as i8;
        if magic != 2 {
            return Err(LogError::UnsupportedMagic(magic));
        }
        if total > buf.len() {
            return Err(LogError::CorruptRecord(format!(
                "batch of {total} bytes truncated to {}",
                buf.len()
            )));
        }
        Ok(Self { buf: &buf[..total] })
    }

    /// Offset of the first record.
    pub fn base_offset(&self) -> i64 {
        be_i64(self.buf, BASE_OFFSET_POS)
    }
    /// The `batchLength` field (total length minus 12).
    pub fn batch_length(&self) -> i32 {
        be_i32(self.buf, LENGTH_POS)
    }
    /// Total size of the batch in bytes (`batchLength + 12`).
    pub fn total_len(&self) -> usize {
        self.buf.len()
    }
    /// Leader epoch stamped by the leader that appended the batch.
    pub fn partition_leader_epoch(&self) -> i32 {
        be_i32(self.buf, LEADER_EPOCH_POS)
    }
    /// Magic byte (always 2 for a parsed view).
    pub fn magic(&self) -> i8 {
        self.buf[MAGIC_POS] as i8
    }
    /// The stored CRC-32C.
    pub fn crc(&self) -> u32 {
        be_i32(self.buf, CRC_POS) as u32
    }
    /// Raw attributes.
    pub fn attributes(&self) -> i16 {
        be_i16(self.buf, ATTRIBUTES_POS)
    }
    /// Compression codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression_code(&self) -> i16 {
        self.attributes() & COMPRESSION_MASK
    }
    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_BIT != 0
    }
    /// Whether the batch holds control records (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes() & CONTROL_BIT != 0
    }
    /// Meaning of the timestamps (attribute bit 3).
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes() & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
    /// Offset of the last record relative to the base offset.
    pub fn last_offset_delta(&self) -> i32 {
        be_i32(self.buf, LAST_OFFSET_DELTA_POS)
    }
    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .saturating_add(i64::from(self.last_offset_delta()))
    }
    /// Timestamp of the first record.
    pub fn base_timestamp(&self) -> i64 {
        be_i64(self.buf, BASE_TIMESTAMP_POS)
    }
    /// Largest record timestamp (or the log-append time).
    pub fn max_timestamp(&self) -> i64 {
        be_i64(self.buf, MAX_TIMESTAMP_POS)
    }
    /// Producer id, -1 when not idempotent.
    pub fn producer_id(&self) -> i64 {
        be_i64(self.buf, PRODUCER_ID_POS)
    }
    /// Producer epoch.
    pub fn producer_epoch(&self) -> i16 {
        be_i16(self.buf, PRODUCER_EPOCH_POS)
    }
    /// Sequence of the first record, -1 when not idempotent.
    pub fn base_sequence(&self) -> i32 {
        be_i32(self.buf, BASE_SEQUENCE_POS)
    }
    /// Sequence of the last record; wraps from `i32::MAX` to 0 like Kafka.
    pub fn last_sequence(&self) -> i32 {
        let base = self.base_sequence();
        if base < 0 {
            return base;
        }
        increment_sequence(base, self.last_offset_delta().max(0))
    }
    /// Number of records claimed by the header.
    pub fn records_count(&self) -> i32 {
        be_i32(self.buf, RECORDS_COUNT_POS)
    }
    /// CRC-32C of bytes `[21..end]`.
    pub fn compute_crc(&self) -> u32 {
        crc32c::crc32c(&self.buf[ATTRIBUTES_POS..])
    }
    /// Whether the stored CRC matches the content.
    pub fn is_crc_valid(&self) -> bool {
        self.crc() == self.compute_crc()
    }
    /// The whole batch.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
}

/// Splits a buffer made of whole batches (as in a Produce request) into one
/// byte range per batch. Any trailing partial batch → `CorruptRecord`; an
/// empty buffer → an empty vector. Magic and CRC are not checked here.
pub fn split_batches(buf: &[u8]) -> Result<Vec<Range<usize>>, LogError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < buf.len() {
        let rest = &buf[pos..];
        if rest.len() < BATCH_HEADER_LEN {
            return Err(LogError::CorruptRecord(format!(
                "{} trailing bytes at position {pos} are not a whole batch",
                rest.len()
            )));
        }
        let total = peek_total_len(rest)?.unwrap_or(usize::MAX);
        if total > rest.len() {
            return Err(LogError::CorruptRecord(format!(
                "batch at position {pos} claims {total} bytes but only {} remain",
                rest.len()
            )));
        }
        out.push(pos..pos + total);
        pos += total;
    }
    Ok(out)
}

/// Header rewrites done by the leader on append. Only used on an owned copy.
pub(crate) fn set_base_offset(buf: &mut [u8], offset: i64) {
    buf[BASE_OFFSET_POS..BASE_OFFSET_POS + 8].copy_from_slice(&offset.to_be_bytes());
}

pub(crate) fn set_leader_epoch(buf: &mut [u8], epoch: i32) {
    buf[LEADER_EPOCH_POS..LEADER_EPOCH_POS + 4].copy_from_slice(&epoch.to_be_bytes());
}

/// Marks the batch LogAppendTime with `max_timestamp = now_ms` and rewrites the CRC.
pub(crate) fn set_log_append_time(buf: &mut [u8], now_ms: i64) {
    let attrs = be_i16(buf, ATTRIBUTES_POS) | TIMESTAMP_TYPE_BIT;
    buf[ATTRIBUTES_POS..ATTRIBUTES_POS + 2].copy_from_slice(&attrs.to_be_bytes());
    buf[MAX_TIMESTAMP_POS..MAX_TIMESTAMP_POS + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&buf[ATTRIBUTES_POS..]);
    buf[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType as KTimestampType,
    };
    use proptest::prelude::*;

    /// Builds one v2 batch with `n` records; record i has timestamp `timestamps[i]`.
    pub(crate) fn build_batch(
        producer_id: i64,
        epoch: i16,
        base_seq: i32,
        timestamps: &[i64],
        compression: Compression,
    ) -> Vec<u8> {
        let records: Vec<Record> = timestamps
            .iter()
            .enumerate()
            .map(|(i, ts)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id,
                producer_epoch: epoch,
                timestamp_type: KTimestampType::Creation,
                offset: i as i64,
                // The encoder splits batches where offset - sequence changes.
                sequence: if base_seq < 0 {
                    base_seq + i as i32
                } else {
                    increment_sequence(base_seq, i as i32)
                },
                timestamp: *ts,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(format!("value-{i}-{}", "x".repeat(i % 7)))),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .unwrap();
        buf.to_vec()
    }

    #[test]
    fn header_view_reads_encoder_output() {
        let b = build_batch(7, 3, 10, &[100, 300, 200], Compression::None);
        let h = RecordBatchHeader::parse(&b).unwrap();
        assert_eq!(h.total_len(), b.len());
        assert_eq!(h.magic(), 2);
        assert_eq!(h.base_offset(), 0);
        assert_eq!(h.last_offset_delta(), 2);
        assert_eq!(h.last_offset(), 2);
        assert_eq!(h.records_count(), 3);
        assert_eq!(h.producer_id(), 7);
        assert_eq!(h.producer_epoch(), 3);
        assert_eq!(h.base_sequence(), 10);
        assert_eq!(h.last_sequence(), 12);
        assert_eq!(h.base_timestamp(), 100);
        assert_eq!(h.max_timestamp(), 300);
        assert_eq!(h.timestamp_type(), TimestampType::CreateTime);
        assert!(!h.is_control());
        assert!(!h.is_transactional());
        assert!(h.is_crc_valid());
    }

    #[test]
    fn last_sequence_wraps() {
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(increment_sequence(5, 2), 7);
    }

    #[test]
    fn parse_rejects_bad_magic_and_length() {
        let mut b = build_batch(-1, -1, -1, &[1], Compression::None);
        b[MAGIC_POS] = 1;
        assert!(matches!(
            RecordBatchHeader::parse(&b),
            Err(LogError::UnsupportedMagic(1))
        ));
        let mut b = build_batch(-1, -1, -1, &[1], Compression::None);
        b[8..12].copy_from_slice(&10i32.to_be_bytes());
        assert!(matches!(
            RecordBatchHeader::parse(&b),
            Err(LogError::CorruptRecord(_))
        ));
        assert!(RecordBatchHeader::parse(&b[..60]).is_err());
    }

    #[test]
    fn log_append_time_rewrite_keeps_crc_valid() {
        let mut b = build_batch(-1, -1, -1, &[1, 2], Compression::None);
        set_base_offset(&mut b, 42);
        set_leader_epoch(&mut b, 9);
        set_log_append_time(&mut b, 12345);
        let h = RecordBatchHeader::parse(&b).unwrap();
        assert!(h.is_crc_valid());
        assert_eq!(h.base_offset(), 42);
        assert_eq!(h.partition_leader_epoch(), 9);
        assert_eq!(h.max_timestamp(), 12345);
        assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
    }

    #[test]
    fn split_batches_empty_and_partial() {
        assert!(split_batches(&[]).unwrap().is_empty());
        let a = build_batch(-1, -1, -1, &[1, 2], Compression::None);
        let b = build_batch(-1, -1, -1, &[3], Compression::None);
        let mut all = a.clone();
        all.extend_from_slice(&b);
        let ranges = split_batches(&all).unwrap();
        assert_eq!(ranges, vec![0..a.len(), a.len()..all.len()]);
        for cut in 1..all.len() {
            if cut == a.len() {
                assert_eq!(split_batches(&all[..cut]).unwrap().len(), 1);
            } else {
                assert!(
                    matches!(split_batches(&all[..cut]), Err(LogError::CorruptRecord(_))),
                    "cut {cut}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn any_flipped_bit_after_attributes_is_detected(
            n in 1usize..5, byte in 0usize..10_000, bit in 0u8..8
        ) {
            let ts: Vec<i64> = (0..n as i64).collect();
            let mut b = build_batch(3, 1, 0, &ts, Compression::None);
            let idx = ATTRIBUTES_POS + byte % (b.len() - ATTRIBUTES_POS);
            b[idx] ^= 1 << bit;
            let h = RecordBatchHeader::parse(&b).unwrap();
            prop_assert!(!h.is_crc_valid());
        }

        #[test]
        fn header_round_trips(
            pid in -1i64..1000, epoch in 0i16..100, seq in 0i32..i32::MAX,
            ts in proptest::collection::vec(0i64..1_000_000_000, 1..20),
            base in 0i64..i64::MAX / 2, ple in -1i32..1000,
        ) {
            let mut b = build_batch(pid, epoch, seq, &ts, Compression::None);
            set_base_offset(&mut b, base);
            set_leader_epoch(&mut b, ple);
            let h = RecordBatchHeader::parse(&b).unwrap();
            prop_assert!(h.is_crc_valid());
            prop_assert_eq!(h.base_offset(), base);
            prop_assert_eq!(h.partition_leader_epoch(), ple);
            prop_assert_eq!(h.records_count() as usize, ts.len());
            prop_assert_eq!(h.last_offset(), base + ts.len() as i64 - 1);
            prop_assert_eq!(h.max_timestamp(), *ts.iter().max().unwrap());
            // kafka-protocol's encoder uses the minimum as the base timestamp.
            prop_assert_eq!(h.base_timestamp(), *ts.iter().min().unwrap());
            prop_assert_eq!(h.producer_id(), pid);
            prop_assert_eq!(h.base_sequence(), seq);
            prop_assert_eq!(h.last_sequence(), increment_sequence(seq, ts.len() as i32 - 1));
        }
    }

    fn span_head(base: i64, len: i32, delta: i32) -> Vec<u8> {
        let mut b = vec![0u8; BATCH_SPAN_LEN];
        b[..8].copy_from_slice(&base.to_be_bytes());
        b[8..12].copy_from_slice(&len.to_be_bytes());
        b[23..27].copy_from_slice(&delta.to_be_bytes());
        b
    }

    #[test]
    fn batch_span_reads_offsets_and_length() {
        let real = build_batch(-1, -1, -1, &[1, 2, 3], Compression::None);
        let span = BatchSpan::peek(&real).unwrap().unwrap();
        assert_eq!((span.base_offset, span.last_offset), (0, 2));
        assert_eq!(span.total_len, real.len());
        assert_eq!(BatchSpan::peek(&real[..BATCH_SPAN_LEN - 1]).unwrap(), None);
    }

    /// Regression: lengths and offsets from a file or a bucket were added before they
    /// were checked, so a negative length or an offset near i64::MAX overflowed.
    #[test]
    fn batch_span_refuses_hostile_fields_before_arithmetic() {
        for len in [i32::MIN, -12, -1, 0, MIN_BATCH_LENGTH - 1] {
            assert!(BatchSpan::peek(&span_head(0, len, 0)).is_err(), "len {len}");
        }
        assert!(BatchSpan::peek(&span_head(i64::MAX, 100, 1)).is_err());
        assert!(BatchSpan::peek(&span_head(5, 100, -1)).is_err());
        let max = BatchSpan::peek(&span_head(0, i32::MAX, i32::MAX))
            .unwrap()
            .unwrap();
        assert_eq!(max.total_len, i32::MAX as usize + LOG_OVERHEAD);
    }

    proptest! {
        #[test]
        fn batch_span_never_panics(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = BatchSpan::peek(&b);
        }
    }
}
