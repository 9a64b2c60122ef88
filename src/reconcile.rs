//! Reconciliation (`njia reconcile --date D`): one Kenyan day's payment attempts with their
//! state and M-Pesa receipt, totals by service and by status, and the exceptions an accountant
//! must look at, as aligned text, JSON or CSV; optionally each exception's payment asked of
//! Daraja's STK Push Query, its answer shown beside the local state.
//!
//! An accountant's day is a day in Nairobi (EAT, midnight to midnight), and an attempt belongs
//! to the day it was *created* (the citizen's END screen; the push follows within seconds).
//! Creation, not settlement, because it never changes: the same day reported twice lists the
//! same attempts, whatever was settled in between, and an attempt still open in the morning is
//! reported on its own day, as an exception, rather than on no day at all. The one attempt
//! that straddles midnight (created at 23:59, paid at 00:01) is in this report on the day
//! before M-Pesa's statement lists it; its receipt ties the two.
//!
//! [`reconcile`] and the renderings are pure (tables in the tests); [`day`] reads the store
//! with one query and [`check_daraja`] asks the payment provider.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::clock::{eat_day_start_ms, format_day, format_eat_ms};
use crate::lifecycle::{AttemptStatus, RequestStatus};
use crate::money::group_thousands;
use crate::payment::{Payments, QueryOutcome};
use crate::store::{DayAttempt, Store, StoreError};

/// The exit status of `njia reconcile` when the day has exceptions, so a cron job can alert
/// (0: none; 1: the report could not be made; 2: a wrong command line).
pub const EXIT_EXCEPTIONS: u8 = 3;

/// The most attempts one report reads. Far above any day's traffic (a hundred thousand
/// payments a day is about 60 KB of rows a second at peak), and a bound on what one command
/// holds in memory: a day beyond it is refused, never reported in part.
pub const MAX_ATTEMPTS: u32 = 500_000;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{date} has more than {max} payment attempts, more than one report reads; ask for the day's \
         figures from the database directly"
    )]
    TooMany { date: String, max: u32 },
    #[error("writing CSV: {0}")]
    Csv(String),
}

/// What an accountant must look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exception {
    /// The payment is settled, the request was not fulfilled (and not rejected).
    PaidNotFulfilled,
    /// The payment is settled without an M-Pesa receipt: a status query found it paid (the
    /// query carries no receipt) and no callback has brought the receipt since, so the
    /// statement's line cannot be matched by receipt.
    PaidNoReceipt,
    /// The request was fulfilled, and none of its attempts is paid.
    FulfilledNotPaid,
    /// A callback said paid with another amount or phone number; the request waits for a decision.
    HeldForReview,
    /// Nothing settled the payment: unknown after every query, or the push's own answer lost.
    Unknown,
    /// Paid, then rejected by the agency: a refund to decide.
    RefundReview,
}

impl Exception {
    pub fn as_str(self) -> &'static str {
        match self {
            Exception::PaidNotFulfilled => "paid_not_fulfilled",
            Exception::PaidNoReceipt => "paid_no_receipt",
            Exception::FulfilledNotPaid => "fulfilled_not_paid",
            Exception::HeldForReview => "held_for_review",
            Exception::Unknown => "unknown",
            Exception::RefundReview => "refund_review",
        }
    }

    /// What it means and what to do, for the text report.
    pub fn meaning(self) -> &'static str {
        match self {
            Exception::PaidNotFulfilled => "paid, not fulfilled: follow the delivery (njia requests show)",
            Exception::PaidNoReceipt => {
                "paid by query, no receipt yet: find it in the M-Pesa statement (phone, amount, time)"
            }
            Exception::FulfilledNotPaid => "fulfilled, no paid attempt: find the payment or recover the fee",
            Exception::HeldForReview => "paid with another amount or phone: decide whether it is paid",
            Exception::Unknown => "outcome unknown: find it in the M-Pesa statement (or --check-daraja)",
            Exception::RefundReview => "paid, then rejected by the agency: decide on a refund",
        }
    }
}

/// What Daraja's STK Push Query said about an exception's payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DarajaAnswer {
    /// The final result: 0 paid, anything else not paid.
    Result { code: i64, desc: String },
    /// "The transaction is being processed": the citizen has not finished, or Daraja does not
    /// know yet.
    Pending,
    /// The query itself failed (network, token, throttling): why.
    QueryFailed(String),
    /// No CheckoutRequestID is known (the push's answer was lost), so there is nothing to ask:
    /// only the statement can tell.
    NoCheckoutId,
}

