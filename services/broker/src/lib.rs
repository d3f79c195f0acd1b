//! The Kafka listener of a Strata node: framing, request routing, and one handler per
//! Kafka API key.
//!
//! This is the only crate that speaks the Kafka wire protocol (through the
//! `kafka-protocol` crate). Below it, `strata-replication`, `strata-metadata` and
//! `strata-log` take domain types; nothing below may import this crate.

mod config;
mod config_types;
mod connection;
mod context;
mod controller_node;
mod dispatch;
mod errors;
mod group_shell;
mod handlers;
mod lifecycle;
pub(crate) mod node;
mod publisher;
mod response_frame;
mod server;
mod state;
pub mod tiering;

pub use config::{BrokerConfig, ConfigProblem};
pub use controller_node::ControllerNode;
pub use dispatch::{decode_frame, Decoded, FrameError, SUPPORTED_APIS};
pub use node::format;
pub use server::{Broker, BrokerError};
