//! The daemon's side of the network: starts the manager with the configured backend, keeps the
//! admin password the wizard sets (`state.dir/admin.json`, over `web.password_hash`), and
//! implements the web's `Setup` for the wizard: everything the form says is checked before any of
//! it is applied, and it is applied only once the network it names has connected (a wrong Wi-Fi
//! password keeps nothing, so the owner can run the wizard again without logging in).

use super::Shared;
use crate::config::Config;
use crate::network::manager::{self, Command, NetworkHandle, OnJoined, SavedNetwork};
use crate::network::system::{SimulatedWifi, WifiSystem};
use crate::network::{config_files::AP_ADDRESS, linux::LinuxWifi, machine::Mode};
use crate::settings::Patch;
use crate::upload::remote_setup::{self, RemoteSpec};
use crate::web::{Pending, Setup, SetupError, SetupForm};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const ADMIN_FILE: &str = "admin.json";
/// Largest admin file read.
const MAX_ADMIN_BYTES: u64 = 4096;

#[derive(Serialize, Deserialize)]
struct AdminFile {
    password_hash: String,
}

/// The admin password hash: the wizard's, else the configuration's.
pub(super) fn admin_hash(config: &Config) -> String {
    let path = config.state.dir.join(ADMIN_FILE);
    let read = || -> Option<String> {
        if std::fs::metadata(&path).ok()?.len() > MAX_ADMIN_BYTES {
            return None;
        }
        let file: AdminFile = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        file.password_hash
            .starts_with("$argon2")
            .then_some(file.password_hash)
    };
    read().unwrap_or_else(|| config.web.password_hash.clone())
}

fn save_admin_hash(state_dir: &Path, hash: &str) -> std::io::Result<()> {
    let text = serde_json::to_vec(&AdminFile {
        password_hash: hash.to_string(),
    })
    .map_err(std::io::Error::other)?;
    crate::atomic_file::write_atomic(&state_dir.join(ADMIN_FILE), &text)
}

/// Starts the network manager unless `network.backend` is off. A failure is an event, never a
/// reason to stop recording.
pub(super) fn start(config: &Config) -> Result<Option<NetworkHandle>, String> {
    if !config.network.enabled() {
        return Ok(None);
    }
    let web_port = config
        .web
        .listen
        .parse::<std::net::SocketAddr>()
        .map(|a| a.port())
        .unwrap_or(80);
    let mut settings = config
        .network
        .settings(&config.state.dir, web_port)
        .map_err(|e| e.0)?;
    if let Some(passphrase) = crate::preseed::ap_passphrase(&config.state.dir) {
        settings.ap_passphrase = crate::network::config_files::Passphrase::new(&passphrase)?;
    }
    let system: Box<dyn WifiSystem> = match config.network.backend.as_str() {
        "linux" => Box::new(LinuxWifi::new(
            &settings.interface,
            settings.run_dir.clone(),
            web_port,
        )),
        _ => Box::new(SimulatedWifi::demo()),
    };
    manager::start(settings, system)
        .map(Some)
        .map_err(|e| format!("cannot start the network manager: {e}"))
}

/// Both buttons held: the saved Wi-Fi network and the upload target with its credentials are
/// wiped and the access point with the wizard comes back. Recordings, memories and the admin
/// password stay: whoever holds the camera gets the setup, not the owner's memories.
pub(super) async fn network_reset(shared: &Arc<Shared>) {
    if let Some(network) = &shared.network {
        if let Err(e) = network.send(Command::Reset) {
            shared.board.event("network", e);
        }
    }
    let rclone_config = shared.config.upload.rclone_config.clone();
    match std::fs::remove_file(&rclone_config) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => shared.board.event(
            "network",
            format!("reset: the upload target's credentials could not be removed: {e}"),
        ),
    }
    let patch = match Patch::from_json(&json!({ "upload": { "remote": "" } })) {
        Ok(patch) => patch,
        Err(e) => return shared.board.event("network", e.message),
    };
    if let Err(e) = save_settings(shared, patch).await {
        shared
            .board
            .event("network", format!("reset: {}", e.message));
    }
}

/// Saves a settings change off the async threads (settings.json is written and synced).
async fn save_settings(shared: &Arc<Shared>, patch: Patch) -> Result<(), SetupError> {
    let settings = shared.clone();
    tokio::task::spawn_blocking(move || settings.put_settings(patch))
        .await
        .map_err(|_| SetupError::failed(500, "the settings could not be saved"))?
        .map_err(|e| SetupError::failed(500, e.message))?;
    Ok(())
}

