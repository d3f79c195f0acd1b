//! The Raft log and vote, kept in sled.
//!
//! Why sled rather than the metadata log's own files: openraft needs random reads by
//! index, truncation of a conflicting suffix, purges of a prefix and a durable vote,
//! each atomic; sled gives those as ordered keys with one `flush` for durability,
//! where the append-only files would need an index and rewrite rules of their own.
//! Entries are small (a few metadata records) and the log is bounded by snapshots.

use std::fmt::Debug;
use std::ops::RangeBounds;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, ErrorSubject, ErrorVerb, RaftLogId, RaftLogReader, StorageIOError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::types::{decode, encode};

use super::types::{Entry, LogId, StorageError, TypeConfig, Vote};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

/// The Raft log (`logs`: big-endian index → entry) and the quorum's own state
/// (`raft`: vote, committed and last purged log ids) in one sled database. Cheap to
/// clone: openraft's replication tasks read through clones.
#[derive(Clone)]
pub struct LogStore {
    db: sled::Db,
    logs: sled::Tree,
    raft: sled::Tree,
}

pub(crate) fn io(
    subject: ErrorSubject<u64>,
    verb: ErrorVerb,
    e: &dyn std::error::Error,
) -> StorageError {
    StorageIOError::new(subject, verb, AnyError::error(e.to_string())).into()
}

impl LogStore {
    /// The log store in `db` (created empty the first time).
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        Ok(Self {
            db: db.clone(),
            logs: db.open_tree("logs")?,
            raft: db.open_tree("raft")?,
        })
    }

    fn get<T: DeserializeOwned>(
        &self,
        key: &[u8],
        subject: ErrorSubject<u64>,
    ) -> Result<Option<T>, StorageError> {
        let read = |e: &dyn std::error::Error| io(subject.clone(), ErrorVerb::Read, e);
        match self.raft.get(key).map_err(|e| read(&e))? {
            None => Ok(None),
            Some(v) => decode(&v).map(Some).map_err(|e| read(&e)),
        }
    }

    fn put<T: Serialize>(
        &self,
        key: &[u8],
        v: &T,
        subject: ErrorSubject<u64>,
    ) -> Result<(), StorageError> {
        let write = |e: &dyn std::error::Error| io(subject.clone(), ErrorVerb::Write, e);
        let bytes = encode(v).map_err(|e| write(&e))?;
        self.raft.insert(key, bytes).map_err(|e| write(&e))?;
        Ok(())
    }

    async fn flush(&self, subject: ErrorSubject<u64>) -> Result<(), StorageError> {
        self.db
            .flush_async()
            .await
            .map(|_| ())
            .map_err(|e| io(subject, ErrorVerb::Write, &e))
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StorageError> {
        match self
            .logs
            .last()
            .map_err(|e| io(ErrorSubject::Logs, ErrorVerb::Read, &e))?
        {
            None => Ok(None),
            Some((_, v)) => decode::<Entry>(&v)
                .map(|e| Some(*e.get_log_id()))
                .map_err(|e| io(ErrorSubject::Logs, ErrorVerb::Read, &e)),
        }
    }
}

fn key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        use std::ops::Bound;
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let read = |e: &dyn std::error::Error| io(ErrorSubject::Logs, ErrorVerb::Read, e);
        let mut out = Vec::new();
        for kv in self.logs.range(key(start)..) {
            let (k, v) = kv.map_err(|e| read(&e))?;
            let index = u64::from_be_bytes(k.as_ref().try_into().map_err(|e| read(&e))?);
            if !range.contains(&index) {
                break;
            }
            out.push(decode::<Entry>(&v).map_err(|e| read(&e))?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self.get(LAST_PURGED, ErrorSubject::Store)?;
        let last = self.last_entry_id()?.or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.put(VOTE, vote, ErrorSubject::Vote)?;
        self.flush(ErrorSubject::Vote).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.get(VOTE, ErrorSubject::Vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Not flushed: losing it only means re-learning the commit index from the leader
        // (or re-applying fewer entries at start-up); it is never ahead of the log.
        self.put(COMMITTED, &committed, ErrorSubject::Store)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self
            .get::<Option<LogId>>(COMMITTED, ErrorSubject::Store)?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let write = |e: &dyn std::error::Error| io(ErrorSubject::Logs, ErrorVerb::Write, e);
        let mut batch = sled::Batch::default();
        for entry in entries {
            let bytes = encode(&entry).map_err(|e| write(&e))?;
            batch.insert(&key(entry.get_log_id().index), bytes);
        }
        self.logs.apply_batch(batch).map_err(|e| write(&e))?;
        // Durable before openraft counts the entries as persisted (its votes and
        // commit decisions rely on it).
        let flushed = self
            .db
            .flush_async()
            .await
            .map(|_| ())
            .map_err(std::io::Error::other);
        let failed = flushed.as_ref().err().map(|e| write(e));
        callback.log_io_completed(flushed);
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let write = |e: &dyn std::error::Error| io(ErrorSubject::Logs, ErrorVerb::Write, e);
        let mut batch = sled::Batch::default();
        for kv in self.logs.range(key(log_id.index)..) {
            let (k, _) = kv.map_err(|e| write(&e))?;
            batch.remove(k);
        }
        self.logs.apply_batch(batch).map_err(|e| write(&e))?;
        self.flush(ErrorSubject::Logs).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // The purge point first: a crash between the two leaves entries openraft no
        // longer reads, never a gap it would.
        self.put(LAST_PURGED, &log_id, ErrorSubject::Store)?;
        self.flush(ErrorSubject::Store).await?;
        let write = |e: &dyn std::error::Error| io(ErrorSubject::Logs, ErrorVerb::Write, e);
        let mut batch = sled::Batch::default();
        for kv in self.logs.range(..=key(log_id.index)) {
            let (k, _) = kv.map_err(|e| write(&e))?;
            batch.remove(k);
        }
        self.logs.apply_batch(batch).map_err(|e| write(&e))?;
        Ok(())
    }
}
