//! What the load benchmarks and the soak run share: a minimal keep-alive Africa's Talking
//! client and the helpers that start, wait for and measure a server.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub fn wait_ready(addr: SocketAddr) {
    for _ in 0..200 {
        if let Ok(mut s) = TcpStream::connect(addr) {
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if out.ends_with("ok") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("server did not become ready");
}

/// The value of one sample of the server's `/metrics` (0 when absent): `name` is the sample's
/// name with its labels, as the exposition writes it.
#[allow(dead_code)] // Used by the load bench only; each bench compiles this module on its own.
pub fn metric(addr: SocketAddr, name: &str) -> u64 {
    let Ok(mut s) = TcpStream::connect(addr) else { return 0 };
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok())).map_or(0, |v| v as u64)
}

/// The resident memory of a process in KiB, from `/proc/<pid>/status` (0 when it is gone).
#[allow(dead_code)] // Used by the load bench and the soak run; each bench compiles this module on its own.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A minimal HTTP/1.1 keep-alive client: the load generator must cost little itself.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect to the server");
        stream.set_nodelay(true).expect("nodelay");
        Conn { stream, buf: Vec::with_capacity(4096) }
    }

    pub fn hop(&mut self, sid: &str, phone: &str, text: &str) -> String {
        let body = format!(
            "sessionId={sid}&serviceCode=%2A384%23&phoneNumber={}&networkCode=63902&text={}",
            phone.replace('+', "%2B"),
            text.replace('*', "%2A").replace('/', "%2F").replace(' ', "+")
        );
        let req = format!(
            "POST /ussd/africastalking HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream.write_all(req.as_bytes()).expect("write");
        self.buf.clear();
        let mut chunk = [0u8; 2048];
        loop {
            let n = self.stream.read(&mut chunk).expect("read");
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .expect("content-length");
                while self.buf.len() < end + 4 + len {
                    let n = self.stream.read(&mut chunk).expect("read body");
                    assert!(n > 0, "server closed mid-body");
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                return String::from_utf8_lossy(&self.buf[end + 4..end + 4 + len]).into_owned();
            }
        }
    }
}

/// The number after `name` on the command line, or `default`.
pub fn flag(args: &[String], name: &str, default: u64) -> u64 {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Writes the configuration the benchmarks serve with into `dir` and returns its path: the
/// rate limiter still checks every hop (its cost is measured) but never limits, because one
/// phone number per connection stands for the many citizens a real load has; and resuming is
/// off, because a run abandons its walks mid-session at its deadline and the next run's first
/// dial from the same number would otherwise be offered to continue.
pub fn bench_config(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).expect("create the data directory");
    let path = dir.join("bench.toml");
    let text = "resume_window_secs = 0\n[rate_limit]\nphone_per_minute = 4000000000\nphone_burst = 4000000000\n";
    std::fs::write(&path, text).expect("write the benchmark configuration");
    path
}

/// A scratch database on the server at `admin_url`, named for this process and `suffix`;
/// returns its URL.
pub async fn create_database(admin_url: &str, suffix: &str) -> String {
    let (client, conn) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is required at {admin_url}: {e}"));
    tokio::spawn(conn);
    let name = format!("njia_bench_{}_{suffix}", std::process::id());
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).await.expect("drop");
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create");
    let mut config: tokio_postgres::Config = admin_url.parse().expect("url");
    config.dbname(&name);
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres").to_owned();
    format!("postgres://{user}@{host}:{port}/{name}")
}

pub async fn drop_database(admin_url: &str, url: &str) {
    let Some(name) = url.rsplit('/').next() else { return };
    if let Ok((client, conn)) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls).await {
        tokio::spawn(conn);
        let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    }
}
