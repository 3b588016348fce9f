//! `flowlake batch`: many query files over one lake, results to a folder, with progress.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{
    LakeArgs, ListingArgs, ResourceArgs, fail, identify_jobs, open_shared, report, stop_requested,
    stopped,
};
use flowlake::batch::{self, BatchOptions, Outcome, OutputDir, Progress, Status, Summary};
use flowlake::output::Format;

/// Exit code of a batch in which at least one query failed.
pub const EXIT_SOME_FAILED: i32 = 9;

/// Options of `flowlake batch`.
#[derive(Debug, Args)]
pub struct BatchArgs {
    #[command(flatten)]
    lake: LakeArgs,
    /// A folder of query files (*.json), or one NDJSON file of queries.
    #[arg(long)]
    queries: PathBuf,
    /// Folder for the results (<name>.<format>) and summary.json.
    #[arg(long)]
    out: PathBuf,
    /// Queries running at once, 1 or more (default: number of cores).
    #[arg(long, value_parser = parse_jobs)]
    jobs: Option<usize>,
    /// Output encoding of every result.
    #[arg(long, value_parser = crate::cli::named::<Format>(), default_value = "json")]
    format: Format,
    /// Skip queries whose result file already exists (finish an interrupted run).
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    resources: ResourceArgs,
    #[command(flatten)]
    listing: ListingArgs,
}

pub(super) async fn run(args: BatchArgs) -> i32 {
    if let Err(error) = batch::files::refuse_overlap(&args.queries, &args.out) {
        return fail(&error);
    }
    let queries = match batch::queries::load(&args.queries) {
        Ok(queries) => queries,
        Err(error) => return fail(&error),
    };
    let out = match OutputDir::open(&args.out) {
        Ok(out) => Arc::new(out),
        Err(error) => return fail(&error),
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let (engine, lake, pool) =
        match open_shared(&args.resources, &args.lake, &args.listing, jobs).await {
            Ok(opened) => opened,
            Err(error) => return report(&error),
        };
    let runner = Arc::clone(engine.runner());
    note!("flowlake: {}", pool.describe());
    let options = BatchOptions {
        format: args.format,
        jobs,
        resume: args.resume,
    };
    let progress = Arc::new(Reporter::new(queries.len()));
    let mut run = Box::pin(batch::run(
        engine,
        lake,
        queries,
        Arc::clone(&out),
        &options,
        Arc::clone(&progress) as Arc<dyn Progress>,
    ));
    let stop = tokio::select! {
        summary = &mut run => {
            progress.done();
            return match summary {
                Ok(summary) => {
                    print_table(&summary, out.path());
                    if summary.failed > 0 { EXIT_SOME_FAILED } else { 0 }
                }
                Err(error) => report(&error),
            };
        }
        stop = stop_requested() => stop,
    };
    progress.done();
    // Dropping the run stops its queries: their partial files are removed and, on a
    // cluster, their jobs cancelled (once the jobs just submitted know their ids).
    identify_jobs(run.as_mut(), Some(&runner)).await;
    drop(run);
    stopped(
        stop,
        "complete results are kept, run again with --resume to finish",
        Some(&runner),
    )
    .await
}

/// `--jobs`: at least one query must be able to run.
fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("0 queries at once would run nothing; give 1 or more".into()),
        Ok(jobs) => Ok(jobs),
        Err(e) => Err(format!("'{text}': {e}")),
    }
}

/// A progress bar on a terminal, one log line per query otherwise.
struct Reporter {
    bar: Option<ProgressBar>,
    total: usize,
    finished: AtomicUsize,
    failed: AtomicUsize,
    rows: AtomicU64,
}

impl Reporter {
    fn new(total: usize) -> Reporter {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stdout());
            let style = ProgressStyle::with_template(
                "{bar:30} {pos}/{len} done, {msg} [{elapsed_precise}, ETA {eta}]",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message("0 failed, 0 rows");
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Reporter {
            bar,
            total,
            finished: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            rows: AtomicU64::new(0),
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

impl Progress for Reporter {
    fn finished(&self, outcome: &Outcome) {
        let finished = self.finished.fetch_add(1, Ordering::Relaxed) + 1;
        let (failed_now, rows_now) = (
            usize::from(outcome.status == Status::Failed),
            outcome.rows.unwrap_or(0),
        );
        let failed = self.failed.fetch_add(failed_now, Ordering::Relaxed) + failed_now;
        let rows = self.rows.fetch_add(rows_now, Ordering::Relaxed) + rows_now;
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("{failed} failed, {rows} rows"));
                bar.inc(1);
            }
            None => out!("[{finished}/{}] {}", self.total, describe(outcome)),
        }
    }
}

fn describe(outcome: &Outcome) -> String {
    match (&outcome.status, &outcome.error) {
        (Status::Failed, Some(error)) => {
            format!(
                "{} failed {} {}: {} ({} ms)",
                outcome.name, error.status, error.error, error.message, outcome.ms
            )
        }
        (Status::Skipped, _) => format!(
            "{} skipped: result exists ({} rows, {} bytes)",
            outcome.name,
            outcome.rows.unwrap_or(0),
            outcome.bytes
        ),
        _ => format!(
            "{} ok: {} rows, {} bytes, {} ms",
            outcome.name,
            outcome.rows.unwrap_or(0),
            outcome.bytes,
            outcome.ms
        ),
    }
}

/// Totals, then the failed queries (at most 20), on stdout.
fn print_table(summary: &Summary, out: &std::path::Path) {
    out!();
    out!("{:<10} {:>8}", "queries", summary.total);
    out!("{:<10} {:>8}", "ok", summary.ok);
    out!("{:<10} {:>8}", "failed", summary.failed);
    out!("{:<10} {:>8}", "skipped", summary.skipped);
    out!("{:<10} {:>8}", "rows", summary.rows);
    out!("{:<10} {:>8}", "bytes", summary.bytes);
    out!(
        "{:<10} {:>8.1}s",
        "elapsed",
        summary.elapsed_ms as f64 / 1000.0
    );
    let failures: Vec<&Outcome> = summary
        .queries
        .iter()
        .filter(|o| o.status == Status::Failed)
        .collect();
    if !failures.is_empty() {
        out!("\n{:<32} {:>6}  error", "failed query", "status");
        for outcome in failures.iter().take(20) {
            if let Some(error) = &outcome.error {
                let mut message = error.message.clone();
                if message.chars().count() > 80 {
                    message = message.chars().take(77).collect::<String>() + "...";
                }
                out!(
                    "{:<32} {:>6}  {}: {message}",
                    outcome.name,
                    error.status,
                    error.error
                );
            }
        }
        if failures.len() > 20 {
            out!("… and {} more", failures.len() - 20);
        }
    }
    out!("\nsummary: {}", out.join("summary.json").display());
}
