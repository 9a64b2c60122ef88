//! The SMS channel end to end, in production mode against HTTP doubles of Daraja, an agency and
//! Africa's Talking: citizens text keywords to the short code (answered once per message id,
//! only about their own requests, in the keyword's language), and delivery reports on the SMS
//! Njia sent are recorded, never overwrite a final status, and bring a bounded re-send or an
//! entry in `njia sms list --failed`. Also the parsers' documented-example tables and their
//! never-panic properties.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::doubles::{AgencyDouble, AtSmsDouble, DarajaDouble, RecordedSms, eventually, outside_world, production};
use common::{TestServer, at_hop, config, try_request};
use njia::channel::sms_africastalking::{DELIVERY_PATH, INBOUND_PATH, parse_delivery_report, parse_inbound};
use njia::config::Config;
use njia::lifecycle::{DeliveryStatus, JobState};
use njia::store::Store;
use njia::store::sqlite::SqliteStore;
use njia::types::{Msisdn, Reference};
use proptest::prelude::*;
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(15);
const SHORT_CODE: &str = "20384";

struct World {
    _agency: AgencyDouble,
    sms: AtSmsDouble,
    server: TestServer,
    /// A second handle on the server's SQLite file, to read what it wrote.
    store: Arc<dyn Store>,
    dir: tempfile::TempDir,
    _daraja: DarajaDouble,
}

/// The hand-off's production configuration against the doubles, with the short code as the
/// SMS sender and quick re-sends.
fn production_sms(
    addr: std::net::SocketAddr,
    dir: &std::path::Path,
    d: &DarajaDouble,
    a: &AgencyDouble,
    s: &AtSmsDouble,
) -> Config {
    let mut c = production(config(dir), addr, d, a, s);
    if let Some(at) = c.sms.africastalking.as_mut() {
        at.from = Some(SHORT_CODE.into());
    }
    let p = &mut c.dispatcher;
    (p.query_delays_ms, p.sms_resends, p.sms_resend_delay_ms) = (vec![400, 400], 2, 50);
    c
}

impl World {
    async fn start() -> World {
        let (daraja, agency, sms) = outside_world().await;
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cfg = production_sms(listener.local_addr().unwrap(), dir.path(), &daraja, &agency, &sms);
        let server = TestServer::start_on(listener, cfg).await;
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
        World { _agency: agency, sms, server, store, dir, _daraja: daraja }
    }

    /// Walks land rates for KAJIADO/1234 to the payment (language "1" Kiswahili, "2" English)
    /// and waits until the receipt SMS went out; returns the reference and the receipt.
    async fn paid_request(&self, session: &str, phone: &str, lang: &str) -> (Reference, RecordedSms) {
        let steps = common::paid_walk(lang);
        let mut last = String::new();
        for text in &steps {
            last = self.ussd(session, phone, text).await;
        }
        assert!(last.starts_with("END "), "{last}");
        let at = last.find("NJ-").unwrap_or_else(|| panic!("no reference in {last:?}"));
        let reference = Reference::parse(&last[at..at + 8]).unwrap();
        let r = reference.to_string();
        eventually("the receipt is sent", WAIT, || async {
            self.sent_to(phone).iter().any(|m| m.message.contains(&r))
        })
        .await;
        let receipt = self.sent_to(phone).into_iter().find(|m| m.message.contains(&r)).unwrap();
        (reference, receipt)
    }

    async fn ussd(&self, session: &str, phone: &str, text: &str) -> String {
        let body = at_hop(session, phone, "*384#", text);
        self.server.post_form("/ussd/africastalking", &body).await.1
    }

    /// Messages the double sent (or refused) to `phone`, oldest first.
    fn sent_to(&self, phone: &str) -> Vec<RecordedSms> {
        self.sms.messages().into_iter().filter(|m| m.to == phone).collect()
    }

    async fn text(&self, id: &str, from: &str, text: &str) -> (u16, String) {
        self.sms.post_inbound(self.server.addr, INBOUND_PATH, id, from, SHORT_CODE, text).await
    }

