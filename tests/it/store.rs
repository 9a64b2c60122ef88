//! One conformance suite for every `Store`: the embedded SQLite file and PostgreSQL.
//!
//! The PostgreSQL half uses `TEST_DATABASE_URL` (default: the local server,
//! `postgres://postgres@127.0.0.1:5432/postgres`), creates a fresh database per test and drops
//! it afterwards. It fails, never skips, when PostgreSQL cannot be reached.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use njia::clock::{Clock, ManualClock};
use njia::handoff::{Policy, delivery_change, plan_submit, settle};
use njia::lifecycle::{AttemptStatus, DeliveryStatus, JobKind, JobState, RequestStatus};
use njia::money::Kes;
use njia::sms::DeliveryReport;
use njia::store::postgres::PostgresStore;
use njia::store::sqlite::SqliteStore;
use njia::store::{
    DeliveryChange, Effects, Finished, JobFinish, Languages, NewInbound, NewRequest, QueuedSms, Requests, Resend,
    ServiceUse, SessionEnd, SmsRecord, SmsSent, Store, StoreError,
};
use njia::types::{Locale, Msisdn, Reference};

/// Jobs due at once, so claims in these tests find them.
fn policy() -> Policy {
    Policy { push_delay_ms: 0, max_failures: 3, ..Policy::default() }
}

fn request(key: &str) -> NewRequest {
    let msisdn = Msisdn::parse("+254711000111").unwrap();
    let payment = (Kes::new(4500).unwrap(), "KAJIADO/1234".to_owned());
    let plan = plan_submit(msisdn, Some(payment.0), &policy(), 0);
    NewRequest {
        idempotency_key: key.to_owned(),
        menu: "ecitizen".into(),
        service: "land-rates".into(),
        msisdn: Msisdn::parse("+254711000111").unwrap(),
        locale: Locale::parse("sw").unwrap(),
        payment: Some(payment),
        fields: vec![("parcel".into(), "KAJIADO/1234".into())],
        statuses: plan.statuses,
        attempt: plan.attempt,
        jobs: plan.jobs,
    }
}

/// Opens a store; called again to "reopen" the same data.
type Opener = Box<dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = Arc<dyn Store>>>>>;

/// #13: a search that found nothing is counted per day and term, in both stores the same; the
/// list is the most searched first and starts at the day asked for.
async fn search_misses_are_counted_per_day_and_term(open: Opener) {
    let store = open().await;
    for (day, term) in
        [(20_000, "pasipoti"), (20_000, "pasipoti"), (20_001, "pasipoti"), (20_001, "xyz"), (19_999, "old")]
    {
        store.count_miss(day, term).await.unwrap();
    }
    let listed: Vec<(i64, String, i64)> =
        store.misses(20_000).await.unwrap().into_iter().map(|m| (m.day, m.term, m.count)).collect();
    assert_eq!(
        listed,
        [(20_000, "pasipoti".to_owned(), 2), (20_001, "pasipoti".to_owned(), 1), (20_001, "xyz".to_owned(), 1)]
    );
    assert_eq!(store.misses(0).await.unwrap().len(), 4, "from the start");
}

/// #13: a number's recent services, the most recent first, within their window and per menu;
/// uses counted per menu, day and service without the number; expired ones forgotten, by a
/// use of the same number and by the periodic sweep. Both stores the same.
async fn recent_services_and_uses(open: Opener) {
    let store = open().await;
    let a = Msisdn::parse("+254711700001").unwrap();
    let b = Msisdn::parse("+254711700002").unwrap();
    let day = 20_000;
    let use_at = |msisdn, menu: &str, code, at_ms: i64| ServiceUse {
        remember: true,
        msisdn,
        menu: menu.to_owned(),
        code,
        at_ms,
        day: day + at_ms / 86_400_000,
        times: 1,
        expired_before_ms: at_ms - 90 * 86_400_000,
    };
    let mut batch = Vec::new();
    for u in [
        use_at(a, "ecitizen", 2101, 1_000),
        use_at(a, "ecitizen", 2303, 2_000),
        use_at(a, "ecitizen", 2101, 3_000),
        use_at(a, "ecitizen", 4021, 4_000),
        use_at(a, "other", 9001, 5_000),
        use_at(b, "ecitizen", 2303, 6_000),
    ] {
        batch.push(u);
    }
    // One batch, written in order in one transaction.
    store.note_uses(batch).await.unwrap();
    assert_eq!(store.recent_services(a, "ecitizen", 0, 10).await.unwrap(), [4021, 2101, 2303]);
    assert_eq!(store.recent_services(a, "ecitizen", 0, 2).await.unwrap(), [4021, 2101], "the limit");
    assert_eq!(store.recent_services(a, "ecitizen", 2_500, 10).await.unwrap(), [4021, 2101], "the window");
    assert_eq!(store.recent_services(a, "other", 0, 10).await.unwrap(), [9001]);
    assert_eq!(store.recent_services(b, "ecitizen", 0, 10).await.unwrap(), [2303]);
    assert!(
        store.recent_services(Msisdn::parse("+254711700003").unwrap(), "ecitizen", 0, 10).await.unwrap().is_empty()
    );
    // Uses per service, both numbers, from a day on.
    assert_eq!(store.service_uses("ecitizen", day).await.unwrap(), [(2101, 2), (2303, 2), (4021, 1)]);
    assert!(store.service_uses("ecitizen", day + 1).await.unwrap().is_empty());
    // A use 91 days on forgets the number's older ones, not another number's.
    let later = 91 * 86_400_000;
    store.note_uses(vec![use_at(a, "ecitizen", 2303, later)]).await.unwrap();
    assert_eq!(store.recent_services(a, "ecitizen", 0, 10).await.unwrap(), [2303]);
    assert_eq!(store.recent_services(b, "ecitizen", 0, 10).await.unwrap(), [2303]);
    // A menu that offers no recent services only counts the use.
    let counted_only = ServiceUse { remember: false, ..use_at(b, "ecitizen", 4021, 7_000) };
    store.note_uses(vec![counted_only]).await.unwrap();
    assert_eq!(store.recent_services(b, "ecitizen", 0, 10).await.unwrap(), [2303]);
    // The sweep forgets every number's expired ones, and every one of a menu not kept.
    assert_eq!(store.expire_recent(vec![("ecitizen".into(), 10_000)]).await.unwrap(), 2, "b's 2303, a's 9001");
    assert!(store.recent_services(b, "ecitizen", 0, 10).await.unwrap().is_empty());
    assert!(store.recent_services(a, "other", 0, 10).await.unwrap().is_empty());
    assert_eq!(store.recent_services(a, "ecitizen", 0, 10).await.unwrap(), [2303]);
    assert_eq!(store.service_uses("ecitizen", day).await.unwrap(), [(2101, 2), (2303, 3), (4021, 2)]);
    // What SQLite keeps in memory is what it wrote: the same after reopening.
    drop(store);
    let store = open().await;
    assert_eq!(store.recent_services(a, "ecitizen", 0, 10).await.unwrap(), [2303]);
    assert!(store.recent_services(b, "ecitizen", 0, 10).await.unwrap().is_empty());
}

/// #14: drop-off figures add up per menu, day and screen, and read back by menu and from a
/// day. Both stores the same.
async fn stats_add_up(open: Opener) {
    use njia::store::StatRow;
    let store = open().await;
    let row = |day, screen: &str, shown| StatRow {
        menu: "m".into(),
        day,
        screen: screen.into(),
        shown,
        left: 1,
        ..StatRow::default()
    };
    store.add_stats(vec![row(20_000, "home", 3), row(20_001, "home", 1)]).await.unwrap();
    let other = StatRow { menu: "other".into(), day: 20_000, started: 5, ..StatRow::default() };
    store.add_stats(vec![row(20_000, "home", 2), other]).await.unwrap();
    let rows = store.stats(Some("m"), 20_000).await.unwrap();
    assert_eq!(rows.iter().map(|r| (r.day, r.shown, r.left)).collect::<Vec<_>>(), [(20_000, 5, 2), (20_001, 1, 1)]);
    assert_eq!(store.stats(Some("m"), 20_001).await.unwrap().len(), 1);
    let all = store.stats(None, 0).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all.iter().find(|r| r.menu == "other").map(|r| (r.started, r.screen.as_str())), Some((5, "")));
}

