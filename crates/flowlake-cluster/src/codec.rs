//! The plan codecs of a flowlake cluster: the parts of a plan that only flowlake knows, as
//! bytes, around Ballista's own codecs (which handle everything else).
//!
//! Every per-query part travels inside the plan, never looked up by name on the far side:
//! - the events table ([`DayPartitions`]): store URL, display prefix and the listed files
//!   with their partition values (logical codec: client → scheduler);
//! - `path_matches` with its step constraints and `goal_name` with its goal names (both
//!   codecs: client → scheduler → executors);
//! - the checked Parquet reader, as a [`CheckedScanExec`] marker around each scan (physical
//!   codec: scheduler → executors), rebuilt over the executor's own object store;
//! - on executors, each stage's input wrapped in a [`PortableErrorsExec`], so that its
//!   errors reach the client as flowlake's own.
//!
//! No secret is ever part of these: store URLs name a bucket, never its credentials.
//! flowlake's parts are JSON after a prefix no protobuf message can start with (its first
//! byte would be a field tag of wire type 6, which does not exist), so anything without
//! the prefix is Ballista's.

use std::collections::BTreeMap;
use std::sync::Arc;

use ballista_core::execution_plans::{
    RangeShuffleWriterExec, ShuffleWriterExec, SortShuffleWriterExec,
};
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use chrono::DateTime;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, ScalarValue, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::execution::TaskContext;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use object_store::ObjectMeta;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::errors::PortableErrorsExec;
use crate::scan::{CheckedScanExec, with_checked_reader};
use flowlake::lake::DayPartitions;
use flowlake::plan::goal_name::GoalName;
use flowlake::plan::path_steps::PathMatches;
use flowlake::query::StepConstraint;

/// Marks flowlake's parts; `f` (0x66) is not a valid first byte of a protobuf message.
const PREFIX: &[u8] = b"flowlake-plan/1 ";

/// One part of a plan that flowlake encodes itself.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "part", rename_all = "snake_case")]
enum Part {
    EventsTable(EventsTable),
    PathMatches { steps: Vec<Step> },
    GoalName { names: BTreeMap<String, String> },
    CheckedScan,
    PortableErrors,
}

/// The events table of one query: where its files are and which they are.
#[derive(Debug, Serialize, Deserialize)]
struct EventsTable {
    store_url: String,
    display_prefix: String,
    files: Vec<EventFile>,
}

