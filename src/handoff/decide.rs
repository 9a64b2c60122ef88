//! What each job's outcome means, decided without IO: the dispatcher reads the rows a job
//! names, asks whether there is anything to do (`*_due`, [`push_start`]), makes the one call
//! to the outside world, and hands its outcome to the matching `after_*`, which returns how
//! the job finishes and the [`Effects`] written with that end.
//!
//! Nothing here awaits, reads the clock or draws randomness: `now` and the backoff's `random`
//! are parameters, so every branch has a row in the table tests below.

use super::Policy;
use super::plan::FailReason;
use super::plan::{Notice, first_query};
use super::settle::{failed, settle};
use crate::agency::{DeliveredPayment, Delivery, DeliveryOutcome};
use crate::lifecycle::{AttemptStatus, RequestStatus};
use crate::payment::{PushOutcome, PushRequest, QueryOutcome};
use crate::sms::{OutgoingSms, SmsOutcome};
use crate::store::{
    AttemptChange, AttemptRow, ClaimedJob, Effects, JobFinish, RequestChange, RequestRow, SMS_QUEUED, SmsRecord,
    SmsRow, SmsSent,
};

/// How a job ends, and what is written with its end.
pub type Decision = (JobFinish, Option<Effects>);

/// An attempt's move from any of `from` to `to`, changing nothing else.
fn moved(attempt: &AttemptRow, from: &[AttemptStatus], to: AttemptStatus) -> AttemptChange {
    AttemptChange::moved(attempt.id, from, to)
}

/// The run of a job a decision is about: the job as claimed, the policy, the time of the run
/// and the randomness of its backoff (drawn by the caller, in `[0, 1]`).
#[derive(Clone, Copy, Debug)]
pub struct Run<'a> {
    pub job: &'a ClaimedJob,
    pub policy: &'a Policy,
    pub now: i64,
    pub random: f64,
}

impl Run<'_> {
    /// The run failed: try again after the job's backoff.
    pub fn retry(&self, error: String) -> JobFinish {
        JobFinish::Retry { error, run_at_ms: self.policy.retry_at(self.job.failures, self.now, self.random) }
    }
}

/// What a push job does before any call, given its attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushStart {
    /// A created attempt: write this claim (`created -> pushing`), committed before the HTTP
    /// call, and push only if it was applied. This is what makes a push happen at most once.
    Claim(Effects),
    /// A run died between claiming the attempt and recording the answer: the push may have
    /// gone out. Never pushed again: the job ends with these effects (the attempt's outcome
    /// is unknown; a query, and later the citizen's notice, are planned).
    Interrupted(Effects),
    /// The attempt has moved on (pushed, settled): nothing to do.
    Nothing,
}

/// Decides how a push job starts from its attempt's status.
pub fn push_start(attempt: &AttemptRow, policy: &Policy, now: i64) -> PushStart {
    match attempt.status {
        AttemptStatus::Created => PushStart::Claim(Effects {
            request_id: attempt.request_id,
            attempt: Some(moved(attempt, &[AttemptStatus::Created], AttemptStatus::Pushing)),
            ..Effects::default()
        }),
        AttemptStatus::Pushing => PushStart::Interrupted(maybe_pushed(attempt, None, policy, now)),
        _ => PushStart::Nothing,
    }
}

/// A push that may have gone out, though no answer says so (its run died, or its answer was
/// lost): the attempt's outcome is unknown, it is never pushed again, and a query and, later,
/// the citizen's notice are planned. `detail` says why, when known.
fn maybe_pushed(attempt: &AttemptRow, detail: Option<String>, policy: &Policy, now: i64) -> Effects {
    let mut change = moved(attempt, &[AttemptStatus::Pushing], AttemptStatus::PushUnknown);
    change.result_desc = detail;
    Effects {
        request_id: attempt.request_id,
        attempt: Some(change),
        jobs: vec![first_query(attempt, policy, now), Notice::push_unknown(policy, attempt.seq, now)],
        ..Effects::default()
    }
}

/// The STK push of an attempt: its amount to its number, under the request's account (the
/// reference when the service names none); `None` when the number was purged.
pub fn push_request(attempt: &AttemptRow, request: &RequestRow) -> Option<PushRequest> {
    let account = request.payment.as_ref().map(|p| p.1.clone()).unwrap_or_else(|| request.reference.to_string());
    Some(PushRequest {
        phone: attempt.msisdn?,
        amount_kes: attempt.amount_kes,
        account_reference: account,
        description: request.reference.to_string(),
        callback_token: attempt.token.clone(),
    })
}

