//! H.264 Annex B scanning, just deep enough to tell whether an access unit is an IDR picture.
//! The random_access_indicator is optional and unreliable across muxers, so the decision is made
//! from the NAL unit types themselves. Start codes may be split across TS packets, so the scanner
//! keeps its state between pushes.

/// NAL unit types used here (ITU-T H.264 table 7-1).
pub mod nal {
    pub const SLICE_NON_IDR: u8 = 1;
    pub const SLICE_PARTITION_C: u8 = 4;
    pub const SLICE_IDR: u8 = 5;
    pub const SPS: u8 = 7;
}

/// What the first picture of an access unit turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessUnitKind {
    /// Contains an IDR slice: decoding can start here.
    Idr,
    /// A non-IDR slice came first.
    NonIdr,
}

/// Scans the elementary stream bytes of one access unit until its kind is known.
#[derive(Clone, Debug, Default)]
pub struct AccessUnitScanner {
    zeros: u32,
    expect_header: bool,
    /// PES header bytes still to skip before elementary stream data.
    skip: usize,
    sps: bool,
    nal_units: u32,
}

impl AccessUnitScanner {
    /// Starts scanning a PES packet whose header is `header_len` bytes long.
    pub fn new(header_len: usize) -> Self {
        AccessUnitScanner {
            skip: header_len,
            ..AccessUnitScanner::default()
        }
    }

    /// An SPS has been seen in this access unit (a decoder joining here can configure itself).
    pub fn saw_sps(&self) -> bool {
        self.sps
    }

    /// NAL units seen so far.
    pub fn nal_units(&self) -> u32 {
        self.nal_units
    }

    /// Feeds PES payload bytes (the PES header included; it is skipped). Returns the kind as soon
    /// as the first slice NAL unit shows it.
    pub fn push(&mut self, mut data: &[u8]) -> Option<AccessUnitKind> {
        let skip = self.skip.min(data.len());
        self.skip -= skip;
        data = &data[skip..];
        for &byte in data {
            if self.expect_header {
                self.expect_header = false;
                self.zeros = u32::from(byte == 0);
                if byte & 0x80 != 0 {
                    continue; // forbidden_zero_bit: not a NAL header
                }
                self.nal_units += 1;
                match byte & 0x1F {
                    nal::SLICE_IDR => return Some(AccessUnitKind::Idr),
                    nal::SLICE_NON_IDR..=nal::SLICE_PARTITION_C => {
                        return Some(AccessUnitKind::NonIdr)
                    }
                    nal::SPS => self.sps = true,
                    _ => {}
                }
                continue;
            }
            match byte {
                0 => self.zeros = self.zeros.saturating_add(1),
                1 if self.zeros >= 2 => {
                    self.expect_header = true;
                    self.zeros = 0;
                }
                _ => self.zeros = 0,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDR_AU: &[u8] = &[
        0, 0, 0, 1, 0x09, 0xF0, // AUD
        0, 0, 0, 1, 0x67, 0x42, 0, 0x1E, // SPS
        0, 0, 1, 0x68, 0xCE, // PPS
        0, 0, 1, 0x06, 5, 0, 0, 3, 1, // SEI with an emulation-prevented 00 00 03 01
        0, 0, 1, 0x65, 0x88, 0x84, // IDR slice
    ];

    #[test]
    fn idr_found_at_any_split() {
        for split in 0..IDR_AU.len() {
            let mut s = AccessUnitScanner::new(0);
            let first = s.push(&IDR_AU[..split]);
            let kind = first.or_else(|| s.push(&IDR_AU[split..]));
            assert_eq!(kind, Some(AccessUnitKind::Idr), "split at {split}");
            assert!(s.saw_sps());
            assert_eq!(s.nal_units(), 5);
        }
    }

    #[test]
    fn byte_by_byte_non_idr_after_header_skip() {
        let mut data = vec![0xAA; 14];
        data.extend_from_slice(&[0, 0, 0, 1, 0x09, 0x30, 0, 0, 1, 0x41, 0x9A]);
        let mut s = AccessUnitScanner::new(14);
        let kind = data.iter().find_map(|b| s.push(std::slice::from_ref(b)));
        assert_eq!(kind, Some(AccessUnitKind::NonIdr));
        assert!(!s.saw_sps());
    }

    #[test]
    fn no_slice_means_undecided() {
        let mut s = AccessUnitScanner::new(0);
        assert_eq!(s.push(&[0, 0, 1, 0x09, 0x10, 0, 0, 1, 0xE5, 0, 0]), None);
    }
}
