//! What the browser tests share: where the web app's npm packages are, whether Node, Chromium
//! and those packages are installed (missing ones skip the test, except under CI), and the
//! `[web]` section that serves both players.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Node, Chromium and `npm ci` in web/ (ci/install-deps.sh); missing ones skip, except under CI.
pub fn have_browser(test: &str) -> bool {
    let web = repo().join("web/node_modules");
    let missing = [
        (
            "node",
            Command::new("node")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success()),
        ),
        ("/usr/bin/chromium", Path::new("/usr/bin/chromium").exists()),
        (
            "web/node_modules/playwright-core",
            web.join("playwright-core").is_dir(),
        ),
        (
            "web/node_modules/hls.js",
            web.join("hls.js/dist/hls.min.js").is_file(),
        ),
        (
            "web/node_modules/mpegts.js",
            web.join("mpegts.js/dist/mpegts.js").is_file(),
        ),
    ]
    .into_iter()
    .find(|(_, ok)| !ok);
    if let Some((what, _)) = missing {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} is missing: run ci/install-deps.sh"
        );
        eprintln!("SKIPPED {test}: {what} is missing (fails when CI is set)");
        return false;
    }
    true
}

/// `[web]` on 127.0.0.1:`port` with the admin password hashed and both players served.
pub fn web_section(port: u16, password: &str) -> String {
    let hash = moment_recorder::web::hash_password(password);
    let player = |path: &str| {
        repo()
            .join("web/node_modules")
            .join(path)
            .canonicalize()
            .expect("the player is installed")
            .display()
            .to_string()
    };
    format!(
        "listen = \"127.0.0.1:{port}\"\npassword_hash = {hash:?}\nhls_js = {:?}\nmpegts_js = {:?}\n",
        player("hls.js/dist/hls.min.js"),
        player("mpegts.js/dist/mpegts.js"),
    )
}
