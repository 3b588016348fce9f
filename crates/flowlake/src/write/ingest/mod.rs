//! `flowlake ingest` (SPEC §8): events from NDJSON, CSV or Parquet checked row by row and
//! written into their organization's UTC day folders in the layout queries read fastest.
//!
//! Safety, in order: (1) without `--rejects`, every input is read and checked once before
//! anything is written, so one bad row refuses the whole input; (2) each day the run
//! writes to gets a manifest first (naming the files it already had, so its answers do not
//! change), and the event ids of its files are read: an event already in the day, or
//! earlier in the input, is counted as already present and not written again; (3) rows are
//! staged in local files, and (4) published at the end, one commit per day, each file under
//! a name of its own. A commit first reads the ids of files other writers published
//! meanwhile and drops this run's rows that clash. A run killed anywhere leaves each day as
//! before or as after it; running it again adds what is missing.

pub mod input;
pub mod record;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use datafusion::arrow::array::{AsArray, BooleanArray};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::format::event::{Event, to_record_batch};
use crate::format::schema::file_schema;
use crate::write::commit::{COMMIT_ATTEMPTS, backoff, too_many_attempts};
use crate::write::day_reader::{DayReader, EventKey, event_key};
use crate::write::layout::{FileLayout, sort_events, to_parquet};
use crate::write::names::{INGEST_PREFIX, fresh_name};
use crate::write::{Commit, CommitOutcome, Day, LakeWriter, named_objects};
use input::{Record, Source};

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
    let sources = std::sync::Arc::new(sources);
    if options.rejects.is_none() {
        // The first pass only checks: a bad row anywhere refuses the whole input before
        // anything is written.
        let checked = std::sync::Arc::clone(&sources);
        let time_zone = options.time_zone;
        tokio::task::spawn_blocking(move || -> Result<()> {
            for source in checked.iter() {
                input::read(source, time_zone, &mut |record| match record.outcome {
                    Ok(_) => Ok(()),
                    Err((refusal, _)) => Err(Error::bad_request(format!(
                        "input {} {}: {refusal}; nothing was written (give --rejects FILE to load the other rows and set such rows aside)",
                        source.shown, record.position
                    ))),
                })?;
            }
            Ok(())
        })
        .await
        .map_err(|e| Error::internal(format!("checking the input: {e}")))??;
    }

    let mut rejects = match &options.rejects {
        Some(path) => Some(Rejects::create(path)?),
        None => None,
    };
    let mut run = Run::new(writer, options)?;
    run.summary.inputs = sources.len();

    // Records flow from a reading thread through a bounded channel: memory stays bounded
    // whatever the input's size.
    let (sender, mut receiver) = mpsc::channel::<(std::sync::Arc<str>, Record)>(4096);
    let reading = std::sync::Arc::clone(&sources);
    let time_zone = options.time_zone;
    let reader = tokio::task::spawn_blocking(move || -> Result<()> {
        for source in reading.iter() {
            let shown: std::sync::Arc<str> = source.shown.as_str().into();
            input::read(source, time_zone, &mut |record| {
                sender
                    .blocking_send((std::sync::Arc::clone(&shown), record))
                    .map_err(|_| Error::internal("the ingest writer stopped"))
            })?;
        }
        Ok(())
    });
    while let Some((shown, record)) = receiver.recv().await {
        run.summary.rows_read += 1;
        if run.summary.rows_read % 65_536 == 0 {
            progress.rows_read(run.summary.rows_read);
        }
        match record.outcome {
            Ok((organization_id, event)) => run.add(organization_id, event).await?,
            Err((refusal, original)) => match rejects.as_mut() {
                Some(rejects) => {
                    rejects.write(&shown, &record.position, &refusal.to_string(), original)?;
                    run.summary.rows_rejected += 1;
                }
                // The input changed between the two passes.
                None => {
                    return Err(Error::bad_request(format!(
                        "input {shown} {}: {refusal}",
                        record.position
                    )));
                }
            },
        }
    }
    reader
        .await
        .map_err(|e| Error::internal(format!("reading the input: {e}")))??;
    progress.rows_read(run.summary.rows_read);
    run.flush_all()?;
    run.publish().await?;
    if let Some(rejects) = rejects {
        rejects.finish()?;
    }
    Ok(run.summary)
}

