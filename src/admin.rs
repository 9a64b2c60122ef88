//! What administrators read and do from the command line: requests with their full history,
//! jobs and their dead letters, the SMS that went out and those whose delivery failed for good. `main` parses the arguments; this
//! module renders (as aligned text or JSON) so the output is tested like any other code.

use serde_json::{Value, json};

use crate::clock::format_eat_ms;
use crate::lifecycle::{JobState, RequestStatus};
use crate::store::{AttemptRow, JobRow, RequestRow, SmsRow, Store, StoreError};
use crate::types::{Reference, masked_or_purged};

fn request_json(r: &RequestRow) -> Value {
    json!({
        "reference": r.reference.as_str(),
        "service": r.service,
        "menu": r.menu,
        "msisdn": masked_or_purged(r.msisdn),
        "language": r.locale,
        "status": r.status,
        "refund_review": r.refund_review,
        "payment": r.payment.as_ref().map(|(amount, account)| json!({ "amount": amount, "account": account })),
        "created_at_ms": r.created_at_ms,
        "purged_at_ms": r.purged_at_ms,
    })
}

fn attempt_json(a: &AttemptRow) -> Value {
    json!({
        "seq": a.seq,
        "provider": a.provider,
        "amount_kes": a.amount_kes,
        "status": a.status.as_str(),
        "checkout_request_id": a.checkout_request_id,
        "receipt": a.receipt,
        "result_code": a.result_code,
        "result_desc": a.result_desc,
        "updated_at_ms": a.updated_at_ms,
    })
}

fn job_json(j: &JobRow) -> Value {
    json!({
        "id": j.id,
        "key": j.key,
        "kind": j.kind.as_str(),
        "reference": j.reference.as_ref().map(|r| r.as_str().to_owned()),
        "sms_id": j.sms_id,
        "state": j.state.as_str(),
        "run_at_ms": j.run_at_ms,
        "tries": j.tries,
        "failures": j.failures,
        "max_failures": j.max_failures,
        "last_error": j.last_error,
    })
}

fn sms_json(s: &SmsRow) -> Value {
    json!({
        "id": s.id,
        "reference": s.reference.as_ref().map(|r| r.as_str().to_owned()),
        "to": masked_or_purged(s.record.msisdn),
        "language": s.record.locale,
        "segments": s.record.segments,
        "sender": s.record.sender,
        "status": s.record.status,
        "provider_id": s.record.provider_id,
        "text": s.record.text,
        "at_ms": s.at_ms,
        "attempt": s.attempt,
        "resend_of": s.resend_of,
        "reply_to_inbound": s.inbound_id,
        "delivery": s.delivery.map(|d| d.as_str()),
        "failure_reason": s.failure_reason,
        "delivery_at_ms": s.delivery_at_ms,
    })
}

/// `njia purge [--dry-run] [--older-than DAYS] [--json]`: purges personal data older than
/// `days` before `now_ms` (or, with `dry_run`, counts it) and tells what, by kind.
pub async fn purge(
    store: &dyn Store,
    days: u32,
    now_ms: i64,
    dry_run: bool,
    as_json: bool,
) -> Result<String, StoreError> {
    let cutoff = crate::store::retention::cutoff(now_ms, days);
    let purged = crate::store::retention::purge(store, cutoff, now_ms, dry_run).await?;
    if as_json {
        let v = json!({ "dry_run": dry_run, "older_than_days": days, "cutoff_ms": cutoff, "purged": purged });
        return Ok(v.to_string() + "\n");
    }
    let what = if dry_run { "would purge (dry run, nothing changed)" } else { "purged" };
    let mut out = format!("{what}: personal data older than {days} days (before {})\n", format_eat_ms(cutoff));
    for (kind, n) in purged.kinds() {
        out.push_str(&format!("  {kind:<16} {n}\n"));
    }
    Ok(out)
}

