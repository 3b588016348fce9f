//! `GET /metrics`: scraped over a real socket after real requests, every counter
//! moved by what those requests did; the separate metrics address; nothing secret in it.

use std::time::Duration;

use flowlake::{EngineConfig, LakeLocation};
use flowlake_cli::serve::Access;
use flowlake_cli::serve::access::digest_hex;
use serde_json::json;

use super::serve_support::*;
use super::support::*;

/// The value of the sample `name` whose labels include every one of `labels`.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, label_text) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let present: Vec<&str> = label_text.split(',').filter(|l| !l.is_empty()).collect();
            let wanted = labels
                .iter()
                .all(|(k, v)| present.contains(&format!("{k}=\"{v}\"").as_str()));
            (series_name == name && wanted)
                .then(|| value.parse().ok())
                .flatten()
        })
}

/// The scraped value, 0 when the series is not there yet.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(text, name, labels).unwrap_or(0.0)
}

pub async fn scrape(addr: &str) -> String {
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("scrape");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    response.text().await.expect("exposition")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraped_counters_move_by_what_the_requests_did() {
    let engine = EngineConfig {
        list_cache_ttl: Duration::from_secs(3600),
        ..EngineConfig::default()
    };
    let server = RunningServer::start(
        engine,
        LakeLocation::Local(repo().join("data")),
        test_config(),
    )
    .await;
    let addr = server.addr.to_string();
    let url = server.url(SAMPLE_ORG, SAMPLE_WORKFLOW);
    let query = example_query("all-goals-advanced.json");

    let before = scrape(&addr).await;
    assert_eq!(value(&before, "flowlake_requests_in_flight", &[]), 0.0);
    assert_eq!(
        sample(&before, "flowlake_listing_cache_misses_total", &[]),
        Some(0.0)
    );
    assert_eq!(sample(&before, "flowlake_slots_busy", &[]), Some(0.0));

    let (status, _, first) = post_json(&url, None, &query, &[]).await;
    assert_eq!(status, 200);
    let once = scrape(&addr).await;
    assert_eq!(
        value(
            &once,
            "flowlake_requests_total",
            &[("status", "200"), ("error", "")]
        ),
        1.0
    );
    assert_eq!(value(&once, "flowlake_rows_answered_total", &[]), 206.0);
    assert_eq!(
        value(&once, "flowlake_response_bytes_total", &[]),
        first.len() as f64
    );
    // The interval (two days in Helsinki) touches three UTC day folders.
    assert_eq!(
        value(&once, "flowlake_listing_cache_misses_total", &[]),
        3.0
    );
    assert_eq!(value(&once, "flowlake_listing_cache_hits_total", &[]), 0.0);
    let scanned_once = value(&once, "flowlake_parquet_bytes_scanned_total", &[]);
    assert!(scanned_once > 0.0, "the scans' bytes are counted:\n{once}");

    let (status, _, second) = post_json(&url, None, &query, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(post_json(&url, None, "{", &[]).await.0, 400);
    assert_eq!(
        post_json(&server.url(SAMPLE_ORG, WF_OTHER_ORG), None, &query, &[])
            .await
            .0,
        404
    );
    assert_eq!(
        post_json(&url, None, &query, &[("accept", "text/html")])
            .await
            .0,
        406
    );
    assert_eq!(reqwest::get(&url).await.unwrap().status().as_u16(), 405);

    let after = scrape(&addr).await;
    for (status, error, n) in [
        ("200", "", 2.0),
        ("400", "bad_request", 1.0),
        ("404", "not_found", 1.0),
        ("406", "not_acceptable", 1.0),
        ("405", "method_not_allowed", 1.0),
    ] {
        assert_eq!(
            value(
                &after,
                "flowlake_requests_total",
                &[("status", status), ("error", error)]
            ),
            n,
            "{status} {error}:\n{after}"
        );
    }
    assert_eq!(
        value(&after, "flowlake_request_duration_seconds_count", &[]),
        6.0
    );
    assert_eq!(value(&after, "flowlake_rows_answered_total", &[]), 412.0);
    assert_eq!(
        value(&after, "flowlake_response_bytes_total", &[]),
        (first.len() + second.len()) as f64
    );
    assert_eq!(
        value(&after, "flowlake_listing_cache_hits_total", &[]),
        3.0,
        "the second query listed nothing"
    );
    assert_eq!(
        value(&after, "flowlake_listing_cache_misses_total", &[]),
        3.0
    );
    assert!(value(&after, "flowlake_parquet_bytes_scanned_total", &[]) > scanned_once);
    assert_eq!(value(&after, "flowlake_requests_in_flight", &[]), 0.0);
    assert_eq!(value(&after, "flowlake_slots_busy", &[]), 0.0);
    assert!(
        sample(&after, "flowlake_s3_requests_total", &[]).is_none(),
        "a local lake makes no S3 requests"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_groups_pruned_by_statistics_are_counted() {
    let lake = TestLake::new();
    // Twelve events in time order, four per row group: 01:00-04:00, 05:00-08:00, 09:00-12:00.
    let events: Vec<_> = (1..=12)
        .map(|h| {
            let ts = format!("2026-03-01T{h:02}:00:00Z");
            if h % 2 == 1 {
                view(&ts, &format!("v{h}"), &format!("s{h}"), "A")
            } else {
                goal(&ts, &format!("g{h}"), &format!("s{}", h - 1))
            }
        })
        .collect();
    lake.write_events(ORG, "2026-03-01", "part-0.parquet", &events);
    let server = RunningServer::local(lake.root(), None, |_| {}).await;
    let early = payload("2026-03-01T00:00:00Z", "2026-03-01T04:30:00Z", json!({}));
    let (status, _, body) = post_json(&server.url(ORG, WF_INTERACTION), None, &early, &[]).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let text = scrape(&server.addr.to_string()).await;
    assert_eq!(value(&text, "flowlake_rows_answered_total", &[]), 2.0);
    let pruned = value(
        &text,
        "flowlake_parquet_row_groups_pruned_total",
        &[("by", "statistics")],
    );
    assert!(
        pruned >= 2.0,
        "the two later row groups are pruned by their timestamps (in each scan of the file):\n{text}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_move_to_their_own_address_and_never_show_secrets() {
    let lake = TestLake::new();
    lake.write_events(
        ORG,
        "2026-03-01",
        "part-0.parquet",
        &[
            view("2026-03-01T09:00:00Z", "v1", "s1", "A"),
            goal("2026-03-01T10:00:00Z", "g1", "s1"),
        ],
    );
    let token = "secret-token-3b9e";
    let access = json!({
        "organizations": [{"id": ORG, "subscription": true}],
        "tokens": [{"name": "dashboard", "sha256": digest_hex(token), "organizations": [ORG], "permissions": ["reporting"]}],
    });
    let access = Access::parse(access.to_string().as_bytes()).unwrap();
    let server = RunningServer::local(lake.root(), Some(access), |c| {
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap())
    })
    .await;
    let metrics_addr = server.metrics_addr.expect("a metrics address").to_string();
    let marker =
        json!({"filters": [{"property": "session_id", "values": ["payload-marker-51c2"]}]});
    let (status, _, _) = post_json(
        &server.url(ORG, WF_INTERACTION),
        Some(token),
        &payload("2026-03-01", "2026-03-01", marker),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        post_json(&server.url(ORG, WF_INTERACTION), Some("wrong"), "{}", &[])
            .await
            .0,
        401
    );
    let main = reqwest::get(format!("http://{}/metrics", server.addr))
        .await
        .unwrap();
    assert_eq!(
        main.status().as_u16(),
        404,
        "not on the main address once it has its own"
    );
    let text = scrape(&metrics_addr).await;
    assert_eq!(
        value(&text, "flowlake_requests_total", &[("status", "200")]),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "flowlake_requests_total",
            &[("status", "401"), ("error", "unauthenticated")]
        ),
        1.0
    );
    for secret in [
        token,
        "wrong",
        &digest_hex(token),
        "payload-marker-51c2",
        ORG,
        WF_INTERACTION,
        "dashboard",
    ] {
        assert!(!text.contains(secret), "{secret} in\n{text}");
    }
    server.stop().await;
}
