//! One pass over a segment's packets, collecting what editing it needs: the program's PIDs, where
//! every PES header and PCR sits (to shift timestamps in place), and the audio PES with their AAC
//! frames (to trim audio to the video). Nothing is copied except the audio, which is small.

use super::adts::{self, AdtsFrame};
use crate::pes::{parse_pes_header, pts_diff, TICKS_PER_SECOND};
use crate::psi::{Program, PsiTracker};
use crate::ts::{Packet, PacketHeader, PACKET_LEN};

/// PES header bytes that hold the timestamps: 9 fixed, 5 PTS, 5 DTS.
pub(crate) const PES_TIMESTAMP_BYTES: usize = 19;
/// Packets looked at past a PES start for the rest of a header split across packets.
const SPLIT_LOOKAHEAD: usize = 64;
/// An audio PES larger than this is left alone (never trimmed); real ones are a few KiB.
const MAX_AUDIO_PES: usize = 64 << 10;

/// Where a PES header's first bytes are in the segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HeaderAt {
    /// All in one packet, from this offset.
    Contiguous(usize),
    /// Split across packets: the offset of each byte (as many as were found, at most 19).
    Split(Vec<usize>),
}

impl HeaderAt {
    /// Offset of header byte `k`, if the header reaches that far.
    pub(crate) fn byte(&self, k: usize) -> Option<usize> {
        match self {
            HeaderAt::Contiguous(at) => Some(at + k),
            HeaderAt::Split(offsets) => offsets.get(k).copied(),
        }
    }
}

/// A PES start that carries a timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PesRef {
    pub pid: u16,
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    pub at: HeaderAt,
}

/// A PES of the audio PID, or the audio packets before the first PES start (`pts` None,
/// `orphan`): the rest of a PES that began in the previous segment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AudioPes {
    /// Indexes of its packets within the segment.
    pub packets: Vec<u32>,
    pub orphan: bool,
    pub stream_id: u8,
    pub pts: Option<u64>,
    /// Elementary stream bytes (after the PES header).
    pub es: Vec<u8>,
    /// Whole ADTS frames; `None` when the audio is not ADTS or too large to handle.
    pub frames: Option<Vec<AdtsFrame>>,
    /// Bytes are missing at the end (the PES continues in the next segment, or the source died).
    pub truncated: bool,
    /// PES bytes gathered so far (header included).
    raw: Vec<u8>,
    /// Larger than `MAX_AUDIO_PES`: passed through untouched.
    oversized: bool,
}

/// The timing of one stream within a segment, in 90 kHz ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StreamTimes {
    /// Earliest presentation time.
    pub first_pts: u64,
    /// Decode time of the first unit in stream order.
    pub first_dts: u64,
    /// Latest presentation time.
    pub max_pts: u64,
    /// Decode time of the last unit in stream order.
    pub last_dts: u64,
    /// Shortest step between consecutive decode times (one frame), if seen.
    pub frame: Option<u64>,
}

/// What a pass over one segment found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub program: Option<Program>,
    pub pes: Vec<PesRef>,
    /// Offsets of the 6-byte PCR and OPCR fields.
    pub pcr: Vec<usize>,
    pub audio: Vec<AudioPes>,
}

/// The program announced by the PAT/PMT in `buf`, or `known` when it has none.
pub(crate) fn program(buf: &[u8], known: Option<Program>) -> Option<Program> {
    let mut psi = PsiTracker::default();
    let mut program = known;
    for chunk in buf.chunks_exact(PACKET_LEN) {
        let Some((packet, header)) = parse(chunk) else {
            continue;
        };
        if psi.wants(header.pid) && psi.push(packet, &header) {
            program = psi.program();
        }
    }
    program
}

fn parse(chunk: &[u8]) -> Option<(&Packet, PacketHeader)> {
    let packet: &Packet = chunk.try_into().ok()?;
    Some((packet, PacketHeader::parse(packet)?))
}

impl Scan {
    /// Scans `buf` (whole packets); `known` is the program of the segments before.
    pub(crate) fn new(buf: &[u8], known: Option<Program>) -> Scan {
        let mut scan = Scan {
            program: known,
            ..Scan::default()
        };
        let mut psi = PsiTracker::default();
        for (index, chunk) in buf.chunks_exact(PACKET_LEN).enumerate() {
            let Some((packet, header)) = parse(chunk) else {
                continue;
            };
            if psi.wants(header.pid) {
                if psi.push(packet, &header) {
                    scan.program = psi.program();
                }
                continue;
            }
            let base = index * PACKET_LEN;
            pcr_fields(packet, base, &mut scan.pcr);
            if !header.has_payload {
                continue;
            }
            if header.pusi {
                scan.pes_start(buf, index, &header);
            }
            if Some(header.pid) == scan.program.and_then(|p| p.audio_pid) {
                scan.audio_packet(index, &header, header.payload(packet));
            }
        }
        for pes in &mut scan.audio {
            pes.finish();
        }
        scan
    }

