//! Writers killed at any point, and a server answering while a compact runs.

use super::*;

#[test]
fn a_writer_killed_at_any_point_leaves_answers_as_before_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("day.ndjson");
    std::fs::write(&input, goal_lines("k", 3000)).unwrap();
    let seed_lake = TestLake::new();
    assert_eq!(
        ingest(
            seed_lake.root(),
            &[dir.path().join("seed.ndjson")]
                .iter()
                .map(|p| {
                    std::fs::write(p, goal_lines("seed", 500)).unwrap();
                    p.clone()
                })
                .collect::<Vec<_>>(),
            &["--buffer-rows", "60"]
        )
        .status
        .code(),
        Some(0)
    );
    let before = total_ids(seed_lake.root());
    let after_ingest = {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(seed_lake.root(), copy.path());
        let started = Instant::now();
        assert_eq!(
            ingest(
                copy.path(),
                std::slice::from_ref(&input),
                &["--buffer-rows", "300"]
            )
            .status
            .code(),
            Some(0)
        );
        (total_ids(copy.path()), started.elapsed())
    };
    let compact_time = {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(seed_lake.root(), copy.path());
        let started = Instant::now();
        compact(copy.path(), &["--grace", "0"]);
        started.elapsed()
    };
    let mut killed = 0;
    for point in 0..24u32 {
        let lake = tempfile::tempdir().unwrap();
        copy_dir(seed_lake.root(), lake.path());
        let (was_killed, after) = if point % 2 == 0 {
            let delay = after_ingest.1.mul_f64(f64::from(point) / 24.0);
            let mut command = flowlake();
            command
                .args(["ingest", "--buffer-rows", "300", "--lake"])
                .arg(lake.path())
                .arg(&input);
            (run_killed_after(&mut command, delay), &after_ingest.0)
        } else {
            let delay = compact_time.mul_f64(f64::from(point) / 24.0);
            let mut command = flowlake();
            command
                .args(["compact", "--grace", "0", "--lake"])
                .arg(lake.path());
            (run_killed_after(&mut command, delay), &before)
        };
        killed += usize::from(was_killed);
        let seen = total_ids(lake.path());
        assert!(
            seen == before || seen == *after,
            "kill point {point}: {} events, neither before ({}) nor after ({})",
            seen.len(),
            before.len(),
            after.len()
        );
        // Finishing the work after a kill gives the complete answer, nothing twice.
        if point % 2 == 0 {
            assert_eq!(
                ingest(
                    lake.path(),
                    std::slice::from_ref(&input),
                    &["--buffer-rows", "300"]
                )
                .status
                .code(),
                Some(0)
            );
            assert_eq!(
                total_ids(lake.path()),
                after_ingest.0,
                "kill point {point}: after a rerun"
            );
        } else {
            compact(lake.path(), &["--grace", "0"]);
            assert_eq!(
                total_ids(lake.path()),
                before,
                "kill point {point}: after a rerun"
            );
        }
    }
    assert!(
        killed >= 8,
        "a third of the runs at least were killed midway ({killed})"
    );
}

#[test]
fn a_server_answering_during_a_compact_answers_as_before_every_time() {
    let lake = tempfile::tempdir().unwrap();
    copy_dir(&world().root, lake.path());
    let (case, body) = random_case(3);
    let body = serde_json::to_vec(&{
        let mut p: Value = serde_json::from_str(&body).unwrap();
        p["target"] = json!("affected_goal_total");
        p["interval"] = json!({"start": "2026-03-01", "end": "2026-03-03"});
        p["filters"] = json!([]);
        p["step_data"] = Value::Null;
        p
    })
    .unwrap();
    let server = crate::fuzz::ServerProcess::start(lake.path(), &["--list-cache-ttl", "0"]);
    let url = format!(
        "http://{}/api/reporting/workflow/v1/orgs/{}/workflows/{}/source_data",
        server.address, case.org, case.workflow
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    let ask = || {
        runtime.block_on(async {
            let response = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .expect("answer");
            (
                response.status().as_u16(),
                response.bytes().await.expect("whole body").to_vec(),
            )
        })
    };
    let (status, expected) = ask();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&expected));
    assert!(expected.len() > 1000);
    let mut compacting = flowlake()
        .args(["compact", "--lake"])
        .arg(lake.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut during = 0;
    while compacting.try_wait().unwrap().is_none() {
        let (status, bytes) = ask();
        assert_eq!(status, 200);
        assert!(bytes == expected, "an answer during the compact differs");
        during += 1;
    }
    assert_eq!(compacting.wait().unwrap().code(), Some(0));
    for _ in 0..3 {
        assert!(ask().1 == expected, "an answer after the compact differs");
    }
    assert!(during >= 1, "no request ran during the compact");
}
