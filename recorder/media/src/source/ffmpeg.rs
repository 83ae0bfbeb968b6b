//! Sources made by ffmpeg: any input it can open (an RTSP camera, a file, a capture device)
//! remuxed to MPEG-TS without re-encoding, and the `test` source, a live test pattern and tone
//! encoded to H.264 + AAC so the whole recorder runs on a machine without a camera.

use super::process::ProcessSource;

/// Longest input URL accepted; anything longer is a mistake, not a camera.
const MAX_URL_LEN: usize = 2048;

/// Any ffmpeg input remuxed to TS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FfmpegConfig {
    pub program: String,
    /// What ffmpeg opens: `rtsp://...`, `/path/file.ts`, `udp://...`.
    pub input: String,
    /// Read at the input's native pace (`-re`): for files, so they behave like a live camera.
    pub realtime: bool,
}

impl FfmpegConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.input.is_empty() || self.input.len() > MAX_URL_LEN {
            return Err(format!("input must be 1 to {MAX_URL_LEN} characters"));
        }
        if self.input.starts_with('-') {
            return Err("input must be a URL or a path, not an option".into());
        }
        Ok(())
    }

    pub fn source(&self) -> ProcessSource {
        let mut args = base_args();
        if self.input.starts_with("rtsp://") || self.input.starts_with("rtsps://") {
            args.extend(["-rtsp_transport".into(), "tcp".into()]);
        }
        if self.realtime {
            args.push("-re".into());
        }
        args.extend(["-i".into(), self.input.clone()]);
        args.extend(
            ["-map", "0:v:0", "-map", "0:a:0?", "-c", "copy"]
                .iter()
                .map(|s| s.to_string()),
        );
        args.extend(ts_output());
        ProcessSource {
            label: format!("ffmpeg {}", redact(&self.input)),
            program: self.program.clone(),
            args,
        }
    }
}

/// The test pattern: `testsrc2` and a 440 Hz tone, encoded live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestConfig {
    pub program: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Video bitrate, bits per second.
    pub bitrate: u32,
    /// Keyframe interval in frames.
    pub gop: u32,
    pub audio: bool,
    /// Burns the capture time into every frame (`CaptureClock`): what the live-latency
    /// benchmark reads back from the picture a browser shows.
    pub clock: bool,
}

/// The capture time burned into a test-pattern frame: the wall clock in milliseconds, modulo
/// 2^`BITS`, as a row of `BITS` cells (least significant bit leftmost) on a black bar along the
/// top, white for 1. Cells are `CELL` pixels square from (`CELL`, `CELL`/2), coarse enough to
/// survive H.264 at a test bitrate, read back by sampling each cell's centre.
pub struct CaptureClock;

impl CaptureClock {
    pub const BITS: u32 = 24;
    pub const CELL: u32 = 16;

    /// The ffmpeg filter chain: the frame's timestamp becomes the wall clock when it passes the
    /// filter (`RTCTIME`, which with `-re` is when the frame is made), the cells are drawn from
    /// it, and the timestamps start from zero again for the encoder.
    pub fn filter(fps: u32) -> String {
        let cell = Self::CELL;
        let mut chain = format!(
            "setpts='RTCTIME/(1000000*TB)',drawbox=x=0:y=0:w={w}:h={h}:color=black:t=fill",
            w = cell * (Self::BITS + 2),
            h = cell * 2,
        );
        for bit in 0..Self::BITS {
            chain.push_str(&format!(
                ",drawbox=x={x}:y={y}:w={cell}:h={cell}:color=white:t=fill:\
                 enable='mod(floor(t*1000/{div}),2)'",
                x = cell * (bit + 1),
                y = cell / 2,
                div = 1u64 << bit,
            ));
        }
        chain.push_str(&format!(",setpts=N/({fps}*TB)"));
        chain
    }
}

impl Default for TestConfig {
    fn default() -> Self {
        TestConfig {
            program: "ffmpeg".into(),
            width: 1280,
            height: 720,
            fps: 30,
            bitrate: 4_000_000,
            gop: 30,
            audio: true,
            clock: false,
        }
    }
}

