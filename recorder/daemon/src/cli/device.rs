//! Getting from a path on the command line to an open ring device, and turning what goes wrong
//! into a sentence that names the device and says what to do. The ring's own errors already do
//! that; the I/O errors of opening a path (missing, permission, wrong kind of file) do not.

use anyhow::{anyhow, bail, Context, Result};
use moment_ring::{DirectIo, FileDevice};
use std::fs::OpenOptions;
use std::io::{self, ErrorKind};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// Opens `path` (O_DIRECT on block devices), read-only unless `writable`.
pub fn open(path: &Path, writable: bool) -> Result<FileDevice> {
    let meta = std::fs::metadata(path).map_err(|e| open_error(path, &e))?;
    let kind = meta.file_type();
    if !kind.is_block_device() && !kind.is_file() {
        bail!(
            "{}: not a block device or regular file; give a partition (/dev/mmcblk0p5), \
             a loop device or a file",
            path.display()
        );
    }
    FileDevice::open(path, writable, DirectIo::Auto).map_err(|e| open_error(path, &e))
}

/// A sentence for an error from opening `path`.
pub fn open_error(path: &Path, err: &io::Error) -> anyhow::Error {
    let device = path.display();
    match err.kind() {
        ErrorKind::NotFound => anyhow!("{device}: no such file or device; check the path"),
        ErrorKind::PermissionDenied => {
            anyhow!("{device}: permission denied; run as root or add yourself to the disk group")
        }
        // EROFS has no stable ErrorKind in Rust 1.82.
        _ if err.raw_os_error() == Some(libc::EROFS) => anyhow!(
            "{device}: read-only (write-protected card or read-only mount); make it writable first"
        ),
        _ if err.raw_os_error() == Some(libc::EBUSY) => {
            anyhow!("{device}: busy (mounted or held by another program); unmount or stop it first")
        }
        _ => anyhow!("{device}: cannot open it: {err}"),
    }
}

/// Adds advice to the ring errors whose message leaves the next step open.
pub fn explain(err: moment_ring::Error) -> anyhow::Error {
    match err {
        moment_ring::Error::TooSmall { .. } => {
            anyhow!("{err}; use a larger partition or file (a test ring works from --size 64M)")
        }
        moment_ring::Error::Io { ref source, .. }
            if source.kind() == ErrorKind::PermissionDenied =>
        {
            anyhow!("{err}; run as root or add yourself to the disk group")
        }
        other => anyhow::Error::new(other),
    }
}

/// The device `format` writes to, and the file it created for it (removed unless kept).
pub struct FormatTarget {
    pub device: FileDevice,
    created: CreatedFile,
}

impl FormatTarget {
    /// Opens `path` for formatting, creating a sparse file of `size` bytes if nothing is there.
    /// Without `size` a missing path is an error: a typo must not become a new file.
    pub fn open(path: &Path, size: Option<u64>) -> Result<FormatTarget> {
        let created = match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == ErrorKind::NotFound => CreatedFile(Some(create(path, size)?)),
            _ => CreatedFile(None),
        };
        let device = open(path, true)?;
        let len = moment_ring::Device::len(&device);
        if let Some(size) = size.filter(|&s| s > len) {
            bail!(
                "{}: --size {size} is larger than the device ({len} bytes); --size can only \
                 use part of a device, not grow it",
                path.display()
            );
        }
        Ok(FormatTarget { device, created })
    }

    /// Keeps a created file: the format succeeded.
    pub fn keep(mut self) {
        self.created.0 = None;
    }
}

/// Removes the file `format` created when dropped armed: a failed format leaves nothing behind.
struct CreatedFile(Option<PathBuf>);

impl Drop for CreatedFile {
    fn drop(&mut self) {
        // Best effort: the error that made the format fail is what gets reported.
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn create(path: &Path, size: Option<u64>) -> Result<PathBuf> {
    let device = path.display();
    let Some(size) = size else {
        bail!(
            "{device}: no such file or device; pass --size BYTES (such as --size 64M) to create \
             a file-backed ring there, or create the file first"
        );
    };
    if path.starts_with("/dev") {
        bail!("{device}: no such device; check the path (`lsblk` lists block devices)");
    }
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| open_error(path, &e))?;
    file.set_len(size)
        .with_context(|| format!("{device}: cannot make a file of {size} bytes"))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(path);
        })?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_errors_say_what_to_do() {
        let path = Path::new("/dev/sdz9");
        let denied = io::Error::from(ErrorKind::PermissionDenied);
        assert_eq!(
            open_error(path, &denied).to_string(),
            "/dev/sdz9: permission denied; run as root or add yourself to the disk group"
        );
        let missing = io::Error::from(ErrorKind::NotFound);
        assert!(open_error(path, &missing)
            .to_string()
            .starts_with("/dev/sdz9: no such file or device"));
        let rofs = io::Error::from_raw_os_error(libc::EROFS);
        assert!(open_error(path, &rofs).to_string().contains("read-only"));
    }

    #[test]
    fn too_small_gets_advice() {
        let err = explain(moment_ring::Error::TooSmall {
            device: "x.img".into(),
            len: 4096,
            min: 1 << 20,
        });
        assert!(err
            .to_string()
            .starts_with("x.img: 4096 bytes is too small"));
        assert!(err.to_string().contains("--size 64M"));
    }

    #[test]
    fn missing_path_without_size_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring.img");
        let err = FormatTarget::open(&path, None).err().unwrap().to_string();
        assert!(err.contains("pass --size"), "{err}");
        assert!(!path.exists());
    }

    #[test]
    fn a_failed_open_removes_the_file_it_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring.img");
        let target = FormatTarget::open(&path, Some(1 << 20)).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 20);
        drop(target);
        assert!(!path.exists());
        FormatTarget::open(&path, Some(1 << 20)).unwrap().keep();
        assert!(path.exists());
    }
}
