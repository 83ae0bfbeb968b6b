//! The segmenter on real streams made by ffmpeg with the settings cameras use: GOP 1 s and 2 s,
//! B-frames on and off, AAC and no audio, unusual PIDs, 720p and 1080p, a PTS wrap, audio only,
//! a GOP longer than the hard maximum, a source restart and a timestamp jump. Every segment must
//! decode alone with ffmpeg, and the bytes must survive exactly.

mod common;

use common::*;
use moment_media::{Segment, Segmenter, SegmenterConfig};
use moment_ring::flags;
use std::time::Duration;

const TICKS_PER_FRAME: u64 = 90_000 / FPS;
const FRAME_US: u64 = 1_000_000 / FPS;

/// Frame indexes where segments should start: the first IDR at or after `target` since the last cut.
fn expected_starts(spec: &Spec, target_s: u64) -> Vec<u64> {
    let frames = u64::from(spec.seconds) * FPS;
    let gop = u64::from(spec.gop);
    let mut starts = vec![0];
    for idr in (gop..frames).step_by(gop as usize) {
        if idr - starts.last().unwrap() >= target_s * FPS {
            starts.push(idr);
        }
    }
    starts
}

fn us_of_frames(frames: u64) -> u64 {
    frames * TICKS_PER_FRAME * 100 / 9
}

fn pts_delta(a: u64, b: u64) -> i64 {
    let d = a.wrapping_sub(b) & ((1 << 33) - 1);
    if d >= 1 << 32 {
        d as i64 - (1 << 33)
    } else {
        d as i64
    }
}

/// Checks the header of a segment that should start with PAT then PMT.
fn assert_tables_first(s: &Segment, pmt_pid: u16) {
    assert_eq!(pid(&s.payload[..PACKET]), 0, "PAT first");
    assert_eq!(pid(&s.payload[PACKET..2 * PACKET]), pmt_pid, "PMT second");
}

/// Every IDR of the segment (one per GOP from its first frame) is listed where its PES begins,
/// with its PTS after the segment's first.
fn assert_keyframes(s: &Segment, spec: &Spec, frames: u64, pmt_pid: u16) {
    if !spec.video {
        assert!(s.keyframes.is_empty(), "no video, no keyframes");
        return;
    }
    let gop = u64::from(spec.gop);
    let expected: Vec<u32> = (0..frames)
        .step_by(gop as usize)
        .map(|f| (f * TICKS_PER_FRAME) as u32)
        .collect();
    let got: Vec<u32> = s.keyframes.iter().map(|k| k.pts_offset).collect();
    assert_eq!(got, expected, "keyframe PTS offsets");
    for k in &s.keyframes {
        let at = k.byte_offset as usize;
        assert_eq!(at % PACKET, 0, "keyframe on the packet grid");
        let packet = &s.payload[at..at + PACKET];
        assert!(packet[1] & 0x40 != 0, "a keyframe starts a PES");
        assert!(![0, pmt_pid].contains(&pid(packet)), "a video packet");
    }
}

/// Runs `spec` with each target and checks count, durations, flags, bytes and decoding.
fn check_stream(spec: Spec, targets: &[u64]) {
    if !have_ffmpeg() {
        return;
    }
    let data = fixture(&spec);
    let dir = tempfile::tempdir().unwrap();
    let types = pict_types(&assert_decodes(dir.path(), "input.ts", &data));
    assert_eq!(
        types.contains('B'),
        spec.bframes,
        "fixture B-frames: {types}"
    );
    let pmt_pid = if spec.unusual_pids { 0x1200 } else { 0x1000 };
    let frames = u64::from(spec.seconds) * FPS;
    for (k, &target) in targets.iter().enumerate() {
        let config = SegmenterConfig::with_target(Duration::from_secs(target));
        let run = run(&data, config, k as u64 + 1);
        assert_eq!(source_bytes(&run.segments), data, "bytes survive exactly");
        assert_eq!(
            run.stats.skipped_bytes + run.stats.cc_errors + run.stats.resyncs,
            0
        );
        let starts = expected_starts(&spec, target);
        assert_eq!(
            run.segments.len(),
            starts.len(),
            "segments for target {target}s"
        );
        let mut total_us = 0;
        for (i, s) in run.segments.iter().enumerate() {
            let m = &s.meta;
            let end = starts.get(i + 1).copied().unwrap_or(frames);
            let expected_us = us_of_frames(end - starts[i]);
            assert!(
                m.duration_us.abs_diff(expected_us) <= 1,
                "segment {i}: {m:?}"
            );
            if i + 1 < starts.len() {
                let gop_us = us_of_frames(u64::from(spec.gop));
                assert!(m.duration_us >= target * 1_000_000);
                assert!(m.duration_us < target * 1_000_000 + gop_us);
            }
            total_us += m.duration_us;
            assert_eq!(
                m.flags,
                flags::KEYFRAME_START | flags::TIME_SYNCED,
                "segment {i}"
            );
            assert_eq!(m.continuity_errors, 0);
            let (first, last) = (m.pts_first.unwrap(), m.pts_last.unwrap());
            let span = pts_delta(last, first) as u64 + TICKS_PER_FRAME;
            assert_eq!(
                span * 100 / 9,
                expected_us.max(1),
                "PTS span of segment {i}"
            );
            if i > 0 {
                let previous = &run.segments[i - 1].meta;
                assert!(m.mono_start_us > previous.mono_start_us);
                assert!(m.utc_start_us > previous.utc_start_us);
                let step = pts_delta(first, previous.pts_first.unwrap());
                assert_eq!(step as u64 * 100 / 9, previous.duration_us);
            }
            assert_tables_first(s, pmt_pid);
            assert!(s.injected_len >= 2 * PACKET);
            assert_keyframes(s, &spec, end - starts[i], pmt_pid);
            let path = assert_decodes(dir.path(), &format!("t{target}-{i}.ts"), &s.payload);
            if spec.video {
                assert!(
                    first_video_frame_is_key(&path),
                    "segment {i} starts with a keyframe"
                );
            }
        }
        assert!(
            total_us.abs_diff(us_of_frames(frames)) <= FRAME_US,
            "sum of durations"
        );
    }
}