/// The web's setup wizard, backed by the daemon.
pub(super) struct SetupControl(pub(super) Arc<Shared>);

impl SetupControl {
    fn handle(&self) -> Option<&NetworkHandle> {
        self.0.network.as_ref()
    }

    fn port(&self) -> u16 {
        self.0
            .config
            .web
            .listen
            .parse::<std::net::SocketAddr>()
            .map(|a| a.port())
            .unwrap_or(80)
    }
}

impl Setup for SetupControl {
    fn is_open(&self) -> bool {
        self.handle().is_some_and(|n| n.mode().1)
    }

    fn captive(&self) -> bool {
        self.handle().is_some_and(|n| n.mode().0 == Mode::Ap)
    }

    fn portal_url(&self) -> String {
        match self.port() {
            80 => format!("http://{AP_ADDRESS}/"),
            port => format!("http://{AP_ADDRESS}:{port}/"),
        }
    }

    fn view(&self) -> Value {
        let Some(network) = self.handle() else {
            return json!({});
        };
        let view = network.view();
        let settings = self.0.settings_json();
        let clock = moment_media::system_clock();
        json!({
            "ap_ssid": view.ap_ssid,
            "mode": view.mode,
            "networks": view.networks,
            "scanned_unix_ms": view.scanned_unix_ms,
            "station_ssid": view.station_ssid,
            "last_error": view.last_error,
            "time": { "utc_us": clock.utc_us, "synced": clock.utc_synced },
            "upload_kinds": remote_setup::KINDS,
            "authorize": remote_setup::KINDS.iter()
                .filter_map(|k| remote_setup::authorize_command(k).map(|c| (k.to_string(), Value::String(c))))
                .collect::<serde_json::Map<_, _>>(),
            "upload": settings.get("upload").cloned().unwrap_or(Value::Null),
        })
    }

    fn rescan(&self) -> Result<(), String> {
        match self.handle() {
            Some(n) => n.send(Command::Rescan),
            None => Err("the recorder does not run the network".into()),
        }
    }

    fn test_upload(&self, spec: RemoteSpec) -> Pending<Result<(), SetupError>> {
        test_target(self.0.config.upload.clone(), spec)
    }

    fn network(&self) -> Value {
        match self.handle() {
            Some(n) => serde_json::to_value(n.view()).unwrap_or(Value::Null),
            None => json!({ "mode": "unmanaged" }),
        }
    }

    fn join(&self, wifi: SavedNetwork) -> Result<(), SetupError> {
        let network = self
            .handle()
            .ok_or_else(|| SetupError::failed(409, "the recorder does not run the network"))?;
        let ssid = wifi.ssid.clone();
        network
            .send(Command::Join {
                network: wifi,
                on_joined: None,
            })
            .map_err(|e| SetupError::failed(503, e))?;
        self.0.board.event("network", format!("joining {ssid}"));
        Ok(())
    }

    fn submit(&self, form: SetupForm) -> Pending<Result<String, SetupError>> {
        let shared = self.0.clone();
        Box::pin(async move {
            let network = shared
                .network
                .as_ref()
                .ok_or_else(|| SetupError::failed(409, "the recorder does not run the network"))?;
            // Checks first: nothing is applied unless all of it is right.
            let remote = match &form.upload {
                Some(spec) => Some(checked(spec)?),
                None => None,
            };
            let mut upload = serde_json::Map::new();
            if let Some(policy) = &form.policy {
                upload.insert("policy".into(), json!(policy));
            }
            if let Some(window) = &form.window {
                upload.insert("window".into(), json!(window));
            }
            if let Some(remote) = &remote {
                upload.insert("remote".into(), json!(remote));
            }
            let patch = Patch::from_json(&json!({ "upload": upload })).map_err(|e| {
                SetupError::field(e.field.as_deref().unwrap_or("upload"), e.message)
            })?;
            crate::settings::apply(&shared.settings_config(), &patch).map_err(|e| {
                SetupError::field(e.field.as_deref().unwrap_or("upload"), e.message)
            })?;

            // The phone's time at once: it is the clock, not a setting, and recording wants it.
            if let Some(ms) = form.time_utc_ms {
                if let Err(e) = shared.set_time(ms * 1000) {
                    tracing::warn!(error = %e, "setup: the phone's time was not taken");
                }
            }
            // The rest once the network has connected (the phone loses the access point now).
            let runtime = tokio::runtime::Handle::current();
            let apply = shared.clone();
            let on_joined: OnJoined = Box::new(move || {
                runtime.spawn(async move {
                    let admin = (form.admin_password_hash, form.admin_saved);
                    match apply_wizard(&apply, form.upload, patch, admin).await {
                        Ok(()) => apply
                            .board
                            .event("setup", "the wizard's settings are saved"),
                        Err(e) => apply.board.event(
                            "setup",
                            format!(
                                "joined, but the wizard's settings were not saved: {}",
                                e.message
                            ),
                        ),
                    }
                });
            });
            let ssid = form.wifi.ssid.clone();
            network
                .send(Command::Join {
                    network: form.wifi,
                    on_joined: Some(on_joined),
                })
                .map_err(|e| SetupError::failed(503, e))?;
            shared
                .board
                .event("network", format!("setup: joining {ssid}"));
            Ok(ssid)
        })
    }
}

