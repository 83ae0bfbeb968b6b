//! Turns a byte stream that arrives in arbitrary pieces (one byte or 64 KiB at a time) into whole
//! 188-byte packets, and finds the packet grid again after garbage, lost bytes or a truncated
//! packet. Cameras and pipes do not respect packet boundaries, and a recorder that gives up after
//! one bad byte loses everything after it.
//!
//! Sync is first acquired where three consecutive packets start with 0x47. While in sync a packet
//! is passed on only once the byte after it is also 0x47; otherwise it is held as a *suspect*
//! while the grid is searched again: if the new grid starts at least 188 bytes after the suspect,
//! the suspect was whole (garbage followed it) and is passed on; if it starts inside the suspect,
//! the suspect was truncated and is dropped. Every input byte ends up either in exactly one packet
//! or in the skipped count.

use crate::ts::{Packet, PACKET_LEN, SYNC};

/// Input is processed in pieces of at most this size, which bounds the framer's buffer.
const PIECE: usize = 4096;
/// Consecutive sync bytes required to (re)acquire the packet grid.
const SYNC_CONFIRM: usize = 3;
const CONFIRM_SPAN: usize = (SYNC_CONFIRM - 1) * PACKET_LEN + 1;

/// Largest number of bytes the framer ever holds.
pub const MAX_BUFFERED: usize = PIECE + CONFIRM_SPAN + PACKET_LEN;

/// A packet leaving the framer: the packet, the tag of the push its first byte arrived in, and the
/// number of bytes skipped since the previous packet (garbage, or a truncated packet).
pub type Emit<'a, T> = &'a mut dyn FnMut(&Packet, T, u64);

struct Suspect<T> {
    packet: Box<Packet>,
    tag: T,
    /// Bytes consumed since the suspect's first byte, the suspect's own bytes included.
    consumed: usize,
}

/// The framer. `T` is a tag (the segmenter uses the clock of each push) handed back with every
/// packet so callers know when its bytes arrived.
pub struct Framer<T: Copy> {
    buf: Vec<u8>,
    synced: bool,
    suspect: Option<Suspect<T>>,
    /// Skipped bytes not yet reported with a packet.
    pending_skip: u64,
    skipped_total: u64,
    resyncs: u64,
    /// Bytes at the front of `buf` that arrived in an earlier push, and that push's tag.
    carry_len: usize,
    carry_tag: T,
}

impl<T: Copy> Framer<T> {
    pub fn new(tag: T) -> Self {
        Framer {
            buf: Vec::with_capacity(MAX_BUFFERED),
            synced: false,
            suspect: None,
            pending_skip: 0,
            skipped_total: 0,
            resyncs: 0,
            carry_len: 0,
            carry_tag: tag,
        }
    }

    /// Total bytes that were not part of any packet.
    pub fn skipped_bytes(&self) -> u64 {
        self.skipped_total
    }

    /// Times the packet grid was lost after having been found.
    pub fn resyncs(&self) -> u64 {
        self.resyncs
    }

