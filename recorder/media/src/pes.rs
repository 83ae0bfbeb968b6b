//! PES packet headers: where the elementary stream data starts and the presentation/decoding
//! timestamps. Timestamps are 33-bit counters at 90 kHz that wrap about every 26.5 hours, so all
//! arithmetic on them goes through the wrap-aware helpers here.

/// PTS/DTS ticks per second.
pub const TICKS_PER_SECOND: u64 = 90_000;
/// PTS/DTS are taken modulo this.
pub const PTS_MODULO: u64 = 1 << 33;

/// The parts of a PES header the segmenter uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PesHeader {
    pub stream_id: u8,
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    /// Bytes from the start of the PES packet to its elementary stream data. May exceed the
    /// first TS packet's payload when the header is split across packets.
    pub header_len: usize,
}

/// Parses the PES header at the start of a PUSI packet's payload. `None` when there is no PES start
/// code (damaged data, or a stream that is not PES).
pub fn parse_pes_header(payload: &[u8]) -> Option<PesHeader> {
    if payload.len() < 6 || payload[..3] != [0, 0, 1] {
        return None;
    }
    let stream_id = payload[3];
    let mut header = PesHeader {
        stream_id,
        pts: None,
        dts: None,
        header_len: 6,
    };
    // Streams without the optional header (13818-1 table 2-21).
    if matches!(
        stream_id,
        0xBC | 0xBE | 0xBF | 0xF0 | 0xF1 | 0xF2 | 0xF8 | 0xFF
    ) {
        return Some(header);
    }
    if payload.len() < 9 || payload[6] & 0xC0 != 0x80 {
        return None;
    }
    let pts_dts_flags = payload[7] >> 6;
    header.header_len = 9 + usize::from(payload[8]);
    if pts_dts_flags & 0b10 != 0 {
        header.pts = payload.get(9..14).and_then(read_timestamp);
    }
    if pts_dts_flags == 0b11 {
        header.dts = payload.get(14..19).and_then(read_timestamp);
    }
    Some(header)
}

/// The 5-byte PTS/DTS field; `None` when a marker bit is wrong (the bytes are not a timestamp).
fn read_timestamp(b: &[u8]) -> Option<u64> {
    if b[0] & 1 == 0 || b[2] & 1 == 0 || b[4] & 1 == 0 {
        return None;
    }
    Some(
        u64::from((b[0] >> 1) & 0x07) << 30
            | u64::from(b[1]) << 22
            | u64::from(b[2] >> 1) << 15
            | u64::from(b[3]) << 7
            | u64::from(b[4] >> 1),
    )
}

/// `a - b` in ticks, modulo 2^33, read as signed: the shortest way round the 33-bit circle.
pub fn pts_diff(a: u64, b: u64) -> i64 {
    let d = a.wrapping_sub(b) & (PTS_MODULO - 1);
    if d >= PTS_MODULO / 2 {
        d as i64 - PTS_MODULO as i64
    } else {
        d as i64
    }
}

/// `pts + ticks` modulo 2^33.
pub fn pts_add(pts: u64, ticks: i64) -> u64 {
    (pts as i64)
        .wrapping_add(ticks)
        .rem_euclid(PTS_MODULO as i64) as u64
}

/// Ticks to microseconds (negative counts as zero).
pub fn ticks_to_us(ticks: i64) -> u64 {
    u64::try_from(ticks).map_or(0, |t| t * 100 / 9)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timestamp(prefix: u8, t: u64) -> [u8; 5] {
        [
            prefix << 4 | ((t >> 29) as u8 & 0x0E) | 1,
            (t >> 22) as u8,
            ((t >> 14) as u8 & 0xFE) | 1,
            (t >> 7) as u8,
            ((t << 1) as u8) | 1,
        ]
    }

    #[test]
    fn pts_and_dts() {
        let pts = PTS_MODULO - 5;
        let mut p = vec![0, 0, 1, 0xE0, 0, 0, 0x84, 0xC0, 10];
        p.extend_from_slice(&timestamp(3, pts));
        p.extend_from_slice(&timestamp(1, 12345));
        p.extend_from_slice(&[0, 0, 0, 1, 9]);
        let h = parse_pes_header(&p).unwrap();
        assert_eq!(
            (h.stream_id, h.pts, h.dts, h.header_len),
            (0xE0, Some(pts), Some(12345), 19)
        );
        p[9] &= 0xFE;
        assert_eq!(parse_pes_header(&p).unwrap().pts, None, "marker bit");
        assert!(parse_pes_header(&p[..5]).is_none());
        assert!(parse_pes_header(&[0, 0, 2, 0xE0, 0, 0, 0x80, 0, 0]).is_none());
        // Header longer than the bytes at hand: no PTS, but the length is reported.
        let h = parse_pes_header(&[0, 0, 1, 0xC0, 0, 0, 0x80, 0x80, 200, 0x21]).unwrap();
        assert_eq!((h.pts, h.header_len), (None, 209));
    }

    #[test]
    fn wrap_around_arithmetic() {
        assert_eq!(pts_diff(10, PTS_MODULO - 10), 20);
        assert_eq!(pts_diff(PTS_MODULO - 10, 10), -20);
        assert_eq!(pts_diff(90_000, 0), 90_000);
        assert_eq!(pts_add(PTS_MODULO - 1, 2), 1);
        assert_eq!(pts_add(1, -2), PTS_MODULO - 1);
        assert_eq!(ticks_to_us(90_000), 1_000_000);
        assert_eq!(ticks_to_us(-5), 0);
    }
}
