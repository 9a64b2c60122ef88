//! The soak run of #15: the release `njia serve` in production mode for a long while at half
//! its measured capacity, with every flow, killed (SIGKILL) at a fixed period and PostgreSQL
//! restarted once; then the checks that nothing acknowledged was lost, nothing was pushed twice
//! and the server's memory stayed flat. Not run in CI (it lasts 30 minutes by default);
//! `RELIABILITY.md` holds its figures and what each check means.
//!
//! Run: `cargo bench --bench soak -- [--minutes 30] [--kill-every-secs 300] [--rate HOPS_PER_SEC]
//! [--pg-restart-at-secs N] [--ramp-secs 20] [--settle-secs 300] [--own-cluster]`.
//!
//! - The server: the release binary (`serve --config`), not sandbox: STK pushes go to the
//!   Daraja double (which calls back), deliveries to the agency double, receipts to the Africa's
//!   Talking SMS double (`tests/common/doubles`, the configuration of `production_toml`), with
//!   sessions and store in a scratch PostgreSQL database, so a kill loses no session and the
//!   PostgreSQL restart is felt by both.
//! - The load: walks of every flow (paid land rates and licence renewal, the KRA PIN check,
//!   application status, a catalogue search to an information service, a language change),
//!   started at a fixed rate by a pool of returning and new numbers. The rate is `--rate`
//!   hops/s, or half the capacity a short ramp measures at start (closed loop, then the
//!   hand-off's backlog drained: the lower of the hop rate and the hand-off's rate).
//! - The faults: a SIGKILL every `--kill-every-secs` (the server restarts on the same database
//!   and port at once), and one PostgreSQL restart at `--pg-restart-at-secs` (default half-way):
//!   `pg_ctlcluster --skip-systemctl-redirect <version> main restart` on the shared cluster
//!   (which needs root), or with `--own-cluster` a scratch cluster of this run's own
//!   (`initdb` in a temporary directory, `pg_ctl restart`), so that nothing else using the
//!   machine's PostgreSQL is disturbed. The telco side retries a hop whose answer was lost
//!   (refused, reset, cut off) when it was the walk's final hop, as a telco does.
//! - The checks, after the load stops and the dispatcher settles (no job ready or running):
//!   every reference an END gave the telco is stored under that session's key; every stored
//!   request is final or in a documented waiting state; no payment attempt was pushed twice
//!   (per callback token and per CheckoutRequestID at the Daraja double); no job dead; the
//!   server's RSS, sampled every 5 s from /proc, grew by at most [`RSS_GROWTH_BOUND`] from the
//!   first window after warm-up to the last. A summary table, and exit 1 on any violation.
//! - The hand-off's backlog every 30 s (jobs ready and running, how long the oldest due job
//!   has waited, requests stored), from the start until the dispatcher settles: whether a run
//!   that did not settle fell behind, and from when.

// The test doubles expect the tests' helpers at `crate::common`; the benchmarks' own shared
// helpers are then `bench` (of which the soak uses the server helpers, not the load client).
#[allow(dead_code)]
#[path = "common/mod.rs"]
mod bench;
#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bench::{create_database, drop_database, free_port, rss_kib};
use common::doubles::{
    AgencyDouble, AtSmsDouble, DarajaDouble, DarajaDoubleConfig, Timings, production_toml, serve_command,
};

/// How much the server's median RSS may grow from the first window after warm-up to the last.
const RSS_GROWTH_BOUND: f64 = 0.25;
/// Load before the first RSS window: the first server's caches, pools and allocator arenas fill.
const WARM_UP: Duration = Duration::from_secs(60);
/// The RSS windows compared, at most (shorter runs compare thirds of what follows the warm-up).
const RSS_WINDOW: Duration = Duration::from_secs(300);
/// Samples this soon after a server (re)started are its own warm-up, left out of the windows.
const LIFE_WARM_UP: Duration = Duration::from_secs(20);
const RSS_EVERY: Duration = Duration::from_secs(5);
/// Answers that differ from a walk's script this long after a fault ended are counted as
/// during the fault (connections and pools reopening).
const FAULT_GRACE: Duration = Duration::from_secs(10);
/// Longest a hop may take before the telco gives up on it.
const HOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest the telco keeps retrying a final hop whose answer was lost.
const RETRY_FOR: Duration = Duration::from_secs(120);
const RETRY_EVERY: Duration = Duration::from_millis(250);
/// Longest a (re)started server may take to answer `/healthz`.
const START_DEADLINE: Duration = Duration::from_secs(120);
/// Concurrent citizens of the capacity ramp (closed loop), as the load bench's middle level.
const RAMP_CITIZENS: usize = 16;
/// Numbers the load draws from: most walks are by returning citizens (language remembered,
/// requests to list), and a number's first walk answers the language question.
const CITIZENS: u64 = 5_000;
/// States a request may be left in once the dispatcher has settled. Final
/// (`RequestStatus::is_final`): nothing follows but the notice, or it was sent. Waiting for an
/// administrator (`src/lifecycle.rs`, ARCHITECTURE.md's timeline of an unknown push):
/// `payment_unknown` (no callback and no query settled the push) and `held_for_review`.
const ALLOWED: [&str; 6] =
    ["notified", "fulfilled", "rejected", "payment_failed", "payment_unknown", "held_for_review"];
const CHANNEL: &str = "africastalking";

/// The flows of the mix and their shares of walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Flow {
    LandRates,
    Licence,
    KraPin,
    Status,
    Search,
    Language,
}

