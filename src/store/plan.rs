//! The store's decisions, made once for both backends: what a new request, a set of
//! [`Effects`], a job's end, an inbound SMS and a delivery report write, given the guarded rows
//! the backend read.
//!
//! Nothing here reads a database or a clock. A backend reads the rows a write is guarded by
//! ([`reads`]), asks this module what to write, and executes exactly that: so SQLite and
//! PostgreSQL cannot drift apart in what they accept, refuse or leave stale. The job-key format
//! lives here too ([`job_key`], [`JobTemplate`], [`send_job_key`]): it is stored data, and one
//! place builds it.

use std::borrow::Cow;

use crate::lifecycle::{AttemptStatus, DeliveryStatus, JobKind, JobState, RequestStatus};
use crate::store::{
    AttemptChange, ClaimedJob, DeliveryChange, Effects, Finished, JobAttempt, JobFinish, NewAttempt, NewInbound,
    NewJob, NewRequest, ReceiptFill, RequestChange, SMS_FAILED_PREFIX, SMS_QUEUED, SmsRecord,
};
use crate::types::{Locale, Msisdn};

/// Why a write is refused outright (not merely stale): its plan contradicts itself or the
/// lifecycle, so no state of the database could make it right.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("a new request's plan breaks the lifecycle")]
    Lifecycle,
    #[error("a new request's job cannot point at an older attempt")]
    OlderAttempt,
    #[error("a new request's job points at an attempt it does not create")]
    NoAttemptCreated,
    #[error("a job points at an attempt not created")]
    AttemptNotCreated,
}

/// The key a job is stored under: `{kind}:{request id}:{discriminator}`.
pub(crate) fn job_key(kind: JobKind, request_id: i64, discriminator: &str) -> String {
    let (prefix, suffix) = job_key_around(kind, discriminator);
    format!("{prefix}{request_id}{suffix}")
}

/// The parts of a job's key around the request id. PostgreSQL learns a new request's id inside
/// the statement that inserts it, so it splices the id between these parts there; everything
/// else of the format is decided here.
fn job_key_around(kind: JobKind, discriminator: &str) -> (String, String) {
    (format!("{kind}:"), format!(":{discriminator}"))
}

/// The key of the one `send` job of a queued SMS: [`send_job_key_prefix`], then the SMS's id.
pub(crate) fn send_job_key(sms_id: i64) -> String {
    format!("{}{sms_id}", send_job_key_prefix())
}

/// What comes before the SMS's id in a `send` job's key (PostgreSQL splices the id it has just
/// inserted after it).
pub(crate) fn send_job_key_prefix() -> String {
    format!("{}:sms:", JobKind::Send)
}

/// Which job a new job points at once its attempt is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JobLink {
    None,
    /// The attempt inserted by the same write.
    NewAttempt,
    Id(i64),
}

/// A job to insert (skipped if its key exists: enqueueing twice stores once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JobInsert<'a> {
    pub key: String,
    pub kind: JobKind,
    pub attempt: JobLink,
    pub data: &'a str,
    pub run_at_ms: i64,
    pub max_failures: u32,
}

/// A new request's job, whose key still lacks the request id (not known before the insert).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JobTemplate<'a> {
    pub key_prefix: String,
    pub key_suffix: String,
    pub kind: JobKind,
    /// Points at the attempt created with the request.
    pub uses_attempt: bool,
    pub data: &'a str,
    pub run_at_ms: i64,
    pub max_failures: u32,
}

impl JobTemplate<'_> {
    /// The job as inserted once the request's id is known.
    pub(crate) fn with_request(&self, request_id: i64) -> JobInsert<'_> {
        JobInsert {
            key: format!("{}{request_id}{}", self.key_prefix, self.key_suffix),
            kind: self.kind,
            attempt: if self.uses_attempt { JobLink::NewAttempt } else { JobLink::None },
            data: self.data,
            run_at_ms: self.run_at_ms,
            max_failures: self.max_failures,
        }
    }
}

/// What a new request writes besides its own row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewRequestWrites<'a> {
    /// Its history, `received` first.
    pub statuses: Vec<RequestStatus>,
    /// The status it is stored with: the last of `statuses`.
    pub status: RequestStatus,
    /// The payment attempt created with it (sequence 1).
    pub attempt: Option<&'a NewAttempt>,
    /// Its first jobs, one per key.
    pub jobs: Vec<JobTemplate<'a>>,
}

