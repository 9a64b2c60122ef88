//! Resuming a dropped session over HTTP against the real server (memory sessions): the offer
//! in both languages, Continue and Start again, Africa's Talking and Hubtel, never after END
//! or with extra digits, never past the window, and never with a secret.
//! Across two instances on PostgreSQL: `tests/it/scale_out.rs`.

use crate::common;

use std::path::Path;

use common::{TestServer, at_walk, config};
use njia::clock::ManualClock;
use njia::config::Config;
use njia::server::RunOptions;

const OFFER_SW: &str = "CON Huduma ilikatika. Ungependa kuendelea ulipofikia?\n1. Endelea\n2. Anza upya";
const OFFER_EN: &str = "CON Your last session was cut off. Continue where you left off?\n1. Continue\n2. Start again";

async fn requests_of(dir: &Path, phone: &str) -> i64 {
    let conn = rusqlite::Connection::open(dir.join("njia.sqlite3")).expect("open db");
    let msisdn = njia::types::Msisdn::parse(phone).unwrap().as_u64() as i64;
    conn.query_row("SELECT count(*) FROM requests WHERE msisdn = ?1", [msisdn], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn continue_in_swahili_restores_the_screen_and_what_was_entered() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let phone = "+254711500001";
    let before = at_walk(&server, "ATUid_r1a", phone, "*384#", &["", "1", "1*1", "1*1*KAJIADO/1234"]).await;
    let confirm = &before[3];
    assert_eq!(
        confirm,
        "CON KAJIADO/1234, Wanjiku Kamau\nUshuru: KES 4,500\n1. Lipa kwa M-Pesa\n2. Ghairi\n0. Rudi\n00. Mwanzo"
    );
    // The network drops the dialogue here. The next dial offers to continue it.
    let after = at_walk(&server, "ATUid_r1b", phone, "*384#", &["", "3", "3*1"]).await;
    assert_eq!(after[0], OFFER_SW);
    assert_eq!(after[1], format!("CON Chaguo si sahihi.\n{}", &OFFER_SW[4..]), "neither choice: the offer again");
    assert_eq!(&after[2], confirm, "Continue shows the screen the citizen was on, with its values");
    let end = at_walk(&server, "ATUid_r1b", phone, "*384#", &["3*1*1"]).await;
    assert!(end[0].starts_with("END Ombi NJ-") && end[0].contains("KES 4,500"), "{}", end[0]);
    assert_eq!(requests_of(dir.path(), phone).await, 1);
    // That session reached END: the next dial starts at home, and so does the one after
    // (the first session was resumed once and is gone).
    let next = at_walk(&server, "ATUid_r1c", phone, "*384#", &[""]).await;
    assert_eq!(next[0], before[1], "home, no offer after END");
    server.stop().await;
}

#[tokio::test]
async fn start_again_in_english_begins_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let phone = "+254711500002";
    let before = at_walk(&server, "ATUid_r2a", phone, "*384#", &["", "2", "2*1"]).await;
    assert!(before[1].starts_with("CON Welcome to e-Citizen"), "{}", before[1]);
    assert_eq!(before[2], "CON Enter the land parcel number (e.g. KAJIADO/1234):\n0. Back");
    let after = at_walk(&server, "ATUid_r2b", phone, "*384#", &["", "2", "2*1"]).await;
    assert_eq!(after[0], OFFER_EN);
    assert_eq!(after[1], before[1], "Start again: the home menu");
    assert_eq!(after[2], before[2], "and the new dialogue goes on from there");
    server.stop().await;
}

#[tokio::test]
async fn dial_strings_and_ended_sessions_are_never_offered() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let phone = "+254711500003";
    at_walk(&server, "ATUid_r3a", phone, "*384#", &["", "1", "1*1"]).await;
    // Digits dialled with the code go where they say, without the offer, in either form.
    let direct = at_walk(&server, "ATUid_r3b", phone, "*384*1#", &[""]).await;
    assert!(direct[0].starts_with("CON Weka nambari ya kipande"), "{}", direct[0]);
    let direct = at_walk(&server, "ATUid_r3c", phone, "*384#", &["1"]).await;
    assert!(direct[0].starts_with("CON Weka nambari ya kipande"), "{}", direct[0]);
    // Those left the number's newest session open at the parcel screen: it is offered.
    let offered = at_walk(&server, "ATUid_r3d", phone, "*384#", &["", "1"]).await;
    assert_eq!(offered[0], OFFER_SW);
    assert!(offered[1].starts_with("CON Weka nambari ya kipande"), "{}", offered[1]);
    // That one is open too: offered again; starting again and finishing with END leaves
    // nothing to offer.
    let kra = at_walk(&server, "ATUid_r3e", phone, "*384#", &["", "2", "2*3", "2*3*A123456789B"]).await;
    assert_eq!(kra[0], OFFER_SW);
    assert_eq!(kra[3], "END PIN A123456789B: Wanjiku Kamau. Hali: inatumika.");
    let home = at_walk(&server, "ATUid_r3f", phone, "*384#", &[""]).await;
    assert!(home[0].starts_with("CON Karibu e-Citizen"), "{}", home[0]);
    server.stop().await;
}

