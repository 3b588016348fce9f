//! The one tokio runtime of the process, shared by every `Lake`, and the wait that runs an
//! engine future on it with the GIL released, polling for Ctrl-C in between.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;
use std::time::Duration;

use futures::FutureExt;
use pyo3::prelude::*;

use crate::errors;

/// How often a waiting call wakes up to check for signals (Ctrl-C): short enough that an
/// interrupt feels immediate, long enough to cost nothing.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// The process's runtime, started on first use. Worker threads default to the number of
/// cores, as in the command line.
fn runtime() -> Result<&'static tokio::runtime::Runtime, flowlake::Error> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("flowlake")
                .build()
                .map_err(|e| format!("starting the async runtime: {e}"))
        })
        .as_ref()
        .map_err(|message| flowlake::Error::internal(message.clone()))
}

/// Runs `future` to completion on the shared runtime. The GIL is released while it runs;
/// every [`SIGNAL_POLL`] the thread takes it back to run Python's signal handlers, and a
/// handler that raises (Ctrl-C's `KeyboardInterrupt`) drops the future, which cancels
/// the query, and is raised here. A panic in the engine becomes an `InternalError`.
pub fn wait<F>(py: Python<'_>, future: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let runtime = runtime().map_err(|e| errors::to_py(py, e))?;
    let mut future = Box::pin(AssertUnwindSafe(future).catch_unwind());
    loop {
        let step = py.detach(|| {
            runtime.block_on(async { tokio::time::timeout(SIGNAL_POLL, &mut future).await })
        });
        match step {
            Ok(Ok(output)) => return Ok(output),
            Ok(Err(panic)) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown cause".to_string());
                return Err(errors::to_py(
                    py,
                    flowlake::Error::internal(format!("the engine panicked (a bug): {what}")),
                ));
            }
            // Returning the error drops the future: the query stops.
            Err(_still_running) => py.check_signals()?,
        }
    }
}
