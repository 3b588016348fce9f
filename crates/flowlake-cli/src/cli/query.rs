//! `flowlake query`: one payload in, one response out.

use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};

use flowlake::PlanRunner;

use super::{
    EXIT_USAGE, QueryArgs, RequestArgs, identify_jobs, open_request, report, stop_requested,
    stopped,
};
use flowlake::error::{Error, Result};
use flowlake::output::write_response;

/// Reads the payload named by `--payload` (`-` is stdin). Failure is a usage error: it is
/// reported here and its exit code returned.
pub(super) fn read_payload(request: &RequestArgs) -> Result<Vec<u8>, i32> {
    let mut bytes = Vec::new();
    let read = if request.payload.as_os_str() == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map(|_| ())
            .map_err(|e| format!("reading the payload from stdin: {e}"))
    } else {
        std::fs::read(&request.payload)
            .map(|b| bytes = b)
            .map_err(|e| {
                format!(
                    "reading the payload file {}: {e}",
                    request.payload.display()
                )
            })
    };
    read.map(|_| bytes).map_err(|message| {
        note!("flowlake: {message}");
        EXIT_USAGE
    })
}

pub(super) async fn run(args: QueryArgs) -> i32 {
    let payload = match read_payload(&args.request) {
        Ok(bytes) => bytes,
        Err(code) => return code,
    };
    let mut sink = std::io::BufWriter::new(std::io::stdout());
    // Where the answer's plans run, once its engine is made (for a stop signal).
    let runner = OnceLock::new();
    let outcome = {
        let answering = answer(&args, &payload, &mut sink, &runner);
        tokio::pin!(answering);
        tokio::select! {
            outcome = &mut answering => Ok(outcome),
            stop = stop_requested() => {
                // The answer runs a moment more if its cluster job has no id yet; dropped
                // then, it cancels the job.
                identify_jobs(answering.as_mut(), runner.get()).await;
                Err(stop)
            }
        }
    };
    let _ = sink.flush();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(stop) => return stopped(stop, "the output is incomplete", runner.get()).await,
    };
    match outcome {
        Ok(_) | Err(Error::OutputClosed) => 0,
        Err(error) => {
            // A failed cluster job's files are asked to be removed once its tasks have
            // stopped: the process stays (boundedly) for that request.
            if let Some(runner) = runner.get() {
                runner.cancellations_settled(FAILED_JOB_CLEANUP_LIMIT).await;
            }
            report(&error)
        }
    }
}

/// How long a query that failed on a cluster waits for its job's files to be removed.
const FAILED_JOB_CLEANUP_LIMIT: std::time::Duration = std::time::Duration::from_secs(6);

/// Validates, plans and streams one request into `sink`; returns the number of rows.
async fn answer(
    args: &QueryArgs,
    payload: &[u8],
    sink: &mut (dyn Write + Send),
    runner: &OnceLock<Arc<dyn PlanRunner>>,
) -> Result<u64> {
    let (query, engine, lake) = open_request(&args.request, &args.resources, payload).await?;
    let _ = runner.set(Arc::clone(engine.runner()));
    let response = engine.execute(&lake, &query).await?;
    write_response(response, args.format, sink).await
}
