//! Program-specific information: the PAT (which PID carries the program's PMT) and the PMT (which
//! PIDs carry H.264 video and AAC audio). Sections are reassembled across packets and checked with
//! their CRC, because a corrupt PMT would otherwise send the segmenter looking at the wrong PID.
//! The raw packets of the latest good PAT and PMT are kept so every segment can start with them.

use crate::crc::crc32_mpeg2;
use crate::ts::{Packet, PacketHeader, PAT_PID};

/// H.264 video (ISO 13818-1 table 2-34).
pub const STREAM_TYPE_H264: u8 = 0x1B;
/// AAC in ADTS.
pub const STREAM_TYPE_AAC_ADTS: u8 = 0x0F;
/// AAC in LATM.
pub const STREAM_TYPE_AAC_LATM: u8 = 0x11;

/// Longest PAT/PMT section (3-byte header plus the 1021-byte maximum section_length).
const MAX_SECTION: usize = 1024;
/// Packets kept per table for re-emission; a maximal section needs 6.
const MAX_TABLE_PACKETS: usize = 6;

/// What the PMT says about the streams the recorder cares about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Program {
    pub pmt_pid: u16,
    pub version: u8,
    pub video_pid: Option<u16>,
    pub audio_pid: Option<u16>,
}

/// Reassembles one table's sections on one PID and remembers the packets of the last good one.
#[derive(Default)]
struct SectionAssembler {
    section: Vec<u8>,
    packets: Vec<Packet>,
    collecting: bool,
}

impl SectionAssembler {
    /// Feeds a packet; returns each complete section whose CRC checks, with the packets carrying it.
    fn push(
        &mut self,
        packet: &Packet,
        header: &PacketHeader,
        out: &mut Vec<(Vec<u8>, Vec<Packet>)>,
    ) {
        let payload = header.payload(packet);
        if payload.is_empty() {
            return;
        }
        let mut data = payload;
        if header.pusi {
            let pointer = usize::from(data[0]);
            data = data.get(1 + pointer..).unwrap_or(&[]);
            self.section.clear();
            self.packets.clear();
            self.collecting = true;
        } else if !self.collecting {
            return;
        }
        if self.packets.len() == MAX_TABLE_PACKETS {
            self.collecting = false;
            return;
        }
        self.packets.push(*packet);
        while self.collecting && !data.is_empty() {
            if self.section.is_empty() && data[0] == 0xFF {
                self.collecting = false;
                break;
            }
            let need = self.needed().saturating_sub(self.section.len());
            let take = need.min(data.len());
            self.section.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.section.len() >= 3 && self.section.len() == self.needed() {
                if crc32_mpeg2(&self.section) == 0 {
                    out.push((std::mem::take(&mut self.section), self.packets.clone()));
                } else {
                    self.section.clear();
                }
                // Further sections in the same packet start here; their packets begin with this one.
                self.packets.truncate(0);
                self.packets.push(*packet);
            }
            if self.section.len() > MAX_SECTION {
                self.collecting = false;
            }
        }
    }

    /// Section bytes needed: the header first, then its declared length.
    fn needed(&self) -> usize {
        if self.section.len() < 3 {
            3
        } else {
            3 + (usize::from(self.section[1] & 0x0F) << 8 | usize::from(self.section[2]))
        }
    }
}

/// Tracks the PAT and the first program's PMT.
#[derive(Default)]
pub struct PsiTracker {
    pat: SectionAssembler,
    pmt: SectionAssembler,
    pmt_pid: Option<u16>,
    /// The program_number the PAT gave for `pmt_pid`; PMT sections of other programs are ignored.
    program_number: u16,
    program: Option<Program>,
    pat_packets: Vec<Packet>,
    pmt_packets: Vec<Packet>,
    changes: u64,
}

impl PsiTracker {
    /// The PID whose packets this tracker wants.
    pub fn wants(&self, pid: u16) -> bool {
        pid == PAT_PID || Some(pid) == self.pmt_pid
    }

