//! Idempotent-producer state: per producer id, its epoch and the metadata of
//! its last 5 batches, with CRC-protected snapshots `{offset:020}.snapshot`.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use crate::batch::{increment_sequence, RecordBatchHeader};
use crate::error::LogError;
use crate::files::{atomic_write, offset_file, SNAPSHOT_SUFFIX};

/// Number of batches remembered per producer (Kafka's in-flight limit).
pub(crate) const MAX_CACHED_BATCHES: usize = 5;
const SNAPSHOT_MAGIC: &[u8; 4] = b"SPS1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchMetadata {
    pub(crate) first_seq: i32,
    pub(crate) last_seq: i32,
    pub(crate) first_offset: i64,
    pub(crate) last_offset: i64,
    pub(crate) timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProducerEntry {
    pub(crate) epoch: i16,
    pub(crate) batches: VecDeque<BatchMetadata>,
}

/// Outcome of checking one batch against a producer's state.
#[derive(Debug)]
pub(crate) enum SeqCheck {
    /// Append it.
    Accept,
    /// Already appended; here are its original offsets.
    Duplicate(BatchMetadata),
}

impl ProducerEntry {
    /// Kafka's idempotence rules for a batch from this producer (`entry` is
    /// `None` for an unknown producer).
    pub(crate) fn check(
        entry: Option<&ProducerEntry>,
        h: &RecordBatchHeader<'_>,
    ) -> Result<SeqCheck, LogError> {
        let (pid, epoch, first, last) = (
            h.producer_id(),
            h.producer_epoch(),
            h.base_sequence(),
            h.last_sequence(),
        );
        match entry {
            Some(e) if epoch < e.epoch => Err(LogError::InvalidProducerEpoch(format!(
                "producer {pid} epoch {epoch} is older than current epoch {}",
                e.epoch
            ))),
            Some(e) if epoch == e.epoch && !e.batches.is_empty() => {
                if let Some(b) = e
                    .batches
                    .iter()
                    .find(|b| b.first_seq == first && b.last_seq == last)
                {
                    return Ok(SeqCheck::Duplicate(*b));
                }
                let expected = e
                    .batches
                    .back()
                    .map(|b| increment_sequence(b.last_seq, 1))
                    .unwrap_or(0);
                if first != expected {
                    return Err(LogError::OutOfOrderSequence(format!(
                        "producer {pid} epoch {epoch}: expected sequence {expected}, got {first}"
                    )));
                }
                Ok(SeqCheck::Accept)
            }
            // A known producer's new epoch starts at sequence 0.
            Some(_) => {
                if first != 0 {
                    return Err(LogError::OutOfOrderSequence(format!(
                        "producer {pid} epoch {epoch} is new: sequence must start at 0, got {first}"
                    )));
                }
                Ok(SeqCheck::Accept)
            }
            // A producer this partition has no state for (never seen, expired after
            // `producer.id.expiration.ms`, or its batches removed by retention) may
            // continue at any sequence, as in Kafka since KIP-360.
            None => Ok(SeqCheck::Accept),
        }
    }

    /// Records an appended batch (also used for replay, without checks).
    pub(crate) fn record(&mut self, epoch: i16, meta: BatchMetadata) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
        self.batches.push_back(meta);
        while self.batches.len() > MAX_CACHED_BATCHES {
            self.batches.pop_front();
        }
    }
}

/// All producers of one partition.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ProducerStateManager {
    pub(crate) producers: HashMap<i64, ProducerEntry>,
}

impl ProducerStateManager {
    /// Forgets producers whose last batch is older than `max_idle_ms` at `now_ms`
    /// (Kafka's `producer.id.expiration.ms`); returns how many went.
    pub(crate) fn remove_expired(&mut self, now_ms: i64, max_idle_ms: i64) -> usize {
        let before = self.producers.len();
        let horizon = now_ms.saturating_sub(max_idle_ms);
        self.producers
            .retain(|_, e| e.batches.back().is_some_and(|b| b.timestamp > horizon));
        before - self.producers.len()
    }

    /// Replays one batch from the log (no validation).
    pub(crate) fn replay(&mut self, h: &RecordBatchHeader<'_>) {
        if h.producer_id() < 0 || h.base_sequence() < 0 || h.is_control() {
            return;
        }
        let entry = self
            .producers
            .entry(h.producer_id())
            .or_insert_with(|| ProducerEntry {
                epoch: h.producer_epoch(),
                batches: VecDeque::new(),
            });
        entry.record(h.producer_epoch(), meta_of(h));
    }

