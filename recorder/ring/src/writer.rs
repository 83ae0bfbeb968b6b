//! Appending a segment, the only way data enters the ring. The order of writes is the crash-safety
//! argument (docs/ring-format.md, "Crash analysis"):
//!   1. if old segments must go: drop them from the index in memory (waiting a bounded time for
//!      readers that pinned them), then write and sync the tail pointer past them;
//!   2. write the header block and payload into the data area, sync;
//!   3. write the index slot, sync; only then is the segment visible and acknowledged.
//!
//! Any I/O error fails the ring closed: no retried fsync, the caller reopens (and recovers).

use crate::codec;
use crate::device::{AlignedBuf, Device, BLOCK};
use crate::error::{Error, Result};
use crate::layout::{Geometry, SLOT_SIZE};
use crate::records::{
    extent_for, SegmentInfo, SegmentMeta, SegmentRecord, TailRecord, HEADER_MAGIC, SLOT_MAGIC,
    TAIL_MAGIC,
};
use crate::ring::Ring;
use crate::state::State;
use std::time::Instant;

impl<D: Device> Ring<D> {
    /// Stores one segment and returns once it is durable (data, then index, synced). On an I/O
    /// error the ring fails closed and every later append fails until it is reopened.
    pub fn append(&mut self, meta: &SegmentMeta, payload: &[u8]) -> Result<SegmentInfo> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        if let Some(reason) = self.shared.lock().failed.clone() {
            return Err(Error::FailedClosed(reason));
        }
        let geometry = &self.shared.geometry;
        let len = payload.len() as u64;
        if len > geometry.max_payload_bytes() {
            return Err(Error::SegmentTooLarge {
                len,
                max: geometry.max_payload_bytes(),
            });
        }
        if len == 0 {
            return Err(Error::InvalidSegment("empty payload".into()));
        }
        let extent = extent_for(len);
        if let Some(oldest) = self.make_room(extent) {
            let result = self.write_tail(oldest);
            self.fail_closed_on_error(result)?;
        }
        let info = {
            let state = self.shared.lock();
            SegmentInfo {
                seq: state.next_seq,
                pos: state.head,
                payload_len: len as u32,
                payload_crc: crc32fast::hash(payload),
                meta: meta.clone(),
            }
        };
        let result = self.write_segment(&info, payload);
        self.fail_closed_on_error(result)?;
        let result = self.write_slot(&info);
        self.fail_closed_on_error(result)?;
        let mut state = self.shared.lock();
        state.head = (info.pos + extent) % self.shared.geometry.data_len;
        state.used += extent;
        state.next_seq += 1;
        state.entries.push_back(info.clone());
        state.check_newest(&self.shared.geometry);
        Ok(info)
    }

    fn fail_closed_on_error(&self, result: std::io::Result<()>) -> Result<()> {
        result.map_err(|e| {
            let error = Error::io(self.shared.dev.name(), "appending a segment", e);
            self.shared.lock().failed = Some(error.to_string());
            error
        })
    }

    /// Drops the oldest segments from the in-memory index until `extent` bytes and one slot are
    /// free. Returns the new oldest sequence number if anything was dropped.
    fn make_room(&self, extent: u64) -> Option<u64> {
        let geometry = &self.shared.geometry;
        let deadline = Instant::now() + self.pin_wait;
        let mut state = self.shared.lock();
        let mut dropped = false;
        while state.entries.len() as u64 >= geometry.slot_count
            || state.used + extent > geometry.data_len
        {
            let victim = state.entries.front().expect("a full ring has segments").seq;
            state = self.wait_for_readers(state, victim, deadline);
            let gone = state.entries.pop_front().expect("victim still present");
            state.used -= gone.extent();
            dropped = true;
        }
        dropped.then(|| state.oldest_seq())
    }

    /// Waits until no reader pins `victim` or the deadline passes; then revokes the pins still
    /// holding it, so a slow reader gets `ReaderTooSlow` instead of stalling the recording.
    fn wait_for_readers<'a>(
        &'a self,
        mut state: std::sync::MutexGuard<'a, State>,
        victim: u64,
        deadline: Instant,
    ) -> std::sync::MutexGuard<'a, State> {
        let holds = |s: &State| {
            s.pins
                .iter()
                .any(|p| !p.revoked && p.from <= victim && victim <= p.to)
        };
        while holds(&state) {
            let now = Instant::now();
            if now >= deadline {
                for pin in state
                    .pins
                    .iter_mut()
                    .filter(|p| p.from <= victim && victim <= p.to)
                {
                    pin.revoked = true;
                }
                break;
            }
            state = match self.shared.unpinned.wait_timeout(state, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        state
    }

    fn write_tail(&mut self, oldest_seq: u64) -> std::io::Result<()> {
        let generation = self.shared.lock().tail_generation.wrapping_add(1);
        write_tail_record(
            &self.shared.dev,
            &self.shared.geometry,
            &mut self.block,
            oldest_seq,
            generation,
        )?;
        self.shared.lock().tail_generation = generation;
        Ok(())
    }

    /// Streams header block, payload and zero padding through the aligned bounce buffer.
    fn write_segment(&mut self, info: &SegmentInfo, payload: &[u8]) -> std::io::Result<()> {
        let geometry = &self.shared.geometry;
        let record = SegmentRecord {
            ring_tag: geometry.ring_tag(),
            info: info.clone(),
        };
        codec::encode(HEADER_MAGIC, &record, self.block.blocks_mut(BLOCK as usize));
        let extent = info.extent();
        assert!(
            info.pos % BLOCK == 0 && info.pos < geometry.data_len,
            "segment position"
        );
        assert!(extent <= geometry.max_segment_bytes, "segment extent");
        let mut done = 0u64;
        while done < extent {
            let n = (extent - done).min(self.bounce.capacity() as u64) as usize;
            let chunk = self.bounce.blocks_mut(n);
            fill_segment_bytes(chunk, done, &self.block, payload);
            let pos = (info.pos + done) % geometry.data_len;
            self.shared.write_data(pos, &self.bounce.blocks(n)[..n])?;
            done += n as u64;
        }
        self.shared.dev.sync()
    }

    fn write_slot(&mut self, info: &SegmentInfo) -> std::io::Result<()> {
        let geometry = &self.shared.geometry;
        let block_index = (info.seq % geometry.slot_count) / (BLOCK / SLOT_SIZE);
        {
            let state = self.shared.lock();
            encode_slot_block(
                geometry,
                &state,
                Some(info),
                block_index,
                self.block.blocks_mut(BLOCK as usize),
            );
        }
        self.shared.dev.write_at(
            geometry.index_off + block_index * BLOCK,
            self.block.blocks(BLOCK as usize),
        )?;
        self.shared.dev.sync()
    }
}

