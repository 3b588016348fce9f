//! S3 lakes against a real S3-protocol server on 127.0.0.1 (s3s-fs, in-process): the same
//! bytes as the local lake, pruned listing proven by request counts, a listing cache that
//! still sees new files, faults that name what failed, and `generate --out s3://`.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use flowlake::output::Format;
use flowlake::storage::RequestTotals;
use flowlake::{Engine, EngineConfig, Lake, LakeLocation};
use serde_json::{Value, json};

use super::differential::{random_case, world};
use super::s3_server::{BUCKET, S3Server};
use super::support::*;

fn s3_lake(prefix: &str) -> LakeLocation {
    LakeLocation::S3 {
        bucket: BUCKET.into(),
        prefix: prefix.into(),
    }
}

fn s3_engine(server: &S3Server, list_cache_ttl: Duration) -> Engine {
    Engine::new(&EngineConfig {
        s3: server.options(),
        list_cache_ttl,
        ..EngineConfig::default()
    })
    .expect("engine")
}

#[test]
fn every_differential_payload_gives_the_same_bytes_over_s3() {
    let w = world();
    let server = S3Server::start();
    server.upload(&w.root, "diff");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let local_engine = Engine::new(&EngineConfig::default()).unwrap();
        let local = local_engine
            .open_lake(LakeLocation::Local(w.root.clone()))
            .await
            .unwrap();
        let engine = s3_engine(&server, Duration::ZERO);
        let s3 = engine.open_lake(s3_lake("diff")).await.unwrap();
        let (mut answered, mut refused) = (0, 0);
        let cases: u64 = std::env::var("S3_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300);
        let started = std::time::Instant::now();
        for seed in 0..cases {
            let (case, payload) = random_case(seed);
            let format =
                [Format::Json, Format::Ndjson, Format::Csv, Format::Arrow][seed as usize % 4];
            let want = answer(
                &local_engine,
                &local,
                &case.org,
                &case.workflow,
                &payload,
                format,
            )
            .await;
            let got = answer(&engine, &s3, &case.org, &case.workflow, &payload, format).await;
            match (want, got) {
                (Ok(want), Ok(got)) => {
                    assert!(
                        want == got,
                        "seed {seed}: S3 bytes differ from local for {payload}"
                    );
                    answered += 1;
                }
                (Err(want), Err(got)) => {
                    assert_eq!(want.status(), got.status(), "seed {seed}: {payload}");
                    refused += 1;
                }
                (want, got) => panic!(
                    "seed {seed}: local {:?} but S3 {:?}",
                    want.map(|b| b.len()),
                    got.map(|b| b.len())
                ),
            }
        }
        let requests = s3.requests().expect("S3 lakes count requests");
        println!("{cases} cases in {:?}: {requests:?}", started.elapsed());
        assert!(
            answered >= 250 && refused >= 5,
            "answered {answered}, refused {refused}"
        );
        assert!(requests.list > 0 && requests.get > 0, "{requests:?}");
    });
}

/// A lake in the bucket under `prefix`: the standard test catalog and `days` day folders
/// for each of `orgs` organizations (ORG first), each with two small files.
pub(super) fn populate(server: &S3Server, prefix: &str, orgs: &[&str], days: u32) {
    let lake = TestLake::new();
    for org in orgs {
        for day in 1..=days {
            let date = format!("2026-03-{day:02}");
            for part in 0..2 {
                let (view_id, goal_id) = (format!("v{day}-{part}"), format!("g{day}-{part}"));
                let session = format!("s{day}-{part}");
                let events = [
                    view(&format!("{date}T09:00:0{part}Z"), &view_id, &session, "A"),
                    goal(&format!("{date}T10:00:0{part}Z"), &goal_id, &session),
                ];
                lake.write_events(org, &date, &format!("part-{part}.parquet"), &events);
            }
        }
    }
    server.upload(lake.root(), prefix);
}

