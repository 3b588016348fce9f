//! Live reloads on a running server (SPEC §6): a new workflow answers, a revoked
//! token gets 401, a removed organization 403, an invalid file is refused and the last valid
//! version stays, no request fails during the swaps; on local disk and on S3, on the
//! interval and on SIGHUP.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use flowlake::{EngineConfig, LakeLocation};
use flowlake_cli::serve::Access;
use flowlake_cli::serve::access::digest_hex;
use serde_json::{Value, json};

use super::s3_server::{BUCKET, S3Server};
use super::serve_metrics::{sample, scrape};
use super::serve_support::*;
use super::support::*;

const WF_NEW: &str = "1f000000-0000-4000-8000-000000000006";
const TOKEN_A: &str = "token-a-5d1e";
const TOKEN_B: &str = "token-b-77c0";

/// Replaces a file in one step (write beside it, rename), as deployment tools do.
fn replace_file(path: &Path, bytes: &[u8]) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let temporary = path.with_extension(format!("tmp-{}", N.fetch_add(1, Ordering::SeqCst)));
    std::fs::write(&temporary, bytes).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

fn workflows(extra: &[Value]) -> Vec<u8> {
    let mut list = vec![
        json!({"id": WF_INTERACTION, "organization_id": ORG, "type": "interaction", "name": "Campaign", "interaction_ids": [INTERACTION]}),
        json!({"id": WF_OTHER_ORG, "organization_id": OTHER_ORG, "type": "interaction", "name": "Theirs", "interaction_ids": [INTERACTION]}),
    ];
    list.extend(extra.iter().cloned());
    Value::Array(list).to_string().into_bytes()
}

fn new_workflow() -> Value {
    json!({"id": WF_NEW, "organization_id": ORG, "type": "interaction", "name": "Created later", "interaction_ids": [INTERACTION]})
}

/// Both tokens read ORG; `organizations` are the subscribed ones; `tokens` the ones listed.
fn access_file(organizations: &[&str], tokens: &[&str]) -> Vec<u8> {
    let grants: Vec<Value> = tokens
        .iter()
        .map(|t| json!({"name": format!("holder-of-{}", &t[..7]), "sha256": digest_hex(t), "organizations": [ORG, OTHER_ORG], "permissions": ["reporting"]}))
        .collect();
    let orgs: Vec<Value> = organizations
        .iter()
        .map(|o| json!({"id": o, "subscription": true}))
        .collect();
    json!({"organizations": orgs, "tokens": grants})
        .to_string()
        .into_bytes()
}

/// A lake with one answering session in ORG on 2026-03-01.
fn lake() -> TestLake {
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
    lake
}

fn one_day() -> String {
    payload("2026-03-01", "2026-03-01", json!({}))
}

async fn status(url: &str, token: Option<&str>) -> u16 {
    post_json(url, token, &one_day(), &[]).await.0
}

async fn reloads(addr: &str, file: &str, outcome: &str) -> f64 {
    sample(
        &scrape(addr).await,
        "flowlake_reloads_total",
        &[("file", file), ("outcome", outcome)],
    )
    .unwrap_or(0.0)
}

/// A running server over `lake` whose access rules come from `access.json` in a temporary
/// folder, checked every 100 ms.
async fn watched_server(lake: &TestLake, access: Option<&Path>) -> RunningServer {
    RunningServer::local(lake.root(), access.map(|p| Access::load(p).unwrap()), |c| {
        c.access_file = access.map(Path::to_path_buf);
        c.reload_interval = Duration::from_millis(100);
    })
    .await
}

