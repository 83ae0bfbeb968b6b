//! The Raspberry Pi camera: `rpicam-vid` encodes H.264 in hardware and muxes MPEG-TS through
//! libav onto its standard output (DESIGN.md §4). This file only turns the camera settings into
//! that command line; running and supervising it is `ProcessSource`'s job.

use super::process::ProcessSource;

/// Settings of the Pi camera that reach `rpicam-vid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PicamConfig {
    /// The program, `rpicam-vid` unless the image installs it elsewhere.
    pub program: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Video bitrate, bits per second.
    pub bitrate: u32,
    /// Frames between keyframes; one second of frames lets the segmenter cut every second.
    pub intra: u32,
    /// ALSA device of a microphone (`hw:1,0`); no audio when absent.
    pub audio_device: Option<String>,
}

impl Default for PicamConfig {
    fn default() -> Self {
        PicamConfig {
            program: "rpicam-vid".into(),
            width: 1920,
            height: 1080,
            fps: 30,
            bitrate: 10_000_000,
            intra: 30,
            audio_device: None,
        }
    }
}

/// The microphone's track. rpicam-vid's default audio source is PulseAudio, which the image does
/// not have, so ALSA is named; AAC because the image's ffmpeg encodes it natively and MPEG-TS and
/// MP4 carry it; one channel at 48 kHz because a camera's microphone is mono and 48 kHz is what
/// USB microphones deliver and AAC expects; 96 kbit/s keeps speech clear at about one percent
/// of the video's bytes.
const AUDIO_SOURCE: &str = "alsa";
const AUDIO_CODEC: &str = "aac";
const AUDIO_CHANNELS: u32 = 1;
const AUDIO_SAMPLERATE: u32 = 48_000;
const AUDIO_BITRATE: u32 = 96_000;

/// Limits of the camera module's modes and of what the Zero 2 W can encode.
const MAX_WIDTH: u32 = 4096;
const MAX_HEIGHT: u32 = 2592;
const MAX_FPS: u32 = 120;
const MAX_BITRATE: u32 = 50_000_000;

impl PicamConfig {
    /// Checks the values, naming the setting that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
        check(
            (64..=MAX_WIDTH).contains(&self.width) && self.width % 2 == 0,
            "width must be even and between 64 and 4096",
        )?;
        check(
            (64..=MAX_HEIGHT).contains(&self.height) && self.height % 2 == 0,
            "height must be even and between 64 and 2592",
        )?;
        check((1..=MAX_FPS).contains(&self.fps), "fps must be 1 to 120")?;
        check(
            (100_000..=MAX_BITRATE).contains(&self.bitrate),
            "bitrate must be 100 kbit/s to 50 Mbit/s",
        )?;
        check(
            (1..=self.fps * 10).contains(&self.intra),
            "intra must be 1 to 10 seconds of frames",
        )?;
        check(
            self.audio_device
                .as_deref()
                .is_none_or(|d| !d.is_empty() && !d.starts_with('-')),
            "audio_device must be an ALSA device name such as hw:1,0",
        )
    }

    /// The `rpicam-vid` invocation: no preview, no time limit, TS on stdout, SPS/PPS repeated at
    /// every keyframe so each segment decodes alone.
    pub fn source(&self) -> ProcessSource {
        let mut args: Vec<String> = [
            "-t",
            "0",
            "-n",
            "--codec",
            "libav",
            "--libav-format",
            "mpegts",
            "--inline",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for (flag, value) in [
            ("--width", self.width),
            ("--height", self.height),
            ("--framerate", self.fps),
            ("--bitrate", self.bitrate),
            ("--intra", self.intra),
        ] {
            args.push(flag.into());
            args.push(value.to_string());
        }
        if let Some(device) = &self.audio_device {
            args.push("--libav-audio".into());
            for (flag, value) in [
                ("--audio-source", AUDIO_SOURCE.to_string()),
                ("--audio-device", device.clone()),
                ("--audio-codec", AUDIO_CODEC.to_string()),
                ("--audio-channels", AUDIO_CHANNELS.to_string()),
                ("--audio-samplerate", AUDIO_SAMPLERATE.to_string()),
                ("--audio-bitrate", AUDIO_BITRATE.to_string()),
            ] {
                args.push(flag.into());
                args.push(value);
            }
        }
        args.extend(["-o".into(), "-".into()]);
        ProcessSource {
            label: format!("picam {}x{}@{}", self.width, self.height, self.fps),
            program: self.program.clone(),
            args,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_carries_every_setting() {
        let config = PicamConfig {
            audio_device: Some("hw:1,0".into()),
            ..PicamConfig::default()
        };
        config.validate().unwrap();
        assert_eq!(
            config.source().command_line(),
            "rpicam-vid -t 0 -n --codec libav --libav-format mpegts --inline --width 1920 \
             --height 1080 --framerate 30 --bitrate 10000000 --intra 30 --libav-audio \
             --audio-source alsa --audio-device hw:1,0 --audio-codec aac --audio-channels 1 \
             --audio-samplerate 48000 --audio-bitrate 96000 -o -"
        );
        let silent = PicamConfig::default().source().command_line();
        assert!(!silent.contains("audio"), "{silent}");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let bad = |c: PicamConfig| c.validate().unwrap_err();
        let base = PicamConfig::default;
        assert!(bad(PicamConfig {
            width: 1921,
            ..base()
        })
        .starts_with("width"));
        assert!(bad(PicamConfig {
            height: 0,
            ..base()
        })
        .starts_with("height"));
        assert!(bad(PicamConfig { fps: 0, ..base() }).starts_with("fps"));
        assert!(bad(PicamConfig {
            bitrate: 1,
            ..base()
        })
        .starts_with("bitrate"));
        assert!(bad(PicamConfig {
            intra: 301,
            ..base()
        })
        .starts_with("intra"));
        let flag = PicamConfig {
            audio_device: Some("--evil".into()),
            ..base()
        };
        assert!(bad(flag).starts_with("audio_device"));
    }
}
