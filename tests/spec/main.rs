//! Integration tests, one module per SPEC section (or face) they prove.

mod batch;
mod cli;
#[cfg(feature = "cluster")]
mod cluster;
mod differential;
mod encodings;
mod lake_files;
mod payload_rules;
mod reference;
mod response;
mod s3;
mod s3_server;
mod semantics;
mod serve;
mod support;
