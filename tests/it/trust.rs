//! #11, findings 2 and 3: what serving relies on is checked first, and a mistake that still
//! gets through never reaches a citizen as a raw placeable or a wrong screen.

use crate::common;

use common::editable::{copy_dir, edit};
use njia::engine::{self, Ctx, Secrets, Session, Step, Value};
use njia::server::StartError;
use njia::types::Locale;

/// A copy of the shipped menus and locales to break.
fn copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&common::repo().join("menus"), &dir.path().join("menus"));
    copy_dir(&common::repo().join("locales"), &dir.path().join("locales"));
    dir
}

async fn start_error(dir: &std::path::Path) -> Vec<String> {
    let mut c = common::config(&dir.join("data"));
    c.menus_dir = dir.join("menus");
    c.locales_dir = dir.join("locales");
    // Unset: the data files beside the menus, as serve resolves them without a config file.
    c.lookups_dir = None;
    match njia::server::build(&c).await {
        Err(StartError::Check(problems)) => problems.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("serve started on menus that njia check refuses"),
    }
}

/// Each mistake of the finding passed check once and served broken; now check names it with
/// file:line, and serve refuses to start on it.
#[tokio::test]
async fn serve_refuses_the_lookup_mistakes_check_reports() {
    // A backend that names neither a data file nor a configured backend.
    let dir = copy();
    edit(&dir.path().join("menus/ecitizen.toml"), "backend = \"ntsa\"", "backend = \"ntsx\"");
    let problems = start_error(dir.path()).await;
    assert!(
        problems.iter().any(|p| p.contains("ecitizen.toml:") && p.contains("no lookup backend \"ntsx\"")),
        "{problems:#?}"
    );
    // The same in a catalogue agency's backend: reported at the agency file's line.
    let dir = copy();
    edit(&dir.path().join("menus/catalogue/lands.toml"), "backend = \"lands\"", "backend = \"land\"");
    let problems = start_error(dir.path()).await;
    assert!(
        problems.iter().any(|p| p.contains("catalogue/lands.toml:6:") && p.contains("no lookup backend \"land\"")),
        "{problems:#?}"
    );

    // A data-file entry that lacks a variable its lookup provides (the citizen once saw
    // `KES {$fee}`).
    let dir = copy();
    edit(&dir.path().join("menus/lookups/ntsa.toml"), "fee = \"1,350\"", "");
    let problems = start_error(dir.path()).await;
    assert!(
        problems.iter().any(|p| p.contains("ntsa.toml:") && p.contains("has no fee, which the lookup at")),
        "{problems:#?}"
    );

    // The finding's amount: wider than its declared width.
    let dir = copy();
    edit(&dir.path().join("menus/ecitizen.toml"), "amount = { max_width = 9 }", "amount = { max_width = 5 }");
    let problems = start_error(dir.path()).await;
    assert!(
        problems.iter().any(|p| p.contains("lands.toml:") && p.contains("6 characters, wider than its max_width 5")),
        "{problems:#?}"
    );

    // A Swahili selector key typo: an active taxpayer would be told the PIN is not in use.
    let dir = copy();
    edit(&dir.path().join("locales/sw/ecitizen.ftl"), "[active] inatumika", "[activ] inatumika");
    let problems = start_error(dir.path()).await;
    assert!(
        problems.iter().any(|p| p.contains("sw/ecitizen.ftl:") && p.contains("[activ] in sw can never be chosen")),
        "{problems:#?}"
    );
}

/// If formatting fails at run time (a variable a screen uses is unset: a session restored
/// from a state the checker never saw), the citizen gets the localized apology, never
/// `{$owner}`.
#[test]
fn a_screen_that_cannot_be_formatted_is_the_apology_not_a_raw_placeable() {
    let l = common::load(&common::repo());
    let served = engine::serve(&l.menus, &l.catalog, |_| vec![160]);
    let m = served.by_id("ecitizen").unwrap();
    let ctx = Ctx::new(m, &l.catalog, 160);
    for (lang, apology) in [("en", "Sorry, there is a technical problem"), ("sw", "Samahani")] {
        let s = Session {
            locale: Locale::parse(lang).unwrap(),
            screen: m.screen_id("land-rates.confirm").unwrap(),
            page: 0,
            stack: Vec::new(),
            // The parcel, but not the owner or the amount.
            vars: vec![("parcel".into(), Value::Text("KAJIADO/1234".into()))],
            secrets: Secrets::default(),
            recent: Vec::new(),
        };
        match engine::current(ctx, &s) {
            Step::Show { text, end } => {
                assert!(end, "the apology ends the session");
                assert!(text.starts_with(apology), "{text}");
                assert!(!text.contains('{') && !text.contains('$'), "{text}");
            }
            other => panic!("{other:?}"),
        }
    }
}

