//! `moment-recorder ring …` end to end: the real binary on sparse ring files (and a loop device),
//! with segments written through the moment-ring API the recorder itself uses, and the files
//! damaged on purpose to see that fsck and recovery say and do the right thing.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use support::*;

/// Payload sizes that exercise padding (not multiples of 4096) and multi-block segments.
const SIZES: [usize; 6] = [188 * 7, 100_000, 4096, 188 * 1000, 65_537, 300_000];

fn ring_with_segments(dir: &Path, count: usize) -> (PathBuf, Vec<Vec<u8>>) {
    let path = dir.join("ring.img");
    format_64m(&path);
    let payloads: Vec<Vec<u8>> = (0..count)
        .map(|i| payload(i as u64 + 1, SIZES[i % SIZES.len()]))
        .collect();
    append(&path, &payloads);
    (path, payloads)
}

fn cat(path: &Path, from: u64, to: u64) -> Run {
    let (from, to) = (from.to_string(), to.to_string());
    cli(&["ring", "cat", s(path), "--from", &from, "--to", &to])
}

#[test]
fn format_creates_a_sparse_ring_and_inspect_describes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ring.img");
    let out = cli(&["ring", "format", s(&path), "--size", "64MiB"]).expect_code(0);
    assert!(
        out.text().contains("formatted a moment ring of 64.0 MiB"),
        "{}",
        out.text()
    );
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), 64 * MIB);
    assert!(
        std::os::unix::fs::MetadataExt::blocks(&meta) * 512 < 8 * MIB,
        "not sparse"
    );

    let json = inspect_json(&path);
    assert_eq!(json["format_version"], 2);
    assert_eq!(json["block_device"], false);
    assert_eq!(u64_at(&json, "/geometry/device_len"), 64 * MIB);
    assert_eq!(u64_at(&json, "/stats/segment_count"), 0);
    assert_eq!(u64_at(&json, "/stats/used_bytes"), 0);
    assert!(json["stats"]["newest_seq"].is_null());
    assert_eq!(json["recovery"]["superblocks_damaged"], 0);
    let ring_id = json["ring_id"].as_str().unwrap();
    assert_eq!(ring_id.len(), 32);

    let human = cli(&["ring", "inspect", s(&path)]).expect_code(0).text();
    assert!(human.contains("format version 2 (regular file)"), "{human}");
    assert!(human.contains(ring_id), "{human}");
    assert!(human.contains("67108864 bytes (64.0 MiB)"), "{human}");
    assert!(human.contains("the ring is empty"), "{human}");
    assert!(human.contains("2 of 2 valid"), "{human}");
}

#[test]
fn inspect_shows_segments_bytes_and_utc_times() {
    let dir = tempfile::tempdir().unwrap();
    let (path, payloads) = ring_with_segments(dir.path(), 3);
    let json = inspect_json(&path);
    assert_eq!(u64_at(&json, "/stats/segment_count"), 3);
    assert_eq!(u64_at(&json, "/stats/oldest_seq"), 1);
    assert_eq!(u64_at(&json, "/stats/newest_seq"), 3);
    let extents: u64 = payloads
        .iter()
        .map(|p| BLOCK + (p.len() as u64).div_ceil(BLOCK) * BLOCK)
        .sum();
    assert_eq!(u64_at(&json, "/stats/used_bytes"), extents);
    assert_eq!(json["oldest_utc"], "2023-11-14T22:13:20Z");
    assert_eq!(json["newest_utc"], "2023-11-14T22:13:26Z");
    let percent = json["used_percent"].as_f64().unwrap();
    let expected = extents as f64 * 100.0 / u64_at(&json, "/geometry/data_len") as f64;
    assert!((percent - expected).abs() < 1e-9);

    let human = cli(&["ring", "inspect", s(&path)]).expect_code(0).text();
    assert!(human.contains("#1, starts 2023-11-14T22:13:20Z"), "{human}");
    assert!(human.contains("#3, ends 2023-11-14T22:13:26Z"), "{human}");
    assert!(human.contains(&format!("{extents} bytes")), "{human}");
}

