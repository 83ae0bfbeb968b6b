//! Free space on the memories' filesystem and the choice of what to delete when it runs low: only
//! memories safe elsewhere, oldest first, and only if that is enough; otherwise nothing.

use super::Memory;
use std::io;
use std::path::Path;

/// Why a save cannot get its space.
#[derive(Debug)]
pub enum SpaceError {
    /// Even deleting every memory that is safe elsewhere would not free enough.
    Full {
        need: u64,
        free: u64,
        keep_free: u64,
    },
    Io(io::Error),
}

impl std::fmt::Display for SpaceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpaceError::Full {
                need,
                free,
                keep_free,
            } => write!(
                f,
                "not enough space for a new memory ({need} bytes needed, {free} free, {keep_free} \
                 kept free) and no memory that is uploaded or copied to USB can be deleted: upload \
                 or copy memories, or delete some"
            ),
            SpaceError::Io(e) => write!(f, "checking free space: {e}"),
        }
    }
}

impl std::error::Error for SpaceError {}

/// Bytes available to the daemon on the filesystem holding `dir`.
pub fn free_bytes(dir: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: a zeroed statvfs filled by the call; `path` is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // The field types are narrower on 32-bit targets; u64 everywhere else.
    #[allow(clippy::useless_conversion)]
    let free = u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize));
    Ok(free)
}

/// The oldest memories safe elsewhere whose sizes add up to `shortfall`; `None` if they cannot.
pub(crate) fn choose_victims(oldest_first: &[Memory], shortfall: u64) -> Option<Vec<String>> {
    let mut freed = 0u64;
    let mut victims = Vec::new();
    for memory in oldest_first.iter().filter(|m| m.sidecar.safe_elsewhere()) {
        if freed >= shortfall {
            break;
        }
        freed = freed.saturating_add(memory.size);
        victims.push(memory.name.clone());
    }
    (freed >= shortfall).then_some(victims)
}