/// One day's share of the run.
#[derive(Default)]
struct DayState {
    /// Files whose event ids are in `present`.
    seen: BTreeSet<String>,
    /// The event ids of the day's published files.
    present: HashSet<EventKey>,
    /// The event ids this run writes into the day.
    ours: HashSet<EventKey>,
    staged: Vec<Staged>,
}

/// A file of rows staged for a day, and the name it was uploaded under, once it was.
struct Staged {
    path: PathBuf,
    rows: u64,
    bytes: u64,
    uploaded: Option<String>,
}

struct Run<'a> {
    writer: &'a LakeWriter,
    reader: DayReader,
    options: &'a IngestOptions,
    staging: tempfile::TempDir,
    buffers: HashMap<Day, Vec<Event>>,
    buffered: usize,
    days: BTreeMap<Day, DayState>,
    summary: IngestSummary,
}

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
            days: BTreeMap::new(),
            summary: IngestSummary::default(),
        })
    }

    async fn add(&mut self, organization_id: uuid::Uuid, event: Event) -> Result<()> {
        let date = DateTime::<Utc>::from_timestamp_micros(event.timestamp_us)
            .ok_or_else(|| {
                Error::bad_request(format!("event {}: timestamp out of range", event.event_id))
            })?
            .date_naive();
        let day = Day {
            organization_id,
            date,
        };
        if !self.days.contains_key(&day) {
            let state = self.load_day(day).await?;
            self.days.insert(day, state);
        }
        let state = self
            .days
            .get_mut(&day)
            .ok_or_else(|| Error::internal("a day's state is missing"))?;
        let key = event_key(&event.event_id);
        if state.present.contains(&key) || !state.ours.insert(key) {
            self.summary.rows_already_present += 1;
            return Ok(());
        }
        self.buffers.entry(day).or_default().push(event);
        self.buffered += 1;
        if self.buffered >= self.options.buffer_rows.max(1) {
            // The largest day goes first.
            let day = self
                .buffers
                .iter()
                .max_by_key(|(day, rows)| (rows.len(), std::cmp::Reverse(**day)))
                .map(|(day, _)| *day);
            if let Some(day) = day {
                self.flush(day)?;
            }
        }
        Ok(())
    }

    /// The day's manifest (created when it has none) and the ids of the events it names.
    async fn load_day(&mut self, day: Day) -> Result<DayState> {
        for attempt in 0..COMMIT_ATTEMPTS {
            let manifest = self.writer.ensure_manifest(day).await?;
            let mut state = DayState::default();
            if self
                .read_ids(day, &manifest.files, &mut state.present)
                .await?
            {
                state.seen.extend(manifest.files);
                return Ok(state);
            }
            backoff(attempt).await;
        }
        Err(too_many_attempts(self.writer, day))
    }

    /// Adds the ids of the day's files `names` to `keys`. `false`: one of them was
    /// replaced and deleted meanwhile (a compact with no grace), so the day is to be read
    /// again.
    async fn read_ids(
        &mut self,
        day: Day,
        names: &[String],
        keys: &mut HashSet<EventKey>,
    ) -> Result<bool> {
        if names.is_empty() {
            return Ok(true);
        }
        let started = Instant::now();
        let listing = self.writer.list_day(day).await?;
        let Ok(files) = named_objects(&listing, names) else {
            return Ok(false);
        };
        let read = match self.reader.event_keys(day, files, keys).await {
            Ok(read) => read,
            Err(Error::ObjectChanged { .. }) => return Ok(false),
            Err(error) => return Err(error),
        };
        self.summary.existing_ids_read += read;
        self.summary.existing_ids_seconds += started.elapsed().as_secs_f64();
        Ok(true)
    }

    fn flush_all(&mut self) -> Result<()> {
        let mut days: Vec<Day> = self.buffers.keys().copied().collect();
        days.sort();
        for day in days {
            self.flush(day)?;
        }
        Ok(())
    }

    /// Stages one day's buffered rows as one file.
    fn flush(&mut self, day: Day) -> Result<()> {
        let Some(mut events) = self.buffers.remove(&day) else {
            return Ok(());
        };
        self.buffered -= events.len();
        if events.is_empty() {
            return Ok(());
        }
        sort_events(&mut events, self.options.layout.sort);
        let bytes = to_parquet(&to_record_batch(&events)?, self.options.layout)?;
        let path = self
            .staging
            .path()
            .join(format!("{}.parquet", uuid::Uuid::new_v4().simple()));
        std::fs::write(&path, &bytes)
            .map_err(|e| Error::internal(format!("staging rows in {}: {e}", path.display())))?;
        let state = self.days.entry(day).or_default();
        state.staged.push(Staged {
            path,
            rows: events.len() as u64,
            bytes: bytes.len() as u64,
            uploaded: None,
        });
        Ok(())
    }

    /// Publishes every day's staged files, one commit per day.
    async fn publish(&mut self) -> Result<()> {
        let days: Vec<Day> = self.days.keys().copied().collect();
        for day in days {
            self.publish_day(day).await?;
            let state = self
                .days
                .get(&day)
                .ok_or_else(|| Error::internal("a day's state is missing"))?;
            let staged: Vec<&Staged> = state.staged.iter().filter(|s| s.rows > 0).collect();
            if staged.is_empty() {
                continue;
            }
            let share = self.summary.days.entry(day).or_default();
            for file in staged {
                share.rows += file.rows;
                share.files += 1;
                self.summary.rows_written += file.rows;
                self.summary.files_written += 1;
                self.summary.bytes_written += file.bytes;
            }
        }
        Ok(())
    }

    async fn publish_day(&mut self, day: Day) -> Result<()> {
        let writer = self.writer;
        for attempt in 0..COMMIT_ATTEMPTS {
            let txn = writer.begin(day).await?;
            // Files other writers published since this run read the day: their events
            // are no longer this run's to write.
            let named = txn.manifest().map(|m| m.files.clone()).unwrap_or_default();
            let seen = &self
                .days
                .get(&day)
                .ok_or_else(|| Error::internal("a day's state is missing"))?
                .seen;
            let new: Vec<String> = named
                .into_iter()
                .filter(|name| !seen.contains(name))
                .collect();
            if !new.is_empty() {
                let mut theirs = HashSet::new();
                if !self.read_ids(day, &new, &mut theirs).await? {
                    drop(txn);
                    backoff(attempt).await;
                    continue;
                }
                let state = self
                    .days
                    .get_mut(&day)
                    .ok_or_else(|| Error::internal("a day's state is missing"))?;
                let clash: HashSet<EventKey> = theirs
                    .iter()
                    .filter(|key| state.ours.contains(*key))
                    .copied()
                    .collect();
                state.present.extend(theirs);
                state.seen.extend(new);
                if !clash.is_empty() {
                    self.drop_rows(day, &clash).await?;
                }
            }
            let state = self
                .days
                .get_mut(&day)
                .ok_or_else(|| Error::internal("a day's state is missing"))?;
            let mut add = Vec::new();
            for staged in state.staged.iter_mut().filter(|s| s.rows > 0) {
                if staged.uploaded.is_none() {
                    let name = fresh_name(INGEST_PREFIX);
                    writer
                        .upload(&staged.path, &writer.day_file(day, &name))
                        .await?;
                    staged.uploaded = Some(name);
                }
                add.extend(staged.uploaded.clone());
            }
            if add.is_empty() {
                return Ok(());
            }
            match txn
                .commit(
                    Commit {
                        add,
                        ..Commit::default()
                    },
                    Utc::now(),
                )
                .await?
            {
                CommitOutcome::Committed(_) | CommitOutcome::Unchanged => return Ok(()),
                CommitOutcome::Conflict => backoff(attempt).await,
                // Deleted or condemned by garbage collection before the commit: uploaded
                // again under new names (what is left of the old ones is an orphan).
                CommitOutcome::Missing(names) => {
                    for staged in state.staged.iter_mut() {
                        if staged
                            .uploaded
                            .as_ref()
                            .is_some_and(|name| names.contains(name))
                        {
                            staged.uploaded = None;
                        }
                    }
                }
                CommitOutcome::InputsGone(_) => {
                    return Err(Error::internal(format!(
                        "{day}: an ingest commit removed files"
                    )));
                }
            }
        }
        Err(too_many_attempts(writer, day))
    }

    /// Takes the events `clash` out of the day's staged files (another writer published
    /// them first). A file already uploaded is deleted: it was never named.
    async fn drop_rows(&mut self, day: Day, clash: &HashSet<EventKey>) -> Result<()> {
        let layout = self.options.layout;
        let state = self
            .days
            .get_mut(&day)
            .ok_or_else(|| Error::internal("a day's state is missing"))?;
        state.ours.retain(|key| !clash.contains(key));
        for staged in state.staged.iter_mut().filter(|s| s.rows > 0) {
            let (kept, dropped) = restage(staged, clash, layout)?;
            if dropped == 0 {
                continue;
            }
            self.summary.rows_already_present += dropped;
            staged.rows = kept;
            if let Some(name) = staged.uploaded.take() {
                self.writer
                    .delete(&self.writer.day_file(day, &name))
                    .await?;
            }
        }
        Ok(())
    }
}

