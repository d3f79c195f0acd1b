//! One client connection: length-prefixed frames in, responses out in request order.
//!
//! Requests of one connection are handled one at a time, in order, as Kafka does (it
//! mutes a channel while a request is in flight); that keeps an idempotent producer's
//! pipelined batches in sequence. Reading the next frame and writing earlier responses
//! overlap with handling.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::dispatch::handle_frame;
use crate::response_frame::ResponseFrame;
use crate::state::BrokerState;

/// Responses that may wait for the socket before handling pauses.
const RESPONSE_QUEUE: usize = 16;

/// Serves one connection until the peer closes it, sends something unparseable, or the
/// node shuts down. Never panics on input.
pub async fn serve(
    stream: TcpStream,
    state: Arc<BrokerState>,
    request_bytes: Arc<Semaphore>,
    shutdown: CancellationToken,
) {
    let peer = stream.peer_addr().ok();
    let _ = stream.set_nodelay(true);
    let (mut rd, wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<ResponseFrame>(RESPONSE_QUEUE);
    let writer = tokio::spawn(async move {
        // Small frames are coalesced in the buffer; large record buffers bypass it.
        let mut wr = BufWriter::with_capacity(64 * 1024, wr);
        while let Some(first) = rx.recv().await {
            if write_frame(&mut wr, &first).await.is_err() {
                return;
            }
            // Coalesce whatever else is ready into one flush.
            while let Ok(more) = rx.try_recv() {
                if write_frame(&mut wr, &more).await.is_err() {
                    return;
                }
            }
            if wr.flush().await.is_err() {
                return;
            }
        }
        let _ = wr.shutdown().await;
    });
    let max_frame = state.config.socket_request_max_bytes.max(0) as usize;
    let total_permits = state.config.queued_max_request_bytes.max(1) as usize;
    loop {
        let mut len_buf = [0u8; 4];
        let read = tokio::select! {
            r = rd.read_exact(&mut len_buf) => r,
            _ = shutdown.cancelled() => break,
        };
        if read.is_err() {
            break;
        }
        let len = i32::from_be_bytes(len_buf);
        if len < 0 || len as usize > max_frame {
            tracing::info!(
                ?peer,
                len,
                max_frame,
                "closing connection: request size out of bounds"
            );
            break;
        }
        let len = len as usize;
        // Bound the bytes held by requests being read or handled across all connections.
        let permits = len.clamp(1, total_permits) as u32;
        let Ok(_permit) = request_bytes.clone().acquire_many_owned(permits).await else {
            break;
        };
        let Some(frame) = read_frame(&mut rd, len).await else {
            tracing::debug!(?peer, "connection closed mid-frame");
            break;
        };
        match handle_frame(&state, frame, peer).await {
            Ok(Some(resp)) => {
                if tx.send(resp).await.is_err() {
                    break;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::info!(?peer, error = %e, "closing connection");
                break;
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Bytes handed to the socket at a time. A multi-megabyte write is one long stretch
/// of kernel work (on loopback the receiving side runs in it too) during which this
/// worker serves nobody else; written in slices with a yield between them, a large
/// Fetch answer no longer holds up small requests of other connections.
const WRITE_SLICE: usize = 256 << 10;

async fn write_frame<W: tokio::io::AsyncWrite + Unpin>(
    wr: &mut W,
    frame: &ResponseFrame,
) -> std::io::Result<()> {
    for part in frame.parts() {
        if part.len() <= WRITE_SLICE {
            wr.write_all(part).await?;
            continue;
        }
        for piece in part.chunks(WRITE_SLICE) {
            wr.write_all(piece).await?;
            tokio::task::yield_now().await;
        }
    }
    Ok(())
}

/// Reads exactly `len` bytes into a fresh buffer (not zero-filled first: a 1 MiB produce
/// request would otherwise be written twice). `None` if the peer closes first.
async fn read_frame<R: tokio::io::AsyncRead + Unpin>(rd: &mut R, len: usize) -> Option<Bytes> {
    use bytes::BufMut;
    let mut frame = BytesMut::with_capacity(len);
    while frame.len() < len {
        let want = len - frame.len();
        match rd.read_buf(&mut (&mut frame).limit(want)).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
    Some(frame.freeze())
}
