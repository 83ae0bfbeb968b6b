//! Which segments an export reads: from the one containing `from` through the one containing `to`,
//! clipped to what the ring holds (and saying so), plus the segment after the range when it
//! continues the same recording, because the audio of the range's last moments is muxed into it.

use super::error::ExportError;
use moment_ring::{flags, Device, Pin, RingReader, SegmentInfo};

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
                Ok(pin) => return Ok((plan, pin)),
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

    pub fn first_seq(&self) -> u64 {
        self.segments[0].seq
    }

    pub fn last_seq(&self) -> u64 {
        self.segments[self.segments.len() - 1].seq
    }

    fn pin_to(&self) -> u64 {
        self.tail.as_ref().map_or(self.last_seq(), |t| t.seq)
    }

    /// Start of the first segment (UTC microseconds).
    pub fn utc_start_us(&self) -> i64 {
        self.segments[0].meta.utc_start_us
    }

    /// End of the last segment (UTC microseconds).
    pub fn utc_end_us(&self) -> i64 {
        self.segments[self.segments.len() - 1].utc_end_us()
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

    /// Sum of the segments' durations.
    pub fn duration_us(&self) -> u64 {
        self.segments.iter().map(|s| s.meta.duration_us).sum()
    }

    /// MPEG-TS bytes of the segments (not counting the tail).
    pub fn ts_bytes(&self) -> u64 {
        self.segments.iter().map(|s| u64::from(s.payload_len)).sum()
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
