//! FindCoordinator: this node coordinates every group (single node); transaction
//! coordinators are not available yet.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::context::ClusterView;
use crate::dispatch::RequestContext;

const KEY_TYPE_GROUP: i8 = 0;

pub async fn handle(
    state: &impl ClusterView,
    ctx: &RequestContext,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let (host, port) = state.advertised();
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
                    c.with_node_id(BrokerId(state.node_id()))
                        .with_host(str_bytes(host.to_string()))
                        .with_port(port)
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
        resp.with_node_id(BrokerId(state.node_id()))
            .with_host(str_bytes(host.to_string()))
            .with_port(port)
    } else {
        resp.with_node_id(BrokerId(-1)).with_port(-1)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use strata_metadata::MetadataImage;

    use super::*;

    /// A node seen only through its cluster view: no logs, no groups, no controller.
    struct Node;

    impl ClusterView for Node {
        fn image(&self) -> Arc<MetadataImage> {
            Arc::new(MetadataImage::default())
        }
        fn node_id(&self) -> i32 {
            7
        }
        fn advertised(&self) -> (&str, i32) {
            ("kafka.example", 19092)
        }
        fn cluster_id(&self) -> &str {
            "c1"
        }
    }

    fn ctx(api_version: i16) -> RequestContext {
        RequestContext {
            api_version,
            client_id: String::new(),
            client_host: String::new(),
        }
    }

    #[tokio::test]
    async fn batched_keys_are_answered_one_by_one() {
        let req = FindCoordinatorRequest::default()
            .with_key_type(KEY_TYPE_GROUP)
            .with_coordinator_keys(vec![str_bytes("g1"), str_bytes("")]);
        let resp = handle(&Node, &ctx(4), req).await;
        let [ok, empty] = resp.coordinators.as_slice() else {
            panic!("two keys, two answers: {resp:?}");
        };
        assert_eq!((ok.error_code, ok.node_id.0, ok.port), (0, 7, 19092));
        assert_eq!(ok.host.as_str(), "kafka.example");
        assert_eq!(empty.error_code, ResponseError::InvalidRequest.code());
        assert_eq!((empty.node_id.0, empty.port), (-1, -1));
    }

    #[tokio::test]
    async fn transaction_coordinators_are_not_available_yet() {
        let req = FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_key(str_bytes("txn"));
        let resp = handle(&Node, &ctx(3), req).await;
        assert_eq!(
            resp.error_code,
            ResponseError::CoordinatorNotAvailable.code()
        );
        assert_eq!(resp.node_id.0, -1);
    }
}