/// One listed event file: what the listing said (so that the footer cache can check it)
/// and its partition values.
#[derive(Debug, Serialize, Deserialize)]
struct EventFile {
    path: String,
    size: u64,
    modified_seconds: i64,
    modified_nanos: u32,
    e_tag: Option<String>,
    version: Option<String>,
    organization_id: String,
    date: i32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Step {
    index: usize,
    actions: Vec<String>,
}

fn codec_error(message: impl Into<String>) -> DataFusionError {
    DataFusionError::Internal(format!("flowlake plan codec: {}", message.into()))
}

fn write(part: &Part, buf: &mut Vec<u8>) -> Result<()> {
    buf.extend_from_slice(PREFIX);
    serde_json::to_writer(buf, part).map_err(|e| codec_error(e.to_string()))
}

/// flowlake's part in `buf`, or `None` when the bytes are Ballista's.
fn read(buf: &[u8]) -> Option<Result<Part>> {
    buf.strip_prefix(PREFIX)
        .map(|json| serde_json::from_slice(json).map_err(|e| codec_error(e.to_string())))
}

fn events_table(table: &DayPartitions) -> Result<EventsTable> {
    let files = table
        .files()
        .iter()
        .map(|file| {
            let (organization_id, date) = match file.partition_values.as_slice() {
                [
                    ScalarValue::Utf8(Some(org)),
                    ScalarValue::Date32(Some(date)),
                ] => (org.clone(), *date),
                other => {
                    return Err(codec_error(format!(
                        "unexpected partition values {other:?}"
                    )));
                }
            };
            let meta = &file.object_meta;
            Ok(EventFile {
                path: meta.location.as_ref().to_string(),
                size: meta.size,
                modified_seconds: meta.last_modified.timestamp(),
                modified_nanos: meta.last_modified.timestamp_subsec_nanos(),
                e_tag: meta.e_tag.clone(),
                version: meta.version.clone(),
                organization_id,
                date,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(EventsTable {
        store_url: table.store_url().as_str().to_string(),
        display_prefix: table.display_prefix().to_string(),
        files,
    })
}

fn day_partitions(table: EventsTable) -> Result<DayPartitions> {
    let files = table
        .files
        .into_iter()
        .map(|file| {
            let location = Path::parse(&file.path)
                .map_err(|e| codec_error(format!("file path {}: {e}", file.path)))?;
            let last_modified =
                DateTime::from_timestamp(file.modified_seconds, file.modified_nanos)
                    .ok_or_else(|| codec_error(format!("modification time of {}", file.path)))?;
            let meta = ObjectMeta {
                location,
                last_modified,
                size: file.size,
                e_tag: file.e_tag,
                version: file.version,
            };
            Ok(
                PartitionedFile::new_from_meta(meta).with_partition_values(vec![
                    ScalarValue::Utf8(Some(file.organization_id)),
                    ScalarValue::Date32(Some(file.date)),
                ]),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(DayPartitions::new(
        ObjectStoreUrl::parse(&table.store_url)?,
        files,
        table.display_prefix,
    ))
}

fn encode_udf(node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<bool> {
    match node.inner().downcast_ref::<GoalName>() {
        Some(goal_name) => write(
            &Part::GoalName {
                names: goal_name.names().clone(),
            },
            buf,
        )
        .map(|_| true),
        None => Ok(false),
    }
}

fn decode_udf(name: &str, buf: &[u8]) -> Option<Result<Arc<ScalarUDF>>> {
    Some(match read(buf)? {
        Ok(Part::GoalName { names }) => Ok(Arc::new(GoalName::udf(names))),
        Ok(other) => Err(codec_error(format!(
            "function {name}: unexpected {other:?}"
        ))),
        Err(e) => Err(e),
    })
}

fn encode_udaf(node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<bool> {
    match node.inner().downcast_ref::<PathMatches>() {
        Some(path_matches) => {
            let steps = path_matches
                .steps()
                .into_iter()
                .map(|s| Step {
                    index: s.index,
                    actions: s.actions,
                })
                .collect();
            write(&Part::PathMatches { steps }, buf).map(|_| true)
        }
        None => Ok(false),
    }
}

fn decode_udaf(name: &str, buf: &[u8]) -> Option<Result<Arc<AggregateUDF>>> {
    Some(match read(buf)? {
        Ok(Part::PathMatches { steps }) => {
            let steps: Vec<StepConstraint> = steps
                .into_iter()
                .map(|s| StepConstraint {
                    index: s.index,
                    actions: s.actions,
                })
                .collect();
            Ok(Arc::new(PathMatches::udaf(&steps)))
        }
        Ok(other) => Err(codec_error(format!(
            "aggregate {name}: unexpected {other:?}"
        ))),
        Err(e) => Err(e),
    })
}

/// The logical codec of clients and the scheduler.
#[derive(Debug, Default)]
pub struct LogicalCodec {
    ballista: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.ballista.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match read(buf) {
            Some(Ok(Part::EventsTable(table))) => Ok(Arc::new(day_partitions(table)?)),
            Some(Ok(other)) => Err(codec_error(format!(
                "table {table_ref}: unexpected {other:?}"
            ))),
            Some(Err(e)) => Err(e),
            None => self
                .ballista
                .try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        match node.downcast_ref::<DayPartitions>() {
            Some(table) => write(&Part::EventsTable(events_table(table)?), buf),
            None => self
                .ballista
                .try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.ballista.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        decode_udf(name, buf).unwrap_or_else(|| self.ballista.try_decode_udf(name, buf))
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        if encode_udf(node, buf)? {
            Ok(())
        } else {
            self.ballista.try_encode_udf(node, buf)
        }
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        decode_udaf(name, buf).unwrap_or_else(|| self.ballista.try_decode_udaf(name, buf))
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        if encode_udaf(node, buf)? {
            Ok(())
        } else {
            self.ballista.try_encode_udaf(node, buf)
        }
    }
}

/// The physical codec of the scheduler and executors.
#[derive(Debug, Default)]
pub struct PhysicalCodec {
    ballista: BallistaPhysicalExtensionCodec,
    /// The executor decoding, on one (its address, as errors name it).
    executor: Option<Arc<str>>,
}

impl PhysicalCodec {
    /// The codec of the executor at `address`: scans read through the checked reader, and
    /// every stage's errors cross the cluster as flowlake's (see [`crate::errors`]).
    pub fn on_executor(address: &str) -> PhysicalCodec {
        PhysicalCodec {
            executor: Some(Arc::from(address)),
            ..PhysicalCodec::default()
        }
    }

    /// A decoded Ballista node; on an executor, a stage's shuffle writer gets its input
    /// wrapped so that the stage's errors are portable.
    fn on_this_side(&self, node: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        let writes_a_stage = node.is::<ShuffleWriterExec>()
            || node.is::<SortShuffleWriterExec>()
            || node.is::<RangeShuffleWriterExec>();
        match (&self.executor, node.children().as_slice()) {
            (Some(_), [input]) if writes_a_stage && !input.is::<PortableErrorsExec>() => {
                let input = Arc::new(PortableErrorsExec::new(Arc::clone(input)));
                datafusion::physical_plan::execution_plan::replace_children_if_necessary(
                    node,
                    vec![input],
                )
            }
            _ => Ok(node),
        }
    }
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match read(buf) {
            Some(Ok(Part::CheckedScan)) => match inputs {
                [scan] => with_checked_reader(Arc::clone(scan), ctx, self.executor.as_ref()),
                _ => Err(codec_error(format!(
                    "a checked scan has one input, got {}",
                    inputs.len()
                ))),
            },
            Some(Ok(Part::PortableErrors)) => match inputs {
                [input] => Ok(Arc::new(PortableErrorsExec::new(Arc::clone(input)))),
                _ => Err(codec_error(format!(
                    "portable errors have one input, got {}",
                    inputs.len()
                ))),
            },
            Some(Ok(other)) => Err(codec_error(format!("unexpected plan node {other:?}"))),
            Some(Err(e)) => Err(e),
            None => {
                self.on_this_side(
                    self.ballista
                        .try_decode(buf, inputs, ctx, proto_converter)?,
                )
            }
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if node.downcast_ref::<CheckedScanExec>().is_some() {
            write(&Part::CheckedScan, buf)
        } else if node.downcast_ref::<PortableErrorsExec>().is_some() {
            write(&Part::PortableErrors, buf)
        } else {
            self.ballista.try_encode(node, buf, proto_converter)
        }
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        decode_udf(name, buf).unwrap_or_else(|| self.ballista.try_decode_udf(name, buf))
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        if encode_udf(node, buf)? {
            Ok(())
        } else {
            self.ballista.try_encode_udf(node, buf)
        }
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        decode_udaf(name, buf).unwrap_or_else(|| self.ballista.try_decode_udaf(name, buf))
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        if encode_udaf(node, buf)? {
            Ok(())
        } else {
            self.ballista.try_encode_udaf(node, buf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballista_bytes_never_look_like_ours() {
        // Ballista's parts are protobuf messages: a first byte of 0x66 would be field 12
        // with wire type 6, which protobuf does not have.
        assert_eq!(PREFIX[0] & 0x07, 6);
        assert!(read(&[0x0a, 0x02, 0x08, 0x01]).is_none());
    }

    #[test]
    fn the_events_table_travels_with_its_files_and_partition_values() {
        let meta = ObjectMeta {
            location: Path::parse("lake/events/organization_id=o/date=2026-03-01/part%200.parquet")
                .unwrap(),
            last_modified: DateTime::from_timestamp(1_772_000_000, 123_456_789).unwrap(),
            size: 4096,
            e_tag: Some("etag".into()),
            version: None,
        };
        let file = PartitionedFile::new_from_meta(meta.clone()).with_partition_values(vec![
            ScalarValue::Utf8(Some("o".into())),
            ScalarValue::Date32(Some(20513)),
        ]);
        let table = DayPartitions::new(
            ObjectStoreUrl::parse("s3://bucket").unwrap(),
            vec![file],
            "s3://bucket/".into(),
        );
        let codec = LogicalCodec::default();
        let mut buf = Vec::new();
        codec
            .try_encode_table_provider(&TableReference::bare("events"), Arc::new(table), &mut buf)
            .unwrap();
        let decoded = match read(&buf) {
            Some(Ok(Part::EventsTable(table))) => day_partitions(table).unwrap(),
            other => panic!("not an events table: {other:?}"),
        };
        assert_eq!(decoded.store_url().as_str(), "s3://bucket/");
        assert_eq!(decoded.display_prefix(), "s3://bucket/");
        assert_eq!(decoded.files().len(), 1);
        assert_eq!(decoded.files()[0].object_meta, meta);
        assert_eq!(
            decoded.files()[0].partition_values[1],
            ScalarValue::Date32(Some(20513))
        );
    }

    #[test]
    fn functions_travel_with_their_per_query_state() {
        let steps = vec![StepConstraint {
            index: 2,
            actions: vec!["b".into(), "a".into()],
        }];
        let codec = PhysicalCodec::default();
        let mut buf = Vec::new();
        codec
            .try_encode_udaf(&PathMatches::udaf(&steps), &mut buf)
            .unwrap();
        let decoded = codec.try_decode_udaf("path_matches", &buf).unwrap();
        assert_eq!(decoded.as_ref(), &PathMatches::udaf(&steps));

        let names = BTreeMap::from([("g1".to_string(), "Signup".to_string())]);
        let mut buf = Vec::new();
        LogicalCodec::default()
            .try_encode_udf(&GoalName::udf(names.clone()), &mut buf)
            .unwrap();
        let decoded = LogicalCodec::default()
            .try_decode_udf("goal_name", &buf)
            .unwrap();
        assert_eq!(
            decoded
                .inner()
                .downcast_ref::<GoalName>()
                .map(GoalName::names),
            Some(&names)
        );
    }
}
