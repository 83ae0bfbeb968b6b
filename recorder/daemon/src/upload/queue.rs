//! The upload queue on disk: one JSON file in the state directory, replaced atomically (write a
//! temporary file, fsync, rename, fsync the directory) so a power cut leaves either the old or the
//! new queue, never half of one. It is checked after every read; a file that fails the checks is
//! moved aside (kept for diagnosis, a bounded number of them) and the uploader starts empty, to be
//! refilled by `reconcile` from the memory files themselves.

use super::{truncate, UploadError};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The queue's file name inside the state directory.
pub const QUEUE_FILE: &str = "upload-queue.json";
/// The format version written; any other version is refused (and the file moved aside).
pub const QUEUE_VERSION: u32 = 1;
/// Default bound on entries, done ones included (they are what prevents a second upload).
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
/// A queue file larger than this is not ours (10 000 entries are about 3 MB).
const MAX_FILE_BYTES: u64 = 16 << 20;
/// Errors are kept this long in entries and status.
pub(crate) const MAX_ERROR_CHARS: usize = 400;
/// Corrupt queue files kept for diagnosis; older ones are deleted.
const KEEP_CORRUPT: usize = 3;

/// Where an entry is in its life.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum EntryState {
    /// Waiting for its turn (policy permitting).
    Pending,
    /// rclone is running for it. Found at startup, it means the process died mid-upload: it goes
    /// back to `Pending`.
    Uploading,
    /// Uploaded and verified. Never uploaded again.
    Done,
    /// The last attempt failed; retried at `next_try_unix_ms`.
    FailedWaiting,
}

/// One memory in the queue, as stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The memory's file name (no directories), also its name on the remote.
    pub name: String,
    /// Bytes, as last seen on /data.
    pub size: u64,
    pub state: EntryState,
    /// Failed attempts since the last success (drives the backoff).
    pub attempts: u32,
    /// For `FailedWaiting`: not before this time (UTC milliseconds).
    pub next_try_unix_ms: Option<i64>,
    pub last_error: Option<String>,
    pub enqueued_unix_ms: i64,
    pub done_unix_ms: Option<i64>,
    /// How the upload was checked: `size+md5` (size and that hash), `size` (the remote had no
    /// hash), with `,found` appended when the remote already held the verified file.
    pub verified: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueFile {
    version: u32,
    entries: Vec<Entry>,
}

/// The queue in memory; every change is followed by `encode` + `write_atomic` in the worker.
#[derive(Debug)]
pub(crate) struct Queue {
    pub dir: PathBuf,
    pub path: PathBuf,
    pub entries: Vec<Entry>,
    pub max: usize,
}

/// Why a name is refused: it must be a plain file name that is safe on every rclone backend and
/// on rclone's command line, and it must not collide with our temporary `.partial` names.
pub(crate) fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 255 {
        return Err("names must be 1 to 255 bytes");
    }
    if name.contains(['/', '\\']) || name.chars().any(char::is_control) {
        return Err("names must not contain slashes or control characters");
    }
    if name.starts_with('.') || name.starts_with('-') {
        return Err("names must not start with '.' or '-'");
    }
    if name.ends_with(".partial") {
        return Err("names ending in .partial are reserved for uploads in progress");
    }
    Ok(())
}

