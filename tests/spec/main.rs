//! Integration tests, one module per SPEC section they prove.

mod differential;
mod lake_files;
mod payload_rules;
mod reference;
mod support;
