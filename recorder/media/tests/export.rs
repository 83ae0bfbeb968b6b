//! Export end to end through the library: rings filled the way the recorder fills them (ffmpeg-made
//! MPEG-TS through the `Segmenter` into `Ring::append_with_keyframes`, on a sparse file), then
//! ranges exported to MP4 and every file checked with ffprobe and ffmpeg: it decodes without a
//! single error, starts on a keyframe, audio and video start and end together, it is cut at the
//! keyframes around the range (whole segments when the ring has no keyframe positions), its
//! creation time is its first frame's, a source restart inside the range plays through, and
//! failures leave no file behind.

mod common;

use common::{first_video_frame_is_key, fixture, have_ffmpeg, Spec};
use moment_media::export::{
    self, time, ExportError, NameSource, Progress, Report, Request, Target,
};
use moment_media::pes::{parse_pes_header, pts_diff};
use moment_media::ts::{PacketHeader, PACKET_LEN};
use moment_media::{Clock, Segment, Segmenter, SegmenterConfig};
use moment_ring::{flags, DirectIo, FileDevice, FormatOptions, OpenOptions, Ring, SegmentInfo};
use std::path::{Path, PathBuf};
use std::process::Command;

/// 2026-11-30T10:00:00Z: where the test recordings start.
const BASE_UTC_US: i64 = 1_796_032_800_000_000;
const SECOND: i64 = 1_000_000;
const FRAME_US: i64 = 33_333;

/// 40 s at 320x240, GOP 1 s, H.264 + AAC.
const AV: Spec = Spec::new(320, 240, 40, 30);

/// A ring on a sparse file, reopened read-only (as `export` from the CLI sees it).
struct TestRing {
    dir: tempfile::TempDir,
    ring: Ring<FileDevice>,
    segments: Vec<SegmentInfo>,
}

impl TestRing {
    /// Segments each stream in turn (a source restart between them) and appends the segments
    /// with UTC times that follow their durations, `gap_us` of wall time between streams, and
    /// their keyframe positions, as the recorder does.
    fn new(streams: &[&[u8]], gap_us: i64, synced: bool, start_us: i64) -> TestRing {
        TestRing::build(streams, gap_us, synced, start_us, true)
    }

    /// As a recorder before keyframe positions were kept (or a version 1 ring) wrote them.
    fn without_keyframes(streams: &[&[u8]], start_us: i64) -> TestRing {
        TestRing::build(streams, 0, true, start_us, false)
    }

    fn build(
        streams: &[&[u8]],
        gap_us: i64,
        synced: bool,
        start_us: i64,
        keyframes: bool,
    ) -> TestRing {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring.img");
        std::fs::File::create(&path)
            .unwrap()
            .set_len(64 << 20)
            .unwrap();
        let dev = FileDevice::open(&path, true, DirectIo::Auto).unwrap();
        moment_ring::format(&dev, &FormatOptions::default()).unwrap();
        let mut ring = Ring::open(dev, OpenOptions::default()).unwrap();
        let mut utc = start_us;
        for (segment, gap) in segments(streams, synced) {
            let mut meta = segment.meta.clone();
            utc += if gap { gap_us } else { 0 };
            meta.utc_start_us = utc;
            utc += meta.duration_us as i64;
            let keyframes = if keyframes {
                &segment.keyframes[..]
            } else {
                &[]
            };
            ring.append_with_keyframes(&meta, &segment.payload, keyframes)
                .unwrap();
        }
        drop(ring);
        let dev = FileDevice::open(&path, false, DirectIo::Auto).unwrap();
        let read_only = OpenOptions {
            read_only: true,
            ..OpenOptions::default()
        };
        let ring = Ring::open(dev, read_only).unwrap();
        let segments = ring.reader().segments();
        TestRing {
            dir,
            ring,
            segments,
        }
    }

    fn out_dir(&self) -> PathBuf {
        let out = self.dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        out
    }

    fn export(&self, from_us: i64, to_us: i64) -> Result<Report, ExportError> {
        let mut request = Request::new(from_us, to_us, Target::Dir(self.out_dir()));
        request.now = clock(false);
        export::export(&self.ring.reader(), &request, &mut |_| {})
    }
}

