//! One upload, start to verified finish. The memory is only reported done when the remote object
//! has been read back with the local file's size (and hash, when the backend has one); on remotes
//! with a server-side move the bytes travel to `NAME.partial` first and are renamed after that
//! check, so nothing incomplete ever appears under the final name.

use super::queue::check_name;
use super::rclone::{Object, Rclone, Stats, META_TIMEOUT};
use super::status::Phase;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything one upload needs, owned, so the future can run while the worker handles commands.
#[derive(Clone, Debug)]
pub(crate) struct Transfer {
    pub rclone: Rclone,
    pub remote: String,
    pub name: String,
    /// Absolute path of the memory file (rclone reads a relative path against its own cwd).
    pub local: PathBuf,
    pub timeout: Duration,
}

/// A confirmed upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Verified {
    pub size: u64,
    /// `size+md5`, `size`, ... plus `,found` when the remote already held the file.
    pub method: String,
    /// The remote already had this exact file; nothing was sent.
    pub found: bool,
}

/// Where `name` goes on `remote` (`moment:` + name, `moment:dir` + `/` + name).
pub(crate) fn remote_path(remote: &str, name: &str) -> String {
    if remote.ends_with(':') || remote.ends_with('/') {
        format!("{remote}{name}")
    } else {
        format!("{remote}/{name}")
    }
}

/// Hash types in order of preference: the common, cheap ones first; otherwise whatever the
/// backend has (rclone computes the same type locally).
fn pick_hash(hashes: &[String]) -> Option<String> {
    ["md5", "sha1"]
        .iter()
        .find(|h| hashes.iter().any(|x| x == *h))
        .map(|h| (*h).to_owned())
        .or_else(|| hashes.first().cloned())
}

/// Runs the upload; `report` sees each phase and the copy's progress.
pub(crate) async fn run(
    t: Transfer,
    report: &mut (dyn FnMut(Phase, Stats) + Send),
) -> Result<Verified, String> {
    check_name(&t.name).map_err(|why| format!("{:?}: {why}", t.name))?;
    report(Phase::Checking, Stats::default());
    let size = match tokio::fs::metadata(&t.local).await {
        Ok(m) if m.is_file() => m.len(),
        Ok(_) => return Err(format!("{} is not a file", t.local.display())),
        Err(e) => return Err(format!("memory file {}: {e}", t.local.display())),
    };
    check_rclone_config(&t.remote, &t.rclone.config).await?;
    let features = t.rclone.features(&t.remote).await?;
    let hash_type = pick_hash(&features.hashes);
    let local_hash = match &hash_type {
        Some(h) => {
            report(Phase::Hashing, Stats::default());
            let local = t.local.to_string_lossy().into_owned();
            let object = t.rclone.stat(&local, Some(h), t.timeout).await?;
            let hash = object.and_then(|o| o.hash);
            Some(hash.ok_or_else(|| format!("rclone could not compute the {h} of {local}"))?)
        }
        None => None,
    };
    let want = Object {
        size,
        hash: local_hash,
    };
    let final_path = remote_path(&t.remote, &t.name);

    // After a crash between the upload and saving "done", the verified file is already there.
    let existing = t
        .rclone
        .stat(
            &final_path,
            hash_type.as_deref(),
            stat_timeout(&t, &hash_type),
        )
        .await?;
    if let Some(object) = existing {
        if let Ok(method) = compare(&object, &want, hash_type.as_deref()) {
            return Ok(Verified {
                size,
                method: format!("{method},found"),
                found: true,
            });
        }
    }

    let target = if features.can_move {
        format!("{final_path}.partial")
    } else {
        final_path.clone()
    };
    report(Phase::Uploading, Stats::default());
    let local = t.local.to_string_lossy().into_owned();
    let mut on_stats = |s: Stats| report(Phase::Uploading, s);
    t.rclone
        .copyto(&local, &target, t.timeout, &mut on_stats)
        .await?;

    report(
        Phase::Verifying,
        Stats {
            bytes: size,
            ..Stats::default()
        },
    );
    let timeout = stat_timeout(&t, &hash_type);
    let method = verify(&t.rclone, &target, &want, hash_type.as_deref(), timeout).await?;
    if features.can_move {
        report(
            Phase::Moving,
            Stats {
                bytes: size,
                ..Stats::default()
            },
        );
        t.rclone.moveto(&target, &final_path).await?;
        // A server-side rename does not change bytes; the size proves the rename landed.
        let size_only = Object { size, hash: None };
        verify(&t.rclone, &final_path, &size_only, None, META_TIMEOUT).await?;
    }
    Ok(Verified {
        size,
        method,
        found: false,
    })
}

