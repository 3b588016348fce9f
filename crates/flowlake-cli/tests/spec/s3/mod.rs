//! S3 lakes against a real S3-protocol server on 127.0.0.1 (s3s-fs, in-process): the same
//! bytes as the local lake, pruned listing proven by request counts, a listing cache that
//! still sees new files, faults that name what failed, and `generate --out s3://`.

mod faults;
mod generate;

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
