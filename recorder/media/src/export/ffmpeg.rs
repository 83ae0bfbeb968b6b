//! The ffmpeg child that remuxes the edited MPEG-TS to MP4, supervised: its standard error is read
//! by a thread that keeps a bounded part of it, a watchdog kills it at the deadline (so a wedged
//! ffmpeg cannot hang the export, even while we are blocked writing to its pipe), its exit status
//! is checked, and dropping it unfinished kills and reaps it.

use super::error::ExportError;
use super::time::{format_utc, PLAUSIBLE_UTC_US};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Standard error kept, at most: ffmpeg's first error lines say what went wrong.
const STDERR_KEEP: usize = 4096;
/// How often the exit is polled while waiting for it.
const POLL: Duration = Duration::from_millis(10);
/// How long to wait for standard error to close after ffmpeg exited.
const STDERR_WAIT: Duration = Duration::from_secs(2);
/// Pipe buffer asked for, so ffmpeg has work queued while the next segment is read.
const PIPE_BYTES: libc::c_int = 1 << 20;

/// The remux: `ffmpeg … -f mpegts -i pipe:0 … -c copy -movflags +faststart -f mp4 OUT`. `-y`
/// because the output file already exists: it was created (exclusively) to claim its name.
/// `creation_time` is the capture time of the first frame (UTC microseconds): the movie header
/// (mvhd) holds it in whole seconds, so it is also kept, to the microsecond, as a metadata key
/// (`use_metadata_tags`), which ffprobe reports in its place. A time from before 2020 comes
/// from a clock that was never set and is left out.
pub(crate) fn remux_args(out: &Path, creation_time_us: i64) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "mpegts",
        "-i",
        "pipe:0",
        "-map",
        "0:v",
        "-map",
        "0:a?",
        "-c",
        "copy",
        "-movflags",
        "+faststart+use_metadata_tags",
        "-f",
        "mp4",
        "-y",
    ]
    .iter()
    .map(Into::into)
    .collect();
    if creation_time_us >= PLAUSIBLE_UTC_US {
        args.push("-metadata".into());
        args.push(format!("creation_time={}", format_utc(creation_time_us)).into());
    }
    args.push(out.into());
    args
}

/// A running ffmpeg.
pub(crate) struct Ffmpeg {
    program: PathBuf,
    child: Arc<Mutex<Child>>,
    stdin: Option<ChildStdin>,
    stderr: mpsc::Receiver<String>,
    /// Dropping the sender stops the watchdog.
    watchdog: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    timed_out: Arc<AtomicBool>,
    timeout: Duration,
    deadline: Instant,
    finished: bool,
}

impl Ffmpeg {
    /// Starts `program args…` with a pipe on standard input; kills it after `timeout`.
    pub(crate) fn spawn(
        program: &Path,
        args: &[std::ffi::OsString],
        timeout: Duration,
    ) -> Result<Ffmpeg, ExportError> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| match source.kind() {
                io::ErrorKind::NotFound => ExportError::FfmpegMissing {
                    program: program.into(),
                },
                _ => ExportError::FfmpegStart {
                    program: program.into(),
                    source,
                },
            })?;
        let stdin = child.stdin.take();
        if let Some(pipe) = &stdin {
            // SAFETY: F_SETPIPE_SZ on a pipe we own; failure only leaves the default size.
            unsafe { libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_BYTES) };
        }
        let stderr = capture(child.stderr.take());
        let child = Arc::new(Mutex::new(child));
        let timed_out = Arc::new(AtomicBool::new(false));
        let watchdog = watchdog(Arc::clone(&child), Arc::clone(&timed_out), timeout);
        Ok(Ffmpeg {
            program: program.into(),
            child,
            stdin,
            stderr,
            watchdog: Some(watchdog),
            timed_out,
            timeout,
            deadline: Instant::now() + timeout,
            finished: false,
        })
    }

    /// Writes to ffmpeg's input. If ffmpeg is gone, the error is ffmpeg's (status and message).
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), ExportError> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(ExportError::FfmpegPipe(io::ErrorKind::BrokenPipe.into()));
        };
        match stdin.write_all(bytes) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.stdin = None;
                Err(self
                    .finish()
                    .err()
                    .unwrap_or_else(|| ExportError::FfmpegFailed {
                        status: "exited before reading all its input".into(),
                        stderr: String::new(),
                    }))
            }
            Err(e) => Err(ExportError::FfmpegPipe(e)),
        }
    }

    /// Closes ffmpeg's input and waits (until the deadline) for it to finish writing the file.
    pub(crate) fn finish(&mut self) -> Result<(), ExportError> {
        self.stdin = None;
        let status = self.wait()?;
        self.finished = true;
        self.watchdog = None;
        let stderr = self.stderr.recv_timeout(STDERR_WAIT).unwrap_or_default();
        if self.timed_out.load(Ordering::SeqCst) {
            return Err(ExportError::FfmpegTimeout {
                after: self.timeout,
                stderr,
            });
        }
        if status.success() {
            return Ok(());
        }
        Err(ExportError::FfmpegFailed {
            status: describe(status),
            stderr: if stderr.is_empty() {
                "(no message)".into()
            } else {
                stderr
            },
        })
    }

    /// Polls for the exit; the watchdog kills ffmpeg at the deadline, so this ends soon after it.
    fn wait(&mut self) -> Result<ExitStatus, ExportError> {
        let limit = self.deadline + STDERR_WAIT;
        loop {
            match self.lock().try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < limit => {}
                Ok(None) => {
                    self.timed_out.store(true, Ordering::SeqCst);
                    let _ = self.lock().kill();
                }
                Err(source) => {
                    return Err(ExportError::FfmpegStart {
                        program: self.program.clone(),
                        source,
                    })
                }
            }
            std::thread::sleep(POLL);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Child> {
        self.child
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Ffmpeg {
    fn drop(&mut self) {
        self.stdin = None;
        if !self.finished {
            // An error elsewhere: stop ffmpeg and reap it. Both are bounded (SIGKILL).
            let mut child = self.lock();
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some((stop, thread)) = self.watchdog.take() {
            drop(stop);
            let _ = thread.join();
        }
    }
}

/// Kills the child at the deadline unless told to stop first.
fn watchdog(
    child: Arc<Mutex<Child>>,
    timed_out: Arc<AtomicBool>,
    timeout: Duration,
) -> (mpsc::Sender<()>, JoinHandle<()>) {
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(timeout) {
            timed_out.store(true, Ordering::SeqCst);
            // Through the Child, which knows whether it was already reaped: no stray signal to
            // a reused pid.
            let mut child = child
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let _ = child.kill();
        }
    });
    (stop, thread)
}

/// Reads standard error to its end, keeping the first `STDERR_KEEP` bytes.
fn capture(stderr: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut dropped = 0usize;
        if let Some(mut stderr) = stderr {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut buf) {
                let room = STDERR_KEEP.saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(&buf[..room]);
                dropped += n - room;
            }
        }
        let mut text = String::from_utf8_lossy(&kept).trim().replace('\n', "; ");
        if dropped > 0 {
            text.push_str(&format!(" … ({dropped} more bytes)"));
        }
        let _ = tx.send(text);
    });
    rx
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}
