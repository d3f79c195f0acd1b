//! Reads of remote segments for Fetch and ListOffsets: fixed-size chunks of segment
//! data through a foyer `HybridCache` (memory, then local disk), indexes through a
//! memory cache, parallel read-ahead for sequential readers, and limits of their own
//! (concurrent GETs, bytes per second) so historical readers cannot starve produce.
//!
//! Concurrent readers of one chunk share one GET (foyer's `get_or_fetch`). Chunks are
//! keyed by the segment's upload id, which is never reused, so a cached chunk is never
//! stale.

mod chunk_key;
mod cursor;
mod error;
mod reader;

pub use error::CacheError;
pub use reader::{CacheOptions, ReaderStats, RemoteReader};
