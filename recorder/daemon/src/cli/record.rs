//! `moment-recorder record`: records from a camera source into the ring until stopped, without
//! the rest of the daemon (no web, no buttons). For bring-up on a new board, for the demo and for
//! tests of capture against a real ring. SIGINT and SIGTERM end the current segment and flush
//! the index, so a stop loses nothing.

use super::device;
use super::units::parse_duration;
use super::Outcome;
use crate::recording;
use crate::signals;
use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use moment_media::source::gopro::{GoPro, GoProConfig, Mode};
use moment_media::source::{
    FfmpegConfig, PicamConfig, Source, SourceEvent, StdinSource, Supervisor, SupervisorConfig,
    TestConfig,
};
use moment_media::{CaptureEnd, SegmenterConfig};
use moment_ring::{OpenOptions, Ring};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// Where the camera's MPEG-TS comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SourceKind {
    /// The Pi camera through rpicam-vid.
    Picam,
    /// A GoPro over Wi-Fi (UDP).
    Gopro,
    /// Any ffmpeg input (--input), remuxed without re-encoding.
    Ffmpeg,
    /// A live test pattern and tone made by ffmpeg.
    Test,
    /// MPEG-TS on standard input.
    Stdin,
}

/// Which GoPro streaming protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GoProProtocol {
    /// gpStream: HTTP start on port 80, UDP keep-alives (HERO4 to HERO7).
    Legacy,
    /// Open GoPro: HTTP on port 8080 (HERO9 and later).
    Open,
}

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
    let source = build_source(&args)?;
    let supervisor_config = SupervisorConfig {
        silence: args.silence,
        ..SupervisorConfig::default()
    };
    supervisor_config
        .validate()
        .map_err(|e| anyhow::anyhow!("--silence: {e}"))?;
    let segmenter_config = SegmenterConfig {
        target: args.segment,
        ..SegmenterConfig::default()
    };
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
    let recording = recording::start(ring, supervisor, segmenter_config, log_event)
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
    }
}

fn build_source(args: &Args) -> Result<Box<dyn Source>> {
    let program = |default: &str| args.program.clone().unwrap_or_else(|| default.into());
    let source: Box<dyn Source> = match args.source {
        SourceKind::Picam => {
            let defaults = PicamConfig::default();
            let fps = args.fps.unwrap_or(defaults.fps);
            let config = PicamConfig {
                program: program("rpicam-vid"),
                width: args.width.unwrap_or(defaults.width),
                height: args.height.unwrap_or(defaults.height),
                fps,
                bitrate: args.bitrate.unwrap_or(defaults.bitrate),
                intra: args.keyframe_interval.unwrap_or(fps),
                audio_device: args.audio_device.clone(),
            };
            config.validate().map_err(|e| anyhow::anyhow!("--{e}"))?;
            Box::new(config.source())
        }
        SourceKind::Test => {
            let defaults = TestConfig::default();
            let fps = args.fps.unwrap_or(defaults.fps);
            let config = TestConfig {
                program: program("ffmpeg"),
                width: args.width.unwrap_or(defaults.width),
                height: args.height.unwrap_or(defaults.height),
                fps,
                bitrate: args.bitrate.unwrap_or(defaults.bitrate),
                gop: args.keyframe_interval.unwrap_or(fps),
                audio: !args.no_audio,
            };
            config.validate().map_err(|e| anyhow::anyhow!("--{e}"))?;
            Box::new(config.source())
        }
        SourceKind::Ffmpeg => {
            let Some(input) = args.input.clone() else {
                bail!("--source ffmpeg needs --input URL (an rtsp:// address or a file)");
            };
            let config = FfmpegConfig {
                program: program("ffmpeg"),
                input,
                realtime: args.realtime,
            };
            config.validate().map_err(|e| anyhow::anyhow!("--{e}"))?;
            Box::new(config.source())
        }
        SourceKind::Stdin => Box::new(StdinSource::default()),
        SourceKind::Gopro => {
            let mut config = match args.gopro_protocol {
                GoProProtocol::Legacy => GoProConfig::legacy(),
                GoProProtocol::Open if args.gopro_preview => GoProConfig::open_gopro(Mode::Preview),
                GoProProtocol::Open => GoProConfig::open_gopro(Mode::Webcam),
            };
            if let Some(host) = args.gopro_host {
                config.host = host;
            }
            Box::new(GoPro::new(config).context("--gopro-*")?)
        }
    };
    Ok(source)
}