async fn submit_is_idempotent_on_its_key(open: Opener) {
    let store = open().await;
    let a = store.submit(request("at:s1:254711000111")).await.unwrap();
    let b = store.submit(request("at:s1:254711000111")).await.unwrap();
    assert!(a.created && !b.created);
    assert_eq!(a.reference, b.reference);
    let row = store.request(&a.reference).await.unwrap().expect("stored");
    assert_eq!(row.status, "payment_pending");
    assert_eq!(row.msisdn, Some(Msisdn::parse("+254711000111").unwrap()));
    assert_eq!(row.payment, Some(("4500".into(), "KAJIADO/1234".into())));
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

/// A paid submit commits its attempt and its push job with it; a second submit of the same
/// key adds neither.
async fn submit_writes_request_attempt_and_job_together(open: Opener) {
    let store = open().await;
    let a = store.submit(request("k1")).await.unwrap();
    store.submit(request("k1")).await.unwrap();
    let row = store.request(&a.reference).await.unwrap().unwrap();
    let history: Vec<_> = store.events(row.id).await.unwrap().into_iter().map(|e| e.status).collect();
    assert_eq!(history, ["received", "payment_pending"]);
    let attempts = store.attempts(row.id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status, AttemptStatus::Created);
    assert_eq!(attempts[0].amount_kes, 4500);
    assert_eq!(attempts[0].token.len(), 32);
    assert_eq!(store.attempt_by_token(&attempts[0].token).await.unwrap().unwrap().id, attempts[0].id);
    let jobs = store.jobs(None, Some(row.id), 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!((jobs[0].kind, jobs[0].state), (JobKind::Push, JobState::Ready));
}

/// #12: the stores accept exactly the same new requests. A job of a new request that points at
/// an older attempt, or at an attempt the request does not create, is refused by both (once
/// PostgreSQL refused the first and SQLite stored it; SQLite refused the second and PostgreSQL
/// wrote a job pointing nowhere). Nothing of a refused request is stored.
async fn both_stores_refuse_the_same_new_request_plans(open: Opener) {
    use njia::store::JobAttempt;
    let store = open().await;
    let mut older = request("plan-older");
    older.jobs[0].attempt = JobAttempt::Id(1);
    assert!(store.submit(older).await.is_err(), "a job pointing at an older attempt");
    let mut nowhere = request("plan-nowhere");
    nowhere.attempt = None;
    assert!(store.submit(nowhere).await.is_err(), "a job pointing at an attempt not created");
    let mut lifecycle = request("plan-lifecycle");
    lifecycle.statuses = vec![njia::lifecycle::RequestStatus::Notified];
    assert!(store.submit(lifecycle).await.is_err(), "statuses the lifecycle does not allow");
    assert!(store.recent_requests(None, 10).await.unwrap().is_empty(), "nothing of them was stored");
    assert!(store.jobs(None, None, 10).await.unwrap().is_empty());
}

/// #12: a new request's payment attempt is for the number the attempt names, in both stores
/// (PostgreSQL wrote the request's number instead, while SQLite kept the attempt's).
async fn a_new_requests_attempt_keeps_its_own_number(open: Opener) {
    let store = open().await;
    let payer = Msisdn::parse("+254722000333").unwrap();
    let mut r = request("payer");
    if let Some(a) = r.attempt.as_mut() {
        a.msisdn = payer;
    }
    let s = store.submit(r).await.unwrap();
    let row = store.request(&s.reference).await.unwrap().unwrap();
    assert_eq!(row.msisdn, Some(Msisdn::parse("+254711000111").unwrap()));
    let attempts = store.attempts(row.id).await.unwrap();
    assert_eq!(attempts.iter().map(|a| a.msisdn).collect::<Vec<_>>(), [Some(payer)]);
}

/// #12: a new request that plans the same job twice stores it once, in both stores, as any
/// enqueue of a job whose key exists does (PostgreSQL refused the whole request with a unique
/// violation, while SQLite stored the request with one job).
async fn a_new_requests_repeated_job_is_stored_once(open: Opener) {
    let store = open().await;
    let mut r = request("twice");
    let again = r.jobs[0].clone();
    r.jobs.push(again);
    let s = store.submit(r).await.expect("the same job twice is one job, not a refusal");
    let id = store.request(&s.reference).await.unwrap().unwrap().id;
    let jobs = store.jobs(None, Some(id), 10).await.unwrap();
    assert_eq!(jobs.iter().map(|j| j.key.as_str()).collect::<Vec<_>>(), [format!("push:{id}:1")]);
}

/// #12: both stores claim due jobs in the order they became due: a ready job at its `run_at`,
/// a job whose lease ran out at its `lease_until` (once PostgreSQL ordered both by `run_at`).
/// The stores' clock stands still until the test moves it past the lease.
async fn jobs_are_claimed_in_the_order_they_became_due(open: Opener, clock: ManualClock) {
    let store = open().await;
    // B: due long ago, claimed under a one-minute lease.
    let mut b = request("due-b");
    b.jobs[0].run_at_ms = 1;
    let b = store.submit(b).await.unwrap();
    let b_id = store.request(&b.reference).await.unwrap().unwrap().id;
    let claimed = store.claim_jobs("first", 10, 60_000).await.unwrap();
    assert_eq!(claimed.iter().filter(|j| j.request_id == Some(b_id)).count(), 1);
    // A: ready since 2 ms after the epoch, long before B's lease runs out.
    let mut a = request("due-a");
    a.jobs[0].run_at_ms = 2;
    let a = store.submit(a).await.unwrap();
    let a_id = store.request(&a.reference).await.unwrap().unwrap().id;
    // B's lease runs out: both are due now, A for longer.
    clock.advance(std::time::Duration::from_millis(60_001));
    let next = store.claim_jobs("second", 1, 60_000).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].request_id, Some(a_id), "A became due before B's lease ran out");
    let then = store.claim_jobs("second", 1, 60_000).await.unwrap();
    assert_eq!(then.first().and_then(|j| j.request_id), Some(b_id), "then the expired lease");
}

/// Concurrent claimers never get the same job; a claim whose lease ran out is taken over, and
/// the first claimant's late finish is then refused.
async fn claims_are_exclusive_and_leases_fence(open: Opener) {
    let store = open().await;
    for i in 0..40 {
        store.submit(request(&format!("c{i}"))).await.unwrap();
    }
    let claims: Vec<_> = (0..8)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.claim_jobs(&format!("w{w}"), 10, 60_000).await.unwrap() })
        })
        .collect();
    let mut seen = HashSet::new();
    for c in claims {
        for job in c.await.unwrap() {
            assert!(seen.insert(job.id), "job {} claimed twice", job.id);
        }
    }
    assert_eq!(seen.len(), 40);
    assert!(store.claim_jobs("late", 10, 60_000).await.unwrap().is_empty(), "every job is leased");

    // A lease of 0 ms expires at once: another worker takes the job over.
    let s = store.submit(request("lease")).await.unwrap();
    let id = store.request(&s.reference).await.unwrap().unwrap().id;
    let first = store.claim_jobs("a", 100, -1).await.unwrap();
    let mine = first.into_iter().find(|j| j.request_id == Some(id)).unwrap();
    let second = store.claim_jobs("b", 100, 60_000).await.unwrap();
    let theirs = second.into_iter().find(|j| j.request_id == Some(id)).expect("the expired lease is taken over");
    assert_eq!(theirs.tries, 2);
    assert_eq!(store.finish_job(&mine, JobFinish::Done, None).await.unwrap(), Finished::LostLease);
    assert_eq!(store.finish_job(&theirs, JobFinish::Done, None).await.unwrap(), Finished::Applied);
    let jobs = store.jobs(Some(JobState::Done), Some(id), 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
}