fn clock(synced: bool) -> Clock {
    Clock {
        utc_us: BASE_UTC_US,
        utc_synced: synced,
        mono_us: 0,
    }
}

/// Every segment of the streams, and whether a source restart comes before it.
fn segments(streams: &[&[u8]], synced: bool) -> Vec<(Segment, bool)> {
    let mut segmenter = Segmenter::new(SegmenterConfig::default()).unwrap();
    let mut out = Vec::new();
    for (i, stream) in streams.iter().enumerate() {
        let mut batch = Vec::new();
        if i > 0 {
            batch.extend(segmenter.mark_discontinuity(clock(synced)));
        }
        for piece in stream.chunks(64 << 10) {
            batch.extend(segmenter.push(piece, clock(synced)));
        }
        out.extend(batch.into_iter().map(|s| {
            let restart = s.meta.flags & flags::DISCONTINUITY != 0;
            (s, restart)
        }));
    }
    out.extend(
        segmenter
            .finish(clock(synced))
            .into_iter()
            .map(|s| (s, false)),
    );
    out
}

/// What ffprobe says about an MP4: per stream type (start, end) in seconds, and the container
/// duration.
#[derive(Debug)]
struct Probe {
    video: Option<(f64, f64)>,
    audio: Option<(f64, f64)>,
    duration: f64,
}

fn probe(path: &Path) -> Probe {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args([
            "stream=codec_type,start_time,duration:format=duration",
            "-of",
            "compact=p=0:nk=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe {}", path.display());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut probe = Probe {
        video: None,
        audio: None,
        duration: 0.0,
    };
    for line in text.lines() {
        let field = |name: &str| -> f64 {
            let value = line
                .split('|')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")));
            value.and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
        };
        let span = Some((field("start_time"), field("start_time") + field("duration")));
        match line.split('|').next() {
            Some("codec_type=video") => probe.video = span,
            Some("codec_type=audio") => probe.audio = span,
            _ => probe.duration = field("duration"),
        }
    }
    probe
}

/// The MP4's `creation_time` as ffprobe reports it, in microseconds since the epoch.
fn creation_time_us(path: &Path) -> Option<i64> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format_tags=creation_time"])
        .args(["-of", "default=nw=1:nk=1"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe {}", path.display());
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().next()?;
    Some(time::parse_rfc3339(line.trim()).unwrap())
}

/// Decodes every frame of `path`; ffmpeg must print nothing and succeed.
fn assert_decodes_cleanly(path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "{} does not decode cleanly: {stderr}",
        path.display()
    );
}

/// Everything a good export must be: the checks of the issue, in one place.
fn check_export(report: &Report, audio: bool) -> Probe {
    let path = &report.path;
    assert_decodes_cleanly(path);
    assert!(first_video_frame_is_key(path), "starts on a keyframe");
    let probe = probe(path);
    let (v_start, v_end) = probe.video.expect("a video stream");
    let expected = report.duration_us as f64 / 1e6;
    assert!(
        (v_end - v_start - expected).abs() <= 2.0 * FRAME_US as f64 / 1e6,
        "video lasts {} s, the segments {expected} s",
        v_end - v_start
    );
    assert!(
        (probe.duration - expected).abs() <= 0.07,
        "{probe:?} vs {expected}"
    );
    match (audio, probe.audio) {
        (true, Some((a_start, a_end))) => {
            assert!((a_start - v_start).abs() <= 0.05, "start: {probe:?}");
            assert!((a_end - v_end).abs() <= 0.1, "end: {probe:?}");
        }
        (false, None) => {}
        (_, audio) => panic!("audio expected: {audio:?}"),
    }
    assert_eq!(std::fs::metadata(path).unwrap().len(), report.mp4_bytes);
    probe
}

fn no_partial_files(dir: &Path) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(names.is_empty(), "left behind: {names:?}");
}

