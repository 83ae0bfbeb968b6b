//! Where sticks come from on the camera: the kernel's uevents (a netlink socket; no udev daemon
//! is needed or trusted), plus a scan of /sys at start for a stick that was already plugged in.
//! Parsing is pure and tested on real kernel messages; the listener only feeds the exporter's
//! bounded intake, so a flood of events cannot grow anything.

use super::StickEvent;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Largest uevent read; the kernel's own limit (UEVENT_BUFFER_SIZE) is 2 KiB.
const MAX_MESSAGE: usize = 8 << 10;
/// How long a receive waits before the stop flag is looked at again.
const RECEIVE_WAIT: Duration = Duration::from_millis(500);
/// Block devices looked at by a scan; more is not a camera.
const MAX_SCANNED: usize = 256;
/// The netlink protocol of kernel object events (linux/netlink.h).
const NETLINK_KOBJECT_UEVENT: libc::c_int = 15;
/// The kernel's multicast group for them (udev's re-broadcasts are group 2, never read).
const KERNEL_GROUP: u32 = 1;

/// The fields of a kernel uevent the exporter needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Uevent {
    pub action: String,
    pub devpath: String,
    pub subsystem: String,
    pub devname: String,
    pub devtype: String,
}

/// Parses one kernel message: `ACTION@DEVPATH` then `KEY=VALUE` fields, NUL-separated. udev's
/// re-broadcasts (they start with "libudev") and anything else are `None`.
pub fn parse(message: &[u8]) -> Option<Uevent> {
    let mut fields = message.split(|&b| b == 0).filter(|f| !f.is_empty());
    let header = std::str::from_utf8(fields.next()?).ok()?;
    if !header.contains('@') {
        return None;
    }
    let mut event = Uevent::default();
    for field in fields {
        let Ok(field) = std::str::from_utf8(field) else {
            continue;
        };
        let Some((key, value)) = field.split_once('=') else {
            continue;
        };
        let slot = match key {
            "ACTION" => &mut event.action,
            "DEVPATH" => &mut event.devpath,
            "SUBSYSTEM" => &mut event.subsystem,
            "DEVNAME" => &mut event.devname,
            "DEVTYPE" => &mut event.devtype,
            _ => continue,
        };
        *slot = value.to_string();
    }
    (!event.action.is_empty() && !event.devpath.is_empty()).then_some(event)
}

/// A whole disk on a USB bus appearing or going away; partitions and other devices are `None`
/// (the exporter finds a disk's partitions itself, once they all exist).
pub fn stick_event(event: &Uevent) -> Option<StickEvent> {
    if event.subsystem != "block" || event.devtype != "disk" || !is_usb_path(&event.devpath) {
        return None;
    }
    // The kernel gives block devices' names relative to /dev, plain for a disk ("sda").
    let disk = event.devname.as_str();
    if !super::is_disk_name(disk) {
        return None;
    }
    match event.action.as_str() {
        "add" => Some(StickEvent::Added { disk: disk.into() }),
        "remove" => Some(StickEvent::Removed { disk: disk.into() }),
        _ => None,
    }
}

