//! The daemon's side of the USB export: starts the exporter with the memories, the status board
//! and the LED, follows the kernel's uevents when configured, and passes on the control
//! socket's `usb attach/detach`. A stick that fails shows as an event and the LED's error
//! pattern; nothing here can reach the recording.

use super::Shared;
use crate::buttons::LedFlag;
use crate::usb::{self, Exporter, ExporterSettings, Notice, StickEvent};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Weak};

/// The running exporter and its uevent listener.
pub(super) struct UsbService {
    pub(super) exporter: Arc<Exporter>,
    listener_stop: Arc<AtomicBool>,
}

impl UsbService {
    pub(super) fn stop(&self) {
        self.listener_stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.exporter.stop();
    }
}

/// Starts the exporter when `[usb]` is on; problems become events, never a failed start.
pub(super) fn start(shared: &Arc<Shared>) {
    let config = &shared.config.usb;
    if !config.enabled() {
        return;
    }
    let weak = Arc::downgrade(shared);
    let notify: usb::Notify = Arc::new(move |notice| notice_to(&weak, notice));
    let settings = ExporterSettings::new(config);
    let sys_block = settings.sys_block.clone();
    let exporter = match Exporter::start(settings, shared.memories.clone(), notify) {
        Ok(exporter) => exporter,
        Err(e) => {
            shared
                .board
                .event("usb", format!("the USB exporter cannot start: {e}"));
            return;
        }
    };
    let listener_stop = Arc::new(AtomicBool::new(false));
    if config.follows_uevents() {
        let intake = exporter.clone();
        let deliver = move |event: StickEvent| {
            if let Err(e) = intake.send(event) {
                tracing::warn!("usb: {e}");
            }
        };
        for disk in usb::uevent::present_sticks(&sys_block) {
            deliver(StickEvent::Added { disk });
        }
        if let Err(e) = usb::uevent::listen(&sys_block, deliver, listener_stop.clone()) {
            shared.board.event(
                "usb",
                format!("USB sticks will not be noticed: the kernel's events cannot be read ({e})"),
            );
        }
    }
    let _ = shared.usb.set(UsbService {
        exporter,
        listener_stop,
    });
}

fn notice_to(shared: &Weak<Shared>, notice: Notice) {
    let Some(shared) = shared.upgrade() else {
        return;
    };
    match notice {
        Notice::Changed => shared.board.changed(),
        Notice::Event(message) => shared.board.event("usb", message),
        Notice::Copying(on) => shared.led.set_flag(LedFlag::Copying, on),
        Notice::Failed => super::show_error(&shared),
    }
}

impl Shared {
    /// The control socket's `usb attach|detach DEVICE`.
    pub(super) fn usb_request(
        &self,
        action: crate::control::UsbAction,
        device: &str,
    ) -> Result<(), String> {
        let Some(service) = self.usb.get() else {
            return Err("the USB export is off ([usb] backend)".into());
        };
        let disk = usb::disk_name(device).ok_or_else(|| format!("{device:?} is not a disk"))?;
        let event = match action {
            crate::control::UsbAction::Attach => StickEvent::Added { disk },
            crate::control::UsbAction::Detach => StickEvent::Removed { disk },
        };
        service.exporter.send(event)
    }

    /// The export's status (off when `[usb]` is off).
    pub(super) fn usb_status(&self) -> usb::UsbStatus {
        self.usb
            .get()
            .map(|s| s.exporter.status())
            .unwrap_or_default()
    }
}
