//! What the ring commands print. `inspect` has one view rendered two ways (aligned text for people,
//! one JSON object for scripts) so the two cannot drift apart; `fsck` turns its report into a list
//! of problems with the command that fixes them.

use super::units::{human_bytes, rfc3339_utc};
use moment_ring::{FileDevice, FsckReport, Geometry, RecoveryReport, Ring, Stats};
use serde::Serialize;
use std::fmt::Write;

/// Everything `inspect` knows about a ring; the JSON output is this, serialised.
#[derive(Serialize)]
pub struct Inspection {
    pub device: String,
    pub block_device: bool,
    pub direct_io: bool,
    pub format_version: u32,
    pub ring_id: String,
    pub created_utc: String,
    pub geometry: Geometry,
    pub stats: Stats,
    pub used_percent: f64,
    pub oldest_utc: Option<String>,
    pub newest_utc: Option<String>,
    pub recovery: RecoveryReport,
}

impl Inspection {
    pub fn new(dev: &FileDevice, ring: &Ring<&FileDevice>) -> Inspection {
        let geometry = ring.geometry().clone();
        let stats = ring.stats();
        Inspection {
            device: moment_ring::Device::name(dev),
            block_device: dev.is_block_device(),
            direct_io: dev.is_direct(),
            format_version: geometry.version,
            ring_id: hex(&geometry.ring_id),
            created_utc: rfc3339_utc(geometry.created_utc_us),
            used_percent: percent(stats.used_bytes, stats.capacity_bytes),
            oldest_utc: stats.oldest_utc_us.map(rfc3339_utc),
            newest_utc: stats.newest_utc_end_us.map(rfc3339_utc),
            recovery: ring.recovery().clone(),
            geometry,
            stats,
        }
    }

    /// The human form: aligned "label  value" lines in three sections.
    pub fn human(&self) -> String {
        let kind = match (self.block_device, self.direct_io) {
            (true, true) => "block device, O_DIRECT",
            (true, false) => "block device",
            (false, _) => "regular file",
        };
        let mut out = format!(
            "{}: moment ring, format version {} ({kind})\n",
            self.device, self.format_version
        );
        out.push_str(&geometry_lines(&self.geometry));
        out.push_str(&self.segment_lines());
        out.push_str("recovery at this open (read-only, nothing written)\n");
        out.push_str(&recovery_lines(&self.recovery));
        out
    }

    fn segment_lines(&self) -> String {
        let s = &self.stats;
        let mut out = String::from("segments\n");
        line(
            &mut out,
            "count",
            format!("{} (at most {})", s.segment_count, s.slot_count),
        );
        let used = format!(
            "{} bytes ({}), {:.1}% of the data area",
            s.used_bytes,
            human_bytes(s.used_bytes),
            self.used_percent
        );
        line(&mut out, "used", used);
        match (s.newest_seq, &self.oldest_utc, &self.newest_utc) {
            (Some(newest), Some(first), Some(last)) => {
                line(
                    &mut out,
                    "oldest",
                    format!("#{}, starts {first}", s.oldest_seq),
                );
                line(&mut out, "newest", format!("#{newest}, ends {last}"));
            }
            _ => line(
                &mut out,
                "oldest",
                format!(
                    "none: the ring is empty (the next segment is #{})",
                    s.oldest_seq
                ),
            ),
        }
        if let Some(reason) = &s.failed {
            line(&mut out, "FAILED", reason.clone());
        }
        out
    }
}

/// The geometry section, shared by `inspect` and `format`.
pub fn geometry_lines(g: &Geometry) -> String {
    let mut out = String::from("geometry\n");
    line(&mut out, "ring id", hex(&g.ring_id));
    line(&mut out, "created", rfc3339_utc(g.created_utc_us));
    line(&mut out, "device", sized(g.device_len));
    let [first, second] = g.superblock_offsets();
    line(
        &mut out,
        "superblocks",
        format!("at offsets {first} and {second}"),
    );
    line(
        &mut out,
        "tail pointer",
        format!("at offset {}", g.tail_off),
    );
    let index = format!("{} slots at offset {}", g.slot_count, g.index_off);
    line(&mut out, "index", index);
    let data = format!("{} at offset {}", sized(g.data_len), g.data_off);
    line(&mut out, "data area", data);
    line(&mut out, "max segment", sized(g.max_segment_bytes));
    out
}

