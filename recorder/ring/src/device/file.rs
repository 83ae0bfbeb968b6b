//! The real medium: a raw partition (`/dev/mmcblk0p5`), a loop device or a plain file. Block devices
//! are opened with O_DIRECT so the ring's large sequential writes bypass the page cache (no double
//! buffering in 512 MB of RAM, honest durability); files may use it too (benchmarks). Background
//! syncs run on a flush thread (flusher.rs), started on first use, so read-only users never have
//! one.

use super::flusher::Flusher;
use super::{check_aligned, Device, SyncDone};
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Whether to bypass the page cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectIo {
    /// O_DIRECT on block devices, buffered on regular files.
    Auto,
    /// Always O_DIRECT (fails on filesystems without it, such as tmpfs).
    On,
    /// Never O_DIRECT.
    Off,
}

/// A file or block device accessed with positional reads and writes.
#[derive(Debug)]
pub struct FileDevice {
    file: File,
    path: PathBuf,
    len: u64,
    direct: bool,
    block_device: bool,
    /// Background syncs; `None` until the first one.
    flusher: Mutex<Option<Flusher>>,
}

impl FileDevice {
    /// Opens `path` for reading, and for writing when `writable`.
    pub fn open(path: &Path, writable: bool, direct: DirectIo) -> io::Result<FileDevice> {
        let meta = std::fs::metadata(path)?;
        let block_device = meta.file_type().is_block_device();
        if !block_device && !meta.file_type().is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a block device or regular file",
            ));
        }
        let use_direct = match direct {
            DirectIo::Auto => block_device,
            DirectIo::On => true,
            DirectIo::Off => false,
        };
        let mut options = OpenOptions::new();
        options.read(true).write(writable);
        if use_direct {
            options.custom_flags(libc::O_DIRECT);
        }
        let mut file = options.open(path)?;
        // Seeking to the end gives the size of block devices and files alike.
        let len = file.seek(SeekFrom::End(0))?;
        Ok(FileDevice {
            file,
            path: path.to_path_buf(),
            len,
            direct: use_direct,
            block_device,
            flusher: Mutex::new(None),
        })
    }

    fn flusher(&self) -> MutexGuard<'_, Option<Flusher>> {
        // Only ever replaced whole; a panic elsewhere cannot leave it half-built.
        self.flusher.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True when the page cache is bypassed.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// True for block devices (partitions, loop devices).
    pub fn is_block_device(&self) -> bool {
        self.block_device
    }
}

impl Device for FileDevice {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        check_aligned(offset, buf.as_ptr(), buf.len(), self.len)?;
        self.file.read_exact_at(buf, offset)
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        check_aligned(offset, buf.as_ptr(), buf.len(), self.len)?;
        self.file.write_all_at(buf, offset)
    }

    fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn sync_in_background(&self, done: SyncDone) {
        let mut flusher = self.flusher();
        if flusher.is_none() {
            match self.file.try_clone().and_then(Flusher::spawn) {
                Ok(spawned) => *flusher = Some(spawned),
                // No descriptor or thread to spare: sync here, as devices without a flusher do.
                Err(_) => return done(self.file.sync_data()),
            }
        }
        flusher.as_ref().expect("just spawned").start(done);
    }

    /// A duplicate descriptor of the same open file (same flags, same device), with its own
    /// flush thread.
    fn io_handle(&self) -> Option<Arc<dyn Device>> {
        let file = self.file.try_clone().ok()?;
        Some(Arc::new(FileDevice {
            file,
            path: self.path.clone(),
            len: self.len,
            direct: self.direct,
            block_device: self.block_device,
            flusher: Mutex::new(None),
        }))
    }

    fn wait_background_syncs(&self) -> io::Result<()> {
        // Waiting with the lock held keeps a concurrent first start from racing the spawn; the
        // flush thread never takes this lock, so it cannot deadlock.
        self.flusher().as_ref().map_or(Ok(()), Flusher::wait)
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }
}
