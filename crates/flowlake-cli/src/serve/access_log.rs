//! The access log: one line per request, written when its response is done with, and the
//! request's share of the server's metrics.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use datafusion::physical_plan::ExecutionPlan;
use futures::{Stream, StreamExt};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant as Deadline;

use super::metrics::ServerMetrics;
use super::scan_stats::ScanStats;
use flowlake::error::{Error, Result};
use flowlake::output::{Chunk, Format};

/// A response body's chunks still to come.
pub(super) type Chunks = Pin<Box<dyn Stream<Item = Result<Chunk>> + Send>>;

/// The error code of a refusal, for the access log and the metrics.
#[derive(Debug, Clone, Copy)]
pub(super) struct ErrorCode(pub(super) &'static str);

/// One access-log line per request, written when the response is done with (its body
/// finished, failed or abandoned by the client). Never holds the token.
pub(super) struct AccessLog {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) caller: Option<String>,
    pub(super) status: u16,
    /// The error code of a refusal; empty for an answer.
    pub(super) error: &'static str,
    pub(super) rows: u64,
    /// Body bytes of an answer.
    pub(super) bytes: u64,
    pub(super) started: Instant,
    pub(super) outcome: &'static str,
    /// The request's span (with its id): the line is written after the handler returned.
    pub(super) span: tracing::Span,
    pub(super) metrics: Arc<ServerMetrics>,
    /// The plans the answer ran, whose scan metrics are counted when the request ends.
    pub(super) plans: Vec<Arc<dyn ExecutionPlan>>,
}

impl AccessLog {
    pub(super) fn new(method: &str, path: &str, metrics: &Arc<ServerMetrics>) -> AccessLog {
        metrics.started();
        AccessLog {
            method: method.to_string(),
            path: path.to_string(),
            caller: None,
            status: 0,
            error: "",
            rows: 0,
            bytes: 0,
            started: Instant::now(),
            outcome: "complete",
            span: tracing::Span::current(),
            metrics: Arc::clone(metrics),
            plans: Vec::new(),
        }
    }

    /// A response with its whole body in hand.
    pub(super) fn finish(mut self, response: Response) -> Response {
        self.status = response.status().as_u16();
        self.error = response
            .extensions()
            .get::<ErrorCode>()
            .map_or("", |code| code.0);
        response
    }

    /// A 200 whose body streams: the chunks already produced, then the rest, each within
    /// the deadline. An error after the first byte ends the body without its terminating
    /// chunk, so the client sees a broken transfer rather than a short success.
    pub(super) fn stream(
        mut self,
        format: Format,
        prefix: Vec<Bytes>,
        rest: Option<Chunks>,
        deadline: Deadline,
        permit: OwnedSemaphorePermit,
    ) -> Response {
        self.status = 200;
        self.outcome = "disconnected";
        self.bytes += prefix.iter().map(|b| b.len() as u64).sum::<u64>();
        let head = futures::stream::iter(prefix.into_iter().map(Ok::<Bytes, Error>));
        let tail = futures::stream::unfold(Some((rest, self, permit)), move |state| async move {
            let (rest, mut log, permit) = state?;
            let Some(mut chunks) = rest else {
                log.outcome = "complete";
                return None;
            };
            // Checked before polling too: a producer that is always ready must not outrun it.
            let next = if Deadline::now() >= deadline {
                Err(())
            } else {
                tokio::time::timeout_at(deadline, chunks.next())
                    .await
                    .map_err(|_| ())
            };
            match next {
                Ok(Some(Ok(chunk))) => {
                    log.rows += chunk.rows;
                    log.bytes += chunk.bytes.len() as u64;
                    Some((
                        Ok(Bytes::from(chunk.bytes)),
                        Some((Some(chunks), log, permit)),
                    ))
                }
                Ok(Some(Err(error))) => {
                    log.outcome = "aborted";
                    let _entered = log.span.enter();
                    tracing::warn!(target: "flowlake::access", path = %log.path, error = %error, "response aborted after its first byte");
                    Some((Err(error), None))
                }
                Ok(None) => {
                    log.outcome = "complete";
                    None
                }
                Err(_) => {
                    log.outcome = "timeout";
                    Some((
                        Err(Error::internal("the request timed out while streaming")),
                        None,
                    ))
                }
            }
        });
        let content_type = match format {
            Format::Csv => "text/csv; charset=utf-8",
            other => other.media_type(),
        };
        (
            [(header::CONTENT_TYPE, content_type)],
            Body::from_stream(head.chain(tail)),
        )
            .into_response()
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        let _entered = self.span.enter();
        tracing::info!(
            target: "flowlake::access",
            method = %self.method,
            path = %self.path,
            status = self.status,
            rows = self.rows,
            ms = self.started.elapsed().as_millis() as u64,
            caller = self.caller.as_deref().unwrap_or("-"),
            outcome = self.outcome,
        );
        self.metrics.finished(
            self.status,
            self.error,
            self.started.elapsed(),
            self.rows,
            self.bytes,
        );
        // Every plan the answer ran (a small limit may try its first days first) read.
        if !self.plans.is_empty() {
            self.metrics.scanned(&ScanStats::of_all(&self.plans));
        }
    }
}
