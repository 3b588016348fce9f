//! Mutated requests never panic and never answer a payload fault with a 5xx: a CI-sized
//! run of the harness whose full-size run is `examples/fuzz_payloads.rs`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use flowlake::Query;

#[path = "../fuzz/mutate.rs"]
mod mutate;

use mutate::Mutator;

/// Every refusal of a payload is a 400 or a 406 whose SPEC §5 body carries its status.
#[test]
fn twenty_thousand_mutated_requests_are_400_or_406_or_valid() {
    let mut mutator = Mutator::new(20_261_129);
    let (mut valid, mut refused) = (0, 0);
    for _ in 0..20_000 {
        let request = mutator.next_request();
        match Query::from_request(
            &request.organization_id,
            &request.workflow_id,
            &request.payload,
        ) {
            Ok(_) => valid += 1,
            Err(error) => {
                assert!(
                    matches!(error.status(), 400 | 406),
                    "{} for {:?}: {error}",
                    error.status(),
                    String::from_utf8_lossy(&request.payload)
                );
                let body: serde_json::Value =
                    serde_json::from_str(&error.to_json()).expect("the error body is JSON");
                assert_eq!(body["status"], error.status());
                assert!(!body["message"].as_str().unwrap_or_default().is_empty());
                refused += 1;
            }
        }
    }
    assert!(
        valid > 500 && refused > 10_000,
        "the mutations reach both sides: {valid} valid, {refused} refused"
    );
}

/// `flowlake serve --no-auth` as a child process on a free loopback port.
pub struct ServerProcess {
    child: Child,
    pub address: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Serves `lake` with `extra` flags.
    pub fn start(lake: &std::path::Path, extra: &[&str]) -> ServerProcess {
        start_serving(lake, extra)
    }
}

fn start_server() -> ServerProcess {
    start_serving(&crate::support::repo().join("data"), &[])
}

fn start_serving(lake: &std::path::Path, extra: &[&str]) -> ServerProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowlake"))
        .args(["serve", "--no-auth", "--listen", "127.0.0.1:0", "--lake"])
        .arg(lake)
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start flowlake serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("the server says where it listens")
            .expect("stderr line");
        if let Some(at) = line.split("listening on http://").nth(1) {
            break at.trim().to_string();
        }
    };
    // Keep draining the log so that the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    ServerProcess { child, address }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_payloads_through_the_real_server_get_no_5xx_and_spec_bodies() {
    let server = start_server();
    let client = reqwest::Client::new();
    let mut mutator = Mutator::new(7);
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..300 {
        let request = mutator.next_request();
        let url = format!(
            "http://{}/api/reporting/workflow/v1/orgs/{}/workflows/{}/source_data",
            server.address,
            urlencode(&request.organization_id),
            urlencode(&request.workflow_id)
        );
        let response = client
            .post(url)
            .header("content-type", "application/json")
            .body(request.payload.clone())
            .send()
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("a complete body");
        *statuses.entry(status).or_insert(0) += 1;
        assert!(
            status < 500,
            "{status} for {:?}: {}",
            String::from_utf8_lossy(&request.payload),
            String::from_utf8_lossy(&body)
        );
        if status != 200 {
            let error: serde_json::Value =
                serde_json::from_slice(&body).expect("SPEC §5 JSON body");
            assert_eq!(error["status"], status, "{error}");
        }
    }
    assert!(
        statuses.contains_key(&200) && statuses.contains_key(&400),
        "{statuses:?}"
    );
    let health = client
        .get(format!("http://{}/healthz", server.address))
        .send()
        .await
        .expect("still up");
    assert_eq!(health.status().as_u16(), 200);
}

/// Percent-encodes what cannot stand in a URL path segment as it is.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
