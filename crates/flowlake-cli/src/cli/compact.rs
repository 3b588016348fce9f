//! `flowlake compact`: day folders rewritten into the fastest layout (SPEC §8).

use std::io::IsTerminal;
use std::time::Duration;

use chrono::NaiveDate;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use uuid::Uuid;

use super::{S3Args, report};
use flowlake::LakeLocation;
use flowlake::error::Error;
use flowlake::write::compact::{CompactOptions, DayOutcome, DayStatus, compact};
use flowlake::write::day_reader::SortMemory;
use flowlake::write::layout::FileLayout;

/// Exit code when at least one day could not be compacted.
pub const EXIT_SOME_DAYS_FAILED: i32 = 9;

/// Options of `flowlake compact`.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Lake root: a local folder or s3://bucket/prefix.
    #[arg(long, value_parser = super::args::lake_location)]
    lake: LakeLocation,
    #[command(flatten)]
    s3: S3Args,
    /// Only this organization's days.
    #[arg(long = "org")]
    organization_id: Option<Uuid>,
    /// First day (UTC date, inclusive).
    #[arg(long)]
    from: Option<NaiveDate>,
    /// Last day (UTC date, inclusive).
    #[arg(long)]
    to: Option<NaiveDate>,
    /// How long replaced files stay readable for queries that listed the day before the
    /// swap (e.g. 10m, 30s, 0 to delete them now).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    grace: Duration,
    /// How old a Parquet file that no manifest names must be before it is deleted (files of
    /// an ingest still running are not named yet).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    orphan_grace: Duration,
    /// Rows per Parquet row group of the rewritten files.
    #[arg(long, default_value_t = FileLayout::default().row_group_size)]
    row_group_size: usize,
    /// A day's rewritten files grow to about this size before the next one starts
    /// (e.g. 256M, 1G); smaller days keep one file.
    #[arg(long, default_value = "256M", value_parser = super::parse_bytes)]
    target_file_size: usize,
    /// Memory the sort of a day may hold (e.g. 2G); beyond it the sort spills to disk.
    /// Default: half of the machine's available memory.
    #[arg(long, value_parser = super::parse_memory_limit)]
    memory_limit: Option<usize>,
    /// Where the sort spills and new files are staged (default: the system's temporary
    /// folder, $TMPDIR).
    #[arg(long)]
    spill_dir: Option<std::path::PathBuf>,
}

/// `10m`, `30s`, `1h 30m`, or a plain number of seconds.
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    if let Ok(seconds) = text.trim().parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("'{text}' is not a duration like 10m, 30s or 0: {e}"))
}

pub(super) async fn run(args: CompactArgs) -> i32 {
    // As `query` refuses an interval whose start is after its end.
    if let (Some(from), Some(to)) = (args.from, args.to)
        && from > to
    {
        return report(&Error::Usage {
            message: format!("--from {from} is after --to {to}"),
        });
    }
    let writer = match super::open_writer(&args.lake, &args.s3).await {
        Ok(writer) => writer,
        Err(error) => return report(&error),
    };
    let options = CompactOptions {
        organization_id: args.organization_id,
        from: args.from,
        to: args.to,
        grace: args.grace,
        orphan_grace: args.orphan_grace,
        layout: FileLayout {
            row_group_size: args.row_group_size.max(1),
            ..FileLayout::default()
        },
        target_file_size: u64::try_from(args.target_file_size.max(1)).unwrap_or(u64::MAX),
        memory: SortMemory {
            limit: flowlake::memory::for_one_job(args.memory_limit),
            spill_dir: args.spill_dir.clone(),
        },
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {pos} days [{elapsed_precise}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let progress = |outcome: &DayOutcome| match &bar {
        Some(bar) => {
            bar.inc(1);
            bar.set_message(format!("{}", outcome.day));
        }
        None => note!("{}", describe(outcome)),
    };
    let outcomes = compact(&writer, &options, &progress).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    match outcomes {
        Ok(outcomes) => summarize(&outcomes),
        Err(error) => report(&error),
    }
}

fn describe(outcome: &DayOutcome) -> String {
    let what = match &outcome.status {
        DayStatus::Compacted {
            files_in,
            files_out,
            rows,
            bytes,
            spilled,
        } => {
            let spill = if *spilled > 0 {
                format!("; the sort spilled {spilled} bytes")
            } else {
                String::new()
            };
            format!(
                "compacted {files_in} files into {files_out} ({rows} rows, {bytes} bytes{spill})"
            )
        }
        DayStatus::AlreadyCompact => "already compact".to_string(),
        DayStatus::Empty => "no event files".to_string(),
        DayStatus::Raced => {
            "another writer replaced the same files first; left as it is".to_string()
        }
        DayStatus::Failed { message } => format!("FAILED: {message}"),
    };
    let mut line = format!("{}: {what}", outcome.day);
    if !outcome.swept.deleted.is_empty() {
        line.push_str(&format!(
            "; deleted {} files no manifest names: {}",
            outcome.swept.deleted.len(),
            outcome.swept.deleted.join(", ")
        ));
    }
    if !outcome.swept.foreign.is_empty() {
        let files: Vec<String> = outcome
            .swept
            .foreign
            .iter()
            .map(|(name, size)| format!("{name} ({size} bytes)"))
            .collect();
        line.push_str(&format!(
            "; left in place {} files that no manifest names and flowlake did not write: {}",
            files.len(),
            files.join(", ")
        ));
    }
    line
}

/// The summary on stdout; the exit code says whether every day was done.
fn summarize(outcomes: &[DayOutcome]) -> i32 {
    let count = |f: fn(&DayStatus) -> bool| outcomes.iter().filter(|o| f(&o.status)).count();
    let compacted = count(|s| matches!(s, DayStatus::Compacted { .. }));
    let failed: Vec<&DayOutcome> = outcomes
        .iter()
        .filter(|o| matches!(o.status, DayStatus::Failed { .. }))
        .collect();
    let (rows, bytes) = outcomes
        .iter()
        .fold((0u64, 0u64), |(r, b), o| match o.status {
            DayStatus::Compacted { rows, bytes, .. } => (r + rows, b + bytes),
            _ => (r, b),
        });
    out!(
        "days {}: compacted {compacted}, already compact {}, empty {}, raced {}, failed {}",
        outcomes.len(),
        count(|s| *s == DayStatus::AlreadyCompact),
        count(|s| *s == DayStatus::Empty),
        count(|s| *s == DayStatus::Raced),
        failed.len()
    );
    out!(
        "rows rewritten {rows}, bytes written {bytes}, files deleted {}",
        outcomes
            .iter()
            .map(|o| o.swept.deleted.len())
            .sum::<usize>()
    );
    // Other tools' files are named where they are, whatever the terminal: the user decides.
    for outcome in outcomes.iter().filter(|o| !o.swept.foreign.is_empty()) {
        for (name, size) in &outcome.swept.foreign {
            out!(
                "not in the manifest, left in place: {}/{name} ({size} bytes)",
                outcome.day
            );
        }
    }
    for outcome in &failed {
        out!("{}", describe(outcome));
    }
    if failed.is_empty() {
        0
    } else {
        EXIT_SOME_DAYS_FAILED
    }
}
