//! The uploader when things are wrong: bad settings are refused with the key named, an unreachable
//! remote backs off (growing, bounded), a missing rclone is reported without a panic, a corrupt
//! queue file is set aside and the queue rebuilt from the memories, and the queue's bounds hold.

mod upload_support;

use moment_recorder::upload::{
    Activity, EntryState, UploadConfig, UploadError, UploadHandle, Uploader, UploaderOptions,
    QUEUE_FILE,
};
use std::time::{Duration, Instant};
use upload_support::{config, free_port, wait_status, Dirs, WebDav, MIB};

fn start_with(
    dirs: &Dirs,
    config: &UploadConfig,
    max_entries: usize,
) -> Result<UploadHandle, UploadError> {
    let mut options = UploaderOptions::new(&dirs.state, &dirs.memories);
    options.recheck = Duration::from_millis(100);
    options.max_entries = max_entries;
    Uploader::start(config, options)
}

fn start(dirs: &Dirs, config: &UploadConfig) -> UploadHandle {
    start_with(dirs, config, 100).expect("start uploader")
}

#[tokio::test]
async fn bad_settings_name_the_key() {
    let dirs = Dirs::new();
    let cases = [
        (
            "upload.window",
            UploadConfig {
                window: "25:00-01:00".into(),
                ..config(&dirs, "dav:m")
            },
        ),
        (
            "upload.remote",
            UploadConfig {
                remote: "memories".into(),
                ..config(&dirs, "")
            },
        ),
        (
            "upload.backoff_max_s",
            UploadConfig {
                backoff_max_s: 0,
                ..config(&dirs, "dav:m")
            },
        ),
    ];
    for (key, bad) in cases {
        match start_with(&dirs, &bad, 10) {
            Err(UploadError::Config(e)) => {
                assert_eq!(e.key, key);
                assert!(e.to_string().starts_with(&format!("{key}: ")), "{e}");
            }
            other => panic!(
                "{key}: expected a config error, got {:?}",
                other.map(|_| ())
            ),
        }
    }
    let typo = toml::from_str::<UploadConfig>("polcy = \"manual\"").expect_err("unknown key");
    assert!(typo.to_string().contains("polcy"), "{typo}");
    let policy = toml::from_str::<UploadConfig>("policy = \"sometimes\"").expect_err("bad policy");
    assert!(policy.to_string().contains("sometimes"), "{policy}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_remote_backs_off_growing_and_bounded() {
    let dirs = Dirs::new();
    // A port nobody listens on: bound, then closed.
    let port = free_port();
    upload_support::write_rclone_conf(&dirs.conf, &format!("http://127.0.0.1:{port}"));
    let handle = start(&dirs, &config(&dirs, "dav:memories"));
    let size = dirs.memory("u.mp4", 1000, 1).len() as u64;
    let started = Instant::now();
    handle.enqueue("u.mp4", size).await.expect("enqueue");

    // Each failure: when it was seen and how long until the retry (backoff 1 s, 2 s, then 2 s).
    let mut failures: Vec<(Duration, i64)> = Vec::new();
    for n in 1..=3u32 {
        let s = wait_status(&handle, Duration::from_secs(20), "a failure", |s| {
            s.consecutive_failures >= n
        })
        .await;
        let error = s.last_error.clone().expect("error recorded");
        assert!(error.contains("connection refused"), "{error}");
        let delay =
            s.next_try_unix_ms.expect("next try") - s.last_error_unix_ms.expect("error time");
        failures.push((started.elapsed(), delay));
        assert_eq!(s.activity, Activity::WaitingToRetry, "{s:?}");
    }
    let delays: Vec<i64> = failures.iter().map(|f| f.1).collect();
    assert_eq!(
        delays,
        [1000, 2000, 2000],
        "growing, capped at backoff_max_s"
    );
    assert!(
        failures[1].0 - failures[0].0 >= Duration::from_millis(900),
        "{failures:?}"
    );
    assert!(
        failures[2].0 - failures[1].0 >= Duration::from_millis(1900),
        "{failures:?}"
    );
    let entry = handle.queue().await.expect("queue").remove(0);
    assert_eq!(entry.state, EntryState::FailedWaiting);
    assert!(entry.attempts >= 3);
    assert!(entry.last_error.expect("entry error").len() <= 2000);
}

#[tokio::test]
async fn missing_rclone_is_reported_not_fatal() {
    let dirs = Dirs::new();
    upload_support::write_rclone_conf(&dirs.conf, "http://127.0.0.1:1");
    let config = UploadConfig {
        rclone: "/nonexistent/rclone".into(),
        ..config(&dirs, "dav:memories")
    };
    let handle = start(&dirs, &config);
    let size = dirs.memory("r.mp4", 1000, 2).len() as u64;
    handle.enqueue("r.mp4", size).await.expect("enqueue");
    let s = wait_status(&handle, Duration::from_secs(10), "the error", |s| {
        s.last_error.is_some()
    })
    .await;
    let error = s.last_error.expect("error");
    assert!(
        error.contains("/nonexistent/rclone") && error.contains("not found"),
        "{error}"
    );
    assert!(
        error.contains("upload.rclone"),
        "says which setting to fix: {error}"
    );
    // Still answering.
    assert_eq!(handle.queue().await.expect("queue").len(), 1);
    assert_ne!(handle.status().activity, Activity::Stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_queue_is_set_aside_and_rebuilt_by_reconcile() {
    let dirs = Dirs::new();
    let server = WebDav::start(&dirs.served);
    upload_support::write_rclone_conf(&dirs.conf, &server.url());
    let a = dirs.memory("a.mp4", MIB, 3).len() as u64;
    let b = dirs.memory("b.mp4", MIB / 2, 4).len() as u64;
    std::fs::create_dir_all(&dirs.state).expect("state");
    std::fs::write(
        dirs.state.join(QUEUE_FILE),
        b"{\"version\":1,\"entries\":[{\"na",
    )
    .expect("torn");

    let handle = start(&dirs, &config(&dirs, "dav:memories"));
    let status = handle.status();
    let error = status.last_error.expect("corruption reported");
    assert!(
        error.contains("unusable") && error.contains("moved to"),
        "{error}"
    );
    let aside: Vec<String> = std::fs::read_dir(&dirs.state)
        .expect("state dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!("{QUEUE_FILE}.corrupt-")))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(handle.queue().await.expect("queue").is_empty());

    let report = handle
        .reconcile(vec![
            ("a.mp4".into(), a),
            ("b.mp4".into(), b),
            ("../x".into(), 1),
        ])
        .await
        .expect("reconcile");
    assert_eq!((report.added, report.dropped, report.skipped), (2, 0, 1));
    wait_status(&handle, Duration::from_secs(20), "both uploaded", |s| {
        s.done == 2
    })
    .await;
    assert_eq!(dirs.remote_names(), ["a.mp4", "b.mp4"]);
    assert!(dirs.memories.join("a.mp4").exists() && dirs.memories.join("b.mp4").exists());

    // b.mp4 was deleted from /data: reconcile drops it.
    let report = handle
        .reconcile(vec![("a.mp4".into(), a)])
        .await
        .expect("reconcile");
    assert_eq!((report.added, report.dropped), (0, 1));
    let on_disk = std::fs::read_to_string(dirs.state.join(QUEUE_FILE)).expect("queue file");
    assert!(
        on_disk.contains("a.mp4") && !on_disk.contains("b.mp4"),
        "{on_disk}"
    );
}

#[tokio::test]
async fn queue_bounds_and_names_are_enforced() {
    let dirs = Dirs::new();
    let handle = start_with(&dirs, &config(&dirs, ""), 2).expect("start");
    handle.enqueue("1.mp4", 1).await.expect("first");
    handle.enqueue("2.mp4", 1).await.expect("second");
    let full = handle.enqueue("3.mp4", 1).await.expect_err("full");
    assert!(matches!(full, UploadError::QueueFull { max: 2 }), "{full}");
    assert!(full.to_string().contains("full"), "{full}");
    let bad = handle
        .enqueue("../etc/passwd", 1)
        .await
        .expect_err("bad name");
    assert!(matches!(bad, UploadError::InvalidName { .. }), "{bad}");
    assert!(handle.forget("1.mp4").await.expect("forget"));
    handle.enqueue("3.mp4", 1).await.expect("room again");
    handle.shutdown().await;
    assert!(matches!(
        handle.enqueue("4.mp4", 1).await,
        Err(UploadError::NotRunning)
    ));
}
