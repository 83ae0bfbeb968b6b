//! GoPro cameras as a capture source. A GoPro does not write to a pipe: asked over HTTP, it streams
//! MPEG-TS in UDP datagrams, and only for as long as the client keeps saying it is still there.
//! This module speaks the two ways cameras do that, behind the same bounded `Session::read` as
//! every other source, so the supervisor treats a camera that walked out of Wi-Fi range like any
//! other silent source:
//!
//! - legacy gpStream (HERO4 to HERO7): `GET /gp/gpControl/execute?p1=gpStream&c1=restart` on port
//!   80, then the datagram `_GPHD_:0:0:2:0.000000` to the camera's UDP port 8554 every 2.5 s; the
//!   camera streams to the address those come from.
//! - Open GoPro (HERO9 and later): `GET /gopro/webcam/start` (or `/gopro/camera/stream/start` for
//!   the preview stream) on port 8080, `GET /gopro/camera/keep_alive` every 2.5 s; the camera
//!   streams to the requesting host's UDP port 8554 (or the `port` asked for).
//!
//! Dropping a session stops the keep-alives and sends the stop request; a camera that misses it
//! stops on its own once the keep-alives are gone.

mod config;
mod http;
mod keepalive;
mod rtp;

pub use config::{
    GoProConfig, Mode, Protocol, DEFAULT_HOST, HTTP_TIMEOUT_RANGE, KEEPALIVE_RANGE, STREAM_PORT,
};

use super::{ReadOutcome, Session, Source};
use keepalive::{Datagrams, HttpKeeper, Tally};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::ops::Range;
use std::time::{Duration, Instant};

/// The legacy keep-alive: command 2 ("keep alive") of the camera's `_GPHD_` UDP protocol.
pub const LEGACY_KEEPALIVE: &[u8] = b"_GPHD_:0:0:2:0.000000";
/// The largest datagram accepted (the UDP maximum); the receive buffer is this big.
pub const MAX_DATAGRAM: usize = 65_535;
/// The most the stop request (sent while dropping a session) and each Open GoPro keep-alive may
/// take: dropping a session must not block for more than a couple of seconds.
const SHORT_TIMEOUT: Duration = Duration::from_secs(1);
/// A UDP send never really blocks, but a bound costs nothing.
const SEND_TIMEOUT: Duration = Duration::from_millis(100);
/// The longest single `read` wait honoured (keeps `Instant + wait` far from overflowing).
const MAX_WAIT: Duration = Duration::from_secs(3600);
/// The shortest socket timeout: zero would mean "block forever".
const MIN_SOCKET_WAIT: Duration = Duration::from_millis(1);

/// A GoPro streaming over UDP; each `open` asks it to stream anew.
pub struct GoPro {
    config: GoProConfig,
}

impl GoPro {
    /// Fails (`InvalidInput`) on settings out of range, so they are reported once, not retried.
    pub fn new(config: GoProConfig) -> io::Result<Self> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(GoPro { config })
    }

    pub fn config(&self) -> &GoProConfig {
        &self.config
    }

    fn what_to_check(&self) -> &'static str {
        match self.config.protocol {
            Protocol::Legacy => {
                "is the recorder connected to the camera's Wi-Fi, and the camera on with its \
                 wireless connection enabled?"
            }
            Protocol::OpenGoPro => {
                "is the recorder connected to the camera (its Wi-Fi access point, or USB), and \
                 the camera on and not asleep?"
            }
        }
    }
}

impl Source for GoPro {
    fn open(&mut self) -> io::Result<Box<dyn Session>> {
        let c = &self.config;
        let name = format!("gopro {}", c.host);
        let bind = c.bind_addr();
        let socket = UdpSocket::bind(bind).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "{name}: cannot receive the stream on UDP {bind}: {e}; is another program \
                     (a player, another recorder) using the port?"
                ),
            )
        })?;
        socket.set_write_timeout(Some(SEND_TIMEOUT))?;
        let local_port = socket.local_addr()?.port();

        let start = c.start_path(local_port);
        let url = c.url(&start);
        let response = http::get(c.http_addr(), &start, c.http_timeout).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "{name}: start request {url} failed: {e}; {}",
                    self.what_to_check()
                ),
            )
        })?;
        if !response.is_success() {
            return Err(io::Error::other(format!(
                "{name}: camera refused the start request {url}: {}; is it busy (recording, in \
                 a menu, updating) or in a mode that cannot stream{}?",
                response.summary(),
                match c.protocol {
                    Protocol::Legacy => ", or a model that needs the Open GoPro protocol",
                    Protocol::OpenGoPro => ", or a model that needs the legacy protocol",
                }
            )));
        }

        // From here on the camera streams: the session's drop tells it to stop, even when setting
        // up the keep-alives fails below.
        let mut session = GoProSession {
            name,
            socket,
            datagram: vec![0; MAX_DATAGRAM].into_boxed_slice(),
            pending: 0..0,
            keepalive: KeepAlive::None,
            stop: Some((c.http_addr(), c.stop_path())),
        };
        session.keepalive = match c.protocol {
            Protocol::Legacy => {
                let to = SocketAddr::new(c.host, c.camera_udp_port);
                let mut d = Datagrams::new(to, LEGACY_KEEPALIVE, c.keepalive);
                // Now rather than at the first read: the camera streams nowhere before it.
                d.tick(&session.socket, Instant::now());
                KeepAlive::Datagrams(d)
            }
            Protocol::OpenGoPro => KeepAlive::Http(HttpKeeper::spawn(
                c.http_addr(),
                GoProConfig::KEEPALIVE_PATH.to_string(),
                c.keepalive,
                c.http_timeout.min(SHORT_TIMEOUT),
            )?),
        };
        Ok(Box::new(session))
    }

    fn describe(&self) -> String {
        let c = &self.config;
        match c.protocol {
            Protocol::Legacy => format!("gopro {} ({})", c.host, c.protocol),
            Protocol::OpenGoPro => {
                let mode = match c.mode {
                    Mode::Webcam => "webcam",
                    Mode::Preview => "preview",
                };
                format!("gopro {} ({} {mode})", c.host, c.protocol)
            }
        }
    }
}

