//! Shared by the integration tests: real MPEG-TS fixtures made by ffmpeg at test time (cached in
//! Cargo's per-target temp dir, never committed), a deterministic chunker that feeds bytes in
//! random piece sizes, the invariants every run must keep, and ffmpeg/ffprobe checks on segments.
#![allow(dead_code)] // each test binary uses a different part

use moment_media::{Clock, Segment, Segmenter, SegmenterConfig, Stats};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

pub const PACKET: usize = 188;
pub const FPS: u64 = 30;

/// How a fixture is encoded.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub width: u32,
    pub height: u32,
    pub seconds: u32,
    /// Frames between IDRs.
    pub gop: u32,
    pub bframes: bool,
    pub audio: bool,
    pub video: bool,
    /// PMT at 0x1200, video 0x300, audio 0x301.
    pub unusual_pids: bool,
    /// `-output_ts_offset` in seconds (to place the 33-bit PTS wrap inside the stream).
    pub ts_offset: Option<u32>,
}

impl Spec {
    pub const fn new(width: u32, height: u32, seconds: u32, gop: u32) -> Spec {
        Spec {
            width,
            height,
            seconds,
            gop,
            bframes: false,
            audio: true,
            video: true,
            unusual_pids: false,
            ts_offset: None,
        }
    }

    fn name(&self) -> String {
        format!(
            "{}x{}-{}s-g{}-bf{}-a{}-v{}-p{}-o{}.ts",
            self.width,
            self.height,
            self.seconds,
            self.gop,
            u8::from(self.bframes),
            u8::from(self.audio),
            u8::from(self.video),
            u8::from(self.unusual_pids),
            self.ts_offset.unwrap_or(0)
        )
    }

    fn args(&self, out: &Path) -> Vec<String> {
        let mut a: Vec<String> = ["-hide_banner", "-nostdin", "-v", "error", "-y"]
            .map(String::from)
            .to_vec();
        let mut maps = Vec::new();
        if self.video {
            let src = format!("testsrc2=size={}x{}:rate={FPS}", self.width, self.height);
            a.extend(["-f", "lavfi", "-i", &src].map(String::from));
            maps.push("0:v".to_string());
        }
        if self.audio {
            let src = "sine=frequency=440:sample_rate=48000";
            a.extend(["-f", "lavfi", "-i", src].map(String::from));
            maps.push(format!("{}:a", usize::from(self.video)));
        }
        a.extend(["-t".to_string(), self.seconds.to_string()]);
        for m in maps {
            a.extend(["-map".to_string(), m]);
        }
        if self.video {
            let gop = self.gop.to_string();
            let bf = if self.bframes { "2" } else { "0" };
            a.extend(["-c:v", "libx264", "-preset", "ultrafast", "-g", &gop].map(String::from));
            a.extend(["-keyint_min", &gop, "-sc_threshold", "0", "-bf", bf].map(String::from));
        }
        if self.audio {
            a.extend(["-c:a", "aac"].map(String::from));
        }
        if self.unusual_pids {
            a.extend(["-mpegts_pmt_start_pid", "0x1200"].map(String::from));
            a.extend(["-streamid", "0:0x300", "-streamid", "1:0x301"].map(String::from));
        }
        if let Some(offset) = self.ts_offset {
            a.extend(["-output_ts_offset".to_string(), offset.to_string()]);
        }
        a.extend(["-f", "mpegts"].map(String::from));
        a.push(out.display().to_string());
        a
    }
}

/// True when ffmpeg and ffprobe run. With `CI` set their absence fails the test instead.
pub fn have_ffmpeg() -> bool {
    let ok = ["ffmpeg", "ffprobe"].iter().all(|tool| {
        Command::new(tool)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "ffmpeg/ffprobe missing: install them (ci/install-deps.sh, apt-get install ffmpeg)"
        );
        eprintln!(
            "SKIPPED: ffmpeg/ffprobe not installed (these tests fail instead when CI is set)"
        );
    }
    ok
}

/// The fixture's bytes, encoded on first use.
pub fn fixture(spec: &Spec) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ts-fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(spec.name());
    if !path.exists() {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(
            "{}.{}-{unique}.tmp",
            spec.name(),
            std::process::id()
        ));
        let out = Command::new("ffmpeg")
            .args(spec.args(&tmp))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ffmpeg failed for {spec:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::rename(&tmp, &path).unwrap();
    }
    std::fs::read(&path).unwrap()
}

