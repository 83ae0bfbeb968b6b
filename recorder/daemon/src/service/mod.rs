//! `moment-recorder run`: the long-running service. Records from power-on (capture and ring
//! writer on their own threads, see `recording`), and around that, on a small tokio runtime:
//! buttons and LED, saves (`saver`), the uploader, the control socket, systemd notifications,
//! the last-known-time keeper, the runtime settings (`settings`), firmware updates (`update`)
//! and the USB export (`usb`). The rule that shapes it: nothing but the ring writer can stop the
//! recording. A failed save, a dead network or a hung rclone shows in the status and the LED.

mod network;
mod save_join;
mod saver;
mod settings;
pub mod status;
mod update;
mod usb;
mod web;

pub use saver::{SaveError, SaveRequest, Saver};

use crate::buttons::{Button, ButtonEvent, ButtonsTask, LedControl, LedFlag};
use crate::cli::device;
use crate::clock::{KernelClock, TimeKeeper};
use crate::config::Config;
use crate::control::{self, ButtonName, Handler, Request, Response};
use crate::memories::{MemoryStore, UploadState};
use crate::recording::{self, Recording};
use crate::upload::{UploadDone, UploadHandle, Uploader, UploaderOptions};
use anyhow::{Context, Result};
use moment_media::source::{SourceSwap, Supervisor};
use moment_ring::{FileDevice, OpenOptions, Ring, RingReader};
use status::{Board, ButtonsView, NetworkView, RecordingStatus, Status, SystemView, TimeView};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How often the last known time is saved.
const TIME_SAVE_EVERY: Duration = Duration::from_secs(60);
/// How often the event loop looks at the recording (ready, watchdog, ring failure).
const TICK: Duration = Duration::from_millis(500);
/// Upload notifications waiting for the event loop.
const DONE_QUEUE: usize = 64;
/// Saves running or waiting at once; a press beyond that is refused with a message.
const MAX_SAVES: usize = 2;
/// How often a finished save looks whether another request joined it, within the join window.
const JOIN_POLL: Duration = Duration::from_millis(100);
/// The LED shows an error this long after a failed save.
const ERROR_SHOWN: Duration = Duration::from_secs(10);

/// Everything the event loop and the control socket share.
struct Shared {
    config: Config,
    reader: RingReader<FileDevice>,
    memories: Arc<MemoryStore>,
    saver: Arc<Saver>,
    uploads: UploadHandle,
    led: LedControl,
    buttons_backend: &'static str,
    buttons: std::sync::Mutex<Option<ButtonsTask>>,
    board: Board,
    system: SystemView,
    time: TimeKeeper<KernelClock>,
    /// What the source is now; changes with the video settings.
    source_label: std::sync::Mutex<String>,
    capture: Arc<moment_media::CaptureProgress>,
    /// Hands the capture thread a new source (video settings).
    swap: SourceSwap,
    /// The live view's feed, published by the capture thread.
    live: Arc<crate::web::LiveHub>,
    settings: settings::LiveSettings,
    saves_running: std::sync::atomic::AtomicUsize,
    /// The SAVE that a request close after it joins (save_join.rs).
    joiner: save_join::Joiner,
    runtime: tokio::runtime::Handle,
    /// The Wi-Fi (AP for setup, or station), when `network.backend` is not off.
    network: Option<crate::network::manager::NetworkHandle>,
    /// Firmware updates; set once right after start (it reports through the board).
    updater: std::sync::OnceLock<Arc<crate::update::Updater>>,
    /// The USB export, when `[usb]` is on; set once right after start.
    usb: std::sync::OnceLock<usb::UsbService>,
}

/// Runs the daemon until SIGTERM/SIGINT or a ring failure.
pub fn run(config: Config) -> Result<()> {
    return_large_buffers_to_the_system();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
        .thread_name("moment-rt")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(daemon(config))
}

/// Segments are megabytes each and pass between threads; glibc's dynamic mmap threshold would keep
/// every freed one in a thread's arena (measured: 35 MiB peak RSS instead of 17 MiB over 60 s of
/// 10 Mbit/s). A fixed 128 KiB threshold makes such buffers mmap()ed and returned on free.
fn return_large_buffers_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator tuning; called before any other thread starts.
        let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10) };
        if ok != 1 {
            tracing::warn!("mallopt(M_MMAP_THRESHOLD) refused; memory use may be higher");
        }
    }
}

