//! The 4-byte MPEG-TS packet header, its adaptation field flags, and continuity-counter checking.
//! Everything above this layer (PSI, PES, segmentation) works on whole 188-byte packets; this is
//! where a packet's PID, payload and the signals that matter for cutting (random access,
//! discontinuity, lost packets) are read.

/// Bytes in a transport stream packet.
pub const PACKET_LEN: usize = 188;
/// Every packet starts with this byte.
pub const SYNC: u8 = 0x47;
/// The PID of the program association table.
pub const PAT_PID: u16 = 0x0000;
/// Stuffing packets; never continuity-checked.
pub const NULL_PID: u16 = 0x1FFF;

/// One whole packet.
pub type Packet = [u8; PACKET_LEN];

/// What the fixed header and the adaptation field's flags say about a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketHeader {
    /// The transport_error_indicator: a demodulator or the source marked the packet as damaged.
    pub transport_error: bool,
    /// payload_unit_start_indicator: a PES packet or PSI section starts in this packet.
    pub pusi: bool,
    pub pid: u16,
    /// The packet carries payload bytes (adaptation_field_control bit 0 and a sane field length).
    pub has_payload: bool,
    pub cc: u8,
    /// The adaptation field's random_access_indicator (a hint only: IDRs are found by NAL type).
    pub random_access: bool,
    /// The adaptation field's discontinuity_indicator: the continuity counter may jump here.
    pub discontinuity: bool,
    /// Offset of the payload within the packet (`PACKET_LEN` when there is none).
    pub payload_offset: usize,
}

impl PacketHeader {
    /// Reads the header; `None` when the packet does not start with the sync byte. A malformed
    /// adaptation field length is treated as "no payload" rather than an error, so damaged packets
    /// flow through unchanged but are never parsed beyond their end.
    pub fn parse(packet: &Packet) -> Option<Self> {
        if packet[0] != SYNC {
            return None;
        }
        let afc = (packet[3] >> 4) & 0b11;
        let mut header = PacketHeader {
            transport_error: packet[1] & 0x80 != 0,
            pusi: packet[1] & 0x40 != 0,
            pid: u16::from(packet[1] & 0x1F) << 8 | u16::from(packet[2]),
            has_payload: afc & 0b01 != 0,
            cc: packet[3] & 0x0F,
            random_access: false,
            discontinuity: false,
            payload_offset: 4,
        };
        if afc & 0b10 != 0 {
            let af_len = usize::from(packet[4]);
            if 5 + af_len > PACKET_LEN || (header.has_payload && 5 + af_len == PACKET_LEN) {
                header.has_payload = false;
                header.payload_offset = PACKET_LEN;
                return Some(header);
            }
            if af_len > 0 {
                header.discontinuity = packet[5] & 0x80 != 0;
                header.random_access = packet[5] & 0x40 != 0;
            }
            header.payload_offset = 5 + af_len;
        }
        if !header.has_payload {
            header.payload_offset = PACKET_LEN;
        }
        Some(header)
    }

    /// The payload bytes of `packet` (empty when there are none).
    pub fn payload<'a>(&self, packet: &'a Packet) -> &'a [u8] {
        &packet[self.payload_offset.min(PACKET_LEN)..]
    }
}

const UNKNOWN_CC: u8 = 0xFF;

/// Continuity counters per PID, following ISO 13818-1 2.4.3.3: the counter increments only on
/// packets with payload, one duplicate packet is allowed, and a discontinuity_indicator resets it.
pub struct ContinuityTracker {
    last: Box<[u8; 8192]>,
}

impl Default for ContinuityTracker {
    fn default() -> Self {
        ContinuityTracker {
            last: Box::new([UNKNOWN_CC; 8192]),
        }
    }
}

impl ContinuityTracker {
    /// Records the packet; true when its counter shows lost (or reordered) packets on its PID.
    pub fn check(&mut self, header: &PacketHeader) -> bool {
        if header.pid == NULL_PID || !header.has_payload {
            return false;
        }
        let slot = &mut self.last[usize::from(header.pid & 0x1FFF)];
        let previous = std::mem::replace(slot, header.cc);
        if previous == UNKNOWN_CC || header.discontinuity {
            return false;
        }
        header.cc != previous && header.cc != (previous + 1) & 0x0F
    }

    /// Forgets every PID's counter (a new source starts).
    pub fn reset(&mut self) {
        self.last.fill(UNKNOWN_CC);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(pid: u16, pusi: bool, afc: u8, cc: u8) -> Packet {
        let mut p = [0xFFu8; PACKET_LEN];
        p[0] = SYNC;
        p[1] = (u8::from(pusi) << 6) | (pid >> 8) as u8;
        p[2] = pid as u8;
        p[3] = (afc << 4) | cc;
        p
    }

    #[test]
    fn header_fields() {
        let mut p = packet(0x1234 & 0x1FFF, true, 0b11, 7);
        p[4] = 7;
        p[5] = 0x40;
        let h = PacketHeader::parse(&p).unwrap();
        assert_eq!(
            (h.pid, h.pusi, h.cc, h.has_payload),
            (0x1234, true, 7, true)
        );
        assert!(h.random_access && !h.discontinuity);
        assert_eq!(h.payload_offset, 12);
        assert_eq!(h.payload(&p).len(), 176);
        p[0] = 0;
        assert!(PacketHeader::parse(&p).is_none());
    }

    #[test]
    fn bad_adaptation_length_means_no_payload() {
        let mut p = packet(0x100, false, 0b11, 0);
        p[4] = 200;
        let h = PacketHeader::parse(&p).unwrap();
        assert!(!h.has_payload);
        assert!(h.payload(&p).is_empty());
        let mut p = packet(0x100, false, 0b10, 0);
        p[4] = 183;
        let h = PacketHeader::parse(&p).unwrap();
        assert!(!h.has_payload && h.payload(&p).is_empty());
    }

    #[test]
    fn continuity_rules() {
        let mut cc = ContinuityTracker::default();
        let h = |cc_value: u8, afc: u8| PacketHeader::parse(&packet(0x100, false, afc, cc_value));
        assert!(!cc.check(&h(14, 1).unwrap()));
        assert!(!cc.check(&h(15, 1).unwrap()));
        assert!(!cc.check(&h(15, 1).unwrap()), "one duplicate is allowed");
        assert!(!cc.check(&h(0, 1).unwrap()), "wraps at 16");
        assert!(!cc.check(&h(9, 2).unwrap()), "no payload: not checked");
        assert!(cc.check(&h(2, 1).unwrap()), "a packet was lost");
        assert!(!cc.check(&h(3, 1).unwrap()));
        let mut p = packet(0x100, false, 0b11, 9);
        p[4] = 1;
        p[5] = 0x80;
        assert!(
            !cc.check(&PacketHeader::parse(&p).unwrap()),
            "discontinuity resets"
        );
        assert!(!cc.check(&h(10, 1).unwrap()));
        cc.reset();
        assert!(!cc.check(&h(4, 1).unwrap()));
    }
}
