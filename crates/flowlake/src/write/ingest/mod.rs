//! `flowlake ingest` (SPEC §8): events from NDJSON, CSV or Parquet checked and written into
//! their organization's UTC day folders in the layout queries read fastest.
//!
//! One pass: each input is cut into chunks of whole records on one thread ([`chunks`]),
//! the chunks are decoded and checked on every core ([`decode`]: Arrow's decoders and
//! checks over whole columns, the per-row checks of [`record`] only for pieces that hold a
//! bad record), and their rows come back in input order to be buffered by day, staged as
//! sorted files and published.
//!
//! Safety, in order: (1) the lake is only read while the input is: the event ids of each
//! day the run writes to (an event already in the day, or earlier in the input, is counted
//! as already present and not written again); (2) rows are staged in local files; without
//! `--rejects` the first bad row refuses the whole input, and the staged files are deleted
//! unpublished; (3) once every input is read, each day gets a manifest (naming the files it
//! already had, so its answers do not change) and one commit publishes the day's files,
//! each under a name of its own. A commit first reads the ids of files other writers
//! published meanwhile and drops this run's rows that clash. A run killed anywhere leaves
//! each day as before or as after it; running it again adds what is missing.

mod checks;
mod chunks;
mod csv_records;
mod decode;
pub mod input;
mod instant;
mod json_lines;
mod parquet_batches;
mod publish;
pub mod record;
mod rejects;
mod staging;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use chrono_tz::Tz;
use datafusion::arrow::array::{BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::write::day_reader::{DayReader, EventKeys};
use crate::write::layout::FileLayout;
use crate::write::{Day, LakeWriter};
use chunks::ChunkLimits;
use decode::{DayRows, DecodeOptions, Decoded, decode};
use input::Source;
use rejects::Rejects;
use staging::{Staged, stage};

/// How ingest runs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Read in this zone: timestamps without an offset (otherwise they are refused).
    pub time_zone: Option<Tz>,
    /// Where refused rows go (with the reason); without it one refuses the whole input.
    pub rejects: Option<PathBuf>,
    pub layout: FileLayout,
    /// Rows held in memory at most before the largest day's rows are staged.
    pub buffer_rows: usize,
    /// Where rows are staged before they are published (default: the system's temporary
    /// folder).
    pub staging_dir: Option<PathBuf>,
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct IngestSummary {
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_rejected: u64,
    /// Rows whose event the day already had, or that came earlier in the input.
    pub rows_already_present: u64,
    /// Event ids read from the days' existing files to find those, and the time it took.
    pub existing_ids_read: u64,
    pub existing_ids_seconds: f64,
    pub files_written: u64,
    pub bytes_written: u64,
    pub inputs: usize,
    pub days: BTreeMap<Day, DaySummary>,
}

/// One day's share of a run.
#[derive(Debug, Default, Clone, Copy)]
pub struct DaySummary {
    pub rows: u64,
    pub files: u64,
}

/// Reports progress: rows read so far.
pub trait IngestProgress: Send + Sync {
    fn rows_read(&self, rows: u64);
}

/// Ingests `sources` into the lake.
pub async fn ingest(
    writer: &LakeWriter,
    sources: Vec<Source>,
    options: &IngestOptions,
    progress: &dyn IngestProgress,
) -> Result<IngestSummary> {
    let mut rejects = match &options.rejects {
        Some(path) => Some(Rejects::create(path)?),
        None => None,
    };
    let mut run = Run::new(writer, options)?;
    run.summary.inputs = sources.len();
    let read = run.read(sources, rejects.as_mut(), progress).await;
    // A file being staged is finished before anything else happens to the staging folder
    // (published, or deleted with it when the run failed).
    let staged = match read {
        Ok(()) => run.flush_all().await,
        Err(error) => {
            let _ = run.settle_all().await;
            Err(error)
        }
    };
    staged?;
    run.publish().await?;
    if let Some(rejects) = rejects {
        rejects.finish()?;
    }
    Ok(run.summary)
}

/// Chunks decoded at once beside the one whose rows are being added, per core.
const DECODING_PER_CORE: usize = 2;

/// One day's share of the run.
#[derive(Default)]
struct DayState {
    /// Files whose event ids are in `present`.
    seen: BTreeSet<String>,
    /// The event ids of the day's published files.
    present: EventKeys,
    /// The event ids this run writes into the day.
    ours: EventKeys,
    staged: Vec<Staged>,
}

struct Run<'a> {
    writer: &'a LakeWriter,
    reader: DayReader,
    options: &'a IngestOptions,
    staging: tempfile::TempDir,
    buffers: HashMap<Day, Vec<RecordBatch>>,
    buffered: usize,
    /// The files being staged beside the reading, oldest first, and their days.
    staging_days: VecDeque<(Day, JoinHandle<Result<Staged>>)>,
    days: BTreeMap<Day, DayState>,
    summary: IngestSummary,
}