async fn daemon(config: Config) -> Result<()> {
    std::fs::create_dir_all(&config.state.dir)
        .with_context(|| format!("creating state.dir {}", config.state.dir.display()))?;
    // A pre-seed file on the boot partition comes first: it may set the upload settings.
    let preseed = import_preseed(&config).await;
    // The person's settings over the configuration file; a bad overlay never stops recording.
    let loaded = crate::settings::load(&config, &config.state.dir);
    if let Some(problem) = &loaded.problem {
        tracing::warn!("settings: {problem}");
    }
    let config = loaded.config;
    let time = TimeKeeper::new(KernelClock, &config.state.dir);
    match time.restore() {
        Ok(restored) => tracing::info!(?restored, "clock"),
        Err(e) => tracing::warn!(error = %e, "clock: cannot restore the last known time"),
    }
    let dev = device::open(&config.ring.device, true)?;
    let ring = Ring::open(dev, OpenOptions::default()).map_err(device::explain)?;
    tracing::info!(report = ?ring.recovery(), "ring opened");
    let reader = ring.reader();
    let (memories, cleanup) =
        MemoryStore::open(&config.memories.dir, config.memories.min_free_mib << 20)
            .with_context(|| format!("opening memories.dir {}", config.memories.dir.display()))?;
    if cleanup != Default::default() {
        tracing::warn!(?cleanup, "memories: repaired what a crash left");
    }
    let memories = Arc::new(memories);
    let segmenter = config.segmenter()?;
    let source = config.source.build()?;
    let source_label = source.describe();
    let supervisor = Supervisor::new(source, config.source.supervisor()?);
    let swap = supervisor.swap_handle();
    let board = Board::default();
    if let Some(problem) = loaded.problem {
        board.event("settings", problem);
    }
    if let Some(message) = preseed {
        board.event("preseed", message);
    }
    let events = EventSink::default();
    let live = Arc::new(crate::web::LiveHub::default());
    let recording = recording::start(
        ring,
        supervisor,
        segmenter,
        events.callback(),
        Some(live.clone()),
    )
    .context("starting the recording threads")?;
    let (buttons, mut button_events) =
        ButtonsTask::start(&config.buttons).context("starting the buttons")?;
    let led = buttons.led();
    led.set_flag(LedFlag::Recording, true);
    let (done_tx, mut done_rx) = mpsc::channel::<UploadDone>(DONE_QUEUE);
    let mut options = UploaderOptions::new(&config.state.dir, &config.memories.dir);
    options.on_done = Some(done_tx);
    let uploads = Uploader::start(&config.upload, options).context("starting the uploader")?;
    let saver = Arc::new(Saver {
        reader: reader.clone(),
        memories: memories.clone(),
        ffmpeg: PathBuf::from("ffmpeg"),
        close_wait: segmenter.hard_max + Duration::from_secs(5),
    });
    let network_handle = network::start(&config).unwrap_or_else(|e| {
        board.event("network", e);
        None
    });
    let shared = Arc::new(Shared {
        network: network_handle,
        buttons_backend: buttons.backend(),
        buttons: std::sync::Mutex::new(Some(buttons)),
        settings: settings::LiveSettings::new(config.clone(), loaded.overlay),
        config,
        reader,
        memories,
        saver,
        uploads,
        led,
        board,
        system: SystemView::read(),
        time,
        source_label: std::sync::Mutex::new(source_label),
        capture: recording.progress_handle(),
        swap,
        live,
        saves_running: Default::default(),
        joiner: Default::default(),
        runtime: tokio::runtime::Handle::current(),
        updater: std::sync::OnceLock::new(),
        usb: std::sync::OnceLock::new(),
    });
    update::start(&shared);
    usb::start(&shared);
    reconcile_uploads(&shared).await;
    let listener = control::bind(&shared.config.control.socket).with_context(|| {
        format!(
            "binding control.socket {}",
            shared.config.control.socket.display()
        )
    })?;
    let control_task = tokio::spawn(control::serve(listener, shared.clone()));
    let changes_task = tokio::spawn(follow_changes(shared.clone()));
    let web_task = web::start(&shared).await;
    let result = event_loop(
        &shared,
        &recording,
        &events,
        &mut button_events,
        &mut done_rx,
    )
    .await;
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    control_task.abort();
    changes_task.abort();
    if let Some(task) = web_task {
        task.abort();
    }
    shutdown(&shared, recording).await;
    result
}

