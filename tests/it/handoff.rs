//! The durable hand-off end to end, in production mode against real HTTP doubles of Daraja,
//! an agency and the Africa's Talking SMS API: a citizen walks the USSD menu to a payment, and
//! the test follows the request through push, callback (or query), signed delivery and the SMS
//! receipt, including the ways the outside world misbehaves.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::doubles::{
    AgencyDouble, AtSmsDouble, CallbackMode, DarajaDouble, DarajaDoubleConfig, PushBehaviour, Timings, eventually,
    outside_world, production, production_toml,
};
use common::{TestServer, at_hop, config, try_request};
use njia::config::Config;
use njia::lifecycle::{AttemptStatus, JobState};
use njia::store::Store;
use njia::store::sqlite::SqliteStore;
use njia::types::Reference;
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(15);

struct World {
    daraja: DarajaDouble,
    agency: AgencyDouble,
    sms: AtSmsDouble,
    server: TestServer,
    /// A second handle on the server's SQLite file, to read what it wrote.
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        World::start_with(|c| c).await
    }

    async fn start_with(tweak: impl FnOnce(Config) -> Config) -> World {
        let (daraja, agency, sms) = outside_world().await;
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cfg = tweak(production(config(dir.path()), addr, &daraja, &agency, &sms));
        let server = TestServer::start_on(listener, cfg).await;
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
        World { daraja, agency, sms, server, store, _dir: dir }
    }

    /// Walks land rates for KAJIADO/1234 to the payment; returns the reference the END shows.
    /// `lang` is the first-use language choice: "1" Kiswahili, "2" English.
    async fn pay_land_rates(&self, session: &str, phone: &str, lang: &str) -> Reference {
        walk(self.server.addr, session, phone, lang).await.unwrap_or_else(|| {
            panic!(
                "the walk ends with the received screen; agency lookups: {:#?}",
                self.agency.lookups().iter().map(|l| (&l.body, l.status, &l.answer)).collect::<Vec<_>>()
            )
        })
    }

    async fn status(&self, r: &Reference) -> String {
        self.store.request(r).await.unwrap().expect("stored").status
    }

    async fn history(&self, r: &Reference) -> Vec<String> {
        let id = self.store.request(r).await.unwrap().unwrap().id;
        self.store.events(id).await.unwrap().into_iter().map(|e| e.status).collect()
    }
}

/// Walks land rates for KAJIADO/1234 to the payment against the server at `addr`; `None` when
/// the server went away before the END arrived.
pub(crate) async fn walk(addr: std::net::SocketAddr, session: &str, phone: &str, lang: &str) -> Option<Reference> {
    let steps = common::paid_walk(lang);
    let mut last = String::new();
    for text in &steps {
        let body = at_hop(session, phone, "*384#", text);
        last =
            try_request(addr, "POST", "/ussd/africastalking", "application/x-www-form-urlencoded", &body).await.ok()?.1;
    }
    let at = last.find("NJ-")?;
    last.starts_with("END ").then(|| Reference::parse(&last[at..at + 8])).flatten()
}

#[tokio::test]
async fn a_paid_request_is_pushed_once_delivered_signed_and_receipted() {
    let w = World::start().await;
    let phone = "+254711000101";
    let r = w.pay_land_rates("ATUid_h1", phone, "2").await;
    eventually("the request is notified", WAIT, || async { w.status(&r).await == "notified" }).await;
    assert_eq!(w.history(&r).await, ["received", "payment_pending", "paid", "fulfilling", "fulfilled", "notified"]);

    // One push, in Daraja's shapes.
    let pushes = w.daraja.pushes();
    assert_eq!(pushes.len(), 1);
    let p = &pushes[0];
    assert!(p.accepted());
    assert_eq!((p.phone.as_str(), p.party_a.as_str(), p.amount), ("254711000101", "254711000101", Some(4500)));
    assert_eq!(p.account_reference, "KAJIADO-1234");
    assert!(p.description.len() <= 13 && p.description.starts_with("NJ-"), "{}", p.description);
    assert!(p.callback_url.starts_with(&format!("http://{}/payments/stk/", w.server.addr)), "{}", p.callback_url);

    // Delivered once, signed (the double refuses bad signatures), with the payment.
    let accepted = w.agency.accepted();
    assert_eq!(accepted.len(), 1);
    let d = &accepted[0];
    assert_eq!(d["reference"], r.as_str());
    assert_eq!(d["service"], "land-rates");
    assert_eq!(d["fields"]["parcel"], "KAJIADO/1234");
    assert_eq!(d["payment"]["amount_kes"], 4500);
    let receipt = d["payment"]["receipt"].as_str().expect("the M-Pesa receipt").to_owned();
    assert!(w.agency.tries().iter().all(|t| t.idempotency_key.as_deref() == Some(r.as_str())));

    // The receipt SMS, in English (the language chosen), with the reference and receipt.
    let sms = w.sms.messages();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].to, phone);
    assert_eq!(
        sms[0].message,
        format!(
            "e-Citizen: KES 4,500 received for land rates, M-Pesa receipt {receipt}. Request {r} is complete. Thank you. Next time dial *384*4021#"
        )
    );
    let kept = w.store.sms(None, 10).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].record.sender.as_str(), kept[0].record.status.as_str()), ("africastalking", "Success"));

    // What an administrator sees.
    let shown = njia::admin::request_show(w.store.as_ref(), &r, false).await.unwrap().unwrap();
    for needle in ["payment_pending", "fulfilled", "notified", &receipt, "KES 4500 paid", "[africastalking Success]"] {
        assert!(shown.contains(needle), "{needle:?} missing from:\n{shown}");
    }
    w.server.stop().await;
}

