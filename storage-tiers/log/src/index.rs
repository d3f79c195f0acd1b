//! Sparse segment indexes: the offset index (`.index`) and the time index
//! (`.timeindex`). Entries are kept in memory and appended to the file; the
//! file is never preallocated, so its length is always a whole number of entries
//! unless a crash tore the last write (then the index is rebuilt on open).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const OFFSET_ENTRY: usize = 8;

/// [`OffsetIndex::lookup`] over the bytes of an `.index` file (a remote segment's,
/// fetched whole): the byte position from which to scan for relative offset `rel`.
pub fn offset_index_lookup(index: &[u8], rel: u32) -> u32 {
    let entry = |i: usize| {
        let c = &index[i * OFFSET_ENTRY..(i + 1) * OFFSET_ENTRY];
        (
            u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
            u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
        )
    };
    let n = index.len() / OFFSET_ENTRY;
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if entry(mid).0 <= rel {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if lo == 0 {
        0
    } else {
        entry(lo - 1).1
    }
}

/// [`TimeIndex::lookup_before`] over the bytes of a `.timeindex` file: the relative
/// offset of the last entry with a timestamp below `ts`, if any.
pub fn time_index_lookup(index: &[u8], ts: i64) -> Option<u32> {
    let entry = |i: usize| {
        let c = &index[i * TIME_ENTRY..(i + 1) * TIME_ENTRY];
        let mut t = [0u8; 8];
        t.copy_from_slice(&c[..8]);
        (
            i64::from_be_bytes(t),
            u32::from_be_bytes([c[8], c[9], c[10], c[11]]),
        )
    };
    let n = index.len() / TIME_ENTRY;
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if entry(mid).0 < ts {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    (lo > 0).then(|| entry(lo - 1).1)
}
const TIME_ENTRY: usize = 12;

fn open_rw(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
}

fn read_all(file: &mut File) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    Ok(buf)
}

/// Offset index: (relative offset of a batch's last offset, byte position of
/// the batch start), both u32, strictly increasing.
#[derive(Debug)]
pub(crate) struct OffsetIndex {
    path: PathBuf,
    file: File,
    entries: Vec<(u32, u32)>,
    max_entries: usize,
}

impl OffsetIndex {
    /// Opens (or creates) the index file and loads its entries. Returns the
    /// index and whether the file was well formed (whole entries, increasing,
    /// positions below `segment_size`); a malformed index must be rebuilt.
    pub(crate) fn open(
        path: &Path,
        max_bytes: u64,
        segment_size: u64,
    ) -> std::io::Result<(Self, bool)> {
        let mut file = open_rw(path)?;
        let raw = read_all(&mut file)?;
        let mut ok = raw.len() % OFFSET_ENTRY == 0;
        let mut entries = Vec::with_capacity(raw.len() / OFFSET_ENTRY);
        for c in raw.chunks_exact(OFFSET_ENTRY) {
            let rel = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            let pos = u32::from_be_bytes([c[4], c[5], c[6], c[7]]);
            if let Some(&(lr, lp)) = entries.last() {
                if rel <= lr || pos <= lp {
                    ok = false;
                }
            }
            if u64::from(pos) >= segment_size {
                ok = false;
            }
            entries.push((rel, pos));
        }
        let idx = OffsetIndex {
            path: path.to_path_buf(),
            file,
            entries,
            max_entries: ((max_bytes as usize) / OFFSET_ENTRY).max(1),
        };
        Ok((idx, ok))
    }

    pub(crate) fn append(&mut self, rel: u32, pos: u32) -> std::io::Result<()> {
        if let Some(&(lr, lp)) = self.entries.last() {
            if rel <= lr || pos <= lp {
                return Ok(());
            }
        }
        let mut e = [0u8; OFFSET_ENTRY];
        e[..4].copy_from_slice(&rel.to_be_bytes());
        e[4..].copy_from_slice(&pos.to_be_bytes());
        self.file.write_all(&e)?;
        self.entries.push((rel, pos));
        Ok(())
    }

    /// Byte position from which to scan for relative offset `rel`: the start
    /// of the last indexed batch whose last offset is <= `rel`, else 0.
    pub(crate) fn lookup(&self, rel: u32) -> u32 {
        let n = self.entries.partition_point(|&(r, _)| r <= rel);
        if n == 0 {
            0
        } else {
            self.entries[n - 1].1
        }
    }

    /// The last entry, if any.
    pub(crate) fn last(&self) -> Option<(u32, u32)> {
        self.entries.last().copied()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.entries.len() >= self.max_entries
    }

    pub(crate) fn set_max_bytes(&mut self, max_bytes: u64) {
        self.max_entries = ((max_bytes as usize) / OFFSET_ENTRY).max(1);
    }

    /// Drops every entry (before a rebuild).
    pub(crate) fn clear(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.entries.clear();
        Ok(())
    }

    pub(crate) fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Time index: (max timestamp so far, relative offset of the last offset of
/// the batch that first reached it); timestamps strictly increasing.
#[derive(Debug)]
pub(crate) struct TimeIndex {
    path: PathBuf,
    file: File,
    entries: Vec<(i64, u32)>,
    max_entries: usize,
}

impl TimeIndex {
    /// Like [`OffsetIndex::open`]: returns whether the file is well formed.
    pub(crate) fn open(path: &Path, max_bytes: u64) -> std::io::Result<(Self, bool)> {
        let mut file = open_rw(path)?;
        let raw = read_all(&mut file)?;
        let mut ok = raw.len() % TIME_ENTRY == 0;
        let mut entries: Vec<(i64, u32)> = Vec::with_capacity(raw.len() / TIME_ENTRY);
        for c in raw.chunks_exact(TIME_ENTRY) {
            let mut t = [0u8; 8];
            t.copy_from_slice(&c[..8]);
            let ts = i64::from_be_bytes(t);
            let rel = u32::from_be_bytes([c[8], c[9], c[10], c[11]]);
            if let Some(&(lt, lr)) = entries.last() {
                if ts <= lt || rel < lr {
                    ok = false;
                }
            }
            entries.push((ts, rel));
        }
        let idx = TimeIndex {
            path: path.to_path_buf(),
            file,
            entries,
            max_entries: ((max_bytes as usize) / TIME_ENTRY).max(1),
        };
        Ok((idx, ok))
    }

    pub(crate) fn append(&mut self, ts: i64, rel: u32) -> std::io::Result<()> {
        if let Some(&(lt, _)) = self.entries.last() {
            if ts <= lt {
                return Ok(());
            }
        }
        let mut e = [0u8; TIME_ENTRY];
        e[..8].copy_from_slice(&ts.to_be_bytes());
        e[8..].copy_from_slice(&rel.to_be_bytes());
        self.file.write_all(&e)?;
        self.entries.push((ts, rel));
        Ok(())
    }

    /// Relative offset of the last entry whose timestamp is < `ts`: every
    /// record at or before that offset has a timestamp < `ts`.
    pub(crate) fn lookup_before(&self, ts: i64) -> Option<u32> {
        let n = self.entries.partition_point(|&(t, _)| t < ts);
        if n == 0 {
            None
        } else {
            Some(self.entries[n - 1].1)
        }
    }

    pub(crate) fn last(&self) -> Option<(i64, u32)> {
        self.entries.last().copied()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.entries.len() >= self.max_entries
    }

    pub(crate) fn set_max_bytes(&mut self, max_bytes: u64) {
        self.max_entries = ((max_bytes as usize) / TIME_ENTRY).max(1);
    }

    pub(crate) fn clear(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.entries.clear();
        Ok(())
    }

    pub(crate) fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn offset_lookup_matches_linear_scan(
            deltas in proptest::collection::vec((1u32..100, 1u32..5000), 0..200),
            targets in proptest::collection::vec(0u32..30_000, 1..50),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("x.index");
            let (mut idx, ok) = OffsetIndex::open(&path, 1 << 20, u64::MAX).unwrap();
            prop_assert!(ok);
            let (mut r, mut p) = (0u32, 0u32);
            let mut model = Vec::new();
            for (dr, dp) in deltas {
                r += dr;
                p += dp;
                idx.append(r, p).unwrap();
                model.push((r, p));
            }
            for t in targets {
                let expect = model.iter().filter(|(rr, _)| *rr <= t).map(|(_, pp)| *pp).next_back().unwrap_or(0);
                prop_assert_eq!(idx.lookup(t), expect);
            }
            // Reload from disk gives the same answers.
            let (idx2, ok2) = OffsetIndex::open(&path, 1 << 20, u64::MAX).unwrap();
            prop_assert!(ok2);
            prop_assert_eq!(idx2.entries.clone(), model);
        }

        #[test]
        fn time_lookup_matches_linear_scan(
            deltas in proptest::collection::vec((1i64..100, 0u32..50), 0..200),
            targets in proptest::collection::vec(-10i64..20_000, 1..50),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("x.timeindex");
            let (mut idx, _) = TimeIndex::open(&path, 1 << 20).unwrap();
            let (mut t, mut r) = (0i64, 0u32);
            let mut model = Vec::new();
            for (dt, dr) in deltas {
                t += dt;
                r += dr;
                idx.append(t, r).unwrap();
                model.push((t, r));
            }
            for target in targets {
                let expect = model.iter().filter(|(tt, _)| *tt < target).map(|(_, rr)| *rr).next_back();
                prop_assert_eq!(idx.lookup_before(target), expect);
            }
        }
    }

    #[test]
    fn torn_index_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        std::fs::write(&path, [0u8; 7]).unwrap();
        let (_, ok) = OffsetIndex::open(&path, 1 << 20, 100).unwrap();
        assert!(!ok);
    }

    #[test]
    fn fullness() {
        let dir = tempfile::tempdir().unwrap();
        let (mut idx, _) = OffsetIndex::open(&dir.path().join("a.index"), 16, u64::MAX).unwrap();
        idx.append(1, 1).unwrap();
        assert!(!idx.is_full());
        idx.append(2, 2).unwrap();
        assert!(idx.is_full());
    }
}