#[tokio::test]
async fn past_the_window_the_dial_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    // The sessions' clock stands still until the test moves it past the window, so no real time
    // passes and no machine is too slow or too fast for it.
    let clock = ManualClock::new();
    let options = RunOptions { clock: clock.clone().into(), ..RunOptions::default() };
    let server = TestServer::start_with(Config { resume_window_secs: 1, ..config(dir.path()) }, options).await;
    let phone = "+254711500004";
    let before = at_walk(&server, "ATUid_r4a", phone, "*384#", &["", "1", "1*1"]).await;
    clock.advance(std::time::Duration::from_millis(1300));
    let after = at_walk(&server, "ATUid_r4b", phone, "*384#", &[""]).await;
    assert_eq!(after[0], before[1], "home, no offer");
    server.stop().await;
}

/// A session that never left its first screen has nothing to continue: no offer.
#[tokio::test]
async fn nothing_to_continue_no_offer() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let phone = "+254711500005";
    let before = at_walk(&server, "ATUid_r5a", phone, "*384#", &["", "1"]).await;
    let after = at_walk(&server, "ATUid_r5b", phone, "*384#", &[""]).await;
    assert_eq!(after[0], before[1]);
    server.stop().await;
}

/// One Hubtel request; returns (Type, Message) of the reply.
async fn hubtel(server: &TestServer, body: serde_json::Value) -> (String, String) {
    let (status, reply) = server.request("POST", "/ussd/hubtel", "application/json", &body.to_string()).await;
    assert_eq!(status, 200, "{reply}");
    let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
    (v["Type"].as_str().unwrap().to_owned(), v["Message"].as_str().unwrap().to_owned())
}

fn hubtel_hop(sid: &str, kind: &str, message: &str, sequence: u32) -> serde_json::Value {
    serde_json::json!({"Type": kind, "Message": message, "ServiceCode": "384", "Mobile": "254711500006",
        "SessionId": sid, "Sequence": sequence, "Operator": "safaricom"})
}

/// A latest-input dialect: the dialogue is released by the network mid-flow, then resumed.
#[tokio::test]
async fn hubtel_release_then_continue() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let mut seen = Vec::new();
    for (i, (kind, message)) in [("initiation", "*384#"), ("response", "2"), ("response", "1")].iter().enumerate() {
        seen.push(hubtel(&server, hubtel_hop("hub-r6a", kind, message, i as u32 + 1)).await);
    }
    assert_eq!(seen[2], ("Response".into(), "Enter the land parcel number (e.g. KAJIADO/1234):\n0. Back".into()));
    let released = hubtel(&server, hubtel_hop("hub-r6a", "release", "", 4)).await;
    assert_eq!(released.0, "Release");
    let offer = hubtel(&server, hubtel_hop("hub-r6b", "initiation", "*384#", 1)).await;
    assert_eq!(offer, ("Response".into(), OFFER_EN[4..].to_owned()));
    let restored = hubtel(&server, hubtel_hop("hub-r6b", "response", "1", 2)).await;
    assert_eq!(restored, seen[2]);
    // A retry of that hop (same Sequence) answers the same screen without stepping.
    assert_eq!(hubtel(&server, hubtel_hop("hub-r6b", "response", "1", 2)).await, seen[2]);
    let (kind, confirm) = hubtel(&server, hubtel_hop("hub-r6b", "response", "KAJIADO/1234", 3)).await;
    assert_eq!(kind, "Response");
    assert!(confirm.starts_with("KAJIADO/1234, Wanjiku Kamau\nRates due: KES 4,500"), "{confirm}");
    server.stop().await;
}

fn fixture(dir: &Path) -> Config {
    let root = common::repo().join("tests/fixtures/resume");
    Config {
        data_dir: dir.to_path_buf(),
        menus_dir: root.join("menus"),
        locales_dir: root.join("locales"),
        lookups_dir: Some(root.join("lookups")),
        ..Config::default()
    }
}

/// A PIN is never restored: dropped on the PIN screen, the citizen is asked for it again;
/// dropped after the lookup that used it, the citizen continues without it.
#[tokio::test]
async fn a_secret_is_never_restored() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(fixture(dir.path())).await;
    let phone = "+254711500007";
    let a = at_walk(&server, "ATUid_r7a", phone, "*555#", &["", "1", "1*0722000000", "1*0722000000*1000"]).await;
    assert_eq!(a[3], "CON Weka PIN:\n0. Rudi\n00. Mwanzo");
    let b = at_walk(&server, "ATUid_r7b", phone, "*555#", &["", "1", "1*4321"]).await;
    assert_eq!(b[0], OFFER_SW);
    assert_eq!(b[1], "CON Weka PIN:\n0. Rudi\n00. Mwanzo", "asked again: a PIN is never kept");
    assert_eq!(b[2], "CON Tuma KES 1,000 kwa 254722000000? Salio KES 12,000.\n1. Tuma\n2. Ondoka\n0. Rudi\n00. Mwanzo");
    // Dropped after the PIN was used: Continue restores the confirmation (its values came
    // from the lookup), and the request goes through without the PIN.
    let c = at_walk(&server, "ATUid_r7c", phone, "*555#", &["", "1", "1*1"]).await;
    assert_eq!(c[0], OFFER_SW);
    assert_eq!(c[1], b[2]);
    assert!(c[2].starts_with("END Ombi NJ-") && c[2].ends_with(": KES 1,000 kwa 254722000000."), "{}", c[2]);
    assert_eq!(requests_of(dir.path(), phone).await, 1);
    server.stop().await;
}
