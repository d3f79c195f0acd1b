//! Any bytes as a request frame: decoding must return a request or an error, never
//! panic, loop or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = strata_broker::decode_frame(bytes::Bytes::copy_from_slice(data));
});