    /// Feeds a PAT or PMT packet. Returns true when the program (PIDs or version) changed.
    pub fn push(&mut self, packet: &Packet, header: &PacketHeader) -> bool {
        let mut sections = Vec::new();
        if header.pid == PAT_PID {
            self.pat.push(packet, header, &mut sections);
            for (section, packets) in sections {
                if let Some((number, pmt_pid)) = parse_pat(&section) {
                    self.pat_packets = packets;
                    self.program_number = number;
                    if self.pmt_pid != Some(pmt_pid) {
                        self.pmt_pid = Some(pmt_pid);
                        self.pmt = SectionAssembler::default();
                    }
                }
            }
            return false;
        }
        if Some(header.pid) != self.pmt_pid {
            return false;
        }
        self.pmt.push(packet, header, &mut sections);
        let mut changed = false;
        for (section, packets) in sections {
            let number = section.get(3..5).map(|b| u16::from_be_bytes([b[0], b[1]]));
            if number != Some(self.program_number) {
                continue;
            }
            if let Some(program) = parse_pmt(&section, header.pid) {
                self.pmt_packets = packets;
                if self.program != Some(program) {
                    if self.program.is_some() {
                        self.changes += 1;
                    }
                    self.program = Some(program);
                    changed = true;
                }
            }
        }
        changed
    }

    /// The current program, once a PAT and its PMT have been seen.
    pub fn program(&self) -> Option<Program> {
        self.program.filter(|p| Some(p.pmt_pid) == self.pmt_pid)
    }

    /// The packets of the latest good PAT then PMT, to start a segment with; empty until both known.
    pub fn table_packets(&self) -> Vec<u8> {
        if self.program().is_none() {
            return Vec::new();
        }
        self.pat_packets
            .iter()
            .chain(&self.pmt_packets)
            .flat_map(|p| p.iter().copied())
            .collect()
    }

    /// PMT changes after the first PMT (new PIDs or version).
    pub fn changes(&self) -> u64 {
        self.changes
    }
}

/// The long-form section header; returns the bytes between it and the CRC.
fn section_body(section: &[u8], table_id: u8) -> Option<&[u8]> {
    let syntax = section.get(1)? & 0x80 != 0;
    let current = section.get(5)? & 0x01 != 0;
    if section[0] != table_id || !syntax || !current || section.len() < 12 {
        return None;
    }
    Some(&section[8..section.len() - 4])
}

/// The program_number and PMT PID of the first program in a PAT section.
pub fn parse_pat(section: &[u8]) -> Option<(u16, u16)> {
    let body = section_body(section, 0x00)?;
    body.chunks_exact(4)
        .find(|entry| entry[0] != 0 || entry[1] != 0)
        .map(|e| {
            let number = u16::from_be_bytes([e[0], e[1]]);
            (number, u16::from(e[2] & 0x1F) << 8 | u16::from(e[3]))
        })
}