    /// Texts the short code and waits for the one reply; returns its text.
    async fn ask(&self, id: &str, from: &str, text: &str) -> String {
        let before = self.sent_to(from).len();
        assert_eq!(self.text(id, from, text).await.0, 200);
        eventually("the reply is sent", WAIT, || async { self.sent_to(from).len() > before }).await;
        let sent = self.sent_to(from);
        assert_eq!(sent.len(), before + 1, "exactly one reply");
        sent[before].message.clone()
    }

    async fn report(&self, message_id: &str, status: &str, reason: Option<&str>) -> u16 {
        self.sms.post_delivery_report(self.server.addr, DELIVERY_PATH, message_id, status, reason).await.0
    }

    /// The language remembered for `phone`, read from the file (the server's store and this
    /// test's handle each cache what they read).
    fn language(&self, phone: &str) -> Option<String> {
        let conn = rusqlite::Connection::open(self.dir.path().join("njia.sqlite3")).unwrap();
        let msisdn = Msisdn::parse(phone).unwrap().as_u64() as i64;
        conn.query_row("SELECT locale FROM profiles WHERE msisdn = ?1", [msisdn], |r| r.get(0)).ok()
    }

    /// Waits until the dispatcher has run every job the server queued: the store holds none
    /// ready or running. Every SMS Njia sends is a job, written in the same commit as what
    /// caused it (an inbound SMS, a delivery report, a finished job) before that was answered,
    /// so once the queue is empty whatever the SMS double has not received was never going to
    /// be sent, and a test can assert an absence without guessing how long to wait.
    async fn drained(&self) {
        eventually("the dispatcher has run every queued job", WAIT, || async {
            let mut open = 0;
            for state in [JobState::Ready, JobState::Running] {
                open += self.store.jobs(Some(state), None, 1).await.unwrap().len();
            }
            open == 0
        })
        .await;
    }

    async fn delivery(&self, message_id: &str) -> (Option<DeliveryStatus>, Option<String>) {
        let row = self.store.sms_by_provider_id("africastalking", message_id).await.unwrap().expect("kept");
        (row.delivery, row.failure_reason)
    }
}

#[tokio::test]
async fn status_keywords_answer_in_their_language_about_own_requests_only() {
    let w = World::start().await;
    let phone = "+254711000301";
    let (r, receipt) = w.paid_request("ATUid_s1", phone, "2").await;
    assert!(receipt.message_id.starts_with("ATXid_"));
    // The sender's message id is kept with the receipt: delivery reports are matched by it. The
    // double has the SMS as soon as it answers; the server records it in the commit after that.
    eventually("the receipt is recorded", WAIT, || async {
        w.store.sms_by_provider_id("africastalking", &receipt.message_id).await.unwrap().is_some()
    })
    .await;
    let kept = w.store.sms_by_provider_id("africastalking", &receipt.message_id).await.unwrap().expect("kept");
    assert_eq!(kept.reference.as_ref(), Some(&r));

    let sw = w.ask("ATXid_in_s1", phone, &format!("HALI {r}")).await;
    assert_eq!(sw, format!("e-Citizen: Ombi {r} la ushuru wa ardhi limekamilika."));
    // Case, extra spaces and a missing hyphen are forgiven; STATUS answers in English.
    let compact = r.as_str().replace('-', "").to_lowercase();
    let en = w.ask("ATXid_in_s2", phone, &format!("  status   {compact} ")).await;
    assert_eq!(en, format!("e-Citizen: Request {r} for land rates is complete."));

    // Another phone asking about this request learns exactly what it would about none.
    let stranger = "+254722000302";
    let theirs = w.ask("ATXid_in_s3", stranger, &format!("HALI {r}")).await;
    let nobody = w.ask("ATXid_in_s4", stranger, "HALI NJ-22222").await;
    assert_eq!(theirs.replace(r.as_str(), "NJ-?????"), nobody.replace("NJ-22222", "NJ-?????"));
    assert!(!theirs.contains("ardhi") && !theirs.contains("limekamilika"), "{theirs}");
    assert_eq!(
        theirs,
        format!(
            "e-Citizen: Hatukupata ombi {r} la nambari hii ya simu. Hakikisha nambari ya ombi ni sahihi, au piga *384# uone maombi yako."
        )
    );

    // Every reply is kept like a receipt, as a reply to its inbound SMS, with its message id:
    // the double has the last one as soon as it is sent, the store once its job finished.
    w.drained().await;
    let replies: Vec<_> = w.store.sms(None, 50).await.unwrap().into_iter().filter(|s| s.inbound_id.is_some()).collect();
    assert_eq!(replies.len(), 4);
    assert!(replies.iter().all(|s| s.record.sender == "africastalking" && s.record.status == "Success"));
    assert!(
        replies
            .iter()
            .all(|s| s.reference.is_none() && s.record.provider_id.as_deref().is_some_and(|p| p.starts_with("ATXid_")))
    );
    w.server.stop().await;
}

