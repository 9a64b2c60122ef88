//! Durable state behind the [`Store`] trait: requests and their history, payment attempts,
//! the job outbox, sent SMS and citizen profiles.
//!
//! [`Store`] is the umbrella of one trait per seam: [`Requests`] (requests, their attempts and
//! the effects written on them), [`Languages`] (each number's language), [`JobQueue`] (the
//! outbox the dispatcher claims), [`SmsLog`] (SMS out and in, delivery reports) and [`Shared`]
//! (tokens every instance shares, the health probe), [`Misses`] (searches that found nothing)
//! [`Usage`] (each number's recent catalogue services, and uses per service and day),
//! [`Stats`] (where citizens drop off, per screen and day), [`Retention`] (personal data
//! purged once no longer needed; [`retention`] drives it in batches) and [`Backlog`] (what
//! waits: the job queue and the payments an administrator must settle, for `/metrics`).
//! Every type with the ten is a `Store`.
//!
//! Inbound SMS are recorded once per provider message id, with the language they set and
//! their queued reply in the same transaction; delivery reports update the SMS they name under
//! a guard that never lets a final status be overwritten.
//!
//! The embedded default is SQLite ([`sqlite::SqliteStore`]); PostgreSQL implements the same
//! trait for production. A submit writes the request, its payment attempt and its first job in
//! one transaction and returns only after the commit, which is what lets the USSD reply say
//! "received". Stores only write what [`crate::handoff`] decided; the guards they check
//! (an attempt's or a request's current status, a job's lease) make every write safe to repeat.
//! What a guard decides is decided once, in [`plan`]: each backend reads the guarded rows,
//! asks the planner, and executes the writes it returns.

mod columns;
pub(crate) mod plan;
pub mod postgres;
pub mod retention;
pub mod sqlite;

use crate::BoxFuture;
use crate::lifecycle::{AttemptStatus, DeliveryStatus, JobKind, JobState, RequestStatus};
use crate::types::{Locale, Msisdn, Reference};

/// A request to store, as the engine produced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRequest {
    /// Unique per submit; a retried submit hop with the same key stores nothing new.
    pub idempotency_key: String,
    pub menu: String,
    pub service: String,
    pub msisdn: Msisdn,
    pub locale: Locale,
    /// Amount and account when the request must be paid.
    pub payment: Option<(crate::money::Kes, String)>,
    pub fields: Vec<(String, String)>,
    /// Statuses after `received`, in order (planned by [`crate::handoff::plan_submit`]).
    pub statuses: Vec<RequestStatus>,
    /// The payment attempt to create with the request.
    pub attempt: Option<NewAttempt>,
    /// The first jobs; [`JobAttempt::New`] points at the attempt created with them.
    pub jobs: Vec<NewJob>,
}

/// A payment attempt to create; the store draws its unguessable callback token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAttempt {
    pub provider: String,
    pub msisdn: Msisdn,
    pub amount_kes: u64,
}

/// Which attempt a new job is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobAttempt {
    None,
    /// The attempt created in the same write.
    New,
    Id(i64),
}

/// A job to enqueue. Its key is `{kind}:{request id}:{discriminator}` ([`plan::job_key`]) and
/// unique: enqueueing the same job twice stores it once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    pub kind: JobKind,
    pub discriminator: String,
    pub attempt: JobAttempt,
    pub run_at_ms: i64,
    /// Failures before the job is dead-lettered.
    pub max_failures: u32,
    /// Kind-specific data (for `notify`, which message).
    pub data: String,
}

/// A claimed job: the claim (`worker`, `tries`) fences every later write of its runner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: JobKind,
    /// The request the job carries through; `None` for a `send` job of an inbound SMS's reply.
    pub request_id: Option<i64>,
    pub attempt_id: Option<i64>,
    /// The queued SMS a `send` job sends.
    pub sms_id: Option<i64>,
    pub data: String,
    /// Times claimed, this claim included.
    pub tries: u32,
    pub failures: u32,
    pub max_failures: u32,
    pub worker: String,
}

/// A job as administrators see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRow {
    pub id: i64,
    pub key: String,
    pub kind: JobKind,
    /// The request's reference; `None` for the reply to an inbound SMS.
    pub reference: Option<Reference>,
    pub sms_id: Option<i64>,
    pub state: JobState,
    pub run_at_ms: i64,
    pub tries: u32,
    pub failures: u32,
    pub max_failures: u32,
    pub last_error: Option<String>,
    pub updated_at_ms: i64,
}

/// How a job run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobFinish {
    /// Finished; its effects are applied with it.
    Done,
    /// Failed; counts toward dead-lettering. Dead once `failures` reaches `max_failures`.
    Retry { error: String, run_at_ms: i64 },
    /// Not failed, just not settled yet (a query still pending): runs again at `run_at_ms`.
    Later { note: String, run_at_ms: i64 },
    /// Failed for good: straight to the dead letters.
    Dead { error: String },
}

