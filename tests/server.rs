//! The HTTP edge: slow clients are cut off, shutdown stops accepting and returns.

mod common;

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
