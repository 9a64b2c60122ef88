//! The dispatcher: claims due jobs under a lease and runs each against the outside world
//! (payment provider, agency, SMS sender). A job's run reads the rows it names, makes one
//! call, and leaves what the outcome means to the pure decisions of [`super::decide`]; the
//! store writes their effects atomically with the job's end.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::Policy;
use super::decide::{self, Decision, PushStart, Run};
use super::plan::Notice;
use super::texts::compose_sms;
use crate::agency::Agency;
use crate::i18n::Catalog;
use crate::lifecycle::{AttemptStatus, JobKind};
use crate::payment::Payments;
use crate::sms::{OutgoingSms, SmsSender};
use crate::store::{AttemptChange, AttemptRow, ClaimedJob, Finished, JobFinish, RequestRow, Store, StoreError, now_ms};
use crate::types::Locale;

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
    /// Where jobs, payment results and SMS sent are counted (see `HubConfig::metrics`).
    pub metrics: Arc<crate::metrics::Registry>,
}

/// Why a job could not run; it is tried again after its backoff.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The job, or a row it names, is not what its kind needs (no request, no attempt, data no
    /// version wrote, a row gone).
    #[error("{0}")]
    Malformed(String),
    /// The phone number the job needs was purged (personal data retention). Never expected:
    /// a purge leaves requests with live jobs alone; kept so a job can never reach anyone else.
    #[error("{0}'s phone number was purged")]
    Purged(String),
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
        // The clock and the backoff's randomness are read here, once, and handed to the
        // decisions, which read neither.
        let run = Run { job: &job, policy: &self.policy, now: now_ms(), random: rand::random::<f64>() };
        let (finish, effects) = match self.handle(run).await {
            Ok(r) => r,
            Err(e) => (run.retry(e.to_string()), None),
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
        self.metrics.job(job.kind.as_str(), result, started.elapsed());
        match written {
            Ok(Finished::LostLease) => {
                tracing::warn!(job = job.id, kind = %job.kind, "lease lost before the job finished; its result is dropped")
            }
            Ok(f) => tracing::debug!(job = job.id, kind = %job.kind, finish = %label, written = ?f, "job finished"),
            Err(e) => tracing::error!(job = job.id, kind = %job.kind, error = %e, "cannot record a job's end"),
        }
    }

    async fn handle(&self, run: Run<'_>) -> Result<Decision, JobError> {
        match run.job.kind {
            JobKind::Push => self.push(run).await,
            JobKind::Query => self.query(run).await,
            JobKind::Deliver => self.deliver(run).await,
            JobKind::Notify => self.notify(run).await,
            JobKind::Send => self.send(run).await,
        }
    }

    fn request_id_of(job: &ClaimedJob) -> Result<i64, JobError> {
        job.request_id.ok_or_else(|| JobError::Malformed(format!("{} job {} without a request", job.kind, job.id)))
    }

    async fn attempt_of(&self, job: &ClaimedJob) -> Result<AttemptRow, JobError> {
        let id = job.attempt_id.ok_or_else(|| JobError::Malformed(format!("{} job without an attempt", job.kind)))?;
        self.store.attempt(id).await?.ok_or_else(|| JobError::Malformed(format!("attempt {id} is gone")))
    }

    async fn request_of(&self, job: &ClaimedJob) -> Result<RequestRow, JobError> {
        let id = Self::request_id_of(job)?;
        self.store.request_by_id(id).await?.ok_or_else(|| JobError::Malformed(format!("request {id} is gone")))
    }

    /// Sends the push of one attempt, at most once: the attempt is claimed
    /// (`created -> pushing`) and committed before the HTTP call.
    async fn push(&self, run: Run<'_>) -> Result<Decision, JobError> {
        let (attempt, request) = tokio::join!(self.attempt_of(run.job), self.request_of(run.job));
        let (attempt, request) = (attempt?, request?);
        // Before the claim: an attempt with no number is never moved to `pushing`.
        let push = decide::push_request(&attempt, &request)
            .ok_or_else(|| JobError::Purged(format!("attempt {}", attempt.id)))?;
        match decide::push_start(&attempt, run.policy, run.now) {
            PushStart::Claim(claim) => {
                if !self.store.apply(claim).await? {
                    return Ok((JobFinish::Done, None));
                }
            }
            PushStart::Interrupted(effects) => {
                tracing::warn!(
                    attempt = attempt.id,
                    "push interrupted earlier; its outcome is unknown, not pushing again"
                );
                return Ok((JobFinish::Done, Some(effects)));
            }
            PushStart::Nothing => return Ok((JobFinish::Done, None)),
        }
        let outcome = self.payments.push(&push).await;
        tracing::info!(attempt = attempt.id, reference = %request.reference, outcome = ?outcome, "STK push");
        Ok(decide::after_push(&attempt, outcome, run))
    }

    /// Asks for the result of an attempt the callback has not settled, on a widening schedule;
    /// after the last try the payment is `unknown` for an administrator.
    async fn query(&self, run: Run<'_>) -> Result<Decision, JobError> {
        let attempt = self.attempt_of(run.job).await?;
        if !decide::query_due(&attempt) {
            return Ok((JobFinish::Done, None));
        }
        let outcome = match &attempt.checkout_request_id {
            Some(id) => Some(self.payments.query(id).await),
            None => None,
        };
        if let Some(crate::payment::QueryOutcome::Final { result_code, .. }) = &outcome {
            self.metrics.payment_result(*result_code);
        }
        let decision = decide::after_query(&attempt, outcome, run);
        if let (_, Some(e)) = &decision
            && matches!(e.attempt, Some(AttemptChange { to: AttemptStatus::Unknown, .. }))
        {
            tracing::warn!(attempt = attempt.id, "payment outcome unknown; an administrator must reconcile it");
        }
        Ok(decision)
    }

    async fn deliver(&self, run: Run<'_>) -> Result<Decision, JobError> {
        // Both reads at once: a job waits for the slower, not for the sum.
        let request_id = Self::request_id_of(run.job)?;
        let (request, attempts) = tokio::join!(self.request_of(run.job), self.store.attempts(request_id));
        let request = request?;
        if !decide::deliver_due(&request) {
            return Ok((JobFinish::Done, None));
        }
        let paid = attempts?.into_iter().find(|a| a.status == AttemptStatus::Paid);
        let delivery = decide::delivery(&request, paid.as_ref())
            .ok_or_else(|| JobError::Purged(format!("request {}", request.reference)))?;
        let outcome = self.agency.deliver(&delivery).await;
        tracing::info!(reference = %request.reference, service = %request.service, outcome = ?outcome, "delivery");
        Ok(decide::after_deliver(request.id, paid.is_some(), outcome, run))
    }

    async fn notify(&self, run: Run<'_>) -> Result<Decision, JobError> {
        let job = run.job;
        let notice = Notice::parse(&job.data)
            .ok_or_else(|| JobError::Malformed(format!("notify job with unknown data {:?}", job.data)))?;
        let request_id = Self::request_id_of(job)?;
        let (request, attempts) = tokio::join!(self.request_of(job), self.store.attempts(request_id));
        let request = request?;
        if !decide::notice_due(notice, &request) {
            return Ok((JobFinish::Done, None));
        }
        let to = request.msisdn.ok_or_else(|| JobError::Purged(format!("request {}", request.reference)))?;
        let paid = attempts?.into_iter().find(|a| a.status == AttemptStatus::Paid);
        let text = compose_sms(&self.catalog.load(), &self.default_locale, &request, notice, paid.as_ref());
        let from = self.senders.load().get(&request.menu).cloned();
        let sms = OutgoingSms { to, text, from };
        let outcome = self.sms.send(&sms).await;
        self.metrics.sms_sent(&outcome);
        // A notice's retry waits from when the send returned (it may have taken until the
        // sender's timeout), not from when the run began.
        let run = Run { now: now_ms(), ..run };
        Ok(decide::after_notify(&request, notice, &sms, self.sms.name(), outcome, run))
    }

    /// Sends one queued SMS. The write that records the sender's answer holds only while the
    /// SMS is still queued, so a run that finds it sent (a run before this one got as far as
    /// recording it) sends nothing.
    async fn send(&self, run: Run<'_>) -> Result<Decision, JobError> {
        let job = run.job;
        let id = job.sms_id.ok_or_else(|| JobError::Malformed(format!("send job {} without an SMS", job.id)))?;
        let row = self.store.sms_by_id(id).await?.ok_or_else(|| JobError::Malformed(format!("SMS {id} is gone")))?;
        if !decide::send_due(&row) {
            return Ok((JobFinish::Done, None));
        }
        let to = row.record.msisdn.ok_or_else(|| JobError::Purged(format!("SMS {id}")))?;
        let sms = OutgoingSms { to, text: row.record.text.clone(), from: None };
        let outcome = self.sms.send(&sms).await;
        self.metrics.sms_sent(&outcome);
        // The outcome holds the provider's status and id, never the text.
        tracing::info!(sms = id, to = %sms.to.masked(), attempt = row.attempt, outcome = ?outcome, "queued SMS sent");
        Ok(decide::after_send(&row, self.sms.name(), outcome, run))
    }
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