/// What finishing a job did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    /// The job and its effects were written.
    Applied,
    /// The job was written; its effects were stale (a guard did not hold) and were dropped.
    Stale,
    /// The lease was lost (another runner claimed the job): nothing was written.
    LostLease,
}

/// Changes written together, all or nothing, each guarded so that repeating them is harmless.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// The request the other parts concern; only read by them (a `send` job's [`SmsSent`] about
    /// an inbound reply concerns no request).
    pub request_id: i64,
    pub attempt: Option<AttemptChange>,
    pub request: Option<RequestChange>,
    pub new_attempt: Option<NewAttempt>,
    pub jobs: Vec<NewJob>,
    pub sms: Option<SmsRecord>,
    /// A queued SMS was handed to the sender; otherwise the whole [`Effects`] is stale.
    pub sms_sent: Option<SmsSent>,
    /// The receipt of an attempt paid without one; otherwise the whole [`Effects`] is stale.
    pub receipt: Option<ReceiptFill>,
}

/// The M-Pesa receipt of an attempt settled as paid without one (Daraja's STK Push Query says
/// paid but carries no `MpesaReceiptNumber`), learnt from the callback that came after. Written
/// only while the attempt is `paid` and has no receipt, so a recorded receipt is never
/// overwritten; the request keeps it where a paid callback puts it (its `paid` step's detail).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptFill {
    pub attempt_id: i64,
    pub receipt: String,
}

/// An attempt moves to `to` only from one of `from`; otherwise the whole [`Effects`] is stale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptChange {
    pub id: i64,
    pub from: Vec<AttemptStatus>,
    pub to: AttemptStatus,
    pub checkout_request_id: Option<String>,
    pub merchant_request_id: Option<String>,
    pub receipt: Option<String>,
    pub result_code: Option<i64>,
    pub result_desc: Option<String>,
}

impl AttemptChange {
    /// Attempt `id`'s move from any of `from` to `to`, recording nothing else; a settlement
    /// adds its receipt and result (`AttemptChange { receipt, ..AttemptChange::moved(..) }`).
    pub fn moved(id: i64, from: &[AttemptStatus], to: AttemptStatus) -> AttemptChange {
        AttemptChange {
            id,
            from: from.to_vec(),
            to,
            checkout_request_id: None,
            merchant_request_id: None,
            receipt: None,
            result_code: None,
            result_desc: None,
        }
    }
}

/// The request walks `to` in order, starting from its current status, which must be one of
/// `from`; otherwise the whole [`Effects`] is stale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestChange {
    pub from: Vec<RequestStatus>,
    pub to: Vec<(RequestStatus, Option<String>)>,
    /// Paid but rejected: an administrator decides on a refund.
    pub refund_review: bool,
}

/// An SMS that was sent (or recorded by the sink), to keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsRecord {
    /// `None` once purged ([`Retention`]), with the text erased.
    pub msisdn: Option<Msisdn>,
    pub locale: String,
    pub text: String,
    pub segments: u32,
    pub sender: String,
    pub status: String,
    pub provider_id: Option<String>,
}

/// The status of an SMS kept but not sent yet: a `send` job hands it to the sender.
pub const SMS_QUEUED: &str = "queued";

/// How the status of an SMS the sender refused for good begins (`failed: 406 UserInBlacklist`).
pub const SMS_FAILED_PREFIX: &str = "failed: ";

/// A kept SMS as `njia sms list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsRow {
    pub id: i64,
    pub reference: Option<Reference>,
    pub record: SmsRecord,
    pub at_ms: i64,
    pub request_id: Option<i64>,
    /// The inbound SMS this one answers.
    pub inbound_id: Option<i64>,
    /// 1 for the first send; 2, 3, … for each send again after a failed delivery.
    pub attempt: u32,
    /// The SMS this one sends again.
    pub resend_of: Option<i64>,
    /// The latest delivery report's status (`None` before the first report).
    pub delivery: Option<DeliveryStatus>,
    /// Why delivery failed, as the provider or the sender put it.
    pub failure_reason: Option<String>,
    pub delivery_at_ms: Option<i64>,
}

/// An SMS kept as [`SMS_QUEUED`] with the `send` job that will send it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedSms {
    pub msisdn: Msisdn,
    pub locale: String,
    pub text: String,
    /// When the `send` job is due, and the failures it may have before the dead letters.
    pub send_at_ms: i64,
    pub max_failures: u32,
}

