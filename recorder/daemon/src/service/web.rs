//! The daemon's side of the web API: serving it on `web.listen`, and [`WebControl`], through which
//! the web's handlers reach the daemon (status, presses, time, saves, uploads, settings). Kept
//! apart from the event loop so the service's start-up and loop read at once.

use super::{start_save_range, Shared};
use crate::control::ButtonName;
use std::sync::Arc;
use std::time::Duration;

/// Serves the web app and API (docs/api.md) if `web.listen` is set. A port that cannot be bound is
/// an error in the log and the status, never a reason to stop recording.
pub(super) async fn start(shared: &Arc<Shared>) -> Option<tokio::task::JoinHandle<()>> {
    let web = &shared.config.web;
    if web.listen.is_empty() {
        return None;
    }
    let listener = match tokio::net::TcpListener::bind(&web.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            shared.board.event(
                "web",
                format!("cannot listen on web.listen {}: {e}", web.listen),
            );
            return None;
        }
    };
    let password_hash = super::network::admin_hash(&shared.config);
    if password_hash.is_empty() {
        shared.board.event(
            "web",
            if shared.network.is_some() {
                "no admin password yet: the setup wizard sets one"
            } else {
                "no admin password (web.password_hash): the web app refuses every request"
            },
        );
    }
    let mut media = crate::web::WebState::new(shared.reader.clone(), shared.memories.clone())
        .with_live(shared.live.clone());
    if !web.hls_js.as_os_str().is_empty() {
        media = media.with_hls_js(web.hls_js.clone());
    }
    if !web.mpegts_js.as_os_str().is_empty() {
        media = media.with_mpegts_js(web.mpegts_js.clone());
    }
    let control: Arc<dyn crate::web::Control> = Arc::new(WebControl(shared.clone()));
    let setup = shared.network.as_ref().map(|_| {
        Arc::new(super::network::SetupControl(shared.clone())) as Arc<dyn crate::web::Setup>
    });
    let router = crate::web::router_with_setup(
        media,
        control,
        crate::web::AuthConfig::new(password_hash),
        setup,
    );
    tracing::info!(listen = %web.listen, "web server started");
    // Runs until aborted at shutdown, which closes every connection with it.
    Some(tokio::spawn(crate::web::serve(
        listener,
        router,
        crate::web::ServerLimits::default(),
    )))
}

/// The daemon as the web API sees it; holds the `Arc` so a save can outlive the request.
struct WebControl(Arc<Shared>);

impl crate::web::Control for WebControl {
    fn status_json(&self) -> serde_json::Value {
        serde_json::to_value(self.0.status())
            .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
    }

    fn press(&self, button: ButtonName, hold: Duration) -> Result<(), String> {
        match self.0.press(button, hold).error {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    fn set_time(&self, utc_us: i64) -> Result<bool, String> {
        self.0.set_time(utc_us)
    }

    fn save_range(&self, from_us: i64, to_us: i64) -> Result<(), String> {
        let length = Duration::from_micros(to_us.saturating_sub(from_us).max(0) as u64);
        let what = format!("save of a range from the web app ({} s)", length.as_secs());
        let _guard = self.0.runtime.enter();
        start_save_range(&self.0, to_us, length, what)
    }

    fn updates(&self) -> Option<Arc<dyn crate::web::Updates>> {
        let updater = self.0.updater.get()?.clone();
        Some(Arc::new(super::update::WebUpdates(updater)))
    }

    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.0.board.subscribe())
    }

    fn set_upload_target(
        &self,
        spec: crate::upload::remote_setup::RemoteSpec,
    ) -> crate::web::Pending<Result<String, crate::web::SetupError>> {
        super::network::set_target(self.0.clone(), spec)
    }

    fn test_upload_target(
        &self,
        spec: crate::upload::remote_setup::RemoteSpec,
    ) -> crate::web::Pending<Result<(), crate::web::SetupError>> {
        super::network::test_target(self.0.config.upload.clone(), spec)
    }

    fn upload_memory(&self, name: &str) -> Result<(), String> {
        let memory = self
            .0
            .memories
            .get(name)
            .map_err(|_| format!("no memory {name}"))?;
        let uploads = self.0.uploads.clone();
        self.0.runtime.spawn(async move {
            if let Err(e) = uploads.enqueue(&memory.name, memory.size).await {
                tracing::warn!(error = %e, "web: cannot queue the upload");
            }
            if let Err(e) = uploads.upload_now().await {
                tracing::warn!(error = %e, "web: cannot start uploads");
            }
        });
        Ok(())
    }

    fn has_upload_target(&self) -> bool {
        self.0.uploads.status().activity != crate::upload::Activity::Disabled
    }

    fn settings(&self) -> serde_json::Value {
        self.0.settings_json()
    }

    fn put_settings(
        &self,
        patch: crate::settings::Patch,
    ) -> Result<serde_json::Value, crate::settings::SettingsError> {
        self.0.put_settings(patch)
    }
}