/// A chunk being decoded, and the input it is of.
type Decoding = (Arc<str>, JoinHandle<Result<Decoded>>);

impl<'a> Run<'a> {
    fn new(writer: &'a LakeWriter, options: &'a IngestOptions) -> Result<Run<'a>> {
        let staging = match &options.staging_dir {
            Some(dir) => tempfile::Builder::new()
                .prefix("flowlake-ingest-")
                .tempdir_in(dir),
            None => tempfile::Builder::new()
                .prefix("flowlake-ingest-")
                .tempdir(),
        }
        .map_err(|e| Error::internal(format!("creating a staging folder: {e}")))?;
        Ok(Run {
            writer,
            reader: DayReader::new(writer, &Default::default())?,
            options,
            staging,
            buffers: HashMap::new(),
            buffered: 0,
            staging_days: VecDeque::new(),
            days: BTreeMap::new(),
            summary: IngestSummary::default(),
        })
    }

    /// Reads every input: chunks cut on one thread, decoded on the blocking pool (as many
    /// at once as the channel holds), their rows added in input order.
    async fn read(
        &mut self,
        sources: Vec<Source>,
        mut rejects: Option<&mut Rejects>,
        progress: &dyn IngestProgress,
    ) -> Result<()> {
        let options = DecodeOptions {
            time_zone: self.options.time_zone,
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (sender, mut receiver) = mpsc::channel::<Result<Decoding>>(cores * DECODING_PER_CORE);
        let cutting = tokio::task::spawn_blocking(move || {
            let runtime = tokio::runtime::Handle::current();
            for source in &sources {
                let shown: Arc<str> = source.shown.as_str().into();
                let cut = chunks::read(source, ChunkLimits::default(), &mut |chunk| {
                    let decoding = runtime.spawn_blocking(move || decode(chunk, &options));
                    sender
                        .blocking_send(Ok((Arc::clone(&shown), decoding)))
                        .map_err(|_| Error::internal("the ingest writer stopped"))
                });
                if let Err(error) = cut {
                    // After the chunks before it: a bad row earlier is the one reported.
                    let _ = sender.blocking_send(Err(error));
                    return;
                }
            }
        });
        while let Some(decoding) = receiver.recv().await {
            let (shown, decoding) = decoding?;
            let decoded = decoding
                .await
                .map_err(|e| Error::internal(format!("decoding the input: {e}")))??;
            self.summary.rows_read += decoded.records;
            for refused in &decoded.refused {
                let Some(rejects) = rejects.as_deref_mut() else {
                    return Err(Error::bad_request(format!(
                        "input {shown} {}: {}; nothing was written (give --rejects FILE to load the other rows and set such rows aside)",
                        refused.position, refused.refusal
                    )));
                };
                rejects.write(&shown, refused)?;
                self.summary.rows_rejected += 1;
            }
            for rows in decoded.days {
                self.add(rows).await?;
            }
            progress.rows_read(self.summary.rows_read);
        }
        cutting
            .await
            .map_err(|e| Error::internal(format!("reading the input: {e}")))
    }

    /// Buffers a day's rows, but those whose event the day has or the run already wrote.
    async fn add(&mut self, rows: DayRows) -> Result<()> {
        let DayRows { day, batch, keys } = rows;
        if !self.days.contains_key(&day) {
            let state = self.load_day(day).await?;
            self.days.insert(day, state);
        }
        let state = self
            .days
            .get_mut(&day)
            .ok_or_else(|| Error::internal("a day's state is missing"))?;
        let keep: Vec<bool> = keys
            .iter()
            .map(|key| !state.present.contains(key) && state.ours.insert(*key))
            .collect();
        let kept = keep.iter().filter(|keep| **keep).count();
        self.summary.rows_already_present += (keep.len() - kept) as u64;
        if kept == 0 {
            return Ok(());
        }
        let batch = if kept == keep.len() {
            batch
        } else {
            filter_record_batch(&batch, &BooleanArray::from(keep))
                .map_err(|e| Error::internal(format!("dropping rows already present: {e}")))?
        };
        self.buffers.entry(day).or_default().push(batch);
        self.buffered += kept;
        if self.buffered >= self.options.buffer_rows.max(1) {
            // The largest day goes first.
            let day = self
                .buffers
                .iter()
                .map(|(day, batches)| (batches.iter().map(RecordBatch::num_rows).sum(), *day))
                .max_by_key(|(rows, day): &(usize, Day)| (*rows, std::cmp::Reverse(*day)))
                .map(|(_, day)| day);
            if let Some(day) = day {
                // One file at a time beside the reading, which keeps the other cores.
                self.flush(day, 1).await?;
            }
        }
        Ok(())
    }

    /// Stages every day's buffered rows, as many days at once as there are cores (reading
    /// is done).
    async fn flush_all(&mut self) -> Result<()> {
        let mut days: Vec<Day> = self.buffers.keys().copied().collect();
        days.sort();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        for day in days {
            if let Err(error) = self.flush(day, cores).await {
                let _ = self.settle_all().await;
                return Err(error);
            }
        }
        self.settle_all().await
    }

    /// Stages one day's buffered rows as one file on its own thread, once fewer than
    /// `at_once` files are being staged.
    async fn flush(&mut self, day: Day, at_once: usize) -> Result<()> {
        let Some(batches) = self.buffers.remove(&day) else {
            return Ok(());
        };
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        self.buffered -= rows;
        if rows == 0 {
            return Ok(());
        }
        while self.staging_days.len() >= at_once.max(1) {
            self.settle_oldest().await?;
        }
        let path = self
            .staging
            .path()
            .join(format!("{}.parquet", uuid::Uuid::new_v4().simple()));
        let layout = self.options.layout;
        let staging = tokio::task::spawn_blocking(move || stage(batches, layout, path));
        self.staging_days.push_back((day, staging));
        Ok(())
    }

    /// Waits for the oldest file being staged.
    async fn settle_oldest(&mut self) -> Result<()> {
        let Some((day, staging)) = self.staging_days.pop_front() else {
            return Ok(());
        };
        let staged = staging
            .await
            .map_err(|e| Error::internal(format!("staging rows: {e}")))??;
        self.days.entry(day).or_default().staged.push(staged);
        Ok(())
    }

    /// Waits for every file being staged (all of them, even after one failed: nothing may
    /// still write into the staging folder when it is removed); the first error.
    async fn settle_all(&mut self) -> Result<()> {
        let mut outcome = Ok(());
        while !self.staging_days.is_empty() {
            if let Err(error) = self.settle_oldest().await {
                outcome = outcome.and(Err(error));
            }
        }
        outcome
    }
}
