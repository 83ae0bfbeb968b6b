//! `moment-recorder demo`: the whole recorder on a laptop in one command. A file-backed ring, the
//! `test` source (ffmpeg's test pattern and tone), simulated buttons and memories under one
//! directory; then the service runs in the foreground until Ctrl-C. Rerunning reuses the ring and
//! the memories.

use super::units::{human_bytes, parse_size};
use super::Outcome;
use anyhow::{Context, Result};
use moment_ring::{DirectIo, FileDevice, FormatOptions};
use std::path::{Path, PathBuf};

/// The demo's web password, printed at start: the demo listens on 127.0.0.1 only.
const DEMO_PASSWORD: &str = "moment-demo";

/// Options of `demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the ring file, the configuration, the memories and the state live.
    #[arg(long, value_name = "DIR", default_value = "demo")]
    dir: PathBuf,
    /// Size of the ring file (sparse) when it is first made.
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "1G")]
    size: u64,
    /// hls.js for the live view in browsers without native HLS (`bash ci/demo.sh` installs it).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "web/node_modules/hls.js/dist/hls.min.js"
    )]
    hls_js: PathBuf,
    /// mpegts.js for the live view under a second behind (`bash ci/demo.sh` installs it).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "web/node_modules/mpegts.js/dist/mpegts.js"
    )]
    mpegts_js: PathBuf,
    /// Burn the capture time into the test pattern (the live-latency benchmark reads it back).
    #[arg(long)]
    burn_clock: bool,
}

pub fn run(args: DemoArgs) -> Result<Outcome> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let dir = args
        .dir
        .canonicalize()
        .with_context(|| format!("resolving {}", args.dir.display()))?;
    let ring = dir.join("ring.img");
    if !is_ring(&ring) {
        make_ring(&ring, args.size)?;
        eprintln!(
            "demo: made a {} ring at {}",
            human_bytes(args.size),
            ring.display()
        );
    }
    let installed = |path: &Path, without: &str| {
        path.canonicalize().unwrap_or_else(|_| {
            eprintln!(
                "demo: {} is missing (npm ci in web/ installs it): {without}",
                path.display()
            );
            PathBuf::new()
        })
    };
    let hls_js = installed(&args.hls_js, "the live view will need Safari");
    let mpegts_js = installed(
        &args.mpegts_js,
        "the live view will play HLS, seconds behind",
    );
    let config = dir.join("config.toml");
    if config.exists() && args.burn_clock {
        eprintln!(
            "demo: {} exists and is kept: --burn-clock applies to a new demo directory",
            config.display()
        );
    }
    if !config.exists() {
        std::fs::write(
            &config,
            demo_config(&dir, &ring, &hls_js, &mpegts_js, args.burn_clock),
        )
        .with_context(|| format!("writing {}", config.display()))?;
    }
    let socket = dir.join("control.sock");
    eprintln!(
        "demo: recording the test pattern into {ring}\n\
         demo: in another terminal:\n\
         \x20   moment-recorder press save --socket {socket}              # keep the last 30 s\n\
         \x20   moment-recorder press save --hold 6s --socket {socket}    # held: +30 s per 3 s\n\
         \x20   moment-recorder status --socket {socket}\n\
         demo: open http://127.0.0.1:8080 (password {password}); the API is in docs/api.md\n\
         demo: the Wi-Fi is simulated: the setup wizard opens; HomeNet's password is moment-home\n\
         demo: memories appear in {memories}; the configuration is {config}\n\
         demo: stop with Ctrl-C",
        ring = ring.display(),
        socket = socket.display(),
        memories = dir.join("memories").display(),
        config = config.display(),
        password = DEMO_PASSWORD,
    );
    super::daemon::run(super::daemon::RunArgs { config })
}

fn is_ring(path: &Path) -> bool {
    FileDevice::open(path, false, DirectIo::Auto)
        .ok()
        .and_then(|dev| {
            moment_ring::Ring::open(
                dev,
                moment_ring::OpenOptions {
                    read_only: true,
                    ..Default::default()
                },
            )
            .ok()
        })
        .is_some()
}

fn make_ring(path: &Path, size: u64) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    file.set_len(size)
        .with_context(|| format!("sizing {}", path.display()))?;
    drop(file);
    let dev = FileDevice::open(path, true, DirectIo::Auto)
        .with_context(|| format!("opening {}", path.display()))?;
    moment_ring::format(&dev, &FormatOptions::default())
        .with_context(|| format!("formatting {}", path.display()))?;
    Ok(())
}

/// A configuration for a machine without a camera or buttons; short save steps so a visitor sees
/// a memory without waiting three minutes. USB sticks only when named (`moment-recorder usb
/// attach`): a laptop's own disks are never mounted by the demo.
fn demo_config(
    dir: &Path,
    ring: &Path,
    hls_js: &Path,
    mpegts_js: &Path,
    burn_clock: bool,
) -> String {
    format!(
        "# Written by `moment-recorder demo`; every key is described in docs/config.md.\n\
         [ring]\ndevice = {ring:?}\n\n\
         [source]\nkind = \"test\"\n\n\
         [source.test]\nwidth = 640\nheight = 360\nbitrate = 1000000\nclock = {burn_clock}\n\n\
         [memories]\ndir = {memories:?}\nmin_free_mib = 64\n\n\
         [state]\ndir = {state:?}\n\n\
         [control]\nsocket = {socket:?}\n\n\
         [buttons]\nbackend = \"simulated\"\nsave_step_s = 30.0\nhold_step_s = 3.0\n\n\
         [web]\nlisten = \"127.0.0.1:8080\"\npassword_hash = {hash:?}\nhls_js = {hls_js:?}\n\
         mpegts_js = {mpegts_js:?}\n\n\
         [network]\nbackend = \"simulated\"\nrun_dir = {run:?}\navahi_dir = {avahi:?}\npreseed = \"\"\n\n\
         [usb]\nbackend = \"manual\"\nmount_dir = {usb:?}\n\n\
         [upload]\nremote = \"\"\n",
        ring = ring.display().to_string(),
        memories = dir.join("memories").display().to_string(),
        state = dir.join("state").display().to_string(),
        socket = dir.join("control.sock").display().to_string(),
        hash = crate::web::hash_password(DEMO_PASSWORD),
        hls_js = hls_js.display().to_string(),
        mpegts_js = mpegts_js.display().to_string(),
        run = dir.join("network").display().to_string(),
        avahi = dir.join("avahi").display().to_string(),
        usb = dir.join("usb").display().to_string(),
    )
}