impl DarajaAnswer {
    fn of(outcome: QueryOutcome) -> DarajaAnswer {
        match outcome {
            QueryOutcome::Final { result_code, result_desc } => {
                DarajaAnswer::Result { code: result_code, desc: result_desc }
            }
            QueryOutcome::Pending => DarajaAnswer::Pending,
            QueryOutcome::Failed { detail } => DarajaAnswer::QueryFailed(detail),
        }
    }

    /// One word for a column: `paid`, `not_paid`, `pending`, `query_failed`, `not_asked`.
    pub fn state(&self) -> &'static str {
        match self {
            DarajaAnswer::Result { code: 0, .. } => "paid",
            DarajaAnswer::Result { .. } => "not_paid",
            DarajaAnswer::Pending => "pending",
            DarajaAnswer::QueryFailed(_) => "query_failed",
            DarajaAnswer::NoCheckoutId => "not_asked",
        }
    }

    /// The state with Daraja's own words.
    pub fn text(&self) -> String {
        match self {
            DarajaAnswer::Result { code, desc } => format!("{} ({code} {desc})", self.state()),
            DarajaAnswer::Pending => "pending (being processed)".into(),
            DarajaAnswer::QueryFailed(why) => format!("query_failed ({why})"),
            DarajaAnswer::NoCheckoutId => "not_asked (no CheckoutRequestID)".into(),
        }
    }

    fn to_json(&self) -> Value {
        let (code, desc) = match self {
            DarajaAnswer::Result { code, desc } => (Some(*code), Some(desc.as_str())),
            DarajaAnswer::QueryFailed(why) => (None, Some(why.as_str())),
            DarajaAnswer::Pending | DarajaAnswer::NoCheckoutId => (None, None),
        };
        json!({ "state": self.state(), "result_code": code, "detail": desc })
    }
}

/// One attempt of the day, with what the report found about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub attempt: DayAttempt,
    pub exceptions: Vec<Exception>,
    /// For [`Exception::PaidNotFulfilled`]: how long the payment has waited, at the report's time.
    pub age_ms: Option<i64>,
    /// Daraja's answer, once [`check_daraja`] asked (only about exceptions).
    pub daraja: Option<DarajaAnswer>,
}

/// Counts and whole shillings: of all attempts, and of the paid ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Total {
    pub attempts: u64,
    pub kes: u64,
    pub paid: u64,
    pub paid_kes: u64,
}

impl Total {
    fn add(&mut self, a: &DayAttempt) {
        self.attempts += 1;
        self.kes += a.attempt.amount_kes;
        if a.attempt.status == AttemptStatus::Paid {
            self.paid += 1;
            self.paid_kes += a.attempt.amount_kes;
        }
    }
}

/// One day's reconciliation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The Kenyan day ([`crate::clock::eat_day`]).
    pub day: i64,
    /// When the report was made (unix ms): what ages are measured to.
    pub at_ms: i64,
    /// Every attempt created that day, oldest first.
    pub lines: Vec<Line>,
    pub by_service: Vec<(String, Total)>,
    /// Per attempt status, in the lifecycle's order, only those that occur.
    pub by_status: Vec<(AttemptStatus, Total)>,
    pub total: Total,
}

impl Report {
    /// The lines with at least one exception.
    pub fn exceptions(&self) -> impl Iterator<Item = &Line> {
        self.lines.iter().filter(|l| !l.exceptions.is_empty())
    }

    pub fn has_exceptions(&self) -> bool {
        self.exceptions().next().is_some()
    }

    /// How many exceptions, counting each kind on each line.
    pub fn exception_count(&self) -> usize {
        self.lines.iter().map(|l| l.exceptions.len()).sum()
    }
}

/// The day's report from the store: its attempts in one read, then [`reconcile`].
pub async fn day(store: &dyn Store, day: i64, now_ms: i64) -> Result<Report, ReconcileError> {
    let from = eat_day_start_ms(day);
    let rows = store.attempts_created(from, eat_day_start_ms(day + 1), MAX_ATTEMPTS + 1).await?;
    if rows.len() > MAX_ATTEMPTS as usize {
        return Err(ReconcileError::TooMany { date: format_day(day), max: MAX_ATTEMPTS });
    }
    Ok(reconcile(day, rows, now_ms))
}

