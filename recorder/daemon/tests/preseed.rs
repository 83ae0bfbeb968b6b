//! The pre-seed file on the boot partition, imported with the real rclone: everything it sets ends
//! up where the recorder keeps it (Wi-Fi and admin password private, the upload target in
//! rclone.conf and the settings), the file is kept as moment-imported.toml without a single
//! password, and a file with a mistake imports nothing and stays as it was.

use moment_recorder::config::Config;
use moment_recorder::preseed::{import, Targets, IMPORTED_NAME};
use moment_recorder::web::verify_password;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const GOOD: &str = r#"
[wifi]
ssid = "HomeNet"
password = "wifi-secret-123"

[admin]
password = "admin-secret-456"

[access_point]
passphrase = "ap-secret-789"

[upload]
kind = "webdav"
path = "moment"
policy = "manual"
fields = { url = "https://cloud.example/remote.php/dav/files/me", vendor = "nextcloud", user = "me", pass = "dav-secret-000" }
"#;

fn setup(dir: &Path) -> Config {
    let mut config = Config::default();
    config.state.dir = dir.join("state");
    config.upload.rclone_config = dir.join("rclone").join("rclone.conf");
    config
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn a_good_file_sets_everything_and_keeps_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let boot = dir.path().join("boot");
    std::fs::create_dir(&boot).unwrap();
    let file = boot.join("moment.toml");
    std::fs::write(&file, GOOD).unwrap();
    let targets = Targets {
        config: &config,
        state_dir: &config.state.dir,
    };
    let done = import(&file, &targets).await.unwrap().unwrap();
    assert_eq!(
        done.parts,
        [
            "upload",
            "admin password",
            "access point passphrase",
            "wifi"
        ]
    );

    let state = &config.state.dir;
    let wifi: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("wifi.json")).unwrap()).unwrap();
    assert_eq!(wifi["ssid"], "HomeNet");
    assert_eq!(wifi["passphrase"], "wifi-secret-123");
    assert_eq!(mode(&state.join("wifi.json")), 0o600);
    let admin: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("admin.json")).unwrap()).unwrap();
    assert!(verify_password(
        admin["password_hash"].as_str().unwrap(),
        "admin-secret-456"
    ));
    assert_eq!(
        moment_recorder::preseed::ap_passphrase(state).as_deref(),
        Some("ap-secret-789")
    );
    let rclone = std::fs::read_to_string(&config.upload.rclone_config).unwrap();
    assert!(
        rclone.contains("[moment]") && !rclone.contains("dav-secret-000"),
        "{rclone}"
    );
    let loaded = moment_recorder::settings::load(&config, state);
    assert_eq!(loaded.config.upload.remote, "moment:moment");
    assert_eq!(format!("{:?}", loaded.config.upload.policy), "Manual");

    // The card keeps a copy without secrets; the original is gone.
    assert!(!file.exists());
    let kept = std::fs::read_to_string(boot.join(IMPORTED_NAME)).unwrap();
    assert!(
        kept.contains("HomeNet") && kept.contains("cloud.example"),
        "{kept}"
    );
    for secret in [
        "wifi-secret-123",
        "admin-secret-456",
        "ap-secret-789",
        "dav-secret-000",
    ] {
        assert!(!kept.contains(secret), "{secret} left in:\n{kept}");
    }
    // Nothing to import at the next start.
    assert_eq!(import(&file, &targets).await.unwrap(), None);
}

#[tokio::test]
async fn a_file_with_a_mistake_imports_nothing_and_says_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let file = dir.path().join("moment.toml");
    let targets = Targets {
        config: &config,
        state_dir: &config.state.dir,
    };
    for (text, needle) in [
        (GOOD.replace("wifi-secret-123", "short"), "8 to 63"),
        (GOOD.replace("admin-secret-456", "1234"), "at least 8"),
        (GOOD.replace("ssid = ", "name = "), "name"),
        (GOOD.replace("kind = \"webdav\"", "kind = \"ftp\""), "ftp"),
        (
            GOOD.replace("policy = \"manual\"", "policy = \"sometimes\""),
            "policy",
        ),
        ("not toml at all [".to_string(), "moment.toml"),
    ] {
        std::fs::write(&file, &text).unwrap();
        let err = import(&file, &targets).await.unwrap_err();
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            text,
            "the file is untouched"
        );
        assert!(!config.state.dir.join("wifi.json").exists());
        assert!(!config.state.dir.join("admin.json").exists());
        assert!(!config.upload.rclone_config.exists());
    }
}