impl Flow {
    const MIX: [(Flow, u32); 6] = [
        (Flow::LandRates, 25),
        (Flow::Licence, 15),
        (Flow::KraPin, 15),
        (Flow::Status, 15),
        (Flow::Search, 20),
        (Flow::Language, 10),
    ];

    fn pick() -> Flow {
        let total: u32 = Flow::MIX.iter().map(|(_, w)| w).sum();
        let mut at = rand::random_range(0..total);
        for (flow, w) in Flow::MIX {
            if at < w {
                return flow;
            }
            at -= w;
        }
        Flow::LandRates
    }

    fn name(self) -> &'static str {
        match self {
            Flow::LandRates => "land rates, paid",
            Flow::Licence => "licence renewal, paid",
            Flow::KraPin => "KRA PIN check",
            Flow::Status => "application status",
            Flow::Search => "search to an information service",
            Flow::Language => "language change",
        }
    }

    /// What the citizen types after the dial (the shipped menus, `tests/journeys/home.toml`).
    fn inputs(self) -> Vec<&'static str> {
        match self {
            Flow::LandRates => vec!["1", "KAJIADO/1234", "1"],
            Flow::Licence => vec!["2", "DL123456", "1", "1"],
            Flow::KraPin => vec!["3", "A123456789B"],
            // The newest of the number's own requests, or "another reference" when it has none
            // (then one is typed: see `walk`).
            Flow::Status => vec!["4", "1"],
            Flow::Search => vec!["6", "passport", "1"],
            Flow::Language => vec!["8", if rand::random_bool(0.5) { "1" } else { "2" }],
        }
    }

    /// Whether the final hop submits a request (its END carries the reference).
    fn submits(self) -> bool {
        matches!(self, Flow::LandRates | Flow::Licence)
    }

    /// Whether the walk ends with END (the language change ends on the home menu).
    fn ends(self) -> bool {
        self != Flow::Language
    }
}

/// How one walk went, as the telco saw it.
#[derive(Default)]
struct FlowStats {
    started: u64,
    /// Every hop answered as the script expects, to the end.
    completed: u64,
    /// A hop before the final one got no answer (the server was down): the citizen's dialogue
    /// is gone, as on a real network.
    cut: u64,
    /// The final hop's answer was lost and the telco retried it.
    retried: u64,
    /// ... and a retry was answered.
    retried_answered: u64,
    /// Answers the script does not expect (an apology, an HTTP error), with when they came.
    unexpected: Vec<(Instant, String)>,
    hops: u64,
}

/// A reference the telco received in an END.
struct Ack {
    key: String,
    reference: String,
    retried: bool,
}