impl TestConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(16..=3840).contains(&self.width) || !(16..=2160).contains(&self.height) {
            return Err("width/height must be 16x16 to 3840x2160".into());
        }
        if !(1..=60).contains(&self.fps) {
            return Err("fps must be 1 to 60".into());
        }
        if !(50_000..=50_000_000).contains(&self.bitrate) {
            return Err("bitrate must be 50 kbit/s to 50 Mbit/s".into());
        }
        if !(1..=self.fps * 10).contains(&self.gop) {
            return Err("gop must be 1 to 10 seconds of frames".into());
        }
        if self.clock && self.width < CaptureClock::CELL * (CaptureClock::BITS + 2) {
            return Err(format!(
                "clock needs a width of at least {} pixels",
                CaptureClock::CELL * (CaptureClock::BITS + 2)
            ));
        }
        Ok(())
    }

    pub fn source(&self) -> ProcessSource {
        let mut args = base_args();
        let video = format!(
            "testsrc2=size={}x{}:rate={}",
            self.width, self.height, self.fps
        );
        args.extend([
            "-re".into(),
            "-f".into(),
            "lavfi".into(),
            "-i".into(),
            video,
        ]);
        if self.audio {
            args.extend(
                [
                    "-re",
                    "-f",
                    "lavfi",
                    "-i",
                    "sine=frequency=440:sample_rate=48000",
                ]
                .iter()
                .map(|s| s.to_string()),
            );
        }
        if self.clock {
            args.extend(["-vf".into(), CaptureClock::filter(self.fps)]);
        }
        let gop = self.gop.to_string();
        args.extend(
            [
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
                "-pix_fmt",
                "yuv420p",
                "-g",
                &gop,
                "-keyint_min",
                &gop,
                "-sc_threshold",
                "0",
                "-b:v",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        args.push(self.bitrate.to_string());
        if self.audio {
            args.extend(["-c:a", "aac", "-b:a", "96k"].iter().map(|s| s.to_string()));
        }
        args.extend(ts_output());
        ProcessSource {
            label: format!("test {}x{}@{}", self.width, self.height, self.fps),
            program: self.program.clone(),
            args,
        }
    }
}

/// Quiet, never reads the terminal: the recorder runs under systemd.
fn base_args() -> Vec<String> {
    ["-hide_banner", "-nostdin", "-loglevel", "error"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// MPEG-TS on stdout, flushed per packet so the segmenter sees frames as they are made.
fn ts_output() -> Vec<String> {
    ["-flush_packets", "1", "-f", "mpegts", "pipe:1"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Hides a password in `scheme://user:password@host` so status and logs never show it.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{}", &rest[at + 1..])
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtsp_goes_over_tcp_and_passwords_stay_out_of_the_label() {
        let config = FfmpegConfig {
            program: "ffmpeg".into(),
            input: "rtsp://cam:secret@192.168.1.9/stream1".into(),
            realtime: false,
        };
        config.validate().unwrap();
        let source = config.source();
        assert!(source
            .command_line()
            .contains("-rtsp_transport tcp -i rtsp://"));
        assert!(source.command_line().contains("-c copy"));
        assert_eq!(source.label, "ffmpeg rtsp://cam:***@192.168.1.9/stream1");
    }

    #[test]
    fn inputs_that_look_like_options_are_refused() {
        let config = |input: &str| FfmpegConfig {
            program: "ffmpeg".into(),
            input: input.into(),
            realtime: true,
        };
        assert!(config("-f").validate().is_err());
        assert!(config("").validate().is_err());
        assert!(config("/srv/clip.ts").validate().is_ok());
    }

    #[test]
    fn test_pattern_settings_are_checked() {
        assert!(TestConfig::default().validate().is_ok());
        let bad = TestConfig {
            gop: 0,
            ..TestConfig::default()
        };
        assert!(bad.validate().unwrap_err().starts_with("gop"));
        let silent = TestConfig {
            audio: false,
            ..TestConfig::default()
        };
        assert!(!silent.source().command_line().contains("aac"));
    }
}
