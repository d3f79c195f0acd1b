//! The quorum as a controller's metadata log: validate against the committed image,
//! commit through Raft.

use std::sync::Arc;

use super::{Quorum, QuorumError};
use crate::controller::ControllerError;
use crate::controller_client::{CommitError, Committed, MetadataLog};
use crate::image::MetadataImage;
use crate::records::MetadataRecord;
use crate::MetadataError;

/// Commits through the quorum. Only the leader commits: a write here on another node
/// is refused with [`QuorumError::NotLeader`] (the caller forwards it).
pub struct QuorumLog {
    quorum: Arc<Quorum>,
    /// One write at a time on this node, so each validates against the image the
    /// previous one left (Kafka's controller is single-threaded for the same reason).
    writes: tokio::sync::Mutex<()>,
}

impl QuorumLog {
    pub fn new(quorum: Arc<Quorum>) -> Self {
        Self {
            quorum,
            writes: tokio::sync::Mutex::new(()),
        }
    }

    pub fn quorum(&self) -> &Arc<Quorum> {
        &self.quorum
    }
}

#[async_trait::async_trait]
impl MetadataLog for QuorumLog {
    fn image(&self) -> Arc<MetadataImage> {
        self.quorum.image()
    }

    async fn apply<T: Send>(
        &self,
        validate_only: bool,
        f: impl for<'i> FnOnce(&'i MetadataImage) -> Result<(T, Vec<MetadataRecord>), ControllerError>
            + Send,
    ) -> Result<Committed<T>, CommitError> {
        let _one = self.writes.lock().await;
        // Everything committed before (by this leader or an earlier one) is applied
        // here before the request is validated against the image.
        let image = self.quorum.linearize().await?;
        let (value, records) = f(&image)?;
        if validate_only || records.is_empty() {
            return Ok(Committed { value, image });
        }
        match self.quorum.write(records).await? {
            None => Ok(Committed {
                value,
                image: self.quorum.image(),
            }),
            // Validated against the same image, so this is a bug, and loud: every
            // node refused it alike and nothing of it was applied.
            Some(why) => Err(CommitError::Log(MetadataError::invalid(why))),
        }
    }
}

impl From<QuorumError> for CommitError {
    fn from(e: QuorumError) -> Self {
        CommitError::Quorum(e)
    }
}
