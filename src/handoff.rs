//! The durable hand-off: what happens to a request after the citizen's session ended.
//!
//! A submit stores the request with its plan (a payment attempt and a `push` job, or a
//! `deliver` job) in one transaction ([`plan_submit`]). The [`Dispatcher`] claims due jobs
//! under a lease and runs them against the outside world (payment provider, agency, SMS
//! sender); every decision about what a result means is made here, as [`Effects`] that the
//! store writes atomically with the job's end, guarded so that a duplicate or late result
//! changes nothing.
//!
//! Jobs: `push` (one STK push per attempt), `query` (settles an attempt the callback did not),
//! `deliver` (to the agency), `notify` (the citizen's SMS), `send` (an SMS kept as queued: the
//! reply to an inbound SMS, or an SMS sent again after its delivery failed).
//!
//! Delivery reports are decided here too ([`delivery_change`]): a final status is never
//! overwritten, and a delivery that failed for a reason that may pass is sent again a bounded
//! number of times.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fluent::FluentArgs;

use crate::agency::{Agency, DeliveredPayment, Delivery, DeliveryOutcome};
use crate::i18n::Catalog;
use crate::lifecycle::{AttemptStatus, DeliveryStatus, JobKind, RequestStatus};
use crate::money::Kes;
use crate::payment::{PaymentResult, Payments, PushOutcome, PushRequest, QueryOutcome};
use crate::sms::{DeliveryReport, OutgoingSms, SmsOutcome, SmsSender};
use crate::store::{
    AttemptChange, AttemptRow, ClaimedJob, DeliveryChange, Effects, Finished, JobAttempt, JobFinish, NewAttempt,
    NewJob, RequestChange, RequestRow, Resend, SMS_QUEUED, SmsRecord, SmsRow, SmsSent, Store, StoreError, now_ms,
};
use crate::types::{Locale, Msisdn};

/// Timing and retry policy of the hand-off: the `[dispatcher]` section of the configuration.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Run a dispatcher in this instance (several instances may each run one).
    pub enabled: bool,
    /// Wait between the session's END and the STK push: the handset holds one USSD dialogue
    /// at a time, and the M-Pesa prompt is one.
    pub push_delay_ms: i64,
    /// Wait before pushing again to a subscriber who was busy (Daraja asks for a minute).
    pub busy_retry_ms: i64,
    /// Payment attempts (pushes) per request at most.
    pub max_payment_attempts: u32,
    /// Tries of one push that Daraja did not take (throttled, unreachable) before the payment
    /// fails with an SMS saying to try again.
    pub push_retries: u32,
    /// Delays between status queries; after the last, the payment is `unknown`.
    pub query_delays_ms: Vec<i64>,
    /// Failures before a job is dead-lettered.
    pub max_failures: u32,
    /// Full-jitter backoff: a retry waits a random time in `[0, min(cap, base * 2^failures)]`.
    pub backoff_base_ms: i64,
    pub backoff_cap_ms: i64,
    /// How long a claim holds a job; longer than any one run (HTTP timeouts included).
    pub lease_ms: i64,
    /// Jobs claimed at once, and so run concurrently, per dispatcher.
    pub batch: u32,
    /// Idle poll interval when no job is due.
    pub poll_ms: u64,
    /// Sandbox only: how long the simulated citizen takes to enter the M-Pesa PIN.
    pub sandbox_pin_delay_ms: u64,
    /// Times an SMS whose delivery failed for a reason that may pass (the phone was off, the
    /// network failed) is sent again; after that `njia sms list --failed` shows it.
    pub sms_resends: u32,
    /// Wait before sending such an SMS again, so the phone has a chance to come back.
    pub sms_resend_delay_ms: i64,
    /// After a push whose outcome is unknown (its answer was lost, or the server stopped
    /// mid-push), wait this long for the callback, then tell the citizen by SMS what happened,
    /// how to check, and not to pay again until told (the query schedule goes on, and a late
    /// callback still settles the payment).
    pub unknown_notice_ms: i64,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            enabled: true,
            push_delay_ms: 3_000,
            busy_retry_ms: 60_000,
            max_payment_attempts: 2,
            push_retries: 4,
            query_delays_ms: vec![45_000, 90_000, 180_000, 360_000, 600_000, 600_000, 600_000],
            // With the 30-minute cap, about five hours of retries on average (ten at most) before
            // a job is dead-lettered; a delivery that dies tells the citizen it is delayed, and
            // an administrator replays it with `njia jobs retry`.
            max_failures: 30,
            backoff_base_ms: 2_000,
            backoff_cap_ms: 1_800_000,
            lease_ms: 60_000,
            batch: 32,
            poll_ms: 250,
            sandbox_pin_delay_ms: 2_000,
            sms_resends: 2,
            sms_resend_delay_ms: 300_000,
            unknown_notice_ms: 120_000,
        }
    }
}

impl Policy {
    /// Full jitter (AWS architecture blog): spreads retries of many jobs that failed together.
    pub fn backoff_ms(&self, failures: u32, random: f64) -> i64 {
        let exp = self.backoff_base_ms.saturating_mul(1_i64 << failures.min(30));
        let ceiling = exp.min(self.backoff_cap_ms).max(0);
        (ceiling as f64 * random.clamp(0.0, 1.0)) as i64
    }

    fn retry_at(&self, job: &ClaimedJob, now: i64) -> i64 {
        now + self.backoff_ms(job.failures, rand::random::<f64>())
    }
}

/// What a new request starts with, written in the same transaction as the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub statuses: Vec<RequestStatus>,
    pub attempt: Option<NewAttempt>,
    pub jobs: Vec<NewJob>,
}

