//! The same payloads under other file orders, the small-limit strategies and memory bounds.

use super::*;

/// The row order of the files changes which pages a scan skips, never the answer: the same
/// events sorted by category give byte-identical responses.
#[test]
fn the_row_order_of_the_files_never_changes_an_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).expect("store"));
    runtime
        .block_on(generate(
            store,
            &object_store::path::Path::default(),
            &world_options(SortOrder::Category),
        ))
        .expect("generate");
    let engine = Engine::new(&EngineConfig {
        batch_size: Some(50),
        ..EngineConfig::default()
    })
    .expect("engine");
    let mut answered = 0;
    for seed in 0..120u64 {
        let (case, payload) = random_case(seed);
        // The differential world adds hand-made edge files; compare generated files only.
        let run = |root: &Path| {
            runtime.block_on(crate::support::run_bytes(
                &engine,
                root,
                &case.org,
                &case.workflow,
                &payload,
                Format::Ndjson,
            ))
        };
        let (by_time, by_category) = (run(&generated_only()), run(dir.path()));
        match (by_time, by_category) {
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

/// The differential lake without its hand-made edge files.
fn generated_only() -> std::path::PathBuf {
    static COPY: OnceLock<tempfile::TempDir> = OnceLock::new();
    let copy = COPY.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let store = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).expect("store"));
        runtime
            .block_on(generate(
                store,
                &object_store::path::Path::default(),
                &world_options(SortOrder::Time),
            ))
            .expect("generate");
        dir
    });
    copy.path().to_path_buf()
}

/// A small limit is first answered from the interval's first days (`Engine::execute`):
/// both sides cut without step constraints, the goal side only for unfiltered
/// `affected_goal` with them; with enough rows there the answer is theirs, otherwise more
/// days, then the whole interval. Limits from 1 to past the whole answer, with the random
/// cases' targets, filters and steps, over the whole lake or the random interval, answer
/// like the reference, and the first-days plans answered some of them.
#[test]
fn small_limits_answered_from_the_first_days_answer_like_the_reference() {
    use flowlake::Query;

    let w = world();
    let engine = Engine::new(&EngineConfig {
        batch_size: Some(37),
        ..EngineConfig::default()
    })
    .expect("engine");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let lake = runtime
        .block_on(engine.open_lake(LakeLocation::Local(w.root.clone())))
        .expect("lake");
    let (mut checked, mut from_first_days) = (0, 0);
    for seed in 0..240u64 {
        let (case, payload) = random_case(seed);
        let mut payload: Value = serde_json::from_str(&payload).expect("payload");
        let rows = &w.orgs.iter().find(|(o, _)| *o == case.org).expect("org").1;
        let stamps: Vec<i64> = rows.iter().map(|r| r.ts).collect();
        // The whole lake's days, or the random interval; limits from tiny to past the answer.
        let (start_us, end_us) = if seed % 2 == 0 {
            (
                stamps.iter().min().copied().unwrap_or(0) - 1,
                stamps.iter().max().copied().unwrap_or(0) + 1,
            )
        } else {
            (case.start_us, case.end_us)
        };
        let limit = [1, 2, 5, 20, 60, 200][(seed % 6) as usize];
        // Half of the cases unfiltered `affected_goal` (the goal side cut under steps too).
        let plain = seed % 4 < 2;
        if plain {
            payload["filters"] = json!([]);
            payload["target"] = json!("affected_goal");
        }
        payload["limit"] = json!(limit);
        payload["interval"] = json!({"start": render(start_us, &mut ChaCha8Rng::seed_from_u64(seed), None), "end": render(end_us, &mut ChaCha8Rng::seed_from_u64(seed + 1), None)});
        let case = if plain {
            Case {
                filters: Vec::new(),
                total: false,
                ..case
            }
        } else {
            case
        };
        let case = Case {
            limit: Some(limit),
            start_us,
            end_us,
            ..case
        };
        let payload = payload.to_string();
        if let Err(failure) = check_case(&case, &payload, &engine, &runtime) {
            panic!("seed {seed}: {failure}");
        }
        checked += 1;
        // Which plan answered: one whose goal scan reads fewer day folders than its workflow scan.
        if let Ok(query) = Query::from_request(&case.org, &case.workflow, payload.as_bytes())
            && let Ok(response) = runtime.block_on(engine.execute(&lake, &query))
        {
            // The answering plan's scans read fewer days than the whole interval's plan.
            let days = |plan: &dyn datafusion::physical_plan::ExecutionPlan| {
                let text = datafusion::physical_plan::displayable(plan)
                    .indent(true)
                    .to_string();
                text.match_indices("date=")
                    .map(|(at, _)| text[at..(at + 15).min(text.len())].to_string())
                    .collect::<std::collections::BTreeSet<_>>()
                    .len()
            };
            let whole = runtime.block_on(async {
                engine
                    .plan(&lake, &query)
                    .await
                    .expect("plan")
                    .create_physical_plan()
                    .await
                    .expect("physical")
            });
            from_first_days += usize::from(
                days(response.plan().expect("a plan ran").as_ref()) < days(whole.as_ref()),
            );
        }
    }
    assert_eq!(checked, 240);
    assert!(
        from_first_days >= 20,
        "only {from_first_days} of 240 answers came from the first days"
    );
}

/// Under a memory limit the plans take the join order whose memory does not grow with the
/// answer; it must answer exactly like the reference too.
#[test]
fn the_memory_bounded_plans_answer_like_the_reference() {
    let config = EngineConfig {
        memory: flowlake::memory::MemoryPool::Asked(1 << 30),
        batch_size: Some(41),
        ..EngineConfig::default()
    };
    let engine = Engine::new(&config).expect("engine");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for seed in 10_000..10_120u64 {
        if let Err(failure) = check(seed, &engine, &runtime) {
            panic!("seed {seed}: {failure}");
        }
    }
}

/// The pool `serve` and `batch` derive from the machine's memory keeps the plans of an
/// unlimited engine; within that pool they answer like the reference.
#[test]
fn a_derived_memory_pool_answers_like_the_reference() {
    let config = EngineConfig {
        memory: flowlake::memory::MemoryPool::Derived(flowlake::memory::MIN_POOL as usize),
        ..EngineConfig::default()
    };
    let engine = Engine::new(&config).expect("engine");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for seed in 20_000..20_060u64 {
        if let Err(failure) = check(seed, &engine, &runtime) {
            panic!("seed {seed}: {failure}");
        }
    }
}
