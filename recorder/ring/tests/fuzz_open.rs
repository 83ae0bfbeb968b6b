//! Fuzzing everything that reads a device the ring did not necessarily write: `Ring::open` and
//! `fsck` must never panic, whatever the bytes (DESIGN.md §3, §11: "open never panics on any
//! input"). Inputs are random devices and real rings damaged at arbitrary offsets, including
//! CRC-valid records with hostile contents, because a checksum only proves that someone wrote the
//! frame, not that it makes sense. Whatever opens must be self-consistent and must never return
//! bytes that fail their CRC.

#[macro_use]
mod common;

use common::frame;

use moment_ring::device::SplitMix64;
use moment_ring::{
    format, fsck, FaultDevice, FaultPlan, FormatOptions, Geometry, KeyframePos, MemDevice,
    OpenOptions, Ring, SegmentInfo, SegmentMeta, BLOCK, SLOT_SIZE,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde::Serialize;

const MIB: u64 = 1 << 20;

// Frame magics from docs/ring-format.md; the fuzzer plants records the engine will accept.
const SUPERBLOCK_MAGIC: &[u8; 8] = b"MOMRINGS";
const TAIL_MAGIC: &[u8; 8] = b"MOMTAIL2";
const SLOT_MAGIC: &[u8; 8] = b"MOMINDX2";
const HEADER_MAGIC: &[u8; 8] = b"MOMSEGM2";

/// The on-disk index slot record, field for field.
#[derive(Serialize)]
struct SegmentRecord {
    ring_tag: u64,
    info: SegmentInfo,
}

/// The on-disk segment header record, field for field.
#[derive(Serialize)]
struct HeaderRecord {
    ring_tag: u64,
    info: SegmentInfo,
    prev_epoch: u64,
    keyframes: Vec<KeyframePos>,
}

/// The on-disk tail pointer, field for field.
#[derive(Serialize)]
struct TailRecord {
    ring_tag: u64,
    generation: u64,
    oldest_seq: u64,
    epoch: u64,
}

/// Fixed cases and seed so CI sees the same inputs every run; PROPTEST_RNG_SEED and
/// PROPTEST_CASES explore further.
fn config(cases: u32) -> Config {
    let defaults = Config::default();
    let rng_seed = match defaults.rng_seed {
        RngSeed::Random => RngSeed::Fixed(0x6D6F_6D65_6E74),
        chosen => chosen,
    };
    let cases = match std::env::var_os("PROPTEST_CASES") {
        Some(_) => defaults.cases,
        None => cases,
    };
    Config {
        cases,
        rng_seed,
        failure_persistence: None,
        ..defaults
    }
}

/// A number chosen by kind, resolved against a scale from the ring so it lands near the edges.
#[derive(Clone, Debug)]
enum Pick {
    Small(u64),
    Edge(u8),
    Block(u64),
    Any(u64),
}

impl Pick {
    fn resolve(&self, scale: u64) -> u64 {
        match self {
            Pick::Small(v) | Pick::Any(v) => *v,
            Pick::Block(v) => v % (scale / BLOCK + 1) * BLOCK,
            Pick::Edge(e) => {
                let edges = [
                    0,
                    1,
                    scale.saturating_sub(1),
                    scale,
                    scale.saturating_add(1),
                    u64::MAX / 2 - 1,
                    u64::MAX / 2,
                    u64::MAX - 1,
                    u64::MAX,
                ];
                edges[usize::from(*e) % edges.len()]
            }
        }
    }
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        (0u64..300).prop_map(Pick::Small),
        any::<u8>().prop_map(Pick::Edge),
        any::<u64>().prop_map(Pick::Block),
        any::<u64>().prop_map(Pick::Any),
    ]
}

/// A segment record's fields, for planting in a slot or a header block.
#[derive(Clone, Debug)]
struct InfoPick {
    seq: Pick,
    pos: Pick,
    len: Pick,
    crc: u32,
}

