//! The settings of a GoPro source and what follows from them alone: the requests for each protocol
//! and mode, the addresses, and the limits checked once when the source is made. Kept apart from
//! the session so what a configuration *means* can be read (and tested) without any sockets.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Where a GoPro is on its own Wi-Fi network (both protocols).
pub const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 5, 5, 9));
/// The UDP port the stream arrives on, and the legacy camera's keep-alive port.
pub const STREAM_PORT: u16 = 8554;
/// Keep-alive intervals accepted by `GoPro::new`.
pub const KEEPALIVE_RANGE: (Duration, Duration) =
    (Duration::from_millis(10), Duration::from_secs(60));
/// HTTP timeouts accepted by `GoPro::new`.
pub const HTTP_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_millis(10), Duration::from_secs(60));

/// How the camera is asked to stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// gpStream, HERO4 to HERO7: HTTP start on port 80, UDP keep-alives.
    Legacy,
    /// Open GoPro, HERO9 and later: HTTP on port 8080, HTTP keep-alives.
    OpenGoPro,
}

/// Which Open GoPro stream (ignored by `Protocol::Legacy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Webcam mode: the camera's full-quality live stream (`/gopro/webcam/start`).
    #[default]
    Webcam,
    /// The preview stream (`/gopro/camera/stream/start`): lower quality, keeps the camera's own
    /// recording controls available.
    Preview,
}

/// Settings of a GoPro source. Start from `GoProConfig::legacy()` or `GoProConfig::open_gopro()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoProConfig {
    pub protocol: Protocol,
    /// The camera: 10.5.5.9 on its Wi-Fi, 172.2X.1YZ.51 over USB (Open GoPro). An address, not a
    /// name: name lookups cannot be bounded in time, and cameras have fixed addresses.
    pub host: IpAddr,
    /// The camera's HTTP port: 80 (legacy) or 8080 (Open GoPro).
    pub http_port: u16,
    /// Our UDP port the stream arrives on (8554). 0 picks a free one; Open GoPro is then told the
    /// port in the start request, the legacy camera learns it from the keep-alives.
    pub udp_port: u16,
    /// The camera's UDP port the legacy keep-alives go to (8554).
    pub camera_udp_port: u16,
    /// Our address to receive on: 0.0.0.0 (every interface) unless pinned.
    pub local_bind: IpAddr,
    /// Time between keep-alives (2.5 s; cameras give up after a few seconds without one).
    pub keepalive: Duration,
    /// Open GoPro only: webcam or preview stream.
    pub mode: Mode,
    /// Bound on the start request, connect to answer (5 s: entering webcam mode takes a moment).
    pub http_timeout: Duration,
}

impl GoProConfig {
    /// A HERO4 to HERO7 on its own Wi-Fi.
    pub fn legacy() -> Self {
        GoProConfig {
            protocol: Protocol::Legacy,
            host: DEFAULT_HOST,
            http_port: 80,
            udp_port: STREAM_PORT,
            camera_udp_port: STREAM_PORT,
            local_bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            keepalive: Duration::from_millis(2500),
            mode: Mode::Webcam,
            http_timeout: Duration::from_secs(5),
        }
    }

    /// A HERO9 or later on its own Wi-Fi, streaming `mode`.
    pub fn open_gopro(mode: Mode) -> Self {
        GoProConfig {
            protocol: Protocol::OpenGoPro,
            http_port: 8080,
            mode,
            ..GoProConfig::legacy()
        }
    }

    /// The request that starts the stream, for a stream arriving on `local_port`.
    pub fn start_path(&self, local_port: u16) -> String {
        let base = match (self.protocol, self.mode) {
            (Protocol::Legacy, _) => return "/gp/gpControl/execute?p1=gpStream&c1=restart".into(),
            (Protocol::OpenGoPro, Mode::Webcam) => "/gopro/webcam/start",
            (Protocol::OpenGoPro, Mode::Preview) => "/gopro/camera/stream/start",
        };
        // The port parameter only when needed: older firmware may not know it, and 8554 is what
        // every camera uses without it.
        if local_port == STREAM_PORT {
            base.to_string()
        } else {
            format!("{base}?port={local_port}")
        }
    }