#[tokio::test]
async fn lugha_sets_the_language_the_ussd_menu_uses() {
    let w = World::start().await;
    let phone = "+254711000303";
    let reply = w.ask("ATXid_in_l1", phone, "LUGHA EN").await;
    assert_eq!(reply, "e-Citizen: Done. You will now be served in English, by SMS and on *384#.");
    assert_eq!(w.language(phone).as_deref(), Some("en"));
    // The first dial asks no language question and speaks English.
    let screen = w.ussd("ATUid_l1", phone, "").await;
    assert!(screen.starts_with("CON Welcome to e-Citizen"), "{screen}");

    let back = w.ask("ATXid_in_l2", phone, "language sw").await;
    assert_eq!(back, "e-Citizen: Sawa. Sasa utahudumiwa kwa Kiswahili, kwa SMS na kwa *384#.");
    let screen = w.ussd("ATUid_l2", phone, "").await;
    assert!(screen.starts_with("CON Karibu e-Citizen"), "{screen}");

    let unknown = w.ask("ATXid_in_l3", phone, "LUGHA FR").await;
    assert_eq!(unknown, "e-Citizen: Hatuna lugha hiyo. Tuma LUGHA SW kwa Kiswahili au LUGHA EN kwa Kiingereza.");
    assert_eq!(w.language(phone).as_deref(), Some("sw"), "an unknown language changes nothing");
    w.server.stop().await;
}

#[tokio::test]
async fn anything_else_gets_help_in_the_remembered_language() {
    let w = World::start().await;
    let new = "+254711000304";
    let help = w.ask("ATXid_in_h1", new, "Habari, nataka kujua ombi langu").await;
    assert_eq!(help, "e-Citizen: Tuma HALI na nambari ya ombi, mfano HALI NJ-7K2QX. Tuma LUGHA EN kwa Kiingereza.");
    // A keyword without what it needs gets the help in the keyword's language.
    let bare = w.ask("ATXid_in_h2", new, "status").await;
    assert_eq!(
        bare,
        "e-Citizen: Send STATUS and your request number, e.g. STATUS NJ-7K2QX. Send LANGUAGE SW for Kiswahili."
    );
    // Once a language is remembered, the help speaks it.
    w.ask("ATXid_in_h3", new, "LANGUAGE EN").await;
    let help = w.ask("ATXid_in_h4", new, "hello?").await;
    assert_eq!(help, bare);
    w.server.stop().await;
}

#[tokio::test]
async fn a_retried_inbound_sms_is_answered_once() {
    let w = World::start().await;
    let phone = "+254711000306";
    for _ in 0..3 {
        let (status, body) = w.text("ATXid_in_r1", phone, "HALI NJ-22222").await;
        assert_eq!((status, body.as_str()), (200, "OK\n"));
    }
    eventually("the reply is sent", WAIT, || async { !w.sent_to(phone).is_empty() }).await;
    w.drained().await;
    assert_eq!(w.sent_to(phone).len(), 1, "three deliveries of one message, one reply");
    // Retries racing each other: still one reply.
    let posts: Vec<_> = (0..5)
        .map(|_| {
            let addr = w.server.addr;
            let body = common::form(&[
                ("from", phone),
                ("to", SHORT_CODE),
                ("text", "HALI NJ-33333"),
                ("date", "2026-11-29T07:52:17Z"),
                ("id", "ATXid_in_r2"),
            ]);
            tokio::spawn(async move {
                try_request(addr, "POST", INBOUND_PATH, "application/x-www-form-urlencoded", &body).await.unwrap().0
            })
        })
        .collect();
    for p in posts {
        assert_eq!(p.await.unwrap(), 200);
    }
    eventually("the second reply is sent", WAIT, || async { w.sent_to(phone).len() == 2 }).await;
    w.drained().await;
    assert_eq!(w.sent_to(phone).len(), 2);
    w.server.stop().await;
}

