//! Copying memories into a folder on a mounted stick. Works on any directory (the tests use
//! loop-mounted images and plain directories alike). A memory gets a final name on the stick
//! only once it is complete, synced and read back equal: it is written as `.NAME.partial`,
//! fsynced, dropped from the page cache and read back from the stick with a CRC compared to the
//! one computed while writing, then renamed and the folder fsynced. Nothing on the device is
//! changed except the sidecar's "copied to USB" mark.

use super::probe::Filesystem;
use crate::memories::{free_bytes, is_memory_name, Memory, MemoryStore};
use serde::Serialize;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Bytes per read and write.
const CHUNK: usize = 1 << 20;
/// Space left free on the stick beyond a memory's size (directory entries, FAT clusters).
const STICK_MARGIN: u64 = 1 << 20;
/// Entries looked at when cleaning the folder of an earlier, interrupted copy.
const MAX_FOLDER_ENTRIES: usize = 4 * crate::memories::MAX_MEMORIES;
const PARTIAL_SUFFIX: &str = ".partial";

/// How far a copy has come; the numbers the status shows for a stick.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CopyProgress {
    /// Memories on the device.
    pub memories: u32,
    /// Already on the stick with the same size.
    pub already_there: u32,
    /// Copied (and verified) by this insertion.
    pub copied: u32,
    /// Not copied because the stick has no room for them; `need_bytes` more would be needed.
    pub did_not_fit: u32,
    pub need_bytes: u64,
    /// Larger than the stick's filesystem allows for one file (FAT32: 4 GiB).
    pub too_large: u32,
    /// Could not be read on the device (reported with the name; the others are copied).
    pub unreadable: u32,
    /// Bytes copied so far, of `bytes_total` to copy.
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// The memory being copied now.
    pub current: Option<String>,
}

impl CopyProgress {
    /// Everything on the device is on the stick now.
    pub fn complete(&self) -> bool {
        self.already_there + self.copied == self.memories
    }
}

/// Why a copy ended before the last memory.
#[derive(Debug)]
pub enum Stop {
    /// The stick refused writing from the start (write-protect switch, read-only filesystem).
    ReadOnly,
    /// The stick's removal was announced.
    Removed,
    /// The stick's I/O failed, as a pulled or dying stick's does; what failed.
    Io(String),
    /// Anything else; the sentence says what.
    Failed(String),
}

/// What the copy did.
#[derive(Debug)]
pub struct CopyReport {
    pub progress: CopyProgress,
    pub stop: Option<Stop>,
    /// The first memory that could not be read, and why.
    pub unreadable_error: Option<String>,
}

/// One memory's copy going wrong.
enum CopyError {
    /// Reading the memory on the device.
    Source(io::Error),
    /// Writing or renaming on the stick.
    Stick(io::Error),
    /// Writing back what the filesystem had accepted: the device failed (whatever the errno,
    /// ENOSPC included: the filesystem had reserved the room when it accepted the write).
    Sync(io::Error),
    /// Read back from the stick, the bytes differ from what was written.
    Mismatch,
    /// The stick's removal was announced.
    Cancelled,
}