#[tokio::test]
async fn swahili_citizens_get_swahili_receipts_and_failures_are_explained() {
    let w = World::start().await;
    let phone = "+254711000102";
    w.daraja.set_result("254711000102", 1032);
    let r = w.pay_land_rates("ATUid_h2", phone, "1").await;
    eventually("the failure is notified", WAIT, || async { w.status(&r).await == "notified" }).await;
    assert_eq!(w.history(&r).await, ["received", "payment_pending", "payment_failed", "notified"]);
    assert!(w.agency.tries().is_empty(), "nothing unpaid is delivered");
    let sms = w.sms.messages();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].message, format!("e-Citizen: Ulighairi malipo ya ombi {r}. Piga *384# ukitaka kujaribu tena."));
    w.server.stop().await;
}

#[tokio::test]
async fn duplicate_callbacks_change_nothing() {
    let w = World::start().await;
    w.daraja.set_callback_mode(CallbackMode::Duplicate);
    let r = w.pay_land_rates("ATUid_h3", "+254711000103", "2").await;
    eventually("the request is notified", WAIT, || async { w.status(&r).await == "notified" }).await;
    eventually("both callbacks were answered", WAIT, || async { w.daraja.callbacks().len() == 2 }).await;
    assert!(w.daraja.callbacks().iter().all(|c| c.status == Some(200)), "both acknowledged");
    // A callback's effects (and the jobs they queue) are committed before its 200: once no
    // job is ready or running, whatever the duplicate could have caused has been run.
    eventually("the dispatcher has run every queued job", WAIT, || async {
        let ready = w.store.jobs(Some(JobState::Ready), None, 1).await.unwrap();
        let running = w.store.jobs(Some(JobState::Running), None, 1).await.unwrap();
        ready.is_empty() && running.is_empty()
    })
    .await;
    assert_eq!(w.agency.accepted().len(), 1);
    assert_eq!(w.agency.tries().len(), 1, "delivered once");
    assert_eq!(w.sms.messages().len(), 1, "one receipt");
    w.server.stop().await;
}

#[tokio::test]
async fn a_dropped_callback_is_settled_by_the_status_query() {
    let w = World::start().await;
    w.daraja.set_callback_mode(CallbackMode::Drop);
    let r = w.pay_land_rates("ATUid_h4", "+254711000104", "2").await;
    eventually("the query settled the payment", WAIT, || async { w.status(&r).await == "notified" }).await;
    assert!(w.daraja.queries() >= 1);
    assert_eq!(w.daraja.pushes().len(), 1);
    assert_eq!(w.agency.accepted().len(), 1);
    w.server.stop().await;
}

#[tokio::test]
async fn a_push_that_timed_out_is_never_pushed_again_and_its_callback_settles_it() {
    let w = World::start().await;
    w.daraja.set_push_behaviour(PushBehaviour::TimeoutAfterAccept);
    let r = w.pay_land_rates("ATUid_h5", "+254711000105", "2").await;
    eventually("the late callback settled it", WAIT, || async { w.status(&r).await == "notified" }).await;
    assert_eq!(w.daraja.pushes().len(), 1, "an unknown outcome is never pushed blindly again");
    let id = w.store.request(&r).await.unwrap().unwrap().id;
    let attempts = w.store.attempts(id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status, AttemptStatus::Paid);
    assert!(attempts[0].checkout_request_id.is_some(), "learnt from the callback");
    w.server.stop().await;
}

