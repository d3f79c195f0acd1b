//! Routes one decoded request frame to its handler and encodes the answer.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::handlers;
use crate::response_frame::{encode_fetch, ResponseFrame};
use crate::state::BrokerState;

/// The APIs this broker implements with the version range each handler implements.
/// ApiVersions advertises exactly this table; a version outside it is refused.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 13),
    (ApiKey::Fetch, 4, 18),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::DescribeQuorum, 0, 2),
    (ApiKey::AddRaftVoter, 0, 0),
    (ApiKey::RemoveRaftVoter, 0, 0),
];

/// The advertised range of `key`, if it is implemented.
pub fn supported_range(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, lo, hi)| (*lo, *hi))
}

/// Who sent a request and how, for handlers that answer differently by version.
pub struct RequestContext {
    pub api_version: i16,
    /// The client's `client.id` (empty when absent).
    pub client_id: String,
    /// The peer's address as Kafka reports it in group descriptions (`/ip`).
    pub client_host: String,
}

/// Why a frame gets no answer and its connection is closed, as Kafka does for
/// requests it cannot parse.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame too short for a request header")]
    Short,
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    #[error("unsupported version {1} of {0:?}")]
    UnsupportedVersion(ApiKey, i16),
    #[error("cannot decode {0:?} v{1}: {2}")]
    Decode(ApiKey, i16, String),
    #[error("cannot encode response: {0}")]
    Encode(String),
}

/// A request frame decoded far enough to route it.
#[derive(Debug)]
pub enum Decoded {
    /// A request of an API and version this broker implements.
    Request {
        key: ApiKey,
        version: i16,
        correlation_id: i32,
        header: RequestHeader,
        body: Box<RequestKind>,
    },
    /// An ApiVersions request of a version we do not speak: Kafka answers it with v0 and
    /// UNSUPPORTED_VERSION so the client can pick a version both sides know.
    UnsupportedApiVersions { correlation_id: i32 },
}

/// Decodes one request frame (without its length prefix). Pure: no I/O and no state,
/// so it is what the request fuzz target drives. Any error means the connection is
/// closed without an answer, as Kafka does for requests it cannot parse.
pub fn decode_frame(frame: Bytes) -> Result<Decoded, FrameError> {
    if frame.len() < 8 {
        return Err(FrameError::Short);
    }
    let raw_key = (&frame[0..2]).get_i16();
    let version = (&frame[2..4]).get_i16();
    let correlation_id = (&frame[4..8]).get_i32();
    let key = ApiKey::try_from(raw_key).map_err(|_| FrameError::UnknownApiKey(raw_key))?;
    let Some((lo, hi)) = supported_range(key) else {
        return Err(FrameError::UnknownApiKey(raw_key));
    };
    if version < lo || version > hi {
        if key == ApiKey::ApiVersions {
            return Ok(Decoded::UnsupportedApiVersions { correlation_id });
        }
        return Err(FrameError::UnsupportedVersion(key, version));
    }
    let mut buf = frame;
    let header = RequestHeader::decode(&mut buf, key.request_header_version(version))
        .map_err(|e| FrameError::Decode(key, version, e.to_string()))?;
    let body = RequestKind::decode(key, &mut buf, version)
        .map_err(|e| FrameError::Decode(key, version, e.to_string()))?;
    Ok(Decoded::Request {
        key,
        version,
        correlation_id,
        header,
        body: Box::new(body),
    })
}

