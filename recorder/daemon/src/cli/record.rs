//! `moment-recorder record`: records from a camera source into the ring until stopped, without
//! the rest of the daemon (no web, no buttons). For bring-up on a new board, for the demo and for
//! tests of capture against a real ring. SIGINT and SIGTERM end the current segment and flush
//! the index, so a stop loses nothing.

use super::device;
use super::units::parse_duration;
use super::Outcome;
use crate::config::source::{GoProProtocol, SourceConfig, SourceKind};
use crate::recording;
use crate::signals;
use anyhow::{bail, Context, Result};
use moment_media::source::{SourceEvent, Supervisor};
use moment_media::{CaptureEnd, SegmenterConfig};
use moment_ring::{OpenOptions, Ring};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// Options of `record`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ring: block device or file (see `ring format`).
    #[arg(long, value_name = "RING")]
    device: PathBuf,
    /// Where the video comes from.
    #[arg(long, value_enum)]
    source: SourceKind,
    /// ffmpeg source: the input URL or path.
    #[arg(long, value_name = "URL")]
    input: Option<String>,
    /// ffmpeg source: read the input at its native pace (for files).
    #[arg(long)]
    realtime: bool,
    /// picam/test: frame width.
    #[arg(long)]
    width: Option<u32>,
    /// picam/test: frame height.
    #[arg(long)]
    height: Option<u32>,
    /// picam/test: frames per second.
    #[arg(long)]
    fps: Option<u32>,
    /// picam/test: video bitrate in bits per second.
    #[arg(long)]
    bitrate: Option<u32>,
    /// picam/test: frames between keyframes (default: one second of frames).
    #[arg(long, value_name = "FRAMES")]
    keyframe_interval: Option<u32>,
    /// picam: ALSA device of the microphone (hw:1,0); no audio without it.
    #[arg(long)]
    audio_device: Option<String>,
    /// gopro: the camera's address (10.5.5.9 on its own Wi-Fi).
    #[arg(long, value_name = "IP")]
    gopro_host: Option<std::net::IpAddr>,
    /// gopro: legacy gpStream (HERO4-7) or Open GoPro (HERO9 and later).
    #[arg(long, value_enum, default_value = "open")]
    gopro_protocol: GoProProtocol,
    /// gopro (Open GoPro): the webcam stream or the preview stream.
    #[arg(long)]
    gopro_preview: bool,
    /// test: video only.
    #[arg(long)]
    no_audio: bool,
    /// picam/ffmpeg/test: the program to run instead of rpicam-vid or ffmpeg.
    #[arg(long, value_name = "PATH")]
    program: Option<String>,
    /// Target segment length (2s to 10s); cuts land on the next keyframe.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    segment: Duration,
    /// Restart the source when it sends nothing for this long.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    silence: Duration,
    /// Stop after this long (default: until SIGINT or SIGTERM).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
}

/// Runs `record`.
pub fn run(args: Args) -> Result<Outcome> {
    let source_config = source_config(&args)?;
    let supervisor_config = source_config
        .supervisor()
        .map_err(|e| anyhow::anyhow!("--silence: {e}"))?;
    let source = source_config
        .build()
        .map_err(|e| anyhow::anyhow!("source options: {e}"))?;
    let segmenter_config = SegmenterConfig::with_target(args.segment);
    segmenter_config
        .validate()
        .map_err(|e| anyhow::anyhow!("--segment: {e}"))?;
    let dev = device::open(&args.device, true)?;
    let ring = Ring::open(dev, OpenOptions::default()).map_err(device::explain)?;
    let report = ring.recovery();
    eprintln!(
        "record: ring {} opened: {} segments, {} rolled forward, {} lost{}",
        args.device.display(),
        ring.stats().segment_count,
        report.rolled_forward,
        report.lost,
        if report.repaired {
            ", index repaired"
        } else {
            ""
        },
    );
    signals::install_stop_handlers().context("installing the SIGINT/SIGTERM handlers")?;
    let label = source.describe();
    let supervisor = Supervisor::new(source, supervisor_config);
    let recording = recording::start(ring, supervisor, segmenter_config, log_event, None)
        .context("starting the capture and ring-writer threads")?;
    eprintln!("record: recording from {label}; stop with Ctrl-C");
    wait_for_stop(&recording, args.duration);
    recording.request_stop();
    let finished = recording.join();
    eprintln!(
        "record: stored {} segments ({} bytes, {} discontinuities); {} dropped while the ring \
         was busy; source restarted {} times",
        finished.writer.segments,
        finished.writer.payload_bytes,
        finished.writer.discontinuities,
        finished.capture.segments_dropped,
        finished.capture.gaps,
    );
    if finished.capture_end == CaptureEnd::SourceFinished {
        eprintln!("record: the source ended and cannot be restarted");
    }
    if let Some(e) = finished.ring_error {
        return Err(device::explain(e)).context("recording stopped: the ring failed");
    }
    Ok(Outcome::Success)
}

/// Sleeps until a signal, the duration, or the recording ends by itself.
fn wait_for_stop(recording: &recording::Recording, duration: Option<Duration>) {
    let started = Instant::now();
    while !signals::stop_requested() && !recording.is_finished() {
        if duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Source events on stderr; journald adds the time when this runs under systemd.
fn log_event(_at: SystemTime, event: SourceEvent) {
    match event {
        SourceEvent::Started { attempt: 1 } => eprintln!("record: source started"),
        SourceEvent::Started { attempt } => {
            eprintln!("record: source restarted (session {attempt})")
        }
        SourceEvent::Ended { reason } => eprintln!("record: source ended: {reason}"),
        SourceEvent::Silent { after } => eprintln!(
            "record: source sent nothing for {} s; restarting it",
            after.as_secs_f32()
        ),
        SourceEvent::OpenFailed { error, retry_in } => eprintln!(
            "record: cannot start the source: {error}; retrying in {} s",
            retry_in.as_secs_f32()
        ),
        SourceEvent::Replaced { by } => eprintln!("record: source replaced by {by}"),
    }
}

/// The `[source]` configuration the options describe; unset options keep the config defaults.
fn source_config(args: &Args) -> Result<SourceConfig> {
    let mut config = SourceConfig {
        kind: args.source,
        silence_s: args.silence.as_secs_f64(),
        ..SourceConfig::default()
    };
    let p = &mut config.picam;
    let t = &mut config.test;
    if let Some(program) = &args.program {
        p.program.clone_from(program);
        t.program.clone_from(program);
        config.ffmpeg.program.clone_from(program);
    }
    for (picam, test, value) in [
        (&mut p.width, &mut t.width, args.width),
        (&mut p.height, &mut t.height, args.height),
        (&mut p.fps, &mut t.fps, args.fps),
        (&mut p.bitrate, &mut t.bitrate, args.bitrate),
    ] {
        if let Some(value) = value {
            *picam = value;
            *test = value;
        }
    }
    p.intra = args.keyframe_interval.unwrap_or(0);
    t.gop = args.keyframe_interval.unwrap_or(0);
    p.audio_device = args.audio_device.clone().unwrap_or_default();
    t.audio = !args.no_audio;
    if args.source == SourceKind::Ffmpeg {
        let Some(input) = args.input.clone() else {
            bail!("--source ffmpeg needs --input URL (an rtsp:// address or a file)");
        };
        config.ffmpeg.input = input;
    }
    config.ffmpeg.realtime = args.realtime;
    config.gopro.protocol = args.gopro_protocol;
    config.gopro.preview = args.gopro_preview;
    if let Some(host) = args.gopro_host {
        config.gopro.host = host.to_string();
    }
    Ok(config)
}