impl Queue {
    /// Opens (or starts) the queue in `dir`. Returns the queue and, when the file was unusable, a
    /// message for status saying so and where the old file went.
    pub fn open(
        dir: &Path,
        max: usize,
        now_ms: i64,
    ) -> Result<(Queue, Option<String>), UploadError> {
        let state_err = |message: String| UploadError::State {
            path: dir.to_owned(),
            message,
        };
        fs::create_dir_all(dir).map_err(|e| state_err(format!("cannot create: {e}")))?;
        let path = dir.join(QUEUE_FILE);
        let mut queue = Queue {
            dir: dir.to_owned(),
            path: path.clone(),
            entries: Vec::new(),
            max,
        };
        let bytes = match read_bounded(&path) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok((queue, None)),
            Err(ReadError::TooLarge(len)) => {
                let why = format!("{len} bytes is more than a queue can be");
                return queue
                    .set_aside(&why, now_ms)
                    .map(|notice| (queue, Some(notice)));
            }
            Err(ReadError::Io(e)) => {
                return Err(state_err(format!("cannot read {}: {e}", path.display())))
            }
        };
        match decode(&bytes, max) {
            Ok(mut entries) => {
                for e in &mut entries {
                    if e.state == EntryState::Uploading {
                        // The process ended mid-upload; the remote copy (if any) is unverified.
                        tracing::info!(name = %e.name, "upload interrupted by a restart; retrying");
                        e.state = EntryState::Pending;
                    }
                }
                queue.entries = entries;
                Ok((queue, None))
            }
            Err(why) => queue
                .set_aside(&why, now_ms)
                .map(|notice| (queue, Some(notice))),
        }
    }

    /// Moves an unusable queue file aside and trims old ones; the queue stays empty.
    fn set_aside(&self, why: &str, now_ms: i64) -> Result<String, UploadError> {
        let aside = self.dir.join(format!("{QUEUE_FILE}.corrupt-{now_ms}"));
        fs::rename(&self.path, &aside).map_err(|e| UploadError::State {
            path: self.path.clone(),
            message: format!("unusable ({why}) and cannot be moved aside: {e}"),
        })?;
        let message = format!(
            "upload queue {} was unusable ({}); moved to {} and started empty (memories are \
             re-queued from /data)",
            self.path.display(),
            truncate(why, 200),
            aside.display()
        );
        tracing::error!("{message}");
        trim_corrupt(&self.dir);
        Ok(message)
    }

    pub fn encode(&self) -> Result<Vec<u8>, UploadError> {
        let file = QueueFile {
            version: QUEUE_VERSION,
            entries: self.entries.clone(),
        };
        serde_json::to_vec_pretty(&file).map_err(|e| UploadError::Save(e.to_string()))
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.name == name)
    }

    /// Adds a pending entry; the caller has checked the name and that it is new.
    pub fn push(&mut self, name: &str, size: u64, now_ms: i64) -> Result<(), UploadError> {
        if self.entries.len() >= self.max {
            return Err(UploadError::QueueFull { max: self.max });
        }
        self.entries.push(Entry {
            name: name.to_owned(),
            size,
            state: EntryState::Pending,
            attempts: 0,
            next_try_unix_ms: None,
            last_error: None,
            enqueued_unix_ms: now_ms,
            done_unix_ms: None,
            verified: None,
        });
        Ok(())
    }

    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.name != name);
        self.entries.len() != before
    }
}

/// Parses and checks a queue file: version, bound, names, no duplicates, consistent fields.
pub(crate) fn decode(bytes: &[u8], max: usize) -> Result<Vec<Entry>, String> {
    let file: QueueFile = serde_json::from_slice(bytes).map_err(|e| format!("not a queue: {e}"))?;
    if file.version != QUEUE_VERSION {
        return Err(format!(
            "version {} (this uploader reads version {QUEUE_VERSION})",
            file.version
        ));
    }
    if file.entries.len() > max {
        return Err(format!(
            "{} entries, more than the limit of {max}",
            file.entries.len()
        ));
    }
    let mut seen = HashSet::with_capacity(file.entries.len());
    let mut entries = file.entries;
    for e in &mut entries {
        check_name(&e.name).map_err(|why| format!("entry {:?}: {why}", e.name))?;
        if !seen.insert(e.name.clone()) {
            return Err(format!("entry {:?} appears twice", e.name));
        }
        if (e.state == EntryState::Done) != e.done_unix_ms.is_some() {
            return Err(format!("entry {:?}: state and done time disagree", e.name));
        }
        if let Some(err) = &e.last_error {
            e.last_error = Some(truncate(err, MAX_ERROR_CHARS));
        }
    }
    Ok(entries)
}

enum ReadError {
    TooLarge(u64),
    Io(io::Error),
}

fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, ReadError> {
    match fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ReadError::Io(e)),
        Ok(m) if m.len() > MAX_FILE_BYTES => Err(ReadError::TooLarge(m.len())),
        Ok(_) => fs::read(path).map(Some).map_err(ReadError::Io),
    }
}

/// Keeps the newest `KEEP_CORRUPT` set-aside files; best effort (only disk space is at stake).
fn trim_corrupt(dir: &Path) {
    let prefix = format!("{QUEUE_FILE}.corrupt-");
    let Ok(read) = fs::read_dir(dir) else { return };
    // Bounded: a directory listing is finite, and we only collect matching names.
    let mut stamps: Vec<(i64, PathBuf)> = read
        .filter_map(Result::ok)
        .filter_map(|d| {
            let name = d.file_name().into_string().ok()?;
            let stamp = name.strip_prefix(&prefix)?.parse::<i64>().ok()?;
            Some((stamp, d.path()))
        })
        .collect();
    stamps.sort();
    let excess = stamps.len().saturating_sub(KEEP_CORRUPT);
    for (_, old) in stamps.into_iter().take(excess) {
        if let Err(e) = fs::remove_file(&old) {
            tracing::warn!("cannot delete old corrupt queue {}: {e}", old.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir() -> tempfile::TempDir {
        tempfile::tempdir().expect("tempdir")
    }

    #[test]
    fn round_trip_and_uploading_becomes_pending() {
        let dir = tempdir();
        let (mut q, notice) = Queue::open(dir.path(), 10, 1).expect("open");
        assert!(notice.is_none());
        q.push("a.mp4", 5, 1).expect("push");
        q.push("b.mp4", 6, 2).expect("push");
        q.get_mut("a.mp4").expect("a").state = EntryState::Uploading;
        crate::atomic_file::write_atomic(&q.path, &q.encode().expect("encode")).expect("write");
        let (q2, notice) = Queue::open(dir.path(), 10, 3).expect("reopen");
        assert!(notice.is_none());
        assert_eq!(q2.entries.len(), 2);
        assert_eq!(q2.get("a.mp4").expect("a").state, EntryState::Pending);
        assert_eq!(q2.get("b.mp4").expect("b").size, 6);
    }

    #[test]
    fn bound_is_enforced() {
        let dir = tempdir();
        let (mut q, _) = Queue::open(dir.path(), 2, 1).expect("open");
        q.push("a", 1, 1).expect("a");
        q.push("b", 1, 1).expect("b");
        assert!(matches!(
            q.push("c", 1, 1),
            Err(UploadError::QueueFull { max: 2 })
        ));
    }

    #[test]
    fn bad_files_are_set_aside_and_trimmed() {
        let dir = tempdir();
        let path = dir.path().join(QUEUE_FILE);
        let dup = r#"{"version":1,"entries":[
            {"name":"a","size":1,"state":"pending","attempts":0,"next_try_unix_ms":null,
             "last_error":null,"enqueued_unix_ms":0,"done_unix_ms":null,"verified":null},
            {"name":"a","size":1,"state":"pending","attempts":0,"next_try_unix_ms":null,
             "last_error":null,"enqueued_unix_ms":0,"done_unix_ms":null,"verified":null}]}"#;
        let bad: [&[u8]; 5] = [
            b"{not json",
            br#"{"version":2,"entries":[]}"#,
            dup.as_bytes(),
            b"",
            b"[]",
        ];
        for (i, bytes) in bad.iter().enumerate() {
            fs::write(&path, bytes).expect("write");
            let (q, notice) = Queue::open(dir.path(), 10, 100 + i as i64).expect("open");
            assert!(q.entries.is_empty());
            assert!(notice.expect("notice").contains("unusable"));
            assert!(!path.exists());
        }
        let kept = fs::read_dir(dir.path()).expect("list").count();
        assert_eq!(kept, KEEP_CORRUPT);
    }

    #[test]
    fn names_are_checked() {
        for bad in [
            "",
            "a/b",
            ".hidden",
            "-rf",
            "x.partial",
            "a\nb",
            &"x".repeat(256),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["2025-06-01T12-00-00Z.mp4", "moment 12:00.mp4", "ü.mp4"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }
}
