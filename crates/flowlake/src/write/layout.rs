//! The layout of the event files flowlake writes (SPEC §8's "fastest layout"): rows sorted
//! by category, label, action and time, row groups cut where a (category, label) run starts,
//! page statistics, bloom filters on the columns queried by equality. [`EventFileWriter`]
//! writes one file from sorted batches as they stream by; [`RollingEventFiles`] starts a
//! new file once one reaches a target size, at a run boundary.

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};
use crate::format::event::Event;
use crate::format::schema::file_schema;

/// How event files are laid out inside.
#[derive(Debug, Clone, Copy)]
pub struct FileLayout {
    /// Rows per row group: small enough for the time window to skip most of a day.
    pub row_group_size: usize,
    /// The order of the rows in each file.
    pub sort: SortOrder,
    /// The page codec.
    pub codec: Codec,
    /// Bloom filters on `label` and `session_id` (the columns queried by equality).
    pub bloom_filters: bool,
}

impl Default for FileLayout {
    fn default() -> Self {
        FileLayout {
            row_group_size: 16 * 1024,
            sort: SortOrder::Category,
            codec: Codec::Snappy,
            bloom_filters: true,
        }
    }
}

/// Parquet page compression (other tools' lakes use any of these).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    strum::EnumString,
    strum::VariantNames,
    strum::Display,
)]
#[strum(serialize_all = "kebab-case")]
pub enum Codec {
    #[default]
    Snappy,
    Zstd,
    Uncompressed,
}

/// How rows are ordered inside a file.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    strum::EnumString,
    strum::VariantNames,
    strum::Display,
)]
#[strum(serialize_all = "kebab-case")]
pub enum SortOrder {
    /// By `timestamp`, then `event_id`: row groups and pages cover time ranges.
    Time,
    /// By `category`, `label`, `action`, then time: goal triggers and each workflow's
    /// events sit in few row groups and pages, which statistics let a scan skip to. Two to
    /// three times faster queries than `Time` on the benchmark lake (BENCHMARKS.md).
    #[default]
    Category,
}

/// Puts rows in the order of `sort` (the order `to_parquet` expects).
pub fn sort_events(events: &mut [Event], sort: SortOrder) {
    match sort {
        SortOrder::Time => {
            events.sort_by(|a, b| (a.timestamp_us, &a.event_id).cmp(&(b.timestamp_us, &b.event_id)))
        }
        SortOrder::Category => events.sort_by(|a, b| {
            (
                &a.category,
                &a.label,
                &a.action,
                a.timestamp_us,
                &a.event_id,
            )
                .cmp(&(
                    &b.category,
                    &b.label,
                    &b.action,
                    b.timestamp_us,
                    &b.event_id,
                ))
        }),
    }
}

/// The columns a batch of events is sorted by for `sort`, in order.
pub fn sort_columns(sort: SortOrder) -> &'static [&'static str] {
    match sort {
        SortOrder::Time => &["timestamp", "event_id"],
        SortOrder::Category => &["category", "label", "action", "timestamp", "event_id"],
    }
}

/// Writer settings: page-level statistics (for the page index) and bloom filters on the
/// columns queried by equality.
fn writer_properties(layout: FileLayout) -> WriterProperties {
    let compression = match layout.codec {
        Codec::Snappy => Compression::SNAPPY,
        Codec::Zstd => Compression::ZSTD(Default::default()),
        Codec::Uncompressed => Compression::UNCOMPRESSED,
    };
    let mut props = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(layout.row_group_size.max(1)))
        .set_statistics_enabled(EnabledStatistics::Page);
    if layout.bloom_filters {
        for column in ["session_id", "label"] {
            props = props.set_column_bloom_filter_enabled(ColumnPath::from(column), true);
        }
    }
    props.build()
}

/// The Parquet bytes of one event file holding `batch` (sorted in the layout's order).
pub fn to_parquet(batch: &RecordBatch, layout: FileLayout) -> Result<Vec<u8>> {
    let mut writer = EventFileWriter::new(Vec::new(), batch.schema(), layout)?;
    let mut runs = RunTracker::default();
    for (run, starts) in runs.runs(batch, layout.sort)? {
        writer.write_run(&batch.slice(run.start, run.len()), starts)?;
    }
    writer.close()
}

/// Rows a row group holds before a label run may start a new one (at most; an eighth of
/// the row-group size when that is smaller).
const MIN_CUT_ROWS: usize = 2048;

fn parquet_error(e: datafusion::parquet::errors::ParquetError) -> Error {
    Error::internal(format!("writing Parquet: {e}"))
}

/// One event file being written.
pub struct EventFileWriter<W: Write + Send> {
    writer: ArrowWriter<W>,
    min_cut: usize,
    rows: u64,
}

