//! The quorum's state machine: the metadata image, built by applying committed
//! entries, and its snapshots (Kafka's KIP-630 role: they bound the Raft log and let a
//! new or far-behind node catch up).

use std::io::Cursor;
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder, StoredMembership};
use parking_lot::Mutex;
use prost::Message;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::log_store::io;
use super::types::{decode, encode};
use super::types::{Applied, Entry, LogId, Snapshot, SnapshotMeta, StorageError, TypeConfig};
use crate::image::MetadataImage;
use crate::records::MetadataSnapshot;

const CURRENT: &[u8] = b"current";

/// A snapshot as kept in sled: openraft's meta and the encoded `MetadataSnapshot`.
#[derive(Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: Vec<u8>,
}

struct State {
    last_applied: Option<LogId>,
    membership: StoredMembership<u64, openraft::BasicNode>,
    image: Arc<MetadataImage>,
    snapshot: Option<StoredSnapshot>,
}

/// The metadata image as of the last applied entry. Each applied batch of entries is
/// published on a watch channel, which is how the rest of the node (the metadata
/// publisher, the controller) sees committed metadata.
#[derive(Clone)]
pub struct StateMachine {
    state: Arc<Mutex<State>>,
    snapshots: sled::Tree,
    db: sled::Db,
    published: Arc<watch::Sender<Arc<MetadataImage>>>,
}

fn image_from(data: &[u8]) -> Result<(MetadataImage, usize), String> {
    let snap = MetadataSnapshot::decode(data).map_err(|e| format!("snapshot: {e}"))?;
    let mut image = MetadataImage::default();
    for r in &snap.records {
        image
            .apply(r)
            .map_err(|e| format!("snapshot record: {e}"))?;
    }
    Ok((image, snap.records.len()))
}

impl StateMachine {
    /// The state machine in `db`: the newest snapshot if there is one (the entries
    /// after it are re-applied by openraft from the log), else an empty image.
    pub fn open(db: &sled::Db) -> Result<Self, StorageError> {
        let read = |e: &dyn std::error::Error| io(ErrorSubject::StateMachine, ErrorVerb::Read, e);
        let snapshots = db.open_tree("snapshots").map_err(|e| read(&e))?;
        let stored: Option<StoredSnapshot> = match snapshots.get(CURRENT).map_err(|e| read(&e))? {
            None => None,
            Some(v) => Some(decode(&v).map_err(|e| read(&e))?),
        };
        let mut state = State {
            last_applied: None,
            membership: StoredMembership::default(),
            image: Arc::new(MetadataImage::default()),
            snapshot: None,
        };
        if let Some(s) = stored {
            let (image, _) = image_from(&s.data)
                .map_err(|e| read(&std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
            state.last_applied = s.meta.last_log_id;
            state.membership = s.meta.last_membership.clone();
            state.image = Arc::new(image);
            state.snapshot = Some(s);
        }
        let (tx, _) = watch::channel(state.image.clone());
        Ok(Self {
            state: Arc::new(Mutex::new(state)),
            snapshots,
            db: db.clone(),
            published: Arc::new(tx),
        })
    }

    /// The image as of the last applied entry.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.state.lock().image.clone()
    }

    /// Every image as entries are applied.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.published.subscribe()
    }

    /// The last applied log id.
    pub fn last_applied(&self) -> Option<LogId> {
        self.state.lock().last_applied
    }

    async fn persist(&self, s: &StoredSnapshot) -> Result<(), StorageError> {
        let sig = Some(s.meta.signature());
        let write = |e: &dyn std::error::Error| {
            io(ErrorSubject::Snapshot(sig.clone()), ErrorVerb::Write, e)
        };
        let bytes = encode(s).map_err(|e| write(&e))?;
        self.snapshots
            .insert(CURRENT, bytes)
            .map_err(|e| write(&e))?;
        self.db.flush_async().await.map_err(|e| write(&e))?;
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let stored = {
            let st = self.state.lock();
            let end_offset = st.last_applied.map(|l| l.index as i64 + 1).unwrap_or(0);
            let data = MetadataSnapshot {
                end_offset,
                records: st.image.to_records(),
            }
            .encode_to_vec();
            let snapshot_id = match st.last_applied {
                Some(l) => format!("{}-{}-{}", l.leader_id.term, l.leader_id.node_id, l.index),
                None => "empty".to_string(),
            };
            StoredSnapshot {
                meta: SnapshotMeta {
                    last_log_id: st.last_applied,
                    last_membership: st.membership.clone(),
                    snapshot_id,
                },
                data,
            }
        };
        self.persist(&stored).await?;
        self.state.lock().snapshot = Some(stored.clone());
        Ok(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembership<u64, openraft::BasicNode>), StorageError> {
        let st = self.state.lock();
        Ok((st.last_applied, st.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        let image = {
            let mut st = self.state.lock();
            for entry in entries {
                st.last_applied = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => out.push(Applied::default()),
                    EntryPayload::Membership(m) => {
                        st.membership = StoredMembership::new(Some(entry.log_id), m);
                        out.push(Applied::default());
                    }
                    EntryPayload::Normal(cmd) => {
                        // All or nothing: the records go to a copy that replaces the
                        // image only when every one of them applied.
                        let mut next = (*st.image).clone();
                        let refused = cmd
                            .records
                            .iter()
                            .find_map(|r| next.apply(r).err())
                            .map(|e| e.to_string());
                        match &refused {
                            None => st.image = Arc::new(next),
                            Some(e) => tracing::error!(
                                index = entry.log_id.index,
                                error = %e,
                                "committed metadata entry refused by the image; skipped on every node"
                            ),
                        }
                        out.push(Applied { refused });
                    }
                }
            }
            st.image.clone()
        };
        self.published.send_replace(image);
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let (image, _) = image_from(&data).map_err(|e| {
            io(
                ErrorSubject::Snapshot(Some(meta.signature())),
                ErrorVerb::Read,
                &std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        self.persist(&stored).await?;
        let image = Arc::new(image);
        {
            let mut st = self.state.lock();
            st.last_applied = meta.last_log_id;
            st.membership = meta.last_membership.clone();
            st.image = image.clone();
            st.snapshot = Some(stored);
        }
        self.published.send_replace(image);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let st = self.state.lock();
        Ok(st.snapshot.clone().map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}
