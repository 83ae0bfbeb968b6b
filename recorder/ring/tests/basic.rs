//! Behaviour of the ring through its public API on the in-memory device: format, append, read,
//! wrap-around, reopen, time lookup, pins against the writer, failing closed, and when appended
//! segments become durable and visible (durable_seq, flush, drop).

mod gate;

use gate::Gate;
use moment_ring::{
    format, Device, Error, FaultDevice, FaultPlan, FormatOptions, MemDevice, OpenOptions, Ring,
    SegmentMeta, BLOCK,
};
use std::io;
use std::time::Duration;

const MIB: u64 = 1 << 20;

fn small_ring(len: u64) -> MemDevice {
    let dev = MemDevice::new(len);
    let options = FormatOptions {
        max_segment_bytes: Some(256 << 10),
        slot_count: Some(64),
        ..FormatOptions::default()
    };
    format(&dev, &options).unwrap();
    dev
}

fn meta(i: u64) -> SegmentMeta {
    SegmentMeta {
        utc_start_us: 1_700_000_000_000_000 + i as i64 * 5_000_000,
        mono_start_us: i * 5_000_000,
        duration_us: 5_000_000,
        ..SegmentMeta::default()
    }
}

fn payload(i: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|b| (b as u64).wrapping_mul(31).wrapping_add(i * 7) as u8)
        .collect()
}

/// Waits (at most 5 s) for the I/O thread to get somewhere.
fn wait_until(done: impl Fn() -> bool) {
    for _ in 0..5000 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("the I/O thread never got there");
}

#[test]
fn append_read_reopen() {
    let dev = small_ring(4 * MIB);
    let mut ring = Ring::open(dev.clone(), OpenOptions::default()).unwrap();
    assert_eq!(ring.stats().segment_count, 0);
    for i in 1..=5 {
        let info = ring
            .append(&meta(i), &payload(i, 1000 * i as usize))
            .unwrap();
        assert_eq!(info.seq, i);
    }
    ring.flush().unwrap();
    assert_eq!(ring.durable_seq(), 5);
    let reader = ring.reader();
    let (info, data) = reader.read(3).unwrap();
    assert_eq!(&data[..], &payload(3, 3000)[..]);
    assert_eq!(info.meta, meta(3));
    drop((ring, reader));
    let ring = Ring::open(dev, OpenOptions::default()).unwrap();
    let stats = ring.stats();
    assert_eq!(
        (stats.oldest_seq, stats.newest_seq, stats.segment_count),
        (1, Some(5), 5)
    );
    assert_eq!(ring.recovery().rolled_forward, 0);
    assert!(!ring.recovery().repaired);
    assert_eq!(&ring.reader().read(5).unwrap().1[..], &payload(5, 5000)[..]);
}

#[test]
fn wraps_around_and_keeps_newest() {
    let dev = small_ring(2 * MIB);
    let mut ring = Ring::open(dev.clone(), OpenOptions::default()).unwrap();
    let capacity = ring.geometry().data_len;
    let mut total = 0;
    let mut i = 0;
    while total < 5 * capacity {
        i += 1;
        let len = 1 + (i * 7919) % (200 << 10);
        ring.append(&meta(i), &payload(i, len as usize)).unwrap();
        total += len;
    }
    ring.flush().unwrap();
    let stats = ring.stats();
    assert_eq!(stats.newest_seq, Some(i));
    assert!(stats.used_bytes <= capacity);
    assert!(stats.oldest_seq > 1);
    let reader = ring.reader();
    for seq in stats.oldest_seq..=i {
        let (_, data) = reader.read(seq).unwrap();
        let len = 1 + (seq * 7919) % (200 << 10);
        assert_eq!(&data[..], &payload(seq, len as usize)[..], "seq {seq}");
    }
    assert!(matches!(reader.read(1), Err(Error::NoSuchSegment { .. })));
    drop((ring, reader));
    let ring = Ring::open(dev, OpenOptions::default()).unwrap();
    assert_eq!(ring.stats(), stats);
}

#[test]
fn time_lookup() {
    let dev = small_ring(4 * MIB);
    let mut ring = Ring::open(dev, OpenOptions::default()).unwrap();
    for i in 1..=10 {
        ring.append(&meta(i), &payload(i, 100)).unwrap();
    }
    ring.flush().unwrap();
    let base = 1_700_000_000_000_000i64;
    let found = ring
        .reader()
        .segments_between(base + 12_000_000, base + 21_000_000);
    let seqs: Vec<u64> = found.iter().map(|s| s.seq).collect();
    assert_eq!(seqs, vec![2, 3, 4]);
}