/// Plans a new request: with payment, an attempt and its push after the push delay; without,
/// a delivery now.
///
/// The amount is the [`Kes`] admitted where it entered the session: nothing here parses text.
pub fn plan_submit(msisdn: Msisdn, amount: Option<Kes>, policy: &Policy, now: i64) -> Plan {
    match amount {
        Some(amount) => Plan {
            statuses: vec![RequestStatus::PaymentPending],
            attempt: Some(NewAttempt { provider: "mpesa".into(), msisdn, amount_kes: amount.get() }),
            jobs: vec![job(JobKind::Push, "1", JobAttempt::New, now + policy.push_delay_ms, policy, "")],
        },
        None => Plan {
            statuses: vec![RequestStatus::Fulfilling],
            attempt: None,
            jobs: vec![job(JobKind::Deliver, "1", JobAttempt::None, now, policy, "")],
        },
    }
}

fn job(kind: JobKind, discriminator: &str, attempt: JobAttempt, run_at_ms: i64, policy: &Policy, data: &str) -> NewJob {
    NewJob {
        kind,
        discriminator: discriminator.to_owned(),
        attempt,
        run_at_ms,
        max_failures: policy.max_failures,
        data: data.to_owned(),
    }
}

/// What a payment result code means (Daraja's table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Paid,
    /// 1001: the subscriber is busy (another USSD dialogue): try again later.
    Busy,
    Failed(FailReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailReason {
    InsufficientFunds,
    Cancelled,
    Unreachable,
    WrongPin,
    /// Busy on every attempt the policy allows.
    Busy,
    /// The provider refused the push itself (a configuration or data problem).
    Refused,
    Other,
}

impl FailReason {
    /// The SMS the citizen gets.
    pub fn message_id(self) -> &'static str {
        match self {
            FailReason::InsufficientFunds => "sms-payment-insufficient",
            FailReason::Cancelled => "sms-payment-cancelled",
            FailReason::Unreachable => "sms-payment-unreachable",
            FailReason::WrongPin => "sms-payment-wrong-pin",
            FailReason::Busy => "sms-payment-busy",
            FailReason::Refused | FailReason::Other => "sms-payment-failed",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            FailReason::InsufficientFunds => "insufficient",
            FailReason::Cancelled => "cancelled",
            FailReason::Unreachable => "unreachable",
            FailReason::WrongPin => "wrong-pin",
            FailReason::Busy => "busy",
            FailReason::Refused => "refused",
            FailReason::Other => "other",
        }
    }

    fn parse(s: &str) -> FailReason {
        [
            FailReason::InsufficientFunds,
            FailReason::Cancelled,
            FailReason::Unreachable,
            FailReason::WrongPin,
            FailReason::Busy,
            FailReason::Refused,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .unwrap_or(FailReason::Other)
    }
}

/// Result code to verdict: 0 paid; 1 insufficient funds; 1032 (and 1031) cancelled; 1037
/// unreachable; 2001 wrong PIN; 1001 busy; any other non-zero failed.
pub fn verdict(result_code: i64) -> Verdict {
    match result_code {
        0 => Verdict::Paid,
        1001 => Verdict::Busy,
        1 => Verdict::Failed(FailReason::InsufficientFunds),
        1031 | 1032 => Verdict::Failed(FailReason::Cancelled),
        1037 => Verdict::Failed(FailReason::Unreachable),
        2001 => Verdict::Failed(FailReason::WrongPin),
        _ => Verdict::Failed(FailReason::Other),
    }
}

/// The notify job's data: which SMS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    Fulfilled,
    Rejected,
    PaymentFailed(FailReason),
    PaymentUnknown,
    /// A push's outcome is unknown (never pushed again): sent a few minutes after it, only if
    /// nothing settled the payment meanwhile.
    PushUnknown,
    /// The agency could not be reached for a long time; an administrator has it.
    Delayed,
}

impl Notice {
    fn data(self) -> String {
        match self {
            Notice::Fulfilled => "fulfilled".into(),
            Notice::Rejected => "rejected".into(),
            Notice::PaymentFailed(r) => format!("payment_failed:{}", r.as_str()),
            Notice::PaymentUnknown => "payment_unknown".into(),
            Notice::PushUnknown => "push_unknown".into(),
            Notice::Delayed => "delayed".into(),
        }
    }

    fn parse(s: &str) -> Option<Notice> {
        Some(match s {
            "fulfilled" => Notice::Fulfilled,
            "rejected" => Notice::Rejected,
            "payment_unknown" => Notice::PaymentUnknown,
            "push_unknown" => Notice::PushUnknown,
            "delayed" => Notice::Delayed,
            other => Notice::PaymentFailed(FailReason::parse(other.strip_prefix("payment_failed:")?)),
        })
    }

    /// One notice per outcome per request: the job key's discriminator.
    fn discriminator(self) -> &'static str {
        match self {
            Notice::Fulfilled => "fulfilled",
            Notice::Rejected => "rejected",
            Notice::PaymentFailed(_) => "payment_failed",
            Notice::PaymentUnknown => "payment_unknown",
            Notice::PushUnknown => "push_unknown",
            Notice::Delayed => "delayed",
        }
    }

    fn job(self, policy: &Policy, now: i64) -> NewJob {
        job(JobKind::Notify, self.discriminator(), JobAttempt::None, now, policy, &self.data())
    }

    /// The notice about attempt `seq`'s unknown push, due after the callback had its chance.
    fn push_unknown(policy: &Policy, seq: u32, now: i64) -> NewJob {
        let n = Notice::PushUnknown;
        let discriminator = format!("{}:{seq}", n.discriminator());
        job(JobKind::Notify, &discriminator, JobAttempt::None, now + policy.unknown_notice_ms, policy, &n.data())
    }
}

