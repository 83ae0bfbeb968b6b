//! The recorder's side of RAUC's D-Bus API (`de.pengutronix.rauc.Installer` of `rauc service`):
//! start an install, follow its progress and result, read the slots, mark the booted slot good.
//! RAUC does the verifying and writing; nothing here touches a slot. Every call has a time limit,
//! so a hung RAUC shows as an error rather than a stuck web request.

use super::record::clip;
use std::collections::HashMap;
use std::time::Duration;
use zbus::zvariant::OwnedValue;

/// Longest a single D-Bus call may take (an install runs in the background; its start is quick).
const CALL_LIMIT: Duration = Duration::from_secs(20);
/// Most slots reported (a system has a handful).
const MAX_SLOTS: usize = 16;

#[zbus::proxy(
    interface = "de.pengutronix.rauc.Installer",
    default_service = "de.pengutronix.rauc",
    default_path = "/"
)]
trait Installer {
    fn install_bundle(
        &self,
        source: &str,
        args: HashMap<&str, zbus::zvariant::Value<'_>>,
    ) -> zbus::Result<()>;
    fn mark(&self, state: &str, slot_identifier: &str) -> zbus::Result<(String, String)>;
    fn get_slot_status(&self) -> zbus::Result<Vec<(String, HashMap<String, OwnedValue>)>>;
    fn get_primary(&self) -> zbus::Result<String>;
    #[zbus(signal)]
    fn completed(&self, result: i32) -> zbus::Result<()>;
    #[zbus(property)]
    fn operation(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn last_error(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn progress(&self) -> zbus::Result<(i32, String, i32)>;
    #[zbus(property)]
    fn compatible(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn boot_slot(&self) -> zbus::Result<String>;
}

/// One slot as RAUC reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Slot {
    pub name: String,
    pub bootname: Option<String>,
    /// booted, active or inactive.
    pub state: Option<String>,
    /// good or bad (the bootloader's view).
    pub boot_status: Option<String>,
    pub version: Option<String>,
    pub installed_at: Option<String>,
}

/// Install progress: RAUC's percentage and step.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    pub percent: u8,
    pub message: String,
}

impl Progress {
    /// RAUC's `Progress` property (percentage, step), bounded for the status.
    fn from_rauc(percent: i32, message: &str) -> Progress {
        Progress {
            percent: percent.clamp(0, 100) as u8,
            message: clip(message),
        }
    }
}

/// A connection to `rauc service`.
#[derive(Clone)]
pub struct Rauc {
    proxy: InstallerProxy<'static>,
}

/// An error from RAUC or the bus, as a sentence for the status.
pub type RaucError = String;

fn bus_error(what: &str, e: zbus::Error) -> RaucError {
    let text = match e {
        zbus::Error::MethodError(_, Some(detail), _) => detail,
        other => other.to_string(),
    };
    clip(&format!("{what}: {text}"))
}

async fn limited<T>(
    what: &str,
    call: impl std::future::Future<Output = zbus::Result<T>>,
) -> Result<T, RaucError> {
    match tokio::time::timeout(CALL_LIMIT, call).await {
        Ok(result) => result.map_err(|e| bus_error(what, e)),
        Err(_) => Err(format!(
            "{what}: RAUC did not answer within {} s",
            CALL_LIMIT.as_secs()
        )),
    }
}

impl Rauc {
    /// Connects to RAUC on the system bus (`None`) or on the bus at `address`.
    pub async fn connect(address: Option<&str>) -> Result<Rauc, RaucError> {
        let connect = async {
            let connection = match address {
                Some(address) => zbus::connection::Builder::address(address)?.build().await?,
                None => zbus::Connection::system().await?,
            };
            InstallerProxy::new(&connection).await
        };
        let proxy = limited("connecting to RAUC on D-Bus", connect).await?;
        // A proxy is lazy; ask something so a missing service shows now.
        limited("asking RAUC for its state", proxy.operation()).await?;
        Ok(Rauc { proxy })
    }

    pub async fn compatible(&self) -> Result<String, RaucError> {
        limited("reading RAUC's compatible", self.proxy.compatible())
            .await
            .map(|s| clip(&s))
    }

