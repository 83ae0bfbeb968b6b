//! Capture sources and their supervision with real processes: the live test pattern from ffmpeg,
//! an ffmpeg source whose input ends (restart, backoff, discontinuity), a process that hangs
//! (silence detection kills its whole process group), a program that is missing, and a process
//! that fails with a message on stderr.

mod common;

use common::have_ffmpeg;
use moment_media::source::{
    FfmpegConfig, Polled, ProcessSource, SourceEvent, Supervisor, SupervisorConfig, TestConfig,
    READ_CHUNK,
};
use moment_media::{
    run_capture, segment_queue, system_clock, CaptureEnd, CaptureOutputs, CaptureProgress,
    LiveChunk, LiveMark, LiveSink, RecvError, Segmenter, SegmenterConfig,
};
use moment_ring::flags;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Polls until `until` says stop or `limit` passes; returns the events seen.
fn drive(
    supervisor: &mut Supervisor,
    limit: Duration,
    mut until: impl FnMut(&Polled, &[SourceEvent]) -> bool,
) -> (Vec<SourceEvent>, u64) {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut events = Vec::new();
    let mut bytes = 0u64;
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let polled = supervisor.poll(&mut buf, Duration::from_millis(100));
        if let Polled::Data(n) = polled {
            bytes += n as u64;
        }
        events.extend(supervisor.take_events().0.into_iter().map(|(_, e)| e));
        if until(&polled, &events) {
            break;
        }
    }
    (events, bytes)
}

fn quick_backoff(silence: Duration) -> SupervisorConfig {
    SupervisorConfig {
        silence,
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        stable_after: Duration::from_secs(60),
    }
}

fn short_clip() -> PathBuf {
    let spec = common::Spec::new(320, 240, 2, 30);
    let bytes = common::fixture(&spec);
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sources-short-clip.ts");
    if !path.exists() {
        std::fs::write(&path, bytes).unwrap();
    }
    path
}

/// Keeps every live chunk, merged into one with offsets from the start.
#[derive(Default)]
struct LiveLog(Mutex<LiveChunk>);

impl LiveSink for LiveLog {
    fn publish(&self, chunk: &LiveChunk) {
        assert!(!chunk.is_empty(), "empty chunks are not published");
        let mut all = self.0.lock().unwrap();
        let base = all.bytes.len();
        all.bytes.extend_from_slice(&chunk.bytes);
        all.marks.extend(chunk.marks.iter().map(|m| match m {
            LiveMark::Keyframe {
                offset,
                tables,
                utc_us,
            } => LiveMark::Keyframe {
                offset: base + offset,
                tables: tables.clone(),
                utc_us: *utc_us,
            },
            LiveMark::Restart { offset } => LiveMark::Restart {
                offset: base + offset,
            },
        }));
    }
}