/// A middle range whose ends fall on keyframes (every second) is exported exactly, from the
/// segment holding `from` through the one holding `to`.
fn check_middle_range(spec: Spec, audio: bool) {
    if !have_ffmpeg() {
        return;
    }
    let ring = TestRing::new(&[&fixture(&spec)], 0, true, BASE_UTC_US);
    let (from, to) = (BASE_UTC_US + 12 * SECOND, BASE_UTC_US + 23 * SECOND);
    let report = ring.export(from, to).unwrap();
    assert_eq!((report.utc_start_us, report.utc_end_us), (from, to));
    assert_eq!((report.first_seq, report.last_seq), (3, 5));
    assert!(!report.clipped_start && !report.clipped_end);
    assert_eq!(report.duration_us, 11_000_000);
    assert_eq!(report.name_source, Some(NameSource::Recorded));
    check_export(&report, audio);
    assert_eq!(creation_time_us(&report.path), Some(from));
    no_partial_files(&ring.out_dir());
}

/// `AV`'s keyframes: one a second.
const GOP_US: i64 = SECOND;
/// A recording that does not start on a whole second, so creation times are checked to the
/// millisecond (an MP4's movie header holds whole seconds only).
const ODD_START_US: i64 = BASE_UTC_US + 456_700;
/// What ffprobe's container duration may differ from the video's by: the audio trimmed to AAC
/// frames of 21 ms at either end, and the last frame.
const MEASURE_SLACK_S: f64 = 0.07;

/// Exports [from, to) of a ring recorded from `start_us` with a keyframe every second, and checks
/// that the file is cut at the keyframe at or before `from` and before the first keyframe at or
/// after `to`: it lasts the length asked for to within one GOP (never less), and its creation
/// time is the capture time of its first frame. Prints |clip − asked|.
fn check_cut(ring: &TestRing, start_us: i64, from: i64, to: i64) {
    let report = ring.export(from, to).unwrap();
    let first_frame = start_us + (from - start_us).div_euclid(GOP_US) * GOP_US;
    let end = start_us + (to - start_us + GOP_US - 1).div_euclid(GOP_US) * GOP_US;
    let probe = check_export(&report, true);
    let asked = (to - from) as f64 / 1e6;
    let gop = GOP_US as f64 / 1e6;
    assert!(
        probe.duration >= asked - MEASURE_SLACK_S
            && probe.duration <= asked + gop + MEASURE_SLACK_S,
        "asked {asked} s, the clip lasts {} s",
        probe.duration
    );
    let created = creation_time_us(&report.path).expect("a creation time");
    assert!(
        (created - first_frame).abs() < 1000,
        "created {}, first frame {}",
        time::format_utc(created),
        time::format_utc(first_frame)
    );
    assert_eq!(
        (report.utc_start_us, report.utc_end_us),
        (first_frame, end),
        "{report:?}"
    );
    assert!(!report.clipped_start && !report.clipped_end);
    eprintln!(
        "asked {asked:.3} s, clip {:.3} s: |clip - asked| = {:.3} s",
        probe.duration,
        (probe.duration - asked).abs()
    );
}

#[test]
fn a_30_s_clip_is_cut_at_keyframes() {
    if !have_ffmpeg() {
        return;
    }
    let ring = TestRing::new(&[&fixture(&AV)], 0, true, ODD_START_US);
    let from = ODD_START_US + 5_250_000;
    check_cut(&ring, ODD_START_US, from, from + 30 * SECOND);
}

#[test]
fn a_3_minute_clip_is_cut_at_keyframes() {
    if !have_ffmpeg() {
        return;
    }
    // Low resolution keeps encoding, remuxing and decoding 3 minutes quick.
    let long = Spec::new(160, 120, 190, 30);
    let ring = TestRing::new(&[&fixture(&long)], 0, true, ODD_START_US);
    let from = ODD_START_US + 4_600_000;
    check_cut(&ring, ODD_START_US, from, from + 180 * SECOND);
}

