//! `ingest` and `compact` on S3 write lakes that answer like local ones.

use super::*;

/// The answers of `seeds` payloads over a lake in the test S3 server.
fn s3_answers(
    server: &crate::s3_server::S3Server,
    prefix: &str,
    seeds: std::ops::Range<u64>,
) -> Vec<Result<Vec<u8>, u16>> {
    let engine = Engine::new(&EngineConfig {
        s3: server.options(),
        ..EngineConfig::default()
    })
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let location = flowlake::LakeLocation::S3 {
            bucket: crate::s3_server::BUCKET.into(),
            prefix: prefix.into(),
        };
        let lake = engine.open_lake(location).await.expect("open the S3 lake");
        let mut all = Vec::new();
        for seed in seeds {
            let (case, payload) = random_case(seed);
            all.push(
                answer(
                    &engine,
                    &lake,
                    &case.org,
                    &case.workflow,
                    &payload,
                    Format::Ndjson,
                )
                .await
                .map_err(|e| e.status()),
            );
        }
        all
    })
}

#[test]
fn ingest_and_compact_write_lakes_on_s3_that_answer_like_local_ones() {
    let server = crate::s3_server::S3Server::start();
    let expected = answers(&world().root, 0..100);
    // compact a copy of the world in the bucket
    server.upload(&world().root, "world");
    let mut command = flowlake();
    command.args(["compact", "--grace", "0", "--lake", "s3://lake/world"]);
    server.command_env(&mut command);
    succeed(&mut command);
    let day = server
        .bucket_dir()
        .join("world/events")
        .read_dir()
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path()
        .read_dir()
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    assert!(day.join("_manifest.json").exists(), "{}", day.display());
    assert_same_answers(&expected, &s3_answers(&server, "world", 0..100));

    // ingest the exports into an empty lake in the bucket
    let exports = tempfile::tempdir().unwrap();
    let (inputs, total) = export(exports.path());
    for file in ["workflows.json", "goals.json"] {
        std::fs::create_dir_all(server.bucket_dir().join("ingested")).unwrap();
        std::fs::copy(
            world().root.join(file),
            server.bucket_dir().join("ingested").join(file),
        )
        .unwrap();
    }
    let mut command = flowlake();
    command
        .args(["ingest", "--lake", "s3://lake/ingested"])
        .args(&inputs);
    server.command_env(&mut command);
    let out = succeed(&mut command);
    assert_eq!(counts(&out).1, total as u64);
    assert_same_answers(&expected, &s3_answers(&server, "ingested", 0..100));
}
