//! Standard input as a source: `some-camera | moment-recorder record --source stdin`. It cannot be
//! restarted, so its end is the end of the recording.

use super::process::wait_readable;
use super::{ReadOutcome, Session, Source};
use std::io;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct StdinSource {
    opened: bool,
}

impl Source for StdinSource {
    fn open(&mut self) -> io::Result<Box<dyn Session>> {
        if std::mem::replace(&mut self.opened, true) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "standard input has ended and cannot be reopened",
            ));
        }
        Ok(Box::new(StdinSession { ended: false }))
    }

    fn describe(&self) -> String {
        "stdin".into()
    }

    fn restartable(&self) -> bool {
        false
    }
}

struct StdinSession {
    ended: bool,
}

impl Session for StdinSession {
    fn read(&mut self, buf: &mut [u8], wait: Duration) -> io::Result<ReadOutcome> {
        if self.ended {
            return Ok(ReadOutcome::Ended);
        }
        if !wait_readable(libc::STDIN_FILENO, wait)? {
            return Ok(ReadOutcome::Idle);
        }
        // Straight from the descriptor: `Stdin`'s buffer would hide bytes from the next poll.
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call.
        let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
        match n {
            0 => {
                self.ended = true;
                Ok(ReadOutcome::Ended)
            }
            1.. => Ok(ReadOutcome::Data(n as usize)),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    Ok(ReadOutcome::Idle)
                } else {
                    Err(e)
                }
            }
        }
    }

    fn end_reason(&mut self) -> Option<String> {
        self.ended.then(|| "standard input ended".to_string())
    }
}