#[test]
fn slow_reader_gets_an_error_not_torn_data() {
    let dev = small_ring(2 * MIB);
    let mut ring = Ring::open(
        dev,
        OpenOptions {
            pin_wait: Duration::from_millis(50),
            ..OpenOptions::default()
        },
    )
    .unwrap();
    ring.append(&meta(1), &payload(1, 200 << 10)).unwrap();
    ring.flush().unwrap();
    let reader = ring.reader();
    let pin = reader.pin(1, 1).unwrap();
    let mut i = 1;
    while ring.stats().oldest_seq == 1 {
        i += 1;
        ring.append(&meta(i), &payload(i, 200 << 10)).unwrap();
        assert!(i < 100, "the writer never reclaimed the pinned segment");
    }
    let mut buf = moment_ring::AlignedBuf::new(0);
    assert!(matches!(
        pin.read(1, &mut buf),
        Err(Error::ReaderTooSlow { seq: 1 })
    ));
}

#[test]
fn writer_waits_for_a_reader_that_finishes_in_time() {
    let dev = small_ring(2 * MIB);
    let mut ring = Ring::open(dev, OpenOptions::default()).unwrap();
    ring.append(&meta(1), &payload(1, 200 << 10)).unwrap();
    ring.flush().unwrap();
    let reader = ring.reader();
    let pin = reader.pin(1, 1).unwrap();
    let handle = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let mut buf = moment_ring::AlignedBuf::new(0);
        let result = pin.read(1, &mut buf).map(|_| buf.to_vec());
        drop(pin);
        result
    });
    let mut i = 1;
    while ring.stats().oldest_seq == 1 {
        i += 1;
        ring.append(&meta(i), &payload(i, 200 << 10)).unwrap();
        assert!(i < 100);
    }
    assert_eq!(handle.join().unwrap().unwrap(), payload(1, 200 << 10));
}

/// An I/O error at any operation of the I/O thread (write, flush, wait) surfaces as `Io` once,
/// then `FailedClosed`; nothing reported durable is lost.
#[test]
fn fails_closed_after_io_error() {
    let counter = FaultDevice::new(small_ring(2 * MIB), FaultPlan::default());
    let open_ops = {
        drop(Ring::open(&counter, OpenOptions::default()).unwrap());
        counter.ops()
    };
    for error_at in [0, 1, 2, 3, 4, 5, 6, 9, 14, 20].map(|n| open_ops + n) {
        let mem = small_ring(2 * MIB);
        let plan = FaultPlan {
            io_error_at: Some(error_at),
            sync_lag_ops: 2,
            ..FaultPlan::default()
        };
        let dev = FaultDevice::new(mem.clone(), plan);
        let mut ring = Ring::open(dev, OpenOptions::default()).unwrap();
        let mut io_errors = 0;
        for i in 1..=20 {
            match ring.append(&meta(i), &payload(i, 5000)) {
                Ok(_) => assert_eq!(io_errors, 0, "append succeeded after an I/O error"),
                Err(Error::Io { .. }) => io_errors += 1,
                Err(Error::FailedClosed(_)) => assert_eq!(io_errors, 1),
                Err(e) => panic!("unexpected {e}"),
            }
        }
        let flushed = ring.flush();
        match io_errors {
            0 => assert!(matches!(flushed, Err(Error::Io { .. })), "op {error_at}"),
            _ => assert!(
                matches!(flushed, Err(Error::FailedClosed(_))),
                "op {error_at}"
            ),
        }
        assert!(matches!(ring.flush(), Err(Error::FailedClosed(_))));
        assert!(ring.stats().failed.is_some());
        let durable = ring.durable_seq();
        drop(ring);
        let ring = Ring::open(mem, OpenOptions::default()).unwrap();
        assert!(ring.stats().newest_seq.unwrap_or(0) >= durable);
    }
}

/// `append` returns before the segment is durable; readers see it only once it is, and `flush`
/// makes everything durable and indexed.
#[test]
fn durable_seq_and_flush() {
    let gate = Gate::new(small_ring(2 * MIB));
    let mut ring = Ring::open(gate.clone(), OpenOptions::default()).unwrap();
    assert_eq!(ring.durable_seq(), 0);
    for i in 1..=3 {
        ring.append(&meta(i), &payload(i, 3000)).unwrap();
    }
    // Segment 3's flush is held back by the gate, so it cannot be durable yet.
    assert!(ring.durable_seq() < 3);
    let reader = ring.reader();
    let visible = reader.stats().newest_seq.unwrap_or(0);
    assert!(visible <= ring.durable_seq());
    assert!(matches!(reader.read(3), Err(Error::NoSuchSegment { .. })));
    assert!(reader.segment(3).is_none());
    ring.flush().unwrap();
    assert_eq!(ring.durable_seq(), 3);
    assert_eq!(reader.stats().newest_seq, Some(3));
    assert_eq!(&reader.read(3).unwrap().1[..], &payload(3, 3000)[..]);
    // Flushed means indexed: the next open has nothing to roll forward.
    drop((ring, reader));
    let ring = Ring::open(gate.mem(), OpenOptions::default()).unwrap();
    assert_eq!(ring.stats().newest_seq, Some(3));
    assert_eq!(ring.recovery().rolled_forward, 0);
}

