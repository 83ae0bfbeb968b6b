//! The USB export against real block devices: loop devices stand in for sticks (an MBR image
//! with an ext4 partition made here; this machine's kernel cannot mount vfat or exfat, so those
//! are tested for recognition on images from mkfs.vfat and mkfs.exfat). The exporter is the
//! library's, fed events the way the uevent listener feeds it. Covers the happy path, a second
//! insert that copies only what is new, a full stick, a write-protected one, one without a
//! usable filesystem, and a stick that dies in the middle of a copy.

mod support;

use moment_recorder::memories::{MemoryStore, Sidecar};
use moment_recorder::usb::probe::{self, Filesystem, Probe};
use moment_recorder::usb::{Exporter, ExporterSettings, Notice, StickEvent, StickState, StickView};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::stick::{must, partition, Stick};
use support::{program, s};

/// A stick is handled within this (a few MiB on a loop device take well under a second).
const HANDLED_WITHIN: Duration = Duration::from_secs(60);

/// The memories on the camera, the exporter, and what it announced.
struct Camera {
    tmp: tempfile::TempDir,
    store: Arc<MemoryStore>,
    exporter: Arc<Exporter>,
    notices: Arc<Mutex<Vec<Notice>>>,
}

/// Runs on the exporter's thread at each of its notices, with the exporter (to inject an event
/// at an exact point of a copy).
type Hook = Box<dyn Fn(&Exporter) + Send + Sync>;

impl Camera {
    fn new() -> Camera {
        Camera::with_hook(Box::new(|_| {}))
    }

    fn with_hook(hook: Hook) -> Camera {
        let tmp = tempfile::tempdir().unwrap();
        let (store, _) = MemoryStore::open(&tmp.path().join("memories"), 0).unwrap();
        let store = Arc::new(store);
        let notices = Arc::new(Mutex::new(Vec::new()));
        let heard = notices.clone();
        let me: Arc<std::sync::OnceLock<Arc<Exporter>>> = Default::default();
        let me_in_hook = me.clone();
        let settings = ExporterSettings {
            sys_block: PathBuf::from("/sys/class/block"),
            dev_dir: PathBuf::from("/dev"),
            mount_dir: tmp.path().join("usb"),
            folder: "MOMENTS".into(),
            power_off: true,
            delete_after_export: false,
        };
        let exporter = Exporter::start(
            settings,
            store.clone(),
            Arc::new(move |n| {
                heard.lock().unwrap().push(n);
                if let Some(exporter) = me_in_hook.get() {
                    hook(exporter);
                }
            }),
        )
        .unwrap();
        let _ = me.set(exporter.clone());
        Camera {
            tmp,
            store,
            exporter,
            notices,
        }
    }

