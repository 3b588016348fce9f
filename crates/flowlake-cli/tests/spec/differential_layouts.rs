//! Layouts that make the Parquet reader take its sparse paths answer like the small row
//! groups of the differential lake.

use std::path::Path;
use std::sync::Arc;

use flowlake::generate::{Codec, FileLayout, SortOrder, generate};
use flowlake::output::Format;
use flowlake::{Engine, EngineConfig};
use object_store::local::LocalFileSystem;

use super::differential::{random_case, world_options};

/// The differential lake's generated events in `layout`, under a new folder.
fn generated(runtime: &tokio::runtime::Runtime, layout: FileLayout) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).expect("store"));
    let mut options = world_options(SortOrder::Time);
    options.layout = layout;
    runtime
        .block_on(generate(
            store,
            &object_store::path::Path::default(),
            &options,
        ))
        .expect("generate");
    dir
}

/// One row group per file, zstd, no bloom filters (a layout written by other tools): a row
/// filter keeps goal triggers few and far apart inside a whole day, which the reader decodes
/// in pieces of at most one batch of rows. With batches of 7 rows every answer is assembled
/// from many such pieces, and it is byte for byte the answer read from 128-row groups.
#[test]
fn sparse_goal_triggers_in_whole_day_row_groups_answer_like_small_row_groups() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let small_groups = generated(&runtime, world_options(SortOrder::Time).layout);
    let whole_days = generated(
        &runtime,
        FileLayout {
            row_group_size: 1 << 20,
            sort: SortOrder::Time,
            codec: Codec::Zstd,
            bloom_filters: false,
        },
    );
    let reference = Engine::new(&EngineConfig::default()).expect("engine");
    let small_batches = Engine::new(&EngineConfig {
        batch_size: Some(7),
        ..EngineConfig::default()
    })
    .expect("engine");
    let mut answered = 0;
    for seed in 0..120u64 {
        let (case, payload) = random_case(seed);
        let run = |engine: &Engine, root: &Path| {
            runtime.block_on(super::support::run_bytes(
                engine,
                root,
                &case.org,
                &case.workflow,
                &payload,
                Format::Ndjson,
            ))
        };
        match (
            run(&reference, small_groups.path()),
            run(&small_batches, whole_days.path()),
        ) {
            (Ok(a), Ok(b)) => {
                assert!(a == b, "seed {seed}: the answers differ for {payload}");
                answered += usize::from(!a.is_empty());
            }
            (Err(a), Err(b)) => assert_eq!(a.status(), b.status(), "seed {seed}"),
            (a, b) => panic!("seed {seed}: {:?} vs {:?}", a.map(|_| ()), b.map(|_| ())),
        }
    }
    assert!(answered >= 40, "only {answered} cases returned rows");
}