/// Settles an attempt with a final result, from a callback or a query. Guarded: only an open
/// attempt moves, so a duplicate callback, or a query after the callback, changes nothing,
/// and a recorded success is never overwritten.
pub fn settle(
    attempt: &AttemptRow,
    result_code: i64,
    result_desc: &str,
    receipt: Option<String>,
    policy: &Policy,
    now: i64,
) -> Effects {
    let change = |to: AttemptStatus, receipt: Option<String>| AttemptChange {
        id: attempt.id,
        from: AttemptStatus::OPEN.to_vec(),
        to,
        checkout_request_id: None,
        merchant_request_id: None,
        receipt,
        result_code: Some(result_code),
        result_desc: Some(result_desc.to_owned()),
    };
    let pending = vec![RequestStatus::PaymentPending, RequestStatus::PaymentUnknown];
    let mut e = Effects { request_id: attempt.request_id, ..Effects::default() };
    match verdict(result_code) {
        Verdict::Paid => {
            e.attempt = Some(change(AttemptStatus::Paid, receipt.clone()));
            e.request = Some(RequestChange {
                from: pending,
                to: vec![(RequestStatus::Paid, receipt), (RequestStatus::Fulfilling, None)],
                refund_review: false,
            });
            e.jobs.push(job(JobKind::Deliver, "1", JobAttempt::None, now, policy, ""));
        }
        Verdict::Busy if attempt.seq < policy.max_payment_attempts => {
            // A new attempt, never a second push of this one.
            e.attempt = Some(change(AttemptStatus::Failed, None));
            e.new_attempt = Some(NewAttempt {
                provider: attempt.provider.clone(),
                msisdn: attempt.msisdn,
                amount_kes: attempt.amount_kes,
            });
            let seq = (attempt.seq + 1).to_string();
            e.jobs.push(job(JobKind::Push, &seq, JobAttempt::New, now + policy.busy_retry_ms, policy, ""));
        }
        Verdict::Busy => return failed(attempt, FailReason::Busy, Some(result_code), result_desc, policy, now),
        Verdict::Failed(reason) => return failed(attempt, reason, Some(result_code), result_desc, policy, now),
    }
    e
}

fn failed(
    attempt: &AttemptRow,
    reason: FailReason,
    result_code: Option<i64>,
    desc: &str,
    policy: &Policy,
    now: i64,
) -> Effects {
    let notice = Notice::PaymentFailed(reason);
    Effects {
        request_id: attempt.request_id,
        attempt: Some(AttemptChange {
            id: attempt.id,
            from: AttemptStatus::OPEN.to_vec(),
            to: AttemptStatus::Failed,
            checkout_request_id: None,
            merchant_request_id: None,
            receipt: None,
            result_code,
            result_desc: Some(desc.to_owned()),
        }),
        request: Some(RequestChange {
            from: vec![RequestStatus::PaymentPending, RequestStatus::PaymentUnknown],
            to: vec![(RequestStatus::PaymentFailed, Some(format!("{}: {desc}", reason.as_str())))],
            refund_review: false,
        }),
        jobs: vec![notice.job(policy, now)],
        ..Effects::default()
    }
}

/// What happened to a payment callback.
#[derive(Debug, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// Recorded; the request moves on.
    Applied,
    /// Already settled (a duplicate or late callback): nothing changed.
    Duplicate,
    /// No attempt has this token.
    UnknownToken,
    /// The callback names another push than the one this token's attempt made.
    Mismatch,
}

/// Records a payment result that arrived by callback (or from the sandbox's simulated
/// M-Pesa, which goes through here too). Durable when it returns.
pub async fn payment_callback(
    store: &dyn Store,
    policy: &Policy,
    token: &str,
    result: &PaymentResult,
) -> Result<CallbackOutcome, StoreError> {
    let Some(attempt) = store.attempt_by_token(token).await? else { return Ok(CallbackOutcome::UnknownToken) };
    if attempt.checkout_request_id.as_deref().is_some_and(|id| id != result.checkout_request_id) {
        return Ok(CallbackOutcome::Mismatch);
    }
    let disagreement = disagrees(&attempt, result);
    let mut effects = match &disagreement {
        Some(why) => hold(&attempt, result, why),
        None => settle(&attempt, result.result_code, &result.result_desc, result.receipt.clone(), policy, now_ms()),
    };
    // A push whose HTTP answer was lost learns its checkout id here.
    if let Some(a) = effects.attempt.as_mut() {
        a.checkout_request_id = Some(result.checkout_request_id.clone());
        a.merchant_request_id = Some(result.merchant_request_id.clone());
    }
    let applied = store.apply(effects).await?;
    if applied {
        crate::metrics::payment_result(result.result_code);
    }
    if let (true, Some(why)) = (applied, &disagreement) {
        crate::metrics::METRICS.payment_reviews.inc(why.kind());
        tracing::warn!(attempt = attempt.id, checkout = %result.checkout_request_id, why = %why, "payment callback disagrees with its attempt: request held for review");
    }
    tracing::info!(
        attempt = attempt.id,
        checkout = %result.checkout_request_id,
        code = result.result_code,
        applied,
        "payment callback"
    );
    Ok(if applied { CallbackOutcome::Applied } else { CallbackOutcome::Duplicate })
}

/// How a callback that says "paid" disagrees with the attempt it settles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disagreement {
    /// The amount paid is not the attempt's (or is not whole shillings).
    Amount { paid: String, asked: u64 },
    /// Another phone number paid.
    Phone { paid: u64 },
}

impl Disagreement {
    pub fn kind(&self) -> &'static str {
        match self {
            Disagreement::Amount { .. } => "amount",
            Disagreement::Phone { .. } => "phone",
        }
    }
}

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Disagreement::Amount { paid, asked } => write!(f, "paid amount {paid} is not the KES {asked} asked"),
            Disagreement::Phone { paid } => {
                write!(f, "paid from {}, not the number pushed", crate::types::mask_raw_phone(&paid.to_string()))
            }
        }
    }
}

