//! Setting up the upload target from the wizard: a remote described by a few fields a person
//! types on a phone (WebDAV/Nextcloud, SFTP, S3-compatible, SMB, or a token pasted from `rclone
//! authorize` for Google Drive, Dropbox and OneDrive) becomes the `moment` remote in rclone.conf,
//! written by rclone itself (it obscures the passwords) into a copy that replaces the file
//! atomically; "test upload" writes and deletes a small file there. Each field is checked first
//! and a refusal names it.

use super::rclone::{Rclone, META_TIMEOUT};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

/// The remote's name in rclone.conf; `upload.remote` becomes `moment:PATH`.
pub const REMOTE_NAME: &str = "moment";
/// Longest a field may be (a Drive token is about 500 bytes).
const MAX_FIELD: usize = 4096;
/// The test upload's whole budget.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What the wizard sends: `{"kind": "webdav", "fields": {...}, "path": "moment"}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteSpec {
    pub kind: String,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Folder (or bucket/folder) on the remote for the memories.
    #[serde(default)]
    pub path: String,
}

/// A refused field: which one and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

fn refuse(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: format!("upload.{field}"),
        message: message.into(),
    }
}

/// (field, required, is a secret rclone obscures)
type FieldRule = (&'static str, bool, bool);

/// The fields each kind takes, and the rclone type it becomes.
fn rules(kind: &str) -> Option<(&'static str, &'static [FieldRule])> {
    Some(match kind {
        "webdav" => (
            "webdav",
            &[
                ("url", true, false),
                ("vendor", false, false),
                ("user", false, false),
                ("pass", false, true),
            ],
        ),
        "sftp" => (
            "sftp",
            &[
                ("host", true, false),
                ("port", false, false),
                ("user", true, false),
                ("pass", true, true),
            ],
        ),
        "s3" => (
            "s3",
            &[
                ("provider", false, false),
                ("endpoint", true, false),
                ("region", false, false),
                ("access_key_id", true, false),
                ("secret_access_key", true, false),
            ],
        ),
        "smb" => (
            "smb",
            &[
                ("host", true, false),
                ("user", true, false),
                ("pass", true, true),
                ("domain", false, false),
            ],
        ),
        "drive" => ("drive", &[("token", true, false)]),
        "dropbox" => ("dropbox", &[("token", true, false)]),
        "onedrive" => (
            "onedrive",
            &[
                ("token", true, false),
                ("drive_id", false, false),
                ("drive_type", false, false),
            ],
        ),
        _ => return None,
    })
}

/// The kinds the wizard offers, for its form.
pub const KINDS: &[&str] = &[
    "webdav", "sftp", "s3", "smb", "drive", "dropbox", "onedrive",
];

impl RemoteSpec {
    /// Checks every field; the arguments of `rclone config create` (after the remote's name).
    pub fn create_args(&self) -> Result<Vec<OsString>, FieldError> {
        let Some((rclone_type, rules)) = rules(&self.kind) else {
            return Err(refuse(
                "kind",
                format!(
                    "{:?} is not a supported kind; choose one of {}",
                    self.kind,
                    KINDS.join(", ")
                ),
            ));
        };
        for name in self.fields.keys() {
            if !rules.iter().any(|(f, _, _)| f == name) {
                return Err(refuse(
                    name,
                    format!("{} remotes have no field {name:?}", self.kind),
                ));
            }
        }
        let mut args: Vec<OsString> = vec![rclone_type.into()];
        for (name, required, _) in rules {
            let value = self.fields.get(*name).map(|v| v.trim()).unwrap_or("");
            if value.is_empty() {
                if *required {
                    return Err(refuse(
                        name,
                        format!("{name} is needed for a {} remote", self.kind),
                    ));
                }
                continue;
            }
            if value.len() > MAX_FIELD || value.contains(['\n', '\r', '\0']) {
                return Err(refuse(
                    name,
                    format!("{name} must be one line of at most {MAX_FIELD} characters"),
                ));
            }
            check_field(&self.kind, name, value)?;
            args.push(format!("{name}={value}").into());
        }
        if self.kind == "sftp" || self.kind == "smb" || self.kind == "webdav" {
            // Passwords are stored obscured, the way rclone's own config wizard stores them.
            args.push("--obscure".into());
        }
        args.push("--non-interactive".into());
        Ok(args)
    }

    /// `moment:PATH`, the value of `upload.remote`.
    pub fn remote(&self) -> Result<String, FieldError> {
        let path = self.path.trim().trim_matches('/');
        if path.len() > 256
            || path.contains(['\n', '\r', '\0', ':'])
            || path.split('/').any(|part| part == "..")
        {
            return Err(refuse(
                "path",
                "the folder must be a plain path such as moment or photos/moment (no .., no :)",
            ));
        }
        if self.kind == "s3" && path.is_empty() {
            return Err(refuse(
                "path",
                "give the bucket (and a folder in it), e.g. my-bucket/moment",
            ));
        }
        Ok(format!("{REMOTE_NAME}:{path}"))
    }
}

fn check_field(kind: &str, name: &str, value: &str) -> Result<(), FieldError> {
    let message = match name {
        "url" | "endpoint" if !(value.starts_with("http://") || value.starts_with("https://")) => {
            format!("{name} must start with http:// or https://")
        }
        "port" if value.parse::<u16>().map_or(true, |p| p == 0) => {
            "the port is a number from 1 to 65535".to_string()
        }
        "vendor" if !["nextcloud", "owncloud", "sharepoint", "other"].contains(&value) => {
            "vendor is nextcloud, owncloud, sharepoint or other".to_string()
        }
        "token" if !is_token(value) => format!(
            "paste the whole token that `rclone authorize \"{kind}\"` printed on your computer: \
             it starts with {{\"access_token\":"
        ),
        _ => return Ok(()),
    };
    Err(refuse(name, message))
}

fn is_token(value: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(value)
        .ok()
        .and_then(|v| v.get("access_token").map(|t| t.is_string()))
        .unwrap_or(false)
}

/// The command a person runs on a computer with a browser to get a token for `kind`.
pub fn authorize_command(kind: &str) -> Option<String> {
    matches!(kind, "drive" | "dropbox" | "onedrive").then(|| format!("rclone authorize \"{kind}\""))
}

/// Writes the `moment` remote into a copy of `config` (0600) with rclone, then renames the copy
/// over the file, so a failure leaves the old configuration as it was.
pub async fn write_remote(program: &Path, config: &Path, spec: &RemoteSpec) -> Result<(), String> {
    let args = spec.create_args().map_err(|e| e.message)?;
    let dir = config.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let staged = dir.join(".rclone.conf.new");
    let existing = match std::fs::read(config) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", config.display())),
    };
    crate::atomic_file::write_atomic(&staged, &existing)
        .map_err(|e| format!("cannot write {}: {e}", staged.display()))?;
    let staged_rclone = Rclone {
        program: program.to_path_buf(),
        config: staged.clone(),
        bwlimit: None,
    };
    // A previous remote of the same name goes first (a missing one is fine).
    let _ = staged_rclone
        .run_plain(
            "config",
            &["delete".into(), REMOTE_NAME.into()],
            META_TIMEOUT,
        )
        .await;
    let mut create: Vec<OsString> = vec!["create".into(), REMOTE_NAME.into()];
    create.extend(args);
    let result = staged_rclone
        .run_plain("config", &create, META_TIMEOUT)
        .await;
    // rclone does not fsync what it writes: the staged text goes through the atomic writer.
    let result = result.and_then(|()| {
        let bytes =
            std::fs::read(&staged).map_err(|e| format!("cannot read {}: {e}", staged.display()))?;
        crate::atomic_file::write_atomic(config, &bytes)
            .map_err(|e| format!("cannot write {}: {e}", config.display()))
    });
    let _ = std::fs::remove_file(&staged);
    result
}

