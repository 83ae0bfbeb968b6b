//! The daemon's side of firmware updates: starts the updater with what it needs from the rest
//! of the service (the recording to judge health by, the status board to report on, the web
//! address to check), and adapts it to the web's [`crate::web::Updates`].

use super::Shared;
use crate::update::{Recording, Updater};
use crate::web::ApiError;
use axum::http::StatusCode;
use std::sync::{Arc, Weak};

/// Starts the updater (or the one that says updates are off) and hands it to `shared`.
pub(super) fn start(shared: &Arc<Shared>) {
    let weak = Arc::downgrade(shared);
    let notify_to = weak.clone();
    let notify: crate::update::Notify = Arc::new(move |message: Option<String>| {
        if let Some(shared) = notify_to.upgrade() {
            match message {
                Some(message) => shared.board.event("update", message),
                None => shared.board.changed(),
            }
        }
    });
    let config = &shared.config;
    let updater = match config.update.enabled().then(|| config.update.settings()) {
        None => Updater::off(notify),
        Some(Err(e)) => {
            shared.board.event("update", e.to_string());
            Updater::off(notify)
        }
        Some(Ok(settings)) => {
            let silence_us = super::silence_us(config);
            let web = config.web.listen.parse().ok();
            Updater::start(
                settings,
                &config.state.dir,
                notify,
                Box::new(move || recording(&weak, silence_us)),
                web,
            )
        }
    };
    let _ = shared.updater.set(updater);
}

fn recording(shared: &Weak<Shared>, silence_us: u64) -> Recording {
    let Some(shared) = shared.upgrade() else {
        return Recording {
            data_flowing: false,
            newest_seq: None,
            ring_failed: Some("the recorder is stopping".into()),
        };
    };
    let last = shared.capture.snapshot().last_data_mono_us;
    let stats = shared.reader.stats();
    Recording {
        data_flowing: super::data_flowing(last, silence_us),
        newest_seq: stats.newest_seq,
        ring_failed: stats.failed,
    }
}

/// The updater as the web sees it.
pub(super) struct WebUpdates(pub(super) Arc<Updater>);

fn api_error(e: crate::update::UpdateError) -> ApiError {
    ApiError::new(
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        e.message,
    )
}

impl crate::web::Updates for WebUpdates {
    fn view(&self) -> crate::web::Pending<serde_json::Value> {
        let updater = self.0.clone();
        Box::pin(async move { updater.view().await })
    }

    fn receive(
        &self,
        length: Option<u64>,
        body: axum::body::BodyDataStream,
    ) -> crate::web::Pending<Result<serde_json::Value, ApiError>> {
        let updater = self.0.clone();
        Box::pin(async move { updater.receive(length, body).await.map_err(api_error) })
    }

    fn reboot(&self) -> Result<serde_json::Value, ApiError> {
        self.0.reboot().map_err(api_error)
    }
}