/// The one check of a new request's plan, and what it writes: its statuses follow the
/// lifecycle from `received`, no job points at an attempt other than the one created with it,
/// and a job that points at that attempt has one to point at. Jobs with the same key are
/// written once (the first), as a later enqueue of an existing key would be.
pub(crate) fn plan_new_request(r: &NewRequest) -> Result<NewRequestWrites<'_>, Refusal> {
    if !RequestStatus::Received.can_walk(r.statuses.iter().copied()) {
        return Err(Refusal::Lifecycle);
    }
    if r.jobs.iter().any(|j| matches!(j.attempt, JobAttempt::Id(_))) {
        return Err(Refusal::OlderAttempt);
    }
    if r.attempt.is_none() && r.jobs.iter().any(|j| j.attempt == JobAttempt::New) {
        return Err(Refusal::NoAttemptCreated);
    }
    let mut jobs: Vec<JobTemplate<'_>> = Vec::with_capacity(r.jobs.len());
    for j in &r.jobs {
        let (key_prefix, key_suffix) = job_key_around(j.kind, &j.discriminator);
        if jobs.iter().any(|t| t.key_prefix == key_prefix && t.key_suffix == key_suffix) {
            continue;
        }
        jobs.push(JobTemplate {
            key_prefix,
            key_suffix,
            kind: j.kind,
            uses_attempt: j.attempt == JobAttempt::New,
            data: &j.data,
            run_at_ms: j.run_at_ms,
            max_failures: j.max_failures,
        });
    }
    let statuses: Vec<RequestStatus> =
        std::iter::once(RequestStatus::Received).chain(r.statuses.iter().copied()).collect();
    let status = statuses.last().copied().unwrap_or(RequestStatus::Received);
    Ok(NewRequestWrites { statuses, status, attempt: r.attempt.as_ref(), jobs })
}

/// The rows whose current status guards a write of [`Effects`]: a backend reads these (locking
/// them where others could write them at once) and hands their statuses to [`plan_effects`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reads {
    /// A payment attempt's id.
    pub attempt: Option<i64>,
    /// A request's id.
    pub request: Option<i64>,
    /// A kept SMS's id.
    pub sms: Option<i64>,
    /// The id of the payment attempt whose receipt is filled: its status and its receipt.
    pub receipt: Option<i64>,
}

/// What [`plan_effects`] needs read first.
pub(crate) fn reads(e: &Effects) -> Reads {
    Reads {
        attempt: e.attempt.as_ref().map(|a| a.id),
        request: e.request.as_ref().map(|_| e.request_id),
        sms: e.sms_sent.as_ref().map(|s| s.id),
        receipt: e.receipt.as_ref().map(|f| f.attempt_id),
    }
}

/// The current statuses of the rows [`reads`] named, as stored (`None`: not read, or no such
/// row).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Guarded<'a> {
    pub attempt: Option<&'a str>,
    pub request: Option<&'a str>,
    pub sms: Option<&'a str>,
    /// The attempt whose receipt is filled, as stored.
    pub receipt: Option<ReceiptGuard<'a>>,
}

/// What guards a [`ReceiptFill`]: the attempt's status and the receipt it has, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReceiptGuard<'a> {
    pub status: &'a str,
    pub receipt: Option<&'a str>,
}

impl ReceiptGuard<'_> {
    /// A receipt is filled in only where none is: on a paid attempt that has none. Any other
    /// attempt either has its receipt (never overwritten) or was not paid (a receipt would
    /// say it was).
    fn admits_a_receipt(&self) -> bool {
        AttemptStatus::parse(self.status) == Some(AttemptStatus::Paid) && self.receipt.is_none()
    }
}

/// A request's new steps: each an event, the last its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RequestWrite<'a> {
    pub steps: &'a [(RequestStatus, Option<String>)],
    pub status: RequestStatus,
    /// Raised, never lowered.
    pub refund_review: bool,
}

/// A queued SMS the sender took or refused, as its row is then written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SentWrite<'a> {
    pub id: i64,
    pub sender: &'a str,
    /// The sender's status, or [`SMS_FAILED_PREFIX`] and why when refused for good.
    pub status: Cow<'a, str>,
    pub provider_id: Option<&'a str>,
    /// `failed` when refused for good (with the time of the write); else left as it is.
    pub delivery: Option<DeliveryStatus>,
    /// Why, when refused for good; else left as it is.
    pub failure_reason: Option<&'a str>,
}

