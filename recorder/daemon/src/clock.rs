//! Time on a camera without a real-time clock. The Pi boots in 1970 (or wherever the last
//! shutdown left a fake-hwclock); memories must never be named from 1970 and segment times should
//! be as right as possible even offline. So the daemon: remembers the last known time in the state
//! directory and moves the clock forward to it at start (never backwards); accepts a time from the
//! phone when nothing better exists, and then tells the kernel the clock is synchronised, so every
//! reader of `adjtimex` (the segmenter's timestamps, memory names) agrees.

use crate::atomic_file::write_atomic;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// 2020-01-01T00:00:00Z: earlier times are a clock that was never set.
pub const PLAUSIBLE_UTC_US: i64 = 1_577_836_800_000_000;
/// Latest time accepted from anyone (2100-01-01): later is a typo or an attack.
pub const LATEST_UTC_US: i64 = 4_102_444_800_000_000;
const STATE_FILE: &str = "clock.json";

/// The system clock as the daemon needs it; the real one changes the machine's time, so tests use
/// their own.
pub trait SystemTime: Send + Sync {
    fn now_us(&self) -> i64;
    fn synced(&self) -> bool;
    /// Sets the wall clock; `trusted` also marks it synchronised.
    fn set(&self, utc_us: i64, trusted: bool) -> io::Result<()>;
}

/// The kernel's clock: clock_gettime/clock_settime and adjtimex.
pub struct KernelClock;

impl SystemTime for KernelClock {
    fn now_us(&self) -> i64 {
        moment_media::system_clock().utc_us
    }

    fn synced(&self) -> bool {
        moment_media::system_clock().utc_synced
    }

