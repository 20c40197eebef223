//! The SQLite file, watched: the store keeps its own handle on the file it opened and compares
//! that file's identity (device and inode) with whatever the path names now. A deleted or
//! replaced file means the process is working on data nobody will read again: readiness fails and
//! writes are refused ([`StoreError::DatabaseLost`]).

use crate::StoreError;
use std::fs::File;
use std::path::{Path, PathBuf};

/// The database file a store opened.
#[derive(Debug)]
pub(crate) struct FileWatch {
    path: PathBuf,
    /// Held open so that its identity stays the one opened, even once unlinked.
    file: File,
}

/// The file path of a SQLite URL (`sqlite://path?…`, `sqlite:path`); `None` for an in-memory
/// database or another backend.
pub(crate) fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

impl FileWatch {
    /// Watches the file at `path`, which the store has just opened.
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            path: path.to_owned(),
            file: File::open(path)?,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Fails, saying what happened, when the path no longer names the file opened.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        let lost = |what: &str| {
            StoreError::DatabaseLost(format!(
                "the database file {} {what} while the server had it open; writes are refused \
                 (restore the file and restart the server)",
                self.path.display()
            ))
        };
        let now = match std::fs::metadata(&self.path) {
            Ok(now) => now,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(lost("was deleted")),
            Err(e) => return Err(lost(&format!("can no longer be read ({e})"))),
        };
        let opened = self
            .file
            .metadata()
            .map_err(|e| lost(&format!("can no longer be read ({e})")))?;
        if same_file(&opened, &now) {
            Ok(())
        } else {
            Err(lost("was replaced by another file"))
        }
    }
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::sqlite_path;
    use std::path::PathBuf;

    #[test]
    fn file_urls_name_their_path_and_memory_urls_none() {
        assert_eq!(
            sqlite_path("sqlite://techbalance.db?mode=rwc"),
            Some(PathBuf::from("techbalance.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/tb.db"),
            Some(PathBuf::from("/var/lib/tb.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("sqlite://x.db?mode=memory"), None);
        assert_eq!(sqlite_path("postgres://u@h/db"), None);
    }
}
