//! `batch`: many queries over one lake with one engine, bounded concurrency, results as
//! files that appear only when complete, and a `summary.json` of what happened.

pub mod files;
pub mod queries;
pub mod resume;

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::task::JoinSet;

pub use files::OutputDir;
pub use queries::{BatchQuery, Request};

use crate::engine::Engine;
use crate::error::{Error, ErrorBody, Result};
use crate::lake::Lake;
use crate::output::{Format, write_response};
use crate::query::Query;

/// How a batch runs.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    pub format: Format,
    /// Queries running at once (≥ 1).
    pub jobs: usize,
    /// Skip queries whose result file already exists.
    pub resume: bool,
}

/// What became of one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Answered; its result file is complete.
    Ok,
    /// Refused or failed; `error` says why, and no result file was written.
    Failed,
    /// `--resume` found its result file from an earlier run.
    Skipped,
}

/// The name of the run's summary file (`summary.json`); no query may take it.
pub const SUMMARY_NAME: &str = "summary";

/// One line of `summary.json`.
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub name: String,
    pub status: Status,
    pub error: Option<ErrorBody>,
    /// Rows written; for a skipped query, the rows of its result file; none for a failure.
    pub rows: Option<u64>,
    /// Size of the result file.
    pub bytes: u64,
    pub ms: u64,
    /// The result file's name in the output folder.
    pub output: Option<String>,
}

/// `summary.json`: totals and every query's outcome, in the order of the queries.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub format: &'static str,
    pub total: usize,
    pub ok: usize,
    pub failed: usize,
    pub skipped: usize,
    pub rows: u64,
    pub bytes: u64,
    pub elapsed_ms: u64,
    pub queries: Vec<Outcome>,
}

/// Told of every finished query, in completion order (the CLI draws progress with it).
pub trait Progress: Send + Sync {
    fn finished(&self, outcome: &Outcome);
}

/// Runs `queries` over `lake`, at most `options.jobs` at a time, writing results into
/// `out`, and writes `summary.json` there. Dropping the returned future cancels the run:
/// queries in flight stop and their partial files are removed.
pub async fn run(
    engine: Arc<Engine>,
    lake: Arc<Lake>,
    queries: Vec<BatchQuery>,
    out: Arc<OutputDir>,
    options: &BatchOptions,
    progress: Arc<dyn Progress>,
) -> Result<Summary> {
    let started = Instant::now();
    let total = queries.len();
    let mut outcomes: Vec<Option<Outcome>> = (0..total).map(|_| None).collect();
    let mut running = JoinSet::new();
    let mut pending = queries.into_iter().enumerate();
    loop {
        while running.len() < options.jobs.max(1) {
            let Some((index, query)) = pending.next() else {
                break;
            };
            let (engine, lake, out, progress) = (
                Arc::clone(&engine),
                Arc::clone(&lake),
                Arc::clone(&out),
                Arc::clone(&progress),
            );
            let (format, resume) = (options.format, options.resume);
            running.spawn(async move {
                let outcome = run_one(&engine, &lake, query, &out, format, resume).await;
                progress.finished(&outcome);
                (index, outcome)
            });
        }
        match running.join_next().await {
            Some(Ok((index, outcome))) => outcomes[index] = Some(outcome),
            Some(Err(e)) => return Err(Error::internal(format!("a batch query task failed: {e}"))),
            None => break,
        }
    }
    let queries: Vec<Outcome> = outcomes
        .into_iter()
        .map(|o| o.expect("every query ran"))
        .collect();
    let count = |status| queries.iter().filter(|o| o.status == status).count();
    let summary = Summary {
        format: options.format.extension(),
        total,
        ok: count(Status::Ok),
        failed: count(Status::Failed),
        skipped: count(Status::Skipped),
        rows: queries.iter().filter_map(|o| o.rows).sum(),
        bytes: queries.iter().map(|o| o.bytes).sum(),
        elapsed_ms: started.elapsed().as_millis() as u64,
        queries,
    };
    let json = serde_json::to_vec_pretty(&summary).map_err(|e| Error::internal(e.to_string()))?;
    files::write_atomically(&out, &format!("{SUMMARY_NAME}.json"), &json)?;
    Ok(summary)
}

async fn run_one(
    engine: &Engine,
    lake: &Lake,
    query: BatchQuery,
    out: &OutputDir,
    format: Format,
    resume: bool,
) -> Outcome {
    let started = Instant::now();
    let file_name = format!("{}.{}", query.name, format.extension());
    let elapsed = || started.elapsed().as_millis() as u64;
    // A query refused as written (a reserved or invalid name among them) is never
    // "already done", whatever file has its name.
    let done = out.final_path(&file_name);
    if resume
        && query.request.is_ok()
        && let Ok(metadata) = std::fs::metadata(&done)
    {
        match resume::rows_in(&done, format) {
            Ok(rows) => {
                return Outcome {
                    name: query.name,
                    status: Status::Skipped,
                    error: None,
                    rows: Some(rows),
                    bytes: metadata.len(),
                    ms: elapsed(),
                    output: Some(file_name),
                };
            }
            // Not a result of this format (another run's, or damaged): made again.
            Err(why) => tracing::warn!(
                "{} cannot be read back as a {format:?} result ({why}); running {} again",
                done.display(),
                query.name
            ),
        }
    }
    let result = async {
        let request = query.request?;
        let parsed = Query::from_request(
            &request.organization_id,
            &request.workflow_id,
            &request.payload,
        )?;
        let response = engine.execute(lake, &parsed).await?;
        let mut file = out.create(&file_name)?;
        let rows = write_response(response, format, file.writer()).await?;
        Ok::<_, Error>((rows, file.commit()?))
    }
    .await;
    match result {
        Ok((rows, bytes)) => Outcome {
            name: query.name,
            status: Status::Ok,
            error: None,
            rows: Some(rows),
            bytes,
            ms: elapsed(),
            output: Some(file_name),
        },
        Err(error) => Outcome {
            name: query.name,
            status: Status::Failed,
            error: Some(error.body()),
            rows: None,
            bytes: 0,
            ms: elapsed(),
            output: None,
        },
    }
}
