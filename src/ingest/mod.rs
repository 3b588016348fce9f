//! `flowlake ingest` (SPEC §8): events from NDJSON, CSV or Parquet checked row by row and
//! written into their organization's UTC day folders in the layout queries read fastest.
//!
//! Safety, in order: (1) without `--rejects`, every input is read and checked once before
//! anything is written, so one bad row refuses the whole input; (2) each day the run
//! writes to gets a manifest first (listing the files it already had, so its answers do
//! not change); (3) files are written whole under names derived from their content, and
//! are invisible until (4) one compare-and-swap per day adds them to its manifest. A run
//! killed anywhere leaves each day as before or as after it; running the same input again
//! adds nothing twice (a name the manifest knows, now or as replaced, is not added).

pub mod input;
pub mod record;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tokio::sync::mpsc;

use crate::compact::{content_name, event_file_name};
use crate::error::{Error, Result};
use crate::generate::Event;
use crate::generate::event::{FileLayout, sort_events, to_parquet, to_record_batch};
use crate::lake::manifest::Manifest;
use crate::lake::writer::{Day, LakeWriter};
use input::{Record, Source};

/// The name prefix of files `ingest` writes.
pub const INGEST_PREFIX: &str = "ingest-";

/// How ingest runs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Read in this zone: timestamps without an offset (otherwise they are refused).
    pub time_zone: Option<Tz>,
    /// Where refused rows go (with the reason); without it one refuses the whole input.
    pub rejects: Option<PathBuf>,
    pub layout: FileLayout,
    /// Rows held in memory at most before the largest day's rows are written out.
    pub buffer_rows: usize,
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct IngestSummary {
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_rejected: u64,
    /// Rows of files the lake already had (the same input ingested before).
    pub rows_already_present: u64,
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
pub async fn ingest(writer: &LakeWriter, sources: Vec<Source>, options: &IngestOptions, progress: &dyn IngestProgress) -> Result<IngestSummary> {
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
    let mut run = Run { writer, options, buffers: HashMap::new(), buffered: 0, written: BTreeMap::new(), known: HashMap::new(), summary: IngestSummary::default() };
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
                sender.blocking_send((std::sync::Arc::clone(&shown), record)).map_err(|_| Error::internal("the ingest writer stopped"))
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
                None => return Err(Error::bad_request(format!("input {shown} {}: {refusal}", record.position))),
            },
        }
    }
    reader.await.map_err(|e| Error::internal(format!("reading the input: {e}")))??;
    progress.rows_read(run.summary.rows_read);
    run.flush_all().await?;
    run.publish().await?;
    if let Some(rejects) = rejects {
        rejects.finish()?;
    }
    Ok(run.summary)
}

struct Run<'a> {
    writer: &'a LakeWriter,
    options: &'a IngestOptions,
    buffers: HashMap<Day, Vec<Event>>,
    buffered: usize,
    /// Files written (or found already present) per day, to add to its manifest.
    written: BTreeMap<Day, BTreeSet<String>>,
    /// The names each day's manifest knows, read once when the day is first written to.
    known: HashMap<Day, Manifest>,
    summary: IngestSummary,
}

impl Run<'_> {
    async fn add(&mut self, organization_id: uuid::Uuid, event: Event) -> Result<()> {
        let date = DateTime::<Utc>::from_timestamp_micros(event.timestamp_us)
            .ok_or_else(|| Error::bad_request(format!("event {}: timestamp out of range", event.event_id)))?
            .date_naive();
        self.buffers.entry(Day { organization_id, date }).or_default().push(event);
        self.buffered += 1;
        if self.buffered >= self.options.buffer_rows.max(1) {
            // The largest day goes first (ties by day, so the same input always cuts the
            // same files and gets the same names).
            let day = self.buffers.iter().max_by_key(|(day, rows)| (rows.len(), std::cmp::Reverse(**day))).map(|(day, _)| *day);
            if let Some(day) = day {
                self.flush(day).await?;
            }
        }
        Ok(())
    }

    async fn flush_all(&mut self) -> Result<()> {
        let mut days: Vec<Day> = self.buffers.keys().copied().collect();
        days.sort();
        for day in days {
            self.flush(day).await?;
        }
        Ok(())
    }

    /// Writes one day's buffered rows as one file (unless the day already has it).
    async fn flush(&mut self, day: Day) -> Result<()> {
        let Some(mut events) = self.buffers.remove(&day) else { return Ok(()) };
        self.buffered -= events.len();
        if events.is_empty() {
            return Ok(());
        }
        sort_events(&mut events, self.options.layout.sort);
        let bytes = to_parquet(&to_record_batch(&events)?, self.options.layout)?;
        let name = format!("{INGEST_PREFIX}{}.parquet", content_name(&bytes));
        let manifest = self.manifest_of(day).await?;
        let rows = events.len() as u64;
        if manifest.knows(&name) {
            self.summary.rows_already_present += rows;
            return Ok(());
        }
        let size = bytes.len() as u64;
        self.writer.put(&self.writer.day_prefix(day).join(name.as_str()), bytes).await?;
        self.written.entry(day).or_default().insert(name);
        self.summary.rows_written += rows;
        self.summary.files_written += 1;
        self.summary.bytes_written += size;
        let share = self.summary.days.entry(day).or_default();
        share.rows += rows;
        share.files += 1;
        Ok(())
    }

    /// The day's manifest, created first if the day has none: from then on files in the
    /// folder are invisible until named, so this run's files appear all at once.
    async fn manifest_of(&mut self, day: Day) -> Result<&Manifest> {
        if !self.known.contains_key(&day) {
            let listing = self.writer.list_day(day).await?;
            let existing: Vec<String> = listing.iter().filter_map(event_file_name).collect();
            let manifest = self
                .writer
                .update_manifest(day, |current| Ok(if current.is_some() { None } else { Some(Manifest::new(existing.clone())) }))
                .await?
                .unwrap_or_else(|| Manifest::new(existing));
            self.known.insert(day, manifest);
        }
        self.known.get(&day).ok_or_else(|| Error::internal("manifest just read is missing"))
    }

    /// One compare-and-swap per day adds the run's files to its manifest.
    async fn publish(&mut self) -> Result<()> {
        for (day, names) in &self.written {
            self.writer
                .update_manifest(*day, |current| {
                    let mut next = current.cloned().unwrap_or_else(|| Manifest::new(Vec::new()));
                    let new: Vec<String> = names.iter().filter(|n| !next.knows(n)).cloned().collect();
                    if new.is_empty() {
                        return Ok(None);
                    }
                    next.add(new);
                    Ok(Some(next))
                })
                .await?;
        }
        Ok(())
    }
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

    fn write(&mut self, input: &str, position: &str, reason: &str, record: serde_json::Value) -> Result<()> {
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
