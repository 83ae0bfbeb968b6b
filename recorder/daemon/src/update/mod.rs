//! Firmware updates (DESIGN.md section 9, docs/api.md "Firmware update"): a bundle uploaded in
//! the web app is streamed to /data (`receive`), installed by RAUC into the other slot over
//! D-Bus (`rauc`), and made primary; after the reboot the new system is marked good only once it
//! records and serves the web app (`health`). A new system that cannot get there is left
//! unconfirmed and rebooted, so U-Boot's boot counter falls back to the old one, and the old one
//! then tells the user it rolled back and why (`record`).
//!
//! Recording never waits on any of this: the updater runs on the async runtime, writes only to
//! the bundle directory and its record, and every RAUC call has a time limit.

pub mod health;
pub mod rauc;
pub mod receive;
pub mod record;

use crate::config::update::UpdateSettings;
use health::{HealthWatch, Sample, Verdict};
use rauc::{Progress, Rauc};
use record::{Boot, Outcome, OutcomeKind, Record, Trial};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Longest an install may take before it is reported as failed (a rootfs slot on an SD card
/// takes a minute or two).
const INSTALL_LIMIT: Duration = Duration::from_secs(30 * 60);
/// Tries to reach RAUC at start, and the pause between them (it may start after the recorder).
const CONNECT_TRIES: u32 = 60;
const CONNECT_PAUSE: Duration = Duration::from_secs(2);
/// How often health is sampled.
const HEALTH_EVERY: Duration = Duration::from_secs(1);
/// Longest the web self-check and the reboot command may take.
const WEB_CHECK_LIMIT: Duration = Duration::from_secs(5);
const REBOOT_LIMIT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Idle,
    Receiving,
    Installing,
}

/// The update part of the daemon's status (`GET /api/status`, SSE).
#[derive(Clone, Debug, Serialize)]
pub struct UpdateStatus {
    pub available: bool,
    pub operation: Operation,
    pub progress: Option<Progress>,
    pub last: Option<Outcome>,
    pub reboot_needed: bool,
}

/// What the recording looks like now, for the health check (the service provides it).
pub struct Recording {
    pub data_flowing: bool,
    pub newest_seq: Option<u64>,
    pub ring_failed: Option<String>,
}

/// Says something changed (and, with a message, logs an event on the status board).
pub type Notify = Arc<dyn Fn(Option<String>) + Send + Sync>;

pub struct Updater {
    settings: Option<UpdateSettings>,
    record_path: PathBuf,
    state: Mutex<State>,
    rauc: tokio::sync::OnceCell<Rauc>,
    notify: Notify,
}

struct State {
    status: UpdateStatus,
    /// Why updates are not available (off, or RAUC unreachable).
    reason: Option<String>,
    record: Record,
}

/// Answered to the web; `status` is the HTTP status.
#[derive(Debug)]
pub struct UpdateError {
    pub status: u16,
    pub message: String,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn read_boot_id(path: &Path) -> String {
    std::fs::read_to_string(path)
        .map(|s| record::clip(s.trim()))
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, path = %path.display(), "update: cannot read the boot id");
            String::new()
        })
}

impl Updater {
    /// An updater not started yet: idle, not available (`reason` says why), showing the last
    /// outcome of `record`.
    fn new(
        settings: Option<UpdateSettings>,
        record_path: PathBuf,
        record: Record,
        reason: &str,
        notify: Notify,
    ) -> Arc<Updater> {
        Arc::new(Updater {
            state: Mutex::new(State {
                status: UpdateStatus {
                    available: false,
                    operation: Operation::Idle,
                    progress: None,
                    last: record.last.clone(),
                    reboot_needed: false,
                },
                reason: Some(reason.into()),
                record,
            }),
            settings,
            record_path,
            rauc: tokio::sync::OnceCell::new(),
            notify,
        })
    }

    /// An updater that only says updates are off (`update.backend = "off"`).
    pub fn off(notify: Notify) -> Arc<Updater> {
        let reason = "firmware updates are off on this recorder (update.backend)";
        Updater::new(None, PathBuf::new(), Record::default(), reason, notify)
    }

