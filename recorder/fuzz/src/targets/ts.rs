//! The MPEG-TS target: bytes as they arrive on a camera's pipe. Every layer the recorder parses
//! them with gets the input: the framer, packet headers and continuity counters, PAT/PMT
//! reassembly and parsing, PES headers, the H.264 access-unit scanner, and the segmenter on top,
//! whose accounting (whole packets, size limit, every byte once) must hold for any input.

use super::{class, ensure, Outcome};
use crate::rng::{fnv1a, Rng};
use moment_media::framer::Framer;
use moment_media::h264::AccessUnitScanner;
use moment_media::pes::parse_pes_header;
use moment_media::psi::{parse_pat, parse_pmt, PsiTracker};
use moment_media::ts::{ContinuityTracker, Packet, PacketHeader, PACKET_LEN};
use moment_media::{Clock, Segment, Segmenter, SegmenterConfig, MIN_SEGMENT_BYTES};
use std::time::Duration;

/// PAT/PMT copies the segmenter may put in front of a segment, at most.
const MAX_INJECTED_PACKETS: usize = 12;

pub fn packets(input: &[u8]) -> Result<Outcome, String> {
    let sections = sections(input);
    let layers = layers(input);
    let segmenter = segmenter(input)?;
    Ok(class(&[sections, layers, segmenter]))
}

/// The table and PES parsers on the raw input, as if it were one section or payload.
fn sections(input: &[u8]) -> u64 {
    let pat = parse_pat(input).is_some();
    let pmt = parse_pmt(input, 0x100).is_some();
    let pes = parse_pes_header(input).is_some();
    u64::from(pat) | u64::from(pmt) << 1 | u64::from(pes) << 2
}

/// The framer, then every layer below the segmenter on each packet it emits.
fn layers(input: &[u8]) -> u64 {
    let mut framer = Framer::new(0u64);
    let mut continuity = ContinuityTracker::default();
    let mut psi = PsiTracker::default();
    let mut scanner: Option<AccessUnitScanner> = None;
    let mut seen = [0u64; 4];
    let mut on_packet = |packet: &Packet, _tag: u64, _skipped: u64| {
        let Some(header) = PacketHeader::parse(packet) else {
            return;
        };
        seen[0] = 1;
        if continuity.check(&header) {
            seen[1] = 1;
        }
        if psi.wants(header.pid) {
            psi.push(packet, &header);
        }
        let payload = header.payload(packet);
        let video = psi.program().and_then(|p| p.video_pid) == Some(header.pid);
        if header.pusi {
            scanner = parse_pes_header(payload).map(|pes| AccessUnitScanner::new(pes.header_len));
        }
        if let (true, Some(scan)) = (video, scanner.as_mut()) {
            if scan.push(payload).is_some() {
                seen[3] = 1;
            }
        }
    };
    for (i, piece) in pieces(input).enumerate() {
        framer.push(piece, i as u64, &mut on_packet);
    }
    framer.finish(&mut on_packet);
    seen[2] = u64::from(psi.program().is_some());
    seen.iter().enumerate().map(|(i, &b)| b << i).sum()
}

/// The segmenter over the input in uneven pieces, with a clock 400 ms apart per push so time
/// cuts happen; checks what the media tests check of any run.
fn segmenter(input: &[u8]) -> Result<u64, String> {
    let config = SegmenterConfig {
        max_segment_bytes: MIN_SEGMENT_BYTES,
        ..SegmenterConfig::with_target(Duration::from_secs(2))
    };
    let mut segmenter = Segmenter::new(config).map_err(|e| format!("config: {e}"))?;
    let mut segments = Vec::new();
    let mut pushes = 0u64;
    for piece in pieces(input) {
        segments.extend(segmenter.push(piece, clock(pushes)));
        ensure!(
            segmenter.buffered_bytes() <= segmenter.max_buffered_bytes(),
            "the segmenter holds {} bytes, more than its bound {}",
            segmenter.buffered_bytes(),
            segmenter.max_buffered_bytes()
        );
        pushes += 1;
        if pushes == 3 {
            segments.extend(segmenter.mark_discontinuity(clock(pushes)));
        }
    }
    segments.extend(segmenter.finish(clock(pushes + 100)));
    check_segments(input.len(), &segments, &segmenter, &config)?;
    Ok(class(&[
        segments.len() as u64,
        segmenter.stats().resyncs.min(3),
    ]))
}

fn check_segments(
    input_len: usize,
    segments: &[Segment],
    segmenter: &Segmenter,
    config: &SegmenterConfig,
) -> Result<(), String> {
    let stats = segmenter.stats();
    let mut out_bytes = 0u64;
    for s in segments {
        ensure!(!s.payload.is_empty(), "an empty segment");
        ensure!(
            s.payload.len() % PACKET_LEN == 0 && s.payload.chunks(PACKET_LEN).all(|p| p[0] == 0x47),
            "a segment of {} bytes is not whole packets on the grid",
            s.payload.len()
        );
        ensure!(
            s.payload.len() as u64 <= config.max_segment_bytes,
            "a segment of {} bytes is over the limit",
            s.payload.len()
        );
        ensure!(
            s.injected_len % PACKET_LEN == 0
                && s.injected_len <= MAX_INJECTED_PACKETS * PACKET_LEN
                && s.injected_len <= s.payload.len(),
            "injected_len {} of a {}-byte segment",
            s.injected_len,
            s.payload.len()
        );
        out_bytes += (s.payload.len() - s.injected_len) as u64;
    }
    ensure!(
        stats.bytes_in == input_len as u64 && stats.skipped_bytes + out_bytes == stats.bytes_in,
        "bytes not accounted for once: {stats:?}, {out_bytes} bytes out of {input_len}"
    );
    ensure!(
        stats.segments_out == segments.len() as u64,
        "stats count {} segments, {} came out",
        stats.segments_out,
        segments.len()
    );
    Ok(())
}

/// The input cut into pieces of uneven sizes (1 byte to a few packets), fixed by its contents so
/// a replay cuts it the same way.
fn pieces(input: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rng = Rng::new(fnv1a(input));
    let mut rest = input;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let want = [1, 7, PACKET_LEN, PACKET_LEN + 1, 4096, 65536][rng.below(6)];
        let (piece, tail) = rest.split_at(want.min(rest.len()));
        rest = tail;
        Some(piece)
    })
}

fn clock(push: u64) -> Clock {
    Clock {
        utc_us: 1_800_000_000_000_000 + push as i64 * 400_000,
        utc_synced: true,
        mono_us: 5_000_000 + push * 400_000,
    }
}
