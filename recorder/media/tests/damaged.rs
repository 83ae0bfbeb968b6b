//! The segmenter on damaged input: garbage before and between packets, garbage inside a packet,
//! truncated and dropped packets, pure random bytes and random packets. It must never panic, never
//! hold more than its bound, account for every byte, and keep the undamaged parts decodable.

mod common;

use common::*;
use moment_media::{Segment, SegmenterConfig};
use moment_ring::flags;

const SPEC: Spec = Spec::new(640, 360, 12, 30);
const VIDEO_PID: u16 = 0x100;

fn packets(data: &[u8]) -> Vec<&[u8]> {
    data.chunks(PACKET).collect()
}

/// Index of the segment holding source byte `offset` (injected copies not counted).
fn segment_at(segments: &[Segment], offset: usize) -> usize {
    let mut end = 0;
    for (i, s) in segments.iter().enumerate() {
        end += s.payload.len() - s.injected_len;
        if offset < end {
            return i;
        }
    }
    panic!("offset {offset} beyond the output");
}

/// Video packets well inside a PES (not its first ten packets), spread over the stream.
fn victims(data: &[u8], count: usize) -> Vec<usize> {
    let all = packets(data);
    let mut since_start = 0;
    let mut candidates = Vec::new();
    for (i, p) in all.iter().enumerate() {
        if pid(p) == VIDEO_PID {
            since_start = if p[1] & 0x40 != 0 { 0 } else { since_start + 1 };
            if since_start > 10 {
                candidates.push(i);
            }
        }
    }
    (1..=count)
        .map(|k| candidates[k * candidates.len() / (count + 1)])
        .collect()
}

fn decodes_except(segments: &[Segment], damaged: &[usize]) {
    let dir = tempfile::tempdir().unwrap();
    for (i, s) in segments.iter().enumerate() {
        if !damaged.contains(&i) {
            let path = assert_decodes(dir.path(), &format!("d{i}.ts"), &s.payload);
            assert!(first_video_frame_is_key(&path));
        }
    }
}

#[test]
fn garbage_before_and_between_packets() {
    if !have_ffmpeg() {
        return;
    }
    let clean = fixture(&SPEC);
    let mut rng = Rng::new(11);
    let k = clean.len() / PACKET / 2;
    let mut data = rng.bytes(1000);
    data.extend_from_slice(&clean[..k * PACKET]);
    data.extend(rng.bytes(777));
    data.extend_from_slice(&clean[k * PACKET..]);
    let run = run(&data, SegmenterConfig::default(), 12);
    assert_eq!(run.stats.skipped_bytes, 1777);
    assert_eq!(run.stats.resyncs, 1);
    assert_eq!(
        source_bytes(&run.segments),
        clean,
        "no byte lost, none reordered"
    );
    let hit = segment_at(&run.segments, k * PACKET);
    for (i, s) in run.segments.iter().enumerate() {
        let disc = s.meta.flags & flags::DISCONTINUITY != 0;
        assert_eq!(disc, i == hit, "only the segment with the gap is flagged");
        assert!(s.meta.flags & flags::KEYFRAME_START != 0);
    }
    assert_eq!(run.segments.len(), 3);
    decodes_except(&run.segments, &[]);
}

#[test]
fn garbage_inside_a_packet() {
    if !have_ffmpeg() {
        return;
    }
    let clean = fixture(&SPEC);
    let k = victims(&clean, 1)[0];
    let at = k * PACKET + 90;
    let mut data = clean[..at].to_vec();
    data.extend(Rng::new(13).bytes(500));
    data.extend_from_slice(&clean[at..]);
    let run = run(&data, SegmenterConfig::default(), 14);
    // The packet cut open cannot be told from one followed by garbage: it is kept with the first
    // 98 garbage bytes as its tail, and 500 bytes are skipped.
    assert_eq!(run.stats.skipped_bytes, 500);
    let out = source_bytes(&run.segments);
    assert_eq!(out.len(), clean.len());
    assert_eq!(out[..at], clean[..at]);
    assert_eq!(out[(k + 1) * PACKET..], clean[(k + 1) * PACKET..]);
    let hit = segment_at(&run.segments, at);
    assert!(run.segments[hit].meta.flags & flags::DISCONTINUITY != 0);
    decodes_except(&run.segments, &[hit]);
}

