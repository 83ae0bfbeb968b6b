//! What is on a stick: its partitions (from /sys, in partition-number order) and the filesystem
//! on each, recognised from the first bytes by the recorder itself, so a stick is never handed
//! to a filesystem driver that was not meant for it and the person hears "NTFS cannot be used"
//! rather than a mount error.

use std::io::{self, Read};
use std::path::Path;

/// Bytes read from the start of a partition: enough for every superblock below.
pub const HEAD_BYTES: usize = 4096;
/// Partitions looked at per stick.
const MAX_PARTITIONS: usize = 16;
/// Entries read from a disk's /sys directory.
const MAX_SYS_ENTRIES: usize = 512;

/// A filesystem the recorder writes memories to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Filesystem {
    Vfat,
    Exfat,
    Ext4,
}

impl Filesystem {
    /// The kernel's name for it (mount(2)'s type); ext2 and ext3 are mounted by ext4's driver.
    pub fn mount_type(self) -> &'static str {
        match self {
            Filesystem::Vfat => "vfat",
            Filesystem::Exfat => "exfat",
            Filesystem::Ext4 => "ext4",
        }
    }

    /// Largest file it holds: FAT32 stops one byte short of 4 GiB.
    pub fn max_file_bytes(self) -> u64 {
        match self {
            Filesystem::Vfat => (4 << 30) - 1,
            Filesystem::Exfat | Filesystem::Ext4 => u64::MAX,
        }
    }
}

/// What the first bytes say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    Usable(Filesystem),
    /// A filesystem we recognise but do not write to (its name), or "no filesystem" for
    /// anything else (including kinds whose signature lies beyond the first [`HEAD_BYTES`]).
    Unusable(&'static str),
}

/// Recognises the filesystem whose first bytes are `head` (at least [`HEAD_BYTES`]).
pub fn probe_bytes(head: &[u8]) -> Probe {
    if head.len() < HEAD_BYTES {
        return Probe::Unusable("no filesystem");
    }
    let at = |offset: usize, text: &[u8]| head[offset..offset + text.len()] == *text;
    if at(3, b"EXFAT   ") {
        return Probe::Usable(Filesystem::Exfat);
    }
    if at(3, b"NTFS    ") {
        return Probe::Unusable("NTFS");
    }
    if at(1024 + 56, &[0x53, 0xef]) {
        return Probe::Usable(Filesystem::Ext4);
    }
    if is_fat(head) {
        return Probe::Usable(Filesystem::Vfat);
    }
    if at(0, b"XFSB") {
        return Probe::Unusable("XFS");
    }
    if at(0, b"hsqs") {
        return Probe::Unusable("squashfs");
    }
    Probe::Unusable("no filesystem")
}

/// A FAT12/16/32 boot sector: the signature, a jump instruction, a sane sector size and the
/// type text where FAT32 or FAT12/16 keep it.
fn is_fat(head: &[u8]) -> bool {
    let signature = head[510] == 0x55 && head[511] == 0xaa;
    let jump = head[0] == 0xeb || head[0] == 0xe9;
    let sector = u16::from_le_bytes([head[11], head[12]]);
    let sector_ok = matches!(sector, 512 | 1024 | 2048 | 4096);
    let fat32 = head[82..90].starts_with(b"FAT32");
    let fat16 = head[54..62].starts_with(b"FAT");
    signature && jump && sector_ok && (fat32 || fat16)
}

/// Reads the head of a block device (or image) and recognises it.
pub fn probe_device(node: &Path) -> io::Result<Probe> {
    let mut head = vec![0u8; HEAD_BYTES];
    let mut file = std::fs::File::open(node)?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    head.truncate(filled);
    Ok(probe_bytes(&head))
}

/// The partitions of `disk` in partition-number order, from `sys_block/disk/` (each partition's
/// directory has a `partition` file holding its number). A disk with none holds its filesystem
/// itself (a "superfloppy" stick): the disk is then its only candidate.
pub fn candidates(sys_block: &Path, disk: &str) -> io::Result<Vec<String>> {
    let mut numbered = Vec::new();
    for entry in std::fs::read_dir(sys_block.join(disk))?.take(MAX_SYS_ENTRIES) {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !name.starts_with(disk) || !super::is_disk_name(&name) {
            continue;
        }
        let Ok(number) =
            std::fs::read_to_string(sys_block.join(disk).join(&name).join("partition"))
        else {
            continue;
        };
        if let Ok(number) = number.trim().parse::<u32>() {
            numbered.push((number, name));
        }
    }
    numbered.sort();
    numbered.truncate(MAX_PARTITIONS);
    if numbered.is_empty() {
        return Ok(vec![disk.to_string()]);
    }
    Ok(numbered.into_iter().map(|(_, name)| name).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank() -> Vec<u8> {
        vec![0u8; HEAD_BYTES]
    }

    #[test]
    fn recognises_each_kind_from_its_signature() {
        let mut exfat = blank();
        exfat[3..11].copy_from_slice(b"EXFAT   ");
        assert_eq!(probe_bytes(&exfat), Probe::Usable(Filesystem::Exfat));

        let mut ext = blank();
        ext[1024 + 56] = 0x53;
        ext[1024 + 57] = 0xef;
        assert_eq!(probe_bytes(&ext), Probe::Usable(Filesystem::Ext4));

        let mut fat = blank();
        fat[0] = 0xeb;
        fat[11..13].copy_from_slice(&512u16.to_le_bytes());
        fat[82..90].copy_from_slice(b"FAT32   ");
        fat[510] = 0x55;
        fat[511] = 0xaa;
        assert_eq!(probe_bytes(&fat), Probe::Usable(Filesystem::Vfat));
        // An MBR has the same signature but no FAT type text.
        fat[82..90].copy_from_slice(&[0; 8]);
        assert_eq!(probe_bytes(&fat), Probe::Unusable("no filesystem"));

        let mut ntfs = blank();
        ntfs[3..11].copy_from_slice(b"NTFS    ");
        assert_eq!(probe_bytes(&ntfs), Probe::Unusable("NTFS"));
        assert_eq!(probe_bytes(&blank()), Probe::Unusable("no filesystem"));
        assert_eq!(probe_bytes(&[0u8; 100]), Probe::Unusable("no filesystem"));
    }

    #[test]
    fn partitions_in_number_order_or_the_disk_itself() {
        let sys = tempfile::tempdir().unwrap();
        let disk = sys.path().join("sdb");
        for (name, number) in [("sdb10", 10), ("sdb2", 2), ("sdb1", 1)] {
            std::fs::create_dir_all(disk.join(name)).unwrap();
            std::fs::write(disk.join(name).join("partition"), format!("{number}\n")).unwrap();
        }
        std::fs::create_dir_all(disk.join("queue")).unwrap();
        std::fs::create_dir_all(disk.join("sdbx")).unwrap();
        assert_eq!(
            candidates(sys.path(), "sdb").unwrap(),
            ["sdb1", "sdb2", "sdb10"]
        );
        std::fs::create_dir_all(sys.path().join("sdc/queue")).unwrap();
        assert_eq!(candidates(sys.path(), "sdc").unwrap(), ["sdc"]);
        assert!(candidates(sys.path(), "sdd").is_err());
    }
}