/// Rewrites a staged file without the rows whose ids are in `clash`; returns the rows kept
/// and dropped.
fn restage(
    staged: &mut Staged,
    clash: &HashSet<EventKey>,
    layout: FileLayout,
) -> Result<(u64, u64)> {
    let failed = |e: &dyn std::fmt::Display| {
        Error::internal(format!("restaging {}: {e}", staged.path.display()))
    };
    let file = std::fs::File::open(&staged.path).map_err(|e| failed(&e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| failed(&e))?
        .build()
        .map_err(|e| failed(&e))?;
    let schema = file_schema();
    let mut kept = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| failed(&e))?;
        let ids = batch
            .column_by_name("event_id")
            .ok_or_else(|| failed(&"no event_id column"))?
            .as_string::<i32>();
        let keep: BooleanArray = ids
            .iter()
            .map(|id| Some(!id.is_some_and(|id| clash.contains(&event_key(id)))))
            .collect();
        kept.push(filter_record_batch(&batch, &keep).map_err(|e| failed(&e))?);
    }
    let batch = concat_batches(&schema, &kept).map_err(|e| failed(&e))?;
    let rows = batch.num_rows() as u64;
    let dropped = staged.rows - rows;
    if dropped > 0 {
        if rows > 0 {
            let bytes = to_parquet(&batch, layout)?;
            std::fs::write(&staged.path, &bytes).map_err(|e| failed(&e))?;
            staged.bytes = bytes.len() as u64;
        } else {
            std::fs::remove_file(&staged.path).map_err(|e| failed(&e))?;
            staged.bytes = 0;
        }
    }
    Ok((rows, dropped))
}