fn info_pick() -> impl Strategy<Value = InfoPick> {
    (pick(), pick(), pick(), any::<u32>()).prop_map(|(seq, pos, len, crc)| InfoPick {
        seq,
        pos,
        len,
        crc,
    })
}

/// One kind of damage.
#[derive(Clone, Debug)]
enum Damage {
    /// Arbitrary bytes at an arbitrary offset of the device.
    Bytes { at: u64, bytes: Vec<u8> },
    /// Arbitrary bytes inside one area: 0 superblocks, 1 tail, 2 index, 3 data.
    InArea { area: u8, at: u64, bytes: Vec<u8> },
    /// One block copied over another, as a misdirected or stale write leaves it.
    CopyBlock { from: u64, to: u64 },
    /// A valid tail record with chosen contents.
    Tail {
        block: bool,
        generation: Pick,
        oldest: Pick,
    },
    /// A valid index slot with chosen contents.
    Slot { slot: Pick, info: InfoPick },
    /// A valid segment header with chosen contents, at a chosen block of the data area.
    Header { at: Pick, info: InfoPick },
    /// Valid superblocks (one or both copies) with one field changed.
    Superblock { copies: u8, field: u8, value: Pick },
}

fn damage() -> impl Strategy<Value = Damage> {
    let bytes = || proptest::collection::vec(any::<u8>(), 1..512);
    prop_oneof![
        (any::<u64>(), bytes()).prop_map(|(at, bytes)| Damage::Bytes { at, bytes }),
        (0u8..4, any::<u64>(), bytes()).prop_map(|(area, at, bytes)| Damage::InArea {
            area,
            at,
            bytes
        }),
        (any::<u64>(), any::<u64>()).prop_map(|(from, to)| Damage::CopyBlock { from, to }),
        (any::<bool>(), pick(), pick()).prop_map(|(block, generation, oldest)| Damage::Tail {
            block,
            generation,
            oldest
        }),
        (pick(), info_pick()).prop_map(|(slot, info)| Damage::Slot { slot, info }),
        (pick(), info_pick()).prop_map(|(at, info)| Damage::Header { at, info }),
        (0u8..3, 0u8..9, pick()).prop_map(|(copies, field, value)| Damage::Superblock {
            copies,
            field,
            value
        }),
    ]
}

/// A real ring drawn from `seed`: 1-2 MiB, a few dozen segments (usually wrapped), and half the
/// time cut off mid-append with the torn image a power cut leaves.
fn base_ring(seed: u64) -> (Vec<u8>, Geometry, u64) {
    let mut rng = SplitMix64(seed);
    let len = MIB + rng.below(MIB / BLOCK + 1) * BLOCK;
    let options = FormatOptions {
        slot_count: Some(8 + rng.below(64)),
        max_segment_bytes: Some(64 * 1024 + rng.below(len / 5 - 64 * 1024)),
        ring_id: Some([seed as u8; 16]),
        ..FormatOptions::default()
    };
    let mem = MemDevice::new(len);
    let geometry = format(&mem, &options).expect("fuzz base ring formats");
    let appends = rng.below(80);
    // Opening a fresh ring is deterministic: count its operations so the cut lands in an append.
    let counter = FaultDevice::new(mem.clone(), FaultPlan::default());
    drop(Ring::open(&counter, OpenOptions::default()).expect("fresh ring opens"));
    let plan = FaultPlan {
        seed,
        power_cut_at: (rng.below(2) == 0).then(|| counter.ops() + rng.below(6 * appends + 10)),
        sync_lag_ops: 4,
        ..FaultPlan::default()
    };
    let fault = FaultDevice::new(mem.clone(), plan);
    let mut ring = Ring::open(fault, OpenOptions::default()).expect("fresh ring opens");
    let mut newest = 0;
    for i in 0..appends {
        let payload = vec![i as u8; 1 + rng.below(geometry.max_payload_bytes()) as usize];
        match ring.append(&SegmentMeta::default(), &payload) {
            Ok(info) => newest = info.seq,
            Err(_) => break, // the power cut
        }
    }
    drop(ring);
    (mem.crash_image(seed), geometry, newest)
}