/// #11: a push whose outcome is unknown (its answer was lost) is never pushed again, and the
/// citizen, told "you will get an M-Pesa prompt", is not left waiting for the query schedule
/// (about 41 minutes): after `unknown_notice_ms` an SMS in their language says what happened,
/// not to pay again until told, and how to check. A late callback still settles the payment.
#[tokio::test]
async fn a_push_with_an_unknown_outcome_tells_the_citizen_within_minutes_and_a_late_callback_settles_it() {
    let w = World::start_with(|mut c| {
        c.dispatcher.unknown_notice_ms = 300;
        // Queries keep finding nothing for the length of the test.
        c.dispatcher.query_delays_ms = vec![60_000];
        c
    })
    .await;
    w.daraja.set_push_behaviour(PushBehaviour::TimeoutAfterAccept);
    w.daraja.set_callback_mode(CallbackMode::Drop);
    let r = w.pay_land_rates("ATUid_h5u", "+254711000125", "1").await;
    eventually("the citizen is told", WAIT, || async {
        w.sms.messages().iter().any(|m| m.to == "+254711000125" && m.message.contains(r.as_str()))
    })
    .await;
    let told = w.sms.messages().into_iter().find(|m| m.to == "+254711000125").unwrap();
    assert_eq!(
        told.message,
        format!(
            "e-Citizen: Bado hatujathibitisha ujumbe wa malipo wa M-Pesa wa ombi {r}. Usilipe tena hadi tukutumie SMS; tuma HALI {r} kuangalia."
        ),
        "in Swahili, the language the citizen chose"
    );
    assert_eq!(w.status(&r).await, "payment_pending", "still open: only a result settles it");
    assert_eq!(w.daraja.pushes().len(), 1, "never pushed again");

    // The callback arrives late (here: sent by hand, as Daraja would); it settles the payment.
    let push = w.daraja.pushes().remove(0);
    let body = push.paid_callback(serde_json::json!(4500), "SLATE00001", serde_json::json!(254711000125u64));
    let path = push.callback_url.split_once(&w.server.addr.to_string()).unwrap().1.to_owned();
    assert_eq!(w.server.request("POST", &path, "application/json", &body.to_string()).await.0, 200);
    eventually("the late callback settled it", WAIT, || async { w.status(&r).await == "notified" }).await;
    let texts: Vec<String> =
        w.sms.messages().into_iter().filter(|m| m.to == "+254711000125").map(|m| m.message).collect();
    assert_eq!(texts.len(), 2, "the notice, then the receipt: {texts:?}");
    assert!(texts[1].contains("SLATE00001"), "{texts:?}");
    w.server.stop().await;
}

#[tokio::test]
async fn spike_arrest_is_retried_and_a_locked_subscriber_gets_a_new_attempt() {
    let w = World::start().await;
    w.daraja.push_behaviours_next(vec![PushBehaviour::SpikeArrest, PushBehaviour::SpikeArrest]);
    let r = w.pay_land_rates("ATUid_h6", "+254711000106", "2").await;
    eventually("paid after the throttling", WAIT, || async { w.status(&r).await == "notified" }).await;
    let pushes = w.daraja.pushes();
    assert_eq!(pushes.iter().filter(|p| p.accepted()).count(), 1, "accepted once");
    assert_eq!(pushes.iter().filter(|p| p.error_code.as_deref() == Some("500.003.02")).count(), 2);

    // The handset is still in its USSD dialogue: Daraja cannot lock the subscriber.
    w.daraja.set_ussd_open("254711000107", true);
    let r2 = w.pay_land_rates("ATUid_h7", "+254711000107", "2").await;
    eventually("the locked push was refused", WAIT, || async {
        w.daraja.pushes().iter().any(|p| p.phone == "254711000107" && !p.accepted())
    })
    .await;
    w.daraja.set_ussd_open("254711000107", false);
    eventually("the second attempt paid", WAIT, || async { w.status(&r2).await == "notified" }).await;
    let id = w.store.request(&r2).await.unwrap().unwrap().id;
    let attempts: Vec<_> = w.store.attempts(id).await.unwrap().into_iter().map(|a| a.status).collect();
    assert_eq!(attempts, [AttemptStatus::Failed, AttemptStatus::Paid]);
    w.server.stop().await;
}

