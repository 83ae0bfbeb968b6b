//! Which segments an export reads: from the one containing `from` through the one containing `to`,
//! clipped to what the ring holds (and saying so), plus the segment after the range when it
//! continues the same recording, because the audio of the range's last moments is muxed into it.
//! Where the ring knows the keyframes of the first and last segment, only their part from the
//! keyframe at or before `from` to the end of the GOP holding `to` is exported (`cut`).

use super::cut;
use super::error::ExportError;
use moment_ring::{flags, Device, KeyframePos, Pin, RingReader, SegmentInfo};
use std::ops::Range;

/// Consecutive segments further apart than this (by UTC) count as a gap in the recording.
const GAP_TOLERANCE_US: i64 = 1_000_000;
/// Attempts at pinning when the writer drops the oldest segments between listing and pinning.
const PIN_ATTEMPTS: u32 = 3;

/// The segments of one export and how they relate to the range asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The range asked for, microseconds since the epoch (UTC).
    pub from_us: i64,
    pub to_us: i64,
    /// The segments to export, contiguous sequence numbers, oldest first (never empty).
    pub segments: Vec<SegmentInfo>,
    /// The next segment when it continues the same recording: only its audio is used.
    pub tail: Option<SegmentInfo>,
    /// The ring does not hold the start of the range (it starts later than `from_us`).
    pub clipped_start: bool,
    /// The ring does not hold the end of the range (it ends earlier than `to_us`).
    pub clipped_end: bool,
    /// The first segment is exported from this keyframe on (`None`: from its start).
    pub start_cut: Option<KeyframePos>,
    /// The last segment is exported up to this keyframe (`None`: to its end).
    pub end_cut: Option<KeyframePos>,
}

impl Plan {
    /// Chooses the segments for [from_us, to_us) from what the ring holds now. Wall-clock time can
    /// jump (NTP), so the choice is by overlap, and everything between the first and the last
    /// overlapping segment is included, never a subset with holes.
    pub fn new<D: Device>(
        reader: &RingReader<D>,
        from_us: i64,
        to_us: i64,
    ) -> Result<Plan, ExportError> {
        if from_us >= to_us {
            return Err(ExportError::InvalidRange { from_us, to_us });
        }
        let all = reader.segments();
        let overlaps = |s: &SegmentInfo| s.meta.utc_start_us < to_us && s.utc_end_us() > from_us;
        let (Some(first), Some(last)) = (
            all.iter().position(overlaps),
            all.iter().rposition(overlaps),
        ) else {
            let holds = all.first().zip(all.last());
            return Err(ExportError::NothingInRange {
                from_us,
                to_us,
                holds: holds.map(|(a, b)| (a.meta.utc_start_us, b.utc_end_us())),
            });
        };
        let segments = all[first..=last].to_vec();
        let tail = all
            .get(last + 1)
            .filter(|s| s.meta.flags & flags::DISCONTINUITY == 0)
            .cloned();
        // Consecutive segments' UTC stamps jitter around each other (by up to ~0.1 s measured on a
        // loaded machine), so an end of the range can fall between two segments of a continuous
        // recording without any time missing. Time is missing only where there is no neighbour
        // (evicted, not recorded yet) or the neighbour starts a new recording.
        let starts_anew =
            |s: Option<&SegmentInfo>| s.is_none_or(|s| s.meta.flags & flags::DISCONTINUITY != 0);
        let before = first.checked_sub(1).and_then(|i| all.get(i));
        let clipped_start = segments[0].meta.utc_start_us > from_us
            && (before.is_none() || starts_anew(Some(&segments[0])));
        let clipped_end =
            segments[segments.len() - 1].utc_end_us() < to_us && starts_anew(all.get(last + 1));
        Ok(Plan {
            from_us,
            to_us,
            clipped_start,
            clipped_end,
            segments,
            tail,
            start_cut: None,
            end_cut: None,
        })
    }