/// A payment result moves the attempt and the request once: the same result again (a
/// duplicate callback) and a contrary one (a late query) change nothing.
async fn results_apply_once_and_never_overwrite_success(open: Opener) {
    let store = open().await;
    let s = store.submit(request("pay")).await.unwrap();
    let row = store.request(&s.reference).await.unwrap().unwrap();
    let mut attempt = store.attempts(row.id).await.unwrap().remove(0);
    attempt.status = AttemptStatus::PushSent;
    // The attempt is still `created`: a result cannot settle an attempt never pushed.
    assert!(!store.apply(settle(&attempt, 0, "ok", Some("R1".into()), &policy(), 0)).await.unwrap());
    let claim = store.claim_jobs("w", 1, 60_000).await.unwrap().remove(0);
    let pushing = njia::store::Effects {
        request_id: row.id,
        attempt: Some(njia::store::AttemptChange {
            id: attempt.id,
            from: vec![AttemptStatus::Created],
            to: AttemptStatus::PushSent,
            checkout_request_id: Some("ws_CO_1".into()),
            merchant_request_id: None,
            receipt: None,
            result_code: None,
            result_desc: None,
        }),
        ..Default::default()
    };
    assert_eq!(store.finish_job(&claim, JobFinish::Done, Some(pushing)).await.unwrap(), Finished::Applied);
    assert!(store.apply(settle(&attempt, 0, "ok", Some("R1".into()), &policy(), 0)).await.unwrap());
    assert!(!store.apply(settle(&attempt, 0, "ok", Some("R1".into()), &policy(), 0)).await.unwrap(), "duplicate");
    assert!(!store.apply(settle(&attempt, 1032, "cancelled", None, &policy(), 0)).await.unwrap(), "late contrary");
    let a = store.attempt(attempt.id).await.unwrap().unwrap();
    assert_eq!(
        (a.status, a.receipt.as_deref(), a.checkout_request_id.as_deref()),
        (AttemptStatus::Paid, Some("R1"), Some("ws_CO_1"))
    );
    let row = store.request(&s.reference).await.unwrap().unwrap();
    assert_eq!(row.status, RequestStatus::Fulfilling.as_str());
    let history: Vec<_> = store.events(row.id).await.unwrap().into_iter().map(|e| e.status).collect();
    assert_eq!(history, ["received", "payment_pending", "paid", "fulfilling"]);
    let deliver: Vec<_> =
        store.jobs(None, Some(row.id), 10).await.unwrap().into_iter().filter(|j| j.kind == JobKind::Deliver).collect();
    assert_eq!(deliver.len(), 1, "one delivery, however many results arrive");
}

/// #15: a status query settles an attempt as paid with no receipt (the query carries none);
/// the callback after it brings the receipt, which is written on the attempt and on the
/// request's `paid` step, once, and only where none is: a second copy, another receipt, a
/// receipt for an attempt not paid change nothing, and nothing else moves (status, jobs).
async fn a_receipt_fills_a_paid_attempt_once_and_never_overwrites(open: Opener) {
    use njia::handoff::{CallbackOutcome, payment_callback};
    use njia::payment::PaymentResult;
    use njia::store::{ReceiptFill, RequestChange};

    let store = open().await;
    let s = store.submit(request("late-receipt")).await.unwrap();
    let row = store.request(&s.reference).await.unwrap().unwrap();
    let mut attempt = store.attempts(row.id).await.unwrap().remove(0);
    let fill = |receipt: &str| Effects {
        request_id: row.id,
        receipt: Some(ReceiptFill { attempt_id: attempt.id, receipt: receipt.into() }),
        ..Default::default()
    };
    assert!(!store.apply(fill("QR0")).await.unwrap(), "no receipt for an attempt not paid");
    let claim = store.claim_jobs("w", 1, 60_000).await.unwrap().remove(0);
    let pushed = Effects {
        request_id: row.id,
        attempt: Some(njia::store::AttemptChange {
            checkout_request_id: Some("ws_CO_q".into()),
            merchant_request_id: Some("m-q".into()),
            ..njia::store::AttemptChange::moved(attempt.id, &[AttemptStatus::Created], AttemptStatus::PushSent)
        }),
        ..Default::default()
    };
    assert_eq!(store.finish_job(&claim, JobFinish::Done, Some(pushed)).await.unwrap(), Finished::Applied);
    attempt.status = AttemptStatus::PushSent;
    assert!(!store.apply(fill("QR0")).await.unwrap(), "no receipt for an attempt not settled");
    // The query's answer: paid, no receipt.
    assert!(store.apply(settle(&attempt, 0, "ok", None, &policy(), 0)).await.unwrap());
    let paid = store.attempt(attempt.id).await.unwrap().unwrap();
    assert_eq!((paid.status, paid.receipt.as_deref()), (AttemptStatus::Paid, None));
    let paid_step = |events: Vec<njia::store::EventRow>| {
        events.into_iter().find(|e| e.status == "paid").expect("a paid step").detail
    };
    assert_eq!(paid_step(store.events(row.id).await.unwrap()), None);
    let jobs_before = store.jobs(None, Some(row.id), 10).await.unwrap();

    // The callback, as Daraja sends it: recorded, and nothing else.
    let callback = |code: i64, receipt: Option<&str>| PaymentResult {
        merchant_request_id: "m-q".into(),
        checkout_request_id: "ws_CO_q".into(),
        result_code: code,
        result_desc: "desc".into(),
        receipt: receipt.map(str::to_owned),
        amount: Some("4500.00".into()),
        phone: Some(254_711_000_111),
    };
    let p = policy();
    let token = &paid.token;
    // A registry of the test's own, so its counts are exact.
    let m = njia::metrics::Registry::new();
    let outcome = payment_callback(store.as_ref(), &p, &m, token, &callback(0, Some("QR1"))).await.unwrap();
    assert_eq!(outcome, CallbackOutcome::ReceiptRecorded);
    for (copy, want) in [
        (callback(0, Some("QR1")), CallbackOutcome::Duplicate),
        (callback(0, Some("QR2")), CallbackOutcome::Conflict),
        (callback(1032, None), CallbackOutcome::Conflict),
    ] {
        assert_eq!(payment_callback(store.as_ref(), &p, &m, token, &copy).await.unwrap(), want, "{copy:?}");
    }
    // The query counted the result when it settled the attempt: a late callback is no second
    // payment result.
    assert_eq!(njia::metrics::RESULT_CODES.iter().map(|c| m.payment_results.get(c)).sum::<u64>(), 0);
    // Straight to the store: a recorded receipt is never overwritten, by any receipt.
    assert!(!store.apply(fill("QR1")).await.unwrap(), "a second copy");
    assert!(!store.apply(fill("QR3")).await.unwrap(), "another receipt");

    let a = store.attempt(attempt.id).await.unwrap().unwrap();
    assert_eq!((a.status, a.receipt.as_deref()), (AttemptStatus::Paid, Some("QR1")));
    assert_eq!(
        (a.result_code, a.result_desc.as_deref(), a.updated_at_ms),
        (paid.result_code, paid.result_desc.as_deref(), paid.updated_at_ms),
        "only the receipt changed; updated_at stays the time it was paid"
    );
    let row = store.request(&s.reference).await.unwrap().unwrap();
    assert_eq!(row.status, RequestStatus::Fulfilling.as_str());
    let events = store.events(row.id).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.status.as_str()).collect::<Vec<_>>(),
        ["received", "payment_pending", "paid", "fulfilling"]
    );
    assert_eq!(paid_step(events).as_deref(), Some("QR1"), "the request keeps the receipt on its paid step");
    let deliver =
        store.jobs(None, Some(row.id), 10).await.unwrap().into_iter().filter(|j| j.kind == JobKind::Deliver).count();
    assert_eq!(deliver, 1, "one delivery");
    let jobs = store.jobs(None, Some(row.id), 10).await.unwrap();
    assert_eq!(jobs, jobs_before, "the receipt queued nothing, and touched no job");

    // A request that walked on (fulfilled) still takes the receipt of its paid attempt: the
    // guard is the attempt's, the request's status is not touched.
    let s2 = store.submit(request("late-receipt-2")).await.unwrap();
    let row2 = store.request(&s2.reference).await.unwrap().unwrap();
    let mut a2 = store.attempts(row2.id).await.unwrap().remove(0);
    let claim = store.claim_jobs("w", 1, 60_000).await.unwrap().remove(0);
    let pushed = Effects {
        request_id: row2.id,
        attempt: Some(njia::store::AttemptChange::moved(a2.id, &[AttemptStatus::Created], AttemptStatus::PushSent)),
        ..Default::default()
    };
    assert_eq!(store.finish_job(&claim, JobFinish::Done, Some(pushed)).await.unwrap(), Finished::Applied);
    a2.status = AttemptStatus::PushSent;
    assert!(store.apply(settle(&a2, 0, "ok", None, &policy(), 0)).await.unwrap());
    let fulfilled = Effects {
        request_id: row2.id,
        request: Some(RequestChange {
            from: vec![RequestStatus::Fulfilling],
            to: vec![(RequestStatus::Fulfilled, None), (RequestStatus::Notified, None)],
            refund_review: false,
        }),
        ..Default::default()
    };
    assert!(store.apply(fulfilled).await.unwrap());
    let fill2 = Effects {
        request_id: row2.id,
        receipt: Some(ReceiptFill { attempt_id: a2.id, receipt: "QR9".into() }),
        ..Default::default()
    };
    assert!(store.apply(fill2).await.unwrap());
    assert_eq!(store.attempt(a2.id).await.unwrap().unwrap().receipt.as_deref(), Some("QR9"));
    assert_eq!(store.request(&s2.reference).await.unwrap().unwrap().status, RequestStatus::Notified.as_str());
    assert_eq!(paid_step(store.events(row2.id).await.unwrap()).as_deref(), Some("QR9"));
}

