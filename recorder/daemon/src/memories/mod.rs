//! The memories directory (/data/memories on the device): the saved MP4 files, each with a small
//! JSON sidecar recording what it covers and whether it has been uploaded and copied to a USB
//! stick. The store is the one place that decides what a memory is (a final-named MP4; never an
//! export's `.partial` file), and what may be deleted when space runs low: only memories that are
//! safe elsewhere (uploaded or exported), oldest first. A memory that exists nowhere else is never
//! deleted to make room; the new save is refused instead.

mod sidecar;
mod space;

pub use sidecar::{Sidecar, UploadState};
pub use space::{free_bytes, SpaceError};

use crate::atomic_file::write_atomic;
use std::io;
use std::path::{Path, PathBuf};

/// Memories listed at most; a directory holding more is trimmed by the space rules long before.
pub const MAX_MEMORIES: usize = 10_000;
const MP4_SUFFIX: &str = ".mp4";
const SIDECAR_SUFFIX: &str = ".json";
/// Exports write `.NAME.partial` (see `moment_media::export::partial_name`).
const PARTIAL_SUFFIX: &str = ".partial";

/// One memory as listed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Memory {
    pub name: String,
    pub size: u64,
    pub sidecar: Sidecar,
}

/// The directory and its rules.
pub struct MemoryStore {
    dir: PathBuf,
    min_free_bytes: u64,
}

/// What `open` cleaned up after a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cleanup {
    /// Unfinished exports removed.
    pub partial_files: Vec<String>,
    /// MP4 files without a sidecar (a crash between the export and its sidecar): given one.
    pub sidecars_written: Vec<String>,
    /// Sidecars whose MP4 is gone: removed.
    pub orphan_sidecars: Vec<String>,
}