#[tokio::test]
async fn a_push_daraja_keeps_refusing_fails_the_payment_with_an_sms() {
    let w = World::start().await;
    w.daraja.push_behaviours_next(vec![PushBehaviour::SpikeArrest; 4]);
    let r = w.pay_land_rates("ATUid_h10", "+254711000110", "2").await;
    eventually("the failure is notified", WAIT, || async { w.status(&r).await == "notified" }).await;
    assert_eq!(w.history(&r).await, ["received", "payment_pending", "payment_failed", "notified"]);
    let pushes = w.daraja.pushes();
    assert_eq!(pushes.len(), 4, "push_retries tries, then the citizen is told");
    assert!(pushes.iter().all(|p| !p.accepted()));
    let sms = w.sms.messages();
    assert_eq!(
        sms[0].message,
        format!("e-Citizen: Payment for request {r} failed and you were not charged. Dial *384# to try again.")
    );
    w.server.stop().await;
}

#[tokio::test]
async fn a_delivery_that_dies_tells_the_citizen_and_is_replayed_by_an_administrator() {
    let w = World::start_with(|mut c| {
        let b = c.backends.remove("lands").unwrap();
        c.backends.insert("lands-deliveries".into(), b);
        c.dispatcher.max_failures = 3;
        c
    })
    .await;
    w.agency.set_down(true);
    let r = w.pay_land_rates("ATUid_h11", "+254711000111", "2").await;
    eventually("the citizen hears of the delay", WAIT, || async { !w.sms.messages().is_empty() }).await;
    assert_eq!(
        w.sms.messages()[0].message,
        format!(
            "e-Citizen: Request {r} for land rates is delayed: the agency cannot be reached. We are on it; you will not \
             need to pay again."
        )
    );
    assert_eq!(w.status(&r).await, "fulfilling", "still the agency's to fulfil");
    let dead = w.store.jobs(Some(JobState::Dead), None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].kind, njia::lifecycle::JobKind::Deliver);
    w.agency.set_down(false);
    assert!(w.store.retry_job(dead[0].id).await.unwrap());
    eventually("delivered after the replay", WAIT, || async { w.status(&r).await == "notified" }).await;
    assert_eq!(w.agency.accepted().len(), 1);
    assert_eq!(w.sms.messages().len(), 2, "the delay, then the receipt");
    w.server.stop().await;
}

#[tokio::test]
async fn an_agency_rejection_is_told_to_the_citizen_and_flagged_for_refund() {
    let w = World::start().await;
    w.agency.reject_when("parcel", "KAJIADO/1234");
    let r = w.pay_land_rates("ATUid_h8", "+254711000108", "2").await;
    eventually("the rejection is notified", WAIT, || async { w.status(&r).await == "notified" }).await;
    assert_eq!(w.history(&r).await, ["received", "payment_pending", "paid", "fulfilling", "rejected", "notified"]);
    let row = w.store.request(&r).await.unwrap().unwrap();
    assert!(row.refund_review, "paid but rejected: an administrator decides on a refund");
    let sms = w.sms.messages();
    assert_eq!(sms.len(), 1);
    assert!(sms[0].message.contains(&format!("Request {r} for land rates was turned down")), "{}", sms[0].message);
    assert!(sms[0].message.contains("reviewed for a refund"), "{}", sms[0].message);
    let listed = njia::admin::requests_list(w.store.as_ref(), None, 10, false).await.unwrap();
    assert!(listed.contains("REFUND REVIEW"), "{listed}");
    w.server.stop().await;
}

#[tokio::test]
async fn an_agency_down_for_a_while_gets_every_request_once_it_is_back() {
    // Deliveries only: the lookups answer from the data files, so the menu works while the
    // agency is down.
    let w = World::start_with(|mut c| {
        let b = c.backends.remove("lands").unwrap();
        c.backends.insert("lands-deliveries".into(), b);
        c
    })
    .await;
    w.agency.set_down(true);
    let mut refs = Vec::new();
    for i in 0..5 {
        refs.push(w.pay_land_rates(&format!("ATUid_down{i}"), &format!("+25471100020{i}"), "2").await);
    }
    eventually("every request was tried while the agency was down", WAIT, || async {
        let tries = w.agency.tries();
        refs.iter().all(|r| tries.iter().filter(|t| t.idempotency_key.as_deref() == Some(r.as_str())).count() >= 2)
    })
    .await;
    for r in &refs {
        assert_eq!(w.status(r).await, "fulfilling");
    }
    w.agency.set_down(false);
    for r in &refs {
        eventually("delivered after the agency came back", WAIT, || async { w.status(r).await == "notified" }).await;
    }
    assert_eq!(w.agency.accepted().len(), 5);
    assert_eq!(w.agency.duplicates_accepted(), 0);
    assert_eq!(w.sms.messages().len(), 5);
    w.server.stop().await;
}

