//! The output folder of a batch: one run at a time (a lock file), results written under a
//! temporary name and renamed when complete, leftovers of killed runs removed.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::{Error, Result};

/// The suffix of results being written; such files never carry a final name.
const PARTIAL_SUFFIX: &str = ".partial";
const LOCK_FILE: &str = ".flowlake-batch.lock";

/// An output folder held by this process for the length of a run.
#[derive(Debug)]
pub struct OutputDir {
    path: PathBuf,
    /// Held open while the run lasts; the OS releases the lock when the process dies.
    _lock: File,
}

/// Refuses an output folder that would mix results with the query files: the same folder,
/// or one inside the other (results could overwrite queries, or be read as queries by the
/// next run). `queries` may be a folder or one NDJSON file.
pub fn refuse_overlap(queries: &Path, out: &Path) -> Result<(), Error> {
    let queries = resolved(queries);
    let out = resolved(out);
    let queries_folder = if queries.is_file() {
        queries.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        queries.clone()
    };
    if out == queries_folder
        || out.starts_with(&queries_folder) && !queries.is_file()
        || queries.starts_with(&out)
    {
        return Err(Error::Usage {
            message: format!(
                "the results folder {} and the queries {} overlap: results would be written among the queries; choose a separate folder",
                out.display(),
                queries.display()
            ),
        });
    }
    Ok(())
}

/// The absolute path with links, `.` and `..` resolved, for the part that exists.
fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return rest
                .iter()
                .rev()
                .fold(real, |path: PathBuf, part| path.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

impl OutputDir {
    /// Creates the folder if needed, takes its lock, and removes partial results that a
    /// killed run left behind.
    pub fn open(path: &Path) -> Result<OutputDir, Error> {
        std::fs::create_dir_all(path)
            .map_err(|e| Error::io(format!("creating the output folder {}", path.display()), e))?;
        let lock_path = path.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(format!("opening {}", lock_path.display()), e))?;
        lock.try_lock().map_err(|_| Error::Usage {
            message: format!("another flowlake batch is writing to {}", path.display()),
        })?;
        let entries = std::fs::read_dir(path)
            .map_err(|e| Error::io(format!("reading the output folder {}", path.display()), e))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(PARTIAL_SUFFIX) {
                std::fs::remove_file(entry.path())
                    .map_err(|e| Error::io(format!("removing the partial result {name}"), e))?;
            }
        }
        Ok(OutputDir {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The final path of a result file.
    pub fn final_path(&self, file_name: &str) -> PathBuf {
        self.path.join(file_name)
    }

    /// Starts writing `file_name` under a temporary name of its own (`.NAME.XXXXXX.partial`,
    /// which a later run removes if this one is killed).
    pub fn create(&self, file_name: &str) -> Result<PendingFile> {
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{file_name}."))
            .suffix(PARTIAL_SUFFIX)
            .tempfile_in(&self.path)
            .map_err(|e| Error::io(format!("creating a partial {file_name}"), e))?;
        Ok(PendingFile {
            target: self.final_path(file_name),
            writer: BufWriter::with_capacity(1 << 18, temp),
        })
    }
}

/// A result being written. [`PendingFile::commit`] makes it durable and gives it its final
/// name in one rename; dropped without a commit (an error, a cancelled task), its temporary
/// file is removed.
#[derive(Debug)]
pub struct PendingFile {
    target: PathBuf,
    writer: BufWriter<NamedTempFile>,
}

impl PendingFile {
    /// Where the bytes go.
    pub fn writer(&mut self) -> &mut BufWriter<NamedTempFile> {
        &mut self.writer
    }

    /// Flushes, syncs and renames to the final name; returns the file's size.
    pub fn commit(self) -> Result<u64> {
        let target = self.target.display().to_string();
        let temp = self
            .writer
            .into_inner()
            .map_err(|e| Error::io(format!("writing {target}"), e.into_error()))?;
        temp.as_file()
            .sync_all()
            .map_err(|e| Error::io(format!("syncing {target}"), e))?;
        let bytes = temp
            .as_file()
            .metadata()
            .map_err(|e| Error::io(format!("reading the size of {target}"), e))?
            .len();
        temp.persist(&self.target)
            .map_err(|e| Error::io(format!("renaming the partial {target}"), e.error))?;
        Ok(bytes)
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomically(dir: &OutputDir, file_name: &str, bytes: &[u8]) -> Result<()> {
    let mut pending = dir.create(file_name)?;
    pending
        .writer()
        .write_all(bytes)
        .map_err(|e| Error::internal(format!("writing {file_name}: {e}")))?;
    pending.commit().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_result_has_its_final_name_only_once_committed() {
        let root = tempfile::tempdir().unwrap();
        let dir = OutputDir::open(root.path()).unwrap();
        let mut pending = dir.create("a.json").unwrap();
        pending.writer().write_all(b"{}").unwrap();
        assert!(!dir.final_path("a.json").exists());
        assert_eq!(pending.commit().unwrap(), 2);
        assert_eq!(std::fs::read(dir.final_path("a.json")).unwrap(), b"{}");

        let mut abandoned = dir.create("b.json").unwrap();
        abandoned.writer().write_all(b"[1,").unwrap();
        drop(abandoned);
        assert_eq!(names(root.path()), [".flowlake-batch.lock", "a.json"]);
    }

    #[test]
    fn output_folders_that_overlap_the_queries_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let queries = root.path().join("queries");
        std::fs::create_dir(&queries).unwrap();
        std::fs::write(root.path().join("q.ndjson"), b"").unwrap();
        assert!(
            refuse_overlap(&queries, &queries).is_err(),
            "the same folder"
        );
        assert!(
            refuse_overlap(&queries, &queries.join("./out/../out")).is_err(),
            "out inside queries"
        );
        assert!(
            refuse_overlap(&queries, root.path()).is_err(),
            "queries inside out"
        );
        assert!(
            refuse_overlap(&root.path().join("q.ndjson"), root.path()).is_err(),
            "the NDJSON file inside out"
        );
        assert!(refuse_overlap(&queries, &root.path().join("results")).is_ok());
        assert!(
            refuse_overlap(&root.path().join("q.ndjson"), &root.path().join("results")).is_ok()
        );
    }

    #[test]
    fn leftovers_of_a_killed_run_are_removed_and_the_folder_is_exclusive() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join(".x.json.partial"), b"[").unwrap();
        std::fs::write(root.path().join("keep.json"), b"{}").unwrap();
        let dir = OutputDir::open(root.path()).unwrap();
        assert_eq!(names(root.path()), [".flowlake-batch.lock", "keep.json"]);
        let second = OutputDir::open(root.path()).expect_err("locked");
        assert!(
            second.to_string().contains("another flowlake batch"),
            "{second}"
        );
        drop(dir);
        OutputDir::open(root.path()).expect("the lock is released with the first");
    }
}
