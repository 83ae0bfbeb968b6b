//! The runtime settings in the running daemon: `GET/PUT /api/settings` read and change them, and
//! a change takes effect without a restart and without stopping the recording.
//!
//! - memories: the buttons task gets the new gesture timings (from the next press on);
//! - upload: the uploader gets its new policy, window and bandwidth limit (from its next
//!   decision);
//! - video: the capture thread's supervisor gets a new source through its `SourceSwap` (one gap,
//!   a DISCONTINUITY in the ring, as for any restart). The new source is on trial until
//!   `source.silence_s` (plus a little) has passed: if it has not delivered bytes by then, or
//!   has failed [`MAX_TRIAL_FAILURES`] times, the previous settings come back, with an event in
//!   the status. A video change is written to settings.json only once it has passed, so a
//!   setting that breaks the camera cannot survive a reboot.
//!
//! Nothing here waits on the recording threads: the swap is a one-slot mailbox and its status is
//! atomics. The lock below is held while the overlay file is written (on a blocking thread, for
//! the web); the event loop only ever `try_lock`s it.

use super::Shared;
use crate::config::Config;
use crate::settings::{
    self, Patch, SettingsError, SettingsView, VideoPatch, VideoView, SETTINGS_FILE,
};
use moment_media::source::SwapStatus;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

/// Failed sessions (exit, silence, failed start) of a new source that end its trial at once.
pub const MAX_TRIAL_FAILURES: u64 = 3;
/// Added to `source.silence_s` for the trial: the capture thread takes the new source within a
/// poll (0.2 s), and the camera's start is not free.
const TRIAL_SLACK: Duration = Duration::from_secs(2);

/// The settings as they are now, and what is written.
pub(super) struct LiveSettings {
    state: Mutex<LiveState>,
    /// `state.dir`, where settings.json lives.
    dir: PathBuf,
}

struct LiveState {
    /// The configuration with every change applied (the trial's video included).
    config: Config,
    /// What settings.json holds (without the video change on trial).
    overlay: Patch,
    trial: Option<Trial>,
}

/// A video change being tried.
struct Trial {
    /// The `SourceSwap` request that carries it.
    request: u64,
    deadline: Instant,
    /// The change, for the overlay once it has passed.
    change: VideoPatch,
    /// To go back to.
    previous: crate::config::source::SourceConfig,
    /// The settings before and after, for the status (`1280x720@30 4000 kbit/s`).
    from: String,
    to: String,
    /// Passed, and being written; the event loop leaves it alone.
    judged: bool,
}

