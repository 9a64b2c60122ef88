//! What a payment result means: Daraja's result codes ([`verdict`]), the effects of a final
//! result ([`settle`]), a "paid" that disagrees with its attempt ([`disagrees`], held for
//! review), the receipt a callback brings to an attempt a status query already settled as paid
//! ([`late_callback`]: Daraja's STK Push Query carries no receipt), and [`payment_callback`],
//! the one path every callback takes (from Daraja or the sandbox's simulated M-Pesa): read the
//! attempt, decide ([`after_callback`]), write.

use super::Policy;
use super::plan::{FailReason, Notice, job};
use crate::lifecycle::{AttemptStatus, JobKind, RequestStatus};
use crate::payment::PaymentResult;
use crate::store::{
    AttemptChange, AttemptRow, Effects, JobAttempt, NewAttempt, ReceiptFill, RequestChange, Store, StoreError, now_ms,
};
use crate::types::Msisdn;

/// What a payment result code means (Daraja's table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Paid,
    /// 1001: the subscriber is busy (another USSD dialogue): try again later.
    Busy,
    Failed(FailReason),
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
        receipt,
        result_code: Some(result_code),
        result_desc: Some(result_desc.to_owned()),
        ..AttemptChange::moved(attempt.id, &AttemptStatus::OPEN, to)
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
        // A new attempt, never a second push of this one; an attempt whose number was purged
        // (only ever a settled one, so these effects are stale anyway) is pushed to nobody.
        Verdict::Busy
            if attempt.seq < policy.max_payment_attempts
                && let Some(msisdn) = attempt.msisdn =>
        {
            e.attempt = Some(change(AttemptStatus::Failed, None));
            e.new_attempt =
                Some(NewAttempt { provider: attempt.provider.clone(), msisdn, amount_kes: attempt.amount_kes });
            let seq = (attempt.seq + 1).to_string();
            e.jobs.push(job(JobKind::Push, &seq, JobAttempt::New, now + policy.busy_retry_ms, policy, ""));
        }
        Verdict::Busy => return failed(attempt, FailReason::Busy, Some(result_code), result_desc, policy, now),
        Verdict::Failed(reason) => return failed(attempt, reason, Some(result_code), result_desc, policy, now),
    }
    e
}

pub(super) fn failed(
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
            result_code,
            result_desc: Some(desc.to_owned()),
            ..AttemptChange::moved(attempt.id, &AttemptStatus::OPEN, AttemptStatus::Failed)
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
    /// The receipt of an attempt a status query had settled as paid without one was recorded;
    /// nothing else changed (no second delivery, no second SMS).
    ReceiptRecorded,
    /// Already settled (a duplicate or late callback): nothing changed.
    Duplicate,
    /// It contradicts the payment recorded (another receipt, a failure for a paid attempt):
    /// nothing changed, and a warning says what, for an operator to look into.
    Conflict,
    /// No attempt has this token.
    UnknownToken,
    /// The callback names another push than the one this token's attempt made.
    Mismatch,
}

/// A callback that names another push than the one its attempt made: it changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mismatch;

/// What a payment callback changes, as [`after_callback`] decides it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Callback {
    /// A result for an attempt not settled yet: these effects settle it (paid, failed, a new
    /// attempt after a busy phone) or, with the disagreement, hold it for review. Stale, and so
    /// nothing, when the attempt has been settled meanwhile.
    Settle(Effects, Option<Disagreement>),
    /// The receipt of an attempt already paid without one: these effects record it, and
    /// nothing else.
    Receipt(Effects),
    /// Nothing to record: a copy of what is recorded about a paid attempt.
    Nothing,
    /// Contradicts the payment recorded: nothing changes, and an operator should know.
    Conflict(Conflict),
}

