//! Where an export starts and ends inside its first and last segment. Cut only at segment
//! boundaries, a clip asked as 30 s came out as up to 35 s (5 s segments); the ring keeps where
//! each keyframe of a segment starts (`Pin::keyframes`), so an export starts at the keyframe at or
//! before the asked start and ends where the GOP holding the asked end ends, before the next
//! keyframe. The positions come from disk: a list that does not fit its segment (count, packet
//! grid, order, times) is not used, and that segment is kept whole, as are segments recorded
//! before the positions were kept.

use crate::pes::ticks_to_us;
use crate::psi::PsiTracker;
use crate::ts::{Packet, PacketHeader, PACKET_LEN};
use moment_ring::{KeyframePos, SegmentInfo, MAX_KEYFRAMES};
use std::ops::Range;

/// The keyframe positions of `info`, when they fit it: at most `MAX_KEYFRAMES`, on the packet
/// grid inside the payload, in order by bytes and by time, and within the segment's duration.
pub(crate) fn usable<'a>(
    info: &SegmentInfo,
    keyframes: &'a [KeyframePos],
) -> Option<&'a [KeyframePos]> {
    if keyframes.is_empty() || keyframes.len() > MAX_KEYFRAMES {
        return None;
    }
    let fits = |k: &KeyframePos| {
        k.byte_offset < info.payload_len
            && k.byte_offset as usize % PACKET_LEN == 0
            && offset_us(k) <= info.meta.duration_us
    };
    let ordered = keyframes
        .windows(2)
        .all(|w| w[0].byte_offset < w[1].byte_offset && w[0].pts_offset < w[1].pts_offset);
    (ordered && keyframes.iter().all(fits)).then_some(keyframes)
}

/// Microseconds from the segment's first frame to the keyframe (below 2^36: no overflow).
pub(crate) fn offset_us(k: &KeyframePos) -> u64 {
    ticks_to_us(i64::from(k.pts_offset))
}

/// The capture time of a keyframe of `info`.
fn utc_us(info: &SegmentInfo, k: &KeyframePos) -> i64 {
    let offset = i64::try_from(offset_us(k)).unwrap_or(i64::MAX);
    info.meta.utc_start_us.saturating_add(offset)
}

/// The keyframe to start at: the last one at or before `from_us`. `None` when the range starts
/// before the segment's first keyframe: the segment is kept from its start.
pub(crate) fn start_at(
    info: &SegmentInfo,
    keyframes: &[KeyframePos],
    from_us: i64,
) -> Option<KeyframePos> {
    keyframes
        .iter()
        .rev()
        .find(|k| utc_us(info, k) <= from_us)
        .copied()
}

/// The keyframe to end before: the first at or after `to_us` (the range is half-open, so the
/// GOP holding its last moment ends there), later than the start `after` when the export starts
/// in this segment too. Never the segment's first keyframe: the bytes before it are the end of
/// the previous segment's last GOP, nothing that plays alone. `None`: keep to the segment's end.
pub(crate) fn end_before(
    info: &SegmentInfo,
    keyframes: &[KeyframePos],
    to_us: i64,
    after: Option<KeyframePos>,
) -> Option<KeyframePos> {
    keyframes
        .iter()
        .skip(1)
        .filter(|k| after.is_none_or(|a| k.byte_offset > a.byte_offset))
        .find(|k| utc_us(info, k) >= to_us)
        .copied()
}

/// The bytes of a payload of `len` bytes that an export keeps: from the start keyframe (or the
/// start) to the end keyframe (or the end). Anything that does not fit keeps the whole payload.
pub(crate) fn kept(
    len: usize,
    start: Option<KeyframePos>,
    end: Option<KeyframePos>,
) -> Range<usize> {
    let start = start.map_or(0, |k| k.byte_offset as usize);
    let end = end.map_or(len, |k| k.byte_offset as usize);
    if start < end && end <= len {
        start..end
    } else {
        0..len
    }
}

/// Narrows `buf` (a segment's payload) to `keep`, putting the latest PAT and PMT seen before
/// `keep.start` in front so the part decodes alone; returns the new length. The tables are
/// packets from before `keep.start`, so they never overlap the bytes moved.
pub(crate) fn slice(buf: &mut [u8], keep: Range<usize>) -> usize {
    let (start, end) = (keep.start.min(buf.len()), keep.end.min(buf.len()));
    if start >= end {
        return buf.len();
    }
    let tables = if start > 0 {
        tables_before(&buf[..start])
    } else {
        Vec::new()
    };
    let kept = end - start;
    buf.copy_within(start..end, tables.len());
    buf[..tables.len()].copy_from_slice(&tables);
    tables.len() + kept
}

