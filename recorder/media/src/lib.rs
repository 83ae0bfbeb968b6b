//! Media handling for the recorder: MPEG-TS parsing, keyframe segmentation, capture sources and MP4
//! export. Empty until the capture issue lands; it exists now so the crate boundaries are fixed early.