/// Handles one request frame (without its length prefix). Returns the response frame
/// (with its length prefix), or `None` when Kafka sends none (acks=0 produce).
pub async fn handle_frame(
    state: &BrokerState,
    frame: Bytes,
    peer: Option<std::net::SocketAddr>,
) -> Result<Option<ResponseFrame>, FrameError> {
    let (key, version, correlation_id, header, body) = match decode_frame(frame)? {
        Decoded::UnsupportedApiVersions { correlation_id } => {
            let resp = handlers::api_versions::unsupported();
            return encode(ApiKey::ApiVersions, 0, correlation_id, &resp)
                .map(|f| Some(ResponseFrame::one(f)));
        }
        Decoded::Request {
            key,
            version,
            correlation_id,
            header,
            body,
        } => (key, version, correlation_id, header, body),
    };
    tracing::trace!(?key, version, client_id = ?header.client_id, "request");
    let ctx = RequestContext {
        api_version: version,
        client_id: header
            .client_id
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        client_host: peer.map(|p| format!("/{}", p.ip())).unwrap_or_default(),
    };
    macro_rules! answer {
        ($handler:path, $req:expr) => {{
            let resp = $handler(state, &ctx, $req).await;
            encode(key, version, correlation_id, &resp).map(|f| Some(ResponseFrame::one(f)))
        }};
    }
    match *body {
        RequestKind::ApiVersions(r) => answer!(handlers::api_versions::handle, r),
        RequestKind::Metadata(r) => answer!(handlers::metadata::handle, r),
        RequestKind::Produce(r) => {
            let acks = r.acks;
            let resp = handlers::produce::handle(state, &ctx, r).await;
            if acks == 0 {
                Ok(None)
            } else {
                encode(key, version, correlation_id, &resp).map(|f| Some(ResponseFrame::one(f)))
            }
        }
        RequestKind::Fetch(r) => {
            let answer = handlers::fetch::handle(state, &ctx, r).await;
            encode_fetch(version, correlation_id, answer).map(Some)
        }
        RequestKind::ListOffsets(r) => answer!(handlers::list_offsets::handle, r),
        RequestKind::CreateTopics(r) => answer!(handlers::create_topics::handle, r),
        RequestKind::DeleteTopics(r) => answer!(handlers::delete_topics::handle, r),
        RequestKind::DeleteRecords(r) => answer!(handlers::delete_records::handle, r),
        RequestKind::InitProducerId(r) => answer!(handlers::init_producer_id::handle, r),
        RequestKind::DescribeConfigs(r) => answer!(handlers::describe_configs::handle, r),
        RequestKind::AlterConfigs(r) => answer!(handlers::alter_configs::handle, r),
        RequestKind::IncrementalAlterConfigs(r) => {
            answer!(handlers::incremental_alter_configs::handle, r)
        }
        RequestKind::CreatePartitions(r) => answer!(handlers::create_partitions::handle, r),
        RequestKind::DescribeCluster(r) => answer!(handlers::describe_cluster::handle, r),
        RequestKind::DescribeLogDirs(r) => answer!(handlers::describe_log_dirs::handle, r),
        RequestKind::FindCoordinator(r) => answer!(handlers::find_coordinator::handle, r),
        RequestKind::JoinGroup(r) => answer!(handlers::join_group::handle, r),
        RequestKind::SyncGroup(r) => answer!(handlers::sync_group::handle, r),
        RequestKind::Heartbeat(r) => answer!(handlers::heartbeat::handle, r),
        RequestKind::LeaveGroup(r) => answer!(handlers::leave_group::handle, r),
        RequestKind::OffsetCommit(r) => answer!(handlers::offset_commit::handle, r),
        RequestKind::OffsetFetch(r) => answer!(handlers::offset_fetch::handle, r),
        RequestKind::OffsetDelete(r) => answer!(handlers::offset_delete::handle, r),
        RequestKind::ListGroups(r) => answer!(handlers::list_groups::handle, r),
        RequestKind::DescribeGroups(r) => answer!(handlers::describe_groups::handle, r),
        RequestKind::DeleteGroups(r) => answer!(handlers::delete_groups::handle, r),
        RequestKind::ElectLeaders(r) => answer!(handlers::elect_leaders::handle, r),
        RequestKind::DescribeQuorum(r) => answer!(handlers::describe_quorum::handle, r),
        RequestKind::AddRaftVoter(r) => answer!(handlers::raft_voters::add, r),
        RequestKind::RemoveRaftVoter(r) => answer!(handlers::raft_voters::remove, r),
        _ => Err(FrameError::UnknownApiKey(key as i16)),
    }
}

