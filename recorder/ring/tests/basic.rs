//! Behaviour of the ring through its public API on the in-memory device: format, append, read,
//! wrap-around, reopen, time lookup, pins against the writer, failing closed.

use moment_ring::{
    format, Error, FaultDevice, FaultPlan, FormatOptions, MemDevice, OpenOptions, Ring,
    SegmentMeta, BLOCK,
};
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

#[test]
fn fails_closed_after_io_error() {
    let mem = small_ring(2 * MIB);
    let plan = FaultPlan {
        io_error_at: Some(20),
        ..FaultPlan::default()
    };
    let mut ring = Ring::open(FaultDevice::new(mem.clone(), plan), OpenOptions::default()).unwrap();
    let mut failed_at = None;
    for i in 1..=20 {
        match ring.append(&meta(i), &payload(i, 5000)) {
            Ok(_) => assert!(failed_at.is_none(), "append succeeded after an I/O error"),
            Err(Error::Io { .. }) => failed_at = Some(i),
            Err(Error::FailedClosed(_)) => assert!(failed_at.is_some()),
            Err(e) => panic!("unexpected {e}"),
        }
    }
    let failed_at = failed_at.expect("the injected error surfaced");
    assert!(ring.stats().failed.is_some());
    drop(ring);
    let ring = Ring::open(mem, OpenOptions::default()).unwrap();
    assert!(ring.stats().newest_seq.unwrap() >= failed_at - 1);
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
