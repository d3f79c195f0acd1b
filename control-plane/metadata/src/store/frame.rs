//! Framing of metadata log entries and snapshots on disk.
//!
//! A frame is `len: u32 BE | crc32c(payload): u32 BE | payload`, where the
//! payload is a prost-encoded message (`len` counts the payload only).

/// Bytes before the payload.
pub(crate) const HEADER_LEN: usize = 8;

/// Frames `payload`; `None` if it is longer than `u32::MAX` bytes.
pub(crate) fn encode(payload: &[u8]) -> Option<Vec<u8>> {
    let len = u32::try_from(payload.len()).ok()?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
    out.extend_from_slice(payload);
    Some(out)
}

/// Result of reading one frame at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A whole frame whose CRC matches; `total` is its size with the header.
    Valid { payload: &'a [u8], total: usize },
    /// The buffer ends inside the frame (a torn write).
    Truncated,
    /// The payload does not match its CRC.
    BadCrc,
}

/// Reads the frame at the start of `buf` (which must not be empty).
pub(crate) fn decode(buf: &[u8]) -> Frame<'_> {
    let (Some(len), Some(crc)) = (read_u32(buf, 0), read_u32(buf, 4)) else {
        return Frame::Truncated;
    };
    let Ok(len) = usize::try_from(len) else {
        return Frame::Truncated;
    };
    let Some(payload) = HEADER_LEN
        .checked_add(len)
        .and_then(|end| buf.get(HEADER_LEN..end))
    else {
        return Frame::Truncated;
    };
    if crc32c::crc32c(payload) != crc {
        return Frame::BadCrc;
    }
    Frame::Valid {
        payload,
        total: HEADER_LEN + len,
    }
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let framed = encode(b"hello").unwrap();
        assert_eq!(
            decode(&framed),
            Frame::Valid {
                payload: b"hello",
                total: 13
            }
        );
        for cut in 1..framed.len() {
            assert_eq!(decode(&framed[..cut]), Frame::Truncated);
        }
        let mut bad = framed.clone();
        bad[10] ^= 1;
        assert_eq!(decode(&bad), Frame::BadCrc);
    }
}
