//! The untimed preparation: the test clip (made once by ffmpeg and cached, it takes a minute or
//! two), the ring it is recorded into through the segmenter, and the 5-second files of the
//! original plan's design, written by ffmpeg's segment muxer.

use crate::{BenchResult, Options};
use moment_media::{Clock, Segment, Segmenter, SegmenterConfig};
use moment_ring::{format, DirectIo, FileDevice, FormatOptions, OpenOptions, Ring};
use std::path::{Path, PathBuf};
use std::process::Command;

/// 2026-11-29T10:00:00Z: the recording's start.
const START_US: i64 = 1_795_946_400_000_000;

/// The cached clip: `seconds` of testsrc2 + sine, H.264 CBR at `bitrate`, GOP 1 s, AAC.
pub fn clip(options: &Options) -> BenchResult<PathBuf> {
    let name = format!(
        "export-bench-{}-{}s-{}.ts",
        options.size, options.seconds, options.bitrate
    );
    let path = options.cache.join(name);
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(&options.cache)?;
    println!("- making the clip {} (once; cached)", path.display());
    let tmp = path.with_extension("tmp");
    let video = format!("testsrc2=size={}:rate=30", options.size);
    let rate = &options.bitrate;
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            &video,
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t",
            &options.seconds.to_string(),
            "-map",
            "0:v",
            "-map",
            "1:a",
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-keyint_min",
            "30",
        ])
        .args([
            "-sc_threshold",
            "0",
            "-bf",
            "0",
            "-b:v",
            rate,
            "-minrate",
            rate,
            "-maxrate",
            rate,
        ])
        .args([
            "-bufsize",
            rate,
            "-x264-params",
            "nal-hrd=cbr",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
        ])
        .args(["-f", "mpegts"])
        .arg(&tmp)
        .status()?;
    if !status.success() {
        return Err("ffmpeg could not make the clip".into());
    }
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Cuts `ts` with the segmenter, as the recorder would (64 KiB pipe reads).
pub fn segments(ts: &[u8]) -> BenchResult<Vec<Segment>> {
    let clock = Clock {
        utc_us: START_US,
        utc_synced: true,
        mono_us: 0,
    };
    let mut segmenter = Segmenter::new(SegmenterConfig::default())?;
    let mut out = Vec::new();
    for piece in ts.chunks(64 << 10) {
        out.extend(segmenter.push(piece, clock));
    }
    out.extend(segmenter.finish(clock));
    Ok(out)
}

/// A ring file in `dir` holding `segments` back to back, checked by reopening it read-only.
pub fn ring(dir: &Path, segments: &[Segment]) -> BenchResult<PathBuf> {
    let path = dir.join("export-bench-ring.img");
    let payload: u64 = segments.iter().map(|s| s.payload.len() as u64).sum();
    let size = (payload + payload / 4 + (64 << 20)).div_ceil(1 << 20) << 20;
    let file = std::fs::File::create(&path)?;
    file.set_len(size)?;
    drop(file);
    let dev = FileDevice::open(&path, true, DirectIo::Auto)?;
    format(&dev, &FormatOptions::default())?;
    let mut ring = Ring::open(dev, OpenOptions::default())?;
    let mut utc = START_US;
    for segment in segments {
        let mut meta = segment.meta.clone();
        meta.utc_start_us = utc;
        utc += meta.duration_us as i64;
        ring.append(&meta, &segment.payload)?;
    }
    drop(ring);
    let dev = FileDevice::open(&path, false, DirectIo::Auto)?;
    let read_only = OpenOptions {
        read_only: true,
        ..OpenOptions::default()
    };
    let held = Ring::open(dev, read_only)?.reader().segments().len();
    if held != segments.len() {
        return Err(format!("the ring holds {held} of {} segments", segments.len()).into());
    }
    Ok(path)
}

/// The original plan: ffmpeg's segment muxer writes 5 s files; returns the concat list.
pub fn segment_files(dir: &Path, clip: &Path) -> BenchResult<PathBuf> {
    let pattern = dir.join("seg%05d.ts");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-y", "-i"])
        .arg(clip)
        .args([
            "-map",
            "0",
            "-c",
            "copy",
            "-f",
            "segment",
            "-segment_time",
            "5",
        ])
        .arg(&pattern)
        .status()?;
    if !status.success() {
        return Err("ffmpeg's segment muxer failed".into());
    }
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seg"))
        })
        .collect();
    names.sort();
    let list: String = names
        .iter()
        .map(|p| format!("file '{}'\n", p.display()))
        .collect();
    let list_path = dir.join("concat.txt");
    std::fs::write(&list_path, list)?;
    Ok(list_path)
}

/// Seconds of media in `path`, from ffprobe (to check every output is whole).
pub fn duration_s(path: &Path) -> BenchResult<f64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.trim().parse()?)
}