/// The rejects file: one JSON object per refused row, written under a temporary name in
/// its folder and renamed when the run completes; a run that fails removes it (on drop).
struct Rejects {
    target: PathBuf,
    file: std::io::BufWriter<tempfile::NamedTempFile>,
}

impl Rejects {
    fn create(path: &std::path::Path) -> Result<Rejects> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "rejects".into());
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let prefix = format!(".{name}.");
        let mut temp = tempfile::Builder::new();
        temp.prefix(&prefix).suffix(".partial");
        // The mode a plain create gives (the umask applies), not a temporary file's 0600.
        #[cfg(unix)]
        temp.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let file = temp.tempfile_in(folder).map_err(|e| Error::Usage {
            message: format!("--rejects {}: {e}", path.display()),
        })?;
        Ok(Rejects {
            target: path.to_path_buf(),
            file: std::io::BufWriter::new(file),
        })
    }

    fn write(
        &mut self,
        input: &str,
        position: &str,
        reason: &str,
        record: serde_json::Value,
    ) -> Result<()> {
        let line = serde_json::json!({"input": input, "position": position, "reason": reason, "record": record});
        writeln!(self.file, "{line}").map_err(|e| {
            Error::internal(format!(
                "writing {}: {e}",
                self.file.get_ref().path().display()
            ))
        })
    }

    fn finish(self) -> Result<()> {
        let temp = self.file.get_ref().path().display().to_string();
        let file = self
            .file
            .into_inner()
            .map_err(|e| Error::internal(format!("writing {temp}: {}", e.error())))?;
        file.persist(&self.target).map_err(|e| {
            Error::internal(format!("writing {}: {}", self.target.display(), e.error))
        })?;
        Ok(())
    }
}