/// `njia requests list [--status S] [--json]`.
pub async fn requests_list(
    store: &dyn Store,
    status: Option<RequestStatus>,
    limit: u32,
    as_json: bool,
) -> Result<String, StoreError> {
    let rows = store.requests_with_status(status, limit).await?;
    if as_json {
        return Ok(Value::Array(rows.iter().map(request_json).collect()).to_string() + "\n");
    }
    let mut out = format!(
        "{:<9} {:<23} {:<16} {:<16} {:<13} {}\n",
        "REFERENCE", "CREATED", "SERVICE", "STATUS", "PHONE", "AMOUNT"
    );
    for r in &rows {
        let flag = if r.refund_review { "  REFUND REVIEW" } else { "" };
        out.push_str(&format!(
            "{:<9} {:<23} {:<16} {:<16} {:<13} {}{flag}\n",
            r.reference.as_str(),
            format_eat_ms(r.created_at_ms),
            r.service,
            r.status,
            masked_or_purged(r.msisdn),
            r.payment.as_ref().map_or("-", |p| p.0.as_str()),
        ));
    }
    if rows.is_empty() {
        out.push_str("(no requests)\n");
    }
    Ok(out)
}

/// `njia requests show REF [--json]`: the request, every transition with its time, its
/// payment attempts, its jobs and its SMS. `None` when no request has that reference.
pub async fn request_show(
    store: &dyn Store,
    reference: &Reference,
    as_json: bool,
) -> Result<Option<String>, StoreError> {
    let Some(r) = store.request(reference).await? else { return Ok(None) };
    let events = store.events(r.id).await?;
    let attempts = store.attempts(r.id).await?;
    let jobs = store.jobs(None, Some(r.id), 100).await?;
    let sms = store.sms(Some(r.id), 100).await?;
    if as_json {
        let mut v = request_json(&r);
        v["fields"] = Value::Object(r.fields.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect());
        v["history"] = events
            .iter()
            .map(|e| json!({ "status": e.status, "detail": e.detail, "at_ms": e.at_ms }))
            .collect::<Vec<_>>()
            .into();
        v["attempts"] = attempts.iter().map(attempt_json).collect::<Vec<_>>().into();
        v["jobs"] = jobs.iter().map(job_json).collect::<Vec<_>>().into();
        v["sms"] = sms.iter().map(sms_json).collect::<Vec<_>>().into();
        return Ok(Some(v.to_string() + "\n"));
    }
    let mut out = String::new();
    out.push_str(&format!("Request {}  {}  ({})\n", r.reference.as_str(), r.service, r.menu));
    out.push_str(&format!("  phone {}  language {}  status {}\n", masked_or_purged(r.msisdn), r.locale, r.status));
    if let Some(at) = r.purged_at_ms {
        out.push_str(&format!(
            "  personal data purged {} (retention): phone, fields and account removed\n",
            format_eat_ms(at)
        ));
    }
    if r.refund_review {
        out.push_str("  REFUND REVIEW: paid, but the agency rejected the request\n");
    }
    for (k, v) in &r.fields {
        out.push_str(&format!("  {k} = {v}\n"));
    }
    out.push_str("History:\n");
    for e in &events {
        let detail = e.detail.as_deref().map(|d| format!("  ({d})")).unwrap_or_default();
        out.push_str(&format!("  {}  {}{detail}\n", format_eat_ms(e.at_ms), e.status));
    }
    if !attempts.is_empty() {
        out.push_str("Payment attempts:\n");
        for a in &attempts {
            out.push_str(&format!(
                "  #{} {} KES {} {}  checkout {}  receipt {}  result {}\n",
                a.seq,
                a.provider,
                a.amount_kes,
                a.status,
                a.checkout_request_id.as_deref().unwrap_or("-"),
                a.receipt.as_deref().unwrap_or("-"),
                match (&a.result_code, &a.result_desc) {
                    (Some(c), Some(d)) => format!("{c} {d}"),
                    (None, Some(d)) => d.clone(),
                    _ => "-".into(),
                },
            ));
        }
    }
    out.push_str("Jobs:\n");
    for j in jobs.iter().rev() {
        out.push_str(&job_line(j));
    }
    if !sms.is_empty() {
        out.push_str("SMS:\n");
        for s in sms.iter().rev() {
            out.push_str(&format!(
                "  {}  [{} {}] {}\n",
                format_eat_ms(s.at_ms),
                s.record.sender,
                s.record.status,
                s.record.text
            ));
        }
    }
    Ok(Some(out))
}