/// An inbound SMS with what Njia made of it; recorded once per provider message id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewInbound {
    /// `africastalking`.
    pub provider: String,
    /// The provider's message id; a provider retry carries the same one.
    pub provider_id: String,
    pub msisdn: Msisdn,
    /// The short code or number the citizen wrote to.
    pub to: String,
    /// When the citizen sent it (the provider's `date`), unix milliseconds.
    pub sent_at_ms: Option<i64>,
    /// Premium on-demand replies must quote it; kept for them.
    pub link_id: Option<String>,
    /// Length of the text in characters. The text itself is not kept: citizens write ID
    /// numbers and names in it, and what Njia understood is enough to follow it up.
    pub text_chars: u32,
    /// What Njia understood: `status NJ-7K2QX`, `language en`, `help`.
    pub understood: String,
    /// A language to remember for the number, written with the record.
    pub set_language: Option<Locale>,
    /// The reply, queued with the record.
    pub reply: Option<QueuedSms>,
}

/// What a delivery report changes on the SMS it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryChange {
    pub sms_id: i64,
    /// The SMS's delivery status must be one of these (`None`: no report yet); otherwise
    /// nothing is written. A final status is never in it, so it is never overwritten.
    pub from: Vec<Option<DeliveryStatus>>,
    pub to: DeliveryStatus,
    pub failure_reason: Option<String>,
    pub network_code: Option<String>,
    /// Send the SMS again: a new row (the next attempt, pointing back at this one) and its job.
    pub resend: Option<Resend>,
}

/// When the `send` job of a re-sent SMS is due, and the failures it may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resend {
    pub send_at_ms: i64,
    pub max_failures: u32,
}

/// A queued SMS the sender took (or refused for good), written with the end of its `send` job
/// only while the SMS is still queued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsSent {
    pub id: i64,
    pub sender: String,
    pub status: String,
    pub provider_id: Option<String>,
    /// Refused for good at sending (an invalid or blacklisted number): why. The SMS is then
    /// `failed` and `njia sms list --failed` shows it.
    pub failed: Option<String>,
}

/// One payment attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRow {
    pub id: i64,
    pub request_id: i64,
    pub seq: u32,
    pub token: String,
    pub provider: String,
    /// `None` once the request's personal data was purged ([`Retention`]).
    pub msisdn: Option<Msisdn>,
    pub amount_kes: u64,
    pub status: AttemptStatus,
    pub checkout_request_id: Option<String>,
    pub receipt: Option<String>,
    pub result_code: Option<i64>,
    pub result_desc: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// One stored transition of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRow {
    pub status: String,
    pub detail: Option<String>,
    pub at_ms: i64,
}

/// The outcome of a submit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub reference: Reference,
    /// False when the idempotency key was already known (a retry): nothing new was stored.
    pub created: bool,
}

/// A stored request as administrators and status lookups see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRow {
    pub id: i64,
    pub reference: Reference,
    pub menu: String,
    pub service: String,
    /// `None` once purged ([`Retention`]): the fields are then empty and the account too.
    pub msisdn: Option<Msisdn>,
    pub locale: String,
    pub fields: Vec<(String, String)>,
    pub payment: Option<(String, String)>,
    pub status: String,
    pub refund_review: bool,
    pub created_at_ms: i64,
    /// When its personal data was purged.
    pub purged_at_ms: Option<i64>,
}

/// A telco's end-of-session notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEnd {
    pub channel: String,
    pub session_id: String,
    pub msisdn: Option<Msisdn>,
    pub status: String,
    pub hops: Option<i64>,
    pub duration_ms: Option<i64>,
    pub error_message: Option<String>,
}

/// A payment attempt with what reconciliation needs of its request ([`Requests::attempts_created`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayAttempt {
    pub attempt: AttemptRow,
    pub reference: Reference,
    pub menu: String,
    pub service: String,
    pub request_status: RequestStatus,
    pub refund_review: bool,
    /// The request reached `fulfilled` (its history holds it), whatever it is now (`notified`).
    pub fulfilled: bool,
    /// One of the request's attempts, of any day, is paid.
    pub request_paid: bool,
}

