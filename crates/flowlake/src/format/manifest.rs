//! The day manifest of SPEC §1: `_manifest.json` in a day folder names exactly the files
//! that hold the day's events. It is only ever replaced whole, compare-and-swap: a
//! conditional PUT on object stores, an exclusive lock and an atomic rename on local disk.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Cause, Error, Result};

/// The file name of a day manifest.
pub const MANIFEST_FILE: &str = "_manifest.json";

/// The only manifest version this engine reads and writes.
pub const MANIFEST_VERSION: u32 = 1;

/// A day's manifest. Unknown keys make it invalid (SPEC §8 rule 4): a writer that does not
/// understand a manifest must not rewrite it, and a reader must not guess what it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: u32,
    /// The files (names inside the day folder) that are the day's events.
    pub files: Vec<String>,
    /// Files taken out of `files` by a rewrite (or condemned by garbage collection), and
    /// when: they are deleted once no query can still be reading them, and never named again.
    #[serde(default)]
    pub replaced: Vec<Replaced>,
}

/// A file taken out of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replaced {
    pub file: String,
    #[serde(with = "rfc3339")]
    pub at: DateTime<Utc>,
}

/// `at` as RFC 3339 UTC text (chrono's own serde support would rebuild arrow with it).
mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

impl Manifest {
    /// A manifest whose files are `files`, sorted (so that equal days give equal bytes).
    pub fn new(mut files: Vec<String>) -> Manifest {
        files.sort();
        files.dedup();
        Manifest {
            version: MANIFEST_VERSION,
            files,
            replaced: Vec::new(),
        }
    }

    /// Parses a manifest; `shown` names it in errors (a broken manifest is a broken day).
    pub fn parse(bytes: &[u8], shown: &str) -> Result<Manifest> {
        // The version first: a later version's new fields are then named as such.
        let version = serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| v.get("version").and_then(serde_json::Value::as_u64));
        if let Some(version) = version.filter(|v| *v != u64::from(MANIFEST_VERSION)) {
            return Err(Error::Data {
                message: format!(
                    "day manifest {shown}: version {version} is not supported (this flowlake reads version {MANIFEST_VERSION})"
                ),
                source: None,
            });
        }
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| Error::Data {
            message: format!("day manifest {shown} is invalid: {e}"),
            source: Cause::of(e),
        })?;
        let mut names: Vec<&String> = manifest.files.iter().collect();
        names.sort();
        if let Some(twice) = names.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(Error::Data {
                message: format!(
                    "day manifest {shown} is invalid: it names {} twice",
                    twice[0]
                ),
                source: None,
            });
        }
        if manifest.version != MANIFEST_VERSION {
            return Err(Error::Data {
                message: format!(
                    "day manifest {shown}: version {} is not supported (this flowlake reads version {MANIFEST_VERSION})",
                    manifest.version
                ),
                source: None,
            });
        }
        if let Some(bad) = manifest
            .files
            .iter()
            .find(|f| f.contains('/') || !f.ends_with(".parquet"))
        {
            return Err(Error::Data {
                message: format!(
                    "day manifest {shown}: '{bad}' is not a Parquet file of the day folder"
                ),
                source: None,
            });
        }
        Ok(manifest)
    }

    /// The manifest as written: pretty JSON with a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Whether a file of this name is, or ever was, part of the day.
    pub fn knows(&self, file: &str) -> bool {
        self.files.iter().any(|f| f == file) || self.replaced.iter().any(|r| r.file == file)
    }

    /// Adds files (already in the folder) to the day.
    pub fn add(&mut self, files: impl IntoIterator<Item = String>) {
        self.files.extend(files);
        self.files.sort();
        self.files.dedup();
    }

    /// Takes `old` out of the day and puts `new` in, recording when.
    pub fn replace(
        &mut self,
        old: &[String],
        new: impl IntoIterator<Item = String>,
        at: DateTime<Utc>,
    ) {
        self.files.retain(|f| !old.contains(f));
        for file in old {
            if !self.replaced.iter().any(|r| &r.file == file) {
                self.replaced.push(Replaced {
                    file: file.clone(),
                    at,
                });
            }
        }
        self.add(new);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_shape_round_trips_and_is_checked() {
        let text = br#"{"version": 1, "files": ["b.parquet", "a.parquet"], "replaced": [{"file": "old.parquet", "at": "2026-03-01T10:00:00Z"}]}"#;
        let manifest = Manifest::parse(text, "m").unwrap();
        assert_eq!(manifest.files, ["b.parquet", "a.parquet"]);
        assert!(
            manifest.knows("old.parquet")
                && manifest.knows("a.parquet")
                && !manifest.knows("c.parquet")
        );
        assert_eq!(
            Manifest::parse(&manifest.to_bytes(), "m").unwrap(),
            manifest
        );
        assert!(
            Manifest::parse(br#"{"version": 2, "files": []}"#, "m")
                .unwrap_err()
                .to_string()
                .contains("version 2")
        );
        assert!(Manifest::parse(br#"{"version": 1, "files": ["../x.parquet"]}"#, "m").is_err());
        assert!(Manifest::parse(br#"{"version": 1}"#, "m").is_err());
    }

    #[test]
    fn a_name_twice_or_an_unknown_field_makes_a_manifest_invalid() {
        let twice = Manifest::parse(
            br#"{"version": 1, "files": ["a.parquet", "b.parquet", "a.parquet"]}"#,
            "day/_manifest.json",
        )
        .unwrap_err()
        .to_string();
        assert!(
            twice.contains("day/_manifest.json") && twice.contains("a.parquet twice"),
            "{twice}"
        );
        let unknown = Manifest::parse(br#"{"version": 1, "files": [], "pending": []}"#, "m")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("pending"), "{unknown}");
        let replaced = Manifest::parse(br#"{"version": 1, "files": [], "replaced": [{"file": "a.parquet", "at": "2026-03-01T10:00:00Z", "by": "x"}]}"#, "m");
        assert!(replaced.is_err());
        let later = Manifest::parse(br#"{"version": 2, "files": [], "pending": []}"#, "m")
            .unwrap_err()
            .to_string();
        assert!(later.contains("version 2"), "{later}");
    }

    #[test]
    fn replacing_records_what_was_taken_out() {
        let mut manifest = Manifest::new(vec![
            "a.parquet".into(),
            "b.parquet".into(),
            "c.parquet".into(),
        ]);
        let at = "2026-03-01T10:00:00Z".parse().unwrap();
        manifest.replace(
            &["a.parquet".into(), "b.parquet".into()],
            ["ab.parquet".to_string()],
            at,
        );
        assert_eq!(manifest.files, ["ab.parquet", "c.parquet"]);
        assert_eq!(
            manifest
                .replaced
                .iter()
                .map(|r| r.file.as_str())
                .collect::<Vec<_>>(),
            ["a.parquet", "b.parquet"]
        );
    }
}
