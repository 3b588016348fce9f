//! The command line: clap definitions, resolved once into typed values, one file per
//! subcommand. `run` returns the process exit code (listed in the README).

/// A line on stderr. A closed or full stderr is no reason to panic (as `eprintln!` would):
/// the message is dropped.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// A line on stdout; a reader that went away (`| head`) ends nothing but the output.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod args;
mod batch;
mod compact;
#[cfg(feature = "cluster")]
mod executor;
mod explain;
mod generate;
mod ingest;
mod query;
mod resources;
#[cfg(feature = "cluster")]
mod scheduler;
mod serve;
mod signals;

use clap::{Parser, Subcommand};

use flowlake::error::Error;

pub(crate) use args::{
    LakeArgs, ListingArgs, QueryArgs, RequestArgs, ResourceArgs, S3Args, named, parse_bytes,
    parse_memory_limit,
};
pub(crate) use resources::{open_request, open_shared, open_writer};

/// Exit code for usage errors (bad flags, unreadable payload file).
pub const EXIT_USAGE: i32 = 2;

use signals::{failed_jobs_settled, identify_jobs, stop_requested, stopped};

/// flowlake: the Workflow source data API over a Parquet event lake.
#[derive(Debug, Parser)]
#[command(name = "flowlake", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Answer one payload; the response goes to stdout, errors to stderr as JSON.
    Query(QueryArgs),
    /// Answer many query files; results to a folder, with summary.json.
    Batch(batch::BatchArgs),
    /// Show the logical and physical plan of a query, with pruning (`--analyze` runs it).
    Explain(explain::ExplainArgs),
    /// Serve the API page's HTTP endpoint, with access control.
    Serve(serve::ServeArgs),
    /// Write a deterministic synthetic lake.
    Generate(generate::GenerateArgs),
    /// Load events from NDJSON, CSV or Parquet into the lake's day folders.
    Ingest(ingest::IngestArgs),
    /// Rewrite day folders into the layout queries read fastest, swapping day manifests.
    Compact(compact::CompactArgs),
    /// Run a cluster scheduler (Apache DataFusion Ballista) for `--cluster` clients.
    #[cfg(feature = "cluster")]
    Scheduler(scheduler::SchedulerArgs),
    /// Run a cluster executor that joins a `flowlake scheduler`.
    #[cfg(feature = "cluster")]
    Executor(executor::ExecutorArgs),
}

/// Parses the command line, runs the subcommand, and returns the exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    // The server logs its requests by default; the other commands keep stderr for errors.
    match &cli.command {
        Command::Serve(args) => init_tracing("info", args.log_format),
        command if command.is_server() => init_tracing("info", LogFormat::Text),
        _ => init_tracing("off", LogFormat::Text),
    }
    if matches!(cli.command, Command::Ingest(_)) {
        // Before any other thread exists.
        ingest::keep_freed_memory();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return report(&Error::internal(format!("starting the async runtime: {e}"))),
    };
    runtime.block_on(async {
        match cli.command {
            Command::Query(args) => query::run(args).await,
            Command::Batch(args) => batch::run(args).await,
            Command::Explain(args) => explain::run(args).await,
            Command::Generate(args) => generate::run(args).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Compact(args) => compact::run(args).await,
            Command::Ingest(args) => ingest::run(args).await,
            #[cfg(feature = "cluster")]
            Command::Scheduler(args) => scheduler::run(args).await,
            #[cfg(feature = "cluster")]
            Command::Executor(args) => executor::run(args).await,
        }
    })
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event, the span's fields (`request_id`) in front.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, the event's fields at the
    /// top level, and the request's span (`span.request_id`), for log shippers.
    Json,
}

impl Command {
    /// Servers log by default; the other commands keep stderr for errors.
    fn is_server(&self) -> bool {
        match self {
            Command::Serve(_) => true,
            #[cfg(feature = "cluster")]
            Command::Scheduler(_) | Command::Executor(_) => true,
            _ => false,
        }
    }
}

/// Logs go to stderr (`RUST_LOG` overrides `default`), so stdout stays the response.
fn init_tracing(default: &str, format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// Prints a usage error (a bad flag, a port in use) as `flowlake: …` on stderr and returns
/// exit code 2.
pub fn usage(message: &str) -> i32 {
    note!("flowlake: {message}");
    EXIT_USAGE
}

/// Prints the SPEC §5 error JSON on stderr and returns its exit code.
pub fn report(error: &Error) -> i32 {
    note!("{}", error.to_json());
    error.exit_code()
}

/// Prints an error as its kind is printed: a usage error as `flowlake: …` (exit code 2),
/// any other as the SPEC §5 error JSON.
pub fn fail(error: &Error) -> i32 {
    match error {
        Error::Usage { message } => usage(message),
        other => report(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
