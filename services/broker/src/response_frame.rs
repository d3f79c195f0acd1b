//! Response frames as a list of buffers, so record data leaves the broker as the
//! buffers it was read into (segment reads, cached remote chunks) without being copied
//! into the encoded response.
//!
//! The Fetch response is encoded by `kafka-protocol` with each large `records` field
//! replaced by a 16-byte random marker; the marker (and its length prefix) is then
//! found in the small encoded head and swapped for the real length prefix and the
//! record buffers. Records are the only variable-length field that changes, and no
//! outer field counts bytes (arrays count elements), so only the frame size moves.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, FetchResponse};

use crate::dispatch::{encode, FrameError};

/// Records at least this large are written as their own buffers; smaller ones are
/// cheaper to copy than to splice.
const SPLICE_MIN_BYTES: usize = 16 << 10;
const MARKER_LEN: usize = 16;

/// One response frame (size prefix included) as buffers to write in order.
#[derive(Debug, Clone)]
pub struct ResponseFrame {
    parts: Vec<Bytes>,
}

impl ResponseFrame {
    /// A frame in one buffer.
    pub fn one(frame: Bytes) -> Self {
        Self { parts: vec![frame] }
    }

    /// The buffers, in order.
    pub fn parts(&self) -> &[Bytes] {
        &self.parts
    }

    /// Total bytes, size prefix included.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.len()).sum()
    }

    /// The frame in one buffer.
    #[cfg(test)]
    pub fn concat(&self) -> Bytes {
        if self.parts.len() == 1 {
            return self.parts[0].clone();
        }
        let mut out = BytesMut::with_capacity(self.len());
        for p in &self.parts {
            out.extend_from_slice(p);
        }
        out.freeze()
    }
}

/// A Fetch answer: the response, and for some partitions their records as several
/// buffers (remote reads), by (topic index, partition index) in the response.
#[derive(Debug, Default)]
pub struct FetchAnswer {
    pub response: FetchResponse,
    pub ropes: Vec<((usize, usize), Vec<Bytes>)>,
}

/// Encodes a Fetch answer without copying large record data.
pub fn encode_fetch(
    version: i16,
    correlation_id: i32,
    answer: FetchAnswer,
) -> Result<ResponseFrame, FrameError> {
    let FetchAnswer {
        mut response,
        mut ropes,
    } = answer;
    let seed = *uuid::Uuid::new_v4().as_bytes();
    let marker = |i: usize| {
        let mut m = seed;
        for (b, x) in m.iter_mut().zip((i as u64).to_be_bytes()) {
            *b ^= x;
        }
        m
    };
    // Records taken out, in encoding order.
    let mut spliced: Vec<Vec<Bytes>> = Vec::new();
    for (ti, t) in response.responses.iter_mut().enumerate() {
        for (pi, p) in t.partitions.iter_mut().enumerate() {
            let parts = match ropes.iter().position(|(at, _)| *at == (ti, pi)) {
                Some(i) => ropes.swap_remove(i).1,
                None => match &p.records {
                    Some(b) if b.len() >= SPLICE_MIN_BYTES => vec![b.clone()],
                    _ => continue,
                },
            };
            p.records = Some(Bytes::copy_from_slice(&marker(spliced.len())));
            spliced.push(parts);
        }
    }
    if spliced.is_empty() {
        return encode(ApiKey::Fetch, version, correlation_id, &response).map(ResponseFrame::one);
    }
    let head = encode(ApiKey::Fetch, version, correlation_id, &response)?;
    let compact = version >= 12;
    // The marker's length prefix: UNSIGNED_VARINT(len + 1) or INT32(len).
    let marker_prefix: &[u8] = if compact {
        &[MARKER_LEN as u8 + 1]
    } else {
        &[0, 0, 0, MARKER_LEN as u8]
    };
    let mut parts = vec![Bytes::new()];
    let mut from = 4;
    let mut body = 0usize;
    for (i, records) in spliced.iter().enumerate() {
        let m = marker(i);
        let found = head[from..]
            .windows(MARKER_LEN)
            .position(|w| w == m)
            .map(|at| at + from)
            .filter(|at| *at >= from + marker_prefix.len())
            .filter(|at| &head[at - marker_prefix.len()..*at] == marker_prefix);
        let Some(at) = found else {
            // Cannot happen with kafka-protocol's encoding; stay correct regardless.
            tracing::warn!("fetch response marker not found; encoding with copies");
            return encode_copied(version, correlation_id, response, spliced);
        };
        let len: usize = records.iter().map(|r| r.len()).sum();
        let len32 = u32::try_from(len)
            .ok()
            .filter(|l| *l < i32::MAX as u32)
            .ok_or_else(|| FrameError::Encode(format!("records too large ({len} bytes)")))?;
        let mut prefix = BytesMut::with_capacity(5);
        if compact {
            put_unsigned_varint(&mut prefix, len32 + 1);
        } else {
            prefix.put_i32(len32 as i32);
        }
        let before = head.slice(from..at - marker_prefix.len());
        body += before.len() + prefix.len() + len;
        parts.push(before);
        parts.push(prefix.freeze());
        parts.extend(records.iter().filter(|r| !r.is_empty()).cloned());
        from = at + MARKER_LEN;
    }
    let rest = head.slice(from..);
    body += rest.len();
    parts.push(rest);
    let size = i32::try_from(body)
        .map_err(|_| FrameError::Encode(format!("response too large ({body} bytes)")))?;
    parts[0] = Bytes::copy_from_slice(&size.to_be_bytes());
    parts.retain(|p| !p.is_empty());
    Ok(ResponseFrame { parts })
}

