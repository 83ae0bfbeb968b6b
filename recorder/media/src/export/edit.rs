//! Turns the segments of an export into one MPEG-TS stream that remuxes cleanly to MP4:
//! - after a source restart (a segment flagged DISCONTINUITY) the timestamps start over, so every
//!   PTS, DTS and PCR of the new run is shifted to continue where the previous run's video ended;
//! - a run's audio is trimmed, at AAC frame granularity, to its video: the segmenter cuts before
//!   a video keyframe, but muxers interleave audio up to a few hundred milliseconds away from the
//!   video of the same time, so the first segment carries audio from before the first frame, the
//!   last one lacks the audio of its last frames (it is in the bytes after a cut at a keyframe and
//!   in the next segment: the caller appends their audio packets), and a dying source leaves a
//!   half-written audio frame. A first segment cut at a keyframe starts with the PAT and PMT, so
//!   its audio is trimmed like that of a whole one.
//!
//! Audio and video of a run are shifted together, so they stay in sync; between runs the video is
//! continuous and the audio has a gap where the source had none.

use super::rewrite::{self, Continuity};
use super::scan::{self, Scan, StreamTimes};
use crate::pes::{pts_add, pts_diff, PTS_MODULO};
use crate::psi::Program;
use crate::ts::PACKET_LEN;
use std::ops::Range;

/// Frame length assumed until a segment shows one (one frame at 30 fps).
const DEFAULT_FRAME_TICKS: u64 = 3000;

/// A segment's place among the runs of an export (a run: segments between source restarts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Role {
    pub first_of_run: bool,
    pub last_of_run: bool,
    /// A run starts here that is not the export's first: its timeline is moved.
    pub junction: bool,
}

/// A piece of the output stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// These bytes of the (edited) segment buffer.
    Keep(Range<usize>),
    /// New packets (trimmed audio).
    Insert(Vec<u8>),
}

/// What happens to one packet instead of being sent as it is.
enum Action {
    Drop,
    /// Send these frames as a new PES in place of this packet.
    Replace {
        pid: u16,
        stream_id: u8,
        pts: u64,
        es: Vec<u8>,
    },
}

/// The audio kept from a segment: frames whose middle lies in [start, end).
struct Window {
    start: Option<u64>,
    end: Option<u64>,
    /// The run ends here: an incomplete last frame is dropped, nothing continues it.
    whole_only: bool,
    /// The run starts here: audio continuing a PES from before is dropped.
    drop_orphans: bool,
}

/// The end of what was sent, in output time.
#[derive(Clone, Copy, Debug)]
struct SentEnd {
    video_end: u64,
    next_dts: u64,
}

/// The state carried from segment to segment.
pub(crate) struct Editor {
    /// Added to the current run's timestamps (ticks, modulo 2^33).
    offset: i64,
    program: Option<Program>,
    cc: Continuity,
    sent: Option<SentEnd>,
    run_start: Option<u64>,
    frame: u64,
    /// Runs whose timeline was moved.
    pub(crate) junctions: u32,
}

impl Default for Editor {
    fn default() -> Self {
        Editor {
            offset: 0,
            program: None,
            cc: Continuity::default(),
            sent: None,
            run_start: None,
            frame: DEFAULT_FRAME_TICKS,
            junctions: 0,
        }
    }
}

impl Editor {
    /// The packets of the audio PID in `next` (the segment after the export), to append to the
    /// export's last segment `last` so its final frames get their audio.
    pub(crate) fn tail_audio(&self, last: &[u8], next: &[u8]) -> Vec<u8> {
        let audio = scan::program(last, self.program).and_then(|p| p.audio_pid);
        let Some(audio) = audio else {
            return Vec::new();
        };
        next.chunks_exact(PACKET_LEN)
            .filter(|p| u16::from(p[1] & 0x1F) << 8 | u16::from(p[2]) == audio)
            .flatten()
            .copied()
            .collect()
    }

