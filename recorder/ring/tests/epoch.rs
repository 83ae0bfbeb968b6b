//! The open epoch (docs/ring-format.md "Epochs") and the format migration it came with. After a
//! power cut a sequence number that never became durable is given again; the tests here build,
//! byte by byte, the images where the header the cut left behind looked like a successor of the
//! new segment, and check that neither recovery's roll-forward nor `fsck --repair` takes it.
//! They also build a version 1 ring and check it opens, migrates and records on.

#[macro_use]
mod common;

use common::frame;
use moment_ring::{
    format, fsck, Error, FormatOptions, Geometry, MemDevice, OpenOptions, Ring, SegmentMeta, BLOCK,
    FORMAT_VERSION, SLOT_SIZE,
};
use serde::Serialize;

const MIB: u64 = 1 << 20;

fn options() -> FormatOptions {
    FormatOptions {
        slot_count: Some(32),
        max_segment_bytes: Some(256 << 10),
        ring_id: Some([9; 16]),
        ..FormatOptions::default()
    }
}

fn writable() -> OpenOptions {
    OpenOptions::default()
}

fn read_only() -> OpenOptions {
    OpenOptions {
        read_only: true,
        ..OpenOptions::default()
    }
}

/// Appends `(len, byte)` payloads and closes, so every one is durable and indexed.
fn append_all(dev: &MemDevice, payloads: &[(usize, u8)]) -> Geometry {
    let mut ring = Ring::open(dev.clone(), writable()).expect("opens");
    for &(len, byte) in payloads {
        ring.append(&SegmentMeta::default(), &vec![byte; len])
            .expect("appends");
    }
    let geometry = ring.geometry().clone();
    ring.close().expect("closes");
    geometry
}

fn zero_slot(image: &mut [u8], g: &Geometry, seq: u64) {
    let at = (g.index_off + seq % g.slot_count * SLOT_SIZE) as usize;
    image[at..at + SLOT_SIZE as usize].fill(0);
}

/// Segments 1-3 durable; 4 torn (a payload byte never landed) while 5 landed whole, and neither
/// indexed: the image a cut leaves when the card reorders writes within one flush. A ring opened
/// on it recovers 1-3 and writes a new segment 4 of `new_len` bytes of 0x66.
fn reused_seq_image(new_len: usize) -> (MemDevice, Geometry) {
    let dev = MemDevice::new(4 * MIB);
    format(&dev, &options()).expect("formats");
    let g = append_all(
        &dev,
        &[
            (20_000, 1),
            (20_000, 2),
            (20_000, 3),
            (30_000, 4),
            (30_000, 5),
        ],
    );
    let ring = Ring::open(dev.clone(), read_only()).expect("opens");
    let old4 = ring.reader().segment(4).expect("segment 4");
    drop(ring);
    let mut image = dev.written_image();
    image[(g.data_off + old4.pos + BLOCK + 100) as usize] ^= 0xff;
    zero_slot(&mut image, &g, 4);
    zero_slot(&mut image, &g, 5);
    let dev = MemDevice::from_image(image);
    let mut ring = Ring::open(dev.clone(), writable()).expect("opens after the cut");
    assert_eq!(ring.stats().newest_seq, Some(3), "4 was torn");
    let new4 = ring
        .append(&SegmentMeta::default(), &vec![0x66; new_len])
        .expect("appends");
    assert_eq!((new4.seq, new4.pos), (4, old4.pos), "4 is given again");
    ring.close().expect("closes");
    (dev, g)
}

/// The segments a ring on `dev` lists, as (seq, first payload byte).
fn contents(dev: &MemDevice) -> Vec<(u64, u8)> {
    let ring = Ring::open(dev.clone(), read_only()).expect("opens");
    let listed = common::consistent(&ring).expect("consistent");
    let mut found = Vec::new();
    let corrupt = common::check_reads(&ring, &listed, |info, data| {
        found.push((info.seq, data[0]));
        Ok(())
    })
    .expect("reads check out");
    assert_eq!(corrupt, 0);
    found
}

/// The new 4 has the old one's length, so the old 5's header sits exactly where a successor of
/// the new 4 would. Its slot write is lost too (the cut came before the next flush): recovery
/// rolls forward from 3 and must stop after the new 4, not take the old 5 as its successor.
#[test]
fn roll_forward_never_takes_a_header_an_earlier_open_left() {
    let (dev, g) = reused_seq_image(30_000);
    let mut image = dev.written_image();
    zero_slot(&mut image, &g, 4);
    let dev = MemDevice::from_image(image);
    assert_eq!(contents(&dev), [(1, 1), (2, 2), (3, 3), (4, 0x66)]);
    let ring = Ring::open(dev, writable()).expect("opens");
    assert_eq!(ring.recovery().rolled_forward, 1, "the new 4 only");
}

/// The new 4 is shorter, so the old 5 no longer follows it; a scan of the data area used to pick
/// the old 5 as the newest segment and rewrite the index to that single entry.
#[test]
fn fsck_repair_keeps_the_chain_after_a_reused_sequence_number() {
    let (dev, _) = reused_seq_image(10_000);
    let before = contents(&dev);
    assert_eq!(before, [(1, 1), (2, 2), (3, 3), (4, 0x66)]);
    let report = fsck(&dev, false).expect("checks");
    assert!(report.index_matches_scan, "{report:?}");
    let report = fsck(&dev, true).expect("repairs");
    assert_eq!(report.scanned_segments, 4, "{report:?}");
    assert_eq!(contents(&dev), before);
}