// --- Finding 3: a stored request's reference always reaches the caller ------------------------

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{TestServer, at_hop};
use njia::BoxFuture;
use njia::hub::{Hop, HopInput};
use njia::session::{InputKey, MemorySessions, OpenQuery, SessionError, SessionRecord, SessionStore};
use njia::store::prelude::*;
use njia::store::sqlite::SqliteStore;
use njia::types::{Msisdn, SessionKey};

/// The land-rates walk in English, one cumulative Africa's Talking text per hop.
const WALK: [&str; 5] = ["", "2", "2*1", "2*1*KAJIADO/1234", "2*1*KAJIADO/1234*1"];

async fn at(server: &TestServer, session: &str, phone: &str, text: &str) -> String {
    server.post_form("/ussd/africastalking", &at_hop(session, phone, "*384#", text)).await.1
}

/// The reference an END shows.
fn reference(end: &str) -> &str {
    let at = end.find("NJ-").unwrap_or_else(|| panic!("no reference in {end:?}"));
    &end[at..at + 8]
}

/// A telco retry of the final hop after the server lost its sessions (a restart: memory
/// sessions are gone) answers the same END with the same reference, and stores nothing new.
#[tokio::test]
async fn a_retry_of_the_final_hop_after_a_restart_answers_its_reference_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(common::config(dir.path())).await;
    let (session, phone) = ("ATUid_retry_1", "+254711000301");
    let mut end = String::new();
    for text in WALK {
        end = at(&server, session, phone, text).await;
    }
    assert!(end.starts_with("END Request NJ-"), "{end}");
    server.stop().await;

    let server = TestServer::start(common::config(dir.path())).await;
    let retry = at(&server, session, phone, WALK[4]).await;
    assert_eq!(retry, end, "the retry answers the END it would have got");
    // Another session's final hop is still "expired": the key is the session's.
    let other = at(&server, "ATUid_retry_other", phone, WALK[4]).await;
    assert!(other.starts_with("END ") && !other.contains("NJ-"), "{other}");
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.recent_requests(None, 10).await.unwrap().len(), 1, "nothing stored twice");
    server.stop().await;
}

/// The same on PostgreSQL, with PostgreSQL sessions; then the session write after a final
/// hop's submit fails (a trigger makes every session write raise, as a restarting database
/// would) and the caller still gets the reference, not "technical problem".
#[tokio::test]
async fn postgres_retry_and_session_write_failure_both_answer_the_reference() {
    let db = common::create_database().await;
    let dir = tempfile::tempdir().unwrap();
    let config = njia::config::Config { database_url: Some(db.url.clone()), ..common::config(dir.path()) };
    let server = TestServer::start(config).await;
    let client = common::pg_client(&db.url).await;

    let (session, phone) = ("ATUid_pg_retry", "+254711000302");
    let mut end = String::new();
    for text in WALK {
        end = at(&server, session, phone, text).await;
    }
    assert!(end.starts_with("END Request NJ-"), "{end}");
    client.batch_execute("DELETE FROM sessions").await.unwrap();
    assert_eq!(at(&server, session, phone, WALK[4]).await, end, "the retry finds its request by key");

    let (session, phone) = ("ATUid_pg_fail", "+254711000303");
    for text in &WALK[..4] {
        assert!(at(&server, session, phone, text).await.starts_with("CON "));
    }
    client
        .batch_execute(
            "CREATE FUNCTION njia_test_fail() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected: the database is restarting'; END $$; \
             CREATE TRIGGER njia_test_fail BEFORE INSERT OR UPDATE ON sessions \
             FOR EACH ROW EXECUTE FUNCTION njia_test_fail();",
        )
        .await
        .unwrap();
    let end = at(&server, session, phone, WALK[4]).await;
    assert!(end.starts_with("END Request NJ-"), "the reference, not technical problem: {end}");
    let row = client.query_one("SELECT reference FROM requests WHERE msisdn = 254711000303", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), reference(&end));
    server.stop().await;
    drop(client);
    common::drop_database(db).await;
}

