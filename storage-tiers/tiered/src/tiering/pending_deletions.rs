//! The node's list of partitions whose remote data is still to be deleted, kept in a
//! file in the data directory. A topic's name is recorded here (fsynced) before its
//! deletion commits, so a crash between the commit and the purge never leaves its
//! objects behind with no one to remove them.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use strata_remote::{TopicId, TopicIdPartition};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Entry {
    /// Hyphenated.
    topic_id: String,
    topic: String,
    partition: i32,
}

/// The partitions listed in `path` (none if the file is missing or unreadable).
pub(super) fn load(path: &Path) -> Vec<TopicIdPartition> {
    read(path)
        .into_iter()
        .filter_map(|e| {
            Some(TopicIdPartition::new(
                TopicId::from(Uuid::parse_str(&e.topic_id).ok()?),
                e.topic,
                e.partition,
            ))
        })
        .collect()
}

/// Adds `add` and removes `remove` from the list in `path`, durably.
pub(super) fn update(
    path: &Path,
    add: &[TopicIdPartition],
    remove: &[TopicIdPartition],
) -> std::io::Result<()> {
    let mut all = read(path);
    let entry = |tp: &TopicIdPartition| Entry {
        topic_id: tp.topic_id.to_string(),
        topic: tp.topic().to_string(),
        partition: tp.partition(),
    };
    all.extend(add.iter().map(entry));
    for tp in remove {
        all.remove(&entry(tp));
    }
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(
            &all.into_iter().collect::<Vec<_>>(),
        )?)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn read(path: &Path) -> BTreeSet<Entry> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice::<Vec<Entry>>(&bytes)
            .map(|v| v.into_iter().collect())
            .unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "unreadable list of pending remote deletions; ignored");
                BTreeSet::new()
            }),
        Err(_) => BTreeSet::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_added_and_removed_durably() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pending.json");
        assert!(load(&path).is_empty());
        let tp = |p| TopicIdPartition::new(TopicId::from(Uuid::from_u128(7)), "t", p);
        update(&path, &[tp(0), tp(1)], &[]).unwrap();
        update(&path, &[tp(1)], &[tp(0)]).unwrap();
        assert_eq!(load(&path), vec![tp(1)]);
        std::fs::write(&path, b"garbage").unwrap();
        assert!(load(&path).is_empty());
    }
}