/// The report of `day` from its attempts (oldest first), at `now_ms`.
pub fn reconcile(day: i64, attempts: Vec<DayAttempt>, now_ms: i64) -> Report {
    // A request-level exception is told once, on the request's last attempt of the day.
    let last: HashMap<i64, usize> = attempts.iter().enumerate().map(|(i, a)| (a.attempt.request_id, i)).collect();
    let mut total = Total::default();
    let mut by_service: BTreeMap<String, Total> = BTreeMap::new();
    let mut by_status: HashMap<AttemptStatus, Total> = HashMap::new();
    let mut lines = Vec::with_capacity(attempts.len());
    for (i, a) in attempts.into_iter().enumerate() {
        total.add(&a);
        by_service.entry(a.service.clone()).or_default().add(&a);
        by_status.entry(a.attempt.status).or_default().add(&a);
        let exceptions = exceptions_of(&a, last.get(&a.attempt.request_id) == Some(&i));
        let age_ms =
            exceptions.contains(&Exception::PaidNotFulfilled).then(|| (now_ms - a.attempt.updated_at_ms).max(0));
        lines.push(Line { attempt: a, exceptions, age_ms, daraja: None });
    }
    let by_status =
        AttemptStatus::ALL.into_iter().filter_map(|s| by_status.get(&s).map(|t| (s, *t))).collect::<Vec<_>>();
    Report { day, at_ms: now_ms, lines, by_service: by_service.into_iter().collect(), by_status, total }
}

/// The exceptions of one attempt; `last_of_request` when it is its request's last of the day,
/// which carries what is about the request as a whole.
fn exceptions_of(a: &DayAttempt, last_of_request: bool) -> Vec<Exception> {
    let mut out = Vec::new();
    let rejected = a.refund_review || a.request_status == RequestStatus::Rejected;
    if a.attempt.status == AttemptStatus::Paid && !a.fulfilled && !rejected {
        out.push(Exception::PaidNotFulfilled);
    }
    if a.attempt.status == AttemptStatus::Paid && a.attempt.receipt.is_none() {
        out.push(Exception::PaidNoReceipt);
    }
    if last_of_request && a.fulfilled && !a.request_paid {
        out.push(Exception::FulfilledNotPaid);
    }
    if a.attempt.status == AttemptStatus::Held && a.request_status == RequestStatus::HeldForReview {
        out.push(Exception::HeldForReview);
    }
    if matches!(a.attempt.status, AttemptStatus::Unknown | AttemptStatus::PushUnknown) {
        out.push(Exception::Unknown);
    }
    if a.attempt.status == AttemptStatus::Paid && a.refund_review {
        out.push(Exception::RefundReview);
    }
    out
}

/// Asks the provider's status query about every exception's payment, one after the other, and
/// keeps each answer beside the local state. Only asks: nothing local changes, so a payment
/// Daraja calls paid is still for an administrator to settle.
pub async fn check_daraja(report: &mut Report, payments: &dyn Payments) {
    for line in report.lines.iter_mut().filter(|l| !l.exceptions.is_empty()) {
        line.daraja = Some(match &line.attempt.attempt.checkout_request_id {
            Some(id) => DarajaAnswer::of(payments.query(id).await),
            None => DarajaAnswer::NoCheckoutId,
        });
    }
}

/// `1h 05m`, `3d 04h`, `12m`: how long, to the minute.
fn age(ms: i64) -> String {
    let minutes = ms / 60_000;
    let (d, h, m) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h {m:02}m"),
        _ => format!("{d}d {h:02}h"),
    }
}

