//! `generate` writes a lake straight to a bucket.

use super::*;

#[test]
fn generate_writes_a_lake_straight_to_a_bucket() {
    let server = S3Server::start();
    let local = tempfile::tempdir().unwrap();
    let common = [
        "--orgs",
        "1",
        "--days",
        "2",
        "--events-per-day",
        "300",
        "--seed",
        "5",
    ];
    let out = flowlake(
        &server,
        &[
            &["generate", "--out", "s3://lake/generated"][..],
            &common[..],
        ]
        .concat(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_flowlake"))
        .args(["generate", "--out"])
        .arg(local.path())
        .args(common)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_same_tree(local.path(), &server.bucket_dir().join("generated"));
}

/// The same files with the same bytes under both folders.
fn assert_same_tree(expected: &Path, actual: &Path) {
    let mut count = 0;
    for entry in std::fs::read_dir(expected).unwrap() {
        let entry = entry.unwrap();
        let other = actual.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            assert_same_tree(&entry.path(), &other);
        } else {
            assert!(
                std::fs::read(entry.path()).unwrap() == std::fs::read(&other).unwrap_or_default(),
                "{} differs",
                other.display()
            );
        }
        count += 1;
    }
    assert_eq!(
        count,
        std::fs::read_dir(actual).unwrap().count(),
        "{}",
        actual.display()
    );
}