    /// Edits `buf` (one segment's whole packets) in place and says which bytes to send.
    pub(crate) fn segment(&mut self, buf: &mut [u8], role: Role) -> Vec<Piece> {
        let scan = Scan::new(buf, self.program);
        self.program = scan.program;
        let raw = self.reference(&scan);
        if role.junction {
            if let (Some(sent), Some(t)) = (self.sent, raw) {
                self.offset = junction_offset(sent, t);
                self.junctions += 1;
            }
            self.cc.break_all();
        }
        if self.offset != 0 {
            rewrite::retime(buf, &scan, self.offset);
        }
        let shifted = raw.map(|t| shift(t, self.offset));
        if let Some(frame) = shifted.and_then(|t| t.frame) {
            self.frame = frame;
        }
        if role.first_of_run {
            self.run_start = shifted.map(|t| t.first_pts);
        }
        let end = shifted.map(|t| pts_add(t.max_pts, self.frame as i64));
        let window = Window {
            start: if role.first_of_run {
                self.run_start
            } else {
                None
            },
            end: if role.last_of_run { end } else { None },
            whole_only: role.last_of_run,
            drop_orphans: role.first_of_run,
        };
        let actions = self.audio_actions(&scan, &window);
        if let Some(t) = shifted {
            self.sent = Some(SentEnd {
                video_end: pts_add(t.max_pts, self.frame as i64),
                next_dts: pts_add(t.last_dts, self.frame as i64),
            });
        }
        self.apply(buf, actions)
    }

    /// The stream that sets the timeline: video, else audio.
    fn reference(&self, scan: &Scan) -> Option<StreamTimes> {
        let program = scan.program?;
        program
            .video_pid
            .and_then(|pid| scan.times(pid))
            .or_else(|| program.audio_pid.and_then(|pid| scan.times(pid)))
    }

    fn audio_actions(&self, scan: &Scan, window: &Window) -> Vec<(usize, Action)> {
        let mut actions = Vec::new();
        let Some(pid) = self.program.and_then(|p| p.audio_pid) else {
            return actions;
        };
        let drop_all = |actions: &mut Vec<(usize, Action)>, packets: &[u32]| {
            actions.extend(packets.iter().map(|&i| (i as usize, Action::Drop)));
        };
        for pes in &scan.audio {
            if pes.orphan {
                if window.drop_orphans {
                    drop_all(&mut actions, &pes.packets);
                }
                continue;
            }
            if window.start.is_none() && window.end.is_none() {
                continue;
            }
            let Some((pts, frames)) = pes.timed_frames() else {
                continue;
            };
            let pts = pts_add(pts, self.offset);
            let inside = |mid: u64| {
                window.start.is_none_or(|s| pts_diff(mid, s) >= 0)
                    && window.end.is_none_or(|e| pts_diff(mid, e) < 0)
            };
            let kept: Vec<_> = frames
                .iter()
                .filter(|f| inside(pts_add(pts, (f.start_ticks + f.ticks / 2) as i64)))
                .collect();
            let untouched = kept.len() == frames.len() && !(pes.truncated && window.whole_only);
            match (kept.first(), kept.last()) {
                _ if untouched => {}
                (Some(first), Some(last)) => {
                    actions.push((
                        pes.packets[0] as usize,
                        Action::Replace {
                            pid,
                            stream_id: pes.stream_id,
                            pts: pts_add(pts, first.start_ticks as i64),
                            es: pes.es[first.offset..last.offset + last.len].to_vec(),
                        },
                    ));
                    drop_all(&mut actions, &pes.packets[1..]);
                }
                _ => drop_all(&mut actions, &pes.packets),
            }
        }
        actions
    }

