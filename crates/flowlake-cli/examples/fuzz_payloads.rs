//! The payload fuzz harness: millions of mutated requests through
//! `Query::from_request`, then thousands through a running `flowlake serve`.
//!
//! ```sh
//! cargo run --release --example fuzz_payloads -- --count 1000000
//! flowlake serve --no-auth --listen 127.0.0.1:8080 &
//! cargo run --release --example fuzz_payloads -- --count 0 --server http://127.0.0.1:8080 --server-count 20000
//! ```
//!
//! Exits 1 if any input panicked, was answered with a 5xx, or got an error body whose
//! `status` is not the HTTP status.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use flowlake::Query;

#[path = "../tests/fuzz/mutate.rs"]
mod mutate;

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: u64 = flag(&args, "--count")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = flag(&args, "--seed")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut violations = 0u64;

    // Quiet the default panic message: panics are counted and the first few shown.
    std::panic::set_hook(Box::new(|_| {}));
    let started = Instant::now();
    let mut mutator = mutate::Mutator::new(seed);
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    for _ in 0..count {
        let request = mutator.next_request();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            Query::from_request(
                &request.organization_id,
                &request.workflow_id,
                &request.payload,
            )
            .map(|_| ())
            .map_err(|e| (e.status(), e.to_json()))
        }));
        match outcome {
            Ok(Ok(())) => *statuses.entry(200).or_default() += 1,
            Ok(Err((status, body))) => {
                *statuses.entry(status).or_default() += 1;
                let parsed: Option<serde_json::Value> = serde_json::from_str(&body).ok();
                if !matches!(status, 400 | 406)
                    || parsed.as_ref().map(|b| b["status"].as_u64())
                        != Some(Some(u64::from(status)))
                {
                    violations += 1;
                    eprintln!(
                        "violation: {status} {body} for {:?}",
                        String::from_utf8_lossy(&request.payload)
                    );
                }
            }
            Err(_) => {
                violations += 1;
                *statuses.entry(0).or_default() += 1;
                eprintln!("panic for {:?}", String::from_utf8_lossy(&request.payload));
            }
        }
    }
    println!(
        "from_request: {count} inputs in {:.1}s, outcomes by status (0 = panic): {statuses:?}",
        started.elapsed().as_secs_f64()
    );

    if let Some(server) = flag(&args, "--server") {
        let server_count: u64 = flag(&args, "--server-count")
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000);
        violations += through_server(&server, server_count, seed.wrapping_add(1)).await;
    }
    println!("violations: {violations}");
    std::process::exit(i32::from(violations > 0));
}

async fn through_server(server: &str, count: u64, seed: u64) -> u64 {
    use futures::StreamExt;
    let client = reqwest::Client::new();
    let mut mutator = mutate::Mutator::new(seed);
    let requests: Vec<mutate::Request> = (0..count).map(|_| mutator.next_request()).collect();
    let started = Instant::now();
    let outcomes: Vec<(u16, bool)> = futures::stream::iter(requests)
        .map(|request| {
            let client = client.clone();
            async move {
                let encode = |t: &str| {
                    t.bytes()
                        .map(|b| {
                            if b.is_ascii_alphanumeric() || b == b'-' {
                                (b as char).to_string()
                            } else {
                                format!("%{b:02X}")
                            }
                        })
                        .collect::<String>()
                };
                let url = format!(
                    "{server}/api/reporting/workflow/v1/orgs/{}/workflows/{}/source_data",
                    encode(&request.organization_id),
                    encode(&request.workflow_id)
                );
                match client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(request.payload.clone())
                    .send()
                    .await
                {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let body = response.bytes().await.unwrap_or_default();
                        let spec_body = status == 200
                            || serde_json::from_slice::<serde_json::Value>(&body)
                                .ok()
                                .and_then(|b| b["status"].as_u64())
                                == Some(u64::from(status));
                        if status >= 500 || !spec_body {
                            eprintln!(
                                "violation: {status} {} for {:?}",
                                String::from_utf8_lossy(&body),
                                String::from_utf8_lossy(&request.payload)
                            );
                        }
                        (status, status < 500 && spec_body)
                    }
                    Err(error) => {
                        eprintln!("no answer: {error}");
                        (0, false)
                    }
                }
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    for (status, _) in &outcomes {
        *statuses.entry(*status).or_default() += 1;
    }
    let violations = outcomes.iter().filter(|(_, fine)| !fine).count() as u64;
    let healthy = client
        .get(format!("{server}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    println!(
        "server: {count} requests in {:.1}s, by status (0 = no answer): {statuses:?}, healthy after: {healthy}",
        started.elapsed().as_secs_f64()
    );
    violations + u64::from(!healthy)
}
