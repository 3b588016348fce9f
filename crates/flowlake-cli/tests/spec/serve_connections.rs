//! Slow and idle clients against the real server over raw sockets: a request head that
//! never completes, a kept-alive connection left idle, and more connections than the cap.
//! Timeouts are small (1 s) and closure is awaited for up to 10 s, so a slow machine only
//! makes the tests slower.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use flowlake_cli::serve::ConnectionLimits;
use serde_json::json;

use super::serve::{TestServer, two_org_lake};
use super::support::*;

/// How long a test waits for the server to close a connection it should close.
const PATIENCE: Duration = Duration::from_secs(10);

fn limits(header_timeout: u64, idle_timeout: u64, max_connections: usize) -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Duration::from_secs(header_timeout),
        idle_timeout: Duration::from_secs(idle_timeout),
        max_connections,
    }
}

/// Reads until the server closes the connection; `Err` if it is still open after `PATIENCE`.
fn read_until_closed(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Ok(received),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!(
                    "still open after {PATIENCE:?}; received {:?}",
                    String::from_utf8_lossy(&received)
                ));
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(received),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Reads one response (head and `content-length` body) from a kept-alive connection.
fn read_response(stream: &mut TcpStream, timeout: Duration) -> std::io::Result<String> {
    stream.set_read_timeout(Some(timeout))?;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                return Ok(text);
            }
        }
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            return Err(std::io::Error::new(
                ErrorKind::UnexpectedEof,
                format!("closed after {text:?}"),
            ));
        }
        received.extend_from_slice(&buffer[..n]);
    }
}

