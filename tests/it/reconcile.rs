//! `njia reconcile --date D` (#15) on a day the real server made in production mode against
//! the doubles of Daraja, an agency and Africa's Talking: a request paid and fulfilled, one
//! whose payment failed, one unknown after every query, one held for review, one paid and then
//! rejected by the agency, and one paid while the agency is down. The binary reports them as
//! text, JSON and CSV, exits 3 for the exceptions, asks the Daraja double about each with
//! `--check-daraja`, and exits 0 on a day with nothing. And a payment the status query settles
//! before its callback comes: an exception with no receipt until the callback brings it, on
//! SQLite and on PostgreSQL.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use common::doubles::{CallbackMode, DarajaDouble, eventually, outside_world, production};
use common::{TestDatabase, TestServer, at_hop, njia, try_request};
use njia::lifecycle::{AttemptStatus, JobState};
use njia::store::Store;
use njia::store::postgres::PostgresStore;
use njia::store::sqlite::SqliteStore;
use njia::types::Reference;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);

/// Walks land rates for `parcel` to the payment in English; the reference the END shows.
async fn pay(addr: std::net::SocketAddr, session: &str, phone: &str, parcel: &str) -> Reference {
    let steps = [String::new(), "2".into(), "2*1".into(), format!("2*1*{parcel}"), format!("2*1*{parcel}*1")];
    let mut last = String::new();
    for text in &steps {
        let body = at_hop(session, phone, "*384#", text);
        last = try_request(addr, "POST", "/ussd/africastalking", "application/x-www-form-urlencoded", &body)
            .await
            .expect("the server answers")
            .1;
    }
    let at = last.find("NJ-").unwrap_or_else(|| panic!("no reference in {last:?}"));
    assert!(last.starts_with("END "), "{last}");
    Reference::parse(&last[at..at + 8]).expect("a reference")
}

async fn status(store: &Arc<dyn Store>, r: &Reference) -> String {
    store.request(r).await.unwrap().expect("stored").status
}

/// Runs `njia reconcile ARGS --data-dir DIR` off the test's threads (the doubles answer on them).
async fn reconcile(args: &[&str], data: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = njia();
    cmd.arg("reconcile").args(args).arg("--data-dir").arg(data);
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("run njia")).await.unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A production configuration file for the command: the store and Daraja (the double), with
/// the secrets named in the environment.
fn config_file(dir: &Path, data: &Path, daraja: &DarajaDouble) -> PathBuf {
    let file = dir.join("njia.toml");
    let text = format!(
        "data_dir = \"{}\"\nsandbox = false\npublic_url = \"http://127.0.0.1:9\"\n\n[daraja]\nbase_url = \"{}\"\n\
         shortcode = \"174379\"\nconsumer_key_env = \"R_KEY\"\nconsumer_secret_env = \"R_SECRET\"\n\
         passkey_env = \"R_PASSKEY\"\n",
        data.display(),
        daraja.url
    );
    std::fs::write(&file, text).unwrap();
    file
}

