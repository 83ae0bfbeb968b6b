//! The web server's accept loop (`web::serve`) on a real TCP port, with short limits so each case
//! takes a second or two: the connection cap, the header-read timeout (slowloris), the idle
//! keep-alive timeout, the stall timeout for a client that stops reading, oversized and malformed
//! request heads, the peer address handed to the handlers, and every connection ending when the
//! server task is aborted.

use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::Router;
use moment_recorder::web::{serve, ServerLimits, MAX_HEADERS, MAX_HEAD_BYTES};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

/// The body of `/big`: far more than the socket buffers hold, so a client that does not read
/// leaves the server waiting to write.
const BIG: usize = 64 << 20;
/// The longest any single wait in these tests may take before the test fails.
const LIMIT: Duration = Duration::from_secs(10);

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route("/big", get(|| async { vec![b'x'; BIG] }))
}

fn limits() -> ServerLimits {
    ServerLimits {
        max_connections: 4,
        header_timeout: Duration::from_secs(1),
        stall_timeout: Duration::from_secs(2),
    }
}

async fn start(limits: ServerLimits) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, tokio::spawn(serve(listener, app(), limits)))
}

/// Sends one keep-alive request and reads its (small) response: its status line and body.
async fn request(stream: &mut TcpStream, path: &str) -> (String, String) {
    let head = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = timeout(LIMIT, stream.read(&mut chunk))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed before the answer: {answer:?}");
        answer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|v| v.trim().parse().ok())
                .expect("a content-length");
            if body.len() >= length {
                let status = head.lines().next().unwrap().to_string();
                return (status, body.to_string());
            }
        }
    }
}

/// Reads until the server closes the connection (end of file or reset); the bytes read and when.
async fn until_closed(stream: &mut TcpStream) -> (usize, Instant) {
    let mut total = 0;
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        match timeout(LIMIT, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (total, Instant::now()),
            Ok(Ok(n)) => total += n,
            Err(_) => panic!("the server kept the connection open for {LIMIT:?}"),
        }
    }
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_at_once() {
    // Idle slots must stay taken however slow the machine is.
    let (addr, server) = start(ServerLimits {
        header_timeout: Duration::from_secs(60),
        ..limits()
    })
    .await;
    let mut open = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // A served request proves the connection holds a slot.
        assert_eq!(request(&mut stream, "/").await.1, "hello");
        open.push(stream);
    }
    let mut fifth = TcpStream::connect(addr).await.unwrap();
    let sent = Instant::now();
    let _ = fifth
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        .await;
    let (bytes, closed) = until_closed(&mut fifth).await;
    assert_eq!(bytes, 0, "no answer over the cap");
    assert!(
        closed - sent < Duration::from_millis(900),
        "closed at once, not by a timeout"
    );
    // A slot freed is a slot taken again.
    drop(open.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = TcpStream::connect(addr).await.unwrap();
    assert_eq!(request(&mut again, "/").await.1, "hello");
    server.abort();
}

#[tokio::test]
async fn a_slow_header_is_cut_at_the_header_timeout() {
    let (addr, server) = start(limits()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n")
        .await
        .unwrap();
    // One header byte every 100 ms would take 5 s for this line: the server must not wait.
    let dribble = async {
        for byte in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n" {
            if stream.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let _ = timeout(LIMIT, dribble).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(4),
        "still writing headers after {elapsed:?}"
    );
    let (_, closed) = until_closed(&mut stream).await;
    let elapsed = closed - started;
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(4)).contains(&elapsed),
        "{elapsed:?}"
    );
    server.abort();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let (addr, server) = start(limits()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    assert_eq!(request(&mut stream, "/").await.1, "hello");
    let idle_from = Instant::now();
    let (bytes, closed) = until_closed(&mut stream).await;
    assert_eq!(bytes, 0);
    let idle = closed - idle_from;
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(4)).contains(&idle),
        "closed after {idle:?} idle"
    );
    server.abort();
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_at_the_stall_timeout() {
    let (addr, server) = start(limits()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /big HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    // Not reading: the server's writes stop moving once the socket buffers are full.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (bytes, _) = until_closed(&mut stream).await;
    assert!(bytes < BIG, "the whole body arrived ({bytes} bytes)");
    // The slot is free again: 4 more connections are served.
    let mut open = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        assert_eq!(request(&mut stream, "/").await.1, "hello");
        open.push(stream);
    }
    server.abort();
}

/// The status line the server answers `raw` with, read until it closes or a second passes.
async fn answer_to(addr: SocketAddr, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(raw).await;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(Ok(n)) = timeout(Duration::from_secs(1), stream.read(&mut chunk)).await {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn oversized_and_malformed_heads_are_refused() {
    let (addr, server) = start(limits()).await;
    let long = format!(
        "GET / HTTP/1.1\r\nHost: test\r\nX-Long: {}\r\n\r\n",
        "a".repeat(MAX_HEAD_BYTES)
    );
    let status = answer_to(addr, long.as_bytes()).await;
    assert!(status.contains(" 431 "), "{status:?}");
    let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: 1\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: test\r\n{many}\r\n");
    assert!(answer_to(addr, many.as_bytes()).await.contains(" 431 "));
    for garbage in [
        &b"\x00\x01\x02 nonsense\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
    ] {
        let status = answer_to(addr, garbage).await;
        assert!(status.is_empty() || status.contains(" 400 "), "{status:?}");
    }
    // And the server goes on.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    assert_eq!(request(&mut stream, "/").await.1, "hello");
    server.abort();
}

#[tokio::test]
async fn handlers_see_the_peer_address() {
    let (addr, server) = start(limits()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let local = stream.local_addr().unwrap();
    let (status, body) = request(&mut stream, "/peer").await;
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(body, local.to_string());
    server.abort();
}

#[tokio::test]
async fn aborting_the_server_closes_every_connection() {
    let (addr, server) = start(ServerLimits {
        header_timeout: Duration::from_secs(60),
        stall_timeout: Duration::from_secs(60),
        ..limits()
    })
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    assert_eq!(request(&mut stream, "/").await.1, "hello");
    server.abort();
    assert!(server.await.unwrap_err().is_cancelled());
    let aborted = Instant::now();
    let (bytes, closed) = until_closed(&mut stream).await;
    assert_eq!(bytes, 0);
    assert!(closed - aborted < Duration::from_secs(2));
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the port is closed"
    );
}
