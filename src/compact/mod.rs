//! `flowlake compact` (SPEC §8): each day folder rewritten into the layout queries read
//! fastest — one file, rows sorted by category, label, action and time, row groups cut at
//! label runs, bloom filters on `label` and `session_id` — then the day's manifest
//! replaced in one compare-and-swap. Replaced files are deleted after a grace period, so a
//! query that listed the day before the swap can still read them.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::col;
use datafusion::prelude::SessionContext;
use object_store::ObjectMeta;
use sha2::{Digest, Sha256};
use url::Url;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::generate::event::{FileLayout, SortOrder, sort_columns, to_parquet};
use crate::lake::manifest::Manifest;
use crate::lake::schema::file_schema;
use crate::lake::writer::{Day, LakeWriter};
use crate::lake::DayPartitions;

/// The name prefix of files `compact` writes: a day whose manifest lists one such file and
/// nothing else is already compact.
pub const COMPACT_PREFIX: &str = "compact-";

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
}

/// What happened to one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayStatus {
    /// Rewritten from `files_in` files into one.
    Compacted { files_in: usize, rows: u64, bytes: u64 },
    /// Already in the compact layout: left alone.
    AlreadyCompact,
    /// No event files.
    Empty,
    /// Another writer replaced the same files first; nothing was changed.
    Raced,
    /// The day could not be compacted (it is left as it was).
    Failed { message: String },
}

/// One day's outcome, with the files deleted after their grace period.
#[derive(Debug, Clone)]
pub struct DayOutcome {
    pub day: Day,
    pub status: DayStatus,
    pub deleted: usize,
}

