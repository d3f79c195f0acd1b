//! Sparse segment indexes: one [`SparseIndex`] type, as the offset index (`.index`)
//! and the time index (`.timeindex`). Entries are kept in memory and appended to the file; the
//! file is never preallocated, so its length is always a whole number of entries
//! unless a crash tore the last write (then the index is rebuilt on open).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const OFFSET_ENTRY: usize = 8;

/// One fixed-size entry of a sparse index, big-endian on disk.
pub(crate) trait IndexEntry: Copy + PartialEq + std::fmt::Debug {
    /// Bytes per entry in the file.
    const SIZE: usize;
    fn decode(b: &[u8]) -> Self;
    fn encode(&self, out: &mut [u8]);
    /// Whether `self` may follow `prev` when appended (a non-advancing entry is
    /// skipped, not an error: it adds nothing to a sparse index).
    fn advances(&self, prev: &Self) -> bool;
    /// Whether `self` may follow `prev` in a well-formed file.
    fn well_formed_after(&self, prev: &Self) -> bool;
}

/// Offset index entries: (relative offset of a batch's last offset, byte position of
/// the batch start), both strictly increasing.
impl IndexEntry for (u32, u32) {
    const SIZE: usize = OFFSET_ENTRY;
    fn decode(c: &[u8]) -> Self {
        (
            u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
            u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
        )
    }
    fn encode(&self, out: &mut [u8]) {
        out[..4].copy_from_slice(&self.0.to_be_bytes());
        out[4..8].copy_from_slice(&self.1.to_be_bytes());
    }
    fn advances(&self, prev: &Self) -> bool {
        self.0 > prev.0 && self.1 > prev.1
    }
    fn well_formed_after(&self, prev: &Self) -> bool {
        self.advances(prev)
    }
}

/// Time index entries: (max timestamp so far, relative offset of the last offset of
/// the batch that first reached it); timestamps strictly increasing.
impl IndexEntry for (i64, u32) {
    const SIZE: usize = TIME_ENTRY;
    fn decode(c: &[u8]) -> Self {
        let mut t = [0u8; 8];
        t.copy_from_slice(&c[..8]);
        (
            i64::from_be_bytes(t),
            u32::from_be_bytes([c[8], c[9], c[10], c[11]]),
        )
    }
    fn encode(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.0.to_be_bytes());
        out[8..12].copy_from_slice(&self.1.to_be_bytes());
    }
    fn advances(&self, prev: &Self) -> bool {
        self.0 > prev.0
    }
    fn well_formed_after(&self, prev: &Self) -> bool {
        self.0 > prev.0 && self.1 >= prev.1
    }
}

