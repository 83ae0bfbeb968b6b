//! The byte-level edits an export makes to MPEG-TS before ffmpeg sees it: shifting PES timestamps
//! and PCRs (so a source restart continues the timeline instead of jumping back to 0), keeping
//! continuity counters continuous across the packets it drops or replaces (so ffmpeg does not flag
//! the neighbouring audio as corrupt), and packing trimmed audio frames into new packets.

use super::scan::{HeaderAt, Scan};
use crate::pes::{pts_add, PTS_MODULO};
use crate::ts::{NULL_PID, PACKET_LEN, SYNC};

const PID_COUNT: usize = 8192;
/// TS packet payload without an adaptation field.
const MAX_PAYLOAD: usize = PACKET_LEN - 4;

/// Adds `offset` ticks (modulo 2^33) to every PTS, DTS, PCR and OPCR the scan found.
pub(crate) fn retime(buf: &mut [u8], scan: &Scan, offset: i64) {
    for pes in &scan.pes {
        if let Some(pts) = pes.pts {
            write_timestamp(buf, &pes.at, 9, pts_add(pts, offset));
        }
        if let Some(dts) = pes.dts {
            write_timestamp(buf, &pes.at, 14, pts_add(dts, offset));
        }
    }
    for &at in &scan.pcr {
        shift_pcr(buf, at, offset);
    }
}

/// Rewrites the 5-byte timestamp at header byte `first`, keeping its 4-bit prefix. The scan only
/// reports a timestamp whose 5 bytes it found, so every offset exists.
fn write_timestamp(buf: &mut [u8], at: &HeaderAt, first: usize, value: u64) {
    let Some(lead) = at.byte(first) else { return };
    let bytes = encode_timestamp(buf[lead] & 0xF0, value);
    for (k, b) in bytes.into_iter().enumerate() {
        if let Some(o) = at.byte(first + k) {
            buf[o] = b;
        }
    }
}

/// The PES timestamp field (ISO 13818-1 2.4.3.7): prefix, 33 bits and marker bits.
pub(crate) fn encode_timestamp(prefix: u8, t: u64) -> [u8; 5] {
    [
        prefix | ((t >> 29) as u8 & 0x0E) | 1,
        (t >> 22) as u8,
        ((t >> 14) as u8 & 0xFE) | 1,
        (t >> 7) as u8,
        ((t << 1) as u8) | 1,
    ]
}

/// Shifts the 33-bit 90 kHz base of the PCR at `at`; the 27 MHz extension stays.
fn shift_pcr(buf: &mut [u8], at: usize, offset: i64) {
    let f = &mut buf[at..at + 6];
    let base = u64::from(f[0]) << 25
        | u64::from(f[1]) << 17
        | u64::from(f[2]) << 9
        | u64::from(f[3]) << 1
        | u64::from(f[4] >> 7);
    let base = pts_add(base % PTS_MODULO, offset);
    f[0] = (base >> 25) as u8;
    f[1] = (base >> 17) as u8;
    f[2] = (base >> 9) as u8;
    f[3] = (base >> 1) as u8;
    f[4] = ((base as u8 & 1) << 7) | (f[4] & 0x7F);
}

/// What was last sent on one PID.
#[derive(Clone, Copy, Default)]
struct PidState {
    last: Option<u8>,
    /// Added to the source's counter.
    delta: u8,
    /// Packets were dropped or inserted: the next one with payload sets `delta` anew.
    resync: bool,
}

/// Continuity counters of the output stream. The source's own gaps (real packet loss) are kept as
/// they are; only the gaps the export makes are closed.
pub(crate) struct Continuity {
    pids: Box<[PidState]>,
}

impl Default for Continuity {
    fn default() -> Self {
        Continuity {
            pids: vec![PidState::default(); PID_COUNT].into_boxed_slice(),
        }
    }
}

fn pid_of(packet: &[u8]) -> usize {
    usize::from(packet[1] & 0x1F) << 8 | usize::from(packet[2])
}

impl Continuity {
    /// A new source follows: every PID continues from what was last sent.
    pub(crate) fn break_all(&mut self) {
        for state in self.pids.iter_mut() {
            state.resync = true;
        }
    }

    /// A packet of `pid` is not sent.
    pub(crate) fn dropped(&mut self, pid: u16) {
        self.pids[usize::from(pid) % PID_COUNT].resync = true;
    }

    /// A source packet is sent: renumbers it if the export broke its PID's sequence.
    pub(crate) fn keep(&mut self, packet: &mut [u8]) {
        let pid = pid_of(packet);
        if pid == usize::from(NULL_PID) {
            return;
        }
        let has_payload = packet[3] & 0x10 != 0;
        let cc = packet[3] & 0x0F;
        let state = &mut self.pids[pid];
        let out = match (state.resync, state.last) {
            (true, Some(last)) if has_payload => {
                state.delta = last.wrapping_add(1).wrapping_sub(cc) & 0x0F;
                state.resync = false;
                (cc + state.delta) & 0x0F
            }
            (true, Some(last)) => last,
            (true, None) => {
                state.delta = 0;
                state.resync = false;
                cc
            }
            (false, _) => (cc + state.delta) & 0x0F,
        };
        if out != cc {
            packet[3] = (packet[3] & 0xF0) | out;
        }
        state.last = Some(out);
    }