async fn verify(
    rclone: &Rclone,
    path: &str,
    want: &Object,
    hash: Option<&str>,
    timeout: Duration,
) -> Result<String, String> {
    match rclone.stat(path, hash, timeout).await? {
        Some(object) => compare(&object, want, hash),
        None => Err(format!(
            "verification failed: {path} is not on the remote after the upload"
        )),
    }
}

/// Reading a hash back may mean the server reads the whole file (SFTP runs md5sum, for
/// instance): then it gets the upload's time limit, not the short metadata one.
fn stat_timeout(t: &Transfer, hash: &Option<String>) -> Duration {
    if hash.is_some() {
        t.timeout
    } else {
        META_TIMEOUT
    }
}

/// Size must match; the hash must match when both sides have one. Returns how it was checked.
fn compare(remote: &Object, local: &Object, hash: Option<&str>) -> Result<String, String> {
    if remote.size != local.size {
        return Err(format!(
            "verification failed: the remote has {} bytes, the memory {}",
            remote.size, local.size
        ));
    }
    match (hash, &remote.hash, &local.hash) {
        (Some(h), Some(r), Some(l)) if r.eq_ignore_ascii_case(l) => Ok(format!("size+{h}")),
        (Some(h), Some(r), Some(l)) => Err(format!(
            "verification failed: remote {h} {r} differs from the memory's {l}"
        )),
        // The backend has no hash for this object (e.g. WebDAV without checksums): size only.
        _ => Ok("size".to_owned()),
    }
}

/// The config holds credentials: keep it 0600. Named remotes need it to exist; connection
/// strings (`:webdav,...:`) and local paths do not.
async fn check_rclone_config(remote: &str, config: &Path) -> Result<(), String> {
    match tokio::fs::metadata(config).await {
        Ok(m) => {
            let mode = m.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    "{} was readable by others (mode {:o}); setting 0600",
                    config.display(),
                    mode & 0o777
                );
                let private = std::fs::Permissions::from_mode(0o600);
                if let Err(e) = tokio::fs::set_permissions(config, private).await {
                    tracing::warn!("cannot set {} to 0600: {e}", config.display());
                }
            }
            Ok(())
        }
        Err(_) if remote.starts_with(':') || remote.starts_with('/') => Ok(()),
        Err(e) => Err(format!(
            "rclone config {}: {e} (upload.rclone_config); add a remote in setup",
            config.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(size: u64, hash: Option<&str>) -> Object {
        Object {
            size,
            hash: hash.map(str::to_owned),
        }
    }

    #[test]
    fn comparison_checks_size_and_hash() {
        let local = obj(10, Some("abc"));
        assert_eq!(
            compare(&obj(10, Some("ABC")), &local, Some("md5")),
            Ok("size+md5".into())
        );
        assert!(compare(&obj(10, Some("abd")), &local, Some("md5")).is_err());
        assert!(compare(&obj(9, Some("abc")), &local, Some("md5")).is_err());
        assert_eq!(
            compare(&obj(10, None), &local, Some("md5")),
            Ok("size".into())
        );
        assert_eq!(
            compare(&obj(10, None), &obj(10, None), None),
            Ok("size".into())
        );
    }

    #[test]
    fn paths_and_hash_choice() {
        assert_eq!(remote_path("m:", "a.mp4"), "m:a.mp4");
        assert_eq!(remote_path("m:dir", "a.mp4"), "m:dir/a.mp4");
        assert_eq!(remote_path("/mnt/x/", "a.mp4"), "/mnt/x/a.mp4");
        let h = |v: &[&str]| pick_hash(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(h(&["crc32", "sha1", "md5"]), Some("md5".into()));
        assert_eq!(h(&["quickxor"]), Some("quickxor".into()));
        assert_eq!(h(&[]), None);
    }
}