/// Decides what a push's outcome means for its attempt (claimed, so in `pushing`).
pub fn after_push(attempt: &AttemptRow, outcome: PushOutcome, run: Run<'_>) -> Decision {
    let Run { job, policy, now, .. } = run;
    let back_to_created = || Effects {
        request_id: attempt.request_id,
        attempt: Some(moved(attempt, &[AttemptStatus::Pushing], AttemptStatus::Created)),
        ..Effects::default()
    };
    match outcome {
        // Pushed: the callback or the first query settles it.
        PushOutcome::Accepted { checkout_request_id, merchant_request_id } => {
            let mut change = moved(attempt, &[AttemptStatus::Pushing], AttemptStatus::PushSent);
            change.checkout_request_id = Some(checkout_request_id);
            change.merchant_request_id = Some(merchant_request_id);
            let e = Effects {
                request_id: attempt.request_id,
                attempt: Some(change),
                jobs: vec![first_query(attempt, policy, now)],
                ..Effects::default()
            };
            (JobFinish::Done, Some(e))
        }
        PushOutcome::Unknown { detail } => (JobFinish::Done, Some(maybe_pushed(attempt, Some(detail), policy, now))),
        // Certainly not accepted: pushed again after a backoff, but only a few times: the
        // citizen is waiting for the prompt, and a prompt an hour late is worse than an SMS
        // saying to try again.
        PushOutcome::Throttled { .. } | PushOutcome::NotSent { .. } if job.failures + 1 >= policy.push_retries => {
            let detail = format!("not accepted after {} tries: {outcome:?}", job.failures + 1);
            (JobFinish::Done, Some(failed(attempt, FailReason::Refused, None, &detail, policy, now)))
        }
        PushOutcome::Throttled { code, message } => (run.retry(format!("{code} {message}")), Some(back_to_created())),
        PushOutcome::NotSent { detail } => (run.retry(detail), Some(back_to_created())),
        PushOutcome::SubscriberBusy { message } => {
            // The phone is still in a USSD dialogue (or another push): as result 1001.
            let mut pushing = attempt.clone();
            pushing.status = AttemptStatus::Pushing;
            (JobFinish::Done, Some(settle(&pushing, 1001, &message, None, policy, now)))
        }
        PushOutcome::Rejected { code, message } => (
            JobFinish::Done,
            Some(failed(attempt, FailReason::Refused, None, &format!("{code} {message}"), policy, now)),
        ),
    }
}

/// The statuses of an attempt pushed (or maybe pushed) and not settled yet: what a query asks
/// about.
const QUERIED: [AttemptStatus; 3] = [AttemptStatus::PushSent, AttemptStatus::PushUnknown, AttemptStatus::Pushing];

/// Whether a query job has anything to settle: an attempt pushed (or maybe pushed) and not
/// settled yet.
pub fn query_due(attempt: &AttemptRow) -> bool {
    QUERIED.contains(&attempt.status)
}

/// Decides what a status query's answer means; `outcome` is `None` when the attempt has no
/// checkout id to query (its push's answer was lost: only its callback can settle it). A
/// final result settles the attempt; anything else asks again on the query schedule, and
/// after its last delay the payment is `unknown` for an administrator and the citizen is told.
pub fn after_query(attempt: &AttemptRow, outcome: Option<QueryOutcome>, run: Run<'_>) -> Decision {
    let Run { job, policy, now, .. } = run;
    let note = match outcome {
        Some(QueryOutcome::Final { result_code, result_desc }) => {
            return (JobFinish::Done, Some(settle(attempt, result_code, &result_desc, None, policy, now)));
        }
        Some(QueryOutcome::Failed { detail }) => detail,
        Some(QueryOutcome::Pending) => "pending".to_owned(),
        None => "no checkout id to query; waiting for the callback".to_owned(),
    };
    // `tries` counts this run: the next delay is the one after the delay that led here.
    if let Some(delay) = policy.query_delays_ms.get(job.tries as usize) {
        return (JobFinish::Later { note, run_at_ms: now + delay }, None);
    }
    let e = Effects {
        request_id: attempt.request_id,
        attempt: Some(AttemptChange {
            result_desc: Some(format!("not settled after {} queries: {note}", job.tries)),
            ..moved(attempt, &QUERIED, AttemptStatus::Unknown)
        }),
        request: Some(RequestChange {
            from: vec![RequestStatus::PaymentPending],
            to: vec![(RequestStatus::PaymentUnknown, Some(note))],
            refund_review: false,
        }),
        jobs: vec![Notice::PaymentUnknown.job(policy, now)],
        ..Effects::default()
    };
    (JobFinish::Done, Some(e))
}

/// Whether a deliver job has anything to deliver: the request is still being fulfilled.
pub fn deliver_due(request: &RequestRow) -> bool {
    RequestStatus::parse(&request.status) == Some(RequestStatus::Fulfilling)
}

/// What the agency receives for a request, with its payment when one was made; `None` when
/// the request's personal data was purged.
pub fn delivery(request: &RequestRow, paid: Option<&AttemptRow>) -> Option<Delivery> {
    Some(Delivery {
        reference: request.reference.to_string(),
        service: request.service.clone(),
        msisdn: request.msisdn?.digits(),
        language: request.locale.clone(),
        submitted_at_ms: request.created_at_ms,
        fields: request.fields.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect(),
        payment: paid.map(|a| DeliveredPayment {
            provider: a.provider.clone(),
            amount_kes: a.amount_kes,
            receipt: a.receipt.clone(),
        }),
    })
}

