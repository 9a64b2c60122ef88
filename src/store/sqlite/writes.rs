//! Executes on SQLite what [`crate::store::plan`] decides: reads the guarded rows, asks the
//! planner, runs its writes. Nothing here decides; every statement is a cached one.

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::plan::{self, Guarded, JobInsert, JobLink, Plan, QueueWrite, ReceiptGuard, Writes};
use crate::store::{Effects, NewAttempt, ReceiptFill, SMS_QUEUED, SmsRecord, StoreError, callback_token};

/// Writes `e` if its guards hold (read first, so a stale effect writes nothing); returns
/// whether it did. Runs inside the caller's savepoint, on the one store thread, so the read
/// and the writes are atomic.
pub(super) fn write_effects(t: &Connection, e: &Effects, now: i64) -> Result<bool, StoreError> {
    let reads = plan::reads(e);
    let attempt = status_of(t, "SELECT status FROM payment_attempts WHERE id = ?1", reads.attempt)?;
    let request = status_of(t, "SELECT status FROM requests WHERE id = ?1", reads.request)?;
    let sms = status_of(t, "SELECT status FROM sms WHERE id = ?1", reads.sms)?;
    let receipt = receipt_of(t, reads.receipt)?;
    let rows = Guarded {
        attempt: attempt.as_deref(),
        request: request.as_deref(),
        sms: sms.as_deref(),
        receipt: receipt.as_ref().map(|(status, receipt)| ReceiptGuard { status, receipt: receipt.as_deref() }),
    };
    match plan::plan_effects(e, &rows)? {
        Plan::Stale => Ok(false),
        Plan::Write(w) => {
            execute(t, &w, now)?;
            Ok(true)
        }
    }
}

/// The status column of the row `id` names, if asked for and present.
fn status_of(t: &Connection, sql: &str, id: Option<i64>) -> Result<Option<String>, StoreError> {
    let Some(id) = id else { return Ok(None) };
    Ok(t.prepare_cached(sql)?.query_row([id], |r| r.get(0)).optional()?)
}

/// The status and receipt of the attempt `id` names, if asked for and present.
fn receipt_of(t: &Connection, id: Option<i64>) -> Result<Option<(String, Option<String>)>, StoreError> {
    let Some(id) = id else { return Ok(None) };
    let sql = "SELECT status, receipt FROM payment_attempts WHERE id = ?1";
    Ok(t.prepare_cached(sql)?.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?)
}

fn execute(t: &Connection, w: &Writes<'_>, now: i64) -> Result<(), StoreError> {
    if let Some(a) = w.attempt {
        t.prepare_cached(
            "UPDATE payment_attempts SET status = ?2, checkout_request_id = coalesce(?3, checkout_request_id), \
             merchant_request_id = coalesce(?4, merchant_request_id), receipt = coalesce(?5, receipt), \
             result_code = coalesce(?6, result_code), result_desc = coalesce(?7, result_desc), updated_at = ?8 \
             WHERE id = ?1",
        )?
        .execute(params![
            a.id,
            a.to.as_str(),
            a.checkout_request_id,
            a.merchant_request_id,
            a.receipt,
            a.result_code,
            a.result_desc,
            now
        ])?;
    }
    if let Some(r) = &w.request {
        for (status, detail) in r.steps {
            add_event(t, w.request_id, status.as_str(), detail.as_deref(), now)?;
        }
        t.prepare_cached("UPDATE requests SET status = ?2, refund_review = max(refund_review, ?3) WHERE id = ?1")?
            .execute(params![w.request_id, r.status.as_str(), i64::from(r.refund_review)])?;
    }
    let new_attempt = match w.new_attempt {
        Some(a) => Some(insert_attempt(t, w.request_id, a, now)?),
        None => None,
    };
    for j in &w.jobs {
        insert_job(t, w.request_id, j, new_attempt, now)?;
    }
    if let Some(sms) = w.sms {
        insert_sms(t, w.request_id, sms, now)?;
    }
    if let Some(sent) = &w.sent {
        t.prepare_cached(
            "UPDATE sms SET sender = ?2, status = ?3, provider_id = ?4, delivery = coalesce(?5, delivery), \
             failure_reason = coalesce(?6, failure_reason), delivery_at = CASE WHEN ?5 IS NULL THEN delivery_at \
             ELSE ?7 END WHERE id = ?1",
        )?
        .execute(params![
            sent.id,
            sent.sender,
            sent.status.as_ref(),
            sent.provider_id,
            sent.delivery.map(|d| d.as_str()),
            sent.failure_reason,
            now
        ])?;
    }
    if let Some(f) = w.receipt {
        fill_receipt(t, w.request_id, f)?;
    }
    Ok(())
}