/// A successful callback's `Amount` and `PhoneNumber` against the attempt: the callback token
/// proves which attempt it is about, not that the citizen paid what was asked. Absent fields
/// are not a disagreement (queries carry neither, and Daraja may mask the number); present
/// ones must match exactly.
pub fn disagrees(attempt: &AttemptRow, result: &PaymentResult) -> Option<Disagreement> {
    if verdict(result.result_code) != Verdict::Paid {
        return None;
    }
    if let Some(paid) = &result.amount {
        // Daraja sends `4500`, `4500.0` or `4500.00`.
        let whole = match paid.trim().split_once('.') {
            Some((w, cents)) if cents.bytes().all(|b| b == b'0') => w,
            Some(_) => "",
            None => paid.trim(),
        };
        if whole.parse::<u64>().ok() != Some(attempt.amount_kes) {
            return Some(Disagreement::Amount { paid: paid.clone(), asked: attempt.amount_kes });
        }
    }
    match result.phone {
        Some(paid) if paid != attempt.msisdn.as_u64() => Some(Disagreement::Phone { paid }),
        _ => None,
    }
}

/// A disagreeing "paid": the attempt is held with what the callback said, the request waits
/// for an administrator, and nothing is delivered or announced.
fn hold(attempt: &AttemptRow, result: &PaymentResult, why: &Disagreement) -> Effects {
    Effects {
        request_id: attempt.request_id,
        attempt: Some(AttemptChange {
            id: attempt.id,
            from: AttemptStatus::OPEN.to_vec(),
            to: AttemptStatus::Held,
            checkout_request_id: None,
            merchant_request_id: None,
            receipt: result.receipt.clone(),
            result_code: Some(result.result_code),
            result_desc: Some(format!("{}; {why}", result.result_desc)),
        }),
        request: Some(RequestChange {
            from: vec![RequestStatus::PaymentPending, RequestStatus::PaymentUnknown],
            to: vec![(RequestStatus::HeldForReview, Some(why.to_string()))],
            refund_review: false,
        }),
        ..Effects::default()
    }
}

/// Runs due jobs against the outside world.
pub struct Dispatcher {
    pub store: Arc<dyn Store>,
    pub payments: Arc<dyn Payments>,
    pub agency: Arc<dyn Agency>,
    pub sms: Arc<dyn SmsSender>,
    /// The locales in service (a reload replaces them).
    pub catalog: Arc<crate::shared::Shared<Catalog>>,
    /// For a request whose stored language no longer parses.
    pub default_locale: Locale,
    /// The sender id of each menu that has its own (`sms_sender`), by menu id; a reload
    /// replaces it with the menus.
    pub senders: Arc<crate::shared::Shared<HashMap<String, String>>>,
    pub policy: Policy,
    /// Unique per dispatcher; fences its claims.
    pub worker: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JobError(String);

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> JobError {
        JobError(e.to_string())
    }
}

/// A worker name unique across instances and restarts.
pub fn worker_name() -> String {
    format!("njia-{}-{}", std::process::id(), &crate::store::callback_token()[..8])
}