/// Why a store could not do what it was asked. Database errors keep their source.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// No pooled PostgreSQL connection within the wait (or none could be opened).
    #[error("store unavailable: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The data directory could not be made.
    #[error("store unavailable: {}: {source}", path.display())]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("database error: migration {name}: {source}")]
    Migration {
        name: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The batch a SQLite command ran in did not commit (the commit's own error is logged).
    #[error("database error: commit failed")]
    CommitFailed,
    /// A write whose plan no database state could make right ([`plan::Refusal`]).
    #[error("database error: {0}")]
    Refused(#[from] plan::Refusal),
    /// Eight references drawn in a row were taken.
    #[error("database error: could not draw a free reference")]
    NoFreeReference,
    /// A stored value this version cannot read (only possible in a hand-edited database).
    #[error("database error: {0}")]
    Corrupt(String),
    /// No store where one was expected, and the caller asked not to create one (the
    /// administration commands): the place looked at, described without secrets.
    #[error("no Njia database {0}")]
    Missing(String),
}

/// Requests and their payment attempts: the submit that stores one with its plan, the reads
/// of status lookups and administrators, and the guarded effects a payment result writes.
pub trait Requests: Send + Sync {
    /// Stores a request (idempotent on its key); durable when the future resolves.
    fn submit(&self, request: NewRequest) -> BoxFuture<'_, Result<Stored, StoreError>>;
    fn request<'a>(&'a self, reference: &'a Reference) -> BoxFuture<'a, Result<Option<RequestRow>, StoreError>>;
    /// The request a submit stored under `key` (its [`NewRequest::idempotency_key`]): how a
    /// telco's retry of a final hop, arriving after the session was lost, finds its reference.
    fn request_by_key<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<RequestRow>, StoreError>>;
    /// The newest requests, optionally only one phone number's.
    fn recent_requests(&self, msisdn: Option<Msisdn>, limit: u32)
    -> BoxFuture<'_, Result<Vec<RequestRow>, StoreError>>;
    /// Records an end-of-session notification (idempotent on channel and session id).
    fn record_session_end(&self, end: SessionEnd) -> BoxFuture<'_, Result<(), StoreError>>;
    fn request_by_id(&self, id: i64) -> BoxFuture<'_, Result<Option<RequestRow>, StoreError>>;
    /// The newest requests with `status` (all when `None`).
    fn requests_with_status(
        &self,
        status: Option<RequestStatus>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RequestRow>, StoreError>>;
    /// A request's transitions, oldest first.
    fn events(&self, request_id: i64) -> BoxFuture<'_, Result<Vec<EventRow>, StoreError>>;
    fn attempts(&self, request_id: i64) -> BoxFuture<'_, Result<Vec<AttemptRow>, StoreError>>;
    fn attempt(&self, id: i64) -> BoxFuture<'_, Result<Option<AttemptRow>, StoreError>>;
    fn attempt_by_token<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Option<AttemptRow>, StoreError>>;
    /// Writes `effects` in one transaction if all its guards hold; returns whether it did.
    fn apply(&self, effects: Effects) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Reconciliation's read: every payment attempt created at or after `from_ms` and before
    /// `to_ms`, oldest first, at most `limit`, each with its request, in one query.
    fn attempts_created(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<DayAttempt>, StoreError>>;
}

/// Personal data retention (Kenya's Data Protection Act, 2019: kept no longer than necessary).
/// Older than a cutoff: a final request ([`RequestStatus::is_final`]) with no refund to decide
/// and no job left to run (none but `done`, for it or its SMS) loses its number, fields and
/// account, and its attempts and SMS their number (SMS their text too); SMS with no request
/// and inbound SMS lose number and text (inbound: the premium link id), session-end notices
/// their number; profiles of numbers not seen since (no request, inbound SMS or recent service,
/// and no language chosen) and recent services used before it are deleted. References,
/// services, amounts, receipts, statuses, times and counts stay, for statistics and
/// reconciliation. Unfinished requests and those held for review are never touched.
pub trait Retention: Send + Sync {
    /// What a purge at `cutoff_ms` would change now, by kind, changing nothing.
    fn purgeable(&self, cutoff_ms: i64) -> BoxFuture<'_, Result<Purged, StoreError>>;
    /// One bounded step of the purge, in one transaction: at most `limit` requests (with their
    /// attempts and SMS), and at most `limit` rows of each other kind. Purged requests are
    /// marked `purged_at = now_ms`. Repeating it is harmless: what is purged is not found again.
    fn purge_batch(&self, cutoff_ms: i64, now_ms: i64, limit: u32) -> BoxFuture<'_, Result<Purged, StoreError>>;
}

/// What a purge changed (or, in a dry run, would change), by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Purged {
    /// Finished requests whose number, fields and account were removed.
    pub requests: u64,
    /// Their payment attempts, whose number was removed.
    pub attempts: u64,
    /// SMS whose number and text were erased (a purged request's, and those of no request).
    pub sms: u64,
    /// Inbound SMS whose number (and premium link id) was removed.
    pub inbound_sms: u64,
    /// Telcos' end-of-session notices whose number was removed.
    pub session_ends: u64,
    /// Languages of numbers not seen since the cutoff, deleted.
    pub profiles: u64,
    /// Recent services used before the cutoff, deleted.
    pub recent_services: u64,
}

impl Purged {
    /// Whether a batch of `limit` may have left rows behind: some kind it bounds was full.
    pub fn more(&self, limit: u32) -> bool {
        let l = u64::from(limit);
        [self.requests, self.sms, self.inbound_sms, self.session_ends, self.profiles, self.recent_services]
            .iter()
            .any(|n| *n >= l)
    }

    /// Every count, named, in a fixed order (what `njia purge` prints and the log carries).
    pub fn kinds(&self) -> [(&'static str, u64); 7] {
        [
            ("requests", self.requests),
            ("attempts", self.attempts),
            ("sms", self.sms),
            ("inbound_sms", self.inbound_sms),
            ("session_ends", self.session_ends),
            ("profiles", self.profiles),
            ("recent_services", self.recent_services),
        ]
    }

    pub fn is_empty(&self) -> bool {
        self.kinds().iter().all(|(_, n)| *n == 0)
    }
}

/// `requests 2, attempts 2, sms 3, …`: every count, as the server logs them.
impl std::fmt::Display for Purged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (kind, n)) in self.kinds().iter().enumerate() {
            write!(f, "{}{kind} {n}", if i == 0 { "" } else { ", " })?;
        }
        Ok(())
    }
}

impl std::ops::AddAssign for Purged {
    fn add_assign(&mut self, o: Purged) {
        self.requests += o.requests;
        self.attempts += o.attempts;
        self.sms += o.sms;
        self.inbound_sms += o.inbound_sms;
        self.session_ends += o.session_ends;
        self.profiles += o.profiles;
        self.recent_services += o.recent_services;
    }
}

/// The language each phone number chose.
pub trait Languages: Send + Sync {
    /// The language remembered for a phone number.
    fn language(&self, msisdn: Msisdn) -> BoxFuture<'_, Result<Option<Locale>, StoreError>>;
    /// Remembers a language: later reads see it at once. PostgreSQL has written it when the
    /// future resolves (another instance may answer the next dial); SQLite writes it with its
    /// next commit, within `sqlite::LANGUAGE_FLUSH` (a preference, not a request: see there).
    fn set_language(&self, msisdn: Msisdn, locale: Locale) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// Catalogue searches that found nothing, counted per day and term (never with a number).
pub trait Misses: Send + Sync {
    /// Counts one search for `term` on `day` (Kenyan days since 1970-01-01) that found nothing.
    fn count_miss<'a>(&'a self, day: i64, term: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Every counted term from `from_day` on, most searched first (then the newest day, then
    /// the term).
    fn misses(&self, from_day: i64) -> BoxFuture<'_, Result<Vec<Miss>, StoreError>>;
}

/// Which catalogue services citizens use: each number's recent services, so its start screen
/// offers them first, and how often each service is used per day, which ranks search ties.
/// A use is recorded when a session ends on one of the service's END screens (a request
/// received, a status shown, an office's hours read), not when a citizen merely looked in.
pub trait Usage: Send + Sync {
    /// Records uses, in order, in one transaction: each grows its day's count of the service
    /// by its `times` and, when `remember`, makes the service the number's most recent in its menu and
    /// forgets the number's recent services used before `expired_before_ms`.
    fn note_uses(&self, uses: Vec<ServiceUse>) -> BoxFuture<'_, Result<(), StoreError>>;
    /// The codes of the number's services of `menu` used at or after `since_ms`, the most
    /// recent first, at most `limit`.
    fn recent_services<'a>(
        &'a self,
        msisdn: Msisdn,
        menu: &'a str,
        since_ms: i64,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<u32>, StoreError>>;
    /// How often each service of `menu` was used from `from_day` on (Kenyan days since
    /// 1970-01-01), as `(code, uses)`, by code.
    fn service_uses<'a>(&'a self, menu: &'a str, from_day: i64) -> BoxFuture<'a, Result<Vec<(u32, i64)>, StoreError>>;
    /// Forgets every number's recent services that expired: of each menu in `keep`, those used
    /// before its time; of every other menu (one no longer served, or that no longer offers
    /// them), all. A number that never dials again must not be remembered for ever. Returns
    /// how many were forgotten.
    fn expire_recent(&self, keep: Vec<(String, i64)>) -> BoxFuture<'_, Result<u64, StoreError>>;
}

/// Where citizens drop off: per menu, day and screen, totals the hub adds up in memory and
/// writes every few seconds, without any phone number (see `hub::funnel`).
pub trait Stats: Send + Sync {
    /// Adds each row's counts to the day's totals of its menu and screen.
    fn add_stats(&self, rows: Vec<StatRow>) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Every row of `menu` (every menu when `None`) from `from_day` on, by menu, day and screen.
    fn stats<'a>(&'a self, menu: Option<&'a str>, from_day: i64) -> BoxFuture<'a, Result<Vec<StatRow>, StoreError>>;
}

/// One day's counts of one screen (or, with an empty `screen`, of the menu as a whole).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatRow {
    pub menu: String,
    /// Kenyan days since 1970-01-01.
    pub day: i64,
    /// The screen's name; empty for the menu's own row (`started`, `limited`).
    pub screen: String,
    /// Times the screen was shown (a screen shown again after a wrong input counts again).
    pub shown: i64,
    /// Times a citizen typed something on it (and so went on, or saw it again).
    pub left: i64,
    /// Sessions that ended on it (an END screen, a submit's receipt, or an apology).
    pub ended: i64,
    /// Lookups of it that failed or timed out, or whose answer was refused.
    pub failed: i64,
    /// Sessions started (the menu's row).
    pub started: i64,
    /// Hops refused by the rate limits (the menu's row).
    pub limited: i64,
}

/// One use of a catalogue service by one number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceUse {
    /// Remember the service among the number's recent ones; false only counts the use (a menu
    /// that offers no recent services keeps no number's).
    pub remember: bool,
    pub msisdn: Msisdn,
    pub menu: String,
    pub code: u32,
    pub at_ms: i64,
    /// The Kenyan day of `at_ms` (days since 1970-01-01), under which the use is counted.
    pub day: i64,
    /// How many uses this counts (the same service used again before it was written adds
    /// here; the last use's time is `at_ms`).
    pub times: i64,
    /// The number's recent services used before this have expired.
    pub expired_before_ms: i64,
}

/// A search term that found nothing on one day, and how often it was searched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Miss {
    pub day: i64,
    pub term: String,
    pub count: i64,
}

