//! Reading segments back while the writer keeps recording. A reader pins the range it reads so the
//! writer will not overwrite it, but only for a bounded time: a reader that is too slow has its pin
//! revoked and gets `ReaderTooSlow`, never torn data, because every read is checked against the
//! index record and the payload CRC and the pin is re-checked after the bytes arrive. Readers see
//! only durable segments (`Ring::durable_seq`): a segment still in flight could vanish in a power
//! cut after someone had exported or shown it.

use crate::device::{AlignedBuf, Device, BLOCK};
use crate::error::{Error, Result};
use crate::records::{decode_header, HeaderRecord, KeyframePos, SegmentInfo};
use crate::ring::{stats, Stats};
use crate::state::{PinSlot, Shared};
use std::sync::Arc;

/// A cloneable, thread-safe read handle.
pub struct RingReader<D: Device> {
    shared: Arc<Shared<D>>,
}

impl<D: Device> Clone for RingReader<D> {
    fn clone(&self) -> Self {
        RingReader {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<D: Device> RingReader<D> {
    pub(crate) fn new(shared: Arc<Shared<D>>) -> Self {
        RingReader { shared }
    }

    /// Current statistics.
    pub fn stats(&self) -> Stats {
        stats(&self.shared)
    }

    /// The live segment `seq`, if it is in the ring and durable.
    pub fn segment(&self, seq: u64) -> Option<SegmentInfo> {
        let durable = self.shared.durable();
        self.shared.lock().visible(seq, durable).cloned()
    }

    /// Every live durable segment, oldest first (at most the slot count).
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let durable = self.shared.durable();
        self.shared
            .lock()
            .visible_entries(durable)
            .cloned()
            .collect()
    }

    /// Live segments overlapping the UTC interval [from_us, to_us), in sequence order. Wall-clock
    /// time can jump (NTP sync), so this checks every segment rather than bisecting.
    pub fn segments_between(&self, from_us: i64, to_us: i64) -> Vec<SegmentInfo> {
        let durable = self.shared.durable();
        let state = self.shared.lock();
        state
            .visible_entries(durable)
            .filter(|e| e.meta.utc_start_us < to_us && e.utc_end_us() > from_us)
            .cloned()
            .collect()
    }

    /// Pins segments `from..=to` so the writer keeps them (within its wait bound) while read.
    pub fn pin(&self, from: u64, to: u64) -> Result<Pin<D>> {
        let durable = self.shared.durable();
        let mut state = self.shared.lock();
        let oldest = state.oldest_seq();
        let newest = durable.min(state.next_seq.saturating_sub(1));
        for seq in [from, to] {
            if seq < oldest || seq > newest || from > to {
                return Err(Error::NoSuchSegment {
                    seq,
                    oldest,
                    newest,
                });
            }
        }
        if state.pins.len() >= self.shared.max_readers {
            return Err(Error::TooManyReaders(self.shared.max_readers));
        }
        let id = state.next_pin_id;
        state.next_pin_id += 1;
        state.pins.push(PinSlot {
            id,
            from,
            to,
            revoked: false,
        });
        Ok(Pin {
            shared: Arc::clone(&self.shared),
            id,
            from,
            to,
        })
    }

    /// Reads one segment (pinning it for the duration) into a new buffer.
    pub fn read(&self, seq: u64) -> Result<(SegmentInfo, AlignedBuf)> {
        let pin = self.pin(seq, seq)?;
        let mut buf = AlignedBuf::new(0);
        let info = pin.read(seq, &mut buf)?;
        Ok((info, buf))
    }
}

/// A claim on a range of segments; dropping it releases them.
pub struct Pin<D: Device> {
    shared: Arc<Shared<D>>,
    id: u64,
    from: u64,
    to: u64,
}

impl<D: Device> Pin<D> {
    /// First pinned sequence number.
    pub fn from(&self) -> u64 {
        self.from
    }

    /// Last pinned sequence number.
    pub fn to(&self) -> u64 {
        self.to
    }

    /// Where the keyframes of segment `seq` (within the pin) start, as its writer recorded them
    /// (`Ring::append_with_keyframes`); empty when none were given.
    pub fn keyframes(&self, seq: u64) -> Result<Vec<KeyframePos>> {
        let info = self.pinned(seq)?;
        let header = self.header(seq, &info)?;
        // As in `read`: a revoked pin means the block may have been overwritten meanwhile.
        self.lookup(seq)?;
        Ok(header.keyframes)
    }

    /// Reads segment `seq` (within the pin) into `buf`, verified against the index record and
    /// its CRC. `buf` is resized to the payload length.
    pub fn read(&self, seq: u64, buf: &mut AlignedBuf) -> Result<SegmentInfo> {
        let info = self.pinned(seq)?;
        self.header(seq, &info)?;
        let name = || self.shared.dev.name();
        let corrupt = |what| Error::Corrupt {
            device: name(),
            seq,
            what,
        };
        let len = info.payload_len as usize;
        buf.set_len(len);
        let pos = (info.pos + BLOCK) % self.shared.geometry.data_len;
        self.shared
            .read_data(pos, buf.blocks_mut(len))
            .map_err(|e| Error::io(name(), "reading a segment", e))?;
        // The pin is re-checked after the bytes arrived: if the writer revoked it meanwhile the
        // bytes may be half overwritten, and the CRC below is not a proof against that.
        self.lookup(seq)?;
        if crc32fast::hash(&buf[..]) != info.payload_crc {
            return Err(corrupt("payload checksum mismatch"));
        }
        Ok(info)
    }

    /// The index record of `seq` if this pin holds it.
    fn pinned(&self, seq: u64) -> Result<SegmentInfo> {
        if seq < self.from || seq > self.to {
            return Err(Error::NotPinned {
                seq,
                from: self.from,
                to: self.to,
            });
        }
        self.lookup(seq)
    }

    /// The header block of `seq`, checked against its index record `info`.
    fn header(&self, seq: u64, info: &SegmentInfo) -> Result<HeaderRecord> {
        let name = || self.shared.dev.name();
        let corrupt = |what| Error::Corrupt {
            device: name(),
            seq,
            what,
        };
        let mut block = AlignedBuf::new(BLOCK as usize);
        self.shared
            .read_data(info.pos, block.blocks_mut(BLOCK as usize))
            .map_err(|e| Error::io(name(), "reading a segment header", e))?;
        let record = decode_header(&block).ok_or_else(|| corrupt("unreadable header"))?;
        if record.ring_tag != self.shared.geometry.ring_tag() || record.info != *info {
            return Err(corrupt("header does not match the index"));
        }
        Ok(record)
    }

    fn lookup(&self, seq: u64) -> Result<SegmentInfo> {
        let state = self.shared.lock();
        let revoked = state
            .pins
            .iter()
            .find(|p| p.id == self.id)
            .is_none_or(|p| p.revoked);
        if revoked {
            return Err(Error::ReaderTooSlow { seq });
        }
        state.get(seq).cloned().ok_or(Error::ReaderTooSlow { seq })
    }
}

impl<D: Device> Drop for Pin<D> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.pins.retain(|p| p.id != self.id);
        drop(state);
        self.shared.unpinned.notify_all();
    }
}
