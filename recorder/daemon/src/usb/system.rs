//! The system calls around a stick: mount with safe options, unmount (lazily when the stick is
//! gone), tell a write-protected or already-mounted device, and power the stick off through
//! sysfs so it can be pulled. Called directly (mount(2), not mount(8)): the image needs no extra
//! tools and errors come back as errno, which the exporter turns into sentences.

use super::probe::Filesystem;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// Attempts at a normal unmount while something still holds the filesystem busy.
const UNMOUNT_TRIES: u32 = 10;
const UNMOUNT_PAUSE: Duration = Duration::from_millis(200);
/// Largest /proc/self/mountinfo read.
const MAX_MOUNTINFO_BYTES: u64 = 1 << 20;
/// Directories walked up from a disk to its USB device.
const MAX_PARENT_STEPS: usize = 16;

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// The options a stick is mounted with: no device files, no set-uid, no programs, no access
/// times (fewer writes to cheap flash); a filesystem error makes it read-only instead of going
/// on; FAT in UTF-8 with names kept as written, and written through early (`flush`) so less is
/// lost when a stick is pulled.
fn mount_options(filesystem: Filesystem) -> (libc::c_ulong, &'static str) {
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_NOATIME;
    let data = match filesystem {
        Filesystem::Vfat => "utf8,shortname=mixed,flush,errors=remount-ro",
        Filesystem::Exfat => "errors=remount-ro",
        Filesystem::Ext4 => "errors=remount-ro",
    };
    (flags, data)
}