/// Failures back off and then dead-letter; `retry_job` revives a dead job, and only a dead one;
/// `job` finds one by id (what `njia jobs retry` tells a missing job from a live one with).
async fn failing_jobs_are_dead_lettered_and_can_be_retried(open: Opener) {
    let store = open().await;
    let s = store.submit(request("dead")).await.unwrap();
    let id = store.request(&s.reference).await.unwrap().unwrap().id;
    for round in 1..=3 {
        let job = store.claim_jobs("w", 1, 60_000).await.unwrap().pop().expect("due again");
        assert_eq!(job.failures, round - 1);
        let finish = JobFinish::Retry { error: format!("down {round}"), run_at_ms: 0 };
        assert_eq!(store.finish_job(&job, finish, None).await.unwrap(), Finished::Applied);
    }
    assert!(store.claim_jobs("w", 1, 60_000).await.unwrap().is_empty(), "dead after max_failures");
    let dead = store.jobs(Some(JobState::Dead), None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("down 3"));
    assert_eq!(dead[0].reference, Some(s.reference.clone()));
    assert_eq!(store.job(dead[0].id).await.unwrap().map(|j| (j.state, j.failures)), Some((JobState::Dead, 3)));
    assert!(store.job(dead[0].id + 1000).await.unwrap().is_none());
    assert!(store.retry_job(dead[0].id).await.unwrap());
    assert!(!store.retry_job(dead[0].id).await.unwrap(), "not dead any more");
    assert_eq!(store.job(dead[0].id).await.unwrap().map(|j| j.state), Some(JobState::Ready));
    let again = store.claim_jobs("w", 1, 60_000).await.unwrap().pop().expect("queued again");
    assert_eq!((again.request_id, again.failures), (Some(id), 0));
}

/// #15: what `/metrics` reads of the queue: jobs by kind and state, the due ones and how long
/// the oldest has waited (on the store's clock), dead letters, and the requests only an
/// administrator moves on. Both stores the same.
async fn the_backlog_counts_what_waits(open: Opener, clock: ManualClock) {
    use njia::store::{BacklogFigures, RequestChange};
    let store = open().await;
    assert_eq!(store.backlog().await.unwrap(), BacklogFigures::default(), "an empty store");
    let now = clock.now_ms();
    // A: due five seconds ago; B: due in a minute; C and D: for the payment states.
    let mut ids = Vec::new();
    for (key, run_at) in
        [("late-a", now - 5_000), ("later-b", now + 60_000), ("c", now + 600_000), ("d", now + 600_000)]
    {
        let mut r = request(key);
        r.jobs[0].run_at_ms = run_at;
        let s = store.submit(r).await.unwrap();
        ids.push(store.request(&s.reference).await.unwrap().unwrap().id);
    }
    let b = store.backlog().await.unwrap();
    assert_eq!((b.jobs(JobKind::Push, JobState::Ready), b.due, b.oldest_due_ms), (4, 1, Some(5_000)));
    // The due one is claimed: running, and nothing is due.
    let job = store.claim_jobs("w", 10, 60_000).await.unwrap().pop().expect("A is due");
    assert_eq!(job.request_id, Some(ids[0]));
    let b = store.backlog().await.unwrap();
    assert_eq!(
        (b.jobs(JobKind::Push, JobState::Ready), b.jobs(JobKind::Push, JobState::Running), b.due, b.oldest_due_ms),
        (3, 1, 0, None)
    );
    // It dies: a dead letter.
    let dead = JobFinish::Dead { error: "refused".into() };
    assert_eq!(store.finish_job(&job, dead, None).await.unwrap(), Finished::Applied);
    // A minute and a second on, B has been due for a second.
    clock.advance(std::time::Duration::from_millis(61_000));
    let b = store.backlog().await.unwrap();
    assert_eq!(
        (b.jobs(JobKind::Push, JobState::Dead), b.jobs(JobKind::Push, JobState::Running), b.due, b.oldest_due_ms),
        (1, 0, 1, Some(1_000))
    );
    // C is held for review, D's payment is unknown.
    for (id, to) in [(ids[2], RequestStatus::HeldForReview), (ids[3], RequestStatus::PaymentUnknown)] {
        let change =
            RequestChange { from: vec![RequestStatus::PaymentPending], to: vec![(to, None)], refund_review: false };
        assert!(store.apply(Effects { request_id: id, request: Some(change), ..Default::default() }).await.unwrap());
    }
    let b = store.backlog().await.unwrap();
    assert_eq!((b.held_for_review, b.payment_unknown), (1, 1));
    assert_eq!(b.jobs.iter().map(|j| j.2).sum::<i64>(), 4, "done jobs are not counted: {:?}", b.jobs);
}

/// A notice's SMS is kept with the request and closes it.
async fn sms_are_kept_with_their_request(open: Opener) {
    let store = open().await;
    let s = store.submit(request("sms")).await.unwrap();
    let row = store.request(&s.reference).await.unwrap().unwrap();
    let sms = SmsRecord {
        msisdn: row.msisdn,
        locale: "sw".into(),
        text: format!("Ombi {} limekamilika.", s.reference),
        segments: 1,
        sender: "log".into(),
        status: "logged".into(),
        provider_id: None,
    };
    let e = njia::store::Effects { request_id: row.id, sms: Some(sms.clone()), ..Default::default() };
    assert!(store.apply(e).await.unwrap());
    let listed = store.sms(None, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].reference.as_ref(), Some(&s.reference));
    assert_eq!(listed[0].record, sms);
    assert_eq!(store.sms(Some(row.id + 1000), 10).await.unwrap().len(), 0);
    assert_eq!(store.requests_with_status(Some(RequestStatus::PaymentPending), 10).await.unwrap().len(), 1);
    assert_eq!(store.requests_with_status(Some(RequestStatus::Fulfilled), 10).await.unwrap().len(), 0);
}

/// A provider token is shared through the store: the newest one wins, and it survives reopening.
async fn shared_tokens_are_kept_and_replaced(open: Opener) {
    {
        let store = open().await;
        assert_eq!(store.shared_token("daraja:174379").await.unwrap(), None);
        store.put_shared_token("daraja:174379", "tok-1", 1_000).await.unwrap();
        store.put_shared_token("daraja:174379", "tok-2", 2_000).await.unwrap();
        store.put_shared_token("daraja:600000", "tok-x", 3_000).await.unwrap();
    }
    let store = open().await;
    assert_eq!(store.shared_token("daraja:174379").await.unwrap(), Some(("tok-2".into(), 2_000)));
    assert_eq!(store.shared_token("daraja:600000").await.unwrap(), Some(("tok-x".into(), 3_000)));
}

fn inbound(id: &str, reply: Option<&str>, language: Option<&str>) -> NewInbound {
    NewInbound {
        provider: "africastalking".into(),
        provider_id: id.into(),
        msisdn: Msisdn::parse("+254711000222").unwrap(),
        to: "20384".into(),
        sent_at_ms: Some(1_700_000_000_000),
        link_id: None,
        text_chars: 14,
        understood: "status NJ-7K2QX".into(),
        set_language: language.map(|l| Locale::parse(l).unwrap()),
        reply: reply.map(|text| QueuedSms {
            msisdn: Msisdn::parse("+254711000222").unwrap(),
            locale: "en".into(),
            text: text.into(),
            send_at_ms: 0,
            max_failures: 3,
        }),
    }
}

/// Finishes the one due `send` job as the sender answered it.
async fn send_due(store: &Arc<dyn Store>, provider_id: Option<&str>, failed: Option<&str>) -> i64 {
    let job = store.claim_jobs("w", 10, 60_000).await.unwrap().pop().expect("a send job is due");
    assert_eq!(job.kind, JobKind::Send);
    let id = job.sms_id.expect("a send job names its SMS");
    let sent = SmsSent {
        id,
        sender: "africastalking".into(),
        status: if failed.is_some() { String::new() } else { "Success".into() },
        provider_id: provider_id.map(str::to_owned),
        failed: failed.map(str::to_owned),
    };
    let effects =
        Effects { request_id: job.request_id.unwrap_or_default(), sms_sent: Some(sent), ..Effects::default() };
    assert_eq!(store.finish_job(&job, JobFinish::Done, Some(effects)).await.unwrap(), Finished::Applied);
    id
}

