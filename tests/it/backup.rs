//! `njia backup` and `njia restore` (issue #15): a backup taken while citizens pay holds every
//! request acknowledged before it began, with its jobs; a backup of a quiet store restores to
//! exactly what was there (every request, job and SMS); what must be refused is refused.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use njia::store::Store;
use njia::store::prelude::*;
use njia::store::sqlite::SqliteStore;
use njia::types::Reference;

use crate::common::doubles::eventually;
use crate::common::{TestServer, at_hop, config, njia, paid_walk};

/// Runs `njia` with `args` and the data directory `data`; its status and what it printed.
fn run(args: &[&str], data: &Path) -> (bool, String) {
    let out = njia().args(args).arg("--data-dir").arg(data).output().expect("run njia");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// One citizen's paid land-rates walk; the reference its last screen acknowledged.
async fn pay(server: &TestServer, session: &str, phone: &str) -> Reference {
    let mut last = String::new();
    for text in paid_walk("2") {
        last = server.post_form("/ussd/africastalking", &at_hop(session, phone, "*384#", &text)).await.1;
    }
    let at = last.find("NJ-").unwrap_or_else(|| panic!("no reference in {last:?}"));
    Reference::parse(&last[at..at + 8]).expect("a reference")
}

/// What the administration commands print of a store: its requests, jobs and SMS.
async fn listing(store: &dyn Store) -> String {
    let requests = njia::admin::requests_list(store, None, 10_000, true).await.expect("requests");
    let jobs = njia::admin::jobs_list(store, None, 10_000, true).await.expect("jobs");
    let sms = njia::admin::sms_list(store, 10_000, true).await.expect("sms");
    format!("{requests}{jobs}{sms}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_load_restores_every_acknowledged_request() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cfg = config(&data);
    cfg.dispatcher.sandbox_pin_delay_ms = 0;
    let server = Arc::new(TestServer::start(cfg).await);

    // Citizens pay back to back while the backup runs; each acknowledged reference is noted
    // with whether its acknowledgement came before the backup began.
    let started = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut citizens = Vec::new();
    for c in 0..4 {
        let (server, started, stop) = (Arc::clone(&server), Arc::clone(&started), Arc::clone(&stop));
        citizens.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let reference = pay(&server, &format!("b-{c}-{n}"), &format!("+2547110{c:02}{n:03}")).await;
                // Read once the acknowledgement is in: a walk that began before the backup may
                // commit after it began, and only an acknowledgement seen before it counts.
                let before = !started.load(Ordering::SeqCst);
                acked.push((reference, before));
            }
            acked
        }));
    }
    // Some requests in before the backup begins, so it has something to hold.
    eventually("requests are acknowledged", Duration::from_secs(20), || async {
        let store = SqliteStore::open_existing(&data).ok();
        match store {
            Some(s) => s.requests_with_status(None, 100).await.map(|r| r.len() >= 8).unwrap_or(false),
            None => false,
        }
    })
    .await;
    let under_load = dir.path().join("under-load.njia");
    started.store(true, Ordering::SeqCst);
    let (ok, printed) = {
        let (under_load, data) = (under_load.clone(), data.clone());
        tokio::task::spawn_blocking(move || run(&["backup", "--to", under_load.to_str().unwrap()], &data))
            .await
            .unwrap()
    };
    assert!(ok, "backup under load failed: {printed}");
    assert!(printed.starts_with("backed up ") && printed.contains(" requests, "), "{printed}");
    stop.store(true, Ordering::SeqCst);
    let mut acked = Vec::new();
    for c in citizens {
        acked.extend(c.await.unwrap());
    }
    let before: Vec<&Reference> = acked.iter().filter(|(_, b)| *b).map(|(r, _)| r).collect();
    assert!(before.len() >= 8, "too few requests before the backup: {}", before.len());

    // Restored into a new data directory, every request acknowledged before the backup began
    // is there with the jobs that carry it on.
    let restored = dir.path().join("restored");
    let (ok, printed) = run(&["restore", "--from", under_load.to_str().unwrap()], &restored);
    assert!(ok, "restore failed: {printed}");
    assert!(printed.starts_with("restored "), "{printed}");
    let store = SqliteStore::open_existing(&restored).expect("the restored store opens");
    for reference in &before {
        let request = store.request(reference).await.unwrap();
        let request =
            request.unwrap_or_else(|| panic!("{reference} was acknowledged before the backup began but is not in it"));
        let jobs = store.jobs(None, Some(request.id), 100).await.unwrap();
        assert!(!jobs.is_empty(), "{reference} has no jobs in the backup");
    }
    drop(store);

    // Once every request is settled and the server stopped, a backup restores to exactly what
    // the store holds: every request, job and SMS.
    let live = SqliteStore::open_existing(&data).unwrap();
    eventually("every receipt is sent", Duration::from_secs(30), || async {
        let sms = live.sms(None, 10_000).await.map(|s| s.len()).unwrap_or(0);
        sms >= acked.len()
    })
    .await;
    match Arc::try_unwrap(server) {
        Ok(server) => server.stop().await,
        Err(_) => panic!("the server is still shared"),
    }
    let quiet = dir.path().join("quiet.njia");
    let (ok, printed) = run(&["backup", "--to", quiet.to_str().unwrap()], &data);
    assert!(ok, "{printed}");
    let again = dir.path().join("again");
    let (ok, printed) = run(&["restore", "--from", quiet.to_str().unwrap()], &again);
    assert!(ok, "{printed}");
    let copy = SqliteStore::open_existing(&again).unwrap();
    let (want, got) = (listing(&live).await, listing(&copy).await);
    assert!(want.contains(&acked[0].0.to_string()), "the listing names the requests");
    assert_eq!(got, want, "the restored store differs from the one backed up");
}

