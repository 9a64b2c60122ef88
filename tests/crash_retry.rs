//! #11: the real binary is killed (SIGKILL) under a crowd of citizens, with final hops in
//! flight; after a restart on the same data, the telco retries the final hop of every session
//! it ever opened. Every request that reached the store is answered with its own reference,
//! a session without one is never answered with any, nothing answered before the kill is
//! lost, no session ever stores a second request, and no payment attempt is pushed twice.
//!
//! The kill lands at a moment the test makes, not one it hopes for, so one kill proves it on
//! any machine: one more citizen's final hop is committed (its STK push reached the Daraja
//! double, which holds the push open with no answer) and its END never reached the telco (the
//! test, which is the telco, does not read it); its session is lost with the process (memory
//! sessions) or its row is deleted (PostgreSQL). Its retry can be answered only from the
//! request stored under its key, and its push, sent with the answer not recorded, must never
//! be sent again.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::doubles::{
    AgencyDouble, AtSmsDouble, DarajaDouble, DarajaDoubleConfig, Timings, production_toml, serve_command,
};
use common::{at_hop, try_request};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Child;

/// Citizens walking at once, each on its own number.
const CITIZENS: usize = 32;
/// The citizen whose final hop the kill catches: its own number, after the crowd's. An even
/// index, so its PostgreSQL session row is deleted like those of the crowd's even citizens.
const CAUGHT: usize = CITIZENS;
const CAUGHT_PHONE: &str = "+254711600000";
/// Walks one citizen makes at most (the kill stops them long before).
const WALKS: usize = 50;
/// ENDs received before the caught citizen walks: most citizens are on their fourth or fifth
/// walk, so the kill comes with the crowd in every stage of a walk and of the hand-off.
const KILL_AFTER_ENDS: usize = 120;
/// Longest wait for the load or the caught push to get there: an upper bound for a machine that
/// is stuck, never what times the kill (the kill follows what the test and the doubles saw,
/// however long it takes to come).
const LOAD_DEADLINE: Duration = Duration::from_secs(180);
/// How long the server's Daraja client waits for a push's answer, and the dispatcher's lease
/// (longer than any one run, as the configuration asks). The kill follows the held push at
/// once; this only has to be longer than that, and bounds how long the restarted server waits
/// before it takes over the caught push's job.
const DARAJA_TIMEOUT_MS: u64 = 10_000;
const LEASE_MS: u64 = 12_000;
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
    if !walk_to_confirm(addr, w).await {
        return false;
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

/// Walks land rates for KAJIADO/1234 up to the confirmation screen, every hop answered, and
/// sets the final hop's text; false when the walk could not go on.
async fn walk_to_confirm(addr: SocketAddr, w: &mut Walk) -> bool {
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
    true
}

/// Sends one Africa's Talking hop and returns the connection without reading the answer: the
/// telco never gets it, as when a kill cuts it off (the server does all it would anyway).
async fn send_unread(addr: SocketAddr, session: &str, phone: &str, text: &str) -> TcpStream {
    let body = at_hop(session, phone, "*384#", text);
    let mut s = TcpStream::connect(addr).await.expect("the server listens");
    let req = format!(
        "POST {PATH} HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("the final hop is sent");
    s
}

impl Walk {
    fn new(citizen: usize, n: usize, phone: &str) -> Walk {
        Walk {
            citizen,
            session: format!("ATUid_crash_{citizen}_{n}"),
            phone: phone.to_owned(),
            final_text: format!("{}1*KAJIADO/1234*1", if n == 0 { "2*" } else { "" }),
            answered: 0,
            final_sent: false,
            final_refused: false,
            end: None,
            unexpected: None,
        }
    }
}

/// One citizen walking again and again until the server goes away.
async fn citizen(addr: SocketAddr, load: Arc<Load>, citizen: usize) -> Vec<Walk> {
    let phone = format!("+2547115{citizen:05}");
    let mut walks = Vec::new();
    for n in 0..WALKS {
        let mut w = Walk::new(citizen, n, &phone);
        let on = walk(addr, &load, &mut w).await;
        walks.push(w);
        if !on {
            break;
        }
    }
    walks
}

/// The outside world of a production hand-off: Daraja, an agency and Africa's Talking SMS.
struct World {
    daraja: DarajaDouble,
    agency: AgencyDouble,
    sms: AtSmsDouble,
}

fn spawn(config: &Path, world: &World) -> Child {
    tokio::process::Command::from(serve_command(config, &world.daraja, &world.agency))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the njia binary starts")
}

async fn up(addr: SocketAddr, child: &mut Child) {
    common::until_up(addr, child, START_DEADLINE).await;
}

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

/// Every stored request by idempotency key: (reference, number). Panics on a key or a
/// reference stored twice.
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

/// The status and callback token of the payment attempt of the request stored under `key`.
async fn attempt(data: &Path, pg: Option<&tokio_postgres::Client>, key: &str) -> Option<(String, String)> {
    const SQL: &str = "SELECT a.status, a.token FROM payment_attempts a JOIN requests r ON r.id = a.request_id \
                       WHERE r.idempotency_key = $1 ORDER BY a.seq LIMIT 1";
    match pg {
        Some(client) => client.query_opt(SQL, &[&key]).await.unwrap().map(|r| (r.get(0), r.get(1))),
        None => {
            let conn = rusqlite::Connection::open(data.join("njia.sqlite3")).unwrap();
            conn.busy_timeout(Duration::from_secs(5)).unwrap();
            let sql = SQL.replace("$1", "?1");
            let mut stmt = conn.prepare(&sql).unwrap();
            let mut rows = stmt.query_map([key], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
            rows.next().map(|r| r.unwrap())
        }
    }
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
    let world = World {
        daraja: DarajaDouble::start(DarajaDoubleConfig::default()).await,
        agency: AgencyDouble::start(&AgencyDouble::new_secret()).await,
        sms: AtSmsDouble::start("at-test-key").await,
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // One port for every run: the telco retries the address it knows, and Daraja calls back
    // pushes made before the kill there.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let database = pg.map(|url| format!("database_url = \"{url}\"\n")).unwrap_or_default();
    // Production, against the doubles: the caught push must reach Daraja. The per-number rate
    // limit is off: a citizen walks far faster than a person.
    let timings = Timings {
        push_delay_ms: 50,
        lease_ms: LEASE_MS,
        daraja_timeout_ms: DARAJA_TIMEOUT_MS,
        extra: format!("{database}[rate_limit]\nphone_per_minute = 0\n"),
    };
    let toml = production_toml(addr, &data, &world.daraja, &world.sms, &world.agency, &timings);
    let config = dir.path().join("njia.toml");
    std::fs::write(&config, toml).unwrap();
    let client = match pg {
        Some(url) => Some(common::pg_client(url).await),
        None => None,
    };
    let client = client.as_ref();
    let name = if pg.is_some() { "postgres" } else { "sqlite" };

    let mut server = spawn(&config, &world);
    up(addr, &mut server).await;
    let started = std::time::Instant::now();
    let load = Arc::new(Load::default());
    let citizens: Vec<_> = (0..CITIZENS).map(|c| tokio::spawn(citizen(addr, Arc::clone(&load), c))).collect();
    // The crowd walks until enough ENDs came back (the wake-up every 10 ms only re-reads the
    // counter; it times nothing).
    let deadline = tokio::time::Instant::now() + LOAD_DEADLINE;
    while load.ends.load(Ordering::SeqCst) < KILL_AFTER_ENDS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the load got {} ENDs in {LOAD_DEADLINE:?} (the server is stuck)",
            load.ends.load(Ordering::SeqCst)
        );
        let _ = tokio::time::timeout(Duration::from_millis(10), load.end_seen.notified()).await;
    }
    // Then the caught citizen walks to its confirmation screen and sends its final hop without
    // reading the answer. Daraja holds its push open: once the push is there, the request is
    // committed (a job is claimed only after its request's commit), the push went out and its
    // answer is not recorded. The kill follows at once.
    world.daraja.hold_pushes_to(CAUGHT_PHONE.trim_start_matches('+'));
    let mut caught = Walk::new(CAUGHT, 0, CAUGHT_PHONE);
    assert!(walk_to_confirm(addr, &mut caught).await, "the caught citizen reached its confirmation: {caught:?}");
    caught.final_sent = true;
    let unread = send_unread(addr, &caught.session, &caught.phone, &caught.final_text).await;
    tokio::time::timeout(LOAD_DEADLINE, world.daraja.push_held())
        .await
        .expect("the caught final hop's push reached Daraja (the server is stuck)");
    let finals_in_flight = load.finals_in_flight.load(Ordering::SeqCst);
    server.kill().await.expect("SIGKILL");
    drop(unread);
    let load_ms = started.elapsed().as_millis();
    let mut walks = Vec::new();
    for c in citizens {
        walks.extend(c.await.unwrap());
    }
    let caught_key = caught.key();
    walks.push(caught);
    let unexpected: Vec<&Walk> = walks.iter().filter(|w| w.unexpected.is_some()).collect();
    assert!(unexpected.is_empty(), "answers no walk expects: {unexpected:#?}");
    let ends = walks.iter().filter(|w| w.end.is_some()).count();
    assert!(ends >= KILL_AFTER_ENDS, "the kill came after {KILL_AFTER_ENDS} ENDs, yet the walks got {ends}");
    let cut = walks.iter().filter(|w| w.end.is_none()).count();
    let finals_cut = walks.iter().filter(|w| w.final_sent && !w.final_refused && w.end.is_none()).count();
    assert!(walks.iter().any(|w| w.end.is_some() && !w.final_text.starts_with("2*")), "citizens walked again");

    // A COMMIT the killed server had already sent still completes in its PostgreSQL backend,
    // which only notices the dead client afterwards: read what the store holds once every
    // backend of the killed server is gone, or a request committed just after the read would
    // look as if the retry had stored it.
    if let Some(client) = client {
        backends_gone(client).await;
    }
    // Nothing answered before the kill is lost: every END's reference is stored under its
    // session's key, and only a final hop that was sent can have stored a request.
    let before = stored(&data, client).await;
    let by_key: HashMap<String, &Walk> = walks.iter().map(|w| (w.key(), w)).collect();
    for w in &walks {
        if let Some(end) = &w.end {
            let (stored_ref, msisdn) = before.get(&w.key()).unwrap_or_else(|| panic!("{} lost: {end}", w.key()));
            assert_eq!(stored_ref, reference(end), "{}", w.key());
            assert_eq!(msisdn.to_string(), w.phone.trim_start_matches('+'));
        }
    }
    for key in before.keys() {
        let w = by_key.get(key).unwrap_or_else(|| panic!("a request under a key no walk used: {key}"));
        assert!(w.final_sent && !w.final_refused, "{key} stored a request its final hop never brought");
    }
    // The kill caught the moment it was made for: the caught request is committed, its push
    // was sent and its answer is not recorded.
    assert!(before.contains_key(&caught_key), "the caught final hop's request was committed");
    let (status, token) = attempt(&data, client, &caught_key).await.expect("the caught request's payment attempt");
    assert_eq!(status, "pushing", "the kill came with the caught push sent and its answer not recorded");
    let unanswered = |k: &String| by_key.get(k).is_some_and(|w| w.end.is_none());
    let committed_unanswered = before.keys().filter(|k| unanswered(k)).count();

    // Where the sessions are after the kill. Memory sessions died with the process. PostgreSQL
    // session rows are UNLOGGED: they survive an njia kill (only a PostgreSQL crash empties the
    // table), so a retry there mostly finds its session (ended: its last reply; still on the
    // confirm screen because the kill came between the submit's commit and the session write,
    // or before the commit: the submit runs, and is idempotent on its key). The worst case is a
    // final hop whose session row is gone (a PostgreSQL crash, a lost row) while its request
    // was stored: the retry must find the request by its key. So the even citizens' rows are
    // deleted (the caught one's among them) and the odd citizens' kept, and one run covers both.
    let lost = |w: &Walk| client.is_none() || w.citizen.is_multiple_of(2);
    let committed_unanswered_lost = before.keys().filter(|k| unanswered(k) && lost(by_key[*k])).count();
    assert!(unanswered(&caught_key) && lost(by_key[&caught_key]), "the caught hop is unanswered and its session lost");
    let mut deleted = 0;
    if let Some(client) = client {
        let gone: Vec<String> = walks.iter().filter(|w| lost(w)).map(|w| w.session.clone()).collect();
        deleted = client.execute("DELETE FROM sessions WHERE session_id = ANY($1)", &[&gone]).await.unwrap();
    }

    server = spawn(&config, &world);
    up(addr, &mut server).await;
    // The telco retries the final hop of every session it opened.
    let mut retries = Vec::new();
    for w in &walks {
        let reply = hop(addr, &w.session, &w.phone, &w.final_text).await.expect("the restarted server answers");
        retries.push(reply);
    }
    let after = stored(&data, client).await;

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

    // The restarted server takes the caught push's job over once its lease ran out, finds the
    // push interrupted and never sends it again. The 50 ms wake-up only re-reads the store.
    let deadline = tokio::time::Instant::now() + LOAD_DEADLINE;
    let settled = loop {
        let (status, _) = attempt(&data, client, &caught_key).await.expect("the caught attempt");
        if status != "pushing" {
            break status;
        }
        assert!(tokio::time::Instant::now() < deadline, "the restarted server never took the caught push over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // At most one STK push per payment attempt (an attempt's callback URL holds its token).
    let pushes = world.daraja.pushes();
    let mut per_attempt: HashMap<&str, usize> = HashMap::new();
    for p in &pushes {
        *per_attempt.entry(p.callback_url.as_str()).or_default() += 1;
    }
    assert!(per_attempt.values().all(|n| *n == 1), "an attempt pushed twice: {per_attempt:?}");
    let caught_pushes = pushes.iter().filter(|p| p.callback_url.ends_with(&format!("/{token}"))).count();
    assert_eq!(caught_pushes, 1, "the caught push, its answer never recorded, is never sent again ({settled})");

    let retried_ends = retries.iter().filter(|r| r.contains("NJ-")).count();
    let retried_cons = retries.iter().filter(|r| r.starts_with("CON ")).count();
    eprintln!(
        "{name}: {} walks by {} citizens in {load_ms} ms; killed at {ends} ENDs with the caught push held and {} \
         other final hops in flight; {cut} walks cut ({finals_cut} with the final hop reaching the server and cut \
         off, {committed_unanswered} of those committed but unanswered, {committed_unanswered_lost} of them with \
         the session lost); {} requests stored; {deleted} session rows deleted; retries: {retried_ends} END with \
         the reference ({completed_by_retry} completing their submit), {retried_cons} CON, {} expired; {} pushes, \
         the caught one {settled} after the restart",
        walks.len(),
        CITIZENS + 1,
        finals_in_flight,
        before.len(),
        retries.len() - retried_ends - retried_cons,
        pushes.len(),
    );
    server.kill().await.unwrap();
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