impl<W: Write + Send> EventFileWriter<W> {
    /// A file of `schema` (the event schema, or tests' subsets of it) in `layout` over `sink`.
    pub fn new(sink: W, schema: SchemaRef, layout: FileLayout) -> Result<Self> {
        let writer = ArrowWriter::try_new(sink, schema, Some(writer_properties(layout)))
            .map_err(parquet_error)?;
        Ok(EventFileWriter {
            writer,
            min_cut: (layout.row_group_size / 8).clamp(1, MIN_CUT_ROWS),
            rows: 0,
        })
    }

    /// Writes the rows of one run (or part of one); `starts` says whether a new run starts
    /// with it. A row group starts where a (category, label) run starts, once the group holds
    /// enough rows: a workflow's events or one goal's triggers then fill whole row groups,
    /// which statistics select or skip as a block. Row groups never exceed the layout's size.
    pub fn write_run(&mut self, rows: &RecordBatch, starts: bool) -> Result<()> {
        if starts && self.writer.in_progress_rows() >= self.min_cut {
            self.writer.flush().map_err(parquet_error)?;
        }
        self.rows += rows.num_rows() as u64;
        self.writer.write(rows).map_err(parquet_error)
    }

    /// The size of the file so far: the row groups written and the one in progress.
    pub fn size(&self) -> u64 {
        (self.writer.bytes_written() + self.writer.in_progress_size()) as u64
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Finishes the file and gives the sink back.
    pub fn close(self) -> Result<W> {
        self.writer.into_inner().map_err(parquet_error)
    }
}

/// Splits sorted batches into (category, label) runs, remembering the last run of the
/// previous batch so that a run going on across batches is not cut.
#[derive(Debug, Default)]
pub struct RunTracker {
    last: Option<(String, String)>,
}

impl RunTracker {
    /// The row ranges of `batch` to write one by one, each with whether a new run starts
    /// there (for the time order: the whole batch, never a new run).
    pub fn runs(
        &mut self,
        batch: &RecordBatch,
        sort: SortOrder,
    ) -> Result<Vec<(Range<usize>, bool)>> {
        if batch.num_rows() == 0 {
            return Ok(Vec::new());
        }
        if sort == SortOrder::Time {
            return Ok(vec![(0..batch.num_rows(), false)]);
        }
        let failed =
            |e: &dyn std::fmt::Display| Error::internal(format!("splitting label runs: {e}"));
        let (Some(category), Some(label)) = (
            batch.column_by_name("category"),
            batch.column_by_name("label"),
        ) else {
            // Tests write files that lack columns: such a batch is one run.
            return Ok(vec![(0..batch.num_rows(), true)]);
        };
        let columns: Vec<ArrayRef> = [category, label]
            .iter()
            .map(|c| cast(c, &DataType::Utf8).map_err(|e| failed(&e)))
            .collect::<Result<_>>()?;
        let key = |row: usize| {
            (
                columns[0].as_string::<i32>().value(row).to_string(),
                columns[1].as_string::<i32>().value(row).to_string(),
            )
        };
        let ranges = datafusion::arrow::compute::partition(&columns)
            .map_err(|e| failed(&e))?
            .ranges();
        let continues = self.last.as_ref() == Some(&key(0));
        self.last = Some(key(batch.num_rows() - 1));
        Ok(ranges
            .into_iter()
            .enumerate()
            .map(|(i, range)| (range, i > 0 || !continues))
            .collect())
    }
}

/// Event files of about a target size written from one sorted stream of batches, each
/// staged in a local folder: a new file starts at a run boundary once the current one has
/// reached the target (so small days keep one file), or inside a run once it is a quarter
/// over the target.
pub struct RollingEventFiles {
    folder: PathBuf,
    layout: FileLayout,
    target_size: u64,
    runs: RunTracker,
    current: Option<(PathBuf, EventFileWriter<std::io::BufWriter<std::fs::File>>)>,
    finished: Vec<StagedFile>,
}

/// A finished file in the staging folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedFile {
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
}

impl RollingEventFiles {
    /// Files staged in `folder`, in `layout`, of about `target_size` bytes.
    pub fn new(folder: &Path, layout: FileLayout, target_size: u64) -> RollingEventFiles {
        RollingEventFiles {
            folder: folder.to_path_buf(),
            layout,
            target_size: target_size.max(1),
            runs: RunTracker::default(),
            current: None,
            finished: Vec::new(),
        }
    }