/// Copies the bytes of the segment stream [offset, offset + dst.len()) into `dst`: header block,
/// then payload, then zeros to the block boundary.
fn fill_segment_bytes(dst: &mut [u8], offset: u64, header: &AlignedBuf, payload: &[u8]) {
    let mut at = 0usize;
    let mut stream = offset as usize;
    let header_len = BLOCK as usize;
    while at < dst.len() {
        let n;
        if stream < header_len {
            n = (header_len - stream).min(dst.len() - at);
            dst[at..at + n].copy_from_slice(&header.blocks(header_len)[stream..stream + n]);
        } else if stream - header_len < payload.len() {
            let p = stream - header_len;
            n = (payload.len() - p).min(dst.len() - at);
            dst[at..at + n].copy_from_slice(&payload[p..p + n]);
        } else {
            n = dst.len() - at;
            dst[at..].fill(0);
        }
        at += n;
        stream += n;
    }
}

/// Encodes index block `block_index`: the slot of every live segment in it (plus `extra`, the
/// segment being added), zeros elsewhere. Live records are re-encoded byte for byte as first
/// written, so rewriting a block never changes a neighbour's sectors.
pub(crate) fn encode_slot_block(
    geometry: &Geometry,
    state: &State,
    extra: Option<&SegmentInfo>,
    block_index: u64,
    out: &mut [u8],
) {
    out.fill(0);
    let per_block = BLOCK / SLOT_SIZE;
    let tag = geometry.ring_tag();
    let n = geometry.slot_count;
    let oldest = state.oldest_seq();
    for j in 0..per_block {
        let slot = block_index * per_block + j;
        // The one live seq (if any) that maps to this slot: seqs are contiguous and fewer than n.
        let seq = oldest + (slot + n - oldest % n) % n;
        let info = match extra {
            Some(e) if e.seq == seq => Some(e),
            _ => state.get(seq),
        };
        if let Some(info) = info {
            let record = SegmentRecord {
                ring_tag: tag,
                info: info.clone(),
            };
            let at = (j * SLOT_SIZE) as usize;
            codec::encode(SLOT_MAGIC, &record, &mut out[at..at + SLOT_SIZE as usize]);
        }
    }
}

/// Writes tail record `generation` into its alternating block and syncs.
pub(crate) fn write_tail_record<D: Device>(
    dev: &D,
    geometry: &Geometry,
    block: &mut AlignedBuf,
    oldest_seq: u64,
    generation: u64,
) -> std::io::Result<()> {
    let tail = TailRecord {
        ring_tag: geometry.ring_tag(),
        generation,
        oldest_seq,
    };
    codec::encode(TAIL_MAGIC, &tail, block.blocks_mut(BLOCK as usize));
    dev.write_at(
        geometry.tail_block(generation % 2),
        block.blocks(BLOCK as usize),
    )?;
    dev.sync()
}