    /// The bootname of the slot the system booted from.
    pub async fn boot_slot(&self) -> Result<String, RaucError> {
        limited("reading the booted slot", self.proxy.boot_slot())
            .await
            .map(|s| clip(&s))
    }

    /// The slot the bootloader will boot next (RAUC's slot name, e.g. `rootfs.1`).
    pub async fn primary(&self) -> Result<String, RaucError> {
        limited("reading the primary slot", self.proxy.get_primary())
            .await
            .map(|s| clip(&s))
    }

    pub async fn slots(&self) -> Result<Vec<Slot>, RaucError> {
        let raw = limited("reading the slots", self.proxy.get_slot_status()).await?;
        let mut slots: Vec<Slot> = raw
            .into_iter()
            .take(MAX_SLOTS)
            .map(|(name, fields)| {
                let text = |key: &str| {
                    fields
                        .get(key)
                        .and_then(|v| String::try_from(v.try_clone().ok()?).ok())
                        .map(|s| clip(&s))
                };
                Slot {
                    name: clip(&name),
                    bootname: text("bootname"),
                    state: text("state"),
                    boot_status: text("boot-status"),
                    version: text("bundle.version"),
                    installed_at: text("installed.timestamp"),
                }
            })
            .collect();
        slots.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(slots)
    }

    /// Marks the booted slot good (resets its boot attempts); RAUC's message.
    pub async fn mark_booted_good(&self) -> Result<String, RaucError> {
        let (_, message) = limited(
            "marking the booted slot good",
            self.proxy.mark("good", "booted"),
        )
        .await?;
        Ok(clip(&message))
    }

    /// RAUC's `LastError`, asked of RAUC itself: the proxy's cached copy is updated by a signal
    /// that may arrive after `Completed`.
    async fn last_error(&self) -> Result<String, RaucError> {
        let read = async {
            let properties = zbus::fdo::PropertiesProxy::builder(self.proxy.inner().connection())
                .destination("de.pengutronix.rauc")?
                .path("/")?
                .build()
                .await?;
            let interface = zbus::names::InterfaceName::try_from("de.pengutronix.rauc.Installer")?;
            let value = properties.get(interface, "LastError").await?;
            String::try_from(value).map_err(zbus::Error::from)
        };
        limited("reading the install error", read)
            .await
            .map(|s| clip(&s))
    }

    /// Installs the bundle at `path` and waits for the end, calling `on_progress` at every step;
    /// `Ok` once RAUC reports success, else RAUC's error. Gives up after `limit`.
    pub async fn install(
        &self,
        path: &std::path::Path,
        limit: Duration,
        mut on_progress: impl FnMut(Progress) + Send,
    ) -> Result<(), RaucError> {
        use futures_util::StreamExt;
        let path = path.to_str().ok_or("the bundle's path is not UTF-8")?;
        // Listen before starting, so neither a quick end nor the first steps are missed.
        let mut progress = self.proxy.receive_progress_changed().await;
        let mut completed =
            limited("following the install", self.proxy.receive_completed()).await?;
        limited(
            "starting the install",
            self.proxy.install_bundle(path, HashMap::new()),
        )
        .await?;
        let wait = async {
            loop {
                tokio::select! {
                    Some(change) = progress.next() => {
                        if let Ok((percent, message, _depth)) = change.get().await {
                            on_progress(Progress::from_rauc(percent, &message));
                        }
                    }
                    signal = completed.next() => {
                        let code = signal
                            .and_then(|s| s.args().ok().map(|a| a.result))
                            .ok_or("RAUC's install signal stream ended")?;
                        if code == 0 {
                            // The last progress change and this signal come on separate
                            // streams, so the change may still be on its way: the bar ends
                            // where RAUC's property ended, read once more.
                            if let Ok((percent, message, _depth)) =
                                limited("reading the progress", self.proxy.progress()).await
                            {
                                on_progress(Progress::from_rauc(percent, &message));
                            }
                            return Ok(());
                        }
                        let error = self.last_error().await.unwrap_or_else(|e| e);
                        return Err(if error.is_empty() {
                            format!("RAUC refused the bundle (code {code})")
                        } else {
                            clip(&error)
                        });
                    }
                }
            }
        };
        match tokio::time::timeout(limit, wait).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "RAUC did not finish the install within {} min",
                limit.as_secs() / 60
            )),
        }
    }
}
