//! Query files of a batch: one JSON file per query in a folder, or one NDJSON file with a
//! query per line. Each is `{"name"?, "organization_id", "workflow_id", "payload"}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// One query of a batch: its name (which names its output file) and its request, or why
/// the query file itself could not be read (recorded as that query's failure).
#[derive(Debug)]
pub struct BatchQuery {
    pub name: String,
    /// Where it came from: a file, or a file and line.
    pub source: String,
    pub request: Result<Request>,
}

/// The request of a query file: the URL attributes and the payload bytes.
#[derive(Debug, Clone)]
pub struct Request {
    pub organization_id: String,
    pub workflow_id: String,
    pub payload: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryFile {
    name: Option<String>,
    organization_id: String,
    workflow_id: String,
    payload: serde_json::Value,
}

/// Reads the queries of `path`: every `*.json` file of a folder (in file-name order; names
/// default to the file stem), or the lines of an NDJSON file (names default to `line-N`).
/// Fails only when `path` cannot be read or two queries share a name: a malformed query
/// file is that query's own failure.
pub fn load(path: &Path) -> Result<Vec<BatchQuery>, Error> {
    let queries = if path.is_dir() {
        load_folder(path)?
    } else {
        load_ndjson(path)?
    };
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for query in &queries {
        if let Some(first) = seen.insert(&query.name, &query.source) {
            return Err(usage(format!(
                "two queries are named '{}' ({first} and {}); names must be unique, they name the output files",
                query.name, query.source
            )));
        }
    }
    Ok(queries)
}

fn load_folder(folder: &Path) -> Result<Vec<BatchQuery>, Error> {
    let entries = std::fs::read_dir(folder).map_err(|e| {
        usage(format!(
            "reading the query folder {}: {e}",
            folder.display()
        ))
    })?;
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            usage(format!(
                "reading the query folder {}: {e}",
                folder.display()
            ))
        })?;
        let path = entry.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        // A link counts whatever it points to (a dangling one is that query's failure),
        // unless it points to a folder.
        let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
        let is_query_file = if is_link {
            !path.is_dir()
        } else {
            path.is_file()
        };
        if is_query_file && name.ends_with(".json") && !name.starts_with('.') {
            files.push(path);
        }
    }
    files.sort();
    Ok(files
        .into_iter()
        .map(|path| {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("query")
                .to_string();
            let source = path.display().to_string();
            match std::fs::read(&path) {
                Ok(bytes) => parse(&bytes, stem, source),
                Err(e) => {
                    let why = match std::fs::read_link(&path) {
                        Ok(target) if !path.exists() => format!(
                            "a symbolic link to {}, which does not exist",
                            target.display()
                        ),
                        _ => e.to_string(),
                    };
                    BatchQuery {
                        name: stem,
                        request: Err(Error::bad_request(format!("reading {source}: {why}"))),
                        source,
                    }
                }
            }
        })
        .collect())
}

fn load_ndjson(file: &Path) -> Result<Vec<BatchQuery>, Error> {
    let text = std::fs::read(file)
        .map_err(|e| usage(format!("reading the query file {}: {e}", file.display())))?;
    Ok(text
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(index, line)| {
            parse(
                line,
                format!("line-{}", index + 1),
                format!("{}:{}", file.display(), index + 1),
            )
        })
        .collect())
}

/// Parses one query; `default_name` is used when it has no `name`.
fn parse(bytes: &[u8], default_name: String, source: String) -> BatchQuery {
    let file: QueryFile = match serde_json::from_slice(bytes) {
        Ok(file) => file,
        Err(e) => {
            let request = Err(Error::bad_request(format!("query file {source}: {e}")));
            return BatchQuery {
                name: default_name,
                source,
                request,
            };
        }
    };
    let name = file.name.unwrap_or(default_name);
    let request = check_name(&name).and_then(|()| {
        let payload =
            serde_json::to_vec(&file.payload).map_err(|e| Error::internal(e.to_string()))?;
        Ok(Request {
            organization_id: file.organization_id,
            workflow_id: file.workflow_id,
            payload,
        })
    });
    BatchQuery {
        name,
        source,
        request,
    }
}

/// A name becomes a file name: letters, digits, `.`, `_`, `-`, not starting with `.`, and
/// not the run's own summary (in any case, for case-insensitive file systems).
fn check_name(name: &str) -> Result<()> {
    if name.eq_ignore_ascii_case(super::SUMMARY_NAME) {
        return Err(Error::bad_request(format!(
            "query name '{name}' is reserved: the run writes its {}.json there; name the query otherwise",
            super::SUMMARY_NAME
        )));
    }
    let valid = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "query name '{name}' must be 1–200 letters, digits, '.', '_' or '-', not starting with '.'"
        )))
    }
}

/// A query source that cannot be used as given: a usage error of the batch run.
fn usage(message: String) -> Error {
    Error::Usage { message }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "3f0c4c3e-7f1a-4d55-9a39-6d5b8a0e9b11";

    #[test]
    fn a_query_file_gives_its_request_and_name() {
        let text = format!(
            r#"{{"name": "q-1", "organization_id": "{ORG}", "workflow_id": "w", "payload": {{"filters": []}}}}"#
        );
        let query = parse(text.as_bytes(), "stem".into(), "f".into());
        assert_eq!(query.name, "q-1");
        let request = query.request.expect("valid");
        assert_eq!(request.organization_id, ORG);
        assert_eq!(request.payload, br#"{"filters":[]}"#);
    }

    #[test]
    fn malformed_query_files_are_that_query_failing() {
        for text in [
            r#"{"organization_id": 1, "workflow_id": "w", "payload": {}}"#,
            "{",
            r#"{"workflow_id": "w", "payload": {}}"#,
        ] {
            let query = parse(text.as_bytes(), "stem".into(), "f".into());
            assert_eq!(query.name, "stem");
            assert_eq!(query.request.expect_err(text).status(), 400);
        }
    }

    #[test]
    fn names_that_are_not_file_names_are_refused() {
        for name in ["../x", ".hidden", "a b", "", "é"] {
            assert!(check_name(name).is_err(), "{name}");
        }
        assert!(check_name("daily_2026-03-01.v2").is_ok());
        for reserved in ["summary", "Summary", "SUMMARY"] {
            assert!(
                check_name(reserved)
                    .unwrap_err()
                    .to_string()
                    .contains("reserved"),
                "{reserved}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_dangling_link_is_a_query_that_fails_not_one_left_out() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(dir.path().join("gone.json"), dir.path().join("q.json"))
            .unwrap();
        std::fs::create_dir(dir.path().join("sub.json")).unwrap();
        let queries = load(dir.path()).expect("loads");
        assert_eq!(queries.len(), 1, "the folder named .json is no query");
        assert_eq!(queries[0].name, "q");
        let error = queries[0].request.as_ref().expect_err("dangling");
        assert!(
            error.to_string().contains("symbolic link") && error.to_string().contains("gone.json"),
            "{error}"
        );
    }

    #[test]
    fn duplicate_names_refuse_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("q.ndjson");
        let line = format!(
            r#"{{"name": "same", "organization_id": "{ORG}", "workflow_id": "w", "payload": {{}}}}"#
        );
        std::fs::write(&file, format!("{line}\n\n{line}\n")).unwrap();
        let error = load(&file).expect_err("duplicate");
        assert!(
            error.to_string().contains("'same'") && error.to_string().contains(":3"),
            "{error}"
        );
    }
}
