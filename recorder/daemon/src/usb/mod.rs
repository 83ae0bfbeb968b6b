//! USB stick export (DESIGN.md section 1, step 7): plug a stick in and every memory that is not on
//! it yet is copied into `MOMENTS/`, verified and synced; then the stick is unmounted and powered
//! off and the LED goes back to steady, which says it may be pulled. No network is involved.
//!
//! Events say which disk appeared or went away: on the camera from the kernel's uevents
//! (`uevent.rs`), from the control socket (`moment-recorder usb attach`), or from a test; they
//! all go through [`Exporter::send`] into a bounded queue. One worker thread handles one stick
//! at a time: find a usable filesystem (`probe.rs`), mount it with safe options (`system.rs`),
//! copy (`copy.rs`), unmount, power off. The worker only reads memories and writes their
//! sidecars' "copied to USB" mark: it cannot touch the recording, and a failing stick ends in a
//! message, not a stopped camera.

mod copy;
pub mod probe;
pub mod system;
pub mod uevent;

pub use copy::{copy_memories, CopyProgress, CopyReport, Stop};
pub use probe::Filesystem;

use crate::cli::units::human_bytes;
use crate::memories::MemoryStore;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Events waiting for the worker; a stick is handled in seconds to minutes, so this is plenty.
const QUEUE: usize = 16;
/// Sticks kept in the status (the newest).
const MAX_STICKS_SHOWN: usize = 4;
/// How often a copy's byte count reaches the status (the count of every chunk would flood it).
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// How long the worker waits for an event before it looks at the stop flag.
const IDLE_WAIT: Duration = Duration::from_millis(500);
/// Longest kernel block device name accepted (`mmcblk0p12` is 10).
const MAX_DISK_NAME: usize = 32;

/// A disk appearing or going away, by its kernel name (`sda`, `loop3`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StickEvent {
    Added { disk: String },
    Removed { disk: String },
}

/// A kernel block device name: letters and digits only, so it can never name a path elsewhere.
pub fn is_disk_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_DISK_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The disk name of `/dev/sda` or `sda`; `None` for anything else.
pub fn disk_name(device: &str) -> Option<String> {
    let name = device.strip_prefix("/dev/").unwrap_or(device);
    is_disk_name(name).then(|| name.to_string())
}

/// Where a stick stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StickState {
    /// Being looked at, mounted or copied to: do not pull it.
    Copying,
    /// Done and unmounted (powered off where possible): safe to pull.
    Ejected,
    /// Nothing or not everything could be copied; unmounted: safe to pull. `message` says why.
    Failed,
    /// Pulled out (after being ejected, or in the middle of a copy).
    Removed,
}

/// One stick as the status shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StickView {
    pub disk: String,
    /// The partition (or the disk itself) holding the filesystem used.
    pub partition: Option<String>,
    pub filesystem: Option<Filesystem>,
    pub state: StickState,
    /// A sentence for a person: what happened, what to do.
    pub message: String,
    /// The recorder powered it off (its disappearance that follows is expected, and the outcome
    /// stays on show).
    pub powered_off: bool,
    #[serde(flatten)]
    pub progress: CopyProgress,
}

/// The exporter in the daemon's status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UsbStatus {
    pub enabled: bool,
    /// The newest sticks, newest last.
    pub sticks: Vec<StickView>,
}

/// What the exporter tells the rest of the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The status changed (progress, a new stick).
    Changed,
    /// Something a person should see in the event list.
    Event(String),
    /// A copy started (`true`) or ended: the LED's copying pattern.
    Copying(bool),
    /// A stick could not be given everything: the LED shows an error for a while.
    Failed,
}

pub type Notify = Arc<dyn Fn(Notice) + Send + Sync>;

/// Where things are; the defaults are the real system's, tests point them elsewhere.
#[derive(Clone, Debug)]
pub struct ExporterSettings {
    /// /sys/class/block
    pub sys_block: PathBuf,
    /// /dev
    pub dev_dir: PathBuf,
    /// A directory per stick is made here to mount it on.
    pub mount_dir: PathBuf,
    /// The folder on the stick.
    pub folder: String,
    pub power_off: bool,
    /// Delete a memory from the device once it is uploaded and on a stick.
    pub delete_after_export: bool,
}