/// Decides what a payment callback changes: a final result settles the attempt, a "paid" that
/// disagrees with it holds it for review, and either way the attempt learns the callback's
/// checkout and merchant ids (a push whose HTTP answer was lost knows them only from here). A
/// callback about an attempt already paid is [`late_callback`]'s: it may bring the receipt a
/// status query could not. A callback naming another push than the attempt's changes nothing.
pub fn after_callback(
    attempt: &AttemptRow,
    result: &PaymentResult,
    policy: &Policy,
    now: i64,
) -> Result<Callback, Mismatch> {
    if attempt.checkout_request_id.as_deref().is_some_and(|id| id != result.checkout_request_id) {
        return Err(Mismatch);
    }
    if attempt.status == AttemptStatus::Paid {
        return Ok(late_callback(attempt, result));
    }
    let held = disagrees(attempt, result);
    let mut effects = match &held {
        Some(why) => hold(attempt, result, why),
        None => settle(attempt, result.result_code, &result.result_desc, result.receipt.clone(), policy, now),
    };
    if let Some(a) = effects.attempt.as_mut() {
        a.checkout_request_id = Some(result.checkout_request_id.clone());
        a.merchant_request_id = Some(result.merchant_request_id.clone());
    }
    Ok(Callback::Settle(effects, held))
}

/// How a callback contradicts the payment recorded on its (paid) attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conflict {
    /// Paid, with another receipt than the one recorded.
    Receipt { recorded: String, paid: String },
    /// A failure's result code for an attempt recorded as paid.
    Failure { code: i64 },
    /// Paid, with an amount or a phone number other than the attempt's.
    Disagrees(Disagreement),
    /// The attempt knows no checkout id to hold the callback's against.
    NoCheckout,
}

impl Conflict {
    /// One word for the log line: `receipt`, `failure`, `amount`, `phone`, `no_checkout`.
    pub fn kind(&self) -> &'static str {
        match self {
            Conflict::Receipt { .. } => "receipt",
            Conflict::Failure { .. } => "failure",
            Conflict::Disagrees(d) => d.kind(),
            Conflict::NoCheckout => "no_checkout",
        }
    }
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Conflict::Receipt { recorded, paid } => write!(f, "receipt {paid}, but {recorded} is recorded"),
            Conflict::Failure { code } => write!(f, "result code {code} (not paid), but the attempt is paid"),
            Conflict::Disagrees(why) => write!(f, "{why}"),
            Conflict::NoCheckout => f.write_str("the paid attempt has no checkout id to match the callback with"),
        }
    }
}

/// A callback about an attempt already paid. A status query settles an attempt as paid
/// without its receipt (Daraja's STK Push Query carries no `MpesaReceiptNumber`), so the
/// callback that follows is the only place the receipt comes from: a "paid" with a receipt
/// that agrees with the attempt (its checkout id, and its amount and phone as [`disagrees`]
/// holds them) records it on an attempt that has none, and changes nothing else: no status, no
/// delivery, no SMS. A copy of what is recorded changes nothing; another receipt, a failure or
/// a disagreeing "paid" changes nothing either, and is a [`Conflict`] an operator is told of.
pub fn late_callback(attempt: &AttemptRow, result: &PaymentResult) -> Callback {
    if verdict(result.result_code) != Verdict::Paid {
        return Callback::Conflict(Conflict::Failure { code: result.result_code });
    }
    let Some(paid) = &result.receipt else { return Callback::Nothing };
    match &attempt.receipt {
        Some(recorded) if recorded == paid => return Callback::Nothing,
        Some(recorded) => {
            return Callback::Conflict(Conflict::Receipt { recorded: recorded.clone(), paid: paid.clone() });
        }
        None => {}
    }
    if attempt.checkout_request_id.as_deref() != Some(result.checkout_request_id.as_str()) {
        return Callback::Conflict(Conflict::NoCheckout);
    }
    if let Some(why) = disagrees(attempt, result) {
        return Callback::Conflict(Conflict::Disagrees(why));
    }
    Callback::Receipt(Effects {
        request_id: attempt.request_id,
        receipt: Some(ReceiptFill { attempt_id: attempt.id, receipt: paid.clone() }),
        ..Effects::default()
    })
}

