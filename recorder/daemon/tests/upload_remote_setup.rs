//! The wizard's upload target with the real rclone: a WebDAV remote (a real `rclone serve webdav`
//! on 127.0.0.1) written into rclone.conf by rclone itself, password obscured, other remotes in the
//! file kept; the test upload writes and deletes a file there; a wrong password or a dead server
//! is a clear error and a refused spec leaves the file untouched.

mod upload_support;

use moment_recorder::upload::remote_setup::{test_remote, write_remote, RemoteSpec};
use std::path::Path;
use upload_support::{free_port, WebDav};

fn webdav(url: &str, pass: &str) -> RemoteSpec {
    RemoteSpec {
        kind: "webdav".into(),
        fields: [
            ("url", url),
            ("vendor", "other"),
            ("user", "u"),
            ("pass", pass),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        path: "memories".into(),
    }
}

fn rclone() -> &'static Path {
    Path::new("rclone")
}

#[tokio::test]
async fn the_wizard_sets_up_webdav_and_the_test_upload_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    let server = WebDav::start(&served);
    let conf = dir.path().join("rclone").join("rclone.conf");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::write(&conf, "[other]\ntype = local\n").unwrap();

    let spec = webdav(&server.url(), "p");
    write_remote(rclone(), &conf, &spec).await.unwrap();
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.contains("[other]"), "other remotes are kept:\n{text}");
    assert!(
        text.contains("[moment]") && text.contains("type = webdav"),
        "{text}"
    );
    assert!(
        !text.contains("pass = p\n"),
        "the password is obscured:\n{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&conf).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let remote = spec.remote().unwrap();
    assert_eq!(remote, "moment:memories");
    test_remote(rclone(), &conf, &remote).await.unwrap();
    let left: Vec<_> = walk(&served);
    assert!(
        left.iter().all(|p| !p.contains(".moment-test-")),
        "{left:?}"
    );

    // Rewriting replaces the remote (now with a wrong password): the test upload says so.
    write_remote(rclone(), &conf, &webdav(&server.url(), "wrong"))
        .await
        .unwrap();
    let text = std::fs::read_to_string(&conf).unwrap();
    assert_eq!(text.matches("[moment]").count(), 1, "{text}");
    let err = test_remote(rclone(), &conf, &remote).await.unwrap_err();
    assert!(!err.is_empty());

    // A refused spec does not touch the file.
    let before = std::fs::read(&conf).unwrap();
    assert!(write_remote(rclone(), &conf, &webdav("ftp://nope", "p"))
        .await
        .is_err());
    assert_eq!(std::fs::read(&conf).unwrap(), before);
}

#[tokio::test]
async fn a_dead_server_fails_the_test_upload_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("rclone.conf");
    let spec = webdav(&format!("http://127.0.0.1:{}/", free_port()), "p");
    write_remote(rclone(), &conf, &spec).await.unwrap();
    let err = test_remote(rclone(), &conf, &spec.remote().unwrap())
        .await
        .unwrap_err();
    assert!(err.contains("rclone"), "{err}");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.display().to_string());
            if p.is_dir() {
                out.extend(walk(&p));
            }
        }
    }
    out
}
