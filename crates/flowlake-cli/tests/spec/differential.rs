//! The engine against the reference evaluator, on a generated lake with edge cases, for
//! hundreds of random payloads: every target, step pattern, filter property, limit and
//! time-zone rendering. Answers must be identical.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, NaiveDate, TimeZone};
use chrono_tz::Tz;
use flowlake::generate::{Event, FileLayout, GenerateOptions, SortOrder, generate};
use flowlake::output::Format;
use flowlake::{Engine, EngineConfig, LakeLocation};
use object_store::local::LocalFileSystem;
use proptest::prelude::*;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::reference::{self, Case, Row};
use super::support::TestLake;

pub struct World {
    _dir: tempfile::TempDir,
    pub root: std::path::PathBuf,
    orgs: Vec<(String, Vec<Row>)>,
    workflows: Vec<(String, String, String)>, // (org, id, type)
}

const START: &str = "2026-03-01";

/// Generated lake plus a hand-made file per organization that is unsorted, lacks some
/// nullable columns, has timestamp ties, and reuses another organization's session ids.
/// The options of the differential lake; `sort` picks the row order of its files.
pub fn world_options(sort: SortOrder) -> GenerateOptions {
    GenerateOptions {
        organizations: 2,
        days: 3,
        start: NaiveDate::parse_from_str(START, "%Y-%m-%d").expect("date"),
        events_per_day: 400,
        seed: 7,
        layout: FileLayout {
            row_group_size: 128,
            sort,
            ..FileLayout::default()
        },
    }
}

pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let options = world_options(SortOrder::Time);
        let store = Arc::new(LocalFileSystem::new_with_prefix(&root).expect("store"));
        let summary = runtime
            .block_on(generate(
                store,
                &object_store::path::Path::default(),
                &options,
            ))
            .expect("generate");
        let org_ids: Vec<String> = summary.organizations.iter().map(|o| o.id.clone()).collect();
        let rows: Vec<Vec<Row>> = org_ids
            .iter()
            .map(|o| reference::load_rows(&root, o))
            .collect();
        for (i, org) in summary.organizations.iter().enumerate() {
            let borrowed = &rows[(i + 1) % rows.len()];
            let events = edge_events(org, &rows[i], borrowed, i as u64);
            let cols: Vec<&str> = reference::COLUMNS
                .iter()
                .copied()
                .filter(|c| !["vendor", "dim3", "properties", "ip_organization"].contains(c))
                .collect();
            let writer = TestLake {
                dir: tempfile::tempdir().expect("tmp"),
            };
            let path = writer.write_events_with_columns(
                &org.id,
                "2026-03-02",
                "edge.parquet",
                &events,
                &cols,
            );
            let target = root.join(TestLake::day_file(&org.id, "2026-03-02", "edge.parquet"));
            std::fs::copy(path, target).expect("copy edge file");
        }
        let orgs = org_ids
            .iter()
            .map(|o| (o.clone(), reference::load_rows(&root, o)))
            .collect();
        let workflows = summary
            .organizations
            .iter()
            .flat_map(|o| {
                o.workflows
                    .iter()
                    .map(|w| (w.organization_id.clone(), w.id.clone(), w.kind.to_string()))
            })
            .collect();
        World {
            _dir: dir,
            root,
            orgs,
            workflows,
        }
    })
}

fn edge_events(
    org: &flowlake::generate::Organization,
    own: &[Row],
    other: &[Row],
    seed: u64,
) -> Vec<Event> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
    let views: Vec<(String, String)> = own
        .iter()
        .filter(|r| r.get("action") == Some("view") && r.get("category") == Some("widget"))
        .filter_map(|r| Some((r.get("label")?.to_string(), r.get("view_uid")?.to_string())))
        .collect();
    let mut sessions: Vec<String> = other
        .iter()
        .filter_map(|r| r.get("session_id").map(String::from))
        .collect();
    sessions.dedup();
    let day = DateTime::parse_from_rfc3339("2026-03-02T00:00:00Z")
        .expect("day")
        .timestamp_micros();
    let mut events = Vec::new();
    for (n, session) in sessions.iter().take(25).enumerate() {
        let mut t = day + rng.random_range(0..86_000) * 1_000_000;
        let mut push = |rng: &mut ChaCha8Rng,
                        category: &str,
                        action: &str,
                        label: &str,
                        view: Option<String>,
                        page: Option<String>,
                        tie: bool| {
            if !tie {
                t += rng.random_range(1..5_000_000);
            }
            events.push(Event {
                timestamp_us: t,
                event_id: format!("edge-{seed}-{n}-{}", events.len()),
                category: category.into(),
                action: action.into(),
                label: label.into(),
                view_uid: view,
                page_url: page,
                visitor_id: format!("edge-visitor-{n}"),
                session_id: session.clone(),
                geo_city: Some("Zürich".into()),
                value: Some(1.25),
                ..Default::default()
            });
        };
        let goal = &org.goals[n % org.goals.len()].id;
        if n % 3 == 0 {
            push(&mut rng, "goal", "trigger", goal, None, None, false);
        }
        let (label, _) = views.choose(&mut rng).cloned().unwrap_or_default();
        push(&mut rng, "widget", "impression", &label, None, None, false);
        for _ in 0..rng.random_range(1..4) {
            let view = views
                .iter()
                .filter(|(l, _)| *l == label)
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>();
            let chosen = view.choose(&mut rng).cloned();
            push(&mut rng, "widget", "view", &label, chosen, None, n % 4 == 1);
        }
        push(
            &mut rng,
            "pageview",
            "view",
            "page",
            None,
            Some(org.pages[n % org.pages.len()].clone()),
            false,
        );
        push(&mut rng, "goal", "trigger", goal, None, None, n % 2 == 0);
    }
    events.shuffle(&mut rng);
    events
}

