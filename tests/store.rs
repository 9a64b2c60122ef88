//! The embedded SQLite store: idempotent submits, group commit under concurrency, remembered
//! languages, and durability across reopening the file.

use std::sync::Arc;

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

#[tokio::test]
async fn submit_is_idempotent_on_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let a = store.submit(request("at:s1")).await.unwrap();
    let b = store.submit(request("at:s1")).await.unwrap();
    assert!(a.created && !b.created);
    assert_eq!(a.reference, b.reference);
    let row = store.request(&a.reference).await.unwrap().expect("stored");
    assert_eq!(row.status, "received");
    assert_eq!(row.payment, Some(("4,500".into(), "KAJIADO/1234".into())));
    assert_eq!(row.fields, vec![("parcel".to_owned(), "KAJIADO/1234".to_owned())]);
    assert!(store.request(&Reference::parse("NJ-22222").unwrap()).await.unwrap().is_none());
}

#[tokio::test]
async fn concurrent_submits_each_get_their_own_reference() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = Arc::clone(&store);
            // Every key twice, concurrently: the duplicates must map to the same request.
            tokio::spawn(async move { (i % 100, store.submit(request(&format!("k{}", i % 100))).await.unwrap()) })
        })
        .collect();
    let mut by_key = std::collections::HashMap::new();
    for t in tasks {
        let (k, stored) = t.await.unwrap();
        let prev = by_key.insert(k, stored.reference.clone());
        if let Some(prev) = prev {
            assert_eq!(prev, stored.reference, "both submits of key {k} share one request");
        }
    }
    let refs: std::collections::HashSet<_> = by_key.values().collect();
    assert_eq!(refs.len(), 100);
    assert_eq!(store.recent_requests(None, 1000).await.unwrap().len(), 100);
}

#[tokio::test]
async fn languages_and_requests_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let phone = Msisdn::parse("0722000000").unwrap();
    let reference = {
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.language(phone).await.unwrap(), None);
        store.set_language(phone, Locale::parse("en").unwrap()).await.unwrap();
        assert_eq!(store.language(phone).await.unwrap(), Some(Locale::parse("en").unwrap()));
        store.submit(request("k")).await.unwrap().reference
    };
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.language(phone).await.unwrap(), Some(Locale::parse("en").unwrap()));
    assert!(store.request(&reference).await.unwrap().is_some());
    let mine = store.recent_requests(Some(Msisdn::parse("+254711000111").unwrap()), 10).await.unwrap();
    assert_eq!(mine.len(), 1);
    let other = store.recent_requests(Some(phone), 10).await.unwrap();
    assert!(other.is_empty());
}

#[tokio::test]
async fn session_end_notifications_are_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
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
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join("njia.sqlite3")).unwrap();
    let n: i64 = conn.query_row("SELECT count(*) FROM session_ends", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}
