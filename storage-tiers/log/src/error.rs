//! The crate's error type.

/// Everything that can go wrong in the partition log.
///
/// Each variant maps to one Kafka error code in the broker (named in the
/// variant docs); this crate itself never speaks Kafka error codes.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Bad length, bad CRC or truncated data (Kafka `CORRUPT_MESSAGE`).
    #[error("corrupt record: {0}")]
    CorruptRecord(String),
    /// A batch whose magic byte is not 2 (Kafka `UNSUPPORTED_FOR_MESSAGE_FORMAT`).
    #[error("unsupported record batch magic {0}")]
    UnsupportedMagic(i8),
    /// A batch larger than `max.message.bytes` (Kafka `MESSAGE_TOO_LARGE`).
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    RecordTooLarge {
        /// Size of the offending batch in bytes.
        size: usize,
        /// The configured limit.
        max: i32,
    },
    /// A well-formed but invalid batch (Kafka `INVALID_RECORD`).
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// A timestamp outside the allowed window (Kafka `INVALID_TIMESTAMP`).
    #[error("invalid timestamp: {0}")]
    InvalidTimestamp(String),
    /// A sequence gap or reset (Kafka `OUT_OF_ORDER_SEQUENCE_NUMBER`).
    #[error("out of order sequence: {0}")]
    OutOfOrderSequence(String),
    /// A producer epoch older than the one known (Kafka `INVALID_PRODUCER_EPOCH`).
    #[error("invalid producer epoch: {0}")]
    InvalidProducerEpoch(String),
    /// An offset outside `[log_start, log_end]` (Kafka `OFFSET_OUT_OF_RANGE`).
    #[error("offset {offset} out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        /// The requested offset.
        offset: i64,
        /// The log start offset at the time of the request.
        log_start: i64,
        /// The log end offset at the time of the request.
        log_end: i64,
    },
    /// A segment would need more than `u32::MAX` relative offsets or bytes.
    #[error("segment overflow: {0}")]
    SegmentOverflow(String),
    /// Underlying file-system error (Kafka `KAFKA_STORAGE_ERROR`).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