/// Decides what the agency's answer means for request `request_id` (`paid` when the citizen
/// paid for it): fulfilled or rejected with the citizen's SMS, or another try later; the last
/// try before the dead letters tells the citizen, who may have paid, that it is delayed.
pub fn after_deliver(request_id: i64, paid: bool, outcome: DeliveryOutcome, run: Run<'_>) -> Decision {
    let Run { job, policy, now, .. } = run;
    match outcome {
        DeliveryOutcome::Accepted { agency_reference } => {
            let e = Effects {
                request_id,
                request: Some(RequestChange {
                    from: vec![RequestStatus::Fulfilling],
                    to: vec![(RequestStatus::Fulfilled, agency_reference)],
                    refund_review: false,
                }),
                jobs: vec![Notice::Fulfilled.job(policy, now)],
                ..Effects::default()
            };
            (JobFinish::Done, Some(e))
        }
        DeliveryOutcome::Rejected { status, reason } => {
            let e = Effects {
                request_id,
                request: Some(RequestChange {
                    from: vec![RequestStatus::Fulfilling],
                    to: vec![(RequestStatus::Rejected, Some(format!("HTTP {status}: {reason}")))],
                    // Paid for a service that will not be given: never silent.
                    refund_review: paid,
                }),
                jobs: vec![Notice::Rejected.job(policy, now)],
                ..Effects::default()
            };
            (JobFinish::Done, Some(e))
        }
        // An administrator replays a dead delivery (`njia jobs retry`).
        DeliveryOutcome::Retry { detail } if job.failures + 1 >= job.max_failures => {
            let e = Effects { request_id, jobs: vec![Notice::Delayed.job(policy, now)], ..Effects::default() };
            (JobFinish::Dead { error: detail }, Some(e))
        }
        DeliveryOutcome::Retry { detail } => (run.retry(detail), None),
    }
}

/// Whether a notice is still worth sending: the unknown-push notice is for a payment still
/// unsettled when it comes due (a callback or query that settled it meanwhile sent its own
/// SMS); every other notice always is.
pub fn notice_due(notice: Notice, request: &RequestRow) -> bool {
    notice != Notice::PushUnknown || RequestStatus::parse(&request.status) == Some(RequestStatus::PaymentPending)
}

/// Decides what the SMS sender's answer to a notice means: the SMS is recorded as the sender
/// took it (and the request, if the notice closes it, is notified), recorded as failed with
/// the job dead when the sender refused it for good, or sent again after the backoff.
/// `sender` is the sender's name kept with the SMS.
pub fn after_notify(
    request: &RequestRow,
    notice: Notice,
    sms: &OutgoingSms,
    sender: &str,
    outcome: SmsOutcome,
    run: Run<'_>,
) -> Decision {
    let record = |status: String, provider_id: Option<String>| SmsRecord {
        msisdn: Some(sms.to),
        locale: request.locale.clone(),
        text: sms.text.clone(),
        segments: sms.segments(),
        sender: sender.to_owned(),
        status,
        provider_id,
    };
    // The final statuses a notice closes; an unknown payment stays open for an administrator
    // even after the citizen was told.
    let closes = match notice {
        Notice::Fulfilled => Some(RequestStatus::Fulfilled),
        Notice::Rejected => Some(RequestStatus::Rejected),
        Notice::PaymentFailed(_) => Some(RequestStatus::PaymentFailed),
        Notice::PaymentUnknown | Notice::PushUnknown | Notice::Delayed => None,
    };
    match outcome {
        SmsOutcome::Accepted { provider_id, status } => {
            let e = Effects {
                request_id: request.id,
                request: closes.map(|from| RequestChange {
                    from: vec![from],
                    to: vec![(RequestStatus::Notified, None)],
                    refund_review: false,
                }),
                sms: Some(record(status, provider_id)),
                ..Effects::default()
            };
            (JobFinish::Done, Some(e))
        }
        SmsOutcome::Failed { permanent: true, detail } => {
            let e = Effects {
                request_id: request.id,
                sms: Some(record(format!("failed: {detail}"), None)),
                ..Effects::default()
            };
            (JobFinish::Dead { error: detail }, Some(e))
        }
        SmsOutcome::Failed { permanent: false, detail } => (run.retry(detail), None),
    }
}

/// Whether a send job has anything to send: the SMS is still queued (a run before this one
/// may have got as far as recording it sent).
pub fn send_due(row: &SmsRow) -> bool {
    row.record.status == SMS_QUEUED
}