/// Records a payment result that arrived by callback (or from the sandbox's simulated
/// M-Pesa, which goes through here too). Durable when it returns.
///
/// A callback that read its attempt still open may find its effects stale because a status query
/// settled the attempt in between: it then reads the attempt once more and decides again, so
/// the receipt it carries is not lost to the race. A settled attempt never moves again, so the
/// second decision is the last.
pub async fn payment_callback(
    store: &dyn Store,
    policy: &Policy,
    metrics: &crate::metrics::Registry,
    token: &str,
    result: &PaymentResult,
) -> Result<CallbackOutcome, StoreError> {
    let mut again = true;
    loop {
        let Some(attempt) = store.attempt_by_token(token).await? else { return Ok(CallbackOutcome::UnknownToken) };
        let Ok(decision) = after_callback(&attempt, result, policy, now_ms()) else {
            return Ok(CallbackOutcome::Mismatch);
        };
        let (outcome, applied) = match decision {
            Callback::Settle(effects, disagreement) => {
                let applied = store.apply(effects).await?;
                if !applied && again && AttemptStatus::OPEN.contains(&attempt.status) {
                    again = false;
                    continue;
                }
                if applied {
                    metrics.payment_result(result.result_code);
                }
                if let (true, Some(why)) = (applied, &disagreement) {
                    metrics.payment_reviews.inc(why.kind());
                    tracing::warn!(attempt = attempt.id, checkout = %result.checkout_request_id, why = %why, "payment callback disagrees with its attempt: request held for review");
                }
                (if applied { CallbackOutcome::Applied } else { CallbackOutcome::Duplicate }, applied)
            }
            // The result was counted when the query settled the attempt; only the receipt is new.
            Callback::Receipt(effects) => {
                let applied = store.apply(effects).await?;
                if applied {
                    tracing::info!(attempt = attempt.id, checkout = %result.checkout_request_id, "payment callback brought the receipt of an attempt a status query settled");
                }
                (if applied { CallbackOutcome::ReceiptRecorded } else { CallbackOutcome::Duplicate }, applied)
            }
            Callback::Nothing => (CallbackOutcome::Duplicate, false),
            Callback::Conflict(why) => {
                tracing::warn!(
                    attempt = attempt.id,
                    checkout = %result.checkout_request_id,
                    code = result.result_code,
                    conflict = why.kind(),
                    why = %why,
                    "payment callback contradicts the payment recorded; nothing changed: check the M-Pesa statement"
                );
                (CallbackOutcome::Conflict, false)
            }
        };
        tracing::info!(
            attempt = attempt.id,
            checkout = %result.checkout_request_id,
            code = result.result_code,
            applied,
            "payment callback"
        );
        return Ok(outcome);
    }
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
        Some(paid) if Some(paid) != attempt.msisdn.map(Msisdn::as_u64) => Some(Disagreement::Phone { paid }),
        _ => None,
    }
}