    /// Saves a memory of `size` bytes, different for every `n`.
    fn save(&self, n: u32, size: usize) -> String {
        let name = format!("2026-11-30_12-{:02}-{:02}-MEMORY.mp4", n / 60, n % 60);
        let bytes: Vec<u8> = (0..size)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).wrapping_add(n) as u8)
            .collect();
        std::fs::write(self.store.dir().join(&name), bytes).unwrap();
        self.store
            .add(&name, &Sidecar::recovered(size as u64))
            .unwrap();
        name
    }

    fn local(&self) -> Vec<(String, Vec<u8>)> {
        self.store
            .list()
            .unwrap()
            .into_iter()
            .map(|m| {
                let bytes = std::fs::read(self.store.dir().join(&m.name)).unwrap();
                (m.name, bytes)
            })
            .collect()
    }

    fn exported(&self) -> Vec<String> {
        self.store
            .list()
            .unwrap()
            .into_iter()
            .filter(|m| m.sidecar.usb_exported)
            .map(|m| m.name)
            .collect()
    }

    /// Plugs `stick` in and waits until it is handled; its final view.
    fn plug(&self, stick: &Stick) -> StickView {
        self.exporter
            .send(StickEvent::Added { disk: stick.disk() })
            .unwrap();
        self.wait_for(&stick.disk(), |v| v.state != StickState::Copying)
    }

    fn wait_for(&self, disk: &str, done: impl Fn(&StickView) -> bool) -> StickView {
        let deadline = Instant::now() + HANDLED_WITHIN;
        loop {
            let status = self.exporter.status();
            if let Some(view) = status.sticks.iter().find(|v| v.disk == disk) {
                if done(view) {
                    return view.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "stick {disk} not handled: {status:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn mounted_under_us(&self) -> bool {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        mounts.contains(s(&self.tmp.path().join("usb")))
    }

    fn check(&self) -> PathBuf {
        self.tmp.path().join("check")
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.exporter.stop();
    }
}

#[test]
fn copies_every_memory_then_only_the_new_ones() {
    let camera = Camera::new();
    let dir = tempfile::tempdir().unwrap();
    let stick = Stick::ext4(dir.path(), "64M");
    for n in 0..3 {
        camera.save(n, 3 << 20);
    }

    let first = camera.plug(&stick);
    assert_eq!(first.state, StickState::Ejected, "{first:?}");
    assert_eq!(
        first.partition.as_deref(),
        Some(&*format!("{}p1", stick.disk()))
    );
    assert_eq!(first.filesystem, Some(Filesystem::Ext4));
    assert_eq!(
        (first.progress.copied, first.progress.already_there),
        (3, 0)
    );
    assert_eq!(first.progress.bytes_done, 9 << 20);
    assert!(
        first.message.contains("can be pulled out"),
        "{}",
        first.message
    );
    assert!(!camera.mounted_under_us(), "the stick is unmounted");
    assert_eq!(stick.contents(&camera.check()), camera.local());
    assert_eq!(camera.exported().len(), 3);
    let notices = camera.notices.lock().unwrap().clone();
    assert!(notices.contains(&Notice::Copying(true)) && notices.contains(&Notice::Copying(false)));
    assert!(!notices.contains(&Notice::Failed));

    // Two new memories; the stick comes back: only those two are copied.
    camera.save(10, 1 << 20);
    camera.save(11, 2 << 20);
    camera
        .exporter
        .send(StickEvent::Removed { disk: stick.disk() })
        .unwrap();
    camera.wait_for(&stick.disk(), |v| v.state == StickState::Removed);
    let second = camera.plug(&stick);
    assert_eq!(second.state, StickState::Ejected, "{second:?}");
    assert_eq!(
        (second.progress.copied, second.progress.already_there),
        (2, 3)
    );
    assert_eq!(second.progress.bytes_total, 3 << 20);
    assert_eq!(stick.contents(&camera.check()), camera.local());
    assert_eq!(camera.exported().len(), 5);
}

#[test]
fn a_full_stick_gets_what_fits_and_says_how_much_more_is_needed() {
    let camera = Camera::new();
    let dir = tempfile::tempdir().unwrap();
    // 24 MiB with ext4's journal and metadata leaves room for two of these, not three.
    let stick = Stick::ext4(dir.path(), "24M");
    for n in 0..3 {
        camera.save(n, 7 << 20);
    }
    let local_before = camera.local();

    let view = camera.plug(&stick);
    assert_eq!(view.state, StickState::Failed, "{view:?}");
    assert!(
        view.message.contains("the stick is full"),
        "{}",
        view.message
    );
    assert!(view.progress.did_not_fit >= 1, "{view:?}");
    assert_eq!(view.progress.copied + view.progress.did_not_fit, 3);
    assert!(camera.notices.lock().unwrap().contains(&Notice::Failed));
    assert!(!camera.mounted_under_us());

    // What is on the stick is whole and marked; nothing partial; nothing lost on the camera.
    let on_stick = stick.contents(&camera.check());
    assert_eq!(
        on_stick.len() as u32,
        view.progress.copied,
        "{:?}",
        names_of(&on_stick)
    );
    for (name, bytes) in &on_stick {
        let local = local_before.iter().find(|(n, _)| n == name).unwrap();
        assert_eq!(&local.1, bytes, "{name} differs");
    }
    assert_eq!(camera.exported(), names_of(&on_stick));
    assert_eq!(camera.local(), local_before);
}

#[test]
fn a_write_protected_stick_is_refused_without_mounting() {
    let camera = Camera::new();
    let dir = tempfile::tempdir().unwrap();
    let writable = Stick::ext4(dir.path(), "32M");
    let image = writable.image.clone();
    drop(writable);
    let stick = Stick::attach(&image, true);
    camera.save(0, 1 << 20);

    let view = camera.plug(&stick);
    assert_eq!(view.state, StickState::Failed, "{view:?}");
    assert!(view.message.contains("write-protected"), "{}", view.message);
    assert!(!camera.mounted_under_us());
    assert!(camera.exported().is_empty());
}

#[test]
fn a_stick_without_a_usable_filesystem_is_left_alone() {
    let camera = Camera::new();
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("blank.img");
    must("truncate", &["-s", "16M", s(&image)]);
    partition(&image);
    let stick = Stick::attach(&image, false);
    camera.save(0, 1000);

    let view = camera.plug(&stick);
    assert_eq!(view.state, StickState::Failed, "{view:?}");
    assert!(
        view.message
            .contains("No filesystem the camera can write to")
            && view.message.contains("exFAT"),
        "{}",
        view.message
    );
    assert_eq!(view.partition, None);
    assert!(camera.exported().is_empty());
}

#[test]
fn a_stick_pulled_out_mid_copy_keeps_only_whole_files_and_the_next_insert_finishes() {
    let stick_dir = tempfile::tempdir().unwrap();
    let stick = Stick::ext4(stick_dir.path(), "64M");
    let disk = stick.disk();
    let second = "2026-11-30_12-00-01-MEMORY.mp4";
    // The kernel's "remove" arrives the moment the second memory's copy begins.
    let pulled = AtomicBool::new(false);
    let camera = Camera::with_hook(Box::new(move |exporter| {
        let copying_second = exporter
            .status()
            .sticks
            .iter()
            .any(|v| v.progress.current.as_deref() == Some(second));
        if copying_second && !pulled.swap(true, Ordering::SeqCst) {
            exporter
                .send(StickEvent::Removed { disk: disk.clone() })
                .unwrap();
        }
    }));
    for n in 0..3 {
        camera.save(n, 4 << 20);
    }
    let local_before = camera.local();

    let view = camera.plug(&stick);
    assert_eq!(view.state, StickState::Removed, "{view:?}");
    assert!(
        view.message.contains("pulled out during the copy: 1 of 3"),
        "{}",
        view.message
    );
    assert_eq!(view.progress.copied, 1);
    assert!(
        !camera.mounted_under_us(),
        "a pulled stick's mount is detached"
    );
    assert_eq!(
        camera.local(),
        local_before,
        "nothing on the camera changed"
    );
    assert_eq!(camera.exported(), [local_before[0].0.clone()]);
    // Only the first memory, whole; the second's temporary file was removed, none is renamed.
    let on_stick = stick.contents(&camera.check());
    assert_eq!(on_stick, local_before[..1]);

    let again = camera.plug(&stick);
    assert_eq!(again.state, StickState::Ejected, "{again:?}");
    assert_eq!(
        (again.progress.copied, again.progress.already_there),
        (2, 1)
    );
    assert_eq!(stick.contents(&camera.check()), local_before);
}

#[test]
fn a_stick_that_fails_mid_copy_leaves_no_partial_file_and_the_next_insert_finishes() {
    let camera = Camera::new();
    let dir = tempfile::tempdir().unwrap();
    // The stick's image lives on a small tmpfs: once that is full, the loop device's writes
    // fail part-way through the copy, as a dying (or pulled) stick's do.
    let backing = dir.path().join("backing");
    std::fs::create_dir(&backing).unwrap();
    must(
        "mount",
        &["-t", "tmpfs", "-o", "size=28m", "tmpfs", s(&backing)],
    );
    let _unmount = Unmount(backing.clone());
    let stick = Stick::ext4(&backing, "96M");
    for n in 0..5 {
        camera.save(n, 8 << 20);
    }
    let local_before = camera.local();

    let view = camera.plug(&stick);
    assert_eq!(view.state, StickState::Failed, "{view:?}");
    assert!(
        view.message
            .contains("The stick stopped working during the copy")
            && view.message.contains("Nothing on the camera was lost"),
        "{}",
        view.message
    );
    assert!(view.progress.copied < 5, "{view:?}");
    assert!(!camera.mounted_under_us(), "the dead stick's mount is gone");
    assert!(camera.notices.lock().unwrap().contains(&Notice::Failed));
    assert_eq!(
        camera.local(),
        local_before,
        "nothing on the camera changed"
    );
    assert_eq!(camera.exported().len() as u32, view.progress.copied);

    // The stick works again (room on its backing store) and is plugged back in: the unfinished
    // file is cleaned up and the rest copied; every file under a final name is whole.
    must("mount", &["-o", "remount,size=200m", s(&backing)]);
    let again = camera.plug(&stick);
    assert_eq!(again.state, StickState::Ejected, "{again:?}");
    assert_eq!(again.progress.copied + again.progress.already_there, 5);
    assert_eq!(stick.contents(&camera.check()), local_before);
}

/// Unmounts a test's tmpfs on drop.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = program("umount", &["-l", s(&self.0)]);
    }
}