impl Dispatcher {
    /// Runs until `stop` turns true, then returns once the batch in hand has finished (a
    /// batch is never abandoned halfway: its jobs would sit leased until the lease ran out).
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>, wake: Arc<tokio::sync::Notify>) {
        tracing::info!(worker = %self.worker, "dispatcher started");
        while !*stop.borrow() {
            if self.run_once().await > 0 {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(self.policy.poll_ms)) => {}
                () = wake.notified() => {}
                _ = stop.changed() => {}
            }
        }
        tracing::info!(worker = %self.worker, "dispatcher stopped");
    }

    /// Claims one batch of due jobs and runs them concurrently; returns how many ran.
    pub async fn run_once(&self) -> usize {
        let jobs = match self.store.claim_jobs(&self.worker, self.policy.batch, self.policy.lease_ms).await {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(error = %e, "dispatcher: cannot claim jobs");
                return 0;
            }
        };
        let n = jobs.len();
        let runs = jobs.into_iter().map(|j| async move { self.run_job(j).await });
        join_all(runs).await;
        n
    }

    async fn run_job(&self, job: ClaimedJob) {
        let started = std::time::Instant::now();
        let now = now_ms();
        let (finish, effects) = match self.handle(&job, now).await {
            Ok(r) => r,
            Err(e) => (JobFinish::Retry { error: e.0.clone(), run_at_ms: self.policy.retry_at(&job, now) }, None),
        };
        let label = format!("{finish:?}");
        let result = match &finish {
            JobFinish::Done => "done",
            JobFinish::Retry { .. } => "retry",
            JobFinish::Later { .. } => "later",
            JobFinish::Dead { .. } => "dead",
        };
        let written = self.store.finish_job(&job, finish, effects).await;
        let result = if matches!(written, Ok(Finished::LostLease)) { "lost_lease" } else { result };
        crate::metrics::job(job.kind.as_str(), result, started.elapsed());
        match written {
            Ok(Finished::LostLease) => {
                tracing::warn!(job = job.id, kind = %job.kind, "lease lost before the job finished; its result is dropped")
            }
            Ok(f) => tracing::debug!(job = job.id, kind = %job.kind, finish = %label, written = ?f, "job finished"),
            Err(e) => tracing::error!(job = job.id, kind = %job.kind, error = %e, "cannot record a job's end"),
        }
    }

    async fn handle(&self, job: &ClaimedJob, now: i64) -> Result<(JobFinish, Option<Effects>), JobError> {
        match job.kind {
            JobKind::Push => self.push(job, now).await,
            JobKind::Query => self.query(job, now).await,
            JobKind::Deliver => self.deliver(job, now).await,
            JobKind::Notify => self.notify(job, now).await,
            JobKind::Send => self.send(job, now).await,
        }
    }

    fn request_id_of(job: &ClaimedJob) -> Result<i64, JobError> {
        job.request_id.ok_or_else(|| JobError(format!("{} job {} without a request", job.kind, job.id)))
    }

    async fn attempt_of(&self, job: &ClaimedJob) -> Result<AttemptRow, JobError> {
        let id = job.attempt_id.ok_or_else(|| JobError(format!("{} job without an attempt", job.kind)))?;
        self.store.attempt(id).await?.ok_or_else(|| JobError(format!("attempt {id} is gone")))
    }

    async fn request_of(&self, job: &ClaimedJob) -> Result<RequestRow, JobError> {
        let id = Self::request_id_of(job)?;
        self.store.request_by_id(id).await?.ok_or_else(|| JobError(format!("request {id} is gone")))
    }

    fn first_query(&self, attempt: &AttemptRow, now: i64) -> NewJob {
        let first = self.policy.query_delays_ms.first().copied().unwrap_or(45_000);
        job(JobKind::Query, &attempt.seq.to_string(), JobAttempt::Id(attempt.id), now + first, &self.policy, "")
    }

    /// Sends the push of one attempt, at most once: the attempt is claimed
    /// (`created -> pushing`) and committed before the HTTP call.
    async fn push(&self, job: &ClaimedJob, now: i64) -> Result<(JobFinish, Option<Effects>), JobError> {
        let (attempt, request) = tokio::join!(self.attempt_of(job), self.request_of(job));
        let (attempt, request) = (attempt?, request?);
        let moved = |from: AttemptStatus, to: AttemptStatus| AttemptChange {
            id: attempt.id,
            from: vec![from],
            to,
            checkout_request_id: None,
            merchant_request_id: None,
            receipt: None,
            result_code: None,
            result_desc: None,
        };
        match attempt.status {
            AttemptStatus::Created => {}
            AttemptStatus::Pushing => {
                // A run died between claiming the attempt and recording the answer: the push
                // may have gone out. Never push again; let the callback or a query settle it.
                tracing::warn!(
                    attempt = attempt.id,
                    "push interrupted earlier; its outcome is unknown, not pushing again"
                );
                let e = Effects {
                    request_id: attempt.request_id,
                    attempt: Some(moved(AttemptStatus::Pushing, AttemptStatus::PushUnknown)),
                    jobs: vec![self.first_query(&attempt, now), Notice::push_unknown(&self.policy, attempt.seq, now)],
                    ..Effects::default()
                };
                return Ok((JobFinish::Done, Some(e)));
            }
            _ => return Ok((JobFinish::Done, None)),
        }
        let claim = Effects {
            request_id: attempt.request_id,
            attempt: Some(moved(AttemptStatus::Created, AttemptStatus::Pushing)),
            ..Effects::default()
        };
        if !self.store.apply(claim).await? {
            return Ok((JobFinish::Done, None));
        }
        let account = request.payment.as_ref().map(|p| p.1.clone()).unwrap_or_else(|| request.reference.to_string());
        let push = PushRequest {
            phone: attempt.msisdn,
            amount_kes: attempt.amount_kes,
            account_reference: account,
            description: request.reference.to_string(),
            callback_token: attempt.token.clone(),
        };
        let outcome = self.payments.push(&push).await;
        tracing::info!(attempt = attempt.id, reference = %request.reference, outcome = ?outcome, "STK push");
        let back_to_created = || Effects {
            request_id: attempt.request_id,
            attempt: Some(moved(AttemptStatus::Pushing, AttemptStatus::Created)),
            ..Effects::default()
        };
        // Pushed (or maybe pushed): the callback or the first query settles it.
        let awaiting_result = |change: AttemptChange| Effects {
            request_id: attempt.request_id,
            attempt: Some(change),
            jobs: vec![self.first_query(&attempt, now)],
            ..Effects::default()
        };
        Ok(match outcome {
            PushOutcome::Accepted { checkout_request_id, merchant_request_id } => {
                let mut change = moved(AttemptStatus::Pushing, AttemptStatus::PushSent);
                change.checkout_request_id = Some(checkout_request_id);
                change.merchant_request_id = Some(merchant_request_id);
                (JobFinish::Done, Some(awaiting_result(change)))
            }
            PushOutcome::Unknown { detail } => {
                let mut change = moved(AttemptStatus::Pushing, AttemptStatus::PushUnknown);
                change.result_desc = Some(detail);
                let mut e = awaiting_result(change);
                e.jobs.push(Notice::push_unknown(&self.policy, attempt.seq, now));
                (JobFinish::Done, Some(e))
            }
            // Certainly not accepted: pushed again after a backoff, but only a few times: the
            // citizen is waiting for the prompt, and a prompt an hour late is worse than an SMS
            // saying to try again.
            PushOutcome::Throttled { .. } | PushOutcome::NotSent { .. }
                if job.failures + 1 >= self.policy.push_retries =>
            {
                let detail = format!("not accepted after {} tries: {outcome:?}", job.failures + 1);
                (JobFinish::Done, Some(failed(&attempt, FailReason::Refused, None, &detail, &self.policy, now)))
            }
            PushOutcome::Throttled { code, message } => (
                JobFinish::Retry { error: format!("{code} {message}"), run_at_ms: self.policy.retry_at(job, now) },
                Some(back_to_created()),
            ),
            PushOutcome::NotSent { detail } => {
                (JobFinish::Retry { error: detail, run_at_ms: self.policy.retry_at(job, now) }, Some(back_to_created()))
            }
            PushOutcome::SubscriberBusy { message } => {
                // The phone is still in a USSD dialogue (or another push): as result 1001.
                let mut pushing = attempt.clone();
                pushing.status = AttemptStatus::Pushing;
                (JobFinish::Done, Some(settle(&pushing, 1001, &message, None, &self.policy, now)))
            }
            PushOutcome::Rejected { code, message } => (
                JobFinish::Done,
                Some(failed(&attempt, FailReason::Refused, None, &format!("{code} {message}"), &self.policy, now)),
            ),
        })
    }

    /// Asks for the result of an attempt the callback has not settled, on a widening schedule;
    /// after the last try the payment is `unknown` for an administrator.
    async fn query(&self, job: &ClaimedJob, now: i64) -> Result<(JobFinish, Option<Effects>), JobError> {
        let attempt = self.attempt_of(job).await?;
        if !matches!(attempt.status, AttemptStatus::PushSent | AttemptStatus::PushUnknown | AttemptStatus::Pushing) {
            return Ok((JobFinish::Done, None));
        }
        let outcome = match &attempt.checkout_request_id {
            Some(id) => self.payments.query(id).await,
            // A push with a lost answer has no id to query: only its callback can settle it.
            None => QueryOutcome::Failed { detail: "no checkout id to query; waiting for the callback".into() },
        };
        if let QueryOutcome::Final { result_code, result_desc } = outcome {
            crate::metrics::payment_result(result_code);
            return Ok((JobFinish::Done, Some(settle(&attempt, result_code, &result_desc, None, &self.policy, now))));
        }
        let note = match outcome {
            QueryOutcome::Failed { detail } => detail,
            _ => "pending".to_owned(),
        };
        // `tries` counts this run: the next delay is the one after the delay that led here.
        match self.policy.query_delays_ms.get(job.tries as usize) {
            Some(delay) => Ok((JobFinish::Later { note, run_at_ms: now + delay }, None)),
            None => {
                let e = Effects {
                    request_id: attempt.request_id,
                    attempt: Some(AttemptChange {
                        id: attempt.id,
                        from: vec![AttemptStatus::PushSent, AttemptStatus::PushUnknown, AttemptStatus::Pushing],
                        to: AttemptStatus::Unknown,
                        checkout_request_id: None,
                        merchant_request_id: None,
                        receipt: None,
                        result_code: None,
                        result_desc: Some(format!("not settled after {} queries: {note}", job.tries)),
                    }),
                    request: Some(RequestChange {
                        from: vec![RequestStatus::PaymentPending],
                        to: vec![(RequestStatus::PaymentUnknown, Some(note))],
                        refund_review: false,
                    }),
                    jobs: vec![Notice::PaymentUnknown.job(&self.policy, now)],
                    ..Effects::default()
                };
                tracing::warn!(attempt = attempt.id, "payment outcome unknown; an administrator must reconcile it");
                Ok((JobFinish::Done, Some(e)))
            }
        }
    }

    async fn deliver(&self, job: &ClaimedJob, now: i64) -> Result<(JobFinish, Option<Effects>), JobError> {
        // Both reads at once: a job waits for the slower, not for the sum.
        let request_id = Self::request_id_of(job)?;
        let (request, attempts) = tokio::join!(self.request_of(job), self.store.attempts(request_id));
        let request = request?;
        if RequestStatus::parse(&request.status) != Some(RequestStatus::Fulfilling) {
            return Ok((JobFinish::Done, None));
        }
        let paid = attempts?.into_iter().find(|a| a.status == AttemptStatus::Paid);
        let delivery = Delivery {
            reference: request.reference.to_string(),
            service: request.service.clone(),
            msisdn: request.msisdn.digits(),
            language: request.locale.clone(),
            submitted_at_ms: request.created_at_ms,
            fields: request.fields.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect(),
            payment: paid.as_ref().map(|a| DeliveredPayment {
                provider: a.provider.clone(),
                amount_kes: a.amount_kes,
                receipt: a.receipt.clone(),
            }),
        };
        let outcome = self.agency.deliver(&delivery).await;
        tracing::info!(reference = %request.reference, service = %request.service, outcome = ?outcome, "delivery");
        Ok(match outcome {
            DeliveryOutcome::Accepted { agency_reference } => {
                let e = Effects {
                    request_id: request.id,
                    request: Some(RequestChange {
                        from: vec![RequestStatus::Fulfilling],
                        to: vec![(RequestStatus::Fulfilled, agency_reference)],
                        refund_review: false,
                    }),
                    jobs: vec![Notice::Fulfilled.job(&self.policy, now)],
                    ..Effects::default()
                };
                (JobFinish::Done, Some(e))
            }
            DeliveryOutcome::Rejected { status, reason } => {
                let e = Effects {
                    request_id: request.id,
                    request: Some(RequestChange {
                        from: vec![RequestStatus::Fulfilling],
                        to: vec![(RequestStatus::Rejected, Some(format!("HTTP {status}: {reason}")))],
                        // Paid for a service that will not be given: never silent.
                        refund_review: paid.is_some(),
                    }),
                    jobs: vec![Notice::Rejected.job(&self.policy, now)],
                    ..Effects::default()
                };
                (JobFinish::Done, Some(e))
            }
            // The last try before the dead letters: the citizen, who may have paid, hears that
            // the request is delayed (an administrator replays the delivery).
            DeliveryOutcome::Retry { detail } if job.failures + 1 >= job.max_failures => {
                let e = Effects {
                    request_id: request.id,
                    jobs: vec![Notice::Delayed.job(&self.policy, now)],
                    ..Effects::default()
                };
                (JobFinish::Dead { error: detail }, Some(e))
            }
            DeliveryOutcome::Retry { detail } => {
                (JobFinish::Retry { error: detail, run_at_ms: self.policy.retry_at(job, now) }, None)
            }
        })
    }

    async fn notify(&self, job: &ClaimedJob, _now: i64) -> Result<(JobFinish, Option<Effects>), JobError> {
        let notice =
            Notice::parse(&job.data).ok_or_else(|| JobError(format!("notify job with unknown data {:?}", job.data)))?;
        let request_id = Self::request_id_of(job)?;
        let (request, attempts) = tokio::join!(self.request_of(job), self.store.attempts(request_id));
        let request = request?;
        // The unknown-push notice is for a payment still unsettled when it comes due: a
        // callback or query that settled it meanwhile sent its own SMS.
        if notice == Notice::PushUnknown && RequestStatus::parse(&request.status) != Some(RequestStatus::PaymentPending)
        {
            return Ok((JobFinish::Done, None));
        }
        let paid = attempts?.into_iter().find(|a| a.status == AttemptStatus::Paid);
        let text = compose_sms(&self.catalog.load(), &self.default_locale, &request, notice, paid.as_ref());
        let from = self.senders.load().get(&request.menu).cloned();
        let sms = OutgoingSms { to: request.msisdn, text, from };
        let outcome = self.sms.send(&sms).await;
        crate::metrics::sms_sent(&outcome);
        let record = |status: String, provider_id: Option<String>| SmsRecord {
            msisdn: request.msisdn,
            locale: request.locale.clone(),
            text: sms.text.clone(),
            segments: sms.segments(),
            sender: self.sms.name().to_owned(),
            status,
            provider_id,
        };
        // The final statuses a notice closes; an unknown payment stays open for an
        // administrator even after the citizen was told.
        let closes = match notice {
            Notice::Fulfilled => Some(RequestStatus::Fulfilled),
            Notice::Rejected => Some(RequestStatus::Rejected),
            Notice::PaymentFailed(_) => Some(RequestStatus::PaymentFailed),
            Notice::PaymentUnknown | Notice::PushUnknown | Notice::Delayed => None,
        };
        let effects = |sms: SmsRecord| Effects {
            request_id: request.id,
            request: closes.map(|from| RequestChange {
                from: vec![from],
                to: vec![(RequestStatus::Notified, None)],
                refund_review: false,
            }),
            sms: Some(sms),
            ..Effects::default()
        };
        Ok(match outcome {
            SmsOutcome::Accepted { provider_id, status } => {
                (JobFinish::Done, Some(effects(record(status, provider_id))))
            }
            SmsOutcome::Failed { permanent: true, detail } => {
                let e = Effects {
                    request_id: request.id,
                    sms: Some(record(format!("failed: {detail}"), None)),
                    ..Effects::default()
                };
                (JobFinish::Dead { error: detail }, Some(e))
            }
            SmsOutcome::Failed { permanent: false, detail } => {
                (JobFinish::Retry { error: detail, run_at_ms: self.policy.retry_at(job, now_ms()) }, None)
            }
        })
    }
}

