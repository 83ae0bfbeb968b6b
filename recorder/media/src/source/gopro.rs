//! GoPro cameras as a source (placeholder, being written).
