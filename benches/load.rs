//! Load benchmark: the real `njia serve` binary, pinned to one core, walked by many concurrent
//! Africa's Talking sessions from a client pinned to the other core.
//!
//! Run: `cargo bench --bench load` (release build). Sections, each at 1, 16 and 64 keep-alive
//! connections with walks/s, hops/s, server CPU µs per hop (from /proc/<pid>/stat) and
//! p50/p99/p99.9 latency:
//!
//! - `bare`: a bare hyper server, the floor any Rust HTTP service pays here;
//! - `agencies`: njia, returning citizens paging through the agencies menu;
//! - `peer`: the e-Citizen land-rates walk (language, home, land rates, parcel with its lookup,
//!   confirm) by new citizens, against njia and against the Node.js peer built on ussd-builder
//!   (`benches/peer/ussd-builder`, installed with `npm ci`; skipped when `node` is absent);
//! - `memory`: resident memory per live idle session at each count of `--sessions`.
//! - `paid`: completed paid requests on one core. Returning citizens walk to the land-rates
//!   payment and pay (sandbox mode: the durable submit, the simulated STK push and callback,
//!   the delivery to the agency and the receipt SMS, all in the one pinned server process);
//!   after the walks stop, the run lasts until every receipt is sent. Reports the server's CPU
//!   per completed request and completed requests per second of that core.
//!
//! - `search`: the national catalogue of issue #13 (`tests/common/catalogue_gen.rs`: 5,000
//!   services of 77 agencies, Swahili and English) served by `njia serve --menus --locales`;
//!   returning citizens walk home, 6 (Tafuta huduma), a few words of a service's name (the
//!   search hop), then pick that service from the results: the END of an information service.
//!   On the same server in the same run, the agencies walk gives the plain menu hop, and two
//!   walks isolate the search hop: four searches in one session (each but the last followed
//!   by 0, back to the search screen) and a control walk that shows the same screens with a
//!   plain menu hop (0, back to home) for each search. Prints the server CPU per hop of every
//!   walk, the search walk's over the agencies walk's, and the search hop alone from the
//!   paired runs of the other two (budget: 1.3x a plain hop).
//!
//! - `postgres`: the agencies walk with sessions in
//!   PostgreSQL (what several instances behind a load balancer need), against `njia serve` with
//!   `DATABASE_URL` set to a scratch database on `TEST_DATABASE_URL` (default the local server);
//!   besides the server's CPU, the database's (every `postgres` process) per hop. Neither is
//!   pinned: the database needs both cores too.
//!
//! Options (after `--`): `--seconds N` per run (default 5), `--sessions N[,N…]` (default
//! 100000,1000000), `--only SECTION[,SECTION…]` (default all). Linux only
//! (taskset, /proc). The server runs with rate limits that check every hop but never limit
//! (`common::bench_config`): one phone per connection stands for many citizens.

#[path = "../tests/common/catalogue_gen.rs"]
mod catalogue_gen;
mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Conn, create_database, drop_database, free_port, rss_kib, wait_ready};

/// The agencies walk: home, agencies, page 2, page 3, pick an agency (END). The phone's
/// language is remembered, as for a returning citizen.
const WALK: [&str; 5] = ["", "5", "5*98", "5*98*98", "5*98*98*12"];

/// Parcels of the land-rates walk, with their owners (`menus/lookups/lands.toml`).
const PARCELS: [(&str, &str); 3] = [
    ("KAJIADO/1234", "Wanjiku Kamau"),
    ("NAIROBI/BLOCK82/1234", "Otieno Odhiambo"),
    ("MOMBASA/MN/5678", "Amina Hassan"),
];

/// Which walk a level drives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// [`WALK`], by returning citizens (one phone per connection).
    Agencies,
    /// The land-rates path by a new citizen each walk: language (English), home, land rates,
    /// a parcel (looked up), then Cancel at the confirm screen. Cancel, not Pay: paying is the
    /// durable submit, which `benches/handoff.rs` measures; here no hop should wait on a disk
    /// except njia's remembering of the language (see BENCHMARKS.md).
    LandRates,
    /// The same path by a returning citizen (one phone per connection, language remembered):
    /// home, land rates, parcel, Cancel. Neither server touches anything but memory.
    LandRatesReturning,
    /// A search by a returning citizen who reads Kiswahili: home, 6 (Tafuta huduma), a few
    /// words (one of [`SEARCHES`] a walk), the service picked from the results (END).
    Search,
    /// Several searches in one session, so that the search hops weigh in the walk's CPU per
    /// hop: home, 6, then [`SEARCHES_PER_WALK`] searches, each but the last followed by 0
    /// (back to the search screen), and the last one's service picked from its results (END).
    Searches,
    /// [`Walk::Searches`] with each search replaced by a plain menu hop, by the same citizens:
    /// home, then [`SEARCHES_PER_WALK`] times 6 (the search screen) and 0 (back to home), and
    /// the code of the first service home offers them (END of that service). Hop for hop the
    /// two walks show the same screens but for the searches: the search screen for the 0
    /// that leaves a results list, home for a search. So the two walks' difference is
    /// [`SEARCHES_PER_WALK`] search hops over as many plain hops, and one END reached by a
    /// results row over one reached by a code typed at home (about 6k instructions dearer, so
    /// each search is charged a quarter of it: the estimate errs against the search).
    SearchesControl,
}

