//! Time for the uploader: a clock that tests can replace (the window policy depends on the local
//! time of day, which a test cannot wait for), and the backoff rule. Kept apart from the loop so
//! both are plain functions with unit tests.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the uploader gets the time. UTC stamps the queue (retry times survive a restart);
/// the local minute of the day decides the upload window.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_utc_ms(&self) -> i64;
    /// Minutes since local midnight, 0..1440.
    fn local_minute_of_day(&self) -> u16;
}

/// The system's clocks; local time through the C library so /etc/localtime and TZ apply.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_utc_ms(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            // A clock before 1970 (no RTC, not yet synced): treat as the epoch; retry times then
            // look far in the future and are clamped by `clamp_next_try`.
            Err(_) => 0,
        }
    }

    fn local_minute_of_day(&self) -> u16 {
        let now = self.now_utc_ms().div_euclid(1000) as libc::time_t;
        // SAFETY: `localtime_r` writes only into `tm`, which we own, and reads `now`; the
        // reentrant variant shares no static buffer with other threads.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        let ok = unsafe { !libc::localtime_r(&now, &mut tm).is_null() };
        if !ok {
            // Only on a time_t the C library cannot convert; UTC is the best remaining answer.
            return ((now.rem_euclid(86_400)) / 60) as u16;
        }
        (tm.tm_hour.clamp(0, 23) * 60 + tm.tm_min.clamp(0, 59)) as u16
    }
}

/// The wait after the `failures`-th consecutive failure: `min * 2^(failures-1)`, at most `max`.
pub(crate) fn backoff(min: Duration, max: Duration, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(31);
    min.checked_mul(1u32 << doublings)
        .map_or(max, |d| d.min(max))
}

/// Millisecond form of a duration for queue timestamps, saturating (durations are bounded by
/// configuration to a day, so saturation never happens in practice).
pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A retry time more than `max` in the future means the clock jumped backwards (a reboot without
/// RTC before NTP); waiting for it could take years, so it is pulled in to `now + max`.
pub(crate) fn clamp_next_try(next: i64, now: i64, max: Duration) -> i64 {
    next.min(now.saturating_add(ms(max)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let (min, max) = (Duration::from_secs(30), Duration::from_secs(3600));
        let waits: Vec<u64> = (1..=9).map(|n| backoff(min, max, n).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(min, max, 0), min);
        assert_eq!(backoff(min, max, u32::MAX), max);
    }

    #[test]
    fn far_future_retries_are_clamped() {
        let max = Duration::from_secs(60);
        assert_eq!(clamp_next_try(10_000_000, 1_000, max), 61_000);
        assert_eq!(clamp_next_try(2_000, 1_000, max), 2_000);
    }

    #[test]
    fn system_clock_minute_is_in_range() {
        let c = SystemClock;
        assert!(c.local_minute_of_day() < 1440);
        assert!(c.now_utc_ms() > 1_600_000_000_000);
    }
}
