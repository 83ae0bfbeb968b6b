//! The times an export deals in: RFC 3339 UTC on the command line and in messages, the local time a
//! memory's file name shows, and whether a clock can be trusted for that name. Written here, free of
//! date crates, because Buildroot's Rust (1.82) limits which crates build, and because the rules
//! (no 1970 names, what "synced" means) belong to the recorder rather than to a library.

use crate::segment::Clock;
use std::io;

/// 2020-01-01T00:00:00Z. A recorded time before this comes from a clock that was never set (the Pi
/// has no RTC and boots in 1970); it must not name a file.
pub const PLAUSIBLE_UTC_US: i64 = 1_577_836_800_000_000;
const US_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// A broken-down local time (what `localtime_r` gives, with a one-based month).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Where the time in a memory's file name came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameSource {
    /// The end of the range, from a synchronised clock.
    Recorded,
    /// The end of the range, from the camera's clock while it was not synchronised: its best
    /// guess (the last known time plus the time since), possibly off.
    RecordedUnsynced,
    /// The recording's clock was never set, so the (synchronised) time of the export is used.
    ExportTime,
}

/// The file name of a memory ending at `t`: `YYYY-MM-DD_HH-MM-SS-MEMORY.mp4`, and for `attempt`
/// 2, 3, … the same with `_2`, `_3` before the extension.
pub fn memory_file_name(t: &LocalTime, attempt: u32) -> String {
    let suffix = if attempt <= 1 {
        String::new()
    } else {
        format!("_{attempt}")
    };
    format!(
        "{:04}-{:02}-{:02}_{:02}-{:02}-{:02}-MEMORY{suffix}.mp4",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// Which time names a memory whose range ends at `end_us` (recorded with a clock that was
/// `end_synced` or not), given the clock `now`. The rules, in order:
/// 1. a recorded time from 2020 on is used, synced or not: it is when the moment happened as well
///    as the camera knew, and a camera offline for good (a supported use) never syncs;
/// 2. a recorded time before 2020 (clock never set) is replaced by `now` if `now` is synchronised;
/// 3. otherwise there is no trustworthy time at all: `None`, and the caller must ask for a name.
pub fn name_time(end_us: i64, end_synced: bool, now: Clock) -> Option<(i64, NameSource)> {
    if end_us >= PLAUSIBLE_UTC_US {
        let source = if end_synced {
            NameSource::Recorded
        } else {
            NameSource::RecordedUnsynced
        };
        return Some((end_us, source));
    }
    if now.utc_synced && now.utc_us >= PLAUSIBLE_UTC_US {
        return Some((now.utc_us, NameSource::ExportTime));
    }
    None
}

extern "C" {
    // In glibc and musl alike; the libc crate does not declare it for Linux.
    fn tzset();
}

/// `utc_us` in the local time zone (TZ, else /etc/localtime), through the C library so it agrees
/// with `date` and everything else on the system.
pub fn local_time(utc_us: i64) -> io::Result<LocalTime> {
    let secs = libc::time_t::try_from(utc_us.div_euclid(US_PER_SEC))
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "time out of range"))?;
    // SAFETY: tm is plain old data; all-zero is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: tzset reads TZ; POSIX does not require localtime_r to do so itself.
    unsafe { tzset() };
    // SAFETY: both pointers are valid for the duration of the call.
    if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
        return Err(io::Error::last_os_error());
    }
    let field = |v: libc::c_int| u32::try_from(v).unwrap_or(0);
    Ok(LocalTime {
        year: tm.tm_year + 1900,
        month: field(tm.tm_mon + 1),
        day: field(tm.tm_mday),
        hour: field(tm.tm_hour),
        minute: field(tm.tm_min),
        second: field(tm.tm_sec),
    })
}

/// RFC 3339 in UTC: whole seconds when there is no fraction ("2026-11-29T10:00:00Z"), otherwise
/// microseconds.
pub fn format_utc(us: i64) -> String {
    let secs = us.div_euclid(US_PER_SEC);
    let micros = us.rem_euclid(US_PER_SEC);
    let (year, month, day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let of_day = secs.rem_euclid(SECS_PER_DAY);
    let (hour, minute, second) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    let fraction = if micros == 0 {
        String::new()
    } else {
        format!(".{micros:06}")
    };
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}Z")
}