impl MemoryStore {
    /// Opens (creating) the directory and repairs what a crash can leave behind.
    pub fn open(dir: &Path, min_free_bytes: u64) -> io::Result<(MemoryStore, Cleanup)> {
        std::fs::create_dir_all(dir)?;
        let store = MemoryStore {
            dir: dir.to_path_buf(),
            min_free_bytes,
        };
        let cleanup = store.repair()?;
        Ok((store, cleanup))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn repair(&self) -> io::Result<Cleanup> {
        let mut cleanup = Cleanup::default();
        for entry in std::fs::read_dir(&self.dir)?.take(4 * MAX_MEMORIES) {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with('.') && name.ends_with(PARTIAL_SUFFIX) {
                std::fs::remove_file(&path)?;
                cleanup.partial_files.push(name);
            } else if is_memory_name(&name) && !sidecar_path(&path).exists() {
                let size = entry.metadata()?.len();
                self.write_sidecar(&name, &Sidecar::recovered(size))?;
                cleanup.sidecars_written.push(name);
            } else if let Some(mp4) = name.strip_suffix(SIDECAR_SUFFIX) {
                if is_memory_name(mp4) && !self.dir.join(mp4).exists() {
                    std::fs::remove_file(&path)?;
                    cleanup.orphan_sidecars.push(name);
                }
            }
        }
        Ok(cleanup)
    }

    /// Every memory, oldest first (names sort by time).
    pub fn list(&self) -> io::Result<Vec<Memory>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if is_memory_name(&name) {
                names.push(name);
                if names.len() >= MAX_MEMORIES {
                    break;
                }
            }
        }
        names.sort();
        names.iter().map(|n| self.get(n)).collect()
    }

    /// One memory by file name.
    pub fn get(&self, name: &str) -> io::Result<Memory> {
        let path = self.path_of(name)?;
        let size = std::fs::metadata(&path)?.len();
        let sidecar = Sidecar::read(&sidecar_path(&path)).unwrap_or_else(|e| {
            tracing::warn!(memory = name, error = %e, "memories: unreadable sidecar; listed without it");
            Sidecar::recovered(size)
        });
        Ok(Memory {
            name: name.to_string(),
            size,
            sidecar,
        })
    }

    /// Records a memory an export has just written.
    pub fn add(&self, name: &str, sidecar: &Sidecar) -> io::Result<Memory> {
        self.write_sidecar(name, sidecar)?;
        self.get(name)
    }

    /// Changes a memory's sidecar (upload finished, copied to USB).
    pub fn update(&self, name: &str, change: impl FnOnce(&mut Sidecar)) -> io::Result<Memory> {
        let mut memory = self.get(name)?;
        change(&mut memory.sidecar);
        self.write_sidecar(name, &memory.sidecar)?;
        Ok(memory)
    }

    /// Deletes a memory and its sidecar (the user asked, or space is needed).
    pub fn delete(&self, name: &str) -> io::Result<()> {
        let path = self.path_of(name)?;
        std::fs::remove_file(&path)?;
        match std::fs::remove_file(sidecar_path(&path)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::File::open(&self.dir)?.sync_all()
    }

    /// Makes room for `need` more bytes while keeping `min_free_bytes` free, deleting the oldest
    /// memories that are safe elsewhere. Returns what it deleted; refuses (deleting nothing) when
    /// even deleting all of those would not be enough.
    pub fn make_room(&self, need: u64) -> Result<Vec<String>, SpaceError> {
        let free = free_bytes(&self.dir).map_err(SpaceError::Io)?;
        let want = need.saturating_add(self.min_free_bytes);
        if free >= want {
            return Ok(Vec::new());
        }
        let memories = self.list().map_err(SpaceError::Io)?;
        let plan = space::choose_victims(&memories, want - free).ok_or(SpaceError::Full {
            need,
            free,
            keep_free: self.min_free_bytes,
        })?;
        for name in &plan {
            self.delete(name).map_err(SpaceError::Io)?;
            tracing::info!(memory = %name, "memories: deleted to make room (it is safe elsewhere)");
        }
        Ok(plan)
    }

    /// A name is one of ours and stays inside the directory.
    fn path_of(&self, name: &str) -> io::Result<PathBuf> {
        if !is_memory_name(name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name:?} is not a memory name (YYYY-MM-DD_HH-MM-SS-MEMORY.mp4)"),
            ));
        }
        Ok(self.dir.join(name))
    }

    fn write_sidecar(&self, name: &str, sidecar: &Sidecar) -> io::Result<()> {
        let path = self.path_of(name)?;
        write_atomic(&sidecar_path(&path), &sidecar.to_json()?)
    }
}

/// `YYYY-MM-DD_HH-MM-SS-MEMORY.mp4` or `…-MEMORY_N.mp4`: no path separators, no leading dot.
/// Any name may reach it (a USB stick, a data folder, a request), so it reads bytes only: a
/// `str` slice at a fixed offset panics inside a multibyte character.
pub fn is_memory_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(MP4_SUFFIX) else {
        return false;
    };
    let bytes = stem.as_bytes();
    if bytes.len() < 26 || !bytes[19..].starts_with(b"-MEMORY") {
        return false;
    }
    let digits_at = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    let shape = digits_at(0..4)
        && bytes[4] == b'-'
        && digits_at(5..7)
        && bytes[7] == b'-'
        && digits_at(8..10)
        && bytes[10] == b'_'
        && digits_at(11..13)
        && bytes[13] == b'-'
        && digits_at(14..16)
        && bytes[16] == b'-'
        && digits_at(17..19);
    let suffix = &bytes[26..];
    shape
        && (suffix.is_empty()
            || (suffix.len() <= 6
                && suffix.starts_with(b"_")
                && suffix[1..].iter().all(u8::is_ascii_digit)
                && suffix.len() > 1))
}

fn sidecar_path(mp4: &Path) -> PathBuf {
    let mut name = mp4.as_os_str().to_owned();
    name.push(SIDECAR_SUFFIX);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests;