/// Encodes a response frame: length prefix, response header, body.
pub fn encode<R: Encodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &R,
) -> Result<Bytes, FrameError> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_version = key.response_header_version(version);
    let size = header
        .compute_size(header_version)
        .and_then(|h| body.compute_size(version).map(|b| h + b))
        .map_err(|e| FrameError::Encode(e.to_string()))?;
    let mut out = BytesMut::with_capacity(4 + size);
    out.put_i32(size as i32);
    header
        .encode(&mut out, header_version)
        .and_then(|_| body.encode(&mut out, version))
        .map_err(|e| FrameError::Encode(e.to_string()))?;
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::Message;

    /// Advertising a version the codec cannot speak would be a bug.
    #[test]
    fn advertised_ranges_are_within_the_codec() {
        fn codec_range(key: ApiKey) -> (i16, i16) {
            let r = key.valid_versions();
            (r.min, r.max)
        }
        for (key, lo, hi) in SUPPORTED_APIS {
            let (clo, chi) = codec_range(*key);
            assert!(
                *lo >= clo && *hi <= chi,
                "{key:?} {lo}..{hi} vs {clo}..{chi}"
            );
        }
        assert_eq!(ProduceRequest::VERSIONS.max, 13);
    }
}

#[cfg(test)]
mod handled_tests {
    use super::*;
    use crate::config::BrokerConfig;

    fn default_request(key: ApiKey) -> RequestKind {
        match key {
            ApiKey::Produce => RequestKind::Produce(ProduceRequest::default().with_acks(1)),
            ApiKey::Fetch => RequestKind::Fetch(FetchRequest::default()),
            ApiKey::ListOffsets => RequestKind::ListOffsets(ListOffsetsRequest::default()),
            ApiKey::Metadata => RequestKind::Metadata(MetadataRequest::default()),
            ApiKey::ApiVersions => RequestKind::ApiVersions(ApiVersionsRequest::default()),
            ApiKey::CreateTopics => RequestKind::CreateTopics(CreateTopicsRequest::default()),
            ApiKey::DeleteTopics => RequestKind::DeleteTopics(DeleteTopicsRequest::default()),
            ApiKey::DeleteRecords => RequestKind::DeleteRecords(DeleteRecordsRequest::default()),
            ApiKey::InitProducerId => RequestKind::InitProducerId(InitProducerIdRequest::default()),
            ApiKey::DescribeConfigs => {
                RequestKind::DescribeConfigs(DescribeConfigsRequest::default())
            }
            ApiKey::AlterConfigs => RequestKind::AlterConfigs(AlterConfigsRequest::default()),
            ApiKey::CreatePartitions => {
                RequestKind::CreatePartitions(CreatePartitionsRequest::default())
            }
            ApiKey::IncrementalAlterConfigs => {
                RequestKind::IncrementalAlterConfigs(IncrementalAlterConfigsRequest::default())
            }
            ApiKey::DescribeCluster => RequestKind::DescribeCluster(
                DescribeClusterRequest::default().with_endpoint_type(1),
            ),
            ApiKey::FindCoordinator => {
                RequestKind::FindCoordinator(FindCoordinatorRequest::default())
            }
            ApiKey::DescribeLogDirs => {
                RequestKind::DescribeLogDirs(DescribeLogDirsRequest::default())
            }
            ApiKey::JoinGroup => RequestKind::JoinGroup(JoinGroupRequest::default()),
            ApiKey::SyncGroup => RequestKind::SyncGroup(SyncGroupRequest::default()),
            ApiKey::Heartbeat => RequestKind::Heartbeat(HeartbeatRequest::default()),
            ApiKey::LeaveGroup => RequestKind::LeaveGroup(LeaveGroupRequest::default()),
            ApiKey::OffsetCommit => RequestKind::OffsetCommit(OffsetCommitRequest::default()),
            ApiKey::OffsetFetch => RequestKind::OffsetFetch(OffsetFetchRequest::default()),
            ApiKey::OffsetDelete => RequestKind::OffsetDelete(OffsetDeleteRequest::default()),
            ApiKey::ListGroups => RequestKind::ListGroups(ListGroupsRequest::default()),
            ApiKey::DescribeGroups => RequestKind::DescribeGroups(DescribeGroupsRequest::default()),
            ApiKey::DeleteGroups => RequestKind::DeleteGroups(DeleteGroupsRequest::default()),
            ApiKey::ElectLeaders => RequestKind::ElectLeaders(ElectLeadersRequest::default()),
            ApiKey::DescribeQuorum => RequestKind::DescribeQuorum(DescribeQuorumRequest::default()),
            ApiKey::AddRaftVoter => RequestKind::AddRaftVoter(AddRaftVoterRequest::default()),
            ApiKey::RemoveRaftVoter => {
                RequestKind::RemoveRaftVoter(RemoveRaftVoterRequest::default())
            }
            other => panic!("no default request for {other:?}"),
        }
    }