/// An inbound SMS is recorded once per provider id, with the language it sets and its reply
/// queued beside a `send` job that carries no request; a retry writes nothing.
async fn inbound_sms_are_recorded_once_with_their_reply(open: Opener) {
    let store = open().await;
    let phone = Msisdn::parse("+254711000222").unwrap();
    assert!(
        store.record_inbound(inbound("ATXid_in1", Some("Request NJ-7K2QX is complete."), Some("en"))).await.unwrap()
    );
    assert!(
        !store.record_inbound(inbound("ATXid_in1", Some("Request NJ-7K2QX is complete."), Some("sw"))).await.unwrap()
    );
    assert_eq!(store.language(phone).await.unwrap(), Some(Locale::parse("en").unwrap()), "the retry set nothing");
    let sms = store.sms(None, 10).await.unwrap();
    assert_eq!(sms.len(), 1, "one reply, however often the message arrives");
    assert_eq!((sms[0].record.status.as_str(), sms[0].reference.as_ref()), ("queued", None));
    assert!(sms[0].inbound_id.is_some());
    assert_eq!((sms[0].attempt, sms[0].record.segments), (1, 1));
    let jobs = store.jobs(None, None, 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!((jobs[0].kind, jobs[0].reference.as_ref(), jobs[0].sms_id), (JobKind::Send, None, Some(sms[0].id)));
    // Another message id is another message; one without a reply queues nothing.
    assert!(store.record_inbound(inbound("ATXid_in2", None, None)).await.unwrap());
    assert_eq!(store.sms(None, 10).await.unwrap().len(), 1);

    let claimed = store.claim_jobs("w", 10, 60_000).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].request_id, claimed[0].sms_id), (None, Some(sms[0].id)));
    let sent = SmsSent {
        id: sms[0].id,
        sender: "africastalking".into(),
        status: "Success".into(),
        provider_id: Some("ATXid_out1".into()),
        failed: None,
    };
    let effects = Effects { sms_sent: Some(sent.clone()), ..Effects::default() };
    assert_eq!(store.finish_job(&claimed[0], JobFinish::Done, Some(effects)).await.unwrap(), Finished::Applied);
    let row = store.sms_by_provider_id("africastalking", "ATXid_out1").await.unwrap().expect("found by its id");
    assert_eq!(
        (row.id, row.record.status.as_str(), row.record.sender.as_str()),
        (sms[0].id, "Success", "africastalking")
    );
    assert!(store.sms_by_provider_id("log", "ATXid_out1").await.unwrap().is_none());
    // Written only while queued: a second answer for the same SMS is stale.
    let again =
        Effects { sms_sent: Some(SmsSent { provider_id: Some("ATXid_out2".into()), ..sent }), ..Effects::default() };
    assert!(!store.apply(again).await.unwrap());
    assert_eq!(store.sms_by_id(sms[0].id).await.unwrap().unwrap().record.provider_id.as_deref(), Some("ATXid_out1"));
}

fn report(id: &str, status: DeliveryStatus, reason: Option<&str>) -> DeliveryReport {
    DeliveryReport {
        provider_id: id.into(),
        status,
        msisdn: Msisdn::parse("+254711000111").ok(),
        network_code: Some("63902".into()),
        failure_reason: reason.map(str::to_owned),
        retry_count: Some(0),
    }
}

/// Delivery reports move an SMS's status until a final one, which nothing overwrites; a failure
/// that may pass queues the same text again (the next attempt, with its job) exactly once per
/// failed SMS; `failed_sms` lists what failed for good.
async fn delivery_reports_are_final_once_and_resend_once(open: Opener) {
    let store = open().await;
    let policy = Policy { sms_resends: 1, sms_resend_delay_ms: 0, ..policy() };
    let s = store.submit(request("dlr")).await.unwrap();
    let row = store.request(&s.reference).await.unwrap().unwrap();
    let receipt = SmsRecord {
        msisdn: row.msisdn,
        locale: "sw".into(),
        text: format!("Ombi {} limekamilika.", s.reference),
        segments: 1,
        sender: "africastalking".into(),
        status: "Success".into(),
        provider_id: Some("ATXid_r1".into()),
    };
    assert!(store.apply(Effects { request_id: row.id, sms: Some(receipt), ..Effects::default() }).await.unwrap());
    let first = store.sms_by_provider_id("africastalking", "ATXid_r1").await.unwrap().expect("the receipt");
    assert_eq!((first.delivery, first.attempt, first.request_id), (None, 1, Some(row.id)));

    let change = |sms_id: i64, to: DeliveryStatus, resend: bool| DeliveryChange {
        sms_id,
        from: std::iter::once(None).chain(DeliveryStatus::INTERIM.map(Some)).collect(),
        to,
        failure_reason: to.is_failure().then(|| "DeliveryFailure".to_owned()),
        network_code: Some("63902".into()),
        resend: resend.then_some(Resend { send_at_ms: 0, max_failures: 3 }),
    };
    assert!(store.apply_delivery(change(first.id, DeliveryStatus::Submitted, false)).await.unwrap());
    assert!(store.apply_delivery(change(first.id, DeliveryStatus::Submitted, false)).await.unwrap(), "interim again");
    let failed = report("ATXid_r1", DeliveryStatus::Failed, Some("DeliveryFailure"));
    let current = store.sms_by_id(first.id).await.unwrap().unwrap();
    let decided = delivery_change(&current, &failed, &policy, 0).expect("a failure to record");
    assert!(decided.resend.is_some(), "DeliveryFailure may pass: sent again");
    assert!(store.apply_delivery(decided.clone()).await.unwrap());
    assert!(!store.apply_delivery(decided).await.unwrap(), "a duplicate report changes nothing");
    assert!(!store.apply_delivery(change(first.id, DeliveryStatus::Success, false)).await.unwrap(), "final stays");
    assert!(!store.apply_delivery(change(first.id, DeliveryStatus::Buffered, false)).await.unwrap(), "late interim");
    let all = store.sms(Some(row.id), 10).await.unwrap();
    assert_eq!(all.len(), 2, "one re-send for one failed SMS");
    let resent = &all[0];
    assert_eq!((resent.attempt, resent.resend_of, resent.record.status.as_str()), (2, Some(first.id), "queued"));
    assert_eq!(resent.record.text, first.record.text);
    let kept = store.sms_by_id(first.id).await.unwrap().unwrap();
    assert_eq!(
        (kept.delivery, kept.failure_reason.as_deref()),
        (Some(DeliveryStatus::Failed), Some("DeliveryFailure"))
    );
    assert!(store.failed_sms(10).await.unwrap().is_empty(), "a failed SMS sent again is not failed for good");

    // The re-send is sent, fails too, and the policy allows no more: failed for good.
    assert_eq!(send_due(&store, Some("ATXid_r2"), None).await, resent.id);
    let second = store.sms_by_provider_id("africastalking", "ATXid_r2").await.unwrap().unwrap();
    let decided = delivery_change(&second, &report("ATXid_r2", DeliveryStatus::Failed, None), &policy, 0).unwrap();
    assert!(decided.resend.is_none(), "re-sends are bounded");
    assert!(store.apply_delivery(decided).await.unwrap());
    let listed = store.failed_sms(10).await.unwrap();
    assert_eq!(listed.iter().map(|s| s.id).collect::<Vec<_>>(), [second.id]);
    assert_eq!(listed[0].reference.as_ref(), Some(&s.reference));
}

/// An SMS the sender refuses for good at sending is failed, with the reason, and listed.
async fn refusals_at_sending_are_failed_for_good(open: Opener) {
    let store = open().await;
    store.record_inbound(inbound("ATXid_in3", Some("Send STATUS and your request number."), None)).await.unwrap();
    let id = send_due(&store, None, Some("406 UserInBlacklist")).await;
    let listed = store.failed_sms(10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].delivery, Some(DeliveryStatus::Failed));
    assert_eq!(listed[0].failure_reason.as_deref(), Some("406 UserInBlacklist"));
    assert!(listed[0].record.status.starts_with("failed: "), "{}", listed[0].record.status);
}

/// A reply whose send job dies (the sender kept failing) is still queued, and listed as failed
/// for good with the job's error.
async fn replies_whose_send_job_died_are_failed_for_good(open: Opener) {
    let store = open().await;
    store.record_inbound(inbound("ATXid_in4", Some("Send STATUS and your request number."), None)).await.unwrap();
    let job = store.claim_jobs("w", 10, 60_000).await.unwrap().pop().expect("a send job is due");
    let dead = JobFinish::Dead { error: "503 from the SMS API".into() };
    assert_eq!(store.finish_job(&job, dead, None).await.unwrap(), Finished::Applied);
    let listed = store.failed_sms(10).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(Some(listed[0].id), job.sms_id);
    assert_eq!(listed[0].record.status, "queued");
}

