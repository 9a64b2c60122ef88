//! Hand-off benchmarks: what the durable hand-off costs the citizen on the line, and how fast
//! the dispatcher drains its queue.
//!
//! 1. Submit hop: the real `njia serve` binary (sandbox mode, dispatcher running), walked by
//!    concurrent Africa's Talking sessions to the land-rates payment. Only the last hop writes
//!    (request, payment attempt and push job in one transaction, committed before END): its
//!    p50/p99/p99.9 are reported, for SQLite and for PostgreSQL.
//! 2. Dispatcher throughput: requests queued for delivery in a store, a dispatcher delivering
//!    each to a local agency (signed HTTP POST) and recording its SMS; jobs/s until all are
//!    done, for SQLite and PostgreSQL (one and two dispatchers).
//!
//! Run: `cargo bench --bench handoff` (release). PostgreSQL: `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); a scratch database is created and dropped.
//! Options (after `--`): `--seconds N` per submit run (default 5), `--conns N` (default 16),
//! `--jobs N` requests for the dispatcher run (default 2000), `--no-dispatcher` to measure
//! the submit hop of an instance that only answers USSD (`njia serve --no-dispatcher`).

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use njia::agency::{Agencies, HttpBackend};
use njia::handoff::{Dispatcher, Policy, plan_submit};
use njia::lifecycle::RequestStatus;
use njia::sms::LogSms;
use njia::store::{NewRequest, Store};
use njia::types::{Locale, Msisdn};

use common::{Conn, create_database, drop_database, free_port, wait_ready};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let smoke = args.iter().any(|a| a == "--test");
    let flag = |name: &str, default: u64| common::flag(&args, name, default);
    let seconds = if smoke { 1 } else { flag("--seconds", 5) };
    let conns = if smoke { 2 } else { flag("--conns", 16) as usize };
    let jobs = if smoke { 50 } else { flag("--jobs", 2000) as usize };
    let no_dispatcher = args.iter().any(|a| a == "--no-dispatcher");
    let admin_url =
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");

    println!("# Njia hand-off benchmark\n");
    println!("## Submit hop (request + payment attempt + push job committed before END)\n");
    println!(
        "{conns} connections, {seconds} s per row, sandbox mode with the dispatcher running (it pushes, \
         settles, delivers and receipts every request during the run). Paced rows offer a fixed rate of \
         citizens; `max` walks back to back (saturation: latency there is queueing).\n"
    );
    println!(
        "| store | offered walks/s | submits/s | submit p50 µs | p99 µs | p99.9 µs | other hops p50 µs | p99 µs |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let data = std::env::temp_dir().join(format!("njia-handoff-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let rates: &[Option<u64>] = if smoke { &[Some(20), None] } else { &[Some(50), Some(200), None] };
    for (i, rate) in rates.iter().enumerate() {
        submit_run("SQLite", None, &data.join(format!("sqlite-{i}")), conns, seconds, *rate, no_dispatcher);
    }
    for (i, rate) in rates.iter().enumerate() {
        let db = rt.block_on(create_database(&admin_url, &format!("submit{i}")));
        submit_run("PostgreSQL", Some(&db), &data.join(format!("pg-{i}")), conns, seconds, *rate, no_dispatcher);
        rt.block_on(drop_database(&admin_url, &db));
    }

    println!("\n## Dispatcher throughput (deliver to a local agency, then the SMS receipt)\n");
    println!("{jobs} requests queued, 2 jobs each (deliver + notify), batch 32.\n");
    println!("| store | dispatchers | jobs | seconds | jobs/s |");
    println!("|---|---|---|---|---|");
    rt.block_on(async {
        let agency = agency_server().await;
        let dir = data.join("dispatch");
        let sqlite: Arc<dyn Store> = Arc::new(njia::store::sqlite::SqliteStore::open(&dir).expect("sqlite"));
        dispatch_run("SQLite", sqlite, &agency, jobs, 1).await;
        for n in [1, 2] {
            let db = create_database(&admin_url, &format!("dispatch{n}")).await;
            let pg: Arc<dyn Store> =
                Arc::new(njia::store::postgres::PostgresStore::connect(&db).await.expect("postgres"));
            dispatch_run("PostgreSQL", pg, &agency, jobs, n).await;
            drop_database(&admin_url, &db).await;
        }
    });
    let _ = std::fs::remove_dir_all(&data);
}