#[test]
fn format_refuses_data_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ring.img");
    format_64m(&path);
    let first_id = inspect_json(&path)["ring_id"].clone();

    let refused = cli(&["ring", "format", s(&path)]).expect_code(2);
    assert!(
        refused.stderr.contains("holds a moment ring"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("pass --force"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        inspect_json(&path)["ring_id"],
        first_id,
        "refused format wrote"
    );

    cli(&["ring", "format", s(&path), "--force"]).expect_code(0);
    assert_ne!(inspect_json(&path)["ring_id"], first_id);

    let data = dir.path().join("data.img");
    std::fs::write(&data, vec![0xAB; 2 * MIB as usize]).unwrap();
    let refused = cli(&["ring", "format", s(&data)]).expect_code(2);
    assert!(
        refused.stderr.contains("non-zero data"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("pass --force"),
        "{}",
        refused.stderr
    );
}

#[test]
fn format_unless_ring_keeps_a_ring_and_erases_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    // A new card's ring partition holds whatever the card held before.
    let path = dir.path().join("p5.img");
    std::fs::write(&path, vec![0xAB; 64 * MIB as usize]).unwrap();
    let run = cli(&["ring", "format", s(&path), "--unless-ring"]).expect_code(0);
    assert!(
        run.text().contains("formatted a moment ring"),
        "{}",
        run.text()
    );
    let id = inspect_json(&path)["ring_id"].clone();
    append(&path, &[payload(1, 5000)]);
    // Every later boot keeps it, recordings included.
    let run = cli(&["ring", "format", s(&path), "--unless-ring"]).expect_code(0);
    assert!(
        run.text().contains("already a moment ring"),
        "{}",
        run.text()
    );
    let json = inspect_json(&path);
    assert_eq!(json["ring_id"], id);
    assert_eq!(u64_at(&json, "/stats/segment_count"), 1, "{json}");
    cli(&["ring", "format", s(&path), "--unless-ring", "--force"]).expect_code(2);
}

#[test]
fn not_a_ring_says_how_to_format_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zeros.img");
    std::fs::File::create(&path)
        .unwrap()
        .set_len(64 * MIB)
        .unwrap();
    for args in [
        vec!["ring", "inspect", s(&path)],
        vec!["ring", "fsck", s(&path)],
        vec!["ring", "cat", s(&path), "--from", "1", "--to", "1"],
    ] {
        let out = cli(&args).expect_code(2);
        assert!(
            out.stderr
                .contains(&format!("{}: not a moment ring", s(&path))),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains(&format!("moment-recorder ring format {}", s(&path))),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn too_small_is_refused_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.img");
    let out = cli(&["ring", "format", s(&path), "--size", "512K"]).expect_code(2);
    assert!(
        out.stderr.contains("524288 bytes is too small"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("larger"), "{}", out.stderr);
    assert!(!path.exists(), "a failed format left its file behind");

    std::fs::File::create(&path)
        .unwrap()
        .set_len(512 << 10)
        .unwrap();
    let out = cli(&["ring", "format", s(&path)]).expect_code(2);
    assert!(out.stderr.contains("too small"), "{}", out.stderr);
    assert!(path.exists(), "format removed a file it did not create");
}

#[test]
fn missing_device_is_named_and_not_created_without_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.img");
    let out = cli(&["ring", "inspect", s(&path)]).expect_code(2);
    assert!(
        out.stderr
            .contains(&format!("{}: no such file or device", s(&path))),
        "{}",
        out.stderr
    );
    let out = cli(&["ring", "format", s(&path)]).expect_code(2);
    assert!(out.stderr.contains("pass --size"), "{}", out.stderr);
    assert!(!path.exists());
    let out = cli(&["ring", "format", s(dir.path())]).expect_code(2);
    assert!(
        out.stderr.contains("not a block device or regular file"),
        "{}",
        out.stderr
    );
}

#[test]
fn another_format_version_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ring.img");
    format_64m(&path);
    // Frame: magic (8), body length (u32 LE), postcard body whose first byte is the version.
    for offset in [0, 64 * MIB - BLOCK] {
        let mut frame = read_bytes(&path, offset, BLOCK as usize);
        let len = u32::from_le_bytes(frame[8..12].try_into().unwrap()) as usize;
        assert_eq!(frame[12], 2, "version byte");
        frame[12] = 3;
        let crc = crc32(&frame[..12 + len]);
        frame[12 + len..16 + len].copy_from_slice(&crc.to_le_bytes());
        write_bytes(&path, offset, &frame);
    }
    let out = cli(&["ring", "inspect", s(&path)]).expect_code(2);
    assert!(
        out.stderr.contains("ring format version 3"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("update the recorder or reformat"),
        "{}",
        out.stderr
    );
}

#[test]
fn fsck_is_clean_on_a_fresh_and_on_a_written_ring() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ring.img");
    format_64m(&path);
    let out = cli(&["ring", "fsck", s(&path)]).expect_code(0);
    assert!(out.text().contains("result: clean"), "{}", out.text());
    append(&path, &[payload(1, 5000), payload(2, 70_000)]);
    let out = cli(&["ring", "fsck", s(&path)]).expect_code(0);
    assert!(out
        .text()
        .contains("2 segments in the index, 2 intact, 0 corrupt"));
    assert!(out.text().contains("result: clean"), "{}", out.text());
}

#[test]
fn cat_writes_exactly_the_payloads_of_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let (path, payloads) = ring_with_segments(dir.path(), 6);
    assert_eq!(cat(&path, 1, 6).expect_code(0).stdout, payloads.concat());
    assert_eq!(
        cat(&path, 2, 4).expect_code(0).stdout,
        payloads[1..4].concat()
    );
    assert_eq!(cat(&path, 5, 5).expect_code(0).stdout, payloads[4]);

    for (from, to) in [(0, 3), (2, 7)] {
        let out = cat(&path, from, to).expect_code(2);
        assert!(out.stdout.is_empty());
        assert!(out.stderr.contains("it holds 1..=6"), "{}", out.stderr);
    }
    let out = cat(&path, 4, 2).expect_code(2);
    assert!(
        out.stderr.contains("--from 4 is after --to 2"),
        "{}",
        out.stderr
    );

    let empty = dir.path().join("empty.img");
    format_64m(&empty);
    let out = cat(&empty, 1, 1).expect_code(2);
    assert!(out.stderr.contains("holds no segments"), "{}", out.stderr);
}

