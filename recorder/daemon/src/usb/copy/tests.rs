//! The copy's rules on plain directories (no mount needed): what counts as already there, what
//! is left behind by an interruption, and what a cancelled or unreadable copy leaves.

use super::*;
use crate::memories::Sidecar;
use std::path::PathBuf;

struct Fixture {
    _tmp: tempfile::TempDir,
    store: MemoryStore,
    stick: PathBuf,
}

fn fixture(sizes: &[usize]) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = MemoryStore::open(&tmp.path().join("memories"), 0).unwrap();
    for (i, &size) in sizes.iter().enumerate() {
        let name = format!("2026-11-30_10-00-0{i}-MEMORY.mp4");
        let bytes: Vec<u8> = (0..size).map(|b| (b * 7 + i) as u8).collect();
        std::fs::write(store.dir().join(&name), &bytes).unwrap();
        store.add(&name, &Sidecar::recovered(size as u64)).unwrap();
    }
    let stick = tmp.path().join("stick/MOMENTS");
    Fixture {
        _tmp: tmp,
        store,
        stick,
    }
}

fn run(f: &Fixture, cancel: &AtomicBool) -> (CopyReport, Vec<String>) {
    let mut marked = Vec::new();
    let report = copy_memories(
        &f.store,
        &f.stick,
        Filesystem::Ext4,
        cancel,
        &mut |_| {},
        &mut |name| marked.push(name.to_string()),
    );
    (report, marked)
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn copies_everything_then_only_what_is_new_or_different() {
    let f = fixture(&[3 << 20, 100, 0]);
    let (report, marked) = run(&f, &AtomicBool::new(false));
    assert!(report.stop.is_none());
    assert_eq!(report.progress.copied, 3);
    assert_eq!(report.progress.bytes_done, (3 << 20) + 100);
    assert!(report.progress.complete());
    assert_eq!(marked.len(), 3);
    for name in &marked {
        assert_eq!(
            std::fs::read(f.stick.join(name)).unwrap(),
            std::fs::read(f.store.dir().join(name)).unwrap()
        );
    }
    // A file of another size under a memory's name is replaced; a leftover partial removed.
    std::fs::write(f.stick.join(&marked[1]), b"short").unwrap();
    let leftover = f.stick.join(format!(".{}.partial", marked[0]));
    std::fs::write(&leftover, b"half").unwrap();
    std::fs::write(f.stick.join("notes.txt"), b"the person's own file").unwrap();
    let (again, _) = run(&f, &AtomicBool::new(false));
    assert_eq!(
        (again.progress.copied, again.progress.already_there),
        (1, 2)
    );
    assert_eq!(again.progress.bytes_total, 100);
    assert!(!leftover.exists());
    assert_eq!(listing(&f.stick).len(), 4, "three memories and notes.txt");
}

#[test]
fn a_cancelled_copy_leaves_no_file_under_a_final_name() {
    let f = fixture(&[4 << 20]);
    let (report, marked) = run(&f, &AtomicBool::new(true));
    assert!(matches!(report.stop, Some(Stop::Removed)));
    assert!(marked.is_empty());
    assert!(listing(&f.stick).is_empty(), "{:?}", listing(&f.stick));
}

#[test]
fn an_unreadable_memory_is_reported_and_the_others_copied() {
    let f = fixture(&[1000]);
    // Root reads every file whatever its mode; a directory under a memory's name cannot be read.
    let broken = "2026-11-30_09-00-00-MEMORY.mp4";
    std::fs::create_dir(f.store.dir().join(broken)).unwrap();
    let (report, marked) = run(&f, &AtomicBool::new(false));
    assert!(report.stop.is_none());
    assert_eq!((report.progress.copied, report.progress.unreadable), (1, 1));
    assert_eq!(report.progress.bytes_total, 1000);
    assert!(report.unreadable_error.unwrap().starts_with(broken));
    assert_eq!(marked.len(), 1);
    assert_eq!(listing(&f.stick), [marked[0].clone()]);
}

#[test]
fn a_memory_larger_than_fat_allows_is_skipped_without_reading_it() {
    let f = fixture(&[10]);
    let big = "2026-11-30_09-00-00-MEMORY.mp4";
    let file = std::fs::File::create(f.store.dir().join(big)).unwrap();
    file.set_len(Filesystem::Vfat.max_file_bytes() + 1).unwrap();
    let mut marked = Vec::new();
    let report = copy_memories(
        &f.store,
        &f.stick,
        Filesystem::Vfat,
        &AtomicBool::new(false),
        &mut |_| {},
        &mut |name| marked.push(name.to_string()),
    );
    assert!(report.stop.is_none());
    assert_eq!((report.progress.copied, report.progress.too_large), (1, 1));
    assert_eq!(report.progress.bytes_total, 10);
    assert!(!report.progress.complete());
}
