//! The units people type and read: sizes with K/M/G suffixes on the command line, byte counts and
//! UTC times in reports. Kept here, dependency-free, so the CLI needs no date crate that might not
//! build with Buildroot's Rust.

/// Parses `BYTES`, `nK`, `nM`, `nG`, `nT` or `nKiB`, `nMiB`, `nGiB`, `nTiB` (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits_end);
    let not_a_size = || format!("{text:?} is not a size; give bytes or a number such as 64M");
    if number.is_empty() {
        return Err(not_a_size());
    }
    let shift = match suffix {
        "" => 0,
        "K" | "k" | "KiB" => 10,
        "M" | "m" | "MiB" => 20,
        "G" | "g" | "GiB" => 30,
        "T" | "t" | "TiB" => 40,
        _ => {
            return Err(format!(
                "unknown size suffix {suffix:?}; give bytes or a number with K, M, G \
                 (or KiB, MiB, GiB), powers of 1024, such as 64M"
            ))
        }
    };
    let value: u64 = number.parse().map_err(|_| not_a_size())?;
    let bytes = value
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text} is too large"))?;
    if bytes == 0 {
        return Err("the size must be more than 0 bytes".to_string());
    }
    Ok(bytes)
}

/// The longest duration accepted anywhere on the command line: a week.
const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Parses durations such as `90s`, `3m`, `1h30m`, `500ms`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{text:?} is not a duration; give one such as 90s, 3m, 1h30m or 500ms");
    if text.is_empty() || text.len() > 32 {
        return Err(bad());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return parse_duration(&format!("{text}s"));
    }
    let mut total_ms: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let value: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let unit_end = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .map_or(rest.len(), |i| digits + i);
        let unit_ms = match &rest[digits..unit_end] {
            "ms" => 1,
            "s" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            _ => return Err(bad()),
        };
        let part = value.checked_mul(unit_ms).ok_or_else(bad)?;
        total_ms = total_ms.checked_add(part).ok_or_else(bad)?;
        rest = &rest[unit_end..];
    }
    let duration = std::time::Duration::from_millis(total_ms);
    if duration.is_zero() || duration > MAX_DURATION {
        return Err(format!("{text} must be more than zero and at most 7 days"));
    }
    Ok(duration)
}

/// `bytes` in the largest binary unit that keeps it at or above 1, with one decimal ("64.0 MiB").
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// RFC 3339 UTC time of `us` microseconds since the Unix epoch (the export's formatter, so the
/// CLI and memory reports print times the same way).
pub use moment_media::export::time::format_utc as rfc3339_utc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_combine_units() {
        let ms = |t: &str| parse_duration(t).map(|d| d.as_millis());
        assert_eq!(ms("90"), Ok(90_000));
        assert_eq!(ms("90s"), Ok(90_000));
        assert_eq!(ms("3m"), Ok(180_000));
        assert_eq!(ms("1h30m"), Ok(5_400_000));
        assert_eq!(ms("500ms"), Ok(500));
        for bad in [
            "",
            "m",
            "3x",
            "1.5s",
            "-3s",
            "0s",
            "8000h",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_are_powers_of_1024() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("8GiB"), Ok(8 << 30));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
    }

    #[test]
    fn bad_sizes_say_what_to_type() {
        assert!(parse_size("64MB").unwrap_err().contains("64M"));
        assert!(parse_size("M").unwrap_err().contains("not a size"));
        assert!(parse_size("-1").unwrap_err().contains("not a size"));
        assert!(parse_size("0").unwrap_err().contains("more than 0"));
        assert!(parse_size("99999999999T")
            .unwrap_err()
            .contains("too large"));
        assert!(parse_size("1.5G").is_err());
    }

    #[test]
    fn human_bytes_picks_a_unit() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(64 << 20), "64.0 MiB");
        assert_eq!(human_bytes((8 << 30) - (12 << 20)), "8.0 GiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }

    #[test]
    fn utc_times_match_known_dates() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400_000_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_700_000_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(
            rfc3339_utc(1_709_251_199_250_000),
            "2024-02-29T23:59:59.250000Z"
        );
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(rfc3339_utc(4_102_444_800_000_000), "2100-01-01T00:00:00Z");
    }
}