/// One day of every kind of outcome, reconciled by the binary in each format.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_day_of_every_outcome_is_reconciled_with_its_exceptions() {
    let (daraja, agency, sms) = outside_world().await;
    agency.set_lookup(
        "rates_due",
        json!({ "parcel": "MOMBASA/MN/5678" }),
        Some(json!({ "owner": "Amina Hassan", "amount": "8,200" })),
    );
    agency.reject_when("parcel", "MOMBASA/MN/5678");
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cfg = production(common::config(dir.path()), addr, &daraja, &agency, &sms);
    // One query, two seconds after the push: a payment it finds pending is unknown, and a held
    // one is settled by its forged callback long before.
    cfg.dispatcher.query_delays_ms = vec![2_000];
    let server = TestServer::start_on(listener, cfg).await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());

    // Paid and fulfilled.
    let paid = pay(addr, "rc-1", "+254711000501", "KAJIADO/1234").await;
    eventually("paid is notified", WAIT, || async { status(&store, &paid).await == "notified" }).await;
    // Cancelled by the citizen.
    daraja.set_result("254711000502", 1032);
    let failed = pay(addr, "rc-2", "+254711000502", "KAJIADO/1234").await;
    eventually("failed is notified", WAIT, || async { status(&store, &failed).await == "notified" }).await;
    // No callback, and the one query finds it still being processed.
    daraja.set_callback_mode(CallbackMode::Drop);
    daraja.pending_queries_next(1);
    let unknown = pay(addr, "rc-3", "+254711000503", "KAJIADO/1234").await;
    eventually("unknown", WAIT, || async { status(&store, &unknown).await == "payment_unknown" }).await;
    // A callback that says paid with KES 1 for a KES 4,500 attempt.
    let held = pay(addr, "rc-4", "+254711000504", "KAJIADO/1234").await;
    forged_callback(&server, &daraja, "254711000504", addr).await;
    eventually("held", WAIT, || async { status(&store, &held).await == "held_for_review" }).await;
    daraja.set_callback_mode(CallbackMode::Once);
    // Paid, then rejected by the agency.
    let refund = pay(addr, "rc-5", "+254711000505", "MOMBASA/MN/5678").await;
    eventually("the rejection is notified", WAIT, || async { status(&store, &refund).await == "notified" }).await;
    // Paid while the agency is down: the delivery keeps failing.
    let waiting = pay(addr, "rc-6", "+254711000506", "KAJIADO/1234").await;
    agency.set_down(true);
    eventually("paid and waiting for the agency", WAIT, || async {
        let r = store.request(&waiting).await.unwrap().unwrap();
        let a = store.attempts(r.id).await.unwrap();
        r.status == "fulfilling" && a[0].status == njia::lifecycle::AttemptStatus::Paid
    })
    .await;

    let first = store.attempts(store.request(&paid).await.unwrap().unwrap().id).await.unwrap()[0].created_at_ms;
    let date = njia::clock::format_day(njia::clock::eat_day(first));
    let data = dir.path();

    // Text.
    let out = reconcile(&["--date", &date], data, &[]).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "exceptions: {text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with(&format!("Reconciliation of {date} (Kenyan time, EAT)")), "{text}");
    assert!(text.contains("6 attempt(s) for KES 30,700; 3 paid for KES 17,200"), "{text}");
    for phone in ["+2547****501", "+2547****506"] {
        assert!(text.contains(phone), "{phone} in {text}");
    }
    assert!(!text.contains("254711000501"), "phones are masked: {text}");
    assert!(text.contains("Exceptions: 4 "), "{text}");
    for (kind, r) in [
        ("unknown", &unknown),
        ("held_for_review", &held),
        ("refund_review", &refund),
        ("paid_not_fulfilled", &waiting),
    ] {
        let exceptions = text.split("Exceptions:").nth(1).unwrap();
        let line =
            exceptions.lines().find(|l| l.trim_start().starts_with(kind)).unwrap_or_else(|| panic!("{kind}: {text}"));
        assert!(line.contains(r.as_str()), "{kind} names {r}: {line}");
    }
    for quiet in [&paid, &failed] {
        let exceptions = text.split("Exceptions:").nth(1).unwrap();
        assert!(!exceptions.contains(quiet.as_str()), "{quiet} is no exception: {text}");
    }

    // JSON: the same figures as integers.
    let out = reconcile(&["--date", &date, "--json"], data, &[]).await;
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["totals"], json!({"attempts": 6, "kes": 30_700, "paid": 3, "paid_kes": 17_200}));
    assert_eq!(
        v["by_status"],
        json!([
            {"status": "paid", "attempts": 3, "kes": 17_200},
            {"status": "failed", "attempts": 1, "kes": 4_500},
            {"status": "unknown", "attempts": 1, "kes": 4_500},
            {"status": "held", "attempts": 1, "kes": 4_500},
        ])
    );
    assert_eq!(
        v["by_service"],
        json!([{"service": "land-rates", "attempts": 6, "kes": 30_700, "paid": 3, "paid_kes": 17_200}])
    );
    let mut kinds: Vec<(String, String)> = v["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap().to_owned(), e["reference"].as_str().unwrap().to_owned()))
        .collect();
    kinds.sort();
    let mut want: Vec<(String, String)> = [
        ("held_for_review", &held),
        ("paid_not_fulfilled", &waiting),
        ("refund_review", &refund),
        ("unknown", &unknown),
    ]
    .iter()
    .map(|(k, r)| ((*k).to_owned(), r.as_str().to_owned()))
    .collect();
    want.sort();
    assert_eq!(kinds, want);
    let by_reference = |r: &Reference| {
        v["attempts"].as_array().unwrap().iter().find(|a| a["reference"] == r.as_str()).unwrap().clone()
    };
    assert!(by_reference(&paid)["receipt"].as_str().is_some_and(|s| !s.is_empty()), "the M-Pesa receipt");
    assert_eq!(by_reference(&failed)["result_code"], 1032);
    assert_eq!(by_reference(&refund)["amount_kes"], 8_200);

    // CSV: a header row and one row per attempt, the masked phone kept from being a formula.
    let out = reconcile(&["--date", &date, "--csv"], data, &[]).await;
    assert_eq!(out.status.code(), Some(3));
    let csv = stdout(&out);
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let header = rows.headers().unwrap().clone();
    assert_eq!(header.iter().take(3).collect::<Vec<_>>(), ["date", "reference", "seq"]);
    let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 6);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let row = records.iter().find(|r| &r[col("reference")] == waiting.as_str()).unwrap();
    assert_eq!(&row[col("phone")], "'+2547****506");
    assert_eq!(&row[col("amount_kes")], "4500");
    assert_eq!(&row[col("exceptions")], "paid_not_fulfilled");
    assert_eq!(&row[col("request_status")], "fulfilling");

    // Daraja asked about each exception: its answer beside the local state, nothing changed.
    let config = config_file(dir.path(), data, &daraja);
    let env = [
        ("R_KEY", daraja.config.consumer_key.as_str()),
        ("R_SECRET", daraja.config.consumer_secret.as_str()),
        ("R_PASSKEY", daraja.config.passkey.as_str()),
    ];
    let before = daraja.queries();
    let out =
        reconcile(&["--date", &date, "--json", "--check-daraja", "--config", config.to_str().unwrap()], data, &env)
            .await;
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(daraja.queries() - before, 4, "one STK Push Query per exception");
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    for e in v["exceptions"].as_array().unwrap() {
        assert_eq!(e["daraja"]["state"], "paid", "the double paid every push it accepted: {e}");
    }
    let unknown_line = v["attempts"].as_array().unwrap().iter().find(|a| a["reference"] == unknown.as_str()).unwrap();
    assert_eq!(unknown_line["status"], "unknown", "asking changes nothing: {unknown_line}");
    assert_eq!(status(&store, &unknown).await, "payment_unknown");
    let out = reconcile(&["--date", &date, "--check-daraja", "--config", config.to_str().unwrap()], data, &env).await;
    let text = stdout(&out);
    assert!(text.contains("DARAJA") && text.contains("paid (0 "), "{text}");

    server.stop().await;
}