/// Renders an instant as the payload text: UTC with Z, with an offset, or as a local time
/// in a time zone (only where that local time is unambiguous).
fn render(us: i64, rng: &mut ChaCha8Rng, tz: Option<Tz>) -> String {
    let t = DateTime::from_timestamp_micros(us).expect("instant");
    match (tz, rng.random_range(0..3)) {
        (Some(tz), _) => t
            .with_timezone(&tz)
            .naive_local()
            .format("%Y-%m-%dT%H:%M:%S%.6f")
            .to_string(),
        (None, 0) => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        (None, 1) => t
            .with_timezone(&chrono::FixedOffset::east_opt(5 * 3600 + 1800).expect("offset"))
            .format("%Y-%m-%dT%H:%M:%S%.6f%:z")
            .to_string(),
        (None, _) => t
            .with_timezone(&chrono::FixedOffset::west_opt(7 * 3600).expect("offset"))
            .format("%Y-%m-%dT%H:%M:%S%.6f%:z")
            .to_string(),
    }
}

fn unambiguous(tz: Tz, us: i64) -> bool {
    let local = DateTime::from_timestamp_micros(us)
        .expect("instant")
        .with_timezone(&tz)
        .naive_local();
    matches!(
        tz.from_local_datetime(&local),
        chrono::LocalResult::Single(_)
    )
}

fn pick_values(rng: &mut ChaCha8Rng, rows: &[Row], column: &str) -> Vec<String> {
    let mut pool: Vec<String> = match column {
        "room_ids" | "properties" => rows
            .iter()
            .filter_map(|r| r.lists[column].clone())
            .flatten()
            .collect(),
        _ => rows
            .iter()
            .filter(|r| r.get("category") == Some("goal") || rng.random_bool(0.01))
            .filter_map(|r| r.get(column).map(String::from))
            .collect(),
    };
    pool.sort();
    pool.dedup();
    let mut values: Vec<String> = (0..rng.random_range(1..4))
        .filter_map(|_| pool.choose(rng).cloned())
        .collect();
    if values.is_empty() || rng.random_bool(0.1) {
        values.push("no-such-value".into());
    }
    values
}

const PROPERTIES: &[&str] = &[
    "label",
    "action",
    "category",
    "vendor",
    "source",
    "event_id",
    "visitor_id",
    "session_id",
    "user_id",
    "view_uid",
    "page_url",
    "dim1",
    "dim2",
    "dim3",
    "dim4",
    "dim5",
    "browser_name",
    "browser_version",
    "device_type",
    "os_name",
    "os_version",
    "geo_country",
    "geo_city",
    "ip_organization",
    "room_ids",
    "properties",
];

