//! Broker registration and producer-id blocks.

use super::error::ControllerError;
use crate::image::MetadataImage;
use crate::records::metadata_record::Record;
use crate::records::{MetadataRecord, ProducerIdsRecord, RegisterBrokerRecord};

/// The record that registers broker `broker_id` (or updates its endpoint);
/// empty if it is already registered with exactly these details.
pub fn register_broker(
    image: &MetadataImage,
    broker_id: i32,
    host: &str,
    port: i32,
    rack: Option<String>,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    if broker_id < 0 {
        return Err(ControllerError::InvalidRequest(format!(
            "Invalid broker id {broker_id}"
        )));
    }
    if !(0..=65535).contains(&port) {
        return Err(ControllerError::InvalidRequest(format!(
            "Invalid port {port} for broker {broker_id}"
        )));
    }
    if let Some(b) = image.broker(broker_id) {
        if b.host == host && b.port == port && b.rack == rack {
            return Ok(Vec::new());
        }
    }
    Ok(vec![Record::RegisterBroker(RegisterBrokerRecord {
        broker_id,
        host: host.to_string(),
        port,
        rack,
    })
    .into()])
}

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
