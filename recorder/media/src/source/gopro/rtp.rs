//! Finding the MPEG-TS inside a GoPro datagram. Most cameras send bare TS packets, but some
//! firmwares (and relays in between) wrap them in RTP (RFC 3550, payload type 33 "MP2T"). The
//! segmenter would resynchronise past a 12-byte header on its own, but at the price of counting
//! skipped bytes and losing the packet grid in every datagram, so the header is removed here.

use std::ops::Range;

/// The TS sync byte every packet starts with.
const SYNC: u8 = 0x47;
/// The fixed part of an RTP header.
const FIXED_HEADER: usize = 12;

/// The part of `datagram` to hand on: all of it when it starts like TS (or is something we do not
/// recognise, left to the segmenter's resync), the RTP payload when it is RTP carrying TS.
pub(super) fn payload(datagram: &[u8]) -> Range<usize> {
    if datagram.first() == Some(&SYNC) {
        return 0..datagram.len();
    }
    match rtp_payload(datagram) {
        Some(r) if datagram.get(r.start) == Some(&SYNC) => r,
        _ => 0..datagram.len(),
    }
}

/// The payload of an RTP version 2 packet: after the fixed header, the CSRC list and the header
/// extension, before the padding. `None` when the lengths do not fit the datagram.
fn rtp_payload(d: &[u8]) -> Option<Range<usize>> {
    if d.len() < FIXED_HEADER || d[0] >> 6 != 2 {
        return None;
    }
    let csrc_count = usize::from(d[0] & 0x0F);
    let mut start = FIXED_HEADER + 4 * csrc_count;
    if d[0] & 0x10 != 0 {
        // Extension: 16-bit profile, 16-bit length in 32-bit words, then the words.
        let words = d.get(start + 2..start + 4)?;
        let words = usize::from(u16::from_be_bytes([words[0], words[1]]));
        start += 4 + 4 * words;
    }
    let mut end = d.len();
    if d[0] & 0x20 != 0 {
        // Padding: the last byte counts the padding bytes, itself included.
        let pad = usize::from(*d.last()?);
        if pad == 0 {
            return None;
        }
        end = end.checked_sub(pad)?;
    }
    (start <= end).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(packets: usize) -> Vec<u8> {
        let mut v = vec![0u8; 188 * packets];
        for p in v.chunks_mut(188) {
            p[0] = SYNC;
        }
        v
    }

    fn rtp(first: u8, extra_header: &[u8], payload: &[u8], padding: &[u8]) -> Vec<u8> {
        let mut v = vec![first, 33, 0, 1, 0, 0, 0, 2, 0xDE, 0xAD, 0xBE, 0xEF];
        v.extend_from_slice(extra_header);
        v.extend_from_slice(payload);
        v.extend_from_slice(padding);
        v
    }

    #[test]
    fn bare_ts_is_kept() {
        let d = ts(7);
        assert_eq!(payload(&d), 0..d.len());
    }

    #[test]
    fn plain_rtp_header_is_removed() {
        let d = rtp(0x80, &[], &ts(7), &[]);
        assert_eq!(payload(&d), 12..d.len());
    }

    #[test]
    fn csrc_extension_and_padding_are_removed() {
        let csrc = [1, 2, 3, 4, 5, 6, 7, 8];
        let d = rtp(0x82, &csrc, &ts(2), &[]);
        assert_eq!(payload(&d), 20..d.len());

        let ext = [0xBE, 0xDE, 0, 1, 9, 9, 9, 9];
        let d = rtp(0x90, &ext, &ts(2), &[]);
        assert_eq!(payload(&d), 20..d.len());

        let d = rtp(0xA0, &[], &ts(2), &[0, 0, 3]);
        assert_eq!(payload(&d), 12..d.len() - 3);
    }

    #[test]
    fn other_bytes_are_left_alone() {
        // RTP-looking header but no TS after it, version 1, too short, bad padding.
        let d = rtp(0x80, &[], &[1, 2, 3], &[]);
        assert_eq!(payload(&d), 0..d.len());
        let d = rtp(0x40, &[], &ts(1), &[]);
        assert_eq!(payload(&d), 0..d.len());
        assert_eq!(payload(&[0x80, 1, 2]), 0..3);
        assert_eq!(payload(&[]), 0..0);
        let d = rtp(0xA0, &[], &ts(1), &[0, 0, 250]);
        assert_eq!(payload(&d), 0..d.len());
        let d = rtp(0x90, &[0xBE, 0xDE, 0xFF, 0xFF], &ts(1), &[]);
        assert_eq!(payload(&d), 0..d.len());
    }
}
