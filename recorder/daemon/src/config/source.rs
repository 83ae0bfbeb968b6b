//! The `[source]` section: which camera, its settings, and how silence is judged. Shared by the
//! daemon's configuration file and `moment-recorder record`'s options, so both build a source
//! the same way and give the same errors.

use super::{key_error, seconds, ConfigError};
use moment_media::source::gopro::{GoPro, GoProConfig, Mode};
use moment_media::source::{
    FfmpegConfig, PicamConfig, Source, StdinSource, SupervisorConfig, TestConfig,
};
use serde::Deserialize;

/// Which camera and how it is supervised.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceConfig {
    /// picam, gopro, ffmpeg, test or stdin.
    pub kind: SourceKind,
    /// Restart the source after this many seconds without bytes.
    pub silence_s: f64,
    pub picam: PicamSection,
    pub gopro: GoProSection,
    pub ffmpeg: FfmpegSection,
    pub test: TestSection,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            kind: SourceKind::Picam,
            silence_s: 10.0,
            picam: PicamSection::default(),
            gopro: GoProSection::default(),
            ffmpeg: FfmpegSection::default(),
            test: TestSection::default(),
        }
    }
}

/// Where the camera's MPEG-TS comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The Pi camera through rpicam-vid.
    Picam,
    /// A GoPro over Wi-Fi (UDP).
    Gopro,
    /// Any ffmpeg input, remuxed without re-encoding.
    Ffmpeg,
    /// A live test pattern and tone made by ffmpeg.
    Test,
    /// MPEG-TS on standard input.
    Stdin,
}

/// Which GoPro streaming protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GoProProtocol {
    /// Open GoPro: HTTP on port 8080 (HERO9 and later).
    Open,
    /// gpStream: HTTP start on port 80, UDP keep-alives (HERO4 to HERO7).
    Legacy,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PicamSection {
    pub program: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate: u32,
    /// Frames between keyframes; 0 means one second of frames.
    pub intra: u32,
    /// ALSA device of the microphone; empty for no audio.
    pub audio_device: String,
}

impl Default for PicamSection {
    fn default() -> Self {
        let d = PicamConfig::default();
        PicamSection {
            program: d.program,
            width: d.width,
            height: d.height,
            fps: d.fps,
            bitrate: d.bitrate,
            intra: 0,
            audio_device: String::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GoProSection {
    pub protocol: GoProProtocol,
    pub host: String,
    /// Open GoPro: the preview stream instead of webcam mode.
    pub preview: bool,
}

impl Default for GoProSection {
    fn default() -> Self {
        GoProSection {
            protocol: GoProProtocol::Open,
            host: "10.5.5.9".into(),
            preview: false,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FfmpegSection {
    pub program: String,
    pub input: String,
    pub realtime: bool,
}

impl Default for FfmpegSection {
    fn default() -> Self {
        FfmpegSection {
            program: "ffmpeg".into(),
            input: String::new(),
            realtime: false,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TestSection {
    pub program: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate: u32,
    /// Frames between keyframes; 0 means one second of frames.
    pub gop: u32,
    pub audio: bool,
    /// Burns the capture time into the picture (for the live-latency benchmark).
    pub clock: bool,
}

impl Default for TestSection {
    fn default() -> Self {
        let d = TestConfig::default();
        TestSection {
            program: d.program,
            width: d.width,
            height: d.height,
            fps: d.fps,
            bitrate: d.bitrate,
            gop: 0,
            audio: d.audio,
            clock: d.clock,
        }
    }
}

impl SourceConfig {
    /// Checks every section, not only the selected kind's, so switching `kind` later cannot
    /// reveal an old mistake. An empty ffmpeg input is fine unless ffmpeg is selected.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.supervisor()?;
        for kind in [
            SourceKind::Picam,
            SourceKind::Gopro,
            SourceKind::Ffmpeg,
            SourceKind::Test,
        ] {
            if kind == SourceKind::Ffmpeg && self.kind != kind && self.ffmpeg.input.is_empty() {
                continue;
            }
            let mut one = self.clone();
            one.kind = kind;
            one.build()?;
        }
        self.build().map(drop)
    }

    pub fn supervisor(&self) -> Result<SupervisorConfig, ConfigError> {
        let config = SupervisorConfig {
            silence: seconds("source.silence_s", self.silence_s)?,
            ..SupervisorConfig::default()
        };
        config
            .validate()
            .map_err(|e| key_error("source.silence_s", e))?;
        Ok(config)
    }

    /// The configured source, ready for the supervisor.
    pub fn build(&self) -> Result<Box<dyn Source>, ConfigError> {
        let s = self;
        Ok(match s.kind {
            SourceKind::Picam => {
                let p = &s.picam;
                let config = PicamConfig {
                    program: p.program.clone(),
                    width: p.width,
                    height: p.height,
                    fps: p.fps,
                    bitrate: p.bitrate,
                    intra: if p.intra == 0 { p.fps } else { p.intra },
                    audio_device: (!p.audio_device.is_empty()).then(|| p.audio_device.clone()),
                };
                config
                    .validate()
                    .map_err(|e| key_error("source.picam", e))?;
                Box::new(config.source())
            }
            SourceKind::Test => {
                let t = &s.test;
                let config = TestConfig {
                    program: t.program.clone(),
                    width: t.width,
                    height: t.height,
                    fps: t.fps,
                    bitrate: t.bitrate,
                    gop: if t.gop == 0 { t.fps } else { t.gop },
                    audio: t.audio,
                    clock: t.clock,
                };
                config.validate().map_err(|e| key_error("source.test", e))?;
                Box::new(config.source())
            }
            SourceKind::Ffmpeg => {
                let f = &s.ffmpeg;
                let config = FfmpegConfig {
                    program: f.program.clone(),
                    input: f.input.clone(),
                    realtime: f.realtime,
                };
                config
                    .validate()
                    .map_err(|e| key_error("source.ffmpeg.input", e))?;
                Box::new(config.source())
            }
            SourceKind::Gopro => Box::new(self.gopro()?),
            SourceKind::Stdin => Box::new(StdinSource::default()),
        })
    }

    fn gopro(&self) -> Result<GoPro, ConfigError> {
        let g = &self.gopro;
        let mut config = match (g.protocol, g.preview) {
            (GoProProtocol::Legacy, _) => GoProConfig::legacy(),
            (GoProProtocol::Open, false) => GoProConfig::open_gopro(Mode::Webcam),
            (GoProProtocol::Open, true) => GoProConfig::open_gopro(Mode::Preview),
        };
        config.host = g.host.parse().map_err(|_| {
            key_error(
                "source.gopro.host",
                format!("{:?} is not an IP address (the camera is 10.5.5.9)", g.host),
            )
        })?;
        GoPro::new(config).map_err(|e| key_error("source.gopro", e))
    }
}
