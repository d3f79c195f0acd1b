//! Record batches for the tests of the crates above the log (behind the
//! `test-support` feature), so each does not carry its own encoder.

/// A minimal v2 batch at base offset 0, leader epoch 0: one record with no key, value
/// `v`, timestamp `ts`, a valid CRC.
pub fn one_record_batch(ts: i64) -> Vec<u8> {
    // record: length, attributes, timestamp delta, offset delta, key -1, value 1, headers 0
    let record: Vec<u8> = vec![0x00, 0x00, 0x00, 0x01, 0x02, b'v', 0x00];
    let mut body = Vec::new();
    body.extend_from_slice(&0i16.to_be_bytes()); // attributes
    body.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
    body.extend_from_slice(&ts.to_be_bytes()); // base timestamp
    body.extend_from_slice(&ts.to_be_bytes()); // max timestamp
    body.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    body.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    body.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    body.extend_from_slice(&1i32.to_be_bytes()); // records count
    body.push((record.len() as u8) << 1); // record length (zig-zag varint)
    body.extend_from_slice(&record);
    let mut b = Vec::new();
    b.extend_from_slice(&0i64.to_be_bytes()); // base offset
    b.extend_from_slice(&((4 + 1 + 4 + body.len()) as i32).to_be_bytes()); // length
    b.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    b.extend_from_slice(&body);
    b
}
