//! `flowlake compact` (SPEC §8): each day folder rewritten into the layout queries read
//! fastest — rows sorted by category, label, action and time (an external sort that spills
//! beyond the memory limit), files of about a target size, row groups cut at label runs,
//! bloom filters on `label` and `session_id` — then published in the day's one commit.
//! Replaced files are deleted after a grace period, so a query that listed the day before
//! the swap can still read them.

use std::time::Duration;

use std::path::PathBuf;

use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use object_store::ObjectMeta;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::write::commit::{COMMIT_ATTEMPTS, backoff, too_many_attempts};
use crate::write::day_reader::{DayReader, SortMemory, to_file_schema};
use crate::write::layout::{FileLayout, RollingEventFiles, StagedFile};
use crate::write::names::{COMPACT_PREFIX, fresh_name};
use crate::write::sweep::{Graces, Swept, sweep};
use crate::write::{Commit, CommitOutcome, Day, LakeWriter, named_objects};

/// How often a day is rewritten when garbage collection condemned the new file before it
/// was published (possible only with an orphan grace shorter than a rewrite).
const REWRITE_ATTEMPTS: usize = 3;

/// What to compact and how.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    pub organization_id: Option<Uuid>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// How long replaced files stay readable after the swap.
    pub grace: Duration,
    /// How old a Parquet file that no manifest names must be before it is deleted (an
    /// ingest writes its files before it adds them to the manifest).
    pub orphan_grace: Duration,
    pub layout: FileLayout,
    /// The size a day's files grow to before the next one starts (small days keep one).
    pub target_file_size: u64,
    /// What the sort may hold in memory, and where it spills (and files are staged).
    pub memory: SortMemory,
}

/// The default of `--target-file-size`.
pub const DEFAULT_TARGET_FILE_SIZE: u64 = 256 << 20;

/// What happened to one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayStatus {
    /// Rewritten from `files_in` files into `files_out`; the sort spilled `spilled` bytes.
    Compacted {
        files_in: usize,
        files_out: usize,
        rows: u64,
        bytes: u64,
        spilled: u64,
    },
    /// Already in the compact layout: left alone.
    AlreadyCompact,
    /// No event files.
    Empty,
    /// Another writer replaced the same files first; this run's file was deleted and
    /// nothing was changed.
    Raced,
    /// The day could not be compacted (it is left as it was).
    Failed { message: String },
}

/// One day's outcome, with what its garbage collection did.
#[derive(Debug, Clone)]
pub struct DayOutcome {
    pub day: Day,
    pub status: DayStatus,
    /// Files deleted (replaced ones after their grace, flowlake's orphans) and other
    /// tools' files that no manifest names (reported, left in place).
    pub swept: Swept,
}