fn names_of(files: &[(String, Vec<u8>)]) -> Vec<String> {
    files.iter().map(|(n, _)| n.clone()).collect()
}

#[test]
fn recognises_vfat_and_exfat_made_by_mkfs() {
    let dir = tempfile::tempdir().unwrap();
    for (tool, args, expected) in [
        ("mkfs.vfat", vec!["-F", "32"], Filesystem::Vfat),
        ("mkfs.vfat", vec!["-F", "16"], Filesystem::Vfat),
        ("mkfs.exfat", vec![], Filesystem::Exfat),
        ("mkfs.ext4", vec!["-q", "-F"], Filesystem::Ext4),
    ] {
        let image = dir.path().join(format!("{tool}-{}.img", args.join("")));
        must("truncate", &["-s", "64M", s(&image)]);
        let mut all = args.clone();
        all.push(s(&image));
        must(tool, &all);
        assert_eq!(
            probe::probe_device(&image).unwrap(),
            Probe::Usable(expected),
            "{tool} {args:?}"
        );
    }
    let ntfs_like = dir.path().join("ntfs.img");
    let mut head = vec![0u8; probe::HEAD_BYTES];
    head[3..11].copy_from_slice(b"NTFS    ");
    std::fs::write(&ntfs_like, head).unwrap();
    assert_eq!(
        probe::probe_device(&ntfs_like).unwrap(),
        Probe::Unusable("NTFS")
    );
}
