//! Integration tests, one module per SPEC section (or face) they prove.

mod cli;
mod differential;
mod lake_files;
mod payload_rules;
mod reference;
mod response;
mod semantics;
mod support;
