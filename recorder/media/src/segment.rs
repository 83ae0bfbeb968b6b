//! A segment while it is being built and once it is finished: its bytes, when its first byte
//! arrived, its timestamps, and the flags and counters the ring stores beside it. Kept apart from
//! the segmenter's cutting decisions so the bookkeeping of one segment can be read at once.

use crate::pes::{pts_diff, ticks_to_us};
use crate::ts::{PACKET_LEN, PAT_PID, SYNC};
use moment_ring::{flags, KeyframePos, SegmentMeta, MAX_KEYFRAMES};

/// The clocks at the moment bytes were handed to the segmenter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    /// Wall clock, microseconds since the Unix epoch (UTC).
    pub utc_us: i64,
    /// The wall clock is synchronised (NTP or the phone), not a guess.
    pub utc_synced: bool,
    /// Monotonic clock (CLOCK_MONOTONIC), microseconds.
    pub mono_us: u64,
}

/// A finished segment, ready for the ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Whole TS packets. Starts with a PAT then a PMT whenever the program was known.
    pub payload: Vec<u8>,
    pub meta: SegmentMeta,
    /// Bytes at the start of `payload` that are copies of the latest PAT/PMT, added so the segment
    /// decodes alone; everything after them is the source's bytes, in order.
    pub injected_len: usize,
    /// Where each video IDR access unit starts (its PES's first packet) and its PTS after
    /// `pts_first`: at most `MAX_KEYFRAMES` (later ones are left out), byte offsets increasing.
    pub keyframes: Vec<KeyframePos>,
}

/// How a segment ended, for its duration and flags.
pub(crate) struct End {
    /// Cut without a keyframe to cut before (hard maximum, size, no video).
    pub forced: bool,
    /// The reference PTS of what follows, when the next segment continues this one's timeline.
    pub next_pts: Option<u64>,
    /// The monotonic clock at the cut.
    pub mono_us: u64,
    /// One frame of the reference stream in ticks, for the last frame's share of the duration.
    pub frame_ticks: u64,
    /// Longest plausible duration; PTS-derived values beyond it are not trusted.
    pub max_duration_us: u64,
}

/// The segment under construction.
pub(crate) struct Builder {
    payload: Vec<u8>,
    injected_len: usize,
    /// Whether the PAT/PMT question is settled (injected, or the segment began with a PAT).
    tables_done: bool,
    start: Option<Clock>,
    flags: u32,
    cc_errors: u32,
    video_seen: bool,
    pts_first: Option<u64>,
    pts_max: Option<u64>,
    keyframes: Vec<KeyframePos>,
}

impl Builder {
    pub fn new(capacity: usize) -> Self {
        Builder {
            payload: Vec::with_capacity(capacity),
            injected_len: 0,
            tables_done: false,
            start: None,
            flags: 0,
            cc_errors: 0,
            video_seen: false,
            pts_first: None,
            pts_max: None,
            keyframes: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.payload.len()
    }

    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }

    pub fn tables_done(&self) -> bool {
        self.tables_done
    }

    pub fn start(&self) -> Option<Clock> {
        self.start
    }

    pub fn video_seen(&self) -> bool {
        self.video_seen
    }

    pub fn keyframe_start(&self) -> bool {
        self.flags & flags::KEYFRAME_START != 0
    }

    pub fn set_flag(&mut self, flag: u32) {
        self.flags |= flag;
    }

    pub fn add_cc_errors(&mut self, n: u32) {
        self.cc_errors = self.cc_errors.saturating_add(n);
    }

    /// Appends whole packets that arrived at `clock`. `tables` gives the PAT/PMT packets to start
    /// the segment with, if known (called only while they are not settled).
    pub fn append(&mut self, packets: &[u8], clock: Clock, tables: impl FnOnce() -> Vec<u8>) {
        debug_assert_eq!(packets.len() % PACKET_LEN, 0);
        if self.payload.is_empty() {
            self.start.get_or_insert(clock);
            if starts_with_pat(packets) {
                self.tables_done = true;
            } else {
                self.inject(&tables());
            }
        }
        self.payload.extend_from_slice(packets);
    }

    /// The program became known: put its tables in front if the segment still lacks them.
    pub fn late_tables(&mut self, tables: &[u8]) {
        if !self.payload.is_empty() && !self.tables_done {
            self.inject(tables);
        }
    }