    /// Plans and pins in one step, planning again if the writer dropped a segment in between.
    pub fn pinned<D: Device>(
        reader: &RingReader<D>,
        from_us: i64,
        to_us: i64,
    ) -> Result<(Plan, Pin<D>), ExportError> {
        let mut attempt = 1;
        loop {
            let plan = Plan::new(reader, from_us, to_us)?;
            match reader.pin(plan.first_seq(), plan.pin_to()) {
                Ok(pin) => return Ok((plan.cut_at_keyframes(&pin), pin)),
                Err(moment_ring::Error::NoSuchSegment { .. }) if attempt < PIN_ATTEMPTS => {
                    attempt += 1;
                }
                Err(source) => {
                    return Err(ExportError::Ring {
                        seq: plan.first_seq(),
                        source,
                    })
                }
            }
        }
    }

    /// Narrows the first and last segment to the keyframes around the range, where the ring
    /// holds their positions. Positions that cannot be read keep the segment whole: reading the
    /// segment itself then says what is wrong.
    fn cut_at_keyframes<D: Device>(mut self, pin: &Pin<D>) -> Plan {
        let positions = |info: &SegmentInfo| pin.keyframes(info.seq).unwrap_or_default();
        let first = &self.segments[0];
        let last = &self.segments[self.segments.len() - 1];
        let first_keyframes = positions(first);
        self.start_cut = cut::usable(first, &first_keyframes)
            .and_then(|k| cut::start_at(first, k, self.from_us));
        let (last_keyframes, after) = if last.seq == first.seq {
            (first_keyframes, self.start_cut)
        } else {
            (positions(last), None)
        };
        self.end_cut = cut::usable(last, &last_keyframes)
            .and_then(|k| cut::end_before(last, k, self.to_us, after));
        self
    }

    /// The bytes of segment `i` (whose payload is `len` bytes) that the export sends.
    pub(crate) fn kept(&self, i: usize, len: usize) -> Range<usize> {
        let start = if i == 0 { self.start_cut } else { None };
        let end = if i + 1 == self.segments.len() {
            self.end_cut
        } else {
            None
        };
        cut::kept(len, start, end)
    }

    /// Media time left out at the start of the first segment.
    fn skipped_at_start_us(&self) -> u64 {
        self.start_cut.as_ref().map_or(0, cut::offset_us)
    }

    /// Media time left out at the end of the last segment.
    fn skipped_at_end_us(&self) -> u64 {
        let last = &self.segments[self.segments.len() - 1];
        self.end_cut.as_ref().map_or(0, |k| {
            last.meta.duration_us.saturating_sub(cut::offset_us(k))
        })
    }

    pub fn first_seq(&self) -> u64 {
        self.segments[0].seq
    }

    pub fn last_seq(&self) -> u64 {
        self.segments[self.segments.len() - 1].seq
    }

    fn pin_to(&self) -> u64 {
        self.tail.as_ref().map_or(self.last_seq(), |t| t.seq)
    }

    /// Capture time of the first frame exported (UTC microseconds): the start of the first
    /// segment, or of the keyframe it is cut at.
    pub fn utc_start_us(&self) -> i64 {
        let skipped = i64::try_from(self.skipped_at_start_us()).unwrap_or(i64::MAX);
        self.segments[0].meta.utc_start_us.saturating_add(skipped)
    }

    /// End of what is exported (UTC microseconds): the end of the last segment, or the time of
    /// the keyframe it is cut before.
    pub fn utc_end_us(&self) -> i64 {
        let skipped = i64::try_from(self.skipped_at_end_us()).unwrap_or(i64::MAX);
        self.segments[self.segments.len() - 1]
            .utc_end_us()
            .saturating_sub(skipped)
    }

    /// The end of the range that the file name shows: the end asked for, or the end of the
    /// recording when the ring stops earlier.
    pub fn name_end_us(&self) -> i64 {
        self.to_us.min(self.utc_end_us())
    }

    /// Whether the clock was synchronised when the last segment was recorded.
    pub fn end_synced(&self) -> bool {
        self.segments[self.segments.len() - 1].meta.flags & flags::TIME_SYNCED != 0
    }