/// Compacts the selected days, one after the other; `progress` hears of each.
pub async fn compact(writer: &LakeWriter, options: &CompactOptions, progress: &(dyn Fn(&DayOutcome) + Sync)) -> Result<Vec<DayOutcome>> {
    let days: Vec<Day> = writer
        .days(options.organization_id)
        .await?
        .into_iter()
        .filter(|d| options.from.is_none_or(|from| d.date >= from) && options.to.is_none_or(|to| d.date <= to))
        .collect();
    let reader = DayReader::new(writer)?;
    let mut outcomes = Vec::with_capacity(days.len());
    for day in days {
        let outcome = match compact_day(writer, &reader, day, options).await {
            Ok(outcome) => outcome,
            Err(error) => DayOutcome { day, status: DayStatus::Failed { message: error.to_string() }, deleted: 0 },
        };
        progress(&outcome);
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

async fn compact_day(writer: &LakeWriter, reader: &DayReader, day: Day, options: &CompactOptions) -> Result<DayOutcome> {
    // The manifest first, then the listing: a writer puts its files before it names them,
    // so every file of this manifest is in a listing taken after it.
    let manifest = writer.manifest(day).await?.map(|(m, _)| m);
    let listing = writer.list_day(day).await?;
    let inputs: Vec<String> = match &manifest {
        Some(m) => m.files.clone(),
        None => listing.iter().filter_map(event_file_name).collect(),
    };
    let already = manifest.is_some() && inputs.len() == 1 && inputs[0].starts_with(COMPACT_PREFIX);
    // A day without a manifest first gets one that names its files as they are. The new
    // file must stay invisible until the manifest names it instead of them: a reader
    // listing the folder between the new file's upload and the manifest would otherwise
    // read both, every event twice.
    if manifest.is_none() && !inputs.is_empty() {
        let mut created = false;
        writer
            .update_manifest(day, |current| {
                created = current.is_none();
                Ok(created.then(|| Manifest::new(inputs.clone())))
            })
            .await?;
        if !created {
            // Another writer made one first: its files are the inputs now; a later run
            // compacts them.
            let deleted = collect_garbage(writer, day, options).await?;
            return Ok(DayOutcome { day, status: DayStatus::Raced, deleted });
        }
    }
    let status = if inputs.is_empty() {
        DayStatus::Empty
    } else if already {
        DayStatus::AlreadyCompact
    } else {
        rewrite(writer, reader, day, &listing, &inputs, options).await?
    };
    let deleted = collect_garbage(writer, day, options).await?;
    Ok(DayOutcome { day, status, deleted })
}

/// Writes the day's rows as one file and swaps it in for `inputs`.
async fn rewrite(writer: &LakeWriter, reader: &DayReader, day: Day, listing: &[ObjectMeta], inputs: &[String], options: &CompactOptions) -> Result<DayStatus> {
    let folder = writer.day_prefix(day);
    let metas: Vec<ObjectMeta> = inputs
        .iter()
        .map(|name| {
            listing.iter().find(|m| m.location.filename() == Some(name.as_str())).cloned().ok_or_else(|| Error::Data {
                message: format!("the manifest of {} names {name}, which is not in the folder", writer.show(&folder)),
            })
        })
        .collect::<Result<_>>()?;
    let batch = reader.sorted_rows(day, metas, options.layout.sort).await?;
    let rows = batch.num_rows() as u64;
    let bytes = to_parquet(&batch, options.layout)?;
    let name = format!("{COMPACT_PREFIX}{}.parquet", content_name(&bytes));
    let size = bytes.len() as u64;
    writer.put(&folder.clone().join(name.as_str()), bytes).await?;

    let now = Utc::now();
    let mut raced = false;
    let inputs_owned = inputs.to_vec();
    writer
        .update_manifest(day, |current| {
            // Another compact may have replaced our inputs meanwhile: then this run's file
            // is not needed. Files added by an ingest meanwhile are kept.
            let mut next = match current {
                Some(m) if !inputs_owned.iter().all(|f| m.files.contains(f)) => {
                    raced = true;
                    return Ok(None);
                }
                Some(m) => m.clone(),
                None => Manifest::new(Vec::new()),
            };
            raced = false;
            next.replace(&inputs_owned, [name.clone()], now);
            Ok(Some(next))
        })
        .await?;
    if raced {
        writer.delete(&folder.clone().join(name.as_str())).await?;
        return Ok(DayStatus::Raced);
    }
    Ok(DayStatus::Compacted { files_in: inputs.len(), rows, bytes: size })
}

/// Deletes replaced files whose grace period has passed, and Parquet files that the
/// manifest never named once they are older than the orphan grace.
async fn collect_garbage(writer: &LakeWriter, day: Day, options: &CompactOptions) -> Result<usize> {
    let Some((manifest, _)) = writer.manifest(day).await? else { return Ok(0) };
    let listing = writer.list_day(day).await?;
    let now = Utc::now();
    let grace = chrono::Duration::from_std(options.grace).unwrap_or(chrono::Duration::MAX);
    let orphan_grace = chrono::Duration::from_std(options.orphan_grace).unwrap_or(chrono::Duration::MAX);
    let mut deleted = 0;
    for meta in &listing {
        let Some(name) = event_file_name(meta) else { continue };
        if manifest.files.contains(&name) {
            continue;
        }
        let expired = match manifest.replaced.iter().find(|r| r.file == name) {
            Some(replaced) => replaced.at.checked_add_signed(grace).is_some_and(|until| until <= now),
            None => meta.last_modified.checked_add_signed(orphan_grace).is_some_and(|until| until <= now),
        };
        if expired {
            writer.delete(&meta.location).await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// The name of a visible Parquet file of a day folder (not a manifest, not in flight).
pub fn event_file_name(meta: &ObjectMeta) -> Option<String> {
    crate::lake::is_event_file(&meta.location).then(|| meta.location.filename().map(str::to_string)).flatten()
}

/// A name from the content: the same rows in the same layout always get the same name.
pub fn content_name(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..12])
}

/// Reads a day's files through the engine's own checked scan, sorted for the layout.
struct DayReader {
    ctx: SessionContext,
    url: ObjectStoreUrl,
    writer: LakeWriter,
}

impl DayReader {
    fn new(writer: &LakeWriter) -> Result<DayReader> {
        let ctx = SessionContext::new();
        let url = ObjectStoreUrl::parse("flowlake-lake://compact")?;
        let address = Url::parse(url.as_str()).map_err(|e| Error::internal(format!("store URL: {e}")))?;
        ctx.runtime_env().register_object_store(&address, Arc::clone(writer.store()));
        Ok(DayReader { ctx, url, writer: writer.clone() })
    }

    async fn sorted_rows(&self, day: Day, files: Vec<ObjectMeta>, sort: SortOrder) -> Result<RecordBatch> {
        let partition = vec![
            ScalarValue::Utf8(Some(day.organization_id.to_string())),
            ScalarValue::Date32(Some((day.date - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32)),
        ];
        let files: Vec<PartitionedFile> = files.into_iter().map(|m| PartitionedFile::new_from_meta(m).with_partition_values(partition.clone())).collect();
        // The scan reads through the checked reader over the store registered for `url`.
        let shown = self.writer.show(&object_store::path::Path::default());
        let table = DayPartitions::new(self.url.clone(), files, shown);
        let schema = file_schema();
        let columns: Vec<_> = schema.fields().iter().map(|f| col(f.name().as_str())).collect();
        let order: Vec<_> = sort_columns(sort).iter().map(|c| col(*c).sort(true, false)).collect();
        let batches = self.ctx.read_table(Arc::new(table))?.select(columns)?.sort(order)?.collect().await?;
        let batches = batches
            .iter()
            .map(|batch| {
                let columns = batch
                    .columns()
                    .iter()
                    .zip(schema.fields())
                    .map(|(column, field)| cast(column, field.data_type()))
                    .collect::<Result<Vec<_>, _>>()?;
                RecordBatch::try_new(Arc::clone(&schema), columns)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::internal(format!("compacting {day}: {e}")))?;
        concat_batches(&schema, &batches).map_err(|e| Error::internal(format!("compacting {day}: {e}")))
    }
}
