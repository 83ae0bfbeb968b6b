//! The daemon's local control socket: `moment-recorder press save --hold 6s` and `press upload`
//! reach the running daemon here and become the same button events the GPIO pins produce, so the
//! recorder can be used (and tested end to end) without hardware. A Unix socket, not TCP: only
//! local users with permission on the socket file can press buttons, with no password to manage.
//! One JSON request line in, one JSON response line out, everything bounded.

use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

/// Longest request line accepted.
pub const MAX_REQUEST_BYTES: usize = 4096;
/// A client gets this long to send its request and read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Clients served at once; more wait for a slot (the listener's backlog bounds the rest).
const MAX_CLIENTS: usize = 8;
/// Longest hold a press may ask for (the stuck-button cap is shorter anyway).
pub const MAX_HOLD: Duration = Duration::from_secs(120);

/// Which button.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ButtonName {
    Save,
    Upload,
    /// Both buttons together (held 10 s: network reset).
    Both,
}

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "lowercase", deny_unknown_fields)]
pub enum Request {
    /// Press `button` now and release it after `hold_ms`.
    Press { button: ButtonName, hold_ms: u64 },
    /// The daemon's status as JSON.
    Status,
    /// A time from a person (the phone), taken only while the clock is not synchronised.
    #[serde(rename = "set-time")]
    SetTime { utc_us: i64 },
    /// A disk to copy memories to (`attach`), or gone (`detach`), as if the kernel had said so:
    /// for a disk that is not on USB, or for a test.
    Usb { action: UsbAction, device: String },
}

/// What `usb` says about the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum UsbAction {
    Attach,
    Detach,
}

/// The answer: `ok` and either a result or an error message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub result: serde_json::Value,
}

impl Response {
    pub fn ok(result: serde_json::Value) -> Response {
        Response {
            ok: true,
            error: None,
            result,
        }
    }

    pub fn error(message: impl Into<String>) -> Response {
        Response {
            ok: false,
            error: Some(message.into()),
            result: serde_json::Value::Null,
        }
    }
}

/// What the daemon does with a request.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: Request) -> Response;
}

/// Binds the socket (replacing a stale one from a crashed run) and serves until the task is
/// dropped. The socket is made group-writable only.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

/// Accepts clients forever, each on its own task, at most `MAX_CLIENTS` at once.
pub async fn serve(listener: UnixListener, handler: Arc<dyn Handler>) {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "control socket: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = tokio::time::timeout(CLIENT_TIMEOUT, serve_one(stream, &*handler)).await
            {
                tracing::debug!(error = %e, "control socket: client timed out");
            }
        });
    }
}

async fn serve_one(stream: UnixStream, handler: &dyn Handler) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = Vec::new();
    let mut reader = BufReader::new(read).take(MAX_REQUEST_BYTES as u64 + 1);
    reader.read_until(b'\n', &mut line).await?;
    let response = if line.len() > MAX_REQUEST_BYTES {
        Response::error(format!("request longer than {MAX_REQUEST_BYTES} bytes"))
    } else {
        match serde_json::from_slice::<Request>(&line) {
            Ok(request) => validate(&request).unwrap_or_else(|| handler.handle(request)),
            Err(e) => Response::error(format!("malformed request: {e}")),
        }
    };
    let mut out = serde_json::to_vec(&response).map_err(io::Error::other)?;
    out.push(b'\n');
    write.write_all(&out).await?;
    write.shutdown().await
}

/// An error response for a request no handler should see.
fn validate(request: &Request) -> Option<Response> {
    match request {
        Request::Press { hold_ms, .. } if Duration::from_millis(*hold_ms) > MAX_HOLD => Some(
            Response::error(format!("hold_ms must be at most {}", MAX_HOLD.as_millis())),
        ),
        Request::Usb { device, .. } if crate::usb::disk_name(device).is_none() => {
            Some(Response::error(format!(
                "{device:?} is not a disk such as /dev/sda (a whole disk, by its kernel name)"
            )))
        }
        _ => None,
    }
}

/// Sends one request to the daemon at `path` and waits for its answer (blocking, bounded).
pub fn request(path: &Path, request: &Request) -> io::Result<Response> {
    use std::io::{BufRead, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot reach the recorder at {}: {e} (is `moment-recorder run` running, and \
                 is this the socket its config names under [control]?)",
                path.display()
            ),
        )
    })?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut line = serde_json::to_vec(request).map_err(io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut answer = Vec::new();
    std::io::BufReader::new(std::io::Read::take(&stream, 1 << 20))
        .read_until(b'\n', &mut answer)?;
    serde_json::from_slice(&answer).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the recorder answered something unreadable: {e}"),
        )
    })
}

/// The default socket path, for the CLI.
pub fn default_socket() -> PathBuf {
    PathBuf::from("/run/moment-recorder/control.sock")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records what it was asked and answers with the request echoed.
    #[derive(Default)]
    struct Recorder {
        seen: Mutex<Vec<Request>>,
    }

    impl Handler for Recorder {
        fn handle(&self, request: Request) -> Response {
            self.seen.lock().unwrap().push(request.clone());
            Response::ok(serde_json::to_value(request).unwrap())
        }
    }

    fn raw(path: &Path, bytes: &[u8]) -> Response {
        use std::io::{Read, Write};
        let mut stream = std::os::unix::net::UnixStream::connect(path).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = stream.write_all(bytes);
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        serde_json::from_str(&answer).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn presses_reach_the_handler_and_bad_requests_get_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run").join("control.sock");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"stale").unwrap();
        let listener = bind(&path).unwrap();
        let handler = Arc::new(Recorder::default());
        let server = tokio::spawn(serve(listener, handler.clone()));
        let client_path = path.clone();
        let answers = tokio::task::spawn_blocking(move || {
            let press = Request::Press {
                button: ButtonName::Save,
                hold_ms: 6000,
            };
            let ok = request(&client_path, &press).unwrap();
            let malformed = raw(&client_path, b"{\"request\":\"explode\"}\n");
            let long = raw(&client_path, &vec![b'x'; MAX_REQUEST_BYTES + 10]);
            let too_long_hold = raw(
                &client_path,
                b"{\"request\":\"press\",\"button\":\"save\",\"hold_ms\":99999999}\n",
            );
            (ok, malformed, long, too_long_hold)
        })
        .await
        .unwrap();
        server.abort();
        assert!(answers.0.ok, "{:?}", answers.0);
        assert_eq!(answers.0.result["button"], "save");
        assert!(answers.1.error.unwrap().contains("malformed"));
        assert!(answers.2.error.unwrap().contains("longer than"));
        assert!(answers.3.error.unwrap().contains("hold_ms"));
        let seen = handler.seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "only the valid press reached the daemon");
    }

    #[test]
    fn no_daemon_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = request(&dir.path().join("none.sock"), &Request::Status).unwrap_err();
        assert!(err.to_string().contains("moment-recorder run"), "{err}");
    }
}