/// Writes a small file to the remote and deletes it again: the upload target works.
pub async fn test_remote(program: &Path, config: &Path, remote: &str) -> Result<(), String> {
    let rclone = Rclone {
        program: program.to_path_buf(),
        config: config.to_path_buf(),
        bwlimit: None,
    };
    let dir = tempfile_dir()?;
    let name = format!(".moment-test-{:016x}.txt", random_u64());
    let local = dir.join(&name);
    std::fs::write(&local, b"moment-recorder test upload; safe to delete\n")
        .map_err(|e| format!("cannot write the test file: {e}"))?;
    let target = format!("{}/{name}", remote.trim_end_matches('/'));
    let result = async {
        rclone
            .copyto(&local.to_string_lossy(), &target, TEST_TIMEOUT, &mut |_| {})
            .await?;
        rclone.deletefile(&target).await
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn tempfile_dir() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("moment-test-upload-{:016x}", random_u64()));
    std::fs::create_dir(&dir).map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    Ok(dir)
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // A name clash is harmless (the test file is deleted); the clock is a fine fallback.
    if getrandom::fill(&mut bytes).is_err() {
        return moment_media::monotonic_us();
    }
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: &str, fields: &[(&str, &str)], path: &str) -> RemoteSpec {
        RemoteSpec {
            kind: kind.into(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            path: path.into(),
        }
    }

    #[test]
    fn each_refusal_names_its_field() {
        let cases = [
            (spec("ftp", &[], "x"), "upload.kind"),
            (spec("webdav", &[], "x"), "upload.url"),
            (spec("webdav", &[("url", "ftp://x")], "x"), "upload.url"),
            (
                spec("webdav", &[("url", "https://x"), ("color", "red")], "x"),
                "upload.color",
            ),
            (
                spec("webdav", &[("url", "https://x"), ("vendor", "acme")], "x"),
                "upload.vendor",
            ),
            (
                spec(
                    "sftp",
                    &[("host", "h"), ("user", "u"), ("pass", "p"), ("port", "0")],
                    "x",
                ),
                "upload.port",
            ),
            (
                spec("sftp", &[("host", "h"), ("user", "u")], "x"),
                "upload.pass",
            ),
            (spec("drive", &[("token", "not json")], "x"), "upload.token"),
            (
                spec("webdav", &[("url", "https://x\nevil=1")], "x"),
                "upload.url",
            ),
        ];
        for (spec, field) in cases {
            let err = spec.create_args().unwrap_err();
            assert_eq!(err.field, field, "{spec:?}: {}", err.message);
        }
        assert_eq!(
            spec("webdav", &[("url", "https://x")], "../up")
                .remote()
                .unwrap_err()
                .field,
            "upload.path"
        );
        assert_eq!(
            spec("s3", &[], "").remote().unwrap_err().field,
            "upload.path"
        );
    }

    #[test]
    fn good_specs_become_rclone_arguments() {
        let s = spec(
            "webdav",
            &[
                ("url", "https://cloud.example/remote.php/dav/files/bob"),
                ("vendor", "nextcloud"),
                ("user", "bob"),
                ("pass", "pw"),
            ],
            "/moment/",
        );
        let args: Vec<String> = s
            .create_args()
            .unwrap()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args[0], "webdav");
        assert!(args.contains(&"pass=pw".to_string()) && args.contains(&"--obscure".to_string()));
        assert_eq!(s.remote().unwrap(), "moment:moment");
        let token = r#"{"access_token":"ya29","token_type":"Bearer","refresh_token":"1//x","expiry":"2026-12-01T00:00:00Z"}"#;
        let d = spec("drive", &[("token", token)], "");
        assert!(d.create_args().is_ok());
        assert_eq!(d.remote().unwrap(), "moment:");
        assert_eq!(
            authorize_command("drive").as_deref(),
            Some("rclone authorize \"drive\"")
        );
        assert_eq!(authorize_command("webdav"), None);
    }
}
