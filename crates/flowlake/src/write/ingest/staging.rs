//! A day's buffered rows written as one event file in the run's staging folder: sorted in
//! the layout's order (by their encoded sort keys, without copying the rows first) and
//! written in slices, row groups cut at label runs.

use std::path::PathBuf;

use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{filter_record_batch, interleave_record_batch};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};
use crate::format::schema::file_schema;
use crate::write::day_reader::{EventKeys, event_key};
use crate::write::layout::{EventFileWriter, FileLayout, RunTracker, SortOrder, sort_columns};

/// Rows written to the sorted file at a time.
const WRITE_ROWS: usize = 8192;

/// A file of rows staged for a day, and the name it was uploaded under, once it was.
#[derive(Debug)]
pub struct Staged {
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
    pub uploaded: Option<String>,
}

/// Writes `batches` (rows of the event schema) sorted in `layout`'s order as one event
/// file at `path`.
pub fn stage(batches: Vec<RecordBatch>, layout: FileLayout, path: PathBuf) -> Result<Staged> {
    let failed = |e: &dyn std::fmt::Display| {
        Error::internal(format!("staging rows in {}: {e}", path.display()))
    };
    let order = sorted_order(&batches, layout.sort)?;
    let file = std::fs::File::create(&path).map_err(|e| failed(&e))?;
    let mut writer = EventFileWriter::new(std::io::BufWriter::new(file), file_schema(), layout)?;
    let mut runs = RunTracker::default();
    let sources: Vec<&RecordBatch> = batches.iter().collect();
    for slice in order.chunks(WRITE_ROWS) {
        let rows = interleave_record_batch(&sources, slice).map_err(|e| failed(&e))?;
        for (run, starts) in runs.runs(&rows, layout.sort)? {
            writer.write_run(&rows.slice(run.start, run.len()), starts)?;
        }
    }
    let rows = writer.rows();
    let mut sink = writer.close()?;
    std::io::Write::flush(&mut sink).map_err(|e| failed(&e))?;
    let bytes = sink.get_ref().metadata().map_err(|e| failed(&e))?.len();
    Ok(Staged {
        path,
        rows,
        bytes,
        uploaded: None,
    })
}

/// Every row of `batches` as (batch, row), in the order of `sort`.
fn sorted_order(batches: &[RecordBatch], sort: SortOrder) -> Result<Vec<(usize, usize)>> {
    let failed = |e: &dyn std::fmt::Display| Error::internal(format!("sorting rows: {e}"));
    let schema = file_schema();
    let names = sort_columns(sort);
    let fields = names
        .iter()
        .map(|name| {
            schema
                .field_with_name(name)
                .map(|field| SortField::new(field.data_type().clone()))
                .map_err(|e| failed(&e))
        })
        .collect::<Result<Vec<_>>>()?;
    let converter = RowConverter::new(fields).map_err(|e| failed(&e))?;
    let keys = batches
        .iter()
        .map(|batch| {
            let columns = names
                .iter()
                .map(|name| {
                    batch
                        .column_by_name(name)
                        .cloned()
                        .ok_or_else(|| failed(&format!("no column {name}")))
                })
                .collect::<Result<Vec<_>>>()?;
            converter.convert_columns(&columns).map_err(|e| failed(&e))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut order: Vec<(usize, usize)> = batches
        .iter()
        .enumerate()
        .flat_map(|(b, batch)| (0..batch.num_rows()).map(move |row| (b, row)))
        .collect();
    // The keys end with the event id, unique in a day: the order is total.
    order.sort_unstable_by(|a, b| keys[a.0].row(a.1).cmp(&keys[b.0].row(b.1)));
    Ok(order)
}

/// Rewrites a staged file without the rows whose ids are in `clash` (another writer
/// published them first); returns the rows kept and dropped.
pub fn restage(staged: &mut Staged, clash: &EventKeys, layout: FileLayout) -> Result<(u64, u64)> {
    let failed = |e: &dyn std::fmt::Display| {
        Error::internal(format!("restaging {}: {e}", staged.path.display()))
    };
    let file = std::fs::File::open(&staged.path).map_err(|e| failed(&e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| failed(&e))?
        .build()
        .map_err(|e| failed(&e))?;
    let mut kept = Vec::new();
    let mut rows = 0;
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
        let batch = filter_record_batch(&batch, &keep).map_err(|e| failed(&e))?;
        rows += batch.num_rows() as u64;
        kept.push(batch);
    }
    let dropped = staged.rows - rows;
    if dropped > 0 {
        let path = staged.path.clone();
        if rows > 0 {
            let restaged = stage(kept, layout, path)?;
            staged.rows = restaged.rows;
            staged.bytes = restaged.bytes;
        } else {
            std::fs::remove_file(&path).map_err(|e| failed(&e))?;
            staged.rows = 0;
            staged.bytes = 0;
        }
    }
    Ok((rows, dropped))
}