impl Dispatcher {
    /// Sends one queued SMS. The write that records the sender's answer holds only while the
    /// SMS is still queued, so a run that finds it sent (a run before this one got as far as
    /// recording it) sends nothing.
    async fn send(&self, job: &ClaimedJob, now: i64) -> Result<(JobFinish, Option<Effects>), JobError> {
        let id = job.sms_id.ok_or_else(|| JobError(format!("send job {} without an SMS", job.id)))?;
        let row = self.store.sms_by_id(id).await?.ok_or_else(|| JobError(format!("SMS {id} is gone")))?;
        if row.record.status != SMS_QUEUED {
            return Ok((JobFinish::Done, None));
        }
        let sms = OutgoingSms { to: row.record.msisdn, text: row.record.text.clone(), from: None };
        let outcome = self.sms.send(&sms).await;
        crate::metrics::sms_sent(&outcome);
        // The outcome holds the provider's status and id, never the text.
        tracing::info!(sms = id, to = %sms.to.masked(), attempt = row.attempt, outcome = ?outcome, "queued SMS sent");
        let sent = |status: String, provider_id: Option<String>, failed: Option<String>| Effects {
            request_id: row.request_id.unwrap_or_default(),
            sms_sent: Some(SmsSent { id, sender: self.sms.name().to_owned(), status, provider_id, failed }),
            ..Effects::default()
        };
        Ok(match outcome {
            SmsOutcome::Accepted { provider_id, status } => (JobFinish::Done, Some(sent(status, provider_id, None))),
            // Nothing to retry: the SMS is failed for good, where `njia sms list --failed` shows it.
            SmsOutcome::Failed { permanent: true, detail } => {
                (JobFinish::Done, Some(sent(String::new(), None, Some(detail))))
            }
            SmsOutcome::Failed { permanent: false, detail } => {
                (JobFinish::Retry { error: detail, run_at_ms: self.policy.retry_at(job, now) }, None)
            }
        })
    }
}

