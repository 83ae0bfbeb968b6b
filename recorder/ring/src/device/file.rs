//! The real medium: a raw partition (`/dev/mmcblk0p5`), a loop device or a plain file. Block devices
//! are opened with O_DIRECT so the ring's large sequential writes bypass the page cache (no double
//! buffering in 512 MB of RAM, honest durability); files may use it too (benchmarks).

use super::{check_aligned, Device};
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

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
        })
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

    fn name(&self) -> String {
        self.path.display().to_string()
    }
}
