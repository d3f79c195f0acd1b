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

/// The order placement walks the brokers in: sorted ids when no broker has a rack;
/// else Kafka's rack-alternated list (the first broker of each rack, then the second of
/// each, ...), so consecutive brokers sit in different racks. A broker without a rack
/// counts as a rack of its own kind ("").
pub(super) fn placement_order(brokers: &[i32], racks: &BTreeMap<i32, String>) -> Vec<i32> {
    let sorted = distinct(brokers);
    if racks.is_empty() {
        return sorted;
    }
    let mut by_rack: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for b in &sorted {
        by_rack
            .entry(racks.get(b).map_or("", String::as_str))
            .or_default()
            .push(*b);
    }
    let deepest = by_rack.values().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::with_capacity(sorted.len());
    for i in 0..deepest {
        out.extend(by_rack.values().filter_map(|bs| bs.get(i)));
    }
    out
}

/// Places partitions `first..first + count` with `rf` replicas each, round-robin over
/// [`placement_order`] starting at `start`: partition p is led by broker `start + p`
/// (mod n) and its followers are the next brokers in order, skipping any whose rack
/// already holds a replica until every rack does (Kafka's rack-aware assignment;
/// without racks, simply the next `rf - 1` brokers). The caller has checked `rf` with
/// [`check_replication_factor`].
pub(super) fn round_robin(
    first: i32,
    count: i32,
    rf: usize,
    brokers: &[i32],
    start: usize,
    racks: &BTreeMap<i32, String>,
) -> BTreeMap<i32, Vec<i32>> {
    let order = placement_order(brokers, racks);
    let n = order.len();
    let mut out = BTreeMap::new();
    if n == 0 {
        return out;
    }
    let rack = |b: i32| racks.get(&b).map_or("", String::as_str);
    let all_racks: BTreeSet<&str> = order.iter().map(|b| rack(*b)).collect();
    for p in 0..count {
        let partition = first + p;
        let base = start + partition as usize;
        let want = rf.min(n);
        let mut replicas = vec![order[base % n]];
        let mut used: BTreeSet<&str> = BTreeSet::from([rack(order[base % n])]);
        for k in 1..n {
            if replicas.len() == want {
                break;
            }
            let b = order[(base + k) % n];
            // Every rack holds one: a second round, one more per rack.
            if used.len() == all_racks.len() {
                used.clear();
            }
            if used.insert(rack(b)) {
                replicas.push(b);
            }
        }
        for k in 1..n {
            if replicas.len() == want {
                break;
            }
            let b = order[(base + k) % n];
            if !replicas.contains(&b) {
                replicas.push(b);
            }
        }
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
        let a = round_robin(0, 4, 2, &[3, 1, 2], 0, &BTreeMap::new());
        assert_eq!(a[&0], vec![1, 2]);
        assert_eq!(a[&1], vec![2, 3]);
        assert_eq!(a[&2], vec![3, 1]);
        assert_eq!(a[&3], vec![1, 2]);
    }

    fn racks(pairs: &[(i32, &str)]) -> BTreeMap<i32, String> {
        pairs.iter().map(|(b, r)| (*b, r.to_string())).collect()
    }

    #[test]
    fn racks_alternate_in_the_placement_order() {
        let r = racks(&[(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "c"), (6, "c")]);
        assert_eq!(
            placement_order(&[1, 2, 3, 4, 5, 6], &r),
            vec![1, 3, 5, 2, 4, 6]
        );
    }

    /// Every partition has one replica per rack while there are as many racks as
    /// replicas, and leaders are spread over every broker.
    #[test]
    fn rack_aware_placement_puts_replicas_in_distinct_racks() {
        let r = racks(&[(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "c"), (6, "c")]);
        let a = round_robin(0, 12, 3, &[1, 2, 3, 4, 5, 6], 0, &r);
        let mut leaders = BTreeSet::new();
        for replicas in a.values() {
            let used: BTreeSet<&str> = replicas.iter().map(|b| r[b].as_str()).collect();
            assert_eq!(used.len(), 3, "{replicas:?}");
            leaders.insert(replicas[0]);
        }
        assert_eq!(leaders.len(), 6);
        // Two racks, three replicas: both racks hold one, the third goes anywhere.
        let r = racks(&[(1, "a"), (2, "a"), (3, "b"), (4, "b")]);
        for replicas in round_robin(0, 8, 3, &[1, 2, 3, 4], 1, &r).values() {
            let distinct: BTreeSet<_> = replicas.iter().collect();
            assert_eq!(distinct.len(), 3);
            let used: BTreeSet<&str> = replicas.iter().map(|b| r[b].as_str()).collect();
            assert_eq!(used.len(), 2, "{replicas:?}");
        }
    }
}