/// Imports the pre-seed file (network.preseed) if there is one; a message for the status.
async fn import_preseed(config: &Config) -> Option<String> {
    let path = &config.network.preseed;
    if path.as_os_str().is_empty() {
        return None;
    }
    let targets = crate::preseed::Targets {
        config,
        state_dir: &config.state.dir,
    };
    match crate::preseed::import(path, &targets).await {
        Ok(None) => None,
        Ok(Some(done)) => Some(format!(
            "imported {} from {}; its passwords were removed",
            done.parts.join(", "),
            path.display()
        )),
        Err(e) => {
            tracing::error!("preseed: {e}");
            Some(format!(
                "{e} (nothing was imported; fix the file and restart)"
            ))
        }
    }
}

/// Counts the LED's and the uploads' changes on the board, so the web's live status follows them
/// as it follows saves and events. The LED's blinking (its level) is not a change; its pattern and
/// its save-step flashes are.
async fn follow_changes(shared: Arc<Shared>) {
    let mut led = shared.led.subscribe();
    let mut uploads = shared.uploads.subscribe();
    let shown = |s: &crate::buttons::LedStatus| (s.pattern, s.flashes, s.saves);
    let mut led_shown = shown(&led.borrow_and_update());
    loop {
        // A closed channel (the part stopped) fails its pattern and leaves the other branch.
        tokio::select! {
            Ok(()) = led.changed() => {
                let now = shown(&led.borrow_and_update());
                if now != led_shown {
                    led_shown = now;
                    shared.board.changed();
                }
            }
            Ok(()) = uploads.changed() => {
                uploads.borrow_and_update();
                shared.board.changed();
            }
            else => return,
        }
    }
}

/// Source events from the capture thread, picked up by the event loop (bounded).
#[derive(Clone, Default)]
struct EventSink {
    queue: Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
}

impl EventSink {
    const MAX: usize = 64;

    fn callback(
        &self,
    ) -> impl FnMut(std::time::SystemTime, moment_media::source::SourceEvent) + Send + 'static {
        let queue = self.queue.clone();
        move |_, event| {
            let mut queue = queue
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if queue.len() < Self::MAX {
                queue.push_back(status::source_event_text(&event));
            }
        }
    }

    fn drain(&self) -> Vec<String> {
        let mut queue = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        queue.drain(..).collect()
    }
}

async fn event_loop(
    shared: &Arc<Shared>,
    recording: &Recording,
    source_events: &EventSink,
    button_events: &mut mpsc::Receiver<ButtonEvent>,
    done: &mut mpsc::Receiver<UploadDone>,
) -> Result<()> {
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut tick = tokio::time::interval(TICK);
    let mut last_time_save = Instant::now();
    let mut watchdog = Watchdog::new(&shared.config);
    loop {
        tokio::select! {
            _ = sigterm.recv() => { shared.board.event("stop", "SIGTERM"); return Ok(()); }
            _ = sigint.recv() => { shared.board.event("stop", "SIGINT"); return Ok(()); }
            Some(event) = button_events.recv() => on_button(shared, event).await,
            Some(done) = done.recv() => on_uploaded(shared, &done),
            _ = tick.tick() => {
                for message in source_events.drain() {
                    shared.board.event("source", message);
                }
                settings::tick(shared);
                if recording.is_finished() {
                    anyhow::bail!("recording stopped (the ring failed or the source ended); see the log");
                }
                watchdog.tick(recording.progress().last_data_mono_us);
                let uploading = shared.uploads.status().activity == crate::upload::Activity::Uploading;
                shared.led.set_flag(LedFlag::Uploading, uploading);
                if last_time_save.elapsed() >= TIME_SAVE_EVERY {
                    last_time_save = Instant::now();
                    if let Err(e) = shared.time.save() {
                        tracing::warn!(error = %e, "clock: cannot save the time");
                    }
                }
            }
        }
    }
}

/// READY=1 once bytes flow; WATCHDOG=1 only while they keep flowing, so a hung pipeline gets the
/// service restarted by systemd.
/// How long without bytes from the source counts as not recording: twice its silence bound.
fn silence_us(config: &Config) -> u64 {
    (config.source.silence_s * 2e6) as u64
}

/// Whether bytes arrived from the source within `silence_us` (monotonic µs of the last bytes).
fn data_flowing(last_data_mono_us: u64, silence_us: u64) -> bool {
    last_data_mono_us > 0
        && moment_media::monotonic_us().saturating_sub(last_data_mono_us) < silence_us
}

struct Watchdog {
    ready: bool,
    enabled: bool,
    silence_us: u64,
}