/// Searches in a [`Walk::Searches`].
const SEARCHES_PER_WALK: usize = 4;

/// Hops in the longest walk.
const MAX_HOPS: usize = 2 + 2 * SEARCHES_PER_WALK;

/// The search walk's queries with the results row of the information service each is for,
/// found on the server before the runs.
static SEARCHES: OnceLock<Vec<(String, String)>> = OnceLock::new();

impl Walk {
    fn name(self) -> &'static str {
        match self {
            Walk::Agencies => "agencies walk, returning citizens",
            Walk::LandRates => "land-rates walk, new citizens (5 hops)",
            Walk::LandRatesReturning => "land-rates walk, returning citizens (4 hops)",
            Walk::Search => "search walk, returning citizens (4 hops)",
            Walk::Searches => "searches walk: four searches in a session (10 hops)",
            Walk::SearchesControl => "control walk: the searches walk with plain menu hops for its searches (10 hops)",
        }
    }
}

/// Phone numbers of new citizens: each land-rates walk takes the next, so every walk starts
/// with the language question on both servers.
static NEXT_CITIZEN: AtomicU64 = AtomicU64::new(20_000_000);

/// Numbers every run, so no run reuses another's session ids: njia keeps an ended session 30 s
/// to answer telco retries, and a reused id would be answered as a retry of its last hop.
static NEXT_RUN: AtomicU64 = AtomicU64::new(0);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve-bare") {
        let addr = args.get(i + 1).and_then(|a| a.parse().ok()).expect("--serve-bare ADDR");
        serve_bare(addr);
        return;
    }
    // `benches/callgrind/run.sh search` serves the same catalogue under callgrind: it asks for
    // the tree and the walks' queries here, so both count the same searches.
    if let Some(i) = args.iter().position(|a| a == "--generate-catalogue") {
        let root = PathBuf::from(args.get(i + 1).expect("--generate-catalogue DIR"));
        let generated = catalogue_gen::generate(&root, catalogue_gen::SERVICES);
        let lines: String = search_queries(&generated).iter().map(|(q, name)| format!("{q}\t{name}\n")).collect();
        std::fs::write(root.join("searches.tsv"), lines).expect("write the searches");
        return;
    }
    // `cargo test --benches` runs benches with `--test`: do a tiny smoke run then (never the
    // Node.js peer: CI does not need node).
    let smoke = args.iter().any(|a| a == "--test");
    let flag = |name: &str, default: u64| common::flag(&args, name, default);
    let seconds = if smoke { 1 } else { flag("--seconds", 5) };
    let list = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let sessions: Vec<u64> = if smoke {
        vec![1000]
    } else {
        list("--sessions")
            .map(|v| v.split(',').filter_map(|n| n.trim().replace('_', "").parse().ok()).collect())
            .unwrap_or_else(|| vec![100_000, 1_000_000])
    };
    let only = list("--only");
    let wants = |section: &str| {
        let on = only.as_deref().is_none_or(|o| o.split(',').any(|s| s.trim() == section));
        // The smoke run needs neither node nor PostgreSQL.
        on && !(smoke && (section == "peer" || section == "postgres"))
    };

    pin_self_to_core(1);
    println!("# Njia load benchmark: server pinned to core 0, client to core 1, {seconds} s a run\n");
    // NJIA_BENCH_DATA: where njia's data directory goes (default the temp dir), to tell the
    // disk's share from SQLite's (e.g. /dev/shm, where an fsync costs nothing).
    let base = std::env::var_os("NJIA_BENCH_DATA").map_or_else(std::env::temp_dir, PathBuf::from);
    let data = base.join(format!("njia-load-{}", std::process::id()));

    let mut bare_cpu = Vec::new();
    if wants("bare") {
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
        bare_cpu = levels("bare hyper", addr, bare.id(), seconds, Walk::Agencies);
        let _ = bare.kill();
        let _ = bare.wait();
    }

    if wants("agencies") {
        let _ = std::fs::remove_dir_all(&data);
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut server = start_server(addr, &data, None);
        wait_ready(addr);
        println!("\n## njia serve, agencies walk by returning citizens (in-memory sessions, SQLite store)\n");
        let njia_cpu = levels("njia", addr, server.id(), seconds, Walk::Agencies);
        if !bare_cpu.is_empty() {
            let ratios: Vec<String> = njia_cpu.iter().zip(&bare_cpu).map(|(n, b)| format!("{:.2}", n / b)).collect();
            println!("\nnjia CPU per hop / bare hyper CPU per hop at 1, 16, 64 connections: {}", ratios.join(", "));
        }
        let _ = server.kill();
        let _ = server.wait();
    }

    if wants("peer") {
        println!("\n## The land-rates walk by new citizens: njia and the Node.js peer (ussd-builder)\n");
        let _ = std::fs::remove_dir_all(&data);
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut server = start_server(addr, &data, None);
        wait_ready(addr);
        let mut njia_cpu = Vec::new();
        for walk in [Walk::LandRates, Walk::LandRatesReturning] {
            println!("\n### njia, {}\n", walk.name());
            njia_cpu.push(levels("njia", addr, server.id(), seconds, walk));
        }
        let _ = server.kill();
        let _ = server.wait();
        match start_peer() {
            Err(why) => println!("\nNode.js peer skipped: {why}"),
            Ok((mut peer, addr)) => {
                for (walk, njia_cpu) in [Walk::LandRates, Walk::LandRatesReturning].into_iter().zip(&njia_cpu) {
                    println!("\n### ussd-builder, {}\n", walk.name());
                    let peer_cpu = levels("ussd-builder (Node.js)", addr, peer.id(), seconds, walk);
                    let ratios: Vec<String> =
                        peer_cpu.iter().zip(njia_cpu).map(|(p, n)| format!("{:.2}", p / n)).collect();
                    println!(
                        "\n{}: peer CPU per hop / njia CPU per hop (njia's hops per core-second over the peer's) \
                         at 1, 16, 64 connections: {}",
                        walk.name(),
                        ratios.join(", ")
                    );
                }
                let _ = peer.kill();
                let _ = peer.wait();
            }
        }
    }

    if wants("search") {
        search(&data, seconds, if smoke { 300 } else { catalogue_gen::SERVICES });
    }

    if wants("memory") {
        for &count in &sessions {
            memory(&data, count);
        }
    }

    if wants("postgres") {
        postgres_sessions(seconds);
    }
    if wants("paid") {
        paid(&data, seconds);
    }
    let _ = std::fs::remove_dir_all(&data);
}