#[test]
fn a_range_starting_and_ending_mid_segment_is_cut_at_keyframes() {
    if !have_ffmpeg() {
        return;
    }
    let ring = TestRing::new(&[&fixture(&AV)], 0, true, ODD_START_US);
    // Inside one segment (10 s to 15 s): 11 s to 14 s is kept.
    check_cut(
        &ring,
        ODD_START_US,
        ODD_START_US + 11_250_000,
        ODD_START_US + 13_500_000,
    );
    // From the middle of one segment to the middle of another, two segments on.
    check_cut(
        &ring,
        ODD_START_US,
        ODD_START_US + 12_400_000,
        ODD_START_US + 23_700_000,
    );
}

#[test]
fn segments_without_keyframe_positions_are_exported_whole() {
    if !have_ffmpeg() {
        return;
    }
    let ring = TestRing::without_keyframes(&[&fixture(&AV)], BASE_UTC_US);
    let (from, to) = (BASE_UTC_US + 12 * SECOND, BASE_UTC_US + 23 * SECOND);
    let report = ring.export(from, to).unwrap();
    assert_eq!(
        (report.utc_start_us, report.utc_end_us),
        (BASE_UTC_US + 10 * SECOND, BASE_UTC_US + 25 * SECOND)
    );
    assert_eq!((report.first_seq, report.last_seq), (3, 5));
    assert_eq!(report.duration_us, 15_000_000);
    check_export(&report, true);
    assert_eq!(
        creation_time_us(&report.path),
        Some(BASE_UTC_US + 10 * SECOND)
    );
}

#[test]
fn exports_a_range_with_audio() {
    check_middle_range(AV, true);
}

#[test]
fn exports_a_range_without_audio() {
    check_middle_range(Spec { audio: false, ..AV }, false);
}

#[test]
fn exports_a_range_with_b_frames() {
    check_middle_range(
        Spec {
            bframes: true,
            ..AV
        },
        true,
    );
}

#[test]
fn the_whole_ring_and_its_progress() {
    if !have_ffmpeg() {
        return;
    }
    let ring = TestRing::new(&[&fixture(&AV)], 0, true, BASE_UTC_US);
    let mut seen: Vec<Progress> = Vec::new();
    let request = Request {
        now: clock(false),
        ..Request::new(0, i64::MAX, Target::File(ring.out_dir().join("all.mp4")))
    };
    let report = export::export(&ring.ring.reader(), &request, &mut |p| seen.push(p)).unwrap();
    assert!(report.clipped_start && report.clipped_end);
    assert_eq!(report.segments(), ring.segments.len() as u64);
    assert_eq!(report.name_source, None);
    check_export(&report, true);
    assert!(seen.windows(2).all(|w| w[0].bytes_done <= w[1].bytes_done));
    let last = seen.last().unwrap();
    assert_eq!(
        (last.bytes_done, last.bytes_total),
        (report.ts_bytes, report.ts_bytes)
    );
}

/// The video PTS of an edited stream must advance one frame at a time (in display order).
fn assert_video_continuous(ts: &[u8]) {
    let mut pts: Vec<u64> = ts
        .chunks_exact(PACKET_LEN)
        .filter_map(|p| {
            let p: &[u8; PACKET_LEN] = p.try_into().unwrap();
            let h = PacketHeader::parse(p)?;
            (h.pusi && h.pid == 0x100).then(|| parse_pes_header(h.payload(p))?.pts)?
        })
        .collect();
    let first = pts[0];
    pts.sort_by_key(|&p| pts_diff(p, first));
    for w in pts.windows(2) {
        assert_eq!(pts_diff(w[1], w[0]), 3000, "video jumps at {}", w[0]);
    }
}

fn check_restart(second: Spec, gap_us: i64) {
    if !have_ffmpeg() {
        return;
    }
    // 8 s: the second source's timestamps jump back by less than ffmpeg's own 10 s
    // discontinuity heuristic, so only the export's retiming can save the file.
    let a = fixture(&Spec::new(320, 240, 8, 30));
    let b = fixture(&second);
    let ring = TestRing::new(&[&a, &b], gap_us, true, BASE_UTC_US);
    let restarts = ring
        .segments
        .iter()
        .filter(|s| s.meta.flags & flags::DISCONTINUITY != 0);
    assert_eq!(restarts.count(), 1);
    let (from, to) = (BASE_UTC_US + 6 * SECOND, BASE_UTC_US + 20 * SECOND + gap_us);
    let report = ring.export(from, to).unwrap();
    assert_eq!(report.discontinuities, 1);
    assert_eq!(report.gaps_us, gap_us as u64);
    check_export(&report, true);
    assert_video_continuous(&export::edited_stream(&ring.ring.reader(), from, to).unwrap());
}

