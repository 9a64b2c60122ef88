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
//!
//! The decisions are pure and live apart from the IO that feeds them:
//! - `policy.rs`: [`Policy`], the timing and the full-jitter backoff;
//! - `plan.rs`: [`plan_submit`] and the jobs the hand-off plans ([`Notice`]s among them);
//! - `settle.rs`: result codes ([`verdict`]), [`settle`], disagreeing "paid" callbacks held
//!   for review, and [`payment_callback`] around [`after_callback`];
//! - `decide.rs`: what each job's outcome means ([`after_push`], [`after_query`],
//!   [`after_deliver`], [`after_notify`], [`after_send`]);
//! - `dispatcher.rs`: the [`Dispatcher`], which reads a job's rows, makes its one call and
//!   writes what the decision says;
//! - `texts.rs`: the SMS texts ([`compose_sms`], [`SMS_MESSAGES`]);
//! - `reports.rs`: delivery reports ([`delivery_change`], [`delivery_report`]).

mod decide;
mod dispatcher;
#[cfg(test)]
mod fixtures;
mod plan;
mod policy;
mod reports;
mod settle;
mod texts;

pub use decide::{
    Decision, PushStart, Run, after_deliver, after_notify, after_push, after_query, after_send, deliver_due, delivery,
    notice_due, push_request, push_start, query_due, send_due,
};
pub use dispatcher::{Dispatcher, JobError, worker_name};
pub use plan::{FailReason, Notice, Plan, plan_submit};
pub use policy::Policy;
pub use reports::{ReportOutcome, delivery_change, delivery_report, transient_failure};
pub use settle::{
    Callback, CallbackOutcome, Conflict, Disagreement, Mismatch, Verdict, after_callback, disagrees, late_callback,
    payment_callback, settle, verdict,
};
pub use texts::{SMS_MESSAGES, compose_sms};