/// A random case and its payload text.
pub fn random_case(seed: u64) -> (Case, String) {
    let w = world();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (org, rows) = w.orgs.choose(&mut rng).expect("orgs").clone();
    let own: Vec<&(String, String, String)> = w
        .workflows
        .iter()
        .filter(|(o, _, t)| {
            *o == org && !(rng.random_bool(0.8) && (t == "chat" || t == "voice_video"))
        })
        .collect();
    let workflow = if rng.random_bool(0.04) {
        w.workflows
            .iter()
            .find(|(o, _, _)| *o != org)
            .expect("other org")
            .1
            .clone()
    } else {
        own.choose(&mut rng).expect("workflow").1.clone()
    };
    let kind = w
        .workflows
        .iter()
        .find(|(_, id, _)| *id == workflow)
        .map(|w| w.2.clone())
        .unwrap_or_default();

    // Interval bounds: event timestamps exactly (inclusivity), ±1 µs, or day edges.
    let stamps: Vec<i64> = rows.iter().map(|r| r.ts).collect();
    let bound = |rng: &mut ChaCha8Rng| -> i64 {
        let base = *stamps.choose(rng).expect("rows");
        match rng.random_range(0..5) {
            0 => base,
            1 => base - 1,
            2 => base + 1,
            3 => base - base.rem_euclid(86_400_000_000),
            _ => base + rng.random_range(-20_000_000_000i64..20_000_000_000),
        }
    };
    let (mut start, mut end) = (bound(&mut rng), bound(&mut rng));
    if rng.random_bool(0.15) {
        start = stamps.iter().min().copied().unwrap_or(0) - 1_000_000;
        end = stamps.iter().max().copied().unwrap_or(0) + 1_000_000;
    }
    if start > end {
        std::mem::swap(&mut start, &mut end);
    }
    let zones: [Tz; 5] = [
        Tz::UTC,
        Tz::Europe__Helsinki,
        Tz::America__New_York,
        Tz::Asia__Kolkata,
        Tz::Pacific__Chatham,
    ];
    let tz = if rng.random_bool(0.4) {
        zones.choose(&mut rng).copied()
    } else {
        None
    };
    let tz = tz.filter(|tz| unambiguous(*tz, start) && unambiguous(*tz, end));

    // Step actions come from the workflow's own paths, so constraints sometimes match.
    let actions: Vec<String> = {
        let column = if kind == "web_navigation" {
            "page_url"
        } else {
            "view_uid"
        };
        let mut a: Vec<String> = rows
            .iter()
            .filter_map(|r| r.get(column).map(String::from))
            .collect();
        a.sort();
        a.dedup();
        a
    };
    let step_data = if rng.random_bool(0.6) {
        let n = rng.random_range(0..5);
        Some(
            (0..n)
                .map(|i| match rng.random_range(0..4) {
                    0 if i > 0 => None,
                    1 => Some(Vec::new()),
                    _ if i == 0 => None,
                    _ => Some(
                        (0..rng.random_range(1..4))
                            .filter_map(|_| actions.choose(&mut rng).cloned())
                            .collect(),
                    ),
                })
                .collect::<Vec<_>>(),
        )
    } else {
        None
    };
    let filters: Vec<(String, Vec<String>)> = (0..rng.random_range(0..3))
        .map(|_| {
            let property = PROPERTIES.choose(&mut rng).expect("props").to_string();
            let values = pick_values(&mut rng, &rows, &property);
            (property, values)
        })
        .collect();
    let case = Case {
        org: org.clone(),
        workflow: workflow.clone(),
        filters,
        step_data,
        start_us: start,
        end_us: end,
        limit: rng.random_bool(0.3).then(|| rng.random_range(1..20)),
        total: rng.random_bool(0.5),
        basic: rng.random_bool(0.4),
    };

    let mut interval =
        json!({"start": render(start, &mut rng, tz), "end": render(end, &mut rng, tz)});
    if let Some(tz) = tz {
        interval["time_zone"] = json!(tz.name());
    }
    let mut payload = json!({
        "filters": case.filters.iter().map(|(p, v)| json!({"property": p, "values": v})).collect::<Vec<_>>(),
        "interval": interval,
    });
    if let Some(steps) = &case.step_data {
        payload["step_data"] = Value::Array(
            steps
                .iter()
                .map(|s| match s {
                    Some(a) => json!({"actions": a}),
                    None => json!({}),
                })
                .collect(),
        );
    }
    if let Some(limit) = case.limit {
        payload["limit"] = json!(limit);
    }
    // Defaults are sometimes spelled out, sometimes left implicit.
    if case.total || rng.random_bool(0.5) {
        payload["target"] = json!(if case.total {
            "affected_goal_total"
        } else {
            "affected_goal"
        });
    }
    if case.basic || rng.random_bool(0.5) {
        payload["basic"] = json!(case.basic);
    }
    // URL attributes in any case.
    let case = Case {
        workflow: if rng.random_bool(0.2) {
            workflow.to_uppercase()
        } else {
            workflow
        },
        ..case
    };
    (case, payload.to_string())
}

fn check(
    seed: u64,
    engine: &Engine,
    runtime: &tokio::runtime::Runtime,
) -> Result<(), TestCaseError> {
    let (case, payload) = random_case(seed);
    check_case(&case, &payload, engine, runtime)
}

