//! One conformance suite for every `Store`: the embedded SQLite file and PostgreSQL.
//!
//! The PostgreSQL half uses `TEST_DATABASE_URL` (default: the local server,
//! `postgres://postgres@127.0.0.1:5432/postgres`), creates a fresh database per test and drops
//! it afterwards. It fails, never skips, when PostgreSQL cannot be reached.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use njia::store::postgres::PostgresStore;
use njia::store::sqlite::SqliteStore;
use njia::store::{NewRequest, SessionEnd, Store};
use njia::types::{Locale, Msisdn, Reference};

fn request(key: &str) -> NewRequest {
    NewRequest {
        idempotency_key: key.to_owned(),
        menu: "ecitizen".into(),
        service: "land-rates".into(),
        msisdn: Msisdn::parse("+254711000111").unwrap(),
        locale: Locale::parse("sw").unwrap(),
        payment: Some(("4,500".into(), "KAJIADO/1234".into())),
        fields: vec![("parcel".into(), "KAJIADO/1234".into())],
    }
}

/// Opens a store; called again to "reopen" the same data.
type Opener = Box<dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = Arc<dyn Store>>>>>;

async fn submit_is_idempotent_on_its_key(open: Opener) {
    let store = open().await;
    let a = store.submit(request("at:s1:254711000111")).await.unwrap();
    let b = store.submit(request("at:s1:254711000111")).await.unwrap();
    assert!(a.created && !b.created);
    assert_eq!(a.reference, b.reference);
    let row = store.request(&a.reference).await.unwrap().expect("stored");
    assert_eq!(row.status, "received");
    assert_eq!(row.msisdn, Msisdn::parse("+254711000111").unwrap());
    assert_eq!(row.payment, Some(("4,500".into(), "KAJIADO/1234".into())));
    assert_eq!(row.fields, vec![("parcel".to_owned(), "KAJIADO/1234".to_owned())]);
    assert!(store.request(&Reference::parse("NJ-22222").unwrap()).await.unwrap().is_none());
}

async fn concurrent_submits_each_get_their_own_reference(open: Opener) {
    let store = open().await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = Arc::clone(&store);
            // Every key twice, concurrently: the duplicates must map to the same request.
            tokio::spawn(async move { (i % 100, store.submit(request(&format!("k{}", i % 100))).await.unwrap()) })
        })
        .collect();
    let mut by_key = HashMap::new();
    for t in tasks {
        let (k, stored) = t.await.unwrap();
        if let Some(prev) = by_key.insert(k, stored.reference.clone()) {
            assert_eq!(prev, stored.reference, "both submits of key {k} share one request");
        }
    }
    let refs: HashSet<_> = by_key.values().collect();
    assert_eq!(refs.len(), 100);
    assert_eq!(store.recent_requests(None, 1000).await.unwrap().len(), 100);
}

async fn languages_and_requests_survive_reopening(open: Opener) {
    let phone = Msisdn::parse("0722000000").unwrap();
    let reference = {
        let store = open().await;
        assert_eq!(store.language(phone).await.unwrap(), None);
        store.set_language(phone, Locale::parse("en").unwrap()).await.unwrap();
        assert_eq!(store.language(phone).await.unwrap(), Some(Locale::parse("en").unwrap()));
        store.set_language(phone, Locale::parse("sw").unwrap()).await.unwrap();
        store.submit(request("k")).await.unwrap().reference
    };
    let store = open().await;
    assert_eq!(store.language(phone).await.unwrap(), Some(Locale::parse("sw").unwrap()));
    assert!(store.request(&reference).await.unwrap().is_some());
    let mine = store.recent_requests(Some(Msisdn::parse("+254711000111").unwrap()), 10).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert!(store.recent_requests(Some(phone), 10).await.unwrap().is_empty());
}

async fn session_end_notifications_are_recorded_once(open: Opener) {
    let store = open().await;
    let end = SessionEnd {
        channel: "africastalking".into(),
        session_id: "ATUid_1".into(),
        msisdn: Msisdn::parse("+254711000111").ok(),
        status: "Success".into(),
        hops: Some(4),
        duration_ms: Some(30_000),
        error_message: None,
    };
    store.record_session_end(end.clone()).await.unwrap();
    store.record_session_end(end).await.unwrap();
}

// --- SQLite ---------------------------------------------------------------------------------

fn sqlite(dir: &tempfile::TempDir) -> Opener {
    let path = dir.path().to_path_buf();
    Box::new(move || {
        let path = path.clone();
        Box::pin(async move { Arc::new(SqliteStore::open(&path).unwrap()) as Arc<dyn Store> })
    })
}

// --- PostgreSQL -----------------------------------------------------------------------------

mod common;

use common::{TestDatabase, create_database, drop_database};

fn postgres(db: &TestDatabase) -> Opener {
    let url = db.url.clone();
    Box::new(move || {
        let url = url.clone();
        Box::pin(async move { Arc::new(PostgresStore::connect(&url).await.unwrap()) as Arc<dyn Store> })
    })
}

/// Each check, once per store.
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod sqlite_store {
            $(
                #[tokio::test]
                async fn $check() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$check(super::sqlite(&dir)).await;
                }
            )*
        }
        mod postgres_store {
            $(
                #[tokio::test]
                async fn $check() {
                    let db = super::create_database().await;
                    super::$check(super::postgres(&db)).await;
                    super::drop_database(db).await;
                }
            )*
        }
    };
}

conformance!(
    submit_is_idempotent_on_its_key,
    concurrent_submits_each_get_their_own_reference,
    languages_and_requests_survive_reopening,
    session_end_notifications_are_recorded_once,
);

/// Several instances starting together against one fresh database: every migration is
/// applied exactly once (the advisory lock), and all of them come up.
#[tokio::test]
async fn postgres_migrations_are_safe_when_instances_start_together() {
    let db = create_database().await;
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { PostgresStore::connect(&url).await.map(|_| ()) })
        })
        .collect();
    for s in starts {
        s.await.unwrap().expect("every instance starts");
    }
    let client = common::pg_client(&db.url).await;
    let n: i64 = client.query_one("SELECT count(*) FROM schema_version", &[]).await.unwrap().get(0);
    assert_eq!(n, 1, "the one migration is recorded once");
    drop(client);
    drop_database(db).await;
}

/// The SQLite file is in WAL mode (durability with concurrent readers).
#[tokio::test]
async fn sqlite_uses_wal() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("njia.sqlite3")).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}
