//! Criterion benches of the hot path: filtering goal events in the time window
//! over realistic record batches, session-path matching, validating and planning a
//! payload, and encoding rows. Run with `cargo bench`; numbers are in BENCHMARKS.md.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::logical_expr::col;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::prelude::SessionContext;
use flowlake::format::event::to_record_batch;
use flowlake::generate::{Event, FileLayout, GenerateOptions, Organization, generate};
use flowlake::lake::WorkflowKind;
use flowlake::output::{Format, Shape, encoder};
use flowlake::plan::goals::goal_predicate;
use flowlake::plan::workflow::{WorkflowEvents, matching_sessions};
use flowlake::query::{Filter, FilterProperty, StepConstraint};
use flowlake::{Engine, EngineConfig, LakeLocation, Query};
use object_store::ObjectStore;
use object_store::memory::InMemory;
use tokio::runtime::Runtime;

const ORG: &str = "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d";
const WORKFLOW: &str = "5887c297-1e03-45e4-863e-7a9f784c5a2c";
const PAYLOAD: &[u8] = include_bytes!("../../../queries/api-example.json");

/// One generated day of one organization (200,000 events) as record batches, and the
/// organization it belongs to.
fn generated_day(runtime: &Runtime) -> (Organization, Vec<RecordBatch>) {
    let store = Arc::new(InMemory::new());
    let options = GenerateOptions {
        organizations: 1,
        days: 1,
        start: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).expect("date"),
        events_per_day: 200_000,
        seed: 3,
        layout: FileLayout::default(),
    };
    let summary = runtime
        .block_on(generate(
            Arc::clone(&store) as Arc<dyn ObjectStore>,
            &Default::default(),
            &options,
        ))
        .expect("generate");
    let org = summary
        .organizations
        .into_iter()
        .next()
        .expect("one organization");
    let files: Vec<_> = runtime.block_on(async {
        use futures::TryStreamExt;
        store
            .list(None)
            .try_collect::<Vec<_>>()
            .await
            .expect("list")
    });
    let mut batches = Vec::new();
    for meta in files
        .into_iter()
        .filter(|m| m.location.as_ref().ends_with(".parquet"))
    {
        let bytes = runtime
            .block_on(async {
                object_store::ObjectStoreExt::get(store.as_ref(), &meta.location)
                    .await?
                    .bytes()
                    .await
            })
            .expect("get");
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .expect("parquet")
            .with_batch_size(8192)
            .build()
            .expect("reader");
        batches.extend(reader.map(|b| b.expect("batch")));
    }
    (org, batches)
}

fn rows(batches: &[RecordBatch]) -> u64 {
    batches.iter().map(|b| b.num_rows() as u64).sum()
}

/// Goal triggers with a label filter in a 12-hour window, over a day of events in memory.
fn filtering(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let (org, batches) = generated_day(&runtime);
    let ctx = SessionContext::new();
    let goal = org.goals[1].id.clone();
    let filters = vec![Filter {
        property: FilterProperty::parse("label").expect("label"),
        values: vec![goal],
    }];
    let window = col("timestamp")
        .gt_eq(datafusion::prelude::lit(
            datafusion::common::ScalarValue::TimestampMicrosecond(
                Some(1_772_323_200_000_000),
                Some("UTC".into()),
            ),
        ))
        .and(col("timestamp").lt_eq(datafusion::prelude::lit(
            datafusion::common::ScalarValue::TimestampMicrosecond(
                Some(1_772_366_400_000_000),
                Some("UTC".into()),
            ),
        )));
    let predicate = window.and(goal_predicate(&filters));
    let mut group = c.benchmark_group("filter_goal_events");
    group.throughput(Throughput::Elements(rows(&batches)));
    group.bench_function("window_and_label_200k_rows", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let frame = ctx
                    .read_batches(batches.clone())
                    .expect("frame")
                    .filter(predicate.clone())
                    .expect("filter");
                black_box(frame.collect().await.expect("collect"))
            })
        })
    });
    group.finish();
}

/// Entry times and step matching (row_number over sessions, two constrained steps).
fn session_matching(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let (org, batches) = generated_day(&runtime);
    let interaction = &org.interactions[0];
    let kind = WorkflowKind::Interaction {
        interaction_ids: org.interactions.iter().map(|i| i.id.clone()).collect(),
    };
    let rules = WorkflowEvents::for_kind(&kind, WORKFLOW).expect("implemented");
    let steps = vec![
        StepConstraint {
            index: 1,
            actions: vec![interaction.views[0].clone(), interaction.views[1].clone()],
        },
        StepConstraint {
            index: 2,
            actions: vec![interaction.views[2].clone()],
        },
    ];
    let ctx = SessionContext::new();
    let mut group = c.benchmark_group("session_path_matching");
    group.throughput(Throughput::Elements(rows(&batches)));
    group.bench_function("two_steps_200k_rows", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let events = ctx
                    .read_batches(batches.clone())
                    .expect("frame")
                    .filter(rules.predicate.clone())
                    .expect("filter");
                black_box(
                    matching_sessions(events, &rules, &steps)
                        .expect("plan")
                        .collect()
                        .await
                        .expect("collect"),
                )
            })
        })
    });
    group.finish();
}

fn validation(c: &mut Criterion) {
    c.bench_function("payload_to_query", |b| {
        b.iter(|| Query::from_request(ORG, WORKFLOW, black_box(PAYLOAD)).expect("valid"))
    });
}

fn planning(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let engine = Engine::new(&EngineConfig::default()).expect("engine");
    // The sample lake shipped at the repository's root.
    let lake_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .canonicalize()
        .expect("the sample lake");
    let lake = runtime
        .block_on(engine.open_lake(LakeLocation::Local(lake_dir)))
        .expect("open");
    let query = Query::from_request(ORG, WORKFLOW, PAYLOAD).expect("valid");
    c.bench_function("plan_14_days", |b| {
        b.iter(|| runtime.block_on(engine.plan(&lake, &query)).expect("plan"))
    });
}

fn encoding(c: &mut Criterion) {
    let events: Vec<Event> = (0..8192)
        .map(|i| Event {
            timestamp_us: 1_772_323_200_000_000 + i * 1_000_123,
            event_id: format!("event-{i:08}"),
            category: "goal".into(),
            action: "trigger".into(),
            label: "6fd3d22c-1693-4a84-9043-f8ef4d9f2846".into(),
            value: (i % 3 == 0).then_some(12.5),
            visitor_id: format!("visitor-{}", i % 500),
            session_id: format!("session-{}", i % 2000),
            geo_city: Some("São Paulo".into()),
            properties: (i % 4 == 0).then(|| vec!["plan=pro".to_string()]),
            ..Default::default()
        })
        .collect();
    let batch = to_record_batch(&events).expect("batch");
    let shape = Shape {
        basic: false,
        workflow_related: false,
    };
    for format in [Format::Json, Format::Ndjson, Format::Csv, Format::Arrow] {
        let bytes = encoder(format, shape, &batch.schema())
            .expect("encoder")
            .batch(&batch)
            .expect("encode")
            .len();
        let mut group = c.benchmark_group(format!("encode_8192_rows_{format:?}"));
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function("bytes", |b| {
            let mut encoder = encoder(format, shape, &batch.schema()).expect("encoder");
            encoder.begin().expect("begin");
            b.iter(|| encoder.batch(black_box(&batch)).expect("encode"))
        });
        group.finish();
    }
}

criterion_group!(
    benches,
    filtering,
    session_matching,
    validation,
    planning,
    encoding
);
criterion_main!(benches);
