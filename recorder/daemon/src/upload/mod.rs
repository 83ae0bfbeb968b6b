//! Placeholder for the upload part of the daemon (being written).
