//! Appending a segment, the only way data enters the ring. The order of device operations is the
//! crash-safety argument (docs/ring-format.md, "Crash analysis"); the writer queues them and the
//! I/O thread (pipeline.rs) performs them in exactly that order, stopping at the first error.
//! For segment N:
//!   1. if old segments must go: drop them from the index in memory (waiting a bounded time for
//!      readers that pinned them), write the tail pointer past them and flush, before any byte
//!      of their space is overwritten;
//!   2. write N's header block, payload and padding (the CRC is computed first, so the header
//!      goes out with the first chunk) through two bounce buffers: the writer fills one while
//!      the I/O thread writes the other;
//!   3. wait for the flush of N-1, then write N-1's index slot (never before its data is
//!      durable);
//!   4. start the flush of N's data and N-1's slot, and return. The flush runs while the caller
//!      prepares N+1; when it finishes, N is durable (`durable_seq`) and readers see it.
//!
//! Any I/O error fails the ring closed: no retried fsync, the caller reopens (and recovers).

use crate::codec;
use crate::device::{AlignedBuf, Device, BLOCK};
use crate::error::{Error, Result};
use crate::layout::{Geometry, SLOT_SIZE};
use crate::pipeline::{Job, Pipeline};
use crate::records::{
    extent_for, keyframes_valid, HeaderRecord, KeyframePos, SegmentInfo, SegmentMeta,
    SegmentRecord, TailRecord, HEADER_MAGIC, MAX_KEYFRAMES, SLOT_MAGIC, TAIL_MAGIC,
};
use crate::ring::{Ring, WRITE_CHUNK};
use crate::state::State;
use std::time::Instant;

impl<D: Device> Ring<D> {
    /// Queues one segment and returns its place in the ring once its bytes are handed to the I/O
    /// thread and its flush is queued behind them. It is not durable yet: it becomes so (and
    /// visible to readers) when `durable_seq()` reaches its `seq`, normally while the next one
    /// is being appended; `flush()` waits for it. If the power fails first, it and the segments
    /// after it may be lost, never the ones before `durable_seq()`.
    ///
    /// The I/O thread works on the device's `io_handle`; a device without one has the same
    /// operations performed here, before this returns. After an I/O error the ring fails closed:
    /// this append or a later one returns the error, every one after that `FailedClosed`, until
    /// the ring is reopened.
    pub fn append(&mut self, meta: &SegmentMeta, payload: &[u8]) -> Result<SegmentInfo> {
        self.append_with_keyframes(meta, payload, &[])
    }