    fn set(&self, utc_us: i64, trusted: bool) -> io::Result<()> {
        let ts = libc::timespec {
            tv_sec: utc_us.div_euclid(1_000_000) as libc::time_t,
            tv_nsec: (utc_us.rem_euclid(1_000_000) * 1000) as libc::c_long,
        };
        // SAFETY: a valid timespec; needs CAP_SYS_TIME, which the service has.
        if unsafe { libc::clock_settime(libc::CLOCK_REALTIME, &ts) } != 0 {
            return Err(io::Error::last_os_error());
        }
        if trusted {
            // Clear STA_UNSYNC and the error estimates: the kernel then reports the clock as
            // synchronised until its growing max error (500 ppm) passes 16 s, about 9 hours.
            // SAFETY: zeroed timex, then only the fields named in `modes` are read.
            let mut tx: libc::timex = unsafe { std::mem::zeroed() };
            // SAFETY: as above, modes 0 only reads.
            if unsafe { libc::adjtimex(&mut tx) } < 0 {
                return Err(io::Error::last_os_error());
            }
            tx.modes = libc::ADJ_STATUS | libc::ADJ_MAXERROR | libc::ADJ_ESTERROR;
            tx.status &= !libc::STA_UNSYNC;
            tx.maxerror = 0;
            tx.esterror = 0;
            // SAFETY: a valid timex.
            if unsafe { libc::adjtimex(&mut tx) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    version: u32,
    utc_us: i64,
}

/// What `restore` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restored {
    /// The clock was already at or past the saved time (NTP, or a clock that kept running).
    AlreadyLater,
    /// The clock was moved forward to the last saved time (not marked synchronised).
    MovedForward { from_us: i64, to_us: i64 },
    /// Nothing saved yet (first boot) or the file was unreadable (reported, then ignored).
    NothingSaved,
}

/// The last known time, kept in the state directory.
pub struct TimeKeeper<C: SystemTime> {
    clock: C,
    path: PathBuf,
}

impl<C: SystemTime> TimeKeeper<C> {
    pub fn new(clock: C, state_dir: &Path) -> Self {
        TimeKeeper {
            clock,
            path: state_dir.join(STATE_FILE),
        }
    }

    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// At start: moves the clock forward to the last saved time if it is behind it.
    pub fn restore(&self) -> io::Result<Restored> {
        let saved = match std::fs::read(&self.path) {
            Ok(bytes) => match serde_json::from_slice::<Saved>(&bytes) {
                Ok(s) if (PLAUSIBLE_UTC_US..LATEST_UTC_US).contains(&s.utc_us) => s,
                _ => {
                    tracing::warn!(path = %self.path.display(), "clock: saved time unreadable; ignored");
                    return Ok(Restored::NothingSaved);
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Restored::NothingSaved),
            Err(e) => return Err(e),
        };
        let now = self.clock.now_us();
        if now >= saved.utc_us {
            return Ok(Restored::AlreadyLater);
        }
        self.clock.set(saved.utc_us, false)?;
        Ok(Restored::MovedForward {
            from_us: now,
            to_us: saved.utc_us,
        })
    }

    /// Saves the current time if it is plausible (called every minute and at stop).
    pub fn save(&self) -> io::Result<()> {
        let now = self.clock.now_us();
        if now < PLAUSIBLE_UTC_US {
            return Ok(());
        }
        let body = serde_json::to_vec(&Saved {
            version: 1,
            utc_us: now,
        })
        .map_err(io::Error::other)?;
        write_atomic(&self.path, &body)
    }

    /// A time from the phone (`POST /api/time`). Taken only while the clock is not synchronised:
    /// NTP beats a phone's clock. Returns whether it was applied.
    pub fn set_from_user(&self, utc_us: i64) -> Result<bool, String> {
        if !(PLAUSIBLE_UTC_US..LATEST_UTC_US).contains(&utc_us) {
            return Err("the time must be between 2020 and 2100".into());
        }
        if self.clock.synced() {
            return Ok(false);
        }
        self.clock
            .set(utc_us, true)
            .map_err(|e| format!("cannot set the clock: {e}"))?;
        self.save()
            .map_err(|e| format!("cannot save the clock: {e}"))?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A clock the test controls.
    #[derive(Default)]
    struct FakeClock {
        state: Mutex<(i64, bool)>,
    }

    impl SystemTime for FakeClock {
        fn now_us(&self) -> i64 {
            self.state.lock().unwrap().0
        }
        fn synced(&self) -> bool {
            self.state.lock().unwrap().1
        }
        fn set(&self, utc_us: i64, trusted: bool) -> io::Result<()> {
            *self.state.lock().unwrap() = (utc_us, trusted);
            Ok(())
        }
    }

    const NOV_2026: i64 = 1_795_000_000_000_000;

    #[test]
    fn a_1970_boot_moves_forward_to_the_saved_time_unsynced() {
        let dir = tempfile::tempdir().unwrap();
        let keeper = TimeKeeper::new(FakeClock::default(), dir.path());
        keeper.clock().set(NOV_2026, true).unwrap();
        keeper.save().unwrap();
        keeper.clock().set(5_000_000, false).unwrap();
        assert_eq!(
            keeper.restore().unwrap(),
            Restored::MovedForward {
                from_us: 5_000_000,
                to_us: NOV_2026
            }
        );
        assert_eq!(keeper.clock().now_us(), NOV_2026);
        assert!(!keeper.clock().synced());
        // Never backwards.
        keeper.clock().set(NOV_2026 + 10, false).unwrap();
        assert_eq!(keeper.restore().unwrap(), Restored::AlreadyLater);
    }

    #[test]
    fn nothing_saved_and_1970_is_never_saved() {
        let dir = tempfile::tempdir().unwrap();
        let keeper = TimeKeeper::new(FakeClock::default(), dir.path());
        assert_eq!(keeper.restore().unwrap(), Restored::NothingSaved);
        keeper.save().unwrap();
        assert!(!dir.path().join(STATE_FILE).exists());
        std::fs::write(dir.path().join(STATE_FILE), b"garbage").unwrap();
        assert_eq!(keeper.restore().unwrap(), Restored::NothingSaved);
    }

    #[test]
    fn the_phone_sets_the_time_only_when_unsynced() {
        let dir = tempfile::tempdir().unwrap();
        let keeper = TimeKeeper::new(FakeClock::default(), dir.path());
        assert!(keeper.set_from_user(0).is_err());
        assert_eq!(keeper.set_from_user(NOV_2026), Ok(true));
        assert!(keeper.clock().synced());
        assert!(dir.path().join(STATE_FILE).exists());
        assert_eq!(keeper.set_from_user(NOV_2026 + 99), Ok(false));
        assert_eq!(keeper.clock().now_us(), NOV_2026);
    }
}
