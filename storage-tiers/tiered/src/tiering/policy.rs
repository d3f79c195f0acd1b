//! What the remote log manager copies and expires, as pure functions of the segments,
//! the remote view, the high watermark, the retention config and the time: the tasks
//! around them only do the I/O, so the choices are tested here without a bucket.

use strata_log::SealedSegment;
use strata_remote::RemoteLogSegmentMetadata;

/// The sealed segments still to upload, oldest first: those at or past what the
/// remote tier already holds (`remote_upto`, the next offset it lacks) whose every
/// record is below the high watermark (a segment with uncommitted records waits, so a
/// follower's truncation can never reach the bucket).
pub fn segments_to_copy(
    sealed: &[SealedSegment],
    remote_upto: i64,
    high_watermark: i64,
) -> Vec<&SealedSegment> {
    sealed
        .iter()
        .filter(|s| s.base_offset >= remote_upto && s.next_offset <= high_watermark)
        .collect()
}

/// Total retention as it applies to the remote tier (a topic's `cleanup.policy`,
/// `retention.ms` and `retention.bytes`; -1 is unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Whether `cleanup.policy` includes delete (compact alone never expires data).
    pub delete: bool,
    pub retention_ms: i64,
    pub retention_bytes: i64,
}

/// The remote segments to expire, oldest first, given in offset order: each is below
/// the log start `floor` (DeleteRecords, a recovered topic's start), older than
/// `retention.ms` at `now_ms`, or, as Kafka counts `retention.bytes`, not needed to keep
/// the remote bytes plus the local bytes not yet uploaded (`local_not_uploaded`) at or
/// above the limit. Expiry stops at the first segment none of these applies to, so the
/// remote log always stays one contiguous range.
pub fn segments_to_expire<'a>(
    remote: impl IntoIterator<Item = &'a RemoteLogSegmentMetadata>,
    floor: i64,
    local_not_uploaded: u64,
    retention: Retention,
    now_ms: i64,
) -> Vec<&'a RemoteLogSegmentMetadata> {
    let remote: Vec<&RemoteLogSegmentMetadata> = remote.into_iter().collect();
    let remote_bytes: u64 = remote.iter().map(|m| m.segment_size_bytes).sum();
    let mut total = remote_bytes.saturating_add(local_not_uploaded) as i64;
    let mut out = Vec::new();
    for m in remote {
        let below_floor = m.end_offset < floor;
        let by_time = retention.delete
            && retention.retention_ms >= 0
            && now_ms.saturating_sub(m.max_timestamp_ms) > retention.retention_ms;
        let by_size = retention.delete
            && retention.retention_bytes >= 0
            && total - m.segment_size_bytes as i64 >= retention.retention_bytes;
        if !(below_floor || by_time || by_size) {
            break;
        }
        total -= m.segment_size_bytes as i64;
        out.push(m);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use proptest::prelude::*;
    use strata_remote::{RemoteLogSegmentId, RemoteLogSegmentState, TopicId, TopicIdPartition};
    use uuid::Uuid;

    use super::*;

    fn sealed(bounds: &[(i64, i64)]) -> Vec<SealedSegment> {
        bounds
            .iter()
            .map(|&(base, next)| SealedSegment {
                base_offset: base,
                next_offset: next,
                size_bytes: (next - base) as u64 * 100,
                max_timestamp: base,
                log_path: PathBuf::new(),
                offset_index_path: PathBuf::new(),
                time_index_path: PathBuf::new(),
                producer_snapshot_path: None,
                leader_epochs: Vec::new(),
            })
            .collect()
    }

    fn remote(segs: &[(i64, i64, u64, i64)]) -> Vec<RemoteLogSegmentMetadata> {
        segs.iter()
            .map(|&(start, end, size, ts)| RemoteLogSegmentMetadata {
                segment_id: RemoteLogSegmentId {
                    tp: TopicIdPartition::new(TopicId::ZERO, "t", 0),
                    id: Uuid::nil(),
                },
                start_offset: start,
                end_offset: end,
                max_timestamp_ms: ts,
                broker_id: 0,
                event_timestamp_ms: 0,
                segment_size_bytes: size,
                segment_leader_epochs: BTreeMap::from([(0, start)]),
                state: RemoteLogSegmentState::CopySegmentFinished,
            })
            .collect()
    }

    const DELETE: Retention = Retention {
        delete: true,
        retention_ms: -1,
        retention_bytes: -1,
    };

    #[test]
    fn copy_waits_for_the_high_watermark_and_skips_what_is_up() {
        let s = sealed(&[(0, 10), (10, 20), (20, 30)]);
        let bases = |v: Vec<&SealedSegment>| v.iter().map(|s| s.base_offset).collect::<Vec<_>>();
        assert_eq!(bases(segments_to_copy(&s, 0, 30)), vec![0, 10, 20]);
        assert_eq!(bases(segments_to_copy(&s, 10, 30)), vec![10, 20]);
        assert_eq!(bases(segments_to_copy(&s, 0, 25)), vec![0, 10]);
        assert!(segments_to_copy(&s, 30, 100).is_empty());
    }

    #[test]
    fn expiry_by_floor_time_and_size() {
        let r = remote(&[
            (0, 9, 100, 1_000),
            (10, 19, 100, 2_000),
            (20, 29, 100, 3_000),
        ]);
        let starts = |v: Vec<&RemoteLogSegmentMetadata>| {
            v.iter().map(|m| m.start_offset).collect::<Vec<_>>()
        };
        // Nothing applies.
        assert!(segments_to_expire(&r, 0, 0, DELETE, 10_000).is_empty());
        // Below the floor, also for compact-only topics.
        let compact = Retention {
            delete: false,
            ..DELETE
        };
        assert_eq!(
            starts(segments_to_expire(&r, 15, 0, compact, 10_000)),
            vec![0]
        );
        // By time: older than 7.5 s at 10 s.
        let t = Retention {
            retention_ms: 7_500,
            ..DELETE
        };
        assert_eq!(starts(segments_to_expire(&r, 0, 0, t, 10_000)), vec![0, 10]);
        assert!(segments_to_expire(&r, 0, 0, Retention { delete: false, ..t }, 10_000).is_empty());
        // By size, counting local bytes not yet uploaded: 300 remote + 50 local, limit 200.
        let b = Retention {
            retention_bytes: 200,
            ..DELETE
        };
        assert_eq!(starts(segments_to_expire(&r, 0, 50, b, 0)), vec![0]);
        assert_eq!(starts(segments_to_expire(&r, 0, 150, b, 0)), vec![0, 10]);
    }

    proptest! {
        #[test]
        fn copy_selects_exactly_the_committed_segments_past_the_remote_end(
            lens in proptest::collection::vec(1i64..50, 0..20),
            upto in 0i64..600,
            hw in 0i64..700,
        ) {
            let mut bounds = Vec::new();
            let mut at = 0;
            for l in lens {
                bounds.push((at, at + l));
                at += l;
            }
            let s = sealed(&bounds);
            let picked = segments_to_copy(&s, upto, hw);
            for w in picked.windows(2) {
                prop_assert!(w[0].next_offset == w[1].base_offset, "not contiguous");
            }
            for seg in &s {
                let wanted = seg.base_offset >= upto && seg.next_offset <= hw;
                prop_assert_eq!(wanted, picked.iter().any(|p| p.base_offset == seg.base_offset));
            }
        }

        #[test]
        fn expiry_takes_an_oldest_first_prefix_and_honours_the_limits(
            segs in proptest::collection::vec((1u64..1000, 0i64..100_000), 0..20),
            floor in 0i64..400,
            local in 0u64..5000,
            retention_ms in -1i64..100_000,
            retention_bytes in -1i64..20_000,
            delete in any::<bool>(),
            now in 0i64..200_000,
        ) {
            let mut rows = Vec::new();
            let mut at = 0;
            for (size, ts) in segs {
                rows.push((at, at + 19, size, ts));
                at += 20;
            }
            let r = remote(&rows);
            let cfg = Retention { delete, retention_ms, retention_bytes };
            let picked = segments_to_expire(&r, floor, local, cfg, now);
            // A prefix of the remote log, so what remains is contiguous.
            for (p, m) in picked.iter().zip(&r) {
                prop_assert_eq!(p.start_offset, m.start_offset);
            }
            // Never more than the rules allow: each picked one is below the floor, too
            // old, or not needed for retention.bytes.
            let total: i64 = r.iter().map(|m| m.segment_size_bytes as i64).sum::<i64>() + local as i64;
            let mut left = total;
            for m in &picked {
                let ok = m.end_offset < floor
                    || (delete && retention_ms >= 0 && now - m.max_timestamp_ms > retention_ms)
                    || (delete && retention_bytes >= 0 && left - m.segment_size_bytes as i64 >= retention_bytes);
                prop_assert!(ok, "expired {} without a reason", m.start_offset);
                left -= m.segment_size_bytes as i64;
            }
            // And never less: the first kept segment has no reason to go.
            if let Some(next) = r.get(picked.len()) {
                let due = next.end_offset < floor
                    || (delete && retention_ms >= 0 && now - next.max_timestamp_ms > retention_ms)
                    || (delete && retention_bytes >= 0 && left - next.segment_size_bytes as i64 >= retention_bytes);
                prop_assert!(!due, "kept {} although it is due", next.start_offset);
            }
        }
    }
}