#[tokio::test]
async fn malformed_callbacks_are_refused_with_a_reason() {
    let w = World::start().await;
    // (path, form fields, fragment of the reason)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (
            INBOUND_PATH,
            &[("from", "+254711000307"), ("to", SHORT_CODE), ("text", "HALI"), ("date", "2026-11-29 07:52:17")],
            "'id'",
        ),
        (INBOUND_PATH, &[("id", "a"), ("to", SHORT_CODE), ("text", "HALI"), ("date", "2026-11-29 07:52:17")], "'from'"),
        (
            INBOUND_PATH,
            &[("id", "a"), ("from", "hello"), ("to", SHORT_CODE), ("text", "x"), ("date", "2026-11-29 07:52:17")],
            "from:",
        ),
        (
            INBOUND_PATH,
            &[("id", "a"), ("from", "+254711000307"), ("to", SHORT_CODE), ("text", "x"), ("date", "yesterday")],
            "date",
        ),
        (
            INBOUND_PATH,
            &[("id", "a"), ("from", "+254711000307"), ("to", SHORT_CODE), ("date", "2026-11-29 07:52:17")],
            "'text'",
        ),
        (DELIVERY_PATH, &[("status", "Success")], "'id'"),
        (DELIVERY_PATH, &[("id", "ATXid_1"), ("status", "Delivered")], "status must be"),
        (DELIVERY_PATH, &[("id", "ATXid_1"), ("status", "Failed"), ("retryCount", "two")], "retryCount"),
    ];
    for (path, pairs, reason) in cases {
        let (status, body) = w.server.post_form(path, &common::form(pairs)).await;
        assert_eq!(status, 400, "{path} {pairs:?}: {body}");
        assert!(body.contains(reason), "{path} {pairs:?}: {body:?} does not name {reason}");
    }
    // A valid message after the refused ones, answered: the dispatcher was running, and any
    // reply a refused callback had queued (before its 400) would have been sent before the
    // queue drained.
    let marker = "+254711000308";
    w.ask("ATXid_in_m1", marker, "HALI NJ-22222").await;
    w.drained().await;
    assert_eq!(w.sms.requests(), 1, "nothing refused is answered by SMS, only the valid message");
    assert_eq!(w.sms.messages().iter().filter(|m| m.to != marker).count(), 0);
    // A report about an SMS Njia never sent is acknowledged (no retry would make it known).
    let body = common::form(&[("id", "ATXid_unknown"), ("status", "Success"), ("phoneNumber", "+254711000307")]);
    assert_eq!(w.server.post_form(DELIVERY_PATH, &body).await.0, 200);
    w.server.stop().await;
}