/// Applies `damage` to the image of a ring with `geometry` whose newest seq is about `newest`.
fn apply(image: &mut [u8], g: &Geometry, newest: u64, damage: &Damage) {
    let len = image.len() as u64;
    let tag = u64::from_le_bytes(g.ring_id[..8].try_into().expect("8 bytes"));
    match damage {
        Damage::Bytes { at, bytes } => put(image, at % len, bytes),
        Damage::InArea { area, at, bytes } => {
            let (start, size) = match area {
                0 => ([0, g.device_len - BLOCK][(at % 2) as usize], BLOCK),
                1 => (g.tail_off, 2 * BLOCK),
                2 => (g.index_off, g.slot_count * SLOT_SIZE),
                _ => (g.data_off, g.data_len),
            };
            put(image, start + at % size, bytes);
        }
        Damage::CopyBlock { from, to } => {
            let blocks = len / BLOCK;
            let (from, to) = (
                (from % blocks * BLOCK) as usize,
                (to % blocks * BLOCK) as usize,
            );
            image.copy_within(from..from + BLOCK as usize, to);
        }
        Damage::Tail {
            block,
            generation,
            oldest,
        } => {
            let tail = TailRecord {
                ring_tag: tag,
                generation: generation.resolve(newest),
                oldest_seq: oldest.resolve(newest),
                // Hostile epochs too: from 0 to the top of u64.
                epoch: generation.resolve(newest) / 2,
            };
            let at = (g.tail_off + u64::from(*block) * BLOCK) as usize;
            frame(TAIL_MAGIC, &tail, &mut image[at..at + BLOCK as usize]);
        }
        Damage::Slot { slot, info } => {
            let at = (g.index_off + slot.resolve(g.slot_count) % g.slot_count * SLOT_SIZE) as usize;
            let record = record(tag, info, g, newest);
            frame(SLOT_MAGIC, &record, &mut image[at..at + SLOT_SIZE as usize]);
        }
        Damage::Header { at, info } => {
            let block = at.resolve(g.data_len) % g.data_len / BLOCK * BLOCK;
            let at = (g.data_off + block) as usize;
            let record = record(tag, info, g, newest);
            let header = HeaderRecord {
                prev_epoch: record.info.epoch.saturating_sub(u64::from(info.crc % 2)),
                keyframes: (0..info.crc % 4)
                    .map(|i| KeyframePos {
                        pts_offset: i,
                        byte_offset: i * 188,
                    })
                    .collect(),
                ring_tag: record.ring_tag,
                info: record.info,
            };
            frame(HEADER_MAGIC, &header, &mut image[at..at + BLOCK as usize]);
        }
        Damage::Superblock {
            copies,
            field,
            value,
        } => superblock(image, g, *copies, *field, value),
    }
}

fn put(image: &mut [u8], at: u64, bytes: &[u8]) {
    let at = at as usize;
    let end = (at + bytes.len()).min(image.len());
    image[at..end].copy_from_slice(&bytes[..end - at]);
}

fn record(tag: u64, info: &InfoPick, g: &Geometry, newest: u64) -> SegmentRecord {
    SegmentRecord {
        ring_tag: tag,
        info: SegmentInfo {
            seq: info.seq.resolve(newest),
            // The base ring was opened twice: epochs 1 and 2 are its own, 3 is from the future.
            epoch: u64::from(info.crc % 4),
            pos: info.pos.resolve(g.data_len),
            payload_len: info.len.resolve(g.max_payload_bytes()) as u32,
            payload_crc: info.crc,
            meta: SegmentMeta::default(),
        },
    }
}