#[test]
fn cat_ends_quietly_when_the_reader_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ring.img");
    format_64m(&path);
    let big: Vec<Vec<u8>> = (1..=4).map(|i| payload(i, 2 * MIB as usize)).collect();
    append(&path, &big);
    let (child, mut stdout) = spawn_piped(&["ring", "cat", s(&path), "--from", "1", "--to", "4"]);
    let mut head = vec![0; 1000];
    stdout.read_exact(&mut head).unwrap();
    assert_eq!(head, big[0][..1000]);
    drop(stdout); // like `| head -c 1000`
    let out = finish(child, "ring cat into a closed pipe").expect_code(0);
    assert_eq!(out.stderr, "");
}

#[test]
fn fsck_reports_a_corrupt_payload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ring.img");
    format_64m(&path);
    let payloads: Vec<Vec<u8>> = (1..=4).map(|i| payload(i, 50_000)).collect();
    let infos = append(&path, &payloads);
    let data_off = u64_at(&inspect_json(&path), "/geometry/data_off");
    let at = data_off + infos[1].pos + BLOCK + 1234;
    let byte = read_bytes(&path, at, 1)[0];
    write_bytes(&path, at, &[!byte]);

    let out = cli(&["ring", "fsck", s(&path)]).expect_code(1);
    let text = out.text();
    assert!(
        text.contains("4 segments in the index, 3 intact, 1 corrupt"),
        "{text}"
    );
    assert!(
        text.contains("2: ") && text.contains("payload checksum mismatch"),
        "{text}"
    );
    assert!(
        text.contains("result: PROBLEMS: 1 segment corrupt"),
        "{text}"
    );

    assert_eq!(cat(&path, 1, 1).expect_code(0).stdout, payloads[0]);
    let out = cat(&path, 2, 2).expect_code(2);
    assert!(
        out.stderr.contains("segment 2 is corrupt"),
        "{}",
        out.stderr
    );

    // Damaged data cannot be repaired: the verdict must stay a failure.
    let out = cli(&["ring", "fsck", s(&path), "--repair"]).expect_code(1);
    assert!(
        out.text().contains("PROBLEMS REMAIN after repair"),
        "{}",
        out.text()
    );
}

#[test]
fn fsck_repair_rebuilds_a_destroyed_index() {
    let dir = tempfile::tempdir().unwrap();
    let (path, payloads) = ring_with_segments(dir.path(), 6);
    let json = inspect_json(&path);
    let (tail_off, data_off) = (
        u64_at(&json, "/geometry/tail_off"),
        u64_at(&json, "/geometry/data_off"),
    );
    // Tail pointer and every index slot.
    write_bytes(&path, tail_off, &vec![0; (data_off - tail_off) as usize]);

    let damaged = inspect_json(&path);
    assert_eq!(damaged["recovery"]["tail_lost"], true);
    assert_eq!(damaged["recovery"]["rebuilt_by_scan"], true);
    let out = cli(&["ring", "fsck", s(&path)]).expect_code(1);
    assert!(
        out.text().contains("the tail pointer is lost"),
        "{}",
        out.text()
    );
    assert!(out.text().contains("--repair"), "{}", out.text());
    assert_eq!(
        read_bytes(&path, tail_off, 4096),
        vec![0; 4096],
        "fsck wrote"
    );

    let out = cli(&["ring", "fsck", s(&path), "--repair"]).expect_code(0);
    assert!(out.text().contains("result: repaired"), "{}", out.text());

    let repaired = inspect_json(&path);
    assert_eq!(u64_at(&repaired, "/stats/segment_count"), 6);
    assert_eq!(u64_at(&repaired, "/recovery/from_index"), 6);
    assert_eq!(u64_at(&repaired, "/recovery/rolled_forward"), 0);
    assert_eq!(repaired["recovery"]["tail_lost"], false);
    assert_eq!(repaired["recovery"]["rebuilt_by_scan"], false);
    cli(&["ring", "fsck", s(&path)]).expect_code(0);
    assert_eq!(cat(&path, 1, 6).expect_code(0).stdout, payloads.concat());
}

