//! Rejects files, compressed inputs and folders, a lake that is a file, and `compact`'s range.

use super::*;

#[test]
fn a_run_with_rejects_that_fails_leaves_no_partial_rejects_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("typed.parquet");
    // `value` as strings: the whole input is refused, rejects or not.
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("organization_id", Arc::new(StringArray::from(vec![ORG]))),
        ("value", Arc::new(StringArray::from(vec!["2.5"]))),
    ];
    let schema = Schema::new(
        columns
            .iter()
            .map(|(n, _)| Field::new(*n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    );
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(&input).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let lake = TestLake::new();
    let out = ingest(
        lake.root(),
        &[&input],
        &[
            "--rejects",
            out_dir.path().join("rejects.ndjson").to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(message(&out).contains("'value'"), "{}", message(&out));
    assert_eq!(
        names(out_dir.path()),
        Vec::<String>::new(),
        "no rejects file, whole or partial"
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn compressed_inputs_are_read_and_a_folder_says_what_it_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("exports");
    std::fs::create_dir_all(folder.join("nested")).unwrap();
    let rows = |prefix: &str, count: usize| -> Vec<Value> {
        (0..count).map(|i| good(&format!("{prefix}-{i}"))).collect()
    };
    // Two gzip members, as `cat a.gz b.gz` makes.
    let (first, second) = (ndjson(&rows("gz", 3)), ndjson(&rows("gz2", 2)));
    std::fs::write(
        folder.join("a.ndjson.gz"),
        [gzip(first.as_bytes()), gzip(second.as_bytes())].concat(),
    )
    .unwrap();
    let mut csv = CSV_HEADER.to_string();
    for i in 0..4 {
        csv.push_str(&csv_line(
            &format!("zst-{i}"),
            "2026-03-01T10:00:00Z",
            "1",
            "",
            "",
        ));
    }
    std::fs::write(
        folder.join("nested/b.csv.zst"),
        zstd::encode_all(csv.as_bytes(), 3).unwrap(),
    )
    .unwrap();
    std::fs::write(
        folder.join("c.JSONL.zstd"),
        zstd::encode_all(ndjson(&rows("jsonl", 2)).as_bytes(), 1).unwrap(),
    )
    .unwrap();
    std::fs::write(folder.join("d.txt"), "notes").unwrap();
    std::fs::write(folder.join("e.bin"), [0u8, 1, 2]).unwrap();
    std::fs::write(folder.join(".hidden.ndjson"), "not read").unwrap();

    let lake = TestLake::new();
    let out = ingest(lake.root(), &[&folder], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(counts(&out), (11, 11, 0, 0));
    assert!(
        stdout(&out).contains("skipped 2 files: d.txt, e.bin"),
        "{}",
        stdout(&out)
    );

    // Compressed stdin, its format given.
    let mut child = flowlake()
        .args(["ingest", "--format", "csv", "--lake"])
        .arg(lake.root())
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin_csv = CSV_HEADER.to_string();
    stdin_csv.push_str(&csv_line("stdin-0", "2026-03-01T10:00:00Z", "1", "", ""));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&gzip(stdin_csv.as_bytes()))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(counts(&out), (1, 1, 0, 0));

    let ids = crate::lake_writers::total_ids(lake.root());
    assert_eq!(ids.len(), 12);

    // A truncated stream refuses its input, naming it.
    let broken = dir.path().join("broken.ndjson.gz");
    let whole = gzip(ndjson(&rows("cut", 50)).as_bytes());
    std::fs::write(&broken, &whole[..whole.len() / 2]).unwrap();
    let out = ingest(lake.root(), &[&broken], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(
        message(&out).contains("broken.ndjson.gz"),
        "{}",
        message(&out)
    );
}

#[test]
fn a_lake_that_is_a_regular_file_is_not_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lake.txt");
    std::fs::write(&file, "not a lake").unwrap();
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, ndjson(&[good("a")])).unwrap();
    for out in [
        ingest(&file, &[&input], &[]),
        flowlake()
            .args(["compact", "--lake"])
            .arg(&file)
            .output()
            .unwrap(),
    ] {
        assert_eq!(out.status.code(), Some(2));
        assert!(
            message(&out).contains("is not a folder"),
            "{}",
            message(&out)
        );
    }
    let missing = ingest(&dir.path().join("nowhere"), &[&input], &[]);
    assert!(
        message(&missing).contains("does not exist"),
        "{}",
        message(&missing)
    );
}

#[test]
fn compact_from_after_to_is_a_usage_error() {
    let lake = TestLake::new();
    let out = flowlake()
        .args([
            "compact",
            "--from",
            "2026-03-05",
            "--to",
            "2026-03-01",
            "--lake",
        ])
        .arg(lake.root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert_eq!(message(&out), "--from 2026-03-05 is after --to 2026-03-01");
    let same_day = flowlake()
        .args([
            "compact",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-01",
            "--lake",
        ])
        .arg(lake.root())
        .output()
        .unwrap();
    assert_eq!(
        same_day.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same_day.stderr)
    );
}