/// The walk to a payment by a returning citizen who reads Kiswahili: home, land rates, a
/// parcel (looked up), Pay. The last hop is the durable submit.
const PAID_WALK: [&str; 4] = ["", "1", "1*KAJIADO/1234", "1*KAJIADO/1234*1"];

/// Completed paid requests on one core (see the module's `paid`): `conns` connections walk to
/// the payment back to back for `seconds`; the server (sandbox mode, the simulated citizen
/// enters the PIN at once) hands each request off in the same process. The figures count from
/// the first walk to the last receipt, so they include the hand-off of every request the walks
/// made, none left queued.
fn paid(data: &Path, seconds: u64) {
    println!("\n## Completed paid requests (land rates, sandbox mode), server pinned to one core\n");
    println!(
        "Each request: the submit hop (request, payment attempt and push job committed before END), the \
         simulated STK push and its callback, the delivery to the agency and the receipt SMS. Counted from \
         the first walk until the last receipt is sent.\n"
    );
    println!(
        "| connections | paid requests | receipts | seconds | completed requests/s | server CPU µs per completed request | submit p50 µs | submit p99 µs |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for conns in [1usize, 16] {
        let dir = data.join(format!("paid-{conns}"));
        let _ = std::fs::remove_dir_all(&dir);
        let config = dir.with_extension("toml");
        let limits = std::fs::read_to_string(common::bench_config(&dir)).expect("the benchmark configuration");
        std::fs::write(&config, format!("{limits}[dispatcher]\nsandbox_pin_delay_ms = 0\n")).expect("write the config");
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut server = start_server(addr, &dir, Some(&config));
        wait_ready(addr);
        // Each connection's citizen chooses Kiswahili once, then one unmeasured paid walk warms
        // the server: its receipt is counted apart.
        let run_no = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
        for c in 0..conns {
            let mut conn = Conn::open(addr);
            let phone = format!("+2547{:08}", 30_000 + c);
            let sid = format!("paid-lang-{run_no}-{c}");
            let _ = conn.hop(&sid, &phone, "");
            let _ = conn.hop(&sid, &phone, "1");
            for text in PAID_WALK {
                let _ = conn.hop(&format!("paid-warm-{run_no}-{c}"), &phone, text);
            }
        }
        let warm = wait_receipts(addr, conns as u64, Duration::from_secs(60));
        let cpu0 = cpu_ticks(server.id());
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(seconds);
        let handles: Vec<_> = (0..conns)
            .map(|c| {
                std::thread::spawn(move || {
                    let mut conn = Conn::open(addr);
                    let phone = format!("+2547{:08}", 30_000 + c);
                    let mut submit = Vec::new();
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        n += 1;
                        let sid = format!("paid-{run_no}-{c}-{n}");
                        for (i, text) in PAID_WALK.iter().enumerate() {
                            let t = Instant::now();
                            let reply = conn.hop(&sid, &phone, text);
                            if i == PAID_WALK.len() - 1 {
                                assert!(reply.starts_with("END Ombi NJ-"), "unexpected submit reply {reply:?}");
                                submit.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                            } else {
                                assert!(reply.starts_with("CON "), "unexpected reply {reply:?}");
                            }
                        }
                    }
                    submit
                })
            })
            .collect();
        let mut submit: Vec<u32> = handles.into_iter().flat_map(|h| h.join().expect("client thread")).collect();
        let paid = submit.len() as u64;
        let receipts = wait_receipts(addr, warm + paid, Duration::from_secs(120)) - warm;
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_ticks(server.id()) - cpu0;
        submit.sort_unstable();
        let pct = |p: f64| submit.get(((submit.len() as f64 * p) as usize).min(submit.len().max(1) - 1)).copied();
        println!(
            "| {conns} | {paid} | {receipts} | {wall:.1} | {:.0} | {:.0} | {} | {} |",
            receipts as f64 / wall,
            cpu as f64 * 1e6 / ticks_per_second() as f64 / receipts.max(1) as f64,
            pct(0.5).unwrap_or(0),
            pct(0.99).unwrap_or(0),
        );
        let _ = server.kill();
        let _ = server.wait();
        let _ = std::fs::remove_file(&config);
    }
}