    /// Applies the packet actions and renumbers continuity counters, in output order.
    fn apply(&mut self, buf: &mut [u8], mut actions: Vec<(usize, Action)>) -> Vec<Piece> {
        actions.sort_by_key(|(i, _)| *i);
        let mut actions = actions.into_iter().peekable();
        let mut pieces = Vec::new();
        let mut kept_from = 0;
        let whole = buf.len() / PACKET_LEN * PACKET_LEN;
        for (i, packet) in buf[..whole].chunks_exact_mut(PACKET_LEN).enumerate() {
            let Some((_, action)) = actions.next_if(|(at, _)| *at == i) else {
                self.cc.keep(packet);
                continue;
            };
            let at = i * PACKET_LEN;
            if at > kept_from {
                pieces.push(Piece::Keep(kept_from..at));
            }
            kept_from = at + PACKET_LEN;
            match action {
                Action::Drop => self
                    .cc
                    .dropped(u16::from(packet[1] & 0x1F) << 8 | u16::from(packet[2])),
                Action::Replace {
                    pid,
                    stream_id,
                    pts,
                    es,
                } => pieces.push(Piece::Insert(rewrite::packetize(
                    pid,
                    stream_id,
                    pts,
                    &es,
                    &mut self.cc,
                ))),
            }
        }
        if whole > kept_from {
            pieces.push(Piece::Keep(kept_from..whole));
        }
        pieces
    }
}

/// Times shifted by `offset` ticks.
fn shift(t: StreamTimes, offset: i64) -> StreamTimes {
    StreamTimes {
        first_pts: pts_add(t.first_pts, offset),
        first_dts: pts_add(t.first_dts, offset),
        max_pts: pts_add(t.max_pts, offset),
        last_dts: pts_add(t.last_dts, offset),
        frame: t.frame,
    }
}

/// The offset that makes a new run (raw times `new`) start where the sent video ended: its first
/// frame right after the last one, and its first decode time after the last one sent.
fn junction_offset(sent: SentEnd, new: StreamTimes) -> i64 {
    let by_pts = pts_diff(sent.video_end, new.first_pts);
    let by_dts = pts_diff(sent.next_dts, new.first_dts);
    // Both are modulo 2^33; compare them the short way round.
    let extra = pts_diff(
        by_dts.rem_euclid(PTS_MODULO as i64) as u64,
        by_pts.rem_euclid(PTS_MODULO as i64) as u64,
    );
    by_pts + extra.max(0)
}

#[cfg(test)]
mod tests {
    use super::super::synth::{timestamps, Stream, AUDIO, VIDEO};
    use super::*;
    use crate::ts::PacketHeader;

    const ALONE: Role = Role {
        first_of_run: true,
        last_of_run: true,
        junction: false,
    };