/// Background flushes finish on their own (here: when released), and `durable_seq` follows
/// without any further call into the ring.
#[test]
fn durable_seq_advances_when_the_flush_finishes() {
    let gate = Gate::new(small_ring(2 * MIB));
    let mut ring = Ring::open(gate.clone(), OpenOptions::default()).unwrap();
    ring.append(&meta(1), &payload(1, 3000)).unwrap();
    wait_until(|| gate.held() == 1);
    assert_eq!(ring.durable_seq(), 0);
    gate.release();
    assert_eq!(ring.durable_seq(), 1);
    assert_eq!(ring.reader().stats().newest_seq, Some(1));
}

/// Dropping or closing the ring flushes: everything appended is durable and indexed.
#[test]
fn drop_and_close_flush() {
    let dev = small_ring(2 * MIB);
    let mut ring = Ring::open(dev.clone(), OpenOptions::default()).unwrap();
    for i in 1..=4 {
        ring.append(&meta(i), &payload(i, 7000)).unwrap();
    }
    drop(ring);
    let ring = Ring::open(dev.clone(), OpenOptions::default()).unwrap();
    assert_eq!(ring.stats().newest_seq, Some(4));
    assert_eq!(ring.recovery().rolled_forward, 0);
    drop(ring);
    // Segment 5 is durable before close (its flush finished), but its slot is not written yet.
    let gate = Gate::new(dev.clone());
    let mut ring = Ring::open(gate.clone(), OpenOptions::default()).unwrap();
    ring.append(&meta(5), &payload(5, 7000)).unwrap();
    wait_until(|| gate.held() == 1);
    gate.release();
    assert_eq!(ring.durable_seq(), 5);
    ring.close().unwrap();
    // Whatever a power cut now leaves (unsynced sectors old or new), it is all there, indexed.
    for seed in 0..8 {
        let image = MemDevice::from_image(dev.crash_image(seed));
        let ring = Ring::open(image, OpenOptions::default()).unwrap();
        assert_eq!(ring.stats().newest_seq, Some(5));
        assert_eq!(ring.recovery().rolled_forward, 0);
    }
}

/// A background flush that fails closes the ring: the error once, then `FailedClosed`, and the
/// segment it covered never becomes durable or visible.
#[test]
fn fails_closed_after_a_failed_flush() {
    let gate = Gate::new(small_ring(2 * MIB));
    let mut ring = Ring::open(gate.clone(), OpenOptions::default()).unwrap();
    ring.append(&meta(1), &payload(1, 3000)).unwrap();
    ring.flush().unwrap();
    gate.fail_next_flush();
    ring.append(&meta(2), &payload(2, 3000)).unwrap();
    let first = ring.flush();
    assert!(matches!(first, Err(Error::Io { .. })), "{first:?}");
    assert!(matches!(
        ring.append(&meta(3), &payload(3, 3000)),
        Err(Error::FailedClosed(_))
    ));
    assert!(matches!(ring.flush(), Err(Error::FailedClosed(_))));
    assert_eq!(ring.durable_seq(), 1);
    assert_eq!(ring.reader().stats().newest_seq, Some(1));
    assert!(ring.stats().failed.is_some());
    // Nothing was written after the failed flush: no index slot for segment 2.
    assert_eq!(gate.writes_after_failure(), 0);
}

/// A device that offers no I/O handle: the ring performs every operation inline, in the same
/// order, so each append is durable when it returns.
struct Plain(MemDevice);

impl Device for Plain {
    fn len(&self) -> u64 {
        self.0.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.0.read_at(offset, buf)
    }
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.0.write_at(offset, buf)
    }
    fn sync(&self) -> io::Result<()> {
        self.0.sync()
    }
    fn name(&self) -> String {
        "plain".to_string()
    }
}

#[test]
fn appends_inline_without_an_io_handle() {
    let dev = small_ring(2 * MIB);
    let mut ring = Ring::open(Plain(dev.clone()), OpenOptions::default()).unwrap();
    for i in 1..=3 {
        ring.append(&meta(i), &payload(i, 9000)).unwrap();
        assert_eq!(ring.durable_seq(), i);
    }
    ring.close().unwrap();
    let ring = Ring::open(
        MemDevice::from_image(dev.crash_image(1)),
        OpenOptions::default(),
    );
    let ring = ring.unwrap();
    assert_eq!(ring.stats().newest_seq, Some(3));
    assert_eq!(ring.recovery().rolled_forward, 0);
}