/// A request stored under `key`, its attempt settled and the request walked along `path` (from
/// payment_pending) in one write, with its receipt SMS when it reached `notified`. `keep_job`
/// keeps the push job its plan queued (a job still to run); otherwise it plans none.
async fn settled(store: &Arc<dyn Store>, key: &str, path: &[RequestStatus], refund: bool, keep_job: bool) -> i64 {
    let mut new = request(key);
    if !keep_job {
        new.jobs.clear();
    }
    let stored = store.submit(new).await.unwrap();
    let row = store.request(&stored.reference).await.unwrap().unwrap();
    if path.is_empty() {
        return row.id;
    }
    let attempt = store.attempts(row.id).await.unwrap().remove(0);
    let paid = path.contains(&RequestStatus::Paid);
    let notified = path.contains(&RequestStatus::Notified);
    let effects = Effects {
        request_id: row.id,
        attempt: Some(njia::store::AttemptChange {
            receipt: paid.then(|| format!("R-{key}")),
            ..njia::store::AttemptChange::moved(
                attempt.id,
                &[AttemptStatus::Created],
                if paid { AttemptStatus::Paid } else { AttemptStatus::Failed },
            )
        }),
        request: Some(njia::store::RequestChange {
            from: vec![RequestStatus::PaymentPending],
            to: path.iter().map(|s| (*s, None)).collect(),
            refund_review: refund,
        }),
        sms: notified.then(|| SmsRecord {
            msisdn: row.msisdn,
            locale: "sw".into(),
            text: format!("Ombi {} limekamilika. Stakabadhi R-{key}.", stored.reference),
            segments: 1,
            sender: "log".into(),
            status: "logged".into(),
            provider_id: Some(format!("ATXid_{key}")),
        }),
        ..Effects::default()
    };
    assert!(store.apply(effects).await.unwrap(), "{key} walks {path:?}");
    row.id
}

/// #15: personal data retention. Older than the cutoff, a final request with nothing left to
/// run loses its number, fields and account (its attempts their number, its SMS number and
/// text), keeping reference, service, amount, receipt, statuses and times; unfinished, held,
/// refund-review and still-working requests are untouched, as is everything after the cutoff.
/// Inbound SMS, replies, session-end notices, profiles and recent services of numbers not seen
/// since go too. A dry run changes nothing and counts exactly what the purge then does; a
/// second purge finds nothing. Both stores the same.
async fn retention_purges_only_finished_personal_data(open: Opener) {
    use RequestStatus::*;
    let store = open().await;
    let before = njia::store::now_ms() - 1;
    let citizen = Msisdn::parse("+254711000111").unwrap();
    let texter = Msisdn::parse("+254711000222").unwrap();
    let done = settled(&store, "done", &[Paid, Fulfilling, Fulfilled, Notified], false, false).await;
    let failed = settled(&store, "failed", &[PaymentFailed], false, false).await;
    let held = settled(&store, "held", &[HeldForReview], false, false).await;
    let refund = settled(&store, "refund", &[Paid, Fulfilling, Rejected], true, false).await;
    let pending = settled(&store, "pending", &[], false, true).await;
    let working = settled(&store, "working", &[Paid, Fulfilling, Fulfilled, Notified], false, true).await;
    // An inbound SMS with its reply, sent; it set the texter's language.
    assert!(
        store.record_inbound(inbound("ATXid_p1", Some("Request NJ-7K2QX is complete."), Some("en"))).await.unwrap()
    );
    let reply = send_due(&store, Some("ATXid_reply"), None).await;
    store.set_language(citizen, Locale::parse("sw").unwrap()).await.unwrap();
    let end = |id: &str| SessionEnd {
        channel: "africastalking".into(),
        session_id: id.into(),
        msisdn: Some(citizen),
        status: "Success".into(),
        hops: Some(4),
        duration_ms: Some(20_000),
        error_message: None,
    };
    store.record_session_end(end("ATUid_p1")).await.unwrap();
    let used = |code, at_ms| ServiceUse {
        remember: true,
        msisdn: citizen,
        menu: "ecitizen".into(),
        code,
        at_ms,
        day: 20_000,
        times: 1,
        expired_before_ms: 0,
    };
    // One use before the cutoff the purge is run at, one long after it.
    let future = njia::store::now_ms() + 10 * 86_400_000;
    store.note_uses(vec![used(2101, before + 1), used(2303, future)]).await.unwrap();

    // Everything is younger than `before`: nothing to purge, and nothing purged.
    assert_eq!(store.purgeable(before).await.unwrap(), njia::store::Purged::default());
    assert_eq!(njia::store::retention::purge(&*store, before, before, false).await.unwrap(), Default::default());

    let cutoff = njia::store::now_ms() + 1;
    let now = cutoff + 5;
    let want = njia::store::Purged {
        requests: 2,
        attempts: 2,
        sms: 2,
        inbound_sms: 1,
        session_ends: 1,
        // The texter's: nothing of that number since the cutoff. The citizen used a service
        // after it (the later use), so is still "seen" and keeps a language.
        profiles: 1,
        recent_services: 1,
    };
    let dry = njia::store::retention::purge(&*store, cutoff, now, true).await.unwrap();
    assert_eq!(dry, want, "the dry run counts");
    let untouched = store.request_by_id(done).await.unwrap().unwrap();
    assert_eq!((untouched.msisdn, untouched.purged_at_ms), (Some(citizen), None), "a dry run changes nothing");
    assert_eq!(store.language(texter).await.unwrap(), Some(Locale::parse("en").unwrap()));

    assert_eq!(njia::store::retention::purge(&*store, cutoff, now, false).await.unwrap(), want, "as counted");

    // The purged request: no number, fields or account; reference, amount, receipt, statuses
    // and times kept.
    let r = store.request_by_id(done).await.unwrap().unwrap();
    assert_eq!((r.msisdn, r.purged_at_ms, r.fields.len()), (None, Some(now), 0));
    assert_eq!(r.payment, Some(("4500".to_owned(), String::new())));
    assert_eq!(
        (r.status.as_str(), r.service.as_str(), r.created_at_ms),
        ("notified", "land-rates", untouched.created_at_ms)
    );
    assert_eq!(store.request(&r.reference).await.unwrap().map(|x| x.id), Some(done), "found by its reference");
    assert!(store.request_by_key("done").await.unwrap().is_none(), "the key held the number");
    let history: Vec<String> = store.events(done).await.unwrap().into_iter().map(|e| e.status).collect();
    assert_eq!(history, ["received", "payment_pending", "paid", "fulfilling", "fulfilled", "notified"]);
    let a = store.attempts(done).await.unwrap().remove(0);
    assert_eq!(
        (a.msisdn, a.amount_kes, a.status, a.receipt.as_deref()),
        (None, 4500, AttemptStatus::Paid, Some("R-done"))
    );
    let sms = store.sms(Some(done), 10).await.unwrap().remove(0);
    assert_eq!((sms.record.msisdn, sms.record.text.as_str(), sms.record.segments), (None, "", 1));
    assert_eq!(store.request_by_id(failed).await.unwrap().unwrap().msisdn, None);
    // A late report about the purged SMS changes nothing and sends nothing again.
    let late = DeliveryChange {
        sms_id: sms.id,
        from: vec![None],
        to: DeliveryStatus::Failed,
        failure_reason: Some("DeliveryFailure".into()),
        network_code: None,
        resend: Some(Resend { send_at_ms: 0, max_failures: 3 }),
    };
    assert!(!store.apply_delivery(late).await.unwrap());

    // Kept whole: held for review, a refund to decide, unfinished, a job still to run.
    for (id, status) in [(held, HeldForReview), (refund, Rejected), (pending, PaymentPending), (working, Notified)] {
        let r = store.request_by_id(id).await.unwrap().unwrap();
        assert_eq!((r.msisdn, r.purged_at_ms, r.status.as_str()), (Some(citizen), None, status.as_str()));
        assert_eq!(r.fields, [("parcel".to_owned(), "KAJIADO/1234".to_owned())]);
        assert_eq!(store.attempts(id).await.unwrap()[0].msisdn, Some(citizen));
    }
    let reply = store.sms_by_id(reply).await.unwrap().unwrap();
    assert_eq!((reply.record.msisdn, reply.record.text.as_str(), reply.record.status.as_str()), (None, "", "Success"));
    assert_eq!(store.language(texter).await.unwrap(), None, "the texter's language is forgotten");
    assert_eq!(store.language(citizen).await.unwrap(), Some(Locale::parse("sw").unwrap()), "seen since");
    assert_eq!(store.recent_services(citizen, "ecitizen", 0, 10).await.unwrap(), [2303], "the later use stays");

    // Idempotent: nothing is found again.
    assert_eq!(store.purgeable(cutoff).await.unwrap(), Default::default());
    assert_eq!(njia::store::retention::purge(&*store, cutoff, now, false).await.unwrap(), Default::default());
}

