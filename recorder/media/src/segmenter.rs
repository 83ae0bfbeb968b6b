//! The keyframe segmenter: bytes from the camera in, self-contained segments out. Cuts land exactly
//! before the first TS packet of the video PES that starts an IDR access unit, found by holding
//! packets from each video PES start until its NAL types are known. Everything is incremental and
//! bounded: the framer's few packets, the held packets (at most `hold_limit`) and the segment being
//! built (at most `max_segment_bytes`) are all it keeps. It never blocks and never panics on input.

use crate::config::{ConfigError, SegmenterConfig};
use crate::framer::{self, Framer};
use crate::h264::{AccessUnitKind, AccessUnitScanner};
use crate::live::{LiveChunk, LiveMark};
use crate::pes::{parse_pes_header, pts_diff, TICKS_PER_SECOND};
use crate::psi::{Program, PsiTracker};
use crate::segment::{Builder, Clock, End, Segment};
use crate::ts::{ContinuityTracker, Packet, PacketHeader, PACKET_LEN};
use moment_ring::flags;

/// Packets held while deciding whether a video PES starts an IDR, at most (then: not an IDR).
const MAX_HOLD: usize = 2 << 20;
/// Reference timestamps jumping further than this (either way) mark a discontinuity.
const PTS_JUMP_TICKS: i64 = 10 * TICKS_PER_SECOND as i64;
/// Room kept in every segment for PAT/PMT copies added after its first packet.
const TABLE_HEADROOM: usize = 12 * PACKET_LEN;
/// With a reference stream that stops advancing, cut by the monotonic clock this long after the
/// hard maximum.
const MONO_GRACE_US: u64 = 2_000_000;

/// Counters for status pages and tests. All totals since the segmenter was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub bytes_in: u64,
    pub packets: u64,
    /// Bytes that were not part of any packet (garbage, truncated packets, a partial last packet).
    pub skipped_bytes: u64,
    /// Times the packet grid was lost and searched for again.
    pub resyncs: u64,
    pub cc_errors: u64,
    pub transport_errors: u64,
    pub segments_out: u64,
    /// Segments flagged `FORCED_CUT`.
    pub forced_cuts: u64,
    /// Segments flagged `DISCONTINUITY`.
    pub discontinuities: u64,
    pub pmt_changes: u64,
    pub pts_jumps: u64,
    /// IDR access units without an SPS (a decoder starting there needs an earlier SPS).
    pub idr_without_sps: u64,
}

/// Cuts a transport stream into segments. What each segment's `SegmentMeta` says:
/// - `utc_start_us`, `mono_start_us`, `TIME_SYNCED`: the `Clock` of the push that brought the
///   segment's first byte.
/// - `pts_first`: the first reference PTS (video; audio when the program has no video), `pts_last`
///   the highest. `duration_us`: the next segment's `pts_first` minus this one's when the timeline
///   continues; else last minus first plus one frame; else the monotonic time the segment spanned.
/// - `KEYFRAME_START`: the segment's first video access unit is an IDR.
/// - `FORCED_CUT`: the segment ended at the hard maximum, the size limit, or without any video.
/// - `DISCONTINUITY`: after `mark_discontinuity`, a reference PTS jump of more than 10 s (the cut
///   is placed at the jump), or bytes skipped inside the segment (garbage, truncated packets).
/// - `continuity_errors`: continuity-counter gaps on the segment's packets.
pub struct Segmenter {
    framer: Framer<Clock>,
    core: Core,
}

struct Core {
    target_us: u64,
    hard_max_us: u64,
    max_segment_bytes: usize,
    hold_limit: usize,
    cc: ContinuityTracker,
    psi: PsiTracker,
    program: Option<Program>,
    current: Builder,
    held: Option<Held>,
    spare: Vec<u8>,
    seen_packet: bool,
    last_ref_pts: Option<u64>,
    frame_ticks: Option<u64>,
    stats: Stats,
    out: Vec<Segment>,
    /// What this push committed, for live viewers; `None` unless `enable_live` was called.
    live: Option<LiveChunk>,
}

/// Packets from a video PES start, held until the access unit's kind is known.
struct Held {
    bytes: Vec<u8>,
    clock: Clock,
    pts: Option<u64>,
    scanner: AccessUnitScanner,
    cc_errors: u32,
    lost_bytes: bool,
    pts_jump: bool,
}