#[test]
fn a_range_across_a_source_restart_plays_through() {
    check_restart(Spec::new(320, 240, 16, 30), 0);
}

#[test]
fn a_restart_near_the_33_bit_wrap_after_a_pause() {
    // The second source's clock starts 16 s before 2^33 ticks: the joined timeline and the
    // source's own wrap both cross it.
    let second = Spec {
        ts_offset: Some(95_428),
        ..Spec::new(320, 240, 16, 30)
    };
    check_restart(second, 30 * SECOND);
}

#[test]
fn clipping_is_reported() {
    if !have_ffmpeg() {
        return;
    }
    let ring = TestRing::new(&[&fixture(&AV)], 0, true, BASE_UTC_US);
    let end = ring.segments.last().unwrap().utc_end_us();
    let report = ring.export(end - 7 * SECOND, end + 60 * SECOND).unwrap();
    assert!(report.clipped_end && !report.clipped_start, "{report:?}");
    assert_eq!(report.utc_end_us, end);
    // The name shows the end of the recording, not the end asked for.
    let local = time::local_time(end).unwrap();
    assert_eq!(
        report.path.file_name().unwrap(),
        &*time::memory_file_name(&local, 1)
    );
    check_export(&report, true);
    let report = ring
        .export(BASE_UTC_US - 60 * SECOND, BASE_UTC_US + 3 * SECOND)
        .unwrap();
    assert!(report.clipped_start && !report.clipped_end);
    assert_eq!((report.first_seq, report.last_seq), (1, 1));
    // From what the ring holds to the keyframe after the end asked for.
    assert_eq!(
        (report.utc_start_us, report.utc_end_us),
        (BASE_UTC_US, BASE_UTC_US + 3 * SECOND)
    );
    check_export(&report, true);
}

#[test]
fn nothing_in_range_says_what_the_ring_holds() {
    if !have_ffmpeg() {
        return;
    }
    let ring = TestRing::new(&[&fixture(&AV)], 0, true, BASE_UTC_US);
    let end = ring.segments.last().unwrap().utc_end_us();
    let err = ring.export(end + SECOND, end + 2 * SECOND).unwrap_err();
    assert!(
        matches!(err, ExportError::NothingInRange { holds: Some((s, e)), .. } if s == BASE_UTC_US && e == end)
    );
    assert!(
        err.to_string()
            .contains("it holds 2026-11-30T10:00:00Z to 2026-11-30T10:00:40Z"),
        "{err}"
    );
    let err = ring.export(end, end - SECOND).unwrap_err();
    assert!(matches!(err, ExportError::InvalidRange { .. }), "{err}");
    assert_eq!(std::fs::read_dir(ring.out_dir()).unwrap().count(), 0);
}

#[test]
fn a_taken_name_gets_a_suffix() {
    if !have_ffmpeg() {
        return;
    }
    let ring = TestRing::new(&[&fixture(&AV)], 0, true, BASE_UTC_US);
    let (from, to) = (BASE_UTC_US + 2 * SECOND, BASE_UTC_US + 8 * SECOND);
    let first = ring.export(from, to).unwrap();
    let second = ring.export(from, to).unwrap();
    let local = time::local_time(to).unwrap();
    assert_eq!(
        first.path,
        ring.out_dir().join(time::memory_file_name(&local, 1))
    );
    assert_eq!(
        second.path,
        ring.out_dir().join(time::memory_file_name(&local, 2))
    );
    assert!(second.path.to_string_lossy().ends_with("-MEMORY_2.mp4"));
    let request = Request {
        now: clock(false),
        ..Request::new(from, to, Target::File(first.path.clone()))
    };
    let err = export::export(&ring.ring.reader(), &request, &mut |_| {}).unwrap_err();
    assert!(matches!(err, ExportError::Exists { .. }), "{err}");
}

