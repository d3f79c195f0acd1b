//! The quorum's openraft types: what one Raft log entry carries and answers.

use std::io::Cursor;

use bincode::Options;
use prost::Message;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::records::{MetadataRecord, MetadataRecordBatch};

/// A node of the quorum is named by its `node.id`.
pub type NodeId = u64;

/// One Raft log entry's command: metadata records committed together, applied all or
/// nothing. Serialized as the prost `MetadataRecordBatch` of `proto/metadata.proto`,
/// so what the Raft log holds is the same record format the image is built from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Command {
    pub records: Vec<MetadataRecord>,
}

impl Serialize for Command {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let batch = MetadataRecordBatch {
            base_offset: 0,
            records: self.records.clone(),
        };
        batch.encode_to_vec().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = Vec::<u8>::deserialize(d)?;
        let batch = MetadataRecordBatch::decode(bytes.as_slice())
            .map_err(|e| serde::de::Error::custom(format!("metadata record batch: {e}")))?;
        Ok(Command {
            records: batch.records,
        })
    }
}

/// What applying one entry did: `None` when its records were applied, or why the image
/// refused them (then none of them were; every node refuses the same batch alike).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub refused: Option<String>,
}

openraft::declare_raft_types!(
    /// The metadata quorum's openraft configuration.
    pub TypeConfig:
        D = Command,
        R = Applied,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
pub type Snapshot = openraft::storage::Snapshot<TypeConfig>;

/// The largest value the quorum decodes from its own store (a snapshot of a very large
/// image); messages from the network are bounded by the RPC settings first.
const MAX_DECODE: u64 = 1 << 30;

fn codec(limit: u64) -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_limit(limit)
}

/// openraft values as the quorum stores and sends them (bincode).
pub(crate) fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, bincode::Error> {
    codec(u64::MAX).serialize(v)
}

/// Decodes what [`encode`] wrote; a length prefix in garbage cannot make it allocate
/// past `MAX_DECODE`.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, bincode::Error> {
    decode_bounded(b, MAX_DECODE)
}

/// Decodes at most `limit` bytes' worth (a message from a peer).
pub(crate) fn decode_bounded<T: serde::de::DeserializeOwned>(
    b: &[u8],
    limit: u64,
) -> Result<T, bincode::Error> {
    codec(limit).deserialize(b)
}
