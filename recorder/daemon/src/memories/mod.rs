//! Placeholder for the memories part of the daemon (being written).