/// Rows of cells as columns padded to their widest cell, two spaces apart, each line indented.
fn aligned(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let w = cell.chars().count();
            match widths.get_mut(i) {
                Some(have) => *have = (*have).max(w),
                None => widths.push(w),
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::from(" ");
        for (cell, width) in row.iter().zip(&widths) {
            let _ = write!(line, " {cell:<width$} ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn kes(n: u64) -> String {
    group_thousands(n)
}

fn dash(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "-".into())
}

fn phone(a: &DayAttempt) -> String {
    crate::types::masked_or_purged(a.attempt.msisdn)
}

/// The time of day in Nairobi (`10:52:17`) of unix milliseconds: the date is the report's.
fn time_of_day(ms: i64) -> String {
    let full = format_eat_ms(ms);
    full.get(11..19).unwrap_or(&full).to_owned()
}

/// The text report: what was paid, the totals, then the exceptions with what each means.
pub fn text(r: &Report) -> String {
    let t = &r.total;
    let mut out = format!(
        "Reconciliation of {} (Kenyan time, EAT): payment attempts created that day\n\
         {} attempt(s) for KES {}; {} paid for KES {}\n",
        format_day(r.day),
        t.attempts,
        kes(t.kes),
        t.paid,
        kes(t.paid_kes)
    );
    if r.lines.is_empty() {
        out.push_str("\n(no payment attempts)\n\nExceptions: none\n");
        return out;
    }
    let mut rows = vec![
        ["REFERENCE", "#", "CREATED", "SERVICE", "PHONE", "KES", "ATTEMPT", "RECEIPT", "REQUEST"]
            .map(String::from)
            .to_vec(),
    ];
    for l in &r.lines {
        let a = &l.attempt;
        rows.push(vec![
            a.reference.as_str().to_owned(),
            a.attempt.seq.to_string(),
            time_of_day(a.attempt.created_at_ms),
            a.service.clone(),
            phone(a),
            kes(a.attempt.amount_kes),
            a.attempt.status.as_str().to_owned(),
            dash(&a.attempt.receipt),
            format!("{}{}", a.request_status, if a.refund_review { " REFUND REVIEW" } else { "" }),
        ]);
    }
    out.push_str("\nAttempts\n");
    out.push_str(&aligned(&rows));

    let mut rows = vec![["SERVICE", "ATTEMPTS", "KES", "PAID", "PAID KES"].map(String::from).to_vec()];
    for (service, t) in &r.by_service {
        rows.push(vec![service.clone(), t.attempts.to_string(), kes(t.kes), t.paid.to_string(), kes(t.paid_kes)]);
    }
    out.push_str("\nBy service\n");
    out.push_str(&aligned(&rows));

    let mut rows = vec![["ATTEMPT", "ATTEMPTS", "KES"].map(String::from).to_vec()];
    for (status, t) in &r.by_status {
        rows.push(vec![status.as_str().to_owned(), t.attempts.to_string(), kes(t.kes)]);
    }
    out.push_str("\nBy status\n");
    out.push_str(&aligned(&rows));

    if !r.has_exceptions() {
        out.push_str("\nExceptions: none\n");
        return out;
    }
    let checked = r.lines.iter().any(|l| l.daraja.is_some());
    let mut head =
        ["EXCEPTION", "REFERENCE", "#", "KES", "ATTEMPT", "REQUEST", "CHECKOUT", "DETAIL"].map(String::from).to_vec();
    if checked {
        head.insert(7, "DARAJA".into());
    }
    let mut rows = vec![head];
    for l in r.exceptions() {
        let a = &l.attempt;
        for e in &l.exceptions {
            let mut detail = String::new();
            if let (Exception::PaidNotFulfilled, Some(ms)) = (e, l.age_ms) {
                let _ = write!(detail, "waiting {}; ", age(ms));
            }
            if let Some(receipt) = &a.attempt.receipt {
                let _ = write!(detail, "receipt {receipt}; ");
            }
            detail.push_str(e.meaning());
            let mut row = vec![
                e.as_str().to_owned(),
                a.reference.as_str().to_owned(),
                a.attempt.seq.to_string(),
                kes(a.attempt.amount_kes),
                a.attempt.status.as_str().to_owned(),
                a.request_status.as_str().to_owned(),
                dash(&a.attempt.checkout_request_id),
                detail,
            ];
            if checked {
                row.insert(7, l.daraja.as_ref().map_or_else(|| "-".into(), DarajaAnswer::text));
            }
            rows.push(row);
        }
    }
    let _ = write!(out, "\nExceptions: {} (each needs an accountant's look)\n", r.exception_count());
    out.push_str(&aligned(&rows));
    out
}

fn total_json(t: &Total) -> Value {
    json!({ "attempts": t.attempts, "kes": t.kes, "paid": t.paid, "paid_kes": t.paid_kes })
}

/// The report as one JSON document; amounts are integers (whole shillings), phones masked.
pub fn json(r: &Report) -> String {
    let attempts: Vec<Value> = r
        .lines
        .iter()
        .map(|l| {
            let a = &l.attempt;
            json!({
                "reference": a.reference.as_str(),
                "seq": a.attempt.seq,
                "service": a.service,
                "menu": a.menu,
                "phone": phone(a),
                "provider": a.attempt.provider,
                "amount_kes": a.attempt.amount_kes,
                "status": a.attempt.status.as_str(),
                "receipt": a.attempt.receipt,
                "checkout_request_id": a.attempt.checkout_request_id,
                "result_code": a.attempt.result_code,
                "result_desc": a.attempt.result_desc,
                "created_at_ms": a.attempt.created_at_ms,
                "updated_at_ms": a.attempt.updated_at_ms,
                "request_status": a.request_status.as_str(),
                "refund_review": a.refund_review,
                "fulfilled": a.fulfilled,
                "exceptions": l.exceptions.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
                "age_ms": l.age_ms,
                "daraja": l.daraja.as_ref().map(DarajaAnswer::to_json),
            })
        })
        .collect();
    let exceptions: Vec<Value> = r
        .exceptions()
        .flat_map(|l| {
            l.exceptions.iter().map(move |e| {
                let a = &l.attempt;
                json!({
                    "kind": e.as_str(),
                    "reference": a.reference.as_str(),
                    "seq": a.attempt.seq,
                    "service": a.service,
                    "amount_kes": a.attempt.amount_kes,
                    "attempt_status": a.attempt.status.as_str(),
                    "request_status": a.request_status.as_str(),
                    "checkout_request_id": a.attempt.checkout_request_id,
                    "receipt": a.attempt.receipt,
                    "age_ms": if *e == Exception::PaidNotFulfilled { l.age_ms } else { None },
                    "daraja": l.daraja.as_ref().map(DarajaAnswer::to_json),
                })
            })
        })
        .collect();
    let v = json!({
        "date": format_day(r.day),
        "timezone": "EAT",
        "from_ms": eat_day_start_ms(r.day),
        "to_ms": eat_day_start_ms(r.day + 1),
        "at_ms": r.at_ms,
        "totals": total_json(&r.total),
        "by_service": r.by_service.iter().map(|(s, t)| {
            let mut v = total_json(t);
            v["service"] = s.as_str().into();
            v
        }).collect::<Vec<_>>(),
        "by_status": r.by_status.iter().map(|(s, t)| json!({ "status": s.as_str(), "attempts": t.attempts, "kes": t.kes })).collect::<Vec<_>>(),
        "attempts": attempts,
        "exceptions": exceptions,
    });
    v.to_string() + "\n"
}

/// A cell a spreadsheet will not take for a formula: one starting with `=`, `+`, `-` or `@`
/// (or a tab or carriage return, which some read past) gets a leading `'`. A masked phone
/// (`+2547****344`) is one of them.
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_owned() }
}

