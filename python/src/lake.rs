//! `Lake`: an engine and an opened lake, answering queries as the command line does —
//! the same validation (`Query::from_request`), plans, errors and `explain` text.

use std::path::PathBuf;
use std::sync::Arc;

use flowlake::batch::{self, BatchOptions, Outcome, OutputDir, Progress};
use flowlake::lake::CatalogReload;
use flowlake::memory::MemoryPool;
use flowlake::output::Format;
use flowlake::{Engine, EngineConfig, LakeLocation, Query};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::PyTable;

use crate::answer::{AnswerBatches, Conformed};
use crate::errors::{self, OrRaise};
use crate::payload::{self, json_bytes};
use crate::runtime;

/// A lake opened for queries, with an engine of its own (memory pool, parallelism) on the
/// process's shared runtime. Safe to share between threads.
#[pyclass(name = "Lake", module = "flowlake._flowlake", frozen)]
pub struct NativeLake {
    engine: Arc<Engine>,
    lake: Arc<flowlake::Lake>,
}

/// `location` parsed as the CLI's `--lake`, refusing a local folder that does not exist
/// (a mistyped path) as the command line does.
pub fn existing_location(py: Python<'_>, location: &str) -> PyResult<LakeLocation> {
    let parsed = LakeLocation::parse(location).or_raise(py)?;
    parsed.check_folder("lake").or_raise(py)?;
    Ok(parsed)
}

/// A byte count that must leave room to run (the CLI refuses a memory limit of 0).
fn memory_limit(bytes: Option<usize>) -> PyResult<Option<usize>> {
    match bytes {
        Some(0) => Err(PyValueError::new_err(
            "a memory limit of 0 bytes leaves no query room to run; give a size such as 512M, or None for no limit",
        )),
        other => Ok(other),
    }
}

/// Batch progress is not reported: the summary is the result.
struct Quiet;

impl Progress for Quiet {
    fn finished(&self, _outcome: &Outcome) {}
}

impl NativeLake {
    /// The validated query of a request: a 400 (or 406 for a filter property) as the CLI
    /// gives it, before the lake is read.
    fn request(
        py: Python<'_>,
        organization_id: &str,
        workflow_id: &str,
        payload: &Bound<'_, PyAny>,
    ) -> PyResult<Query> {
        let body = json_bytes(payload)?;
        Query::from_request(organization_id, workflow_id, &body).or_raise(py)
    }

    /// Runs `query` up to its first batch and conforms the answer to the response schema.
    fn answer(&self, py: Python<'_>, query: &Query) -> PyResult<Conformed> {
        let (engine, lake) = (Arc::clone(&self.engine), Arc::clone(&self.lake));
        runtime::wait(py, async move {
            Conformed::of(engine.execute(&lake, query).await?)
        })?
        .or_raise(py)
    }
}

#[pymethods]
impl NativeLake {
    /// Opens the lake at `location` (a folder or `s3://bucket/prefix`) and reads its
    /// catalog.
    #[new]
    #[pyo3(signature = (location, *, storage=None, memory_limit=None, target_partitions=None, batch_size=None, list_cache_ttl=0.0))]
    fn new(
        py: Python<'_>,
        location: &str,
        storage: Option<&Bound<'_, PyDict>>,
        memory_limit: Option<usize>,
        target_partitions: Option<usize>,
        batch_size: Option<usize>,
        list_cache_ttl: f64,
    ) -> PyResult<NativeLake> {
        let location = existing_location(py, location)?;
        let config = EngineConfig {
            target_partitions,
            memory: match self::memory_limit(memory_limit)? {
                Some(bytes) => MemoryPool::Asked(bytes),
                None => MemoryPool::Unbounded,
            },
            s3: payload::s3_options(storage)?,
            list_cache_ttl: payload::seconds("list_cache_ttl", list_cache_ttl)?,
            batch_size,
        };
        let engine = Arc::new(Engine::new(&config).or_raise(py)?);
        let opening = Arc::clone(&engine);
        let lake =
            runtime::wait(py, async move { opening.open_lake(location).await })?.or_raise(py)?;
        Ok(NativeLake {
            engine,
            lake: Arc::new(lake),
        })
    }

