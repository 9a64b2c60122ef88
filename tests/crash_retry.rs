//! #11: the real binary is killed (SIGKILL) under a crowd of citizens, with final hops in
//! flight; after a restart on the same data, the telco retries the final hop of every session
//! it ever opened. Every request that reached the store is answered with its own reference,
//! a session without one is never answered with any, nothing answered before the kill is
//! lost, and no session ever stores a second request.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{at_hop, try_request};
use tokio::net::TcpListener;
use tokio::process::Child;

/// Citizens walking at once, each on its own number.
const CITIZENS: usize = 32;
/// Walks one citizen makes at most (the kill stops them long before).
const WALKS: usize = 50;
/// ENDs received before the kill may land: most citizens are on their fourth or fifth walk.
const KILL_AFTER_ENDS: usize = 120;
/// Kills at most, each under a new load after a restart (see the body).
const ROUNDS: usize = 5;
/// Longest wait for the load to get there: an upper bound for a machine that is stuck, never
/// what times the kill (the kill follows the ENDs counted, however long they take to come).
const LOAD_DEADLINE: Duration = Duration::from_secs(180);
/// Longest a hop may take before it counts as lost. A hop to a killed server fails at once (the
/// connection is refused or reset), so this bounds only a server that hangs; it is generous so
/// that a slow, shared machine never turns a slow answer into a lost one.
const HOP_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a (re)started server may take to answer `/healthz`.
const START_DEADLINE: Duration = Duration::from_secs(120);
const CHANNEL: &str = "africastalking";
const PATH: &str = "/ussd/africastalking";
/// What a hop for a session the server no longer has gets, in either language (English was
/// chosen, but SQLite may forget a choice made in the last 50 ms before a crash).
const EXPIRED: [&str; 2] = [
    "END Your session has expired. Dial *384# again to start over.",
    "END Muda umekwisha. Piga *384# tena kuanza upya.",
];

/// One session a citizen opened.
#[derive(Debug)]
struct Walk {
    citizen: usize,
    session: String,
    phone: String,
    /// The cumulative text of the final hop: `2*1*KAJIADO/1234*1` on a number's first walk
    /// (the language question comes first), `1*KAJIADO/1234*1` after.
    final_text: String,
    /// Hops answered.
    answered: usize,
    /// The final hop was sent (its answer may have been cut off by the kill).
    final_sent: bool,
    /// The final hop found no server: it was sent after the kill (the answer to the hop before
    /// was already on its way and read after it), so it never reached the server.
    final_refused: bool,
    /// The END the final hop got before the kill.
    end: Option<String>,
    /// An answer no step of the walk expects (the test fails on it).
    unexpected: Option<String>,
}

impl Walk {
    /// The request's idempotency key, as the hub forms it: channel, session id, number.
    fn key(&self) -> String {
        format!("{CHANNEL}:{}:{}", self.session, self.phone.trim_start_matches('+'))
    }
}

/// Shared by the citizens and the killer.
#[derive(Default)]
struct Load {
    ends: AtomicUsize,
    finals_in_flight: AtomicUsize,
    /// Told of every END, so the kill can follow one at once.
    end_seen: tokio::sync::Notify,
}

/// One Africa's Talking hop; `None` when the server is gone (refused, reset, cut off, silent).
async fn hop(addr: SocketAddr, session: &str, phone: &str, text: &str) -> Option<String> {
    send(addr, session, phone, text).await.ok()
}

/// One Africa's Talking hop, or why it got no answer.
async fn send(addr: SocketAddr, session: &str, phone: &str, text: &str) -> Result<String, std::io::ErrorKind> {
    let body = at_hop(session, phone, "*384#", text);
    let exchange = try_request(addr, "POST", PATH, "application/x-www-form-urlencoded", &body);
    match tokio::time::timeout(HOP_TIMEOUT, exchange).await {
        Ok(Ok((200, reply))) => Ok(reply),
        Ok(Ok((status, reply))) => Ok(format!("HTTP {status}: {reply}")),
        Ok(Err(e)) => Err(e.kind()),
        Err(_) => Err(std::io::ErrorKind::TimedOut),
    }
}