#[test]
fn gop_1s_aac_720p() {
    check_stream(Spec::new(1280, 720, 12, 30), &[5, 2, 10]);
}

#[test]
fn gop_2s_bframes_aac_720p() {
    let spec = Spec {
        bframes: true,
        ..Spec::new(1280, 720, 12, 60)
    };
    check_stream(spec, &[5, 3]);
}

#[test]
fn gop_1s_bframes_no_audio_1080p() {
    let spec = Spec {
        bframes: true,
        audio: false,
        ..Spec::new(1920, 1080, 12, 30)
    };
    check_stream(spec, &[5]);
}

#[test]
fn gop_2s_unusual_pids() {
    let spec = Spec {
        unusual_pids: true,
        ..Spec::new(1280, 720, 12, 60)
    };
    check_stream(spec, &[5, 4]);
}

#[test]
fn pts_wrap_inside_the_stream() {
    // 2^33 ticks is 95443.7 s: the wrap falls about 5 s into the stream.
    let spec = Spec {
        ts_offset: Some(95_437),
        bframes: true,
        ..Spec::new(640, 360, 12, 30)
    };
    check_stream(spec, &[2, 5]);
    if !have_ffmpeg() {
        return;
    }
    let run = run(&fixture(&spec), SegmenterConfig::default(), 9);
    let firsts: Vec<u64> = run
        .segments
        .iter()
        .map(|s| s.meta.pts_first.unwrap())
        .collect();
    assert!(
        firsts.windows(2).any(|w| w[1] < w[0]),
        "the PTS wrapped: {firsts:?}"
    );
    assert_eq!(run.stats.pts_jumps, 0);
}

#[test]
fn audio_only_is_cut_by_time_and_flagged_forced() {
    if !have_ffmpeg() {
        return;
    }
    let spec = Spec {
        video: false,
        ..Spec::new(0, 0, 12, 0)
    };
    let data = fixture(&spec);
    let run = run(&data, SegmenterConfig::default(), 3);
    assert_eq!(source_bytes(&run.segments), data);
    assert_eq!(run.segments.len(), 3);
    let dir = tempfile::tempdir().unwrap();
    let mut total = 0;
    for (i, s) in run.segments.iter().enumerate() {
        assert_eq!(s.meta.flags, flags::FORCED_CUT | flags::TIME_SYNCED);
        if i < 2 {
            assert!(
                (5_000_000..5_200_000).contains(&s.meta.duration_us),
                "{:?}",
                s.meta
            );
        }
        total += s.meta.duration_us;
        assert_tables_first(s, 0x1000);
        assert_decodes(dir.path(), &format!("a{i}.ts"), &s.payload);
    }
    assert!(total.abs_diff(12_000_000) < 100_000, "{total}");
}

#[test]
fn long_gop_is_forced_at_the_hard_maximum() {
    if !have_ffmpeg() {
        return;
    }
    let spec = Spec::new(640, 360, 12, 300);
    let data = fixture(&spec);
    let config = SegmenterConfig {
        target: Duration::from_secs(2),
        hard_max: Duration::from_secs(4),
        ..SegmenterConfig::default()
    };
    let run = run(&data, config, 4);
    assert_eq!(source_bytes(&run.segments), data);
    let got: Vec<(u64, u32)> = run
        .segments
        .iter()
        .map(|s| (s.meta.duration_us, s.meta.flags & !flags::TIME_SYNCED))
        .collect();
    let (forced, key) = (flags::FORCED_CUT, flags::KEYFRAME_START);
    // Forced at 4 s and 8 s; the IDR at 10 s ends the keyframe-less third segment at once.
    let expected = vec![
        (4_000_000, forced | key),
        (4_000_000, forced),
        (2_000_000, 0),
        (2_000_000, key),
    ];
    assert_eq!(got, expected);
    assert_eq!(run.stats.forced_cuts, 2);
    let dir = tempfile::tempdir().unwrap();
    for i in [0, 3] {
        let path = assert_decodes(dir.path(), &format!("k{i}.ts"), &run.segments[i].payload);
        assert!(first_video_frame_is_key(&path));
    }
}

