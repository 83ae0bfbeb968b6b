//! A deliberately tiny HTTP/1.1 client for the GoPro's control requests. A camera is driven by a
//! handful of GETs whose answer matters only by its status line, so a full HTTP stack (and its
//! dependency tree and Rust-version churn) would buy nothing here. Every step runs against one
//! deadline and the answer is read only up to a fixed size, so a half-dead camera can hold a caller
//! for at most the timeout it was given, and a confused one cannot make us buffer without end.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The most we read of an answer: status line and headers of a GoPro reply fit many times over.
pub(super) const MAX_HEAD: usize = 16 * 1024;
/// How much of the body is kept for error messages (cameras explain a refusal in JSON).
const BODY_SNIPPET: usize = 200;

/// What the camera answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Response {
    pub status: u16,
    pub reason: String,
    /// The start of the body, as far as it arrived with the headers (lossy UTF-8, trimmed).
    pub body: String,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// "500 Internal Server Error" plus the body's start when there is one.
    pub fn summary(&self) -> String {
        let mut s = format!("{} {}", self.status, self.reason);
        if !self.body.is_empty() {
            s.push_str(&format!(" ({})", self.body));
        }
        s
    }
}

/// `GET path` from `addr`, all of it (connect, send, answer) within `timeout`.
pub(super) fn get(addr: SocketAddr, path: &str, timeout: Duration) -> io::Result<Response> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    // Small requests: sending them at once matters more than coalescing.
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    stream.write_all(request(addr, path).as_bytes())?;

    let mut answer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    // Each turn either adds at least one byte (at most MAX_HEAD in all) or ends the loop; the
    // deadline bounds the waiting.
    loop {
        if head_end(&answer).is_some() {
            break;
        }
        if answer.len() >= MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("answer headers longer than {MAX_HEAD} bytes"),
            ));
        }
        stream.set_read_timeout(Some(remaining(deadline)?))?;
        let room = chunk.len().min(MAX_HEAD - answer.len());
        match stream.read(&mut chunk[..room]) {
            // Closed: whatever arrived is the whole answer (an HTTP/1.0-style reply).
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => return Err(no_answer(timeout)),
            Err(e) => return Err(e),
        }
    }
    parse(&answer)
}

fn request(addr: SocketAddr, path: &str) -> String {
    // Host is mandatory in HTTP/1.1; the port is left out when it is the default, as browsers do.
    let host = if addr.port() == 80 {
        match addr {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        }
    } else {
        addr.to_string()
    };
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: moment-recorder\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n"
    )
}

fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    // A zero timeout means "block forever" to the socket calls: out of time is an error instead.
    if left.is_zero() {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "out of time"));
    }
    Ok(left)
}

fn no_answer(timeout: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no answer within {timeout:?}"),
    )
}

pub(super) fn is_timeout(e: &io::Error) -> bool {
    // Socket timeouts surface as EAGAIN (WouldBlock) on Linux and TimedOut elsewhere.
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Index just past the blank line ending the headers (`\r\n\r\n`, or bare `\n\n` from sloppy servers).
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn parse(answer: &[u8]) -> io::Result<Response> {
    let line_end = answer
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(answer.len());
    let line = String::from_utf8_lossy(&answer[..line_end]);
    let (status, reason) = parse_status_line(line.trim_end()).ok_or_else(|| {
        let shown: String = line.chars().take(60).collect();
        io::Error::new(
            io::ErrorKind::InvalidData,
            if answer.is_empty() {
                "connection closed without an answer".to_string()
            } else {
                format!("not an HTTP answer: {shown:?}")
            },
        )
    })?;
    let body = head_end(answer).map_or(&[][..], |end| &answer[end..]);
    let body: String = String::from_utf8_lossy(body)
        .trim()
        .chars()
        .take(BODY_SNIPPET)
        .collect();
    Ok(Response {
        status,
        reason,
        body,
    })
}

/// `HTTP/1.1 200 OK` -> (200, "OK").
fn parse_status_line(line: &str) -> Option<(u16, String)> {
    let rest = line.strip_prefix("HTTP/")?;
    let (_version, rest) = rest.split_once(' ')?;
    let rest = rest.trim_start();
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((code.parse().ok()?, reason.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status_line("HTTP/1.1 200 OK"),
            Some((200, "OK".into()))
        );
        assert_eq!(
            parse_status_line("HTTP/1.0 500 Internal Server Error"),
            Some((500, "Internal Server Error".into()))
        );
        assert_eq!(
            parse_status_line("HTTP/1.1 204"),
            Some((204, String::new()))
        );
        assert_eq!(parse_status_line("SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status_line("HTTP/1.1 2x0 OK"), None);
    }

    #[test]
    fn answers() {
        let r = parse(b"HTTP/1.1 500 Oops\r\nContent-Length: 13\r\n\r\n{\"error\": 1}\n").unwrap();
        assert_eq!(r.status, 500);
        assert!(!r.is_success());
        assert_eq!(r.summary(), "500 Oops ({\"error\": 1})");
        let r = parse(b"HTTP/1.1 200 OK\n\n").unwrap();
        assert!(r.is_success());
        assert!(parse(b"").is_err());
        assert!(parse(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn host_header() {
        let r = request("10.5.5.9:80".parse().unwrap(), "/x");
        assert!(r.starts_with("GET /x HTTP/1.1\r\nHost: 10.5.5.9\r\n"));
        let r = request("[::1]:8080".parse().unwrap(), "/y");
        assert!(r.contains("Host: [::1]:8080\r\n"));
        assert!(r.ends_with("\r\n\r\n"));
    }
}
