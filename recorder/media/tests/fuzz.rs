//! The fuzz target on the parser and segmenter: arbitrary bytes, arbitrary packets and arbitrary
//! mutations of a real ffmpeg stream, fed in arbitrary piece sizes. Whatever comes in, the
//! segmenter must not panic, must emit only whole packets within the size limit, must keep its
//! buffers within their bound, and must account for every input byte exactly once.

mod common;

use common::*;
use moment_media::{Segmenter, SegmenterConfig, MIN_SEGMENT_BYTES};
use proptest::prelude::*;
use std::sync::OnceLock;

fn config(small: bool) -> SegmenterConfig {
    if small {
        SegmenterConfig {
            max_segment_bytes: MIN_SEGMENT_BYTES,
            ..SegmenterConfig::with_target(std::time::Duration::from_secs(2))
        }
    } else {
        SegmenterConfig::default()
    }
}

/// Feeds `data` in pieces of the given sizes (cycled), with a clock that sometimes jumps, and
/// calls `mark_discontinuity` where asked.
fn feed(data: &[u8], small: bool, pieces: &[usize], restart_at: Option<usize>) {
    let config = config(small);
    let mut segmenter = Segmenter::new(config).unwrap();
    let mut segments = Vec::new();
    let (mut pos, mut i) = (0, 0);
    let mut restarted = false;
    while pos < data.len() {
        let end = (pos + pieces[i % pieces.len()].max(1)).min(data.len());
        let now = clock(i as u64 * (1 + (pieces[i % pieces.len()] % 3000) as u64));
        segments.extend(segmenter.push(&data[pos..end], now));
        assert!(segmenter.buffered_bytes() <= segmenter.max_buffered_bytes());
        if !restarted && restart_at.is_some_and(|r| end >= r) {
            segments.extend(segmenter.mark_discontinuity(now));
            restarted = true;
        }
        pos = end;
        i += 1;
    }
    segments.extend(segmenter.finish(clock(u64::MAX / 4000)));
    check_invariants(data.len(), &segments, &segmenter.stats(), &config);
}

/// A short real stream with audio and B-frames, or `None` without ffmpeg.
fn real_stream() -> Option<&'static [u8]> {
    static DATA: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    DATA.get_or_init(|| {
        have_ffmpeg().then(|| {
            fixture(&Spec {
                bframes: true,
                ..Spec::new(320, 240, 4, 15)
            })
        })
    })
    .as_deref()
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip { at: usize, bits: u8 },
    Overwrite { at: usize, bytes: Vec<u8> },
    Insert { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
    Duplicate { at: usize, len: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    let bytes = prop::collection::vec(any::<u8>(), 1..600);
    prop_oneof![
        (at, 1u8..).prop_map(|(at, bits)| Mutation::Flip { at, bits }),
        (at, bytes.clone()).prop_map(|(at, bytes)| Mutation::Overwrite { at, bytes }),
        (at, bytes).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (at, 1usize..5000).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (at, 1usize..5000).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
        at.prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn apply(data: &mut Vec<u8>, m: &Mutation) {
    if data.is_empty() {
        return;
    }
    let len = data.len();
    match m {
        Mutation::Flip { at, bits } => data[at % len] ^= bits,
        Mutation::Overwrite { at, bytes } => {
            let at = at % len;
            let n = bytes.len().min(len - at);
            data[at..at + n].copy_from_slice(&bytes[..n]);
        }
        Mutation::Insert { at, bytes } => {
            let at = at % len;
            data.splice(at..at, bytes.iter().copied());
        }
        Mutation::Delete { at, len: n } => {
            let at = at % len;
            data.drain(at..(at + n).min(len));
        }
        Mutation::Duplicate { at, len: n } => {
            let at = at % len;
            let copy = data[at..(at + n).min(len)].to_vec();
            data.splice(at..at, copy);
        }
        Mutation::Truncate { at } => data.truncate(at % len),
    }
}

/// Packets on the grid with headers drawn from the PIDs that matter, and random payloads.
fn packet() -> impl Strategy<Value = Vec<u8>> {
    let pid = prop_oneof![
        Just(0u16),
        Just(0x1000),
        Just(0x100),
        Just(0x101),
        0u16..0x2000
    ];
    (
        pid,
        any::<bool>(),
        0u8..4,
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 184),
    )
        .prop_map(|(pid, pusi, afc, cc, body)| {
            let mut p = vec![0x47, (u8::from(pusi) << 6) | (pid >> 8) as u8, pid as u8];
            p.push(afc << 4 | (cc & 0x0F));
            p.extend(body);
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes(
        data in prop::collection::vec(any::<u8>(), 0..40_000),
        pieces in prop::collection::vec(1usize..5000, 1..20),
        small in any::<bool>(),
    ) {
        feed(&data, small, &pieces, None);
    }

    #[test]
    fn arbitrary_packets(
        packets in prop::collection::vec(packet(), 0..400),
        pieces in prop::collection::vec(1usize..3000, 1..20),
        small in any::<bool>(),
        restart in any::<Option<usize>>(),
    ) {
        let mut data = real_stream().map_or(Vec::new(), |s| s[..3 * PACKET].to_vec());
        data.extend(packets.concat());
        let restart = restart.map(|r| r % data.len().max(1));
        feed(&data, small, &pieces, restart);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn mutated_real_stream(
        mutations in prop::collection::vec(mutation(), 0..8),
        pieces in prop::collection::vec(1usize..70_000, 1..20),
        small in any::<bool>(),
        restart in any::<Option<usize>>(),
    ) {
        let Some(stream) = real_stream() else { return Ok(()) };
        let mut data = stream.to_vec();
        for m in &mutations {
            apply(&mut data, m);
        }
        let restart = restart.map(|r| r % data.len().max(1));
        feed(&data, small, &pieces, restart);
    }
}