/// Walks land rates for KAJIADO/1234 to the END; false when the walk could not go on.
async fn walk(addr: SocketAddr, load: &Load, w: &mut Walk) -> bool {
    let Some(first) = hop(addr, &w.session, &w.phone, "").await else { return false };
    w.answered = 1;
    if !first.starts_with("CON ") {
        w.unexpected = Some(first);
        return false;
    }
    // A number's first dial is asked its language ("2": English), later ones are not.
    let language = first.contains("Choose language");
    let p = if language { "2*" } else { "" };
    w.final_text = format!("{p}1*KAJIADO/1234*1");
    let mut steps = Vec::new();
    if language {
        steps.push("2".to_owned());
    }
    steps.push(format!("{p}1"));
    steps.push(format!("{p}1*KAJIADO/1234"));
    for text in &steps {
        let Some(reply) = hop(addr, &w.session, &w.phone, text).await else { return false };
        w.answered += 1;
        if !reply.starts_with("CON ") {
            w.unexpected = Some(reply);
            return false;
        }
    }
    w.final_sent = true;
    load.finals_in_flight.fetch_add(1, Ordering::SeqCst);
    let reply = send(addr, &w.session, &w.phone, &w.final_text).await;
    load.finals_in_flight.fetch_sub(1, Ordering::SeqCst);
    let reply = match reply {
        Ok(reply) => reply,
        Err(kind) => {
            w.final_refused = kind == std::io::ErrorKind::ConnectionRefused;
            return false;
        }
    };
    w.answered += 1;
    if reply.starts_with("END ") && reply.matches("NJ-").count() == 1 {
        w.end = Some(reply);
        load.ends.fetch_add(1, Ordering::SeqCst);
        load.end_seen.notify_one();
        true
    } else {
        w.unexpected = Some(reply);
        false
    }
}

/// One citizen walking again and again until the server goes away.
async fn citizen(addr: SocketAddr, load: Arc<Load>, round: usize, citizen: usize) -> Vec<Walk> {
    // New numbers every round, so every round has first dials (the language question) too.
    let phone = format!("+2547115{round}{citizen:04}");
    let mut walks = Vec::new();
    for n in 0..WALKS {
        let mut w = Walk {
            citizen,
            session: format!("ATUid_crash_{round}_{citizen}_{n}"),
            phone: phone.clone(),
            final_text: format!("{}1*KAJIADO/1234*1", if n == 0 { "2*" } else { "" }),
            answered: 0,
            final_sent: false,
            final_refused: false,
            end: None,
            unexpected: None,
        };
        let on = walk(addr, &load, &mut w).await;
        walks.push(w);
        if !on {
            break;
        }
    }
    walks
}

fn spawn(config: &Path) -> Child {
    tokio::process::Command::from(common::njia())
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the njia binary starts")
}

