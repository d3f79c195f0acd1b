"""Self-checks of the raw-protocol helper (no broker needed)."""

from kafka.record.default_records import DefaultRecordBatch

import kafka_wire as w


def test_crc32c_known_vector():
    """CRC-32C of "123456789" is the standard check value 0xE3069283."""
    assert w.crc32c(b"123456789") == 0xE3069283
    assert w.crc32c(b"") == 0


def test_batch_builder_decodes_with_kafka_python():
    """A hand-built batch is valid for kafka-python's own v2 parser; corruptions break its CRC."""
    recs = [w.Record(b"k1", b"v1", [("h", b"x"), ("n", None)], 0),
            w.Record(None, b"v2" * 300, [], 5), w.Record(b"k3", None)]
    raw = w.build_batch(recs, base_timestamp=1_700_000_000_000)
    batch = DefaultRecordBatch(raw)
    assert batch.validate_crc()
    got = [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in batch]
    assert got == [(0, 1_700_000_000_000, b"k1", b"v1", [("h", b"x"), ("n", None)]),
                   (1, 1_700_000_000_005, None, b"v2" * 300, []),
                   (2, 1_700_000_000_000, b"k3", None, [])]
    assert not DefaultRecordBatch(w.corrupt_crc(raw)).validate_crc()
    assert not DefaultRecordBatch(w.corrupt_payload(raw)).validate_crc()