/// The first H.264 video and AAC audio PIDs of a PMT section.
pub fn parse_pmt(section: &[u8], pmt_pid: u16) -> Option<Program> {
    let body = section_body(section, 0x02)?;
    let program_info_len = usize::from(*body.get(2)? & 0x0F) << 8 | usize::from(*body.get(3)?);
    let mut streams = body.get(4 + program_info_len..)?;
    let mut program = Program {
        pmt_pid,
        version: (section[5] >> 1) & 0x1F,
        video_pid: None,
        audio_pid: None,
    };
    while streams.len() >= 5 {
        let stream_type = streams[0];
        let pid = u16::from(streams[1] & 0x1F) << 8 | u16::from(streams[2]);
        let info_len = usize::from(streams[3] & 0x0F) << 8 | usize::from(streams[4]);
        match stream_type {
            STREAM_TYPE_H264 if program.video_pid.is_none() => program.video_pid = Some(pid),
            STREAM_TYPE_AAC_ADTS | STREAM_TYPE_AAC_LATM if program.audio_pid.is_none() => {
                program.audio_pid = Some(pid)
            }
            _ => {}
        }
        streams = streams.get(5 + info_len..).unwrap_or(&[]);
    }
    Some(program)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ts::PACKET_LEN;

    fn section(table_id: u8, id: u16, version: u8, body: &[u8]) -> Vec<u8> {
        let len = 5 + body.len() + 4;
        let mut s = vec![table_id, 0xB0 | (len >> 8) as u8, len as u8];
        s.extend_from_slice(&id.to_be_bytes());
        s.extend_from_slice(&[0xC1 | (version << 1), 0, 0]);
        s.extend_from_slice(body);
        let crc = crc32_mpeg2(&s);
        s.extend_from_slice(&crc.to_be_bytes());
        s
    }

    /// Splits a section into packets on `pid`, starting with a pointer field of `pointer` bytes.
    fn packets(pid: u16, section: &[u8], pointer: u8) -> Vec<Packet> {
        let mut payload = vec![pointer];
        payload.resize(1 + usize::from(pointer), 0xAA);
        payload.extend_from_slice(section);
        payload
            .chunks(184)
            .enumerate()
            .map(|(i, chunk)| {
                let mut p = [0xFFu8; PACKET_LEN];
                p[..4].copy_from_slice(&[
                    0x47,
                    (u8::from(i == 0) << 6) | (pid >> 8) as u8,
                    pid as u8,
                    0x10 | i as u8,
                ]);
                p[4..4 + chunk.len()].copy_from_slice(chunk);
                p
            })
            .collect()
    }

    fn pmt_body(streams: &[(u8, u16)], padding: usize) -> Vec<u8> {
        let mut body = vec![0xE1, 0x00, 0xF0, 0x00];
        for &(stream_type, pid) in streams {
            body.push(stream_type);
            body.extend_from_slice(&(0xE000 | pid).to_be_bytes());
            body.extend_from_slice(&[0xF0 | (padding >> 8) as u8, padding as u8]);
            body.resize(body.len() + padding, 0x05);
        }
        body
    }

    fn feed(tracker: &mut PsiTracker, packets: &[Packet]) -> bool {
        let mut changed = false;
        for p in packets {
            let h = PacketHeader::parse(p).unwrap();
            if tracker.wants(h.pid) {
                changed |= tracker.push(p, &h);
            }
        }
        changed
    }

    #[test]
    fn pat_then_pmt_spanning_packets() {
        let mut t = PsiTracker::default();
        let pat = section(0, 1, 0, &[0, 0, 0xE0, 0x10, 0, 1, 0xF2, 0x00]);
        assert!(!feed(&mut t, &packets(0, &pat, 3)));
        assert!(t.program().is_none());
        let body = pmt_body(
            &[(0x06, 0x33), (0x0F, 0x301), (0x1B, 0x300), (0x1B, 0x302)],
            100,
        );
        let pmt_packets = packets(0x1200, &section(2, 1, 3, &body), 0);
        assert_eq!(pmt_packets.len(), 3);
        assert!(feed(&mut t, &pmt_packets));
        let p = t.program().unwrap();
        assert_eq!(
            (p.pmt_pid, p.version, p.video_pid, p.audio_pid),
            (0x1200, 3, Some(0x300), Some(0x301))
        );
        assert_eq!(t.table_packets().len(), 4 * PACKET_LEN);
        assert!(!feed(&mut t, &pmt_packets), "same PMT again is no change");
        let other = section(2, 2, 5, &pmt_body(&[(0x1B, 0x500)], 0));
        assert!(
            !feed(&mut t, &packets(0x1200, &other, 0)),
            "another program's PMT"
        );
        assert_eq!(t.changes(), 0);
        let body = pmt_body(&[(0x11, 0x400)], 0);
        assert!(feed(&mut t, &packets(0x1200, &section(2, 1, 4, &body), 0)));
        assert_eq!(t.program().unwrap().video_pid, None);
        assert_eq!(t.program().unwrap().audio_pid, Some(0x400));
        assert_eq!(t.changes(), 1);
    }

    #[test]
    fn bad_crc_is_ignored() {
        let mut t = PsiTracker::default();
        let mut pat = section(0, 1, 0, &[0, 1, 0xE1, 0x00]);
        let n = pat.len();
        pat[n - 1] ^= 1;
        feed(&mut t, &packets(0, &pat, 0));
        assert!(!t.wants(0x100));
    }

    #[test]
    fn garbage_sections_do_not_panic() {
        let mut t = PsiTracker::default();
        for seed in 0..200u32 {
            let mut p = [0u8; PACKET_LEN];
            let mut x = seed.wrapping_mul(2_654_435_761) | 1;
            for b in p.iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = x as u8;
            }
            p[0] = 0x47;
            p[1] &= 0xE0;
            p[2] = 0;
            feed(&mut t, &[p]);
        }
        assert!(parse_pmt(&[2, 0, 0], 1).is_none());
        assert!(parse_pat(&[]).is_none());
    }
}
