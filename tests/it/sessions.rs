//! One conformance suite for every `SessionStore`: memory and PostgreSQL.
//!
//! The PostgreSQL half uses `TEST_DATABASE_URL` (default: the local server), a fresh database
//! per test, migrated by `PostgresStore`, and fails, never skips, without PostgreSQL.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::{TestDatabase, create_database, drop_database, pg_client};
use njia::clock::{Clock, ManualClock};
use njia::engine::{Secrets, Session, Value};
use njia::menu::ScreenId;
use njia::session::postgres::{PgSessions, shared_input_key};
use njia::session::{MemorySessions, OpenQuery, SessionRecord, SessionStore};
use njia::store::postgres::PostgresStore;
use njia::types::{Locale, Msisdn, SessionKey};
use tokio::sync::{RwLock, RwLockReadGuard};

const IDLE: Duration = Duration::from_secs(180);
const WINDOW: Duration = Duration::from_secs(300);

/// Instances racing on one database (the input-key test) hold 64 connections at once; the
/// other PostgreSQL tests of this file wait while it runs, so together they stay under the
/// server's `max_connections` (100 by default).
static CONNECTIONS: RwLock<()> = RwLock::const_new(());

/// A fresh database, and a share of the connection budget for as long as the test holds it.
async fn database() -> (TestDatabase, RwLockReadGuard<'static, ()>) {
    let share = CONNECTIONS.read().await;
    (create_database().await, share)
}

fn key(channel: &str, id: &str) -> SessionKey {
    SessionKey::new(Arc::from(channel), id).unwrap()
}

fn phone() -> Msisdn {
    Msisdn::parse("+254711000111").unwrap()
}

fn record(hops: u32) -> SessionRecord {
    SessionRecord {
        menu_id: "ecitizen".into(),
        menu_version: 7,
        msisdn: phone(),
        state: Session {
            locale: Locale::parse("sw").unwrap(),
            screen: ScreenId(3),
            page: 1,
            stack: Vec::new(),
            vars: vec![("parcel".into(), Value::Text("KAJIADO/1234".into()))],
            secrets: Secrets::default(),
            recent: Vec::new(),
        },
        raw_len: 3,
        raw_hash: 42,
        last_reply: "Weka nambari ya kipande".into(),
        ended: false,
        hops,
        resuming: false,
    }
}

fn query(new_session: &SessionKey) -> OpenQuery<'_> {
    OpenQuery { msisdn: phone(), new_session, menu: "ecitizen", within: WINDOW }
}

/// Opens a session store over the same data each time it is called (another instance).
type Opener = Box<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Arc<dyn SessionStore>>>>>;

/// Every store a test opens reads "now" from one manual clock, which only the test moves: an
/// order of writes or an expiry is made by moving it, never by waiting for real time to pass.
async fn records_round_trip(open: Opener, _clock: ManualClock) {
    let s = open().await;
    let k = key("at", "s1");
    assert!(s.get(&k).await.unwrap().is_none());
    s.put(&k, record(1)).await.unwrap();
    assert_eq!(s.get(&k).await.unwrap(), Some(record(1)));
    s.put(&k, SessionRecord { hops: 2, ended: true, ..record(2) }).await.unwrap();
    assert_eq!(s.get(&k).await.unwrap().map(|r| (r.hops, r.ended)), Some((2, true)));
    assert!(s.get(&key("other", "s1")).await.unwrap().is_none(), "a session belongs to one channel");
    let other = open().await;
    assert_eq!(other.get(&k).await.unwrap().map(|r| r.hops), Some(2), "another instance sees it");
    assert_eq!(s.input_key(), other.input_key(), "instances sharing sessions share the input key");
}

async fn a_dropped_session_is_taken_once(open: Opener, _clock: ManualClock) {
    let s = open().await;
    s.put(&key("at", "old"), record(3)).await.unwrap();
    let new = key("at", "new");
    assert!(s.take_open(OpenQuery { menu: "other", ..query(&new) }).await.unwrap().is_none(), "another menu");
    assert!(s.take_open(query(&key("hubtel", "new"))).await.unwrap().is_none(), "another channel");
    let taken = s.take_open(query(&new)).await.unwrap();
    assert_eq!(taken.map(|r| r.hops), Some(3));
    assert!(s.take_open(query(&new)).await.unwrap().is_none(), "resumed once");
    assert!(open().await.take_open(query(&new)).await.unwrap().is_none(), "on no instance");
    // A late hop of the old dialogue finds it ended, with its last screen.
    let old = s.get(&key("at", "old")).await.unwrap().expect("kept for retries");
    assert!(old.ended && &*old.last_reply == "Weka nambari ya kipande");
}

