//! The rejects file of `ingest --rejects`.

use std::io::Write;
use std::path::PathBuf;

use super::decode::Refused;
use crate::error::{Error, Result};

/// The rejects file: one JSON object per refused row, written under a temporary name in
/// its folder and renamed when the run completes; a run that fails removes it (on drop).
pub struct Rejects {
    target: PathBuf,
    file: std::io::BufWriter<tempfile::NamedTempFile>,
}

impl Rejects {
    pub fn create(path: &std::path::Path) -> Result<Rejects> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "rejects".into());
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let prefix = format!(".{name}.");
        let mut temp = tempfile::Builder::new();
        temp.prefix(&prefix).suffix(".partial");
        // The mode a plain create gives (the umask applies), not a temporary file's 0600.
        #[cfg(unix)]
        temp.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let file = temp.tempfile_in(folder).map_err(|e| Error::Usage {
            message: format!("--rejects {}: {e}", path.display()),
        })?;
        Ok(Rejects {
            target: path.to_path_buf(),
            file: std::io::BufWriter::new(file),
        })
    }

    pub fn write(&mut self, input: &str, refused: &Refused) -> Result<()> {
        let line = serde_json::json!({"input": input, "position": refused.position,
            "reason": refused.refusal.to_string(), "record": refused.record});
        writeln!(self.file, "{line}").map_err(|e| {
            Error::internal(format!(
                "writing {}: {e}",
                self.file.get_ref().path().display()
            ))
        })
    }

    pub fn finish(self) -> Result<()> {
        let temp = self.file.get_ref().path().display().to_string();
        let file = self
            .file
            .into_inner()
            .map_err(|e| Error::internal(format!("writing {temp}: {}", e.error())))?;
        file.persist(&self.target).map_err(|e| {
            Error::internal(format!("writing {}: {}", self.target.display(), e.error))
        })?;
        Ok(())
    }
}
