//! Placeholder for the buttons part of the daemon (being written).