/// Failure reasons after which sending the same SMS again cannot help (Africa's Talking's
/// delivery report `failureReason` values, and the send API's permanent refusals).
const PERMANENT_FAILURES: &[&str] = &[
    "UserInBlackList",
    "UserInBlacklist",
    "UserAccountSuspended",
    "UserDoesNotExist",
    "NotNetworkSubcriber",
    "NotNetworkSubscriber",
    "UserNotSubscribedToProduct",
    "InvalidLinkId",
    "InsufficientCredit",
    "InvalidPhoneNumber",
    "UnsupportedNumberType",
];

/// Whether a failed delivery may succeed if the SMS is sent again later: `DeliveryFailure`,
/// `AbsentSubscriber`, `UserIsInactive` (the phone was off or out of coverage), and any reason
/// that is unknown or absent (an expired message gives none).
pub fn transient_failure(reason: Option<&str>) -> bool {
    reason.is_none_or(|r| !PERMANENT_FAILURES.iter().any(|p| p.eq_ignore_ascii_case(r.trim())))
}

/// What a delivery report changes on the SMS it names: its delivery status, unless that is
/// final already (so a duplicate report, or an interim one arriving late, changes nothing),
/// and, for a failure that may pass, the SMS sent again after `sms_resend_delay_ms`, at most
/// `sms_resends` times. `None` when nothing is to change: a final status is recorded, or the
/// report names another phone number than the SMS went to.
pub fn delivery_change(sms: &SmsRow, report: &DeliveryReport, policy: &Policy, now: i64) -> Option<DeliveryChange> {
    if sms.delivery.is_some_and(DeliveryStatus::is_final) || report.msisdn.is_some_and(|m| m != sms.record.msisdn) {
        return None;
    }
    let resend = (report.status.is_failure()
        && transient_failure(report.failure_reason.as_deref())
        && sms.attempt <= policy.sms_resends)
        .then(|| Resend { send_at_ms: now + policy.sms_resend_delay_ms, max_failures: policy.max_failures });
    Some(DeliveryChange {
        sms_id: sms.id,
        from: std::iter::once(None).chain(DeliveryStatus::INTERIM.map(Some)).collect(),
        to: report.status,
        failure_reason: report.failure_reason.clone(),
        network_code: report.network_code.clone(),
        resend,
    })
}

