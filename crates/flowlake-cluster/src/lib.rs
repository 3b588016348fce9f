//! flowlake on Apache DataFusion Ballista: the scheduler ([`scheduler`]) and executor
//! ([`executor`]) that `flowlake scheduler` and `flowlake executor` run, with flowlake's
//! plan codecs; and the [`ClusterRunner`] of an [`Engine`] made by [`on_cluster`]
//! (`--cluster df://HOST:PORT`), whose plans run there. The plan is the one a local run builds: the codecs
//! ([`codec`]) carry its flowlake parts, and [`scan`] keeps the checked Parquet reader on
//! executors.
//!
//! [`Engine`]: flowlake::Engine

pub mod address;
pub mod client;
pub mod codec;
pub mod errors;
pub mod executor;
mod jobs;
pub mod scan;
pub mod scheduler;
pub mod stores;
mod work_folder;

pub use address::ClusterAddress;
pub use client::{ClusterRunner, cluster_submission, on_cluster};
