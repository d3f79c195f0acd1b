//! DescribeCluster: the brokers, the cluster id and the active controller.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::context::ClusterView;
use crate::dispatch::RequestContext;

/// Kafka's endpoint types: 1 = brokers, 2 = controllers.
const ENDPOINT_BROKERS: i8 = 1;

pub async fn handle(
    state: &impl ClusterView,
    ctx: &RequestContext,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let resp = DescribeClusterResponse::default()
        .with_cluster_id(str_bytes(state.cluster_id().to_string()))
        .with_controller_id(BrokerId(state.active_controller().unwrap_or(-1)))
        .with_endpoint_type(ENDPOINT_BROKERS);
    if ctx.api_version >= 1 && req.endpoint_type != ENDPOINT_BROKERS {
        return resp
            .with_error_code(ResponseError::UnsupportedEndpointType.code())
            .with_error_message(Some(str_bytes(
                "only the broker endpoint type is served by brokers",
            )));
    }
    // v2: fenced brokers too when asked (`kafka-cluster.sh`, `strata cluster describe`).
    let mut brokers = state.brokers();
    if ctx.api_version >= 2 && req.include_fenced_brokers {
        let image = state.image();
        brokers.extend(image.brokers().filter(|b| b.fenced).cloned());
        brokers.sort_by_key(|b| b.id);
    }
    resp.with_brokers(
        brokers
            .into_iter()
            .map(|b| {
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(b.id))
                    .with_host(str_bytes(b.host))
                    .with_port(b.port)
                    .with_rack(b.rack.map(str_bytes))
                    .with_is_fenced(b.fenced)
            })
            .collect(),
    )
}