/// The last entry of sorted `entries` (`n` of them, the i-th from `entry(i)`) whose key
/// satisfies `below`, by binary search.
fn last_below<E>(n: usize, entry: impl Fn(usize) -> E, below: impl Fn(&E) -> bool) -> Option<E> {
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if below(&entry(mid)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    (lo > 0).then(|| entry(lo - 1))
}

/// Entries of an index file's bytes (a remote segment's, fetched whole), whole ones only.
fn entries_of<E: IndexEntry>(index: &[u8]) -> (usize, impl Fn(usize) -> E + '_) {
    (index.len() / E::SIZE, move |i| {
        E::decode(&index[i * E::SIZE..(i + 1) * E::SIZE])
    })
}

/// [`OffsetIndex::lookup`] over the bytes of an `.index` file (a remote segment's,
/// fetched whole): the byte position from which to scan for relative offset `rel`.
pub fn offset_index_lookup(index: &[u8], rel: u32) -> u32 {
    let (n, entry) = entries_of::<(u32, u32)>(index);
    last_below(n, entry, |e| e.0 <= rel).map_or(0, |e| e.1)
}

/// [`TimeIndex::lookup_before`] over the bytes of a `.timeindex` file: the relative
/// offset of the last entry with a timestamp below `ts`, if any.
pub fn time_index_lookup(index: &[u8], ts: i64) -> Option<u32> {
    let (n, entry) = entries_of::<(i64, u32)>(index);
    last_below(n, entry, |e| e.0 < ts).map(|e| e.1)
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

/// A sparse index: entries kept in memory and appended to its file.
#[derive(Debug)]
pub(crate) struct SparseIndex<E: IndexEntry> {
    path: PathBuf,
    file: File,
    pub(crate) entries: Vec<E>,
    max_entries: usize,
}

/// The offset index (`.index`).
pub(crate) type OffsetIndex = SparseIndex<(u32, u32)>;
/// The time index (`.timeindex`).
pub(crate) type TimeIndex = SparseIndex<(i64, u32)>;

impl<E: IndexEntry> SparseIndex<E> {
    /// Opens (or creates) the index file and loads its entries. Returns the index and
    /// whether the file was well formed (whole entries, in order, each accepted by
    /// `valid`); a malformed index must be rebuilt.
    fn open_checked(
        path: &Path,
        max_bytes: u64,
        valid: impl Fn(&E) -> bool,
    ) -> std::io::Result<(Self, bool)> {
        let mut file = open_rw(path)?;
        let raw = read_all(&mut file)?;
        let mut ok = raw.len() % E::SIZE == 0;
        let mut entries: Vec<E> = Vec::with_capacity(raw.len() / E::SIZE);
        for c in raw.chunks_exact(E::SIZE) {
            let e = E::decode(c);
            if entries
                .last()
                .is_some_and(|prev| !e.well_formed_after(prev))
                || !valid(&e)
            {
                ok = false;
            }
            entries.push(e);
        }
        let idx = SparseIndex {
            path: path.to_path_buf(),
            file,
            entries,
            max_entries: ((max_bytes as usize) / E::SIZE).max(1),
        };
        Ok((idx, ok))
    }

    /// Appends `e` unless it does not advance past the last entry.
    fn push(&mut self, e: E) -> std::io::Result<()> {
        if self.entries.last().is_some_and(|prev| !e.advances(prev)) {
            return Ok(());
        }
        let mut buf = [0u8; 16];
        e.encode(&mut buf[..E::SIZE]);
        self.file.write_all(&buf[..E::SIZE])?;
        self.entries.push(e);
        Ok(())
    }

    /// The last entry, if any.
    pub(crate) fn last(&self) -> Option<E> {
        self.entries.last().copied()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.entries.len() >= self.max_entries
    }

    pub(crate) fn set_max_bytes(&mut self, max_bytes: u64) {
        self.max_entries = ((max_bytes as usize) / E::SIZE).max(1);
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

impl SparseIndex<(u32, u32)> {
    /// Opens the offset index of a segment of `segment_size` bytes (positions past it
    /// make the file malformed).
    pub(crate) fn open(
        path: &Path,
        max_bytes: u64,
        segment_size: u64,
    ) -> std::io::Result<(Self, bool)> {
        Self::open_checked(path, max_bytes, |e| u64::from(e.1) < segment_size)
    }

    pub(crate) fn append(&mut self, rel: u32, pos: u32) -> std::io::Result<()> {
        self.push((rel, pos))
    }

    /// Byte position from which to scan for relative offset `rel`: the start of the
    /// last indexed batch whose last offset is <= `rel`, else 0.
    pub(crate) fn lookup(&self, rel: u32) -> u32 {
        let n = self.entries.partition_point(|&(r, _)| r <= rel);
        if n == 0 {
            0
        } else {
            self.entries[n - 1].1
        }
    }
}

impl SparseIndex<(i64, u32)> {
    /// Opens the time index.
    pub(crate) fn open(path: &Path, max_bytes: u64) -> std::io::Result<(Self, bool)> {
        Self::open_checked(path, max_bytes, |_| true)
    }

    pub(crate) fn append(&mut self, ts: i64, rel: u32) -> std::io::Result<()> {
        self.push((ts, rel))
    }

    /// Relative offset of the last entry whose timestamp is < `ts`: every record at or
    /// before that offset has a timestamp < `ts`.
    pub(crate) fn lookup_before(&self, ts: i64) -> Option<u32> {
        let n = self.entries.partition_point(|&(t, _)| t < ts);
        if n == 0 {
            None
        } else {
            Some(self.entries[n - 1].1)
        }
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