/// Rewrites superblock copies (first, last or both) with one geometry field changed.
fn superblock(image: &mut [u8], g: &Geometry, copies: u8, field: u8, value: &Pick) {
    let mut changed = g.clone();
    match field {
        0 => changed.device_len = value.resolve(g.device_len),
        1 => changed.tail_off = value.resolve(g.tail_off),
        2 => changed.index_off = value.resolve(g.index_off),
        3 => changed.slot_count = value.resolve(g.slot_count),
        4 => changed.data_off = value.resolve(g.data_off),
        5 => changed.data_len = value.resolve(g.data_len),
        6 => changed.max_segment_bytes = value.resolve(g.max_segment_bytes),
        7 => changed.version = value.resolve(u64::from(g.version)) as u32,
        _ => changed.ring_id[0] ^= value.resolve(255) as u8 | 1,
    }
    plant_superblocks(image, &changed, g.device_len, [copies != 1, copies != 0]);
}

/// Writes `g` as the first and/or last superblock copy of a ring `device_len` bytes long.
fn plant_superblocks(image: &mut [u8], g: &Geometry, device_len: u64, copies: [bool; 2]) {
    for (at, wanted) in [0, device_len - BLOCK].into_iter().zip(copies) {
        if wanted {
            let at = at as usize;
            frame(SUPERBLOCK_MAGIC, g, &mut image[at..at + BLOCK as usize]);
        }
    }
}

/// Everything that reads a device, on `image`: open (writable, then read-only) and fsck (checking,
/// then repairing). Nothing may panic; what opens must hold together.
fn exercise(image: &[u8]) -> Result<(), String> {
    opened(image, false)?;
    opened(image, true)?;
    checked(image)?;
    repaired(image)
}

/// If the ring opens, it is consistent, every listed segment reads back valid or `Corrupt`, and
/// (writable) an append lands right after the newest.
fn opened(image: &[u8], read_only: bool) -> Result<(), String> {
    let options = OpenOptions {
        read_only,
        ..OpenOptions::default()
    };
    let Ok(mut ring) = Ring::open(MemDevice::from_image(image.to_vec()), options) else {
        return Ok(());
    };
    let listed = common::consistent(&ring)?;
    common::check_reads(&ring, &listed, |_, _| Ok(()))?;
    if read_only {
        return Ok(());
    }
    moment_ring::audit::append_after_open(&mut ring)?;
    Ok(())
}

/// fsck without repair accounts for every segment it was given.
fn checked(image: &[u8]) -> Result<(), String> {
    let Ok(report) = fsck(&MemDevice::from_image(image.to_vec()), false) else {
        return Ok(());
    };
    ensure!(
        report.verified + report.corrupt_count == report.segments,
        "fsck report does not add up: {report:?}"
    );
    Ok(())
}

/// After a successful `fsck --repair` the ring opens, holds together and agrees with a new scan.
fn repaired(image: &[u8]) -> Result<(), String> {
    let dev = MemDevice::from_image(image.to_vec());
    if fsck(&dev, true).is_err() {
        return Ok(());
    }
    let ring = Ring::open(dev.clone(), OpenOptions::default())
        .map_err(|e| format!("open after fsck --repair failed: {e}"))?;
    let listed = common::consistent(&ring)?;
    common::check_reads(&ring, &listed, |_, _| Ok(()))?;
    drop(ring);
    let again = fsck(&dev, false).map_err(|e| format!("fsck after --repair failed: {e}"))?;
    ensure!(
        again.index_matches_scan,
        "the index fsck --repair wrote does not match a new scan: {again:?}"
    );
    Ok(())
}

/// Random bytes of a random length, optionally with valid superblocks (and a tail) planted so the
/// fuzz reaches the index and data decoding.
fn random_device(seed: u64, sectors: u64, plant: u8) -> Vec<u8> {
    let mut rng = SplitMix64(seed);
    let mut image: Vec<u8> = (0..sectors * 512 / 8)
        .flat_map(|_| rng.next_u64().to_le_bytes())
        .collect();
    let options = FormatOptions {
        slot_count: Some(8 + rng.below(200)),
        ..FormatOptions::default()
    };
    if plant == 0 {
        return image;
    }
    let Ok(mut g) = Geometry::compute(image.len() as u64, &options, 0) else {
        return image;
    };
    g.ring_id = [seed as u8; 16];
    plant_superblocks(&mut image, &g, g.device_len, [true, true]);
    if plant == 2 {
        let damage = Damage::Tail {
            block: seed % 2 == 0,
            generation: Pick::Small(seed % 5),
            oldest: Pick::Small(seed % 7),
        };
        apply(&mut image, &g, 1, &damage);
    }
    image
}

