//! The control plane's gRPC services and the plumbing every caller of them shares.
//!
//! The code generated from `proto/` lives here ([`quorum`]), with the settings that
//! make every channel and server behave the same way: a deadline on every call, a
//! bound on every message in either direction, lazy connections that reconnect by
//! themselves after a peer restarts, and keep-alives so a dead peer is noticed. TLS
//! goes in [`RpcSettings`] when it comes: channels and servers are built only here.

use std::net::SocketAddr;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

/// The metadata quorum's Raft RPCs (`proto/quorum.proto`).
pub mod quorum {
    #![allow(clippy::all)]
    tonic::include_proto!("strata.quorum.v1");
}

/// Admin requests forwarded to the active controller (`proto/controller.proto`).
pub mod controller {
    #![allow(clippy::all)]
    tonic::include_proto!("strata.controller.v1");
}

pub use tonic::transport::server::TcpIncoming;
pub use tonic::{Code, Request, Response, Status};

/// How the control plane's channels and servers behave.
#[derive(Debug, Clone)]
pub struct RpcSettings {
    /// How long a connection attempt may take before the call fails (the caller backs
    /// off and retries; nothing waits on a dead address for the call's whole deadline).
    pub connect_timeout: Duration,
    /// The deadline of every call unless the caller sets a shorter one.
    pub request_timeout: Duration,
    /// The largest message either side encodes or accepts; larger ones are refused
    /// with RESOURCE_EXHAUSTED, never buffered.
    pub max_message_bytes: usize,
    /// HTTP/2 keep-alive pings on idle connections, so a peer that vanished without a
    /// FIN (SIGSTOP, a partition) is noticed.
    pub keep_alive: Duration,
}

impl Default for RpcSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_millis(500),
            request_timeout: Duration::from_secs(5),
            max_message_bytes: 16 << 20,
            keep_alive: Duration::from_secs(10),
        }
    }
}

/// Why a channel could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("bad control-plane address {addr}: {source}")]
    BadAddress {
        addr: String,
        #[source]
        source: tonic::transport::Error,
    },
}

/// A channel to `addr` (`host:port`). It connects on first use and again after any
/// failure, so a peer that restarts is reached again without rebuilding the channel.
pub fn channel(addr: &str, settings: &RpcSettings) -> Result<Channel, RpcError> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|source| RpcError::BadAddress {
            addr: addr.to_string(),
            source,
        })?
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.request_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(settings.keep_alive)
        .keep_alive_timeout(settings.keep_alive)
        .keep_alive_while_idle(false);
    Ok(endpoint.connect_lazy())
}

/// A client of the quorum service over `channel`, with the message bounds.
pub fn quorum_client(
    channel: Channel,
    settings: &RpcSettings,
) -> quorum::quorum_client::QuorumClient<Channel> {
    quorum::quorum_client::QuorumClient::new(channel)
        .max_decoding_message_size(settings.max_message_bytes)
        .max_encoding_message_size(settings.max_message_bytes)
}

/// The quorum service `svc`, with the message bounds, ready for [`server`].
pub fn quorum_server<S: quorum::quorum_server::Quorum>(
    svc: S,
    settings: &RpcSettings,
) -> quorum::quorum_server::QuorumServer<S> {
    quorum::quorum_server::QuorumServer::new(svc)
        .max_decoding_message_size(settings.max_message_bytes)
        .max_encoding_message_size(settings.max_message_bytes)
}

/// A client of the controller service over `channel`, with the message bounds.
pub fn controller_client(
    channel: Channel,
    settings: &RpcSettings,
) -> controller::controller_client::ControllerClient<Channel> {
    controller::controller_client::ControllerClient::new(channel)
        .max_decoding_message_size(settings.max_message_bytes)
        .max_encoding_message_size(settings.max_message_bytes)
}

/// The controller service `svc`, with the message bounds, ready for [`server`].
pub fn controller_server<S: controller::controller_server::Controller>(
    svc: S,
    settings: &RpcSettings,
) -> controller::controller_server::ControllerServer<S> {
    controller::controller_server::ControllerServer::new(svc)
        .max_decoding_message_size(settings.max_message_bytes)
        .max_encoding_message_size(settings.max_message_bytes)
}

/// A server builder with the deadline and keep-alives of `settings`; callers add
/// their services and serve on a listener they bound.
pub fn server(settings: &RpcSettings) -> tonic::transport::Server {
    tonic::transport::Server::builder()
        .timeout(settings.request_timeout)
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(settings.keep_alive))
        .http2_keepalive_timeout(Some(settings.keep_alive))
}

/// Binds `addr` for a control-plane server (port 0 picks one).
pub fn bind(addr: SocketAddr) -> std::io::Result<(TcpIncoming, SocketAddr)> {
    let std = std::net::TcpListener::bind(addr)?;
    std.set_nonblocking(true)?;
    let bound = std.local_addr()?;
    let listener = tokio::net::TcpListener::from_std(std)?;
    Ok((TcpIncoming::from(listener).with_nodelay(Some(true)), bound))
}
