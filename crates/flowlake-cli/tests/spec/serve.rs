//! `flowlake serve` over a real socket with a real HTTP client: every status, access
//! control and its cross-organization rules, encodings, limits and graceful shutdown.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use flowlake::output::Format;
use flowlake::{Engine, EngineConfig, LakeLocation};
use flowlake_cli::serve::access::digest_hex;
use flowlake_cli::serve::{Access, ConnectionLimits, ServeConfig, Server};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::support::*;

const UNSUBSCRIBED: &str = "0c000000-0000-4000-8000-000000000003";
const TOKEN_A: &str = "token-of-a";
const TOKEN_A_NO_REPORTING: &str = "token-of-a-without-reporting";
const TOKEN_B: &str = "token-of-b";

fn access() -> Access {
    let file = json!({
        "organizations": [
            {"id": ORG, "subscription": true},
            {"id": OTHER_ORG, "subscription": true},
            {"id": UNSUBSCRIBED, "subscription": false},
        ],
        "tokens": [
            {"name": "a", "sha256": digest_hex(TOKEN_A), "organizations": [ORG, UNSUBSCRIBED], "permissions": ["reporting"]},
            {"name": "a-viewer", "sha256": digest_hex(TOKEN_A_NO_REPORTING), "organizations": [ORG], "permissions": []},
            {"name": "b", "sha256": digest_hex(TOKEN_B), "organizations": [OTHER_ORG], "permissions": ["reporting"]},
        ]
    });
    Access::parse(file.to_string().as_bytes()).unwrap()
}

/// Two organizations with the same session ids: every row of A has an event id `a-…`,
/// every row of B `b-…`.
pub(super) fn two_org_lake() -> TestLake {
    let lake = TestLake::new();
    for (org, prefix) in [(ORG, "a"), (OTHER_ORG, "b")] {
        let events = [
            view(
                "2026-03-01T09:00:00Z",
                &format!("{prefix}-v1"),
                "shared-session",
                "A",
            ),
            goal(
                "2026-03-01T10:00:00Z",
                &format!("{prefix}-g1"),
                "shared-session",
            ),
            view(
                "2026-03-01T11:00:00Z",
                &format!("{prefix}-v2"),
                &format!("{prefix}-only"),
                "A",
            ),
            goal(
                "2026-03-01T12:00:00Z",
                &format!("{prefix}-g2"),
                &format!("{prefix}-only"),
            ),
        ];
        lake.write_events(org, "2026-03-01", "part-0.parquet", &events);
    }
    lake.write_events(ORG, "2026-03-05", "bad.parquet", &[]);
    std::fs::write(
        lake.root()
            .join(TestLake::day_file(ORG, "2026-03-05", "bad.parquet")),
        b"PAR1 not really",
    )
    .unwrap();
    lake
}

pub(super) struct TestServer {
    pub(super) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    pub(super) async fn start(
        lake: &Path,
        access: Option<Access>,
        tune: impl FnOnce(&mut ServeConfig),
    ) -> TestServer {
        TestServer::start_with_engine(lake, access, &EngineConfig::default(), tune).await
    }

    async fn start_with_engine(
        lake: &Path,
        access: Option<Access>,
        engine: &EngineConfig,
        tune: impl FnOnce(&mut ServeConfig),
    ) -> TestServer {
        let engine = Arc::new(Engine::new(engine).unwrap());
        let lake = Arc::new(
            engine
                .open_lake(LakeLocation::Local(lake.to_path_buf()))
                .await
                .unwrap(),
        );
        let mut config = ServeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            access,
            access_file: None,
            reload_interval: Duration::from_secs(3600),
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            max_concurrent: 16,
            connections: ConnectionLimits::default(),
            metrics_listen: None,
        };
        tune(&mut config);
        let server = Server::bind(engine, lake, config).await.unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            stop: Some(stop),
            done,
        }
    }

    pub(super) fn url(&self, org: &str, workflow: &str) -> String {
        format!(
            "http://{}/api/reporting/workflow/v1/orgs/{org}/workflows/{workflow}/source_data",
            self.addr
        )
    }

    pub(super) async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.done.await.unwrap().unwrap();
    }
}

struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn ids(&self) -> Vec<String> {
        self.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["event_id"].as_str().unwrap().to_string())
            .collect()
    }

    fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