/// A disagreeing "paid": the attempt is held with what the callback said, the request waits
/// for an administrator, and nothing is delivered or announced.
fn hold(attempt: &AttemptRow, result: &PaymentResult, why: &Disagreement) -> Effects {
    Effects {
        request_id: attempt.request_id,
        attempt: Some(AttemptChange {
            receipt: result.receipt.clone(),
            result_code: Some(result.result_code),
            result_desc: Some(format!("{}; {why}", result.result_desc)),
            ..AttemptChange::moved(attempt.id, &AttemptStatus::OPEN, AttemptStatus::Held)
        }),
        request: Some(RequestChange {
            from: vec![RequestStatus::PaymentPending, RequestStatus::PaymentUnknown],
            to: vec![(RequestStatus::HeldForReview, Some(why.to_string()))],
            refund_review: false,
        }),
        ..Effects::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::fixtures::{attempt as attempt_row, citizen};
    use crate::store::NewJob;

    const NOW: i64 = 1_000_000;

    #[test]
    fn result_codes() {
        assert_eq!(verdict(0), Verdict::Paid);
        assert_eq!(verdict(1), Verdict::Failed(FailReason::InsufficientFunds));
        assert_eq!(verdict(1032), Verdict::Failed(FailReason::Cancelled));
        assert_eq!(verdict(1031), Verdict::Failed(FailReason::Cancelled));
        assert_eq!(verdict(1037), Verdict::Failed(FailReason::Unreachable));
        assert_eq!(verdict(2001), Verdict::Failed(FailReason::WrongPin));
        assert_eq!(verdict(1001), Verdict::Busy);
        assert_eq!(verdict(17), Verdict::Failed(FailReason::Other));
        assert_eq!(verdict(-1), Verdict::Failed(FailReason::Other));
    }

    fn attempt(seq: u32, checkout: Option<&str>) -> AttemptRow {
        attempt_row(AttemptStatus::PushSent, seq, checkout)
    }

    fn policy() -> Policy {
        Policy { busy_retry_ms: 60_000, max_payment_attempts: 2, max_failures: 5, ..Policy::default() }
    }

    fn change(to: AttemptStatus, code: i64, desc: &str, receipt: Option<&str>) -> AttemptChange {
        AttemptChange {
            receipt: receipt.map(str::to_owned),
            result_code: Some(code),
            result_desc: Some(desc.into()),
            ..AttemptChange::moved(7, &AttemptStatus::OPEN, to)
        }
    }

    const PENDING: [RequestStatus; 2] = [RequestStatus::PaymentPending, RequestStatus::PaymentUnknown];

    fn new_job(kind: JobKind, discriminator: &str, attempt: JobAttempt, run_at_ms: i64, data: &str) -> NewJob {
        NewJob { kind, discriminator: discriminator.into(), attempt, run_at_ms, max_failures: 5, data: data.into() }
    }

    fn payment_failed(reason: &str, code: i64, desc: &str) -> Effects {
        Effects {
            request_id: 3,
            attempt: Some(change(AttemptStatus::Failed, code, desc, None)),
            request: Some(RequestChange {
                from: PENDING.to_vec(),
                to: vec![(RequestStatus::PaymentFailed, Some(format!("{reason}: {desc}")))],
                refund_review: false,
            }),
            jobs: vec![new_job(
                JobKind::Notify,
                "payment_failed",
                JobAttempt::None,
                NOW,
                &format!("payment_failed:{reason}"),
            )],
            ..Effects::default()
        }
    }

    /// Every branch of `settle`: paid, busy with attempts left, busy on the last attempt, and
    /// each failure with its SMS.
    #[test]
    fn every_result_settles_the_attempt() {
        let paid = Effects {
            request_id: 3,
            attempt: Some(change(AttemptStatus::Paid, 0, "ok", Some("QK1"))),
            request: Some(RequestChange {
                from: PENDING.to_vec(),
                to: vec![(RequestStatus::Paid, Some("QK1".into())), (RequestStatus::Fulfilling, None)],
                refund_review: false,
            }),
            jobs: vec![new_job(JobKind::Deliver, "1", JobAttempt::None, NOW, "")],
            ..Effects::default()
        };
        let busy_again = Effects {
            request_id: 3,
            attempt: Some(change(AttemptStatus::Failed, 1001, "busy", None)),
            new_attempt: Some(NewAttempt { provider: "mpesa".into(), msisdn: citizen(), amount_kes: 4500 }),
            jobs: vec![new_job(JobKind::Push, "2", JobAttempt::New, NOW + 60_000, "")],
            ..Effects::default()
        };
        type Row<'a> = (&'a str, u32, i64, &'a str, Option<&'a str>, Effects);
        let rows: Vec<Row<'_>> = vec![
            ("paid: delivered now", 1, 0, "ok", Some("QK1"), paid),
            ("busy with an attempt left: a new attempt later", 1, 1001, "busy", None, busy_again),
            ("busy on the last attempt: failed", 2, 1001, "busy", None, payment_failed("busy", 1001, "busy")),
            ("insufficient funds", 1, 1, "no money", None, payment_failed("insufficient", 1, "no money")),
            ("cancelled", 1, 1032, "cancelled", None, payment_failed("cancelled", 1032, "cancelled")),
            ("unreachable", 1, 1037, "timeout", None, payment_failed("unreachable", 1037, "timeout")),
            ("wrong PIN", 2, 2001, "wrong pin", None, payment_failed("wrong-pin", 2001, "wrong pin")),
            ("any other code", 1, 9999, "odd", None, payment_failed("other", 9999, "odd")),
        ];
        for (why, seq, code, desc, receipt, expected) in rows {
            let got = settle(&attempt(seq, Some("ws_CO_1")), code, desc, receipt.map(str::to_owned), &policy(), NOW);
            assert_eq!(got, expected, "{why}");
        }
    }

    fn result(code: i64, amount: Option<&str>, phone: Option<u64>) -> PaymentResult {
        PaymentResult {
            merchant_request_id: "m-1".into(),
            checkout_request_id: "ws_CO_1".into(),
            result_code: code,
            result_desc: "desc".into(),
            receipt: (code == 0).then(|| "QK1".into()),
            amount: amount.map(str::to_owned),
            phone,
        }
    }

    #[test]
    fn a_paid_callback_must_match_its_attempt() {
        let me = citizen().as_u64();
        let amount = |paid: &str| Some(Disagreement::Amount { paid: paid.into(), asked: 4500 });
        let rows: Vec<(&str, PaymentResult, Option<Disagreement>)> = vec![
            ("the amount and number asked", result(0, Some("4500"), Some(me)), None),
            ("the amount with zero cents", result(0, Some("4500.00"), Some(me)), None),
            ("the amount with a decimal point", result(0, Some(" 4500.0 "), None), None),
            ("neither field (a query's result)", result(0, None, None), None),
            ("less than asked", result(0, Some("450"), Some(me)), amount("450")),
            ("cents", result(0, Some("4500.50"), Some(me)), amount("4500.50")),
            ("not a number", result(0, Some("KES 4500"), Some(me)), amount("KES 4500")),
            (
                "another number paid",
                result(0, Some("4500"), Some(254722000222)),
                Some(Disagreement::Phone { paid: 254722000222 }),
            ),
            ("a failure is never a disagreement", result(1032, Some("1"), Some(254722000222)), None),
        ];
        for (why, r, expected) in rows {
            assert_eq!(disagrees(&attempt(1, Some("ws_CO_1")), &r), expected, "{why}");
        }
    }

    #[test]
    fn a_callback_settles_holds_or_is_refused() {
        let p = policy();
        let me = citizen().as_u64();
        // The attempt learns the callback's ids, whatever it decides.
        let with_ids = |mut e: Effects| {
            if let Some(a) = e.attempt.as_mut() {
                a.checkout_request_id = Some("ws_CO_1".into());
                a.merchant_request_id = Some("m-1".into());
            }
            e
        };
        let good = result(0, Some("4500"), Some(me));
        let settled = with_ids(settle(&attempt(1, None), 0, "desc", Some("QK1".into()), &p, NOW));
        let why = Disagreement::Amount { paid: "10".into(), asked: 4500 };
        let held = Effects {
            request_id: 3,
            attempt: Some(AttemptChange {
                checkout_request_id: Some("ws_CO_1".into()),
                merchant_request_id: Some("m-1".into()),
                ..change(AttemptStatus::Held, 0, &format!("desc; {why}"), Some("QK1"))
            }),
            request: Some(RequestChange {
                from: PENDING.to_vec(),
                to: vec![(RequestStatus::HeldForReview, Some(why.to_string()))],
                refund_review: false,
            }),
            ..Effects::default()
        };
        type Row<'a> = (&'a str, Option<&'a str>, PaymentResult, Result<Callback, Mismatch>);
        let rows: Vec<Row<'_>> = vec![
            (
                "a push whose answer was lost learns its ids",
                None,
                good.clone(),
                Ok(Callback::Settle(settled.clone(), None)),
            ),
            ("the push the attempt made", Some("ws_CO_1"), good.clone(), Ok(Callback::Settle(settled, None))),
            ("another push than the attempt's", Some("ws_CO_9"), good, Err(Mismatch)),
            (
                "a paid amount that differs is held for review",
                Some("ws_CO_1"),
                result(0, Some("10"), Some(me)),
                Ok(Callback::Settle(held, Some(why.clone()))),
            ),
            (
                "a failure",
                Some("ws_CO_1"),
                result(1032, None, None),
                Ok(Callback::Settle(with_ids(payment_failed("cancelled", 1032, "desc")), None)),
            ),
        ];
        for (why, checkout, r, expected) in rows {
            assert_eq!(after_callback(&attempt(1, checkout), &r, &p, NOW), expected, "{why}");
        }
    }

    /// #15: a callback about an attempt a status query already settled as paid (no receipt:
    /// the query carries none). Only a "paid" that agrees with the attempt records its receipt,
    /// and nothing else; a copy changes nothing; whatever contradicts the recorded payment
    /// changes nothing and is a conflict to warn of. Each row: the attempt's recorded receipt
    /// and checkout id, the callback, what it decides.
    #[test]
    fn a_callback_after_a_query_paid_brings_only_the_receipt() {
        let me = citizen().as_u64();
        let paid_by_query = |receipt: Option<&str>, checkout: Option<&str>| AttemptRow {
            receipt: receipt.map(str::to_owned),
            result_code: Some(0),
            ..attempt_row(AttemptStatus::Paid, 1, checkout)
        };
        let with_receipt = |code: i64, receipt: Option<&str>, amount: Option<&str>, phone: Option<u64>| PaymentResult {
            receipt: receipt.map(str::to_owned),
            ..result(code, amount, phone)
        };
        let fill = |receipt: &str| {
            Callback::Receipt(Effects {
                request_id: 3,
                receipt: Some(ReceiptFill { attempt_id: 7, receipt: receipt.into() }),
                ..Effects::default()
            })
        };
        type Row<'a> = (&'a str, Option<&'a str>, Option<&'a str>, PaymentResult, Result<Callback, Mismatch>);
        let rows: Vec<Row<'_>> = vec![
            (
                "paid with the receipt, agreeing: recorded",
                None,
                Some("ws_CO_1"),
                with_receipt(0, Some("QK1"), Some("4500.00"), Some(me)),
                Ok(fill("QK1")),
            ),
            (
                "no amount or phone to disagree with: recorded",
                None,
                Some("ws_CO_1"),
                with_receipt(0, Some("QK1"), None, None),
                Ok(fill("QK1")),
            ),
            (
                "the same receipt again (a third copy): nothing",
                Some("QK1"),
                Some("ws_CO_1"),
                with_receipt(0, Some("QK1"), Some("4500"), Some(me)),
                Ok(Callback::Nothing),
            ),
            (
                "another receipt than the one recorded: a conflict",
                Some("QK1"),
                Some("ws_CO_1"),
                with_receipt(0, Some("QK2"), Some("4500"), Some(me)),
                Ok(Callback::Conflict(Conflict::Receipt { recorded: "QK1".into(), paid: "QK2".into() })),
            ),
            (
                "a failure for a paid attempt: a conflict",
                None,
                Some("ws_CO_1"),
                with_receipt(1032, None, None, None),
                Ok(Callback::Conflict(Conflict::Failure { code: 1032 })),
            ),
            (
                "busy for a paid attempt with its receipt: a conflict",
                Some("QK1"),
                Some("ws_CO_1"),
                with_receipt(1001, None, None, None),
                Ok(Callback::Conflict(Conflict::Failure { code: 1001 })),
            ),
            (
                "paid without a receipt: nothing to record",
                None,
                Some("ws_CO_1"),
                with_receipt(0, None, Some("4500"), Some(me)),
                Ok(Callback::Nothing),
            ),
            (
                "another amount: a conflict, never recorded",
                None,
                Some("ws_CO_1"),
                with_receipt(0, Some("QK1"), Some("10"), Some(me)),
                Ok(Callback::Conflict(Conflict::Disagrees(Disagreement::Amount { paid: "10".into(), asked: 4500 }))),
            ),
            (
                "another phone: a conflict, never recorded",
                None,
                Some("ws_CO_1"),
                with_receipt(0, Some("QK1"), Some("4500"), Some(254722000222)),
                Ok(Callback::Conflict(Conflict::Disagrees(Disagreement::Phone { paid: 254722000222 }))),
            ),
            (
                "no checkout id to hold it against: a conflict",
                None,
                None,
                with_receipt(0, Some("QK1"), Some("4500"), Some(me)),
                Ok(Callback::Conflict(Conflict::NoCheckout)),
            ),
            (
                "another push than the attempt's: refused",
                None,
                Some("ws_CO_9"),
                with_receipt(0, Some("QK1"), Some("4500"), Some(me)),
                Err(Mismatch),
            ),
        ];
        for (why, recorded, checkout, r, expected) in rows {
            let got = after_callback(&paid_by_query(recorded, checkout), &r, &policy(), NOW);
            assert_eq!(got, expected, "{why}");
        }
    }

    /// What a conflict tells the operator: its kind for the log's field, and in words.
    #[test]
    fn conflicts_say_what_contradicts_the_payment() {
        let rows = [
            (
                Conflict::Receipt { recorded: "QK1".into(), paid: "QK2".into() },
                "receipt",
                "receipt QK2, but QK1 is recorded",
            ),
            (Conflict::Failure { code: 1032 }, "failure", "result code 1032 (not paid), but the attempt is paid"),
            (
                Conflict::Disagrees(Disagreement::Amount { paid: "10".into(), asked: 4500 }),
                "amount",
                "paid amount 10 is not the KES 4500 asked",
            ),
            (Conflict::NoCheckout, "no_checkout", "the paid attempt has no checkout id to match the callback with"),
        ];
        for (c, kind, text) in rows {
            assert_eq!((c.kind(), c.to_string().as_str()), (kind, text));
        }
    }
}