    /// Writes the next sorted rows.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        for (run, starts) in self.runs.runs(batch, self.layout.sort)? {
            let size = self.current.as_ref().map_or(0, |(_, file)| file.size());
            let full = size >= self.target_size;
            // A file ends where a run starts once it is full, so that runs stay whole where
            // they can; the time order has no runs (a file may end after any batch), and a
            // run far longer than the target (a label with millions of events in a day) is
            // cut once the file is a quarter over it, or one file would hold the whole run.
            let oversized = size >= self.target_size.saturating_add(self.target_size / 4);
            if full && (starts || self.layout.sort == SortOrder::Time || oversized) {
                self.finish_current()?;
            }
            if self.current.is_none() {
                let path = self
                    .folder
                    .join(format!("{}.parquet", uuid::Uuid::new_v4().simple()));
                let file = std::fs::File::create(&path)
                    .map_err(|e| Error::io(format_args!("staging {}", path.display()), e))?;
                self.current = Some((
                    path,
                    EventFileWriter::new(
                        std::io::BufWriter::new(file),
                        file_schema(),
                        self.layout,
                    )?,
                ));
            }
            if let Some((_, file)) = self.current.as_mut() {
                file.write_run(&batch.slice(run.start, run.len()), starts)?;
            }
        }
        Ok(())
    }

    /// Files finished so far (taken: each is returned once).
    pub fn take_finished(&mut self) -> Vec<StagedFile> {
        std::mem::take(&mut self.finished)
    }

    /// Finishes the last file; returns the files not yet taken.
    pub fn finish(mut self) -> Result<Vec<StagedFile>> {
        self.finish_current()?;
        Ok(self.finished)
    }

    fn finish_current(&mut self) -> Result<()> {
        let Some((path, file)) = self.current.take() else {
            return Ok(());
        };
        let rows = file.rows();
        let mut sink = file.close()?;
        sink.flush()
            .map_err(|e| Error::io(format_args!("staging {}", path.display()), e))?;
        let bytes = std::fs::metadata(&path)
            .map_err(|e| Error::io(format_args!("staging {}", path.display()), e))?
            .len();
        self.finished.push(StagedFile { path, rows, bytes });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::event::to_record_batch;

    fn events(count: usize) -> RecordBatch {
        let mut events: Vec<Event> = (0..count)
            .map(|i| Event {
                timestamp_us: i as i64,
                event_id: format!("e{i}"),
                category: ["goal", "widget"][i % 2].to_string(),
                action: "view".into(),
                label: format!("label-{}", i % 7),
                visitor_id: "v".into(),
                session_id: "s".into(),
                ..Event::default()
            })
            .collect();
        sort_events(&mut events, SortOrder::Category);
        to_record_batch(&events).unwrap()
    }

    #[test]
    fn a_run_going_on_across_batches_is_not_a_new_run() {
        let batch = events(70);
        let mut tracker = RunTracker::default();
        let first = tracker
            .runs(&batch.slice(0, 3), SortOrder::Category)
            .unwrap();
        let second = tracker
            .runs(&batch.slice(3, 67), SortOrder::Category)
            .unwrap();
        assert!(first[0].1, "the first rows start a run");
        assert!(!second[0].1, "rows 3.. go on with the run of rows 0..3");
        assert_eq!(
            second.iter().filter(|(_, starts)| *starts).count(),
            13,
            "14 runs in all"
        );
    }

    #[test]
    fn files_roll_over_at_the_target_size_and_keep_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let batch = events(20_000);
        let layout = FileLayout {
            row_group_size: 1024,
            ..FileLayout::default()
        };
        let mut files = RollingEventFiles::new(dir.path(), layout, 40_000);
        for start in (0..20_000).step_by(1000) {
            files.write(&batch.slice(start, 1000)).unwrap();
        }
        let staged = files.finish().unwrap();
        assert!(staged.len() > 2, "{staged:?}");
        assert_eq!(staged.iter().map(|f| f.rows).sum::<u64>(), 20_000);
        let one = RollingEventFiles::new(dir.path(), layout, u64::MAX);
        assert!(one.finish().unwrap().is_empty());
    }

    #[test]
    fn a_run_longer_than_the_target_is_cut_across_files_near_the_target() {
        let dir = tempfile::tempdir().unwrap();
        // One (category, label) run of 20,000 rows: no run boundary to end a file at.
        let one_run: Vec<Event> = (0..20_000)
            .map(|i| Event {
                event_id: format!("e{i:06}"),
                timestamp_us: 1_700_000_000_000_000 + i as i64,
                category: "goal".into(),
                action: "view".into(),
                label: "the-only-label".into(),
                visitor_id: format!("v{}", i % 97),
                session_id: format!("s{}", i % 89),
                ..Event::default()
            })
            .collect();
        let batch = to_record_batch(&one_run).unwrap();
        let layout = FileLayout {
            row_group_size: 1024,
            ..FileLayout::default()
        };
        let target = 40_000;
        let mut files = RollingEventFiles::new(dir.path(), layout, target);
        for start in (0..20_000).step_by(500) {
            files.write(&batch.slice(start, 500)).unwrap();
        }
        let staged = files.finish().unwrap();
        assert!(staged.len() > 2, "the run was kept in one file: {staged:?}");
        assert_eq!(staged.iter().map(|f| f.rows).sum::<u64>(), 20_000);
        for file in &staged[..staged.len() - 1] {
            assert!(
                file.bytes < 2 * target,
                "a file far over the target: {staged:?}"
            );
        }
    }
}