/// What is known about a packet besides its bytes.
#[derive(Clone, Copy)]
struct Arrival {
    clock: Clock,
    cc_error: bool,
    /// Bytes were skipped just before it (after the source's first packet).
    lost_bytes: bool,
}

impl Segmenter {
    pub fn new(config: SegmenterConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let max_segment_bytes = config.max_segment_bytes as usize;
        let core = Core {
            target_us: config.target.as_micros() as u64,
            hard_max_us: config.hard_max.as_micros() as u64,
            max_segment_bytes,
            hold_limit: MAX_HOLD.min(max_segment_bytes / 4),
            cc: ContinuityTracker::default(),
            psi: PsiTracker::default(),
            program: None,
            current: Builder::new(0),
            held: None,
            spare: Vec::new(),
            seen_packet: false,
            last_ref_pts: None,
            frame_ticks: None,
            stats: Stats::default(),
            out: Vec::new(),
            live: None,
        };
        Ok(Segmenter {
            framer: Framer::new(Clock::default()),
            core,
        })
    }

    /// Feeds bytes as they arrived at `now`; returns the segments completed by them.
    pub fn push(&mut self, bytes: &[u8], now: Clock) -> Vec<Segment> {
        self.core.stats.bytes_in += bytes.len() as u64;
        let core = &mut self.core;
        self.framer.push(bytes, now, &mut |p, clock, skipped| {
            core.on_packet(p, clock, skipped)
        });
        std::mem::take(&mut self.core.out)
    }

    /// End of the stream: returns the last, partial segment (if any). The segmenter is then ready
    /// for a new stream (its PIDs and counters are forgotten).
    pub fn finish(&mut self, now: Clock) -> Vec<Segment> {
        let core = &mut self.core;
        self.framer
            .finish(&mut |p, clock, skipped| core.on_packet(p, clock, skipped));
        core.flush(now);
        core.live_restart();
        std::mem::take(&mut self.core.out)
    }

    /// The source restarted (or the caller lost bytes): ends the current segment like `finish`,
    /// and flags the next one `DISCONTINUITY`.
    pub fn mark_discontinuity(&mut self, now: Clock) -> Vec<Segment> {
        let segments = self.finish(now);
        self.core.current.set_flag(flags::DISCONTINUITY);
        segments
    }

    /// From now on, keeps what each push commits for `take_live` (the live view's feed).
    pub fn enable_live(&mut self) {
        self.core.live.get_or_insert_with(LiveChunk::default);
    }

    /// What was committed since the last call (bytes and marks), if anything; bounded by what
    /// one push or finish can commit. `None` when live is not enabled or nothing happened.
    pub fn take_live(&mut self) -> Option<LiveChunk> {
        let live = self.core.live.as_mut()?;
        if live.is_empty() {
            return None;
        }
        Some(std::mem::take(live))
    }

    pub fn stats(&self) -> Stats {
        Stats {
            skipped_bytes: self.framer.skipped_bytes(),
            resyncs: self.framer.resyncs(),
            ..self.core.stats
        }
    }

    /// Bytes held right now (framer, held packets, segment being built).
    pub fn buffered_bytes(&self) -> usize {
        let held = self.core.held.as_ref().map_or(0, |h| h.bytes.len());
        self.framer.buffered() + held + self.core.current.len()
    }

    /// The bound `buffered_bytes` never exceeds.
    pub fn max_buffered_bytes(&self) -> usize {
        framer::MAX_BUFFERED + self.core.hold_limit + PACKET_LEN + self.core.max_segment_bytes
    }
}

impl Core {
    fn on_packet(&mut self, packet: &Packet, clock: Clock, skipped: u64) {
        self.stats.packets += 1;
        let lost_bytes = skipped > 0 && self.seen_packet;
        self.seen_packet = true;
        let Some(header) = PacketHeader::parse(packet) else {
            return; // the framer only passes packets that start with the sync byte
        };
        self.stats.transport_errors += u64::from(header.transport_error);
        let cc_error = self.cc.check(&header);
        self.stats.cc_errors += u64::from(cc_error);
        let arrival = Arrival {
            clock,
            cc_error,
            lost_bytes,
        };
        if self.psi.wants(header.pid) && self.psi.push(packet, &header) {
            self.on_program_change();
        }
        let is_video = self.program.and_then(|p| p.video_pid) == Some(header.pid);
        if is_video && header.pusi {
            self.resolve(AccessUnitKind::NonIdr);
            self.start_hold(packet, &header, arrival);
            return;
        }
        if let Some(held) = self.held.as_mut() {
            held.bytes.extend_from_slice(packet);
            held.cc_errors += u32::from(cc_error);
            held.lost_bytes |= lost_bytes;
            let kind = if is_video {
                held.scanner.push(header.payload(packet))
            } else {
                None
            };
            if let Some(kind) = kind {
                self.resolve(kind);
            } else if held.bytes.len() >= self.hold_limit {
                self.resolve(AccessUnitKind::NonIdr);
            }
            return;
        }
        self.plain(packet, &header, arrival);
    }