fn access_path(dir: &tempfile::TempDir, organizations: &[&str], tokens: &[&str]) -> PathBuf {
    let path = dir.path().join("access.json");
    std::fs::write(&path, access_file(organizations, tokens)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_workflow_answers_and_new_goal_names_show_within_the_interval() {
    let lake = lake();
    let server = watched_server(&lake, None).await;
    let addr = server.addr.to_string();
    assert_eq!(status(&server.url(ORG, WF_NEW), None).await, 404);
    replace_file(
        &lake.root().join("workflows.json"),
        &workflows(&[new_workflow()]),
    );
    eventually("the new workflow answers", || async {
        status(&server.url(ORG, WF_NEW), None).await == 200
    })
    .await;
    let (_, _, body) = post_json(&server.url(ORG, WF_NEW), None, &one_day(), &[]).await;
    let rows: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(rows["data"].as_array().unwrap().len(), 1);
    assert_eq!(reloads(&addr, "workflows.json", "applied").await, 1.0);

    let goals = json!([{"id": GOAL, "organization_id": ORG, "name": "Signup, renamed"}]);
    replace_file(
        &lake.root().join("goals.json"),
        goals.to_string().as_bytes(),
    );
    let basic = payload("2026-03-01", "2026-03-01", json!({"basic": true}));
    eventually("the new goal name shows", || async {
        let (_, _, body) = post_json(&server.url(ORG, WF_INTERACTION), None, &basic, &[]).await;
        let rows: Value = serde_json::from_slice(&body).unwrap();
        rows["data"][0]["goal_name"] == "Signup, renamed"
    })
    .await;
    assert_eq!(reloads(&addr, "goals.json", "applied").await, 1.0);
    assert_eq!(
        reloads(&addr, "workflows.json", "applied").await,
        1.0,
        "an unchanged file is not re-applied"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_gets_401_and_a_removed_organization_403() {
    let lake = lake();
    let dir = tempfile::tempdir().unwrap();
    let path = access_path(&dir, &[ORG, OTHER_ORG], &[TOKEN_A, TOKEN_B]);
    let server = watched_server(&lake, Some(&path)).await;
    let url = server.url(ORG, WF_INTERACTION);
    assert_eq!(status(&url, Some(TOKEN_A)).await, 200);
    assert_eq!(status(&url, Some(TOKEN_B)).await, 200);

    replace_file(&path, &access_file(&[ORG, OTHER_ORG], &[TOKEN_A]));
    eventually("the revoked token is refused", || async {
        status(&url, Some(TOKEN_B)).await == 401
    })
    .await;
    assert_eq!(
        status(&url, Some(TOKEN_A)).await,
        200,
        "the other token still reads"
    );

    replace_file(&path, &access_file(&[OTHER_ORG], &[TOKEN_A]));
    eventually("the removed organization is refused", || async {
        let (status, _, body) = post_json(&url, Some(TOKEN_A), &one_day(), &[]).await;
        status == 403
            && serde_json::from_slice::<Value>(&body).unwrap()["error"] == "no_subscription"
    })
    .await;
    assert_eq!(
        status(&server.url(OTHER_ORG, WF_OTHER_ORG), Some(TOKEN_A)).await,
        200,
        "the remaining organization still reads"
    );
    assert_eq!(
        reloads(&server.addr.to_string(), "access", "applied").await,
        2.0
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_version_is_refused_counted_and_the_last_valid_one_stays() {
    let lake = lake();
    let dir = tempfile::tempdir().unwrap();
    let path = access_path(&dir, &[ORG], &[TOKEN_A]);
    let server = watched_server(&lake, Some(&path)).await;
    let addr = server.addr.to_string();
    let url = server.url(ORG, WF_INTERACTION);

    // Broken JSON that would also drop the workflow in use.
    replace_file(
        &lake.root().join("workflows.json"),
        b"[\n  {\"id\": \"x\",}\n]",
    );
    eventually("the broken catalog is refused", || async {
        reloads(&addr, "workflows.json", "refused").await == 1.0
    })
    .await;
    assert_eq!(
        status(&url, Some(TOKEN_A)).await,
        200,
        "the last valid catalog answers"
    );
    // Valid JSON that does not validate (an id that is not a UUID).
    replace_file(
        &lake.root().join("workflows.json"),
        &workflows(&[json!({"id": "not-a-uuid", "organization_id": ORG, "type": "interaction"})]),
    );
    eventually("the invalid catalog is refused", || async {
        reloads(&addr, "workflows.json", "refused").await == 2.0
    })
    .await;
    assert_eq!(status(&url, Some(TOKEN_A)).await, 200);

    // An access file that would let nobody in, but does not parse.
    replace_file(
        &path,
        br#"{"organizations": [], "tokens": [{"name": "x"}]}"#,
    );
    eventually("the broken access file is refused", || async {
        reloads(&addr, "access", "refused").await == 1.0
    })
    .await;
    assert_eq!(
        status(&url, Some(TOKEN_A)).await,
        200,
        "the last valid access rules stay"
    );

    replace_file(
        &lake.root().join("workflows.json"),
        &workflows(&[new_workflow()]),
    );
    eventually("a valid version after a refused one applies", || async {
        status(&server.url(ORG, WF_NEW), Some(TOKEN_A)).await == 200
    })
    .await;
    assert_eq!(reloads(&addr, "workflows.json", "applied").await, 1.0);
    assert_eq!(
        reloads(&addr, "workflows.json", "refused").await,
        2.0,
        "a refused version is not re-read on every check"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_fails_while_files_are_swapped() {
    let lake = lake();
    let dir = tempfile::tempdir().unwrap();
    let path = access_path(&dir, &[ORG], &[TOKEN_A]);
    let server = watched_server(&lake, Some(&path)).await;
    let addr = server.addr.to_string();
    let url = server.url(ORG, WF_INTERACTION);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (url, stop) = (url.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut answered = 0;
                while !stop.load(Ordering::SeqCst) {
                    let (status, _, body) = post_json(&url, Some(TOKEN_A), &one_day(), &[]).await;
                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    for round in 1..=6 {
        let name = json!({"id": WF_NEW, "organization_id": ORG, "type": "web_navigation", "name": format!("round {round}")});
        replace_file(&lake.root().join("workflows.json"), &workflows(&[name]));
        let tokens: &[&str] = if round % 2 == 0 {
            &[TOKEN_A]
        } else {
            &[TOKEN_A, TOKEN_B]
        };
        replace_file(&path, &access_file(&[ORG], tokens));
        let want = f64::from(round);
        eventually("the round is applied", || async {
            reloads(&addr, "workflows.json", "applied").await >= want
                && reloads(&addr, "access", "applied").await >= want
        })
        .await;
    }
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        let answered = client.await.expect("no request failed");
        assert!(answered > 0);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_changes_on_s3_are_found_by_head_and_applied() {
    let s3 = S3Server::start();
    let lake = lake();
    s3.upload(lake.root(), "live");
    let mut config = test_config();
    config.reload_interval = Duration::from_millis(100);
    let engine = EngineConfig {
        s3: s3.options(),
        ..EngineConfig::default()
    };
    let server = RunningServer::start(
        engine,
        LakeLocation::S3 {
            bucket: BUCKET.into(),
            prefix: "live".into(),
        },
        config,
    )
    .await;
    let addr = server.addr.to_string();
    assert_eq!(status(&server.url(ORG, WF_NEW), None).await, 404);
    let heads_before = sample(
        &scrape(&addr).await,
        "flowlake_s3_requests_total",
        &[("kind", "head")],
    )
    .expect("S3 requests are counted");

    replace_file(
        &s3.bucket_dir().join("live/workflows.json"),
        &workflows(&[new_workflow()]),
    );
    eventually("the new workflow answers from S3", || async {
        status(&server.url(ORG, WF_NEW), None).await == 200
    })
    .await;
    let text = scrape(&addr).await;
    assert_eq!(
        sample(
            &text,
            "flowlake_reloads_total",
            &[("file", "workflows.json"), ("outcome", "applied")]
        ),
        Some(1.0)
    );
    let heads = sample(&text, "flowlake_s3_requests_total", &[("kind", "head")]).unwrap_or(0.0);
    assert!(
        heads > heads_before,
        "changes are found by HEAD requests:\n{text}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_at_once_and_a_refused_file_is_logged_with_its_reason() {
    let lake = lake();
    let dir = tempfile::tempdir().unwrap();
    let path = access_path(&dir, &[ORG], &[TOKEN_A, TOKEN_B]);
    let (root, access) = (
        lake.root().display().to_string(),
        path.display().to_string(),
    );
    // An hour between checks: only SIGHUP can make these reloads happen during the test.
    let server = ServedBinary::start(&[
        "--lake",
        &root,
        "--access",
        &access,
        "--reload-interval",
        "3600",
    ]);
    let url = source_data_url(&server.addr, ORG, WF_INTERACTION);
    assert_eq!(status(&url, Some(TOKEN_B)).await, 200);

    replace_file(
        &lake.root().join("workflows.json"),
        b"[\n  {\"id\": \"x\",}\n]",
    );
    server.signal("HUP");
    eventually("the refusal is logged", || async {
        server.lines().iter().any(|l| {
            l.contains("not applied") && l.contains("workflows.json") && l.contains("line 2")
        })
    })
    .await;
    assert_eq!(
        status(&url, Some(TOKEN_B)).await,
        200,
        "the last valid catalog stays"
    );

    replace_file(&path, &access_file(&[ORG], &[TOKEN_A]));
    server.signal("HUP");
    eventually("the revoked token is refused after SIGHUP", || async {
        status(&url, Some(TOKEN_B)).await == 401
    })
    .await;
    assert_eq!(status(&url, Some(TOKEN_A)).await, 200);
    let lines = server.stop();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("applied the new version") && l.contains("access.json")),
        "{lines:#?}"
    );
}

/// `access_file` with every permission replaced by `permission`.
fn access_file_granting(permission: &str, tokens: &[&str]) -> Vec<u8> {
    let mut file: Value = serde_json::from_slice(&access_file(&[ORG], tokens)).unwrap();
    for token in file["tokens"].as_array_mut().unwrap() {
        token["permissions"] = json!([permission]);
    }
    file.to_string().into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_permission_refuses_the_access_file_at_start_and_on_reload() {
    let lake = lake();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.json");
    std::fs::write(&path, access_file_granting("reportin", &[TOKEN_A])).unwrap();
    let mut starting = std::process::Command::new(env!("CARGO_BIN_EXE_flowlake"))
        .args(["serve", "--listen", "127.0.0.1:0", "--lake"])
        .arg(lake.root())
        .arg("--access")
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A server that starts anyway is stopped, so that the test fails rather than hangs.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while starting.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = starting.kill();
    let started = starting.wait_with_output().unwrap();
    assert_eq!(started.status.code(), Some(2), "the server does not start");
    let said = String::from_utf8_lossy(&started.stderr);
    assert!(
        said.contains("access.json")
            && said.contains("unknown variant `reportin`, expected `reporting`"),
        "{said}"
    );

    // A running server keeps its last valid rules, and logs why.
    std::fs::write(&path, access_file_granting("reporting", &[TOKEN_A])).unwrap();
    let server = ServedBinary::start(&[
        "--lake",
        &lake.root().display().to_string(),
        "--access",
        &path.display().to_string(),
        "--reload-interval",
        "1",
    ]);
    let url = source_data_url(&server.addr, ORG, WF_INTERACTION);
    assert_eq!(status(&url, Some(TOKEN_A)).await, 200);
    replace_file(&path, &access_file_granting("reportin", &[TOKEN_A]));
    eventually("the typo is refused and logged", || async {
        server.lines().iter().any(|l| {
            l.contains("not applied") && l.contains("access.json") && l.contains("reportin")
        })
    })
    .await;
    assert_eq!(
        status(&url, Some(TOKEN_A)).await,
        200,
        "the token keeps its reporting permission"
    );
    server.stop();
}