fn check_case(
    case: &Case,
    payload: &str,
    engine: &Engine,
    runtime: &tokio::runtime::Runtime,
) -> Result<(), TestCaseError> {
    let w = world();
    let rows = &w.orgs.iter().find(|(o, _)| *o == case.org).expect("org").1;
    let expected = reference::evaluate(&w.root, rows, case);
    let actual = runtime.block_on(super::support::run_bytes(
        engine,
        &w.root,
        &case.org,
        &case.workflow,
        payload,
        Format::Json,
    ));
    match (expected, actual) {
        (Ok(want), Ok(bytes)) => {
            let got: Value = serde_json::from_slice(&bytes)
                .map_err(|e| TestCaseError::fail(format!("bad JSON: {e}")))?;
            prop_assert_eq!(
                &got["fields"],
                &want["fields"],
                "fields differ for payload {}",
                payload
            );
            let (g, e) = (
                got["data"].as_array().cloned().unwrap_or_default(),
                want["data"].as_array().cloned().unwrap_or_default(),
            );
            prop_assert_eq!(
                g.len(),
                e.len(),
                "row count differs for payload {}",
                payload
            );
            for (i, (g, e)) in g.iter().zip(e.iter()).enumerate() {
                prop_assert_eq!(g, e, "row {} differs for payload {}", i, payload);
            }
        }
        (Err(status), Err(err)) => prop_assert_eq!(
            status,
            err.status(),
            "status differs for payload {}: {}",
            payload,
            err
        ),
        (want, got) => prop_assert!(
            false,
            "payload {}: reference {:?}, engine {:?}",
            payload,
            want.map(|_| 200),
            got.map(|_| 200).map_err(|e| e.to_string())
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn engine_answers_like_the_reference(seed in any::<u64>()) {
        static ENGINE: OnceLock<(Engine, tokio::runtime::Runtime)> = OnceLock::new();
        // Small batches over three partitions: answers span many batches, so an order lost
        // between batches or partitions shows up even on a small lake.
        let config = EngineConfig { batch_size: Some(37), target_partitions: Some(3), ..EngineConfig::default() };
        let (engine, runtime) = ENGINE.get_or_init(|| (Engine::new(&config).expect("engine"), tokio::runtime::Runtime::new().expect("rt")));
        check(seed, engine, runtime)?;
    }
}

/// The random cases are not trivially empty: many return rows, some are errors.
#[test]
fn random_cases_cover_rows_errors_and_empty_answers() {
    let w = world();
    let (mut with_rows, mut empty, mut errors, mut related, mut unrelated) = (0, 0, 0, 0, 0);
    for seed in 0..300u64 {
        let (case, _) = random_case(seed);
        let rows = &w.orgs.iter().find(|(o, _)| *o == case.org).expect("org").1;
        match reference::evaluate(&w.root, rows, &case) {
            Ok(v) => {
                let data = v["data"].as_array().cloned().unwrap_or_default();
                if data.is_empty() {
                    empty += 1
                } else {
                    with_rows += 1
                }
                related += data
                    .iter()
                    .filter(|r| r["workflow_related"] == json!(true))
                    .count();
                unrelated += data
                    .iter()
                    .filter(|r| r["workflow_related"] == json!(false))
                    .count();
            }
            Err(_) => errors += 1,
        }
    }
    assert!(with_rows >= 90, "only {with_rows} of 300 cases return rows");
    assert!(empty >= 20 && errors >= 5, "empty {empty}, errors {errors}");
    assert!(
        related > 0 && unrelated > 0,
        "workflow_related true {related}, false {unrelated}"
    );
}

#[test]
fn the_differential_lake_has_the_edge_cases_it_claims() {
    let w = world();
    for (_, rows) in &w.orgs {
        // Sessions across midnight: one session in two day folders.
        let mut days_by_session: std::collections::HashMap<&str, std::collections::BTreeSet<&str>> =
            Default::default();
        for r in rows {
            days_by_session
                .entry(r.get("session_id").unwrap_or(""))
                .or_default()
                .insert(r.date.as_str());
        }
        assert!(
            days_by_session.values().any(|d| d.len() > 1),
            "no session crosses midnight"
        );
        // Timestamp ties and goals before entry exist.
        let mut stamps: Vec<i64> = rows.iter().map(|r| r.ts).collect();
        stamps.sort();
        assert!(stamps.windows(2).any(|p| p[0] == p[1]), "no timestamp ties");
        assert!(rows.iter().any(|r| r.get("vendor").is_none()), "no nulls");
    }
    let (a, b) = (&w.orgs[0].1, &w.orgs[1].1);
    let shared = a
        .iter()
        .filter(|r| b.iter().any(|s| s.get("session_id") == r.get("session_id")))
        .count();
    assert!(shared > 0, "no session ids shared across organizations");
    assert!(Path::new(&w.root).join("goals.json").exists());
}

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
            runtime.block_on(super::support::run_bytes(
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