/// Copies every memory of `store` that `folder` (created if needed) does not hold with the same
/// size. `progress` hears every change; `on_stick` every memory that is on the stick now
/// (copied, or found there). `cancel` set by another thread stops at the next chunk.
pub fn copy_memories(
    store: &MemoryStore,
    folder: &Path,
    filesystem: Filesystem,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&CopyProgress),
    on_stick: &mut dyn FnMut(&str),
) -> CopyReport {
    let mut report = CopyReport {
        progress: CopyProgress::default(),
        stop: None,
        unreadable_error: None,
    };
    if let Err(e) = std::fs::create_dir_all(folder) {
        report.stop = Some(stop_for(&e, cancel, true, "creating the folder"));
        return report;
    }
    if let Err(e) = remove_partials(folder) {
        report.stop = Some(stop_for(&e, cancel, true, "cleaning the folder"));
        return report;
    }
    let memories = match store.list() {
        Ok(list) => list,
        Err(e) => {
            report.stop = Some(Stop::Failed(format!(
                "cannot list the memories on the camera: {e}"
            )));
            return report;
        }
    };
    let to_copy = match plan(&memories, folder, &mut report.progress, on_stick) {
        Ok(list) => list,
        Err(e) => {
            report.stop = Some(stop_for(&e, cancel, true, "reading the folder"));
            return report;
        }
    };
    progress(&report.progress);
    for memory in to_copy {
        if cancel.load(Ordering::Relaxed) {
            report.stop = Some(Stop::Removed);
            break;
        }
        let p = &mut report.progress;
        if memory.size > filesystem.max_file_bytes() {
            p.too_large += 1;
            p.bytes_total -= memory.size;
            progress(p);
            continue;
        }
        match free_bytes(folder) {
            Ok(free) if free >= memory.size.saturating_add(STICK_MARGIN) => {}
            Ok(_) => {
                did_not_fit(p, memory);
                progress(p);
                continue;
            }
            Err(e) => {
                report.stop = Some(stop_for(&e, cancel, false, "checking the free space"));
                break;
            }
        }
        p.current = Some(memory.name.clone());
        progress(p);
        let source = store.dir().join(&memory.name);
        let started_at = p.bytes_done;
        let result = copy_one(&source, folder, memory, cancel, &mut |n| {
            p.bytes_done += n;
            progress(p);
        });
        p.current = None;
        match result {
            Ok(()) => {
                p.copied += 1;
                on_stick(&memory.name);
            }
            Err(CopyError::Source(e)) => {
                p.unreadable += 1;
                p.bytes_total -= memory.size;
                p.bytes_done = started_at;
                report
                    .unreadable_error
                    .get_or_insert_with(|| format!("{}: {e}", memory.name));
            }
            Err(CopyError::Stick(e)) if is_full(&e) => {
                p.bytes_done = started_at;
                did_not_fit(p, memory);
            }
            Err(CopyError::Stick(e)) if e.raw_os_error() == Some(libc::EFBIG) => {
                p.bytes_done = started_at;
                p.too_large += 1;
                p.bytes_total -= memory.size;
            }
            Err(CopyError::Stick(e)) => {
                report.stop = Some(stop_for(&e, cancel, false, "writing to the stick"));
                break;
            }
            Err(CopyError::Sync(e)) => {
                report.stop = Some(if cancel.load(Ordering::Relaxed) {
                    Stop::Removed
                } else {
                    Stop::Io(format!("syncing {}: {e}", memory.name))
                });
                break;
            }
            Err(CopyError::Mismatch) => {
                report.stop = Some(Stop::Io(format!(
                    "{} read back from the stick differs from what was written",
                    memory.name
                )));
                break;
            }
            Err(CopyError::Cancelled) => {
                report.stop = Some(Stop::Removed);
                break;
            }
        }
        progress(p);
    }
    progress(&report.progress);
    report
}

/// Counts the memories already on the stick and returns the ones to copy, oldest first.
fn plan<'a>(
    memories: &'a [Memory],
    folder: &Path,
    progress: &mut CopyProgress,
    on_stick: &mut dyn FnMut(&str),
) -> io::Result<Vec<&'a Memory>> {
    progress.memories = memories.len() as u32;
    let mut to_copy = Vec::new();
    for memory in memories {
        match std::fs::metadata(folder.join(&memory.name)) {
            Ok(there) if there.is_file() && there.len() == memory.size => {
                progress.already_there += 1;
                on_stick(&memory.name);
            }
            Ok(_) => to_copy.push(memory),
            Err(e) if e.kind() == io::ErrorKind::NotFound => to_copy.push(memory),
            Err(e) => return Err(e),
        }
    }
    progress.bytes_total = to_copy.iter().map(|m| m.size).sum();
    Ok(to_copy)
}

fn did_not_fit(progress: &mut CopyProgress, memory: &Memory) {
    progress.did_not_fit += 1;
    progress.need_bytes += memory.size;
    progress.bytes_total -= memory.size;
}

fn is_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

