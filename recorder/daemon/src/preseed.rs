//! The pre-seed file: a `moment.toml` dropped on the card's FAT boot partition before the first
//! boot sets the Wi-Fi, the admin password, the access point's passphrase and the upload target,
//! so a camera can be set up without the wizard. It is imported once at start, before the network
//! and the web come up; then it is rewritten as `moment-imported.toml` without its secrets and the
//! original removed, so the passwords do not stay readable on a card anyone can pull. A file with a
//! mistake is left untouched, imports nothing, and says what to fix in the status.
//!
//! ```toml
//! [wifi]
//! ssid = "HomeNet"
//! password = "..."
//! [admin]
//! password = "..."
//! [access_point]
//! passphrase = "..."
//! [upload]
//! kind = "webdav"
//! path = "moment"
//! policy = "immediate"
//! fields = { url = "https://cloud.example/remote.php/dav/files/me", user = "me", pass = "..." }
//! ```

use crate::config::Config;
use crate::network::config_files::Passphrase;
use crate::network::manager::SavedNetwork;
use crate::upload::remote_setup::{self, RemoteSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest pre-seed file read.
const MAX_PRESEED_BYTES: u64 = 64 << 10;
/// The name the imported file is kept under, secrets removed.
pub const IMPORTED_NAME: &str = "moment-imported.toml";
/// The access point's passphrase from the pre-seed file, over `network.ap_passphrase`.
pub const AP_FILE: &str = "ap.json";
/// Fields whose values are secrets, removed from the file after the import.
const SECRET_FIELDS: &[&str] = &["pass", "secret_access_key", "token"];

#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Preseed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wifi: Option<WifiSeed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<AdminSeed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_point: Option<ApSeed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadSeed>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WifiSeed {
    pub ssid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default)]
    pub hidden: bool,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSeed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApSeed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UploadSeed {
    pub kind: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
}

/// What an import did, for the log and the status.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub parts: Vec<&'static str>,
}

/// Where the recorder keeps what the file sets.
pub struct Targets<'a> {
    pub config: &'a Config,
    pub state_dir: &'a Path,
}

/// Imports `path` if it exists: `Ok(None)` when there is no file; an error names what to fix and
/// leaves the file and the recorder's state as they were.
pub async fn import(path: &Path, targets: &Targets<'_>) -> Result<Option<Imported>, String> {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{shown}: cannot read it: {e}")),
    };
    if meta.len() > MAX_PRESEED_BYTES {
        return Err(format!(
            "{shown}: {} bytes is too large (at most {MAX_PRESEED_BYTES})",
            meta.len()
        ));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read it: {e}"))?;
    let seed: Preseed = toml::from_str(&text).map_err(|e| format!("{shown}: {e}"))?;
    let plan = check(&seed, targets).map_err(|e| format!("{shown}: {e}"))?;
    let imported = apply(plan, targets)
        .await
        .map_err(|e| format!("{shown}: {e}"))?;
    retire(path, &seed).map_err(|e| format!("{shown}: imported, but {e}"))?;
    Ok(Some(imported))
}

/// Everything checked, ready to write.
struct Plan {
    wifi: Option<SavedNetwork>,
    admin_password: Option<String>,
    ap_passphrase: Option<String>,
    upload: Option<(RemoteSpec, crate::settings::Patch)>,
}

