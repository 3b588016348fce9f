//! `flowlake serve` over a real socket with a real HTTP client: every status, access
//! control and its cross-organization rules, encodings, limits and graceful shutdown.

mod access_and_accept;
mod files_changed;
mod lifecycle;

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