#[tokio::test]
async fn undeliverable_sms_is_dead_lettered_and_replayable() {
    let w = World::start().await;
    w.sms.fail_number("+254711000109", 406, "UserInBlacklist");
    let r = w.pay_land_rates("ATUid_h9", "+254711000109", "2").await;
    eventually("the SMS job is dead", WAIT, || async {
        !w.store.jobs(Some(JobState::Dead), None, 10).await.unwrap().is_empty()
    })
    .await;
    assert_eq!(w.status(&r).await, "fulfilled", "fulfilled, but the citizen was not told");
    let dead = w.store.jobs(Some(JobState::Dead), None, 10).await.unwrap();
    assert_eq!(dead[0].last_error.as_deref(), Some("406 UserInBlacklist"));
    // The number is fixed at the provider; the administrator replays the job.
    w.sms.fail_number("+254711000109", 101, "Success");
    assert!(w.store.retry_job(dead[0].id).await.unwrap());
    eventually("the replayed SMS went out", WAIT, || async { w.status(&r).await == "notified" }).await;
    w.server.stop().await;
}

#[tokio::test]
async fn bad_callbacks_get_a_clear_4xx() {
    let w = World::start().await;
    let post = |path: &str, body: &str| {
        let path = path.to_owned();
        let body = body.to_owned();
        let server = &w.server;
        async move { server.request("POST", &path, "application/json", &body).await }
    };
    let (status, body) = post("/payments/stk/not-a-token", "{}").await;
    assert_eq!(status, 404, "{body}");
    let unknown = "0123456789abcdef0123456789abcdef";
    let (status, body) = post(&format!("/payments/stk/{unknown}"), "{\"Body\":").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Malformed"), "{body}");
    let valid = r#"{"Body":{"stkCallback":{"MerchantRequestID":"m","CheckoutRequestID":"ws_CO_1","ResultCode":0,"ResultDesc":"ok"}}}"#;
    let (status, _) = post(&format!("/payments/stk/{unknown}"), valid).await;
    assert_eq!(status, 404, "no attempt has this token");
    w.server.stop().await;
}

#[tokio::test]
async fn production_mode_refuses_to_start_without_what_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let base = || Config { sandbox: Some(false), ..config(dir.path()) };
    let err = |c: Config| async move {
        match njia::server::build(&c).await {
            Err(njia::server::StartError::Config(msg)) => msg,
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("started without what it needs"),
        }
    };
    let missing = err(base()).await;
    assert!(missing.contains("no backend delivers service(s) "), "{missing}");
    for service in ["land-rates", "licence-renewal", "good-conduct"] {
        assert!(missing.contains(service), "{service} in {missing}");
    }
    // An agency no catalogue has is refused by name.
    let mut c = base();
    c.backends.insert(
        "nowhere".into(),
        njia::config::BackendSection {
            base_url: "http://127.0.0.1:1".into(),
            secret_env: "T".into(),
            services: Vec::new(),
            agencies: vec!["kraa".into()],
        },
    );
    c.secrets.insert("T".into(), "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3".into());
    let unknown = err(c).await;
    assert!(unknown.contains("no catalogue has an agency \"kraa\""), "{unknown}");
    let daraja = DarajaDouble::start(DarajaDoubleConfig::default()).await;
    let agency = AgencyDouble::start(&AgencyDouble::new_secret()).await;
    let sms = AtSmsDouble::start("k").await;
    let mut c = production(base(), "127.0.0.1:1".parse().unwrap(), &daraja, &agency, &sms);
    c.secrets.remove("TEST_DARAJA_PASSKEY");
    assert!(err(c).await.contains("TEST_DARAJA_PASSKEY"));
}

