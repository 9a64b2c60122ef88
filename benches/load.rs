//! Load benchmark: the real `njia serve` binary, pinned to one core, walked by many concurrent
//! Africa's Talking sessions from a client pinned to the other core.
//!
//! Run: `cargo bench --bench load` (release build). It reports, for 1, 16 and 64 keep-alive
//! connections: hops/s, server CPU µs per hop (from /proc/<pid>/stat), and p50/p99/p99.9
//! latency; then the server's resident memory per live idle session with 100,000 sessions.
//! Options (after `--`): `--seconds N` per level (default 5), `--sessions N` for the memory
//! run (default 100000). Linux only (taskset, /proc).
//!
//! `--postgres` measures sessions in PostgreSQL instead (what several instances behind a load
//! balancer need): the same walk against `njia serve` with `DATABASE_URL` set to a scratch
//! database on `TEST_DATABASE_URL` (default the local server), and besides the server's CPU
//! the database's (every `postgres` process), per hop. Neither is pinned: the database needs
//! both cores too.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Conn, create_database, drop_database, free_port, wait_ready};

/// The 5-hop walk: home, agencies, page 2, page 3, pick an agency (END). The phone's language
/// is remembered, as for a returning citizen.
const WALK: [&str; 5] = ["", "5", "5*98", "5*98*98", "5*98*98*14"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve-bare") {
        let addr = args.get(i + 1).and_then(|a| a.parse().ok()).expect("--serve-bare ADDR");
        serve_bare(addr);
        return;
    }
    // `cargo test --benches` runs benches with `--test`: do a tiny smoke run then.
    let smoke = args.iter().any(|a| a == "--test");
    let flag = |name: &str, default: u64| common::flag(&args, name, default);
    let seconds = if smoke { 1 } else { flag("--seconds", 5) };
    let sessions = if smoke { 1000 } else { flag("--sessions", 100_000) };

    if args.iter().any(|a| a == "--postgres") && !smoke {
        postgres_sessions(seconds);
        return;
    }

    pin_self_to_core(1);
    println!("# Njia load benchmark: 5-hop Africa's Talking walk, server pinned to core 0\n");

    // The floor: a bare hyper server that only parses the same form and answers.
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let exe = std::env::current_exe().expect("own path");
    let mut bare = Command::new("taskset")
        .args(["-c", "0"])
        .arg(&exe)
        .args(["--serve-bare", &addr.to_string()])
        .spawn()
        .expect("start the bare hyper server");
    wait_ready(addr);
    println!("## bare hyper (parse the form, answer END)\n");
    let bare_cpu = levels(addr, bare.id(), seconds);
    let _ = bare.kill();
    let _ = bare.wait();

    let data = std::env::temp_dir().join(format!("njia-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut server = start_server(addr, &data);
    wait_ready(addr);
    println!("\n## njia serve (in-memory sessions, SQLite store)\n");
    let njia_cpu = levels(addr, server.id(), seconds);
    let ratios: Vec<String> = njia_cpu.iter().zip(&bare_cpu).map(|(n, b)| format!("{:.2}", n / b)).collect();
    println!("\nnjia CPU per hop / bare hyper CPU per hop at 1, 16, 64 connections: {}", ratios.join(", "));

    let _ = server.kill();
    let _ = server.wait();

    // Memory per live idle session, on a fresh server: open `sessions` sessions (one hop
    // each, left idle mid-menu) and compare resident memory before and after.
    let _ = std::fs::remove_dir_all(&data);
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut server = start_server(addr, &data);
    wait_ready(addr);
    let before = rss_kib(server.id());
    let per_conn = sessions / 8;
    let handles: Vec<_> = (0..8)
        .map(|c| {
            std::thread::spawn(move || {
                let mut conn = Conn::open(addr);
                for i in 0..per_conn {
                    let sid = format!("mem-{c}-{i}");
                    let _ = conn.hop(&sid, "+254700000099", "");
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    std::thread::sleep(Duration::from_millis(200));
    let after = rss_kib(server.id());
    let total = per_conn * 8;
    println!(
        "\nMemory: RSS {before} KiB -> {after} KiB with {total} live idle sessions: {:.0} bytes per session",
        (after.saturating_sub(before)) as f64 * 1024.0 / total as f64
    );
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&data);
}

/// The walk with sessions in PostgreSQL: one instance of `njia serve` on a scratch database
/// (sessions follow `DATABASE_URL`), neither it nor the client pinned.
fn postgres_sessions(seconds: u64) {
    let admin =
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let url = rt.block_on(create_database(&admin, "sessions"));
    let data = std::env::temp_dir().join(format!("njia-load-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut server = Command::new(env!("CARGO_BIN_EXE_njia"))
        .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
        .arg(&data)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "error")
        .env("DATABASE_URL", &url)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start njia serve");
    wait_ready(addr);
    println!("# Njia load benchmark: 5-hop Africa's Talking walk, sessions in PostgreSQL (nothing pinned)\n");
    println!("## njia serve (PostgreSQL sessions and store)\n");
    levels_with(addr, server.id(), seconds, true);
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&data);
    rt.block_on(drop_database(&admin, &url));
}

/// Runs the walk at 1, 16 and 64 connections and prints one table row each: of `REPEATS`
/// runs per level, the one with the median server CPU per hop (a shared machine is noisy).
fn levels(addr: SocketAddr, pid: u32, seconds: u64) -> Vec<f64> {
    levels_with(addr, pid, seconds, false)
}

/// As [`levels`]; with `db`, also the CPU every `postgres` process spent, per hop.
fn levels_with(addr: SocketAddr, pid: u32, seconds: u64, db: bool) -> Vec<f64> {
    const REPEATS: usize = 3;
    if db {
        println!(
            "| connections | hops/s | server CPU µs/hop | database CPU µs/hop | p50 µs | p99 µs | p99.9 µs | hops |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    } else {
        println!("| connections | hops/s | server CPU µs/hop | p50 µs | p99 µs | p99.9 µs | hops |");
        println!("|---:|---:|---:|---:|---:|---:|---:|");
    }
    let mut cpu_per_level = Vec::new();
    for conns in [1usize, 16, 64] {
        // Warm up: each connection's phone answers the language question once.
        run_level(addr, conns, Duration::from_millis(300), true);
        let mut runs: Vec<(f64, String)> = (0..REPEATS)
            .map(|_| {
                let (cpu0, db0) = (cpu_ticks(pid), if db { postgres_ticks() } else { 0 });
                let t0 = Instant::now();
                let mut lat = run_level(addr, conns, Duration::from_secs(seconds), false);
                let wall = t0.elapsed();
                let cpu = cpu_ticks(pid) - cpu0;
                let db_ticks = if db { postgres_ticks().saturating_sub(db0) } else { 0 };
                lat.sort_unstable();
                let n = lat.len().max(1);
                let pct = |p: f64| lat[((n as f64 * p) as usize).min(n - 1)];
                let cpu_us = cpu as f64 * 1e6 / ticks_per_second() as f64 / n as f64;
                let db_col = if db {
                    format!(" {:.1} |", db_ticks as f64 * 1e6 / ticks_per_second() as f64 / n as f64)
                } else {
                    String::new()
                };
                let row = format!(
                    "| {conns} | {:.0} | {cpu_us:.1} |{db_col} {} | {} | {} | {n} |",
                    n as f64 / wall.as_secs_f64(),
                    pct(0.50),
                    pct(0.99),
                    pct(0.999)
                );
                (cpu_us, row)
            })
            .collect();
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (cpu, row) = &runs[REPEATS / 2];
        println!("{row}");
        cpu_per_level.push(*cpu);
    }
    cpu_per_level
}

/// The floor to compare against: hyper serving a handler that reads the body, parses the
/// same form and answers a fixed `END` text. Same runtime flavour as `njia serve`.
fn serve_bare(addr: SocketAddr) {
    use http_body_util::{BodyExt, Full};
    use hyper::body::{Bytes, Incoming};
    use hyper_util::rt::TokioIo;

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req: hyper::Request<Incoming>| async move {
                    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    // The same parser njia uses, borrowing from the body.
                    let pairs: Vec<_> = form_urlencoded::parse(&body).collect();
                    let text = if pairs.is_empty() { "ok" } else { "END ok" };
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(text))))
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
}

/// Runs `conns` client threads for `dur`, each walking sessions back to back on one keep-alive
/// connection; returns every hop's latency in µs.
fn run_level(addr: SocketAddr, conns: usize, dur: Duration, warm: bool) -> Vec<u32> {
    let deadline = Instant::now() + dur;
    let handles: Vec<_> = (0..conns)
        .map(|c| {
            std::thread::spawn(move || {
                let mut conn = Conn::open(addr);
                let phone = format!("+2547{:08}", 10_000 + c);
                let mut lat = Vec::with_capacity(200_000);
                let mut walk_no = 0u64;
                if warm {
                    // Answer the first-use language question so later walks start at home.
                    let sid = format!("warm-{c}-{}", std::process::id());
                    let _ = conn.hop(&sid, &phone, "");
                    let _ = conn.hop(&sid, &phone, "1");
                }
                while Instant::now() < deadline {
                    walk_no += 1;
                    let sid = format!("load-{c}-{walk_no}-{}", u8::from(warm));
                    for text in WALK {
                        let t = Instant::now();
                        let reply = conn.hop(&sid, &phone, text);
                        lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                        assert!(reply.starts_with("CON ") || reply.starts_with("END "), "unexpected reply {reply:?}");
                        assert!(!reply.contains("maombi ni mengi"), "the benchmark hit the rate limit: {reply:?}");
                        if reply.starts_with("END ") && text != WALK[WALK.len() - 1] {
                            // The bare server ends every hop; start the next walk.
                            break;
                        }
                    }
                }
                lat
            })
        })
        .collect();
    handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
}

fn start_server(addr: SocketAddr, data: &std::path::Path) -> Child {
    let bin = env!("CARGO_BIN_EXE_njia");
    Command::new("taskset")
        .args(["-c", "0", bin, "serve", "--listen", &addr.to_string(), "--data-dir"])
        .arg(data)
        .arg("--config")
        .arg(common::bench_config(data))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start njia serve under taskset")
}

fn pin_self_to_core(core: usize) {
    let _ = Command::new("taskset")
        .args(["-p", "-c", &core.to_string(), &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status();
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    num(11) + num(12)
}

/// utime + stime of every process named `postgres` (the server's backends and its background
/// processes), in clock ticks.
fn postgres_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "postgres"))
        .map(cpu_ticks)
        .sum()
}

fn ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