/// Every writable open takes a new epoch, and its segments carry it; a read-only open does not.
#[test]
fn every_writable_open_takes_a_new_epoch() {
    let dev = MemDevice::new(4 * MIB);
    format(&dev, &options()).expect("formats");
    for _ in 0..3 {
        append_all(&dev, &[(5_000, 1)]);
        drop(Ring::open(dev.clone(), read_only()).expect("opens"));
    }
    drop(Ring::open(dev.clone(), writable()).expect("opens"));
    append_all(&dev, &[(5_000, 2)]);
    let ring = Ring::open(dev, read_only()).expect("opens");
    let epochs: Vec<_> = ring.reader().segments().iter().map(|s| s.epoch).collect();
    assert_eq!(epochs, [1, 2, 3, 5]);
}

/// A version 1 segment record, field for field (docs/ring-format.md "Version log").
#[derive(Serialize)]
struct V1Info {
    seq: u64,
    pos: u64,
    payload_len: u32,
    payload_crc: u32,
    meta: SegmentMeta,
}

#[derive(Serialize)]
struct V1Record {
    ring_tag: u64,
    info: V1Info,
}

#[derive(Serialize)]
struct V1Tail {
    ring_tag: u64,
    generation: u64,
    oldest_seq: u64,
}

/// A ring of 1-3 as a version 1 build wrote it: the same layout, version 1 superblocks and
/// records. `second_copy` is the version of the last superblock (2: a migration that was cut
/// between the two copies).
fn version_1_ring(second_copy: u32) -> MemDevice {
    let dev = MemDevice::new(4 * MIB);
    format(&dev, &options()).expect("formats");
    let g = append_all(&dev, &[(20_000, 1), (20_000, 2), (20_000, 3)]);
    let ring = Ring::open(dev.clone(), read_only()).expect("opens");
    let segments = ring.reader().segments();
    drop(ring);
    let tag = u64::from_le_bytes([9; 8]);
    let mut image = dev.written_image();
    let block = |at: u64| (at as usize)..(at + BLOCK) as usize;
    for (copy, at) in g.superblock_offsets().into_iter().enumerate() {
        let mut old = g.clone();
        old.version = if copy == 0 { 1 } else { second_copy };
        frame(b"MOMRINGS", &old, &mut image[block(at)]);
    }
    image[block(g.tail_off)].fill(0);
    let tail = V1Tail {
        ring_tag: tag,
        generation: 7,
        oldest_seq: 1,
    };
    frame(b"MOMTAIL1", &tail, &mut image[block(g.tail_off + BLOCK)]);
    for info in &segments {
        let record = V1Record {
            ring_tag: tag,
            info: V1Info {
                seq: info.seq,
                pos: info.pos,
                payload_len: info.payload_len,
                payload_crc: info.payload_crc,
                meta: info.meta.clone(),
            },
        };
        let slot = (g.index_off + info.seq % g.slot_count * SLOT_SIZE) as usize;
        frame(
            b"MOMINDEX",
            &record,
            &mut image[slot..slot + SLOT_SIZE as usize],
        );
        frame(
            b"MOMSEGMT",
            &record,
            &mut image[block(g.data_off + info.pos)],
        );
    }
    MemDevice::from_image(image)
}

fn superblock_versions(dev: &MemDevice) -> Vec<u32> {
    let image = dev.written_image();
    [0, image.len() - BLOCK as usize]
        .into_iter()
        .map(|at| {
            // The version is the first field of the postcard body: a varint below 128.
            assert_eq!(&image[at..at + 8], b"MOMRINGS");
            u32::from(image[at + 12])
        })
        .collect()
}

/// A version 1 ring reads as epoch 0; a read-only open writes nothing; a writable open migrates
/// both superblocks and records on, the old segments still readable next to the new.
#[test]
fn a_version_1_ring_is_migrated_and_records_on() {
    for second_copy in [1, 2] {
        let dev = version_1_ring(second_copy);
        assert_eq!(superblock_versions(&dev), [1, second_copy]);
        let ring = Ring::open(dev.clone(), read_only()).expect("reads a version 1 ring");
        assert!(ring.recovery().migrated);
        drop(ring);
        assert_eq!(contents(&dev), [(1, 1), (2, 2), (3, 3)]);
        assert_eq!(superblock_versions(&dev), [1, second_copy], "read-only");
        let ring = Ring::open(dev.clone(), writable()).expect("migrates");
        assert!(ring.recovery().migrated);
        assert_eq!(ring.recovery().superblocks_damaged, 0);
        drop(ring);
        assert_eq!(superblock_versions(&dev), [FORMAT_VERSION; 2]);
        append_all(&dev, &[(20_000, 4)]);
        let ring = Ring::open(dev.clone(), read_only()).expect("opens");
        assert!(!ring.recovery().migrated);
        let epochs: Vec<_> = ring.reader().segments().iter().map(|s| s.epoch).collect();
        assert_eq!(epochs, [0, 0, 0, 2]);
        drop(ring);
        assert_eq!(contents(&dev), [(1, 1), (2, 2), (3, 3), (4, 4)]);
        let report = fsck(&dev, false).expect("checks");
        assert!(report.clean(), "{report:?}");
    }
}

/// A superblock of a version this build does not know is refused by name, never read.
#[test]
fn a_newer_version_is_refused_with_its_number() {
    let dev = MemDevice::new(4 * MIB);
    let g = format(&dev, &options()).expect("formats");
    let mut image = dev.written_image();
    for at in g.superblock_offsets() {
        let mut newer = g.clone();
        newer.version = FORMAT_VERSION + 1;
        frame(
            b"MOMRINGS",
            &newer,
            &mut image[at as usize..(at + BLOCK) as usize],
        );
    }
    let dev = MemDevice::from_image(image);
    match Ring::open(dev, read_only()) {
        Err(e @ Error::UnsupportedVersion { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains(&format!("version {}", FORMAT_VERSION + 1)),
                "{text}"
            );
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened a ring of a newer format"),
    }
}
