//! The key layout shared by segment data and metadata, so a partition's objects sit
//! under one folder and a listing of the bucket alone finds every topic incarnation.
//!
//! ```text
//! <prefix>/<topic>-<topic id, 32 hex>/<partition>/<start offset:020>-<segment uuid>.<suffix>
//! <prefix>/<topic>-<topic id, 32 hex>/<partition>/metadata/<start offset:020>-<segment uuid>.json
//! <prefix>/<topic>-<topic id, 32 hex>/<partition>/metadata/leader-epoch
//! <prefix>/<topic>-<topic id, 32 hex>/<partition>/metadata/partition-delete
//! ```

use object_store::path::Path;
use uuid::Uuid;

use crate::types::{RemoteLogSegmentId, TopicId, TopicIdPartition};

/// `<topic>-<topic id>`: the topic incarnation's folder name.
pub(crate) fn topic_dir_name(tp: &TopicIdPartition) -> String {
    format!("{}-{}", tp.topic(), tp.topic_id.to_hex())
}

/// Splits a folder name from [`topic_dir_name`]; topic names may hold `-`, the simple
/// uuid form does not.
pub(crate) fn parse_topic_dir_name(name: &str) -> Option<(String, TopicId)> {
    let (topic, id) = name.rsplit_once('-')?;
    if topic.is_empty() || id.len() != 32 {
        return None;
    }
    Some((topic.to_string(), Uuid::try_parse(id).ok()?.into()))
}

pub(crate) fn join(prefix: &str, rest: &str) -> Path {
    if prefix.is_empty() {
        Path::from(rest)
    } else {
        Path::from(format!("{prefix}/{rest}"))
    }
}

/// The root under which topic folders live (`None` for the bucket root).
pub(crate) fn root(prefix: &str) -> Option<Path> {
    (!prefix.is_empty()).then(|| Path::from(prefix))
}

pub(crate) fn partition_dir(prefix: &str, tp: &TopicIdPartition) -> Path {
    join(
        prefix,
        &format!("{}/{}", topic_dir_name(tp), tp.partition()),
    )
}

pub(crate) fn segment_object(
    prefix: &str,
    id: &RemoteLogSegmentId,
    start: i64,
    suffix: &str,
) -> Path {
    join(
        prefix,
        &format!(
            "{}/{}/{:020}-{}.{}",
            topic_dir_name(&id.tp),
            id.tp.partition(),
            start,
            id.id.simple(),
            suffix
        ),
    )
}

pub(crate) fn metadata_dir(prefix: &str, tp: &TopicIdPartition) -> Path {
    partition_dir(prefix, tp).join("metadata")
}

pub(crate) fn segment_metadata(prefix: &str, id: &RemoteLogSegmentId, start: i64) -> Path {
    metadata_dir(prefix, &id.tp).join(format!("{:020}-{}.json", start, id.id.simple()))
}

pub(crate) fn leader_epoch(prefix: &str, tp: &TopicIdPartition) -> Path {
    metadata_dir(prefix, tp).join("leader-epoch")
}

pub(crate) fn partition_delete(prefix: &str, tp: &TopicIdPartition) -> Path {
    metadata_dir(prefix, tp).join("partition-delete")
}

/// Parses `<start offset:020>-<uuid>.json` into the start offset and segment uuid.
pub(crate) fn parse_segment_metadata_name(name: &str) -> Option<(i64, Uuid)> {
    let stem = name.strip_suffix(".json")?;
    let (start, id) = stem.split_once('-')?;
    if start.len() != 20 || id.len() != 32 {
        return None;
    }
    Some((start.parse().ok()?, Uuid::try_parse(id).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let id = Uuid::new_v4();
        let tp = TopicIdPartition::new(id.into(), "my-topic.v2", 7);
        assert_eq!(
            parse_topic_dir_name(&topic_dir_name(&tp)),
            Some(("my-topic.v2".to_string(), id.into()))
        );
        let seg = RemoteLogSegmentId { tp: tp.clone(), id };
        let key = segment_metadata("p", &seg, 42);
        let name = key.filename().unwrap();
        assert_eq!(parse_segment_metadata_name(name), Some((42, id)));
        assert_eq!(parse_segment_metadata_name("leader-epoch"), None);
        assert_eq!(parse_segment_metadata_name("partition-delete"), None);
        assert!(key
            .as_ref()
            .starts_with(&format!("p/my-topic.v2-{}/7/metadata/", id.simple())));
    }
}
