//! The uploader against real rclone and a real `rclone serve webdav`: a verified upload with
//! progress, a server that dies mid-upload, crashes at each point of an upload, and the promise
//! that a confirmed memory is never sent twice.

mod upload_support;

use moment_recorder::upload::{
    Activity, Enqueued, EntryState, Phase, UploadConfig, UploadDone, UploadHandle, Uploader,
    UploaderOptions, QUEUE_FILE,
};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use upload_support::{config, rclone, wait_status, Dirs, WebDav, MIB};

fn start(dirs: &Dirs, config: &UploadConfig) -> (UploadHandle, mpsc::Receiver<UploadDone>) {
    let (tx, rx) = mpsc::channel(16);
    let mut options = UploaderOptions::new(&dirs.state, &dirs.memories);
    options.on_done = Some(tx);
    options.recheck = Duration::from_millis(100);
    (
        Uploader::start(config, options).expect("start uploader"),
        rx,
    )
}

async fn next_done(handle: &UploadHandle, rx: &mut mpsc::Receiver<UploadDone>) -> UploadDone {
    next_done_within(handle, rx, Duration::from_secs(10)).await
}

async fn next_done_within(
    handle: &UploadHandle,
    rx: &mut mpsc::Receiver<UploadDone>,
    limit: Duration,
) -> UploadDone {
    match tokio::time::timeout(limit, rx.recv()).await {
        Ok(Some(done)) => done,
        Ok(None) => panic!("done channel closed; status {:#?}", handle.status()),
        Err(_) => panic!(
            "no upload done within {limit:?}; status {:#?}",
            handle.status()
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_verifies_and_reports_progress() {
    let dirs = Dirs::new();
    let server = WebDav::start(&dirs.served);
    upload_support::write_rclone_conf(&dirs.conf, &server.url());
    let bytes = dirs.memory("m1.mp4", 8 * MIB, 1);
    // Slow enough (about 2.7 s) for rclone's one-second stats to show the upload mid-way.
    let config = UploadConfig {
        bwlimit: "3M".into(),
        ..config(&dirs, "dav:memories")
    };
    let (handle, mut done_rx) = start(&dirs, &config);

    // Watch every status change from the start, recording the progress seen.
    let mut watch = handle.subscribe();
    let seen = tokio::spawn(async move {
        let mut seen = Vec::new();
        while watch.changed().await.is_ok() {
            let status = watch.borrow_and_update().clone();
            if let Some(p) = status.current {
                seen.push(p);
            }
            if status.done == 1 {
                break;
            }
        }
        seen
    });
    assert_eq!(
        handle
            .enqueue("m1.mp4", bytes.len() as u64)
            .await
            .expect("enqueue"),
        Enqueued::Added
    );
    let status = wait_status(&handle, Duration::from_secs(30), "upload done", |s| {
        s.done == 1
    })
    .await;
    let seen = tokio::time::timeout(Duration::from_secs(5), seen)
        .await
        .expect("watcher ends")
        .expect("watcher");

    let total = bytes.len() as u64;
    assert!(
        seen.iter()
            .any(|p| p.phase == Phase::Uploading && p.bytes_done > 0 && p.bytes_done < total),
        "no progress mid-way: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|p| p.bytes_done == total && p.bytes_total == total),
        "{seen:?}"
    );
    assert!(seen.iter().any(|p| p.rate_bps > 0), "no rate: {seen:?}");
    let last = status.last_done.expect("last done");
    assert_eq!(
        (last.name.as_str(), last.bytes, last.verified.as_str()),
        ("m1.mp4", total, "size")
    );
    assert_eq!(status.activity, Activity::Idle);
    assert_eq!(status.pending, 0);
    assert!(status.last_error.is_none(), "{:?}", status.last_error);

    assert_eq!(
        std::fs::read(dirs.remote_file("m1.mp4")).expect("remote file"),
        bytes
    );
    assert_eq!(
        dirs.remote_names(),
        ["m1.mp4"],
        "no partial name left behind"
    );
    let done = next_done(&handle, &mut done_rx).await;
    assert_eq!((done.name.as_str(), done.size), ("m1.mp4", total));
    let entry = &handle.queue().await.expect("queue")[0];
    assert_eq!(entry.state, EntryState::Done);
    assert_eq!(entry.verified.as_deref(), Some("size"));
    assert_eq!(
        handle.enqueue("m1.mp4", total).await.expect("again"),
        Enqueued::AlreadyUploaded
    );
    handle.shutdown().await;
    assert_eq!(handle.status().activity, Activity::Stopped);
}

/// A backend with hashes (rclone's local backend): the upload is checked by MD5 too, and an
/// rclone.conf that others could read is made private.
#[tokio::test]
async fn verifies_the_hash_where_the_backend_has_one() {
    use std::os::unix::fs::PermissionsExt;
    let dirs = Dirs::new();
    upload_support::write_rclone_conf(&dirs.conf, "http://127.0.0.1:1");
    std::fs::set_permissions(&dirs.conf, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let target = dirs.tmp.path().join("disk-remote");
    let bytes = dirs.memory("h.mp4", MIB + 17, 2);
    let remote = format!("disk:{}", target.display());
    let (handle, mut done_rx) = start(&dirs, &config(&dirs, &remote));
    handle
        .enqueue("h.mp4", bytes.len() as u64)
        .await
        .expect("enqueue");
    let done = next_done(&handle, &mut done_rx).await;
    assert_eq!(done.verified, "size+md5");
    assert_eq!(
        std::fs::read(target.join("h.mp4")).expect("uploaded"),
        bytes
    );
    assert!(!target.join("h.mp4.partial").exists());
    let mode = std::fs::metadata(&dirs.conf)
        .expect("conf")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_dying_mid_upload_is_retried_and_completed_once() {
    let dirs = Dirs::new();
    let mut server = WebDav::start(&dirs.served);
    upload_support::write_rclone_conf(&dirs.conf, &server.url());
    let bytes = dirs.memory("big.mp4", 64 * MIB, 3);
    let config = UploadConfig {
        bwlimit: "16M".into(),
        ..config(&dirs, "dav:memories")
    };
    let (handle, mut done_rx) = start(&dirs, &config);
    handle
        .enqueue("big.mp4", bytes.len() as u64)
        .await
        .expect("enqueue");

    wait_status(&handle, Duration::from_secs(15), "bytes on the wire", |s| {
        s.current
            .as_ref()
            .is_some_and(|p| p.phase == Phase::Uploading && p.bytes_done > 0)
    })
    .await;
    server.stop();
    let failed = wait_status(&handle, Duration::from_secs(30), "the failure", |s| {
        s.failed == 1
    })
    .await;
    let error = failed.last_error.expect("error recorded");
    assert!(error.contains("big.mp4"), "{error}");
    let entry = handle.queue().await.expect("queue").remove(0);
    assert_eq!(
        (entry.state, entry.attempts),
        (EntryState::FailedWaiting, 1)
    );
    assert!(entry.next_try_unix_ms.is_some() && entry.last_error.is_some());

    server.restart();
    let status = wait_status(&handle, Duration::from_secs(30), "the retry", |s| {
        s.done == 1
    })
    .await;
    assert_eq!(status.failed, 0);
    assert_eq!(
        std::fs::read(dirs.remote_file("big.mp4")).expect("remote file"),
        bytes
    );
    assert_eq!(dirs.remote_names(), ["big.mp4"], "one copy, no partial");
    assert_eq!(next_done(&handle, &mut done_rx).await.name, "big.mp4");
    assert!(done_rx.try_recv().is_err(), "completed once");
}

/// The process dies mid-upload (the runtime is dropped: tasks vanish, rclone is killed): the
/// queue on disk says `uploading`, and the next uploader finishes the job with one clean copy.
#[test]
fn crash_mid_upload_resumes_without_duplicates() {
    let dirs = Dirs::new();
    let server = WebDav::start(&dirs.served);
    upload_support::write_rclone_conf(&dirs.conf, &server.url());
    let bytes = dirs.memory("c.mp4", 16 * MIB, 4);
    let slow = UploadConfig {
        bwlimit: "4M".into(),
        ..config(&dirs, "dav:memories")
    };

    let first = tokio::runtime::Runtime::new().expect("runtime");
    let handle = first.block_on(async {
        let (handle, _rx) = start(&dirs, &slow);
        handle
            .enqueue("c.mp4", bytes.len() as u64)
            .await
            .expect("enqueue");
        wait_status(&handle, Duration::from_secs(15), "bytes on the wire", |s| {
            s.current
                .as_ref()
                .is_some_and(|p| p.phase == Phase::Uploading && p.bytes_done > 0)
        })
        .await;
        handle
    });
    // The crash: the runtime goes with the worker mid-transfer, while a handle still exists (a
    // dropped last handle would be a clean stop instead).
    drop(first);
    drop(handle);
    let on_disk = std::fs::read_to_string(dirs.state.join(QUEUE_FILE)).expect("queue file");
    assert!(on_disk.contains("\"uploading\""), "{on_disk}");
    assert!(
        std::fs::read(dirs.remote_file("c.mp4")).is_err(),
        "nothing under the final name yet"
    );

    let second = tokio::runtime::Runtime::new().expect("runtime");
    second.block_on(async {
        let (handle, mut done_rx) = start(&dirs, &config(&dirs, "dav:memories"));
        let done = next_done_within(&handle, &mut done_rx, Duration::from_secs(30)).await;
        assert_eq!(done.name, "c.mp4");
        assert_eq!(handle.status().done, 1);
    });
    assert_eq!(
        std::fs::read(dirs.remote_file("c.mp4")).expect("remote"),
        bytes
    );
    assert_eq!(dirs.remote_names(), ["c.mp4"]);
}

/// A crash after the upload but before "done" was saved: the remote already has the verified
/// file, so the restarted uploader records it without sending it again (the served file's
/// modification time would change on a second PUT).
#[tokio::test]
async fn crash_after_upload_before_saving_done_does_not_resend() {
    let dirs = Dirs::new();
    let bytes = dirs.memory("d.mp4", MIB, 5);
    std::fs::create_dir_all(dirs.served.join("memories")).expect("dir");
    std::fs::write(dirs.remote_file("d.mp4"), &bytes).expect("already uploaded");
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(dirs.remote_file("d.mp4"))
        .and_then(|f| f.set_modified(old))
        .expect("set mtime");
    std::fs::create_dir_all(&dirs.state).expect("state dir");
    let queue = format!(
        r#"{{"version":1,"entries":[{{"name":"d.mp4","size":{},"state":"uploading","attempts":0,
        "next_try_unix_ms":null,"last_error":null,"enqueued_unix_ms":1,"done_unix_ms":null,
        "verified":null}}]}}"#,
        bytes.len()
    );
    std::fs::write(dirs.state.join(QUEUE_FILE), queue).expect("queue");
    let server = WebDav::start(&dirs.served);
    upload_support::write_rclone_conf(&dirs.conf, &server.url());

    let (handle, mut done_rx) = start(&dirs, &config(&dirs, "dav:memories"));
    let done = next_done(&handle, &mut done_rx).await;
    assert_eq!(done.verified, "size,found");
    let mtime = std::fs::metadata(dirs.remote_file("d.mp4"))
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(mtime, old, "the remote file was written again");
    assert_eq!(
        handle.queue().await.expect("queue")[0].state,
        EntryState::Done
    );
}

