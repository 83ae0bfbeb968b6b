//! The generated part of the corpus: real blocks cut from a ring built through the public API,
//! and a small transport stream built packet by packet. Generated rather than checked in by hand
//! because the ring's format changes: `moment-fuzz seed` after a change writes valid blocks of the
//! new format, and the hand-written inputs are left alone.

use crate::corpus::GENERATED;
use crate::targets::ring::{base, BLOCK_LEN};
use moment_media::crc32_mpeg2;
use moment_media::ts::PACKET_LEN;

/// The generated inputs of `target`, as (file name, bytes); empty for hand-seeded targets.
pub fn generate(target: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let named = |kind: &str, i: usize, bytes: Vec<u8>| (format!("{GENERATED}{kind}-{i}"), bytes);
    let ring = || base();
    Ok(match target {
        "ring_index" => {
            let ring = ring()?;
            let blocks = ring.index_blocks();
            blocks
                .iter()
                .enumerate()
                .map(|(i, &at)| named("index", i, ring.block(at).to_vec()))
                .collect()
        }
        "ring_tail" => {
            let ring = ring()?;
            let blocks = ring.tail_blocks();
            blocks
                .iter()
                .enumerate()
                .map(|(i, &at)| named("tail", i, ring.block(at).to_vec()))
                .collect()
        }
        "ring_header" => {
            let ring = ring()?;
            let segments = &ring.segments;
            let picks = [
                segments.first(),
                segments.get(segments.len() / 2),
                segments.last(),
            ];
            let mut out: Vec<_> = picks
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, info)| named("header", i, ring.block(ring.header_block(info)).to_vec()))
                .collect();
            if let Some(at) = ring.after_newest() {
                out.push(named("after-newest", 0, ring.block(at).to_vec()));
            }
            out.extend(ring.next_header()?.map(|b| named("next-header", 0, b)));
            out
        }
        "ts_packets" => vec![
            named("stream", 0, stream(30, true)),
            named("stream-no-audio", 0, stream(8, false)),
            named("tables", 0, [pat(), pmt()].concat()),
            named("pes-header", 0, pes_header(0xE0, 90_000)),
        ],
        _ => Vec::new(),
    })
}

/// Replaces `gen-*` in every target's corpus directory with what `generate` makes now.
pub fn write_all() -> Result<usize, String> {
    let mut written = 0;
    for target in crate::TARGETS {
        let files = generate(target.name)?;
        let dir = crate::corpus::dir(target.name);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let old = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in old.flatten() {
            if entry.file_name().to_string_lossy().starts_with(GENERATED) {
                std::fs::remove_file(entry.path()).map_err(|e| format!("remove: {e}"))?;
            }
        }
        for (name, bytes) in files {
            debug_assert!(bytes.len() <= target.max_len.max(BLOCK_LEN));
            std::fs::write(dir.join(&name), bytes).map_err(|e| format!("{name}: {e}"))?;
            written += 1;
        }
    }
    Ok(written)
}

const PMT_PID: u16 = 0x1000;
const VIDEO_PID: u16 = 0x100;
const AUDIO_PID: u16 = 0x101;
/// 90 kHz ticks per frame at 30 fps.
const FRAME_TICKS: u64 = 3000;