impl Watchdog {
    fn new(config: &Config) -> Self {
        let mut usec = 0;
        let enabled = sd_notify::watchdog_enabled(false, &mut usec);
        Watchdog {
            ready: false,
            enabled,
            silence_us: silence_us(config),
        }
    }

    fn tick(&mut self, last_data_mono_us: u64) {
        let flowing = data_flowing(last_data_mono_us, self.silence_us);
        if flowing && !self.ready {
            self.ready = true;
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
            tracing::info!("ready: the ring is open and bytes flow");
        }
        if flowing && self.enabled {
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
        }
    }
}

async fn on_button(shared: &Arc<Shared>, event: ButtonEvent) {
    match event {
        ButtonEvent::Save {
            pressed_at,
            steps,
            window,
        } => start_save(shared, pressed_at, window, steps),
        ButtonEvent::Upload { .. } => {
            shared.board.event(
                "button",
                "UPLOAD: uploading the newest memory and all pending",
            );
            // A save still open for joins gets its memory queued as soon as its cut is done, and
            // uploaded then (upload_now below finds it not yet queued).
            shared.joiner.request_upload();
            if let Err(e) = shared.uploads.upload_now().await {
                shared
                    .board
                    .event("upload", format!("cannot start uploads: {e}"));
            }
        }
        ButtonEvent::NetworkReset => {
            shared.board.network_reset();
            shared
                .board
                .event("button", "both buttons held: network reset requested");
            network::network_reset(shared).await;
        }
        ButtonEvent::SaveStarted { .. }
        | ButtonEvent::SaveStep { .. }
        | ButtonEvent::SaveCancelled => {}
    }
}

/// Starts a save for a button press (the physical button, the control socket and the web app's SAVE
/// all come here); the press time is converted to UTC now, before any wait. A press close after
/// the previous one joins that save instead of making a second memory (save_join.rs).
fn start_save(shared: &Arc<Shared>, pressed_at: Instant, window: Duration, steps: u32) {
    let end_utc_us = moment_media::system_clock().utc_us - pressed_at.elapsed().as_micros() as i64;
    let from_utc_us = end_utc_us.saturating_sub(window.as_micros() as i64);
    let id = match shared
        .joiner
        .offer((from_utc_us, end_utc_us), Instant::now())
    {
        save_join::Offer::Joined((from, to)) => {
            shared.board.saves(|s| s.joined += 1);
            shared.board.event(
                "save",
                format!(
                    "SAVE again: joined the save just made, which now keeps {} s",
                    (to - from) / 1_000_000
                ),
            );
            return;
        }
        save_join::Offer::New(id) => id,
    };
    let what = format!("SAVE: the last {} s (held {steps} steps)", window.as_secs());
    let request = SaveRequest {
        end_utc_us,
        length: window,
    };
    if let Err(e) = start_save_job(shared, request, Some(id), what) {
        shared.joiner.close(id);
        shared.board.event("save", e);
    }
}

/// Starts saving `[end - length, end]` (a range from the web app) on a blocking thread; refused
/// when `MAX_SAVES` run. An explicit range never joins another save.
fn start_save_range(
    shared: &Arc<Shared>,
    end_utc_us: i64,
    length: Duration,
    what: String,
) -> Result<(), String> {
    start_save_job(shared, SaveRequest { end_utc_us, length }, None, what)
}

/// Runs a save on a blocking thread; with `join`, the joiner's save of that id: its range is cut
/// again while requests join it, each new cut replacing the last, until it closes.
fn start_save_job(
    shared: &Arc<Shared>,
    request: SaveRequest,
    join: Option<u64>,
    what: String,
) -> Result<(), String> {
    use std::sync::atomic::Ordering;
    if shared.saves_running.fetch_add(1, Ordering::SeqCst) >= MAX_SAVES {
        shared.saves_running.fetch_sub(1, Ordering::SeqCst);
        return Err("save refused: two saves are already running; try again in a moment".into());
    }
    shared.board.event("save", what);
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || {
        let saved = match join {
            None => cut(&shared, request, None),
            Some(id) => cut_joined(&shared, id),
        };
        shared.saves_running.fetch_sub(1, Ordering::SeqCst);
        let upload_asked = join.is_some_and(|id| shared.joiner.take_upload(id));
        if let Some(memory) = saved {
            let uploads = shared.uploads.clone();
            shared.runtime.spawn(async move {
                if let Err(e) = uploads.enqueue(&memory.name, memory.size).await {
                    tracing::warn!(error = %e, "cannot queue the upload");
                } else if upload_asked {
                    if let Err(e) = uploads.upload_now().await {
                        tracing::warn!(error = %e, "cannot start the upload UPLOAD asked for");
                    }
                }
            });
        }
    });
    Ok(())
}

