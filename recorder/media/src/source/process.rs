//! A capture source that is a child process writing MPEG-TS to its standard output: `rpicam-vid`
//! on the camera, `ffmpeg` for any URL and for the test pattern. The child runs in its own
//! process group so a stop kills everything it started, its stdout is read with `poll` so a hung
//! camera never blocks the capture thread, and the tail of its stderr is kept (bounded) so a
//! restart can say why it happened.

use super::{ReadOutcome, Session, Source};
use std::collections::VecDeque;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// The stderr bytes kept per session: enough for ffmpeg's last few error lines.
const STDERR_TAIL: usize = 2048;
/// How long a stopped child gets to exit after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_millis(1000);
/// How long the end of a session waits for the child's last stderr line.
const STDERR_SETTLE: Duration = Duration::from_millis(500);
/// Poll interval while waiting for a child to exit.
const REAP_POLL: Duration = Duration::from_millis(10);

/// A program and its arguments, spawned afresh for every session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessSource {
    /// Name for status ("picam 1920x1080@30").
    pub label: String,
    pub program: String,
    pub args: Vec<String>,
}

impl ProcessSource {
    /// The command line as a person would type it, for logs and error messages.
    pub fn command_line(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Source for ProcessSource {
    fn open(&mut self) -> io::Result<Box<dyn Session>> {
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| {
                let hint = if e.kind() == io::ErrorKind::NotFound {
                    " (is it installed and on PATH?)"
                } else {
                    ""
                };
                io::Error::new(
                    e.kind(),
                    format!("cannot start `{}`{hint}: {e}", self.program),
                )
            })?;
        let stdout = child.stdout.take().expect("stdout was piped");
        let stderr_tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL)));
        let stderr_thread = match child.stderr.take() {
            // It ends when the process group's stderr closes, which the kill in `Drop`
            // guarantees; nobody waits for it longer than `STDERR_SETTLE`.
            Some(stderr) => {
                let tail = stderr_tail.clone();
                Some(
                    thread::Builder::new()
                        .name("source-stderr".into())
                        .spawn(move || keep_tail(stderr, &tail))?,
                )
            }
            None => None,
        };
        Ok(Box::new(ProcessSession {
            program: self.program.clone(),
            child,
            stdout,
            stderr_tail,
            stderr_thread,
            end_reason: None,
        }))
    }

    fn describe(&self) -> String {
        self.label.clone()
    }
}

/// Reads `from` to its end, keeping the last `STDERR_TAIL` bytes.
fn keep_tail(mut from: impl Read, tail: &Mutex<VecDeque<u8>>) {
    let mut buf = [0u8; 512];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
        tail.extend(&buf[..n]);
        let excess = tail.len().saturating_sub(STDERR_TAIL);
        tail.drain(..excess);
    }
}

struct ProcessSession {
    program: String,
    child: Child,
    stdout: ChildStdout,
    stderr_tail: Arc<Mutex<VecDeque<u8>>>,
    stderr_thread: Option<thread::JoinHandle<()>>,
    end_reason: Option<String>,
}

impl Session for ProcessSession {
    fn read(&mut self, buf: &mut [u8], wait: Duration) -> io::Result<ReadOutcome> {
        if !wait_readable(self.stdout.as_raw_fd(), wait)? {
            return Ok(ReadOutcome::Idle);
        }
        match self.stdout.read(buf) {
            Ok(0) => {
                self.end_reason = Some(self.describe_exit());
                Ok(ReadOutcome::Ended)
            }
            Ok(n) => Ok(ReadOutcome::Data(n)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(ReadOutcome::Idle),
            Err(e) => Err(e),
        }
    }

    fn end_reason(&mut self) -> Option<String> {
        self.end_reason.clone()
    }
}

impl ProcessSession {
    /// "ffmpeg exited with status 1: <last stderr line>", after reaping the child (bounded).
    fn describe_exit(&mut self) -> String {
        let status = wait_bounded(&mut self.child, TERM_GRACE);
        let how = match status {
            Some(s) => match (s.code(), s.signal()) {
                (Some(code), _) => format!("exited with status {code}"),
                (None, Some(signal)) => format!("was killed by signal {signal}"),
                _ => "ended".to_string(),
            },
            None => "closed its output".to_string(),
        };
        // Let the stderr thread catch the last line the child printed (bounded: a grandchild
        // may still hold stderr open).
        let settle_until = Instant::now() + STDERR_SETTLE;
        while self
            .stderr_thread
            .as_ref()
            .is_some_and(|t| !t.is_finished())
            && Instant::now() < settle_until
        {
            thread::sleep(REAP_POLL);
        }
        match self.last_stderr_line() {
            Some(line) => format!("{} {how}: {line}", self.program),
            None => format!("{} {how}", self.program),
        }
    }

    fn last_stderr_line(&self) -> Option<String> {
        let tail = self
            .stderr_tail
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let bytes: Vec<u8> = tail.iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        text.lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_string)
    }
}

impl Drop for ProcessSession {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let group = self.child.id() as libc::pid_t;
            // SAFETY: kill(2) on the child's own process group; no memory is involved.
            unsafe { libc::kill(-group, libc::SIGTERM) };
            if wait_bounded(&mut self.child, TERM_GRACE).is_none() {
                // SAFETY: as above.
                unsafe { libc::kill(-group, libc::SIGKILL) };
                let _ = self.child.wait();
            }
        }
    }
}

/// Waits up to `limit` for the child to exit; `None` if it is still running.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(REAP_POLL),
            _ => return None,
        }
    }
}

/// True when `fd` has bytes (or end of file) within `wait`.
pub(crate) fn wait_readable(fd: i32, wait: Duration) -> io::Result<bool> {
    let mut pollfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let timeout_ms = wait.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd for the duration of the call.
    let ready = unsafe { libc::poll(&mut pollfd, 1, timeout_ms) };
    match ready {
        -1 => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
        0 => Ok(false),
        // POLLHUP/POLLERR without POLLIN: a read returns 0 or the error, which is what we want.
        _ => Ok(true),
    }
}