/// #15: a purge works in bounded batches until nothing is left: more rows than one batch are
/// all purged, and the counts add up.
async fn retention_purges_in_batches(open: Opener) {
    let store = open().await;
    let n = njia::store::retention::BATCH as u64 + 3;
    for i in 0..n {
        settled(&store, &format!("b{i}"), &[RequestStatus::PaymentFailed], false, false).await;
    }
    let cutoff = njia::store::now_ms() + 1;
    let one = store.purge_batch(cutoff, cutoff, 2).await.unwrap();
    assert_eq!((one.requests, one.attempts), (2, 2), "a batch stops at its limit");
    let rest = njia::store::retention::purge(&*store, cutoff, cutoff, false).await.unwrap();
    assert_eq!((rest.requests, rest.attempts), (n - 2, n - 2));
    assert!(store.recent_requests(None, 1_000).await.unwrap().iter().all(|r| r.msisdn.is_none()));
}

/// #15: reconciliation's one read: the attempts created in a half-open time range, oldest
/// first, each with its request, whether the request was ever fulfilled (a `notified` one
/// too) and whether any of its attempts is paid; at most the limit.
async fn attempts_created_reads_a_day_with_its_requests(open: Opener) {
    let store = open().await;
    let paid = store.submit(request("rc-paid")).await.unwrap();
    let row = store.request(&paid.reference).await.unwrap().unwrap();
    let mut attempt = store.attempts(row.id).await.unwrap().remove(0);
    let claim = store.claim_jobs("w", 1, 60_000).await.unwrap().remove(0);
    let pushed = Effects {
        request_id: row.id,
        attempt: Some(njia::store::AttemptChange {
            checkout_request_id: Some("ws_CO_rc".into()),
            ..njia::store::AttemptChange::moved(attempt.id, &[AttemptStatus::Created], AttemptStatus::PushSent)
        }),
        ..Default::default()
    };
    assert_eq!(store.finish_job(&claim, JobFinish::Done, Some(pushed)).await.unwrap(), Finished::Applied);
    attempt.status = AttemptStatus::PushSent;
    assert!(store.apply(settle(&attempt, 0, "ok", Some("SRC1".into()), &policy(), 0)).await.unwrap());
    let fulfilled = Effects {
        request_id: row.id,
        request: Some(njia::store::RequestChange {
            from: vec![RequestStatus::Fulfilling],
            to: vec![(RequestStatus::Fulfilled, None), (RequestStatus::Notified, None)],
            refund_review: false,
        }),
        ..Default::default()
    };
    assert!(store.apply(fulfilled).await.unwrap());
    let open_one = store.submit(request("rc-open")).await.unwrap();

    let rows = store.attempts_created(0, i64::MAX, 10).await.unwrap();
    let seen: Vec<_> = rows
        .iter()
        .map(|a| {
            let r = (a.reference.clone(), a.attempt.status, a.request_status, a.fulfilled, a.request_paid);
            (r, a.attempt.receipt.as_deref(), a.attempt.checkout_request_id.as_deref())
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                (paid.reference.clone(), AttemptStatus::Paid, RequestStatus::Notified, true, true),
                Some("SRC1"),
                Some("ws_CO_rc")
            ),
            (
                (open_one.reference.clone(), AttemptStatus::Created, RequestStatus::PaymentPending, false, false),
                None,
                None
            ),
        ]
    );
    let first = &rows[0];
    assert_eq!(first.attempt, store.attempts(row.id).await.unwrap().remove(0), "the attempt as stored");
    assert_eq!((first.service.as_str(), first.menu.as_str(), first.refund_review), ("land-rates", "ecitizen", false));
    let at = first.attempt.created_at_ms;
    // The range is half-open: from its first millisecond, up to (not including) its end.
    assert!(store.attempts_created(at, at + 1, 10).await.unwrap().iter().any(|a| a.reference == paid.reference));
    assert!(store.attempts_created(0, at, 10).await.unwrap().is_empty());
    assert!(store.attempts_created(at + 86_400_000, i64::MAX, 10).await.unwrap().is_empty());
    assert_eq!(store.attempts_created(0, i64::MAX, 1).await.unwrap().len(), 1, "the limit");
}

// --- SQLite ---------------------------------------------------------------------------------

fn sqlite(dir: &tempfile::TempDir, clock: Clock) -> Opener {
    let path = dir.path().to_path_buf();
    Box::new(move || {
        let (path, clock) = (path.clone(), clock.clone());
        Box::pin(async move { Arc::new(SqliteStore::open(&path).unwrap().with_clock(clock)) as Arc<dyn Store> })
    })
}

// --- PostgreSQL -----------------------------------------------------------------------------

use crate::common;

use common::{TestDatabase, create_database, drop_database};

fn postgres(db: &TestDatabase, clock: Clock) -> Opener {
    let url = db.url.clone();
    Box::new(move || {
        let (url, clock) = (url.clone(), clock.clone());
        Box::pin(
            async move { Arc::new(PostgresStore::connect(&url).await.unwrap().with_clock(clock)) as Arc<dyn Store> },
        )
    })
}

/// Each check, once per store: those of `system` on the system's clock, those of `manual` on a
/// manual clock the check is given to move (the store's job queue reads it).
macro_rules! conformance {
    (system: [$($check:ident),* $(,)?], manual: [$($clocked:ident),* $(,)?] $(,)?) => {
        mod sqlite_store {
            $(
                #[tokio::test]
                async fn $check() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$check(super::sqlite(&dir, super::Clock::System)).await;
                }
            )*
            $(
                #[tokio::test]
                async fn $clocked() {
                    let dir = tempfile::tempdir().unwrap();
                    let clock = super::ManualClock::new();
                    super::$clocked(super::sqlite(&dir, clock.clone().into()), clock).await;
                }
            )*
        }
        mod postgres_store {
            $(
                #[tokio::test]
                async fn $check() {
                    let db = super::create_database().await;
                    super::$check(super::postgres(&db, super::Clock::System)).await;
                    super::drop_database(db).await;
                }
            )*
            $(
                #[tokio::test]
                async fn $clocked() {
                    let db = super::create_database().await;
                    let clock = super::ManualClock::new();
                    super::$clocked(super::postgres(&db, clock.clone().into()), clock).await;
                    super::drop_database(db).await;
                }
            )*
        }
    };
}

conformance!(
    system: [
    both_stores_refuse_the_same_new_request_plans,
    a_new_requests_attempt_keeps_its_own_number,
    a_new_requests_repeated_job_is_stored_once,
    submit_is_idempotent_on_its_key,
    concurrent_submits_each_get_their_own_reference,
    languages_and_requests_survive_reopening,
    session_end_notifications_are_recorded_once,
    submit_writes_request_attempt_and_job_together,
    claims_are_exclusive_and_leases_fence,
    results_apply_once_and_never_overwrite_success,
    a_receipt_fills_a_paid_attempt_once_and_never_overwrites,
    failing_jobs_are_dead_lettered_and_can_be_retried,
    sms_are_kept_with_their_request,
    shared_tokens_are_kept_and_replaced,
    inbound_sms_are_recorded_once_with_their_reply,
    delivery_reports_are_final_once_and_resend_once,
    refusals_at_sending_are_failed_for_good,
    replies_whose_send_job_died_are_failed_for_good,
    search_misses_are_counted_per_day_and_term,
    recent_services_and_uses,
    stats_add_up,
    retention_purges_only_finished_personal_data,
    retention_purges_in_batches,
    attempts_created_reads_a_day_with_its_requests,
    ],
    manual: [jobs_are_claimed_in_the_order_they_became_due, the_backlog_counts_what_waits],
);

/// The jobs of a long backlog: `n` deliveries of one request, due at 1..=n ms.
const BACKLOG_JOBS: &str = "INSERT INTO jobs (key, kind, request_id, data, state, run_at, max_failures, created_at, \
     updated_at) SELECT 'backlog:' || g, 'deliver', $1, '', 'ready', g, 3, 0, 0 FROM generate_series(1, $2) g";

