//! `flowlake query`: one payload in, one response out.

use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};

use flowlake::PlanRunner;

use super::{
    QueryArgs, RequestArgs, fail, failed_jobs_settled, identify_jobs, open_request, report,
    stop_requested, stopped,
};
use flowlake::error::{Error, Result};
use flowlake::output::write_response;

/// Reads the payload named by `--payload` (`-` is stdin). Failure is a usage error.
pub(super) fn read_payload(request: &RequestArgs) -> Result<Vec<u8>> {
    let read = if request.payload.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map(|_| bytes)
            .map_err(|e| format!("reading the payload from stdin: {e}"))
    } else {
        std::fs::read(&request.payload).map_err(|e| {
            format!(
                "reading the payload file {}: {e}",
                request.payload.display()
            )
        })
    };
    read.map_err(|message| Error::Usage { message })
}

pub(super) async fn run(args: QueryArgs) -> i32 {
    let payload = match read_payload(&args.request) {
        Ok(bytes) => bytes,
        Err(error) => return fail(&error),
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
            failed_jobs_settled(runner.get()).await;
            report(&error)
        }
    }
}

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
