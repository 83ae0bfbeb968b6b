//! Moving the bytes: a reader thread reads the pinned segments in order (and, after the last, the
//! segment whose audio finishes it) while this thread cuts the first and last one to the plan's
//! keyframes, edits the segment and feeds ffmpeg, so a slow card and ffmpeg's remux overlap
//! instead of taking turns. Two buffers circulate between the threads: memory stays at two
//! segments, and either side stopping ends the other.

use super::cut;
use super::edit::{Editor, Piece, Role};
use super::error::ExportError;
use super::plan::Plan;
use super::Progress;
use moment_ring::{flags, AlignedBuf, Device, Pin};
use std::sync::mpsc;

/// Largest single write to ffmpeg, and the granularity of progress reports.
const WRITE_CHUNK: usize = 1 << 20;
/// Segment buffers in circulation.
const BUFFERS: usize = 2;

/// Where the edited stream goes (ffmpeg; a buffer in tests).
pub(crate) trait Sink {
    fn send(&mut self, bytes: &[u8]) -> Result<(), ExportError>;
}

impl Sink for Vec<u8> {
    fn send(&mut self, bytes: &[u8]) -> Result<(), ExportError> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// One segment read, and for the last one the segment after it (if it could be read).
struct Read {
    buf: AlignedBuf,
    tail: Option<AlignedBuf>,
}

/// Reads, edits and sends every segment of the plan in order; returns the runs joined.
pub(crate) fn pump<D: Device>(
    plan: &Plan,
    pin: &Pin<D>,
    sink: &mut dyn Sink,
    progress: &mut dyn FnMut(Progress),
) -> Result<u32, ExportError> {
    let (full_tx, full_rx) = mpsc::sync_channel::<Result<Read, ExportError>>(1);
    let (empty_tx, empty_rx) = mpsc::channel::<AlignedBuf>();
    for _ in 0..BUFFERS {
        let _ = empty_tx.send(AlignedBuf::new(0));
    }
    std::thread::scope(|scope| {
        scope.spawn(move || read_all(plan, pin, &empty_rx, &full_tx));
        let result = edit_all(plan, &full_rx, &empty_tx, sink, progress);
        // Unblocks the reader if this side stopped early; the scope then waits for it.
        drop(full_rx);
        drop(empty_tx);
        result
    })
}

/// The reader thread: segment after segment into the buffers handed back.
fn read_all<D: Device>(
    plan: &Plan,
    pin: &Pin<D>,
    empty: &mpsc::Receiver<AlignedBuf>,
    full: &mpsc::SyncSender<Result<Read, ExportError>>,
) {
    let last = plan.segments.len() - 1;
    for (i, segment) in plan.segments.iter().enumerate() {
        let Ok(mut buf) = empty.recv() else { return };
        let seq = segment.seq;
        let read = pin
            .read(seq, &mut buf)
            .map(|_| Read {
                buf,
                tail: if i == last { tail(plan, pin) } else { None },
            })
            .map_err(|source| ExportError::Ring { seq, source });
        let failed = read.is_err();
        if full.send(read).is_err() || failed {
            return;
        }
    }
}

/// The segment after the export. Failing to read it only costs the last frames' audio.
fn tail<D: Device>(plan: &Plan, pin: &Pin<D>) -> Option<AlignedBuf> {
    let mut buf = AlignedBuf::new(0);
    pin.read(plan.tail.as_ref()?.seq, &mut buf).ok()?;
    Some(buf)
}

/// This thread: edit and send each segment as it arrives, then hand its buffer back.
fn edit_all(
    plan: &Plan,
    full: &mpsc::Receiver<Result<Read, ExportError>>,
    empty: &mpsc::Sender<AlignedBuf>,
    sink: &mut dyn Sink,
    progress: &mut dyn FnMut(Progress),
) -> Result<u32, ExportError> {
    let mut editor = Editor::default();
    let mut meter = Meter {
        done: 0,
        total: plan.ts_bytes(),
        report: progress,
    };
    for i in 0..plan.segments.len() {
        let Ok(read) = full.recv() else {
            return Err(ExportError::ReaderStopped);
        };
        let Read { mut buf, tail } = read?;
        let keep = plan.kept(i, buf.len());
        // The audio of the last frames kept follows them in the stream: in the bytes after an
        // end cut, then in the next segment.
        let mut audio = Vec::new();
        if keep.end < buf.len() {
            audio = editor.tail_audio(&buf[..keep.end], &buf[keep.end..]);
        }
        if let Some(next) = tail {
            audio.extend(editor.tail_audio(&buf[..keep.end], &next));
        }
        let len = keep.len();
        let sliced = cut::slice(&mut buf, keep);
        buf.set_len(sliced + audio.len());
        buf[sliced..].copy_from_slice(&audio);
        let pieces = editor.segment(&mut buf, role(plan, i));
        send(&buf, &pieces, sink, &mut meter, len)?;
        meter.done += len as u64;
        let _ = empty.send(buf);
    }
    (meter.report)(Progress {
        bytes_done: meter.total,
        bytes_total: meter.total,
    });
    Ok(editor.junctions)
}

fn role(plan: &Plan, i: usize) -> Role {
    let restart = |i: usize| {
        plan.segments
            .get(i)
            .is_some_and(|s| s.meta.flags & flags::DISCONTINUITY != 0)
    };
    Role {
        first_of_run: i == 0 || restart(i),
        last_of_run: i + 1 == plan.segments.len() || restart(i + 1),
        junction: i > 0 && restart(i),
    }
}

/// Progress in bytes of the current plan.
struct Meter<'a> {
    done: u64,
    total: u64,
    report: &'a mut dyn FnMut(Progress),
}

/// Sends the pieces of one segment (its first `len` bytes count towards progress).
fn send(
    buf: &[u8],
    pieces: &[Piece],
    sink: &mut dyn Sink,
    meter: &mut Meter<'_>,
    len: usize,
) -> Result<(), ExportError> {
    for piece in pieces {
        match piece {
            Piece::Insert(bytes) => sink.send(bytes)?,
            Piece::Keep(range) => {
                for start in range.clone().step_by(WRITE_CHUNK) {
                    let end = (start + WRITE_CHUNK).min(range.end);
                    sink.send(&buf[start..end])?;
                    (meter.report)(Progress {
                        bytes_done: meter.done + end.min(len) as u64,
                        bytes_total: meter.total,
                    });
                }
            }
        }
    }
    Ok(())
}
