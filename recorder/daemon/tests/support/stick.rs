//! Loop devices standing in for USB sticks (the USB export tests): an MBR image with one
//! partition, attached with its partition nodes, read back through a mount of the test's own.

use super::{program, s};
use std::path::{Path, PathBuf};

/// Runs a tool that must be installed and succeed; its standard output.
pub fn must(name: &str, args: &[&str]) -> String {
    let run = program(name, args).unwrap_or_else(|| panic!("{name} is not installed"));
    assert_eq!(run.code, Some(0), "{name} {args:?}: {}", run.stderr);
    run.text()
}

/// An image file attached as a loop device with its partitions; detached on drop.
pub struct Stick {
    pub device: String,
    pub image: PathBuf,
}

impl Stick {
    /// An MBR image of `size` with one partition holding ext4 (what a person's stick looks like).
    pub fn ext4(dir: &Path, size: &str) -> Stick {
        let image = dir.join("stick.img");
        must("truncate", &["-s", size, s(&image)]);
        partition(&image);
        let stick = Stick::attach(&image, false);
        must(
            "mkfs.ext4",
            &["-q", "-F", "-L", "STICK", &stick.partition()],
        );
        stick
    }

    pub fn attach(image: &Path, read_only: bool) -> Stick {
        let mut args = vec!["-f", "--show"];
        if read_only {
            args.push("-r");
        }
        args.push(s(image));
        let device = must("losetup", &args).trim().to_string();
        // losetup -P makes no partition nodes here; partx does (TESTING-HERE.md).
        let _ = program("partx", &["-a", &device]);
        Stick {
            device,
            image: image.to_path_buf(),
        }
    }

    pub fn disk(&self) -> String {
        self.device.trim_start_matches("/dev/").to_string()
    }

    pub fn partition(&self) -> String {
        format!("{}p1", self.device)
    }

    /// The files in MOMENTS/ with their bytes, read through a mount of our own.
    pub fn contents(&self, at: &Path) -> Vec<(String, Vec<u8>)> {
        std::fs::create_dir_all(at).unwrap();
        must("mount", &["-o", "ro", &self.partition(), s(at)]);
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(at.join("MOMENTS"))
            .map(|dir| {
                dir.map(|e| {
                    let e = e.unwrap();
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path()).unwrap(),
                    )
                })
                .collect()
            })
            .unwrap_or_default();
        must("umount", &[s(at)]);
        files.sort();
        files
    }
}

impl Drop for Stick {
    fn drop(&mut self) {
        let _ = program("partx", &["-d", &self.device]);
        let _ = program("losetup", &["-d", &self.device]);
    }
}

pub fn partition(image: &Path) {
    let sfdisk = std::process::Command::new("sfdisk")
        .args(["-q", s(image)])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("sfdisk");
    use std::io::Write;
    sfdisk
        .stdin
        .as_ref()
        .unwrap()
        .write_all(b"label: dos\n,,83\n")
        .unwrap();
    let out = sfdisk.wait_with_output().unwrap();
    assert!(out.status.success(), "sfdisk: {out:?}");
}