impl ExporterSettings {
    pub fn new(config: &crate::config::usb::UsbConfig) -> ExporterSettings {
        ExporterSettings {
            sys_block: PathBuf::from("/sys/class/block"),
            dev_dir: PathBuf::from("/dev"),
            mount_dir: config.mount_dir.clone(),
            folder: config.folder.clone(),
            power_off: config.power_off,
            delete_after_export: config.delete_after_export,
        }
    }
}

/// The running exporter: the intake of events and the status.
pub struct Exporter {
    intake: SyncSender<StickEvent>,
    /// The disk being copied to and its cancel flag, so a removal stops the copy at once
    /// instead of waiting in the queue behind it.
    active: Mutex<Option<(String, Arc<AtomicBool>)>>,
    status: Mutex<UsbStatus>,
    stop: AtomicBool,
}

impl Exporter {
    /// Starts the worker thread.
    pub fn start(
        settings: ExporterSettings,
        memories: Arc<MemoryStore>,
        notify: Notify,
    ) -> std::io::Result<Arc<Exporter>> {
        let (intake, queue) = mpsc::sync_channel(QUEUE);
        let exporter = Arc::new(Exporter {
            intake,
            active: Mutex::new(None),
            status: Mutex::new(UsbStatus {
                enabled: true,
                sticks: Vec::new(),
            }),
            stop: AtomicBool::new(false),
        });
        let worker = Worker {
            exporter: exporter.clone(),
            settings,
            memories,
            notify,
        };
        std::thread::Builder::new()
            .name("moment-usb".into())
            .spawn(move || worker.run(queue))?;
        Ok(exporter)
    }