    fn on_program_change(&mut self) {
        let program = self.psi.program();
        if self.program.is_some() {
            self.stats.pmt_changes += 1;
        }
        if program.and_then(|p| p.video_pid) != self.program.and_then(|p| p.video_pid) {
            self.resolve(AccessUnitKind::NonIdr);
        }
        self.program = program;
        if !self.current.tables_done() {
            self.current.late_tables(&self.psi.table_packets());
        }
    }

    fn start_hold(&mut self, packet: &Packet, header: &PacketHeader, arrival: Arrival) {
        let payload = header.payload(packet);
        let pes = parse_pes_header(payload);
        let pts = pes.and_then(|h| h.pts);
        let pts_jump = self.note_reference_pts(pts);
        let mut scanner = AccessUnitScanner::new(pes.map_or(0, |h| h.header_len));
        let kind = scanner.push(payload);
        let mut bytes = std::mem::take(&mut self.spare);
        bytes.extend_from_slice(packet);
        self.held = Some(Held {
            bytes,
            clock: arrival.clock,
            pts,
            scanner,
            cc_errors: u32::from(arrival.cc_error),
            lost_bytes: arrival.lost_bytes,
            pts_jump,
        });
        if let Some(kind) = kind {
            self.resolve(kind);
        }
    }

    /// The held access unit's kind is known: cut before it if it is time, then append it.
    fn resolve(&mut self, kind: AccessUnitKind) {
        let Some(mut held) = self.held.take() else {
            return;
        };
        let idr = kind == AccessUnitKind::Idr;
        if idr && !held.scanner.saw_sps() {
            self.stats.idr_without_sps += 1;
        }
        let mono_us = held.clock.mono_us;
        if held.pts_jump {
            self.live_restart();
        }
        if idr {
            if let Some(live) = self.live.as_mut() {
                live.marks.push(LiveMark::Keyframe {
                    offset: live.bytes.len(),
                    tables: self.psi.table_packets(),
                    utc_us: held.clock.utc_us,
                });
            }
        }
        if let Some(live) = self.live.as_mut() {
            live.bytes.extend_from_slice(&held.bytes);
        }
        if held.pts_jump {
            if self.current.video_seen() {
                self.cut(false, None, mono_us);
            }
            self.current.set_flag(flags::DISCONTINUITY);
        } else if self.current.video_seen() {
            let elapsed = self.elapsed_us(held.pts, held.clock);
            if idr && (!self.current.keyframe_start() || elapsed >= self.target_us) {
                self.cut(false, held.pts, mono_us);
            } else if !idr && elapsed >= self.hard_max_us {
                self.cut(true, held.pts, mono_us);
            }
        }
        if self.current.len() + held.bytes.len() + TABLE_HEADROOM > self.max_segment_bytes {
            self.cut(true, held.pts, mono_us);
        }
        if held.lost_bytes {
            self.current.set_flag(flags::DISCONTINUITY);
        }
        self.current.add_cc_errors(held.cc_errors);
        let psi = &self.psi;
        self.current
            .append(&held.bytes, held.clock, || psi.table_packets());
        self.current.note_reference(held.pts, Some(idr));
        if idr {
            self.current.note_keyframe(held.bytes.len(), held.pts);
        }
        held.bytes.clear();
        self.spare = held.bytes;
    }