enum KeepAlive {
    /// Only while the session is being set up.
    None,
    Datagrams(Datagrams),
    Http(HttpKeeper),
}

/// One stream from the camera.
struct GoProSession {
    /// "gopro 10.5.5.9", for messages.
    name: String,
    socket: UdpSocket,
    /// The last datagram received.
    datagram: Box<[u8]>,
    /// Its payload bytes not yet handed out (when the caller's buffer was smaller).
    pending: Range<usize>,
    keepalive: KeepAlive,
    /// The camera's HTTP address and stop request, sent on drop.
    stop: Option<(SocketAddr, &'static str)>,
}

impl GoProSession {
    /// Sends a due legacy keep-alive; returns when the next one is due.
    fn keep_alive(&mut self, now: Instant) -> Option<Instant> {
        match &mut self.keepalive {
            KeepAlive::Datagrams(d) => Some(d.tick(&self.socket, now)),
            KeepAlive::Http(_) | KeepAlive::None => None,
        }
    }

    fn take_pending(&mut self, buf: &mut [u8]) -> usize {
        let n = self.pending.len().min(buf.len());
        let from = self.pending.start;
        buf[..n].copy_from_slice(&self.datagram[from..from + n]);
        self.pending.start += n;
        n
    }

    fn tally(&self) -> Tally {
        match &self.keepalive {
            KeepAlive::Datagrams(d) => d.tally(),
            KeepAlive::Http(k) => k.tally(),
            KeepAlive::None => Tally::default(),
        }
    }
}

impl Session for GoProSession {
    fn read(&mut self, buf: &mut [u8], wait: Duration) -> io::Result<ReadOutcome> {
        if buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "read into an empty buffer",
            ));
        }
        let deadline = Instant::now() + wait.min(MAX_WAIT);
        // Each turn waits until the deadline or the next keep-alive, or takes one datagram; it
        // ends at the deadline even if junk datagrams keep arriving.
        loop {
            let now = Instant::now();
            let next_keepalive = self.keep_alive(now);
            if !self.pending.is_empty() {
                return Ok(ReadOutcome::Data(self.take_pending(buf)));
            }
            let until = next_keepalive.map_or(deadline, |k| k.min(deadline));
            let timeout = until.saturating_duration_since(now).max(MIN_SOCKET_WAIT);
            self.socket.set_read_timeout(Some(timeout))?;
            match self.socket.recv_from(&mut self.datagram) {
                Ok((n, _from)) => {
                    // Not filtered by sender: relays and USB setups may send from another address,
                    // and the segmenter resynchronises past anything that is not TS.
                    self.pending = rtp::payload(&self.datagram[..n]);
                    if !self.pending.is_empty() {
                        return Ok(ReadOutcome::Data(self.take_pending(buf)));
                    }
                }
                Err(e) if http::is_timeout(&e) => {}
                // A signal, or an ICMP "port unreachable" echoing a keep-alive sent while the
                // camera restarts its streamer: neither ends the stream.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionRefused
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("{}: receiving the stream failed: {e}", self.name),
                    ))
                }
            }
            if Instant::now() >= deadline {
                return Ok(ReadOutcome::Idle);
            }
        }
    }

    fn end_reason(&mut self) -> Option<String> {
        let t = self.tally();
        (t.failed > 0).then(|| {
            format!(
                "{}: {} of {} keep-alives failed, last: {}",
                self.name,
                t.failed,
                t.sent,
                t.last_error.unwrap_or_default()
            )
        })
    }
}

impl Drop for GoProSession {
    fn drop(&mut self) {
        // Keep-alives first, so none follows the stop request.
        if let KeepAlive::Http(k) = &mut self.keepalive {
            k.shutdown();
        }
        self.keepalive = KeepAlive::None;
        if let Some((addr, path)) = self.stop.take() {
            // Best effort: a camera that misses it stops anyway once keep-alives are gone.
            let _ = http::get(addr, path, SHORT_TIMEOUT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions() {
        let g = GoPro::new(GoProConfig::legacy()).unwrap();
        assert_eq!(g.describe(), "gopro 10.5.5.9 (gpStream)");
        let g = GoPro::new(GoProConfig::open_gopro(Mode::Preview)).unwrap();
        assert_eq!(g.describe(), "gopro 10.5.5.9 (Open GoPro preview)");
    }
}
