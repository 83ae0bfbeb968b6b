//! When uploads start: `manual` waits for the button, `window` for its hours (with a clock the test
//! sets, including a window across midnight), the button sends the newest memory first and ignores
//! policy, without a remote nothing is sent but everything is kept, and new settings (the settings
//! page) take effect without a restart.

mod upload_support;

use moment_recorder::upload::{
    Activity, Policy, UploadConfig, UploadDone, UploadHandle, Uploader, UploaderOptions,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use upload_support::{config, wait_status, Dirs, TestClock, WebDav, MIB};

/// Long enough for several policy re-checks (every 100 ms) and a quick upload, had one started.
const QUIET: Duration = Duration::from_millis(1200);

fn start(
    dirs: &Dirs,
    config: &UploadConfig,
    clock: Arc<TestClock>,
) -> (UploadHandle, mpsc::Receiver<UploadDone>) {
    let (tx, rx) = mpsc::channel(16);
    let mut options = UploaderOptions::new(&dirs.state, &dirs.memories);
    options.on_done = Some(tx);
    options.recheck = Duration::from_millis(100);
    options.clock = clock;
    (
        Uploader::start(config, options).expect("start uploader"),
        rx,
    )
}

async fn setup(policy: Policy, window: &str) -> (Dirs, WebDav, UploadConfig) {
    let dirs = Dirs::new();
    let server = WebDav::start(&dirs.served);
    upload_support::write_rclone_conf(&dirs.conf, &server.url());
    let config = UploadConfig {
        policy,
        window: window.into(),
        ..config(&dirs, "dav:memories")
    };
    (dirs, server, config)
}

async fn recv(rx: &mut mpsc::Receiver<UploadDone>) -> String {
    let done = tokio::time::timeout(Duration::from_secs(15), rx.recv()).await;
    done.expect("upload in time").expect("channel open").name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_waits_for_the_button_which_sends_the_newest_first() {
    let (dirs, _server, config) = setup(Policy::Manual, "01:00-05:00").await;
    let (handle, mut done_rx) = start(&dirs, &config, Arc::new(TestClock::at(12, 0)));
    for (i, name) in ["a.mp4", "b.mp4", "c.mp4"].iter().enumerate() {
        let size = dirs.memory(name, MIB / 4, i as u64).len() as u64;
        handle.enqueue(name, size).await.expect("enqueue");
    }
    tokio::time::sleep(QUIET).await;
    assert!(dirs.remote_names().is_empty(), "manual uploaded on its own");
    let status = handle.status();
    assert_eq!(
        (status.activity, status.pending),
        (Activity::WaitingForButton, 3)
    );

    handle.upload_now().await.expect("button");
    let order = [
        recv(&mut done_rx).await,
        recv(&mut done_rx).await,
        recv(&mut done_rx).await,
    ];
    assert_eq!(
        order,
        ["c.mp4", "a.mp4", "b.mp4"],
        "newest first, then the rest in order"
    );
    assert_eq!(dirs.remote_names(), ["a.mp4", "b.mp4", "c.mp4"]);

    // The button applies to what was queued when pressed; later memories wait for the next press.
    let size = dirs.memory("d.mp4", 1000, 9).len() as u64;
    handle.enqueue("d.mp4", size).await.expect("enqueue");
    tokio::time::sleep(QUIET).await;
    assert_eq!(handle.status().pending, 1);
}

#[tokio::test]
async fn window_waits_for_its_hours() {
    let (dirs, _server, config) = setup(Policy::Window, "01:00-05:00").await;
    let clock = Arc::new(TestClock::at(12, 0));
    let (handle, mut done_rx) = start(&dirs, &config, clock.clone());
    let size = dirs.memory("w.mp4", MIB, 1).len() as u64;
    handle.enqueue("w.mp4", size).await.expect("enqueue");
    tokio::time::sleep(QUIET).await;
    assert!(
        dirs.remote_names().is_empty(),
        "uploaded outside the window"
    );
    assert_eq!(handle.status().activity, Activity::WaitingForWindow);

    clock.set(5, 0); // the end is outside
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        dirs.remote_names().is_empty(),
        "uploaded at the window's end"
    );
    clock.set(1, 0);
    assert_eq!(recv(&mut done_rx).await, "w.mp4");
}

#[tokio::test]
async fn window_across_midnight() {
    let (dirs, _server, config) = setup(Policy::Window, "22:00-02:00").await;
    let clock = Arc::new(TestClock::at(2, 30));
    let (handle, mut done_rx) = start(&dirs, &config, clock.clone());
    let size = dirs.memory("n.mp4", MIB, 2).len() as u64;
    handle.enqueue("n.mp4", size).await.expect("enqueue");
    tokio::time::sleep(QUIET).await;
    assert!(dirs.remote_names().is_empty(), "uploaded at 02:30");
    clock.set(0, 30);
    assert_eq!(recv(&mut done_rx).await, "n.mp4");
}

#[tokio::test]
async fn button_overrides_the_window() {
    let (dirs, _server, config) = setup(Policy::Window, "01:00-05:00").await;
    let (handle, mut done_rx) = start(&dirs, &config, Arc::new(TestClock::at(12, 0)));
    let size = dirs.memory("now.mp4", MIB, 3).len() as u64;
    handle.enqueue("now.mp4", size).await.expect("enqueue");
    handle.upload_now().await.expect("button");
    assert_eq!(recv(&mut done_rx).await, "now.mp4");
    let status = wait_status(&handle, Duration::from_secs(5), "idle", |s| {
        s.current.is_none()
    })
    .await;
    assert_eq!((status.done, status.pending), (1, 0));
}

#[tokio::test]
async fn without_a_remote_memories_are_kept_not_sent() {
    let dirs = Dirs::new();
    let config = UploadConfig {
        remote: String::new(),
        ..config(&dirs, "")
    };
    let (handle, _rx) = start(&dirs, &config, Arc::new(TestClock::at(12, 0)));
    let size = dirs.memory("k.mp4", 1000, 4).len() as u64;
    handle.enqueue("k.mp4", size).await.expect("enqueue");
    handle.upload_now().await.expect("button");
    let status = wait_status(&handle, Duration::from_secs(5), "the error", |s| {
        s.last_error.is_some()
    })
    .await;
    assert_eq!((status.activity, status.pending), (Activity::Disabled, 1));
    assert!(status.last_error.expect("error").contains("upload.remote"));
    handle.shutdown().await;

    // Kept across a restart, for when a remote is set up.
    let (handle, _rx) = start(&dirs, &config, Arc::new(TestClock::at(12, 0)));
    assert_eq!(handle.queue().await.expect("queue")[0].name, "k.mp4");
}

#[tokio::test]
async fn new_settings_apply_from_the_next_decision() {
    let (dirs, _server, config) = setup(Policy::Manual, "01:00-05:00").await;
    let clock = Arc::new(TestClock::at(12, 0));
    let (handle, mut done_rx) = start(&dirs, &config, clock.clone());
    let size = dirs.memory("live.mp4", MIB / 4, 5).len() as u64;
    handle.enqueue("live.mp4", size).await.expect("enqueue");
    wait_status(
        &handle,
        Duration::from_secs(5),
        "waiting for the button",
        |s| s.activity == Activity::WaitingForButton,
    )
    .await;

    // A window that is not now: the status says so and nothing is sent.
    let window = UploadConfig {
        policy: Policy::Window,
        window: "01:00-05:00".into(),
        ..config.clone()
    };
    handle.reconfigure(&window).expect("valid settings");
    let status = wait_status(&handle, Duration::from_secs(5), "the window policy", |s| {
        s.activity == Activity::WaitingForWindow
    })
    .await;
    assert_eq!(status.policy, Policy::Window);
    tokio::time::sleep(QUIET).await;
    assert!(
        dirs.remote_names().is_empty(),
        "uploaded outside the window"
    );

    // A bad value is refused, naming it, and changes nothing.
    let bad = UploadConfig {
        window: "soon".into(),
        ..window.clone()
    };
    let err = handle.reconfigure(&bad).expect_err("bad window");
    assert!(err.to_string().starts_with("upload.window"), "{err}");
    assert_eq!(handle.status().policy, Policy::Window);

    // Immediate, with a bandwidth limit rclone accepts: sent without the button.
    let immediate = UploadConfig {
        policy: Policy::Immediate,
        bwlimit: "10M".into(),
        ..config.clone()
    };
    handle.reconfigure(&immediate).expect("valid settings");
    assert_eq!(recv(&mut done_rx).await, "live.mp4");
    assert_eq!(handle.status().policy, Policy::Immediate);
    handle.shutdown().await;
    assert!(
        handle.reconfigure(&immediate).is_err(),
        "the uploader is stopped"
    );
}