/// The plain encoding, records copied into the frame.
fn encode_copied(
    version: i16,
    correlation_id: i32,
    mut response: FetchResponse,
    spliced: Vec<Vec<Bytes>>,
) -> Result<ResponseFrame, FrameError> {
    let mut taken = spliced.into_iter();
    for t in response.responses.iter_mut() {
        for p in t.partitions.iter_mut() {
            if p.records.as_ref().is_some_and(|r| r.len() == MARKER_LEN) {
                if let Some(records) = taken.next() {
                    let mut all = BytesMut::new();
                    for r in records {
                        all.extend_from_slice(&r);
                    }
                    p.records = Some(all.freeze());
                }
            }
        }
    }
    encode(ApiKey::Fetch, version, correlation_id, &response).map(ResponseFrame::one)
}

fn put_unsigned_varint(buf: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::StrBytes;

    fn data(n: usize, seed: u8) -> Bytes {
        (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
    }

    /// Splitting a partition's records into many buffers, or a large one into its own,
    /// gives the same bytes on the wire as the plain encoding, at every version.
    #[test]
    fn spliced_frames_equal_the_plain_encoding() {
        let sizes = [
            0usize,
            10,
            16,
            SPLICE_MIN_BYTES - 1,
            SPLICE_MIN_BYTES,
            200_000,
            1 << 20,
        ];
        for version in 4..=18i16 {
            for (k, split) in [0usize, 1, 3, 7].into_iter().enumerate() {
                let mut response = FetchResponse::default();
                if version >= 7 {
                    response.session_id = 7;
                }
                let mut ropes = Vec::new();
                for ti in 0..2 {
                    let mut t = FetchableTopicResponse::default();
                    if version >= 13 {
                        t.topic_id = uuid::Uuid::from_u128(ti as u128 + 1);
                    } else {
                        t.topic = TopicName(StrBytes::from_string(format!("t{ti}")));
                    }
                    for (pi, size) in sizes.iter().enumerate() {
                        let records = data(*size, (ti * 7 + pi + k) as u8);
                        let mut p = PartitionData::default()
                            .with_partition_index(pi as i32)
                            .with_high_watermark(1000 + pi as i64)
                            .with_records(Some(records.clone()));
                        if split > 0 && pi % 2 == 1 && *size > 0 {
                            // A remote read: several buffers, no inline value.
                            let step = (size / split).max(1);
                            let parts: Vec<Bytes> = (0..*size)
                                .step_by(step)
                                .map(|at| records.slice(at..(at + step).min(*size)))
                                .collect();
                            ropes.push(((ti, pi), parts));
                            p = p.with_records(None);
                        }
                        t.partitions.push(p);
                    }
                    response.responses.push(t);
                }
                let mut plain = response.clone();
                for ((ti, pi), parts) in &ropes {
                    let mut all = BytesMut::new();
                    for r in parts {
                        all.extend_from_slice(r);
                    }
                    plain.responses[*ti].partitions[*pi].records = Some(all.freeze());
                }
                let want = encode(ApiKey::Fetch, version, 42, &plain).unwrap();
                let got = encode_fetch(version, 42, FetchAnswer { response, ropes }).unwrap();
                assert!(got.parts().len() > 1, "v{version}: nothing spliced");
                assert_eq!(got.len(), want.len(), "v{version} split {split}");
                assert!(got.concat() == want, "v{version} split {split}");
            }
        }
    }

    #[test]
    fn small_answers_stay_in_one_buffer() {
        let response =
            FetchResponse::default()
                .with_responses(vec![FetchableTopicResponse::default().with_partitions(
                    vec![PartitionData::default().with_records(Some(data(100, 1)))],
                )]);
        let want = encode(ApiKey::Fetch, 12, 1, &response).unwrap();
        let got = encode_fetch(
            12,
            1,
            FetchAnswer {
                response,
                ropes: Vec::new(),
            },
        )
        .unwrap();
        assert_eq!(got.parts().len(), 1);
        assert!(got.concat() == want);
    }
}
