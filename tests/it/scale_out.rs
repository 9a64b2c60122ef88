//! Two real server instances on one PostgreSQL database, with no sticky routing: every hop of
//! a session goes to the other instance than the one before, and every telco retry of a hop
//! goes to the other one again. Sessions live in PostgreSQL (`database_url` set, `sessions`
//! unset), so any instance serves any hop; the result must be the screens one instance gives,
//! with every request stored exactly once. Then resuming a dropped session across instances.
//!
//! Needs PostgreSQL (`TEST_DATABASE_URL`, default the local server); fails without it.

use crate::common;

use std::sync::Arc;

use common::{TestDatabase, TestServer, at_hop, create_database, drop_database, pg_client};
use njia::config::Config;

/// The land-rates walk to the paid submit: language, land, parcel (lookup), pay (END).
const WALK: [&str; 5] = ["", "1", "1*1", "1*1*KAJIADO/1234", "1*1*KAJIADO/1234*1"];

const OFFER_SW: &str = "CON Huduma ilikatika. Ungependa kuendelea ulipofikia?\n1. Endelea\n2. Anza upya";

fn instance_config(db: &TestDatabase, data: &std::path::Path) -> Config {
    Config { database_url: Some(db.url.clone()), ..common::config(data) }
}

fn fixture_config(db: &TestDatabase, data: &std::path::Path) -> Config {
    let root = common::repo().join("tests/fixtures/resume");
    Config {
        menus_dir: root.join("menus"),
        locales_dir: root.join("locales"),
        lookups_dir: Some(root.join("lookups")),
        ..instance_config(db, data)
    }
}