    /// Media time exported: the segments' durations less what the cuts leave out.
    pub fn duration_us(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.meta.duration_us)
            .fold(0u64, u64::saturating_add)
            .saturating_sub(self.skipped_at_start_us())
            .saturating_sub(self.skipped_at_end_us())
    }

    /// MPEG-TS bytes of the segments that are exported (not counting the tail, nor the copy of
    /// the tables put in front of a cut first segment).
    pub fn ts_bytes(&self) -> u64 {
        self.segments
            .iter()
            .enumerate()
            .map(|(i, s)| self.kept(i, s.payload_len as usize).len() as u64)
            .sum()
    }

    /// Segments after the first that start a new timeline (the source restarted).
    pub fn discontinuities(&self) -> usize {
        self.segments[1..]
            .iter()
            .filter(|s| s.meta.flags & flags::DISCONTINUITY != 0)
            .count()
    }

    /// Wall-clock time between consecutive segments that no segment covers (recording stopped).
    pub fn gaps_us(&self) -> u64 {
        self.segments
            .windows(2)
            .map(|w| w[1].meta.utc_start_us - w[0].utc_end_us())
            .filter(|&gap| gap > GAP_TOLERANCE_US)
            .map(|gap| gap as u64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moment_ring::{format, FormatOptions, MemDevice, OpenOptions, Ring, SegmentMeta};

    const T0_US: i64 = 1_795_000_000_000_000;
    const SEGMENT_US: i64 = 2_000_000;

    /// Four 2 s segments whose start times jitter by a few ms, as a live recording's do; the
    /// fourth follows a source restart a minute later.
    fn ring() -> Ring<MemDevice> {
        let dev = MemDevice::new(8 << 20);
        format(&dev, &FormatOptions::default()).unwrap();
        let mut ring = Ring::open(dev, OpenOptions::default()).unwrap();
        for (i, jitter) in [0, 5_000, 2_000, 60_000_000].into_iter().enumerate() {
            let meta = SegmentMeta {
                utc_start_us: T0_US + i as i64 * SEGMENT_US + jitter,
                duration_us: SEGMENT_US as u64,
                flags: if i == 3 { flags::DISCONTINUITY } else { 0 },
                ..SegmentMeta::default()
            };
            ring.append(&meta, &[0x47; 188 * 4]).unwrap();
        }
        ring.flush().unwrap();
        ring
    }

    fn clipped(ring: &Ring<MemDevice>, from_us: i64, to_us: i64) -> (bool, bool) {
        let plan = Plan::new(&ring.reader(), from_us, to_us).unwrap();
        (plan.clipped_start, plan.clipped_end)
    }

    #[test]
    fn a_range_ending_between_jittered_segments_is_not_clipped() {
        let ring = ring();
        // Starts in the 5 ms between #1 and #2; ends in the 2 ms between #2 and #3.
        assert_eq!(
            clipped(&ring, T0_US + SEGMENT_US + 1_000, T0_US + 5_000_000),
            (false, false)
        );
        assert_eq!(
            clipped(&ring, T0_US + 1_000, T0_US + 2 * SEGMENT_US + 6_000),
            (false, false)
        );
        // Before the oldest segment, after the newest and across the restart, time is missing.
        assert_eq!(
            clipped(&ring, T0_US - 1_000_000, T0_US + 3_000_000),
            (true, false)
        );
        let newest_end = T0_US + 3 * SEGMENT_US + 60_000_000 + SEGMENT_US;
        assert_eq!(
            clipped(&ring, newest_end - 1_000_000, newest_end + 1_000_000),
            (false, true)
        );
        assert_eq!(
            clipped(&ring, T0_US + 3 * SEGMENT_US + 30_000_000, newest_end),
            (true, false)
        );
        assert_eq!(
            clipped(
                &ring,
                T0_US + 5_000_000,
                T0_US + 3 * SEGMENT_US + 30_000_000
            ),
            (false, true)
        );
    }
}
