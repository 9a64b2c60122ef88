//! The request lifecycle as data: the states a request, a payment attempt and a job can be in,
//! and which request transitions are allowed.
//!
//! ```text
//! received ─┬─> payment_pending ─┬─> paid ──> fulfilling ─┬─> fulfilled ─┐
//!           │                    ├─> payment_failed ───────┼─────────────┼─> notified
//!           │                    └─> payment_unknown       └─> rejected ─┘
//!           └─> fulfilling (no payment)
//! ```
//!
//! `payment_unknown` waits for an administrator (or a late callback, which may still settle it
//! as paid or failed). `held_for_review` is a payment callback that said "paid" with an amount
//! or a phone number other than the attempt's: never settled as paid by itself, it waits for
//! an administrator to decide (paid, or failed). Every transition is stored with its time in `request_events`.

use std::fmt;

/// Where a request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    Received,
    PaymentPending,
    Paid,
    PaymentFailed,
    PaymentUnknown,
    HeldForReview,
    Fulfilling,
    Fulfilled,
    Rejected,
    Notified,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 10] = [
        RequestStatus::Received,
        RequestStatus::PaymentPending,
        RequestStatus::Paid,
        RequestStatus::PaymentFailed,
        RequestStatus::PaymentUnknown,
        RequestStatus::HeldForReview,
        RequestStatus::Fulfilling,
        RequestStatus::Fulfilled,
        RequestStatus::Rejected,
        RequestStatus::Notified,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Received => "received",
            RequestStatus::PaymentPending => "payment_pending",
            RequestStatus::Paid => "paid",
            RequestStatus::PaymentFailed => "payment_failed",
            RequestStatus::PaymentUnknown => "payment_unknown",
            RequestStatus::HeldForReview => "held_for_review",
            RequestStatus::Fulfilling => "fulfilling",
            RequestStatus::Fulfilled => "fulfilled",
            RequestStatus::Rejected => "rejected",
            RequestStatus::Notified => "notified",
        }
    }

    pub fn parse(s: &str) -> Option<RequestStatus> {
        RequestStatus::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether each of `steps`, in turn from this status, is a transition the state machine
    /// allows (a request's history from `received`, or a change from its current status).
    pub fn can_walk(self, steps: impl IntoIterator<Item = RequestStatus>) -> bool {
        let mut at = self;
        steps.into_iter().all(|next| std::mem::replace(&mut at, next).can_become(next))
    }

    /// Whether the request's outcome is decided: nothing can follow but the notice that tells
    /// the citizen (`fulfilled`, `rejected`, `payment_failed`), or that notice is sent
    /// (`notified`). Derived from the transitions, so a state added later is final only if it
    /// leads nowhere else. `payment_unknown` and `held_for_review` wait for an administrator and
    /// are not final. Only a final request's personal data is ever purged (`store::Retention`).
    pub fn is_final(self) -> bool {
        RequestStatus::ALL.into_iter().all(|next| next == RequestStatus::Notified || !self.can_become(next))
    }

    /// The transitions the state machine allows; stores refuse every other.
    pub fn can_become(self, next: RequestStatus) -> bool {
        use RequestStatus::*;
        matches!(
            (self, next),
            (Received, PaymentPending)
                | (Received, Fulfilling)
                | (PaymentPending, Paid)
                | (PaymentPending, PaymentFailed)
                | (PaymentPending, PaymentUnknown)
                // A late callback or an administrator settles an unknown payment.
                | (PaymentUnknown, Paid)
                | (PaymentUnknown, PaymentFailed)
                // A callback whose amount or phone disagrees with the attempt; an
                // administrator decides.
                | (PaymentPending, HeldForReview)
                | (PaymentUnknown, HeldForReview)
                | (HeldForReview, Paid)
                | (HeldForReview, PaymentFailed)
                | (Paid, Fulfilling)
                | (Fulfilling, Fulfilled)
                | (Fulfilling, Rejected)
                | (Fulfilled, Notified)
                | (Rejected, Notified)
                | (PaymentFailed, Notified)
        )
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one payment attempt (one STK push) is. An attempt is pushed at most once: only
/// `created -> pushing` sends a push, and nothing leads back to `created`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttemptStatus {
    /// Stored with its request; not pushed yet.
    Created,
    /// Claimed for pushing and committed before the HTTP call. An attempt found in this state
    /// by a later run was interrupted mid-push and is treated as `push_unknown`.
    Pushing,
    /// Accepted by the provider; waiting for the callback or a query.
    PushSent,
    /// The push may or may not have reached the provider; only a callback settles it.
    PushUnknown,
    Paid,
    Failed,
    /// Nothing settled it in time; an administrator reconciles it.
    Unknown,
    /// A callback said paid with an amount or phone number other than the attempt's.
    Held,
}

impl AttemptStatus {
    pub const ALL: [AttemptStatus; 8] = [
        AttemptStatus::Created,
        AttemptStatus::Pushing,
        AttemptStatus::PushSent,
        AttemptStatus::PushUnknown,
        AttemptStatus::Paid,
        AttemptStatus::Failed,
        AttemptStatus::Unknown,
        AttemptStatus::Held,
    ];

    /// The states a result (callback or query) may still settle.
    pub const OPEN: [AttemptStatus; 4] =
        [AttemptStatus::Pushing, AttemptStatus::PushSent, AttemptStatus::PushUnknown, AttemptStatus::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Created => "created",
            AttemptStatus::Pushing => "pushing",
            AttemptStatus::PushSent => "push_sent",
            AttemptStatus::PushUnknown => "push_unknown",
            AttemptStatus::Paid => "paid",
            AttemptStatus::Failed => "failed",
            AttemptStatus::Unknown => "unknown",
            AttemptStatus::Held => "held",
        }
    }

    pub fn parse(s: &str) -> Option<AttemptStatus> {
        AttemptStatus::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for AttemptStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Send the STK push of one attempt.
    Push,
    /// Ask the provider for the result of one attempt.
    Query,
    /// Deliver the request to its agency.
    Deliver,
    /// Send the citizen the SMS for the request's outcome.
    Notify,
    /// Send one SMS kept in the store as queued: the reply to an inbound SMS, or a receipt sent
    /// again after its delivery failed.
    Send,
}

impl JobKind {
    pub const ALL: [JobKind; 5] = [JobKind::Push, JobKind::Query, JobKind::Deliver, JobKind::Notify, JobKind::Send];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Push => "push",
            JobKind::Query => "query",
            JobKind::Deliver => "deliver",
            JobKind::Notify => "notify",
            JobKind::Send => "send",
        }
    }

    pub fn parse(s: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a sent SMS is, as the provider's delivery reports tell it. `sent`, `submitted` and
/// `buffered` are interim; `success`, `rejected` and `failed` are final and never overwritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Handed to the network.
    Sent,
    /// Handed to the telco's SMSC.
    Submitted,
    /// Queued by the telco (the phone is off or out of coverage).
    Buffered,
    /// On the handset.
    Success,
    /// Refused by the telco or the provider.
    Rejected,
    /// Not delivered (an expired message is failed too).
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 6] = [
        DeliveryStatus::Sent,
        DeliveryStatus::Submitted,
        DeliveryStatus::Buffered,
        DeliveryStatus::Success,
        DeliveryStatus::Rejected,
        DeliveryStatus::Failed,
    ];

    /// The interim states, from which a report may still move an SMS.
    pub const INTERIM: [DeliveryStatus; 3] =
        [DeliveryStatus::Sent, DeliveryStatus::Submitted, DeliveryStatus::Buffered];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Submitted => "submitted",
            DeliveryStatus::Buffered => "buffered",
            DeliveryStatus::Success => "success",
            DeliveryStatus::Rejected => "rejected",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        !DeliveryStatus::INTERIM.contains(&self)
    }

    /// Final and not delivered.
    pub fn is_failure(self) -> bool {
        matches!(self, DeliveryStatus::Rejected | DeliveryStatus::Failed)
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a job is. `dead` jobs wait for `njia jobs retry`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobState {
    Ready,
    Running,
    Done,
    Dead,
}

impl JobState {
    pub const ALL: [JobState; 4] = [JobState::Ready, JobState::Running, JobState::Done, JobState::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Ready => "ready",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in RequestStatus::ALL {
            assert_eq!(RequestStatus::parse(s.as_str()), Some(s));
        }
        for s in AttemptStatus::ALL {
            assert_eq!(AttemptStatus::parse(s.as_str()), Some(s));
        }
        for s in JobKind::ALL {
            assert_eq!(JobKind::parse(s.as_str()), Some(s));
        }
        for s in JobState::ALL {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
        }
        for s in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(DeliveryStatus::ALL.iter().filter(|s| s.is_final()).count(), 3);
    }

    #[test]
    fn every_state_but_notified_leads_somewhere_and_notified_is_final() {
        use RequestStatus::*;
        for s in RequestStatus::ALL {
            let next = RequestStatus::ALL.iter().filter(|n| s.can_become(**n)).count();
            if s == Notified {
                assert_eq!(next, 0);
            } else {
                assert!(next > 0, "{s} is a dead end");
            }
        }
        let finals: Vec<RequestStatus> = RequestStatus::ALL.into_iter().filter(|s| s.is_final()).collect();
        assert_eq!(finals, [PaymentFailed, Fulfilled, Rejected, Notified]);
        // Nothing goes back to the start or skips payment.
        assert!(!Paid.can_become(PaymentPending));
        assert!(!Received.can_become(Paid));
        assert!(!Fulfilled.can_become(Rejected));
    }
}