#[tokio::test]
async fn delivery_reports_are_recorded_once_and_failures_resent_or_listed() {
    let w = World::start().await;

    // Success is final: a late interim or a contrary report changes nothing, and nothing is re-sent.
    let (_, ok) = w.paid_request("ATUid_d1", "+254711000311", "2").await;
    assert_eq!(w.report(&ok.message_id, "Submitted", None).await, 200);
    assert_eq!(w.delivery(&ok.message_id).await, (Some(DeliveryStatus::Submitted), None));
    assert_eq!(w.report(&ok.message_id, "Success", None).await, 200);
    assert_eq!(w.report(&ok.message_id, "Success", None).await, 200);
    assert_eq!(w.report(&ok.message_id, "Buffered", None).await, 200);
    assert_eq!(w.report(&ok.message_id, "Failed", Some("DeliveryFailure")).await, 200);
    assert_eq!(w.delivery(&ok.message_id).await, (Some(DeliveryStatus::Success), None));

    // A failure that may pass: the same receipt again, once per failed SMS, at most twice.
    let phone = "+254711000312";
    let (r, first) = w.paid_request("ATUid_d2", phone, "1").await;
    assert_eq!(w.report(&first.message_id, "Failed", Some("DeliveryFailure")).await, 200);
    assert_eq!(w.report(&first.message_id, "Failed", Some("DeliveryFailure")).await, 200, "a duplicate");
    eventually("the receipt is sent again", WAIT, || async { w.sent_to(phone).len() == 2 }).await;
    let second = w.sent_to(phone).remove(1);
    assert_eq!(second.message, first.message);
    assert_ne!(second.message_id, first.message_id);
    assert_eq!(w.report(&second.message_id, "Expired", None).await, 200);
    eventually("the receipt is sent a third time", WAIT, || async { w.sent_to(phone).len() == 3 }).await;
    let third = w.sent_to(phone).remove(2);
    assert_eq!(w.report(&third.message_id, "Rejected", Some("AbsentSubscriber")).await, 200);
    w.drained().await;
    assert_eq!(w.sent_to(phone).len(), 3, "two re-sends at most");
    assert_eq!(w.delivery(&third.message_id).await, (Some(DeliveryStatus::Rejected), Some("AbsentSubscriber".into())));

    // A reason that will not pass: listed at once, never re-sent.
    let blocked = "+254711000313";
    let (r2, receipt) = w.paid_request("ATUid_d3", blocked, "2").await;
    assert_eq!(w.report(&receipt.message_id, "Failed", Some("UserInBlackList")).await, 200);
    w.drained().await;
    assert_eq!(w.sent_to(blocked).len(), 1);

    // What an administrator sees, from the real binary on the same store.
    let out = common::njia()
        .args(["sms", "list", "--failed", "--json", "--data-dir"])
        .arg(w.dir.path())
        .current_dir(common::repo())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let failed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed = failed.as_array().unwrap();
    assert_eq!(failed.len(), 2, "{failed:#?}");
    assert_eq!(failed[0]["reference"], r2.as_str());
    assert_eq!(failed[0]["failure_reason"], "UserInBlackList");
    assert_eq!(failed[0]["delivery"], "failed");
    assert_eq!(failed[0]["to"], "+2547****313", "phone numbers are masked");
    assert_eq!(failed[1]["reference"], r.as_str());
    assert_eq!(
        (failed[1]["attempt"].as_u64(), failed[1]["failure_reason"].as_str()),
        (Some(3), Some("AbsentSubscriber"))
    );
    let text = common::njia()
        .args(["sms", "list", "--failed", "--data-dir"])
        .arg(w.dir.path())
        .current_dir(common::repo())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("delivery failed: UserInBlackList") && text.contains(r2.as_str()), "{text}");
    w.server.stop().await;
}

// --- Parsers: Africa's Talking's documented shapes, then anything at all --------------------------

