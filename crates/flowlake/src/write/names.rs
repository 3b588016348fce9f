//! The names of the files flowlake writes into day folders. Every file gets a name no
//! other writer can choose (a fresh UUID), so a writer that loses a race deletes only what
//! it wrote itself, and garbage collection can tell flowlake's files from other tools'.

use object_store::ObjectMeta;
use uuid::Uuid;

/// The name prefix of files `ingest` writes.
pub const INGEST_PREFIX: &str = "ingest-";

/// The name prefix of files `compact` writes: a day whose manifest names one such file
/// and nothing else is already compact.
pub const COMPACT_PREFIX: &str = "compact-";

/// A fresh name for a file of `prefix`: `<prefix><32 hex digits>.parquet`.
pub fn fresh_name(prefix: &str) -> String {
    format!("{prefix}{}.parquet", Uuid::new_v4().simple())
}

/// Whether flowlake wrote a file of this name (ingest or compact output, any version).
pub fn is_flowlake_file(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".parquet") else {
        return false;
    };
    [INGEST_PREFIX, COMPACT_PREFIX].iter().any(|prefix| {
        stem.strip_prefix(prefix).is_some_and(|id| {
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        })
    })
}

/// The name of a visible Parquet file of a day folder (not a manifest, not in flight).
pub fn event_file_name(meta: &ObjectMeta) -> Option<String> {
    crate::format::paths::is_event_file(&meta.location)
        .then(|| meta.location.filename().map(str::to_string))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_names_are_flowlake_files_and_others_are_not() {
        let a = fresh_name(INGEST_PREFIX);
        assert_ne!(a, fresh_name(INGEST_PREFIX));
        assert!(is_flowlake_file(&a) && is_flowlake_file(&fresh_name(COMPACT_PREFIX)));
        // Names of earlier versions (content hashes) are flowlake's too.
        assert!(is_flowlake_file("compact-0123456789abcdef01234567.parquet"));
        for other in [
            "part-00000.parquet",
            "ingest-.parquet",
            "compact-x.parquet",
            "ingest-abc.parquet.tmp",
            "data.parquet",
        ] {
            assert!(!is_flowlake_file(other), "{other}");
        }
    }
}
