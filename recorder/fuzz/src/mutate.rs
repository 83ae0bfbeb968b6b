//! The mutator: small, structure-blind edits of corpus inputs (bit flips, interesting bytes,
//! range insert/delete/duplicate, splices, truncation). Blind on purpose: the targets themselves
//! splice inputs into valid surroundings, so a few edits of a real block or name go deep.

use crate::rng::Rng;

/// Bytes that sit on the edges of signed, unsigned and length fields.
const INTERESTING: [u8; 6] = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE];
/// Edits applied to one input: 1 to this many, stacked.
const MAX_STACK: usize = 6;

/// A mutated copy of `base`, at most `max_len` bytes; `other` is a second corpus entry to splice.
pub fn mutate(rng: &mut Rng, base: &[u8], other: &[u8], max_len: usize) -> Vec<u8> {
    let mut data = base.to_vec();
    for _ in 0..1 + rng.below(MAX_STACK) {
        edit(rng, &mut data, other);
        data.truncate(max_len);
    }
    data
}

fn edit(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    if data.is_empty() {
        data.push(INTERESTING[rng.below(INTERESTING.len())]);
        return;
    }
    let at = rng.below(data.len());
    match rng.below(9) {
        0 => data[at] ^= 1 << rng.below(8),
        1 => data[at] = INTERESTING[rng.below(INTERESTING.len())],
        2 => data[at] = rng.next_u64() as u8,
        3 => {
            // A little-endian or big-endian word set to an edge value: length and offset fields.
            let edge = [0u64, u64::MAX, u64::MAX / 2, 1 << 31, 1 << 32, 4096][rng.below(6)];
            let width = [2, 4, 8][rng.below(3)];
            let bytes = if rng.one_in(2) {
                edge.to_le_bytes()
            } else {
                edge.to_be_bytes()
            };
            let end = (at + width).min(data.len());
            data[at..end].copy_from_slice(&bytes[..end - at]);
        }
        4 => {
            let len = 1 + rng.below(32);
            let fill = INTERESTING[rng.below(INTERESTING.len())];
            let insert: Vec<u8> = if rng.one_in(2) {
                vec![fill; len]
            } else {
                (0..len).map(|_| rng.next_u64() as u8).collect()
            };
            data.splice(at..at, insert);
        }
        5 => {
            let end = (at + 1 + rng.below(64)).min(data.len());
            data.drain(at..end);
        }
        6 => {
            let end = (at + 1 + rng.below(256)).min(data.len());
            let copy = data[at..end].to_vec();
            let to = rng.below(data.len() + 1);
            data.splice(to..to, copy);
        }
        7 => splice(rng, data, other),
        _ => data.truncate(at),
    }
}

/// Replaces the tail of `data` from a random point with the tail of `other` from another.
fn splice(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    if other.is_empty() {
        return;
    }
    let at = rng.below(data.len() + 1);
    let from = rng.below(other.len());
    data.truncate(at);
    data.extend_from_slice(&other[from..]);
}
