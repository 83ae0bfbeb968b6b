//! A memory's sidecar (`NAME.mp4.json`): what range of the ring it covers and where else it is
//! safe. Written atomically, versioned, checked after reading, so a torn or foreign file is
//! reported instead of trusted.

use serde::{Deserialize, Serialize};
use std::io;
use std::path::Path;

const VERSION: u32 = 1;
/// Largest sidecar read; a real one is a few hundred bytes.
const MAX_SIDECAR_BYTES: u64 = 64 << 10;

/// Where a memory's upload stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadState {
    /// Not uploaded yet (or uploads are not configured).
    #[default]
    Pending,
    /// Uploaded and verified.
    Done,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    pub version: u32,
    /// Range of the recording in the file (UTC microseconds); 0 when unknown (recovered).
    pub utc_start_us: i64,
    pub utc_end_us: i64,
    pub duration_us: u64,
    /// When it was saved (UTC microseconds); 0 when unknown.
    pub saved_utc_us: i64,
    /// Size of the MP4 when it was saved, to notice a file changed behind our back.
    pub size: u64,
    pub upload: UploadState,
    /// Copied to a USB stick and verified.
    pub usb_exported: bool,
    /// The ring held less than the range asked for.
    pub clipped: bool,
}

impl Sidecar {
    /// A sidecar for an MP4 found without one: nothing known but its size; not uploaded.
    pub fn recovered(size: u64) -> Sidecar {
        Sidecar {
            version: VERSION,
            size,
            ..Sidecar::default()
        }
    }

    /// A sidecar for a new memory.
    pub fn new_memory(
        utc_start_us: i64,
        utc_end_us: i64,
        duration_us: u64,
        size: u64,
        clipped: bool,
    ) -> Sidecar {
        Sidecar {
            version: VERSION,
            utc_start_us,
            utc_end_us,
            duration_us,
            saved_utc_us: moment_media::system_clock().utc_us,
            size,
            upload: UploadState::Pending,
            usb_exported: false,
            clipped,
        }
    }

    /// Safe to delete for space: it exists somewhere else.
    pub fn safe_elsewhere(&self) -> bool {
        self.upload == UploadState::Done || self.usb_exported
    }

    /// Both uploaded and on a USB stick (`usb.delete_after_export` deletes it then).
    pub fn uploaded_and_exported(&self) -> bool {
        self.upload == UploadState::Done && self.usb_exported
    }

    pub fn to_json(&self) -> io::Result<Vec<u8>> {
        self.check()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        serde_json::to_vec_pretty(self).map_err(io::Error::other)
    }

    pub fn read(path: &Path) -> io::Result<Sidecar> {
        let len = std::fs::metadata(path)?.len();
        if len > MAX_SIDECAR_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "sidecar too large",
            ));
        }
        let sidecar: Sidecar = serde_json::from_slice(&std::fs::read(path)?)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        sidecar
            .check()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(sidecar)
    }

    fn check(&self) -> Result<(), String> {
        if self.version != VERSION {
            return Err(format!("sidecar version {} is not {VERSION}", self.version));
        }
        if self.utc_end_us < self.utc_start_us {
            return Err("sidecar range ends before it starts".into());
        }
        Ok(())
    }
}
