//! FindCoordinator: a group's coordinator is the leader of its `__consumer_offsets`
//! partition; transaction coordinators are not available yet.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::context::ClusterView;
use crate::dispatch::RequestContext;
use crate::group_shell::OFFSETS_TOPIC;

const KEY_TYPE_GROUP: i8 = 0;

/// The coordinator of group `key`: the leader of its `__consumer_offsets` partition
/// (`abs(hashCode(group)) % partitions`, as Kafka places groups), or why none can be
/// named.
fn coordinator(
    state: &impl ClusterView,
    key_type: i8,
    key: &str,
) -> Result<(i32, String, i32), (i16, String)> {
    if key_type != KEY_TYPE_GROUP {
        return Err((
            ResponseError::CoordinatorNotAvailable.code(),
            "transactions are not supported yet".into(),
        ));
    }
    if key.is_empty() {
        return Err((
            ResponseError::InvalidRequest.code(),
            "empty group id".into(),
        ));
    }
    let (host, port) = state.advertised();
    let me = (state.node_id(), host.to_string(), port);
    let image = state.image();
    let Some(offsets) = image.topic(OFFSETS_TOPIC) else {
        return Ok(me);
    };
    let p = strata_groups::partition_for(key, offsets.partitions.len() as i32);
    let unavailable = || {
        (
            ResponseError::CoordinatorNotAvailable.code(),
            format!("{OFFSETS_TOPIC}-{p} has no leader"),
        )
    };
    let leader = offsets
        .partitions
        .get(&p)
        .map(|i| i.leader)
        .ok_or_else(unavailable)?;
    if leader == state.node_id() {
        return Ok(me);
    }
    image
        .broker(leader)
        .map(|b| (b.id, b.host.clone(), b.port))
        .ok_or_else(unavailable)
}

pub async fn handle(
    state: &impl ClusterView,
    ctx: &RequestContext,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    if ctx.api_version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|k| {
                let c = Coordinator::default().with_key(k.clone());
                match coordinator(state, req.key_type, k) {
                    Ok((id, host, port)) => c
                        .with_node_id(BrokerId(id))
                        .with_host(str_bytes(host))
                        .with_port(port),
                    Err((code, msg)) => c
                        .with_error_code(code)
                        .with_error_message(Some(str_bytes(msg)))
                        .with_node_id(BrokerId(-1))
                        .with_port(-1),
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match coordinator(state, req.key_type, &req.key) {
        Ok((id, host, port)) => FindCoordinatorResponse::default()
            .with_node_id(BrokerId(id))
            .with_host(str_bytes(host))
            .with_port(port),
        Err((code, msg)) => {
            let resp = FindCoordinatorResponse::default()
                .with_error_code(code)
                .with_node_id(BrokerId(-1))
                .with_port(-1);
            if ctx.api_version >= 1 {
                resp.with_error_message(Some(str_bytes(msg)))
            } else {
                resp
            }
        }
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