/// What waits in the store, as `/metrics` shows it: read at each scrape, so every figure comes
/// from an index (the queue's due and leased jobs, its dead letters, requests by status), never
/// from a scan of the jobs and requests that are done.
pub trait Backlog: Send + Sync {
    /// The figures now (on the store's clock, the one its job queue reads).
    fn backlog(&self) -> BoxFuture<'_, Result<BacklogFigures, StoreError>>;
}

/// The queue and the payments waiting for an administrator, at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BacklogFigures {
    /// Jobs ready (due or not yet), running (leased) and dead, by kind and state; a kind and
    /// state with none is left out. Done jobs are not counted: they only grow.
    pub jobs: Vec<(JobKind, JobState, i64)>,
    /// Ready jobs whose time has come: what a dispatcher should be claiming now.
    pub due: i64,
    /// How long the longest-waiting due job has been due, in milliseconds; `None` when none
    /// is due. A dispatcher that keeps up holds this near its poll interval.
    pub oldest_due_ms: Option<i64>,
    /// Requests held for review (a "paid" callback that disagreed with its attempt).
    pub held_for_review: i64,
    /// Requests whose payment nothing settled in time (`payment_unknown`).
    pub payment_unknown: i64,
}

impl BacklogFigures {
    /// The count of `kind` jobs in `state` (0 when none).
    pub fn jobs(&self, kind: JobKind, state: JobState) -> i64 {
        self.jobs.iter().find(|(k, s, _)| *k == kind && *s == state).map_or(0, |j| j.2)
    }
}