    /// Advertising a version no handler answers would be a bug: every advertised
    /// (key, version) pair must decode, reach its handler and encode an answer.
    #[tokio::test]
    async fn every_advertised_version_is_answered() {
        let dir = tempfile::tempdir().unwrap();
        let config = BrokerConfig {
            log_dirs: dir.path().to_path_buf(),
            ..Default::default()
        };
        let state = std::sync::Arc::new(
            BrokerState::open(config, ("127.0.0.1".into(), 9092))
                .await
                .unwrap(),
        );
        for (key, lo, hi) in SUPPORTED_APIS {
            for version in *lo..=*hi {
                let header = RequestHeader::default()
                    .with_request_api_key(*key as i16)
                    .with_request_api_version(version)
                    .with_correlation_id(7);
                let mut buf = BytesMut::new();
                header
                    .encode(&mut buf, key.request_header_version(version))
                    .unwrap();
                default_request(*key).encode(&mut buf, version).unwrap();
                let resp = handle_frame(&state, buf.freeze(), None)
                    .await
                    .unwrap_or_else(|e| panic!("{key:?} v{version}: {e}"));
                let resp = resp
                    .unwrap_or_else(|| panic!("{key:?} v{version}: no answer"))
                    .concat();
                assert_eq!(&resp[4..8], &7i32.to_be_bytes(), "{key:?} v{version}");
            }
        }
    }

    #[tokio::test]
    async fn unknown_key_and_version_close_the_connection() {
        let dir = tempfile::tempdir().unwrap();
        let config = BrokerConfig {
            log_dirs: dir.path().to_path_buf(),
            ..Default::default()
        };
        let state = BrokerState::open(config, ("127.0.0.1".into(), 9092))
            .await
            .unwrap();
        let mut frame = BytesMut::new();
        frame.put_i16(9999);
        frame.put_i16(0);
        frame.put_i32(1);
        frame.put_i16(-1);
        assert!(handle_frame(&state, frame.freeze(), None).await.is_err());
        let mut frame = BytesMut::new();
        frame.put_i16(ApiKey::Metadata as i16);
        frame.put_i16(99);
        frame.put_i32(1);
        frame.put_i16(-1);
        assert!(handle_frame(&state, frame.freeze(), None).await.is_err());
        // ApiVersions at an unknown version is answered with UNSUPPORTED_VERSION (35).
        let mut frame = BytesMut::new();
        frame.put_i16(ApiKey::ApiVersions as i16);
        frame.put_i16(99);
        frame.put_i32(5);
        frame.put_i16(-1);
        let resp = handle_frame(&state, frame.freeze(), None)
            .await
            .unwrap()
            .unwrap()
            .concat();
        assert_eq!(&resp[4..8], &5i32.to_be_bytes());
        assert_eq!(&resp[8..10], &35i16.to_be_bytes());
    }
}

#[cfg(test)]
mod version_matrix_tests {
    use super::*;
    use crate::config::BrokerConfig;
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    fn name(s: &str) -> TopicName {
        TopicName(StrBytes::from_string(s.into()))
    }

