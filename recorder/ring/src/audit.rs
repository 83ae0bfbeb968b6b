//! The checks any ring that opened must pass, whatever the device held before: the crash
//! simulation, the ring's fuzz tests and the workspace's fuzzer (recorder/fuzz) all hold the
//! engine to them. They use only the public API, so they hold it to what callers see, and they
//! return a message instead of panicking so a caller can attach the seed or the input.

use crate::{Device, Error, Ring, SegmentInfo, SegmentMeta, BLOCK};

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// The listed segments, after checking that they and the statistics describe one ring: seqs
/// contiguous, segments laid end to end, bytes and counts within the geometry and summed right.
pub fn consistent<D: Device>(ring: &Ring<D>) -> Result<Vec<SegmentInfo>, String> {
    let reader = ring.reader();
    let stats = reader.stats();
    let listed = reader.segments();
    let g = ring.geometry();
    let used: u64 = listed.iter().map(SegmentInfo::extent).sum();
    ensure!(
        stats.segment_count == listed.len() as u64 && stats.used_bytes == used,
        "stats {stats:?} disagree with {} listed segments of {used} bytes",
        listed.len()
    );
    ensure!(
        used <= g.data_len && stats.segment_count <= g.slot_count,
        "stats {stats:?} exceed the geometry {g:?}"
    );
    ensure!(
        stats.oldest_seq == listed.first().map_or(stats.oldest_seq, |s| s.seq)
            && stats.newest_seq == listed.last().map(|s| s.seq),
        "stats {stats:?} disagree with the listed range"
    );
    for info in &listed {
        ensure!(
            info.pos % BLOCK == 0
                && info.pos < g.data_len
                && info.payload_len >= 1
                && info.extent() <= g.max_segment_bytes,
            "listed segment {info:?} does not fit the geometry {g:?}"
        );
    }
    for pair in listed.windows(2) {
        let end = (pair[0].pos + pair[0].extent()) % g.data_len;
        // (epoch, seq) strictly increasing in reading order: seqs by one, epochs never back.
        ensure!(
            pair[0].seq + 1 == pair[1].seq && pair[0].epoch <= pair[1].epoch && end == pair[1].pos,
            "segments {} and {} are not contiguous: {:?} then {:?}",
            pair[0].seq,
            pair[1].seq,
            pair[0],
            pair[1]
        );
    }
    Ok(listed)
}

/// Reads every listed segment. A read either returns the listed record with a payload matching
/// its CRC (then `on_data` judges the bytes) or fails with `Corrupt`; returns how many failed.
pub fn check_reads<D: Device>(
    ring: &Ring<D>,
    listed: &[SegmentInfo],
    mut on_data: impl FnMut(&SegmentInfo, &[u8]) -> Result<(), String>,
) -> Result<u64, String> {
    let reader = ring.reader();
    let mut corrupt = 0;
    for info in listed {
        match reader.read(info.seq) {
            Ok((read, data)) => {
                ensure!(
                    read == *info
                        && data.len() == info.payload_len as usize
                        && crc32fast::hash(&data) == info.payload_crc,
                    "read of seq {} returned {read:?} ({} bytes), listed as {info:?}",
                    info.seq,
                    data.len()
                );
                on_data(info, &data)?;
            }
            Err(Error::Corrupt { .. }) => corrupt += 1,
            Err(e) => return Err(format!("read of listed seq {} failed: {e}", info.seq)),
        }
    }
    Ok(corrupt)
}

/// On a writable ring just opened: an append lands right after the newest segment, a flush makes
/// it durable, and it reads back whole.
pub fn append_after_open<D: Device>(ring: &mut Ring<D>) -> Result<SegmentInfo, String> {
    let stats = ring.stats();
    let expected = stats.newest_seq.map_or(stats.oldest_seq, |n| n + 1);
    let info = ring
        .append(&SegmentMeta::default(), &[0xA5; 3000])
        .map_err(|e| format!("append after open failed: {e}"))?;
    ensure!(
        info.seq == expected,
        "append after open got seq {}, expected {expected}",
        info.seq
    );
    ring.flush()
        .map_err(|e| format!("flush after the append failed: {e}"))?;
    ensure!(
        ring.durable_seq() == expected,
        "after flush() the durable seq is {}, expected {expected}",
        ring.durable_seq()
    );
    let listed = consistent(ring)?;
    let corrupt = check_reads(ring, &listed[listed.len() - 1..], |_, _| Ok(()))?;
    ensure!(corrupt == 0, "the segment just appended reads back corrupt");
    Ok(info)
}
