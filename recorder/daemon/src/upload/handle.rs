//! What the rest of the daemon holds: `Uploader::start` spawns the worker task and returns a cheap,
//! cloneable `UploadHandle`. Requests go over a bounded channel with a reply each; status is read
//! from a `watch` channel without waiting. A stopped worker turns every request into
//! `UploadError::NotRunning` rather than a hang or a panic. New settings go over a `watch`
//! channel (one value, the newest wins), so changing them never waits on the worker.

use super::config::Settings;
use super::policy::{Clock, SystemClock};
use super::queue::{Entry, Queue, DEFAULT_MAX_ENTRIES};
use super::status::{Activity, UploadStatus};
use super::worker::{Command, Worker};
use super::{UploadConfig, UploadError};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Requests waiting for the worker; senders wait (briefly) when it is full, nothing is dropped.
const COMMANDS: usize = 64;
/// How long `shutdown` waits for the worker to save the queue and stop.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// Sent (if there is room in the channel) when a memory is uploaded and verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UploadDone {
    pub name: String,
    pub size: u64,
    /// How it was checked: `size+md5`, `size`, ...
    pub verified: String,
}

/// What `enqueue` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    Added,
    /// Already waiting (its size was updated).
    AlreadyQueued,
    /// Uploaded before: it will not be uploaded again.
    AlreadyUploaded,
}

/// What `reconcile` changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub added: usize,
    /// Entries whose memory file is gone.
    pub dropped: usize,
    /// Names the uploader refuses (see `UploadError::InvalidName`), or beyond the queue's bound.
    pub skipped: usize,
}

/// Where and how the uploader runs, beyond the configuration file.
pub struct UploaderOptions {
    /// Holds the queue file (e.g. /data/state).
    pub state_dir: PathBuf,
    /// Where memory files are; queue names are relative to it.
    pub memories_dir: PathBuf,
    pub clock: Arc<dyn Clock>,
    /// Told about each confirmed upload.
    pub on_done: Option<mpsc::Sender<UploadDone>>,
    /// Longest idle sleep: how soon a changed clock (window) or config is noticed.
    pub recheck: Duration,
    /// Bound on queue entries.
    pub max_entries: usize,
}

impl UploaderOptions {
    pub fn new(state_dir: impl Into<PathBuf>, memories_dir: impl Into<PathBuf>) -> Self {
        UploaderOptions {
            state_dir: state_dir.into(),
            memories_dir: memories_dir.into(),
            clock: Arc::new(SystemClock),
            on_done: None,
            recheck: Duration::from_secs(30),
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }
}

/// Starts uploaders.
pub struct Uploader;

impl Uploader {
    /// Checks the configuration, opens the queue and spawns the worker on the current tokio
    /// runtime. An unusable queue file is not an error (it is set aside and reported in status);
    /// an unusable state directory is.
    pub fn start(
        config: &UploadConfig,
        options: UploaderOptions,
    ) -> Result<UploadHandle, UploadError> {
        let settings = config.settings()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| UploadError::NoRuntime)?;
        let memories_dir =
            std::path::absolute(&options.memories_dir).map_err(|e| UploadError::State {
                path: options.memories_dir.clone(),
                message: format!("cannot resolve the memories directory: {e}"),
            })?;
        let now = options.clock.now_utc_ms();
        let max = options.max_entries.max(1);
        let (queue, notice) = Queue::open(&options.state_dir, max, now)?;
        let (tx, rx) = mpsc::channel(COMMANDS);
        let (status_tx, status_rx) = watch::channel(UploadStatus {
            policy: settings.policy,
            ..UploadStatus::default()
        });
        let (settings_tx, settings_rx) = watch::channel(settings);
        let worker = Worker::new(
            memories_dir,
            options,
            queue,
            notice,
            Arc::new(status_tx),
            rx,
            settings_rx,
        );
        let task = runtime.spawn(worker.run());
        Ok(UploadHandle {
            tx,
            settings: Arc::new(settings_tx),
            status: status_rx,
            task: Arc::new(Mutex::new(Some(task))),
        })
    }
}

/// The daemon's handle on the uploader; clone freely.
#[derive(Clone)]
pub struct UploadHandle {
    tx: mpsc::Sender<Command>,
    settings: Arc<watch::Sender<Settings>>,
    status: watch::Receiver<UploadStatus>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl UploadHandle {
    /// Queues a finished memory (a file name in the memories directory).
    pub async fn enqueue(&self, name: &str, size: u64) -> Result<Enqueued, UploadError> {
        let name = name.to_owned();
        self.ask(|reply| Command::Enqueue { name, size, reply })
            .await?
    }

    /// Makes the queue match the memories on /data (name, size): adds what is missing, drops
    /// entries whose file is gone. Call it at startup; already-uploaded memories that come back
    /// as pending are recognised on the remote and not sent again.
    pub async fn reconcile(
        &self,
        memories: Vec<(String, u64)>,
    ) -> Result<ReconcileReport, UploadError> {
        self.ask(|reply| Command::Reconcile { memories, reply })
            .await?
    }

    /// Removes a memory from the queue (it was deleted); stops its upload if one is running.
    pub async fn forget(&self, name: &str) -> Result<bool, UploadError> {
        let name = name.to_owned();
        self.ask(|reply| Command::Forget { name, reply }).await?
    }

    /// The UPLOAD button: the newest memory now, then everything pending, regardless of policy
    /// and backoff (once; a failure goes back to normal backoff).
    pub async fn upload_now(&self) -> Result<(), UploadError> {
        self.ask(|reply| Command::UploadNow { reply }).await
    }

    /// Replaces the uploader's settings (the settings page changes policy, window and bandwidth
    /// limit). Checked first: a bad value is an error naming the key and nothing changes. The
    /// worker takes them before its next decision; a running transfer keeps its bandwidth limit.
    /// Never waits.
    pub fn reconfigure(&self, config: &UploadConfig) -> Result<(), UploadError> {
        let settings = config.settings()?;
        if self.tx.is_closed() {
            return Err(UploadError::NotRunning);
        }
        self.settings.send_replace(settings);
        Ok(())
    }

    /// A copy of the queue, oldest first.
    pub async fn queue(&self) -> Result<Vec<Entry>, UploadError> {
        self.ask(|reply| Command::Queue { reply }).await
    }

    /// The current status; never waits.
    pub fn status(&self) -> UploadStatus {
        let mut status = self.status.borrow().clone();
        if self.tx.is_closed() {
            status.activity = Activity::Stopped;
            status.current = None;
        }
        status
    }

    /// A receiver that wakes on every status change (for the web UI's live view).
    pub fn subscribe(&self) -> watch::Receiver<UploadStatus> {
        self.status.clone()
    }

    /// Stops the running transfer (the entry goes back to pending), saves the queue and ends the
    /// worker; bounded by `SHUTDOWN_WAIT`, after which the task is aborted.
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(Command::Shutdown { reply }).await.is_ok() {
            let _ = tokio::time::timeout(SHUTDOWN_WAIT, done).await;
        }
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let abort = task.abort_handle();
            if tokio::time::timeout(SHUTDOWN_WAIT, task).await.is_err() {
                abort.abort();
            }
        }
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, UploadError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| UploadError::NotRunning)?;
        answer.await.map_err(|_| UploadError::NotRunning)
    }
}