/// The recovery section: what opening the ring found.
pub fn recovery_lines(r: &RecoveryReport) -> String {
    let mut out = String::new();
    let good = 2u32.saturating_sub(r.superblocks_damaged);
    line(&mut out, "superblocks", format!("{good} of 2 valid"));
    let tail = if r.tail_lost { "lost" } else { "valid" };
    line(&mut out, "tail pointer", tail.to_string());
    let source = if r.rebuilt_by_scan {
        "scan of the data area (index unusable)"
    } else {
        "index"
    };
    line(&mut out, "found by", source.to_string());
    line(&mut out, "from index", segments(r.from_index));
    line(&mut out, "rolled forward", segments(r.rolled_forward));
    line(&mut out, "lost", segments(r.lost));
    line(&mut out, "repairs written", yes_no(r.repaired).to_string());
    let took = format!("{:.1} ms", r.duration.as_secs_f64() * 1000.0);
    line(&mut out, "took", took);
    out
}

/// One fsck report: the checks and their results.
pub fn fsck_lines(report: &FsckReport) -> String {
    let mut out = recovery_lines(&report.recovery);
    let checked = format!(
        "{} in the index, {} intact, {} corrupt",
        segments(report.segments),
        report.verified,
        report.corrupt_count
    );
    line(&mut out, "checked", checked);
    let matches = if report.index_matches_scan {
        "matches the index"
    } else {
        "DIFFERS from the index"
    };
    let scan = format!("{}; {matches}", segments(report.scanned_segments));
    line(&mut out, "data area scan", scan);
    for corrupt in &report.corrupt {
        line(&mut out, "corrupt", corrupt.clone());
    }
    let unlisted = report.corrupt_count - report.corrupt.len() as u64;
    if unlisted > 0 {
        line(&mut out, "corrupt", format!("and {unlisted} more"));
    }
    out
}

/// Segments a power cut can leave past the index (written, index write lost); more means the
/// index itself is damaged.
const ROLL_FORWARD_AFTER_POWER_CUT: u64 = 1;

/// What is wrong according to `report`, one sentence each; empty when the ring is clean. Stricter
/// than `FsckReport::clean`: an index that lost more slots than a power cut can explain is damage,
/// even though recovery rolls forward over the segments it lost.
pub fn problems(report: &FsckReport) -> Vec<String> {
    let r = &report.recovery;
    let mut found = Vec::new();
    if r.superblocks_damaged > 0 {
        found.push(format!("{} superblock copy damaged", r.superblocks_damaged));
    }
    if r.tail_lost {
        found.push("the tail pointer is lost".to_string());
    }
    if r.lost > 0 {
        found.push(format!("{} missing from the index", segments(r.lost)));
    }
    if r.rolled_forward > ROLL_FORWARD_AFTER_POWER_CUT {
        found.push(format!(
            "{} found past the index (a power cut explains at most {ROLL_FORWARD_AFTER_POWER_CUT})",
            segments(r.rolled_forward)
        ));
    }
    if !report.index_matches_scan {
        found.push(format!(
            "the index holds {} but the data area {}",
            segments(report.segments),
            segments(report.scanned_segments)
        ));
    }
    if report.corrupt_count > 0 {
        found.push(format!("{} corrupt", segments(report.corrupt_count)));
    }
    found
}

/// "1 segment", "3 segments".
fn segments(n: u64) -> String {
    if n == 1 {
        "1 segment".to_string()
    } else {
        format!("{n} segments")
    }
}

fn line(out: &mut String, label: &str, value: String) {
    let _ = writeln!(out, "  {label:<18}{value}");
}

fn sized(bytes: u64) -> String {
    format!("{bytes} bytes ({})", human_bytes(bytes))
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    part as f64 * 100.0 / whole as f64
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
