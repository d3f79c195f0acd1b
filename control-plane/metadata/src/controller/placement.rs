//! Replica placement: validation of manual assignments and round-robin
//! automatic placement.

use std::collections::{BTreeMap, BTreeSet};

use super::error::ControllerError;

/// Validates a manual assignment of `partitions` (consecutive ids from
/// `first`) against the registered `brokers`; every partition must have
/// `expected_rf` replicas if given, else as many as the first one.
pub(super) fn validate_manual(
    assignments: &BTreeMap<i32, Vec<i32>>,
    first: i32,
    brokers: &[i32],
    expected_rf: Option<usize>,
) -> Result<(), ControllerError> {
    let bad = |m: String| Err(ControllerError::InvalidReplicaAssignment(m));
    let registered: BTreeSet<i32> = brokers.iter().copied().collect();
    let mut expected_rf = expected_rf;
    for (i, (partition, replicas)) in assignments.iter().enumerate() {
        let want = i32::try_from(i).ok().and_then(|i| first.checked_add(i));
        if Some(*partition) != want {
            return bad("Partitions should be a consecutive 0-based integer sequence".to_string());
        }
        if replicas.is_empty() {
            return bad("The manual partition assignment includes an empty replica list.".into());
        }
        let mut seen = BTreeSet::new();
        for b in replicas {
            if !seen.insert(*b) {
                return bad(format!(
                    "The manual partition assignment includes the broker {b} more than once."
                ));
            }
            if !registered.contains(b) {
                return bad(format!(
                    "The manual partition assignment includes broker {b}, but no such broker is registered."
                ));
            }
        }
        match expected_rf {
            Some(rf) if rf != replicas.len() => {
                return bad(format!(
                    "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {rf} replica(s).",
                    replicas.len()
                ));
            }
            Some(_) => {}
            None => expected_rf = Some(replicas.len()),
        }
    }
    Ok(())
}

/// Checks that `rf` replicas fit on `brokers`, with Kafka's messages.
pub(super) fn check_replication_factor(rf: i32, brokers: &[i32]) -> Result<(), ControllerError> {
    if rf <= 0 {
        return Err(ControllerError::InvalidReplicationFactor(
            "Replication factor must be larger than 0, or -1 to use the default value.".into(),
        ));
    }
    let usable = distinct(brokers).len();
    if usize::try_from(rf).map_or(true, |rf| rf > usable) {
        return Err(ControllerError::InvalidReplicationFactor(format!(
            "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {usable} broker(s) are registered."
        )));
    }
    Ok(())
}

/// Places partitions `first..first + count` with `rf` replicas each,
/// round-robin over the sorted distinct `brokers` starting at `start`:
/// partition p gets brokers `start + p, start + p + 1, ...` (mod n). The
/// caller has checked `rf` with [`check_replication_factor`].
pub(super) fn round_robin(
    first: i32,
    count: i32,
    rf: usize,
    brokers: &[i32],
    start: usize,
) -> BTreeMap<i32, Vec<i32>> {
    let brokers = distinct(brokers);
    let n = brokers.len();
    let mut out = BTreeMap::new();
    if n == 0 {
        return out;
    }
    for p in 0..count {
        let partition = first + p;
        let base = start + partition as usize;
        let replicas = (0..rf.min(n)).map(|j| brokers[(base + j) % n]).collect();
        out.insert(partition, replicas);
    }
    out
}

fn distinct(brokers: &[i32]) -> Vec<i32> {
    brokers
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_spreads_leaders_and_replicas() {
        let a = round_robin(0, 4, 2, &[3, 1, 2], 0);
        assert_eq!(a[&0], vec![1, 2]);
        assert_eq!(a[&1], vec![2, 3]);
        assert_eq!(a[&2], vec![3, 1]);
        assert_eq!(a[&3], vec![1, 2]);
    }
}
