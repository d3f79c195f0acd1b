//! Producer-id blocks.

use crate::image::MetadataImage;
use crate::records::metadata_record::Record;
use crate::records::{MetadataRecord, ProducerIdsRecord};

/// Hands `broker_id` the next block of `block_size` producer ids (0 counts
/// as 1): returns the first id of the block and the record that reserves it.
/// Ids stop at `i64::MAX`.
pub fn allocate_producer_ids(
    image: &MetadataImage,
    broker_id: i32,
    block_size: u32,
) -> (i64, Vec<MetadataRecord>) {
    let first = image.next_producer_id();
    let next = first.saturating_add(i64::from(block_size.max(1)));
    (
        first,
        vec![Record::ProducerIds(ProducerIdsRecord {
            broker_id,
            next_producer_id: next,
        })
        .into()],
    )
}