/// A stream of `frames` H.264 frames (IDR every 15), PAT/PMT before each IDR, and an AAC frame
/// beside every video frame when `audio`.
fn stream(frames: u64, audio: bool) -> Vec<u8> {
    let mut out = Vec::new();
    // Continuity counters of the PAT, PMT, video and audio PIDs.
    let mut cc = [0u8; 4];
    for frame in 0..frames {
        let pts = 90_000 + frame * FRAME_TICKS;
        let idr = frame % 15 == 0;
        if idr {
            out.extend(packet(0, true, &mut cc[0], &psi(&pat())));
            out.extend(packet(PMT_PID, true, &mut cc[1], &psi(&pmt())));
        }
        let mut es = pes_header(0xE0, pts);
        es.extend([0, 0, 0, 1, 0x09, 0xF0]);
        if idr {
            es.extend([
                0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1E, 0xD9, 0x00, 0xA0, 0x47, 0xFE, 0xC8,
            ]);
            es.extend([0, 0, 0, 1, 0x68, 0xCE, 0x3C, 0x80]);
            es.extend([0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33, 0xFF]);
        } else {
            es.extend([0, 0, 0, 1, 0x41, 0x9A, 0x02, 0x04, 0x4F]);
        }
        es.resize(es.len() + 150 + (frame as usize * 37) % 300, 0xA7);
        out.extend(pes_packets(VIDEO_PID, &es, &mut cc[2]));
        if audio {
            let mut aac = pes_header(0xC0, pts);
            aac.extend([0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC, 0x21, 0x00, 0x49]);
            out.extend(pes_packets(AUDIO_PID, &aac, &mut cc[3]));
        }
    }
    out
}

/// One PES packet split into TS packets, the first with PUSI.
fn pes_packets(pid: u16, pes: &[u8], cc: &mut u8) -> Vec<u8> {
    pes.chunks(PACKET_LEN - 4)
        .enumerate()
        .flat_map(|(i, chunk)| packet(pid, i == 0, cc, chunk))
        .collect()
}

/// A TS packet carrying `payload` (at most 184 bytes), padded with adaptation-field stuffing.
fn packet(pid: u16, pusi: bool, cc: &mut u8, payload: &[u8]) -> Vec<u8> {
    let room = PACKET_LEN - 4;
    let payload = &payload[..payload.len().min(room)];
    let mut p = vec![0x47, u8::from(pusi) << 6 | (pid >> 8) as u8, pid as u8];
    if payload.len() == room {
        p.push(0x10 | *cc);
    } else {
        p.push(0x30 | *cc);
        let field_len = room - 1 - payload.len();
        p.push(field_len as u8);
        if field_len > 0 {
            p.push(0x00);
            p.resize(p.len() + field_len - 1, 0xFF);
        }
    }
    *cc = (*cc + 1) & 0x0F;
    p.extend_from_slice(payload);
    p
}

/// A section with its pointer field, as the payload of a PUSI packet.
fn psi(section: &[u8]) -> Vec<u8> {
    [&[0u8][..], section].concat()
}

/// A long-form section: header, `body`, CRC.
fn section(table_id: u8, id: u16, body: &[u8]) -> Vec<u8> {
    let len = 5 + body.len() + 4;
    let mut s = vec![table_id, 0xB0 | (len >> 8) as u8, len as u8];
    s.extend(id.to_be_bytes());
    s.extend([0xC1, 0x00, 0x00]);
    s.extend_from_slice(body);
    let crc = crc32_mpeg2(&s);
    s.extend(crc.to_be_bytes());
    s
}

fn pat() -> Vec<u8> {
    let body = [0x00, 0x01, 0xE0 | (PMT_PID >> 8) as u8, PMT_PID as u8];
    section(0x00, 1, &body)
}

fn pmt() -> Vec<u8> {
    let mut body = vec![0xE0 | (VIDEO_PID >> 8) as u8, VIDEO_PID as u8, 0xF0, 0x00];
    for (stream_type, pid) in [(0x1B, VIDEO_PID), (0x0F, AUDIO_PID)] {
        body.extend([stream_type, 0xE0 | (pid >> 8) as u8, pid as u8, 0xF0, 0x00]);
    }
    section(0x02, 1, &body)
}

/// A PES header with a PTS and an unbounded length (as cameras send video).
fn pes_header(stream_id: u8, pts: u64) -> Vec<u8> {
    vec![
        0x00,
        0x00,
        0x01,
        stream_id,
        0x00,
        0x00,
        0x80,
        0x80,
        0x05,
        0x21 | ((pts >> 29) & 0x0E) as u8,
        (pts >> 22) as u8,
        ((pts >> 14) & 0xFE) as u8 | 1,
        (pts >> 7) as u8,
        ((pts << 1) & 0xFE) as u8 | 1,
    ]
}
