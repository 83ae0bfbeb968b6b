//! The kernel-messages target: what the daemon reads from the kernel and from tools rather than
//! from people — USB uevents off the netlink socket (any process in the netns can send them),
//! `iw scan` output (SSIDs are chosen by whoever runs an access point nearby), and the disk names
//! they carry. No panic; a parsed event must name a disk that passes the disk-name rule.

use super::{class, ensure, Outcome};
use moment_recorder::network::linux::parse_iw_scan;
use moment_recorder::usb::uevent::{parse, stick_event};
use moment_recorder::usb::{disk_name, is_disk_name, StickEvent};

pub fn messages(input: &[u8]) -> Result<Outcome, String> {
    let mut parts = vec![0; 3];
    if let Some(event) = parse(input) {
        parts[0] = 1;
        if let Some(stick) = stick_event(&event) {
            let (StickEvent::Added { disk } | StickEvent::Removed { disk }) = &stick;
            ensure!(is_disk_name(disk), "{event:?} gave the disk {disk:?}");
            parts[0] = 2;
        }
    }
    let text = String::from_utf8_lossy(input);
    parts[1] = parse_iw_scan(&text).len().min(8) as u64;
    for line in text.lines().take(64) {
        if let Some(name) = disk_name(line) {
            ensure!(is_disk_name(&name), "disk_name({line:?}) gave {name:?}");
            parts[2] = 1;
        }
    }
    Ok(class(&parts))
}
