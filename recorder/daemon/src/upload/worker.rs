//! The uploader's loop: one task owning the queue, running at most one transfer at a time while it
//! keeps answering requests. It decides what to send next (button first, then policy, window and
//! backoff), saves the queue after every change, and publishes status. New settings (policy,
//! window, bandwidth limit from the settings page) arrive on a `watch` channel and count from the
//! next decision; a transfer already running finishes as it started.

use super::config::{Policy, Settings};
use super::handle::{Enqueued, ReconcileReport, UploadDone, UploaderOptions};
use super::policy::{backoff, clamp_next_try, ms, Clock};
use super::queue::{check_name, Entry, EntryState, Queue, MAX_ERROR_CHARS};
use super::rclone::{Rclone, Stats};
use super::status::{Activity, DoneInfo, Phase, Progress, UploadStatus};
use super::transfer::{self, Transfer, Verified};
use super::{truncate, UploadError};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// Shortest idle sleep, so a retry time in the past cannot make the loop spin.
const MIN_WAIT: Duration = Duration::from_millis(10);

type Reply<T> = oneshot::Sender<Result<T, UploadError>>;

pub(crate) enum Command {
    Enqueue {
        name: String,
        size: u64,
        reply: Reply<Enqueued>,
    },
    Reconcile {
        memories: Vec<(String, u64)>,
        reply: Reply<ReconcileReport>,
    },
    Forget {
        name: String,
        reply: Reply<bool>,
    },
    UploadNow {
        reply: oneshot::Sender<()>,
    },
    Queue {
        reply: oneshot::Sender<Vec<Entry>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

type JobFuture = Pin<Box<dyn Future<Output = Result<Verified, String>> + Send>>;

struct Job {
    name: String,
    size: u64,
    forced: bool,
    started: Instant,
    future: JobFuture,
}

pub(crate) struct Worker {
    settings: Settings,
    memories_dir: PathBuf,
    clock: Arc<dyn Clock>,
    on_done: Option<mpsc::Sender<UploadDone>>,
    recheck: Duration,
    queue: Queue,
    /// The button's list: tried next, once each, ignoring policy and backoff.
    forced: VecDeque<String>,
    status: Arc<watch::Sender<UploadStatus>>,
    rx: mpsc::Receiver<Command>,
    /// Replacement settings; the newest wins.
    settings_rx: watch::Receiver<Settings>,
    last_error: Option<(String, i64)>,
    last_done: Option<DoneInfo>,
    /// Failures in a row across all memories; with `not_before` it keeps an offline device from
    /// trying every queued memory in turn at full speed.
    consecutive_failures: u32,
    not_before: i64,
}

impl Worker {
    /// `settings_rx` holds the settings to start with, and later ones.
    pub fn new(
        memories_dir: PathBuf,
        options: UploaderOptions,
        queue: Queue,
        notice: Option<String>,
        status: Arc<watch::Sender<UploadStatus>>,
        rx: mpsc::Receiver<Command>,
        mut settings_rx: watch::Receiver<Settings>,
    ) -> Worker {
        let settings = settings_rx.borrow_and_update().clone();
        let now = options.clock.now_utc_ms();
        let worker = Worker {
            settings,
            memories_dir,
            clock: options.clock,
            on_done: options.on_done,
            recheck: options.recheck.max(MIN_WAIT),
            queue,
            forced: VecDeque::new(),
            status,
            rx,
            settings_rx,
            last_error: notice.map(|n| (n, now)),
            last_done: None,
            consecutive_failures: 0,
            not_before: 0,
        };
        // Status is right from the first read (a set-aside queue file, for instance).
        worker.publish(None);
        worker
    }

    pub async fn run(mut self) {
        let (done, waiting) = self.counts();
        tracing::info!(remote = %self.settings.remote, policy = ?self.settings.policy, done, waiting,
            "uploader started");
        let mut job: Option<Job> = None;
        loop {
            if job.is_none() {
                job = self.next_job().await;
            }
            self.publish(job.as_ref());
            let wait = self.idle_wait();
            tokio::select! {
                command = self.rx.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        self.stop(&mut job).await;
                        let _ = reply.send(());
                        break;
                    }
                    // Every handle is gone: nobody can ask for anything any more.
                    None => {
                        self.stop(&mut job).await;
                        break;
                    }
                    Some(command) => self.handle(command, &mut job).await,
                },
                // Never ready again once every handle is gone (`rx` ends the loop then).
                Ok(()) = self.settings_rx.changed() => {
                    self.settings = self.settings_rx.borrow_and_update().clone();
                    tracing::info!(policy = ?self.settings.policy, window = %self.settings.window,
                        bwlimit = ?self.settings.bwlimit, "upload settings changed");
                }
                result = run_job(&mut job) => {
                    if let Some(finished) = job.take() {
                        self.finish(finished, result).await;
                    }
                }
                () = tokio::time::sleep(wait), if job.is_none() => {}
            }
        }
        self.status.send_modify(|s| {
            s.activity = Activity::Stopped;
            s.current = None;
        });
        tracing::info!("uploader stopped");
    }