#[test]
fn truncated_packets_are_dropped_and_counted() {
    if !have_ffmpeg() {
        return;
    }
    let clean = fixture(&SPEC);
    let cut = victims(&clean, 3);
    let mut data = Vec::new();
    let mut expected = Vec::new();
    for (i, p) in packets(&clean).into_iter().enumerate() {
        if cut.contains(&i) {
            data.extend_from_slice(&p[..100]);
        } else {
            data.extend_from_slice(p);
            expected.extend_from_slice(p);
        }
    }
    let run = run(&data, SegmenterConfig::default(), 15);
    assert_eq!(run.stats.skipped_bytes, 300);
    assert_eq!(run.stats.cc_errors, 3);
    assert_eq!(source_bytes(&run.segments), expected);
    assert_eq!(run.segments.len(), 3);
    let errors: u32 = run.segments.iter().map(|s| s.meta.continuity_errors).sum();
    assert_eq!(errors, 3);
    for (n, &i) in cut.iter().enumerate() {
        let hit = segment_at(&run.segments, (i - n) * PACKET);
        let meta = &run.segments[hit].meta;
        assert!(meta.continuity_errors > 0 && meta.flags & flags::DISCONTINUITY != 0);
    }
}

#[test]
fn dropped_packets_are_counted_per_segment() {
    if !have_ffmpeg() {
        return;
    }
    let clean = fixture(&SPEC);
    let all = packets(&clean);
    let mut gone = victims(&clean, 4);
    let third = all.len() / 3;
    let audio = all[third..]
        .iter()
        .position(|p| pid(p) == 0x101 && p[1] & 0x40 == 0);
    gone.push(third + audio.unwrap());
    let data: Vec<u8> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| !gone.contains(i))
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    let run = run(&data, SegmenterConfig::default(), 16);
    assert_eq!(run.stats.cc_errors, 5);
    assert_eq!(run.stats.skipped_bytes, 0);
    assert_eq!(source_bytes(&run.segments), data);
    let per_segment: Vec<u32> = run
        .segments
        .iter()
        .map(|s| s.meta.continuity_errors)
        .collect();
    // Each loss shows on the next packet of the same PID: count it in that packet's segment.
    let mut expected = vec![0; run.segments.len()];
    for &g in &gone {
        let next = (g + 1..all.len())
            .find(|&j| pid(all[j]) == pid(all[g]))
            .unwrap();
        let removed_before = gone.iter().filter(|&&x| x < next).count();
        expected[segment_at(&run.segments, (next - removed_before) * PACKET)] += 1;
    }
    assert_eq!(per_segment, expected);
    assert!(run
        .segments
        .iter()
        .all(|s| s.meta.flags & flags::DISCONTINUITY == 0));
}

#[test]
fn pure_random_bytes() {
    let data = Rng::new(17).bytes(8 << 20);
    for config in [SegmenterConfig::default(), small_config()] {
        let run = run(&data, config, 18);
        assert!(run.stats.skipped_bytes > data.len() as u64 * 99 / 100);
        for s in &run.segments {
            assert!(s.meta.flags & flags::FORCED_CUT != 0, "{:?}", s.meta);
            assert!(s.meta.flags & flags::KEYFRAME_START == 0);
        }
    }
}

fn small_config() -> SegmenterConfig {
    SegmenterConfig {
        max_segment_bytes: moment_media::MIN_SEGMENT_BYTES,
        ..SegmenterConfig::default()
    }
}

/// Packets on the right grid with random headers and payloads, after a real PAT and PMT, so the
/// PSI, PES and H.264 parsers all see garbage.
fn random_packets(rng: &mut Rng, tables: &[u8], count: usize) -> Vec<u8> {
    let mut data = tables.to_vec();
    for _ in 0..count {
        let mut p = rng.bytes(PACKET);
        p[0] = 0x47;
        let pid = match rng.below(8) {
            0 => 0,
            1 => 0x1000,
            2..=4 => VIDEO_PID,
            5 => 0x101,
            _ => rng.below(0x2000) as u16,
        };
        let pusi = rng.below(300) == 0;
        p[1] = (u8::from(pusi) << 6) | (pid >> 8) as u8;
        p[2] = pid as u8;
        if rng.below(2) == 0 {
            p[3] = 0x10 | (p[3] & 0x0F);
        }
        if pusi && rng.below(2) == 0 {
            p[4..13].copy_from_slice(&[0, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 5]);
            p[13] = 0x21 | (p[13] & 0x0E);
            p[15] |= 1;
            p[17] |= 1;
        }
        data.extend_from_slice(&p);
    }
    data
}

#[test]
fn random_packets_after_real_tables() {
    let tables = if have_ffmpeg() {
        fixture(&SPEC)[..3 * PACKET].to_vec()
    } else {
        Vec::new()
    };
    let mut rng = Rng::new(19);
    let data = random_packets(&mut rng, &tables, 20_000);
    for config in [SegmenterConfig::default(), small_config()] {
        let run = run(&data, config, 20);
        assert_eq!(run.stats.skipped_bytes, 0);
        assert_eq!(run.stats.packets, data.len() as u64 / PACKET as u64);
        assert_eq!(source_bytes(&run.segments), data);
    }
    let run = run(&data, small_config(), 21);
    assert!(
        run.segments.len() >= 14,
        "cut by size: {}",
        run.segments.len()
    );
    assert!(run.stats.forced_cuts >= 13);
}