/// Mounts `node` on `target` (which must exist) read-write.
pub fn mount(node: &Path, target: &Path, filesystem: Filesystem) -> io::Result<()> {
    let (flags, data) = mount_options(filesystem);
    let source = c_path(node)?;
    let target = c_path(target)?;
    let kind = CString::new(filesystem.mount_type()).map_err(io::Error::other)?;
    let data = CString::new(data).map_err(io::Error::other)?;
    // SAFETY: every pointer is a valid NUL-terminated string living across the call.
    let done = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            kind.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    if done != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Unmounts `target`: normally, retrying a few times while it is busy; `detach` (the stick is
/// gone, nothing more can be written) takes it out of the tree at once and lets the kernel
/// finish when the last file closes.
pub fn unmount(target: &Path, detach: bool) -> io::Result<()> {
    let path = c_path(target)?;
    let flags = if detach { libc::MNT_DETACH } else { 0 };
    let mut tries = 0;
    loop {
        // SAFETY: a valid NUL-terminated path.
        if unsafe { libc::umount2(path.as_ptr(), flags) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        tries += 1;
        if e.raw_os_error() != Some(libc::EBUSY) || tries >= UNMOUNT_TRIES {
            return Err(e);
        }
        std::thread::sleep(UNMOUNT_PAUSE);
    }
}

/// Flushes everything written to the filesystem holding `dir` (syncfs(2)).
pub fn sync_filesystem(dir: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let dir = std::fs::File::open(dir)?;
    // SAFETY: a valid open descriptor.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether the block device `name` is read-only (a stick's write-protect switch, `losetup -r`).
pub fn is_read_only(sys_block: &Path, name: &str) -> bool {
    std::fs::read_to_string(sys_block.join(name).join("ro")).is_ok_and(|v| v.trim() == "1")
}

/// Whether block device `name` has a medium (a card reader without a card reports 0 sectors).
pub fn has_medium(sys_block: &Path, name: &str) -> bool {
    std::fs::read_to_string(sys_block.join(name).join("size"))
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|sectors| sectors > 0)
}

/// The device number `MAJOR:MINOR` of block device `name`, from /sys.
pub fn device_number(sys_block: &Path, name: &str) -> io::Result<String> {
    Ok(std::fs::read_to_string(sys_block.join(name).join("dev"))?
        .trim()
        .to_string())
}

/// Where device `MAJOR:MINOR` is mounted already, if anywhere (another mount of the same stick,
/// or the camera's own card named by mistake).
pub fn mounted_at(mountinfo: &str, number: &str) -> Option<String> {
    mountinfo.lines().find_map(|line| {
        let mut fields = line.split(' ');
        let device = fields.nth(2)?;
        let _root = fields.next()?;
        let mount_point = fields.next()?;
        (device == number).then(|| mount_point.to_string())
    })
}

/// This process's mount table.
pub fn read_mountinfo() -> io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open("/proc/self/mountinfo")?
        .take(MAX_MOUNTINFO_BYTES)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// What powering a stick off did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PowerOff {
    /// The disk was deleted from the SCSI layer and/or its USB device detached (which cuts the
    /// port's power where the hub can).
    Done,
    /// Not a USB disk (a loop device in tests): nothing to power off.
    NotUsb,
}

/// Powers the disk `disk` off: `device/delete` tells the SCSI layer it is gone (the drive is
/// told to stop), then the USB device above it is removed (`remove`, kernel 4.3+), which also
/// switches the port off where the hardware allows. Both are best effort in that order: a stick
/// that disappears after the first write has been powered off all the same.
pub fn power_off(sys_block: &Path, disk: &str) -> io::Result<PowerOff> {
    let real = std::fs::canonicalize(sys_block.join(disk))?;
    let usb_device = usb_ancestor(&real);
    let delete = sys_block.join(disk).join("device").join("delete");
    let mut did = false;
    if delete.exists() {
        std::fs::write(&delete, b"1")?;
        did = true;
    }
    if let Some(device) = usb_device {
        match std::fs::write(device.join("remove"), b"1") {
            Ok(()) => did = true,
            // Gone with the SCSI delete already.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if did => {
                tracing::debug!(error = %e, "usb: the USB device stayed after the disk was deleted")
            }
            Err(e) => return Err(e),
        }
    }
    Ok(if did {
        PowerOff::Done
    } else {
        PowerOff::NotUsb
    })
}

/// The USB device directory above a disk (`.../usb1/1-1`): the nearest ancestor holding
/// `idVendor` and `remove`.
fn usb_ancestor(disk: &Path) -> Option<std::path::PathBuf> {
    disk.ancestors()
        .take(MAX_PARENT_STEPS)
        .find(|dir| dir.join("idVendor").exists() && dir.join("remove").exists())
        .map(Path::to_path_buf)
}

/// Puts the calling thread in the idle I/O class: the card's bandwidth goes to the ring writer
/// first (where the I/O scheduler honours classes; elsewhere this changes nothing).
pub fn idle_io_priority() {
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    const IOPRIO_CLASS_IDLE: libc::c_long = 3;
    const IOPRIO_CLASS_SHIFT: libc::c_long = 13;
    // SAFETY: ioprio_set on the calling thread (id 0) with a constant priority.
    let set = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0 as libc::c_long,
            IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT,
        )
    };
    if set != 0 {
        tracing::debug!(error = %io::Error::last_os_error(), "usb: cannot lower the copy's I/O priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_where_a_device_is_mounted() {
        let info = "22 1 179:2 / / ro,relatime shared:1 - squashfs /dev/root ro\n\
                    30 22 179:6 / /data rw,noatime shared:9 - ext4 /dev/mmcblk0p6 rw\n\
                    41 22 8:1 / /run/moment-recorder/usb/sda1 rw - vfat /dev/sda1 rw\n";
        assert_eq!(
            mounted_at(info, "8:1").as_deref(),
            Some("/run/moment-recorder/usb/sda1")
        );
        assert_eq!(mounted_at(info, "179:6").as_deref(), Some("/data"));
        assert_eq!(mounted_at(info, "8:2"), None);
        assert_eq!(mounted_at("", "8:1"), None);
    }

    #[test]
    fn a_disk_without_sectors_has_no_medium() {
        let sys = tempfile::tempdir().unwrap();
        for (name, size) in [("sda", "0\n"), ("sdb", "30310400\n"), ("sdc", "junk")] {
            std::fs::create_dir(sys.path().join(name)).unwrap();
            std::fs::write(sys.path().join(name).join("size"), size).unwrap();
        }
        assert!(!has_medium(sys.path(), "sda"));
        assert!(has_medium(sys.path(), "sdb"));
        assert!(!has_medium(sys.path(), "sdc"));
        assert!(!has_medium(sys.path(), "sdd"));
    }

    #[test]
    fn powers_off_through_scsi_delete_and_usb_remove() {
        // A /sys lookalike: class/block/sda -> devices/.../usb1/1-1/1-1:1.0/host0/.../block/sda
        let sys = tempfile::tempdir().unwrap();
        let usb = sys.path().join("devices/usb1/1-1");
        let disk = usb.join("1-1:1.0/host0/target0:0:0/0:0:0:0/block/sda");
        std::fs::create_dir_all(&disk).unwrap();
        std::fs::write(usb.join("idVendor"), "0781\n").unwrap();
        std::fs::write(usb.join("remove"), "").unwrap();
        let scsi = usb.join("1-1:1.0/host0/target0:0:0/0:0:0:0");
        std::fs::write(scsi.join("delete"), "").unwrap();
        std::os::unix::fs::symlink(&scsi, disk.join("device")).unwrap();
        let class = sys.path().join("class/block");
        std::fs::create_dir_all(&class).unwrap();
        std::os::unix::fs::symlink(&disk, class.join("sda")).unwrap();

        assert_eq!(power_off(&class, "sda").unwrap(), PowerOff::Done);
        assert_eq!(std::fs::read(scsi.join("delete")).unwrap(), b"1");
        assert_eq!(std::fs::read(usb.join("remove")).unwrap(), b"1");

        let virtual_disk = sys.path().join("devices/virtual/block/loop0");
        std::fs::create_dir_all(&virtual_disk).unwrap();
        std::os::unix::fs::symlink(&virtual_disk, class.join("loop0")).unwrap();
        assert_eq!(power_off(&class, "loop0").unwrap(), PowerOff::NotUsb);
    }
}