/// The one statement both stores answer [`Backlog::backlog`] with (`$1` is now, unix ms): rows
/// of (what, kind or status, state, figure). Each part reads an index: the partial indexes of
/// ready, running and dead jobs, and requests by status. SQLite reads `$1` as its first
/// parameter, PostgreSQL as its own.
pub(crate) const BACKLOG_SQL: &str = "\
    SELECT 'jobs', kind, 'ready', count(*) FROM jobs WHERE state = 'ready' GROUP BY kind \
    UNION ALL SELECT 'jobs', kind, 'running', count(*) FROM jobs WHERE state = 'running' GROUP BY kind \
    UNION ALL SELECT 'jobs', kind, 'dead', count(*) FROM jobs WHERE state = 'dead' GROUP BY kind \
    UNION ALL SELECT 'due', '', '', count(*) FROM jobs WHERE state = 'ready' AND run_at <= $1 \
    UNION ALL SELECT 'oldest', '', '', $1 - min(run_at) FROM jobs WHERE state = 'ready' AND run_at <= $1 \
    UNION ALL SELECT 'requests', status, '', count(*) FROM requests \
    WHERE status IN ('held_for_review', 'payment_unknown') GROUP BY status";

/// [`BACKLOG_SQL`]'s rows as figures; a row this version does not know is an error (only a
/// hand-edited database holds a job kind or state no version wrote).
pub(crate) fn backlog_of(
    rows: impl IntoIterator<Item = (String, String, String, Option<i64>)>,
) -> Result<BacklogFigures, StoreError> {
    let mut b = BacklogFigures::default();
    for (what, name, state, n) in rows {
        match what.as_str() {
            "jobs" => {
                let kind = JobKind::parse(&name).ok_or_else(|| StoreError::Corrupt(format!("job kind {name:?}")))?;
                let state =
                    JobState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("job state {state:?}")))?;
                b.jobs.push((kind, state, n.unwrap_or(0)));
            }
            "due" => b.due = n.unwrap_or(0),
            "oldest" => b.oldest_due_ms = n,
            "requests" if name == RequestStatus::HeldForReview.as_str() => b.held_for_review = n.unwrap_or(0),
            "requests" => b.payment_unknown = n.unwrap_or(0),
            _ => return Err(StoreError::Corrupt(format!("backlog row {what:?}"))),
        }
    }
    Ok(b)
}