#[test]
fn source_restart_is_a_discontinuity() {
    if !have_ffmpeg() {
        return;
    }
    let first = fixture(&Spec::new(640, 360, 12, 30));
    let second = fixture(&Spec {
        unusual_pids: true,
        ..Spec::new(1280, 720, 12, 60)
    });
    let mut segmenter = Segmenter::new(SegmenterConfig::default()).unwrap();
    let mut segments = Vec::new();
    // The first source dies mid-packet.
    let cut = first.len() / PACKET / 2 * PACKET + 77;
    segments.extend(segmenter.push(&first[..cut], clock(1)));
    segments.extend(segmenter.mark_discontinuity(clock(2)));
    let before = segments.len();
    assert_eq!(before, 2, "the partial segment is flushed at the restart");
    for piece in second.chunks(10_000) {
        segments.extend(segmenter.push(piece, clock(3)));
    }
    segments.extend(segmenter.finish(clock(4)));
    check_invariants(
        cut + second.len(),
        &segments,
        &segmenter.stats(),
        &SegmenterConfig::default(),
    );
    assert_eq!(segmenter.stats().skipped_bytes, 77);
    let flags_of: Vec<u32> = segments.iter().map(|s| s.meta.flags).collect();
    let base = flags::TIME_SYNCED | flags::KEYFRAME_START;
    assert_eq!(flags_of[..before], [base, base]);
    assert_eq!(flags_of[before], base | flags::DISCONTINUITY);
    assert!(flags_of[before + 1..].iter().all(|&f| f == base));
    assert_eq!(
        segmenter.stats().cc_errors,
        0,
        "counters restart with the source"
    );
    let dir = tempfile::tempdir().unwrap();
    for (i, s) in segments.iter().enumerate() {
        let pmt_pid = if i < before { 0x1000 } else { 0x1200 };
        assert_tables_first(s, pmt_pid);
        // The segment the dying source left with half an access unit cannot decode cleanly.
        if i != before - 1 {
            assert_decodes(dir.path(), &format!("r{i}.ts"), &s.payload);
        }
    }
}

#[test]
fn timestamp_jump_is_a_discontinuity() {
    if !have_ffmpeg() {
        return;
    }
    let one = fixture(&Spec::new(640, 360, 12, 30));
    let mut data = one.clone();
    data.extend_from_slice(&one);
    let run = run(&data, SegmenterConfig::default(), 5);
    assert_eq!(source_bytes(&run.segments), data);
    assert_eq!(run.stats.pts_jumps, 1);
    let flags_of: Vec<u32> = run.segments.iter().map(|s| s.meta.flags).collect();
    let base = flags::TIME_SYNCED | flags::KEYFRAME_START;
    assert_eq!(
        flags_of,
        [base, base, base, base | flags::DISCONTINUITY, base, base]
    );
    let durations: Vec<u64> = run.segments.iter().map(|s| s.meta.duration_us).collect();
    assert_eq!(
        durations,
        [5_000_000, 5_000_000, 2_000_000, 5_000_000, 5_000_000, 2_000_000]
    );
    let dir = tempfile::tempdir().unwrap();
    for (i, s) in run.segments.iter().enumerate() {
        let path = assert_decodes(dir.path(), &format!("j{i}.ts"), &s.payload);
        assert!(first_video_frame_is_key(&path));
    }
}

#[test]
fn unsynced_clock_is_not_flagged() {
    if !have_ffmpeg() {
        return;
    }
    let data = fixture(&Spec::new(640, 360, 12, 30));
    let mut segmenter = Segmenter::new(SegmenterConfig::default()).unwrap();
    let mut segments = Vec::new();
    for (i, piece) in data.chunks(65536).enumerate() {
        let now = moment_media::Clock {
            utc_synced: false,
            ..clock(i as u64)
        };
        segments.extend(segmenter.push(piece, now));
    }
    segments.extend(segmenter.finish(clock(999)));
    assert_eq!(segments.len(), 3);
    assert!(segments
        .iter()
        .all(|s| s.meta.flags == flags::KEYFRAME_START));
    // Start times are those of the push that brought each segment's first byte.
    assert_eq!(segments[0].meta.mono_start_us, clock(0).mono_us);
    assert!(segments[1].meta.mono_start_us > clock(0).mono_us);
}
