//! Capture sources: where the camera's MPEG-TS bytes come from. Every kind (a spawned process such
//! as `rpicam-vid` or `ffmpeg`, a GoPro streaming over UDP, standard input) is opened the same way
//! and read with a time bound, so one supervisor (`Supervisor`) can notice a silent or dead source,
//! restart it with backoff and mark the restart in the ring.

pub mod ffmpeg;
pub mod gopro;
pub mod picam;
pub mod process;
pub mod stdin;
pub mod supervise;
pub mod swap;

pub use ffmpeg::{CaptureClock, FfmpegConfig, TestConfig};
pub use picam::PicamConfig;
pub use process::ProcessSource;
pub use stdin::StdinSource;
pub use supervise::{Polled, SourceEvent, Supervisor, SupervisorConfig};
pub use swap::{SourceSwap, SwapStatus};

use std::io;
use std::time::Duration;

/// The largest read a session is asked for; sources deliver at most this many bytes per call.
pub const READ_CHUNK: usize = 64 * 1024;

/// What one bounded read brought.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// This many bytes (at least one) were put at the start of the buffer.
    Data(usize),
    /// Nothing arrived within the wait; the source may still be alive.
    Idle,
    /// The source ended (process exited, stream closed); the session is finished.
    Ended,
}

/// A kind of capture source with its settings. `open` starts one session (spawns the process,
/// asks the camera to stream); the supervisor opens a new session after each failure.
pub trait Source: Send {
    /// Starts a session. Errors say what failed and what to check ("rpicam-vid not found").
    fn open(&mut self) -> io::Result<Box<dyn Session>>;
    /// A short name for status and logs ("picam 1920x1080@30", "gopro 10.5.5.9").
    fn describe(&self) -> String;
    /// Whether a new session can follow one that ended (false for standard input).
    fn restartable(&self) -> bool {
        true
    }
}

/// One running session of a source. Dropping it stops the source (kills and reaps the process,
/// tells the camera to stop) and must not block for more than a couple of seconds.
pub trait Session: Send {
    /// Waits at most `wait` for bytes. Never blocks longer than `wait` plus a small margin, so
    /// the supervisor's silence check and keep-alives stay on time.
    fn read(&mut self, buf: &mut [u8], wait: Duration) -> io::Result<ReadOutcome>;
    /// Why the session ended, once `read` returned `Ended` or an error (exit status, stderr tail).
    fn end_reason(&mut self) -> Option<String> {
        None
    }
}
