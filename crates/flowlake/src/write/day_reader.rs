//! Reads a day's files back through the engine's own checked scan: the rows in the
//! compact layout's order (for `compact`), or the event ids (for `ingest`'s idempotence).

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::common::config::SpillCompression;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::col;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::TryStreamExt;
use object_store::ObjectMeta;
use url::Url;

use super::{Day, LakeWriter};
use crate::error::{Error, Result};
use crate::format::schema::file_schema;
use crate::lake::DayPartitions;
use crate::write::layout::{SortOrder, sort_columns};

/// An event id as the writers compare them: 128 bits of its xxh3 hash (a collision among
/// 10⁹ ids of one day has a chance of about 10⁻²¹).
pub type EventKey = u128;

/// The key of an event id.
pub fn event_key(event_id: &str) -> EventKey {
    xxhash_rust::xxh3::xxh3_128(event_id.as_bytes())
}

/// A set of event keys. The keys are hashes already: the set uses their bits as they are
/// rather than hashing them again.
pub type EventKeys = HashSet<EventKey, BuildHasherDefault<KeyBits>>;

/// The hasher of [`EventKeys`]: a key's low 64 bits.
#[derive(Debug, Default)]
pub struct KeyBits(u64);

impl Hasher for KeyBits {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only keys are hashed (`write_u128`); anything else is folded in, correct if slow.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u128(&mut self, key: u128) {
        self.0 = key as u64;
    }
}

/// A batch of the event columns with the event schema's exact types (files of other
/// writers may hold other string encodings or timestamp units).
pub fn to_file_schema(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = file_schema();
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| cast(column, field.data_type()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::internal(format!("casting rows to the event schema: {e}")))?;
    RecordBatch::try_new(schema, columns)
        .map_err(|e| Error::internal(format!("casting rows to the event schema: {e}")))
}

/// How much memory a day reader's sorts may hold, and where they spill beyond it.
#[derive(Debug, Clone, Default)]
pub struct SortMemory {
    /// Bytes; `None`: no limit.
    pub limit: Option<usize>,
    /// Where sorts spill (default: the system's temporary folder).
    pub spill_dir: Option<std::path::PathBuf>,
}

/// Reads day folders of one lake.
pub struct DayReader {
    ctx: SessionContext,
    url: ObjectStoreUrl,
    writer: LakeWriter,
}

/// A day's rows streaming out of a sort, and its plan (whose metrics tell what spilled).
pub struct SortedRows {
    pub plan: Arc<dyn ExecutionPlan>,
    pub stream: SendableRecordBatchStream,
}

impl SortedRows {
    /// Bytes the sort spilled to disk so far.
    pub fn spilled_bytes(&self) -> u64 {
        fn walk(plan: &Arc<dyn ExecutionPlan>) -> u64 {
            let own = plan.metrics().and_then(|m| m.spilled_bytes()).unwrap_or(0) as u64;
            own + plan.children().into_iter().map(walk).sum::<u64>()
        }
        walk(&self.plan)
    }
}

impl DayReader {
    /// A reader over the writer's store whose sorts hold at most `memory`, spilling beyond.
    pub fn new(writer: &LakeWriter, memory: &SortMemory) -> Result<DayReader> {
        let mut runtime = RuntimeEnvBuilder::new();
        if let Some(bytes) = memory.limit {
            runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(bytes)));
        }
        if let Some(dir) = &memory.spill_dir {
            runtime = runtime.with_disk_manager_builder(
                DiskManagerBuilder::default()
                    .with_mode(DiskManagerMode::Directories(vec![dir.clone()])),
            );
        }
        let mut config = SessionConfig::new();
        // Spilled runs of a large day are Arrow batches of mostly repeated strings: LZ4 makes
        // them several times smaller for little CPU (a 30 M-event day spills gigabytes).
        config.options_mut().execution.spill_compression = SpillCompression::Lz4Frame;
        if let Some(bytes) = memory.limit {
            // The merge of spilled runs sets this much aside before it starts (10 MiB by
            // default): a small limit must leave the sorts room beside it.
            let options = config.options_mut();
            options.execution.sort_spill_reservation_bytes = options
                .execution
                .sort_spill_reservation_bytes
                .min(bytes / 8);
            // A sort holds at least one batch of every partition: under a small limit they
            // are smaller (a row of the event schema takes about 1 KiB in memory).
            config = config.with_batch_size((bytes / (16 << 10)).clamp(256, 8192));
            // One sort for the day: several partitions' sorts and the merge of their outputs
            // would share the limit, and the merge could be left without its share.
            config = config.with_target_partitions(1);
        }
        let ctx = SessionContext::new_with_config_rt(config, runtime.build_arc()?);
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

    /// The day's rows from `files`, in the order of `sort`, as a stream: the sort holds what
    /// the memory limit allows and spills the rest. Batches have the event schema's columns
    /// in its order (see [`to_file_schema`] for their types).
    pub async fn sorted_rows(
        &self,
        day: Day,
        files: Vec<ObjectMeta>,
        sort: SortOrder,
    ) -> Result<SortedRows> {
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
        let plan = self
            .ctx
            .read_table(Arc::new(self.table(day, files)))?
            .select(columns)?
            .sort(order)?
            .create_physical_plan()
            .await?;
        let stream = execute_stream(Arc::clone(&plan), self.ctx.task_ctx())?;
        Ok(SortedRows { plan, stream })
    }

    /// Adds the keys of the event ids in `files` to `keys`; returns how many ids it read.
    pub async fn event_keys(
        &self,
        day: Day,
        files: Vec<ObjectMeta>,
        keys: &mut EventKeys,
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
