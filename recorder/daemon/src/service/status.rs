//! The daemon's status: one serialisable snapshot of everything a person (the web app, `moment-
//! recorder status`) or a test wants to see. The parts keep their own state; this file only
//! gathers it, so nothing waits on a lock held by the recording path. The [`Board`] also counts
//! changes a person would notice, so the web's live status can be sent at once (docs/api.md).

use crate::buttons::{ButtonsStats, LedStatus};
use crate::upload::UploadStatus;
use moment_media::CaptureTotals;
use moment_ring::Stats;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use tokio::sync::watch;

/// Events kept for the status (source restarts, saves, errors).
const MAX_EVENTS: usize = 32;
/// The kernel command line is at most a few KiB; more is not read.
const MAX_CMDLINE_BYTES: u64 = 16 << 10;
/// Longest slot name reported; RAUC's are short ("A", "rootfs.1").
const MAX_SLOT_CHARS: usize = 64;

/// The snapshot.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub version: &'static str,
    pub recording: RecordingStatus,
    pub ring: Stats,
    pub led: LedView,
    pub buttons: ButtonsView,
    pub saves: SaveView,
    pub memories: usize,
    pub uploads: UploadStatus,
    pub time: TimeView,
    pub network_resets: u64,
    pub network: NetworkView,
    pub system: SystemView,
    /// Firmware updates: the install under way, the last outcome, whether a reboot is due.
    pub update: Option<crate::update::UpdateStatus>,
    /// The USB export: each recent stick's state and copy progress.
    pub usb: crate::usb::UsbStatus,
    pub events: Vec<Event>,
}

/// Who runs the network: `"unmanaged"` when `network.backend` is off (the system set it up),
/// else the network manager's mode (`ap`, `joining`, `station`) with its details.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkView {
    pub mode: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub manager: Option<ManagedNetwork>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ManagedNetwork {
    pub setup: bool,
    pub ap_ssid: String,
    pub station_ssid: Option<String>,
    pub address: Option<String>,
    pub ap_clients: u32,
    pub last_error: Option<String>,
}

impl NetworkView {
    pub fn unmanaged() -> NetworkView {
        NetworkView {
            mode: "unmanaged".into(),
            manager: None,
        }
    }

    pub fn managed(view: crate::network::manager::NetworkView) -> NetworkView {
        NetworkView {
            mode: serde_json::to_value(view.mode)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            manager: Some(ManagedNetwork {
                setup: view.setup,
                ap_ssid: view.ap_ssid,
                station_ssid: view.station_ssid,
                address: view.address,
                ap_clients: view.ap_clients,
                last_error: view.last_error,
            }),
        }
    }
}

/// The running firmware.
#[derive(Clone, Debug, Serialize)]
pub struct SystemView {
    /// The RAUC slot the system booted from (`rauc.slot=` on the kernel command line); `None`
    /// when the command line has none (a development machine).
    pub booted_slot: Option<String>,
}

impl SystemView {
    /// Reads `/proc/cmdline` (once, at start: it does not change while running).
    pub fn read() -> SystemView {
        use std::io::Read;
        let mut cmdline = String::new();
        let read = std::fs::File::open("/proc/cmdline")
            .and_then(|f| f.take(MAX_CMDLINE_BYTES).read_to_string(&mut cmdline));
        if let Err(e) = read {
            tracing::warn!(error = %e, "status: cannot read /proc/cmdline");
        }
        SystemView {
            booted_slot: booted_slot(&cmdline),
        }
    }
}

/// The value of the last `rauc.slot=` on a kernel command line (the bootloader adds it), if it is
/// a plain name: printable ASCII, at most [`MAX_SLOT_CHARS`].
pub fn booted_slot(cmdline: &str) -> Option<String> {
    let value = cmdline
        .split_ascii_whitespace()
        .rev()
        .find_map(|arg| arg.strip_prefix("rauc.slot="))?;
    let value = value.trim_matches('"');
    let plain = !value.is_empty()
        && value.len() <= MAX_SLOT_CHARS
        && value.bytes().all(|b| b.is_ascii_graphic());
    plain.then(|| value.to_owned())
}

/// What the recording is doing, as a stable word the app turns into a sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordingState {
    /// Bytes arrive from the camera.
    Recording,
    /// Running, but no bytes within the silence bound (starting, or the camera restarts).
    WaitingForCamera,
    Stopped,
}