/// A borrowed device works for writing too (the I/O thread gets the device's own handle).
#[test]
fn appends_through_a_borrowed_device() {
    let dev = small_ring(2 * MIB);
    let mut ring = Ring::open(&dev, OpenOptions::default()).unwrap();
    for i in 1..=3 {
        ring.append(&meta(i), &payload(i, 9000)).unwrap();
    }
    ring.flush().unwrap();
    assert_eq!(&ring.reader().read(2).unwrap().1[..], &payload(2, 9000)[..]);
}

#[test]
fn rejects_bad_segments_and_foreign_devices() {
    let dev = small_ring(2 * MIB);
    let mut ring = Ring::open(dev.clone(), OpenOptions::default()).unwrap();
    assert!(matches!(
        ring.append(&meta(1), &[]),
        Err(Error::InvalidSegment(_))
    ));
    let too_big = vec![0u8; 256 << 10];
    assert!(matches!(
        ring.append(&meta(1), &too_big),
        Err(Error::SegmentTooLarge { .. })
    ));
    assert!(matches!(
        format(&dev, &FormatOptions::default()),
        Err(Error::HoldsData { .. })
    ));
    let blank = MemDevice::new(2 * MIB);
    assert!(matches!(
        Ring::open(blank, OpenOptions::default()),
        Err(Error::NotARing { .. })
    ));
    let tiny = MemDevice::new(64 * BLOCK);
    assert!(matches!(
        format(&tiny, &FormatOptions::default()),
        Err(Error::TooSmall { .. })
    ));
}

/// A card replaced by a smaller one (or the ring image copied onto one): the superblock says
/// how long the ring is, so the open refuses with both sizes, never reads past the device and
/// never takes the leftover for a ring of another size.
#[test]
fn a_device_smaller_than_its_ring_is_refused() {
    let dev = small_ring(4 * MIB);
    let mut ring = Ring::open(dev.clone(), OpenOptions::default()).unwrap();
    ring.append(&meta(1), &payload(1, 9000)).unwrap();
    ring.close().unwrap();
    let mut image = dev.written_image();
    image.truncate((3 * MIB) as usize);
    match Ring::open(MemDevice::from_image(image.clone()), OpenOptions::default()) {
        Err(e @ Error::DeviceShrunk { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&(4 * MIB).to_string()), "{text}");
            assert!(text.contains(&(3 * MIB).to_string()), "{text}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened a ring on a device smaller than it"),
    }
    // With the first superblock gone too, nothing says a ring was here.
    image[..BLOCK as usize].fill(0);
    assert!(matches!(
        Ring::open(MemDevice::from_image(image), OpenOptions::default()),
        Err(Error::NotARing { .. })
    ));
}

/// Recovery's own index writes, cut anywhere with every unsynced sector kept, lost or torn: two
/// rolled-forward segments whose slots sit in different sectors of one block. Written as one
/// block with one sync, a cut could keep the newer slot and lose the older, and the next open
/// walked back from the newer one, stopped at the gap and lost everything before it.
#[test]
fn a_recovery_cut_while_it_writes_slots_keeps_every_segment() {
    let dev = MemDevice::new(4 * MIB);
    let options = FormatOptions {
        max_segment_bytes: Some(256 << 10),
        slot_count: Some(32),
        ..FormatOptions::default()
    };
    let g = format(&dev, &options).unwrap();
    let mut ring = Ring::open(dev.clone(), OpenOptions::default()).unwrap();
    for i in 1..=4 {
        ring.append(&meta(i), &payload(i, 9000)).unwrap();
    }
    ring.close().unwrap();
    // Slots 3 and 4 lost (bytes 384.. and 512..: sectors 0 and 1 of the block): both roll forward.
    let mut image = dev.written_image();
    let slot = |seq: u64| (g.index_off + seq * 128) as usize;
    image[slot(3)..slot(5)].fill(0);
    let mut cuts = 0;
    for cut_at in 0..24 {
        for seed in 0..16 {
            let mem = MemDevice::from_image(image.clone());
            let plan = FaultPlan {
                seed,
                power_cut_at: Some(cut_at),
                ..FaultPlan::default()
            };
            let faulty = FaultDevice::new(mem.clone(), plan);
            if Ring::open(&faulty, OpenOptions::default()).is_ok() {
                break; // the open finished before op `cut_at`
            }
            cuts += 1;
            let powered_up = MemDevice::from_image(mem.crash_image(seed));
            let ring = Ring::open(powered_up, OpenOptions::default()).unwrap();
            let seqs: Vec<u64> = ring.reader().segments().iter().map(|s| s.seq).collect();
            assert_eq!(seqs, [1, 2, 3, 4], "cut at op {cut_at}, seed {seed}");
            assert_eq!(ring.recovery().lost, 0, "cut at op {cut_at}, seed {seed}");
        }
    }
    assert!(cuts > 100, "only {cuts} opens were cut");
}