/// A confirmed memory is never uploaded again, even if the remote copy disappears and the
/// uploader restarts, is reconciled, is asked again and the button is pressed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn done_is_never_uploaded_again_after_restart() {
    let dirs = Dirs::new();
    let server = WebDav::start(&dirs.served);
    upload_support::write_rclone_conf(&dirs.conf, &server.url());
    let bytes = dirs.memory("e.mp4", MIB, 6);
    let size = bytes.len() as u64;
    let (handle, mut done_rx) = start(&dirs, &config(&dirs, "dav:memories"));
    handle.enqueue("e.mp4", size).await.expect("enqueue");
    next_done(&handle, &mut done_rx).await;
    handle.shutdown().await;

    let out = rclone(&dirs.conf, &["deletefile", "dav:memories/e.mp4"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dirs.remote_names().is_empty());

    let (handle, mut done_rx) = start(&dirs, &config(&dirs, "dav:memories"));
    let report = handle
        .reconcile(vec![("e.mp4".into(), size)])
        .await
        .expect("reconcile");
    assert_eq!((report.added, report.dropped), (0, 0));
    assert_eq!(
        handle.enqueue("e.mp4", size).await.expect("enqueue"),
        Enqueued::AlreadyUploaded
    );
    handle.upload_now().await.expect("button");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(dirs.remote_names().is_empty(), "uploaded a second time");
    assert!(done_rx.try_recv().is_err());
    let status = handle.status();
    assert_eq!(
        (status.done, status.pending, status.activity),
        (1, 0, Activity::Idle)
    );
}