/// Sends the callback of the push to `phone` with KES 1 paid, as a forger with the URL would.
async fn forged_callback(server: &TestServer, daraja: &DarajaDouble, phone: &str, addr: std::net::SocketAddr) {
    eventually("the push", WAIT, || async { daraja.pushes().iter().any(|p| p.phone == phone) }).await;
    let push = daraja.pushes().into_iter().find(|p| p.phone == phone).unwrap();
    let body = push.paid_callback(json!(1), "SFORGED504", json!(phone.parse::<u64>().unwrap()));
    let path = push.callback_url.split_once(&addr.to_string()).unwrap().1.to_owned();
    assert_eq!(server.request("POST", &path, "application/json", &body.to_string()).await.0, 200);
}

/// A day with no payment is no exception (exit 0); a date that is not one, a store that is
/// not there and `--check-daraja` in sandbox mode are refused with what to do.
#[tokio::test]
async fn an_empty_day_and_what_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A store with nothing in it: the server made it and stopped.
    let server = TestServer::start(common::config(dir.path())).await;
    server.stop().await;

    let out = reconcile(&["--date", "2020-01-01"], dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert!(text.contains("Reconciliation of 2020-01-01") && text.contains("(no payment attempts)"), "{text}");
    assert!(text.ends_with("Exceptions: none\n"), "{text}");
    let out = reconcile(&["--date", "2020-01-01", "--json"], dir.path(), &[]).await;
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!((v["attempts"].clone(), v["exceptions"].clone()), (json!([]), json!([])));

    for bad in ["2026-02-30", "05/12/2026", "yesterday"] {
        let out = reconcile(&["--date", bad], dir.path(), &[]).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("is not a date: give the day as YYYY-MM-DD"), "{bad}: {err}");
    }

    let out = reconcile(&["--date", "2020-01-01", "--check-daraja"], dir.path(), &[]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--check-daraja asks Daraja, and this configuration is in sandbox mode"), "{err}");

    let nowhere = tempfile::tempdir().unwrap();
    let out = reconcile(&["--date", "2020-01-01"], nowhere.path(), &[]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no Njia database"), "{err}");
    assert!(!nowhere.path().join("njia.sqlite3").exists(), "nothing is created");
}

/// #15: Daraja's STK Push Query answers "paid" without a receipt, and here it does so before
/// the callback comes (the double holds the callback back). The query settles the payment: one
/// delivery, one SMS, and `njia reconcile` lists it as paid with no receipt (exit 3). The
/// callback then brings the receipt, which the attempt and the request's `paid` step record,
/// and nothing else happens: no second delivery or SMS, no status change, a copy and a
/// contradicting callback change nothing; the day then reconciles with no exception (exit 0).
async fn a_payment_paid_by_query_gets_its_receipt_from_the_later_callback(db: Option<&TestDatabase>) {
    let (daraja, agency, sms) = outside_world().await;
    daraja.set_callback_mode(CallbackMode::Held);
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cfg = production(common::config(dir.path()), addr, &daraja, &agency, &sms);
    cfg.database_url = db.map(|d| d.url.clone());
    let server = TestServer::start_on(listener, cfg).await;
    let store: Arc<dyn Store> = match db {
        Some(d) => Arc::new(PostgresStore::connect(&d.url).await.unwrap()),
        None => Arc::new(SqliteStore::open(dir.path()).unwrap()),
    };
    let env: Vec<(&str, &str)> = db.map(|d| vec![("DATABASE_URL", d.url.as_str())]).unwrap_or_default();
    let idle = || async {
        let ready = store.jobs(Some(JobState::Ready), None, 1).await.unwrap();
        let running = store.jobs(Some(JobState::Running), None, 1).await.unwrap();
        ready.is_empty() && running.is_empty()
    };

    let phone = "+254711000601";
    let r = pay(addr, "rq-1", phone, "KAJIADO/1234").await;
    eventually("the query settled it and the citizen was told", WAIT, || async {
        status(&store, &r).await == "notified"
    })
    .await;
    eventually("the dispatcher has run every queued job", WAIT, idle).await;
    assert!(daraja.callbacks().is_empty(), "the callback is held back");
    assert!(daraja.queries() >= 1, "settled by query");
    let id = store.request(&r).await.unwrap().unwrap().id;
    let attempt = store.attempts(id).await.unwrap().remove(0);
    assert_eq!((attempt.status, attempt.receipt.as_deref()), (AttemptStatus::Paid, None), "a query brings no receipt");
    let date = njia::clock::format_day(njia::clock::eat_day(attempt.created_at_ms));

    // Before the callback: an exception for the accountant.
    let out = reconcile(&["--date", &date, "--json"], dir.path(), &env).await;
    assert_eq!(out.status.code(), Some(3), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let kinds: Vec<(&str, &str)> = v["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["reference"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("paid_no_receipt", r.as_str())]);
    let text = stdout(&reconcile(&["--date", &date], dir.path(), &env).await);
    let line = text.lines().find(|l| l.trim_start().starts_with("paid_no_receipt")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains(r.as_str()) && line.contains("paid by query, no receipt yet"), "{line}");

    // The callback comes, with the receipt: recorded, durable before its 200.
    assert_eq!(daraja.release_callbacks().await, 1);
    let callback = daraja.callbacks().remove(0);
    assert_eq!(callback.status, Some(200));
    let items = callback.body["Body"]["stkCallback"]["CallbackMetadata"]["Item"].as_array().unwrap().clone();
    let receipt =
        items.iter().find(|i| i["Name"] == "MpesaReceiptNumber").unwrap()["Value"].as_str().unwrap().to_owned();
    let recorded = store.attempt(attempt.id).await.unwrap().unwrap();
    assert_eq!((recorded.status, recorded.receipt.as_deref()), (AttemptStatus::Paid, Some(receipt.as_str())));
    let events = store.events(id).await.unwrap();
    let paid_step = events.iter().find(|e| e.status == "paid").unwrap();
    assert_eq!(paid_step.detail.as_deref(), Some(receipt.as_str()), "the request keeps it as a paid callback does");

    // A third copy of the callback, and one contradicting the receipt recorded: acknowledged,
    // and nothing changes.
    let path = callback.url.split_once(&addr.to_string()).unwrap().1.to_owned();
    let push = daraja.pushes().remove(0);
    let other = push.paid_callback(json!(4500), "SOTHER0001", json!(254711000601u64));
    for body in [callback.body.clone(), other] {
        assert_eq!(server.request("POST", &path, "application/json", &body.to_string()).await.0, 200);
    }
    eventually("the dispatcher has run every queued job", WAIT, idle).await;
    assert_eq!(store.attempt(attempt.id).await.unwrap().unwrap().receipt.as_deref(), Some(receipt.as_str()));
    assert_eq!(store.events(id).await.unwrap(), events, "no step added, the receipt kept");
    assert_eq!(status(&store, &r).await, "notified");
    assert_eq!(agency.tries().len(), 1, "delivered once");
    let texts: Vec<_> = sms.messages().into_iter().filter(|m| m.to == phone).collect();
    assert_eq!(texts.len(), 1, "one SMS: {texts:?}");
    let deliver = store.jobs(None, Some(id), 20).await.unwrap().into_iter();
    assert_eq!(deliver.filter(|j| j.kind == njia::lifecycle::JobKind::Deliver).count(), 1, "one deliver job");

    // After the callback: the day reconciles.
    let out = reconcile(&["--date", &date], dir.path(), &env).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.ends_with("Exceptions: none\n") && text.contains(&receipt), "{text}");

    server.stop().await;
    drop(store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_paid_by_query_gets_its_receipt_from_the_later_callback_on_sqlite() {
    a_payment_paid_by_query_gets_its_receipt_from_the_later_callback(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_paid_by_query_gets_its_receipt_from_the_later_callback_on_postgres() {
    let db = common::create_database().await;
    a_payment_paid_by_query_gets_its_receipt_from_the_later_callback(Some(&db)).await;
    common::drop_database(db).await;
}