    /// Writes `{offset:020}.snapshot` atomically (covers all batches below `offset`).
    pub(crate) fn write_snapshot(&self, dir: &Path, offset: i64) -> Result<(), LogError> {
        let mut buf = Vec::with_capacity(16 + self.producers.len() * 64);
        buf.extend_from_slice(SNAPSHOT_MAGIC);
        buf.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        let mut pids: Vec<_> = self.producers.keys().copied().collect();
        pids.sort_unstable();
        for pid in pids {
            let Some(e) = self.producers.get(&pid) else {
                continue;
            };
            buf.extend_from_slice(&pid.to_be_bytes());
            buf.extend_from_slice(&e.epoch.to_be_bytes());
            buf.push(e.batches.len() as u8);
            for b in &e.batches {
                buf.extend_from_slice(&b.first_seq.to_be_bytes());
                buf.extend_from_slice(&b.last_seq.to_be_bytes());
                buf.extend_from_slice(&b.first_offset.to_be_bytes());
                buf.extend_from_slice(&b.last_offset.to_be_bytes());
                buf.extend_from_slice(&b.timestamp.to_be_bytes());
            }
        }
        let crc = crc32c::crc32c(&buf);
        buf.extend_from_slice(&crc.to_be_bytes());
        let name = format!("{offset:020}.{SNAPSHOT_SUFFIX}");
        atomic_write(dir, &name, &buf)?;
        Ok(())
    }

    /// Loads a snapshot. `Ok(None)` if it is torn or its CRC does not match.
    pub(crate) fn read_snapshot(dir: &Path, offset: i64) -> Result<Option<Self>, LogError> {
        let data = std::fs::read(offset_file(dir, offset, SNAPSHOT_SUFFIX))?;
        Ok(decode_snapshot(&data))
    }
}

fn meta_of(h: &RecordBatchHeader<'_>) -> BatchMetadata {
    BatchMetadata {
        first_seq: h.base_sequence(),
        last_seq: h.last_sequence(),
        first_offset: h.base_offset(),
        last_offset: h.last_offset(),
        timestamp: h.max_timestamp(),
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let s = self.buf.get(self.at..self.at + N)?;
        self.at += N;
        s.try_into().ok()
    }
}

fn decode_snapshot(data: &[u8]) -> Option<ProducerStateManager> {
    if data.len() < 12 || &data[..4] != SNAPSHOT_MAGIC {
        return None;
    }
    let (body, crc) = data.split_at(data.len() - 4);
    if crc32c::crc32c(body) != u32::from_be_bytes(crc.try_into().ok()?) {
        return None;
    }
    let mut r = Reader { buf: body, at: 4 };
    let n = u32::from_be_bytes(r.take()?);
    let mut producers = HashMap::new();
    for _ in 0..n {
        let pid = i64::from_be_bytes(r.take()?);
        let epoch = i16::from_be_bytes(r.take()?);
        let [nb] = r.take::<1>()?;
        let mut batches = VecDeque::new();
        for _ in 0..nb {
            batches.push_back(BatchMetadata {
                first_seq: i32::from_be_bytes(r.take()?),
                last_seq: i32::from_be_bytes(r.take()?),
                first_offset: i64::from_be_bytes(r.take()?),
                last_offset: i64::from_be_bytes(r.take()?),
                timestamp: i64::from_be_bytes(r.take()?),
            });
        }
        producers.insert(pid, ProducerEntry { epoch, batches });
    }
    if r.at != body.len() {
        return None;
    }
    Some(ProducerStateManager { producers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_round_trip_and_crc() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = ProducerStateManager::default();
        for pid in 0..3i64 {
            let mut e = ProducerEntry {
                epoch: 1,
                batches: VecDeque::new(),
            };
            for i in 0..7 {
                e.record(
                    1,
                    BatchMetadata {
                        first_seq: i * 2,
                        last_seq: i * 2 + 1,
                        first_offset: pid * 100 + i64::from(i),
                        last_offset: pid * 100 + i64::from(i) + 1,
                        timestamp: 5,
                    },
                );
            }
            assert_eq!(e.batches.len(), MAX_CACHED_BATCHES);
            m.producers.insert(pid, e);
        }
        m.write_snapshot(dir.path(), 42).unwrap();
        let back = ProducerStateManager::read_snapshot(dir.path(), 42)
            .unwrap()
            .unwrap();
        assert_eq!(back, m);
        let p = offset_file(dir.path(), 42, SNAPSHOT_SUFFIX);
        let mut raw = std::fs::read(&p).unwrap();
        raw[10] ^= 1;
        std::fs::write(&p, &raw).unwrap();
        assert!(ProducerStateManager::read_snapshot(dir.path(), 42)
            .unwrap()
            .is_none());
    }
}