/// Two instances, each with its own dispatcher, on one PostgreSQL database, under a burst of
/// concurrent payments: every push, delivery and SMS happens exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_dispatchers_on_one_postgres_never_double_a_push_or_a_delivery() {
    let db = common::create_database().await;
    let daraja = DarajaDouble::start(DarajaDoubleConfig::default()).await;
    let agency = AgencyDouble::start(&AgencyDouble::new_secret()).await;
    let sms = AtSmsDouble::start("at-test-key").await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut servers = Vec::new();
    for dir in &dirs {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut c = production(config(dir.path()), addr, &daraja, &agency, &sms);
        // Deliveries only (lookups from the data files), small batches so both dispatchers
        // compete for the same jobs.
        let b = c.backends.remove("lands").unwrap();
        c.backends.insert("lands-deliveries".into(), b);
        c.database_url = Some(db.url.clone());
        c.dispatcher.batch = 3;
        servers.push(TestServer::start_on(listener, c).await);
    }
    let addrs: Vec<_> = servers.iter().map(|s| s.addr).collect();
    const N: usize = 40;
    let walks: Vec<_> = (0..N)
        .map(|i| {
            let addr = addrs[i % 2];
            tokio::spawn(async move { walk(addr, &format!("ATUid_pg{i}"), &format!("+2547113{i:05}"), "2").await })
        })
        .collect();
    let mut refs = Vec::new();
    for w in walks {
        refs.push(w.await.unwrap().expect("every walk ends with END"));
    }
    let store: Arc<dyn Store> = Arc::new(njia::store::postgres::PostgresStore::connect(&db.url).await.unwrap());
    for r in &refs {
        eventually("every request is notified", WAIT, || async {
            store.request(r).await.unwrap().unwrap().status == "notified"
        })
        .await;
    }
    let pushes = daraja.pushes();
    assert_eq!(pushes.len(), N, "one push per request");
    let phones: std::collections::HashSet<_> = pushes.iter().map(|p| p.phone.clone()).collect();
    assert_eq!(phones.len(), N, "no phone pushed twice");
    assert_eq!(agency.accepted().len(), N);
    assert_eq!(agency.tries().len(), N, "no delivery sent twice");
    assert_eq!(agency.duplicates_accepted(), 0);
    assert_eq!(sms.messages().len(), N, "one receipt each");
    // Both instances used one Daraja token (a new token would invalidate the other's).
    assert_eq!(daraja.tokens_issued(), 1, "the access token is shared through the database");
    for s in servers {
        s.stop().await;
    }
    drop(store);
    common::drop_database(db).await;
}

