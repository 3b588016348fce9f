//! Writers raced and killed on local disk and S3, and concurrent ingests on S3.

use super::*;

/// What the crash-and-race test saw over its rounds.
#[derive(Debug, Default)]
struct RaceFigures {
    rounds: usize,
    processes: usize,
    killed: usize,
    queries_ok: usize,
    queries_changed: usize,
}

/// Where the race runs: a local folder, or a prefix of the test S3 server's bucket.
struct RaceLake<'a> {
    server: Option<&'a S3Server>,
    /// The lake's folder on disk (for S3: the prefix's folder inside the bucket).
    folder: PathBuf,
    url: String,
}

impl RaceLake<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = flowlake();
        command.args(args).args(["--lake", &self.url]);
        if let Some(server) = self.server {
            server.command_env(&mut command);
        }
        command
    }
}

/// Rounds of 2–4 concurrent processes (ingests of overlapping random inputs, compacts
/// with no grace, a query loop), each writer killed at random; after each round the killed
/// ingests run again and a compact runs; then no manifest names a missing file, the lake
/// holds exactly the union of the inputs (each event once), another tool's file is still
/// there, and every query answered or said the lake changed while it read.
fn crash_and_race(lake: &RaceLake, rounds: usize, seed: u64) -> RaceFigures {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let inputs = tempfile::tempdir().unwrap();
    let mut figures = RaceFigures::default();
    let mut expected = BTreeSet::new();
    let query = inputs.path().join("query.json");
    std::fs::write(
        &query,
        payload(
            "2026-03-01",
            "2026-03-03",
            json!({"target": "affected_goal_total"}),
        ),
    )
    .unwrap();
    // Another tool's file in a day with a manifest: never read, never deleted.
    let first = write_input(&inputs.path().join("first.ndjson"), 0..30);
    assert_eq!(
        lake.command(&["ingest", first.to_str().unwrap()])
            .output()
            .unwrap()
            .status
            .code(),
        Some(0)
    );
    expected.extend(0..30);
    let foreign = lake.folder.join(format!(
        "events/organization_id={ORG}/date=2026-03-02/part-foreign.parquet"
    ));
    std::fs::write(
        &foreign,
        plain_parquet(&[goal("2026-03-02T12:00:00Z", "foreign", "s1")], 10),
    )
    .unwrap();
    std::fs::File::options()
        .write(true)
        .open(&foreign)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(7200))
        .unwrap();

    for round in 0..rounds {
        let writers = rng.random_range(1..=3);
        let mut running: Vec<(Child, Option<PathBuf>, Option<Duration>)> = Vec::new();
        for w in 0..writers {
            let kill = rng
                .random_bool(0.4)
                .then(|| Duration::from_millis(rng.random_range(0..400)));
            if rng.random_bool(0.6) {
                let start = rng.random_range(0..4000u64);
                let numbers: Vec<u64> = (start..start + rng.random_range(50..1500))
                    .filter(|_| rng.random_bool(0.8))
                    .collect();
                let input = write_input(
                    &inputs.path().join(format!("r{round}-w{w}.ndjson")),
                    numbers.iter().copied(),
                );
                expected.extend(numbers);
                let buffer = rng.random_range(40..600).to_string();
                let child = lake
                    .command(&["ingest", "--buffer-rows", &buffer, input.to_str().unwrap()])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                running.push((child, Some(input), kill));
            } else {
                let child = lake
                    .command(&["compact", "--grace", "0", "--orphan-grace", "0"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                running.push((child, None, kill));
            }
        }
        figures.processes += running.len() + 1;
        let started = Instant::now();
        let mut rerun = Vec::new();
        let mut open = running.len();
        let mut done = vec![false; running.len()];
        let ask = || {
            lake.command(&[
                "query",
                "--org",
                ORG,
                "--workflow",
                WF_INTERACTION,
                "--payload",
                query.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        };
        // The query loop runs while the writers do.
        let mut asking = Some(ask());
        while open > 0 || asking.is_some() {
            if let Some(status) = asking.as_mut().and_then(|q| q.try_wait().unwrap()) {
                let mut stderr = String::new();
                std::io::Read::read_to_string(
                    asking.as_mut().unwrap().stderr.as_mut().unwrap(),
                    &mut stderr,
                )
                .unwrap();
                match status.code() {
                    Some(0) => figures.queries_ok += 1,
                    Some(7) if stderr.contains("changed while the query read it") => {
                        figures.queries_changed += 1
                    }
                    other => panic!(
                        "round {round}: a query during the race answered {other:?}: {stderr}"
                    ),
                }
                asking = (open > 0).then(ask);
            }
            for (i, (child, input, kill)) in running.iter_mut().enumerate() {
                if done[i] {
                    continue;
                }
                if let Some(status) = child.try_wait().unwrap() {
                    done[i] = true;
                    open -= 1;
                    let mut stderr = String::new();
                    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr)
                        .unwrap();
                    assert_eq!(
                        status.code(),
                        Some(0),
                        "round {round}: a writer failed: {stderr}"
                    );
                } else if kill.is_some_and(|after| started.elapsed() >= after) {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    done[i] = true;
                    open -= 1;
                    figures.killed += 1;
                    rerun.extend(input.clone());
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        // Recovery: what was killed runs again, then a compact.
        for input in rerun {
            let out = lake
                .command(&["ingest", input.to_str().unwrap()])
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: rerun: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = lake
            .command(&["compact", "--grace", "0", "--orphan-grace", "0"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {round}: recovery compact: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(
            lake_event_ids(&lake.folder),
            expected_ids(&expected),
            "round {round}: the lake holds each input event once"
        );
        assert!(
            foreign.exists(),
            "round {round}: another tool's file was deleted"
        );
        figures.rounds += 1;
    }
    figures
}

/// Rounds in CI; `FLOWLAKE_RACE_ROUNDS` asks for a long run.
fn race_rounds(default: usize) -> usize {
    std::env::var("FLOWLAKE_RACE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(default)
}

#[test]
fn writers_raced_and_killed_on_local_disk_lose_and_double_nothing() {
    let root = TestLake::new();
    let lake = RaceLake {
        server: None,
        folder: root.root().to_path_buf(),
        url: root.root().to_string_lossy().into_owned(),
    };
    let figures = crash_and_race(&lake, race_rounds(8), 18);
    eprintln!("crash-and-race on local disk: {figures:?}");
    assert!(figures.killed > 0 && figures.queries_ok > 0);
}

#[test]
fn writers_raced_and_killed_on_s3_lose_and_double_nothing() {
    let server = S3Server::start();
    let catalog = TestLake::new();
    server.upload(catalog.root(), "race");
    let lake = RaceLake {
        server: Some(&server),
        folder: server.bucket_dir().join("race"),
        url: "s3://lake/race".into(),
    };
    let figures = crash_and_race(&lake, race_rounds(5), 81);
    eprintln!("crash-and-race on S3: {figures:?}");
    assert!(figures.killed > 0 && figures.queries_ok > 0);
}

#[test]
fn four_concurrent_ingests_of_overlapping_inputs_into_s3_write_every_event_once() {
    let server = S3Server::start();
    let catalog = TestLake::new();
    server.upload(catalog.root(), "four");
    let lake = RaceLake {
        server: Some(&server),
        folder: server.bucket_dir().join("four"),
        url: "s3://lake/four".into(),
    };
    let inputs = tempfile::tempdir().unwrap();
    let mut expected = BTreeSet::new();
    let children: Vec<Child> = (0..4u64)
        .map(|w| {
            let numbers = (w * 700)..(w * 700 + 2000);
            expected.extend(numbers.clone());
            let input = write_input(&inputs.path().join(format!("w{w}.ndjson")), numbers);
            lake.command(&["ingest", "--buffer-rows", "300", input.to_str().unwrap()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut written = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        written += counts(&out).1;
    }
    assert_eq!(
        written,
        expected.len() as u64,
        "the runs' summaries add up to the distinct events"
    );
    assert_eq!(lake_event_ids(&lake.folder), expected_ids(&expected));
}
