//! Answers as Arrow: every batch brought to the response's schema by the encoders' own
//! [`Conformer`] (so names, types and nullability are those of the Arrow IPC encoding),
//! then either collected into one table or handed out one batch at a time.

use std::sync::Mutex;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use flowlake::ResponseStream;
use flowlake::output::conform::Conformer;
use futures::StreamExt;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3_arrow::{PyRecordBatch, PySchema};

use crate::errors::OrRaise;
use crate::runtime;

/// A response's batches and the conformer that gives them the response schema.
pub struct Conformed {
    batches: SendableRecordBatchStream,
    conformer: Conformer,
}

impl Conformed {
    /// The conformed form of `response`.
    pub fn of(response: ResponseStream) -> Result<Conformed, flowlake::Error> {
        let ResponseStream { shape, batches, .. } = response;
        let conformer = Conformer::new(shape, &batches.schema())?;
        Ok(Conformed { batches, conformer })
    }

    /// The schema of every batch handed out.
    pub fn schema(&self) -> SchemaRef {
        std::sync::Arc::clone(self.conformer.schema())
    }

    /// The next non-empty batch, conformed; `None` after the last.
    async fn next(&mut self) -> Result<Option<RecordBatch>, flowlake::Error> {
        while let Some(batch) = self.batches.next().await {
            let batch = batch?;
            if batch.num_rows() > 0 {
                return self.conformer.apply(&batch).map(Some);
            }
        }
        Ok(None)
    }

    /// Every batch of the answer.
    pub async fn collect(mut self) -> Result<(SchemaRef, Vec<RecordBatch>), flowlake::Error> {
        let mut batches = Vec::new();
        while let Some(batch) = self.next().await? {
            batches.push(batch);
        }
        Ok((self.schema(), batches))
    }
}

/// Where the reading of an answer stands.
enum Reading {
    /// Batches remain.
    Open(Conformed),
    /// A thread is waiting for the next batch (the answer is out of the lock meanwhile).
    Busy,
    /// Exhausted, failed or closed: the query no longer runs.
    Done,
}

/// The batches of one answer, read one at a time as the engine produces them: an iterator
/// of Arrow record batches (`__arrow_c_array__`) with the answer's `schema`
/// (`__arrow_c_schema__`). Only the batch being handed out and what the engine holds are
/// in memory. Dropping it (or `close()`) stops the query.
#[pyclass(module = "flowlake._flowlake", frozen)]
pub struct AnswerBatches {
    schema: SchemaRef,
    reading: Mutex<Reading>,
}

impl AnswerBatches {
    /// The batches of `answer`.
    pub fn new(answer: Conformed) -> AnswerBatches {
        AnswerBatches {
            schema: answer.schema(),
            reading: Mutex::new(Reading::Open(answer)),
        }
    }

    /// The state. A poisoned lock only means a panic elsewhere while it was held; the
    /// state itself is always whole.
    fn lock(&self) -> std::sync::MutexGuard<'_, Reading> {
        self.reading
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets the state, returning the previous one.
    fn swap(&self, next: Reading) -> Reading {
        std::mem::replace(&mut *self.lock(), next)
    }

    /// Puts the answer back after a batch was read, unless it was closed meanwhile (then
    /// it is dropped here, which stops the query).
    fn put_back(&self, answer: Conformed) {
        let mut reading = self.lock();
        if let Reading::Busy = *reading {
            *reading = Reading::Open(answer);
        }
    }
}

#[pymethods]
impl AnswerBatches {
    /// The answer's schema.
    #[getter]
    fn schema(&self) -> PySchema {
        PySchema::new(std::sync::Arc::clone(&self.schema))
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next record batch, waiting for the engine with the GIL released.
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyRecordBatch>> {
        // Taken out of the lock, so that no lock is held while the engine runs.
        let mut answer = {
            let mut reading = self.lock();
            match std::mem::replace(&mut *reading, Reading::Busy) {
                Reading::Open(answer) => answer,
                Reading::Done => {
                    *reading = Reading::Done;
                    return Ok(None);
                }
                Reading::Busy => {
                    return Err(PyRuntimeError::new_err(
                        "another thread is reading this answer; read an answer from one thread at a time",
                    ));
                }
            }
        };
        // An error (of the engine, or Ctrl-C) leaves the answer done: the query stopped.
        let next = runtime::wait(py, answer.next()).and_then(|next| next.or_raise(py));
        match next {
            Ok(Some(batch)) => {
                self.put_back(answer);
                Ok(Some(PyRecordBatch::new(batch)))
            }
            Ok(None) => {
                self.swap(Reading::Done);
                Ok(None)
            }
            Err(error) => {
                self.swap(Reading::Done);
                Err(error)
            }
        }
    }

    /// Stops the query and frees what it holds; later reads find no more batches. (A read
    /// in progress on another thread hands out its batch, then the query stops.)
    fn close(&self) {
        drop(self.swap(Reading::Done));
    }

    /// Whether the answer is exhausted, failed or closed.
    #[getter]
    fn closed(&self) -> bool {
        matches!(*self.lock(), Reading::Done)
    }
}