async fn post(url: &str, token: Option<&str>, accept: Option<&str>, body: &str) -> Reply {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    Reply {
        status,
        content_type,
        body: response.bytes().await.expect("complete body").to_vec(),
    }
}

fn day(extra: Value) -> String {
    payload("2026-03-01", "2026-03-01", extra)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_of_spec_5_and_of_http() {
    let lake = two_org_lake();
    let server = TestServer::start(lake.root(), Some(access()), |c| c.max_body_bytes = 2048).await;
    let ok = server.url(ORG, WF_INTERACTION);
    // (name, URL, token, content type, body, status, error code)
    type Case<'a> = (
        &'a str,
        String,
        Option<&'a str>,
        Option<&'a str>,
        String,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "answer",
            ok.clone(),
            Some(TOKEN_A),
            None,
            day(json!({})),
            200,
            "",
        ),
        (
            "no token",
            ok.clone(),
            None,
            None,
            day(json!({})),
            401,
            "unauthenticated",
        ),
        (
            "unknown token",
            ok.clone(),
            Some("guess"),
            None,
            day(json!({})),
            401,
            "unauthenticated",
        ),
        (
            "no subscription",
            server.url(UNSUBSCRIBED, WF_INTERACTION),
            Some(TOKEN_A),
            None,
            day(json!({})),
            403,
            "no_subscription",
        ),
        (
            "other org",
            server.url(OTHER_ORG, WF_OTHER_ORG),
            Some(TOKEN_A),
            None,
            day(json!({})),
            403,
            "no_org_access",
        ),
        (
            "no reporting",
            ok.clone(),
            Some(TOKEN_A_NO_REPORTING),
            None,
            day(json!({})),
            403,
            "no_reporting_permission",
        ),
        (
            "401 before 400",
            server.url(ORG, "not-a-uuid"),
            None,
            None,
            "{".into(),
            401,
            "unauthenticated",
        ),
        (
            "bad workflow id",
            server.url(ORG, "not-a-uuid"),
            Some(TOKEN_A),
            None,
            day(json!({})),
            400,
            "bad_request",
        ),
        (
            "malformed JSON",
            ok.clone(),
            Some(TOKEN_A),
            None,
            "{\"filters\": [], }".into(),
            400,
            "bad_request",
        ),
        (
            "unknown filter",
            ok.clone(),
            Some(TOKEN_A),
            None,
            day(json!({"filters": [{"property": "colour", "values": ["x"]}]})),
            406,
            "not_implemented",
        ),
        (
            "unknown workflow",
            server.url(ORG, WF_OTHER_ORG),
            Some(TOKEN_A),
            None,
            day(json!({})),
            404,
            "not_found",
        ),
        (
            "chat workflow",
            server.url(ORG, WF_CHAT),
            Some(TOKEN_A),
            None,
            day(json!({})),
            406,
            "not_implemented",
        ),
        (
            "no encoding",
            ok.clone(),
            Some(TOKEN_A),
            Some("text/html"),
            day(json!({})),
            406,
            "not_acceptable",
        ),
        (
            "corrupt file",
            ok.clone(),
            Some(TOKEN_A),
            None,
            payload("2026-03-05", "2026-03-05", json!({})),
            500,
            "internal",
        ),
        (
            "too large",
            ok.clone(),
            Some(TOKEN_A),
            None,
            format!("{{\"pad\": \"{}\"}}", "x".repeat(4096)),
            413,
            "payload_too_large",
        ),
    ];
    for (what, url, token, accept, body, status, error) in cases {
        let reply = post(&url, token, accept, &body).await;
        assert_eq!(
            reply.status,
            status,
            "{what}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        assert!(
            reply.content_type.starts_with("application/json"),
            "{what}: {}",
            reply.content_type
        );
        if status != 200 {
            let body = reply.json();
            assert_eq!(body["status"], status, "{what}");
            assert_eq!(reply.error(), error, "{what}");
            assert!(!body["message"].as_str().unwrap().is_empty());
        }
    }
    let corrupt = post(
        &ok,
        Some(TOKEN_A),
        None,
        &payload("2026-03-05", "2026-03-05", json!({})),
    )
    .await;
    assert!(
        corrupt.json()["message"]
            .as_str()
            .unwrap()
            .contains("bad.parquet"),
        "names the file"
    );

    let client = reqwest::Client::new();
    let wrong_type = client
        .post(&ok)
        .bearer_auth(TOKEN_A)
        .header("content-type", "text/plain")
        .body(day(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status().as_u16(), 415);
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let reply = client
            .request(method.clone(), &ok)
            .bearer_auth(TOKEN_A)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), 405, "{method}");
        assert_eq!(reply.headers()["allow"], "POST");
    }
    let chunked = futures::stream::iter((0..8).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    let reply = client
        .post(&ok)
        .bearer_auth(TOKEN_A)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunked))
        .send()
        .await
        .unwrap();
    assert_eq!(
        reply.status().as_u16(),
        413,
        "a chunked body without a length is limited too"
    );
    let health = client
        .get(format!("http://{}/healthz", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let trailing = post(&format!("{ok}/"), Some(TOKEN_A), None, &day(json!({}))).await;
    assert_eq!(trailing.status, 200, "a trailing slash is accepted");
    assert_eq!(
        client
            .get(format!("http://{}/nope", server.addr))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_of_one_organization_never_sees_a_row_of_another() {
    let lake = two_org_lake();
    let server = TestServer::start(lake.root(), Some(access()), |_| {}).await;
    let upper = |s: &str| s.to_uppercase();
    let only_b =
        json!({"filters": [{"property": "session_id", "values": ["b-only", "shared-session"]}]});
    let b_events = json!({"filters": [{"property": "event_id", "values": ["b-g1", "b-g2"]}]});
    let total = json!({"target": "affected_goal_total"});
    // (path organization, workflow, payload extra, token) → status, and A's rows only.
    let table: Vec<(String, &str, Value, &str, u16)> = vec![
        (ORG.into(), WF_INTERACTION, json!({}), TOKEN_A, 200),
        (upper(ORG), WF_INTERACTION, json!({}), TOKEN_A, 200),
        (
            ORG.into(),
            &upper(WF_INTERACTION).leak()[..],
            total.clone(),
            TOKEN_A,
            200,
        ),
        (ORG.into(), WF_INTERACTION, only_b.clone(), TOKEN_A, 200),
        (ORG.into(), WF_INTERACTION, b_events.clone(), TOKEN_A, 200),
        (ORG.into(), WF_OTHER_ORG, json!({}), TOKEN_A, 404),
        (OTHER_ORG.into(), WF_OTHER_ORG, json!({}), TOKEN_A, 403),
        (upper(OTHER_ORG), WF_OTHER_ORG, total.clone(), TOKEN_A, 403),
        (OTHER_ORG.into(), WF_INTERACTION, json!({}), TOKEN_A, 403),
        (
            format!("{ORG}%2F..%2F{OTHER_ORG}"),
            WF_OTHER_ORG,
            json!({}),
            TOKEN_A,
            403,
        ),
        (ORG.into(), WF_INTERACTION, json!({}), TOKEN_B, 403),
        (OTHER_ORG.into(), WF_OTHER_ORG, total.clone(), TOKEN_B, 200),
    ];
    for (org, workflow, extra, token, status) in table {
        let reply = post(
            &server.url(&org, workflow),
            Some(token),
            None,
            &day(extra.clone()),
        )
        .await;
        assert_eq!(
            reply.status,
            status,
            "{org} {workflow} {extra}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        if status == 200 {
            let own = if token == TOKEN_A { "a-" } else { "b-" };
            let ids = reply.ids();
            assert!(
                ids.iter().all(|id| id.starts_with(own)),
                "{org} {extra}: {ids:?}"
            );
            if extra == json!({}) || extra == total {
                assert!(!ids.is_empty(), "the organization's own rows are answered");
            }
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_picks_each_encoding_with_the_same_bytes_as_the_cli() {
    let sample = crate::support::repo().join("data");
    let server = TestServer::start(&sample, None, |_| {}).await;
    let (org, workflow) = (
        "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d",
        "5887c297-1e03-45e4-863e-7a9f784c5a2c",
    );
    let body =
        std::fs::read_to_string(crate::support::repo().join("queries/all-goals-advanced.json"))
            .unwrap();
    let engine = Engine::new(&EngineConfig::default()).unwrap();
    for (accept, format, content_type) in [
        (None, Format::Json, "application/json"),
        (Some("application/json"), Format::Json, "application/json"),
        (
            Some("application/x-ndjson"),
            Format::Ndjson,
            "application/x-ndjson",
        ),
        (Some("text/csv"), Format::Csv, "text/csv; charset=utf-8"),
        (
            Some("application/vnd.apache.arrow.stream"),
            Format::Arrow,
            "application/vnd.apache.arrow.stream",
        ),
        (
            Some("text/html;q=0.9, application/x-ndjson;q=0.5"),
            Format::Ndjson,
            "application/x-ndjson",
        ),
    ] {
        let reply = post(&server.url(org, workflow), None, accept, &body).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.content_type, content_type);
        let cli = run_bytes(&engine, &sample, org, workflow, &body, format)
            .await
            .unwrap();
        assert!(
            reply.body == cli,
            "{accept:?}: the body differs from `flowlake query --format {format:?}`"
        );
    }
    let rows = post(&server.url(org, workflow), None, None, &body)
        .await
        .json()["data"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(rows, 206);
    server.stop().await;
}

/// Opens a request whose body is announced but not yet sent: the server holds it in flight.
fn hold_request(addr: SocketAddr, path: &str, body: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body.as_bytes()[..1]).unwrap();
    stream
}

fn finish_request(mut stream: TcpStream, body: &str) -> String {
    stream.write_all(&body.as_bytes()[1..]).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

fn path_of(url: &str) -> String {
    url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_answers_503_with_retry_after_and_slow_requests_time_out() {
    let lake = two_org_lake();
    let server = TestServer::start(lake.root(), None, |c| {
        c.max_concurrent = 1;
        c.request_timeout = Duration::from_millis(700);
    })
    .await;
    let url = server.url(ORG, WF_INTERACTION);
    let body = day(json!({}));
    let held = hold_request(server.addr, &path_of(&url), &body);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let response = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let refusal: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(refusal["error"], "overloaded");

    // The held request never sends its body: the timeout answers it and frees the slot.
    let reply = tokio::task::spawn_blocking(move || {
        let mut held = held;
        let mut reply = String::new();
        held.read_to_string(&mut reply).unwrap();
        reply
    })
    .await
    .unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 503") && reply.contains("\"timeout\""),
        "{reply}"
    );
    assert_eq!(
        post(&url, None, None, &body).await.status,
        200,
        "the slot is free again"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_requests_in_flight_and_refuses_new_ones() {
    let lake = two_org_lake();
    let server = TestServer::start(lake.root(), None, |_| {}).await;
    let url = server.url(ORG, WF_INTERACTION);
    let body = day(json!({}));
    let held = hold_request(server.addr, &path_of(&url), &body);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let addr = server.addr;
    let TestServer { stop, done, .. } = server;
    let _ = stop.unwrap().send(());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        TcpStream::connect(addr).is_err(),
        "no new connections once shutting down"
    );
    let reply = tokio::task::spawn_blocking(move || finish_request(held, &body))
        .await
        .unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        reply.contains("\"a-g1\""),
        "the in-flight request got its whole answer: {reply}"
    );
    done.await.unwrap().unwrap();
}

#[tokio::test]
async fn without_access_control_only_loopback_is_allowed() {
    let engine = Arc::new(Engine::new(&EngineConfig::default()).unwrap());
    let lake = two_org_lake();
    let opened = Arc::new(
        engine
            .open_lake(LakeLocation::Local(lake.root().to_path_buf()))
            .await
            .unwrap(),
    );
    let config = ServeConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        access: None,
        access_file: None,
        reload_interval: Duration::from_secs(3600),
        max_body_bytes: 1024,
        request_timeout: Duration::from_secs(1),
        max_concurrent: 1,
        connections: ConnectionLimits::default(),
        metrics_listen: None,
    };
    let refused = Server::bind(engine, opened, config)
        .await
        .err()
        .expect("refused");
    assert!(refused.to_string().contains("loopback"), "{refused}");
}

#[test]
fn the_binary_needs_access_or_no_auth_and_stops_cleanly_on_sigterm() {
    let flowlake = env!("CARGO_BIN_EXE_flowlake");
    let out = std::process::Command::new(flowlake)
        .args(["serve", "--lake", "data"])
        .current_dir(crate::support::repo())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "refuses to start without --access or --no-auth"
    );
    for zero in ["--header-timeout", "--idle-timeout", "--max-connections"] {
        let out = std::process::Command::new(flowlake)
            .args(["serve", "--no-auth", zero, "0"])
            .current_dir(crate::support::repo())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{zero} 0 is refused: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let mut child = std::process::Command::new(flowlake)
        .args(["serve", "--no-auth", "--listen", "127.0.0.1:0"])
        .current_dir(crate::support::repo())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().to_string();
    let mut health = TcpStream::connect(&addr).unwrap();
    health
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    health.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("stopped"), "{rest}");
}

/// A server whose listings are cached far longer than the test runs.
async fn caching_server(lake: &Path) -> TestServer {
    let engine = EngineConfig {
        list_cache_ttl: Duration::from_secs(600),
        ..EngineConfig::default()
    };
    TestServer::start_with_engine(lake, None, &engine, |_| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_file_rewritten_in_place_is_read_afresh_by_a_running_server() {
    let lake = TestLake::new();
    let view_and_goal = [
        view("2026-03-01T09:00:00Z", "v1", "s1", "A"),
        goal("2026-03-01T10:00:00Z", "g1", "s1"),
    ];
    let path = lake.write_events(ORG, "2026-03-01", "part-0.parquet", &view_and_goal);
    let server = caching_server(lake.root()).await;
    let all_goals = day(json!({"target": "affected_goal_total"}));
    let before = post(&server.url(ORG, WF_INTERACTION), None, None, &all_goals).await;
    assert_eq!((before.status, before.ids()), (200, vec!["g1".to_string()]));

    // What a compaction job does: the same name, new content (here larger).
    let mut more = view_and_goal.to_vec();
    more.extend([
        goal("2026-03-01T11:00:00Z", "g2", "s2"),
        goal("2026-03-01T12:00:00Z", "g3", "s3"),
    ]);
    let rewritten = lake.write_events(ORG, "2026-03-01", "part-0.parquet", &more);
    assert_eq!(rewritten, path);
    let after = post(&server.url(ORG, WF_INTERACTION), None, None, &all_goals).await;
    assert_eq!(
        after.status,
        200,
        "{}",
        String::from_utf8_lossy(&after.body)
    );
    assert_eq!(
        after.ids(),
        ["g1", "g2", "g3"],
        "the new rows, within the listing cache's TTL"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_file_replaced_by_one_of_the_same_size_is_not_read_with_stale_metadata() {
    // Two row groups of four goals. The first holds label GOAL in both versions; the second
    // holds GOAL_2 in the old version and GOAL in the new one, so the old version's
    // statistics would prune exactly the rows the new one adds.
    let version = |prefix: &str, second_label: &str| -> Vec<flowlake::generate::Event> {
        (1..=8)
            .map(|i| {
                let label = if i <= 4 { GOAL } else { second_label };
                flowlake::generate::Event {
                    label: label.to_string(),
                    ..goal(
                        &format!("2026-03-01T10:0{i}:00Z"),
                        &format!("{prefix}-g{i}"),
                        "s1",
                    )
                }
            })
            .collect()
    };
    let (old, new) = (
        plain_parquet(&version("a", GOAL_2), 4),
        plain_parquet(&version("b", GOAL), 4),
    );
    assert_eq!(old.len(), new.len(), "the same size");
    let lake = TestLake::new();
    let path = lake.write_file(
        &TestLake::day_file(ORG, "2026-03-01", "part-0.parquet"),
        &old,
    );
    let server = caching_server(lake.root()).await;
    let goal_label = day(
        json!({"target": "affected_goal_total", "filters": [{"property": "label", "values": [GOAL]}]}),
    );
    let before = post(&server.url(ORG, WF_INTERACTION), None, None, &goal_label).await;
    assert_eq!(before.ids(), ["a-g1", "a-g2", "a-g3", "a-g4"]);

    // Replaced whole, as writers do: a new file renamed over the old one.
    let staged = path.with_file_name(".part-0.parquet.tmp");
    std::fs::write(&staged, &new).unwrap();
    std::fs::rename(&staged, &path).unwrap();
    let after = post(&server.url(ORG, WF_INTERACTION), None, None, &goal_label).await;
    assert_eq!(
        after.status,
        200,
        "{}",
        String::from_utf8_lossy(&after.body)
    );
    assert_eq!(
        after.ids(),
        (1..=8).map(|i| format!("b-g{i}")).collect::<Vec<_>>(),
        "every row of the new version"
    );
    server.stop().await;
}
