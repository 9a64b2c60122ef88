//! The jobs the hand-off plans: what a new request starts with ([`plan_submit`]), the notify
//! jobs' [`Notice`] (which SMS, one per outcome per request) and the query that follows a
//! push.

use super::Policy;
use crate::lifecycle::{JobKind, RequestStatus};
use crate::money::Kes;
use crate::store::{AttemptRow, JobAttempt, NewAttempt, NewJob};
use crate::types::Msisdn;

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

/// A job of `kind`, keyed by `discriminator` among the request's jobs of that kind.
pub(super) fn job(
    kind: JobKind,
    discriminator: &str,
    attempt: JobAttempt,
    run_at_ms: i64,
    policy: &Policy,
    data: &str,
) -> NewJob {
    NewJob {
        kind,
        discriminator: discriminator.to_owned(),
        attempt,
        run_at_ms,
        max_failures: policy.max_failures,
        data: data.to_owned(),
    }
}

/// The first status query of an attempt whose push went out (or may have): after the first
/// delay of the query schedule, unless the callback settles it first.
pub(super) fn first_query(attempt: &AttemptRow, policy: &Policy, now: i64) -> NewJob {
    let first = policy.query_delays_ms.first().copied().unwrap_or(45_000);
    job(JobKind::Query, &attempt.seq.to_string(), JobAttempt::Id(attempt.id), now + first, policy, "")
}

/// Why a payment failed, as the citizen's SMS and the request's status note say it.
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

    /// The reason as the notify job's data and the request's status note write it.
    pub(super) fn as_str(self) -> &'static str {
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

    /// The reason [`FailReason::as_str`] wrote; `Other` for anything else.
    pub(super) fn parse(s: &str) -> FailReason {
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
    /// The notify job's data.
    pub(super) fn data(self) -> String {
        match self {
            Notice::Fulfilled => "fulfilled".into(),
            Notice::Rejected => "rejected".into(),
            Notice::PaymentFailed(r) => format!("payment_failed:{}", r.as_str()),
            Notice::PaymentUnknown => "payment_unknown".into(),
            Notice::PushUnknown => "push_unknown".into(),
            Notice::Delayed => "delayed".into(),
        }
    }

    /// The notice a notify job's data names; `None` for data no version wrote.
    pub(super) fn parse(s: &str) -> Option<Notice> {
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

    /// The notify job sending this notice now.
    pub(super) fn job(self, policy: &Policy, now: i64) -> NewJob {
        job(JobKind::Notify, self.discriminator(), JobAttempt::None, now, policy, &self.data())
    }

    /// The notice about attempt `seq`'s unknown push, due after the callback had its chance.
    pub(super) fn push_unknown(policy: &Policy, seq: u32, now: i64) -> NewJob {
        let n = Notice::PushUnknown;
        let discriminator = format!("{}:{seq}", n.discriminator());
        job(JobKind::Notify, &discriminator, JobAttempt::None, now + policy.unknown_notice_ms, policy, &n.data())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(Notice::parse("payment_failed:no-such-reason"), Some(Notice::PaymentFailed(FailReason::Other)));
        assert_eq!(Notice::parse("paid"), None);
    }

    #[test]
    fn a_request_starts_with_a_push_after_the_delay_or_a_delivery_now() {
        let p = Policy { push_delay_ms: 3_000, max_failures: 7, ..Policy::default() };
        let msisdn = Msisdn::parse("+254711000111").expect("a number");
        let paid = plan_submit(msisdn, Kes::new(4500).ok(), &p, 1_000);
        assert_eq!(paid.statuses, vec![RequestStatus::PaymentPending]);
        assert_eq!(paid.attempt, Some(NewAttempt { provider: "mpesa".into(), msisdn, amount_kes: 4500 }));
        assert_eq!(paid.jobs, vec![job(JobKind::Push, "1", JobAttempt::New, 4_000, &p, "")]);
        assert_eq!(paid.jobs[0].max_failures, 7);
        let free = plan_submit(msisdn, None, &p, 1_000);
        assert_eq!(free.statuses, vec![RequestStatus::Fulfilling]);
        assert_eq!(free.attempt, None);
        assert_eq!(free.jobs, vec![job(JobKind::Deliver, "1", JobAttempt::None, 1_000, &p, "")]);
    }
}
