//! `moment-recorder run` (the service), and `press` / `status` / `usb`, which talk to a running
//! one over its control socket, so a person or a test can use the recorder without hardware.

use super::units::parse_duration;
use super::{emit, Outcome};
use crate::config::Config;
use crate::control::{self, ButtonName, Request};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::time::Duration;

/// Options of `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The configuration file (docs/config.md).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/moment-recorder/config.toml"
    )]
    pub config: PathBuf,
}

/// Options of `press`.
#[derive(Debug, clap::Args)]
pub struct PressArgs {
    /// save, upload, or both (held 10 s: network reset).
    #[arg(value_enum)]
    button: ButtonName,
    /// How long to hold it (save: each full hold step adds to the clip).
    #[arg(long, value_parser = parse_duration)]
    hold: Option<Duration>,
    /// The daemon's control socket (the `[control] socket` of its config).
    #[arg(long, value_name = "PATH", default_value_os_t = control::default_socket())]
    socket: PathBuf,
}

/// Options of `status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The daemon's control socket.
    #[arg(long, value_name = "PATH", default_value_os_t = control::default_socket())]
    socket: PathBuf,
}

/// Options of `usb`.
#[derive(Debug, clap::Args)]
pub struct UsbArgs {
    /// attach: copy memories to this disk now; detach: it is gone.
    #[arg(value_enum)]
    action: control::UsbAction,
    /// The whole disk, such as /dev/sda.
    device: String,
    /// The daemon's control socket.
    #[arg(long, value_name = "PATH", default_value_os_t = control::default_socket())]
    socket: PathBuf,
}

/// Options of `hash-password`.
#[derive(Debug, clap::Args)]
pub struct HashPasswordArgs {}

/// Reads a password from standard input and prints its hash for `[web] password_hash`.
pub fn hash_password(_args: HashPasswordArgs) -> Result<Outcome> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.chars().count() < 8 || password.len() > 1024 {
        bail!("the password must be 8 to 1024 characters");
    }
    emit(&format!("{}\n", crate::web::hash_password(password)))?;
    Ok(Outcome::Success)
}

/// A short press when no hold is given.
const TAP: Duration = Duration::from_millis(100);

pub fn run(args: RunArgs) -> Result<Outcome> {
    init_logging();
    let config = Config::load(&args.config)?;
    tracing::info!(config = %args.config.display(), version = env!("CARGO_PKG_VERSION"), "starting");
    crate::service::run(config)?;
    Ok(Outcome::Success)
}

pub fn press(args: PressArgs) -> Result<Outcome> {
    let hold = args.hold.unwrap_or(TAP);
    let request = Request::Press {
        button: args.button,
        hold_ms: hold.as_millis() as u64,
    };
    ask(&args.socket, &request)?;
    emit(&format!(
        "pressed {:?} for {} ms\n",
        args.button,
        hold.as_millis()
    ))?;
    Ok(Outcome::Success)
}

pub fn usb(args: UsbArgs) -> Result<Outcome> {
    let request = Request::Usb {
        action: args.action,
        device: args.device.clone(),
    };
    ask(&args.socket, &request)?;
    emit(&format!(
        "{:?} {}: see `moment-recorder status` (usb) for the copy\n",
        args.action, args.device
    ))?;
    Ok(Outcome::Success)
}

pub fn status(args: StatusArgs) -> Result<Outcome> {
    let result = ask(&args.socket, &Request::Status)?;
    let text = serde_json::to_string_pretty(&result).context("printing the status")?;
    emit(&format!("{text}\n"))?;
    Ok(Outcome::Success)
}

/// Sends one request to the daemon; its result, or an error with the daemon's reason.
fn ask(socket: &std::path::Path, request: &Request) -> Result<serde_json::Value> {
    let response = control::request(socket, request)?;
    if !response.ok {
        bail!(
            "the recorder refused: {}",
            response.error.unwrap_or_default()
        );
    }
    Ok(response.result)
}

/// Logs to stderr: journald adds times and the unit under systemd, so they are left out there.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    let _ = if under_journald {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
}
