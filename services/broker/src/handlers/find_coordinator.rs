//! FindCoordinator: this node coordinates every group (single node); transaction
//! coordinators are not available yet.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::dispatch::RequestContext;
use crate::state::BrokerState;

const KEY_TYPE_GROUP: i8 = 0;

pub async fn handle(
    state: &BrokerState,
    ctx: &RequestContext,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let (host, port) = &state.advertised;
    let answer = |key: StrBytes| -> (i16, Option<String>) {
        if req.key_type != KEY_TYPE_GROUP {
            return (
                ResponseError::CoordinatorNotAvailable.code(),
                Some("transactions are not supported yet".into()),
            );
        }
        if key.is_empty() {
            return (
                ResponseError::InvalidRequest.code(),
                Some("empty group id".into()),
            );
        }
        (0, None)
    };
    if ctx.api_version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|k| {
                let (code, msg) = answer(k.clone());
                let c = Coordinator::default()
                    .with_key(k.clone())
                    .with_error_code(code)
                    .with_error_message(msg.map(str_bytes));
                if code == 0 {
                    c.with_node_id(BrokerId(state.node_id))
                        .with_host(str_bytes(host.clone()))
                        .with_port(*port)
                } else {
                    c.with_node_id(BrokerId(-1)).with_port(-1)
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let (code, msg) = answer(req.key.clone());
    let resp = FindCoordinatorResponse::default().with_error_code(code);
    let resp = if ctx.api_version >= 1 {
        resp.with_error_message(msg.map(str_bytes))
    } else {
        resp
    };
    if code == 0 {
        resp.with_node_id(BrokerId(state.node_id))
            .with_host(str_bytes(host.clone()))
            .with_port(*port)
    } else {
        resp.with_node_id(BrokerId(-1)).with_port(-1)
    }
}
