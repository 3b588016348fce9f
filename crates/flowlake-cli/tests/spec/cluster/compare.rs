//! Comparing a cluster's answers with local ones: every encoding of one run, the CLI,
//! chunked HTTP bodies, and a lake large enough for a query to run for seconds.

use super::*;

/// What differs between two answers, readably: text as text, Arrow streams as batch sizes.
pub(super) fn describe(format: Format, local: &[u8], cluster: &[u8]) -> String {
    if format != Format::Arrow {
        return format!(
            "local:   {}\ncluster: {}",
            String::from_utf8_lossy(local),
            String::from_utf8_lossy(cluster)
        );
    }
    let batches = |bytes: &[u8]| -> Vec<usize> {
        match datafusion::arrow::ipc::reader::StreamReader::try_new(
            std::io::Cursor::new(bytes.to_vec()),
            None,
        ) {
            Ok(reader) => reader
                .map(|b| b.map(|b| b.num_rows()).unwrap_or(usize::MAX))
                .collect(),
            Err(_) => vec![usize::MAX],
        }
    };
    let rows = |bytes: &[u8]| -> Vec<String> {
        let reader = datafusion::arrow::ipc::reader::StreamReader::try_new(
            std::io::Cursor::new(bytes.to_vec()),
            None,
        )
        .expect("arrow");
        let batches: Vec<_> = reader.map(|b| b.expect("batch")).collect();
        datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .expect("pretty")
            .to_string()
            .lines()
            .map(String::from)
            .collect()
    };
    let (a, b) = (rows(local), rows(cluster));
    let first = a.iter().zip(&b).position(|(x, y)| x != y);
    format!(
        "local batches {:?}, cluster batches {:?} ({} vs {} bytes); first differing row: {:?}",
        batches(local),
        batches(cluster),
        local.len(),
        cluster.len(),
        first.map(|i| (&a[i], &b[i])),
    )
}

/// The answer to one request in every encoding, from one run: each encoding is made from
/// the record batches exactly as the engine streamed them (an encoder sees nothing else), so
/// a difference in batching shows in the Arrow bytes as it would through the CLI or serve.
pub(super) async fn every_encoding(
    engine: &Engine,
    lake: &flowlake::Lake,
    org: &str,
    workflow: &str,
    payload: &str,
) -> Result<Vec<(Format, Vec<u8>)>, flowlake::Error> {
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use futures::TryStreamExt;
    let query = Query::from_request(org, workflow, payload.as_bytes())?;
    let flowlake::ResponseStream { shape, batches, .. } = engine.execute(lake, &query).await?;
    let schema = batches.schema();
    let batches: Vec<datafusion::arrow::record_batch::RecordBatch> =
        batches.try_collect().await.map_err(flowlake::Error::from)?;
    let mut encoded = Vec::new();
    for format in Format::ALL {
        let stream = RecordBatchStreamAdapter::new(
            schema.clone(),
            futures::stream::iter(batches.clone().into_iter().map(Ok)),
        );
        let response = flowlake::ResponseStream {
            shape,
            batches: Box::pin(stream),
            runs: Vec::new(),
        };
        let mut bytes = Vec::new();
        flowlake::output::write_response(response, format, &mut bytes).await?;
        encoded.push((format, bytes));
    }
    Ok(encoded)
}

pub(super) fn query_cli(
    root: &Path,
    org: &str,
    workflow: &str,
    payload: &Path,
    format: &str,
    cluster: Option<&str>,
) -> std::process::Output {
    let mut command = flowlake();
    command
        .args(["query", "--lake"])
        .arg(root)
        .args([
            "--org",
            org,
            "--workflow",
            workflow,
            "--format",
            format,
            "--payload",
        ])
        .arg(payload);
    if let Some(address) = cluster {
        command.args(["--cluster", address]);
    }
    command.output().expect("run flowlake query")
}

/// The body of a chunked HTTP/1.1 response.
pub(super) fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let Some(end) = raw.windows(2).position(|w| w == b"\r\n") else {
            return body;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&raw[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[end + 2 + size + 2..];
    }
}

/// A lake on which one query runs for seconds on the cluster (written by `flowlake
/// generate`), with a payload that reads all of it.
pub(super) struct BigLake {
    pub(super) dir: tempfile::TempDir,
    pub(super) org: String,
    pub(super) workflow: String,
    pub(super) payload: std::path::PathBuf,
}

impl BigLake {
    pub(super) fn generate() -> BigLake {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("lake");
        let out = flowlake()
            .args(["generate", "--out"])
            .arg(&root)
            .args(["--orgs", "1", "--days", "7", "--events-per-day", "60000"])
            .output()
            .expect("run flowlake generate");
        assert!(
            out.status.success(),
            "generate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let workflows: serde_json::Value = serde_json::from_slice(
            &std::fs::read(root.join("workflows.json")).expect("workflows.json"),
        )
        .expect("JSON");
        let workflow = workflows
            .as_array()
            .and_then(|all| all.iter().find(|w| w["type"] == "interaction"))
            .expect("an interaction workflow");
        let (org, workflow) = (
            workflow["organization_id"]
                .as_str()
                .expect("org")
                .to_string(),
            workflow["id"].as_str().expect("id").to_string(),
        );
        let payload = dir.path().join("all.json");
        std::fs::write(
            &payload,
            r#"{"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-07"}}"#,
        )
        .expect("payload");
        BigLake {
            dir,
            org,
            workflow,
            payload,
        }
    }

    pub(super) fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("lake")
    }

    /// `flowlake query --cluster …` over the whole lake, its stdout and stderr into `files`.
    pub(super) fn query(&self, cluster: &Cluster, files: &Path) -> Child {
        flowlake()
            .args(["query", "--format", "csv", "--lake"])
            .arg(self.root())
            .args([
                "--org",
                &self.org,
                "--workflow",
                &self.workflow,
                "--payload",
            ])
            .arg(&self.payload)
            .args(["--cluster", &cluster.address()])
            .stdout(std::fs::File::create(files.join("stdout")).expect("stdout file"))
            .stderr(std::fs::File::create(files.join("stderr")).expect("stderr file"))
            .spawn()
            .expect("start flowlake query")
    }
}