    /// A packet that is neither held nor starts a video PES.
    fn plain(&mut self, packet: &Packet, header: &PacketHeader, arrival: Arrival) {
        let program = self.program;
        let audio_reference = header.pusi
            && program.is_some_and(|p| p.video_pid.is_none() && p.audio_pid == Some(header.pid));
        let mut reference_pts = None;
        if audio_reference {
            // No video: audio PES starts are the only cut points, and every cut is forced.
            reference_pts = parse_pes_header(header.payload(packet)).and_then(|h| h.pts);
            if self.note_reference_pts(reference_pts) {
                self.live_restart();
                self.cut(true, None, arrival.clock.mono_us);
                self.current.set_flag(flags::DISCONTINUITY);
            } else if let Some(elapsed) = reference_pts.and_then(|p| self.current.pts_elapsed_us(p))
            {
                if elapsed >= self.target_us {
                    self.cut(true, reference_pts, arrival.clock.mono_us);
                }
            }
        }
        if let Some(start) = self.current.start() {
            let no_reference = program.is_none_or(|p| p.video_pid.or(p.audio_pid).is_none());
            let limit = if no_reference {
                self.target_us
            } else {
                self.hard_max_us + MONO_GRACE_US
            };
            if arrival.clock.mono_us.saturating_sub(start.mono_us) >= limit {
                self.cut(true, None, arrival.clock.mono_us);
            }
        }
        if self.current.len() + PACKET_LEN + TABLE_HEADROOM > self.max_segment_bytes {
            self.cut(true, None, arrival.clock.mono_us);
        }
        if arrival.lost_bytes {
            self.current.set_flag(flags::DISCONTINUITY);
        }
        self.current.add_cc_errors(u32::from(arrival.cc_error));
        if let Some(live) = self.live.as_mut() {
            live.bytes.extend_from_slice(packet);
        }
        let psi = &self.psi;
        self.current
            .append(packet, arrival.clock, || psi.table_packets());
        if audio_reference {
            self.current.note_reference(reference_pts, None);
        }
    }

    /// Live viewers must start over at what is committed next.
    fn live_restart(&mut self) {
        if let Some(live) = self.live.as_mut() {
            let offset = live.bytes.len();
            if live.marks.last() != Some(&LiveMark::Restart { offset }) {
                live.marks.push(LiveMark::Restart { offset });
            }
        }
    }

    /// Notes a reference-stream PTS; true when it jumped (a discontinuity).
    fn note_reference_pts(&mut self, pts: Option<u64>) -> bool {
        let Some(pts) = pts else {
            return false;
        };
        let Some(previous) = self.last_ref_pts.replace(pts) else {
            return false;
        };
        let delta = pts_diff(pts, previous);
        if delta.abs() > PTS_JUMP_TICKS {
            self.stats.pts_jumps += 1;
            return true;
        }
        if delta > 0 && delta < TICKS_PER_SECOND as i64 {
            let delta = delta as u64;
            self.frame_ticks = Some(self.frame_ticks.map_or(delta, |f| f.min(delta)));
        }
        false
    }

    /// How long the current segment has run at a packet with `pts` arriving at `clock`.
    fn elapsed_us(&self, pts: Option<u64>, clock: Clock) -> u64 {
        if let Some(us) = pts.and_then(|p| self.current.pts_elapsed_us(p)) {
            return us;
        }
        let start = self.current.start().map_or(clock.mono_us, |s| s.mono_us);
        clock.mono_us.saturating_sub(start)
    }

    /// Ends the current segment (if it has any bytes) and starts an empty one.
    fn cut(&mut self, forced: bool, next_pts: Option<u64>, mono_us: u64) {
        if self.current.is_empty() {
            return;
        }
        let capacity = (self.current.len() + self.current.len() / 8).min(self.max_segment_bytes);
        let builder = std::mem::replace(&mut self.current, Builder::new(capacity));
        let forced = forced || !builder.video_seen();
        let segment = builder.finish(End {
            forced,
            next_pts,
            mono_us,
            frame_ticks: self.frame_ticks.unwrap_or(0),
            max_duration_us: self.hard_max_us + 2 * MONO_GRACE_US,
        });
        self.stats.segments_out += 1;
        self.stats.forced_cuts += u64::from(forced);
        self.stats.discontinuities += u64::from(segment.meta.flags & flags::DISCONTINUITY != 0);
        self.out.push(segment);
    }

    /// End of a stream: settle the held packets, emit the partial segment, forget the stream.
    fn flush(&mut self, now: Clock) {
        self.resolve(AccessUnitKind::NonIdr);
        self.cut(false, None, now.mono_us);
        self.cc.reset();
        self.psi = PsiTracker::default();
        self.program = None;
        self.seen_packet = false;
        self.last_ref_pts = None;
        self.frame_ticks = None;
    }
}