/// Cuts the joiner's save `id` until it closes (bounded: each round is a join, and a save takes at
/// most `save_join::MAX_JOINS`); the memory that stays, if any.
fn cut_joined(shared: &Arc<Shared>, id: u64) -> Option<crate::memories::Memory> {
    let mut range = shared.joiner.range(id)?;
    let mut kept: Option<crate::memories::Memory> = None;
    for _ in 0..=save_join::MAX_JOINS {
        let request = SaveRequest {
            end_utc_us: range.1,
            length: Duration::from_micros((range.1 - range.0).max(0) as u64),
        };
        let Some(memory) = cut(shared, request, kept.as_ref()) else {
            shared.joiner.close(id);
            return kept;
        };
        kept = Some(memory);
        // Late requests may still join; the wait is bounded by the join window.
        loop {
            match shared.joiner.after_cut(id, range, Instant::now()) {
                save_join::AfterCut::Recut(grown) => {
                    range = grown;
                    break;
                }
                save_join::AfterCut::WaitUntil(until) => std::thread::sleep(
                    until
                        .saturating_duration_since(Instant::now())
                        .min(JOIN_POLL),
                ),
                save_join::AfterCut::Closed => return kept,
            }
        }
    }
    shared.joiner.close(id);
    kept
}

/// One cut of `request` with the status kept; `replaces`: the memory an earlier cut of the same
/// save made, deleted once the new one is recorded (so a crash between leaves both, never none).
fn cut(
    shared: &Arc<Shared>,
    request: SaveRequest,
    replaces: Option<&crate::memories::Memory>,
) -> Option<crate::memories::Memory> {
    shared.board.saves(|s| s.in_progress = true);
    let result = shared.saver.save(request, &mut |done, total| {
        shared.board.saves(|s| {
            s.bytes_done = done;
            s.bytes_total = total;
        })
    });
    let memory = finish_save(shared, result)?;
    if let Some(old) = replaces.filter(|old| old.name != memory.name) {
        match shared.memories.delete(&old.name) {
            Ok(()) => shared.board.event(
                "save",
                format!("{} replaces {}: it covers both", memory.name, old.name),
            ),
            Err(e) => {
                tracing::warn!(memory = %old.name, error = %e, "cannot delete the memory a joined save replaced")
            }
        }
    }
    Some(memory)
}

fn finish_save(
    shared: &Arc<Shared>,
    result: Result<crate::memories::Memory, SaveError>,
) -> Option<crate::memories::Memory> {
    match result {
        Ok(memory) => {
            shared.board.saves(|s| {
                s.in_progress = false;
                s.completed += 1;
                s.last_memory = Some(memory.name.clone());
            });
            shared.board.event(
                "save",
                format!(
                    "saved {} ({})",
                    memory.name,
                    crate::cli::units::human_bytes(memory.size)
                ),
            );
            Some(memory)
        }
        Err(e) => {
            shared.board.saves(|s| {
                s.in_progress = false;
                s.failed += 1;
                s.last_error = Some(e.to_string());
            });
            shared.board.event("save", format!("save failed: {e}"));
            show_error(shared);
            None
        }
    }
}

/// The LED's error pattern for [`ERROR_SHOWN`] (a failed save, a stick that got not everything).
fn show_error(shared: &Shared) {
    shared.led.set_flag(LedFlag::Error, true);
    let led = shared.led.clone();
    shared.runtime.spawn(async move {
        tokio::time::sleep(ERROR_SHOWN).await;
        led.set_flag(LedFlag::Error, false);
    });
}

fn on_uploaded(shared: &Shared, done: &UploadDone) {
    let marked = shared
        .memories
        .update(&done.name, |s| s.upload = UploadState::Done);
    shared.board.event(
        "upload",
        format!("uploaded {} ({})", done.name, done.verified),
    );
    match marked {
        Ok(memory) if shared.config.usb.delete_after_export => {
            crate::usb::delete_if_everywhere(&shared.memories, &memory, &|notice| {
                if let crate::usb::Notice::Event(message) = notice {
                    shared.board.event("usb", message);
                }
            });
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(memory = %done.name, error = %e, "cannot mark the memory uploaded")
        }
    }
}

