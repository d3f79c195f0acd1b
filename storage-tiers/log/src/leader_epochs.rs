//! The leader-epoch cache: for each leader epoch, the first offset written in it, as
//! Kafka keeps it in `leader-epoch-checkpoint` (KIP-101/279). A follower asks the
//! leader where its own latest epoch ends and truncates there, so a log that diverged
//! under an old leader is cut exactly where it stops matching.
//!
//! File format (Kafka's, text):
//!
//! ```text
//! 0            the format version
//! 2            the number of entries
//! 0 0          epoch, start offset
//! 3 1200
//! ```

use std::path::{Path, PathBuf};

use crate::error::LogError;
use crate::files::atomic_write;

/// Kafka's file name for the cache, in the partition directory.
pub const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";
const VERSION: i32 = 0;

/// One epoch and the first offset its leader wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// The epochs of one partition, ascending in both epoch and start offset, persisted on
/// every change (changes are rare: one per leadership change).
#[derive(Debug, Clone)]
pub struct LeaderEpochCache {
    dir: PathBuf,
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// Loads the checkpoint in `dir`; an absent file is an empty cache. A file that does
    /// not parse is corrupt (Kafka fails the log load the same way).
    pub fn load(dir: &Path) -> Result<Self, LogError> {
        let path = dir.join(LEADER_EPOCH_CHECKPOINT);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e.into()),
        };
        let entries = if text.is_empty() {
            Vec::new()
        } else {
            parse(&text).map_err(|reason| {
                LogError::CorruptRecord(format!("{}: {reason}", path.display()))
            })?
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            entries,
        })
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The newest epoch, if any.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset`. An epoch at or below the latest
    /// one is already known and changes nothing (its first offset stays); an entry may
    /// not start before the latest one (that would be a log going backwards) and is
    /// refused. Persists before returning when something changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> Result<bool, LogError> {
        if epoch < 0 {
            return Ok(false);
        }
        if let Some(last) = self.entries.last() {
            if epoch <= last.epoch {
                return Ok(false);
            }
            if start_offset < last.start_offset {
                return Err(LogError::InvalidRecord(format!(
                    "epoch {epoch} at offset {start_offset} starts before epoch {} at {}",
                    last.epoch, last.start_offset
                )));
            }
        }
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        self.persist()?;
        Ok(true)
    }

    /// Kafka's `endOffsetFor`: the epoch at or below `epoch` this log knows and the
    /// offset where it ends (the next epoch's start, or `log_end` for the latest).
    /// `None` when every epoch here is newer than `epoch` (Kafka's UNDEFINED).
    pub fn end_offset_for(&self, epoch: i32, log_end: i64) -> Option<(i32, i64)> {
        let i = self.entries.iter().rposition(|e| e.epoch <= epoch)?;
        let end = self
            .entries
            .get(i + 1)
            .map_or(log_end, |next| next.start_offset);
        Some((self.entries[i].epoch, end))
    }

    /// Forgets epochs that start at or after `end_offset` (the log was truncated to it).
    pub fn truncate_from_end(&mut self, end_offset: i64) -> Result<(), LogError> {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        if self.entries.len() != before {
            self.persist()?;
        }
        Ok(())
    }

    /// Moves the first entries up to a new log start: epochs wholly below it go, the
    /// one it falls in now starts there.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> Result<(), LogError> {
        let keep_from = self
            .entries
            .iter()
            .rposition(|e| e.start_offset <= start_offset);
        let Some(i) = keep_from else {
            return Ok(());
        };
        if i == 0 && self.entries[0].start_offset == start_offset {
            return Ok(());
        }
        self.entries.drain(..i);
        self.entries[0].start_offset = start_offset;
        self.persist()
    }

    fn persist(&self) -> Result<(), LogError> {
        let mut text = format!("{VERSION}\n{}\n", self.entries.len());
        for e in &self.entries {
            text.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        atomic_write(&self.dir, LEADER_EPOCH_CHECKPOINT, text.as_bytes())?;
        Ok(())
    }
}

fn parse(text: &str) -> Result<Vec<EpochEntry>, String> {
    let mut lines = text.lines();
    let version: i32 = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or("no version line")?;
    if version != VERSION {
        return Err(format!("unknown version {version}"));
    }
    let n: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or("no entry count")?;
    let mut out: Vec<EpochEntry> = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let line = lines.next().ok_or("fewer entries than counted")?;
        let mut parts = line.split_whitespace();
        let (Some(e), Some(o), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("bad entry {line:?}"));
        };
        let entry = EpochEntry {
            epoch: e.parse().map_err(|_| format!("bad epoch {e:?}"))?,
            start_offset: o.parse().map_err(|_| format!("bad offset {o:?}"))?,
        };
        if out
            .last()
            .is_some_and(|l| entry.epoch <= l.epoch || entry.start_offset < l.start_offset)
        {
            return Err(format!("entry {line:?} out of order"));
        }
        out.push(entry);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn assigns_persists_and_answers_end_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(c.latest_epoch(), None);
        assert!(c.assign(0, 0).unwrap());
        assert!(
            !c.assign(0, 50).unwrap(),
            "a known epoch keeps its first offset"
        );
        assert!(c.assign(3, 100).unwrap());
        assert!(c.assign(5, 250).unwrap());
        assert!(c.assign(4, 300).is_ok_and(|changed| !changed));
        assert!(
            c.assign(6, 200).is_err(),
            "an epoch may not start before the latest"
        );
        // Kafka's file, byte for byte.
        let text = std::fs::read_to_string(dir.path().join(LEADER_EPOCH_CHECKPOINT)).unwrap();
        assert_eq!(text, "0\n3\n0 0\n3 100\n5 250\n");
        let c = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(c.end_offset_for(0, 400), Some((0, 100)));
        assert_eq!(c.end_offset_for(2, 400), Some((0, 100)));
        assert_eq!(c.end_offset_for(3, 400), Some((3, 250)));
        assert_eq!(c.end_offset_for(5, 400), Some((5, 400)));
        assert_eq!(c.end_offset_for(9, 400), Some((5, 400)));
        let mut later = LeaderEpochCache::load(dir.path()).unwrap();
        later.entries.remove(0);
        assert_eq!(later.end_offset_for(1, 400), None);
    }

    #[test]
    fn truncation_from_either_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::load(dir.path()).unwrap();
        for (e, o) in [(0, 0), (2, 100), (3, 200), (7, 300)] {
            c.assign(e, o).unwrap();
        }
        c.truncate_from_end(200).unwrap();
        assert_eq!(c.latest_epoch(), Some(2));
        c.truncate_from_start(150).unwrap();
        assert_eq!(
            c.entries(),
            &[EpochEntry {
                epoch: 2,
                start_offset: 150
            }]
        );
        let back = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(back.entries(), c.entries());
    }

    #[test]
    fn a_garbled_checkpoint_is_corrupt_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        for bad in [
            "1\n0\n",
            "0\n2\n0 0\n",
            "0\n1\nx 0\n",
            "0\n2\n3 5\n2 9\n",
            "0\n1\n0 0 0\n",
        ] {
            std::fs::write(dir.path().join(LEADER_EPOCH_CHECKPOINT), bad).unwrap();
            assert!(LeaderEpochCache::load(dir.path()).is_err(), "{bad:?}");
        }
    }

    proptest! {
        // Every assign is an fsynced file write: fewer cases keep this quick.
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn entries_stay_ascending_and_end_offsets_bound_each_epoch(
            steps in proptest::collection::vec((0i32..20, 0i64..1000), 0..30),
            cut in 0i64..1200,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut c = LeaderEpochCache::load(dir.path()).unwrap();
            let mut offset = 0;
            for (epoch, advance) in steps {
                offset += advance;
                let _ = c.assign(epoch, offset);
            }
            let _ = c.truncate_from_end(cut);
            let e = c.entries();
            for w in e.windows(2) {
                prop_assert!(w[0].epoch < w[1].epoch && w[0].start_offset <= w[1].start_offset);
            }
            prop_assert!(e.iter().all(|x| x.start_offset < cut));
            for x in e {
                let (epoch, end) = c.end_offset_for(x.epoch, i64::MAX).unwrap();
                prop_assert_eq!(epoch, x.epoch);
                prop_assert!(end >= x.start_offset);
            }
            let back = LeaderEpochCache::load(dir.path()).unwrap();
            prop_assert_eq!(back.entries(), c.entries());
        }
    }
}
