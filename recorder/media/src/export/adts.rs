//! ADTS, the framing of AAC audio in MPEG-TS: just enough to list the frames of an audio PES and
//! their times. One PES carries many frames (ffmpeg's muxer packs about 320 ms), so trimming the
//! audio to the video's first and last frame needs frame granularity, not PES granularity.

/// AAC sampling frequencies by `sampling_frequency_index` (ISO 14496-3 table 1.18).
const RATES: [u64; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];
const HEADER_LEN: usize = 7;
/// Frames listed per PES, at most: a PES is at most 64 KiB and a frame at least 8 bytes, but real
/// muxers put a few dozen in one; beyond this the PES is treated as opaque.
const MAX_FRAMES: usize = 1024;

/// One AAC frame within a PES's elementary stream bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AdtsFrame {
    /// Offset of the frame's header within the elementary stream bytes.
    pub offset: usize,
    /// Bytes, header included.
    pub len: usize,
    /// Start relative to the PES's PTS, 90 kHz ticks.
    pub start_ticks: u64,
    /// Duration, 90 kHz ticks.
    pub ticks: u64,
}

/// The whole ADTS frames at the start of `es`, and whether they are all of it (false when bytes
/// remain that are not a whole frame: the PES was cut short or continues elsewhere). `None` when
/// `es` does not start with an ADTS header (another codec, LATM, damaged data).
pub(crate) fn frames(es: &[u8]) -> Option<(Vec<AdtsFrame>, bool)> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut samples = 0u64;
    while pos < es.len() {
        let Some((len, frame_samples, rate)) = header(&es[pos..]) else {
            break;
        };
        if pos + len > es.len() || out.len() == MAX_FRAMES {
            break;
        }
        let start_ticks = samples * 90_000 / rate;
        samples += frame_samples;
        out.push(AdtsFrame {
            offset: pos,
            len,
            start_ticks,
            ticks: samples * 90_000 / rate - start_ticks,
        });
        pos += len;
    }
    if out.is_empty() && !es.is_empty() && header(es).is_none() {
        return None;
    }
    Some((out, pos == es.len()))
}

/// Frame length, samples and sampling rate of the ADTS header at the start of `b`.
fn header(b: &[u8]) -> Option<(usize, u64, u64)> {
    if b.len() < HEADER_LEN || b[0] != 0xFF || b[1] & 0xF6 != 0xF0 {
        return None;
    }
    let rate = *RATES.get(usize::from((b[2] >> 2) & 0x0F))?;
    let len = usize::from(b[3] & 0x03) << 11 | usize::from(b[4]) << 3 | usize::from(b[5] >> 5);
    if len < HEADER_LEN {
        return None;
    }
    let samples = 1024 * (u64::from(b[6] & 0x03) + 1);
    Some((len, samples, rate))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An ADTS frame of `len` bytes at 48 kHz (index 3), stereo, one raw data block.
    pub(crate) fn frame(len: usize, fill: u8) -> Vec<u8> {
        let mut f = vec![fill; len];
        f[..7].copy_from_slice(&[
            0xFF,
            0xF1,
            0x4C,
            0x80 | ((len >> 11) as u8 & 0x03),
            (len >> 3) as u8,
            ((len as u8 & 0x07) << 5) | 0x1F,
            0xFC,
        ]);
        f
    }

    #[test]
    fn lists_whole_frames_with_times() {
        let mut es = frame(300, 1);
        es.extend(frame(20, 2));
        es.extend(frame(400, 3));
        let (frames, whole) = frames(&es).unwrap();
        assert!(whole);
        let starts: Vec<_> = frames
            .iter()
            .map(|f| (f.offset, f.len, f.start_ticks))
            .collect();
        assert_eq!(starts, [(0, 300, 0), (300, 20, 1920), (320, 400, 3840)]);
        assert!(frames.iter().all(|f| f.ticks == 1920));
        let (frames, whole) = super::frames(&es[..500]).unwrap();
        assert_eq!((frames.len(), whole), (2, false));
    }

    #[test]
    fn not_adts() {
        assert_eq!(frames(&[0x56, 0xE0, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(frames(&[]), Some((Vec::new(), true)));
        let mut bad_len = frame(300, 0);
        bad_len[3] &= 0xFC;
        bad_len[4] = 0;
        bad_len[5] &= 0x1F;
        assert_eq!(frames(&bad_len), None);
    }
}
