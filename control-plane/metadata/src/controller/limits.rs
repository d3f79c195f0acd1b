//! Bounds on how many partitions one request may create and one broker may host
//! (Strata's, not Kafka's: `strata.max.partitions.per.request` and
//! `strata.max.partitions.per.broker`), so one request cannot make a node open a
//! million logs.

use std::collections::BTreeMap;

use super::error::ControllerError;
use crate::image::MetadataImage;
use crate::records::metadata_record::Record;
use crate::records::MetadataRecord;

/// The two bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLimits {
    pub per_request: usize,
    pub per_broker: usize,
}

impl Default for PartitionLimits {
    fn default() -> Self {
        Self {
            per_request: 10_000,
            per_broker: 100_000,
        }
    }
}

/// Refuses `records` (the partitions one request creates) past either bound; the
/// per-broker count includes what `image` already places on each broker.
pub fn check_partition_limits(
    image: &MetadataImage,
    records: &[MetadataRecord],
    limits: PartitionLimits,
) -> Result<(), ControllerError> {
    let new: Vec<&Vec<i32>> = records
        .iter()
        .filter_map(|r| match &r.record {
            Some(Record::Partition(p)) => Some(&p.replicas),
            _ => None,
        })
        .collect();
    if new.len() > limits.per_request {
        return Err(ControllerError::InvalidPartitions(format!(
            "{} partitions in one request is more than strata.max.partitions.per.request ({})",
            new.len(),
            limits.per_request
        )));
    }
    let mut adding: BTreeMap<i32, usize> = BTreeMap::new();
    for replicas in &new {
        for b in replicas.iter() {
            *adding.entry(*b).or_default() += 1;
        }
    }
    for (broker, more) in adding {
        let hosted = image
            .topics()
            .flat_map(|t| t.partitions.values())
            .filter(|p| p.replicas.contains(&broker))
            .count();
        if hosted + more > limits.per_broker {
            return Err(ControllerError::InvalidPartitions(format!(
                "broker {broker} hosts {hosted} partitions; {more} more would exceed strata.max.partitions.per.broker ({})",
                limits.per_broker
            )));
        }
    }
    Ok(())
}