    fn batch() -> Bytes {
        let rec = Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: 1_700_000_000_000,
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"v")),
            headers: Default::default(),
        };
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            [&rec],
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        buf.freeze()
    }

    async fn call(state: &BrokerState, key: ApiKey, version: i16, body: RequestKind) -> Bytes {
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(3)
            .with_client_id(Some(StrBytes::from_static_str("test")));
        let mut buf = BytesMut::new();
        header
            .encode(&mut buf, key.request_header_version(version))
            .unwrap();
        body.encode(&mut buf, version).unwrap();
        handle_frame(state, buf.freeze(), None)
            .await
            .unwrap_or_else(|e| panic!("{key:?} v{version}: {e}"))
            .unwrap_or_else(|| panic!("{key:?} v{version}: no answer"))
            .concat()
    }

    /// Real data through every advertised version of the data-path and admin APIs: a
    /// response field set that the version cannot carry would fail to encode here.
    #[tokio::test]
    async fn real_requests_at_every_version() {
        use kafka_protocol::messages::create_topics_request::CreatableTopic;
        use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
        use kafka_protocol::messages::list_offsets_request::{
            ListOffsetsPartition, ListOffsetsTopic,
        };
        use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
        use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};

        let dir = tempfile::tempdir().unwrap();
        let config = BrokerConfig {
            log_dirs: dir.path().to_path_buf(),
            ..Default::default()
        };
        let state = BrokerState::open(config, ("127.0.0.1".into(), 9092))
            .await
            .unwrap();
        for v in 2..=7 {
            let t = format!("c{v}");
            let req = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
                .with_name(name(&t))
                .with_num_partitions(1)
                .with_replication_factor(1)]);
            call(&state, ApiKey::CreateTopics, v, req.into()).await;
            // again: an error answer must encode too
            let req = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
                .with_name(name(&t))
                .with_num_partitions(1)
                .with_replication_factor(1)]);
            call(&state, ApiKey::CreateTopics, v, req.into()).await;
        }
        let id = state.image().topic("c7").unwrap().id.uuid();
        for v in 3..=13 {
            let td = if v >= 13 {
                TopicProduceData::default().with_topic_id(id)
            } else {
                TopicProduceData::default().with_name(name("c7"))
            };
            let req = ProduceRequest::default()
                .with_acks(1)
                .with_topic_data(vec![td.with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch())),
                    // unknown partition and a corrupt batch: error answers
                    PartitionProduceData::default()
                        .with_index(9)
                        .with_records(Some(batch())),
                ])]);
            call(&state, ApiKey::Produce, v, req.into()).await;
        }
        for v in 4..=18 {
            let ft = if v >= 13 {
                FetchTopic::default().with_topic_id(id)
            } else {
                FetchTopic::default().with_topic(name("c7"))
            };
            let req = FetchRequest::default()
                .with_max_bytes(1 << 20)
                .with_topics(vec![ft.with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_partition_max_bytes(1 << 20),
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(999),
                ])]);
            call(&state, ApiKey::Fetch, v, req.into()).await;
        }
        for v in 1..=10 {
            for ts in [-1, -2, 0, 1_800_000_000_000] {
                let req =
                    ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
                        .with_name(name("c7"))
                        .with_partitions(
                            vec![ListOffsetsPartition::default().with_timestamp(ts)],
                        )]);
                call(&state, ApiKey::ListOffsets, v, req.into()).await;
            }
        }
        for v in 0..=13 {
            let topics = vec![MetadataRequestTopic::default().with_name(Some(name("c7")))];
            let req = MetadataRequest::default().with_topics(Some(topics));
            call(&state, ApiKey::Metadata, v, req.into()).await;
            let req =
                MetadataRequest::default().with_topics(if v == 0 { Some(vec![]) } else { None });
            call(&state, ApiKey::Metadata, v, req.into()).await;
        }
        for v in 1..=6 {
            let t = format!("c{}", v + 1);
            let req = if v >= 6 {
                DeleteTopicsRequest::default().with_topics(vec![
                    kafka_protocol::messages::delete_topics_request::DeleteTopicState::default()
                        .with_name(Some(name(&t))),
                ])
            } else {
                DeleteTopicsRequest::default().with_topic_names(vec![name(&t), name("nope")])
            };
            call(&state, ApiKey::DeleteTopics, v, req.into()).await;
        }
    }
}

#[cfg(test)]
mod fuzz_regressions {
    use super::*;

    /// Found by the request_decode fuzz target: a DescribeConfigs v1 frame whose array
    /// length is 0xffffff20 made the decoder reserve ~48 GB and abort the process.
    #[test]
    fn huge_array_length_is_an_error_not_an_abort() {
        let frame =
            Bytes::from_static(&[0, 32, 0, 1, 0, 255, 255, 255, 255, 255, 32, 255, 255, 255]);
        assert!(decode_frame(frame).is_err());
        let compact = Bytes::from_static(&[
            0, 3, 0, 12, 0, 0, 0, 1, 255, 255, 0, 0xff, 0xff, 0xff, 0xff, 0x0f,
        ]);
        assert!(decode_frame(compact).is_err());
    }
}
