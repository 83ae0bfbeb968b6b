//! Synthetic MPEG-TS for the export's unit tests: a program (PAT, PMT with H.264 video on 0x100
//! and AAC audio on 0x101), PES packets with chosen timestamps, PCRs and adaptation fields (to
//! split a PES header across packets), so the edits can be checked byte by byte without ffmpeg.

use super::adts::tests::frame;
use crate::crc32_mpeg2;
use crate::pes::parse_pes_header;
use crate::ts::{PacketHeader, PACKET_LEN, SYNC};

pub(crate) const VIDEO: u16 = 0x100;
pub(crate) const AUDIO: u16 = 0x101;
const PMT: u16 = 0x1000;

/// Builds a stream packet by packet, keeping each PID's continuity counter.
#[derive(Default)]
pub(crate) struct Stream {
    pub bytes: Vec<u8>,
    cc: std::collections::HashMap<u16, u8>,
}

impl Stream {
    /// PAT and PMT.
    pub(crate) fn program(&mut self) -> &mut Self {
        let pat = section(0x00, 1, &[0, 1, 0xE0 | (PMT >> 8) as u8, PMT as u8]);
        let mut pmt_body = vec![0xE1, 0x00, 0xF0, 0x00];
        pmt_body.extend_from_slice(&[0x1B, 0xE1, 0x00, 0xF0, 0x00, 0x0F, 0xE1, 0x01, 0xF0, 0x00]);
        let pmt = section(0x02, 1, &pmt_body);
        for (pid, s) in [(0, pat), (PMT, pmt)] {
            let mut payload = vec![0];
            payload.extend_from_slice(&s);
            self.packets(pid, &payload, None);
        }
        self
    }

    /// One video PES: 10 bytes of "picture", with a PCR of `pts - 9000` in its first packet.
    pub(crate) fn video(&mut self, pts: u64, dts: Option<u64>, first_af: usize) -> &mut Self {
        let pes = pes(0xE0, pts, dts, &[0, 0, 0, 1, 0x65, 1, 2, 3, 4, 5]);
        self.packets(VIDEO, &pes, Some((first_af, pts.wrapping_sub(9000))))
    }

    /// One audio PES of `frames` ADTS frames (1920 ticks each) starting at `pts`; the last
    /// `cut` bytes left out (a source that died mid-frame).
    pub(crate) fn audio(&mut self, pts: u64, frames: usize, cut: usize) -> &mut Self {
        let es: Vec<u8> = (0..frames).flat_map(|i| frame(40, i as u8)).collect();
        let pes = pes(0xC0, pts, None, &es);
        self.packets(AUDIO, &pes[..pes.len() - cut], None)
    }

    /// `payload` as packets on `pid`; the first one with an adaptation field of `af` bytes
    /// (PCR when given room), the last one stuffed.
    fn packets(&mut self, pid: u16, payload: &[u8], first: Option<(usize, u64)>) -> &mut Self {
        let mut rest = payload;
        let mut first_packet = true;
        while first_packet || !rest.is_empty() {
            let af = match first {
                Some((af, pcr)) if first_packet => adaptation(af, Some(pcr)),
                _ => Vec::new(),
            };
            let room = PACKET_LEN - 4 - af.len();
            let take = rest.len().min(room);
            let mut af = af;
            if take < room {
                af = pad(af, room - take);
            }
            let cc = self.cc.entry(pid).or_insert(0);
            let pusi = if first_packet { 0x40 } else { 0 };
            let afc = if af.is_empty() { 0x10 } else { 0x30 };
            self.bytes
                .extend_from_slice(&[SYNC, pusi | (pid >> 8) as u8, pid as u8, afc | *cc]);
            *cc = (*cc + 1) & 0x0F;
            self.bytes.extend_from_slice(&af);
            self.bytes.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            first_packet = false;
        }
        self
    }
}

/// An adaptation field of `len` bytes in all (length byte included), with a PCR if it fits.
fn adaptation(len: usize, pcr: Option<u64>) -> Vec<u8> {
    if len == 0 {
        return Vec::new();
    }
    let mut af = vec![(len - 1) as u8];
    if len >= 2 {
        af.push(0);
    }
    if let (Some(base), true) = (pcr, len >= 8) {
        af[1] = 0x10;
        af.extend_from_slice(&[
            (base >> 25) as u8,
            (base >> 17) as u8,
            (base >> 9) as u8,
            (base >> 1) as u8,
            ((base as u8 & 1) << 7) | 0x7E,
            0,
        ]);
    }
    af.resize(len, 0xFF);
    af
}

/// Grows (or creates) an adaptation field by `extra` stuffing bytes.
fn pad(af: Vec<u8>, extra: usize) -> Vec<u8> {
    if af.is_empty() {
        return adaptation(extra, None);
    }
    let mut af = af;
    af.resize(af.len() + extra, 0xFF);
    af[0] = (af.len() - 1) as u8;
    af
}

fn section(table_id: u8, id: u16, body: &[u8]) -> Vec<u8> {
    let len = 5 + body.len() + 4;
    let mut s = vec![table_id, 0xB0 | (len >> 8) as u8, len as u8];
    s.extend_from_slice(&id.to_be_bytes());
    s.extend_from_slice(&[0xC1, 0, 0]);
    s.extend_from_slice(body);
    let crc = crc32_mpeg2(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

fn pes(stream_id: u8, pts: u64, dts: Option<u64>, es: &[u8]) -> Vec<u8> {
    use super::rewrite::encode_timestamp;
    let header_len = if dts.is_some() { 10 } else { 5 };
    let len = (3 + header_len + es.len()) as u16;
    let mut p = vec![0, 0, 1, stream_id, (len >> 8) as u8, len as u8, 0x80];
    p.push(if dts.is_some() { 0xC0 } else { 0x80 });
    p.push(header_len as u8);
    p.extend_from_slice(&encode_timestamp(
        if dts.is_some() { 0x30 } else { 0x20 },
        pts,
    ));
    if let Some(dts) = dts {
        p.extend_from_slice(&encode_timestamp(0x10, dts));
    }
    p.extend_from_slice(es);
    p
}

/// (pid, pts, dts) of every PES start in `ts`, read back through the crate's own parsers (a
/// header split across packets is joined first).
pub(crate) fn timestamps(ts: &[u8]) -> Vec<(u16, Option<u64>, Option<u64>)> {
    let packets: Vec<(PacketHeader, &[u8])> = ts
        .chunks_exact(PACKET_LEN)
        .filter_map(|p| {
            let packet: &[u8; PACKET_LEN] = p.try_into().ok()?;
            let h = PacketHeader::parse(packet)?;
            Some((h, &p[h.payload_offset.min(PACKET_LEN)..]))
        })
        .collect();
    let mut out = Vec::new();
    for (i, (h, payload)) in packets.iter().enumerate() {
        if !h.pusi || payload.get(..3) != Some(&[0, 0, 1]) {
            continue;
        }
        let mut bytes = payload.to_vec();
        for (next, more) in &packets[i + 1..] {
            if bytes.len() >= 19 {
                break;
            }
            if next.pid == h.pid {
                bytes.extend_from_slice(more);
            }
        }
        if let Some(p) = parse_pes_header(&bytes) {
            out.push((h.pid, p.pts, p.dts));
        }
    }
    out
}