async fn up(addr: SocketAddr, child: &mut Child) {
    let deadline = tokio::time::Instant::now() + START_DEADLINE;
    while try_request(addr, "GET", "/healthz", "text/plain", "").await.is_err() {
        assert!(child.try_wait().unwrap().is_none(), "the server exited instead of listening on {addr}");
        assert!(tokio::time::Instant::now() < deadline, "the server came up on {addr}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every stored request by idempotency key: (reference, number). Panics on a key or a
/// reference stored twice.
/// Waits until no other session is connected to the test's database: the killed server's
/// backends have finished whatever they had received (a COMMIT included) and exited.
async fn backends_gone(client: &tokio_postgres::Client) {
    let limit = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let row = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        if row.get::<_, i64>(0) == 0 {
            return;
        }
        assert!(tokio::time::Instant::now() < limit, "the killed server's database sessions never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stored(data: &Path, pg: Option<&tokio_postgres::Client>) -> HashMap<String, (String, i64)> {
    let rows: Vec<(String, String, i64)> = match pg {
        Some(client) => client
            .query("SELECT idempotency_key, reference, msisdn FROM requests", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect(),
        None => {
            let conn = rusqlite::Connection::open(data.join("njia.sqlite3")).unwrap();
            conn.busy_timeout(Duration::from_secs(5)).unwrap();
            let mut stmt = conn.prepare("SELECT idempotency_key, reference, msisdn FROM requests").unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<Result<_, _>>().unwrap()
        }
    };
    let mut by_key = HashMap::new();
    let mut references = std::collections::HashSet::new();
    for (key, reference, msisdn) in rows {
        assert!(references.insert(reference.clone()), "reference {reference} stored twice");
        assert!(by_key.insert(key.clone(), (reference, msisdn)).is_none(), "{key} stored twice");
    }
    by_key
}

/// The reference an END shows (exactly one).
fn reference(end: &str) -> &str {
    assert_eq!(end.matches("NJ-").count(), 1, "one reference in {end:?}");
    let at = end.find("NJ-").unwrap();
    &end[at..at + 8]
}

/// The body both stores share. `pg`: the database URL (PostgreSQL store and sessions);
/// `None`: SQLite in the data directory and sessions in memory.
async fn killed_under_load_then_every_final_hop_retried(pg: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // One port for every run: the telco retries the address it knows.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let root = common::repo();
    let database = pg.map(|url| format!("database_url = \"{url}\"\n")).unwrap_or_default();
    // Sandbox: the hand-off runs against the simulated M-Pesa, which does not matter here. The
    // per-number rate limit is off: a citizen walks far faster than a person.
    let toml = format!(
        r#"listen = "{addr}"
data_dir = "{data}"
menus_dir = "{root}/menus"
locales_dir = "{root}/locales"
lookups_dir = "{root}/menus/lookups"
sandbox = true
{database}
[rate_limit]
phone_per_minute = 0
"#,
        data = data.display(),
        root = root.display(),
    );
    let config = dir.path().join("njia.toml");
    std::fs::write(&config, toml).unwrap();
    let client = match pg {
        Some(url) => Some(common::pg_client(url).await),
        None => None,
    };
    let name = if pg.is_some() { "postgres" } else { "sqlite" };

    let mut server = spawn(&config);
    up(addr, &mut server).await;
    // The case this is about, a final hop whose request was committed, whose answer the kill
    // cut off and whose session is gone, comes in most rounds but not all: the server is
    // killed again (restarted, loaded and killed) until it came, a few times at most.
    let mut known = HashMap::new();
    let mut caught = 0;
    for round in 0..ROUNDS {
        let outcome =
            round_of(Round { round, addr, config: &config, data: &data, client: client.as_ref() }, &mut server, &known)
                .await;
        eprintln!("{name}, round {round}: {}", outcome.summary);
        known = outcome.stored;
        caught += outcome.committed_unanswered_lost;
        if caught > 0 {
            break;
        }
    }
    assert!(caught > 0, "in {ROUNDS} kills, none caught a committed submit before its answer left");
    server.kill().await.unwrap();
}

struct Round<'a> {
    round: usize,
    addr: SocketAddr,
    config: &'a Path,
    data: &'a Path,
    client: Option<&'a tokio_postgres::Client>,
}

struct Outcome {
    /// Every stored request after the round's retries.
    stored: HashMap<String, (String, i64)>,
    /// Final hops whose request was committed but whose answer the kill cut off, and whose
    /// session was lost: the retries that only the request's key can answer.
    committed_unanswered_lost: usize,
    summary: String,
}

/// Loads the running `server`, kills it, restarts it in its place and retries every session's
/// final hop; `known`: what the store held before.
async fn round_of(r: Round<'_>, server: &mut Child, known: &HashMap<String, (String, i64)>) -> Outcome {
    let addr = r.addr;
    let started = std::time::Instant::now();
    let load = Arc::new(Load::default());
    let citizens: Vec<_> = (0..CITIZENS).map(|c| tokio::spawn(citizen(addr, Arc::clone(&load), r.round, c))).collect();
    // The kill lands once enough ENDs came back, right after one of them, at a moment other
    // final hops are on their way: their submits may be committed or not (a commit often
    // answers several at once), their answers may or may not have left.
    // The wake-up every 10 ms only re-reads the counters; it times nothing.
    let deadline = tokio::time::Instant::now() + LOAD_DEADLINE;
    let finals_in_flight = loop {
        let in_flight = load.finals_in_flight.load(Ordering::SeqCst);
        if load.ends.load(Ordering::SeqCst) >= KILL_AFTER_ENDS && in_flight > 0 {
            break in_flight;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the load got {} ENDs in {LOAD_DEADLINE:?} (the server is stuck)",
            load.ends.load(Ordering::SeqCst)
        );
        let _ = tokio::time::timeout(Duration::from_millis(10), load.end_seen.notified()).await;
    };
    server.kill().await.expect("SIGKILL");
    let load_ms = started.elapsed().as_millis();
    let mut walks = Vec::new();
    for c in citizens {
        walks.extend(c.await.unwrap());
    }
    let unexpected: Vec<&Walk> = walks.iter().filter(|w| w.unexpected.is_some()).collect();
    assert!(unexpected.is_empty(), "answers no walk expects: {unexpected:#?}");
    let ends = walks.iter().filter(|w| w.end.is_some()).count();
    assert!(ends >= KILL_AFTER_ENDS, "the kill came after {KILL_AFTER_ENDS} ENDs, yet the walks got {ends}");
    assert!(finals_in_flight > 0, "the kill landed with final hops in flight");
    let cut = walks.iter().filter(|w| w.end.is_none()).count();
    let finals_cut = walks.iter().filter(|w| w.final_sent && !w.final_refused && w.end.is_none()).count();
    assert!(cut > 0, "the kill cut walks short");
    assert!(walks.iter().any(|w| w.end.is_some() && !w.final_text.starts_with("2*")), "citizens walked again");

    // A COMMIT the killed server had already sent still completes in its PostgreSQL backend,
    // which only notices the dead client afterwards: read what the store holds once every
    // backend of the killed server is gone, or a request committed just after the read would
    // look as if the retry had stored it.
    if let Some(client) = r.client {
        backends_gone(client).await;
    }
    // Nothing answered before the kill is lost: every END's reference is stored under its
    // session's key, and only a final hop that was sent can have stored a request.
    let before = stored(r.data, r.client).await;
    for (key, row) in known {
        assert_eq!(before.get(key), Some(row), "{key}, stored in an earlier round, changed");
    }
    let by_key: HashMap<String, &Walk> = walks.iter().map(|w| (w.key(), w)).collect();
    for w in &walks {
        if let Some(end) = &w.end {
            let (stored_ref, msisdn) = before.get(&w.key()).unwrap_or_else(|| panic!("{} lost: {end}", w.key()));
            assert_eq!(stored_ref, reference(end), "{}", w.key());
            assert_eq!(msisdn.to_string(), w.phone.trim_start_matches('+'));
        }
    }
    for key in before.keys().filter(|k| !known.contains_key(*k)) {
        let w = by_key.get(key).unwrap_or_else(|| panic!("a request under a key no walk used: {key}"));
        assert!(w.final_sent && !w.final_refused, "{key} stored a request its final hop never brought");
    }
    let unanswered = |k: &String| by_key.get(k).is_some_and(|w| w.end.is_none());
    let committed_unanswered = before.keys().filter(|k| unanswered(k)).count();

    // Where the sessions are after the kill. Memory sessions died with the process. PostgreSQL
    // session rows are UNLOGGED: they survive an njia kill (only a PostgreSQL crash empties the
    // table), so a retry there mostly finds its session (ended: its last reply; still on the
    // confirm screen because the kill came between the submit's commit and the session write,
    // or before the commit: the submit runs, and is idempotent on its key). The worst case is a
    // final hop whose session row is gone (a PostgreSQL crash, a lost row) while its request
    // was stored: the retry must find the request by its key. So the even citizens' rows are
    // deleted and the odd citizens' kept, and one run covers both ways.
    let lost = |w: &Walk| r.client.is_none() || w.citizen.is_multiple_of(2);
    let committed_unanswered_lost = before.keys().filter(|k| unanswered(k) && lost(by_key[*k])).count();
    let mut deleted = 0;
    if let Some(client) = r.client {
        let gone: Vec<String> = walks.iter().filter(|w| lost(w)).map(|w| w.session.clone()).collect();
        deleted = client.execute("DELETE FROM sessions WHERE session_id = ANY($1)", &[&gone]).await.unwrap();
    }

    *server = spawn(r.config);
    up(addr, server).await;
    // The telco retries the final hop of every session it opened.
    let mut retries = Vec::new();
    for w in &walks {
        let reply = hop(addr, &w.session, &w.phone, &w.final_text).await.expect("the restarted server answers");
        retries.push(reply);
    }
    let after = stored(r.data, r.client).await;

    let mut completed_by_retry = 0;
    for (w, reply) in walks.iter().zip(&retries) {
        let key = w.key();
        match after.get(&key) {
            // A stored request: its session's retry is its END, with exactly its reference
            // (the same END, word for word, when it was answered before the kill).
            Some((stored_ref, _)) => {
                assert!(
                    reply.starts_with("END ")
                        && reply.matches("NJ-").count() == 1
                        && reply.contains(stored_ref.as_str()),
                    "{key}, stored as {stored_ref}: its retry was answered {reply:?}"
                );
                if let Some(end) = &w.end {
                    assert_eq!(reply, end, "{key}: the retry answers the END it got before the kill");
                }
                if !before.contains_key(&key) {
                    // Only a session that survived can complete its submit on the retry.
                    // (Its final hop may never have reached the server: the kill can also
                    // cut the answer to the hop before, which the server had saved.)
                    assert!(!lost(w), "{key}: a retry without a session stored a request");
                    completed_by_retry += 1;
                }
            }
            // No request: never a reference. A lost session is "expired" (dial again); a
            // surviving one that is still mid-walk shows its screen again (the final text does
            // not fit its screen: an error line, a CON, nothing stored).
            None => {
                assert!(!reply.contains("NJ-"), "{key}: a reference without a stored request: {reply}");
                let expired = EXPIRED.contains(&reply.as_str());
                if lost(w) {
                    assert!(expired, "{key}: a lost session: {reply}");
                } else if w.answered == 0 {
                    // The first hop may or may not have been saved before the kill.
                    assert!(expired || reply.starts_with("CON "), "{key}: {reply}");
                } else {
                    assert!(reply.starts_with("CON "), "{key}: a surviving session mid-walk: {reply}");
                }
            }
        }
    }
    // What was stored stays as it was; only retries of surviving sessions add requests.
    for (key, row) in &before {
        assert_eq!(after.get(key), Some(row), "{key} changed after the restart");
    }
    assert_eq!(after.len(), before.len() + completed_by_retry, "nothing else stored");
    // One request per session at most (the key is per session; this says it per number too).
    let mut per_session: HashMap<(i64, &str), usize> = HashMap::new();
    for (key, (_, msisdn)) in &after {
        let [channel, session, number] = key.split(':').collect::<Vec<_>>()[..] else { panic!("a key {key}") };
        assert_eq!((channel, number), (CHANNEL, msisdn.to_string().as_str()), "{key}: the caller's own number");
        *per_session.entry((*msisdn, session)).or_default() += 1;
    }
    assert!(per_session.values().all(|n| *n == 1), "a session stored two requests: {per_session:?}");

    let retried_ends = retries.iter().filter(|r| r.contains("NJ-")).count();
    let retried_cons = retries.iter().filter(|r| r.starts_with("CON ")).count();
    let summary = format!(
        "{} walks by {CITIZENS} citizens in {load_ms} ms; killed at {ends} ENDs with {finals_in_flight} final \
         hops in flight; {cut} walks cut ({finals_cut} with the final hop reaching the server and cut off, \
         {committed_unanswered} of those committed but unanswered, {committed_unanswered_lost} of them with the \
         session lost); {} requests stored; {deleted} session rows deleted; retries: {retried_ends} END with the \
         reference ({completed_by_retry} completing their submit), {retried_cons} CON, {} expired",
        walks.len(),
        before.len() - known.len(),
        retries.len() - retried_ends - retried_cons,
    );
    Outcome { stored: after, committed_unanswered_lost, summary }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_under_load_loses_nothing_and_every_retried_final_hop_gets_its_own_reference_sqlite() {
    killed_under_load_then_every_final_hop_retried(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_under_load_loses_nothing_and_every_retried_final_hop_gets_its_own_reference_postgres() {
    let db = common::create_database().await;
    killed_under_load_then_every_final_hop_retried(Some(&db.url)).await;
    common::drop_database(db).await;
}
