//! Criterion benches of the per-request hot path: validating a payload, planning a query
//! over the sample lake, and encoding rows as JSON/NDJSON. Run with `cargo bench`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowlake::generate::{Event, event::to_record_batch};
use flowlake::output::{Format, Shape, encoder};
use flowlake::{Engine, EngineConfig, LakeLocation, Query};

const ORG: &str = "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d";
const WORKFLOW: &str = "5887c297-1e03-45e4-863e-7a9f784c5a2c";
const PAYLOAD: &[u8] = include_bytes!("../queries/api-example.json");

fn validation(c: &mut Criterion) {
    c.bench_function("payload_to_query", |b| b.iter(|| Query::from_request(ORG, WORKFLOW, black_box(PAYLOAD)).expect("valid")));
}

fn planning(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let engine = Engine::new(&EngineConfig::default()).expect("engine");
    let lake_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
    let lake = runtime.block_on(engine.open_lake(LakeLocation::parse(lake_dir).expect("lake"))).expect("open");
    let query = Query::from_request(ORG, WORKFLOW, PAYLOAD).expect("valid");
    c.bench_function("plan_14_days", |b| b.iter(|| runtime.block_on(engine.plan(&lake, &query)).expect("plan")));
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
    let bytes = encoder(Format::Json, Shape { basic: false, workflow_related: false }).batch(&batch).expect("encode").len();
    let mut group = c.benchmark_group("encode_8192_rows");
    group.throughput(Throughput::Bytes(bytes as u64));
    for format in [Format::Json, Format::Ndjson] {
        group.bench_function(format!("{format:?}"), |b| {
            b.iter(|| encoder(format, Shape { basic: false, workflow_related: false }).batch(black_box(&batch)).expect("encode"))
        });
    }
    group.finish();
}

criterion_group!(benches, validation, planning, encoding);
criterion_main!(benches);