#[test]
fn inbound_sms_as_africas_talking_sends_them() {
    // (body, Ok(from digits, text, sent_at_ms, link id) | Err(reason fragment))
    type Want = Result<(&'static str, &'static str, i64, Option<&'static str>), &'static str>;
    let cases: &[(&str, Want)] = &[
        (
            "from=%2B254711082306&to=20384&text=HALI+NJ-7K2QX&date=2026-11-29T07%3A52%3A17Z&id=ATXid_1&linkId=",
            Ok(("254711082306", "HALI NJ-7K2QX", 1_795_938_737_000, None)),
        ),
        (
            "from=%2B254711082306&to=20384&text=lugha%20en&date=2026-11-29+07%3A52%3A17&id=ATXid_2&linkId=SampleLinkId123",
            Ok(("254711082306", "lugha en", 1_795_938_737_000, Some("SampleLinkId123"))),
        ),
        (
            "from=0711082306&to=20384&text=&date=2026-11-29 07:52:17&id=x",
            Ok(("254711082306", "", 1_795_938_737_000, None)),
        ),
        ("to=20384&text=x&date=2026-11-29 07:52:17&id=x", Err("'from'")),
        ("from=0711082306&text=x&date=2026-11-29 07:52:17&id=x", Err("'to'")),
        ("from=0711082306&to=20384&date=2026-11-29 07:52:17&id=x", Err("'text'")),
        ("from=0711082306&to=20384&text=x&id=x", Err("'date'")),
        ("from=0711082306&to=20384&text=x&date=2026-11-29 07:52:17", Err("'id'")),
        ("from=0711082306&to=20384&text=x&date=29/11/2026&id=x", Err("date must be")),
        ("from=0711082306&to=20384&text=x&date=2026-12-04 10:10&id=x", Err("YYYY-MM-DD HH:MM:SS")),
        ("from=0711082306&to=20384&text=x&date=2026-12-04T13:10:10+03:00&id=x", Err("offset such as +03:00")),
        ("from=0711082306&to=20384&text=x&date=2026-11-29 07:52:17&id=", Err("id must be")),
        ("from=0711082306&to=&text=x&date=2026-11-29 07:52:17&id=x", Err("to must be")),
        ("from=%FF&to=20384&text=x&date=2026-11-29 07:52:17&id=x", Err("from:")),
    ];
    for (body, want) in cases {
        match (parse_inbound(body.as_bytes()), want) {
            (Ok(got), Ok((from, text, at, link))) => {
                assert_eq!(got.from.digits(), *from, "{body}");
                assert_eq!((got.text.as_str(), got.sent_at_ms, got.link_id.as_deref()), (*text, *at, *link), "{body}");
                assert_eq!(got.to, "20384");
            }
            (Err(e), Err(fragment)) => assert!(e.0.contains(fragment), "{body}: {:?} lacks {fragment:?}", e.0),
            (got, want) => panic!("{body}: got {got:?}, wanted {want:?}"),
        }
    }
}

/// Every `date` format Africa's Talking sends (a space or ISO 8601's `T`; fractional seconds,
/// `Z` or an offset optional), and the malformed ones refused with the expected format named.
#[test]
fn inbound_sms_dates_in_every_accepted_format() {
    // 2026-12-04 10:10:10 UTC.
    const AT: i64 = 1_796_379_010_000;
    let cases: &[(&str, Result<i64, ()>)] = &[
        ("2026-12-04 10:10:10", Ok(AT)),
        ("2026-12-04+10%3A10%3A10", Ok(AT)),
        ("2026-12-04T10:10:10", Ok(AT)),
        ("2026-12-04T10:10:10Z", Ok(AT)),
        ("2026-12-04T10:10:10.5Z", Ok(AT + 500)),
        ("2026-12-04T10:10:10.123456Z", Ok(AT + 123)),
        ("2026-12-04 10:10:10.250", Ok(AT + 250)),
        ("2026-12-04T13:10:10%2B03:00", Ok(AT)),
        ("2026-12-04T13:10:10%2B0300", Ok(AT)),
        ("2026-12-04T13:10:10.750%2B03:00", Ok(AT + 750)),
        ("2026-12-04T05:10:10-05:00", Ok(AT)),
        ("2026-12-04T10:10:10%2B00:00", Ok(AT)),
        ("", Err(())),
        ("2026-12-04", Err(())),
        ("2026-12-04T10:10", Err(())),
        ("04/12/2026 10:10:10", Err(())),
        ("2026-12-4 10:10:10", Err(())),
        ("2026-02-30 10:10:10", Err(())),
        ("2026-12-04T10:10:10%2B3", Err(())),
        ("2026-12-04T10:10:10%2B24:00", Err(())),
        // A `+` the sender did not escape reads as a space: not a date.
        ("2026-12-04T13:10:10+03:00", Err(())),
        ("2026-12-04T10:10:10 UTC", Err(())),
        ("1796379010", Err(())),
    ];
    for (date, want) in cases {
        let body = format!("from=0711082306&to=20384&text=x&id=x&date={date}");
        match (parse_inbound(body.as_bytes()), want) {
            (Ok(got), Ok(at)) => assert_eq!(got.sent_at_ms, *at, "{date}"),
            (Err(e), Err(())) => {
                assert!(e.0.starts_with("date must be YYYY-MM-DD HH:MM:SS (UTC) or ISO 8601"), "{date}: {}", e.0);
                assert!(!e.0.contains('\n'), "one line: {}", e.0);
            }
            (got, want) => panic!("{date}: got {got:?}, wanted {want:?}"),
        }
    }
}

#[test]
fn delivery_reports_as_africas_talking_sends_them() {
    type Want = Result<(DeliveryStatus, Option<&'static str>, Option<u32>), &'static str>;
    let cases: &[(&str, Want)] = &[
        (
            "id=ATXid_1&status=Success&phoneNumber=%2B254711082306&networkCode=63902&retryCount=0",
            Ok((DeliveryStatus::Success, None, Some(0))),
        ),
        (
            "id=ATXid_1&status=Failed&phoneNumber=%2B254711082306&networkCode=63902&failureReason=UserInBlackList&retryCount=1",
            Ok((DeliveryStatus::Failed, Some("UserInBlackList"), Some(1))),
        ),
        (
            "id=ATXid_1&status=Rejected&failureReason=InsufficientCredit",
            Ok((DeliveryStatus::Rejected, Some("InsufficientCredit"), None)),
        ),
        ("id=ATXid_1&status=Expired", Ok((DeliveryStatus::Failed, None, None))),
        ("id=ATXid_1&status=Sent&failureReason=", Ok((DeliveryStatus::Sent, None, None))),
        ("id=ATXid_1&status=Submitted", Ok((DeliveryStatus::Submitted, None, None))),
        ("id=ATXid_1&status=Buffered", Ok((DeliveryStatus::Buffered, None, None))),
        ("status=Success", Err("'id'")),
        ("id=ATXid_1", Err("'status'")),
        ("id=ATXid_1&status=success", Err("status must be")),
        ("id=ATXid_1&status=Success&phoneNumber=12", Err("phoneNumber")),
        ("id=ATXid_1&status=Success&retryCount=-1", Err("retryCount")),
    ];
    for (body, want) in cases {
        match (parse_delivery_report(body.as_bytes()), want) {
            (Ok(got), Ok((status, reason, retries))) => {
                assert_eq!(got.provider_id, "ATXid_1");
                assert_eq!(
                    (got.status, got.failure_reason.as_deref(), got.retry_count),
                    (*status, *reason, *retries),
                    "{body}"
                );
            }
            (Err(e), Err(fragment)) => assert!(e.0.contains(fragment), "{body}: {:?} lacks {fragment:?}", e.0),
            (got, want) => panic!("{body}: got {got:?}, wanted {want:?}"),
        }
    }
}

proptest! {
    /// Any instant written in any accepted format, in UTC or at any offset, reads back as that
    /// instant.
    #[test]
    fn inbound_dates_read_back_in_every_format(
        secs in 0i64..4_102_444_800,
        millis in 0i64..1000,
        offset_minutes in -(23 * 60 + 59)..=(23 * 60 + 59i64),
        style in 0usize..4,
    ) {
        let civil = |at: i64| {
            let (y, mo, d) = njia::clock::civil_from_days(at.div_euclid(86_400));
            let s = at.rem_euclid(86_400);
            format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}", s / 3600, s % 3600 / 60, s % 60)
        };
        let (sign, abs) = if offset_minutes < 0 { ('-', -offset_minutes) } else { ('+', offset_minutes) };
        let date = match style {
            0 => civil(secs).replace('T', " "),
            1 => format!("{}Z", civil(secs)),
            2 => format!("{}{sign}{:02}:{:02}", civil(secs + offset_minutes * 60), abs / 60, abs % 60),
            _ => format!("{}{sign}{:02}{:02}", civil(secs + offset_minutes * 60), abs / 60, abs % 60),
        };
        let body = common::form(&[("from", "0711082306"), ("to", "20384"), ("text", "x"), ("id", "x"), ("date", &date)]);
        let got = parse_inbound(body.as_bytes()).map(|s| s.sent_at_ms);
        prop_assert_eq!(got, Ok(secs * 1000 + millis), "{}", date);
    }

    #[test]
    fn the_sms_parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_inbound(&body);
        let _ = parse_delivery_report(&body);
    }

    #[test]
    fn form_shaped_callbacks_never_panic(
        keys in proptest::collection::vec(prop_oneof![
            Just("id"), Just("from"), Just("to"), Just("text"), Just("date"), Just("linkId"),
            Just("status"), Just("phoneNumber"), Just("failureReason"), Just("retryCount"), Just("networkCode"),
        ], 0..12),
        values in proptest::collection::vec(".{0,40}", 12),
    ) {
        let pairs: Vec<(&str, &str)> = keys.iter().zip(&values).map(|(k, v)| (*k, v.as_str())).collect();
        let body = common::form(&pairs);
        let _ = parse_inbound(body.as_bytes());
        let _ = parse_delivery_report(body.as_bytes());
    }
}