    /// Starts the updater: reaches RAUC, decides what this boot is, and watches the health.
    /// `recording` samples the recording; `web` is the web app's address for the self-check.
    pub fn start(
        settings: UpdateSettings,
        state_dir: &Path,
        notify: Notify,
        recording: Box<dyn Fn() -> Recording + Send + Sync>,
        web: Option<std::net::SocketAddr>,
    ) -> Arc<Updater> {
        let record_path = record::path(state_dir);
        let (record, problem) = record::load(&record_path);
        if let Some(problem) = problem {
            notify(Some(format!("update record: {problem}")));
        }
        receive::clean(&settings.bundle_dir);
        let updater = Updater::new(
            Some(settings),
            record_path,
            record,
            "waiting for RAUC",
            notify,
        );
        let started = Instant::now();
        tokio::spawn(updater.clone().boot(started, recording, web));
        updater
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn status(&self) -> UpdateStatus {
        self.state().status.clone()
    }

    fn event(&self, message: String) {
        tracing::info!("update: {message}");
        (self.notify)(Some(message));
    }

    /// Changes the record and keeps it on disk; a failed write is an event (the record in memory
    /// still drives this run).
    fn change_record(&self, change: impl FnOnce(&mut Record)) {
        let record = {
            let mut state = self.state();
            change(&mut state.record);
            state.status.last = state.record.last.clone();
            state.record.clone()
        };
        if let Err(e) = record::save(&self.record_path, &record) {
            self.event(format!("cannot save {}: {e}", self.record_path.display()));
        }
        let trial_file = record::trial_slot_path(&self.record_path);
        let kept = match &record.trial {
            Some(trial) => crate::atomic_file::write_atomic(&trial_file, trial.slot.as_bytes()),
            None => std::fs::remove_file(&trial_file).or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            }),
        };
        if let Err(e) = kept {
            self.event(format!("cannot update {}: {e}", trial_file.display()));
        }
        (self.notify)(None);
    }

    async fn boot(
        self: Arc<Self>,
        started: Instant,
        recording: Box<dyn Fn() -> Recording + Send + Sync>,
        web: Option<std::net::SocketAddr>,
    ) {
        let Some(settings) = self.settings.clone() else {
            return;
        };
        let Some(rauc) = self.connect(&settings).await else {
            return;
        };
        let booted = match rauc.boot_slot().await {
            Ok(slot) => slot,
            Err(e) => {
                self.state().reason = Some(e.clone());
                self.event(e);
                return;
            }
        };
        let boot_id = read_boot_id(&settings.boot_id_file);
        let record = self.state().record.clone();
        let deadline = match record::on_boot(&record, &booted, &boot_id, now_ms()) {
            Boot::Normal => None,
            Boot::AwaitingReboot => {
                self.state().status.reboot_needed = true;
                None
            }
            Boot::Trial => Some(settings.health_limit),
            Boot::RolledBack(outcome) => {
                self.event(outcome.message.clone());
                self.change_record(|r| {
                    r.trial = None;
                    r.last = Some(outcome);
                });
                None
            }
        };
        let mut watch = HealthWatch::new(settings.health, deadline);
        let mut tick = tokio::time::interval(HEALTH_EVERY);
        loop {
            tick.tick().await;
            let now = recording();
            let web_answers = match web {
                Some(addr) => web_answers(addr).await,
                None => true,
            };
            let sample = Sample {
                since_start: started.elapsed(),
                data_flowing: now.data_flowing,
                newest_seq: now.newest_seq,
                ring_failed: now.ring_failed,
                web_answers,
            };
            match watch.observe(&sample) {
                Verdict::Waiting => continue,
                Verdict::Healthy => return self.confirm(&rauc, &booted, deadline.is_some()).await,
                Verdict::Failed(why) => return self.fail_trial(&settings, why).await,
            }
        }
    }

    async fn connect(&self, settings: &UpdateSettings) -> Option<Rauc> {
        let mut last_error = String::new();
        for _ in 0..CONNECT_TRIES {
            match Rauc::connect(settings.bus.as_deref()).await {
                Ok(rauc) => {
                    let rauc = self.rauc.get_or_init(|| async { rauc }).await.clone();
                    let mut state = self.state();
                    state.status.available = true;
                    state.reason = None;
                    drop(state);
                    (self.notify)(None);
                    return Some(rauc);
                }
                Err(e) => last_error = e,
            }
            self.state().reason = Some(format!("RAUC does not answer yet: {last_error}"));
            tokio::time::sleep(CONNECT_PAUSE).await;
        }
        self.event(format!(
            "RAUC did not answer; firmware updates are unavailable: {last_error}"
        ));
        None
    }

    /// The booted system is healthy: mark its slot good; a trial becomes "updated".
    async fn confirm(&self, rauc: &Rauc, booted: &str, trial: bool) {
        match rauc.mark_booted_good().await {
            Ok(message) => tracing::info!("update: slot {booted} marked good ({message})"),
            Err(e) => return self.event(format!("cannot mark slot {booted} good: {e}")),
        }
        if !trial {
            return;
        }
        let version = self
            .state()
            .record
            .trial
            .as_ref()
            .and_then(|t| t.version.clone());
        let message = format!(
            "updated to {}: slot {booted} recorded and served the web app, and was marked good",
            version.as_deref().unwrap_or("the new version")
        );
        self.event(message.clone());
        self.change_record(|r| {
            r.trial = None;
            r.last = Some(Outcome {
                result: OutcomeKind::Updated,
                message,
                version,
                slot: Some(booted.to_string()),
                at_ms: now_ms(),
            });
        });
    }

    /// The new system did not become healthy: remember why, leave the slot unconfirmed, reboot.
    async fn fail_trial(&self, settings: &UpdateSettings, why: String) {
        self.event(format!(
            "the new system is not healthy; rebooting without confirming it: {why}"
        ));
        self.change_record(|r| {
            if let Some(trial) = &mut r.trial {
                if trial.failures.len() >= record::MAX_FAILURES {
                    trial.failures.remove(0);
                }
                trial.failures.push(record::clip(&why));
            }
        });
        if let Err(e) = run_reboot(&settings.reboot_command).await {
            self.event(e);
        }
    }

    /// `GET /api/update`: the slots as RAUC sees them, with the status.
    pub async fn view(&self) -> serde_json::Value {
        let (status, reason) = {
            let state = self.state();
            (state.status.clone(), state.reason.clone())
        };
        let mut view = serde_json::json!({
            "available": status.available,
            "reason": reason,
            "compatible": null,
            "booted_slot": null,
            "primary_slot": null,
            "slots": [],
            "operation": status.operation,
            "progress": status.progress,
            "last": status.last,
            "reboot_needed": status.reboot_needed,
            "max_bundle_bytes": self.settings.as_ref().map(|s| s.max_bundle_bytes),
        });
        let Some(rauc) = self.rauc.get() else {
            return view;
        };
        let slots = rauc.slots().await;
        let primary = rauc.primary().await.ok();
        if let Ok(slots) = &slots {
            view["primary_slot"] = serde_json::json!(slots
                .iter()
                .find(|s| Some(&s.name) == primary.as_ref())
                .and_then(|s| s.bootname.clone()));
        }
        view["compatible"] = serde_json::json!(rauc.compatible().await.ok());
        view["booted_slot"] = serde_json::json!(rauc.boot_slot().await.ok());
        match slots {
            Ok(slots) => view["slots"] = serde_json::json!(slots),
            Err(e) => view["reason"] = serde_json::json!(e),
        }
        view
    }

    /// `POST /api/update`: receives the bundle, then installs it in the background.
    pub async fn receive<S, E>(
        self: Arc<Self>,
        length: Option<u64>,
        body: S,
    ) -> Result<serde_json::Value, UpdateError>
    where
        S: futures_util::Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let refuse = |status, message: &str| UpdateError {
            status,
            message: message.to_string(),
        };
        let (Some(settings), Some(rauc)) = (self.settings.clone(), self.rauc.get().cloned()) else {
            let reason = self.state().reason.clone().unwrap_or_default();
            return Err(refuse(501, &format!("updates are not available: {reason}")));
        };
        {
            let mut state = self.state();
            if state.status.operation != Operation::Idle {
                return Err(refuse(
                    409,
                    "an update is already being received or installed",
                ));
            }
            state.status.operation = Operation::Receiving;
            state.status.progress = None;
        }
        (self.notify)(None);
        let limits = receive::Limits {
            max_bytes: settings.max_bundle_bytes,
            keep_free_bytes: settings.keep_free_bytes,
        };
        let bundle = match receive::receive(&settings.bundle_dir, &limits, length, body).await {
            Ok(bundle) => bundle,
            Err(e) => {
                self.state().status.operation = Operation::Idle;
                self.event(format!("bundle refused: {}", e.message));
                return Err(UpdateError {
                    status: e.status,
                    message: e.message,
                });
            }
        };
        self.state().status.operation = Operation::Installing;
        self.event(format!(
            "bundle received ({} bytes); installing",
            length.unwrap_or(0)
        ));
        tokio::spawn(self.clone().install(rauc, settings, bundle));
        Ok(serde_json::json!({ "operation": Operation::Installing }))
    }

    async fn install(self: Arc<Self>, rauc: Rauc, settings: UpdateSettings, bundle: PathBuf) {
        let progress_to = self.clone();
        let result = rauc
            .install(&bundle, INSTALL_LIMIT, move |progress| {
                progress_to.state().status.progress = Some(progress);
                (progress_to.notify)(None);
            })
            .await;
        let _ = tokio::fs::remove_file(&bundle).await;
        let outcome = match result {
            Ok(()) => self.installed(&rauc, &settings).await,
            Err(e) => Err(e),
        };
        let last = match outcome {
            Ok(outcome) => outcome,
            Err(error) => Outcome {
                result: OutcomeKind::Failed,
                message: record::clip(&format!("the update was not installed: {error}")),
                version: None,
                slot: None,
                at_ms: now_ms(),
            },
        };
        self.event(last.message.clone());
        {
            let mut state = self.state();
            state.status.operation = Operation::Idle;
            if last.result == OutcomeKind::Installed {
                state.status.reboot_needed = true;
            }
        }
        self.change_record(|r| r.last = Some(last));
    }

    /// After RAUC's success: which slot got it, and the trial to start at the next boot.
    async fn installed(&self, rauc: &Rauc, settings: &UpdateSettings) -> Result<Outcome, String> {
        let primary = rauc.primary().await?;
        let slots = rauc.slots().await?;
        let slot = slots
            .iter()
            .find(|s| s.name == primary)
            .ok_or_else(|| format!("RAUC's primary slot {primary} is not among its slots"))?;
        let bootname = slot.bootname.clone().unwrap_or_else(|| slot.name.clone());
        let trial = Trial {
            slot: bootname.clone(),
            version: slot.version.clone(),
            install_boot_id: read_boot_id(&settings.boot_id_file),
            failures: Vec::new(),
        };
        let version = trial.version.clone();
        self.change_record(|r| r.trial = Some(trial));
        Ok(Outcome {
            result: OutcomeKind::Installed,
            message: format!(
                "installed {} in slot {bootname}; reboot to start it",
                version.as_deref().unwrap_or("the update")
            ),
            version,
            slot: Some(bootname),
            at_ms: now_ms(),
        })
    }

    /// `POST /api/update/reboot`.
    pub fn reboot(&self) -> Result<serde_json::Value, UpdateError> {
        let Some(settings) = self.settings.clone() else {
            return Err(UpdateError {
                status: 501,
                message: "firmware updates are off on this recorder".into(),
            });
        };
        if self.state().status.operation != Operation::Idle {
            return Err(UpdateError {
                status: 409,
                message: "an update is being installed; reboot when it ends".into(),
            });
        }
        self.event("rebooting on request from the web app".into());
        let notify = self.notify.clone();
        tokio::spawn(async move {
            if let Err(e) = run_reboot(&settings.reboot_command).await {
                notify(Some(e));
            }
        });
        Ok(serde_json::json!({ "rebooting": true }))
    }
}

async fn run_reboot(command: &[String]) -> Result<(), String> {
    let (program, args) = command.split_first().ok_or("no reboot command")?;
    let run = tokio::process::Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .status();
    match tokio::time::timeout(REBOOT_LIMIT, run).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("the reboot command failed ({status})")),
        Ok(Err(e)) => Err(format!("cannot run the reboot command {program}: {e}")),
        Err(_) => Err(format!(
            "the reboot command did not end within {} s",
            REBOOT_LIMIT.as_secs()
        )),
    }
}

/// Whether the web app answers an HTTP request on `addr` (any status below 500 counts: the
/// point is that the server runs, not what this anonymous request may see).
async fn web_answers(addr: std::net::SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let target = if addr.ip().is_unspecified() {
        std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    };
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(target).await.ok()?;
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut head = [0u8; 16];
        stream.read_exact(&mut head[..12]).await.ok()?;
        let line = std::str::from_utf8(&head[..12]).ok()?;
        let code: u16 = line.strip_prefix("HTTP/1.1 ")?.parse().ok()?;
        Some(code < 500)
    };
    matches!(
        tokio::time::timeout(WEB_CHECK_LIMIT, check).await,
        Ok(Some(true))
    )
}