    /// The counter for a new packet with payload on `pid`.
    fn next(&mut self, pid: u16) -> u8 {
        let state = &mut self.pids[usize::from(pid) % PID_COUNT];
        let cc = state.last.map_or(0, |c| (c + 1) & 0x0F);
        state.last = Some(cc);
        state.resync = true;
        cc
    }
}

/// One audio PES with timestamp `pts` carrying `es`, as TS packets on `pid`.
pub(crate) fn packetize(
    pid: u16,
    stream_id: u8,
    pts: u64,
    es: &[u8],
    cc: &mut Continuity,
) -> Vec<u8> {
    let pes_len = u16::try_from(8 + es.len()).unwrap_or(0);
    let mut pes = vec![0, 0, 1, stream_id];
    pes.extend_from_slice(&pes_len.to_be_bytes());
    // Data aligned (a PES starts on an ADTS header), PTS only, 5 header bytes.
    pes.extend_from_slice(&[0x84, 0x80, 5]);
    pes.extend_from_slice(&encode_timestamp(0x20, pts));
    pes.extend_from_slice(es);
    let mut out = Vec::with_capacity(pes.len().div_ceil(MAX_PAYLOAD) * PACKET_LEN);
    for (i, chunk) in pes.chunks(MAX_PAYLOAD).enumerate() {
        let pusi = if i == 0 { 0x40 } else { 0 };
        let cc = cc.next(pid);
        out.extend_from_slice(&[SYNC, pusi | (pid >> 8) as u8 & 0x1F, pid as u8]);
        if chunk.len() == MAX_PAYLOAD {
            out.push(0x10 | cc);
        } else {
            // Adaptation field stuffing fills the last packet.
            let af_len = MAX_PAYLOAD - 1 - chunk.len();
            out.push(0x30 | cc);
            out.push(af_len as u8);
            if af_len > 0 {
                out.push(0x00);
                out.resize(out.len() + af_len - 1, 0xFF);
            }
        }
        out.extend_from_slice(chunk);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pes::parse_pes_header;
    use crate::ts::PacketHeader;

    #[test]
    fn timestamps_round_trip_through_the_encoding() {
        for t in [0, 1, 90_000, PTS_MODULO - 1, 0x1_2345_6789] {
            let mut pes = vec![0, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 5];
            pes.extend_from_slice(&encode_timestamp(0x20, t));
            assert_eq!(parse_pes_header(&pes).unwrap().pts, Some(t));
        }
    }

    #[test]
    fn pcr_base_shifts_and_wraps() {
        let mut buf = [0u8; 6];
        // base = 2^33 - 1, reserved bits set, extension 0x1AB.
        buf.copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xAB]);
        shift_pcr(&mut buf, 0, 2);
        assert_eq!(
            buf,
            [0, 0, 0, 0, 0xFF, 0xAB],
            "wrapped to 1, extension kept"
        );
        shift_pcr(&mut buf, 0, -2);
        assert_eq!(buf, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xAB]);
    }

    #[test]
    fn packetized_pes_fills_whole_packets() {
        let mut cc = Continuity::default();
        for len in [0, 1, 175, 176, 177, 360, 1000] {
            let es: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let out = packetize(0x101, 0xC0, 12345, &es, &mut cc);
            assert_eq!(out.len() % PACKET_LEN, 0);
            let mut payload = Vec::new();
            for (i, p) in out.chunks(PACKET_LEN).enumerate() {
                let h = PacketHeader::parse(p.try_into().unwrap()).unwrap();
                assert_eq!((h.pid, h.pusi), (0x101, i == 0));
                payload.extend_from_slice(h.payload(p.try_into().unwrap()));
            }
            let h = parse_pes_header(&payload).unwrap();
            assert_eq!((h.pts, h.header_len), (Some(12345), 14));
            assert_eq!(&payload[14..], &es[..], "len {len}");
        }
    }

    #[test]
    fn counters_continue_across_dropped_and_new_packets() {
        let packet = |cc: u8, payload: bool| {
            let mut p = [0xFFu8; PACKET_LEN];
            p[..4].copy_from_slice(&[SYNC, 0x01, 0x01, if payload { 0x10 } else { 0x20 } | cc]);
            p
        };
        let mut c = Continuity::default();
        let mut sent = Vec::new();
        for (cc, keep) in [
            (5, true),
            (6, true),
            (7, false),
            (8, false),
            (9, true),
            (10, true),
        ] {
            let mut p = packet(cc, true);
            if keep {
                c.keep(&mut p);
                sent.push(p[3] & 0x0F);
            } else {
                c.dropped(0x101);
            }
        }
        assert_eq!(sent, [5, 6, 7, 8], "the gap is closed");
        let new = packetize(0x101, 0xC0, 0, &[0; 10], &mut c);
        assert_eq!(new[3] & 0x0F, 9);
        let mut p = packet(15, false);
        c.keep(&mut p);
        assert_eq!(p[3] & 0x0F, 9, "no payload: same counter");
        let mut p = packet(0, true);
        c.keep(&mut p);
        assert_eq!(p[3] & 0x0F, 10);
        c.break_all();
        let mut p = packet(3, true);
        c.keep(&mut p);
        assert_eq!(p[3] & 0x0F, 11, "a new source continues the sequence");
    }
}