/// The report as CSV: a header row, then one row per attempt, its exceptions (`;`-separated)
/// in a column, so a spreadsheet filters and sums them; totals are the spreadsheet's to make.
pub fn csv(r: &Report) -> Result<String, ReconcileError> {
    let err = |e: csv::Error| ReconcileError::Csv(e.to_string());
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "date",
        "reference",
        "seq",
        "created",
        "service",
        "menu",
        "phone",
        "amount_kes",
        "attempt_status",
        "receipt",
        "checkout_request_id",
        "result_code",
        "request_status",
        "refund_review",
        "exceptions",
        "age_secs",
        "daraja",
    ])
    .map_err(err)?;
    let date = format_day(r.day);
    for l in &r.lines {
        let a = &l.attempt;
        let record = [
            date.clone(),
            a.reference.as_str().to_owned(),
            a.attempt.seq.to_string(),
            format_eat_ms(a.attempt.created_at_ms),
            a.service.clone(),
            a.menu.clone(),
            phone(a),
            a.attempt.amount_kes.to_string(),
            a.attempt.status.as_str().to_owned(),
            a.attempt.receipt.clone().unwrap_or_default(),
            a.attempt.checkout_request_id.clone().unwrap_or_default(),
            a.attempt.result_code.map(|c| c.to_string()).unwrap_or_default(),
            a.request_status.as_str().to_owned(),
            if a.refund_review { "yes" } else { "no" }.to_owned(),
            l.exceptions.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(";"),
            l.age_ms.map(|ms| (ms / 1000).to_string()).unwrap_or_default(),
            l.daraja.as_ref().map(DarajaAnswer::text).unwrap_or_default(),
        ];
        w.write_record(record.iter().map(|c| cell(c))).map_err(err)?;
    }
    let bytes = w.into_inner().map_err(|e| ReconcileError::Csv(e.error().to_string()))?;
    String::from_utf8(bytes).map_err(|e| ReconcileError::Csv(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AttemptRow;
    use crate::types::{Msisdn, Reference};

    const DAY: i64 = 20_000;
    const NOW: i64 = 1_728_100_000_000;

    /// An attempt of `DAY` for request `request`, KES 4,500, paid and fulfilled; cases change
    /// what they are about.
    fn attempt(request: i64, seq: u32) -> DayAttempt {
        DayAttempt {
            attempt: AttemptRow {
                id: request * 10 + i64::from(seq),
                request_id: request,
                seq,
                token: String::new(),
                provider: "mpesa".into(),
                msisdn: Some(Msisdn::parse("+254711000111").unwrap()),
                amount_kes: 4500,
                status: AttemptStatus::Paid,
                checkout_request_id: Some(format!("ws_CO_{request}_{seq}")),
                receipt: Some(format!("SRC{request}{seq}")),
                result_code: Some(0),
                result_desc: Some("ok".into()),
                created_at_ms: eat_day_start_ms(DAY) + request * 1000,
                updated_at_ms: NOW - 3_900_000,
            },
            reference: Reference::from_bits(request as u64),
            menu: "ecitizen".into(),
            service: "land-rates".into(),
            request_status: RequestStatus::Notified,
            refund_review: false,
            fulfilled: true,
            request_paid: true,
        }
    }

    /// [`attempt`] in `status`, for `kes`.
    fn in_status(request: i64, seq: u32, status: AttemptStatus, kes: u64) -> DayAttempt {
        let mut a = attempt(request, seq);
        (a.attempt.status, a.attempt.amount_kes) = (status, kes);
        a
    }

    fn kinds(r: &Report) -> Vec<(i64, u32, Vec<&'static str>)> {
        r.lines
            .iter()
            .map(|l| {
                (l.attempt.attempt.request_id, l.attempt.attempt.seq, l.exceptions.iter().map(|e| e.as_str()).collect())
            })
            .collect()
    }

    /// Each state an attempt and its request can be in, and the exceptions it makes.
    #[test]
    fn exceptions_by_state() {
        use AttemptStatus as A;
        use RequestStatus as R;
        // (attempt, request, refund review, fulfilled, request paid, exceptions)
        type Case = (A, R, bool, bool, bool, &'static [&'static str]);
        let cases: &[Case] = &[
            (A::Paid, R::Notified, false, true, true, &[]),
            (A::Paid, R::Fulfilled, false, true, true, &[]),
            (A::Paid, R::Fulfilling, false, false, true, &["paid_not_fulfilled"]),
            (A::Paid, R::Paid, false, false, true, &["paid_not_fulfilled"]),
            (A::Paid, R::Rejected, true, false, true, &["refund_review"]),
            (A::Paid, R::Notified, true, false, true, &["refund_review"]),
            (A::Failed, R::Notified, false, false, false, &[]),
            (A::Failed, R::PaymentFailed, false, false, false, &[]),
            (A::Failed, R::Notified, false, true, false, &["fulfilled_not_paid"]),
            (A::Unknown, R::PaymentUnknown, false, false, false, &["unknown"]),
            (A::PushUnknown, R::PaymentPending, false, false, false, &["unknown"]),
            (A::Held, R::HeldForReview, false, false, false, &["held_for_review"]),
            // An administrator moved the held request on: nothing waits any more.
            (A::Held, R::Paid, false, false, true, &[]),
            (A::PushSent, R::PaymentPending, false, false, false, &[]),
            (A::Created, R::PaymentPending, false, false, false, &[]),
        ];
        for (i, (status, request, refund, fulfilled, paid, want)) in cases.iter().enumerate() {
            let a = DayAttempt {
                request_status: *request,
                refund_review: *refund,
                fulfilled: *fulfilled,
                request_paid: *paid,
                ..in_status(1, 1, *status, 4500)
            };
            let r = reconcile(DAY, vec![a], NOW);
            assert_eq!(kinds(&r)[0].2, *want, "case {i}: {status:?} {request:?}");
            assert_eq!(r.has_exceptions(), !want.is_empty());
            let age = r.lines[0].age_ms;
            assert_eq!(age.is_some(), want.contains(&"paid_not_fulfilled"), "case {i}: age only when waiting");
        }
    }

    /// #15: a payment a status query settled carries no receipt until its callback brings one:
    /// until then it is an exception of its own (besides any other), so the accountant matches
    /// it to the statement by phone, amount and time; with its receipt it is none.
    #[test]
    fn a_paid_attempt_without_a_receipt_is_an_exception() {
        use AttemptStatus as A;
        use RequestStatus as R;
        // (attempt, request, fulfilled, receipt, exceptions)
        type Case = (A, R, bool, Option<&'static str>, &'static [&'static str]);
        let cases: &[Case] = &[
            (A::Paid, R::Notified, true, None, &["paid_no_receipt"]),
            (A::Paid, R::Notified, true, Some("SRC11"), &[]),
            (A::Paid, R::Fulfilling, false, None, &["paid_not_fulfilled", "paid_no_receipt"]),
            // Not paid: no receipt is owed.
            (A::Failed, R::Notified, false, None, &[]),
            (A::PushSent, R::PaymentPending, false, None, &[]),
        ];
        for (i, (status, request, fulfilled, receipt, want)) in cases.iter().enumerate() {
            let mut a =
                DayAttempt { request_status: *request, fulfilled: *fulfilled, ..in_status(1, 1, *status, 4500) };
            a.attempt.receipt = receipt.map(str::to_owned);
            let r = reconcile(DAY, vec![a], NOW);
            assert_eq!(kinds(&r)[0].2, *want, "case {i}: {status:?} {request:?} {receipt:?}");
            assert_eq!(r.has_exceptions(), !want.is_empty(), "case {i}: the exit status follows");
        }
        let mut a = attempt(1, 1);
        a.attempt.receipt = None;
        let r = reconcile(DAY, vec![a], NOW);
        let t = text(&r);
        assert!(t.contains("Exceptions: 1 "), "{t}");
        let line = t.lines().find(|l| l.trim_start().starts_with("paid_no_receipt")).unwrap_or_else(|| panic!("{t}"));
        assert!(line.contains("paid by query, no receipt yet"), "{line}");
        let v: Value = serde_json::from_str(&json(&r)).unwrap();
        assert_eq!(
            (v["exceptions"][0]["kind"].clone(), v["exceptions"][0]["receipt"].clone()),
            (json!("paid_no_receipt"), Value::Null)
        );
        assert!(csv(&r).unwrap().lines().nth(1).unwrap().contains(",paid_no_receipt,"));
    }

    /// A request told once: its busy first attempt and its paid second belong to one fulfilled
    /// request, and "fulfilled, not paid" is about the request, so only its last attempt of
    /// the day carries it.
    #[test]
    fn a_request_level_exception_is_told_once() {
        let first = DayAttempt { request_paid: false, ..in_status(7, 1, AttemptStatus::Failed, 4500) };
        let second = DayAttempt { request_paid: false, ..in_status(7, 2, AttemptStatus::Failed, 4500) };
        let r = reconcile(DAY, vec![first, second], NOW);
        assert_eq!(kinds(&r), [(7, 1, vec![]), (7, 2, vec!["fulfilled_not_paid"])]);
        // Its paid attempt created after midnight: the request is paid, no exception here.
        let busy = in_status(8, 1, AttemptStatus::Failed, 4500);
        assert!(!reconcile(DAY, vec![busy], NOW).has_exceptions());
    }

    #[test]
    fn totals_by_service_and_status_in_whole_shillings() {
        let rows = vec![
            attempt(1, 1),
            DayAttempt { service: "licence-renewal".into(), ..in_status(2, 1, AttemptStatus::Paid, 12_500) },
            in_status(3, 1, AttemptStatus::Failed, 8_200),
            in_status(4, 1, AttemptStatus::Unknown, 100),
        ];
        let r = reconcile(DAY, rows, NOW);
        assert_eq!(r.total, Total { attempts: 4, kes: 25_300, paid: 2, paid_kes: 17_000 });
        assert_eq!(
            r.by_service,
            [
                ("land-rates".to_owned(), Total { attempts: 3, kes: 12_800, paid: 1, paid_kes: 4_500 }),
                ("licence-renewal".to_owned(), Total { attempts: 1, kes: 12_500, paid: 1, paid_kes: 12_500 }),
            ]
        );
        let statuses: Vec<(&str, u64, u64)> =
            r.by_status.iter().map(|(s, t)| (s.as_str(), t.attempts, t.kes)).collect();
        assert_eq!(statuses, [("paid", 2, 17_000), ("failed", 1, 8_200), ("unknown", 1, 100)]);
    }

    #[test]
    fn ages_to_the_minute() {
        for (ms, want) in
            [(0, "0m"), (59_999, "0m"), (60_000, "1m"), (3_900_000, "1h 05m"), (86_400_000 + 4 * 3_600_000, "1d 04h")]
        {
            assert_eq!(age(ms), want);
        }
    }

    #[test]
    fn csv_cells_are_never_formulas() {
        for (raw, want) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+2547****111", "'+2547****111"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("land-rates", "land-rates"),
            ("4500", "4500"),
            ("", ""),
        ] {
            assert_eq!(cell(raw), want);
        }
    }

    /// The three renderings of one report with an exception: the text aligned with the meaning,
    /// JSON with integer amounts, CSV with a header row, masked and quoted phones.
    #[test]
    fn text_json_and_csv() {
        let waiting = DayAttempt { request_status: RequestStatus::Fulfilling, fulfilled: false, ..attempt(2, 1) };
        let mut r = reconcile(DAY, vec![attempt(1, 1), waiting], NOW);
        r.lines[1].daraja = Some(DarajaAnswer::Result { code: 0, desc: "done".into() });
        let t = text(&r);
        assert!(t.starts_with(&format!("Reconciliation of {} (Kenyan time, EAT)", format_day(DAY))), "{t}");
        assert!(t.contains("2 attempt(s) for KES 9,000; 2 paid for KES 9,000"), "{t}");
        assert!(t.contains("+2547****111"), "{t}");
        assert!(!t.contains("254711000111"), "masked: {t}");
        assert!(t.contains("Exceptions: 1 "), "{t}");
        assert!(t.contains("waiting 1h 05m; receipt SRC21; paid, not fulfilled"), "{t}");
        assert!(t.contains("paid (0 done)"), "Daraja's answer beside it: {t}");
        let header = t.lines().find(|l| l.trim_start().starts_with("REFERENCE")).unwrap();
        let row = t.lines().find(|l| l.contains("SRC11")).unwrap();
        assert_eq!(header.find("SERVICE"), row.find("land-rates"), "aligned:\n{t}");

        let v: Value = serde_json::from_str(&json(&r)).unwrap();
        assert_eq!(v["date"], format_day(DAY));
        assert_eq!(v["totals"], json!({"attempts": 2, "kes": 9000, "paid": 2, "paid_kes": 9000}));
        assert_eq!(v["attempts"][0]["amount_kes"], 4500);
        assert_eq!(v["attempts"][0]["phone"], "+2547****111");
        assert_eq!(v["exceptions"].as_array().unwrap().len(), 1);
        assert_eq!(v["exceptions"][0]["kind"], "paid_not_fulfilled");
        assert_eq!(v["exceptions"][0]["age_ms"], 3_900_000);
        assert_eq!(v["exceptions"][0]["daraja"]["state"], "paid");

        let c = csv(&r).unwrap();
        let mut lines = c.lines();
        assert!(lines.next().unwrap().starts_with("date,reference,seq,created,service,menu,phone,amount_kes,"));
        let second = lines.nth(1).unwrap();
        assert!(second.contains(",'+2547****111,4500,paid,SRC21,"), "{second}");
        assert!(second.contains(",paid_not_fulfilled,3900,paid (0 done)"), "{second}");
        assert_eq!(c.lines().count(), 3);
    }

    #[test]
    fn an_empty_day() {
        let r = reconcile(DAY, Vec::new(), NOW);
        assert!(!r.has_exceptions());
        let t = text(&r);
        assert!(t.contains("0 attempt(s) for KES 0; 0 paid for KES 0"), "{t}");
        assert!(t.contains("(no payment attempts)") && t.ends_with("Exceptions: none\n"), "{t}");
        let v: Value = serde_json::from_str(&json(&r)).unwrap();
        assert_eq!(v["attempts"], json!([]));
        assert_eq!(v["exceptions"], json!([]));
        assert_eq!(csv(&r).unwrap().lines().count(), 1, "the header row alone");
    }
}