    fn inject(&mut self, tables: &[u8]) {
        if tables.is_empty() {
            return;
        }
        self.payload.splice(0..0, tables.iter().copied());
        self.injected_len = tables.len();
        // Tables put in front move every byte after them.
        let shift = u32::try_from(tables.len()).unwrap_or(u32::MAX);
        for keyframe in &mut self.keyframes {
            keyframe.byte_offset = keyframe.byte_offset.saturating_add(shift);
        }
        self.tables_done = true;
    }

    /// Records an access unit (or an audio PES when there is no video) of the reference stream.
    pub fn note_reference(&mut self, pts: Option<u64>, video_keyframe: Option<bool>) {
        if let Some(idr) = video_keyframe {
            if !self.video_seen && idr {
                self.flags |= flags::KEYFRAME_START;
            }
            self.video_seen = true;
        }
        let Some(pts) = pts else { return };
        let first = *self.pts_first.get_or_insert(pts);
        let max = self.pts_max.get_or_insert(pts);
        if pts_diff(pts, *max) > 0 && pts_diff(pts, first) > 0 {
            *max = pts;
        }
    }

    /// The video IDR access unit just appended began `len` bytes before the payload's end.
    /// Called after `note_reference`, so the segment's first keyframe sits at PTS offset 0.
    pub fn note_keyframe(&mut self, len: usize, pts: Option<u64>) {
        if self.keyframes.len() >= MAX_KEYFRAMES {
            return;
        }
        let start = self.payload.len().saturating_sub(len);
        let (Ok(byte_offset), Some(first), Some(pts)) = (u32::try_from(start), self.pts_first, pts)
        else {
            return;
        };
        let Ok(pts_offset) = u32::try_from(pts_diff(pts, first)) else {
            return; // before the segment's first PTS (B-frame order) or absurdly far: not a cut point
        };
        // A cut point must move on in both bytes and time: a repeated or out-of-order PTS (a
        // damaged or replayed stream) is no place to start a clip.
        if self
            .keyframes
            .last()
            .is_some_and(|k| k.byte_offset >= byte_offset || k.pts_offset >= pts_offset)
        {
            return;
        }
        self.keyframes.push(KeyframePos {
            pts_offset,
            byte_offset,
        });
    }

    /// Media time from the first reference PTS to `pts`, in microseconds.
    pub fn pts_elapsed_us(&self, pts: u64) -> Option<u64> {
        self.pts_first
            .map(|first| ticks_to_us(pts_diff(pts, first)))
    }

    pub fn finish(self, end: End) -> Segment {
        let start = self.start.unwrap_or_default();
        let mut flags = self.flags;
        if end.forced {
            flags |= flags::FORCED_CUT;
        }
        if start.utc_synced {
            flags |= flags::TIME_SYNCED;
        }
        let duration_us = self.duration_us(&end, start);
        Segment {
            meta: SegmentMeta {
                utc_start_us: start.utc_us,
                mono_start_us: start.mono_us,
                duration_us,
                pts_first: self.pts_first,
                pts_last: self.pts_max,
                flags,
                continuity_errors: self.cc_errors,
            },
            payload: self.payload,
            injected_len: self.injected_len,
            keyframes: self.keyframes,
        }
    }

    /// From the next segment's first PTS when the timeline continues, else from the last PTS plus
    /// one frame, else from the monotonic clock.
    fn duration_us(&self, end: &End, start: Clock) -> u64 {
        let plausible = |us: u64| us > 0 && us <= end.max_duration_us;
        if let (Some(first), Some(next)) = (self.pts_first, end.next_pts) {
            let us = ticks_to_us(pts_diff(next, first));
            if plausible(us) {
                return us;
            }
        }
        if let (Some(first), Some(last)) = (self.pts_first, self.pts_max) {
            let ticks = pts_diff(last, first).saturating_add(end.frame_ticks as i64);
            let us = ticks_to_us(ticks);
            if plausible(us) {
                return us;
            }
        }
        end.mono_us.saturating_sub(start.mono_us)
    }
}

fn starts_with_pat(packets: &[u8]) -> bool {
    packets.len() >= 3
        && packets[0] == SYNC
        && (u16::from(packets[1] & 0x1F) << 8 | u16::from(packets[2])) == PAT_PID
}
