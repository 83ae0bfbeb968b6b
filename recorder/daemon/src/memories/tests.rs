//! The memories directory's rules: names, crash leftovers, and what may be deleted for space.

use super::*;

const NAME_A: &str = "2026-11-29_10-00-00-MEMORY.mp4";
const NAME_B: &str = "2026-11-29_11-00-00-MEMORY.mp4";
const NAME_C: &str = "2026-11-29_12-00-00-MEMORY_2.mp4";

fn put(store: &MemoryStore, name: &str, size: usize, upload: UploadState, usb: bool) {
    std::fs::write(store.dir().join(name), vec![0u8; size]).unwrap();
    let mut sidecar = Sidecar::new_memory(1, 2, 1, size as u64, false);
    sidecar.upload = upload;
    sidecar.usb_exported = usb;
    store.add(name, &sidecar).unwrap();
}

#[test]
fn names_are_checked_strictly() {
    for good in [NAME_A, NAME_C, "2026-01-02_03-04-05-MEMORY_17.mp4"] {
        assert!(is_memory_name(good), "{good}");
    }
    for bad in [
        "",
        "x.mp4",
        "../2026-11-29_10-00-00-MEMORY.mp4",
        "2026-11-29_10-00-00-MEMORY.mp4.json",
        ".2026-11-29_10-00-00-MEMORY.mp4.partial",
        "2026-11-29_10-00-00-MEMORY_.mp4",
        "2026-11-29_10-00-00-MEMORY_x.mp4",
        "2026-11-29 10-00-00-MEMORY.mp4",
    ] {
        assert!(!is_memory_name(bad), "{bad}");
    }
}

/// A stick or a folder can hold any name: a multibyte character at any place, over any byte or
/// between any two, is refused without a panic (slicing the name at a fixed byte offset did).
#[test]
fn names_with_multibyte_characters_are_refused_without_panic() {
    for good in [NAME_A, NAME_C] {
        for wide in ["é", "€", "😀"] {
            for at in 0..=good.len() {
                let inserted = format!("{}{wide}{}", &good[..at], &good[at..]);
                assert!(!is_memory_name(&inserted), "{inserted}");
                if at < good.len() {
                    let replaced = format!("{}{wide}{}", &good[..at], &good[at + 1..]);
                    assert!(!is_memory_name(&replaced), "{replaced}");
                }
            }
        }
    }
}

#[test]
fn open_repairs_what_a_crash_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let partial = format!(".{NAME_A}.partial");
    std::fs::write(dir.path().join(&partial), b"half an mp4").unwrap();
    std::fs::write(dir.path().join(NAME_B), b"a whole mp4").unwrap();
    std::fs::write(dir.path().join(format!("{NAME_C}.json")), b"{}").unwrap();
    let (store, cleanup) = MemoryStore::open(dir.path(), 0).unwrap();
    assert_eq!(cleanup.partial_files, [partial]);
    assert_eq!(cleanup.sidecars_written, [NAME_B]);
    assert_eq!(cleanup.orphan_sidecars, [format!("{NAME_C}.json")]);
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 1, "only the whole file is a memory");
    assert_eq!(listed[0].name, NAME_B);
    assert_eq!(listed[0].sidecar.upload, UploadState::Pending);
    assert_eq!(listed[0].size, 11);
}

#[test]
fn sidecars_round_trip_and_bad_ones_are_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = MemoryStore::open(dir.path(), 0).unwrap();
    put(&store, NAME_A, 10, UploadState::Pending, false);
    let done = store
        .update(NAME_A, |s| s.upload = UploadState::Done)
        .unwrap();
    assert_eq!(done.sidecar.upload, UploadState::Done);
    assert_eq!(store.get(NAME_A).unwrap().sidecar.upload, UploadState::Done);
    std::fs::write(
        dir.path().join(format!("{NAME_A}.json")),
        b"{\"version\":9}",
    )
    .unwrap();
    let listed = store.get(NAME_A).unwrap();
    assert_eq!(
        listed.sidecar.upload,
        UploadState::Pending,
        "unreadable means not safe"
    );
    assert!(store.get("../../etc/passwd").is_err());
    assert!(store.delete("../x.mp4").is_err());
}

#[test]
fn only_memories_safe_elsewhere_are_deleted_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = MemoryStore::open(dir.path(), 0).unwrap();
    put(&store, NAME_A, 100, UploadState::Pending, false);
    put(&store, NAME_B, 100, UploadState::Done, false);
    put(&store, NAME_C, 100, UploadState::Pending, true);
    let list = store.list().unwrap();
    assert_eq!(
        space::choose_victims(&list, 50),
        Some(vec![NAME_B.to_string()])
    );
    assert_eq!(
        space::choose_victims(&list, 150),
        Some(vec![NAME_B.to_string(), NAME_C.to_string()])
    );
    assert_eq!(
        space::choose_victims(&list, 250),
        None,
        "the only copy is never deleted"
    );
}

#[test]
fn make_room_refuses_when_nothing_can_go() {
    let dir = tempfile::tempdir().unwrap();
    let free = free_bytes(dir.path()).unwrap();
    // Ask to keep more free than the filesystem has: nothing can be freed, so a clear refusal.
    let (store, _) = MemoryStore::open(dir.path(), free.saturating_mul(2)).unwrap();
    put(&store, NAME_A, 10, UploadState::Pending, false);
    let err = store.make_room(1).unwrap_err();
    assert!(
        err.to_string().contains("no memory that is uploaded"),
        "{err}"
    );
    assert!(store.dir().join(NAME_A).exists());
    let (roomy, _) = MemoryStore::open(dir.path(), 0).unwrap();
    assert_eq!(roomy.make_room(1).unwrap(), Vec::<String>::new());
}