// --- 1. Submit hop ---------------------------------------------------------------------------

/// One row: `conns` connections walking to the payment, paced to `rate` walks/s in all (or
/// back to back when `None`).
fn submit_run(
    label: &str,
    database_url: Option<&str>,
    data: &std::path::Path,
    conns: usize,
    seconds: u64,
    rate: Option<u64>,
    no_dispatcher: bool,
) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut server = start_server(addr, data, database_url, no_dispatcher);
    wait_ready(addr);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    // Each connection starts a walk every `interval`, staggered so arrivals spread evenly.
    let interval = rate.map(|r| Duration::from_secs_f64(conns as f64 / r.max(1) as f64));
    let handles: Vec<_> = (0..conns)
        .map(|c| {
            std::thread::spawn(move || {
                let mut conn = Conn::open(addr);
                let phone = format!("+2547{:08}", 20_000 + c);
                // Answer the first-use language question once: later walks start at home.
                let _ = conn.hop(&format!("lang-{c}"), &phone, "");
                let _ = conn.hop(&format!("lang-{c}"), &phone, "1");
                // One unmeasured walk: a production server is warm.
                for text in ["", "1", "1*KAJIADO/1234", "1*KAJIADO/1234*1"] {
                    let _ = conn.hop(&format!("warm-{c}"), &phone, text);
                }
                let (mut submit, mut other) = (Vec::new(), Vec::new());
                let mut n = 0u64;
                let mut next = start + interval.map_or(Duration::ZERO, |i| i.mul_f64(c as f64 / conns as f64));
                while Instant::now() < deadline {
                    if let Some(i) = interval {
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep(next - now);
                        }
                        next += i;
                    }
                    n += 1;
                    let sid = format!("s-{c}-{n}");
                    for (i, text) in ["", "1", "1*KAJIADO/1234", "1*KAJIADO/1234*1"].iter().enumerate() {
                        let t = Instant::now();
                        let reply = conn.hop(&sid, &phone, text);
                        let us = t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                        if i == 3 {
                            assert!(reply.starts_with("END Ombi NJ-"), "unexpected submit reply {reply:?}");
                            submit.push(us);
                        } else {
                            assert!(reply.starts_with("CON "), "unexpected reply {reply:?}");
                            other.push(us);
                        }
                    }
                }
                (submit, other)
            })
        })
        .collect();
    let (mut submit, mut other) = (Vec::new(), Vec::new());
    for h in handles {
        let (s, o) = h.join().expect("client thread");
        submit.extend(s);
        other.extend(o);
    }
    let _ = server.kill();
    let _ = server.wait();
    submit.sort_unstable();
    other.sort_unstable();
    println!(
        "| {label} | {} | {:.0} | {} | {} | {} | {} | {} |",
        rate.map_or("max".to_owned(), |r| r.to_string()),
        submit.len() as f64 / seconds as f64,
        pct(&submit, 0.50),
        pct(&submit, 0.99),
        pct(&submit, 0.999),
        pct(&other, 0.50),
        pct(&other, 0.99),
    );
}

fn pct(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn start_server(addr: SocketAddr, data: &std::path::Path, database_url: Option<&str>, no_dispatcher: bool) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_njia"));
    if no_dispatcher {
        cmd.arg("serve").arg("--no-dispatcher");
    } else {
        cmd.arg("serve");
    }
    cmd.args(["--listen", &addr.to_string(), "--data-dir"])
        .arg(data)
        .arg("--config")
        .arg(common::bench_config(data))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "error")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    cmd.spawn().expect("start njia serve")
}