async fn only_the_newest_session_of_the_number_counts(open: Opener, clock: ManualClock) {
    let s = open().await;
    s.put(&key("at", "a"), record(1)).await.unwrap();
    // Each session is newer than the one before by a millisecond on the stores' clock.
    clock.advance(Duration::from_millis(1));
    s.put(&key("at", "b"), SessionRecord { ended: true, ..record(2) }).await.unwrap();
    assert!(s.take_open(query(&key("at", "c"))).await.unwrap().is_none(), "the newest reached END");
    clock.advance(Duration::from_millis(1));
    s.put(&key("at", "c"), record(4)).await.unwrap();
    assert!(s.take_open(query(&key("at", "c"))).await.unwrap().is_none(), "never the new session itself");
    let d = key("at", "d");
    let recent = OpenQuery { within: Duration::ZERO, ..query(&d) };
    assert!(s.take_open(recent).await.unwrap().is_none(), "outside the window");
    assert_eq!(s.take_open(query(&d)).await.unwrap().map(|r| r.hops), Some(4));
}

async fn concurrent_dials_resume_it_once(open: Opener, _clock: ManualClock) {
    let stores = [open().await, open().await];
    stores[0].put(&key("at", "old"), record(5)).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let s = Arc::clone(&stores[i % 2]);
            tokio::spawn(async move {
                let new = key("at", &format!("new{i}"));
                s.take_open(query(&new)).await.unwrap().is_some()
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1, "exactly one dial resumes the session");
}

async fn secrets_are_never_kept(open: Opener, _clock: ManualClock) {
    let s = open().await;
    let mut r = record(1);
    r.state.secrets.push(("pin".into(), "4321".into()));
    s.put(&key("at", "pin"), r).await.unwrap();
    let back = open().await.get(&key("at", "pin")).await.unwrap().expect("stored");
    assert!(back.state.secrets.is_empty(), "no session store keeps a secret between hops");
    assert_eq!(back.state.vars, record(1).state.vars);
}

fn memory(clock: &ManualClock) -> Opener {
    let store: Arc<dyn SessionStore> = MemorySessions::with_clock(IDLE, WINDOW, 10_000, clock.clone().into());
    Box::new(move || {
        let store = Arc::clone(&store);
        Box::pin(async move { store })
    })
}

fn postgres(db: &TestDatabase, clock: &ManualClock) -> Opener {
    let (url, clock) = (db.url.clone(), Clock::from(clock.clone()));
    Box::new(move || {
        let (url, clock) = (url.clone(), clock.clone());
        Box::pin(async move {
            let store = PostgresStore::connect(&url).await.unwrap();
            let input_key = shared_input_key(&store).await.unwrap();
            PgSessions::connect(&url, input_key, IDLE, WINDOW, clock).await.unwrap() as Arc<dyn SessionStore>
        })
    })
}

/// Each check, once per store.
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod memory_sessions {
            $(
                #[tokio::test]
                async fn $check() {
                    let clock = super::ManualClock::new();
                    super::$check(super::memory(&clock), clock).await;
                }
            )*
        }
        mod postgres_sessions {
            $(
                #[tokio::test]
                async fn $check() {
                    let (db, _share) = super::database().await;
                    let clock = super::ManualClock::new();
                    super::$check(super::postgres(&db, &clock), clock).await;
                    super::drop_database(db).await;
                }
            )*
        }
    };
}

conformance!(
    records_round_trip,
    a_dropped_session_is_taken_once,
    only_the_newest_session_of_the_number_counts,
    concurrent_dials_resume_it_once,
    secrets_are_never_kept,
);

/// The row never holds a secret, the table is UNLOGGED, and the record is small.
#[tokio::test]
async fn postgres_rows_are_small_unlogged_and_hold_no_secret() {
    let (db, _share) = database().await;
    let s = postgres(&db, &ManualClock::new())().await;
    let mut r = record(1);
    r.state.secrets.push(("pin".into(), "98765".into()));
    s.put(&key("africastalking", "ATUid_0123456789abcdef"), r).await.unwrap();
    let c = pg_client(&db.url).await;
    let row = c
        .query_one(
            "SELECT record, pg_column_size(record), pg_column_size(s.*), c.relpersistence::text \
             FROM sessions s, pg_class c WHERE c.relname = 'sessions'",
            &[],
        )
        .await
        .unwrap();
    let bytes: Vec<u8> = row.get(0);
    let (record_size, row_size, persistence): (i32, i32, String) = (row.get(1), row.get(2), row.get(3));
    assert!(!String::from_utf8_lossy(&bytes).contains("98765"), "the PIN is not in the row");
    assert_eq!(persistence, "u", "the sessions table is UNLOGGED");
    eprintln!("session row: {row_size} bytes, record {record_size} bytes");
    assert!(row_size < 512, "a session row stays small: {row_size} bytes");
    drop(c);
    drop_database(db).await;
}

