//! The output file's life: claim a name, let ffmpeg write `.NAME.partial` beside it, then fsync it,
//! rename it into place without ever replacing an existing file, and fsync the directory, so that
//! after a power cut there is either a whole memory under its final name or none. On any error the
//! partial file is removed; a final name never holds a partial file.

use super::error::ExportError;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Names tried in a directory (`NAME.mp4`, `NAME_2.mp4`, … `NAME_100.mp4`).
pub const MAX_NAME_ATTEMPTS: u32 = 100;

/// Where an export goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Exactly this file; it must not exist yet.
    File(PathBuf),
    /// A file in this directory named after the end of the range, with a suffix if taken.
    Dir(PathBuf),
}

/// The temporary file being written, removed on drop unless committed.
pub(crate) struct Output {
    dir: PathBuf,
    /// Final names to try, in order (one for `Target::File`).
    candidates: Vec<PathBuf>,
    partial: PathBuf,
    committed: bool,
}

impl Output {
    /// Claims the first free candidate: neither it nor its partial file exists, and the partial
    /// file is created exclusively (so two exports never share one).
    pub(crate) fn create(dir: &Path, candidates: Vec<PathBuf>) -> Result<Output, ExportError> {
        let single = candidates.len() == 1;
        for (i, path) in candidates.iter().enumerate() {
            if path.exists() {
                if single {
                    return Err(ExportError::Exists { path: path.clone() });
                }
                continue;
            }
            let partial = partial_name(path);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&partial)
            {
                Ok(_) => {
                    return Ok(Output {
                        dir: dir.to_path_buf(),
                        candidates: candidates[i..].to_vec(),
                        partial,
                        committed: false,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && !single => continue,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(ExportError::PartialExists { path: partial })
                }
                Err(source) => {
                    return Err(ExportError::Output {
                        path: partial,
                        op: "create the file",
                        source,
                    })
                }
            }
        }
        Err(ExportError::NoFreeName {
            dir: dir.to_path_buf(),
            tried: candidates.len() as u32,
        })
    }

    /// The file ffmpeg writes.
    pub(crate) fn partial(&self) -> &Path {
        &self.partial
    }

    /// Makes the file durable and gives it its final name; returns that name and the size.
    pub(crate) fn commit(mut self) -> Result<(PathBuf, u64), ExportError> {
        let error = |path: &Path, op, source| ExportError::Output {
            path: path.to_path_buf(),
            op,
            source,
        };
        let file =
            File::open(&self.partial).map_err(|e| error(&self.partial, "reopen the file", e))?;
        file.sync_all()
            .map_err(|e| error(&self.partial, "sync the file to disk", e))?;
        let size = file
            .metadata()
            .map_err(|e| error(&self.partial, "read the file size", e))?
            .len();
        let path = self.rename()?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| error(&self.dir, "sync the directory", e))?;
        Ok((path, size))
    }

    /// Renames to the first candidate that is still free (another export may have taken one).
    fn rename(&mut self) -> Result<PathBuf, ExportError> {
        for path in &self.candidates {
            match rename_noreplace(&self.partial, path) {
                Ok(()) => {
                    self.committed = true;
                    return Ok(path.clone());
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(source) => {
                    return Err(ExportError::Output {
                        path: path.clone(),
                        op: "rename the finished file into place",
                        source,
                    })
                }
            }
        }
        match self.candidates.as_slice() {
            [only] => Err(ExportError::Exists { path: only.clone() }),
            _ => Err(ExportError::NoFreeName {
                dir: self.dir.clone(),
                tried: self.candidates.len() as u32,
            }),
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the error that stopped the export is what gets reported.
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

/// `.NAME.partial` beside `path`.
pub(crate) fn partial_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy());
    path.with_file_name(format!(".{name}.partial"))
}

/// rename(2) that fails with `AlreadyExists` instead of replacing `to`. File systems without
/// RENAME_NOREPLACE (EINVAL) get a check-then-rename, which only races with another writer.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
    };
    let (from_c, to_c) = (c(from)?, c(to)?);
    // SAFETY: both are valid NUL-terminated strings; AT_FDCWD resolves them like rename(2).
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from_c.as_ptr(),
            libc::AT_FDCWD,
            to_c.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) if !to.exists() => std::fs::rename(from, to),
        Some(libc::EINVAL) | Some(libc::ENOSYS) => Err(io::ErrorKind::AlreadyExists.into()),
        _ => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_commits_and_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<PathBuf> = ["a.mp4", "a_2.mp4", "a_3.mp4"]
            .iter()
            .map(|n| dir.path().join(n))
            .collect();
        std::fs::write(&names[0], b"taken").unwrap();
        let out = Output::create(dir.path(), names.clone()).unwrap();
        assert_eq!(out.partial(), dir.path().join(".a_2.mp4.partial"));
        // Another export takes a_2 while this one writes: it moves on to a_3.
        std::fs::write(&names[1], b"raced").unwrap();
        std::fs::write(out.partial(), b"mp4").unwrap();
        let (path, size) = out.commit().unwrap();
        assert_eq!((path, size), (names[2].clone(), 3));
        assert_eq!(std::fs::read(&names[1]).unwrap(), b"raced");
        assert!(!dir.path().join(".a_2.mp4.partial").exists());
    }

    #[test]
    fn dropped_output_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = vec![dir.path().join("x.mp4")];
        let out = Output::create(dir.path(), target.clone()).unwrap();
        std::fs::write(out.partial(), b"half").unwrap();
        drop(out);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        std::fs::write(&target[0], b"x").unwrap();
        assert!(matches!(
            Output::create(dir.path(), target),
            Err(ExportError::Exists { .. })
        ));
    }
}