/// Saves what the wizard set besides the network: the upload target, the upload settings, the
/// admin password.
async fn apply_wizard(
    shared: &Arc<Shared>,
    upload_spec: Option<RemoteSpec>,
    patch: Patch,
    admin: (Option<String>, Option<crate::web::AdminSaved>),
) -> Result<(), SetupError> {
    if let Some(spec) = &upload_spec {
        let upload = &shared.config.upload;
        remote_setup::write_remote(&upload.rclone, &upload.rclone_config, spec)
            .await
            .map_err(|e| {
                SetupError::failed(502, format!("the upload target could not be saved: {e}"))
            })?;
    }
    save_settings(shared, patch).await?;
    if let (Some(hash), saved) = admin {
        save_admin_hash(&shared.config.state.dir, &hash).map_err(|e| {
            tracing::error!(error = %e, "setup: cannot save the admin password");
            SetupError::failed(500, "the admin password could not be saved on the recorder")
        })?;
        if let Some(saved) = saved {
            saved(hash);
        }
    }
    Ok(())
}

/// The remote a spec names, or the field at fault.
fn checked(spec: &RemoteSpec) -> Result<String, SetupError> {
    spec.create_args()
        .map_err(|e| SetupError::field(&e.field, e.message))?;
    spec.remote()
        .map_err(|e| SetupError::field(&e.field, e.message))
}

/// A private scratch directory beside the real rclone.conf (same filesystem, same rights).
fn tempfile_in(config: &Path) -> Result<PathBuf, SetupError> {
    let base = config
        .parent()
        .filter(|p| p.is_dir())
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!(".moment-setup-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir)
        .map_err(|e| SetupError::failed(500, format!("cannot make a scratch directory: {e}")))?;
    Ok(dir)
}

/// Writes `spec` into a scratch rclone configuration and uploads and deletes a small file.
pub(super) fn test_target(
    upload: crate::upload::UploadConfig,
    spec: RemoteSpec,
) -> Pending<Result<(), SetupError>> {
    Box::pin(async move {
        let remote = checked(&spec)?;
        // A scratch configuration: the real one changes only when the target is saved.
        let dir = tempfile_in(&upload.rclone_config)?;
        let config = dir.join("rclone.conf");
        let result = async {
            remote_setup::write_remote(&upload.rclone, &config, &spec)
                .await
                .map_err(|e| SetupError::field("upload", e))?;
            remote_setup::test_remote(&upload.rclone, &config, &remote)
                .await
                .map_err(|e| SetupError::failed(502, format!("the test upload failed: {e}")))
        }
        .await;
        let _ = std::fs::remove_dir_all(&dir);
        result
    })
}

/// Makes `spec` the upload target: the `moment` remote in rclone.conf, then `upload.remote`.
pub(super) fn set_target(
    shared: Arc<Shared>,
    spec: RemoteSpec,
) -> Pending<Result<String, SetupError>> {
    Box::pin(async move {
        let remote = checked(&spec)?;
        let upload = &shared.config.upload;
        remote_setup::write_remote(&upload.rclone, &upload.rclone_config, &spec)
            .await
            .map_err(|e| {
                SetupError::failed(502, format!("the upload target could not be saved: {e}"))
            })?;
        let patch = Patch::from_json(&json!({ "upload": { "remote": remote } }))
            .map_err(|e| SetupError::field("upload", e.message))?;
        save_settings(&shared, patch).await?;
        shared
            .board
            .event("upload", format!("upload target set: {remote}"));
        Ok(remote)
    })
}