    fn pes_start(&mut self, buf: &[u8], index: usize, header: &PacketHeader) {
        let at = index * PACKET_LEN + header.payload_offset;
        if buf.get(at..at + 3) != Some(&[0, 0, 1]) {
            return;
        }
        let at = header_at(buf, index, header.pid, at);
        let bytes: Vec<u8> = (0..PES_TIMESTAMP_BYTES)
            .map_while(|k| at.byte(k).map(|o| buf[o]))
            .collect();
        let Some(pes) = parse_pes_header(&bytes) else {
            return;
        };
        if pes.pts.is_some() {
            self.pes.push(PesRef {
                pid: header.pid,
                pts: pes.pts,
                dts: pes.dts,
                at,
            });
        }
    }

    fn audio_packet(&mut self, index: usize, header: &PacketHeader, payload: &[u8]) {
        if header.pusi {
            self.audio.push(AudioPes::default());
        } else if self.audio.is_empty() {
            self.audio.push(AudioPes {
                orphan: true,
                ..AudioPes::default()
            });
        }
        let Some(pes) = self.audio.last_mut() else {
            return;
        };
        pes.packets.push(index as u32);
        if pes.orphan || pes.oversized {
            return;
        }
        if pes.raw.len() + payload.len() <= MAX_AUDIO_PES {
            pes.raw.extend_from_slice(payload);
        } else {
            pes.raw = Vec::new();
            pes.oversized = true;
        }
    }

    /// Timing of the stream on `pid`, from its PES headers.
    pub(crate) fn times(&self, pid: u16) -> Option<StreamTimes> {
        let mut units = self.pes.iter().filter(|p| p.pid == pid);
        let first = units.next()?;
        let first_pts = first.pts?;
        let mut t = StreamTimes {
            first_pts,
            first_dts: first.dts.unwrap_or(first_pts),
            max_pts: first_pts,
            last_dts: first.dts.unwrap_or(first_pts),
            frame: None,
        };
        for unit in units {
            let Some(pts) = unit.pts else { continue };
            let dts = unit.dts.unwrap_or(pts);
            let step = pts_diff(dts, t.last_dts);
            if step > 0 && step < TICKS_PER_SECOND as i64 {
                t.frame = Some(t.frame.map_or(step as u64, |f| f.min(step as u64)));
            }
            if pts_diff(pts, t.first_pts) < 0 {
                t.first_pts = pts;
            }
            if pts_diff(pts, t.max_pts) > 0 {
                t.max_pts = pts;
            }
            t.last_dts = dts;
        }
        Some(t)
    }
}

impl AudioPes {
    fn finish(&mut self) {
        let raw = std::mem::take(&mut self.raw);
        if self.orphan || self.oversized {
            return;
        }
        let Some(header) = parse_pes_header(&raw) else {
            return;
        };
        let announced = usize::from(u16::from_be_bytes([raw[4], raw[5]]));
        self.stream_id = header.stream_id;
        self.pts = header.pts;
        self.es = raw.get(header.header_len..).unwrap_or(&[]).to_vec();
        let short = announced != 0 && raw.len() < 6 + announced;
        match adts::frames(&self.es) {
            Some((frames, whole)) => {
                self.truncated = short || !whole;
                self.frames = Some(frames);
            }
            None => self.truncated = short,
        }
    }

    /// Frames and PTS, when this PES can be trimmed at frame granularity.
    pub(crate) fn timed_frames(&self) -> Option<(u64, &[AdtsFrame])> {
        Some((self.pts?, self.frames.as_deref()?))
    }
}

/// Where the header of the PES starting at `at` (in packet `index`) is, following the PID into
/// later packets when the first one holds only part of it.
fn header_at(buf: &[u8], index: usize, pid: u16, at: usize) -> HeaderAt {
    let packet_end = (index + 1) * PACKET_LEN;
    let need = |offsets: &[usize]| match offsets.get(8) {
        Some(&o) => PES_TIMESTAMP_BYTES.min(9 + usize::from(buf[o])),
        None => 9,
    };
    let mut offsets: Vec<usize> = (at..packet_end).take(PES_TIMESTAMP_BYTES).collect();
    if offsets.len() >= need(&offsets) {
        return HeaderAt::Contiguous(at);
    }
    let packets = buf.len() / PACKET_LEN;
    for next in (index + 1..packets).take(SPLIT_LOOKAHEAD) {
        let chunk = &buf[next * PACKET_LEN..(next + 1) * PACKET_LEN];
        let Some((_, h)) = parse(chunk) else { continue };
        if h.pid != pid || !h.has_payload {
            continue;
        }
        if h.pusi {
            break;
        }
        let start = next * PACKET_LEN + h.payload_offset;
        offsets.extend((start..(next + 1) * PACKET_LEN).take(PES_TIMESTAMP_BYTES - offsets.len()));
        if offsets.len() >= need(&offsets) {
            break;
        }
    }
    HeaderAt::Split(offsets)
}

/// Records the offsets of the PCR and OPCR fields of a packet's adaptation field.
fn pcr_fields(packet: &Packet, base: usize, out: &mut Vec<usize>) {
    let has_af = (packet[3] >> 4) & 0b10 != 0;
    let af_end = 5 + usize::from(packet[4]);
    if !has_af || packet[4] == 0 || af_end > PACKET_LEN {
        return;
    }
    let flags = packet[5];
    let mut at = 6;
    for flag in [0x10, 0x08] {
        if flags & flag != 0 {
            if at + 6 > af_end {
                return;
            }
            out.push(base + at);
            at += 6;
        }
    }
}