/// The latest complete PAT and PMT among the packets of `head`; empty when it holds none (the
/// stream's own repeats after the cut then announce the program).
fn tables_before(head: &[u8]) -> Vec<u8> {
    let mut psi = PsiTracker::default();
    for chunk in head.chunks_exact(PACKET_LEN) {
        let Ok(packet) = <&Packet>::try_from(chunk) else {
            continue;
        };
        let Some(header) = PacketHeader::parse(packet) else {
            continue;
        };
        if psi.wants(header.pid) {
            psi.push(packet, &header);
        }
    }
    psi.table_packets()
}

#[cfg(test)]
mod tests {
    use super::*;
    use moment_ring::SegmentMeta;

    const T0: i64 = 1_796_032_800_000_000;

    /// A 5 s segment of `len` bytes with a keyframe every second, 100 packets apart.
    fn segment(len: u32) -> (SegmentInfo, Vec<KeyframePos>) {
        let info = SegmentInfo {
            seq: 7,
            epoch: 1,
            pos: 0,
            payload_len: len,
            payload_crc: 0,
            meta: SegmentMeta {
                utc_start_us: T0,
                duration_us: 5_000_000,
                ..SegmentMeta::default()
            },
        };
        let keyframes = (0..5)
            .map(|i| KeyframePos {
                pts_offset: i * 90_000,
                byte_offset: 376 + i * 100 * 188,
            })
            .collect();
        (info, keyframes)
    }

    #[test]
    fn starts_at_or_before_and_ends_after_the_range() {
        let (info, k) = segment(500 * 188);
        let k = usable(&info, &k).unwrap();
        assert_eq!(start_at(&info, k, T0 + 2_500_000), Some(k[2]));
        assert_eq!(start_at(&info, k, T0 + 2_000_000), Some(k[2]), "at");
        assert_eq!(start_at(&info, k, T0 - 1), None, "before the segment");
        assert_eq!(end_before(&info, k, T0 + 2_500_000, None), Some(k[3]));
        assert_eq!(
            end_before(&info, k, T0 + 3_000_000, None),
            Some(k[3]),
            "a range ending on a keyframe ends before it"
        );
        assert_eq!(
            end_before(&info, k, T0 + 4_000_001, None),
            None,
            "to the end"
        );
        assert_eq!(
            end_before(&info, k, T0 - 1, None),
            Some(k[1]),
            "never the first keyframe"
        );
        assert_eq!(end_before(&info, k, T0 + 1_000_000, Some(k[2])), Some(k[3]));
        let keep = kept(info.payload_len as usize, Some(k[1]), Some(k[3]));
        assert_eq!(keep, k[1].byte_offset as usize..k[3].byte_offset as usize);
    }

    #[test]
    fn a_list_that_does_not_fit_its_segment_is_not_used() {
        let (info, good) = segment(500 * 188);
        let broken = |f: &dyn Fn(&mut Vec<KeyframePos>)| {
            let mut k = good.clone();
            f(&mut k);
            usable(&info, &k).is_none()
        };
        assert!(broken(&|k| k.clear()));
        assert!(broken(&|k| k[2].byte_offset += 1), "off the packet grid");
        assert!(
            broken(&|k| k[4].byte_offset = 500 * 188),
            "past the payload"
        );
        assert!(broken(&|k| k[4].byte_offset = u32::MAX - 187));
        assert!(broken(&|k| k.swap(1, 2)), "out of order");
        assert!(
            broken(&|k| k[3].pts_offset = k[2].pts_offset),
            "time stands still"
        );
        assert!(
            broken(&|k| k[4].pts_offset = u32::MAX),
            "beyond the duration"
        );
        assert!(broken(&|k| k.resize(MAX_KEYFRAMES + 1, k[4])));
        assert!(
            kept(100, Some(good[1]), None) == (0..100),
            "start past the end"
        );
        assert_eq!(kept(100_000, Some(good[2]), Some(good[1])), 0..100_000);
    }

    #[test]
    fn a_slice_starts_with_the_tables_seen_before_it() {
        use crate::export::synth::Stream;
        let mut s = Stream::default();
        s.program();
        let tables = s.bytes.clone();
        for k in 0..6 {
            s.video(90_000 + k * 3000, None, 8);
        }
        let mut buf = s.bytes.clone();
        let start = tables.len() + 3 * PACKET_LEN;
        let len = slice(&mut buf, start..s.bytes.len() - PACKET_LEN);
        assert_eq!(&buf[..tables.len()], &tables[..]);
        assert_eq!(
            &buf[tables.len()..len],
            &s.bytes[start..s.bytes.len() - PACKET_LEN]
        );
        // Nothing to take from the start: kept as it is.
        let mut buf = s.bytes.clone();
        assert_eq!(slice(&mut buf, 0..s.bytes.len()), s.bytes.len());
        assert_eq!(buf, s.bytes);
    }
}