/// Records a receipt learnt after its attempt was paid: on the attempt, and on its request's
/// `paid` step, as a paid callback records it. The attempt's `updated_at` stays the time it
/// was paid, which is what reconciliation measures a paid request's wait from.
fn fill_receipt(t: &Connection, request_id: i64, f: &ReceiptFill) -> Result<(), StoreError> {
    t.prepare_cached("UPDATE payment_attempts SET receipt = ?2 WHERE id = ?1")?
        .execute(params![f.attempt_id, f.receipt])?;
    t.prepare_cached(
        "UPDATE request_events SET detail = ?2 WHERE request_id = ?1 AND status = 'paid' AND detail IS NULL",
    )?
    .execute(params![request_id, f.receipt])?;
    Ok(())
}

/// One step of a request's history.
pub(super) fn add_event(
    t: &Connection,
    request_id: i64,
    status: &str,
    detail: Option<&str>,
    at: i64,
) -> Result<(), StoreError> {
    t.prepare_cached("INSERT INTO request_events (request_id, status, detail, at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![request_id, status, detail, at])?;
    Ok(())
}

/// A request's next payment attempt; returns its id.
pub(super) fn insert_attempt(t: &Connection, request_id: i64, a: &NewAttempt, now: i64) -> Result<i64, StoreError> {
    let seq: i64 = t
        .prepare_cached("SELECT coalesce(max(seq), 0) + 1 FROM payment_attempts WHERE request_id = ?1")?
        .query_row([request_id], |r| r.get(0))?;
    t.prepare_cached(
        "INSERT INTO payment_attempts (request_id, seq, token, provider, msisdn, amount_kes, status, created_at, \
         updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'created', ?7, ?7)",
    )?
    .execute(params![
        request_id,
        seq,
        callback_token(),
        a.provider,
        a.msisdn.as_u64() as i64,
        a.amount_kes as i64,
        now
    ])?;
    Ok(t.last_insert_rowid())
}

/// A job, unless its key exists; `new_attempt` is the id of the attempt written with it.
pub(super) fn insert_job(
    t: &Connection,
    request_id: i64,
    j: &JobInsert<'_>,
    new_attempt: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    let attempt = match j.attempt {
        JobLink::None => None,
        JobLink::NewAttempt => new_attempt,
        JobLink::Id(id) => Some(id),
    };
    t.prepare_cached(
        "INSERT INTO jobs (key, kind, request_id, attempt_id, data, state, run_at, max_failures, created_at, \
         updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'ready', ?6, ?7, ?8, ?8) ON CONFLICT (key) DO NOTHING",
    )?
    .execute(params![j.key, j.kind.as_str(), request_id, attempt, j.data, j.run_at_ms, j.max_failures, now])?;
    Ok(())
}

fn insert_sms(t: &Connection, request_id: i64, m: &SmsRecord, now: i64) -> Result<(), StoreError> {
    t.prepare_cached(
        "INSERT INTO sms (request_id, msisdn, locale, text, segments, sender, status, provider_id, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        request_id,
        crate::store::stored_phone(m.msisdn),
        m.locale,
        m.text,
        m.segments,
        m.sender,
        m.status,
        m.provider_id,
        now
    ])?;
    Ok(())
}

/// Keeps a queued SMS and its `send` job; returns the SMS's id.
pub(super) fn queue_sms(t: &Connection, q: &QueueWrite<'_>, now: i64) -> Result<i64, StoreError> {
    t.prepare_cached(
        "INSERT INTO sms (request_id, inbound_id, resend_of, attempt, msisdn, locale, text, segments, sender, status, \
         created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, '-', ?9, ?10)",
    )?
    .execute(params![
        q.request_id,
        q.inbound_id,
        q.resend_of,
        q.attempt,
        q.msisdn.as_u64() as i64,
        q.locale,
        q.text,
        q.segments,
        SMS_QUEUED,
        now
    ])?;
    let sms_id = t.last_insert_rowid();
    t.prepare_cached(
        "INSERT INTO jobs (key, kind, request_id, sms_id, data, state, run_at, max_failures, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, '', 'ready', ?5, ?6, ?7, ?7) ON CONFLICT (key) DO NOTHING",
    )?
    .execute(params![
        plan::send_job_key(sms_id),
        crate::lifecycle::JobKind::Send.as_str(),
        q.request_id,
        sms_id,
        q.send_at_ms,
        q.max_failures,
        now
    ])?;
    Ok(sms_id)
}