#[test]
fn fsck_flags_lost_index_slots_that_recovery_rolls_over() {
    let dir = tempfile::tempdir().unwrap();
    let (path, payloads) = ring_with_segments(dir.path(), 5);
    let json = inspect_json(&path);
    let index_off = u64_at(&json, "/geometry/index_off");
    let slots = u64_at(&json, "/geometry/slot_count");
    // Only the slots: the tail pointer survives, and recovery finds the segments past it.
    write_bytes(&path, index_off, &vec![0; (slots * 128) as usize]);

    let damaged = inspect_json(&path);
    assert_eq!(u64_at(&damaged, "/recovery/from_index"), 0);
    assert_eq!(u64_at(&damaged, "/recovery/rolled_forward"), 5);
    let out = cli(&["ring", "fsck", s(&path)]).expect_code(1);
    assert!(
        out.text().contains("5 segments found past the index"),
        "{}",
        out.text()
    );

    cli(&["ring", "fsck", s(&path), "--repair"]).expect_code(0);
    let repaired = inspect_json(&path);
    assert_eq!(u64_at(&repaired, "/recovery/from_index"), 5);
    assert_eq!(u64_at(&repaired, "/recovery/rolled_forward"), 0);
    assert_eq!(cat(&path, 1, 5).expect_code(0).stdout, payloads.concat());
}

#[test]
fn a_damaged_first_superblock_is_read_through_the_second() {
    let dir = tempfile::tempdir().unwrap();
    let (path, payloads) = ring_with_segments(dir.path(), 3);
    write_bytes(&path, 0, &[0; 4096]);

    let json = inspect_json(&path);
    assert_eq!(json["recovery"]["superblocks_damaged"], 1);
    assert_eq!(u64_at(&json, "/stats/segment_count"), 3);
    assert_eq!(read_bytes(&path, 0, 4096), vec![0; 4096], "inspect wrote");
    assert_eq!(cat(&path, 1, 3).expect_code(0).stdout, payloads.concat());

    let out = cli(&["ring", "fsck", s(&path)]).expect_code(1);
    assert!(
        out.text().contains("1 superblock copy damaged"),
        "{}",
        out.text()
    );
    cli(&["ring", "fsck", s(&path), "--repair"]).expect_code(0);
    assert_eq!(&read_bytes(&path, 0, 8)[..], b"MOMRINGS");
    let json = inspect_json(&path);
    assert_eq!(json["recovery"]["superblocks_damaged"], 0);
    assert_eq!(u64_at(&json, "/stats/segment_count"), 3);
}

#[test]
fn loop_device_round_trip_with_o_direct() {
    let dir = tempfile::tempdir().unwrap();
    let backing = dir.path().join("backing.img");
    std::fs::File::create(&backing)
        .unwrap()
        .set_len(64 * MIB)
        .unwrap();
    let dev = match loop_device::attach(&backing) {
        Ok(dev) => dev,
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("CI must exercise the block-device path, but {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED loop_device_round_trip_with_o_direct: {why} (fails when CI is set)");
            return;
        }
    };
    let path = Path::new(&dev.0);
    cli(&["ring", "format", s(path)]).expect_code(0);
    let json = inspect_json(path);
    assert_eq!(json["block_device"], true);
    assert_eq!(json["direct_io"], true);

    let device = moment_ring::FileDevice::open(path, true, moment_ring::DirectIo::Auto).unwrap();
    assert!(device.is_block_device() && device.is_direct());
    drop(device);
    let payloads: Vec<Vec<u8>> = (1..=3).map(|i| payload(i, SIZES[i as usize])).collect();
    append(path, &payloads);
    assert_eq!(cat(path, 1, 3).expect_code(0).stdout, payloads.concat());
    let out = cli(&["ring", "fsck", s(path)]).expect_code(0);
    assert!(out.text().contains("3 intact, 0 corrupt"), "{}", out.text());
}