/// A device path below a USB host controller (`.../usb1/1-1/1-1:1.0/host0/.../block/sda`).
fn is_usb_path(devpath: &str) -> bool {
    devpath.split('/').any(|part| {
        part.strip_prefix("usb")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// The USB disks present now, by a scan of `sys_block` (/sys/class/block): whole disks (no
/// `partition` file) whose device path is below a USB controller.
pub fn present_sticks(sys_block: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(sys_block) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.take(MAX_SCANNED).flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if !super::is_disk_name(&name) || path.join("partition").exists() {
            continue;
        }
        let usb =
            std::fs::canonicalize(&path).is_ok_and(|real| is_usb_path(&real.to_string_lossy()));
        if usb {
            found.push(name);
        }
    }
    found.sort();
    found
}

/// Listens for kernel uevents on its own thread until `stop`, handing every stick event to
/// `deliver`. After the socket overflowed (events lost) the present sticks are scanned again.
pub fn listen(
    sys_block: &Path,
    deliver: impl Fn(StickEvent) + Send + 'static,
    stop: Arc<AtomicBool>,
) -> io::Result<std::thread::JoinHandle<()>> {
    let socket = UeventSocket::open()?;
    let sys_block = sys_block.to_path_buf();
    std::thread::Builder::new()
        .name("moment-uevent".into())
        .spawn(move || {
            let mut buffer = vec![0u8; MAX_MESSAGE];
            while !stop.load(Ordering::Relaxed) {
                match socket.receive(&mut buffer) {
                    Ok(Some(len)) => {
                        if let Some(event) = parse(&buffer[..len]).as_ref().and_then(stick_event) {
                            deliver(event);
                        }
                    }
                    Ok(None) => {}
                    Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                        tracing::warn!("usb: uevents were lost; looking for sticks again");
                        for disk in present_sticks(&sys_block) {
                            deliver(StickEvent::Added { disk });
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "usb: the uevent socket failed; sticks are no longer noticed");
                        return;
                    }
                }
            }
        })
}

/// A netlink socket bound to the kernel's uevent group.
struct UeventSocket {
    fd: std::os::fd::OwnedFd,
}

impl UeventSocket {
    fn open() -> io::Result<UeventSocket> {
        use std::os::fd::FromRawFd;
        // SAFETY: plain socket(2); the descriptor is owned right away.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                NETLINK_KOBJECT_UEVENT,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        let socket = UeventSocket { fd };
        socket.set_receive_timeout(RECEIVE_WAIT)?;
        // SAFETY: a zeroed sockaddr_nl is valid; family and group set below.
        let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        address.nl_groups = KERNEL_GROUP;
        // SAFETY: `address` is a valid sockaddr_nl of the size passed.
        let bound = unsafe {
            libc::bind(
                socket.raw(),
                (&address as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if bound != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(socket)
    }

    fn raw(&self) -> libc::c_int {
        use std::os::fd::AsRawFd;
        self.fd.as_raw_fd()
    }

    fn set_receive_timeout(&self, wait: Duration) -> io::Result<()> {
        let timeout = libc::timeval {
            tv_sec: wait.as_secs() as libc::time_t,
            tv_usec: wait.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: a valid timeval of the size passed.
        let set = unsafe {
            libc::setsockopt(
                self.raw(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if set != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// One message from the kernel (sender port 0); `None` after the wait or for a message from
    /// anyone else.
    fn receive(&self, buffer: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: zeroed sockaddr_nl filled by recvfrom; buffer valid for its length.
        let mut sender: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        let mut sender_len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        let len = unsafe {
            libc::recvfrom(
                self.raw(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                0,
                (&mut sender as *mut libc::sockaddr_nl).cast(),
                &mut sender_len,
            )
        };
        if len < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(None),
                _ => Err(e),
            };
        }
        Ok((sender.nl_pid == 0).then_some(len as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(fields: &[&str]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for field in fields {
            bytes.extend_from_slice(field.as_bytes());
            bytes.push(0);
        }
        bytes
    }

    const STICK: &str =
        "/devices/platform/soc/3f980000.usb/usb1/1-1/1-1:1.0/host0/target0:0:0/0:0:0:0/block/sda";

    #[test]
    fn a_usb_disk_added_and_removed() {
        let add = message(&[
            &format!("add@{STICK}"),
            "ACTION=add",
            &format!("DEVPATH={STICK}"),
            "SUBSYSTEM=block",
            "MAJOR=8",
            "MINOR=0",
            "DEVNAME=sda",
            "DEVTYPE=disk",
            "SEQNUM=1234",
        ]);
        let event = parse(&add).unwrap();
        assert_eq!(
            stick_event(&event),
            Some(StickEvent::Added { disk: "sda".into() })
        );
        let mut removed = event.clone();
        removed.action = "remove".into();
        assert_eq!(
            stick_event(&removed),
            Some(StickEvent::Removed { disk: "sda".into() })
        );
    }

    #[test]
    fn partitions_other_devices_and_udev_are_ignored() {
        let partition = message(&[
            &format!("add@{STICK}/sda1"),
            "ACTION=add",
            &format!("DEVPATH={STICK}/sda1"),
            "SUBSYSTEM=block",
            "DEVNAME=sda1",
            "DEVTYPE=partition",
        ]);
        assert_eq!(stick_event(&parse(&partition).unwrap()), None);
        // The SD card and loop devices are not on a USB bus.
        let card = message(&[
            "add@/devices/platform/soc/3f202000.mmc/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0",
            "ACTION=add",
            "DEVPATH=/devices/platform/soc/3f202000.mmc/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0",
            "SUBSYSTEM=block",
            "DEVNAME=mmcblk0",
            "DEVTYPE=disk",
        ]);
        assert_eq!(stick_event(&parse(&card).unwrap()), None);
        let usb_interface = message(&[
            "add@/devices/platform/soc/3f980000.usb/usb1/1-1",
            "ACTION=add",
            "DEVPATH=/devices/platform/soc/3f980000.usb/usb1/1-1",
            "SUBSYSTEM=usb",
            "DEVTYPE=usb_device",
        ]);
        assert_eq!(stick_event(&parse(&usb_interface).unwrap()), None);
        assert_eq!(parse(b"libudev\0\xfe\xed\xca\xfe"), None);
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"\0\0\0"), None);
        // A name that is not a plain kernel name is never turned into a device path.
        let odd = message(&[
            &format!("add@{STICK}"),
            "ACTION=add",
            &format!("DEVPATH={STICK}"),
            "SUBSYSTEM=block",
            "DEVNAME=../sda",
            "DEVTYPE=disk",
        ]);
        assert_eq!(stick_event(&parse(&odd).unwrap()), None);
    }

    #[test]
    fn usb_paths() {
        assert!(is_usb_path(STICK));
        assert!(!is_usb_path("/devices/virtual/block/loop0"));
        assert!(!is_usb_path("/devices/platform/usbphy/block/x"));
    }

    #[test]
    fn the_kernel_socket_opens() {
        // The listener's socket works on this kernel (a container without netlink would say so).
        UeventSocket::open().unwrap();
    }
}
