//! Storage faults, corrupt objects and a server dying mid-query name what failed.

use super::*;

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