/// Two instances on `db`, each with its own data directory (nothing shared but the database).
async fn two_instances(
    db: &TestDatabase,
    config: fn(&TestDatabase, &std::path::Path) -> Config,
) -> (Vec<tempfile::TempDir>, [Arc<TestServer>; 2]) {
    let dirs = vec![tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let a = TestServer::start(config(db, dirs[0].path())).await;
    let b = TestServer::start(config(db, dirs[1].path())).await;
    // Both are up once they answer.
    for s in [&a, &b] {
        for _ in 0..100 {
            if common::try_request(s.addr, "GET", "/healthz", "text/plain", "").await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    (dirs, [Arc::new(a), Arc::new(b)])
}

async fn hop(server: &TestServer, sid: &str, phone: &str, code: &str, text: &str) -> String {
    let (status, body) = server.post_form("/ussd/africastalking", &at_hop(sid, phone, code, text)).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A screen with its request reference blanked, to compare walks that stored different
/// requests.
fn blank_reference(screen: &str) -> String {
    match screen.find("NJ-") {
        Some(i) if screen.len() >= i + 8 => format!("{}NJ-_____{}", &screen[..i], &screen[i + 8..]),
        _ => screen.to_owned(),
    }
}

async fn stop(servers: [Arc<TestServer>; 2]) {
    for s in servers {
        match Arc::try_unwrap(s) {
            Ok(s) => s.stop().await,
            Err(_) => panic!("a server is still in use"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hops_alternate_between_two_instances_and_nothing_is_lost_or_doubled() {
    let db = create_database().await;
    let (_dirs, servers) = two_instances(&db, instance_config).await;

    // The screens one instance gives.
    let mut reference = Vec::new();
    for text in WALK {
        reference.push(blank_reference(&hop(&servers[0], "ATUid_one", "+254711699999", "*384#", text).await));
    }
    assert!(reference[4].starts_with("END Ombi NJ-_____"), "{}", reference[4]);

    // 20 citizens at once, each hop to the other instance than the last, each hop retried on
    // the other instance again (a telco that timed out and retried through the balancer).
    let walks: Vec<_> = (0..20)
        .map(|i| {
            let servers = servers.clone();
            tokio::spawn(async move {
                let sid = format!("ATUid_scale{i}");
                let phone = format!("+2547116{i:05}");
                let mut screens = Vec::new();
                for (k, text) in WALK.iter().enumerate() {
                    let (first, other) = (&servers[(i + k) % 2], &servers[(i + k + 1) % 2]);
                    let screen = hop(first, &sid, &phone, "*384#", text).await;
                    let retry = hop(other, &sid, &phone, "*384#", text).await;
                    assert_eq!(retry, screen, "a retry on the other instance answers the same screen");
                    screens.push(screen);
                }
                (phone, screens)
            })
        })
        .collect();
    let mut references = std::collections::HashSet::new();
    let mut phones = Vec::new();
    for w in walks {
        let (phone, screens) = w.await.unwrap();
        let blanked: Vec<String> = screens.iter().map(|s| blank_reference(s)).collect();
        assert_eq!(blanked, reference, "{phone}: the same screens as on one instance");
        let at = screens[4].find("NJ-").expect("a reference");
        references.insert(screens[4][at..at + 8].to_owned());
        phones.push(phone);
    }
    assert_eq!(references.len(), 20, "every session stored its own request");

    // Exactly one request per session, whichever instance took the submit and its retry.
    let c = pg_client(&db.url).await;
    let rows = c
        .query("SELECT msisdn, count(*) FROM requests WHERE msisdn <> 254711699999 GROUP BY msisdn", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 20);
    assert!(rows.iter().all(|r| r.get::<_, i64>(1) == 1), "one request per session");
    // The sessions lived in the database, not in either instance.
    let n: i64 = c.query_one("SELECT count(*) FROM sessions WHERE NOT open", &[]).await.unwrap().get(0);
    assert_eq!(n, 21, "every session ended, in the shared table");
    drop(c);
    stop(servers).await;
    drop_database(db).await;
}

/// A session dropped on one instance is resumed through the other; when the citizen's next
/// two dials race on both instances, it is continued in one of them only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_session_resumes_on_the_other_instance_once() {
    let db = create_database().await;
    let (_dirs, servers) = two_instances(&db, instance_config).await;
    let phone = "+254711700001";
    let mut before = Vec::new();
    for text in &WALK[..4] {
        before.push(hop(&servers[0], "ATUid_drop", phone, "*384#", text).await);
    }
    let offer = hop(&servers[1], "ATUid_back", phone, "*384#", "").await;
    assert_eq!(offer, OFFER_SW);
    assert_eq!(hop(&servers[0], "ATUid_back", phone, "*384#", "1").await, before[3], "Continue, on the first");
    let end = hop(&servers[1], "ATUid_back", phone, "*384#", "1*1").await;
    assert!(end.starts_with("END Ombi NJ-"), "{end}");

    // Dropped again before END; two dials arrive at once, one on each instance. Whichever
    // way they interleave, the dropped state goes on in one dialogue only: each take closes
    // the session it took, so the state moves along and is never copied into two.
    // The language is remembered now: home, land, parcel (to the confirmation).
    let mut confirm = String::new();
    for text in ["", "1", "1*KAJIADO/1234"] {
        confirm = hop(&servers[1], "ATUid_drop2", phone, "*384#", text).await;
    }
    let (x, y) = tokio::join!(
        hop(&servers[0], "ATUid_race0", phone, "*384#", ""),
        hop(&servers[1], "ATUid_race1", phone, "*384#", ""),
    );
    assert!([&x, &y].iter().any(|s| s.as_str() == OFFER_SW), "offered: {x:?} {y:?}");
    let (x, y) = tokio::join!(
        hop(&servers[1], "ATUid_race0", phone, "*384#", "1"),
        hop(&servers[0], "ATUid_race1", phone, "*384#", "1"),
    );
    let continued = [&x, &y].iter().filter(|s| **s == &confirm).count();
    assert_eq!(continued, 1, "continued in one dialogue only: {x:?} {y:?}");
    for sid in ["ATUid_race0", "ATUid_race1"] {
        hop(&servers[0], sid, phone, "*384#", "1*1").await;
    }

    let c = pg_client(&db.url).await;
    let msisdn = njia::types::Msisdn::parse(phone).unwrap().as_u64() as i64;
    let n: i64 = c.query_one("SELECT count(*) FROM requests WHERE msisdn = $1", &[&msisdn]).await.unwrap().get(0);
    assert_eq!(n, 2, "the first dialogue's request and the resumed one's, nothing else");
    drop(c);
    stop(servers).await;
    drop_database(db).await;
}

/// A PIN typed on one instance is used by the lookup in that hop and is in no session row;
/// the session resumed on the other instance continues without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_never_reaches_the_shared_sessions() {
    let db = create_database().await;
    let (_dirs, servers) = two_instances(&db, fixture_config).await;
    let phone = "+254711700002";
    let texts = ["", "1", "1*0722000000", "1*0722000000*1000", "1*0722000000*1000*4321"];
    let mut screens = Vec::new();
    for (k, text) in texts.iter().enumerate() {
        screens.push(hop(&servers[k % 2], "ATUid_pin", phone, "*555#", text).await);
    }
    assert_eq!(screens[3], "CON Weka PIN:\n0. Rudi\n00. Mwanzo");
    assert!(screens[4].starts_with("CON Tuma KES 1,000 kwa 254722000000? Salio KES 12,000."), "{}", screens[4]);
    let c = pg_client(&db.url).await;
    for row in c.query("SELECT record FROM sessions", &[]).await.unwrap() {
        let record: Vec<u8> = row.get(0);
        let text = String::from_utf8_lossy(&record);
        assert!(!text.contains("4321"), "no PIN in a session row: {text}");
    }
    // Dropped at the confirmation; resumed through the other instance.
    assert_eq!(hop(&servers[1], "ATUid_pin2", phone, "*555#", "").await, OFFER_SW);
    assert_eq!(hop(&servers[0], "ATUid_pin2", phone, "*555#", "1").await, screens[4]);
    let end = hop(&servers[1], "ATUid_pin2", phone, "*555#", "1*1").await;
    assert!(end.starts_with("END Ombi NJ-") && end.ends_with(": KES 1,000 kwa 254722000000."), "{end}");
    drop(c);
    stop(servers).await;
    drop_database(db).await;
}