#[tokio::test]
async fn backup_and_restore_refuse_what_would_lose_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // No store yet: nothing to back up, and nothing is created.
    let (ok, printed) = run(&["backup", "--to", dir.path().join("x.njia").to_str().unwrap()], &data);
    assert!(!ok && printed.contains("no Njia database in"), "{printed}");
    assert!(!data.exists(), "backup created the data directory");

    let server = TestServer::start(config(&data)).await;
    let reference = pay(&server, "r-1", "+254711000900").await;
    server.stop().await;
    let file = dir.path().join("one.njia");
    let (ok, printed) = run(&["backup", "--to", file.to_str().unwrap()], &data);
    assert!(ok, "{printed}");
    // A backup never overwrites a file.
    let (ok, printed) = run(&["backup", "--to", file.to_str().unwrap()], &data);
    assert!(!ok && printed.contains("already exists"), "{printed}");
    // A restore over a data directory with a database is refused without --replace ...
    let (ok, printed) = run(&["restore", "--from", file.to_str().unwrap()], &data);
    assert!(!ok && printed.contains("--replace"), "{printed}");
    // ... and with it, the database there is kept beside the restored one.
    let (ok, printed) = run(&["restore", "--from", file.to_str().unwrap(), "--replace"], &data);
    assert!(ok, "{printed}");
    let kept: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("njia.sqlite3.before-restore-") && !n.ends_with("-wal") && !n.ends_with("-shm"))
        .collect();
    assert_eq!(kept.len(), 1, "the replaced database is kept: {kept:?}");
    let store = SqliteStore::open_existing(&data).unwrap();
    assert!(store.request(&reference).await.unwrap().is_some());
    // What is not a backup is refused before anything is touched.
    let junk = dir.path().join("junk.njia");
    std::fs::write(&junk, "not a database").unwrap();
    let fresh = dir.path().join("fresh");
    let (ok, printed) = run(&["restore", "--from", junk.to_str().unwrap()], &fresh);
    assert!(!ok && printed.contains("is not a usable Njia backup"), "{printed}");
    assert!(!fresh.join("njia.sqlite3").exists());
}

#[tokio::test]
async fn backup_with_postgres_points_to_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let out = njia()
        .args(["backup", "--to", dir.path().join("x").to_str().unwrap()])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("pg_dump"), "{err}");
}
