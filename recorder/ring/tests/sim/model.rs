//! The crash simulation's idea of what the ring must hold, computed from segment sizes alone and
//! never from the engine: where each segment lands in the circular data area and which segments the
//! eviction rule drops. The engine is checked against this, so the two must not share code.

use moment_ring::{Geometry, BLOCK};
use std::collections::VecDeque;

/// One version of one segment as the model knows it; its bytes come from `content`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seg {
    pub seq: u64,
    pub pos: u64,
    pub len: u64,
    pub attempt: u32,
}

impl Seg {
    /// Header block plus the payload padded to whole blocks.
    pub fn extent(&self) -> u64 {
        BLOCK + self.len.div_ceil(BLOCK) * BLOCK
    }
}

/// An append the model has worked out but not yet seen acknowledged.
#[derive(Clone, Debug)]
pub struct Planned {
    pub seg: Seg,
    /// The oldest live seq once this segment is admitted.
    pub oldest_after: u64,
    /// Admitting it drops old segments (so the writer moves the tail pointer first).
    pub evicts: bool,
}

/// The live segments, oldest first: always a contiguous seq range laid end to end.
#[derive(Clone, Debug)]
pub struct Model {
    data_len: u64,
    slot_count: u64,
    live: VecDeque<Seg>,
    head: u64,
    next_seq: u64,
    used: u64,
}

impl Model {
    /// An empty ring: the first segment is seq 1 at the start of the data area.
    pub fn new(geometry: &Geometry) -> Model {
        Model {
            data_len: geometry.data_len,
            slot_count: geometry.slot_count,
            live: VecDeque::new(),
            head: 0,
            next_seq: 1,
            used: 0,
        }
    }

    pub fn oldest(&self) -> u64 {
        self.live.front().map_or(self.next_seq, |s| s.seq)
    }

    pub fn newest(&self) -> Option<u64> {
        self.live.back().map(|s| s.seq)
    }

    pub fn used(&self) -> u64 {
        self.used
    }

    /// Bytes of the live segments up to `seq` (what readers see when `seq` is durable).
    pub fn used_upto(&self, seq: u64) -> u64 {
        self.live
            .iter()
            .take_while(|s| s.seq <= seq)
            .map(Seg::extent)
            .sum()
    }

    pub fn live(&self) -> impl Iterator<Item = &Seg> {
        self.live.iter()
    }

    /// The eviction rule: drop the oldest while every slot is taken or the new extent does not
    /// fit in the free bytes.
    pub fn plan(&self, len: u64, attempt: u32) -> Planned {
        let seg = Seg {
            seq: self.next_seq,
            pos: self.head,
            len,
            attempt,
        };
        let (mut count, mut used, mut dropped) = (self.live.len() as u64, self.used, 0);
        while count >= self.slot_count || used + seg.extent() > self.data_len {
            let victim = &self.live[dropped];
            used -= victim.extent();
            count -= 1;
            dropped += 1;
        }
        let oldest_after = self.live.get(dropped).map_or(seg.seq, |s| s.seq);
        Planned {
            seg,
            oldest_after,
            evicts: dropped > 0,
        }
    }

    /// Admits a planned segment (the engine acknowledged it, or recovery found it).
    pub fn commit(&mut self, planned: &Planned) {
        assert_eq!(planned.seg.seq, self.next_seq, "model: commit out of order");
        self.drop_before(planned.oldest_after);
        let seg = planned.seg.clone();
        self.head = (seg.pos + seg.extent()) % self.data_len;
        self.used += seg.extent();
        self.next_seq += 1;
        self.live.push_back(seg);
        assert!(self.used <= self.data_len && self.live.len() as u64 <= self.slot_count);
    }

    /// Forgets every segment older than `oldest` (the tail pointer moved past them).
    pub fn drop_before(&mut self, oldest: u64) {
        while self.live.front().is_some_and(|s| s.seq < oldest) {
            let gone = self.live.pop_front().expect("checked non-empty");
            self.used -= gone.extent();
        }
    }
}
