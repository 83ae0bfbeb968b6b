//! What a live viewer needs from the segmenter, as it happens: the bytes it commits to the
//! segment being built (the very bytes the ring stores once the segment closes) and the places a
//! viewer may start or must start over. The segment-sized unit of the ring is seconds old by the
//! time it closes; this is how live stays under a second behind the camera without a second copy
//! of the truth. The media crate only describes the feed; whoever shows it (the daemon's web
//! server) implements `LiveSink`.

/// A place in a `LiveChunk`'s bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveMark {
    /// A video IDR access unit starts here: a decoder given `tables` (the program's current PAT
    /// and PMT packets) and then the bytes from here on shows pictures at once. `utc_us`: when
    /// its first byte arrived from the camera (wall clock, microseconds since the epoch).
    Keyframe {
        offset: usize,
        tables: Vec<u8>,
        utc_us: i64,
    },
    /// The stream starts over here (the source restarted, bytes were lost or the timestamps
    /// jumped): what came before does not continue into what follows.
    Restart { offset: usize },
}

impl LiveMark {
    pub fn offset(&self) -> usize {
        match self {
            LiveMark::Keyframe { offset, .. } | LiveMark::Restart { offset } => *offset,
        }
    }
}

/// What one push into the segmenter committed, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveChunk {
    /// Whole TS packets, in the order the source sent them (no injected tables).
    pub bytes: Vec<u8>,
    /// Offsets into `bytes`, never decreasing; an offset may equal `bytes.len()`.
    pub marks: Vec<LiveMark>,
}

impl LiveChunk {
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty() && self.marks.is_empty()
    }
}

/// Receives every chunk on the capture thread: it must not block (no waiting on viewers).
pub trait LiveSink: Send + Sync {
    fn publish(&self, chunk: &LiveChunk);
}
