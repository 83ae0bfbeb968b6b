//! The corpus on disk: `recorder/fuzz/corpus/<target>/`, one input per file, kept in the
//! repository. Files named `gen-*` are written by `seed` from the code (so they follow format
//! changes); every other file was written by hand or saved by `run --save`.

use std::path::{Path, PathBuf};

/// Files read per target at most; the in-memory corpus grows to `MAX_CORPUS` from there.
pub const MAX_FILES: usize = 1024;
/// Inputs kept in memory per target while running.
pub const MAX_CORPUS: usize = 256;
/// Prefix of the files `seed` owns.
pub const GENERATED: &str = "gen-";

/// The crate's directory (where `corpus/` and `crashes/` live).
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn dir(target: &str) -> PathBuf {
    crate_dir().join("corpus").join(target)
}

pub fn crash_dir() -> PathBuf {
    crate_dir().join("crashes")
}

/// The target's corpus files, sorted by name so runs are reproducible; each cut to `max_len`.
pub fn load(target: &str, max_len: usize) -> std::io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let dir = dir(target);
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    paths.sort();
    paths.truncate(MAX_FILES);
    let mut inputs = Vec::with_capacity(paths.len());
    for path in paths {
        let mut bytes = std::fs::read(&path)?;
        bytes.truncate(max_len);
        inputs.push((path, bytes));
    }
    Ok(inputs)
}

/// Writes `bytes` as `dir/prefix<hash>` (content-named, so saving twice is harmless).
pub fn save(dir: &Path, prefix: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{prefix}{:016x}", crate::rng::fnv1a(bytes)));
    std::fs::write(&path, bytes)?;
    Ok(path)
}