fn check(seed: &Preseed, targets: &Targets<'_>) -> Result<Plan, String> {
    let wifi = match &seed.wifi {
        Some(w) => {
            let network = SavedNetwork {
                ssid: w.ssid.trim().to_string(),
                passphrase: w.password.clone().filter(|p| !p.is_empty()),
                hidden: w.hidden,
            };
            network.station().map_err(|e| format!("[wifi]: {e}"))?;
            Some(network)
        }
        None => None,
    };
    let admin_password = match seed.admin.as_ref().and_then(|a| a.password.clone()) {
        Some(p) if p.chars().count() < crate::web::MIN_ADMIN_PASSWORD => {
            return Err(format!(
                "[admin] password: use at least {} characters",
                crate::web::MIN_ADMIN_PASSWORD
            ))
        }
        other => other,
    };
    let ap_passphrase = match seed
        .access_point
        .as_ref()
        .and_then(|a| a.passphrase.clone())
    {
        Some(p) => Some(
            Passphrase::new(&p)
                .map_err(|e| format!("[access_point] passphrase: {e}"))?
                .expose()
                .to_string(),
        ),
        None => None,
    };
    let upload = match &seed.upload {
        Some(u) => {
            let spec = RemoteSpec {
                kind: u.kind.clone(),
                fields: u.fields.clone(),
                path: u.path.clone(),
            };
            spec.create_args()
                .map_err(|e| format!("[upload] {}: {}", e.field, e.message))?;
            let remote = spec
                .remote()
                .map_err(|e| format!("[upload] {}: {}", e.field, e.message))?;
            let mut fields = serde_json::Map::new();
            fields.insert("remote".into(), remote.into());
            if let Some(p) = &u.policy {
                fields.insert("policy".into(), p.clone().into());
            }
            if let Some(w) = &u.window {
                fields.insert("window".into(), w.clone().into());
            }
            let patch = crate::settings::Patch::from_json(&serde_json::json!({ "upload": fields }))
                .map_err(|e| format!("[upload]: {}", e.message))?;
            crate::settings::apply(targets.config, &patch)
                .map_err(|e| format!("[upload]: {}", e.message))?;
            Some((spec, patch))
        }
        None => None,
    };
    Ok(Plan {
        wifi,
        admin_password,
        ap_passphrase,
        upload,
    })
}

async fn apply(plan: Plan, targets: &Targets<'_>) -> Result<Imported, String> {
    let dir = targets.state_dir;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let write = |name: &str, value: &serde_json::Value| -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
        crate::atomic_file::write_atomic(&dir.join(name), &bytes)
            .map_err(|e| format!("cannot write {}: {e}", dir.join(name).display()))
    };
    let mut done = Imported::default();
    if let Some((spec, patch)) = &plan.upload {
        let upload = &targets.config.upload;
        remote_setup::write_remote(&upload.rclone, &upload.rclone_config, spec)
            .await
            .map_err(|e| format!("[upload]: {e}"))?;
        let loaded = crate::settings::load(targets.config, dir);
        let merged = loaded.overlay.merged(patch);
        crate::settings::save(dir, &merged)
            .map_err(|e| format!("cannot save the settings: {e}"))?;
        done.parts.push("upload");
    }
    if let Some(password) = plan.admin_password {
        let hash = crate::web::hash_password(&password);
        write("admin.json", &serde_json::json!({ "password_hash": hash }))?;
        done.parts.push("admin password");
    }
    if let Some(passphrase) = plan.ap_passphrase {
        write(AP_FILE, &serde_json::json!({ "passphrase": passphrase }))?;
        done.parts.push("access point passphrase");
    }
    if let Some(wifi) = plan.wifi {
        write(
            "wifi.json",
            &serde_json::to_value(&wifi).map_err(|e| e.to_string())?,
        )?;
        done.parts.push("wifi");
    }
    Ok(done)
}

/// Keeps the file as `moment-imported.toml` without its secrets and removes the original.
fn retire(path: &Path, seed: &Preseed) -> Result<(), String> {
    let mut kept = Preseed::default();
    if let Some(w) = &seed.wifi {
        kept.wifi = Some(WifiSeed {
            ssid: w.ssid.clone(),
            password: None,
            hidden: w.hidden,
        });
    }
    if let Some(u) = &seed.upload {
        kept.upload = Some(UploadSeed {
            kind: u.kind.clone(),
            path: u.path.clone(),
            fields: u
                .fields
                .iter()
                .filter(|(k, _)| !SECRET_FIELDS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            policy: u.policy.clone(),
            window: u.window.clone(),
        });
    }
    let body = toml::to_string(&kept).map_err(|e| e.to_string())?;
    let text = format!(
        "# Imported by moment-recorder at {}; the passwords were removed from this copy.\n\
         # To set the camera up again, write a new moment.toml next to it.\n\n{body}",
        moment_media::export::time::format_utc(moment_media::system_clock().utc_us)
    );
    let dir = path.parent().unwrap_or(Path::new("."));
    let imported: PathBuf = dir.join(IMPORTED_NAME);
    crate::atomic_file::write_atomic(&imported, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", imported.display()))?;
    std::fs::remove_file(path).map_err(|e| format!("cannot remove it: {e}"))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", dir.display()))
}

/// The access point's passphrase the pre-seed file set, if any.
pub fn ap_passphrase(state_dir: &Path) -> Option<String> {
    let bytes = std::fs::read(state_dir.join(AP_FILE)).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let p = value.get("passphrase")?.as_str()?;
    Passphrase::new(p).ok().map(|p| p.expose().to_string())
}