/// Memory sessions whose writes fail on demand: the fault a test injects into the real store.
struct FailingWrites {
    inner: Arc<MemorySessions>,
    fail: AtomicBool,
}

impl SessionStore for FailingWrites {
    fn get<'a>(&'a self, key: &'a SessionKey) -> BoxFuture<'a, Result<Option<SessionRecord>, SessionError>> {
        self.inner.get(key)
    }
    fn put<'a>(&'a self, key: &'a SessionKey, record: SessionRecord) -> BoxFuture<'a, Result<(), SessionError>> {
        if self.fail.load(Ordering::SeqCst) {
            return Box::pin(async { Err(SessionError::Unavailable("injected".into())) });
        }
        self.inner.put(key, record)
    }
    fn take_open<'a>(&'a self, query: OpenQuery<'a>) -> BoxFuture<'a, Result<Option<SessionRecord>, SessionError>> {
        self.inner.take_open(query)
    }
    fn input_key(&self) -> &InputKey {
        self.inner.input_key()
    }
}

/// With memory sessions: a failed session write after the submit still shows the reference;
/// a failed write before any submit is the apology in the caller's language (English here),
/// not the default locale's.
#[tokio::test]
async fn memory_session_write_failure_after_the_submit_shows_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = common::load(&common::repo());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let sessions = Arc::new(FailingWrites {
        inner: MemorySessions::new(Duration::from_secs(180), Duration::from_secs(300), 100),
        fail: AtomicBool::new(false),
    });
    let hub = common::hub(
        Arc::clone(&sessions) as Arc<dyn SessionStore>,
        Arc::clone(&store),
        Arc::new(njia::lookup::Lookups {
            files: Arc::new(njia::reload::Shared::new(loaded.lookups)),
            store: Arc::clone(&store),
            http: Default::default(),
        }),
        Duration::from_secs(2),
    );
    let hop = |session: &str, text: &str| Hop {
        key: SessionKey::new(Arc::from("africastalking"), session).unwrap(),
        msisdn: Msisdn::parse("+254711000304").unwrap(),
        service_code: "*384#".into(),
        input: HopInput::Cumulative(text.into()),
        limit: 160,
        menus: None,
    };
    for text in &WALK[..4] {
        assert!(!hub.hop(hop("mem-1", text)).await.end);
    }
    sessions.fail.store(true, Ordering::SeqCst);
    let end = hub.hop(hop("mem-1", WALK[4])).await;
    assert!(end.end && end.text.starts_with("Request NJ-"), "{}", end.text);
    let stored = store.recent_requests(None, 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].reference.as_str(), reference(&end.text));

    // Before any submit, a session that cannot be saved is the apology, in English: the
    // number chose English on its first dial.
    let sorry = hub.hop(hop("mem-2", "")).await;
    assert!(sorry.end && sorry.text.starts_with("Sorry, there is a technical problem"), "{}", sorry.text);
}

// --- Finding 3: an STK callback is trusted on its token only for which attempt it is about ------

use common::doubles::{CallbackMode, eventually, outside_world, production};
use serde_json::json;