/// Parses an RFC 3339 date-time ("2026-11-29T10:00:00Z", "2026-11-29T11:00:00.5+01:00") into
/// microseconds since the epoch. A lower-case `t`/`z` or a space for the `T` are accepted, as the
/// RFC allows; anything else is refused with an example of what to type.
pub fn parse_rfc3339(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not an RFC 3339 time; give one such as 2026-11-29T10:00:00Z");
    let b = text.as_bytes();
    if !text.is_ascii()
        || b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let part = &text[range];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    check_fields(year, month, day, hour, minute, second).map_err(|e| format!("{text:?}: {e}"))?;
    let (micros, zone) = fraction(&text[19..]).ok_or_else(bad)?;
    let offset_s = zone_offset(zone).ok_or_else(bad)?;
    let days = days_from_civil(year, month as u32, day as u32);
    let secs = days * SECS_PER_DAY + hour * 3600 + minute * 60 + second - offset_s;
    // An offset can move 0000-01-01 or 9999-12-31 out of the four-digit years RFC 3339 writes:
    // such a time could not be shown back (format_utc), so it is refused (found by moment-fuzz).
    let writable = days_from_civil(0, 1, 1)..=days_from_civil(9999, 12, 31);
    if !writable.contains(&secs.div_euclid(SECS_PER_DAY)) {
        return Err(format!(
            "{text:?} is outside the years 0000 to 9999 in UTC; give one such as 2026-11-29T10:00:00Z"
        ));
    }
    Ok(secs * US_PER_SEC + micros)
}

fn check_fields(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Result<(), String> {
    if !(1..=12).contains(&mo) {
        return Err(format!("month {mo} is out of range"));
    }
    if d < 1 || d > days_in_month(y, mo as u32) {
        return Err(format!("day {d} does not exist in {y:04}-{mo:02}"));
    }
    if h > 23 || mi > 59 || s > 59 {
        return Err("hour, minute or second out of range (leap seconds are not accepted)".into());
    }
    Ok(())
}

/// The optional fraction (to microseconds; finer digits are dropped) and the rest (the zone).
fn fraction(rest: &str) -> Option<(i64, &str)> {
    let Some(digits_and_zone) = rest.strip_prefix('.') else {
        return Some((0, rest));
    };
    let len = digits_and_zone
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits_and_zone.len());
    if len == 0 || len > 9 {
        return None;
    }
    let digits = &digits_and_zone[..len];
    let mut micros = 0i64;
    for (i, c) in digits.bytes().take(6).enumerate() {
        micros += i64::from(c - b'0') * 10i64.pow(5 - i as u32);
    }
    Some((micros, &digits_and_zone[len..]))
}

/// Seconds east of UTC for "Z", "+HH:MM" or "-HH:MM".
fn zone_offset(zone: &str) -> Option<i64> {
    if zone == "Z" || zone == "z" {
        return Some(0);
    }
    let b = zone.as_bytes();
    if b.len() != 6 || b[3] != b':' || !matches!(b[0], b'+' | b'-') {
        return None;
    }
    let h: i64 = zone[1..3].parse().ok()?;
    let m: i64 = zone[4..6].parse().ok()?;
    if h > 23
        || m > 59
        || !zone[1..3]
            .bytes()
            .chain(zone[4..6].bytes())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let sign = if b[0] == b'-' { -1 } else { 1 };
    Some(sign * (h * 3600 + m * 60))
}