proptest! {
    #![proptest_config(config(256))]

    /// Devices of 1-2 MiB full of noise, some with a valid superblock on top.
    #[test]
    fn open_and_fsck_survive_random_devices(
        seed in any::<u64>(),
        sectors in 2048u64..=4096,
        plant in 0u8..3,
    ) {
        let image = random_device(seed, sectors, plant);
        exercise(&image).map_err(TestCaseError::fail)?;
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// Real rings damaged at arbitrary offsets and with hostile but CRC-valid records.
    #[test]
    fn open_and_fsck_survive_damaged_rings(
        seed in any::<u64>(),
        damages in proptest::collection::vec(damage(), 1..8),
    ) {
        let (mut image, geometry, newest) = base_ring(seed);
        for d in &damages {
            apply(&mut image, &geometry, newest, d);
        }
        exercise(&image).map_err(TestCaseError::fail)?;
    }
}

/// A formatted 2 MiB ring whose tail block `block` holds a planted record.
fn ring_with_tail(block: u64, generation: u64, oldest_seq: u64) -> MemDevice {
    let mem = MemDevice::new(2 * MIB);
    let options = FormatOptions {
        slot_count: Some(32),
        max_segment_bytes: Some(64 << 10),
        ring_id: Some([7; 16]),
        ..FormatOptions::default()
    };
    let g = format(&mem, &options).expect("formats");
    let tail = TailRecord {
        ring_tag: u64::from_le_bytes([7; 8]),
        generation,
        oldest_seq,
        epoch: 0,
    };
    let mut image = mem.written_image();
    let at = (g.tail_off + block * BLOCK) as usize;
    frame(TAIL_MAGIC, &tail, &mut image[at..at + BLOCK as usize]);
    MemDevice::from_image(image)
}

/// Regression (found by this fuzzer): a CRC-valid tail with generation u64::MAX made the next tail
/// write overflow; the counter now wraps, and the wrapped tail (0, in the other block) must count
/// as newer than u64::MAX. Reopened right after that first tail write, before generation 1
/// overwrites the stale block.
#[test]
fn tail_generation_wraps_past_u64_max() {
    let dev = ring_with_tail(1, u64::MAX, 1);
    let mut ring = Ring::open(dev.clone(), OpenOptions::default()).expect("opens");
    for i in 0..100u8 {
        ring.append(&SegmentMeta::default(), &[i; 30_000])
            .expect("appends");
        if ring.stats().oldest_seq > 1 {
            break;
        }
    }
    ring.flush().expect("flushes");
    let stats = ring.stats();
    assert!(stats.oldest_seq > 1, "the ring wrapped and moved its tail");
    drop(ring);
    let ring = Ring::open(dev, OpenOptions::default()).expect("reopens");
    assert_eq!(ring.stats(), stats);
    assert_eq!(ring.recovery().lost, 0, "the stale u64::MAX tail won");
}

/// Regression (found by this fuzzer): a CRC-valid tail with oldest_seq near u64::MAX made the first
/// append overflow the sequence number. Such a tail is not trusted; the other block is.
#[test]
fn tail_oldest_seq_near_u64_max_is_not_trusted() {
    let dev = ring_with_tail(0, 2, u64::MAX - 1);
    let mut ring = Ring::open(dev, OpenOptions::default()).expect("opens");
    let info = ring
        .append(&SegmentMeta::default(), &[1; 1000])
        .expect("appends");
    assert_eq!(info.seq, 1);
}