/// #15: a claim reads what it takes, not the backlog. After a database restart the soak run
/// left 60,000 jobs waiting, and a claim that sorted them all (38 ms for 32) slowed the
/// dispatcher when it had most to do. With 20,000 due, no step of the claim's plan may handle
/// more rows than a few claims' worth, and the claim takes the 32 due longest.
#[tokio::test]
async fn postgres_claim_reads_what_it_takes_not_the_backlog() {
    let db = create_database().await;
    let store = PostgresStore::connect(&db.url).await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let reference = store.submit(request("backlog")).await.unwrap().reference;
    let id = store.request(&reference).await.unwrap().unwrap().id;
    let client = common::pg_client(&db.url).await;
    client.execute(BACKLOG_JOBS, &[&id, &20_000i32]).await.unwrap();
    client.batch_execute("ANALYZE jobs").await.unwrap();
    // EXPLAIN takes no parameters through the simple protocol, which returns its JSON as text:
    // the claim's are written in (worker, lease, now, limit).
    let claim = njia::store::postgres::CLAIM_JOBS
        .replace("$1", "'w'")
        .replace("$2", &i64::MAX.to_string())
        .replace("$3", &i64::MAX.to_string())
        .replace("$4", "32");
    let explained =
        client.simple_query(&format!("BEGIN; EXPLAIN (ANALYZE, FORMAT JSON) {claim}; ROLLBACK")).await.unwrap();
    let text = explained
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap();
    let plan: serde_json::Value = serde_json::from_str(&text).unwrap();
    fn widest(node: &serde_json::Value) -> f64 {
        let own = node["Actual Rows"].as_f64().unwrap_or(0.0) * node["Actual Loops"].as_f64().unwrap_or(1.0);
        node["Plans"].as_array().into_iter().flatten().map(widest).fold(own, f64::max)
    }
    let widest = widest(&plan[0]["Plan"]);
    assert!(widest <= 4.0 * 32.0, "a claim of 32 handled {widest} rows in one step: {plan:#}");
    let claimed = store.claim_jobs("w", 32, 60_000).await.unwrap();
    assert_eq!(claimed.len(), 32);
    let ids: Vec<i64> = claimed.iter().map(|j| j.id).collect();
    let due: Vec<i64> = client
        .query("SELECT run_at FROM jobs WHERE id = ANY($1) ORDER BY run_at", &[&ids])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // The request's own jobs came first (due at submit, 0 ms), then the backlog's oldest.
    assert!(due.iter().all(|&t| t <= 32), "not the 32 due longest: {due:?}");
    drop_database(db).await;
}

/// #15: SQLite's claim reads what it takes, not the backlog: its virtual machine steps, with
/// 20,000 jobs due, are a few claims' worth (merging first and sorting took over 100,000).
#[tokio::test]
async fn sqlite_claim_reads_what_it_takes_not_the_backlog() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
        store.submit(request("backlog")).await.unwrap();
    }
    let conn = rusqlite::Connection::open(dir.path().join("njia.sqlite3")).unwrap();
    let id: i64 = conn.query_row("SELECT id FROM requests", [], |r| r.get(0)).unwrap();
    conn.execute(
        "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?2) \
         INSERT INTO jobs (key, kind, request_id, data, state, run_at, max_failures, created_at, updated_at) \
         SELECT 'backlog:' || n, 'deliver', ?1, '', 'ready', n, 3, 0, 0 FROM g",
        rusqlite::params![id, 20_000],
    )
    .unwrap();
    conn.execute_batch("ANALYZE").unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    let mut claim = tx.prepare(njia::store::sqlite::CLAIM_JOBS).unwrap();
    let taken: Vec<i64> = claim
        .query_map(rusqlite::params!["w", i64::MAX, i64::MAX, 32], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let steps = claim.get_status(rusqlite::StatementStatus::VmStep);
    assert_eq!(taken.len(), 32);
    assert!(steps < 20_000, "a claim of 32 took {steps} steps of SQLite's machine over a backlog of 20,000");
}

/// A database from before the SMS channel keeps its jobs through the migration that lets a job
/// carry no request (SQLite rebuilds the jobs table to drop the NOT NULL).
#[tokio::test]
async fn sqlite_migration_keeps_existing_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("njia.sqlite3");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in [
            include_str!("../../migrations/sqlite/0001_init.sql"),
            include_str!("../../migrations/sqlite/0002_handoff.sql"),
            include_str!("../../migrations/sqlite/0003_shared_tokens.sql"),
        ] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO requests (id, reference, idempotency_key, menu, service, msisdn, locale, fields, status, \
             created_at) VALUES (1, 'NJ-22222', 'k', 'ecitizen', 'land-rates', 254711000111, 'sw', '{}', 'fulfilling', 0);
             INSERT INTO jobs (key, kind, request_id, data, state, run_at, max_failures, created_at, updated_at) \
             VALUES ('deliver:1:1', 'deliver', 1, '', 'ready', 0, 3, 0, 0);
             PRAGMA user_version = 3;",
        )
        .unwrap();
    }
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let jobs = store.claim_jobs("w", 10, 60_000).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!((jobs[0].kind, jobs[0].request_id, jobs[0].sms_id), (JobKind::Deliver, Some(1), None));
}

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
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres")).unwrap().count();
    assert_eq!(n, files as i64, "each migration is recorded once");
    drop(client);
    drop_database(db).await;
}

/// What the administration commands open: an existing store, never a new one.
#[tokio::test]
async fn only_an_existing_store_is_opened_for_administration() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for missing in [dir.path().to_path_buf(), data.clone()] {
        match SqliteStore::open_existing(&missing) {
            Err(StoreError::Missing(place)) => assert!(place.contains(&missing.display().to_string()), "{place}"),
            other => panic!("{}: {:?}", missing.display(), other.err()),
        }
    }
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing was created");
    let s = SqliteStore::open(&data).unwrap().submit(request("existing")).await.unwrap();
    let store = SqliteStore::open_existing(&data).unwrap();
    assert!(store.request(&s.reference).await.unwrap().is_some());

    let db = create_database().await;
    let absent = db.url.rsplit_once('/').map(|(base, _)| format!("{base}/njia_no_such_database")).unwrap();
    for url in [&db.url, &absent] {
        match PostgresStore::connect_existing(url).await {
            Err(StoreError::Missing(place)) => assert!(!place.contains("postgres://"), "no URL, no password: {place}"),
            other => panic!("{url}: {:?}", other.err()),
        }
    }
    let client = common::pg_client(&db.url).await;
    let tables: i64 =
        client.query_one("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", &[]).await.unwrap().get(0);
    assert_eq!(tables, 0, "nothing was created");
    drop(client);
    let s = PostgresStore::connect(&db.url).await.unwrap().submit(request("existing")).await.unwrap();
    let store = PostgresStore::connect_existing(&db.url).await.unwrap();
    assert!(store.request(&s.reference).await.unwrap().is_some());
    drop(store);
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

/// A language choice is a preference: SQLite remembers it at once and writes it within
/// `LANGUAGE_FLUSH` even when nothing else commits, and before its thread stops.
#[tokio::test]
async fn sqlite_writes_a_language_choice_behind_the_hop() {
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let phone = Msisdn::parse("0722000001").unwrap();
    let other = Msisdn::parse("0722000002").unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.language(phone).await.unwrap(), None);
    store.set_language(phone, Locale::parse("en").unwrap()).await.unwrap();
    assert_eq!(store.language(phone).await.unwrap(), Some(Locale::parse("en").unwrap()), "seen at once");
    let on_disk = |p: Msisdn| {
        let conn = rusqlite::Connection::open(dir.path().join("njia.sqlite3")).unwrap();
        conn.query_row("SELECT locale FROM profiles WHERE msisdn = ?1", [p.as_u64() as i64], |r| r.get::<_, String>(0))
            .ok()
    };
    let started = Instant::now();
    while on_disk(phone).is_none() {
        assert!(started.elapsed() < Duration::from_secs(5), "the choice never reached the file");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(on_disk(phone).as_deref(), Some("en"));
    // Stopping the store writes what is still waiting.
    store.set_language(other, Locale::parse("sw").unwrap()).await.unwrap();
    drop(store);
    let started = Instant::now();
    while on_disk(other).is_none() {
        assert!(started.elapsed() < Duration::from_secs(5), "a choice waiting at shutdown was lost");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A store opened on the file knows every profile without reading it again.
    let reopened = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(reopened.language(other).await.unwrap(), Some(Locale::parse("sw").unwrap()));
    assert_eq!(reopened.language(Msisdn::parse("0722000003").unwrap()).await.unwrap(), None);
}
