//! What the writer and every reader share: the device, the geometry and the in-memory index of
//! live segments behind one mutex. The lock is held only to look up or change the index, never
//! across device I/O, so a slow read cannot stall the writer and the writer cannot stall readers.
//!
//! The index holds every segment the writer has queued, durable or not: eviction and the next
//! position depend on them. Readers see only the durable prefix (`Progress::durable`), so nothing
//! a power cut could still take away is ever handed out.

use crate::device::{Device, BLOCK};
use crate::layout::Geometry;
use crate::pipeline::Progress;
use crate::records::SegmentInfo;
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// A reader's claim on a range of segments.
#[derive(Debug)]
pub(crate) struct PinSlot {
    pub id: u64,
    pub from: u64,
    pub to: u64,
    /// Set by the writer when the reader held on past the bound; the reader's reads then fail.
    pub revoked: bool,
}

/// The live index. Invariants (checked by `check`): seqs are contiguous, each segment starts where
/// the previous one ends (modulo the data length), `used` is the sum of extents, at most
/// `slot_count` segments.
#[derive(Debug)]
pub(crate) struct State {
    pub entries: VecDeque<SegmentInfo>,
    /// Logical position in the data area where the next segment starts.
    pub head: u64,
    pub next_seq: u64,
    pub used: u64,
    pub pins: Vec<PinSlot>,
    pub next_pin_id: u64,
    pub tail_generation: u64,
    /// The open epoch new segments carry (docs/ring-format.md "Epochs"); set by recovery.
    pub epoch: u64,
}

impl State {
    pub fn empty(head: u64, next_seq: u64, tail_generation: u64) -> State {
        State {
            entries: VecDeque::new(),
            head,
            next_seq,
            used: 0,
            pins: Vec::new(),
            next_pin_id: 1,
            tail_generation,
            epoch: 0,
        }
    }

    /// Oldest live sequence number, or `next_seq` when empty.
    pub fn oldest_seq(&self) -> u64 {
        self.entries.front().map_or(self.next_seq, |e| e.seq)
    }

    pub fn get(&self, seq: u64) -> Option<&SegmentInfo> {
        let oldest = self.entries.front()?.seq;
        let index = usize::try_from(seq.checked_sub(oldest)?).ok()?;
        self.entries.get(index)
    }

    /// Segment `seq` if readers may see it (it is live and no newer than `durable`).
    pub fn visible(&self, seq: u64, durable: u64) -> Option<&SegmentInfo> {
        self.get(seq).filter(|e| e.seq <= durable)
    }

    /// The live segments readers may see, oldest first.
    pub fn visible_entries(&self, durable: u64) -> impl Iterator<Item = &SegmentInfo> {
        self.entries.iter().take_while(move |e| e.seq <= durable)
    }

    /// The live segments readers may not see yet (queued, not durable), newest first. At most
    /// the few the writer is ahead of the medium.
    pub fn hidden_entries(&self, durable: u64) -> impl Iterator<Item = &SegmentInfo> {
        self.entries
            .iter()
            .rev()
            .take_while(move |e| e.seq > durable)
    }

    /// Asserts the invariants that an append can break, in constant time: bounds, and that the
    /// newest segment follows its predecessor and ends at the head.
    pub fn check_newest(&self, geometry: &Geometry) {
        assert!(
            self.entries.len() as u64 <= geometry.slot_count,
            "more segments than slots"
        );
        assert!(
            self.used <= geometry.data_len,
            "more bytes used than the data area holds"
        );
        assert!(
            self.head < geometry.data_len && self.head % BLOCK == 0,
            "head out of the data area"
        );
        let mut newest = self.entries.iter().rev();
        if let Some(last) = newest.next() {
            assert_eq!(
                last.seq + 1,
                self.next_seq,
                "next sequence number out of step"
            );
            assert_eq!(
                (last.pos + last.extent()) % geometry.data_len,
                self.head,
                "head out of step"
            );
            assert!(last.epoch <= self.epoch, "a segment from a future epoch");
            if let Some(before) = newest.next() {
                assert_eq!(before.seq + 1, last.seq, "sequence numbers not contiguous");
                assert!(before.epoch <= last.epoch, "epochs decrease");
                let end = (before.pos + before.extent()) % geometry.data_len;
                assert_eq!(end, last.pos, "segments not adjacent");
            }
        }
        if cfg!(debug_assertions) {
            self.check(geometry);
        }
    }