    /// Chooses and starts the next transfer, if anything may be sent now.
    async fn next_job(&mut self) -> Option<Job> {
        if self.settings.remote.is_empty() {
            self.forced.clear();
            return None;
        }
        let (name, forced) = self.pick()?;
        let entry = self.queue.get_mut(&name)?;
        entry.state = EntryState::Uploading;
        let size = entry.size;
        // Saved so a crash from here on is seen at startup as an interrupted upload.
        let _ = self.save().await;
        let transfer = Transfer {
            rclone: Rclone {
                program: self.settings.rclone.clone(),
                config: self.settings.rclone_config.clone(),
                bwlimit: self.settings.bwlimit.clone(),
            },
            remote: self.settings.remote.clone(),
            name: name.clone(),
            local: self.memories_dir.join(&name),
            timeout: self.settings.timeout,
        };
        let status = Arc::clone(&self.status);
        let job_name = name.clone();
        let mut report = move |phase: Phase, stats: Stats| {
            status.send_modify(|s| {
                s.current = Some(Progress {
                    name: job_name.clone(),
                    phase,
                    bytes_done: stats.bytes.min(size),
                    bytes_total: size,
                    rate_bps: stats.rate_bps,
                    eta_s: stats.eta_s,
                    forced,
                });
            });
        };
        tracing::info!(name = %name, size, forced, "upload starting");
        let future: JobFuture = Box::pin(async move { transfer::run(transfer, &mut report).await });
        Some(Job {
            name,
            size,
            forced,
            started: Instant::now(),
            future,
        })
    }

    /// The button's list first; then, if policy, window and the global backoff allow, the oldest
    /// memory that is pending or whose retry time has come.
    fn pick(&mut self) -> Option<(String, bool)> {
        while let Some(name) = self.forced.pop_front() {
            if self
                .queue
                .get(&name)
                .is_some_and(|e| e.state != EntryState::Done)
            {
                return Some((name, true));
            }
        }
        match self.settings.policy {
            Policy::Manual => return None,
            Policy::Window if !self.in_window() => return None,
            _ => {}
        }
        let now = self.clock.now_utc_ms();
        let max = self.settings.backoff_max;
        self.not_before = clamp_next_try(self.not_before, now, max);
        if now < self.not_before {
            return None;
        }
        for entry in &mut self.queue.entries {
            match entry.state {
                EntryState::Pending => return Some((entry.name.clone(), false)),
                EntryState::FailedWaiting => {
                    let next = clamp_next_try(entry.next_try_unix_ms.unwrap_or(0), now, max);
                    entry.next_try_unix_ms = Some(next);
                    if next <= now {
                        return Some((entry.name.clone(), false));
                    }
                }
                EntryState::Uploading | EntryState::Done => {}
            }
        }
        None
    }

    fn in_window(&self) -> bool {
        self.settings
            .window
            .contains(self.clock.local_minute_of_day())
    }

    /// How long to sleep with nothing running: until the next retry is due, at most `recheck`.
    fn idle_wait(&self) -> Duration {
        let now = self.clock.now_utc_ms();
        let due = self
            .queue
            .entries
            .iter()
            .filter(|e| e.state == EntryState::FailedWaiting)
            .filter_map(|e| e.next_try_unix_ms)
            .chain((self.not_before > now).then_some(self.not_before))
            .map(|t| t.saturating_sub(now).max(0))
            .min();
        let wait = match due {
            Some(ms) => Duration::from_millis(u64::try_from(ms).unwrap_or(0)).min(self.recheck),
            None => self.recheck,
        };
        wait.max(MIN_WAIT)
    }

    async fn finish(&mut self, job: Job, result: Result<Verified, String>) {
        let now = self.clock.now_utc_ms();
        match result {
            Ok(verified) => self.succeeded(job, verified, now).await,
            Err(message) => self.failed(job, &message, now).await,
        }
    }