#[test]
fn test_pattern_is_segmented_with_video_and_audio() {
    if !have_ffmpeg() {
        return;
    }
    let config = TestConfig {
        width: 320,
        height: 240,
        bitrate: 300_000,
        ..TestConfig::default()
    };
    config.validate().unwrap();
    let mut supervisor = Supervisor::new(
        Box::new(config.source()),
        quick_backoff(Duration::from_secs(10)),
    );
    let (sender, receiver) = segment_queue(16, 64 << 20);
    let mut segmenter = Segmenter::new(SegmenterConfig {
        target: Duration::from_secs(2),
        ..SegmenterConfig::default()
    })
    .unwrap();
    let stop = AtomicBool::new(false);
    let progress = CaptureProgress::default();
    let started = Instant::now();
    let mut events = Vec::new();
    let mut segments = Vec::new();
    let live = LiveLog::default();
    std::thread::scope(|scope| {
        let capture = scope.spawn(|| {
            let outputs = CaptureOutputs {
                segments: &sender,
                progress: &progress,
                live: Some(&live),
            };
            run_capture(
                &mut supervisor,
                &mut segmenter,
                outputs,
                &stop,
                &system_clock,
                &mut |_, e| events.push(e),
            )
        });
        // Two whole segments need a bit over 4 s of live video; give a slow machine 30 s.
        while segments.len() < 2 && started.elapsed() < Duration::from_secs(30) {
            match receiver.recv_timeout(Duration::from_millis(200)) {
                Ok(segment) => segments.push(segment),
                Err(RecvError::Timeout) => {}
                Err(RecvError::Disconnected) => break,
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let end = capture.join().unwrap();
        assert_eq!(end, CaptureEnd::Stopped);
        let totals = progress.snapshot();
        assert!(totals.bytes > 0);
        assert!(totals.last_data_mono_us > 0);
        assert!(totals.segments_sent >= 2);
    });
    assert_eq!(events.first(), Some(&SourceEvent::Started { attempt: 1 }));
    assert!(
        segments.len() >= 2,
        "only {} segments in 30 s",
        segments.len()
    );
    for (i, segment) in segments.iter().take(2).enumerate() {
        let meta = &segment.meta;
        assert!(
            meta.flags & flags::KEYFRAME_START != 0,
            "segment {i} starts on a keyframe"
        );
        let seconds = meta.duration_us as f64 / 1e6;
        assert!(
            (1.9..=2.5).contains(&seconds),
            "segment {i} lasts {seconds} s"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = common::assert_decodes(dir.path(), "segment.ts", &segment.payload);
        let streams = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name",
                "-of",
                "csv=p=0",
            ])
            .arg(&path)
            .output()
            .unwrap();
        let codecs = String::from_utf8_lossy(&streams.stdout);
        assert!(
            codecs.contains("h264") && codecs.contains("aac"),
            "{codecs}"
        );
    }
    check_live_feed(&live.0.into_inner().unwrap(), &segments);
}

/// The live feed carried the segments' own bytes, in order, marked every keyframe a segment
/// starts with, decodes from a keyframe in the middle given the tables, and ended with a restart
/// when capture stopped.
fn check_live_feed(live: &LiveChunk, segments: &[moment_media::Segment]) {
    let stored: Vec<u8> = segments
        .iter()
        .flat_map(|s| s.payload[s.injected_len..].iter().copied())
        .collect();
    assert!(live.bytes.starts_with(&stored), "the ring's bytes, live");
    assert!(
        live.marks
            .windows(2)
            .all(|w| w[0].offset() <= w[1].offset()),
        "marks in order"
    );
    assert!(
        matches!(live.marks.last(), Some(LiveMark::Restart { offset }) if *offset == live.bytes.len()),
        "stopping ends the feed: {:?}",
        live.marks.last()
    );
    let keyframes: Vec<(usize, &Vec<u8>)> = live
        .marks
        .iter()
        .filter_map(|m| match m {
            LiveMark::Keyframe { offset, tables, .. } => Some((*offset, tables)),
            LiveMark::Restart { .. } => None,
        })
        .collect();
    let mut segment_start = 0;
    for segment in segments {
        assert!(
            keyframes.iter().any(|(at, _)| *at >= segment_start
                && *at < segment_start + segment.payload.len() - segment.injected_len),
            "a keyframe inside every segment"
        );
        segment_start += segment.payload.len() - segment.injected_len;
    }
    let (at, tables) = keyframes[keyframes.len() / 2];
    assert_eq!(at % 188, 0, "on the packet grid");
    assert!(
        tables.len() >= 2 * 188 && tables[1] & 0x1F == 0 && tables[2] == 0,
        "PAT first"
    );
    let mut joined = tables.clone();
    joined.extend_from_slice(&live.bytes[at..]);
    let dir = tempfile::tempdir().unwrap();
    let path = common::assert_decodes(dir.path(), "live.ts", &joined);
    assert!(
        common::first_video_frame_is_key(&path),
        "a viewer starts on a keyframe"
    );
}

#[test]
fn an_input_that_ends_is_restarted_with_growing_backoff_and_marks_a_gap() {
    if !have_ffmpeg() {
        return;
    }
    let config = FfmpegConfig {
        program: "ffmpeg".into(),
        input: short_clip().display().to_string(),
        realtime: false,
    };
    let mut supervisor = Supervisor::new(
        Box::new(config.source()),
        quick_backoff(Duration::from_secs(10)),
    );
    let mut gaps = 0;
    let mut gap_times = Vec::new();
    let (events, bytes) = drive(&mut supervisor, Duration::from_secs(30), |polled, _| {
        if *polled == Polled::Gap {
            gaps += 1;
            gap_times.push(Instant::now());
        }
        gaps == 3
    });
    assert_eq!(gaps, 3, "events: {events:?}");
    assert!(
        bytes > 3 * 100_000,
        "every session delivered the clip ({bytes} bytes)"
    );
    let starts: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            SourceEvent::Started { attempt } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(starts, [1, 2, 3]);
    let ended = events.iter().filter(|e| matches!(e, SourceEvent::Ended { reason } if reason.contains("ffmpeg exited with status 0"))).count();
    assert_eq!(ended, 3, "{events:?}");
    // Backoff 100 ms, then 200 ms: the third gap comes at least 300 ms after the first.
    assert!(gap_times[2] - gap_times[0] >= Duration::from_millis(300));
}

#[test]
fn a_silent_source_is_stopped_with_its_whole_process_group() {
    if !have_ffmpeg() {
        return;
    }
    // Sends the clip, then hangs in a child of the shell (as a wedged camera driver would).
    let clip = short_clip();
    let source = ProcessSource {
        label: "hanging".into(),
        program: "sh".into(),
        args: vec![
            "-c".into(),
            format!("cat '{}'; sleep 60 & wait", clip.display()),
        ],
    };
    let mut supervisor =
        Supervisor::new(Box::new(source), quick_backoff(Duration::from_millis(700)));
    let started = Instant::now();
    let (events, bytes) = drive(&mut supervisor, Duration::from_secs(20), |polled, _| {
        *polled == Polled::Gap
    });
    let took = started.elapsed();
    assert!(bytes > 0);
    assert!(
        events.contains(&SourceEvent::Silent {
            after: Duration::from_millis(700)
        }),
        "{events:?}"
    );
    assert!(
        took >= Duration::from_millis(700),
        "silence detected after {took:?}"
    );
    // SIGTERM to the group ends `sleep` too; otherwise the stop would take the whole grace.
    assert!(took < Duration::from_secs(10), "stopping took {took:?}");
    assert!(!supervisor.is_running());
}

#[test]
fn a_missing_program_is_retried_with_bounded_backoff() {
    let source = ProcessSource {
        label: "missing".into(),
        program: "/nonexistent/rpicam-vid".into(),
        args: vec![],
    };
    let mut supervisor = Supervisor::new(Box::new(source), quick_backoff(Duration::from_secs(5)));
    let (events, _) = drive(&mut supervisor, Duration::from_secs(10), |_, events| {
        events.len() >= 5
    });
    let waits: Vec<Duration> = events
        .iter()
        .map(|e| match e {
            SourceEvent::OpenFailed { error, retry_in } => {
                assert!(error.contains("/nonexistent/rpicam-vid"), "{error}");
                assert!(error.contains("installed"), "{error}");
                *retry_in
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [100, 200, 400, 400, 400]);
    assert_eq!(supervisor.attempts(), 0);
}

#[test]
fn a_failing_process_says_why() {
    let source = ProcessSource {
        label: "failing".into(),
        program: "sh".into(),
        args: vec!["-c".into(), "echo 'camera not found' >&2; exit 3".into()],
    };
    let mut supervisor = Supervisor::new(Box::new(source), quick_backoff(Duration::from_secs(5)));
    let (events, _) = drive(&mut supervisor, Duration::from_secs(10), |polled, _| {
        *polled == Polled::Gap
    });
    let reason = events
        .iter()
        .find_map(|e| match e {
            SourceEvent::Ended { reason } => Some(reason.clone()),
            _ => None,
        })
        .expect("an Ended event");
    assert_eq!(reason, "sh exited with status 3: camera not found");
}

#[test]
fn capture_stops_when_the_writer_is_gone() {
    if !have_ffmpeg() {
        return;
    }
    let config = FfmpegConfig {
        program: "ffmpeg".into(),
        input: short_clip().display().to_string(),
        realtime: false,
    };
    let mut supervisor = Supervisor::new(
        Box::new(config.source()),
        quick_backoff(Duration::from_secs(5)),
    );
    let (sender, receiver) = segment_queue(4, 16 << 20);
    drop(receiver);
    let mut segmenter = Segmenter::new(SegmenterConfig::default()).unwrap();
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let progress = CaptureProgress::default();
    let outputs = CaptureOutputs {
        segments: &sender,
        progress: &progress,
        live: None,
    };
    let end = run_capture(
        &mut supervisor,
        &mut segmenter,
        outputs,
        &stop,
        &system_clock,
        &mut |_, _| {},
    );
    assert_eq!(end, CaptureEnd::WriterGone);
    assert!(started.elapsed() < Duration::from_secs(20));
}