/// The reason a stick error ends the copy. `at_start`: nothing was written yet, so "read-only"
/// means the stick itself; later it means the filesystem gave up after an error.
fn stop_for(e: &io::Error, cancel: &AtomicBool, at_start: bool, doing: &str) -> Stop {
    if cancel.load(Ordering::Relaxed) {
        return Stop::Removed;
    }
    match e.raw_os_error() {
        Some(libc::EROFS) | Some(libc::EACCES) | Some(libc::EPERM) if at_start => Stop::ReadOnly,
        Some(libc::EIO) | Some(libc::ENODEV) | Some(libc::ENXIO) | Some(libc::ESHUTDOWN) => {
            Stop::Io(format!("{doing}: {e}"))
        }
        _ if is_full(e) && at_start => Stop::Failed("the stick is full".into()),
        _ => Stop::Failed(format!("{doing}: {e}")),
    }
}

/// Removes what an interrupted copy left: `.NAME.partial` files of memory names.
fn remove_partials(folder: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(folder)?.take(MAX_FOLDER_ENTRIES) {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_partial = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(PARTIAL_SUFFIX))
            .is_some_and(is_memory_name);
        if is_partial {
            std::fs::remove_file(entry.path())?;
            tracing::info!(file = %name, "usb: removed an earlier copy's unfinished file");
        }
    }
    Ok(())
}

/// Copies one memory through its temporary name; on any error the temporary file is removed
/// (as far as the stick still allows).
fn copy_one(
    source: &Path,
    folder: &Path,
    memory: &Memory,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64),
) -> Result<(), CopyError> {
    let temporary = folder.join(format!(".{}{PARTIAL_SUFFIX}", memory.name));
    let result = write_verified(source, &temporary, memory.size, cancel, progress).and_then(|()| {
        std::fs::rename(&temporary, folder.join(&memory.name)).map_err(CopyError::Stick)?;
        sync_dir(folder).map_err(CopyError::Stick)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Writes `source` to `temporary`, syncs it, and reads it back from the stick to compare.
fn write_verified(
    source: &Path,
    temporary: &Path,
    size: u64,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64),
) -> Result<(), CopyError> {
    let mut from = std::fs::File::open(source).map_err(CopyError::Source)?;
    let mut to = std::fs::File::create(temporary).map_err(CopyError::Stick)?;
    let mut buffer = vec![0u8; CHUNK];
    let mut crc = crc32fast::Hasher::new();
    let mut written = 0u64;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(CopyError::Cancelled);
        }
        let n = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Source(e)),
        };
        to.write_all(&buffer[..n]).map_err(CopyError::Stick)?;
        crc.update(&buffer[..n]);
        written += n as u64;
        progress(n as u64);
    }
    if written != size {
        return Err(CopyError::Source(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{written} bytes read, {size} expected: the file changed"),
        )));
    }
    to.sync_all().map_err(CopyError::Sync)?;
    forget_cached(&to);
    drop(to);
    let read_back = crc_of(temporary, &mut buffer, cancel)?;
    if read_back != (crc.finalize(), size) {
        return Err(CopyError::Mismatch);
    }
    Ok(())
}

/// The CRC and length of a file read back from the stick (its cached pages dropped first).
fn crc_of(path: &Path, buffer: &mut [u8], cancel: &AtomicBool) -> Result<(u32, u64), CopyError> {
    let mut file = std::fs::File::open(path).map_err(CopyError::Stick)?;
    forget_cached(&file);
    let mut crc = crc32fast::Hasher::new();
    let mut len = 0u64;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(CopyError::Cancelled);
        }
        match file.read(buffer) {
            Ok(0) => return Ok((crc.finalize(), len)),
            Ok(n) => {
                crc.update(&buffer[..n]);
                len += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CopyError::Stick(e)),
        }
    }
}

/// Drops a synced file's pages from the page cache, so reading it again reads the stick.
fn forget_cached(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open descriptor; advice only.
    let done = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if done != 0 {
        tracing::debug!(errno = done, "usb: posix_fadvise(DONTNEED) refused");
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;