/// What the load shares.
struct Load {
    http: reqwest::Client,
    url: String,
    stats: Mutex<BTreeMap<Flow, FlowStats>>,
    acks: Mutex<Vec<Ack>>,
    next_walk: AtomicU64,
    hops: AtomicU64,
    run: u32,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Load {
    /// One Africa's Talking hop: the reply (an HTTP error as text), or `None` when no answer came.
    async fn hop(&self, sid: &str, phone: &str, text: &str) -> Option<String> {
        self.hops.fetch_add(1, Ordering::Relaxed);
        let body = common::at_hop(sid, phone, "*384#", text);
        let sent = self
            .http
            .post(&self.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .ok()?;
        let status = sent.status().as_u16();
        let reply = sent.text().await.ok()?;
        Some(if status == 200 { reply } else { format!("HTTP {status}: {reply}") })
    }

    /// The final hop, retried while its answer is lost, as a telco retries.
    async fn final_hop(&self, sid: &str, phone: &str, text: &str, stats: &mut FlowStats) -> Option<String> {
        if let Some(reply) = self.hop(sid, phone, text).await {
            return Some(reply);
        }
        stats.retried += 1;
        let until = Instant::now() + RETRY_FOR;
        while Instant::now() < until {
            tokio::time::sleep(RETRY_EVERY).await;
            if let Some(reply) = self.hop(sid, phone, text).await {
                stats.retried_answered += 1;
                return Some(reply);
            }
        }
        None
    }

    /// One walk of `flow` by a number of the pool, to its end or to the first hop that went
    /// wrong; its figures are added to the flow's.
    async fn walk(&self, flow: Flow) {
        let n = self.next_walk.fetch_add(1, Ordering::Relaxed);
        let phone = format!("+2547{:08}", 20_000_000 + rand::random_range(0..CITIZENS));
        let sid = format!("ATUid_soak_{}_{n}", self.run);
        let mut stats = FlowStats { started: 1, ..FlowStats::default() };
        let outcome = self.script(flow, &sid, &phone, &mut stats).await;
        match outcome {
            Step::Done(Some(reference)) => {
                let key = format!("{CHANNEL}:{sid}:{}", phone.trim_start_matches('+'));
                lock(&self.acks).push(Ack { key, reference, retried: stats.retried > 0 });
                stats.completed += 1;
            }
            Step::Done(None) => stats.completed += 1,
            Step::Cut => stats.cut += 1,
            Step::Unexpected(reply) => stats.unexpected.push((Instant::now(), reply)),
        }
        let mut all = lock(&self.stats);
        let s = all.entry(flow).or_default();
        s.started += stats.started;
        s.completed += stats.completed;
        s.cut += stats.cut;
        s.retried += stats.retried;
        s.retried_answered += stats.retried_answered;
        s.hops += stats.hops;
        s.unexpected.append(&mut stats.unexpected);
    }

    async fn script(&self, flow: Flow, sid: &str, phone: &str, stats: &mut FlowStats) -> Step {
        stats.hops += 1;
        let Some(first) = self.hop(sid, phone, "").await else { return Step::Cut };
        if !first.starts_with("CON ") {
            return Step::Unexpected(first);
        }
        // A number's first dial is asked its language: either, at random.
        let mut texts: Vec<String> = Vec::new();
        if first.contains("Choose language") {
            texts.push(if rand::random_bool(0.5) { "1" } else { "2" }.to_owned());
        }
        texts.extend(flow.inputs().into_iter().map(str::to_owned));
        let mut sent = String::new();
        let mut typed = false;
        let mut i = 0;
        while i < texts.len() {
            if i > 0 {
                sent.push('*');
            }
            sent.push_str(&texts[i]);
            stats.hops += 1;
            let last = i == texts.len() - 1;
            let reply =
                if last { self.final_hop(sid, phone, &sent, stats).await } else { self.hop(sid, phone, &sent).await };
            let Some(reply) = reply else { return Step::Cut };
            if !last {
                if !reply.starts_with("CON ") {
                    return Step::Unexpected(reply);
                }
            } else if flow == Flow::Status && reply.starts_with("CON ") && !typed {
                // No request of its own to pick: the citizen types a reference. It is nobody's
                // (and Njia never shows another number's), so the answer is "not found, type
                // another", where the citizen gives up.
                texts.push("NJ-ZZZZZ".to_owned());
                typed = true;
            } else if flow == Flow::Status && typed {
                return if reply.starts_with("CON ") { Step::Done(None) } else { Step::Unexpected(reply) };
            } else {
                return judge(flow, reply);
            }
            i += 1;
        }
        Step::Cut
    }
}

enum Step {
    /// The walk ended as scripted; the reference its END gave, for a submit.
    Done(Option<String>),
    Cut,
    Unexpected(String),
}

/// Whether the final answer is the one the flow ends with.
fn judge(flow: Flow, reply: String) -> Step {
    if !flow.ends() {
        return if reply.starts_with("CON ") { Step::Done(None) } else { Step::Unexpected(reply) };
    }
    if !reply.starts_with("END ") {
        return Step::Unexpected(reply);
    }
    if !flow.submits() {
        return Step::Done(None);
    }
    match reply.find("NJ-") {
        Some(at) if reply.matches("NJ-").count() == 1 && reply.len() >= at + 8 => {
            Step::Done(Some(reply[at..at + 8].to_owned()))
        }
        _ => Step::Unexpected(reply),
    }
}

/// The server process of the current life, shared with the RSS sampler.
struct Server {
    child: tokio::process::Child,
    life: u32,
}

struct Run {
    config: PathBuf,
    logs: PathBuf,
    addr: SocketAddr,
    daraja: DarajaDouble,
    agency: AgencyDouble,
    pid: AtomicU32,
    life: AtomicU32,
    /// When each fault began and ended (a kill: until the new server answered; the PostgreSQL
    /// restart: until the command returned), from the soak's start.
    faults: Mutex<Vec<(&'static str, Duration, Duration)>>,
    rss: Mutex<Vec<(Duration, u32, u64)>>,
    life_started: Mutex<Vec<Duration>>,
}

impl Run {
    async fn start(&self, life: u32, t0: Instant) -> Server {
        let log = std::fs::File::create(self.logs.join(format!("server-{life}.log"))).expect("a server log file");
        let mut child = tokio::process::Command::from(serve_command(&self.config, &self.daraja, &self.agency))
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("the njia binary starts");
        common::until_up(self.addr, &mut child, START_DEADLINE).await;
        self.pid.store(child.id().unwrap_or(0), Ordering::SeqCst);
        self.life.store(life, Ordering::SeqCst);
        lock(&self.life_started).push(t0.elapsed());
        Server { child, life }
    }

    /// SIGKILL, then a new server on the same database and port.
    async fn kill_and_restart(&self, server: &mut Server, t0: Instant) -> Duration {
        let began = t0.elapsed();
        self.pid.store(0, Ordering::SeqCst);
        server.child.kill().await.expect("SIGKILL the server");
        *server = self.start(server.life + 1, t0).await;
        let ended = t0.elapsed();
        lock(&self.faults).push(("kill", began, ended));
        ended - began
    }

    fn during_fault(&self, at: Duration) -> bool {
        lock(&self.faults).iter().any(|(_, from, to)| at + Duration::from_millis(1) >= *from && at <= *to + FAULT_GRACE)
    }
}

/// The PostgreSQL the run uses and how it restarts it.
#[derive(Clone)]
enum Cluster {
    /// The machine's cluster (`TEST_DATABASE_URL`, default 127.0.0.1:5432), restarted with
    /// `pg_ctlcluster`.
    Shared { admin_url: String, version: String },
    /// A scratch cluster of this run's own, restarted with `pg_ctl`.
    Own { admin_url: String, bin: PathBuf, dir: PathBuf, as_postgres: bool },
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    uid.split_whitespace().nth(1)?.parse().ok()
}

fn newest_dir(parent: &str) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(parent)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort_by_key(|n| n.parse::<u32>().unwrap_or(0));
    names.pop()
}

impl Cluster {
    fn admin_url(&self) -> &str {
        match self {
            Cluster::Shared { admin_url, .. } | Cluster::Own { admin_url, .. } => admin_url,
        }
    }

    /// The shared cluster, or why this process cannot restart it.
    fn shared() -> Result<Cluster, String> {
        let admin_url =
            std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let version = newest_dir("/etc/postgresql").ok_or("no cluster under /etc/postgresql for pg_ctlcluster")?;
        match effective_uid() {
            Some(0) => Ok(Cluster::Shared { admin_url, version }),
            uid => Err(format!(
                "this process is not root (uid {uid:?}), so it cannot restart the machine's PostgreSQL with \
                 pg_ctlcluster: run it as root, or with --own-cluster (a scratch cluster this run starts and restarts)"
            )),
        }
    }

    /// `initdb` and start a scratch cluster on a free port, owned by `postgres` when this
    /// process is root (PostgreSQL refuses to run as root).
    fn own(scratch: &Path) -> Result<Cluster, String> {
        let version = newest_dir("/usr/lib/postgresql").ok_or("no PostgreSQL under /usr/lib/postgresql")?;
        let bin = PathBuf::from(format!("/usr/lib/postgresql/{version}/bin"));
        let dir = scratch.join("pg");
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let as_postgres = effective_uid() == Some(0);
        if as_postgres {
            run("chown", &["-R".into(), "postgres:postgres".into(), scratch.display().to_string()], false)?;
        }
        let port = free_port();
        let d = dir.display().to_string();
        let initdb = bin.join("initdb").display().to_string();
        run(
            &initdb,
            &["-D".into(), d.clone(), "-A".into(), "trust".into(), "-U".into(), "postgres".into()],
            as_postgres,
        )?;
        let cluster =
            Cluster::Own { admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"), bin, dir, as_postgres };
        let opts = format!("-p {port} -k {d} -c listen_addresses=127.0.0.1 -c max_connections=200");
        cluster.pg_ctl(&["start", "-w", "-o", &opts, "-l", &format!("{d}/postgres.log")])?;
        Ok(cluster)
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let Cluster::Own { bin, dir, as_postgres, .. } = self else { return Ok(()) };
        let mut all = vec!["-D".to_owned(), dir.display().to_string()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        run(&bin.join("pg_ctl").display().to_string(), &all, *as_postgres)
    }

    fn restart(&self) -> Result<(), String> {
        match self {
            Cluster::Shared { version, .. } => run(
                "pg_ctlcluster",
                &["--skip-systemctl-redirect".into(), version.clone(), "main".into(), "restart".into()],
                false,
            ),
            // `-l` again: a restarted postmaster would otherwise keep pg_ctl's output pipe open,
            // and reading it to its end would never finish.
            Cluster::Own { dir, .. } => {
                let log = format!("{}/postgres.log", dir.display());
                self.pg_ctl(&["restart", "-w", "-m", "fast", "-l", &log])
            }
        }
    }

    fn stop(&self) {
        let _ = self.pg_ctl(&["stop", "-w", "-m", "fast"]);
    }
}

/// Runs a command to its end (as the `postgres` user when asked); its output on failure.
fn run(program: &str, args: &[String], as_postgres: bool) -> Result<(), String> {
    let mut cmd = if as_postgres {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--", program]);
        c
    } else {
        std::process::Command::new(program)
    };
    let out = cmd
        .args(args)
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Jobs not finished yet (ready or running), by kind and state.
async fn unfinished(db: &tokio_postgres::Client) -> Vec<(String, String, i64)> {
    db.query(
        "SELECT kind, state, count(*) FROM jobs WHERE state IN ('ready', 'running') GROUP BY 1, 2 ORDER BY 1, 2",
        &[],
    )
    .await
    .expect("count the unfinished jobs")
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// How often the hand-off's backlog is read, during the load and while the dispatcher settles.
const BACKLOG_EVERY: Duration = Duration::from_secs(30);

/// The hand-off's backlog at one moment: jobs ready (due or not), running, how long the oldest
/// due job has waited, and the requests stored so far. Read through the partial indexes of
/// ready and running jobs, so a sample costs the database little however many jobs are done.
struct Backlog {
    at: Duration,
    ready: i64,
    running: i64,
    oldest_due_secs: f64,
    requests: i64,
}

async fn backlog(db: &tokio_postgres::Client, at: Duration) -> Result<Backlog, tokio_postgres::Error> {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let row = db
        .query_one(
            "SELECT (SELECT count(*) FROM jobs WHERE state = 'ready'), \
                    (SELECT count(*) FROM jobs WHERE state = 'running'), \
                    (SELECT min(run_at) FROM jobs WHERE state = 'ready' AND run_at <= $1), \
                    (SELECT count(*) FROM requests)",
            &[&now_ms],
        )
        .await?;
    let oldest: Option<i64> = row.get(2);
    Ok(Backlog {
        at,
        ready: row.get(0),
        running: row.get(1),
        oldest_due_secs: oldest.map_or(0.0, |t| (now_ms - t).max(0) as f64 / 1000.0),
        requests: row.get(3),
    })
}

/// Samples the backlog every [`BACKLOG_EVERY`] until `stop`; a sample the database cannot
/// answer (it is restarting) is skipped and the connection made again.
async fn sample_backlog(url: String, t0: Instant, stop: Arc<AtomicBool>) -> Vec<Backlog> {
    let mut samples = Vec::new();
    let mut db: Option<tokio_postgres::Client> = None;
    while !stop.load(Ordering::Relaxed) {
        if db.as_ref().is_none_or(|c| c.is_closed()) {
            db = match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
                Ok((client, conn)) => {
                    tokio::spawn(conn);
                    Some(client)
                }
                Err(_) => None,
            };
        }
        if let Some(client) = &db {
            match backlog(client, t0.elapsed()).await {
                Ok(b) => samples.push(b),
                Err(_) => db = None,
            }
        }
        let next = Instant::now() + BACKLOG_EVERY;
        while Instant::now() < next && !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    samples
}

/// Waits until no job is ready or running, at most `within`; how long it took, or `None`.
async fn settle(url: &str, within: Duration) -> Option<Duration> {
    let began = Instant::now();
    let db = common::pg_client(url).await;
    while began.elapsed() < within {
        if unfinished(&db).await.is_empty() {
            return Some(began.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    None
}

fn median(mut v: Vec<u64>) -> Option<u64> {
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: u64| bench::flag(&args, name, default);
    let minutes = flag("--minutes", 30);
    let duration = Duration::from_secs(minutes * 60);
    let kill_every = Duration::from_secs(flag("--kill-every-secs", 300));
    let pg_restart_at = Duration::from_secs(flag("--pg-restart-at-secs", duration.as_secs() / 2));
    let ramp = Duration::from_secs(flag("--ramp-secs", 20));
    let settle_for = Duration::from_secs(flag("--settle-secs", 300));
    let rate_flag = flag("--rate", 0);
    let own_cluster = args.iter().any(|a| a == "--own-cluster");

    let scratch = std::env::temp_dir().join(format!("njia-soak-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("a scratch directory");
    let cluster = if own_cluster { Cluster::own(&scratch) } else { Cluster::shared() };
    let cluster = cluster.unwrap_or_else(|why| {
        eprintln!("soak: {why}");
        std::process::exit(2);
    });
    let db_url = create_database(cluster.admin_url(), "soak").await;

    let daraja = DarajaDouble::start(DarajaDoubleConfig::default()).await;
    let agency = AgencyDouble::start(&AgencyDouble::new_secret()).await;
    let sms = AtSmsDouble::start("at-test-key").await;
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    // Production against the doubles, as the crash test runs it (`production_toml`), with the
    // store and sessions in PostgreSQL. The per-number rate limit is off (a pool of numbers
    // stands for many more citizens), and so is resuming (a language change leaves its session
    // open, and the number's next dial would be offered to continue it). A push whose outcome
    // is unknown gets its notice after 5 s instead of 2 minutes, so the dispatcher settles soon
    // after the load stops; a kill's claimed jobs are taken over when their 10 s lease ends.
    let timings = Timings {
        push_delay_ms: 50,
        lease_ms: 10_000,
        daraja_timeout_ms: 5_000,
        extra: format!("database_url = \"{db_url}\"\nresume_window_secs = 0\n[rate_limit]\nphone_per_minute = 0\n"),
    };
    let toml = production_toml(addr, &scratch.join("data"), &daraja, &sms, &agency, &timings).replacen(
        "[dispatcher]\n",
        "[dispatcher]\nunknown_notice_ms = 5000\n",
        1,
    );
    let config = scratch.join("njia.toml");
    std::fs::write(&config, toml).expect("write the configuration");
    let logs = scratch.join("logs");
    std::fs::create_dir_all(&logs).expect("a log directory");

    let run = Arc::new(Run {
        config,
        logs: logs.clone(),
        addr,
        daraja,
        agency,
        pid: AtomicU32::new(0),
        life: AtomicU32::new(0),
        faults: Mutex::new(Vec::new()),
        rss: Mutex::new(Vec::new()),
        life_started: Mutex::new(Vec::new()),
    });
    let http = reqwest::Client::builder().timeout(HOP_TIMEOUT).build().expect("an HTTP client");
    let load = Arc::new(Load {
        http,
        url: format!("http://{addr}/ussd/africastalking"),
        stats: Mutex::new(BTreeMap::new()),
        acks: Mutex::new(Vec::new()),
        next_walk: AtomicU64::new(0),
        hops: AtomicU64::new(0),
        run: std::process::id(),
    });

    println!("# Njia soak run\n");
    println!(
        "{minutes} min at a fixed rate, a SIGKILL every {} s, PostgreSQL restarted at {} s ({}); scratch {}; \
         server logs in {}\n",
        kill_every.as_secs(),
        pg_restart_at.as_secs(),
        match &cluster {
            Cluster::Shared { version, .. } => format!("the machine's cluster {version}/main, pg_ctlcluster"),
            Cluster::Own { .. } => "a scratch cluster of this run's own, pg_ctl".to_owned(),
        },
        scratch.display(),
        logs.display(),
    );
    let t_start = Instant::now();
    let mut server = run.start(0, t_start).await;

    // The rate: given, or half of what a closed-loop ramp of the same mix measures.
    let rate = if rate_flag > 0 {
        println!("Rate: {rate_flag} hops/s (--rate)\n");
        rate_flag as f64
    } else {
        let began = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let citizens: Vec<_> = (0..RAMP_CITIZENS)
            .map(|_| {
                let (load, stop) = (Arc::clone(&load), Arc::clone(&stop));
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        load.walk(Flow::pick()).await;
                    }
                })
            })
            .collect();
        tokio::time::sleep(ramp).await;
        stop.store(true, Ordering::Relaxed);
        for c in citizens {
            let _ = c.await;
        }
        let hop_secs = began.elapsed().as_secs_f64();
        let hops = load.hops.load(Ordering::Relaxed) as f64;
        let submits = lock(&load.acks).len() as f64;
        let drained = settle(&db_url, settle_for).await;
        let total = began.elapsed().as_secs_f64();
        let hop_rate = hops / hop_secs;
        let handoff_rate = submits / total;
        let handoff_hops = if submits > 0.0 { handoff_rate * hops / submits } else { hop_rate };
        let capacity = hop_rate.min(handoff_hops);
        println!(
            "Rate: half the capacity a {:.0} s ramp measured ({RAMP_CITIZENS} citizens back to back, the same mix): \
             {hops:.0} hops in {hop_secs:.1} s = {hop_rate:.0} hops/s, with {submits:.0} requests submitted; \
             their hand-off (push, callback, delivery, receipt) {}, so {handoff_rate:.1} requests/s = \
             {handoff_hops:.0} hops/s of the mix. Capacity {capacity:.0} hops/s ({}), rate {:.0} hops/s. \
             (BENCHMARKS.md's agencies walk with PostgreSQL sessions, 9,300 to 11,000 hops/s on an idle machine, \
             has no submits: the hand-off bounds this mix.)\n",
            ramp.as_secs_f64(),
            match drained {
                Some(d) => format!("drained {:.1} s after the ramp", d.as_secs_f64()),
                None => format!("NOT drained {} s after the ramp", settle_for.as_secs()),
            },
            if capacity < hop_rate { "the hand-off's" } else { "the hops'" },
            capacity / 2.0
        );
        capacity / 2.0
    };

    // The soak itself (the ramp's requests are checked with the soak's; its walks are not
    // counted in the load's table).
    lock(&load.stats).clear();
    let t0 = Instant::now();
    lock(&run.life_started).clear();
    lock(&run.life_started).push(Duration::ZERO);
    let stop = Arc::new(AtomicBool::new(false));
    // The backlog is read until the dispatcher has settled (or given up), not only while the
    // load runs: how it drains after the load says whether the hand-off kept up.
    let backlog_stop = Arc::new(AtomicBool::new(false));
    let backlog_sampler = tokio::spawn(sample_backlog(db_url.clone(), t0, Arc::clone(&backlog_stop)));
    let sampler = {
        let (run, stop) = (Arc::clone(&run), Arc::clone(&stop));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let pid = run.pid.load(Ordering::SeqCst);
                if pid != 0 {
                    let kib = rss_kib(pid);
                    if kib > 0 {
                        lock(&run.rss).push((t0.elapsed(), run.life.load(Ordering::SeqCst), kib));
                    }
                }
                tokio::time::sleep(RSS_EVERY).await;
            }
        })
    };
    let hops_before = load.hops.load(Ordering::Relaxed);
    let walks_before = load.next_walk.load(Ordering::Relaxed);
    // Walks start at a fixed rate, the one that gives `rate` hops/s at the mix's hops per walk:
    // the ramp's at first (or the scripts' when there was none), then, every 5 s, the soak's
    // own so far (returning citizens skip the language question the ramp's new ones answered).
    let launcher = {
        let (load, stop) = (Arc::clone(&load), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut walks = tokio::task::JoinSet::new();
            let mut hops_per_walk = if walks_before > 0 { hops_before as f64 / walks_before as f64 } else { 4.0 };
            let mut next = tokio::time::Instant::now();
            let mut measured = Instant::now();
            while t0.elapsed() < duration {
                tokio::time::sleep_until(next).await;
                next += Duration::from_secs_f64(hops_per_walk / rate.max(0.1));
                let walker = Arc::clone(&load);
                walks.spawn(async move { walker.walk(Flow::pick()).await });
                while walks.try_join_next().is_some() {}
                if measured.elapsed() >= Duration::from_secs(5) {
                    measured = Instant::now();
                    let started = load.next_walk.load(Ordering::Relaxed) - walks_before;
                    let sent = load.hops.load(Ordering::Relaxed) - hops_before;
                    if started > 100 {
                        hops_per_walk = sent as f64 / started as f64;
                    }
                }
            }
            stop.store(true, Ordering::Relaxed);
            while walks.join_next().await.is_some() {}
            hops_per_walk
        })
    };
    // The faults, in time order.
    let mut events: Vec<(Duration, &str)> = Vec::new();
    if kill_every > Duration::ZERO {
        let mut at = kill_every;
        while at < duration {
            events.push((at, "kill"));
            at += kill_every;
        }
    }
    if pg_restart_at > Duration::ZERO && pg_restart_at < duration {
        events.push((pg_restart_at, "pg"));
    }
    events.sort();
    let mut restarts = Vec::new();
    let mut pg_restart = None;
    for (at, what) in events {
        if let Some(wait) = at.checked_sub(t0.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        if what == "kill" {
            let took = run.kill_and_restart(&mut server, t0).await;
            println!(
                "{:>6.1} s: SIGKILL; life {} answered {:.2} s later",
                at.as_secs_f64(),
                server.life,
                took.as_secs_f64()
            );
            restarts.push(took);
        } else {
            let began = t0.elapsed();
            let done = tokio::task::spawn_blocking({
                let cluster = cluster.clone();
                move || cluster.restart()
            })
            .await
            .expect("the restart task");
            let ended = t0.elapsed();
            lock(&run.faults).push(("postgres", began, ended));
            match &done {
                Ok(()) => println!(
                    "{:>6.1} s: PostgreSQL restarted in {:.2} s",
                    at.as_secs_f64(),
                    (ended - began).as_secs_f64()
                ),
                Err(why) => println!("{:>6.1} s: PostgreSQL restart FAILED: {why}", at.as_secs_f64()),
            }
            pg_restart = Some((ended - began, done.is_ok()));
        }
    }
    let hops_per_walk = launcher.await.expect("the launcher");
    let load_secs = t0.elapsed().as_secs_f64();
    let hops = load.hops.load(Ordering::Relaxed) - hops_before;
    let walks = load.next_walk.load(Ordering::Relaxed) - walks_before;
    stop.store(true, Ordering::Relaxed);
    sampler.await.expect("the sampler");
    println!(
        "\nLoad stopped at {load_secs:.1} s; waiting for the dispatcher to settle (at most {} s)",
        settle_for.as_secs()
    );
    let settled = settle(&db_url, settle_for).await;
    backlog_stop.store(true, Ordering::Relaxed);
    let backlog_samples = backlog_sampler.await.expect("the backlog sampler");

    // The checks.
    let db = common::pg_client(&db_url).await;
    let mut violations: Vec<String> = Vec::new();
    let mut table: Vec<(String, String, bool)> = Vec::new();

    let stored: HashMap<String, (String, String)> = db
        .query("SELECT idempotency_key, reference, status FROM requests", &[])
        .await
        .expect("read the requests")
        .iter()
        .map(|r| (r.get::<_, String>(0), (r.get::<_, String>(1), r.get::<_, String>(2))))
        .collect();
    let acks = std::mem::take(&mut *lock(&load.acks));
    let mut missing = Vec::new();
    let mut wrong = Vec::new();
    for a in &acks {
        match stored.get(&a.key) {
            None => missing.push(format!("{} ({})", a.key, a.reference)),
            Some((reference, _)) if *reference != a.reference => {
                wrong.push(format!("{}: END {} stored {reference}", a.key, a.reference))
            }
            Some(_) => {}
        }
    }
    let retried_acks = acks.iter().filter(|a| a.retried).count();
    table.push((
        "every acknowledged reference stored under its session's key".into(),
        format!(
            "{} of {} ({} acknowledged on a retried final hop)",
            acks.len() - missing.len() - wrong.len(),
            acks.len(),
            retried_acks
        ),
        missing.is_empty() && wrong.is_empty(),
    ));
    violations.extend(missing.iter().map(|m| format!("acknowledged but not stored: {m}")));
    violations.extend(wrong.iter().map(|w| format!("stored under another reference: {w}")));

    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, status) in stored.values() {
        *by_status.entry(status.as_str()).or_default() += 1;
    }
    let not_allowed: Vec<String> =
        by_status.iter().filter(|(s, _)| !ALLOWED.contains(s)).map(|(s, n)| format!("{n} {s}")).collect();
    table.push((
        "every stored request final or waiting (payment_unknown, held_for_review)".into(),
        format!(
            "{} requests: {}",
            stored.len(),
            by_status.iter().map(|(s, n)| format!("{n} {s}")).collect::<Vec<_>>().join(", ")
        ),
        not_allowed.is_empty(),
    ));
    violations
        .extend(not_allowed.iter().map(|s| format!("requests left in a state that is neither final nor waiting: {s}")));

    let pushes = run.daraja.pushes();
    let mut per_attempt: HashMap<&str, usize> = HashMap::new();
    let mut per_checkout: HashMap<&str, usize> = HashMap::new();
    for p in &pushes {
        *per_attempt.entry(p.callback_url.rsplit('/').next().unwrap_or("")).or_default() += 1;
        if let Some(id) = &p.checkout_request_id {
            *per_checkout.entry(id.as_str()).or_default() += 1;
        }
    }
    let twice: Vec<String> =
        per_attempt.iter().filter(|(_, n)| **n > 1).map(|(t, n)| format!("attempt {t}: {n} pushes")).collect();
    let checkout_twice: Vec<String> =
        per_checkout.iter().filter(|(_, n)| **n > 1).map(|(c, n)| format!("{c}: {n} pushes")).collect();
    let attempts: i64 =
        db.query_one("SELECT count(*) FROM payment_attempts", &[]).await.expect("count attempts").get(0);
    table.push((
        "no payment attempt pushed twice (per callback token / per CheckoutRequestID)".into(),
        format!(
            "{} pushes for {} attempts stored; at most {} per token, {} per CheckoutRequestID",
            pushes.len(),
            attempts,
            per_attempt.values().max().unwrap_or(&0),
            per_checkout.values().max().unwrap_or(&0)
        ),
        twice.is_empty() && checkout_twice.is_empty(),
    ));
    violations.extend(twice.into_iter().map(|t| format!("pushed twice: {t}")));
    violations.extend(checkout_twice.into_iter().map(|t| format!("CheckoutRequestID pushed twice: {t}")));

    let left = unfinished(&db).await;
    let dead: Vec<(String, i64)> = db
        .query("SELECT kind, count(*) FROM jobs WHERE state = 'dead' GROUP BY 1 ORDER BY 1", &[])
        .await
        .expect("count dead jobs")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    table.push((
        "the dispatcher settled: no job ready or running, none dead".into(),
        format!(
            "{}; {} left, {} dead",
            match settled {
                Some(d) => format!("settled {:.1} s after the load", d.as_secs_f64()),
                None => format!("NOT settled in {} s", settle_for.as_secs()),
            },
            left.iter().map(|(_, _, n)| n).sum::<i64>(),
            dead.iter().map(|(_, n)| n).sum::<i64>()
        ),
        settled.is_some() && left.is_empty() && dead.is_empty(),
    ));
    violations.extend(left.iter().map(|(k, s, n)| format!("{n} {k} jobs still {s}")));
    violations.extend(dead.iter().map(|(k, n)| format!("{n} {k} jobs dead")));

    // RSS: the first window after the warm-up against the last, each server's own first
    // seconds left out.
    let samples = lock(&run.rss).clone();
    let lives = lock(&run.life_started).clone();
    let young = |t: Duration| lives.iter().any(|s| t >= *s && t < *s + LIFE_WARM_UP);
    let span = duration.saturating_sub(WARM_UP);
    let window = RSS_WINDOW.min(span / 3);
    let first_w = (WARM_UP, WARM_UP + window);
    let last_w = (duration.saturating_sub(window), duration);
    let pick = |(from, to): (Duration, Duration)| -> Vec<u64> {
        samples.iter().filter(|(t, _, _)| *t >= from && *t < to && !young(*t)).map(|(_, _, k)| *k).collect()
    };
    let (first, last) = (median(pick(first_w)), median(pick(last_w)));
    let rss_ok = match (first, last) {
        (Some(f), Some(l)) => (l as f64) <= f as f64 * (1.0 + RSS_GROWTH_BOUND),
        _ => false,
    };
    table.push((
        format!("RSS flat: median of the last window at most {:.0} % over the first", RSS_GROWTH_BOUND * 100.0),
        match (first, last) {
            (Some(f), Some(l)) => format!(
                "{f} KiB ({:.0}-{:.0} s) -> {l} KiB ({:.0}-{:.0} s): {:+.1} %; {} samples",
                first_w.0.as_secs_f64(),
                first_w.1.as_secs_f64(),
                last_w.0.as_secs_f64(),
                last_w.1.as_secs_f64(),
                (l as f64 / f as f64 - 1.0) * 100.0,
                samples.len()
            ),
            _ => format!("too few samples ({}) outside the warm-ups", samples.len()),
        },
        rss_ok,
    ));
    if !rss_ok {
        violations.push("RSS grew beyond the bound, or could not be compared".into());
    }
    if let Some((_, false)) = pg_restart {
        violations.push("the PostgreSQL restart failed".into());
    }

    // The summary.
    let stats = std::mem::take(&mut *lock(&load.stats));
    println!("\n## Load\n");
    println!(
        "{walks} walks, {hops} hops in {load_secs:.0} s = {:.0} hops/s for a rate of {rate:.0} ({hops_per_walk:.2} hops a walk); \
         {} kills (server answering again after {} s), PostgreSQL restart {}\n",
        hops as f64 / load_secs,
        restarts.len(),
        restarts.iter().map(|d| format!("{:.2}", d.as_secs_f64())).collect::<Vec<_>>().join(", "),
        match pg_restart {
            Some((d, true)) => format!("{:.2} s", d.as_secs_f64()),
            Some((_, false)) => "failed".into(),
            None => "not done".into(),
        }
    );
    println!(
        "| flow | walks | completed | cut (a hop before the last unanswered) | final hop retried / then answered | other answers (during a fault + 10 s / outside) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let mut outside = Vec::new();
    let mut during_faults: BTreeMap<String, usize> = BTreeMap::new();
    for (flow, s) in &stats {
        let at = |t: &Instant| t.saturating_duration_since(t0);
        let during = s.unexpected.iter().filter(|(t, _)| run.during_fault(at(t))).count();
        for (_, reply) in s.unexpected.iter().filter(|(t, _)| run.during_fault(at(t))) {
            *during_faults.entry(reply.clone()).or_default() += 1;
        }
        outside.extend(
            s.unexpected.iter().filter(|(t, _)| !run.during_fault(at(t))).map(|(t, r)| (flow.name(), at(t), r.clone())),
        );
        println!(
            "| {} | {} | {} | {} | {} / {} | {} / {} |",
            flow.name(),
            s.started,
            s.completed,
            s.cut,
            s.retried,
            s.retried_answered,
            during,
            s.unexpected.len() - during
        );
    }
    let mut during_faults: Vec<(usize, String)> = during_faults.into_iter().map(|(r, n)| (n, r)).collect();
    during_faults.sort_by(|a, b| b.cmp(a));
    for (n, reply) in during_faults.iter().take(3) {
        println!("\n{n} answers during the faults: {reply:?}");
    }
    for (flow, t, reply) in outside.iter().take(5) {
        println!("\nan answer outside the faults ({flow}, at {:.1} s): {reply:?}", t.as_secs_f64());
    }
    println!("\n## Hand-off backlog (every {} s, to the dispatcher settling)\n", BACKLOG_EVERY.as_secs());
    println!("| at | jobs ready | running | oldest due job waited | requests stored |");
    println!("|---:|---:|---:|---:|---:|");
    for b in &backlog_samples {
        println!(
            "| {:.0} s | {} | {} | {:.1} s | {} |",
            b.at.as_secs_f64(),
            b.ready,
            b.running,
            b.oldest_due_secs,
            b.requests
        );
    }
    println!("\n## Server memory (RSS every {} s)\n", RSS_EVERY.as_secs());
    println!("| life | started at | samples | median KiB | max KiB |");
    println!("|---:|---:|---:|---:|---:|");
    for (life, started) in lives.iter().enumerate() {
        let of: Vec<u64> = samples.iter().filter(|(_, l, _)| *l as usize == life).map(|(_, _, k)| *k).collect();
        println!(
            "| {life} | {:.0} s | {} | {} | {} |",
            started.as_secs_f64(),
            of.len(),
            median(of.clone()).unwrap_or(0),
            of.iter().max().unwrap_or(&0)
        );
    }
    println!("\n## Checks\n");
    println!("| check | figure | |");
    println!("|---|---|---|");
    for (what, figure, ok) in &table {
        println!("| {what} | {figure} | {} |", if *ok { "ok" } else { "**VIOLATED**" });
    }
    let _ = server.child.kill().await;
    if violations.is_empty() {
        drop(db);
        drop_database(cluster.admin_url(), &db_url).await;
        cluster.stop();
        let _ = std::fs::remove_dir_all(&scratch);
        println!("\nNo violation.");
    } else {
        cluster.stop();
        println!("\n{} violations:", violations.len());
        for v in violations.iter().take(50) {
            println!("- {v}");
        }
        let own = match &cluster {
            Cluster::Own { dir, .. } => format!(" (its cluster stopped, its data in {})", dir.display()),
            Cluster::Shared { .. } => String::new(),
        };
        println!("\nKept for a look: the database {db_url}{own}, the scratch directory {}", scratch.display());
        std::process::exit(1);
    }
}