    async fn succeeded(&mut self, job: Job, verified: Verified, now: i64) {
        if let Some(entry) = self.queue.get_mut(&job.name) {
            entry.state = EntryState::Done;
            entry.size = verified.size;
            entry.done_unix_ms = Some(now);
            entry.verified = Some(verified.method.clone());
            entry.attempts = 0;
            entry.next_try_unix_ms = None;
            entry.last_error = None;
        }
        self.consecutive_failures = 0;
        self.not_before = 0;
        self.last_error = None;
        let seconds = job.started.elapsed().as_secs_f64();
        tracing::info!(name = %job.name, bytes = verified.size, verified = %verified.method,
            found = verified.found, seconds, "upload done");
        self.last_done = Some(DoneInfo {
            name: job.name.clone(),
            bytes: verified.size,
            verified: verified.method.clone(),
            seconds,
            at_unix_ms: now,
        });
        // Saved before telling anyone: "done" must be durable before the memory can be treated
        // as uploaded (and, say, deleted to make room).
        let saved = self.save().await.is_ok();
        // Status first, so whoever receives the notification and looks at status sees it done.
        self.publish(None);
        if let (Some(tx), true) = (&self.on_done, saved) {
            let done = UploadDone {
                name: job.name,
                size: verified.size,
                verified: verified.method,
            };
            if tx.try_send(done).is_err() {
                tracing::warn!(
                    "upload-done notification dropped (receiver full or gone); the queue has it"
                );
            }
        }
    }