    /// The bytes the pieces of one edited segment say to send.
    fn output(editor: &mut Editor, mut buf: Vec<u8>, role: Role) -> Vec<u8> {
        let pieces = editor.segment(&mut buf, role);
        let mut out = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Keep(range) => out.extend_from_slice(&buf[range]),
                Piece::Insert(bytes) => out.extend_from_slice(&bytes),
            }
        }
        out
    }

    /// Ten frames of video from `pts` (the first with a header split across packets), audio
    /// from `audio_pts` covering it.
    fn segment(pts: u64, audio_pts: u64) -> Vec<u8> {
        let mut s = Stream::default();
        s.program();
        s.video(pts, Some(pts.wrapping_sub(3000)), 180);
        for k in 1..10 {
            s.video(pts + k * 3000, Some(pts + (k - 1) * 3000), 8);
        }
        s.audio(audio_pts, 8, 0).audio(audio_pts + 8 * 1920, 8, 0);
        s.audio(audio_pts + 16 * 1920, 8, 0);
        s.bytes
    }

    fn of(pid: u16, ts: &[(u16, Option<u64>, Option<u64>)]) -> Vec<(u64, Option<u64>)> {
        ts.iter()
            .filter(|t| t.0 == pid)
            .map(|t| (t.1.unwrap(), t.2))
            .collect()
    }

    #[test]
    fn a_restart_continues_the_timeline_across_the_33_bit_wrap() {
        let mut editor = Editor::default();
        let near_wrap = PTS_MODULO - 12_000;
        let first = output(&mut editor, segment(near_wrap, near_wrap), ALONE);
        let junction = Role {
            junction: true,
            ..ALONE
        };
        // The second source restarts its clock at 126000 (1.4 s, as ffmpeg's).
        let second = output(&mut editor, segment(126_000, 126_000), junction);
        assert_eq!(editor.junctions, 1);
        let video = of(VIDEO, &timestamps(&second));
        let expected = pts_add(near_wrap, 30_000);
        assert_eq!(video[0], (expected, Some(pts_add(expected, -3000))));
        assert_eq!(video[9].0, pts_add(expected, 27_000));
        assert_eq!(
            of(VIDEO, &timestamps(&first))[0].0,
            near_wrap,
            "the first run is untouched"
        );
        // The PCR moved with the video: 9000 ticks before the first frame. The first video
        // packet follows the PAT and the PMT.
        let pcr_packet = &second[2 * 188..3 * 188];
        let base = u64::from(pcr_packet[6]) << 25
            | u64::from(pcr_packet[7]) << 17
            | u64::from(pcr_packet[8]) << 9
            | u64::from(pcr_packet[9]) << 1
            | u64::from(pcr_packet[10] >> 7);
        assert_eq!(base, pts_add(expected, -9000));
    }

    #[test]
    fn audio_is_trimmed_to_the_video_at_frame_granularity() {
        let mut editor = Editor::default();
        // Video 100000..130000 (ten frames); 24 audio frames of 1920 ticks in three PES from
        // 93280. Kept: frames whose middle lies in the video, j = 3..=18.
        let out = output(&mut editor, segment(100_000, 93_280), ALONE);
        let starts: Vec<u64> = of(AUDIO, &timestamps(&out)).iter().map(|a| a.0).collect();
        let frame = |j: u64| 93_280 + j * 1920;
        assert_eq!(
            starts,
            [frame(3), frame(8), frame(16)],
            "rebuilt, whole, rebuilt"
        );
        let es_bytes: usize = out
            .chunks(188)
            .filter(|p| u16::from(p[1] & 0x1F) << 8 | u16::from(p[2]) == AUDIO)
            .map(|p| {
                let h = PacketHeader::parse(p.try_into().unwrap()).unwrap();
                h.payload(p.try_into().unwrap()).len()
            })
            .sum();
        // 16 frames of 40 bytes plus three 14-byte PES headers.
        assert_eq!(es_bytes, 16 * 40 + 3 * 14);
    }

    #[test]
    fn a_dying_sources_half_frame_is_dropped_at_the_end_of_its_run() {
        let mut s = Stream::default();
        s.program();
        for k in 0..10 {
            s.video(90_000 + k * 3000, None, 8);
        }
        s.audio(90_000, 8, 30);
        let mut editor = Editor::default();
        let last_of_run = output(&mut editor, s.bytes.clone(), ALONE);
        let middle = Role {
            first_of_run: false,
            last_of_run: false,
            junction: false,
        };
        let kept = output(&mut Editor::default(), s.bytes.clone(), middle);
        assert_eq!(
            kept, s.bytes,
            "mid-run, the PES continues in the next segment: untouched"
        );
        let audio_bytes = |ts: &[u8]| {
            ts.chunks(188)
                .filter(|p| u16::from(p[1] & 0x1F) << 8 | u16::from(p[2]) == AUDIO)
                .count()
        };
        assert!(audio_bytes(&last_of_run) >= 1);
        assert_ne!(last_of_run, s.bytes, "the truncated frame is cut off");
        assert_eq!(of(AUDIO, &timestamps(&last_of_run))[0].0, 90_000);
    }
}
