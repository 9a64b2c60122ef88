//! The HTTP edge: slow clients are cut off, shutdown stops accepting and returns, every 4xx
//! carries its reason.

use crate::common;

use std::time::{Duration, Instant};

use common::{TestServer, config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(njia::config::Config { header_read_timeout_ms: 200, ..config(dir.path()) }).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"POST /ussd/africastalking HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server must close a connection stuck in its headers");
    assert!(started.elapsed() < Duration::from_secs(3));
    // Other clients are unaffected.
    let (status, body) = server.request("GET", "/healthz", "text/plain", "").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    server.stop().await;
}

/// A body that stops arriving is cut off with 408, like slow headers; a body that arrives in
/// pieces within the limit is answered (the first read takes what is there without a timer,
/// the rest is read under it).
#[tokio::test]
async fn a_body_that_never_finishes_gets_408_and_a_slow_but_complete_one_an_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(njia::config::Config { header_read_timeout_ms: 300, ..config(dir.path()) }).await;
    let body = "sessionId=slow1&phoneNumber=%2B254711000111&serviceCode=%2A384%23&text=";
    let head = format!(
        "POST /ussd/africastalking HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let answer = |mut s: TcpStream| async move {
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await.expect("an answer").unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    };

    let mut stuck = TcpStream::connect(server.addr).await.unwrap();
    stuck.write_all(head.as_bytes()).await.unwrap();
    stuck.write_all(&body.as_bytes()[..10]).await.unwrap();
    let reply = answer(stuck).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.ends_with("\r\n\r\nrequest body too slow\n"), "the reason is in the body: {reply}");

    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    slow.write_all(&body.as_bytes()[10..]).await.unwrap();
    let reply = answer(slow).await;
    assert!(reply.starts_with("HTTP/1.1 200") && reply.contains("CON "), "{reply}");
    server.stop().await;
}

#[tokio::test]
async fn shutdown_stops_accepting_and_returns() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let addr = server.addr;
    let (status, _) = server.request("GET", "/healthz", "text/plain", "").await;
    assert_eq!(status, 200);
    tokio::time::timeout(Duration::from_secs(15), server.stop()).await.expect("shutdown finishes");
    assert!(TcpStream::connect(addr).await.is_err(), "no longer listening");
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let (status, _) = server.request("GET", "/nope", "text/plain", "").await;
    assert_eq!(status, 404);
    let (status, _) = server.request("GET", "/ussd/africastalking", "text/plain", "").await;
    assert_eq!(status, 405);
    server.stop().await;
}

/// Sends `request` as it is on a fresh connection and reads the whole reply: status, head and
/// body. A write the server cut short is not an error (it may answer before reading it all).
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(request).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("a whole reply: {text:?}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("a status: {head}"));
    (status, head.to_owned(), body.to_owned())
}

/// Every 4xx the server answers, whoever writes it (hyper on what it cannot parse, the router,
/// a channel's dialect, the body limits), has a one-line plain-text reason as its body, with a
/// content-length that says so.
#[tokio::test]
async fn every_4xx_has_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(njia::config::Config { max_body_bytes: 1024, ..config(dir.path()) }).await;
    let post = |path: &str, content_type: &str, body: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes();
    let many_headers: String = (0..101).map(|i| format!("X-Header-{i}: {i}\r\n")).collect();
    let token = "0123456789abcdef0123456789abcdef";
    let big = format!("text={}", "1".repeat(2000));
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        // hyper's own replies: it calls no service for a request it cannot parse.
        (
            "a space in the request target",
            b"GET /ussd/safaricom?ORIG=254 711 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
            "malformed",
        ),
        ("a method that is not a token", b"G(ET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400, "malformed"),
        ("a header line without a colon", b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n".to_vec(), 400, "malformed"),
        ("not HTTP at all", b"hello there\r\n\r\n".to_vec(), 400, "malformed"),
        (
            "more headers than hyper takes (100)",
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes(),
            431,
            "headers too large",
        ),
        (
            "a request target over 64 KiB",
            format!("GET /ussd/safaricom?USSD_PARAMS={} HTTP/1.1\r\nHost: x\r\n\r\n", "1".repeat(70_000)).into_bytes(),
            414,
            "too long",
        ),
        // The router.
        ("a path nothing serves", get("/nope"), 404, "not found"),
        ("a method /healthz does not take", post("/healthz", "text/plain", ""), 405, "method not allowed"),
        (
            "a method a payment callback does not take",
            get(&format!("/payments/stk/{token}")),
            405,
            "method not allowed",
        ),
        (
            "a payment callback over max_body_bytes",
            post(&format!("/payments/stk/{token}"), "application/json", &big),
            413,
            "length limit",
        ),
        // Channels and operations.
        ("a method a channel does not take", get("/ussd/africastalking"), 405, "method not allowed"),
        ("a sub-path a dialect does not serve", post("/ussd/infobip/nope", "application/json", "{}"), 404, "expected"),
        (
            "a hop missing its fields",
            post("/ussd/africastalking", "application/x-www-form-urlencoded", ""),
            400,
            "bad request",
        ),
        (
            "a hop over max_body_bytes",
            post("/ussd/africastalking", "application/x-www-form-urlencoded", &big),
            413,
            "too large",
        ),
        ("administration without [admin]", post("/admin/reload", "text/plain", ""), 403, "administration is off"),
    ];
    for (what, request, want, reason) in cases {
        let (status, head, body) = raw(server.addr, &request).await;
        assert_eq!(status, want, "{what}: {head}\r\n\r\n{body}");
        assert!(body.contains(reason), "{what}: the reason {reason:?} is in the body: {head}\r\n\r\n{body:?}");
        assert_eq!(body.trim_end().lines().count(), 1, "{what}: one line: {body:?}");
        let length = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
            .unwrap_or_else(|| panic!("{what}: a content-length: {head}"));
        assert_eq!(length.parse::<usize>().unwrap(), body.len(), "{what}: {head}");
        assert!(head.to_ascii_lowercase().contains("content-type: text/plain"), "{what}: {head}");
    }
    // The server still answers afterwards.
    let (status, body) = server.request("GET", "/healthz", "text/plain", "").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    server.stop().await;
}
