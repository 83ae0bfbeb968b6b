//! The recorder daemon and its command-line tools, as a library so the binary stays a thin
//! dispatcher and integration tests can drive each part (uploader, memories, buttons) directly.

pub mod atomic_file;
pub mod buttons;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod memories;
pub mod network;
pub mod preseed;
pub mod recording;
pub mod service;
pub mod settings;
pub mod signals;
pub mod update;
pub mod upload;
pub mod usb;
pub mod web;
