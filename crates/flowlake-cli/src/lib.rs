//! The `flowlake` command over the engine library: its subcommands ([`cli`]) and the HTTP
//! endpoint with access control and metrics ([`serve`]). With the `cluster` feature, the
//! Ballista scheduler and executor commands and `--cluster` (the `flowlake-cluster` crate).

pub mod cli;
pub mod serve;