/// The job outbox: claimed under a lease by dispatchers, finished under that claim.
pub trait JobQueue: Send + Sync {
    /// Claims up to `limit` jobs that are due (or whose lease expired) for `worker`, leasing
    /// them for `lease_ms`. Concurrent claimers never get the same job.
    fn claim_jobs<'a>(
        &'a self,
        worker: &'a str,
        limit: u32,
        lease_ms: i64,
    ) -> BoxFuture<'a, Result<Vec<ClaimedJob>, StoreError>>;
    /// Ends a job run, fenced by its claim, writing `effects` with it when their guards hold.
    fn finish_job<'a>(
        &'a self,
        job: &'a ClaimedJob,
        finish: JobFinish,
        effects: Option<Effects>,
    ) -> BoxFuture<'a, Result<Finished, StoreError>>;
    /// Jobs, newest first, optionally only one state's or one request's.
    fn jobs(
        &self,
        state: Option<JobState>,
        request_id: Option<i64>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<JobRow>, StoreError>>;
    /// One job by id.
    fn job(&self, id: i64) -> BoxFuture<'_, Result<Option<JobRow>, StoreError>>;
    /// Puts a dead job back in the queue with its failures forgiven; false if it is not dead.
    fn retry_job(&self, id: i64) -> BoxFuture<'_, Result<bool, StoreError>>;
}

/// SMS: kept outbound messages, inbound messages with their replies, and delivery reports.
pub trait SmsLog: Send + Sync {
    /// The newest SMS, optionally one request's.
    fn sms(&self, request_id: Option<i64>, limit: u32) -> BoxFuture<'_, Result<Vec<SmsRow>, StoreError>>;
    fn sms_by_id(&self, id: i64) -> BoxFuture<'_, Result<Option<SmsRow>, StoreError>>;
    /// The SMS a sender knows by `provider_id` (the id a delivery report names).
    fn sms_by_provider_id<'a>(
        &'a self,
        sender: &'a str,
        provider_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<SmsRow>, StoreError>>;
    /// SMS whose delivery failed for good (refused at sending, or reported failed and not sent
    /// again), newest first.
    fn failed_sms(&self, limit: u32) -> BoxFuture<'_, Result<Vec<SmsRow>, StoreError>>;
    /// Records an inbound SMS once per provider and provider id, in one transaction with the
    /// language it sets and its reply (queued, with the `send` job that sends it). False, with
    /// nothing written, when the message was recorded before (a provider retry).
    fn record_inbound(&self, inbound: NewInbound) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// Writes a delivery report's change if its guard holds, with the re-send it asks for in
    /// the same transaction; returns whether it did.
    fn apply_delivery(&self, change: DeliveryChange) -> BoxFuture<'_, Result<bool, StoreError>>;
}

/// What every instance shares besides requests: provider tokens (and the sessions' input key),
/// and the round trip `/readyz` makes.
pub trait Shared: Send + Sync {
    /// One trivial round trip, for `/readyz`.
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// A provider access token shared by every instance, with the time (unix ms) until which
    /// it may be used.
    fn shared_token<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<(String, i64)>, StoreError>>;
    fn put_shared_token<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        use_until_ms: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The shared token for `key` if it is usable at `now_ms` and is not `refused`; otherwise
    /// runs `fetch` (a token and its use-until time) and shares what it got. Instances that
    /// need a token at the same moment take turns, so only one of them fetches. The fetch's own
    /// error comes back as the inner `Err`.
    fn token_or_fetch<'a>(
        &'a self,
        key: &'a str,
        now_ms: i64,
        refused: Option<&'a str>,
        fetch: BoxFuture<'a, Fetched>,
    ) -> BoxFuture<'a, Result<Fetched, StoreError>> {
        // One process owns an embedded store, and the caller serialises its own fetches.
        Box::pin(async move {
            let current = self.shared_token(key).await?;
            reuse_or_fetch(current, now_ms, refused, fetch, |token, until| async move {
                self.put_shared_token(key, &token, until).await
            })
            .await
        })
    }
}

/// What [`Shared::token_or_fetch`] decides, whatever holds the token: the `current` one while
/// it may still be used at `now_ms` (not past its time, and not the one the provider just
/// refused); otherwise a fetched one, handed to `share` before it is returned. The fetch's own
/// error comes back as the inner `Err`, and nothing is shared then.
pub(crate) async fn reuse_or_fetch<S, F>(
    current: Option<(String, i64)>,
    now_ms: i64,
    refused: Option<&str>,
    fetch: BoxFuture<'_, Fetched>,
    share: S,
) -> Result<Fetched, StoreError>
where
    S: FnOnce(String, i64) -> F,
    F: std::future::Future<Output = Result<(), StoreError>>,
{
    if let Some((token, until)) = current
        && until > now_ms
        && refused != Some(token.as_str())
    {
        return Ok(Ok((token, until)));
    }
    match fetch.await {
        Ok((token, until)) => {
            share(token.clone(), until).await?;
            Ok(Ok((token, until)))
        }
        Err(e) => Ok(Err(e)),
    }
}