// --- 2. Dispatcher throughput ----------------------------------------------------------------

/// A local agency: accepts every delivery (it does not verify signatures; its cost is not
/// Njia's). Returns its base URL.
async fn agency_server() -> String {
    use axum::routing::post;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the agency");
    let addr = listener.local_addr().expect("agency address");
    let app = axum::Router::new().route("/requests", post(|| async { r#"{"agency_reference":"B-1"}"# }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

async fn dispatch_run(label: &str, store: Arc<dyn Store>, agency_url: &str, n: usize, dispatchers: usize) {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fallback = [Locale::parse("sw").expect("sw"), Locale::parse("en").expect("en")];
    let loaded = njia::check::load(&njia::check::Options::new(&root.join("menus"), &root.join("locales"), &fallback))
        .expect("the menus check clean");
    let policy = Policy { batch: 32, poll_ms: 5, ..Policy::default() };
    // Queue `n` requests that need no payment: each is one deliver job, then one notify job.
    let submits: Vec<_> = (0..n)
        .map(|i| {
            let store = Arc::clone(&store);
            let policy = policy.clone();
            tokio::spawn(async move {
                let msisdn = Msisdn::parse(&format!("+2547115{i:05}")).expect("phone");
                let plan = plan_submit(msisdn, None, &policy, 0);
                store
                    .submit(NewRequest {
                        idempotency_key: format!("bench:{i}"),
                        menu: "ecitizen".into(),
                        service: "land-rates".into(),
                        msisdn,
                        locale: Locale::parse("sw").expect("sw"),
                        payment: None,
                        fields: vec![("parcel".into(), "KAJIADO/1234".into())],
                        statuses: plan.statuses,
                        attempt: plan.attempt,
                        jobs: plan.jobs,
                    })
                    .await
                    .expect("submit")
            })
        })
        .collect();
    for s in submits {
        s.await.expect("submit task");
    }
    let mut agencies = Agencies::default();
    let backend =
        HttpBackend::new("bench", agency_url, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Duration::from_secs(2))
            .expect("backend");
    agencies.by_service.insert("land-rates".into(), Arc::new(backend));
    let agencies: Arc<Agencies> = Arc::new(agencies);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let tasks: Vec<_> = (0..dispatchers)
        .map(|_| {
            let d = Arc::new(Dispatcher {
                store: Arc::clone(&store),
                payments: Arc::new(njia::payment::sandbox::SandboxPayments {
                    callbacks: Arc::new(njia::server::HandoffCallbacks {
                        store: Arc::clone(&store),
                        policy: policy.clone(),
                        metrics: njia::metrics::Registry::for_server(false),
                    }),
                    pin_delay: Duration::ZERO,
                }),
                agency: Arc::clone(&agencies) as Arc<dyn njia::agency::Agency>,
                sms: Arc::new(LogSms),
                catalog: Arc::new(njia::reload::Shared::new(Arc::clone(&loaded.catalog))),
                default_locale: Locale::parse("sw").expect("sw"),
                senders: Arc::new(njia::reload::Shared::new(Arc::new(njia::server::menu_senders(&loaded.menus)))),
                policy: policy.clone(),
                worker: njia::handoff::worker_name(),
                metrics: njia::metrics::Registry::for_server(false),
            });
            tokio::spawn(d.run(stop_rx.clone(), Arc::new(tokio::sync::Notify::new())))
        })
        .collect();
    loop {
        let done = store.requests_with_status(Some(RequestStatus::Notified), n as u32 + 1).await.expect("count").len();
        if done >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    println!("| {label} | {dispatchers} | {} | {secs:.2} | {:.0} |", 2 * n, (2 * n) as f64 / secs);
}
