//! `GET /api/timeline`: what the ring holds, as a few spans of continuous recording, so the web
//! app can draw hours of scroll-back as one bar with its gaps (camera unplugged, source restarts,
//! the daemon stopped) without fetching thousands of segment records.

use super::WebState;
use axum::extract::State;
use axum::Json;
use moment_ring::{flags, SegmentInfo};
use serde::Serialize;

/// Most spans one answer carries; beyond it the smallest gaps are closed (the bar is a few hundred
/// pixels wide, so a finer picture cannot be drawn anyway).
pub const MAX_TIMELINE_SPANS: usize = 512;
/// A jump in wall-clock time between neighbouring segments larger than this is a gap on the bar,
/// even without a discontinuity flag (a segment's timestamps jitter by a frame or two).
const GAP_TOLERANCE_US: i64 = 1_000_000;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Timeline {
    /// Start of the oldest segment (ms since the epoch, UTC), or null when the ring is empty.
    pub from_ms: Option<i64>,
    /// End of the newest durable segment.
    pub to_ms: Option<i64>,
    pub segments: u64,
    /// `[from_ms, to_ms]` of each stretch of continuous recording, oldest first.
    pub spans: Vec<[i64; 2]>,
}

/// `GET /api/timeline`.
pub async fn timeline(State(state): State<WebState>) -> Json<Timeline> {
    Json(build(&state.ring.segments()))
}

/// The spans of `segments` (oldest first), at most [`MAX_TIMELINE_SPANS`].
pub fn build(segments: &[SegmentInfo]) -> Timeline {
    let mut spans: Vec<[i64; 2]> = Vec::new();
    for segment in segments {
        let start = segment.meta.utc_start_us;
        let end = segment.utc_end_us().max(start);
        let restarted = segment.meta.flags & flags::DISCONTINUITY != 0;
        match spans.last_mut() {
            Some(last)
                if !restarted
                    && start >= last[0]
                    && start.saturating_sub(last[1]).abs() <= GAP_TOLERANCE_US =>
            {
                last[1] = last[1].max(end);
            }
            _ => spans.push([start, end]),
        }
    }
    while spans.len() > MAX_TIMELINE_SPANS {
        close_smallest_gap(&mut spans);
    }
    Timeline {
        from_ms: spans.first().map(|s| s[0] / 1000),
        to_ms: spans.iter().map(|s| s[1]).max().map(|end| end / 1000),
        segments: segments.len() as u64,
        spans: spans.iter().map(|s| [s[0] / 1000, s[1] / 1000]).collect(),
    }
}

fn close_smallest_gap(spans: &mut Vec<[i64; 2]>) {
    let smallest = (1..spans.len()).min_by_key(|&i| spans[i][0].saturating_sub(spans[i - 1][1]));
    if let Some(i) = smallest {
        let merged = spans.remove(i);
        let before = &mut spans[i - 1];
        before[1] = before[1].max(merged[1]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moment_ring::SegmentMeta;

    fn segment(seq: u64, start_s: i64, len_s: u64, discontinuity: bool) -> SegmentInfo {
        SegmentInfo {
            seq,
            epoch: 1,
            pos: 0,
            payload_len: 188,
            payload_crc: 0,
            meta: SegmentMeta {
                utc_start_us: start_s * 1_000_000,
                duration_us: len_s * 1_000_000,
                flags: if discontinuity {
                    flags::DISCONTINUITY
                } else {
                    0
                },
                ..SegmentMeta::default()
            },
        }
    }

    #[test]
    fn empty_ring_has_no_spans() {
        let t = build(&[]);
        assert_eq!(t.from_ms, None);
        assert_eq!(t.to_ms, None);
        assert!(t.spans.is_empty());
    }

    #[test]
    fn continuous_segments_make_one_span_and_gaps_split() {
        let segments = [
            segment(1, 100, 5, false),
            segment(2, 105, 5, false),
            segment(3, 110, 5, false),
            // The camera was away for a minute.
            segment(4, 175, 5, true),
            segment(5, 180, 5, false),
            // A jump without the flag (the clock was set) is a gap too.
            segment(6, 300, 5, false),
        ];
        let t = build(&segments);
        assert_eq!(
            t.spans,
            vec![[100_000, 115_000], [175_000, 185_000], [300_000, 305_000]]
        );
        assert_eq!(
            (t.from_ms, t.to_ms, t.segments),
            (Some(100_000), Some(305_000), 6)
        );
    }

    #[test]
    fn many_gaps_are_merged_down_to_the_limit_keeping_the_largest() {
        let mut segments = Vec::new();
        for i in 0..(MAX_TIMELINE_SPANS as u64 * 3) {
            // Every segment starts a new span; every 100th gap is much larger.
            let gap = if i % 100 == 0 { 60 } else { 2 };
            let start = segments
                .last()
                .map(|s: &SegmentInfo| s.utc_end_us() / 1_000_000 + gap)
                .unwrap_or(1_000);
            segments.push(segment(i + 1, start, 5, true));
        }
        let t = build(&segments);
        assert_eq!(t.spans.len(), MAX_TIMELINE_SPANS);
        // The large gaps survive the merging.
        let big_gaps = t
            .spans
            .windows(2)
            .filter(|w| w[1][0] - w[0][1] >= 60_000)
            .count();
        assert_eq!(big_gaps, (MAX_TIMELINE_SPANS * 3 - 1) / 100);
        assert_eq!(t.from_ms, Some(1_000_000));
        assert!(t.spans.windows(2).all(|w| w[0][1] <= w[1][0]));
    }
}