/// Everything a store does; callers hold an `Arc<dyn Store>`. Implemented by every type that
/// implements each seam's trait.
pub trait Store:
    Requests + Languages + JobQueue + SmsLog + Shared + Misses + Usage + Stats + Retention + Backlog + 'static
{
}

impl<T: Requests + Languages + JobQueue + SmsLog + Shared + Misses + Usage + Stats + Retention + Backlog + 'static>
    Store for T
{
}

/// The store's traits at once, for code that calls a concrete store's methods (`use
/// njia::store::prelude::*`); calls through `dyn Store` need none of them in scope.
pub mod prelude {
    pub use super::{Backlog, JobQueue, Languages, Misses, Requests, Retention, Shared, SmsLog, Stats, Store, Usage};
}

/// A token and the time (unix ms) until which it may be used, or why it could not be fetched.
pub type Fetched = Result<(String, i64), String>;

/// An unguessable callback token: 128 random bits as 32 lowercase hex characters.
pub(crate) fn callback_token() -> String {
    let bits: u128 = rand::random();
    format!("{bits:032x}")
}

/// Unix milliseconds on the system's clock, the time unit of every stored timestamp (a store's
/// job queue reads the clock the store was built with: the system's unless a test chose one).
pub fn now_ms() -> i64 {
    crate::clock::system_now_ms()
}

/// The codes of the `limit` most recent uses among `uses` (`(used at, code)`), the most recent
/// first and then by code, each code once: what `recent_services` answers. Kept by insertion
/// into at most `limit` places instead of sorting every use, because a dial asks it of a
/// number's every remembered use and wants only the first few.
pub fn most_recent(uses: impl IntoIterator<Item = (i64, u32)>, limit: usize) -> Vec<u32> {
    let before = |a: &(i64, u32), b: &(i64, u32)| a.0 > b.0 || (a.0 == b.0 && a.1 < b.1);
    let mut top: Vec<(i64, u32)> = Vec::with_capacity(limit.min(16));
    for used in uses {
        // Not before the last of a full list: neither a new code nor a later use of one listed.
        if top.len() == limit && top.last().is_none_or(|last| !before(&used, last)) {
            continue;
        }
        if let Some(i) = top.iter().position(|t| t.1 == used.1) {
            // The same code again: only a later use moves it up.
            if !before(&used, &top[i]) {
                continue;
            }
            top.remove(i);
        }
        let at = top.iter().position(|t| before(&used, t)).unwrap_or(top.len());
        top.insert(at, used);
        top.truncate(limit);
    }
    top.into_iter().map(|(_, code)| code).collect()
}

/// A new request's reference, drawn from the thread's random generator (seeded from the
/// system's entropy), so references cannot be guessed from one another.
pub(crate) fn new_reference() -> Reference {
    Reference::from_bits(rand::random())
}

/// How both stores keep a phone number that may be purged: its digits, or 0 once purged (the
/// columns are NOT NULL; see the retention migrations).
pub(crate) fn stored_phone(msisdn: Option<Msisdn>) -> i64 {
    msisdn.map_or(0, |m| m.as_u64() as i64)
}

/// A request's fields as the JSON object both stores keep.
pub(crate) fn fields_to_json(fields: &[(String, String)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> =
        fields.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
    serde_json::Value::Object(map).to_string()
}

/// The fields back from their JSON object (in key order).
pub(crate) fn fields_from_json(json: &str) -> Vec<(String, String)> {
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json)
        .map(|m| m.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::most_recent;

    /// `most_recent` against the plain answer (sort everything, keep each code's first), over
    /// cases with repeated codes, ties in time and limits below, at and above the count.
    #[test]
    fn most_recent_is_the_sorted_answer() {
        let cases: &[&[(i64, u32)]] = &[
            &[],
            &[(5, 1)],
            &[(1, 10), (3, 20), (2, 30)],
            &[(1, 10), (9, 10), (3, 20), (9, 5), (9, 7), (4, 7)],
            &[(2, 3), (2, 1), (2, 2), (1, 1), (7, 3)],
            &[(4, 8), (4, 8), (3, 8), (5, 9), (1, 2), (6, 2), (6, 1)],
        ];
        for uses in cases {
            let mut sorted = uses.to_vec();
            sorted.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut plain: Vec<u32> = Vec::new();
            for (_, code) in sorted {
                if !plain.contains(&code) {
                    plain.push(code);
                }
            }
            for limit in 0..=uses.len() + 1 {
                let want: Vec<u32> = plain.iter().copied().take(limit).collect();
                assert_eq!(most_recent(uses.iter().copied(), limit), want, "{uses:?} limit {limit}");
            }
        }
    }
}