    async fn failed(&mut self, job: Job, message: &str, now: i64) {
        let message = truncate(message, MAX_ERROR_CHARS);
        let (min, max) = (self.settings.backoff_min, self.settings.backoff_max);
        let mut attempts = 0;
        if let Some(entry) = self.queue.get_mut(&job.name) {
            entry.attempts = entry.attempts.saturating_add(1);
            attempts = entry.attempts;
            entry.state = EntryState::FailedWaiting;
            entry.next_try_unix_ms = Some(now.saturating_add(ms(backoff(min, max, attempts))));
            entry.last_error = Some(message.clone());
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.not_before = now.saturating_add(ms(backoff(min, max, self.consecutive_failures)));
        tracing::warn!(name = %job.name, attempts, forced = job.forced, "upload failed: {message}");
        self.last_error = Some((
            truncate(&format!("{}: {message}", job.name), MAX_ERROR_CHARS),
            now,
        ));
        let _ = self.save().await;
    }

    /// Ends the running transfer (dropping it kills rclone) and puts its entry back.
    async fn stop(&mut self, job: &mut Option<Job>) {
        if let Some(j) = job.take() {
            drop(j.future);
            if let Some(entry) = self.queue.get_mut(&j.name) {
                entry.state = EntryState::Pending;
            }
            tracing::info!(name = %j.name, "upload stopped; it will start again later");
        }
        let _ = self.save().await;
    }

    async fn handle(&mut self, command: Command, job: &mut Option<Job>) {
        match command {
            Command::Enqueue { name, size, reply } => {
                let _ = reply.send(self.enqueue(&name, size).await);
            }
            Command::Reconcile { memories, reply } => {
                let _ = reply.send(self.reconcile(memories, job).await);
            }
            Command::Forget { name, reply } => {
                if job.as_ref().is_some_and(|j| j.name == name) {
                    *job = None;
                }
                let removed = self.queue.remove(&name);
                let result = match removed {
                    true => self.save().await.map(|()| true),
                    false => Ok(false),
                };
                let _ = reply.send(result);
            }
            Command::UploadNow { reply } => {
                self.upload_now(job.as_ref());
                let _ = reply.send(());
            }
            Command::Queue { reply } => {
                let _ = reply.send(self.queue.entries.clone());
            }
            // Handled by the loop, which must end after it.
            Command::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }

    async fn enqueue(&mut self, name: &str, size: u64) -> Result<Enqueued, UploadError> {
        check_name(name).map_err(|reason| UploadError::InvalidName {
            name: name.to_owned(),
            reason,
        })?;
        if let Some(entry) = self.queue.get_mut(name) {
            return match entry.state {
                EntryState::Done => Ok(Enqueued::AlreadyUploaded),
                _ => {
                    entry.size = size;
                    Ok(Enqueued::AlreadyQueued)
                }
            };
        }
        self.queue.push(name, size, self.clock.now_utc_ms())?;
        self.save().await?;
        Ok(Enqueued::Added)
    }

    async fn reconcile(
        &mut self,
        memories: Vec<(String, u64)>,
        job: &mut Option<Job>,
    ) -> Result<ReconcileReport, UploadError> {
        let mut report = ReconcileReport::default();
        let mut present: HashMap<String, u64> =
            HashMap::with_capacity(memories.len().min(self.queue.max));
        for (name, size) in memories {
            if check_name(&name).is_ok() {
                present.insert(name, size);
            } else {
                report.skipped += 1;
            }
        }
        let before = self.queue.entries.len();
        self.queue.entries.retain(|e| present.contains_key(&e.name));
        report.dropped = before - self.queue.entries.len();
        if job.as_ref().is_some_and(|j| !present.contains_key(&j.name)) {
            *job = None;
        }
        for entry in &mut self.queue.entries {
            if let Some(size) = present.remove(&entry.name) {
                if entry.state != EntryState::Done {
                    entry.size = size;
                }
            }
        }
        // What is left is new; oldest name first keeps the order stable (names carry the time).
        let mut new: Vec<(String, u64)> = present.into_iter().collect();
        new.sort();
        let now = self.clock.now_utc_ms();
        for (name, size) in new {
            match self.queue.push(&name, size, now) {
                Ok(()) => report.added += 1,
                Err(_) => report.skipped += 1,
            }
        }
        if report.skipped > 0 {
            tracing::warn!(
                skipped = report.skipped,
                "reconcile skipped memories (bad names or queue full)"
            );
        }
        self.save().await?;
        Ok(report)
    }

    fn upload_now(&mut self, job: Option<&Job>) {
        if self.settings.remote.is_empty() {
            let message = "uploads are off: set upload.remote (for example moment:memories)";
            self.last_error = Some((message.to_owned(), self.clock.now_utc_ms()));
            return;
        }
        let running = job.map(|j| j.name.as_str());
        let waiting: Vec<&Entry> = self
            .queue
            .entries
            .iter()
            .filter(|e| e.state != EntryState::Done && Some(e.name.as_str()) != running)
            .collect();
        self.forced.clear();
        if let Some((newest, rest)) = waiting.split_last() {
            self.forced.push_back(newest.name.clone());
            self.forced.extend(rest.iter().map(|e| e.name.clone()));
        }
        tracing::info!(count = self.forced.len(), "upload requested");
    }

    /// Writes the queue atomically on the blocking pool (fsync must not stall the runtime).
    async fn save(&mut self) -> Result<(), UploadError> {
        let result = match self.queue.encode() {
            Ok(bytes) => {
                let path = self.queue.path.clone();
                let write = move || crate::atomic_file::write_atomic(&path, &bytes);
                match tokio::task::spawn_blocking(write).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(UploadError::Save(e.to_string())),
                    Err(e) => Err(UploadError::Save(e.to_string())),
                }
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            tracing::error!("{e}");
            self.last_error = Some((e.to_string(), self.clock.now_utc_ms()));
        }
        result
    }

    fn counts(&self) -> (u32, u32) {
        let done = self
            .queue
            .entries
            .iter()
            .filter(|e| e.state == EntryState::Done)
            .count();
        let waiting = self.queue.entries.len() - done;
        (clamp_u32(done), clamp_u32(waiting))
    }

    fn publish(&self, job: Option<&Job>) {
        let (done, pending) = self.counts();
        let failed = self
            .queue
            .entries
            .iter()
            .filter(|e| e.state == EntryState::FailedWaiting);
        let next_try = failed.clone().filter_map(|e| e.next_try_unix_ms).min();
        let now = self.clock.now_utc_ms();
        let next_try = match (next_try, self.not_before > now) {
            (Some(t), true) => Some(t.max(self.not_before)),
            (t, _) => t,
        };
        let activity = if self.settings.remote.is_empty() {
            Activity::Disabled
        } else if job.is_some() {
            Activity::Uploading
        } else if pending == 0 {
            Activity::Idle
        } else {
            match self.settings.policy {
                Policy::Manual => Activity::WaitingForButton,
                Policy::Window if !self.in_window() => Activity::WaitingForWindow,
                _ => Activity::WaitingToRetry,
            }
        };
        self.status.send_modify(|s| {
            s.activity = activity;
            s.policy = self.settings.policy;
            s.pending = pending;
            s.failed = clamp_u32(failed.count());
            s.done = done;
            s.last_error = self.last_error.as_ref().map(|(m, _)| m.clone());
            s.last_error_unix_ms = self.last_error.as_ref().map(|(_, t)| *t);
            s.next_try_unix_ms = next_try;
            s.last_done = self.last_done.clone();
            s.consecutive_failures = self.consecutive_failures;
            match job {
                None => s.current = None,
                Some(j) if s.current.as_ref().map(|c| &c.name) != Some(&j.name) => {
                    s.current = Some(Progress {
                        name: j.name.clone(),
                        bytes_total: j.size,
                        forced: j.forced,
                        ..Progress::default()
                    });
                }
                Some(_) => {}
            }
        });
    }
}

fn clamp_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The running transfer's result; never ready when nothing runs (so `select!` waits elsewhere).
async fn run_job(job: &mut Option<Job>) -> Result<Verified, String> {
    match job {
        Some(j) => j.future.as_mut().await,
        None => std::future::pending().await,
    }
}
