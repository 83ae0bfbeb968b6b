//! Export of a time range of the ring to MP4 (placeholder, being written).