/// Memories not uploaded yet go (back) into the upload queue; the queue forgets deleted ones.
async fn reconcile_uploads(shared: &Shared) {
    let memories = match shared.memories.list() {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(error = %e, "memories: cannot list");
            return;
        }
    };
    let pending = memories
        .iter()
        .filter(|m| m.sidecar.upload != UploadState::Done)
        .map(|m| (m.name.clone(), m.size))
        .collect();
    match shared.uploads.reconcile(pending).await {
        Ok(report) => tracing::info!(?report, "uploads reconciled with the memories"),
        Err(e) => tracing::warn!(error = %e, "uploads: cannot reconcile"),
    }
}

async fn shutdown(shared: &Arc<Shared>, recording: Recording) {
    recording.request_stop();
    let finished = tokio::task::spawn_blocking(move || recording.join()).await;
    match finished {
        Ok(f) => {
            tracing::info!(segments = f.writer.segments, ring_error = ?f.ring_error, "recording stopped")
        }
        Err(e) => tracing::error!(error = %e, "recording threads panicked"),
    }
    let buttons = shared.buttons.lock().ok().and_then(|mut b| b.take());
    if let Some(buttons) = buttons {
        buttons.stop().await;
    }
    shared.uploads.shutdown().await;
    if let Some(usb) = shared.usb.get() {
        usb.stop();
    }
    if let Err(e) = shared.time.save() {
        tracing::warn!(error = %e, "clock: cannot save the time");
    }
}

impl Shared {
    fn status(&self) -> Status {
        let (saves, events, network_resets) = self.board.read();
        let clock = moment_media::system_clock();
        let buttons_stats = self
            .buttons
            .lock()
            .ok()
            .and_then(|b| b.as_ref().map(ButtonsTask::stats))
            .unwrap_or_default();
        Status {
            version: env!("CARGO_PKG_VERSION"),
            recording: RecordingStatus::new(
                true,
                self.source_label
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone(),
                self.capture.snapshot(),
                clock.mono_us,
                silence_us(&self.config),
            ),
            ring: self.reader.stats(),
            led: self.led.status().into(),
            buttons: ButtonsView::new(self.buttons_backend, buttons_stats),
            saves,
            memories: self.memories.list().map(|l| l.len()).unwrap_or(0),
            uploads: self.uploads.status(),
            time: TimeView {
                utc_us: clock.utc_us,
                synced: clock.utc_synced,
                utc_offset_s: status::local_offset_s(clock.utc_us.div_euclid(1_000_000)),
            },
            network_resets,
            network: match &self.network {
                Some(n) => NetworkView::managed(n.view()),
                None => NetworkView::unmanaged(),
            },
            system: self.system.clone(),
            update: self.updater.get().map(|u| u.status()),
            usb: self.usb_status(),
            events,
        }
    }

    fn press(&self, button: ButtonName, hold: Duration) -> Response {
        let Some(presser) = self
            .buttons
            .lock()
            .ok()
            .and_then(|b| b.as_ref().map(ButtonsTask::presser))
        else {
            return Response::error("the buttons are stopping");
        };
        self.runtime.spawn(async move {
            let result = match button {
                ButtonName::Save => presser.gesture(Button::Save, hold).await.map(|_| ()),
                ButtonName::Upload => presser.gesture(Button::Upload, hold).await.map(|_| ()),
                ButtonName::Both => presser.chord(hold).await.map(|_| ()),
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "control: press failed");
            }
        });
        Response::ok(serde_json::json!({ "pressed": button, "hold_ms": hold.as_millis() as u64 }))
    }
}

impl Shared {
    fn set_time(&self, utc_us: i64) -> Result<bool, String> {
        let applied = self.time.set_from_user(utc_us)?;
        if applied {
            self.board.event("time", "clock set from the user's time");
        }
        Ok(applied)
    }
}

impl Handler for Shared {
    fn handle(&self, request: Request) -> Response {
        match request {
            Request::Press { button, hold_ms } => {
                self.press(button, Duration::from_millis(hold_ms))
            }
            Request::SetTime { utc_us } => match self.set_time(utc_us) {
                Ok(applied) => Response::ok(serde_json::json!({ "applied": applied })),
                Err(e) => Response::error(e),
            },
            Request::Usb { action, device } => match self.usb_request(action, &device) {
                Ok(()) => Response::ok(serde_json::json!({ "usb": action, "device": device })),
                Err(e) => Response::error(e),
            },
            Request::Status => match serde_json::to_value(self.status()) {
                Ok(value) => Response::ok(value),
                Err(e) => Response::error(format!("status: {e}")),
            },
        }
    }
}
