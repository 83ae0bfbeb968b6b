//! What the simulated recorder writes: payload bytes and metadata derived from (seed, seq, attempt)
//! alone, so the model regenerates them to compare instead of keeping gigabytes of payload. The
//! attempt number makes a segment re-sent after a crash differ from the one the crash interrupted,
//! so recovery cannot pass by returning the interrupted copy.

use moment_ring::device::SplitMix64;
use moment_ring::SegmentMeta;

/// The one number every byte and field of a segment version derives from.
pub fn salt(seed: u64, seq: u64, attempt: u32) -> u64 {
    let mixed = seed.wrapping_mul(0xD6E8_FEB8_6659_FD93)
        ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ u64::from(attempt).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    SplitMix64(mixed).next_u64()
}

/// Word `i` of the payload: cheap (the simulation writes gigabytes) yet different for every salt
/// and position, so a misplaced or stale sector never compares equal.
#[inline]
fn word(salt: u64, i: u64) -> u64 {
    let x = (salt ^ i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29)
}

/// Replaces `buf` with the `len`-byte payload of `salt`.
pub fn fill(buf: &mut Vec<u8>, len: usize, salt: u64) {
    buf.clear();
    buf.resize(len, 0);
    let mut chunks = buf.chunks_exact_mut(8);
    for (i, chunk) in chunks.by_ref().enumerate() {
        let chunk: &mut [u8; 8] = chunk.try_into().expect("8-byte chunk");
        *chunk = word(salt, i as u64).to_le_bytes();
    }
    let rest = chunks.into_remainder();
    let tail = word(salt, (len / 8) as u64).to_le_bytes();
    rest.copy_from_slice(&tail[..rest.len()]);
}

/// True if `data` is exactly the payload of `salt` (its length is checked by the caller).
pub fn matches(data: &[u8], salt: u64) -> bool {
    let mut chunks = data.chunks_exact(8);
    let body = chunks.by_ref().enumerate().all(|(i, chunk)| {
        let bytes: [u8; 8] = chunk.try_into().expect("8-byte chunk");
        u64::from_le_bytes(bytes) == word(salt, i as u64)
    });
    let rest = chunks.remainder();
    let tail = word(salt, (data.len() / 8) as u64).to_le_bytes();
    body && rest == &tail[..rest.len()]
}

/// Metadata of the segment version `salt`. One in eight uses extreme values so the largest
/// encodings of every field reach the fixed-size index slot.
pub fn meta(salt: u64, seq: u64) -> SegmentMeta {
    let mut rng = SplitMix64(salt ^ 0x4D45_5441);
    if rng.below(8) == 0 {
        return SegmentMeta {
            utc_start_us: rng.next_u64() as i64,
            mono_start_us: rng.next_u64(),
            duration_us: rng.next_u64(),
            pts_first: Some(rng.next_u64()),
            pts_last: Some(u64::MAX),
            flags: rng.next_u64() as u32,
            continuity_errors: u32::MAX,
        };
    }
    let pts = (rng.below(2) == 0).then(|| seq * 450_000 % (1 << 33));
    SegmentMeta {
        utc_start_us: 1_700_000_000_000_000 + seq as i64 * 5_000_000,
        mono_start_us: seq * 5_000_000,
        duration_us: 5_000_000 + rng.below(1_000),
        pts_first: pts,
        pts_last: pts.map(|p| p + 449_000),
        flags: rng.below(16) as u32,
        continuity_errors: rng.below(3) as u32,
    }
}