    /// The request that stops the stream.
    pub fn stop_path(&self) -> &'static str {
        match (self.protocol, self.mode) {
            (Protocol::Legacy, _) => "/gp/gpControl/execute?p1=gpStream&c1=stop",
            (Protocol::OpenGoPro, Mode::Webcam) => "/gopro/webcam/stop",
            (Protocol::OpenGoPro, Mode::Preview) => "/gopro/camera/stream/stop",
        }
    }

    /// The Open GoPro keep-alive request.
    pub const KEEPALIVE_PATH: &'static str = "/gopro/camera/keep_alive";

    /// `http://host:port/path`, for messages.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr())
    }

    pub(super) fn http_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.http_port)
    }

    /// The address to bind: `local_bind`, but an unspecified address follows the camera's family
    /// (0.0.0.0 cannot reach an IPv6 camera).
    pub(super) fn bind_addr(&self) -> SocketAddr {
        let ip = match (self.local_bind, self.host) {
            (ip, IpAddr::V6(_)) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            (ip, IpAddr::V4(_)) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            (ip, _) => ip,
        };
        SocketAddr::new(ip, self.udp_port)
    }

    /// Checks what would otherwise fail obscurely on every restart.
    pub fn validate(&self) -> Result<(), String> {
        let in_range = |d: Duration, (lo, hi): (Duration, Duration)| lo <= d && d <= hi;
        if !in_range(self.keepalive, KEEPALIVE_RANGE) {
            return Err(format!(
                "gopro keep-alive interval {:?} is out of range: choose between {:?} and {:?}",
                self.keepalive, KEEPALIVE_RANGE.0, KEEPALIVE_RANGE.1
            ));
        }
        if !in_range(self.http_timeout, HTTP_TIMEOUT_RANGE) {
            return Err(format!(
                "gopro HTTP timeout {:?} is out of range: choose between {:?} and {:?}",
                self.http_timeout, HTTP_TIMEOUT_RANGE.0, HTTP_TIMEOUT_RANGE.1
            ));
        }
        if self.host.is_unspecified() || self.host.is_multicast() {
            return Err(format!(
                "gopro host {} is not a camera's address (10.5.5.9 on its Wi-Fi)",
                self.host
            ));
        }
        if self.http_port == 0 || (self.protocol == Protocol::Legacy && self.camera_udp_port == 0) {
            return Err("gopro HTTP and camera UDP ports must not be 0".into());
        }
        if self.local_bind.is_ipv4() != self.host.is_ipv4() && !self.local_bind.is_unspecified() {
            return Err(format!(
                "gopro local address {} cannot reach camera {}: use addresses of one family",
                self.local_bind, self.host
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Legacy => "gpStream",
            Protocol::OpenGoPro => "Open GoPro",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        let legacy = GoProConfig::legacy();
        assert_eq!(
            legacy.url(&legacy.start_path(STREAM_PORT)),
            "http://10.5.5.9:80/gp/gpControl/execute?p1=gpStream&c1=restart"
        );
        assert_eq!(
            legacy.start_path(4000),
            "/gp/gpControl/execute?p1=gpStream&c1=restart"
        );
        let webcam = GoProConfig::open_gopro(Mode::Webcam);
        assert_eq!(webcam.http_port, 8080);
        assert_eq!(webcam.start_path(STREAM_PORT), "/gopro/webcam/start");
        assert_eq!(webcam.start_path(4000), "/gopro/webcam/start?port=4000");
        assert_eq!(webcam.stop_path(), "/gopro/webcam/stop");
        let preview = GoProConfig::open_gopro(Mode::Preview);
        assert_eq!(
            preview.start_path(STREAM_PORT),
            "/gopro/camera/stream/start"
        );
        assert_eq!(preview.stop_path(), "/gopro/camera/stream/stop");
    }

    #[test]
    fn validation() {
        assert!(GoProConfig::legacy().validate().is_ok());
        let mut c = GoProConfig::legacy();
        c.keepalive = Duration::ZERO;
        assert!(c.validate().is_err());
        let mut c = GoProConfig::open_gopro(Mode::Webcam);
        c.http_timeout = Duration::from_secs(3600);
        assert!(c.validate().is_err());
        let mut c = GoProConfig::legacy();
        c.host = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        assert!(c.validate().is_err());
        let mut c = GoProConfig::legacy();
        c.host = "fe80::1".parse().unwrap();
        assert_eq!(c.bind_addr(), "[::]:8554".parse().unwrap());
        c.local_bind = "127.0.0.1".parse().unwrap();
        assert!(c.validate().is_err());
    }
}