    /// Bytes held, waiting for more input.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.suspect.as_ref().map_or(0, |_| PACKET_LEN)
    }

    /// Frames `data`; `emit` receives every packet that is complete and confirmed.
    pub fn push(&mut self, data: &[u8], tag: T, emit: Emit<'_, T>) {
        for piece in data.chunks(PIECE) {
            if self.buf.is_empty() {
                self.carry_len = 0;
            }
            self.buf.extend_from_slice(piece);
            let consumed = self.process(tag, emit);
            self.buf.drain(..consumed);
            self.carry_len = self.carry_len.saturating_sub(consumed);
        }
        if self.carry_len == 0 {
            self.carry_tag = tag;
        }
        self.carry_len = self.buf.len();
    }

    /// End of input: passes on what can still be trusted, counts the rest as skipped and resets
    /// for a new stream.
    pub fn finish(&mut self, emit: Emit<'_, T>) {
        let mut pos = 0;
        if let Some(suspect) = self.suspect.take() {
            // Nothing followed to prove it truncated: keep it.
            let trailing = suspect.consumed + self.buf.len() - PACKET_LEN;
            self.emit_packet(&suspect.packet, suspect.tag, emit);
            self.skip(trailing);
            pos = self.buf.len();
        } else if self.synced && self.buf.len() >= PACKET_LEN && self.buf[0] == SYNC {
            let mut packet = [0u8; PACKET_LEN];
            packet.copy_from_slice(&self.buf[..PACKET_LEN]);
            let tag = self.tag_at(0, self.carry_tag);
            self.emit_packet(&packet, tag, emit);
            pos = PACKET_LEN;
        }
        self.skip(self.buf.len() - pos);
        self.buf.clear();
        self.synced = false;
        self.carry_len = 0;
        self.pending_skip = 0;
    }

    fn tag_at(&self, pos: usize, current: T) -> T {
        if pos < self.carry_len {
            self.carry_tag
        } else {
            current
        }
    }

    fn skip(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        if let Some(suspect) = self.suspect.as_mut() {
            suspect.consumed += n;
        } else {
            self.pending_skip += n as u64;
            self.skipped_total += n as u64;
        }
    }

    fn emit_packet(&mut self, packet: &Packet, tag: T, emit: Emit<'_, T>) {
        emit(packet, tag, std::mem::take(&mut self.pending_skip));
    }

    /// Consumes what it can from `buf`; returns the number of bytes consumed.
    fn process(&mut self, tag: T, emit: Emit<'_, T>) -> usize {
        let mut pos = 0;
        loop {
            let available = self.buf.len() - pos;
            if self.synced {
                if available <= PACKET_LEN {
                    return pos;
                }
                let mut packet = [0u8; PACKET_LEN];
                packet.copy_from_slice(&self.buf[pos..pos + PACKET_LEN]);
                let packet_tag = self.tag_at(pos, tag);
                if packet[0] == SYNC && self.buf[pos + PACKET_LEN] == SYNC {
                    self.emit_packet(&packet, packet_tag, emit);
                    pos += PACKET_LEN;
                    continue;
                }
                self.synced = false;
                self.resyncs += 1;
                if packet[0] == SYNC {
                    self.suspect = Some(Suspect {
                        packet: Box::new(packet),
                        tag: packet_tag,
                        consumed: 1,
                    });
                    pos += 1;
                }
                continue;
            }
            match self.buf[pos..].iter().position(|&b| b == SYNC) {
                None => {
                    self.skip(available);
                    self.settle_suspect(emit);
                    return self.buf.len();
                }
                Some(offset) => {
                    self.skip(offset);
                    self.settle_suspect(emit);
                    pos += offset;
                }
            }
            if self.buf.len() - pos < CONFIRM_SPAN {
                return pos;
            }
            if (1..SYNC_CONFIRM).all(|k| self.buf[pos + k * PACKET_LEN] == SYNC) {
                self.synced = true;
                if let Some(suspect) = self.suspect.take() {
                    // The grid resumes inside the suspect: it was truncated.
                    self.skip(suspect.consumed);
                }
            } else {
                self.skip(1);
                self.settle_suspect(emit);
                pos += 1;
            }
        }
    }

    /// Once 188 bytes have passed since the suspect started, the grid cannot resume inside it:
    /// it was whole, so pass it on now rather than holding it until sync returns.
    fn settle_suspect(&mut self, emit: Emit<'_, T>) {
        if self
            .suspect
            .as_ref()
            .is_some_and(|s| s.consumed >= PACKET_LEN)
        {
            let suspect = self.suspect.take().expect("checked above");
            self.emit_packet(&suspect.packet, suspect.tag, emit);
            self.skip(suspect.consumed - PACKET_LEN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..n {
            let mut p = [i as u8; PACKET_LEN];
            p[0] = SYNC;
            out.extend_from_slice(&p);
        }
        out
    }

    fn frame(data: &[u8], chunk: usize) -> (Vec<u8>, u64, Vec<u64>) {
        let mut framer = Framer::new(0u32);
        let mut out = Vec::new();
        let mut skips = Vec::new();
        let mut emit = |p: &Packet, _: u32, skipped: u64| {
            out.extend_from_slice(p);
            skips.push(skipped);
        };
        for (i, piece) in data.chunks(chunk).enumerate() {
            framer.push(piece, i as u32, &mut emit);
            assert!(framer.buffered() <= MAX_BUFFERED);
        }
        framer.finish(&mut emit);
        let skipped = framer.skipped_bytes();
        (out, skipped, skips)
    }

    #[test]
    fn clean_stream_any_chunking() {
        let data = stream(20);
        for chunk in [1, 7, 188, 189, 1000, 65536] {
            let (out, skipped, _) = frame(&data, chunk);
            assert_eq!(out, data, "chunk {chunk}");
            assert_eq!(skipped, 0);
        }
    }

    #[test]
    fn garbage_before_and_between() {
        let clean = stream(10);
        let mut data = vec![1, 2, SYNC, 4, 5];
        data.extend_from_slice(&clean[..5 * PACKET_LEN]);
        data.extend_from_slice(&[SYNC; 3]);
        data.extend_from_slice(&clean[5 * PACKET_LEN..]);
        for chunk in [1, 100, 4096] {
            let (out, skipped, skips) = frame(&data, chunk);
            assert_eq!(out, clean);
            assert_eq!(skipped, 8);
            assert_eq!(skips.iter().sum::<u64>(), 8);
            assert_eq!((skips[0], skips[5]), (5, 3));
        }
    }

    #[test]
    fn truncated_packet_is_dropped() {
        let clean = stream(10);
        let mut data = clean[..3 * PACKET_LEN + 100].to_vec();
        data.extend_from_slice(&clean[4 * PACKET_LEN..]);
        let mut expected = clean[..3 * PACKET_LEN].to_vec();
        expected.extend_from_slice(&clean[4 * PACKET_LEN..]);
        for chunk in [1, 50, 4096] {
            let (out, skipped, _) = frame(&data, chunk);
            assert_eq!(out, expected);
            assert_eq!(skipped, 100);
        }
    }

    #[test]
    fn trailing_partial_packet_is_skipped() {
        let clean = stream(4);
        let mut data = clean.clone();
        data.extend_from_slice(&clean[..50]);
        let (out, skipped, _) = frame(&data, 33);
        assert_eq!(out, clean);
        assert_eq!(skipped, 50);
    }

    #[test]
    fn random_bytes_conserve_count() {
        let mut x = 0x1234_5678u32;
        let data: Vec<u8> = (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let (out, skipped, _) = frame(&data, 777);
        assert_eq!(out.len() as u64 + skipped, data.len() as u64);
        assert_eq!(out.len() % PACKET_LEN, 0);
    }
}