/// Reads treat rows past `live_until` as absent while the resume window keeps them; the
/// sweeper deletes rows past `expires_at` through the index on `sweep_after` (`expires_at`
/// rounded up to the minute), in batches; an ordinary hop changes no indexed column, so
/// PostgreSQL rewrites the row in place.
#[tokio::test]
async fn postgres_expiry_and_sweep() {
    let (db, _share) = database().await;
    let store = PostgresStore::connect(&db.url).await.unwrap();
    let input_key = shared_input_key(&store).await.unwrap();
    let clock = ManualClock::new();
    let idle = Duration::from_millis(300);
    let s = PgSessions::connect(&db.url, input_key, idle, WINDOW, clock.clone().into()).await.unwrap();
    for i in 0..2500 {
        let r = SessionRecord { ended: i % 2 == 0, ..record(i) };
        s.put(&key("at", &format!("s{i}")), r).await.unwrap();
    }
    clock.advance(idle - Duration::from_millis(1));
    assert!(s.get(&key("at", "s1")).await.unwrap().is_some(), "within the idle TTL: there");
    clock.advance(Duration::from_millis(1));
    assert!(s.get(&key("at", "s1")).await.unwrap().is_none(), "idle for the TTL: gone for hops");
    // Ended rows expire with their retry time (here the idle TTL, which is shorter); open ones
    // are kept for the resume window.
    let now = clock.now_ms();
    // Found through the minute they expire in: none before its end, all of them after.
    let minute_ago = now - 60_000;
    assert_eq!(s.sweep(minute_ago).await.unwrap(), 0, "nothing has expired a minute ago");
    let now = now + 60_000;
    assert_eq!(s.sweep(now).await.unwrap(), 1250);
    assert!(s.take_open(query(&key("at", "new"))).await.unwrap().is_some(), "kept for resuming");
    assert_eq!(s.sweep(now + WINDOW.as_millis() as i64 + 1000).await.unwrap(), 1250);
    let c = pg_client(&db.url).await;
    let n: i64 = c.query_one("SELECT count(*) FROM sessions", &[]).await.unwrap().get(0);
    assert_eq!(n, 0);
    // The sweep finds its rows through the sweep_after index, never by a full scan.
    c.batch_execute("SET enable_seqscan = off").await.unwrap();
    let plan: Vec<String> = c
        .query(
            "EXPLAIN SELECT channel, session_id FROM sessions WHERE sweep_after <= 0 AND expires_at <= 0 \
             ORDER BY sweep_after LIMIT 1000",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(plan.iter().any(|l| l.contains("sessions_sweep")), "{plan:#?}");
    // Hops within a minute rewrite a session's row in place: no index gains an entry.
    c.batch_execute("SET enable_seqscan = on").await.unwrap();
    let k = key("at", "hot");
    for hop in 0..50 {
        s.put(&k, record(hop)).await.unwrap();
    }
    // Statistics reach the view when the writing connections close (or after ten idle
    // seconds): close them.
    drop(s);
    let started = std::time::Instant::now();
    let (updates, hot) = loop {
        let row = c
            .query_one("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'sessions'", &[])
            .await
            .unwrap();
        let (updates, hot): (i64, i64) = (row.get(0), row.get(1));
        if updates >= 49 || started.elapsed() > Duration::from_secs(15) {
            break (updates, hot);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(updates >= 49, "the updates were counted: {updates}");
    assert!(hot * 10 >= updates * 8, "most hops update in place: {hot} of {updates}");
    drop(c);
    drop_database(db).await;
}

/// Every instance on one database hashes inputs with one key, drawn at random per database.
#[tokio::test]
async fn the_input_key_is_shared_per_database_and_random() {
    let _alone = CONNECTIONS.write().await;
    let (a, b) = (create_database().await, create_database().await);
    let key_of = |url: String| async move {
        let store = PostgresStore::connect(&url).await.unwrap();
        shared_input_key(&store).await.unwrap()
    };
    let starts: Vec<_> = (0..4).map(|_| tokio::spawn(key_of(a.url.clone()))).collect();
    let mut keys = Vec::new();
    for s in starts {
        keys.push(s.await.unwrap());
    }
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "instances starting together agree on one key");
    assert_ne!(keys[0], key_of(b.url.clone()).await, "another database draws its own");
    drop_database(a).await;
    drop_database(b).await;
}
