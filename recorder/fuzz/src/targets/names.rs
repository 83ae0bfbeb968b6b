//! The memory-name target: names reach `is_memory_name` from USB sticks, the data folder and
//! request paths, and times reach the RFC 3339 parser from the command line and query strings.
//! Nothing may panic (a `str` sliced inside a multibyte character would); names the formatter
//! makes must be accepted; accepted names and parsed times must survive a round trip.

use super::{class, ensure, Outcome};
use moment_media::export::time::{format_utc, memory_file_name, parse_rfc3339, LocalTime};
use moment_media::export::MAX_NAME_ATTEMPTS;
use moment_recorder::memories::is_memory_name;
use moment_recorder::web::{format_program_date_time, parse_time_param};

pub fn memory_name(input: &[u8]) -> Result<Outcome, String> {
    let lossy = String::from_utf8_lossy(input);
    let mut parts = vec![name(&lossy)?, time(&lossy)?];
    if let Ok(exact) = std::str::from_utf8(input) {
        parts.push(name(exact)?);
        parts.push(time(exact)?);
    }
    parts.push(formatted(input)?);
    Ok(class(&parts))
}

/// `is_memory_name`; an accepted name read back into its fields must format to itself.
fn name(text: &str) -> Result<u64, String> {
    if !is_memory_name(text) {
        return Ok(0);
    }
    let Some((time, attempt)) = fields(text) else {
        return Err(format!(
            "{text:?} was accepted but its fields do not read back"
        ));
    };
    // `_0`, `_1` and `_07` are accepted but never made: the formatter writes `_2`.. without zeros.
    let canonical = match text.rsplit_once("-MEMORY").map(|(_, rest)| rest) {
        Some(".mp4") => true,
        Some(rest) => !rest.starts_with("_0") && attempt >= 2,
        None => false,
    };
    if canonical {
        let again = memory_file_name(&time, attempt);
        ensure!(again == text, "{text:?} reads back as {again:?}");
        return Ok(1);
    }
    Ok(2)
}

/// The fields of an accepted name: the shape is fixed-width ASCII (`is_memory_name` said so).
fn fields(text: &str) -> Option<(LocalTime, u32)> {
    let stem = text.get(..19)?;
    let number = |range: std::ops::Range<usize>| stem.get(range)?.parse::<u32>().ok();
    let time = LocalTime {
        year: i32::try_from(number(0..4)?).ok()?,
        month: number(5..7)?,
        day: number(8..10)?,
        hour: number(11..13)?,
        minute: number(14..16)?,
        second: number(17..19)?,
    };
    let suffix = text.get(26..text.len() - ".mp4".len())?;
    let attempt = match suffix.strip_prefix('_') {
        Some(digits) => digits.parse().ok()?,
        None => 1,
    };
    Some((time, attempt))
}

/// Every name the formatter makes from fields in their printed widths must be accepted.
fn formatted(input: &[u8]) -> Result<u64, String> {
    let byte = |i: usize| u32::from(input.get(i).copied().unwrap_or(0));
    let time = LocalTime {
        year: ((byte(0) << 8 | byte(1)) % 10_000) as i32,
        month: byte(2) % 100,
        day: byte(3) % 100,
        hour: byte(4) % 100,
        minute: byte(5) % 100,
        second: byte(6) % 100,
    };
    let attempt = 1 + byte(7) % MAX_NAME_ATTEMPTS;
    let made = memory_file_name(&time, attempt);
    ensure!(
        is_memory_name(&made),
        "the formatter made {made:?}, which is_memory_name refuses"
    );
    Ok(1)
}

/// RFC 3339 and the `from`/`to` query forms; a parsed time formats back to the same instant.
fn time(text: &str) -> Result<u64, String> {
    let param = parse_time_param("from", text).is_ok();
    let Ok(us) = parse_rfc3339(text) else {
        return Ok(u64::from(param));
    };
    let shown = format_utc(us);
    let back = parse_rfc3339(&shown).map_err(|e| format!("{text:?} -> {shown:?}: {e}"))?;
    ensure!(back == us, "{text:?} is {us} µs, but {shown:?} is {back}");
    let program = format_program_date_time(us);
    let back = parse_rfc3339(&program).map_err(|e| format!("{text:?} -> {program:?}: {e}"))?;
    ensure!(
        back == us - us.rem_euclid(1000),
        "{text:?} is {us} µs, but PROGRAM-DATE-TIME {program:?} is {back}"
    );
    Ok(2 | u64::from(param))
}