/// The writes of [`Effects`] whose guards held. They are independent of one another, except
/// that jobs pointing at the new attempt need its id (so a backend may send the others
/// together).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Writes<'a> {
    pub request_id: i64,
    pub attempt: Option<&'a AttemptChange>,
    pub request: Option<RequestWrite<'a>>,
    /// Inserted before `jobs`, with the next sequence number of the request.
    pub new_attempt: Option<&'a NewAttempt>,
    pub jobs: Vec<JobInsert<'a>>,
    pub sms: Option<&'a SmsRecord>,
    pub sent: Option<SentWrite<'a>>,
    /// A receipt for a paid attempt that had none, and for its request's `paid` step.
    pub receipt: Option<&'a ReceiptFill>,
}

/// What to do with [`Effects`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Plan<'a> {
    /// A guard did not hold: write nothing (it is safe to repeat an effect).
    Stale,
    Write(Writes<'a>),
}

/// Decides [`Effects`] against the guarded rows: stale unless the attempt is in one of the
/// statuses its change starts from, the request's status lets it walk its steps along the
/// lifecycle, a sent SMS is still queued, and an attempt given a receipt is paid without one;
/// otherwise the writes, or a refusal when a job points at an attempt the effects do not
/// create.
pub(crate) fn plan_effects<'a>(e: &'a Effects, rows: &Guarded<'_>) -> Result<Plan<'a>, Refusal> {
    if let Some(a) = &e.attempt
        && !rows.attempt.and_then(AttemptStatus::parse).is_some_and(|s| a.from.contains(&s))
    {
        return Ok(Plan::Stale);
    }
    if let Some(c) = &e.request
        && !rows.request.is_some_and(|current| request_change_holds(current, c))
    {
        return Ok(Plan::Stale);
    }
    if e.sms_sent.is_some() && rows.sms != Some(SMS_QUEUED) {
        return Ok(Plan::Stale);
    }
    if e.receipt.is_some() && !rows.receipt.is_some_and(|g| g.admits_a_receipt()) {
        return Ok(Plan::Stale);
    }
    let request = e.request.as_ref().and_then(|c| {
        c.to.last().map(|(last, _)| RequestWrite { steps: &c.to, status: *last, refund_review: c.refund_review })
    });
    let mut jobs: Vec<JobInsert<'a>> = Vec::with_capacity(e.jobs.len());
    for j in &e.jobs {
        let insert = job_insert(e.request_id, j, e.new_attempt.is_some())?;
        if !jobs.iter().any(|k| k.key == insert.key) {
            jobs.push(insert);
        }
    }
    let sent = e.sms_sent.as_ref().map(|s| match &s.failed {
        Some(why) => SentWrite {
            id: s.id,
            sender: &s.sender,
            status: Cow::Owned(format!("{SMS_FAILED_PREFIX}{why}")),
            provider_id: s.provider_id.as_deref(),
            delivery: Some(DeliveryStatus::Failed),
            failure_reason: Some(why),
        },
        None => SentWrite {
            id: s.id,
            sender: &s.sender,
            status: Cow::Borrowed(&s.status),
            provider_id: s.provider_id.as_deref(),
            delivery: None,
            failure_reason: None,
        },
    });
    Ok(Plan::Write(Writes {
        request_id: e.request_id,
        attempt: e.attempt.as_ref(),
        request,
        new_attempt: e.new_attempt.as_ref(),
        jobs,
        sms: e.sms.as_ref(),
        sent,
        receipt: e.receipt.as_ref(),
    }))
}

fn job_insert(request_id: i64, j: &NewJob, creates_attempt: bool) -> Result<JobInsert<'_>, Refusal> {
    let attempt = match j.attempt {
        JobAttempt::None => JobLink::None,
        JobAttempt::New if creates_attempt => JobLink::NewAttempt,
        JobAttempt::New => return Err(Refusal::AttemptNotCreated),
        JobAttempt::Id(id) => JobLink::Id(id),
    };
    Ok(JobInsert {
        key: job_key(j.kind, request_id, &j.discriminator),
        kind: j.kind,
        attempt,
        data: &j.data,
        run_at_ms: j.run_at_ms,
        max_failures: j.max_failures,
    })
}

/// Checks a request change against the request's current status: the current status is one
/// of `from` and every step of `to` is a transition the lifecycle allows.
pub(crate) fn request_change_holds(current: &str, change: &RequestChange) -> bool {
    let Some(at) = RequestStatus::parse(current) else { return false };
    change.from.contains(&at) && at.can_walk(change.to.iter().map(|(next, _)| *next))
}

/// How a job's row ends a run: its next state, run time (unchanged when `None`), failure count
/// and note (unchanged when `None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct JobEnd<'a> {
    pub state: JobState,
    pub run_at_ms: Option<i64>,
    pub failures: u32,
    pub error: Option<&'a str>,
}