/// Decides what the SMS sender's answer to a queued SMS means: recorded as sent, or as
/// failed for good (nothing to retry: `njia sms list --failed` shows it), or sent again after
/// the backoff. The write holds only while the SMS is still queued.
pub fn after_send(row: &SmsRow, sender: &str, outcome: SmsOutcome, run: Run<'_>) -> Decision {
    let sent = |status: String, provider_id: Option<String>, failed: Option<String>| Effects {
        request_id: row.request_id.unwrap_or_default(),
        sms_sent: Some(SmsSent { id: row.id, sender: sender.to_owned(), status, provider_id, failed }),
        ..Effects::default()
    };
    match outcome {
        SmsOutcome::Accepted { provider_id, status } => (JobFinish::Done, Some(sent(status, provider_id, None))),
        SmsOutcome::Failed { permanent: true, detail } => {
            (JobFinish::Done, Some(sent(String::new(), None, Some(detail))))
        }
        SmsOutcome::Failed { permanent: false, detail } => (run.retry(detail), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::fixtures::{attempt as attempt_row, citizen};
    use crate::lifecycle::JobKind;
    use crate::store::{JobAttempt, NewAttempt, NewJob};
    use crate::types::Reference;

    const NOW: i64 = 1_000_000;
    /// The backoff's randomness in every row: half of the full-jitter ceiling.
    const HALF: f64 = 0.5;

    fn policy() -> Policy {
        Policy {
            busy_retry_ms: 60_000,
            max_payment_attempts: 2,
            push_retries: 4,
            query_delays_ms: vec![45_000, 90_000],
            max_failures: 5,
            backoff_base_ms: 1_000,
            backoff_cap_ms: 60_000,
            unknown_notice_ms: 120_000,
            ..Policy::default()
        }
    }

    fn attempt(status: AttemptStatus, seq: u32) -> AttemptRow {
        attempt_row(status, seq, Some("ws_CO_1"))
    }

    fn request(status: RequestStatus) -> RequestRow {
        RequestRow {
            id: 3,
            reference: Reference::parse("NJ-7K2QX").expect("a reference"),
            menu: "ecitizen".into(),
            service: "land-rates".into(),
            msisdn: Some(citizen()),
            locale: "sw".into(),
            fields: vec![("parcel".into(), "KAJIADO/1234".into())],
            payment: Some(("4500".into(), "KAJIADO/1234".into())),
            status: status.as_str().into(),
            refund_review: false,
            created_at_ms: 5,
            purged_at_ms: None,
        }
    }

    fn claimed(kind: JobKind, tries: u32, failures: u32) -> ClaimedJob {
        ClaimedJob {
            id: 11,
            kind,
            request_id: Some(3),
            attempt_id: Some(7),
            sms_id: None,
            data: String::new(),
            tries,
            failures,
            max_failures: 5,
            worker: "w".into(),
        }
    }

    fn new_job(kind: JobKind, discriminator: &str, attempt: JobAttempt, run_at_ms: i64, data: &str) -> NewJob {
        NewJob { kind, discriminator: discriminator.into(), attempt, run_at_ms, max_failures: 5, data: data.into() }
    }

    fn query_job() -> NewJob {
        new_job(JobKind::Query, "1", JobAttempt::Id(7), NOW + 45_000, "")
    }

    fn notify_job(discriminator: &str, run_at_ms: i64, data: &str) -> NewJob {
        new_job(JobKind::Notify, discriminator, JobAttempt::None, run_at_ms, data)
    }

    fn change(from: &[AttemptStatus], to: AttemptStatus) -> AttemptChange {
        AttemptChange::moved(7, from, to)
    }

    fn request_change(from: &[RequestStatus], to: RequestStatus, note: Option<&str>, refund: bool) -> RequestChange {
        RequestChange { from: from.to_vec(), to: vec![(to, note.map(str::to_owned))], refund_review: refund }
    }

    const PENDING: [RequestStatus; 2] = [RequestStatus::PaymentPending, RequestStatus::PaymentUnknown];

    /// The payment failed for `reason` (as written in the notice), with the citizen's SMS.
    fn payment_failed(reason: &str, code: Option<i64>, desc: &str) -> Effects {
        Effects {
            request_id: 3,
            attempt: Some(AttemptChange {
                result_code: code,
                result_desc: Some(desc.into()),
                ..change(&AttemptStatus::OPEN, AttemptStatus::Failed)
            }),
            request: Some(request_change(
                &PENDING,
                RequestStatus::PaymentFailed,
                Some(&format!("{reason}: {desc}")),
                false,
            )),
            jobs: vec![notify_job("payment_failed", NOW, &format!("payment_failed:{reason}"))],
            ..Effects::default()
        }
    }

    #[test]
    fn a_push_starts_only_from_a_created_attempt() {
        let p = policy();
        let claim = Effects {
            request_id: 3,
            attempt: Some(change(&[AttemptStatus::Created], AttemptStatus::Pushing)),
            ..Effects::default()
        };
        let interrupted = Effects {
            request_id: 3,
            attempt: Some(change(&[AttemptStatus::Pushing], AttemptStatus::PushUnknown)),
            jobs: vec![query_job(), notify_job("push_unknown:1", NOW + 120_000, "push_unknown")],
            ..Effects::default()
        };
        for (status, expected) in [
            (AttemptStatus::Created, PushStart::Claim(claim)),
            (AttemptStatus::Pushing, PushStart::Interrupted(interrupted)),
            (AttemptStatus::PushSent, PushStart::Nothing),
            (AttemptStatus::PushUnknown, PushStart::Nothing),
            (AttemptStatus::Paid, PushStart::Nothing),
            (AttemptStatus::Failed, PushStart::Nothing),
            (AttemptStatus::Held, PushStart::Nothing),
            (AttemptStatus::Unknown, PushStart::Nothing),
        ] {
            assert_eq!(push_start(&attempt(status, 1), &p, NOW), expected, "{status:?}");
        }
    }

    #[test]
    fn a_push_asks_for_the_amount_under_the_account_or_the_reference() {
        let a = attempt(AttemptStatus::Created, 1);
        let with_account = push_request(&a, &request(RequestStatus::PaymentPending)).expect("a number");
        assert_eq!(
            with_account,
            PushRequest {
                phone: citizen(),
                amount_kes: 4500,
                account_reference: "KAJIADO/1234".into(),
                description: "NJ-7K2QX".into(),
                callback_token: "token".into(),
            }
        );
        let without = push_request(&a, &RequestRow { payment: None, ..request(RequestStatus::PaymentPending) })
            .expect("a number");
        assert_eq!(
            push_request(&AttemptRow { msisdn: None, ..a.clone() }, &request(RequestStatus::PaymentPending)),
            None
        );
        assert_eq!(without.account_reference, "NJ-7K2QX");
    }

    #[test]
    fn every_push_outcome() {
        let p = policy();
        let sent = Effects {
            request_id: 3,
            attempt: Some(AttemptChange {
                checkout_request_id: Some("ws_CO_2".into()),
                merchant_request_id: Some("m-2".into()),
                ..change(&[AttemptStatus::Pushing], AttemptStatus::PushSent)
            }),
            jobs: vec![query_job()],
            ..Effects::default()
        };
        let unknown = Effects {
            request_id: 3,
            attempt: Some(AttemptChange {
                result_desc: Some("timed out".into()),
                ..change(&[AttemptStatus::Pushing], AttemptStatus::PushUnknown)
            }),
            jobs: vec![query_job(), notify_job("push_unknown:1", NOW + 120_000, "push_unknown")],
            ..Effects::default()
        };
        let back_to_created = Effects {
            request_id: 3,
            attempt: Some(change(&[AttemptStatus::Pushing], AttemptStatus::Created)),
            ..Effects::default()
        };
        let busy_again = Effects {
            request_id: 3,
            attempt: Some(AttemptChange {
                result_code: Some(1001),
                result_desc: Some("locked".into()),
                ..change(&AttemptStatus::OPEN, AttemptStatus::Failed)
            }),
            new_attempt: Some(NewAttempt { provider: "mpesa".into(), msisdn: citizen(), amount_kes: 4500 }),
            jobs: vec![new_job(JobKind::Push, "2", JobAttempt::New, NOW + 60_000, "")],
            ..Effects::default()
        };
        let throttled = || PushOutcome::Throttled { code: "500.003.02".into(), message: "spike arrest".into() };
        let not_sent = || PushOutcome::NotSent { detail: "connection refused".into() };
        let busy = || PushOutcome::SubscriberBusy { message: "locked".into() };
        let rows: Vec<(&str, PushOutcome, u32, u32, Decision)> = vec![
            (
                "accepted: the callback or the first query settles it",
                PushOutcome::Accepted { checkout_request_id: "ws_CO_2".into(), merchant_request_id: "m-2".into() },
                1,
                0,
                (JobFinish::Done, Some(sent)),
            ),
            (
                "unknown: never pushed again, queried, and the citizen told in a while",
                PushOutcome::Unknown { detail: "timed out".into() },
                1,
                0,
                (JobFinish::Done, Some(unknown)),
            ),
            (
                "throttled: back to created, again after the backoff",
                throttled(),
                1,
                0,
                (
                    JobFinish::Retry { error: "500.003.02 spike arrest".into(), run_at_ms: NOW + 500 },
                    Some(back_to_created.clone()),
                ),
            ),
            (
                "not sent: back to created, again after a longer backoff",
                not_sent(),
                1,
                2,
                (
                    JobFinish::Retry { error: "connection refused".into(), run_at_ms: NOW + 2_000 },
                    Some(back_to_created),
                ),
            ),
            (
                "throttled on the last try: the payment fails with an SMS",
                throttled(),
                1,
                3,
                (
                    JobFinish::Done,
                    Some(payment_failed(
                        "refused",
                        None,
                        "not accepted after 4 tries: Throttled { code: \"500.003.02\", message: \"spike arrest\" }",
                    )),
                ),
            ),
            (
                "not sent on the last try: the payment fails with an SMS",
                not_sent(),
                1,
                3,
                (
                    JobFinish::Done,
                    Some(payment_failed(
                        "refused",
                        None,
                        "not accepted after 4 tries: NotSent { detail: \"connection refused\" }",
                    )),
                ),
            ),
            ("subscriber busy: a new attempt a minute later", busy(), 1, 0, (JobFinish::Done, Some(busy_again))),
            (
                "subscriber busy on the last attempt: the payment fails",
                busy(),
                2,
                0,
                (JobFinish::Done, Some(payment_failed("busy", Some(1001), "locked"))),
            ),
            (
                "rejected: the payment fails at once",
                PushOutcome::Rejected { code: "400.002.02".into(), message: "Invalid Amount".into() },
                1,
                0,
                (JobFinish::Done, Some(payment_failed("refused", None, "400.002.02 Invalid Amount"))),
            ),
        ];
        for (why, outcome, seq, failures, expected) in rows {
            let job = claimed(JobKind::Push, failures + 1, failures);
            let run = Run { job: &job, policy: &p, now: NOW, random: HALF };
            assert_eq!(after_push(&attempt(AttemptStatus::Created, seq), outcome, run), expected, "{why}");
        }
    }

    #[test]
    fn a_query_runs_only_for_an_unsettled_push() {
        for (status, due) in [
            (AttemptStatus::Created, false),
            (AttemptStatus::Pushing, true),
            (AttemptStatus::PushSent, true),
            (AttemptStatus::PushUnknown, true),
            (AttemptStatus::Paid, false),
            (AttemptStatus::Failed, false),
            (AttemptStatus::Held, false),
            (AttemptStatus::Unknown, false),
        ] {
            assert_eq!(query_due(&attempt(status, 1)), due, "{status:?}");
        }
    }

    #[test]
    fn every_query_outcome() {
        let p = policy();
        let paid = Effects {
            request_id: 3,
            attempt: Some(AttemptChange {
                result_code: Some(0),
                result_desc: Some("ok".into()),
                ..change(&AttemptStatus::OPEN, AttemptStatus::Paid)
            }),
            request: Some(RequestChange {
                from: PENDING.to_vec(),
                to: vec![(RequestStatus::Paid, None), (RequestStatus::Fulfilling, None)],
                refund_review: false,
            }),
            jobs: vec![new_job(JobKind::Deliver, "1", JobAttempt::None, NOW, "")],
            ..Effects::default()
        };
        let unknown = |note: &str| Effects {
            request_id: 3,
            attempt: Some(AttemptChange {
                result_desc: Some(format!("not settled after 2 queries: {note}")),
                ..change(
                    &[AttemptStatus::PushSent, AttemptStatus::PushUnknown, AttemptStatus::Pushing],
                    AttemptStatus::Unknown,
                )
            }),
            request: Some(request_change(
                &[RequestStatus::PaymentPending],
                RequestStatus::PaymentUnknown,
                Some(note),
                false,
            )),
            jobs: vec![notify_job("payment_unknown", NOW, "payment_unknown")],
            ..Effects::default()
        };
        let pending = || Some(QueryOutcome::Pending);
        let failed_query = || Some(QueryOutcome::Failed { detail: "503".into() });
        let no_id = "no checkout id to query; waiting for the callback";
        let later = |note: &str, delay: i64| (JobFinish::Later { note: note.into(), run_at_ms: NOW + delay }, None);
        let rows: Vec<(&str, Option<QueryOutcome>, u32, Decision)> = vec![
            (
                "paid: delivered now",
                Some(QueryOutcome::Final { result_code: 0, result_desc: "ok".into() }),
                1,
                (JobFinish::Done, Some(paid)),
            ),
            (
                "cancelled: the payment fails with an SMS",
                Some(QueryOutcome::Final { result_code: 1032, result_desc: "cancelled by user".into() }),
                1,
                (JobFinish::Done, Some(payment_failed("cancelled", Some(1032), "cancelled by user"))),
            ),
            ("pending: asked again after the next delay", pending(), 1, later("pending", 90_000)),
            ("a failed query: asked again", failed_query(), 1, later("503", 90_000)),
            ("no checkout id: waits for the callback", None, 1, later(no_id, 90_000)),
            ("the schedule's first run uses its first delay", pending(), 0, later("pending", 45_000)),
            ("pending after the last delay: unknown", pending(), 2, (JobFinish::Done, Some(unknown("pending")))),
            ("a failed last query: unknown", failed_query(), 2, (JobFinish::Done, Some(unknown("503")))),
            ("no checkout id after the last delay: unknown", None, 2, (JobFinish::Done, Some(unknown(no_id)))),
        ];
        for (why, outcome, tries, expected) in rows {
            let job = claimed(JobKind::Query, tries, 0);
            let run = Run { job: &job, policy: &p, now: NOW, random: HALF };
            assert_eq!(after_query(&attempt(AttemptStatus::PushSent, 1), outcome, run), expected, "{why}");
        }
    }

    #[test]
    fn a_delivery_carries_the_request_and_its_payment() {
        let r = request(RequestStatus::Fulfilling);
        let mut paid = attempt(AttemptStatus::Paid, 1);
        paid.receipt = Some("QK12345".into());
        let d = delivery(&r, Some(&paid)).expect("a number");
        assert_eq!(
            (d.reference.as_str(), d.service.as_str(), d.msisdn.as_str(), d.language.as_str(), d.submitted_at_ms),
            ("NJ-7K2QX", "land-rates", "254711000111", "sw", 5)
        );
        assert_eq!(d.fields.get("parcel"), Some(&serde_json::Value::String("KAJIADO/1234".into())));
        assert_eq!(
            d.payment,
            Some(DeliveredPayment { provider: "mpesa".into(), amount_kes: 4500, receipt: Some("QK12345".into()) })
        );
        assert_eq!(delivery(&r, None).expect("a number").payment, None);
        assert_eq!(delivery(&RequestRow { msisdn: None, ..r.clone() }, None), None, "a purged request");
    }

    #[test]
    fn only_a_request_being_fulfilled_is_delivered() {
        for status in RequestStatus::ALL {
            assert_eq!(deliver_due(&request(status)), status == RequestStatus::Fulfilling, "{status:?}");
        }
    }

    #[test]
    fn every_delivery_outcome() {
        let p = policy();
        let fulfilled = Effects {
            request_id: 3,
            request: Some(request_change(&[RequestStatus::Fulfilling], RequestStatus::Fulfilled, Some("AG-1"), false)),
            jobs: vec![notify_job("fulfilled", NOW, "fulfilled")],
            ..Effects::default()
        };
        let rejected = |refund: bool| Effects {
            request_id: 3,
            request: Some(request_change(
                &[RequestStatus::Fulfilling],
                RequestStatus::Rejected,
                Some("HTTP 422: no such parcel"),
                refund,
            )),
            jobs: vec![notify_job("rejected", NOW, "rejected")],
            ..Effects::default()
        };
        let delayed =
            Effects { request_id: 3, jobs: vec![notify_job("delayed", NOW, "delayed")], ..Effects::default() };
        let rejection = || DeliveryOutcome::Rejected { status: 422, reason: "no such parcel".into() };
        let down = || DeliveryOutcome::Retry { detail: "503".into() };
        let rows: Vec<(&str, DeliveryOutcome, bool, u32, Decision)> = vec![
            (
                "accepted: fulfilled, with the receipt",
                DeliveryOutcome::Accepted { agency_reference: Some("AG-1".into()) },
                true,
                0,
                (JobFinish::Done, Some(fulfilled)),
            ),
            (
                "rejected after a payment: flagged for a refund",
                rejection(),
                true,
                0,
                (JobFinish::Done, Some(rejected(true))),
            ),
            ("rejected, nothing paid: no refund", rejection(), false, 0, (JobFinish::Done, Some(rejected(false)))),
            (
                "agency down: again after the backoff",
                down(),
                true,
                1,
                (JobFinish::Retry { error: "503".into(), run_at_ms: NOW + 1_000 }, None),
            ),
            (
                "agency down on the last try: dead, and the citizen hears it is delayed",
                down(),
                true,
                4,
                (JobFinish::Dead { error: "503".into() }, Some(delayed)),
            ),
        ];
        for (why, outcome, paid, failures, expected) in rows {
            let job = claimed(JobKind::Deliver, failures + 1, failures);
            let run = Run { job: &job, policy: &p, now: NOW, random: HALF };
            assert_eq!(after_deliver(3, paid, outcome, run), expected, "{why}");
        }
    }

    #[test]
    fn the_unknown_push_notice_goes_only_while_the_payment_is_pending() {
        for status in RequestStatus::ALL {
            let r = request(status);
            assert_eq!(notice_due(Notice::PushUnknown, &r), status == RequestStatus::PaymentPending, "{status:?}");
            for notice in [
                Notice::Fulfilled,
                Notice::Rejected,
                Notice::PaymentFailed(FailReason::Cancelled),
                Notice::PaymentUnknown,
                Notice::Delayed,
            ] {
                assert!(notice_due(notice, &r), "{notice:?} {status:?}");
            }
        }
    }

    #[test]
    fn every_notify_outcome() {
        let p = policy();
        let sms = OutgoingSms { to: citizen(), text: "Ombi NJ-7K2QX limekamilika.".into(), from: None };
        let record = |status: &str, provider_id: Option<&str>| SmsRecord {
            msisdn: Some(citizen()),
            locale: "sw".into(),
            text: sms.text.clone(),
            segments: 1,
            sender: "africastalking".into(),
            status: status.into(),
            provider_id: provider_id.map(str::to_owned),
        };
        let accepted = || SmsOutcome::Accepted { provider_id: Some("ATX-1".into()), status: "Success".into() };
        let notified = |from: RequestStatus| Effects {
            request_id: 3,
            request: Some(request_change(&[from], RequestStatus::Notified, None, false)),
            sms: Some(record("Success", Some("ATX-1"))),
            ..Effects::default()
        };
        let told = Effects { request_id: 3, sms: Some(record("Success", Some("ATX-1"))), ..Effects::default() };
        let rows: Vec<(&str, Notice, SmsOutcome, u32, Decision)> = vec![
            (
                "a receipt closes a fulfilled request",
                Notice::Fulfilled,
                accepted(),
                0,
                (JobFinish::Done, Some(notified(RequestStatus::Fulfilled))),
            ),
            (
                "a rejection closes a rejected request",
                Notice::Rejected,
                accepted(),
                0,
                (JobFinish::Done, Some(notified(RequestStatus::Rejected))),
            ),
            (
                "a payment failure closes a failed payment",
                Notice::PaymentFailed(FailReason::WrongPin),
                accepted(),
                0,
                (JobFinish::Done, Some(notified(RequestStatus::PaymentFailed))),
            ),
            (
                "an unknown payment stays open for an administrator",
                Notice::PaymentUnknown,
                accepted(),
                0,
                (JobFinish::Done, Some(told.clone())),
            ),
            ("an unknown push stays open", Notice::PushUnknown, accepted(), 0, (JobFinish::Done, Some(told.clone()))),
            ("a delay stays open", Notice::Delayed, accepted(), 0, (JobFinish::Done, Some(told))),
            (
                "refused for good: recorded as failed, the job dead",
                Notice::Fulfilled,
                SmsOutcome::Failed { permanent: true, detail: "InvalidPhoneNumber".into() },
                0,
                (
                    JobFinish::Dead { error: "InvalidPhoneNumber".into() },
                    Some(Effects {
                        request_id: 3,
                        sms: Some(record("failed: InvalidPhoneNumber", None)),
                        ..Effects::default()
                    }),
                ),
            ),
            (
                "a failure that may pass: sent again after the backoff",
                Notice::Fulfilled,
                SmsOutcome::Failed { permanent: false, detail: "timeout".into() },
                2,
                (JobFinish::Retry { error: "timeout".into(), run_at_ms: NOW + 2_000 }, None),
            ),
        ];
        for (why, notice, outcome, failures, expected) in rows {
            let job = claimed(JobKind::Notify, failures + 1, failures);
            let run = Run { job: &job, policy: &p, now: NOW, random: HALF };
            let r = request(RequestStatus::Fulfilled);
            assert_eq!(after_notify(&r, notice, &sms, "africastalking", outcome, run), expected, "{why}");
        }
    }

    fn queued(request_id: Option<i64>, status: &str) -> SmsRow {
        SmsRow {
            id: 21,
            reference: None,
            record: SmsRecord {
                msisdn: Some(citizen()),
                locale: "sw".into(),
                text: "Jibu".into(),
                segments: 1,
                sender: String::new(),
                status: status.into(),
                provider_id: None,
            },
            at_ms: 0,
            request_id,
            inbound_id: Some(4),
            attempt: 1,
            resend_of: None,
            delivery: None,
            failure_reason: None,
            delivery_at_ms: None,
        }
    }

    #[test]
    fn only_a_queued_sms_is_sent() {
        for (status, due) in [(SMS_QUEUED, true), ("Success", false), ("failed: InvalidPhoneNumber", false)] {
            assert_eq!(send_due(&queued(None, status)), due, "{status}");
        }
    }

    #[test]
    fn every_send_outcome() {
        let p = policy();
        let sent = |request_id: i64, status: &str, provider_id: Option<&str>, failed: Option<&str>| Effects {
            request_id,
            sms_sent: Some(SmsSent {
                id: 21,
                sender: "africastalking".into(),
                status: status.into(),
                provider_id: provider_id.map(str::to_owned),
                failed: failed.map(str::to_owned),
            }),
            ..Effects::default()
        };
        let accepted = || SmsOutcome::Accepted { provider_id: Some("ATX-2".into()), status: "Success".into() };
        let rows: Vec<(&str, Option<i64>, SmsOutcome, Decision)> = vec![
            (
                "a reply to an inbound SMS, sent",
                None,
                accepted(),
                (JobFinish::Done, Some(sent(0, "Success", Some("ATX-2"), None))),
            ),
            (
                "a receipt sent again, sent",
                Some(3),
                accepted(),
                (JobFinish::Done, Some(sent(3, "Success", Some("ATX-2"), None))),
            ),
            (
                "refused for good: failed, nothing to retry",
                None,
                SmsOutcome::Failed { permanent: true, detail: "UserInBlacklist".into() },
                (JobFinish::Done, Some(sent(0, "", None, Some("UserInBlacklist")))),
            ),
            (
                "a failure that may pass: sent again after the backoff",
                None,
                SmsOutcome::Failed { permanent: false, detail: "timeout".into() },
                (JobFinish::Retry { error: "timeout".into(), run_at_ms: NOW + 500 }, None),
            ),
        ];
        for (why, request_id, outcome, expected) in rows {
            let job = claimed(JobKind::Send, 1, 0);
            let run = Run { job: &job, policy: &p, now: NOW, random: HALF };
            assert_eq!(after_send(&queued(request_id, SMS_QUEUED), "africastalking", outcome, run), expected, "{why}");
        }
    }
}
