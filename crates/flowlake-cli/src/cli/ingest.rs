//! `flowlake ingest`: events from NDJSON, CSV or Parquet into the lake (SPEC §8).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono_tz::Tz;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{S3Args, report};
use flowlake::LakeLocation;
use flowlake::error::Error;
use flowlake::write::ingest::input::{self, InputFormat, Inputs};
use flowlake::write::ingest::{IngestOptions, IngestProgress, IngestSummary, ingest};
use flowlake::write::layout::FileLayout;

/// Options of `flowlake ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Input files, folders, s3://bucket/prefix URLs, or - for stdin.
    #[arg(required = true)]
    inputs: Vec<String>,
    /// Lake root: a local folder or s3://bucket/prefix.
    #[arg(long, value_parser = super::args::lake_location)]
    lake: LakeLocation,
    #[command(flatten)]
    s3: S3Args,
    /// The inputs' format (default: from each file's extension; stdin: ndjson).
    #[arg(long, value_parser = crate::cli::named::<InputFormat>())]
    format: Option<InputFormat>,
    /// IANA time zone for timestamps without an offset (without it they are refused).
    #[arg(long)]
    time_zone: Option<String>,
    /// Write refused rows here (one JSON object each, with the reason) and ingest the rest.
    #[arg(long)]
    rejects: Option<PathBuf>,
    /// Rows held in memory before the largest day's rows are written to a file.
    #[arg(long, default_value_t = 262_144)]
    buffer_rows: usize,
    /// Rows per Parquet row group of the written files.
    #[arg(long, default_value_t = FileLayout::default().row_group_size)]
    row_group_size: usize,
    /// Where rows are staged until they are published (default: the system's temporary
    /// folder, $TMPDIR).
    #[arg(long)]
    staging_dir: Option<PathBuf>,
}

struct Spinner(Option<ProgressBar>);

impl IngestProgress for Spinner {
    fn rows_read(&self, rows: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(rows);
        }
    }
}

pub(super) async fn run(args: IngestArgs) -> i32 {
    let time_zone = match args.time_zone.as_deref().map(str::parse::<Tz>).transpose() {
        Ok(zone) => zone,
        Err(_) => {
            return report(&Error::Usage {
                message: format!(
                    "--time-zone '{}' is not an IANA time zone such as Europe/Paris",
                    args.time_zone.unwrap_or_default()
                ),
            });
        }
    };
    let writer = match super::open_writer(&args.lake, &args.s3).await {
        Ok(writer) => writer,
        Err(error) => return report(&error),
    };
    let Inputs { sources, skipped } =
        match input::resolve(&args.inputs, args.format, &args.s3.options()).await {
            Ok(inputs) => inputs,
            Err(error) => return report(&error),
        };
    let options = IngestOptions {
        time_zone,
        rejects: args.rejects.clone(),
        layout: FileLayout {
            row_group_size: args.row_group_size.max(1),
            ..FileLayout::default()
        },
        buffer_rows: args.buffer_rows.max(1),
        staging_dir: args.staging_dir.clone(),
    };
    let bytes: u64 = sources.iter().map(|s| s.bytes).sum();
    let spinner = Spinner(std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {human_pos} rows read [{elapsed_precise}, {per_sec}]",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }));
    let started = Instant::now();
    let outcome = ingest(&writer, sources, &options, &spinner).await;
    if let Some(bar) = &spinner.0 {
        bar.finish_and_clear();
    }
    match outcome {
        Ok(summary) => {
            print_summary(&summary, bytes, started.elapsed(), args.rejects.as_deref());
            if !skipped.is_empty() {
                out!("{}", describe_skipped(&skipped));
            }
            0
        }
        Err(error) => report(&error),
    }
}

/// Ingest allocates and frees buffers of a few MB by the thousand (chunks, decoded
/// columns, sort keys). glibc gives each back to the kernel when freed and takes fresh
/// zeroed pages for the next: about 8% of ingest's CPU time went to page faults. The
/// freed memory is kept in the heap instead (peak memory is unchanged: it is reused).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(super) fn keep_freed_memory() {
    // SAFETY: mallopt only changes two thresholds of the allocator; it is called before
    // the process starts any other thread (glibc's mallopt is not thread-safe).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(super) fn keep_freed_memory() {}

fn print_summary(
    summary: &IngestSummary,
    bytes_read: u64,
    elapsed: Duration,
    rejects: Option<&std::path::Path>,
) {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    out!(
        "inputs {}, {:.1} MB read; rows read {}, written {}, already present {}, rejected {}{}",
        summary.inputs,
        bytes_read as f64 / 1e6,
        summary.rows_read,
        summary.rows_written,
        summary.rows_already_present,
        summary.rows_rejected,
        match rejects {
            Some(path) if summary.rows_rejected > 0 => format!(" (see {})", path.display()),
            _ => String::new(),
        }
    );
    out!(
        "files written {}, {:.1} MB, in {:.1}s ({:.0} rows/s)",
        summary.files_written,
        summary.bytes_written as f64 / 1e6,
        seconds,
        summary.rows_read as f64 / seconds
    );
    out!(
        "event ids of the days' existing files read {} in {:.2}s",
        summary.existing_ids_read,
        summary.existing_ids_seconds
    );
    for (day, share) in &summary.days {
        out!("  {day}: {} rows in {} files", share.rows, share.files);
    }
}

/// The files of folders and prefixes that were not read: how many, and their names (the
/// first ten).
fn describe_skipped(skipped: &[String]) -> String {
    const SHOWN: usize = 10;
    let plural = if skipped.len() == 1 { "" } else { "s" };
    let mut text = format!(
        "skipped {} file{plural}: {}",
        skipped.len(),
        skipped
            .iter()
            .take(SHOWN)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    );
    if skipped.len() > SHOWN {
        text.push_str(&format!(" and {} more", skipped.len() - SHOWN));
    }
    text.push_str(" (not named as NDJSON, CSV or Parquet; give --format to read every file)");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_files_are_counted_and_the_first_ten_named() {
        let names: Vec<String> = (0..12).map(|i| format!("f{i}.txt")).collect();
        assert!(describe_skipped(&names[..2]).starts_with("skipped 2 files: f0.txt, f1.txt ("));
        assert!(describe_skipped(&names[..1]).starts_with("skipped 1 file: f0.txt ("));
        assert!(describe_skipped(&names).starts_with("skipped 12 files: f0.txt, f1.txt, f2.txt, f3.txt, f4.txt, f5.txt, f6.txt, f7.txt, f8.txt, f9.txt and 2 more ("));
    }
}
