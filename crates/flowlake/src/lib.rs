//! flowlake answers the *Workflow source data API* (goal events that a web workflow
//! affected) from Parquet event lakes, on local disk or S3, with Apache DataFusion.
//!
//! The flow runs one way: payload JSON → [`Query`] (validated) → plan (DataFrame) →
//! [`ResponseStream`] (record batches) → an [`output::Encoder`] → a sink.
//!
//! ```no_run
//! # async fn demo() -> flowlake::Result<()> {
//! use flowlake::{Engine, EngineConfig, LakeLocation, Query};
//! let engine = Engine::new(&EngineConfig::default())?;
//! let lake = engine.open_lake(LakeLocation::parse("data")?).await?;
//! let payload = br#"{"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-07"}}"#;
//! let query = Query::from_request(
//!     "3f0c4c3e-7f1a-4d55-9a39-6d5b8a0e9b11",
//!     "9b2f6a8e-1c3d-4e5f-8a7b-0c1d2e3f4a5b",
//!     payload,
//! )?;
//! let response = engine.execute(&lake, &query).await?;
//! flowlake::output::write_response(response, flowlake::output::Format::Json, &mut std::io::stdout()).await?;
//! # Ok(()) }
//! ```

pub mod batch;
pub mod engine;
pub mod error;
pub mod format;
pub mod generate;
pub mod lake;
pub mod memory;
pub mod output;
pub mod plan;
pub mod query;
pub mod runner;
pub mod small_limit;
pub mod storage;
pub mod write;

pub use engine::{Engine, EngineConfig};
pub use error::{Error, Result};
pub use lake::Lake;
pub use output::ResponseStream;
pub use query::Query;
pub use runner::{LocalRunner, PlanRunner};
pub use storage::LakeLocation;
