//! What the ring's integration tests share: the checks every opened ring must pass (kept in the
//! crate as `moment_ring::audit`, which the workspace's fuzzer uses too) and the frame writer
//! that plants records.

pub use moment_ring::audit::{check_reads, consistent};

/// `ensure!(cond, "fmt", args)`: fail the check with a message instead of panicking, so the
/// caller can attach the seed or the input. (Not every test binary including this module uses it.)
#[allow(unused_macros)]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// Writes `value` as a frame (magic, body length, postcard body, CRC32) at the start of `area`.
// Not every test binary that includes this module plants records.
#[allow(dead_code)]
pub fn frame<T: serde::Serialize>(magic: &[u8; 8], value: &T, area: &mut [u8]) {
    area.fill(0);
    let capacity = area.len() - 16;
    let Ok(body) = postcard::to_slice(value, &mut area[12..12 + capacity]) else {
        return; // too large for the area: leave it zeroed
    };
    let len = body.len();
    area[..8].copy_from_slice(magic);
    area[8..12].copy_from_slice(&(len as u32).to_le_bytes());
    let crc = crc32fast::hash(&area[..12 + len]);
    area[12 + len..16 + len].copy_from_slice(&crc.to_le_bytes());
}
