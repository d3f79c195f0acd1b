//! Any bytes as the records of a Produce request: splitting into batches, parsing each
//! header and checking its CRC must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ranges) = strata_log::split_batches(data) {
        for r in ranges {
            if let Ok(h) = strata_log::RecordBatchHeader::parse(&data[r]) {
                let _ = h.is_crc_valid();
                let _ = (h.last_offset(), h.last_sequence(), h.records_count());
            }
        }
    }
    if let Ok(h) = strata_log::RecordBatchHeader::parse(data) {
        let _ = h.compute_crc();
    }
});