    /// Hands the worker an event; a removal of the stick being copied to stops that copy now.
    pub fn send(&self, event: StickEvent) -> Result<(), String> {
        if let StickEvent::Removed { disk } = &event {
            if let Some((active, cancel)) = lock(&self.active).as_ref() {
                if active == disk {
                    cancel.store(true, Ordering::Relaxed);
                }
            }
        }
        let added = match &event {
            StickEvent::Added { disk } => Some(disk.clone()),
            StickEvent::Removed { .. } => None,
        };
        // Shown before the worker can take it: the status never shows the stick's previous
        // outcome as if it were this insertion's.
        if let Some(disk) = &added {
            self.show_new_stick(disk);
        }
        let refused = match self.intake.try_send(event) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(_)) => "the USB exporter is busy; plug the stick in again later",
            Err(TrySendError::Disconnected(_)) => "the USB exporter has stopped",
        };
        if let Some(disk) = &added {
            self.update_stick(disk, |view| {
                view.state = StickState::Failed;
                view.message = format!("{refused}.");
            });
        }
        Err(refused.into())
    }

    pub fn status(&self) -> UsbStatus {
        lock(&self.status).clone()
    }

    /// Stops the worker after the stick in hand (a copy under way is cancelled).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some((_, cancel)) = lock(&self.active).as_ref() {
            cancel.store(true, Ordering::Relaxed);
        }
    }

    /// A fresh view for a stick just plugged in, replacing an earlier one of the same disk.
    fn show_new_stick(&self, disk: &str) {
        let mut status = lock(&self.status);
        status.sticks.retain(|s| s.disk != disk);
        if status.sticks.len() >= MAX_STICKS_SHOWN {
            status.sticks.remove(0);
        }
        status.sticks.push(StickView {
            disk: disk.to_string(),
            partition: None,
            filesystem: None,
            state: StickState::Copying,
            message: "Waiting to look at the stick; do not pull it out.".into(),
            powered_off: false,
            progress: CopyProgress::default(),
        });
    }

    fn update_stick(&self, disk: &str, change: impl FnOnce(&mut StickView)) {
        let mut status = lock(&self.status);
        if let Some(view) = status.sticks.iter_mut().rev().find(|s| s.disk == disk) {
            change(view);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The worker thread's side.
struct Worker {
    exporter: Arc<Exporter>,
    settings: ExporterSettings,
    memories: Arc<MemoryStore>,
    notify: Notify,
}

impl Worker {
    fn run(self, queue: mpsc::Receiver<StickEvent>) {
        system::idle_io_priority();
        while !self.exporter.stop.load(Ordering::Relaxed) {
            match queue.recv_timeout(IDLE_WAIT) {
                Ok(StickEvent::Added { disk }) => self.handle(&disk),
                Ok(StickEvent::Removed { disk }) => self.removed(&disk),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// A stick went away while no copy was running on it; one the recorder powered off goes
    /// away because of that, and keeps its outcome on show.
    fn removed(&self, disk: &str) {
        self.exporter.update_stick(disk, |view| {
            if !view.powered_off {
                view.state = StickState::Removed;
            }
        });
        (self.notify)(Notice::Changed);
    }

    /// One stick from plugged in to safe to pull.
    fn handle(&self, disk: &str) {
        if !system::has_medium(&self.settings.sys_block, disk) {
            // A card reader without a card: nothing to copy to, nothing to say.
            tracing::info!(disk, "usb: the disk has no medium; left alone");
            lock(&self.exporter.status)
                .sticks
                .retain(|s| s.disk != disk);
            (self.notify)(Notice::Changed);
            return;
        }
        let cancel = Arc::new(AtomicBool::new(false));
        *lock(&self.exporter.active) = Some((disk.to_string(), cancel.clone()));
        self.exporter.update_stick(disk, |view| {
            view.message = "Looking at the stick; do not pull it out.".into();
        });
        (self.notify)(Notice::Copying(true));
        (self.notify)(Notice::Event(format!("USB stick {disk} plugged in")));
        let (state, message) = self.export(disk, &cancel);
        *lock(&self.exporter.active) = None;
        self.exporter.update_stick(disk, |view| {
            view.state = state;
            view.message = message.clone();
            view.progress.current = None;
        });
        (self.notify)(Notice::Copying(false));
        if state == StickState::Failed {
            (self.notify)(Notice::Failed);
        }
        (self.notify)(Notice::Event(format!("USB stick {disk}: {message}")));
    }

    /// Finds, mounts, copies, unmounts and powers off; the end state and its sentence.
    fn export(&self, disk: &str, cancel: &AtomicBool) -> (StickState, String) {
        // A disk with anything mounted (the camera's own card named by mistake, a stick someone
        // mounted by hand) is left exactly as it is: not mounted, not powered off.
        if let Some(refusal) = self.mounted_elsewhere(disk) {
            return (StickState::Failed, refusal);
        }
        let (partition, filesystem) = match self.choose_partition(disk) {
            Ok(found) => found,
            Err(message) => return self.finish_unmounted(disk, StickState::Failed, message),
        };
        self.exporter.update_stick(disk, |view| {
            view.partition = Some(partition.clone());
            view.filesystem = Some(filesystem);
            view.message = "Copying memories; do not pull the stick out.".into();
        });
        (self.notify)(Notice::Changed);
        let mount_point = self.settings.mount_dir.join(&partition);
        if let Err(message) = self.mount(&partition, filesystem, &mount_point) {
            let _ = std::fs::remove_dir(&mount_point);
            return self.finish_unmounted(disk, StickState::Failed, message);
        }
        let report = self.copy(disk, &mount_point, filesystem, cancel);
        // An I/O error is a pulled stick if the disk is gone by now (or its removal was
        // announced), else a failing one; either way nothing more is written to it.
        let gone = cancel.load(Ordering::Relaxed) || !self.settings.sys_block.join(disk).exists();
        let removed = matches!(report.stop, Some(Stop::Removed))
            || (gone && matches!(report.stop, Some(Stop::Io(_))));
        let dead = removed || matches!(report.stop, Some(Stop::Io(_)));
        let mut sync_error = None;
        if !dead {
            if let Err(e) = system::sync_filesystem(&mount_point) {
                sync_error = Some(format!("syncing the stick: {e}"));
            }
        }
        if let Err(e) = system::unmount(&mount_point, dead) {
            tracing::error!(error = %e, mount = %mount_point.display(), "usb: cannot unmount");
            let message = format!(
                "the stick could not be unmounted ({e}); do not pull it out until the camera \
                 restarts"
            );
            return (StickState::Failed, message);
        }
        let _ = std::fs::remove_dir(&mount_point);
        let (state, message) = outcome(&report, sync_error, removed);
        if removed {
            return (state, message);
        }
        self.finish_unmounted(disk, state, message)
    }

    /// Powers the stick off after everything else, and says it is safe to pull.
    fn finish_unmounted(
        &self,
        disk: &str,
        state: StickState,
        message: String,
    ) -> (StickState, String) {
        if !self.settings.power_off {
            return (state, format!("{message} The stick can be pulled out."));
        }
        match system::power_off(&self.settings.sys_block, disk) {
            Ok(powered) => {
                if powered == system::PowerOff::Done {
                    self.exporter
                        .update_stick(disk, |view| view.powered_off = true);
                }
                (state, format!("{message} The stick can be pulled out."))
            }
            Err(e) => {
                tracing::warn!(error = %e, disk, "usb: cannot power the stick off");
                (
                    state,
                    format!(
                        "{message} It is unmounted (not powered off: {e}); it can be pulled out."
                    ),
                )
            }
        }
    }

    /// The first partition holding a filesystem we write to; otherwise why not.
    fn choose_partition(&self, disk: &str) -> Result<(String, Filesystem), String> {
        let candidates = probe::candidates(&self.settings.sys_block, disk)
            .map_err(|e| format!("The stick {disk} cannot be read ({e})."))?;
        let mut found = Vec::new();
        for name in candidates {
            match probe::probe_device(&self.settings.dev_dir.join(&name)) {
                Ok(probe::Probe::Usable(filesystem)) => return Ok((name, filesystem)),
                Ok(probe::Probe::Unusable(what)) => found.push(format!("{what} on {name}")),
                Err(e) => found.push(format!("{name} unreadable ({e})")),
            }
        }
        Err(format!(
            "No filesystem the camera can write to ({}). Format the stick as exFAT or FAT32; \
             nothing was copied.",
            found.join(", ")
        ))
    }

    /// Why `disk` must be left alone: it or one of its partitions is mounted, or the mount
    /// table cannot be read.
    fn mounted_elsewhere(&self, disk: &str) -> Option<String> {
        let sys = &self.settings.sys_block;
        let mountinfo = match system::read_mountinfo() {
            Ok(text) => text,
            Err(e) => {
                return Some(format!(
                    "Cannot read the mount table ({e}); nothing was copied."
                ))
            }
        };
        let mut names = vec![disk.to_string()];
        names.extend(probe::candidates(sys, disk).unwrap_or_default());
        names.into_iter().find_map(|name| {
            let number = system::device_number(sys, &name).ok()?;
            let place = system::mounted_at(&mountinfo, &number)?;
            Some(format!(
                "{name} is already mounted at {place}; the camera leaves this disk alone."
            ))
        })
    }

    /// Mounts, refusing a write-protected device first.
    fn mount(&self, partition: &str, filesystem: Filesystem, at: &Path) -> Result<(), String> {
        let sys = &self.settings.sys_block;
        if system::is_read_only(sys, partition) {
            return Err(READ_ONLY.into());
        }
        create_private_dir(at).map_err(|e| format!("Cannot create {} ({e}).", at.display()))?;
        system::mount(&self.settings.dev_dir.join(partition), at, filesystem).map_err(|e| {
            match e.raw_os_error() {
                Some(libc::EROFS) | Some(libc::EACCES) => READ_ONLY.into(),
                _ => format!(
                    "The stick's {} filesystem on {partition} cannot be mounted ({e}); check it on \
                     a computer. Nothing was copied.",
                    filesystem.mount_type()
                ),
            }
        })
    }

    /// Copies with progress reaching the status at most every [`PROGRESS_EVERY`].
    fn copy(
        &self,
        disk: &str,
        root: &Path,
        filesystem: Filesystem,
        cancel: &AtomicBool,
    ) -> CopyReport {
        let folder = root.join(&self.settings.folder);
        let mut last_shown: Option<Instant> = None;
        let mut last_current: Option<String> = None;
        let mut progress = |p: &CopyProgress| {
            let due = last_shown.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY);
            if due || p.current != last_current {
                last_shown = Some(Instant::now());
                last_current = p.current.clone();
                self.exporter
                    .update_stick(disk, |view| view.progress = p.clone());
                (self.notify)(Notice::Changed);
            }
        };
        let mut on_stick = |name: &str| self.mark_exported(name);
        let report = copy_memories(
            &self.memories,
            &folder,
            filesystem,
            cancel,
            &mut progress,
            &mut on_stick,
        );
        self.exporter
            .update_stick(disk, |view| view.progress = report.progress.clone());
        if let Some(e) = &report.unreadable_error {
            (self.notify)(Notice::Event(format!(
                "USB: a memory could not be read: {e}"
            )));
        }
        report
    }

    /// Marks a memory as on a stick, and deletes it from the device if it is uploaded too and
    /// the configuration asks for that.
    fn mark_exported(&self, name: &str) {
        match self.memories.update(name, |s| s.usb_exported = true) {
            Ok(memory) => {
                if self.settings.delete_after_export {
                    delete_if_everywhere(&self.memories, &memory, &*self.notify);
                }
            }
            Err(e) => {
                tracing::warn!(memory = name, error = %e, "usb: cannot mark the memory copied")
            }
        }
    }
}

/// Deletes `memory` from the device when it is both uploaded and on a stick (the optional rule
/// of `usb.delete_after_export`); says so in the events.
pub fn delete_if_everywhere(
    store: &MemoryStore,
    memory: &crate::memories::Memory,
    notify: &dyn Fn(Notice),
) {
    if !memory.sidecar.uploaded_and_exported() {
        return;
    }
    match store.delete(&memory.name) {
        Ok(()) => notify(Notice::Event(format!(
            "deleted {} from the camera: it is uploaded and on a USB stick",
            memory.name
        ))),
        Err(e) => {
            tracing::warn!(memory = %memory.name, error = %e, "cannot delete an exported memory")
        }
    }
}

const READ_ONLY: &str =
    "The stick is write-protected (or its filesystem is read-only): nothing was copied.";

/// The end state and sentence of a copy that ran.
fn outcome(report: &CopyReport, sync_error: Option<String>, removed: bool) -> (StickState, String) {
    let p = &report.progress;
    let copied = format!(
        "{} of {} memories copied",
        p.copied + p.already_there,
        p.memories
    );
    if removed {
        return (
            StickState::Removed,
            format!(
                "The stick was pulled out during the copy: {copied}. Nothing on the camera was \
                 lost; plug it in again to copy the rest."
            ),
        );
    }
    match (&report.stop, &sync_error) {
        (Some(Stop::ReadOnly), _) => return (StickState::Failed, READ_ONLY.into()),
        (Some(Stop::Failed(why)), _) => {
            return (
                StickState::Failed,
                format!("Copying stopped: {why}. {copied}."),
            )
        }
        (Some(Stop::Io(why)), _) | (None, Some(why)) => {
            return (
                StickState::Failed,
                format!(
                    "The stick stopped working during the copy ({why}): {copied}. Nothing on \
                     the camera was lost; try the stick again or another one."
                ),
            )
        }
        (Some(Stop::Removed), _) | (None, None) => {}
    }
    let mut problems = Vec::new();
    if p.did_not_fit > 0 {
        problems.push(format!(
            "the stick is full: {} did not fit ({} more needed)",
            p.did_not_fit,
            human_bytes(p.need_bytes)
        ));
    }
    if p.too_large > 0 {
        problems.push(format!(
            "{} larger than its filesystem allows for one file (use exFAT)",
            p.too_large
        ));
    }
    if p.unreadable > 0 {
        problems.push(format!("{} could not be read on the camera", p.unreadable));
    }
    if problems.is_empty() {
        let message = match (p.copied, p.memories) {
            (0, 0) => "There are no memories to copy.".to_string(),
            (0, all) => format!("All {all} memories were already on the stick."),
            (1, all) => format!(
                "Copied 1 new memory ({}); all {all} are on the stick now.",
                human_bytes(p.bytes_done)
            ),
            (new, all) => format!(
                "Copied {new} new memories ({}); all {all} are on the stick now.",
                human_bytes(p.bytes_done)
            ),
        };
        return (StickState::Ejected, message);
    }
    (
        StickState::Failed,
        format!("{copied}; {}.", problems.join("; ")),
    )
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}
