//! Cache keys, encoded for foyer's disk tier.

use foyer::Code;

/// Chunk `index` (of `chunk_bytes` each) of the remote segment upload `segment`. The
/// chunk size is part of the key: the disk tier survives restarts, and a chunk cut at
/// another size must not be served after `remote.log.fetch.chunk.bytes` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ChunkKey {
    pub segment: u128,
    pub chunk_bytes: u64,
    pub index: u64,
}

impl Code for ChunkKey {
    fn encode(&self, w: &mut impl std::io::Write) -> foyer::Result<()> {
        self.segment.encode(w)?;
        self.chunk_bytes.encode(w)?;
        self.index.encode(w)
    }

    fn decode(r: &mut impl std::io::Read) -> foyer::Result<Self> {
        Ok(ChunkKey {
            segment: u128::decode(r)?,
            chunk_bytes: u64::decode(r)?,
            index: u64::decode(r)?,
        })
    }

    fn estimated_size(&self) -> usize {
        32
    }
}

/// One index (by its object suffix number) of a remote segment upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct IndexKey {
    pub segment: u128,
    pub kind: u8,
}

impl Code for IndexKey {
    fn encode(&self, w: &mut impl std::io::Write) -> foyer::Result<()> {
        self.segment.encode(w)?;
        self.kind.encode(w)
    }

    fn decode(r: &mut impl std::io::Read) -> foyer::Result<Self> {
        Ok(IndexKey {
            segment: u128::decode(r)?,
            kind: u8::decode(r)?,
        })
    }

    fn estimated_size(&self) -> usize {
        17
    }
}
