//! The metadata records, generated from `proto/metadata.proto` in `strata-proto` and
//! re-exported here because the image, the store and the controller speak them.

pub use strata_proto::records::*;