/// What became of a delivery report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportOutcome {
    /// Recorded; `resent` when the SMS is queued to be sent again.
    Applied { resent: bool },
    /// Nothing changed: the SMS has a final status already, or the report names another number.
    Ignored,
    /// No SMS sent by `sender` has that message id.
    UnknownMessage,
}

/// Records a delivery report against the SMS `sender` knows by the report's id. Durable when it
/// returns.
pub async fn delivery_report(
    store: &dyn Store,
    policy: &Policy,
    sender: &str,
    report: &DeliveryReport,
) -> Result<ReportOutcome, StoreError> {
    let Some(sms) = store.sms_by_provider_id(sender, &report.provider_id).await? else {
        return Ok(ReportOutcome::UnknownMessage);
    };
    let Some(change) = delivery_change(&sms, report, policy, now_ms()) else { return Ok(ReportOutcome::Ignored) };
    let resent = change.resend.is_some();
    Ok(if store.apply_delivery(change).await? { ReportOutcome::Applied { resent } } else { ReportOutcome::Ignored })
}

/// Messages the SMS receipts use; every locale must define them (`njia check` fails
/// otherwise).
pub const SMS_MESSAGES: &[&str] = &[
    "sms-service",
    "sms-fulfilled",
    "sms-fulfilled-paid",
    "sms-rejected",
    "sms-rejected-paid",
    "sms-payment-insufficient",
    "sms-payment-cancelled",
    "sms-payment-unreachable",
    "sms-payment-wrong-pin",
    "sms-payment-busy",
    "sms-payment-failed",
    "sms-payment-unknown",
    "sms-push-unknown",
    "sms-delayed",
];

/// The SMS for a notice, in the citizen's language, always with the request reference.
pub fn compose_sms(
    catalog: &Catalog,
    default_locale: &Locale,
    request: &RequestRow,
    notice: Notice,
    paid: Option<&AttemptRow>,
) -> String {
    let locale = Locale::parse(&request.locale).unwrap_or_else(|_| default_locale.clone());
    // A menu's own receipts: `<menu id>-sms-…` where the locales define it (a county's
    // menu signs and refers to its own code), the deployment's `sms-…` otherwise.
    let own = |id: &str| {
        let mine = format!("{}-{id}", request.menu);
        if catalog.message(&locale, &mine).is_some() { mine } else { id.to_owned() }
    };
    let mut args = FluentArgs::new();
    args.set("service", request.service.clone());
    let service = catalog.format(&locale, &own("sms-service"), Some(&args)).into_owned();
    let mut args = FluentArgs::new();
    args.set("reference", request.reference.to_string());
    args.set("service", service);
    if let Some(a) = paid {
        args.set("amount", crate::money::group_thousands(a.amount_kes));
        args.set("receipt", a.receipt.clone().unwrap_or_else(|| "-".into()));
    } else if let Some((amount, _)) = &request.payment {
        // The store keeps the amount as digits (older rows grouped); shown grouped either way.
        args.set("amount", Kes::parse(amount).map_or_else(|_| amount.clone(), Kes::formatted));
    }
    let id = match (notice, paid.is_some()) {
        (Notice::Fulfilled, true) => "sms-fulfilled-paid",
        (Notice::Fulfilled, false) => "sms-fulfilled",
        (Notice::Rejected, true) => "sms-rejected-paid",
        (Notice::Rejected, false) => "sms-rejected",
        (Notice::PaymentFailed(r), _) => r.message_id(),
        (Notice::PaymentUnknown, _) => "sms-payment-unknown",
        (Notice::PushUnknown, _) => "sms-push-unknown",
        (Notice::Delayed, _) => "sms-delayed",
    };
    catalog.format(&locale, &own(id), Some(&args)).into_owned()
}

/// Awaits every future (the batch of one claim), concurrently on this task.
async fn join_all<F: std::future::Future<Output = ()>>(futures: impl IntoIterator<Item = F>) {
    let mut set: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    std::future::poll_fn(move |cx| {
        set.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if set.is_empty() { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        assert_eq!(crate::money::group_thousands(4500), "4,500");
        assert_eq!(crate::money::group_thousands(250000), "250,000");
        assert_eq!(crate::money::group_thousands(7), "7");
    }

    #[test]
    fn result_codes() {
        assert_eq!(verdict(0), Verdict::Paid);
        assert_eq!(verdict(1), Verdict::Failed(FailReason::InsufficientFunds));
        assert_eq!(verdict(1032), Verdict::Failed(FailReason::Cancelled));
        assert_eq!(verdict(1037), Verdict::Failed(FailReason::Unreachable));
        assert_eq!(verdict(2001), Verdict::Failed(FailReason::WrongPin));
        assert_eq!(verdict(1001), Verdict::Busy);
        assert_eq!(verdict(17), Verdict::Failed(FailReason::Other));
        assert_eq!(verdict(-1), Verdict::Failed(FailReason::Other));
    }

    #[test]
    fn backoff_is_full_jitter_and_capped() {
        let p = Policy { backoff_base_ms: 1000, backoff_cap_ms: 60_000, ..Policy::default() };
        assert_eq!(p.backoff_ms(0, 1.0), 1000);
        assert_eq!(p.backoff_ms(3, 1.0), 8000);
        assert_eq!(p.backoff_ms(10, 1.0), 60_000);
        assert_eq!(p.backoff_ms(200, 1.0), 60_000);
        assert_eq!(p.backoff_ms(3, 0.0), 0);
        assert_eq!(p.backoff_ms(3, 0.5), 4000);
    }

    #[test]
    fn notices_round_trip() {
        for n in [
            Notice::Fulfilled,
            Notice::Rejected,
            Notice::PaymentUnknown,
            Notice::PushUnknown,
            Notice::PaymentFailed(FailReason::WrongPin),
            Notice::PaymentFailed(FailReason::Busy),
            Notice::PaymentFailed(FailReason::Other),
            Notice::Delayed,
        ] {
            assert_eq!(Notice::parse(&n.data()), Some(n));
        }
    }
}