/// Waits until the server has sent `want` receipt SMS (its `/metrics` count of accepted SMS),
/// or `limit` has passed; returns the count it last read.
fn wait_receipts(addr: SocketAddr, want: u64, limit: Duration) -> u64 {
    let until = Instant::now() + limit;
    loop {
        let sent = common::metric(addr, "njia_sms_sent_total{result=\"accepted\"}");
        if sent >= want || Instant::now() > until {
            return sent;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Memory per live idle session, on a fresh server: opens `count` sessions (one hop each, left
/// idle on the language screen) and compares resident memory before and after. The server's
/// `max_sessions` is raised to twice the count, so the bound never trims the set being
/// measured; a sample of the sessions is then continued to show they are all still live.
fn memory(data: &Path, count: u64) {
    const CONNS: u64 = 8;
    let _ = std::fs::remove_dir_all(data);
    let _ = std::fs::create_dir_all(data);
    let config = data.with_extension("toml");
    let limits = std::fs::read_to_string(common::bench_config(data)).expect("the benchmark configuration");
    std::fs::write(&config, format!("max_sessions = {}\n{limits}", count * 2)).expect("write the config");
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut server = start_server(addr, data, Some(&config));
    wait_ready(addr);
    let before = rss_kib(server.id());
    let per_conn = count / CONNS;
    // Session ids shaped like Africa's Talking's (`ATUid_` and 32 hex digits): the id is part
    // of each session's key, so its length is part of the cost.
    let sid = |c: u64, i: u64| format!("ATUid_{c:02x}{i:030x}");
    // A citizen each: one number's new dial would take over its earlier open session.
    let phone = move |c: u64, i: u64| format!("+2547{:08}", c * per_conn + i);
    let t0 = Instant::now();
    let handles: Vec<_> = (0..CONNS)
        .map(|c| {
            std::thread::spawn(move || {
                let mut conn = Conn::open(addr);
                for i in 0..per_conn {
                    let _ = conn.hop(&sid(c, i), &phone(c, i), "");
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    let opened_in = t0.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib(server.id());
    let total = per_conn * CONNS;
    // Every 997th session of each connection answers its language question: a live session
    // shows the home screen, a lost one the "dial again" END.
    let mut conn = Conn::open(addr);
    let (mut sampled, mut live) = (0, 0);
    for c in 0..CONNS {
        for i in (0..per_conn).step_by(997) {
            sampled += 1;
            live += u32::from(conn.hop(&sid(c, i), &phone(c, i), "1").starts_with("CON "));
        }
    }
    println!(
        "\nMemory: RSS {before} KiB -> {after} KiB with {total} live idle sessions (opened in {:.1} s; {live} of \
         {sampled} sampled still live): {:.0} bytes per session",
        opened_in.as_secs_f64(),
        (after.saturating_sub(before)) as f64 * 1024.0 / total as f64
    );
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_file(&config);
}

/// The walk with sessions in PostgreSQL: one instance of `njia serve` on a scratch database
/// (sessions follow `DATABASE_URL`), neither it nor the client pinned.
fn postgres_sessions(seconds: u64) {
    // The database needs both cores; so may the client.
    let _ = Command::new("taskset")
        .args(["-p", "-c", "0-1", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status();
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
        .arg("--config")
        .arg(common::bench_config(&data))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "error")
        .env("DATABASE_URL", &url)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start njia serve");
    wait_ready(addr);
    println!("\n## njia serve, agencies walk, sessions and store in PostgreSQL (nothing pinned)\n");
    levels_with("njia (PostgreSQL sessions)", addr, server.id(), seconds, Walk::Agencies, true);
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&data);
    rt.block_on(drop_database(&admin, &url));
}

/// Installs the Node.js peer with `npm ci` and starts it pinned to core 0; `Err` says why it
/// cannot run here (no node or npm, no registry).
fn start_peer() -> Result<(Child, SocketAddr), String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/peer/ussd-builder");
    let version = Command::new("node").arg("--version").output().map_err(|e| format!("no node ({e})"))?;
    println!("\nNode.js {}", String::from_utf8_lossy(&version.stdout).trim());
    let ci = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .map_err(|e| format!("no npm ({e})"))?;
    if !ci.success() {
        return Err(format!("npm ci failed in {}", dir.display()));
    }
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let peer = Command::new("taskset")
        .args(["-c", "0", "node", "server.js", &addr.to_string()])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start node: {e}"))?;
    wait_ready(addr);
    Ok((peer, addr))
}

/// Runs `walk` at 1, 16 and 64 connections and prints one table row each: of three runs per
/// level, the one with the median server CPU per hop (a shared machine is noisy). Returns
/// those CPU figures.
fn levels(server: &str, addr: SocketAddr, pid: u32, seconds: u64, walk: Walk) -> Vec<f64> {
    levels_with(server, addr, pid, seconds, walk, false)
}

/// As [`levels`]; with `db`, also the CPU every `postgres` process spent, per hop.
fn levels_with(server: &str, addr: SocketAddr, pid: u32, seconds: u64, walk: Walk, db: bool) -> Vec<f64> {
    levels_of(&[(server, walk)], addr, pid, seconds, db, 3).swap_remove(0).iter().map(|runs| median(runs)).collect()
}

/// The middle value (the upper one of an even count); 0 for none.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// As [`levels_with`] for several walks on one server, in one table: at each connection count
/// the walks' runs take turns (each walk's first run, then each one's second, ...), so a
/// machine's drift during the level is felt by all of them alike. Each walk is run `repeats`
/// times a level; the table shows its median run. Returns the CPU per hop of each walk's runs,
/// in the order they ran, at 1, 16 and 64 connections: `[walk][level][run]`.
fn levels_of(
    walks: &[(&str, Walk)],
    addr: SocketAddr,
    pid: u32,
    seconds: u64,
    db: bool,
    repeats: usize,
) -> Vec<Vec<Vec<f64>>> {
    let db_head = if db { " database CPU µs/hop |" } else { "" };
    let db_rule = if db { "---:|" } else { "" };
    println!(
        "| server | connections | walks/s | hops/s | server CPU µs/hop |{db_head} p50 µs | p99 µs | p99.9 µs | hops | p50 µs by hop |"
    );
    println!("|---|---:|---:|---:|---:|{db_rule}---:|---:|---:|---:|---|");
    let mut cpu_per_level = vec![Vec::new(); walks.len()];
    let mut split = vec![Vec::new(); walks.len()];
    for conns in [1usize, 16, 64] {
        // Warm up (a JIT warms up too): each connection's phone answers the language question
        // once for the agencies walk.
        for &(_, walk) in walks {
            run_level(addr, conns, Duration::from_millis(1000), true, walk);
        }
        let mut runs: Vec<Vec<(f64, String, String)>> = vec![Vec::new(); walks.len()];
        for _ in 0..repeats {
            for (w, &(server, walk)) in walks.iter().enumerate() {
                let db0 = if db { postgres_ticks() } else { 0 };
                let proc0 = ProcCounts::of(pid);
                let t0 = Instant::now();
                let run = run_level(addr, conns, Duration::from_secs(seconds), false, walk);
                let wall = t0.elapsed().as_secs_f64();
                let counts = ProcCounts::of(pid).since(&proc0);
                let cpu = counts.user_ticks + counts.system_ticks;
                let db_ticks = if db { postgres_ticks().saturating_sub(db0) } else { 0 };
                let mut lat: Vec<u32> = run.by_hop.iter().flatten().copied().collect();
                lat.sort_unstable();
                let n = lat.len().max(1);
                let pct = |lat: &[u32], p: f64| {
                    lat.get(((lat.len() as f64 * p) as usize).min(lat.len().max(1) - 1)).copied().unwrap_or(0)
                };
                let by_hop: Vec<String> = run
                    .by_hop
                    .iter()
                    .filter(|l| !l.is_empty())
                    .map(|l| {
                        let mut l = l.clone();
                        l.sort_unstable();
                        pct(&l, 0.5).to_string()
                    })
                    .collect();
                let cpu_us = cpu as f64 * 1e6 / ticks_per_second() as f64 / n as f64;
                let db_col = if db {
                    format!(" {:.1} |", db_ticks as f64 * 1e6 / ticks_per_second() as f64 / n as f64)
                } else {
                    String::new()
                };
                let row = format!(
                    "| {server} | {conns} | {:.0} | {:.0} | {cpu_us:.1} |{db_col} {} | {} | {} | {n} | {} |",
                    run.walks as f64 / wall,
                    n as f64 / wall,
                    pct(&lat, 0.50),
                    pct(&lat, 0.99),
                    pct(&lat, 0.999),
                    by_hop.join(" / ")
                );
                runs[w].push((cpu_us, row, counts.per_hop(n)));
            }
        }
        for (w, mut runs) in runs.into_iter().enumerate() {
            cpu_per_level[w].push(runs.iter().map(|r| r.0).collect());
            runs.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (_, row, counts) = &runs[runs.len() / 2];
            println!("{row}");
            split[w].push(format!("{conns}: {counts}"));
        }
    }
    println!();
    for (w, &(server, _)) in walks.iter().enumerate() {
        println!(
            "{server}: server CPU per hop as user / system µs, and minor page faults and context switches per hop (the median run): {}",
            split[w].join("; ")
        );
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

/// What one run of a level measured.
struct Run {
    /// Each hop's latency in µs, by its place in the walk.
    by_hop: [Vec<u32>; MAX_HOPS],
    /// Walks completed.
    walks: u64,
}

/// Runs `conns` client threads for `dur`, each walking sessions back to back on one keep-alive
/// connection and checking every reply.
fn run_level(addr: SocketAddr, conns: usize, dur: Duration, warm: bool, walk: Walk) -> Run {
    let deadline = Instant::now() + dur;
    let run_no = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
    let handles: Vec<_> = (0..conns)
        .map(|c| {
            std::thread::spawn(move || {
                let mut conn = Conn::open(addr);
                let phone = format!("+2547{:08}", 10_000 + c);
                let mut run = Run { by_hop: Default::default(), walks: 0 };
                for l in &mut run.by_hop {
                    l.reserve(200_000 / conns / MAX_HOPS);
                }
                if warm && walk != Walk::LandRates {
                    // Answer the first-use language question so later walks start at home
                    // (English for the land-rates walk, whose screens are checked).
                    let sid = format!("warm-{run_no}-{c}");
                    let _ = conn.hop(&sid, &phone, "");
                    let sw = matches!(walk, Walk::Agencies | Walk::Search | Walk::Searches | Walk::SearchesControl);
                    let _ = conn.hop(&sid, &phone, if sw { "1" } else { "2" });
                }
                let mut walk_no = 0u64;
                while Instant::now() < deadline {
                    walk_no += 1;
                    let sid = format!("load-{run_no}-{c}-{walk_no}");
                    let complete = match walk {
                        Walk::Agencies => agencies_walk(&mut conn, &sid, &phone, &mut run.by_hop),
                        Walk::LandRates => land_rates_walk(&mut conn, &sid, None, walk_no, &mut run.by_hop),
                        Walk::LandRatesReturning => {
                            land_rates_walk(&mut conn, &sid, Some(&phone), walk_no, &mut run.by_hop)
                        }
                        Walk::Search => search_walk(&mut conn, &sid, &phone, walk_no, &mut run.by_hop),
                        Walk::Searches => searches_walk(&mut conn, &sid, &phone, walk_no, &mut run.by_hop),
                        Walk::SearchesControl => control_walk(&mut conn, &sid, &phone, &mut run.by_hop),
                    };
                    run.walks += u64::from(complete);
                }
                run
            })
        })
        .collect();
    let mut total = Run { by_hop: Default::default(), walks: 0 };
    for h in handles {
        if let Ok(run) = h.join() {
            for (all, one) in total.by_hop.iter_mut().zip(run.by_hop) {
                all.extend(one);
            }
            total.walks += run.walks;
        }
    }
    total
}

/// One hop, timed into its place in the walk.
fn timed(conn: &mut Conn, sid: &str, phone: &str, text: &str, lat: &mut Vec<u32>) -> String {
    let t = Instant::now();
    let reply = conn.hop(sid, phone, text);
    lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
    reply
}

/// [`WALK`]; false when the server ended it early (the bare server ends every hop).
fn agencies_walk(conn: &mut Conn, sid: &str, phone: &str, lat: &mut [Vec<u32>]) -> bool {
    for (i, text) in WALK.into_iter().enumerate() {
        let reply = timed(conn, sid, phone, text, &mut lat[i]);
        assert!(reply.starts_with("CON ") || reply.starts_with("END "), "unexpected reply {reply:?}");
        if reply.starts_with("END ") && i != WALK.len() - 1 {
            return false;
        }
    }
    true
}

/// [`Walk::LandRates`] by a new citizen (`returning` None) or [`Walk::LandRatesReturning`] by
/// the returning citizen `returning`. Every screen is checked, so a server that answers the
/// wrong screen (or mixes up concurrent sessions) fails the benchmark instead of winning it.
fn land_rates_walk(conn: &mut Conn, sid: &str, returning: Option<&str>, walk_no: u64, lat: &mut [Vec<u32>]) -> bool {
    let (parcel, owner) = PARCELS[(walk_no % PARCELS.len() as u64) as usize];
    let mut hops: Vec<(String, String)> = vec![
        (String::new(), "CON Chagua lugha / Choose language\n1. Kiswahili\n2. English".into()),
        ("2".into(), "CON Welcome to e-Citizen\n1. Pay land rates\n".into()),
        ("2*1".into(), "CON Enter the land parcel number (e.g. KAJIADO/1234):".into()),
        (format!("2*1*{parcel}"), format!("CON {parcel}, {owner}\nRates due: KES ")),
        (format!("2*1*{parcel}*2"), "END Cancelled. Thank you for using e-Citizen.".into()),
    ];
    let phone = match returning {
        None => format!("+2547{:08}", NEXT_CITIZEN.fetch_add(1, Ordering::Relaxed)),
        Some(phone) => {
            // No language question: the walk starts at home, and no input chose a language.
            hops.remove(0);
            hops[0].0.clear();
            for (text, _) in &mut hops[1..] {
                *text = text.split_off(2);
            }
            phone.to_owned()
        }
    };
    for (i, (text, expect)) in hops.iter().enumerate() {
        let reply = timed(conn, sid, &phone, text, &mut lat[i]);
        assert!(reply.starts_with(expect.as_str()), "hop {} of {sid}: expected {expect:?}, got {reply:?}", i + 1);
    }
    true
}

/// [`Walk::Search`]: every screen is checked, the search's results for the row picked.
fn search_walk(conn: &mut Conn, sid: &str, phone: &str, walk_no: u64, lat: &mut [Vec<u32>]) -> bool {
    let searches = SEARCHES.get().expect("the searches are found before the runs");
    let (query, row) = &searches[(walk_no % searches.len() as u64) as usize];
    let hops = [
        (String::new(), "CON Karibu e-Citizen"),
        ("6".to_owned(), "CON Andika jina la huduma"),
        (format!("6*{query}"), "CON "),
        (format!("6*{query}*{row}"), "END "),
    ];
    for (i, (text, expect)) in hops.iter().enumerate() {
        let reply = timed(conn, sid, phone, text, &mut lat[i]);
        assert!(reply.starts_with(expect), "hop {} of {sid}: expected {expect:?}, got {reply:?}", i + 1);
    }
    true
}

/// [`Walk::Searches`]: every screen is checked, the last search's results for the row picked.
/// Each walk takes the next [`SEARCHES_PER_WALK`] queries of [`SEARCHES`].
fn searches_walk(conn: &mut Conn, sid: &str, phone: &str, walk_no: u64, lat: &mut [Vec<u32>]) -> bool {
    let searches = SEARCHES.get().expect("the searches are found before the runs");
    let first = walk_no as usize * SEARCHES_PER_WALK;
    let mut hops = vec![(String::new(), "CON Karibu e-Citizen"), ("6".to_owned(), "CON Andika jina la huduma")];
    let mut text = "6".to_owned();
    for i in 0..SEARCHES_PER_WALK {
        let (query, row) = &searches[(first + i) % searches.len()];
        text = format!("{text}*{query}");
        hops.push((text.clone(), "CON "));
        // Back to the search screen for the next search; the last one's service is picked.
        text = if i + 1 < SEARCHES_PER_WALK { format!("{text}*0") } else { format!("{text}*{row}") };
        hops.push((text.clone(), if i + 1 < SEARCHES_PER_WALK { "CON Andika jina la huduma" } else { "END " }));
    }
    for (i, (text, expect)) in hops.iter().enumerate() {
        let reply = timed(conn, sid, phone, text, &mut lat[i]);
        assert!(reply.starts_with(expect), "hop {} of {sid}: expected {expect:?}, got {reply:?}", i + 1);
    }
    true
}

/// [`Walk::SearchesControl`]: every screen is checked; the service picked is the first one home
/// offers the citizen (a line numbered by a service code, which the search walks left there).
fn control_walk(conn: &mut Conn, sid: &str, phone: &str, lat: &mut [Vec<u32>]) -> bool {
    let home = timed(conn, sid, phone, "", &mut lat[0]);
    assert!(home.starts_with("CON Karibu e-Citizen"), "hop 1 of {sid}: got {home:?}");
    let code = home
        .lines()
        .filter_map(|l| l.split_once(". ").map(|(n, _)| n))
        .find(|n| n.len() >= 3 && n.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("home offers {sid} no recent service: {home:?}"))
        .to_owned();
    let mut hops = Vec::new();
    let mut text = String::new();
    for _ in 0..SEARCHES_PER_WALK {
        text.push_str(if text.is_empty() { "6" } else { "*6" });
        hops.push((text.clone(), "CON Andika jina la huduma"));
        text.push_str("*0");
        hops.push((text.clone(), "CON Karibu e-Citizen"));
    }
    hops.push((format!("{text}*{code}"), "END "));
    for (i, (text, expect)) in hops.iter().enumerate() {
        let reply = timed(conn, sid, phone, text, &mut lat[i + 1]);
        assert!(reply.starts_with(expect), "hop {} of {sid}: expected {expect:?}, got {reply:?}", i + 2);
    }
    true
}

/// The search walk's queries, each with the Swahili name of the information service it is for:
/// a service's last three words of its Swahili name (the thing and the county or body, as a
/// citizen types them), for 32 services spread over the catalogue (every 37th information
/// service of the 5,000; closer together in the smoke run's small catalogue).
fn search_queries(generated: &catalogue_gen::Generated) -> Vec<(String, String)> {
    let information = generated.generated.iter().filter(|g| g.flow == "information");
    let step = (information.clone().count() / 32).clamp(1, 37);
    information
        .step_by(step)
        .take(32)
        .map(|g| {
            let words: Vec<&str> =
                g.name_sw.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| w.len() > 3).collect();
            (words[words.len().saturating_sub(3)..].join(" "), g.name_sw.clone())
        })
        .collect()
}

/// The `search` section: the generated catalogue of `services` services served, its search
/// walk and the agencies walk on the same server, and the ratio of their CPU per hop.
fn search(data: &Path, seconds: u64, services: usize) {
    let _ = std::fs::remove_dir_all(data);
    let tree = data.with_extension("catalogue");
    let _ = std::fs::remove_dir_all(&tree);
    let generated = catalogue_gen::generate(&tree, services);
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut server = start_server_on(addr, data, None, Some(&tree));
    wait_ready(addr);
    // The walks' queries ([`search_queries`]) and the row each service has in the results.
    let mut conn = Conn::open(addr);
    let phone = "+254799000001";
    let _ = conn.hop("probe-lang", phone, "");
    let _ = conn.hop("probe-lang", phone, "1");
    let mut searches = Vec::new();
    for (i, (query, name)) in search_queries(&generated).into_iter().enumerate() {
        let sid = format!("probe-{i}");
        let _ = conn.hop(&sid, phone, "");
        let _ = conn.hop(&sid, phone, "6");
        let results = conn.hop(&sid, phone, &format!("6*{query}"));
        let row =
            results.lines().find_map(|l| l.split_once(". ").filter(|(_, n)| *n == name).map(|(n, _)| n.to_owned()));
        if let Some(row) = row {
            searches.push((query, row));
        }
    }
    if searches.len() < 8 {
        // Not left serving after the bench is gone.
        let _ = server.kill();
        panic!("too few searches find their service on the first page: {searches:?}");
    }
    println!(
        "\n## njia serve on the national catalogue ({} services of {} agencies): a plain menu hop and a search hop\n",
        generated.services, generated.agencies
    );
    println!("{} searches such as {:?} (row {})\n", searches.len(), searches[0].0, searches[0].1);
    let _ = SEARCHES.set(searches);
    // The search walks first: each ends in a service, so by the other walks every phone (one
    // per connection, the same numbers in all) is a returning citizen whose home offers recent
    // services, and every walk starts from the same home.
    for conns in [1, 16, 64] {
        run_level(addr, conns, Duration::from_millis(1000), true, Walk::Search);
    }
    let walks = [
        ("njia, search walk", Walk::Search),
        ("njia, agencies walk", Walk::Agencies),
        ("njia, searches walk", Walk::Searches),
        ("njia, control walk", Walk::SearchesControl),
    ];
    let names: Vec<&str> = walks.iter().map(|(_, w)| w.name()).collect();
    println!("### njia: {}\n", names.join("; "));
    // Five runs a walk a level: the estimate of the search hop alone multiplies a difference.
    let cpu = levels_of(&walks, addr, server.id(), seconds, false, 5);
    let medians = |w: usize| cpu[w].iter().map(|runs| median(runs)).collect::<Vec<f64>>();
    let (search, plain, searches, control) = (medians(0), medians(1), medians(2), medians(3));
    let ratio =
        |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| format!("{:.2}", a / b)).collect::<Vec<_>>().join(", ");
    println!("\nsearch walk CPU per hop / agencies walk's at 1, 16, 64 connections: {}", ratio(&search, &plain));
    // The searches walk and its control take turns run by run, so each run of one is compared
    // with the other's run beside it (a drifting machine is felt by both) and the median of
    // those ratios kept. Hop for hop the walks differ where the searches walk searches
    // (`SEARCHES_PER_WALK` of its `MAX_HOPS` hops) and in how the last hop reaches its END, so
    // the search hop alone, over the plain hop it replaced, is at most
    // 1 + (MAX_HOPS / SEARCHES_PER_WALK) x (the walks' ratio - 1).
    let scale = MAX_HOPS as f64 / SEARCHES_PER_WALK as f64;
    let paired: Vec<f64> = cpu[2]
        .iter()
        .zip(&cpu[3])
        .map(|(s, c)| median(&s.iter().zip(c).map(|(s, c)| s / c).collect::<Vec<_>>()))
        .collect();
    println!("searches walk CPU per hop / control walk's at 1, 16, 64 connections: {}", ratio(&searches, &control));
    println!(
        "searches walk CPU per hop / control walk's, the median of the paired runs' ratios at 1, 16, 64 connections: {}",
        paired.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>().join(", ")
    );
    let alone: Vec<String> = paired
        .iter()
        .zip(&control)
        .zip(&plain)
        .map(|((r, c), p)| {
            let times = 1.0 + scale * (r - 1.0);
            let hop = c * times;
            format!("{hop:.1} µs = {times:.2}x the control walk's hop, {:.2}x the agencies walk's", hop / p)
        })
        .collect();
    println!(
        "the search hop alone (1 + {scale} x (that ratio - 1) times the control walk's hop) at 1, 16, 64 connections: {}",
        alone.join("; ")
    );
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&tree);
}

fn start_server(addr: SocketAddr, data: &Path, config: Option<&Path>) -> Child {
    start_server_on(addr, data, config, None)
}

/// [`start_server`], serving the menus and locales of `tree` (its `menus/` and `locales/`)
/// when given, else the repository's.
fn start_server_on(addr: SocketAddr, data: &Path, config: Option<&Path>, tree: Option<&Path>) -> Child {
    let bin = env!("CARGO_BIN_EXE_njia");
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0", bin, "serve", "--listen", &addr.to_string(), "--data-dir"]).arg(data);
    if let Some(tree) = tree {
        cmd.arg("--menus").arg(tree.join("menus")).arg("--locales").arg(tree.join("locales"));
    }
    let config = config.map_or_else(|| common::bench_config(data), Path::to_path_buf);
    cmd.arg("--config").arg(config);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
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
    let (user, system, _) = stat_counts(pid);
    user + system
}

/// utime, stime and minor faults of a process from `/proc/<pid>/stat` (zeros when it is gone).
fn stat_counts(pid: u32) -> (u64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (num(11), num(12), num(7))
}

/// What the kernel counts of a process besides its CPU time: where a hop's CPU goes when
/// instruction counts do not explain it (system time, page faults, context switches).
#[derive(Clone, Copy, Default)]
struct ProcCounts {
    user_ticks: u64,
    system_ticks: u64,
    minor_faults: u64,
    context_switches: u64,
}

impl ProcCounts {
    fn of(pid: u32) -> ProcCounts {
        let (user_ticks, system_ticks, minor_faults) = stat_counts(pid);
        // Context switches are counted per thread: the sum over the process's threads.
        let context_switches = std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
            .flat_map(|status| {
                status
                    .lines()
                    .filter(|l| l.contains("ctxt_switches:"))
                    .filter_map(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
                    .collect::<Vec<_>>()
            })
            .sum();
        ProcCounts { user_ticks, system_ticks, minor_faults, context_switches }
    }

    fn since(&self, before: &ProcCounts) -> ProcCounts {
        ProcCounts {
            user_ticks: self.user_ticks.saturating_sub(before.user_ticks),
            system_ticks: self.system_ticks.saturating_sub(before.system_ticks),
            minor_faults: self.minor_faults.saturating_sub(before.minor_faults),
            context_switches: self.context_switches.saturating_sub(before.context_switches),
        }
    }

    fn per_hop(&self, hops: usize) -> String {
        let hops = hops.max(1) as f64;
        let us = |ticks: u64| ticks as f64 * 1e6 / ticks_per_second() as f64 / hops;
        format!(
            "{:.1} / {:.1} µs, {:.2} faults, {:.2} switches",
            us(self.user_ticks),
            us(self.system_ticks),
            self.minor_faults as f64 / hops,
            self.context_switches as f64 / hops
        )
    }
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
