//! The engine against the reference evaluator, on a generated lake with edge cases, for
//! hundreds of random payloads: every target, step pattern, filter property, limit and
//! time-zone rendering. Answers must be identical.

mod settings;
mod world_checks;

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