/// A callback with the right token and checkout id but another amount (1 for a 4,500
/// attempt), or another payer, holds the request for review: it is not paid, not delivered,
/// counted, and a later query's "paid" does not settle it either. The genuine amount and
/// number settle as before.
#[tokio::test]
async fn a_paid_callback_with_another_amount_or_phone_holds_the_request_for_review() {
    let (daraja, agency, sms) = outside_world().await;
    daraja.set_callback_mode(CallbackMode::Drop);
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server =
        TestServer::start_on(listener, production(common::config(dir.path()), addr, &daraja, &agency, &sms)).await;
    let store = SqliteStore::open(dir.path()).unwrap();
    let wait = Duration::from_secs(10);
    // The counter is the process's, shared with every test here (reconciliation's test holds a
    // payment too), so this test reads how much it grew, and at least by its own.
    let reviews = |metrics: &str, reason: &str| -> u64 {
        let name = format!("njia_payment_reviews_total{{reason=\"{reason}\"}} ");
        metrics.lines().find_map(|l| l.strip_prefix(name.as_str())?.trim().parse().ok()).unwrap_or(0)
    };
    let before = server.request("GET", "/metrics", "text/plain", "").await.1;

    // (phone, forged Amount, forged PhoneNumber, the status the request must reach)
    let cases = [
        ("+254711000311", json!(1), json!(254711000311u64), "held_for_review"),
        ("+254711000312", json!("4500.00"), json!(254799999999u64), "held_for_review"),
        ("+254711000313", json!("4500.00"), json!(254711000313u64), "notified"),
    ];
    for (i, (phone, amount, payer, want)) in cases.iter().enumerate() {
        let mut end = String::new();
        for text in WALK {
            end = at(&server, &format!("ATUid_cb_{i}"), phone, text).await;
        }
        let r = njia::types::Reference::parse(reference(&end)).unwrap();
        let digits = phone.trim_start_matches('+').to_owned();
        eventually("the push", wait, || async { daraja.pushes().iter().any(|p| p.phone == digits) }).await;
        let push = daraja.pushes().into_iter().find(|p| p.phone == digits).unwrap();
        let body = push.paid_callback(amount.clone(), &format!("SFORGED{i}"), payer.clone());
        let path = push.callback_url.split_once(&addr.to_string()).unwrap().1.to_owned();
        let (status, _) = server.request("POST", &path, "application/json", &body.to_string()).await;
        assert_eq!(status, 200, "Daraja is always answered 200");
        eventually(want, wait, || async { store.request(&r).await.unwrap().unwrap().status == *want }).await;
    }
    // Every job the callbacks left (the queries of the held attempts among them, which the
    // double would answer "paid") has run once none is ready or running: still the held
    // requests are neither paid nor delivered.
    eventually("the dispatcher has run every queued job", wait, || async {
        let mut open = 0;
        for state in [njia::lifecycle::JobState::Ready, njia::lifecycle::JobState::Running] {
            open += store.jobs(Some(state), None, 1).await.unwrap().len();
        }
        open == 0
    })
    .await;
    let statuses: Vec<String> = {
        let mut out = Vec::new();
        for r in store.recent_requests(None, 10).await.unwrap() {
            out.push(format!("{} {}", r.msisdn.expect("not purged").digits(), r.status));
        }
        out.sort();
        out
    };
    assert_eq!(statuses, ["254711000311 held_for_review", "254711000312 held_for_review", "254711000313 notified"],);
    assert_eq!(agency.accepted().len(), 1, "only the genuine payment was delivered");
    let metrics = server.request("GET", "/metrics", "text/plain", "").await.1;
    for reason in ["amount", "phone"] {
        let grew = reviews(&metrics, reason) - reviews(&before, reason);
        assert!(grew >= 1, "njia_payment_reviews_total{{reason={reason:?}}} grew by {grew}: {metrics}");
    }
    server.stop().await;
}

// --- Finding 4: configuration is validated completely before any side effect ------------------

/// A missing secret (here the admin token) is found before the data directory is created or a
/// database migrated: nothing is left behind by a start that was refused.
#[tokio::test]
async fn a_refused_start_creates_no_data_dir_and_migrates_no_database() {
    use njia::config::{AdminSection, HeaderAuthSection};
    let admin = || {
        Some(AdminSection {
            header: Some(HeaderAuthSection {
                name: "X-Njia-Admin".into(),
                secret_env: "NJIA_TEST_NO_SUCH_SECRET".into(),
            }),
            ..AdminSection::default()
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("not-yet");
    let c = njia::config::Config { admin: admin(), ..common::config(&data) };
    match njia::server::build(&c).await {
        Err(StartError::Config(msg)) => assert!(msg.contains("NJIA_TEST_NO_SUCH_SECRET"), "{msg}"),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("started without the admin token"),
    }
    assert!(!data.exists(), "the data directory was created by a refused start");

    let db = common::create_database().await;
    let c = njia::config::Config { admin: admin(), database_url: Some(db.url.clone()), ..common::config(&data) };
    assert!(matches!(njia::server::build(&c).await, Err(StartError::Config(_))));
    let client = common::pg_client(&db.url).await;
    let tables: i64 = client
        .query_one("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "a refused start migrated the database");
    drop(client);
    common::drop_database(db).await;
}