async fn one_day_query(engine: &Engine, lake: &Lake) -> (Value, RequestTotals) {
    let before = lake.requests().unwrap();
    let bytes = answer(
        engine,
        lake,
        ORG,
        WF_INTERACTION,
        &payload("2026-03-03", "2026-03-03", json!({})),
        Format::Json,
    )
    .await
    .unwrap();
    (
        serde_json::from_slice(&bytes).unwrap(),
        lake.requests().unwrap() - before,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_day_query_costs_the_same_requests_however_large_the_lake() {
    let server = S3Server::start();
    let others = [
        "0b000000-0000-4000-8000-000000000002",
        "0c000000-0000-4000-8000-000000000003",
        "0d000000-0000-4000-8000-000000000004",
    ];
    populate(&server, "small", &[ORG], 5);
    let mut big_orgs = vec![ORG];
    big_orgs.extend(others);
    populate(&server, "big", &big_orgs, 28);

    let mut costs = Vec::new();
    for prefix in ["small", "big"] {
        let engine = s3_engine(&server, Duration::ZERO);
        let lake = engine.open_lake(s3_lake(prefix)).await.unwrap();
        let (answer, cost) = one_day_query(&engine, &lake).await;
        let ids: Vec<&str> = answer["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["event_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["g3-0", "g3-1"], "{prefix}");
        costs.push(cost);
    }
    let (small, big) = (costs[0], costs[1]);
    println!("1-day query requests: 5-day 1-org lake {small:?}; 28-day 4-org lake {big:?}");
    assert_eq!(
        small, big,
        "the cost of a 1-day query does not grow with the lake"
    );
    assert_eq!(
        small.list, 1,
        "one LIST: the organization's day folder, never the lake or the organization"
    );
    assert!(
        small.get <= 2 * 20,
        "a bounded number of GETs for two files: {small:?}"
    );
}

/// Runs the interval query and returns its goal ids and its requests.
async fn interval_query(
    engine: &Engine,
    lake: &Lake,
    start: &str,
    end: &str,
) -> (Vec<String>, RequestTotals) {
    let before = lake.requests().unwrap();
    let bytes = answer(
        engine,
        lake,
        ORG,
        WF_INTERACTION,
        &payload(start, end, json!({})),
        Format::Json,
    )
    .await
    .unwrap();
    let answer: Value = serde_json::from_slice(&bytes).unwrap();
    let ids = answer["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event_id"].as_str().unwrap().to_string())
        .collect();
    (ids, lake.requests().unwrap() - before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_requests_grow_with_the_day_folders_that_exist_not_with_the_calendar() {
    let server = S3Server::start();
    populate(
        &server,
        "calendar",
        &[ORG, "0b000000-0000-4000-8000-000000000002"],
        5,
    );
    let engine = s3_engine(&server, Duration::ZERO);
    let lake = engine.open_lake(s3_lake("calendar")).await.unwrap();
    let all: Vec<String> = (1..=5)
        .flat_map(|day| [format!("g{day}-0"), format!("g{day}-1")])
        .collect();

    let (ids, one_day) = interval_query(&engine, &lake, "2026-03-03", "2026-03-03").await;
    assert_eq!(ids, ["g3-0", "g3-1"]);
    let (month_ids, month) = interval_query(&engine, &lake, "2026-03-01", "2026-03-30").await;
    assert_eq!(month_ids, all);
    let (centuries_ids, centuries) =
        interval_query(&engine, &lake, "1678-01-01", "2261-12-31").await;
    assert_eq!(centuries_ids, all);
    println!("requests: 1 day {one_day:?}; 30 days {month:?}; 1678-2261 {centuries:?}");
    assert_eq!(one_day.list, 1, "one LIST: the day folder");
    assert_eq!(
        month.list, 30,
        "a month lists each of its days (all at once)"
    );
    assert_eq!(
        centuries.list,
        1 + 5,
        "584 years: the organization's day folders once, then the 5 that exist"
    );
    assert!(
        centuries.get <= month.get,
        "no more reads than the month that holds the same files: {centuries:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_are_reused_for_the_ttl_and_new_files_are_seen_after_it() {
    let server = S3Server::start();
    populate(&server, "cached", &[ORG], 4);
    const TTL: Duration = Duration::from_secs(3);
    let engine = s3_engine(&server, TTL);
    let lake = engine.open_lake(s3_lake("cached")).await.unwrap();
    let (first, cost) = one_day_query(&engine, &lake).await;
    assert_eq!(cost.list, 1);
    let (_, cost) = one_day_query(&engine, &lake).await;
    assert_eq!(cost.list, 0, "the fresh listing is reused");

    let extra = TestLake::new();
    extra.write_events(
        ORG,
        "2026-03-03",
        "part-9.parquet",
        &[
            view("2026-03-03T11:00:00Z", "v-new", "s-new", "A"),
            goal("2026-03-03T11:30:00Z", "g-new", "s-new"),
        ],
    );
    std::fs::remove_file(extra.root().join("workflows.json")).unwrap();
    std::fs::remove_file(extra.root().join("goals.json")).unwrap();
    server.upload(extra.root(), "cached");
    let (_, cost) = one_day_query(&engine, &lake).await;
    assert_eq!(cost.list, 0, "still fresh: the new file is not listed yet");
    tokio::time::sleep(TTL).await;
    let (after, cost) = one_day_query(&engine, &lake).await;
    assert_eq!(cost.list, 1, "expired: listed again");
    assert_eq!(
        after["data"].as_array().unwrap().len(),
        first["data"].as_array().unwrap().len() + 1,
        "the new file is seen"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_rewritten_under_the_listing_cache_is_listed_again_and_read_afresh() {
    let server = S3Server::start();
    populate(&server, "rewritten", &[ORG], 4);
    let engine = s3_engine(&server, Duration::from_secs(600));
    let lake = engine.open_lake(s3_lake("rewritten")).await.unwrap();
    let (first, cost) = one_day_query(&engine, &lake).await;
    assert_eq!(cost.list, 1);
    assert_eq!(first["data"].as_array().unwrap().len(), 2);

    // part-0 of the queried day, uploaded again under the same key with one more goal.
    let again = TestLake::new();
    let events = [
        view("2026-03-03T09:00:00Z", "v3-0", "s3-0", "A"),
        goal("2026-03-03T10:00:00Z", "g3-0", "s3-0"),
        goal("2026-03-03T10:30:00Z", "g3-new", "s3-0"),
    ];
    again.write_events(ORG, "2026-03-03", "part-0.parquet", &events);
    std::fs::remove_file(again.root().join("workflows.json")).unwrap();
    std::fs::remove_file(again.root().join("goals.json")).unwrap();
    server.upload(again.root(), "rewritten");
    let (after, cost) = one_day_query(&engine, &lake).await;
    let ids: Vec<&str> = after["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["g3-0", "g3-1", "g3-new"]);
    assert_eq!(
        cost.list, 1,
        "the cached listing was found stale by a read and listed once more"
    );
}

fn flowlake(server: &S3Server, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flowlake"));
    command.args(args);
    server.command_env(&mut command);
    command.output().expect("run flowlake")
}

pub(super) fn query_args<'a>(lake: &'a str, payload_file: &'a str) -> Vec<&'a str> {
    vec![
        "query",
        "--lake",
        lake,
        "--org",
        ORG,
        "--workflow",
        WF_INTERACTION,
        "--payload",
        payload_file,
    ]
}

pub(super) fn error_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stderr).unwrap_or_else(|_| {
        panic!(
            "stderr is SPEC JSON: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[test]
fn faults_give_clear_errors_naming_what_failed() {
    let mut server = S3Server::start();
    populate(&server, "faults", &[ORG], 4);
    let dir = tempfile::tempdir().unwrap();
    let payload_file = dir.path().join("p.json");
    std::fs::write(
        &payload_file,
        payload("2026-03-01", "2026-03-04", json!({})),
    )
    .unwrap();
    let payload_file = payload_file.to_str().unwrap();
    let lake = format!("s3://{BUCKET}/faults");

    let ok = flowlake(&server, &query_args(&lake, payload_file));
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&ok.stdout).unwrap()["data"]
            .as_array()
            .unwrap()
            .len(),
        8
    );

    // A day without a folder is simply empty.
    std::fs::write(
        dir.path().join("empty.json"),
        payload("2026-04-01", "2026-04-02", json!({})),
    )
    .unwrap();
    let empty = flowlake(
        &server,
        &query_args(&lake, dir.path().join("empty.json").to_str().unwrap()),
    );
    assert_eq!(empty.status.code(), Some(0));

    // A corrupt object: 500 naming its key.
    let corrupt = server
        .bucket_dir()
        .join("faults/events")
        .join(format!("organization_id={ORG}"))
        .join("date=2026-03-02/part-1.parquet");
    let good = std::fs::read(&corrupt).unwrap();
    std::fs::write(&corrupt, &good[..good.len() / 2]).unwrap();
    let out = flowlake(&server, &query_args(&lake, payload_file));
    assert_eq!(out.status.code(), Some(7));
    let message = error_of(&out)["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("date=2026-03-02/part-1.parquet"),
        "{message}"
    );
    std::fs::write(&corrupt, good).unwrap();

    // A lake without workflows.json: 500 naming it.
    let out = flowlake(
        &server,
        &query_args(&format!("s3://{BUCKET}/nothing-here"), payload_file),
    );
    assert_eq!(out.status.code(), Some(7));
    assert!(
        error_of(&out)["message"]
            .as_str()
            .unwrap()
            .contains("s3://lake/nothing-here/workflows.json"),
        "{}",
        error_of(&out)
    );

    // Wrong credentials: the server's refusal, said plainly.
    let mut command = Command::new(env!("CARGO_BIN_EXE_flowlake"));
    command.args(query_args(&lake, payload_file));
    server.command_env(&mut command);
    let out = command
        .env("AWS_SECRET_ACCESS_KEY", "wrong")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let refusal = error_of(&out);
    println!("wrong credentials: {refusal}");
    assert!(
        refusal["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("signature"),
        "{refusal}"
    );

    // Plain http without --s3-allow-http is a configuration error, not a TLS failure.
    let out = Command::new(env!("CARGO_BIN_EXE_flowlake"))
        .args(query_args(&lake, payload_file))
        .args(["--s3-endpoint", &server.endpoint()])
        .env("AWS_ACCESS_KEY_ID", "k")
        .env("AWS_SECRET_ACCESS_KEY", "s")
        .env_remove("AWS_ALLOW_HTTP")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        error_of(&out)["message"]
            .as_str()
            .unwrap()
            .contains("--s3-allow-http")
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("\"s\""),
        "credentials are never printed"
    );

    // The server stopped before a query: 503 naming the endpoint, after bounded retries.
    let endpoint = server.endpoint();
    server.stop();
    let started = Instant::now();
    let out = flowlake(&server, &query_args(&lake, payload_file));
    let waited = started.elapsed();
    println!("unreachable store answered in {waited:?}");
    assert_eq!(
        out.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let error = error_of(&out);
    assert_eq!(error["error"], "storage_unavailable");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains(endpoint.trim_start_matches("http://")),
        "{error}"
    );
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_data_page_in_an_object_is_500_naming_its_key() {
    let server = S3Server::start();
    let lake = TestLake::new();
    lake.write_events(
        ORG,
        "2026-03-01",
        "good.parquet",
        &[goal("2026-03-01T10:00:00Z", "g1", "s1")],
    );
    let goals: Vec<_> = (0..50)
        .map(|i| {
            goal(
                &format!("2026-03-01T11:{:02}:00Z", i % 60),
                &format!("goal-event-{i:03}"),
                "s2",
            )
        })
        .collect();
    lake.write_file(
        &TestLake::day_file(ORG, "2026-03-01", "page.parquet"),
        &parquet_with_a_corrupt_data_page(&goals, "event_id"),
    );
    server.upload(lake.root(), "pages");
    let engine = s3_engine(&server, Duration::ZERO);
    let s3 = engine.open_lake(s3_lake("pages")).await.unwrap();
    let all_goals = payload(
        "2026-03-01",
        "2026-03-01",
        json!({"target": "affected_goal_total"}),
    );
    let error = answer(&engine, &s3, ORG, WF_INTERACTION, &all_goals, Format::Json)
        .await
        .unwrap_err();
    assert_eq!(error.status(), 500);
    let key = format!(
        "s3://{BUCKET}/pages/{}",
        TestLake::day_file(ORG, "2026-03-01", "page.parquet")
    );
    assert!(error.to_string().contains(&key), "{error}");
}

#[test]
fn a_server_dying_in_the_middle_of_a_query_is_a_clean_failure() {
    let server = S3Server::start();
    populate(&server, "dies", &[ORG], 6);
    let dir = tempfile::tempdir().unwrap();
    let payload_file = dir.path().join("p.json");
    std::fs::write(
        &payload_file,
        payload(
            "2026-03-01",
            "2026-03-06",
            json!({"target": "affected_goal_total"}),
        ),
    )
    .unwrap();
    let lake = format!("s3://{BUCKET}/dies");
    let args = query_args(&lake, payload_file.to_str().unwrap());

    let whole = flowlake(&server, &args);
    assert_eq!(whole.status.code(), Some(0));
    let needed = server.requests();
    // Fresh server state for the second run: it dies half-way through the requests the
    // query needs (after the catalog and the listings, in the middle of the Parquet reads).
    server.die_at_request(needed + needed / 2 + 1);
    let out = flowlake(&server, &args);
    assert_ne!(
        out.status.code(),
        Some(0),
        "a query that lost its store must fail"
    );
    assert_eq!(
        error_of(&out)["error"],
        "storage_unavailable",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        serde_json::from_slice::<Value>(&out.stdout).is_err(),
        "no partial success on stdout"
    );
}

#[test]
fn generate_writes_a_lake_straight_to_a_bucket() {
    let server = S3Server::start();
    let local = tempfile::tempdir().unwrap();
    let common = [
        "--orgs",
        "1",
        "--days",
        "2",
        "--events-per-day",
        "300",
        "--seed",
        "5",
    ];
    let out = flowlake(
        &server,
        &[
            &["generate", "--out", "s3://lake/generated"][..],
            &common[..],
        ]
        .concat(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_flowlake"))
        .args(["generate", "--out"])
        .arg(local.path())
        .args(common)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_same_tree(local.path(), &server.bucket_dir().join("generated"));
}

/// The same files with the same bytes under both folders.
fn assert_same_tree(expected: &Path, actual: &Path) {
    let mut count = 0;
    for entry in std::fs::read_dir(expected).unwrap() {
        let entry = entry.unwrap();
        let other = actual.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            assert_same_tree(&entry.path(), &other);
        } else {
            assert!(
                std::fs::read(entry.path()).unwrap() == std::fs::read(&other).unwrap_or_default(),
                "{} differs",
                other.display()
            );
        }
        count += 1;
    }
    assert_eq!(
        count,
        std::fs::read_dir(actual).unwrap().count(),
        "{}",
        actual.display()
    );
}
