//! The hand-off between the capture thread and the ring writer: a stalled writer must never block
//! the producer (and so the camera's pipe); drops are counted and the next segment that gets in
//! is flagged as a discontinuity.

mod common;

use common::*;
use moment_media::{segment_queue, RecvError, Segment, Segmenter, SegmenterConfig, Sent};
use moment_ring::{flags, SegmentMeta};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

fn segment(n: u64, len: usize) -> Segment {
    Segment {
        payload: vec![n as u8; len],
        meta: SegmentMeta {
            mono_start_us: n,
            ..SegmentMeta::default()
        },
        injected_len: 0,
        keyframes: Vec::new(),
    }
}

#[test]
fn full_queue_drops_the_new_segment_and_flags_the_next() {
    let (tx, rx) = segment_queue(3, usize::MAX);
    for n in 0..10 {
        let expected = if n < 3 { Sent::Queued } else { Sent::Dropped };
        assert_eq!(tx.send(segment(n, 1000)), expected);
    }
    let stats = tx.stats();
    assert_eq!(
        (stats.queued, stats.dropped_segments, stats.dropped_bytes),
        (3, 7, 7000)
    );
    assert_eq!((stats.depth, stats.depth_bytes), (3, 3000));
    for n in 0..3 {
        let s = rx.try_recv().unwrap();
        assert_eq!(s.meta.mono_start_us, n, "oldest first, none replaced");
        assert_eq!(s.meta.flags, 0);
    }
    assert!(rx.try_recv().is_none());
    assert_eq!(tx.send(segment(10, 1000)), Sent::Queued);
    assert_eq!(tx.send(segment(11, 1000)), Sent::Queued);
    assert_eq!(rx.try_recv().unwrap().meta.flags, flags::DISCONTINUITY);
    assert_eq!(
        rx.try_recv().unwrap().meta.flags,
        0,
        "only the first after the gap"
    );
    assert_eq!(rx.stats().delivered, 5);
}

#[test]
fn byte_limit_and_oversized_segment() {
    let (tx, rx) = segment_queue(10, 250);
    assert_eq!(tx.send(segment(0, 100)), Sent::Queued);
    assert_eq!(tx.send(segment(1, 100)), Sent::Queued);
    assert_eq!(tx.send(segment(2, 100)), Sent::Dropped);
    rx.try_recv().unwrap();
    rx.try_recv().unwrap();
    assert_eq!(
        tx.send(segment(3, 1000)),
        Sent::Queued,
        "an empty queue takes any segment"
    );
    assert_eq!(tx.send(segment(4, 1)), Sent::Dropped);
}

#[test]
fn disconnection_and_timeout() {
    let (tx, rx) = segment_queue(2, usize::MAX);
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(20)),
        Err(RecvError::Timeout)
    );
    tx.send(segment(0, 10));
    drop(tx);
    assert!(
        rx.recv_timeout(Duration::from_secs(5)).is_ok(),
        "queued segments still arrive"
    );
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)),
        Err(RecvError::Disconnected)
    );
    let (tx, rx) = segment_queue(2, usize::MAX);
    drop(rx);
    assert_eq!(tx.send(segment(0, 10)), Sent::Disconnected);
}

#[test]
fn consumer_wakes_on_send() {
    let (tx, rx) = segment_queue(2, usize::MAX);
    let consumer = thread::spawn(move || rx.recv_timeout(Duration::from_secs(30)));
    thread::sleep(Duration::from_millis(50));
    tx.send(segment(7, 10));
    assert_eq!(consumer.join().unwrap().unwrap().meta.mono_start_us, 7);
}

/// A ring writer that does not read at all until the capture side has pushed a whole stream: if
/// the capture side ever waited for it, the test would fail at the timeout instead of hanging.
#[test]
fn stalled_writer_never_blocks_capture() {
    let data = if have_ffmpeg() {
        fixture(&Spec::new(640, 360, 12, 30))
    } else {
        Rng::new(1).bytes(4 << 20)
    };
    let (tx, rx) = segment_queue(1, usize::MAX);
    let (done_tx, done_rx) = mpsc::channel();
    let capture = thread::spawn(move || {
        let mut segmenter = Segmenter::new(SegmenterConfig::default()).unwrap();
        let mut results = Vec::new();
        for (i, piece) in data.chunks(65536).enumerate() {
            for s in segmenter.push(piece, clock(i as u64)) {
                results.push(tx.send(s));
            }
        }
        for s in segmenter.finish(clock(9999)) {
            results.push(tx.send(s));
        }
        done_tx.send(()).unwrap();
        (results, tx)
    });
    done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("capture blocked on the stalled writer");
    let (results, tx) = capture.join().unwrap();
    let queued = results.iter().filter(|r| **r == Sent::Queued).count();
    let dropped = results.iter().filter(|r| **r == Sent::Dropped).count();
    assert_eq!(queued, 1);
    assert_eq!(dropped, results.len() - 1);
    assert_eq!(tx.stats().dropped_segments, dropped as u64);
    if have_ffmpeg() {
        assert_eq!(results.len(), 3);
        assert!(tx.stats().dropped_bytes > 0);
    }
    let first = rx.try_recv().unwrap();
    assert_eq!(first.meta.flags & flags::DISCONTINUITY, 0);
    assert!(rx.try_recv().is_none());
}