/// The row a finished run leaves: done, ready again (a retry before the dead letters, or a
/// pending query), or dead.
pub(crate) fn job_end<'a>(finish: &'a JobFinish, job: &ClaimedJob) -> JobEnd<'a> {
    match finish {
        JobFinish::Done => JobEnd { state: JobState::Done, run_at_ms: None, failures: job.failures, error: None },
        JobFinish::Retry { error, run_at_ms } => {
            let failures = job.failures + 1;
            let state = if failures >= job.max_failures { JobState::Dead } else { JobState::Ready };
            JobEnd { state, run_at_ms: Some(*run_at_ms), failures, error: Some(error) }
        }
        JobFinish::Later { note, run_at_ms } => {
            JobEnd { state: JobState::Ready, run_at_ms: Some(*run_at_ms), failures: job.failures, error: Some(note) }
        }
        JobFinish::Dead { error } => {
            JobEnd { state: JobState::Dead, run_at_ms: None, failures: job.failures + 1, error: Some(error) }
        }
    }
}

/// What a finish did: nothing without the claim; with it, whether its effects (if any) were
/// written.
pub(crate) fn finished(fenced: bool, effects_written: bool) -> Finished {
    match (fenced, effects_written) {
        (false, _) => Finished::LostLease,
        (true, false) => Finished::Stale,
        (true, true) => Finished::Applied,
    }
}

/// A queued SMS and its `send` job (keyed by [`send_job_key`] once the SMS has its id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QueueWrite<'a> {
    pub request_id: Option<i64>,
    pub inbound_id: Option<i64>,
    pub resend_of: Option<i64>,
    /// 1 for the first send, one more for each send again.
    pub attempt: u32,
    pub msisdn: Msisdn,
    pub locale: &'a str,
    pub text: &'a str,
    pub segments: u32,
    pub send_at_ms: i64,
    pub max_failures: u32,
}

/// A queued SMS from its owner (request, inbound SMS, the SMS it sends again), its attempt
/// and what to send when.
fn queue_write<'a>(
    owner: (Option<i64>, Option<i64>, Option<i64>),
    attempt: u32,
    (msisdn, locale, text): (Msisdn, &'a str, &'a str),
    (send_at_ms, max_failures): (i64, u32),
) -> QueueWrite<'a> {
    QueueWrite {
        request_id: owner.0,
        inbound_id: owner.1,
        resend_of: owner.2,
        attempt,
        msisdn,
        locale,
        text,
        segments: u32::try_from(crate::gsm7::sms_segments(text)).unwrap_or(u32::MAX),
        send_at_ms,
        max_failures,
    }
}

/// What a newly recorded inbound SMS writes with its record (a provider retry inserted no
/// record, and so writes nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InboundWrites<'a> {
    pub language: Option<(Msisdn, &'a Locale)>,
    pub reply: Option<QueueWrite<'a>>,
}

/// The writes that go with inbound SMS `inbound_id`: the language it sets and its reply, the
/// reply's first send.
pub(crate) fn plan_inbound(m: &NewInbound, inbound_id: i64) -> InboundWrites<'_> {
    InboundWrites {
        language: m.set_language.as_ref().map(|l| (m.msisdn, l)),
        reply: m.reply.as_ref().map(|q| {
            queue_write(
                (None, Some(inbound_id), None),
                1,
                (q.msisdn, &q.locale, &q.text),
                (q.send_at_ms, q.max_failures),
            )
        }),
    }
}

/// The SMS a delivery report names, as read under its guard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DeliveryRow {
    pub id: i64,
    pub request_id: Option<i64>,
    pub inbound_id: Option<i64>,
    pub attempt: u32,
    pub msisdn: Msisdn,
    pub locale: String,
    pub text: String,
    /// The stored delivery status, as stored (`None`: no report yet).
    pub delivery: Option<String>,
}

/// What a delivery report writes: the SMS's new delivery status and, when asked, the same SMS
/// queued again as its next attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DeliveryWrites<'a> {
    pub change: &'a DeliveryChange,
    pub resend: Option<QueueWrite<'a>>,
}

/// Decides a delivery report against the SMS it names: nothing unless the SMS exists and its
/// delivery status is one the change may move from (never a final one).
pub(crate) fn plan_delivery<'a>(c: &'a DeliveryChange, row: Option<&'a DeliveryRow>) -> Option<DeliveryWrites<'a>> {
    let row = row?;
    if !delivery_holds(row.delivery.as_deref(), c) {
        return None;
    }
    let resend = c.resend.map(|r| {
        let owner = (row.request_id, row.inbound_id, Some(row.id));
        queue_write(owner, row.attempt + 1, (row.msisdn, &row.locale, &row.text), (r.send_at_ms, r.max_failures))
    });
    Some(DeliveryWrites { change: c, resend })
}