#[test]
fn the_creation_time_is_the_first_frames_to_the_microsecond() {
    if !have_ffmpeg() {
        return;
    }
    // Not on a whole second: an MP4's movie header holds whole seconds only.
    let start = BASE_UTC_US + 456_700;
    let ring = TestRing::new(&[&fixture(&AV)], 0, true, start);
    let report = ring.export(start + 6 * SECOND, start + 9 * SECOND).unwrap();
    assert_eq!(creation_time_us(&report.path), Some(start + 6 * SECOND));
    // A time from a clock that was never set is left out.
    let unset = TestRing::new(&[&fixture(&AV)], 0, false, 10 * SECOND);
    let file = unset.out_dir().join("boot.mp4");
    let request = Request {
        now: clock(false),
        ..Request::new(0, 20 * SECOND, Target::File(file.clone()))
    };
    export::export(&unset.ring.reader(), &request, &mut |_| {}).unwrap();
    assert_eq!(creation_time_us(&file), None);
}

#[test]
fn an_unset_clock_never_names_a_file_1970() {
    if !have_ffmpeg() {
        return;
    }
    let ring = TestRing::new(&[&fixture(&AV)], 0, false, 10 * SECOND);
    let err = ring.export(0, 20 * SECOND).unwrap_err();
    assert!(matches!(err, ExportError::UnknownTime { .. }), "{err}");
    assert!(err.to_string().contains("-o FILE"), "{err}");
    let mut request = Request::new(0, 20 * SECOND, Target::Dir(ring.out_dir()));
    request.now = clock(true);
    let report = export::export(&ring.ring.reader(), &request, &mut |_| {}).unwrap();
    assert_eq!(report.name_source, Some(NameSource::ExportTime));
    assert!(
        report.path.to_string_lossy().contains("/2026-11-30_"),
        "{report:?}"
    );
    let later = TestRing::new(&[&fixture(&AV)], 0, false, BASE_UTC_US);
    let report = later.export(BASE_UTC_US, BASE_UTC_US + SECOND).unwrap();
    assert_eq!(report.name_source, Some(NameSource::RecordedUnsynced));
}

/// A stand-in for ffmpeg: a shell script.
fn fake_ffmpeg(dir: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("fake-ffmpeg");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn failures_leave_no_file_behind() {
    if !have_ffmpeg() {
        return;
    }
    let ring = TestRing::new(&[&fixture(&AV)], 0, true, BASE_UTC_US);
    let out = ring.out_dir();
    let run = |ffmpeg: PathBuf, timeout: u64| {
        let mut request = Request::new(
            BASE_UTC_US,
            BASE_UTC_US + 9 * SECOND,
            Target::Dir(out.clone()),
        );
        request.ffmpeg = ffmpeg;
        request.timeout = Some(std::time::Duration::from_secs(timeout));
        let err = export::export(&ring.ring.reader(), &request, &mut |_| {}).unwrap_err();
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "{err}");
        err
    };
    let err = run(PathBuf::from("/nonexistent/ffmpeg"), 60);
    assert!(matches!(err, ExportError::FfmpegMissing { .. }), "{err}");
    assert!(err.to_string().contains("apt-get install ffmpeg"), "{err}");
    // Writes half a file, complains and fails.
    let failing = fake_ffmpeg(
        ring.dir.path(),
        r#"for last; do :; done; echo junk > "$last"; echo 'pipe:0: Invalid data found' >&2; exit 1"#,
    );
    let err = run(failing, 60);
    assert!(err.to_string().contains("exit status 1"), "{err}");
    assert!(err.to_string().contains("Invalid data found"), "{err}");
    // Hangs without reading: the watchdog kills it.
    let started = std::time::Instant::now();
    let err = run(fake_ffmpeg(ring.dir.path(), "exec sleep 60"), 1);
    assert!(matches!(err, ExportError::FfmpegTimeout { .. }), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
