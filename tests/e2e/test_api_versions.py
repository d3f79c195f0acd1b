"""ApiVersions: what the broker advertises, and that advertised versions really work."""

from __future__ import annotations

import pytest

import kafka_wire as w

# API key -> name of what the broker implements today. Grow this as APIs land.
IMPLEMENTED = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 18: "ApiVersions",
    19: "CreateTopics", 20: "DeleteTopics", 21: "DeleteRecords", 22: "InitProducerId",
    32: "DescribeConfigs", 33: "AlterConfigs", 37: "CreatePartitions",
    44: "IncrementalAlterConfigs", 60: "DescribeCluster", 35: "DescribeLogDirs",
    # Consumer groups.
    8: "OffsetCommit", 9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
    13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups", 16: "ListGroups", 42: "DeleteGroups",
    47: "OffsetDelete",
    # The cluster: leader elections and the metadata quorum.
    43: "ElectLeaders", 55: "DescribeQuorum", 80: "AddRaftVoter", 81: "RemoveRaftVoter",
}


def advertised(broker) -> dict[int, tuple[int, int]]:
    with w.Connection.to(broker.bootstrap) as c:
        resp = w.api_versions(c, 3)
    assert resp.error_code == 0
    return resp.api_keys


def test_advertises_only_implemented_apis(broker):
    """Every API in the ApiVersions v3 answer is one the broker implements (no over-promising),
    and every implemented API is advertised."""
    keys = advertised(broker)
    extra = {k: v for k, v in keys.items() if k not in IMPLEMENTED}
    assert not extra, f"advertised but not implemented: {extra}"
    missing = sorted(IMPLEMENTED[k] for k in IMPLEMENTED if k not in keys)
    assert not missing, f"implemented but not advertised: {missing}"
    for k, (lo, hi) in keys.items():
        assert 0 <= lo <= hi, f"api {k}: bad range {lo}..{hi}"


@pytest.mark.parametrize("which", ["min", "max"])
def test_api_versions_min_and_max(broker, which):
    """ApiVersions at its lowest and highest advertised version gets a decodable answer
    with the same API list."""
    keys = advertised(broker)
    lo, hi = keys[w.API_API_VERSIONS]
    v = lo if which == "min" else hi
    with w.Connection.to(broker.bootstrap) as c:
        resp = w.api_versions(c, v)
    assert resp.error_code == 0
    assert resp.api_keys == keys


@pytest.mark.parametrize("which", ["min", "max"])
def test_metadata_min_and_max(broker, which):
    """Metadata at its lowest and highest advertised version decodes fully (no trailing bytes)
    and names this broker."""
    keys = advertised(broker)
    lo, hi = keys[w.API_METADATA]
    v = lo if which == "min" else hi
    with w.Connection.to(broker.bootstrap) as c:
        resp = w.metadata(c, v, None)
    assert len(resp.brokers) == 1
    node, host, port = resp.brokers[0]
    assert port == broker.port
    assert resp.error_code == 0


def test_metadata_v1_unknown_topic(broker):
    """Metadata v4 for a missing topic with allow_auto_topic_creation=false reports
    UNKNOWN_TOPIC_OR_PARTITION (3) and creates nothing."""
    with w.Connection.to(broker.bootstrap) as c:
        resp = w.metadata(c, 4, ["no-such-topic-api-versions"], allow_auto_create=False)
    [t] = resp.topics
    assert t.name == "no-such-topic-api-versions"
    assert t.error_code == w.UNKNOWN_TOPIC_OR_PARTITION


def test_pipelined_requests_answered_in_order(broker):
    """Several requests sent back to back on one connection are answered in order."""
    with w.Connection.to(broker.bootstrap) as c:
        frames = b""
        for corr in range(100, 110):
            body = w.metadata_body(1, None) if corr % 2 else b""
            api = w.API_METADATA if corr % 2 else w.API_API_VERSIONS
            ver = 1 if corr % 2 else 0
            frames += w.frame(w.request_header(api, ver, corr) + body)
        c.send_raw(frames)
        for corr in range(100, 110):
            r = w.Reader(c.recv_frame())
            assert r.i32() == corr
