//! Integration tests, one module per SPEC section (or face) they prove.

mod batch;
mod cli;
#[cfg(feature = "cluster")]
mod cluster;
mod compact_bounded;
mod differential;
mod differential_layouts;
mod encodings;
mod fuzz;
mod ingest_inputs;
mod ingest_one_pass;
mod lake_files;
mod lake_writers;
mod memory_pool;
mod openapi;
mod payload_rules;
mod reference;
mod response;
mod s3;
mod s3_credentials;
mod s3_server;
mod semantics;
mod serve;
mod serve_connections;
mod serve_logs;
mod serve_metrics;
mod serve_reload;
mod serve_support;
mod support;
mod writer_safety;
