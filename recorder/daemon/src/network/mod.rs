//! The network manager (DESIGN.md section 7): the Wi-Fi is an access point with a captive portal
//! for setup, or a station on the home network, never both. The decision is a pure state machine
//! (`machine.rs`); the tools' configuration files are generated from checked values
//! (`config_files.rs`). Recording never depends on any of it.

pub mod config_files;
pub mod linux;
pub mod machine;
pub mod manager;
pub mod system;
