//! HLS media playlists (RFC 8216, version 3) over ring segments: the live sliding window and VOD
//! playlists over any part of the ring. Pure text from `SegmentInfo`s, so it is tested without a
//! server. Every segment carries its wall-clock start (PROGRAM-DATE-TIME), which is what lets the
//! UI map a timeline position to a moment; a DISCONTINUITY tag marks where the source restarted.

use moment_media::export::time::{format_utc, parse_rfc3339};
use moment_ring::{flags, SegmentInfo};
use std::fmt::Write as _;

/// Segments in the live playlist: 30 s at the default 5 s target, enough for players to buffer.
pub const LIVE_WINDOW: usize = 6;
/// Most segments in one range playlist: 6 h at 5 s.
pub const MAX_RANGE_SEGMENTS: usize = 4320;
const US_PER_MS: i64 = 1_000;

/// Which kind of playlist to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A sliding window: no ENDLIST, the client reloads it.
    Live,
    /// A fixed list with ENDLIST.
    Vod,
}

/// The playlist over `segments` (in sequence order, not empty). `discontinuities_before` counts
/// the DISCONTINUITY-flagged segments that already left a live window, so the tag's sequence stays
/// consistent across reloads (RFC 8216 section 6.2.2).
pub fn render(segments: &[SegmentInfo], kind: Kind, discontinuities_before: u64) -> String {
    let max_us = segments.iter().map(|s| s.meta.duration_us).max();
    let target = max_us.unwrap_or(0).div_ceil(1_000_000).max(1);
    let first = segments.first().map_or(0, |s| s.seq);
    let mut out = String::with_capacity(128 + segments.len() * 128);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:3\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first}");
    if kind == Kind::Vod {
        out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
    } else if discontinuities_before > 0 {
        let _ = writeln!(
            out,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuities_before}"
        );
    }
    let mut previous: Option<u64> = None;
    for segment in segments {
        let restarted = segment.meta.flags & flags::DISCONTINUITY != 0;
        let gap = previous.is_some_and(|p| p + 1 != segment.seq);
        if restarted || gap {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        let _ = writeln!(
            out,
            "#EXT-X-PROGRAM-DATE-TIME:{}",
            format_program_date_time(segment.meta.utc_start_us)
        );
        let secs = segment.meta.duration_us as f64 / 1e6;
        let _ = writeln!(out, "#EXTINF:{secs:.3},\n/hls/segment/{}.ts", segment.seq);
        previous = Some(segment.seq);
    }
    if kind == Kind::Vod {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

/// RFC 3339 UTC with milliseconds ("2026-11-29T10:00:00.250Z"), as PROGRAM-DATE-TIME wants.
pub fn format_program_date_time(utc_us: i64) -> String {
    let whole_secs_us = utc_us - utc_us.rem_euclid(1_000_000);
    let millis = utc_us.rem_euclid(1_000_000) / US_PER_MS;
    let text = format_utc(whole_secs_us);
    let stem = text.strip_suffix('Z').unwrap_or(&text);
    format!("{stem}.{millis:03}Z")
}

/// A `from`/`to` query value: RFC 3339 or Unix milliseconds, in microseconds. A `+` in an offset
/// that arrived unencoded (and so decoded as a space) is taken as the `+` it was.
pub fn parse_time_param(name: &str, text: &str) -> Result<i64, String> {
    let hint = "give an RFC 3339 time such as 2026-11-29T10:00:00Z or Unix milliseconds";
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .ok()
            .and_then(|ms| ms.checked_mul(US_PER_MS))
            .ok_or_else(|| format!("{name}={text:?} is out of range; {hint}"));
    }
    let mut fixed = text.to_string();
    if let Some(i) = text.rfind(' ') {
        if i > 10 && text.len() - i == 6 {
            fixed.replace_range(i..=i, "+");
        }
    }
    parse_rfc3339(&fixed).map_err(|_| format!("{name}={text:?} is not a time; {hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use moment_ring::SegmentMeta;

    fn seg(seq: u64, start_us: i64, duration_us: u64, flags: u32) -> SegmentInfo {
        SegmentInfo {
            seq,
            epoch: 1,
            pos: 0,
            payload_len: 188,
            payload_crc: 0,
            meta: SegmentMeta {
                utc_start_us: start_us,
                duration_us,
                flags,
                ..SegmentMeta::default()
            },
        }
    }

    #[test]
    fn live_window_tags() {
        let t = 1_795_946_400_000_000;
        let segs = [
            seg(7, t, 2_000_000, 0),
            seg(8, t + 2_000_000, 2_400_500, flags::DISCONTINUITY),
        ];
        let text = render(&segs, Kind::Live, 2);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:7\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:2\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-11-29T10:00:00.000Z\n#EXTINF:2.000,\n/hls/segment/7.ts\n\
             #EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-11-29T10:00:02.000Z\n\
             #EXTINF:2.401,\n/hls/segment/8.ts\n"
        );
        let vod = render(&segs, Kind::Vod, 2);
        assert!(vod.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"));
        assert!(vod.ends_with("#EXT-X-ENDLIST\n"));
        assert!(!vod.contains("DISCONTINUITY-SEQUENCE"));
    }

    #[test]
    fn program_date_time_has_milliseconds() {
        assert_eq!(
            format_program_date_time(1_795_946_400_250_999),
            "2026-11-29T10:00:00.250Z"
        );
        assert_eq!(format_program_date_time(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn time_params() {
        let t = 1_795_946_400_000_000;
        assert_eq!(parse_time_param("from", "1795946400000"), Ok(t));
        assert_eq!(parse_time_param("from", "2026-11-29T10:00:00Z"), Ok(t));
        assert_eq!(parse_time_param("from", "2026-11-29T11:00:00 01:00"), Ok(t));
        let err = parse_time_param("to", "yesterday").unwrap_err();
        assert!(err.starts_with("to=") && err.contains("RFC 3339"), "{err}");
        assert!(parse_time_param("to", "99999999999999999999").is_err());
        assert!(parse_time_param("to", "").is_err());
    }
}
