//! The web API of a running daemon, spoken to as a phone would: plain HTTP/1.1 on 127.0.0.1, one
//! request per connection (`Connection: close`), every read bounded by a timeout. Bodies are
//! bytes, so a segment from `/hls/segment/N.ts` arrives intact.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Longest wait for an answer.
const READ_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest answer read (a few segments of the tests' small video).
const MAX_ANSWER: u64 = 64 << 20;

/// One answer.
pub struct Answer {
    pub status: u16,
    /// Status line and headers.
    pub head: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }

    /// The JSON body of a 200.
    pub fn ok(&self) -> Value {
        assert_eq!(self.status, 200, "{}\n{}", self.head, self.text());
        self.json()
    }
}

/// A free TCP port on 127.0.0.1 for the daemon's `web.listen`.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One request with the `X-Moment: 1` header of the web app and, if given, the session cookie
/// (`moment_session=...`).
pub fn request(port: u16, method: &str, path: &str, cookie: Option<&str>, body: &str) -> Answer {
    try_request(port, method, path, cookie, body)
        .unwrap_or_else(|e| panic!("{method} {path} on port {port}: {e}"))
}

/// [`request`], with connection errors returned (a test that floods the server expects some).
pub fn try_request(
    port: u16,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: &str,
) -> std::io::Result<Answer> {
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nX-Moment: 1\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n{cookie}\r\n",
        body.len()
    );
    exchange(port, &head, body.as_bytes(), false)
}

/// Sends `head` (request line and headers, blank line included) and `body`, then, with
/// `hang_up`, closes the sending side as a client that went away; reads the whole answer (status
/// 0 if there was none).
pub fn exchange(port: u16, head: &str, body: &[u8], hang_up: bool) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(READ_TIMEOUT))?;
    stream.write_all(head.as_bytes())?;
    // A server may answer (and close) before taking the whole body: that answer still counts.
    let _ = stream.write_all(body);
    if hang_up {
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
    let mut answer = Vec::new();
    stream.take(MAX_ANSWER).read_to_end(&mut answer)?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(answer.len());
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let body = answer.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked { dechunk(&body) } else { body };
    Ok(Answer { status, head, body })
}

/// (status, head, body as text), for the tests that only read JSON.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    let answer = request(port, method, path, cookie, body);
    let text = answer.text();
    (answer.status, answer.head, text)
}

/// [`http`], with connection errors returned.
pub fn try_http(
    port: u16,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: &str,
) -> std::io::Result<(u16, String, String)> {
    let answer = try_request(port, method, path, cookie, body)?;
    let text = answer.text();
    Ok((answer.status, answer.head, text))
}

/// Logs in; the cookie to send back (`moment_session=...`).
pub fn login(port: u16, password: &str) -> String {
    let body = format!("{{\"password\":{password:?}}}");
    let answer = request(port, "POST", "/api/login", None, &body);
    assert_eq!(answer.status, 200, "{}", answer.head);
    answer
        .head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string()
}

/// A chunked body's data (bounded by the body's own length).
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        let start = eol + 2;
        if size == 0 || start + size > body.len() {
            break;
        }
        data.extend_from_slice(&body[start..start + size]);
        body = body.get(start + size + 2..).unwrap_or_default();
    }
    data
}

/// The repository's root, where `web/` (the Playwright scenarios) lives.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether Debian's Chromium and playwright-core are installed for a browser scenario; without
/// them the test is skipped, except under CI, where it fails.
pub fn have_browser(test: &str) -> bool {
    let ok = repo_root()
        .join("web/node_modules/playwright-core")
        .is_dir()
        && std::path::Path::new("/usr/bin/chromium").exists();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium or playwright-core missing: run ci/install-deps.sh"
        );
        eprintln!("SKIPPED {test}: chromium or playwright-core missing");
    }
    ok
}

/// Where the Playwright scenarios leave their screenshots.
pub fn browser_artifacts() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-artifacts")
}

/// Runs a Playwright scenario of `web/tests/` that prints one JSON line (`{"ok": ...}`) with
/// `args` and `--artifacts`, within `limit`; prints its output and returns the JSON, or panics
/// with its output and `context()` (the daemon's log by then) when it did not end with
/// `"ok": true`.
pub fn run_scenario(
    script: &str,
    args: &[&str],
    limit: Duration,
    context: impl FnOnce() -> String,
) -> Value {
    let artifacts = browser_artifacts();
    let artifacts = artifacts.to_str().expect("a UTF-8 target directory");
    let child = std::process::Command::new("node")
        .current_dir(repo_root().join("web"))
        .arg(script)
        .args(args)
        .args(["--artifacts", artifacts])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node");
    let run = crate::support::finish_within(child, &format!("node {script}"), limit);
    let result: Value = serde_json::from_str(run.text().trim()).unwrap_or(Value::Null);
    println!("{}\n{}\nscreenshots: {artifacts}", run.text(), run.stderr);
    assert!(
        run.code == Some(0) && result["ok"] == true,
        "{script} failed:\n{}\n{}\n{}",
        run.text(),
        run.stderr,
        context()
    );
    result
}