fn days_in_month(year: i64, month: u32) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let m = i64::from(month);
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of `days_from_civil`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        for us in [
            0,
            1_700_000_000_000_000,
            1_796_032_800_250_000,
            951_782_400_000_000,
        ] {
            assert_eq!(parse_rfc3339(&format_utc(us)), Ok(us), "{}", format_utc(us));
        }
        assert_eq!(format_utc(1_796_032_800_000_000), "2026-11-30T10:00:00Z");
        let t = parse_rfc3339("2026-11-29T10:00:00Z").unwrap();
        assert_eq!(format_utc(t), "2026-11-29T10:00:00Z");
        assert_eq!(parse_rfc3339("2026-11-29t10:00:00z"), Ok(t));
        assert_eq!(parse_rfc3339("2026-11-29 11:30:00+01:30"), Ok(t));
        assert_eq!(parse_rfc3339("2026-11-29T09:00:00-01:00"), Ok(t));
        assert_eq!(
            parse_rfc3339("2026-11-29T10:00:00.123456789Z"),
            Ok(t + 123_456)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z")
                .map(format_utc)
                .unwrap(),
            "2024-02-29T00:00:00Z"
        );
    }

    #[test]
    fn bad_times_say_what_to_type() {
        for text in [
            "2026-11-29",
            "2026-11-29T10:00:00",
            "2026-11-29T10:00Z",
            "2026-11-29T10:00:00+0100",
            "2026-11-29T10:00:00.Z",
            "yesterday",
            "2026-11-29T10:00:00Zjunk",
            "+2026-11-29T10:00:00Z",
            "2026-11-29T10:00:00€",
            "20é6-11-29T10:00:00Z",
        ] {
            let err = parse_rfc3339(text).unwrap_err();
            assert!(err.contains("2026-11-29T10:00:00Z"), "{text}: {err}");
        }
        assert!(parse_rfc3339("2026-13-01T00:00:00Z")
            .unwrap_err()
            .contains("month 13"));
        assert!(parse_rfc3339("2025-02-29T00:00:00Z")
            .unwrap_err()
            .contains("day 29"));
        assert!(parse_rfc3339("2026-01-01T24:00:00Z").is_err());
        assert!(parse_rfc3339("2026-01-01T23:59:60Z")
            .unwrap_err()
            .contains("leap"));
    }

    /// Regression (moment-fuzz, memory_name): an offset carried the first and last writable
    /// days into years format_utc prints as "-001" or "10000", which no parser reads back.
    #[test]
    fn times_that_cannot_be_written_back_are_refused() {
        for text in ["0000-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"] {
            let err = parse_rfc3339(text).unwrap_err();
            assert!(err.contains("0000 to 9999"), "{text}: {err}");
        }
        for text in ["0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"] {
            let us = parse_rfc3339(text).expect(text);
            assert_eq!(parse_rfc3339(&format_utc(us)), Ok(us), "{text}");
        }
    }

    #[test]
    fn names_and_suffixes() {
        let t = LocalTime {
            year: 2026,
            month: 11,
            day: 29,
            hour: 9,
            minute: 5,
            second: 7,
        };
        assert_eq!(memory_file_name(&t, 1), "2026-11-29_09-05-07-MEMORY.mp4");
        assert_eq!(memory_file_name(&t, 2), "2026-11-29_09-05-07-MEMORY_2.mp4");
    }

    #[test]
    fn name_time_never_gives_1970() {
        let synced_now = Clock {
            utc_us: 1_796_000_000_000_000,
            utc_synced: true,
            mono_us: 0,
        };
        let unsynced_now = Clock {
            utc_synced: false,
            ..synced_now
        };
        let recorded = 1_795_000_000_000_000;
        assert_eq!(
            name_time(recorded, true, unsynced_now),
            Some((recorded, NameSource::Recorded))
        );
        assert_eq!(
            name_time(recorded, false, synced_now),
            Some((recorded, NameSource::RecordedUnsynced))
        );
        assert_eq!(
            name_time(5_000_000, false, synced_now),
            Some((synced_now.utc_us, NameSource::ExportTime))
        );
        assert_eq!(name_time(5_000_000, true, unsynced_now), None);
        let early_now = Clock {
            utc_us: 10,
            ..synced_now
        };
        assert_eq!(name_time(5_000_000, false, early_now), None);
    }

    #[test]
    fn every_day_round_trips() {
        for days in -800_000..800_000 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!(i64::from(d) <= days_in_month(y, m));
        }
    }
}