impl LiveSettings {
    pub(super) fn new(config: Config, overlay: Patch) -> LiveSettings {
        LiveSettings {
            dir: config.state.dir.clone(),
            state: Mutex::new(LiveState {
                config,
                overlay,
                trial: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LiveState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Shared {
    /// The configuration with the person's settings applied, as it is now.
    pub(super) fn settings_config(&self) -> Config {
        self.settings.lock().config.clone()
    }

    /// `GET /api/settings`.
    pub(super) fn settings_json(&self) -> serde_json::Value {
        SettingsView::of(&self.settings.lock().config).to_json()
    }

    /// `PUT /api/settings`: checks, writes settings.json, applies live; the new settings.
    pub(super) fn put_settings(&self, patch: Patch) -> Result<serde_json::Value, SettingsError> {
        let mut live = self.settings.lock();
        let changes = patch.changes_from(&SettingsView::of(&live.config));
        if changes.is_empty() {
            return Ok(SettingsView::of(&live.config).to_json());
        }
        if let (Some(_), Some(trial)) = (&changes.video, &live.trial) {
            let left = trial.deadline.saturating_duration_since(Instant::now());
            return Err(SettingsError::busy(
                "video",
                format!(
                    "the video settings {} are still being tried; try again in {} s",
                    trial.to,
                    left.as_secs() + 1
                ),
            ));
        }
        let next = settings::apply(&live.config, &changes)?;
        // Everything that can fail comes before anything changes.
        let gestures = next.buttons.validate().map_err(internal)?;
        let source = match changes.video {
            Some(_) => Some(next.source.build().map_err(internal)?),
            None => None,
        };
        let written = live.overlay.merged(&Patch {
            video: None,
            ..changes.clone()
        });
        if written != live.overlay {
            settings::save(&self.settings.dir, &written).map_err(|e| {
                tracing::error!(error = %e, "settings: cannot write {SETTINGS_FILE}");
                SettingsError::failed(
                    "the settings could not be saved on the recorder, so nothing was changed; \
                     try again",
                )
            })?;
        }
        if changes.memories.is_some() {
            self.with_buttons(|b| b.set_gestures(gestures));
        }
        if changes.upload.is_some() {
            if let Err(e) = self.uploads.reconfigure(&next.upload) {
                tracing::warn!(error = %e, "settings: the uploader did not take them");
            }
        }
        if let (Some(source), Some(change)) = (source, changes.video) {
            live.trial = Some(self.try_video(&live.config, &next, source, change));
        }
        self.board.event("settings", describe(&changes, &next));
        live.config = next;
        live.overlay = written;
        Ok(SettingsView::of(&live.config).to_json())
    }

    /// Runs `f` on the buttons task unless it is stopping.
    fn with_buttons(&self, f: impl FnOnce(&crate::buttons::ButtonsTask)) {
        if let Ok(buttons) = self.buttons.lock() {
            if let Some(buttons) = buttons.as_ref() {
                f(buttons);
            }
        }
    }

    /// Hands the new source to the capture thread and starts its trial.
    fn try_video(
        &self,
        current: &Config,
        next: &Config,
        source: Box<dyn moment_media::source::Source>,
        change: VideoPatch,
    ) -> Trial {
        let label = source.describe();
        let request = self.swap.request(source);
        self.set_source_label(label);
        let silence = next
            .source
            .supervisor()
            .map(|s| s.silence)
            .unwrap_or(Duration::from_secs(10));
        // Both sources have video settings: `apply` refuses them for sources without.
        let shown = |c: &Config| VideoView::of(&c.source).map(|v| v.to_string());
        Trial {
            request,
            deadline: Instant::now() + silence + TRIAL_SLACK,
            change,
            previous: current.source.clone(),
            from: shown(current).unwrap_or_default(),
            to: shown(next).unwrap_or_default(),
            judged: false,
        }
    }

    fn set_source_label(&self, label: String) {
        *self
            .source_label
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = label;
    }
}

/// Called by the event loop on every tick: judges a video trial. Never waits: if a request
/// holds the settings, the next tick looks again.
pub(super) fn tick(shared: &Arc<Shared>) {
    let mut live = match shared.settings.state.try_lock() {
        Ok(live) => live,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => return,
    };
    let Some(trial) = live.trial.as_mut().filter(|t| !t.judged) else {
        return;
    };
    match judge(trial, shared.swap.status(), Instant::now()) {
        None => {}
        Some(Ok(())) => {
            trial.judged = true;
            let shared = shared.clone();
            // Writing settings.json may take a while on an SD card: not on the event loop.
            shared
                .runtime
                .clone()
                .spawn_blocking(move || keep_video(&shared));
        }
        Some(Err(why)) => {
            if let Some(trial) = live.trial.take() {
                revert(shared, &mut live, trial, &why);
            }
        }
    }
}

/// `None` while undecided; `Err` with the reason when the new source does not work.
fn judge(trial: &Trial, status: SwapStatus, now: Instant) -> Option<Result<(), String>> {
    let taken = status.applied == trial.request;
    if taken && status.failures >= MAX_TRIAL_FAILURES {
        return Some(Err(format!(
            "the camera stopped or failed to start {} times",
            status.failures
        )));
    }
    if now < trial.deadline {
        return None;
    }
    if !taken {
        return Some(Err("the capture did not take them in time".into()));
    }
    if !status.got_data {
        return Some(Err("no video arrived in time".into()));
    }
    Some(Ok(()))
}

/// Back to the previous source; settings.json never held the failed settings.
fn revert(shared: &Shared, live: &mut LiveState, trial: Trial, why: &str) {
    live.config.source = trial.previous;
    match live.config.source.build() {
        Ok(source) => {
            let label = source.describe();
            shared.swap.request(source);
            shared.set_source_label(label);
        }
        // It was built at start or by the change before; only a bug ends here.
        Err(e) => tracing::error!(error = %e, "settings: cannot rebuild the previous source"),
    }
    shared.board.event(
        "settings",
        format!(
            "video settings {} did not work ({why}); reverted to {}",
            trial.to, trial.from
        ),
    );
}

/// The trial passed: the video change joins settings.json.
fn keep_video(shared: &Shared) {
    let mut live = shared.settings.lock();
    let Some(trial) = live.trial.take() else {
        return;
    };
    let written = live.overlay.merged(&Patch {
        video: Some(trial.change),
        ..Patch::default()
    });
    let saved = settings::save(&shared.settings.dir, &written);
    live.overlay = written;
    let message = match saved {
        Ok(()) => format!("video settings {} work; kept", trial.to),
        Err(e) => {
            tracing::error!(error = %e, "settings: cannot write {SETTINGS_FILE}");
            format!(
                "video settings {} work, but could not be saved: they last until the recorder \
                 restarts",
                trial.to
            )
        }
    };
    shared.board.event("settings", message);
}

fn internal(e: crate::config::ConfigError) -> SettingsError {
    tracing::error!(error = %e, "settings: a checked change failed to apply");
    SettingsError::failed("the recorder could not apply these settings; nothing was changed")
}

/// "settings changed: save 0.5 min, trying video 640x480@15 300 kbit/s" for the status.
fn describe(changes: &Patch, next: &Config) -> String {
    let view = SettingsView::of(next);
    let mut parts = Vec::new();
    if let Some(m) = &changes.memories {
        if m.save_minutes.is_some() {
            parts.push(format!("save {} min", view.memories.save_minutes));
        }
        if m.hold_step_s.is_some() {
            parts.push(format!("hold step {} s", view.memories.hold_step_s));
        }
    }
    if changes.upload.is_some() {
        let u = &view.upload;
        parts.push(format!(
            "uploads {:?} (window {}, limit {:?})",
            u.policy, u.window, u.bwlimit
        ));
    }
    if let (Some(_), Some(video)) = (changes.video, view.video) {
        parts.push(format!("trying video {video}"));
    }
    format!("settings changed: {}", parts.join(", "))
}