/// What a job carries: its request's reference, or the SMS it sends.
fn job_owner(j: &JobRow) -> String {
    match (&j.reference, j.sms_id) {
        (Some(r), _) => r.as_str().to_owned(),
        (None, Some(id)) => format!("sms#{id}"),
        (None, None) => "-".to_owned(),
    }
}

fn job_line(j: &JobRow) -> String {
    format!(
        "  {:>6}  {:<8} {:<9} {:<7} tries {} failures {}/{}  next {}{}\n",
        j.id,
        j.kind.as_str(),
        job_owner(j),
        j.state.as_str(),
        j.tries,
        j.failures,
        j.max_failures,
        format_eat_ms(j.run_at_ms),
        j.last_error.as_deref().map(|e| format!("  last: {e}")).unwrap_or_default(),
    )
}

/// `njia jobs list [--state S] [--json]`.
pub async fn jobs_list(
    store: &dyn Store,
    state: Option<JobState>,
    limit: u32,
    as_json: bool,
) -> Result<String, StoreError> {
    let jobs = store.jobs(state, None, limit).await?;
    if as_json {
        return Ok(Value::Array(jobs.iter().map(job_json).collect()).to_string() + "\n");
    }
    let mut out = String::new();
    for j in &jobs {
        out.push_str(&job_line(j));
    }
    if jobs.is_empty() {
        out.push_str("(no jobs)\n");
    }
    Ok(out)
}

/// What an SMS is about: its request's reference, a reply to an inbound SMS, or nothing.
fn sms_about(s: &SmsRow) -> String {
    match (&s.reference, s.inbound_id) {
        (Some(r), _) => r.as_str().to_owned(),
        (None, Some(id)) => format!("reply to inbound #{id}"),
        (None, None) => "-".to_owned(),
    }
}

fn sms_lines(rows: &[SmsRow], empty: &str) -> String {
    let mut out = String::new();
    for s in rows {
        let delivery = match (s.delivery, &s.failure_reason) {
            (Some(d), Some(why)) if d.is_failure() => format!(", delivery {d}: {why}"),
            (Some(d), _) => format!(", delivery {d}"),
            (None, _) => String::new(),
        };
        let attempt = if s.attempt > 1 { format!(", send {} of the same text", s.attempt) } else { String::new() };
        out.push_str(&format!(
            "{}  #{}  to {}  {}  [{} {}, {} segment(s){delivery}{attempt}]\n  {}\n",
            format_eat_ms(s.at_ms),
            s.id,
            masked_or_purged(s.record.msisdn),
            sms_about(s),
            s.record.sender,
            s.record.status,
            s.record.segments,
            s.record.text
        ));
    }
    if rows.is_empty() {
        out.push_str(empty);
    }
    out
}

/// `njia sms list [--json]`.
pub async fn sms_list(store: &dyn Store, limit: u32, as_json: bool) -> Result<String, StoreError> {
    let rows = store.sms(None, limit).await?;
    if as_json {
        return Ok(Value::Array(rows.iter().map(sms_json).collect()).to_string() + "\n");
    }
    Ok(sms_lines(&rows, "(no SMS yet)\n"))
}

/// `njia sms list --failed [--json]`: SMS whose delivery failed for good (refused by the
/// sender, or reported failed for a reason that will not pass, or failed again after every
/// re-send), with the reason, for an administrator to follow up another way.
pub async fn sms_failed(store: &dyn Store, limit: u32, as_json: bool) -> Result<String, StoreError> {
    let rows = store.failed_sms(limit).await?;
    if as_json {
        return Ok(Value::Array(rows.iter().map(sms_json).collect()).to_string() + "\n");
    }
    Ok(sms_lines(&rows, "(no failed SMS)\n"))
}