    /// Asserts all the invariants above by walking the whole index; called after recovery.
    pub fn check(&self, geometry: &Geometry) {
        assert!(
            self.entries.len() as u64 <= geometry.slot_count,
            "more segments than slots"
        );
        assert!(
            self.used <= geometry.data_len,
            "more bytes used than the data area holds"
        );
        assert!(
            self.head < geometry.data_len && self.head % BLOCK == 0,
            "head out of the data area"
        );
        let mut used = 0;
        for (i, e) in self.entries.iter().enumerate() {
            used += e.extent();
            assert!(e.epoch <= self.epoch, "a segment from a future epoch");
            if let Some(next) = self.entries.get(i + 1) {
                assert_eq!(e.seq + 1, next.seq, "sequence numbers not contiguous");
                assert!(e.epoch <= next.epoch, "epochs decrease");
                assert_eq!(
                    (e.pos + e.extent()) % geometry.data_len,
                    next.pos,
                    "segments not adjacent"
                );
            }
        }
        assert_eq!(used, self.used, "used bytes out of step with the index");
        if let Some(last) = self.entries.back() {
            assert_eq!(
                last.seq + 1,
                self.next_seq,
                "next sequence number out of step"
            );
            assert_eq!(
                (last.pos + last.extent()) % geometry.data_len,
                self.head,
                "head out of step"
            );
        }
    }
}

/// Shared by the writer (`Ring`) and readers (`RingReader`).
pub(crate) struct Shared<D> {
    pub dev: D,
    pub geometry: Geometry,
    pub state: Mutex<State>,
    /// Durability and failure, also held by the I/O thread and flush callbacks.
    pub progress: Arc<Progress>,
    /// Signalled whenever a pin is dropped, for the writer waiting to reclaim space.
    pub unpinned: Condvar,
    pub max_readers: usize,
}

impl<D: Device> Shared<D> {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // The state is only mutated in short sections that restore the invariants before
        // unlocking; a panic elsewhere does not leave it inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Highest durable sequence number: readers see nothing newer.
    pub fn durable(&self) -> u64 {
        self.progress.durable()
    }

    /// Reads `buf.len()` bytes at logical position `pos` of the data area, wrapping at its end.
    pub fn read_data(&self, pos: u64, buf: &mut [u8]) -> io::Result<()> {
        let (first, second) = self.split(pos, buf.len() as u64);
        let (a, b) = buf.split_at_mut(first.1 as usize);
        self.dev.read_at(first.0, a)?;
        if let Some(offset) = second {
            self.dev.read_at(offset, b)?;
        }
        Ok(())
    }

    fn split(&self, pos: u64, len: u64) -> ((u64, u64), Option<u64>) {
        split(&self.geometry, pos, len)
    }
}

/// Writes `buf` at logical position `pos` of the data area of `dev`, wrapping at its end.
pub(crate) fn write_data(dev: &dyn Device, g: &Geometry, pos: u64, buf: &[u8]) -> io::Result<()> {
    let (first, second) = split(g, pos, buf.len() as u64);
    let (a, b) = buf.split_at(first.1 as usize);
    dev.write_at(first.0, a)?;
    if let Some(offset) = second {
        dev.write_at(offset, b)?;
    }
    Ok(())
}

/// Device offset and length of the part before the wrap, and the device offset of the rest.
fn split(g: &Geometry, pos: u64, len: u64) -> ((u64, u64), Option<u64>) {
    assert!(
        pos < g.data_len && len <= g.data_len,
        "data access outside the ring"
    );
    let before_wrap = (g.data_len - pos).min(len);
    let second = (before_wrap < len).then_some(g.data_off);
    ((g.data_off + pos, before_wrap), second)
}