/// The real binary is killed (SIGKILL) while requests are in every stage of the hand-off.
/// After a restart, every request whose END was sent is in the store and is carried through,
/// and no phone is ever pushed twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_flow_loses_nothing_and_pushes_nothing_twice() {
    let daraja = DarajaDouble::start(DarajaDoubleConfig::default()).await;
    let agency = AgencyDouble::start(&AgencyDouble::new_secret()).await;
    let sms = AtSmsDouble::start("at-test-key").await;
    let dir = tempfile::tempdir().unwrap();
    // A port both runs listen on, so callbacks for pushes made before the kill still arrive.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let timings = Timings { push_delay_ms: 150, lease_ms: 2000, daraja_timeout_ms: 1000, extra: String::new() };
    let toml = production_toml(addr, &dir.path().join("data"), &daraja, &sms, &agency, &timings);
    let config_path = dir.path().join("njia.toml");
    std::fs::write(&config_path, toml).unwrap();
    let spawn = || {
        tokio::process::Command::from(common::njia())
            .args(["serve", "--config"])
            .arg(&config_path)
            .env("T_KEY", &daraja.config.consumer_key)
            .env("T_SECRET", &daraja.config.consumer_secret)
            .env("T_PASSKEY", &daraja.config.passkey)
            .env("T_AT", "at-test-key")
            .env("T_LANDS", &agency.secret)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the njia binary starts")
    };
    let up = || async move {
        let deadline = tokio::time::Instant::now() + WAIT;
        while try_request(addr, "GET", "/healthz", "text/plain", "").await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "the server came up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let mut first = spawn();
    up().await;
    // Citizens pay in two waves, each started on what the doubles show, not on the clock, so
    // the kill catches requests at every stage however fast or slow this machine is: four pay
    // at once; once one of them is receipted (their requests are then pushed, called back,
    // delivered or receipted), eight more start; the kill lands once three citizens have their
    // END and one of them has not been pushed yet (several dispatcher runs from `notified`),
    // while the others of the second wave are mid-walk.
    let ended = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let citizen = |i: usize| {
        let ended = Arc::clone(&ended);
        tokio::spawn(async move {
            let phone = format!("+2547114{i:05}");
            let r = walk(addr, &format!("ATUid_kill{i}"), &phone, "2").await;
            if r.is_some() {
                ended.lock().expect("no walk panicked holding it").push(phone.trim_start_matches('+').to_owned());
            }
            r
        })
    };
    let mut walks: Vec<_> = (0..4).map(citizen).collect();
    eventually("a citizen of the first wave is receipted", WAIT, || async { !sms.messages().is_empty() }).await;
    walks.extend((4..12).map(citizen));
    eventually("three ENDs, one of them not yet pushed", WAIT, || async {
        let ended = ended.lock().expect("no walk panicked holding it").clone();
        let pushed: std::collections::HashSet<String> = daraja.pushes().into_iter().map(|p| p.phone).collect();
        ended.len() >= 3 && ended.iter().any(|phone| !pushed.contains(phone))
    })
    .await;
    first.kill().await.expect("SIGKILL");
    let mut refs = Vec::new();
    for w in walks {
        if let Some(r) = w.await.unwrap() {
            refs.push(r);
        }
    }
    assert!(refs.len() >= 3, "some citizens got their END before the kill ({})", refs.len());
    let pushed_before_restart = daraja.pushes().len();

    let _second = spawn();
    up().await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("data")).unwrap());
    let unfinished_at_restart = {
        let mut n = 0;
        for r in &refs {
            let row = store.request(r).await.unwrap().expect("every END'd request survived the kill");
            n += usize::from(row.status != "notified");
        }
        n
    };
    assert!(unfinished_at_restart > 0, "the kill caught requests mid-flow");
    for r in &refs {
        eventually("every request is carried through after the restart", WAIT, || async {
            let s = store.request(r).await.unwrap().unwrap().status;
            s == "notified" || s == "payment_unknown"
        })
        .await;
    }
    let pushes = daraja.pushes();
    let mut per_phone = std::collections::HashMap::new();
    for p in &pushes {
        *per_phone.entry(p.phone.clone()).or_insert(0) += 1;
    }
    assert!(per_phone.values().all(|n| *n == 1), "a phone pushed twice: {per_phone:?}");
    // A delivery the kill caught between the agency's answer and the job's commit is sent
    // again after the restart with the same Idempotency-Key, which the agency answers from its
    // first acceptance: at least once on the wire, once in effect. Every acceptance is a
    // different request, and only requests unfinished at the kill can be sent twice.
    let accepted: Vec<String> = agency.accepted().iter().map(|b| b["reference"].to_string()).collect();
    let distinct: std::collections::HashSet<&String> = accepted.iter().collect();
    assert_eq!(distinct.len(), accepted.len(), "the agency accepted one request twice: {accepted:?}");
    assert!(agency.duplicates_accepted() <= unfinished_at_restart, "re-sent deliveries beyond those caught mid-flight");
    let mut notified = 0;
    for r in &refs {
        let row = store.request(r).await.unwrap().unwrap();
        if row.status == "notified" {
            notified += 1;
            // Once in effect: one acceptance; on the wire at most once more, with the same key.
            let accepted = agency.accepted().iter().filter(|b| b["reference"] == r.as_str()).count();
            assert_eq!(accepted, 1, "{r} accepted once");
            let tries = agency.tries().iter().filter(|t| t.idempotency_key.as_deref() == Some(r.as_str())).count();
            assert!((1..=2).contains(&tries), "{r} sent {tries} times");
        } else {
            // Killed between claiming the push and hearing Daraja's answer: never pushed
            // again, left for an administrator to reconcile.
            let attempts = store.attempts(row.id).await.unwrap();
            assert!(attempts.iter().all(|a| a.status == AttemptStatus::Unknown), "{r}: {attempts:?}");
        }
    }
    // The others were killed with their push in flight (the dispatcher runs a batch of jobs at
    // once, so there can be several): each was asserted above to be unknown, never re-pushed.
    assert!(notified > 0, "the restart carried requests through");
    eprintln!(
        "killed with {} END'd requests ({unfinished_at_restart} unfinished, {pushed_before_restart} pushed); {notified} notified after restart",
        refs.len()
    );
}