fn health_request(addr: SocketAddr) -> String {
    format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\n\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_request_line_is_closed_after_the_header_timeout() {
    let lake = two_org_lake();
    let server = TestServer::start(lake.root(), None, |c| c.connections = limits(1, 60, 16)).await;
    let addr = server.addr;
    let outcome = tokio::task::spawn_blocking(move || {
        let mut slow = TcpStream::connect(addr).unwrap();
        slow.write_all(b"POST /api/reporting/workflow/v1/orgs/")
            .unwrap();
        read_until_closed(&mut slow)
    })
    .await
    .unwrap();
    let reply = String::from_utf8_lossy(
        &outcome.expect("the server closes a connection whose head never completes"),
    )
    .to_string();
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 408"),
        "{reply}"
    );

    // Headers trickling in too slowly are cut as well, and the server keeps answering.
    let outcome = tokio::task::spawn_blocking(move || {
        let mut slow = TcpStream::connect(addr).unwrap();
        slow.write_all(format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\n").as_bytes())
            .unwrap();
        for _ in 0..6 {
            std::thread::sleep(Duration::from_millis(300));
            if slow.write_all(b"x-slow: 1\r\n").is_err() {
                break;
            }
        }
        read_until_closed(&mut slow)
    })
    .await
    .unwrap();
    assert!(outcome.is_ok(), "{outcome:?}");
    let answered = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(answered.status().as_u16(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let lake = two_org_lake();
    let server = TestServer::start(lake.root(), None, |c| c.connections = limits(60, 1, 16)).await;
    let addr = server.addr;
    let url = server.url(ORG, WF_INTERACTION);
    let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap();
    tokio::task::spawn_blocking(move || {
        // A connection that never sends anything.
        let mut silent = TcpStream::connect(addr).unwrap();
        assert!(read_until_closed(&mut silent).is_ok(), "a silent connection is closed");

        // A kept-alive connection: answered, kept open, then closed once idle.
        let mut kept = TcpStream::connect(addr).unwrap();
        kept.write_all(health_request(addr).as_bytes()).unwrap();
        let reply = read_response(&mut kept, PATIENCE).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200") && !reply.to_ascii_lowercase().contains("connection: close"), "{reply}");
        let rest = read_until_closed(&mut kept);
        assert_eq!(rest, Ok(Vec::new()), "the idle kept-alive connection is closed without a word");

        // A request in progress is not idle, however long its body takes to arrive.
        let body = payload("2026-03-01", "2026-03-01", json!({}));
        let mut slow = TcpStream::connect(addr).unwrap();
        let head = format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
        slow.write_all(head.as_bytes()).unwrap();
        slow.write_all(&body.as_bytes()[..1]).unwrap();
        std::thread::sleep(Duration::from_millis(2500));
        slow.write_all(&body.as_bytes()[1..]).unwrap();
        let reply = read_response(&mut slow, PATIENCE).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200") && reply.contains("\"a-g1\""), "{reply}");
    })
    .await
    .unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let lake = two_org_lake();
    let server = TestServer::start(lake.root(), None, |c| c.connections = limits(60, 60, 2)).await;
    let addr = server.addr;
    tokio::task::spawn_blocking(move || {
        // Two kept-alive connections, both answered: the cap is reached.
        let mut open: Vec<TcpStream> = (0..2)
            .map(|_| {
                let mut stream = TcpStream::connect(addr).unwrap();
                stream.write_all(health_request(addr).as_bytes()).unwrap();
                assert!(
                    read_response(&mut stream, PATIENCE)
                        .unwrap()
                        .starts_with("HTTP/1.1 200")
                );
                stream
            })
            .collect();
        // A third one is not served while they stay open…
        let mut third = TcpStream::connect(addr).unwrap();
        third.write_all(health_request(addr).as_bytes()).unwrap();
        let waiting = read_response(&mut third, Duration::from_secs(1));
        assert!(
            waiting
                .as_ref()
                .is_err_and(|e| matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
            "not answered beyond the cap: {waiting:?}"
        );
        // …and is answered as soon as one of them closes.
        drop(open.pop());
        let reply = read_response(&mut third, PATIENCE).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    })
    .await
    .unwrap();
    server.stop().await;
}

/// The head (lowercased) and the body of a response, and the value of its `x-request-id`.
fn split_response(reply: &[u8]) -> (String, String, Option<String>) {
    let text = String::from_utf8_lossy(reply).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let head = head.to_ascii_lowercase();
    let id = head
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id:"))
        .map(|v| v.trim().to_string());
    (head, body.to_string(), id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_refused_while_parsing_get_the_json_error_body_and_a_request_id() {
    let lake = two_org_lake();
    let server = TestServer::start(lake.root(), None, |c| c.connections = limits(10, 10, 16)).await;
    let addr = server.addr;
    tokio::task::spawn_blocking(move || {
        let many_headers: String = (0..200).map(|i| format!("x-h{i}: {i}\r\n")).collect();
        for (what, request, status, code) in [
            (
                "a DEL byte in a header value",
                format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\nx-note: a\x7fb\r\n\r\n"),
                400,
                "bad_request",
            ),
            (
                "an obsolete folded header",
                format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\nx-note: a\r\n  b\r\n\r\n"),
                400,
                "bad_request",
            ),
            (
                "a broken request line",
                "GET /healthz HTTP/1.1 extra\r\n\r\n".to_string(),
                400,
                "bad_request",
            ),
            (
                "too many header fields",
                format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\n{many_headers}\r\n"),
                431,
                "request_header_fields_too_large",
            ),
        ] {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let reply = read_until_closed(&mut stream).unwrap_or_else(|e| panic!("{what}: {e}"));
            let (head, body, id) = split_response(&reply);
            assert!(
                head.starts_with(&format!("http/1.1 {status} ")),
                "{what}: {head}\n\n{body}"
            );
            assert!(
                head.contains("content-type: application/json"),
                "{what}: {head}"
            );
            let id = id.unwrap_or_else(|| panic!("{what}: no x-request-id in {head}"));
            let error: serde_json::Value =
                serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: {e}: {body:?}"));
            assert_eq!(
                (error["status"].as_u64(), error["error"].as_str()),
                (Some(status), Some(code)),
                "{what}: {error}"
            );
            assert!(
                error["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{what}: {error}"
            );
            assert_eq!(
                error["request_id"].as_str(),
                Some(id.as_str()),
                "{what}: the id of the header is the body's"
            );
        }

        // Answers of the router are untouched, and the server keeps answering.
        let mut kept = TcpStream::connect(addr).unwrap();
        kept.write_all(
            format!("GET /nowhere HTTP/1.1\r\nhost: {addr}\r\nx-request-id: mine-1\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        let reply = read_response(&mut kept, PATIENCE).unwrap();
        let (head, body, id) = split_response(reply.as_bytes());
        assert!(
            head.starts_with("http/1.1 404 ") && id.as_deref() == Some("mine-1"),
            "{head}"
        );
        assert!(body.contains("\"request_id\":\"mine-1\""), "{body}");
        kept.write_all(health_request(addr).as_bytes()).unwrap();
        assert!(
            read_response(&mut kept, PATIENCE)
                .unwrap()
                .starts_with("HTTP/1.1 200")
        );
    })
    .await
    .unwrap();
    server.stop().await;
}