    /// The lake's root, as a folder path or `s3://` URL.
    #[getter]
    fn location(&self) -> String {
        self.lake.location().to_string()
    }

    /// The whole answer of a request, as an Arrow table.
    fn query(
        &self,
        py: Python<'_>,
        organization_id: &str,
        workflow_id: &str,
        payload: &Bound<'_, PyAny>,
    ) -> PyResult<PyTable> {
        let query = Self::request(py, organization_id, workflow_id, payload)?;
        let answer = self.answer(py, &query)?;
        let (schema, batches) = runtime::wait(py, answer.collect())?.or_raise(py)?;
        PyTable::try_new(batches, schema)
    }

    /// The answer of a request, batch by batch as the engine produces it.
    fn query_stream(
        &self,
        py: Python<'_>,
        organization_id: &str,
        workflow_id: &str,
        payload: &Bound<'_, PyAny>,
    ) -> PyResult<AnswerBatches> {
        let query = Self::request(py, organization_id, workflow_id, payload)?;
        Ok(AnswerBatches::new(self.answer(py, &query)?))
    }

    /// The logical and physical plans of a request, as `flowlake explain` prints them;
    /// with `analyze`, after running it, with its metrics.
    #[pyo3(signature = (organization_id, workflow_id, payload, *, analyze=false))]
    fn explain(
        &self,
        py: Python<'_>,
        organization_id: &str,
        workflow_id: &str,
        payload: &Bound<'_, PyAny>,
        analyze: bool,
    ) -> PyResult<String> {
        let query = Self::request(py, organization_id, workflow_id, payload)?;
        let (engine, lake) = (Arc::clone(&self.engine), Arc::clone(&self.lake));
        runtime::wait(
            py,
            async move { engine.explain(&lake, &query, analyze).await },
        )?
        .or_raise(py)
    }

    /// Runs the query files of `queries` (a folder of `*.json` or one NDJSON file) with
    /// the library's batch runner, results into `out`; returns `summary.json`'s text.
    #[pyo3(signature = (queries, out, *, format="json", jobs=None, resume=false))]
    fn batch(
        &self,
        py: Python<'_>,
        queries: PathBuf,
        out: PathBuf,
        format: &str,
        jobs: Option<usize>,
        resume: bool,
    ) -> PyResult<String> {
        let format = payload::named::<Format>("format", format)?;
        let jobs = match jobs {
            Some(0) => {
                return Err(PyValueError::new_err(
                    "0 queries at once would run nothing; give 1 or more",
                ));
            }
            Some(jobs) => jobs,
            None => std::thread::available_parallelism().map_or(2, |n| n.get()),
        };
        batch::files::refuse_overlap(&queries, &out).or_raise(py)?;
        let loaded = batch::queries::load(&queries).or_raise(py)?;
        let out = Arc::new(OutputDir::open(&out).or_raise(py)?);
        let options = BatchOptions {
            format,
            jobs,
            resume,
        };
        let (engine, lake) = (Arc::clone(&self.engine), Arc::clone(&self.lake));
        // Dropped by Ctrl-C, the run stops its queries and removes their partial files.
        let summary = runtime::wait(py, async move {
            batch::run(engine, lake, loaded, out, &options, Arc::new(Quiet)).await
        })?
        .or_raise(py)?;
        serde_json::to_string(&summary)
            .map_err(|e| errors::to_py(py, flowlake::Error::internal(e.to_string())))
    }

    /// Re-reads `workflows.json` and `goals.json` if they changed; returns the names of
    /// the files that did. A changed file that is invalid is refused and the catalog in
    /// use stays.
    fn reload(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let lake = Arc::clone(&self.lake);
        match runtime::wait(py, async move { lake.reload_catalog().await })?.or_raise(py)? {
            CatalogReload::Unchanged => Ok(Vec::new()),
            CatalogReload::Applied { files } => Ok(files.into_iter().map(String::from).collect()),
            CatalogReload::Refused { error, .. } => Err(errors::to_py(py, error)),
        }
    }

    fn __repr__(&self) -> String {
        format!("Lake('{}')", self.lake.location())
    }
}
