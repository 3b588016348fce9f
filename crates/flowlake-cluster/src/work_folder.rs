//! An executor's own folder: job files (shuffle data, results) and spills, emptied at start
//! and on a clean exit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use flowlake::error::Error;

/// The executor's folder: job files in `jobs/` (Ballista's work folder), spills in `spill/`.
pub(crate) struct WorkFolder {
    pub(crate) root: PathBuf,
    /// The default folder, removed when dropped.
    temporary: Option<tempfile::TempDir>,
}

/// The subfolders an executor keeps in its work folder.
pub(crate) const JOBS: &str = "jobs";
pub(crate) const SPILL: &str = "spill";

impl WorkFolder {
    /// `--work-dir`, or a new temporary folder. A given folder must be empty or hold only
    /// what an executor keeps there: it is emptied, so it must be the executor's alone.
    pub(crate) fn open(given: Option<&Path>) -> Result<WorkFolder, Error> {
        let folder = match given {
            Some(dir) => {
                let usage = |why: String| Error::Usage {
                    message: format!("--work-dir {}: {why}", dir.display()),
                };
                std::fs::create_dir_all(dir).map_err(|e| usage(e.to_string()))?;
                let foreign: Vec<String> = std::fs::read_dir(dir)
                    .map_err(|e| usage(e.to_string()))?
                    .filter_map(|entry| {
                        entry
                            .ok()
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                    })
                    .filter(|name| name != JOBS && name != SPILL)
                    .collect();
                if !foreign.is_empty() {
                    return Err(usage(format!(
                        "holds {} that an executor did not put there (e.g. '{}'); give an empty folder for the executor alone (its content is removed)",
                        if foreign.len() == 1 {
                            "a file".to_string()
                        } else {
                            format!("{} files", foreign.len())
                        },
                        foreign[0]
                    )));
                }
                dir.to_str()
                    .ok_or_else(|| usage("not valid UTF-8".into()))?;
                WorkFolder {
                    root: dir.to_path_buf(),
                    temporary: None,
                }
            }
            None => {
                let temporary = tempfile::Builder::new()
                    .prefix("flowlake-executor-")
                    .tempdir()
                    .map_err(|e| {
                        Error::internal(format!(
                            "creating the executor's temporary work folder: {e}"
                        ))
                    })?;
                WorkFolder {
                    root: temporary.path().to_path_buf(),
                    temporary: Some(temporary),
                }
            }
        };
        let left = folder.empty()?;
        if left > 0 {
            tracing::info!(
                "removed {left} job and spill folder(s) left in {} by an earlier run",
                folder.root.display()
            );
        }
        for sub in [JOBS, SPILL] {
            std::fs::create_dir_all(folder.root.join(sub)).map_err(|e| {
                Error::internal(format!("creating {}: {e}", folder.root.join(sub).display()))
            })?;
        }
        Ok(folder)
    }

    pub(crate) fn jobs(&self) -> String {
        self.root.join(JOBS).to_string_lossy().into_owned()
    }

    pub(crate) fn spill(&self) -> PathBuf {
        self.root.join(SPILL)
    }

    /// Removes everything in `jobs/` and `spill/`; returns how many entries were there.
    pub(crate) fn empty(&self) -> Result<usize, Error> {
        let mut removed = 0;
        for sub in [JOBS, SPILL] {
            let Ok(entries) = std::fs::read_dir(self.root.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let gone = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                gone.map_err(|e| Error::internal(format!("removing {}: {e}", path.display())))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// A clean exit: the temporary folder goes; a given one is left empty.
    pub(crate) fn close(self) {
        match self.temporary {
            Some(temporary) => {
                let root = self.root.clone();
                if let Err(e) = temporary.close() {
                    tracing::warn!("removing the work folder {}: {e}", root.display());
                }
            }
            None => {
                // Tasks and spill files of the stopped executor may still be going away
                // on other threads: a few tries.
                for _ in 0..20 {
                    let left: Vec<PathBuf> = [JOBS, SPILL]
                        .iter()
                        .map(|sub| self.root.join(sub))
                        .filter(|p| p.exists())
                        .collect();
                    if left.is_empty() {
                        return;
                    }
                    for path in left {
                        let _ = std::fs::remove_dir_all(path);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                tracing::warn!("could not empty the work folder {}", self.root.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_work_folder_is_the_executors_alone_and_emptied_at_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("w/jobs/old-job/1")).unwrap();
        std::fs::write(dir.path().join("w/jobs/old-job/1/data.arrow"), b"x").unwrap();
        let folder = WorkFolder::open(Some(&dir.path().join("w"))).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join("w/jobs"))
                .unwrap()
                .count(),
            0,
            "left by an earlier run"
        );
        folder.close();
        assert_eq!(
            std::fs::read_dir(dir.path().join("w")).unwrap().count(),
            0,
            "a clean exit leaves it empty"
        );

        let shared = dir.path().join("shared");
        std::fs::create_dir_all(shared.join("jobs")).unwrap();
        std::fs::write(shared.join("notes.txt"), b"mine").unwrap();
        let refused = WorkFolder::open(Some(&shared)).err().unwrap();
        assert!(refused.to_string().contains("notes.txt"), "{refused}");
        assert!(shared.join("notes.txt").exists());
    }
}