/// Compacts the selected days, one after the other; `progress` hears of each.
pub async fn compact(
    writer: &LakeWriter,
    options: &CompactOptions,
    progress: &(dyn Fn(&DayOutcome) + Sync),
) -> Result<Vec<DayOutcome>> {
    let days: Vec<Day> = writer
        .days(options.organization_id)
        .await?
        .into_iter()
        .filter(|d| {
            options.from.is_none_or(|from| d.date >= from)
                && options.to.is_none_or(|to| d.date <= to)
        })
        .collect();
    let reader = DayReader::new(writer, &options.memory)?;
    let mut outcomes = Vec::with_capacity(days.len());
    for day in days {
        let outcome = match compact_day(writer, &reader, day, options).await {
            Ok(outcome) => outcome,
            Err(error) => DayOutcome {
                day,
                status: DayStatus::Failed {
                    message: error.to_string(),
                },
                swept: Swept::default(),
            },
        };
        progress(&outcome);
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

async fn compact_day(
    writer: &LakeWriter,
    reader: &DayReader,
    day: Day,
    options: &CompactOptions,
) -> Result<DayOutcome> {
    let mut status = None;
    for _ in 0..REWRITE_ATTEMPTS {
        // A day without a manifest first gets one naming its files as they are: the new
        // file stays invisible until the manifest names it instead of them (a reader
        // listing the folder in between would otherwise read both).
        let manifest = writer.ensure_manifest(day).await?;
        // The listing after the manifest: every file it names is in it.
        let listing = writer.list_day(day).await?;
        // A named file missing from the folder fails the day (it is left as it is: rule 3
        // says this cannot happen, so something else broke it).
        let inputs = named_objects(&listing, &manifest.files)
            .map_err(|name| writer.missing_file(day, name))?;
        if inputs.is_empty() {
            status = Some(DayStatus::Empty);
            break;
        }
        // One compact's files (a large day has several) and nothing else.
        if manifest
            .files
            .iter()
            .all(|name| name.starts_with(COMPACT_PREFIX))
        {
            status = Some(DayStatus::AlreadyCompact);
            break;
        }
        match rewrite(writer, reader, day, &manifest.files, inputs, options).await? {
            Some(done) => {
                status = Some(done);
                break;
            }
            None => continue,
        }
    }
    let status = status.ok_or_else(|| Error::Data {
        message: format!("{day}: garbage collection of another compact removed this run's new file {REWRITE_ATTEMPTS} times before it was published (is --orphan-grace shorter than a rewrite?); run again"),
     source: None, })?;
    let swept = sweep(
        writer,
        day,
        Graces {
            replaced: options.grace,
            orphan: options.orphan_grace,
        },
    )
    .await?;
    Ok(DayOutcome { day, status, swept })
}

/// Writes the day's rows as new files and swaps them in for `inputs`. `None`: garbage
/// collection condemned a new file before the swap; the day is to be rewritten.
async fn rewrite(
    writer: &LakeWriter,
    reader: &DayReader,
    day: Day,
    names: &[String],
    inputs: Vec<ObjectMeta>,
    options: &CompactOptions,
) -> Result<Option<DayStatus>> {
    let mut written = Vec::new();
    let outcome = write_sorted(writer, reader, day, inputs, options, &mut written).await;
    let (rows, bytes, spilled) = match outcome {
        Ok(figures) => figures,
        Err(error) => {
            delete_own(writer, day, &written).await?;
            // Another compact replaced the inputs meanwhile and deleted them (no grace).
            if matches!(error, Error::ObjectChanged { .. })
                && writer
                    .manifest(day)
                    .await?
                    .is_none_or(|m| !names.iter().all(|n| m.files.contains(n)))
            {
                return Ok(Some(DayStatus::Raced));
            }
            return Err(error);
        }
    };

    let commit = Commit {
        add: written.clone(),
        remove: names.to_vec(),
        ..Commit::default()
    };
    for attempt in 0..COMMIT_ATTEMPTS {
        let txn = writer.begin(day).await?;
        let outcome = txn.commit(commit.clone(), Utc::now()).await?;
        let status = match outcome {
            CommitOutcome::Committed(_) => {
                return Ok(Some(DayStatus::Compacted {
                    files_in: names.len(),
                    files_out: written.len(),
                    rows,
                    bytes,
                    spilled,
                }));
            }
            CommitOutcome::Conflict => {
                backoff(attempt).await;
                continue;
            }
            // Another compact replaced the inputs first: this run's files are not needed.
            CommitOutcome::InputsGone(_) => Some(DayStatus::Raced),
            CommitOutcome::Missing(_) => None,
            CommitOutcome::Unchanged => {
                return Err(Error::internal(format!(
                    "{day}: publishing the compacted files changed nothing"
                )));
            }
        };
        delete_own(writer, day, &written).await?;
        return Ok(status);
    }
    Err(too_many_attempts(writer, day))
}

/// Sorts the day's rows and writes them as files of about the target size, each uploaded
/// (under a name of this run's, unnamed) as soon as it is complete; `written` gets their
/// names. Returns the rows, bytes and bytes the sort spilled.
async fn write_sorted(
    writer: &LakeWriter,
    reader: &DayReader,
    day: Day,
    inputs: Vec<ObjectMeta>,
    options: &CompactOptions,
    written: &mut Vec<String>,
) -> Result<(u64, u64, u64)> {
    let staging = staging_folder(options.memory.spill_dir.as_ref())?;
    let mut sorted = reader.sorted_rows(day, inputs, options.layout.sort).await?;
    let mut files =
        RollingEventFiles::new(staging.path(), options.layout, options.target_file_size);
    let (mut rows, mut bytes) = (0, 0);
    while let Some(batch) = sorted.stream.next().await {
        files.write(&to_file_schema(&batch?)?)?;
        for staged in files.take_finished() {
            (rows, bytes) = (rows + staged.rows, bytes + staged.bytes);
            upload(writer, day, &staged, written).await?;
        }
    }
    for staged in files.finish()? {
        (rows, bytes) = (rows + staged.rows, bytes + staged.bytes);
        upload(writer, day, &staged, written).await?;
    }
    Ok((rows, bytes, sorted.spilled_bytes()))
}

/// A folder for files being written, beside the sort's spill files.
fn staging_folder(spill_dir: Option<&PathBuf>) -> Result<tempfile::TempDir> {
    let builder = {
        let mut builder = tempfile::Builder::new();
        builder.prefix("flowlake-compact-");
        builder
    };
    match spill_dir {
        Some(dir) => builder.tempdir_in(dir),
        None => builder.tempdir(),
    }
    .map_err(|e| Error::internal(format!("creating a staging folder: {e}")))
}

async fn upload(
    writer: &LakeWriter,
    day: Day,
    staged: &StagedFile,
    written: &mut Vec<String>,
) -> Result<()> {
    let name = fresh_name(COMPACT_PREFIX);
    writer
        .upload(&staged.path, &writer.day_file(day, &name))
        .await?;
    written.push(name);
    std::fs::remove_file(&staged.path).map_err(|e| {
        Error::internal(format!(
            "removing the staged {}: {e}",
            staged.path.display()
        ))
    })
}

/// The loser of a race deletes its own files, and only those no manifest names (their names
/// are this run's, so none can; checked all the same).
async fn delete_own(writer: &LakeWriter, day: Day, written: &[String]) -> Result<()> {
    if written.is_empty() {
        return Ok(());
    }
    let named = writer
        .manifest(day)
        .await?
        .map(|m| m.files)
        .unwrap_or_default();
    for name in written.iter().filter(|name| !named.contains(name)) {
        writer.delete(&writer.day_file(day, name)).await?;
    }
    Ok(())
}