#[derive(Clone, Debug, Serialize)]
pub struct RecordingStatus {
    pub state: RecordingState,
    pub running: bool,
    pub source: String,
    pub bytes: u64,
    pub segments_sent: u64,
    pub segments_dropped: u64,
    pub source_restarts: u64,
    /// Seconds since bytes last arrived (None before the first).
    pub seconds_since_data: Option<f64>,
}

impl RecordingStatus {
    /// `silence_us`: how long without bytes counts as waiting for the camera.
    pub fn new(
        running: bool,
        source: String,
        totals: CaptureTotals,
        now_mono_us: u64,
        silence_us: u64,
    ) -> Self {
        let flowing = totals.last_data_mono_us > 0
            && now_mono_us.saturating_sub(totals.last_data_mono_us) < silence_us;
        RecordingStatus {
            state: match (running, flowing) {
                (false, _) => RecordingState::Stopped,
                (true, true) => RecordingState::Recording,
                (true, false) => RecordingState::WaitingForCamera,
            },
            running,
            source,
            bytes: totals.bytes,
            segments_sent: totals.segments_sent,
            segments_dropped: totals.segments_dropped,
            source_restarts: totals.gaps,
            seconds_since_data: (totals.last_data_mono_us > 0)
                .then(|| now_mono_us.saturating_sub(totals.last_data_mono_us) as f64 / 1e6),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct LedView {
    pub pattern: String,
    pub on: bool,
    pub flashes: u64,
}

impl From<LedStatus> for LedView {
    fn from(s: LedStatus) -> Self {
        LedView {
            pattern: s.pattern.name().to_owned(),
            on: s.on,
            flashes: s.flashes,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ButtonsView {
    pub backend: &'static str,
    pub events: u64,
    pub events_dropped: u64,
}

impl ButtonsView {
    pub fn new(backend: &'static str, stats: ButtonsStats) -> Self {
        ButtonsView {
            backend,
            events: stats.events,
            events_dropped: stats.events_dropped,
        }
    }
}

/// Saves since start and the one running now.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SaveView {
    pub in_progress: bool,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub completed: u64,
    /// SAVE requests that joined the save before them instead of making a memory of their own
    /// (save_join.rs).
    pub joined: u64,
    pub failed: u64,
    pub last_memory: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TimeView {
    pub utc_us: i64,
    pub synced: bool,
    /// The recorder's local time minus UTC now, in seconds (its TZ and /etc/localtime), so the
    /// app shows times as the camera names its memories, whatever the phone's time zone.
    pub utc_offset_s: i32,
}

/// The local time's offset from UTC at `utc_s` (seconds since the epoch), in seconds; 0 when the
/// C library cannot convert it.
pub fn local_offset_s(utc_s: i64) -> i32 {
    // time_t is 64 bits on every target the recorder builds for.
    let now: libc::time_t = utc_s;
    // SAFETY: `localtime_r` writes only into `tm`, which we own, and reads `now`; the reentrant
    // variant shares no static buffer with other threads.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&now, &mut tm).is_null() };
    // Real offsets lie within a day; anything else is not believed.
    match i32::try_from(tm.tm_gmtoff) {
        Ok(offset) if ok && offset.abs() < 86_400 => offset,
        _ => 0,
    }
}

/// Something that happened, for people reading the status: `kind` is the part it concerns (a
/// stable word: `save`, `source`, `upload`...), `message` a sentence in plain words.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    pub utc_us: i64,
    pub kind: &'static str,
    pub message: String,
}

/// A camera (source) event in plain words, for the status's events.
pub fn source_event_text(event: &moment_media::source::SourceEvent) -> String {
    use moment_media::source::SourceEvent;
    let secs = |d: &std::time::Duration| {
        let s = d.as_secs_f64();
        if s < 10.0 {
            format!("{s:.1} s")
        } else {
            format!("{:.0} s", s)
        }
    };
    match event {
        SourceEvent::Started { attempt: 1 } => "the camera started".to_owned(),
        SourceEvent::Started { attempt } => {
            format!("the camera started again (start number {attempt})")
        }
        SourceEvent::Ended { reason } => format!("the camera stopped: {reason}"),
        SourceEvent::Silent { after } => {
            format!(
                "the camera sent nothing for {}, so it was restarted",
                secs(after)
            )
        }
        SourceEvent::OpenFailed { error, retry_in } => {
            format!(
                "the camera could not start: {error}; next try in {}",
                secs(retry_in)
            )
        }
        SourceEvent::Replaced { by } => format!("the camera restarted with new settings: {by}"),
    }
}

/// The state the event loop changes and the status reads, and the count of changes a person would
/// see (this state's, and the LED's and the uploads' forwarded by the service).
#[derive(Debug)]
pub struct Board {
    inner: Mutex<BoardInner>,
    changes: watch::Sender<u64>,
}

impl Default for Board {
    fn default() -> Board {
        Board {
            inner: Mutex::default(),
            changes: watch::Sender::new(0),
        }
    }
}

#[derive(Debug, Default)]
struct BoardInner {
    saves: SaveView,
    events: VecDeque<Event>,
    network_resets: u64,
}

impl Board {
    /// Something a person sees has changed: wakes the web's live status streams.
    pub fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Follows [`Board::changed`] (only the latest count is kept, so a slow reader never queues).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn event(&self, kind: &'static str, message: impl Into<String>) {
        let message = message.into();
        tracing::info!(kind, "{message}");
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.events.len() >= MAX_EVENTS {
            inner.events.pop_front();
        }
        inner.events.push_back(Event {
            utc_us: moment_media::system_clock().utc_us,
            kind,
            message,
        });
        drop(inner);
        self.changed();
    }

    pub fn saves(&self, change: impl FnOnce(&mut SaveView)) {
        change(
            &mut self
                .inner
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .saves,
        );
        self.changed();
    }

    pub fn network_reset(&self) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .network_resets += 1;
        self.changed();
    }

    /// (saves, events, network resets) for a snapshot.
    pub fn read(&self) -> (SaveView, Vec<Event>, u64) {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (
            inner.saves.clone(),
            inner.events.iter().cloned().collect(),
            inner.network_resets,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booted_slot_comes_from_rauc_slot() {
        let line = "console=ttyS0 root=/dev/mmcblk0p2 rauc.slot=A rootwait\n";
        assert_eq!(booted_slot(line).as_deref(), Some("A"));
        assert_eq!(booted_slot("rauc.slot=\"B\"").as_deref(), Some("B"));
        assert_eq!(
            booted_slot("rauc.slot=A rauc.slot=rootfs.1").as_deref(),
            Some("rootfs.1"),
            "the last one counts, as with the kernel's own parameters"
        );
        assert_eq!(booted_slot("root=/dev/sda1 quiet"), None);
        assert_eq!(booted_slot(""), None);
        assert_eq!(booted_slot("rauc.slot="), None);
        assert_eq!(booted_slot("xrauc.slot=A"), None);
        assert_eq!(booted_slot(&format!("rauc.slot={}", "x".repeat(65))), None);
    }

    #[test]
    fn camera_events_read_as_sentences_without_debug_text() {
        use moment_media::source::SourceEvent;
        use std::time::Duration;
        let events = [
            SourceEvent::Started { attempt: 1 },
            SourceEvent::Started { attempt: 3 },
            SourceEvent::Ended {
                reason: "exit status 1".into(),
            },
            SourceEvent::Silent {
                after: Duration::from_secs(10),
            },
            SourceEvent::OpenFailed {
                error: "no such device".into(),
                retry_in: Duration::from_millis(500),
            },
            SourceEvent::Replaced {
                by: "test pattern 1280x720".into(),
            },
        ];
        for event in &events {
            let text = source_event_text(event);
            assert!(text.starts_with("the camera"), "{text}");
            assert!(!text.contains(['{', '}']), "{text}");
        }
        assert_eq!(source_event_text(&events[0]), "the camera started");
        assert_eq!(
            source_event_text(&events[4]),
            "the camera could not start: no such device; next try in 0.5 s"
        );
    }

    #[test]
    fn the_board_counts_changes() {
        let board = Board::default();
        let mut changes = board.subscribe();
        assert!(!changes.has_changed().unwrap());
        board.event("test", "something happened");
        assert!(changes.has_changed().unwrap());
        changes.borrow_and_update();
        board.saves(|s| s.in_progress = true);
        assert!(changes.has_changed().unwrap());
        changes.borrow_and_update();
        assert!(board.read().0.in_progress);
        board.network_reset();
        assert!(changes.has_changed().unwrap());
    }
}
