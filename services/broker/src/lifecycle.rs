//! A broker's life in a cluster, as Kafka's brokers live it: it registers with a fresh
//! incarnation id (so the controller tells it from the process before it), waits to be
//! unfenced before it serves, heartbeats every `broker.heartbeat.interval.ms` (a broker
//! whose heartbeats stop for `broker.session.timeout.ms` is fenced and loses its
//! leaderships), and on SIGTERM asks for a controlled shutdown, so its leaderships move
//! before it exits. A single node has nothing to heartbeat to and skips all but the
//! registration.

use std::time::{Duration, Instant};

use strata_metadata::{
    BrokerRegistrationRequest, CommitError, ControllerClient, ControllerError, Heartbeat,
    HeartbeatOutcome,
};
use tokio_util::sync::CancellationToken;

use crate::config::BrokerConfig;
use crate::state::{AdminError, BrokerState};

/// Between attempts while the quorum has no active controller, or while waiting to be
/// unfenced at start.
const RETRY: Duration = Duration::from_millis(200);

/// The registration this process sends.
pub(crate) fn registration(
    config: &BrokerConfig,
    advertised: &(String, i32),
    incarnation_id: [u8; 16],
) -> BrokerRegistrationRequest {
    BrokerRegistrationRequest::new(
        config.node_id,
        &advertised.0,
        advertised.1,
        config.broker_rack.clone(),
    )
    .with_incarnation(incarnation_id)
}

/// Registers this broker; on a cluster, waits (logging) until a quorum has an active
/// controller to take it, and while an earlier incarnation's session is still live.
pub(crate) async fn register(
    controller: &dyn ControllerClient,
    req: &BrokerRegistrationRequest,
) -> Result<(), AdminError> {
    let mut attempt = 0u32;
    loop {
        let e = match controller.register_broker(req).await {
            Ok(_) => return Ok(()),
            Err(CommitError::Quorum(e)) => e.to_string(),
            Err(CommitError::Rejected(e @ ControllerError::DuplicateBrokerRegistration(_))) => {
                e.to_string()
            }
            Err(e) => return Err(e.into()),
        };
        attempt += 1;
        if attempt % 25 == 1 {
            tracing::warn!(error = %e, "waiting to register this broker");
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// One heartbeat; an incarnation the controller does not know (it fenced and forgot
/// it, or a new controller lost it) registers again.
async fn beat(state: &BrokerState, want_shut_down: bool) -> Result<HeartbeatOutcome, AdminError> {
    let hb = Heartbeat {
        broker_id: state.node_id,
        incarnation_id: state.incarnation_id,
        applied_index: 0,
        want_shut_down,
    };
    let outcome = state.controller().heartbeat(hb).await?;
    if !outcome.known && !want_shut_down {
        tracing::warn!("the controller does not know this broker's incarnation: registering again");
        let req = registration(&state.config, &state.advertised, state.incarnation_id);
        state.controller().register_broker(&req).await?;
    }
    Ok(outcome)
}

/// At start on a cluster: heartbeats until the controller unfences this broker (it has
/// applied the metadata up to its registration).
pub(crate) async fn wait_unfenced(state: &BrokerState) {
    let mut attempt = 0u32;
    loop {
        match beat(state, false).await {
            Ok(o) if o.known && !o.fenced => {
                tracing::info!("broker unfenced by the controller");
                return;
            }
            Ok(_) => {}
            Err(e) => {
                attempt += 1;
                if attempt % 25 == 1 {
                    tracing::warn!(error = %e, "waiting for the controller to unfence this broker");
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Heartbeats until `stop`; logs changes of the state the controller reports.
pub(crate) async fn heartbeats(state: std::sync::Arc<BrokerState>, stop: CancellationToken) {
    let every = Duration::from_millis(state.config.broker_heartbeat_interval_ms.max(10) as u64);
    let mut fenced = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
        match beat(&state, false).await {
            Ok(o) => {
                if o.fenced != fenced {
                    if o.fenced {
                        tracing::warn!("the controller fenced this broker (a missed session): its leaderships moved");
                    } else {
                        tracing::info!("broker unfenced by the controller");
                    }
                    fenced = o.fenced;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "heartbeat failed; retrying at the next interval")
            }
        }
    }
}

/// SIGTERM on a cluster: asks the controller to move this broker's leaderships away
/// and waits until it answers that the broker may stop, at most
/// `broker.session.timeout.ms` (after which the controller fences it anyway).
pub(crate) async fn controlled_shutdown(state: &BrokerState) {
    let limit = Duration::from_millis(state.config.broker_session_timeout_ms.max(10) as u64);
    let deadline = Instant::now() + limit;
    loop {
        match beat(state, true).await {
            Ok(o) if o.should_shut_down || !o.known => {
                tracing::info!("controlled shutdown: leaderships moved off this broker");
                return;
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "controlled shutdown heartbeat failed"),
        }
        if Instant::now() >= deadline {
            tracing::warn!(
                "controlled shutdown did not finish within {limit:?}; stopping anyway \
                 (leaderships move when the session expires)"
            );
            return;
        }
        tokio::time::sleep(RETRY).await;
    }
}
