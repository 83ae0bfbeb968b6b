//! Loop devices for the block-device tests: a backing file attached with `losetup`, detached
//! again when the guard drops, even if the test fails.

use super::{program, s};
use std::path::Path;

/// A loop device, detached when dropped.
pub struct LoopDevice(pub String);

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = program("losetup", &["-d", &self.0]);
    }
}

/// Attaches `file` to a free loop device, with direct I/O to the backing file if the kernel
/// allows it. `Err` says why not.
pub fn attach(file: &Path) -> Result<LoopDevice, String> {
    let euid = super::effective_uid();
    if euid != Some(0) {
        return Err(format!("loop devices need root (effective uid {euid:?})"));
    }
    let mut why = String::from("losetup is not installed");
    for direct in [true, false] {
        let mut args = vec!["-f", "--show"];
        if direct {
            args.push("--direct-io=on");
        }
        args.push(s(file));
        match program("losetup", &args) {
            Some(run) if run.code == Some(0) => {
                return Ok(LoopDevice(run.text().trim().to_string()))
            }
            Some(run) => why = format!("losetup {}: {}", args.join(" "), run.stderr.trim()),
            None => break,
        }
    }
    Err(why)
}