/// Whether a delivery change's guard holds for an SMS whose delivery status reads `current`.
fn delivery_holds(current: Option<&str>, change: &DeliveryChange) -> bool {
    let current = match current {
        None => None,
        Some(s) => match DeliveryStatus::parse(s) {
            Some(d) => Some(d),
            None => return false,
        },
    };
    change.from.contains(&current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{QueuedSms, Resend, SmsSent};

    fn msisdn() -> Msisdn {
        Msisdn::parse("+254711000111").unwrap()
    }

    fn job(kind: JobKind, disc: &str, attempt: JobAttempt) -> NewJob {
        NewJob { kind, discriminator: disc.into(), attempt, run_at_ms: 5, max_failures: 3, data: String::new() }
    }

    fn attempt() -> NewAttempt {
        NewAttempt { provider: "mpesa".into(), msisdn: msisdn(), amount_kes: 4500 }
    }

    fn new_request(statuses: Vec<RequestStatus>, attempt: Option<NewAttempt>, jobs: Vec<NewJob>) -> NewRequest {
        NewRequest {
            idempotency_key: "k".into(),
            menu: "m".into(),
            service: "s".into(),
            msisdn: msisdn(),
            locale: Locale::parse("sw").unwrap(),
            payment: None,
            fields: vec![],
            statuses,
            attempt,
            jobs,
        }
    }

    #[test]
    fn job_keys_have_one_format() {
        assert_eq!(job_key(JobKind::Push, 42, "1"), "push:42:1");
        let r = new_request(vec![], None, vec![job(JobKind::Deliver, "x", JobAttempt::None)]);
        let plan = plan_new_request(&r).unwrap();
        assert_eq!(plan.jobs[0].with_request(42).key, job_key(JobKind::Deliver, 42, "x"));
        assert_eq!(send_job_key(7), format!("{}7", send_job_key_prefix()));
        assert_eq!(send_job_key(7), "send:sms:7");
    }

    #[test]
    fn new_request_plans_are_checked_once() {
        use JobAttempt as A;
        use RequestStatus as S;
        let push = |a| job(JobKind::Push, "1", a);
        let table: Vec<(&str, NewRequest, Result<RequestStatus, Refusal>)> = vec![
            (
                "paid service",
                new_request(vec![S::PaymentPending], Some(attempt()), vec![push(A::New)]),
                Ok(S::PaymentPending),
            ),
            (
                "free service",
                new_request(vec![S::Fulfilling], None, vec![job(JobKind::Deliver, "1", A::None)]),
                Ok(S::Fulfilling),
            ),
            ("nothing planned", new_request(vec![], None, vec![]), Ok(S::Received)),
            ("skips a step", new_request(vec![S::Paid], Some(attempt()), vec![push(A::New)]), Err(Refusal::Lifecycle)),
            ("back to received", new_request(vec![S::Received], None, vec![]), Err(Refusal::Lifecycle)),
            (
                "an older attempt",
                new_request(vec![S::PaymentPending], Some(attempt()), vec![push(A::Id(1))]),
                Err(Refusal::OlderAttempt),
            ),
            (
                "no attempt created",
                new_request(vec![S::PaymentPending], None, vec![push(A::New)]),
                Err(Refusal::NoAttemptCreated),
            ),
        ];
        for (what, r, want) in table {
            assert_eq!(plan_new_request(&r).map(|p| p.status), want, "{what}");
        }
    }

    #[test]
    fn a_new_requests_history_starts_received_and_its_jobs_are_unique() {
        let jobs = vec![
            job(JobKind::Push, "1", JobAttempt::New),
            job(JobKind::Push, "1", JobAttempt::New),
            job(JobKind::Push, "2", JobAttempt::None),
        ];
        let r = new_request(vec![RequestStatus::PaymentPending], Some(attempt()), jobs);
        let plan = plan_new_request(&r).unwrap();
        assert_eq!(plan.statuses, [RequestStatus::Received, RequestStatus::PaymentPending]);
        assert_eq!(plan.attempt, Some(&attempt()));
        let keys: Vec<_> = plan.jobs.iter().map(|j| (j.with_request(9).key, j.uses_attempt)).collect();
        assert_eq!(keys, [("push:9:1".to_owned(), true), ("push:9:2".to_owned(), false)]);
    }

    fn change(from: Vec<AttemptStatus>) -> AttemptChange {
        AttemptChange {
            receipt: Some("R1".into()),
            result_code: Some(0),
            ..AttemptChange::moved(3, &from, AttemptStatus::Paid)
        }
    }

    fn settle() -> Effects {
        Effects {
            request_id: 9,
            attempt: Some(change(vec![AttemptStatus::PushSent, AttemptStatus::PushUnknown])),
            request: Some(RequestChange {
                from: vec![RequestStatus::PaymentPending],
                to: vec![(RequestStatus::Paid, None), (RequestStatus::Fulfilling, Some("agency".into()))],
                refund_review: false,
            }),
            jobs: vec![job(JobKind::Deliver, "1", JobAttempt::None)],
            ..Effects::default()
        }
    }

    fn sent(failed: Option<&str>) -> Effects {
        Effects {
            request_id: 0,
            sms_sent: Some(SmsSent {
                id: 4,
                sender: "africastalking".into(),
                status: "Success".into(),
                provider_id: Some("ATX".into()),
                failed: failed.map(str::to_owned),
            }),
            ..Effects::default()
        }
    }

    #[test]
    fn effects_read_only_the_rows_that_guard_them() {
        assert_eq!(reads(&settle()), Reads { attempt: Some(3), request: Some(9), sms: None, receipt: None });
        assert_eq!(reads(&sent(None)), Reads { attempt: None, request: None, sms: Some(4), receipt: None });
        assert_eq!(reads(&Effects::default()), Reads::default());
        assert_eq!(reads(&fill()), Reads { receipt: Some(3), ..Reads::default() });
    }

    /// The receipt of attempt 3, learnt after a query settled it.
    fn fill() -> Effects {
        Effects {
            request_id: 9,
            receipt: Some(ReceiptFill { attempt_id: 3, receipt: "QK7".into() }),
            ..Effects::default()
        }
    }

    /// A receipt goes only to a paid attempt that has none: never over a recorded one, never
    /// onto an attempt that was not paid.
    #[test]
    fn a_receipt_fills_only_a_paid_attempt_without_one() {
        let guard = |status, receipt| Guarded { receipt: Some(ReceiptGuard { status, receipt }), ..Guarded::default() };
        let table: Vec<(&str, Guarded<'_>, bool)> = vec![
            ("paid by a query, no receipt", guard("paid", None), true),
            ("the receipt is recorded already", guard("paid", Some("QK7")), false),
            ("another receipt is recorded", guard("paid", Some("QK1")), false),
            ("not settled yet", guard("push_sent", None), false),
            ("failed", guard("failed", None), false),
            ("held for review", guard("held", None), false),
            ("a status this version does not know", guard("weird", None), false),
            ("no such attempt", Guarded::default(), false),
        ];
        let e = fill();
        for (what, guarded, writes) in table {
            match plan_effects(&e, &guarded).unwrap() {
                Plan::Write(w) => {
                    assert!(writes, "{what}: written");
                    assert_eq!(w.receipt, e.receipt.as_ref(), "{what}");
                    let nothing_else = (w.attempt, w.request, w.new_attempt, w.jobs.len(), w.sms, w.sent);
                    assert_eq!(nothing_else, (None, None, None, 0, None, None), "{what}: the receipt alone");
                }
                Plan::Stale => assert!(!writes, "{what}: stale"),
            }
        }
    }

    #[test]
    fn effects_are_written_only_when_every_guard_holds() {
        let rows = |attempt, request, sms| Guarded { attempt, request, sms, receipt: None };
        let table: Vec<(&str, Effects, Guarded<'_>, bool)> = vec![
            ("both hold", settle(), rows(Some("push_sent"), Some("payment_pending"), None), true),
            ("an unknown push settles too", settle(), rows(Some("push_unknown"), Some("payment_pending"), None), true),
            ("the attempt was settled already", settle(), rows(Some("paid"), Some("payment_pending"), None), false),
            ("no such attempt", settle(), rows(None, Some("payment_pending"), None), false),
            (
                "an attempt status this version does not know",
                settle(),
                rows(Some("weird"), Some("payment_pending"), None),
                false,
            ),
            ("the request moved on", settle(), rows(Some("push_sent"), Some("fulfilling"), None), false),
            ("no such request", settle(), rows(Some("push_sent"), None, None), false),
            ("a queued SMS", sent(None), rows(None, None, Some("queued")), true),
            ("an SMS sent already", sent(None), rows(None, None, Some("Success")), false),
            ("no such SMS", sent(None), rows(None, None, None), false),
            ("no guard at all", Effects::default(), Guarded::default(), true),
        ];
        for (what, e, guarded, writes) in table {
            let plan = plan_effects(&e, &guarded).unwrap();
            assert_eq!(matches!(plan, Plan::Write(_)), writes, "{what}");
        }
    }

    #[test]
    fn a_request_walks_only_the_lifecycle() {
        let walk = |from: Vec<RequestStatus>, to: Vec<RequestStatus>| RequestChange {
            from,
            to: to.into_iter().map(|s| (s, None)).collect(),
            refund_review: false,
        };
        use RequestStatus as S;
        let table = [
            (
                "paid then fulfilling",
                "payment_pending",
                walk(vec![S::PaymentPending], vec![S::Paid, S::Fulfilling]),
                true,
            ),
            ("not among from", "paid", walk(vec![S::PaymentPending], vec![S::Fulfilling]), false),
            (
                "a step the lifecycle forbids",
                "payment_pending",
                walk(vec![S::PaymentPending], vec![S::Fulfilled]),
                false,
            ),
            ("no step: only the guard", "payment_pending", walk(vec![S::PaymentPending], vec![]), true),
            ("unknown status", "weird", walk(vec![S::PaymentPending], vec![S::Paid]), false),
        ];
        for (what, current, change, holds) in table {
            assert_eq!(request_change_holds(current, &change), holds, "{what}");
        }
    }

    #[test]
    fn the_writes_of_settled_effects() {
        let e = settle();
        let Plan::Write(w) = plan_effects(
            &e,
            &Guarded { attempt: Some("push_sent"), request: Some("payment_pending"), sms: None, receipt: None },
        )
        .unwrap() else {
            panic!("the guards hold")
        };
        assert_eq!(w.attempt.map(|a| a.to), Some(AttemptStatus::Paid));
        let r = w.request.unwrap();
        assert_eq!((r.status, r.steps.len(), r.refund_review), (RequestStatus::Fulfilling, 2, false));
        assert_eq!(
            w.jobs.iter().map(|j| (j.key.as_str(), j.attempt)).collect::<Vec<_>>(),
            [("deliver:9:1", JobLink::None)]
        );
        assert_eq!((w.new_attempt, w.sms, w.sent), (None, None, None));
    }

    #[test]
    fn a_request_change_without_steps_writes_no_status() {
        let mut e = settle();
        e.attempt = None;
        e.request = Some(RequestChange { from: vec![RequestStatus::PaymentPending], to: vec![], refund_review: true });
        let Plan::Write(w) =
            plan_effects(&e, &Guarded { request: Some("payment_pending"), ..Guarded::default() }).unwrap()
        else {
            panic!("the guard holds")
        };
        assert_eq!(w.request, None);
    }

    #[test]
    fn jobs_point_at_the_attempt_the_effects_create_or_are_refused() {
        let with = |new_attempt: Option<NewAttempt>, attempt: JobAttempt| Effects {
            request_id: 9,
            new_attempt,
            jobs: vec![job(JobKind::Push, "2", attempt), job(JobKind::Push, "2", attempt)],
            ..Effects::default()
        };
        let table = [
            ("the new attempt", with(Some(attempt()), JobAttempt::New), Ok(JobLink::NewAttempt)),
            ("a new attempt not created", with(None, JobAttempt::New), Err(Refusal::AttemptNotCreated)),
            ("an existing attempt", with(None, JobAttempt::Id(3)), Ok(JobLink::Id(3))),
            ("no attempt", with(Some(attempt()), JobAttempt::None), Ok(JobLink::None)),
        ];
        for (what, e, want) in table {
            let got = plan_effects(&e, &Guarded::default()).map(|p| match p {
                Plan::Write(w) => {
                    assert_eq!(w.jobs.len(), 1, "{what}: one job per key");
                    w.jobs[0].attempt
                }
                Plan::Stale => JobLink::None,
            });
            assert_eq!(got, want, "{what}");
        }
    }

    #[test]
    fn a_refusal_at_sending_fails_the_sms() {
        let table = [
            (None, ("Success", None, None)),
            (
                Some("406 UserInBlacklist"),
                ("failed: 406 UserInBlacklist", Some(DeliveryStatus::Failed), Some("406 UserInBlacklist")),
            ),
        ];
        for (failed, (status, delivery, reason)) in table {
            let e = sent(failed);
            let Plan::Write(w) = plan_effects(&e, &Guarded { sms: Some(SMS_QUEUED), ..Guarded::default() }).unwrap()
            else {
                panic!("queued")
            };
            let s = w.sent.unwrap();
            assert_eq!((s.status.as_ref(), s.delivery, s.failure_reason), (status, delivery, reason), "{failed:?}");
        }
    }

    #[test]
    fn a_jobs_end_follows_how_the_run_ended() {
        let claimed = |failures| ClaimedJob {
            id: 1,
            kind: JobKind::Push,
            request_id: Some(9),
            attempt_id: None,
            sms_id: None,
            data: String::new(),
            tries: 1,
            failures,
            max_failures: 3,
            worker: "w".into(),
        };
        let retry = JobFinish::Retry { error: "down".into(), run_at_ms: 50 };
        let later = JobFinish::Later { note: "pending".into(), run_at_ms: 60 };
        let dead = JobFinish::Dead { error: "refused".into() };
        let end = |state, run_at_ms, failures, error| JobEnd { state, run_at_ms, failures, error };
        let table = [
            (&JobFinish::Done, 1, end(JobState::Done, None, 1, None)),
            (&retry, 0, end(JobState::Ready, Some(50), 1, Some("down"))),
            (&retry, 2, end(JobState::Dead, Some(50), 3, Some("down"))),
            (&later, 2, end(JobState::Ready, Some(60), 2, Some("pending"))),
            (&dead, 0, end(JobState::Dead, None, 1, Some("refused"))),
        ];
        for (finish, failures, want) in table {
            assert_eq!(job_end(finish, &claimed(failures)), want, "{finish:?} after {failures} failures");
        }
    }

    #[test]
    fn a_finish_is_fenced_by_its_claim() {
        let table = [
            (false, false, Finished::LostLease),
            (false, true, Finished::LostLease),
            (true, false, Finished::Stale),
            (true, true, Finished::Applied),
        ];
        for (fenced, written, want) in table {
            assert_eq!(finished(fenced, written), want, "fenced {fenced}, written {written}");
        }
    }

    #[test]
    fn an_inbound_sms_writes_its_language_and_first_reply() {
        let locale = Locale::parse("en").unwrap();
        let reply =
            QueuedSms { msisdn: msisdn(), locale: "en".into(), text: "Hello".into(), send_at_ms: 7, max_failures: 5 };
        let m = NewInbound {
            provider: "africastalking".into(),
            provider_id: "ATX1".into(),
            msisdn: msisdn(),
            to: "20384".into(),
            sent_at_ms: None,
            link_id: None,
            text_chars: 5,
            understood: "language en".into(),
            set_language: Some(locale.clone()),
            reply: Some(reply),
        };
        let w = plan_inbound(&m, 12);
        assert_eq!(w.language, Some((msisdn(), &locale)));
        let q = w.reply.unwrap();
        assert_eq!((q.request_id, q.inbound_id, q.resend_of, q.attempt, q.segments), (None, Some(12), None, 1, 1));
        let quiet = NewInbound { set_language: None, reply: None, ..m.clone() };
        assert_eq!(plan_inbound(&quiet, 12), InboundWrites { language: None, reply: None });
    }

    #[test]
    fn a_delivery_report_never_overwrites_a_final_status() {
        let row = |delivery: Option<&str>| DeliveryRow {
            id: 4,
            request_id: Some(9),
            inbound_id: None,
            attempt: 1,
            msisdn: msisdn(),
            locale: "sw".into(),
            text: "Ombi limekamilika.".into(),
            delivery: delivery.map(str::to_owned),
        };
        let report = |resend: Option<Resend>| DeliveryChange {
            sms_id: 4,
            from: vec![None, Some(DeliveryStatus::Buffered)],
            to: DeliveryStatus::Failed,
            failure_reason: Some("absent".into()),
            network_code: None,
            resend,
        };
        let resend = Some(Resend { send_at_ms: 90, max_failures: 4 });
        let table = [
            ("first report", report(None), Some(row(None)), Some(false)),
            ("after an interim one", report(resend), Some(row(Some("buffered"))), Some(true)),
            ("after a final one", report(resend), Some(row(Some("success"))), None),
            ("an unknown status", report(None), Some(row(Some("weird"))), None),
            ("no such SMS", report(None), None, None),
        ];
        for (what, change, current, want) in table {
            let got = plan_delivery(&change, current.as_ref()).map(|w| w.resend.is_some());
            assert_eq!(got, want, "{what}");
        }
        let change = report(resend);
        let current = row(Some("buffered"));
        let again = plan_delivery(&change, Some(&current)).and_then(|w| w.resend).unwrap();
        assert_eq!(
            (again.request_id, again.resend_of, again.attempt, again.send_at_ms, again.max_failures, again.text),
            (Some(9), Some(4), 2, 90, 4, "Ombi limekamilika.")
        );
    }

    #[test]
    fn the_failed_sms_condition_names_the_queued_status() {
        assert!(crate::store::columns::failed_sms_condition!().contains(&format!("'{SMS_QUEUED}'")));
    }
}