    /// `append`, keeping where the payload's keyframes start in the segment's header block
    /// (at most `MAX_KEYFRAMES`, byte offsets increasing and inside the payload), so readers can
    /// cut at a keyframe without parsing the segment (`RingReader::keyframes`).
    pub fn append_with_keyframes(
        &mut self,
        meta: &SegmentMeta,
        payload: &[u8],
        keyframes: &[KeyframePos],
    ) -> Result<SegmentInfo> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        self.shared.progress.check()?;
        let len = self.check_payload(payload)?;
        if !keyframes_valid(keyframes, payload.len() as u32) {
            return Err(Error::InvalidSegment(format!(
                "keyframe positions must be at most {MAX_KEYFRAMES}, increasing and inside the payload"
            )));
        }
        if self.pipeline.is_none() {
            let chunk = WRITE_CHUNK.min(self.shared.geometry.max_segment_bytes) as usize;
            self.pipeline = Some(Pipeline::start(&self.shared, chunk)?);
        }
        if let Some(oldest) = self.make_room(extent_for(len)) {
            self.queue_tail(oldest)?;
        }
        let (info, prev_epoch) = self.admit(meta, payload);
        self.queue_segment(&info, prev_epoch, keyframes, payload)?;
        if info.seq - 1 > self.slot_queued {
            self.queue_slot(info.seq - 1)?;
        }
        self.submit(Job::StartFlush { seq: info.seq })?;
        Ok(info)
    }

    /// Streams header block, payload and zero padding through the bounce buffers.
    fn queue_segment(
        &mut self,
        info: &SegmentInfo,
        prev_epoch: u64,
        keyframes: &[KeyframePos],
        payload: &[u8],
    ) -> Result<()> {
        let geometry = &self.shared.geometry;
        let record = HeaderRecord {
            ring_tag: geometry.ring_tag(),
            info: info.clone(),
            prev_epoch,
            keyframes: keyframes.to_vec(),
        };
        codec::encode(HEADER_MAGIC, &record, self.block.blocks_mut(BLOCK as usize));
        let extent = info.extent();
        assert!(
            info.pos % BLOCK == 0 && info.pos < geometry.data_len,
            "segment position"
        );
        assert!(extent <= geometry.max_segment_bytes, "segment extent");
        let shared = &self.shared;
        let pipeline = self.pipeline.as_mut().expect("started by append");
        let mut done = 0u64;
        while done < extent {
            let mut buf = pipeline.buffer()?;
            let n = (extent - done).min(buf.capacity() as u64) as usize;
            fill_segment_bytes(buf.blocks_mut(n), done, &self.block, payload);
            let pos = (info.pos + done) % geometry.data_len;
            pipeline.submit(Job::Data { pos, buf, len: n }, &shared.dev, geometry)?;
            done += n as u64;
        }
        Ok(())
    }

    /// Hands a job to the I/O thread (or performs it, for a device without an I/O handle).
    pub(crate) fn submit(&mut self, job: Job) -> Result<()> {
        let shared = &self.shared;
        let pipeline = self.pipeline.as_mut().expect("started by the first append");
        pipeline.submit(job, &shared.dev, &shared.geometry)
    }

    /// The payload's length if the ring can take it.
    fn check_payload(&self, payload: &[u8]) -> Result<u64> {
        let len = payload.len() as u64;
        let max = self.shared.geometry.max_payload_bytes();
        if len > max {
            return Err(Error::SegmentTooLarge { len, max });
        }
        if len == 0 {
            return Err(Error::InvalidSegment("empty payload".into()));
        }
        Ok(len)
    }

    /// Places the segment at the head and enters it in the index (readers see it only once it
    /// is durable); the CRC is computed first, outside the lock. Returns it with the epoch of
    /// the segment before it, which its header names.
    fn admit(&self, meta: &SegmentMeta, payload: &[u8]) -> (SegmentInfo, u64) {
        let payload_crc = crc32fast::hash(payload);
        let geometry = &self.shared.geometry;
        let mut state = self.shared.lock();
        let prev_epoch = state.entries.back().map_or(state.epoch, |e| e.epoch);
        let info = SegmentInfo {
            seq: state.next_seq,
            epoch: state.epoch,
            pos: state.head,
            payload_len: payload.len() as u32,
            payload_crc,
            meta: meta.clone(),
        };
        state.head = (info.pos + info.extent()) % geometry.data_len;
        state.used += info.extent();
        state.next_seq += 1;
        state.entries.push_back(info.clone());
        state.check_newest(geometry);
        (info, prev_epoch)
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

    /// Queues the tail pointer past the dropped segments and a flush that must finish before
    /// the I/O thread writes anything after it (the evicted space).
    fn queue_tail(&mut self, oldest_seq: u64) -> Result<()> {
        let (generation, newest, epoch) = {
            let state = self.shared.lock();
            (
                state.tail_generation.wrapping_add(1),
                state.next_seq - 1,
                state.epoch,
            )
        };
        let geometry = &self.shared.geometry;
        let tail = TailRecord {
            ring_tag: geometry.ring_tag(),
            generation,
            oldest_seq,
            epoch,
        };
        let mut buf = AlignedBuf::new(BLOCK as usize);
        codec::encode(TAIL_MAGIC, &tail, buf.blocks_mut(BLOCK as usize));
        let offset = geometry.tail_block(generation % 2);
        assert!(
            offset < geometry.index_off,
            "tail block outside the tail area"
        );
        self.submit(Job::Block { offset, buf })?;
        // The previous segment and its predecessor's slot are queued before this flush.
        self.submit(Job::Flush { seq: newest })?;
        self.shared.lock().tail_generation = generation;
        Ok(())
    }

    /// Queues the index block holding slot `seq`, with no slot newer than `seq` in it: the I/O
    /// thread writes it once every flush started before has finished.
    pub(crate) fn queue_slot(&mut self, seq: u64) -> Result<()> {
        let geometry = &self.shared.geometry;
        let block_index = (seq % geometry.slot_count) / (BLOCK / SLOT_SIZE);
        assert!(
            block_index < geometry.index_len() / BLOCK,
            "index block outside the index"
        );
        let mut buf = AlignedBuf::new(BLOCK as usize);
        {
            let state = self.shared.lock();
            assert!(
                state.get(seq).is_some(),
                "slot of a segment not in the index"
            );
            encode_slot_block(
                geometry,
                &state,
                seq,
                block_index,
                buf.blocks_mut(BLOCK as usize),
            );
        }
        let offset = geometry.index_off + block_index * BLOCK;
        self.submit(Job::Slot { offset, buf })?;
        self.slot_queued = seq;
        Ok(())
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

/// Encodes index block `block_index`: the slot of every live segment in it up to `upto` (newer
/// ones are not yet durable), zeros elsewhere. Live records are re-encoded byte for byte as first
/// written, so rewriting a block never changes a neighbour's sectors.
pub(crate) fn encode_slot_block(
    geometry: &Geometry,
    state: &State,
    upto: u64,
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
        if let Some(info) = state.get(seq).filter(|e| e.seq <= upto) {
            let record = SegmentRecord {
                ring_tag: tag,
                info: info.clone(),
            };
            let at = (j * SLOT_SIZE) as usize;
            codec::encode(SLOT_MAGIC, &record, &mut out[at..at + SLOT_SIZE as usize]);
        }
    }
}

/// Writes `tail` into the block its generation alternates to, and syncs.
pub(crate) fn write_tail_record<D: Device>(
    dev: &D,
    geometry: &Geometry,
    block: &mut AlignedBuf,
    tail: &TailRecord,
) -> std::io::Result<()> {
    codec::encode(TAIL_MAGIC, tail, block.blocks_mut(BLOCK as usize));
    dev.write_at(
        geometry.tail_block(tail.generation % 2),
        block.blocks(BLOCK as usize),
    )?;
    dev.sync()
}
