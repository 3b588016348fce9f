//! Reads a day's files back through the engine's own checked scan: the rows in the
//! compact layout's order (for `compact`), or the event ids (for `ingest`'s idempotence).

use std::collections::HashSet;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::col;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use object_store::ObjectMeta;
use url::Url;

use super::{Day, LakeWriter};
use crate::error::{Error, Result};
use crate::generate::event::{SortOrder, sort_columns};
use crate::lake::DayPartitions;
use crate::lake::schema::file_schema;

/// An event id as the writers compare them: 128 bits of its xxh3 hash (a collision among
/// 10⁹ ids of one day has a chance of about 10⁻²¹).
pub type EventKey = u128;

/// The key of an event id.
pub fn event_key(event_id: &str) -> EventKey {
    xxhash_rust::xxh3::xxh3_128(event_id.as_bytes())
}

/// Reads day folders of one lake.
pub struct DayReader {
    ctx: SessionContext,
    url: ObjectStoreUrl,
    writer: LakeWriter,
}

impl DayReader {
    /// A reader over the writer's store.
    pub fn new(writer: &LakeWriter) -> Result<DayReader> {
        let ctx = SessionContext::new();
        let url = ObjectStoreUrl::parse("flowlake-lake://writer")?;
        let address =
            Url::parse(url.as_str()).map_err(|e| Error::internal(format!("store URL: {e}")))?;
        ctx.runtime_env()
            .register_object_store(&address, Arc::clone(writer.store()));
        Ok(DayReader {
            ctx,
            url,
            writer: writer.clone(),
        })
    }

    fn table(&self, day: Day, files: Vec<ObjectMeta>) -> DayPartitions {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let partition = vec![
            ScalarValue::Utf8(Some(day.organization_id.to_string())),
            ScalarValue::Date32(Some((day.date - epoch).num_days() as i32)),
        ];
        let files: Vec<PartitionedFile> = files
            .into_iter()
            .map(|m| PartitionedFile::new_from_meta(m).with_partition_values(partition.clone()))
            .collect();
        // The scan reads through the checked reader over the store registered for `url`.
        DayPartitions::new(
            self.url.clone(),
            files,
            self.writer.show(&object_store::path::Path::default()),
        )
    }

    /// The day's rows from `files`, in the order of `sort`, as the event schema.
    pub async fn sorted_rows(
        &self,
        day: Day,
        files: Vec<ObjectMeta>,
        sort: SortOrder,
    ) -> Result<RecordBatch> {
        let schema = file_schema();
        let columns: Vec<_> = schema
            .fields()
            .iter()
            .map(|f| col(f.name().as_str()))
            .collect();
        let order: Vec<_> = sort_columns(sort)
            .iter()
            .map(|c| col(*c).sort(true, false))
            .collect();
        let batches = self
            .ctx
            .read_table(Arc::new(self.table(day, files)))?
            .select(columns)?
            .sort(order)?
            .collect()
            .await?;
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
        concat_batches(&schema, &batches)
            .map_err(|e| Error::internal(format!("compacting {day}: {e}")))
    }

    /// Adds the keys of the event ids in `files` to `keys`; returns how many ids it read.
    pub async fn event_keys(
        &self,
        day: Day,
        files: Vec<ObjectMeta>,
        keys: &mut HashSet<EventKey>,
    ) -> Result<u64> {
        if files.is_empty() {
            return Ok(0);
        }
        let mut stream = self
            .ctx
            .read_table(Arc::new(self.table(day, files)))?
            .select(vec![col("event_id")])?
            .execute_stream()
            .await?;
        let mut read = 0;
        while let Some(batch) = stream.try_next().await? {
            let ids = cast(batch.column(0), &DataType::Utf8)
                .map_err(|e| Error::internal(format!("reading the event ids of {day}: {e}")))?;
            let ids = ids.as_string::<i32>();
            keys.reserve(ids.len());
            for i in 0..ids.len() {
                if ids.is_valid(i) {
                    keys.insert(event_key(ids.value(i)));
                }
            }
            read += ids.len() as u64;
        }
        Ok(read)
    }
}
