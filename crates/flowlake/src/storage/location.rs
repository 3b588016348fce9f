//! Where a lake lives: a local folder or an `s3://bucket/prefix` URL.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// A lake root, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeLocation {
    /// A folder on local disk (absolute once resolved).
    Local(PathBuf),
    /// A bucket and a key prefix (without leading or trailing `/`).
    S3 { bucket: String, prefix: String },
}

impl LakeLocation {
    /// Refuses a local folder that does not exist or is not a folder (a mistyped path,
    /// for readers and writers of an existing lake) as a usage error naming it as `named`
    /// (the face's flag or argument); an S3 location is never refused here.
    pub fn check_folder(&self, named: &str) -> Result<()> {
        let LakeLocation::Local(folder) = self else {
            return Ok(());
        };
        if folder.is_dir() {
            return Ok(());
        }
        let what = if folder.exists() {
            "is not a folder"
        } else {
            "does not exist"
        };
        Err(Error::Usage {
            message: format!("{named} {}: the lake folder {what}", folder.display()),
        })
    }

    /// Parses `s3://bucket/prefix` or a local path (made absolute, with `.` and `..` resolved;
    /// it need not exist yet, so that `generate` can create it).
    pub fn parse(text: &str) -> Result<LakeLocation> {
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::bad_request(format!(
                    "lake URL '{text}' has no bucket"
                )));
            }
            return Ok(LakeLocation::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        if text.contains("://") {
            return Err(Error::bad_request(format!(
                "lake '{text}': only local folders and s3:// URLs are supported"
            )));
        }
        let path = PathBuf::from(text);
        let absolute = if path.is_absolute() {
            path
        } else {
            std::env::current_dir()
                .map_err(|e| Error::internal(format!("current directory: {e}")))?
                .join(path)
        };
        Ok(LakeLocation::Local(normalize(&absolute)))
    }
}

/// The path with `.` and `..` resolved: through the file system where it exists (so that
/// `link/..` means what the shell means), lexically where it does not yet.
fn normalize(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    let mut clean = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other.as_os_str()),
        }
    }
    clean
}

impl fmt::Display for LakeLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LakeLocation::Local(path) => write!(f, "{}", path.display()),
            LakeLocation::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            LakeLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_split_bucket_and_prefix() {
        assert_eq!(
            LakeLocation::parse("s3://lake/events/2026/").unwrap(),
            LakeLocation::S3 {
                bucket: "lake".into(),
                prefix: "events/2026".into()
            }
        );
        assert_eq!(
            LakeLocation::parse("s3://lake").unwrap().to_string(),
            "s3://lake"
        );
        assert!(LakeLocation::parse("s3:///x").is_err());
        assert!(LakeLocation::parse("gs://lake").is_err());
    }

    #[test]
    fn dot_and_dot_dot_are_resolved() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("l1")).unwrap();
        let real = std::fs::canonicalize(dir.path().join("l1")).unwrap();
        let spelled = format!("{}/./l1/../l1", dir.path().display());
        assert_eq!(
            LakeLocation::parse(&spelled).unwrap(),
            LakeLocation::Local(real.clone())
        );
        let missing = format!("{}/./new/../new2", real.display());
        assert_eq!(
            LakeLocation::parse(&missing).unwrap(),
            LakeLocation::Local(real.join("new2"))
        );
    }

    #[test]
    fn local_paths_become_absolute() {
        match LakeLocation::parse("data").unwrap() {
            LakeLocation::Local(p) => assert!(p.is_absolute() && p.ends_with("data")),
            other => panic!("{other:?}"),
        }
    }
}
