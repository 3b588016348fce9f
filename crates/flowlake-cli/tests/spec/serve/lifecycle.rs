//! A full server, timeouts, shutdown, the loopback rule without access control, and the
//! binary's start and stop.

use super::*;

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
