//! One framing for every on-disk record (superblock, tail, index slot, segment header), so there is
//! one place that checks magic, length and CRC. Frame: magic (8 bytes) | body length (u32 LE) |
//! postcard body | CRC32 of everything before it (u32 LE); the rest of the area is zero.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Bytes a frame adds around its body.
pub(crate) const FRAME_OVERHEAD: usize = 8 + 4 + 4;

/// Why a frame did not decode. Never fatal on its own: recovery treats it as "no record here".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    Magic,
    Length,
    Crc,
    Body,
}

/// Writes `value` as a frame at the start of `area` and zeroes the rest. Panics if it does not
/// fit: record sizes are fixed by the format, so that is a programming error, caught in tests.
pub(crate) fn encode<T: Serialize>(magic: &[u8; 8], value: &T, area: &mut [u8]) {
    area.fill(0);
    let capacity = area.len() - FRAME_OVERHEAD;
    let body = postcard::to_slice(value, &mut area[12..12 + capacity])
        .expect("record larger than its on-disk area")
        .len();
    area[..8].copy_from_slice(magic);
    area[8..12].copy_from_slice(&(body as u32).to_le_bytes());
    let crc = crc32fast::hash(&area[..12 + body]);
    area[12 + body..16 + body].copy_from_slice(&crc.to_le_bytes());
}

/// Reads a frame written by `encode`, checking magic, length, CRC and that the body is exactly one
/// value.
pub(crate) fn decode<T: DeserializeOwned>(magic: &[u8; 8], area: &[u8]) -> Result<T, FrameError> {
    if area.len() < FRAME_OVERHEAD || &area[..8] != magic {
        return Err(FrameError::Magic);
    }
    let body = u32::from_le_bytes(area[8..12].try_into().expect("4 bytes")) as usize;
    if body > area.len() - FRAME_OVERHEAD {
        return Err(FrameError::Length);
    }
    let stored = u32::from_le_bytes(area[12 + body..16 + body].try_into().expect("4 bytes"));
    if crc32fast::hash(&area[..12 + body]) != stored {
        return Err(FrameError::Crc);
    }
    match postcard::take_from_bytes::<T>(&area[12..12 + body]) {
        Ok((value, [])) => Ok(value),
        _ => Err(FrameError::Body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_corruption_is_caught() {
        let mut area = [0u8; 64];
        encode(b"TESTREC1", &(7u64, -3i64, Some(9u32)), &mut area);
        let back: (u64, i64, Option<u32>) = decode(b"TESTREC1", &area).unwrap();
        assert_eq!(back, (7, -3, Some(9)));
        assert_eq!(
            decode::<(u64, i64, Option<u32>)>(b"OTHERREC", &area),
            Err(FrameError::Magic)
        );
        for byte in 8..20 {
            let mut bad = area;
            bad[byte] ^= 0x10;
            assert!(
                decode::<(u64, i64, Option<u32>)>(b"TESTREC1", &bad).is_err(),
                "byte {byte}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "larger than its on-disk area")]
    fn oversized_record_is_a_bug() {
        let mut area = [0u8; 20];
        encode(b"TESTREC1", &[1u64; 8], &mut area);
    }
}