/// A small deterministic generator (xorshift64*), so failures replay.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// Piece sizes as a pipe delivers them: sometimes tiny, often a few KiB, up to 64 KiB.
    pub fn chunk_len(&mut self) -> usize {
        1 + match self.below(10) {
            0 => self.below(16),
            1..=4 => self.below(4096),
            _ => self.below(65536),
        } as usize
    }
}

/// The clock for the `i`th push: 1 ms per push, synchronised.
pub fn clock(i: u64) -> Clock {
    Clock {
        utc_us: 1_700_000_000_000_000 + i as i64 * 1000,
        utc_synced: true,
        mono_us: 5_000_000 + i * 1000,
    }
}

/// Everything a run produced.
pub struct Run {
    pub segments: Vec<Segment>,
    pub stats: Stats,
}

/// Feeds `data` in random pieces, checking the invariants after every push.
pub fn run(data: &[u8], config: SegmenterConfig, seed: u64) -> Run {
    let mut segmenter = Segmenter::new(config).unwrap();
    let mut rng = Rng::new(seed);
    let mut segments = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < data.len() {
        let end = (pos + rng.chunk_len()).min(data.len());
        segments.extend(segmenter.push(&data[pos..end], clock(i)));
        assert!(segmenter.buffered_bytes() <= segmenter.max_buffered_bytes());
        pos = end;
        i += 1;
    }
    segments.extend(segmenter.finish(clock(i)));
    let stats = segmenter.stats();
    check_invariants(data.len(), &segments, &stats, &config);
    Run { segments, stats }
}

/// What must hold for any input: whole packets, size limit, every byte accounted for once.
pub fn check_invariants(
    input_len: usize,
    segments: &[Segment],
    stats: &Stats,
    c: &SegmenterConfig,
) {
    let mut out_bytes = 0u64;
    for s in segments {
        assert!(!s.payload.is_empty());
        assert_eq!(s.payload.len() % PACKET, 0, "whole packets");
        assert!(
            s.payload.chunks(PACKET).all(|p| p[0] == 0x47),
            "packet grid"
        );
        assert!(s.payload.len() as u64 <= c.max_segment_bytes, "size limit");
        assert_eq!(s.injected_len % PACKET, 0);
        assert!(s.injected_len <= 12 * PACKET && s.injected_len <= s.payload.len());
        assert!(s.keyframes.len() <= moment_ring::MAX_KEYFRAMES);
        assert!(
            s.keyframes
                .windows(2)
                .all(|w| w[0].byte_offset < w[1].byte_offset && w[0].pts_offset < w[1].pts_offset),
            "keyframes in order"
        );
        assert!(
            s.keyframes
                .iter()
                .all(|k| (k.byte_offset as usize) < s.payload.len()
                    && k.byte_offset as usize % PACKET == 0),
            "keyframes inside the payload, on the packet grid"
        );
        out_bytes += (s.payload.len() - s.injected_len) as u64;
    }
    assert_eq!(stats.bytes_in, input_len as u64);
    assert_eq!(
        stats.skipped_bytes + out_bytes,
        stats.bytes_in,
        "every byte accounted for"
    );
    assert_eq!(stats.segments_out, segments.len() as u64);
}

/// The source's bytes, without the injected PAT/PMT copies.
pub fn source_bytes(segments: &[Segment]) -> Vec<u8> {
    segments
        .iter()
        .flat_map(|s| s.payload[s.injected_len..].iter().copied())
        .collect()
}

pub fn pid(packet: &[u8]) -> u16 {
    u16::from(packet[1] & 0x1F) << 8 | u16::from(packet[2])
}

/// Writes the segment to `dir` and checks it decodes alone, without a single error.
pub fn assert_decodes(dir: &Path, name: &str, payload: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, payload).unwrap();
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "{name} does not decode cleanly: {stderr}"
    );
    path
}

/// `key_frame` of the first video frame ffprobe decodes from `path`.
pub fn first_video_frame_is_key(path: &Path) -> bool {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_frames"])
        .args([
            "-read_intervals",
            "%+#1",
            "-show_entries",
            "frame=key_frame",
        ])
        .args(["-of", "default=nw=1"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().find(|l| l.starts_with("key_frame=")) == Some("key_frame=1")
}

/// Picture types of the fixture's video frames, in decode order as ffprobe reports them.
pub fn pict_types(path: &Path) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_frames"])
        .args(["-show_entries", "frame=pict_type", "-of", "default=nw=1"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("pict_type="))
        .collect()
}
