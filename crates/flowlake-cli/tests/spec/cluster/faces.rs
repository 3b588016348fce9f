//! `batch --cluster` and `serve --cluster` write and answer what their local runs do.

use super::compare::{dechunk, describe};
use super::*;

/// `batch --cluster` over `queries/batch.ndjson` on the sample lake writes the result files
/// of a local batch run, and the same summary but for the timings.
pub(super) fn batch_on_the_cluster_writes_the_files_of_a_local_batch(cluster: &Cluster) {
    for format in ["json", "arrow"] {
        batch_files_are_the_local_ones(cluster, format);
    }
}

fn batch_files_are_the_local_ones(cluster: &Cluster, format: &str) {
    let repo = crate::support::repo();
    let out = tempfile::tempdir().expect("tempdir");
    let run = |dir: &str, cluster_address: Option<&str>| {
        let mut command = flowlake();
        command
            .current_dir(repo)
            .args([
                "batch",
                "--format",
                format,
                "--queries",
                "queries/batch.ndjson",
                "--out",
            ])
            .arg(out.path().join(dir));
        if let Some(address) = cluster_address {
            command.args(["--cluster", address]);
        }
        command.output().expect("run flowlake batch")
    };
    let (local, remote) = (run("local", None), run("cluster", Some(&cluster.address())));
    assert_eq!(
        local.status.code(),
        remote.status.code(),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    let without_timings = |path: &Path| -> serde_json::Value {
        fn strip(value: &mut serde_json::Value) {
            match value {
                serde_json::Value::Object(map) => {
                    map.retain(|key, _| key != "ms" && key != "elapsed_ms");
                    map.values_mut().for_each(strip);
                }
                serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
                _ => {}
            }
        }
        let mut summary =
            serde_json::from_slice(&std::fs::read(path).expect("summary")).expect("summary JSON");
        strip(&mut summary);
        summary
    };
    let mut files = 0;
    for entry in std::fs::read_dir(out.path().join("local")).expect("local results") {
        let name = entry.expect("entry").file_name();
        let (a, b) = (
            out.path().join("local").join(&name),
            out.path().join("cluster").join(&name),
        );
        if name == "summary.json" {
            assert_eq!(without_timings(&a), without_timings(&b));
        } else if !name.to_string_lossy().starts_with('.') {
            let (want, got) = (
                std::fs::read(&a).expect("local file"),
                std::fs::read(&b).expect("cluster file"),
            );
            let shown = if format == "arrow" {
                Format::Arrow
            } else {
                Format::Json
            };
            assert!(
                want == got,
                "batch --format {format}: {name:?} differs\n{}",
                describe(shown, &want, &got)
            );
            files += 1;
        }
    }
    assert!(files >= 10, "only {files} result files");
}

/// `serve --cluster` answers a request with the bytes `query` prints locally, in JSON and
/// (the encoding whose bytes show the record batches) Arrow.
pub(super) fn serve_on_the_cluster_answers_like_serve(cluster: &Cluster) {
    let repo = crate::support::repo();
    let (mut server, port) = cluster.serve("serve", |serve| {
        serve.current_dir(repo);
    });
    let (org, workflow) = (
        "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d",
        "5887c297-1e03-45e4-863e-7a9f784c5a2c",
    );
    for (payload_file, format) in [
        ("queries/api-example.json", Format::Json),
        ("queries/all-goals-advanced.json", Format::Arrow),
        ("queries/api-example.json", Format::Arrow),
    ] {
        let payload = std::fs::read(repo.join(payload_file)).expect("payload");
        let name = if format == Format::Arrow {
            "arrow"
        } else {
            "json"
        };
        let local = flowlake()
            .current_dir(repo)
            .args([
                "query",
                "--org",
                org,
                "--workflow",
                workflow,
                "--format",
                name,
                "--payload",
                payload_file,
            ])
            .output()
            .expect("run flowlake query");
        assert!(
            local.status.success(),
            "{}",
            String::from_utf8_lossy(&local.stderr)
        );
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        write!(
            stream,
            "POST /api/reporting/workflow/v1/orgs/{org}/workflows/{workflow}/source_data HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Accept: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            format.media_type(),
            payload.len()
        )
        .expect("request");
        stream.write_all(&payload).expect("body");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).expect("response");
        let text = String::from_utf8_lossy(&response);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        let body = dechunk(&response[text.find("\r\n\r\n").expect("head") + 4..]);
        assert!(
            body == local.stdout,
            "serve --cluster ({name}, {payload_file}) differs from query:\n{}",
            describe(format, &local.stdout, &body)
        );
    }
    let _ = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status();
    let _ = server.0.wait();
}
