//! Executes on PostgreSQL what [`crate::store::plan`] decides: the guarded rows are read and
//! locked (`FOR UPDATE`), the planner asked, its writes run. Nothing here decides.
//!
//! Statements that do not depend on one another are sent together (tokio-postgres pipelines
//! concurrent queries on one connection): the guards in one round trip, the writes in one more
//! (two when a new attempt's id feeds its jobs).

use tokio_postgres::types::ToSql;

use super::Tx;
use crate::store::plan::{
    self, Guarded, JobInsert, JobLink, Plan, QueueWrite, ReceiptGuard, RequestWrite, SentWrite, Writes,
};
use crate::store::{
    AttemptChange, Effects, NewAttempt, ReceiptFill, SMS_QUEUED, SmsRecord, StoreError, callback_token,
};

/// Writes `e` if its guards hold; returns whether it did. The guarded rows are locked before
/// they are read, so two instances applying the same callback serialise and the second sees
/// the first's result: stale, nothing written.
pub(super) async fn write_effects(t: &Tx<'_>, e: &Effects, now: i64) -> Result<bool, StoreError> {
    let reads = plan::reads(e);
    let (attempt, request, sms, receipt) = tokio::join!(
        status_of(t, "SELECT status FROM payment_attempts WHERE id = $1 FOR UPDATE", reads.attempt),
        status_of(t, "SELECT status FROM requests WHERE id = $1 FOR UPDATE", reads.request),
        status_of(t, "SELECT status FROM sms WHERE id = $1 FOR UPDATE", reads.sms),
        receipt_of(t, reads.receipt),
    );
    let (attempt, request, sms, receipt) = (attempt?, request?, sms?, receipt?);
    let rows = Guarded {
        attempt: attempt.as_deref(),
        request: request.as_deref(),
        sms: sms.as_deref(),
        receipt: receipt.as_ref().map(|(status, receipt)| ReceiptGuard { status, receipt: receipt.as_deref() }),
    };
    match plan::plan_effects(e, &rows)? {
        Plan::Stale => Ok(false),
        Plan::Write(w) => {
            execute(t, &w, now).await?;
            Ok(true)
        }
    }
}

/// The status column of the row `id` names, if asked for and present.
async fn status_of(t: &Tx<'_>, sql: &str, id: Option<i64>) -> Result<Option<String>, StoreError> {
    let Some(id) = id else { return Ok(None) };
    let st = t.prepare_cached(sql).await?;
    Ok(t.query_opt(&st, &[&id]).await?.map(|r| r.get(0)))
}

/// The status and receipt of the attempt `id` names, if asked for and present, locked like
/// every guarded row: two instances filling the same receipt serialise, and the second is stale.
async fn receipt_of(t: &Tx<'_>, id: Option<i64>) -> Result<Option<(String, Option<String>)>, StoreError> {
    let Some(id) = id else { return Ok(None) };
    let st = t.prepare_cached("SELECT status, receipt FROM payment_attempts WHERE id = $1 FOR UPDATE").await?;
    Ok(t.query_opt(&st, &[&id]).await?.map(|r| (r.get(0), r.get(1))))
}

async fn execute(t: &Tx<'_>, w: &Writes<'_>, now: i64) -> Result<(), StoreError> {
    let attempt_and_jobs = async {
        let new_attempt = match w.new_attempt {
            Some(a) => Some(insert_attempt(t, w.request_id, a, now).await?),
            None => None,
        };
        insert_jobs(t, w.request_id, &w.jobs, new_attempt, now).await
    };
    let (a, b, c, d, f, g) = tokio::join!(
        update_attempt(t, w.attempt, now),
        update_request(t, w.request_id, w.request.as_ref(), now),
        attempt_and_jobs,
        insert_sms(t, w.request_id, w.sms, now),
        mark_sent(t, w.sent.as_ref(), now),
        fill_receipt(t, w.request_id, w.receipt),
    );
    a?;
    b?;
    c?;
    d?;
    f?;
    g?;
    Ok(())
}

/// Records a receipt learnt after its attempt was paid: on the attempt, and on its request's
/// `paid` step, as a paid callback records it. The attempt's `updated_at` stays the time it
/// was paid, which is what reconciliation measures a paid request's wait from.
async fn fill_receipt(t: &Tx<'_>, request_id: i64, f: Option<&ReceiptFill>) -> Result<(), StoreError> {
    let Some(f) = f else { return Ok(()) };
    let attempt = t.prepare_cached("UPDATE payment_attempts SET receipt = $2 WHERE id = $1").await?;
    let event = t
        .prepare_cached(
            "UPDATE request_events SET detail = $2 WHERE request_id = $1 AND status = 'paid' AND detail IS NULL",
        )
        .await?;
    let attempt_args: [&(dyn ToSql + Sync); 2] = [&f.attempt_id, &f.receipt];
    let event_args: [&(dyn ToSql + Sync); 2] = [&request_id, &f.receipt];
    let (a, b) = tokio::join!(t.execute(&attempt, &attempt_args), t.execute(&event, &event_args));
    a?;
    b?;
    Ok(())
}

async fn update_attempt(t: &Tx<'_>, a: Option<&AttemptChange>, now: i64) -> Result<(), StoreError> {
    let Some(a) = a else { return Ok(()) };
    let st = t
        .prepare_cached(
            "UPDATE payment_attempts SET status = $2, checkout_request_id = coalesce($3, checkout_request_id), \
             merchant_request_id = coalesce($4, merchant_request_id), receipt = coalesce($5, receipt), \
             result_code = coalesce($6, result_code), result_desc = coalesce($7, result_desc), updated_at = $8 \
             WHERE id = $1",
        )
        .await?;
    let to = a.to.as_str();
    let args: [&(dyn ToSql + Sync); 8] =
        [&a.id, &to, &a.checkout_request_id, &a.merchant_request_id, &a.receipt, &a.result_code, &a.result_desc, &now];
    t.execute(&st, &args).await?;
    Ok(())
}

async fn update_request(t: &Tx<'_>, request_id: i64, r: Option<&RequestWrite<'_>>, now: i64) -> Result<(), StoreError> {
    let Some(r) = r else { return Ok(()) };
    let statuses: Vec<&str> = r.steps.iter().map(|(s, _)| s.as_str()).collect();
    let details: Vec<Option<&str>> = r.steps.iter().map(|(_, d)| d.as_deref()).collect();
    let events = t
        .prepare_cached(
            "INSERT INTO request_events (request_id, status, detail, at) \
             SELECT $1, s.status, s.detail, $4 FROM unnest($2::text[], $3::text[]) WITH ORDINALITY \
             AS s(status, detail, ord) ORDER BY s.ord",
        )
        .await?;
    let update =
        t.prepare_cached("UPDATE requests SET status = $2, refund_review = refund_review OR $3 WHERE id = $1").await?;
    let last = r.status.as_str();
    let event_args: [&(dyn ToSql + Sync); 4] = [&request_id, &statuses, &details, &now];
    let update_args: [&(dyn ToSql + Sync); 3] = [&request_id, &last, &r.refund_review];
    let (a, b) = tokio::join!(t.execute(&events, &event_args), t.execute(&update, &update_args));
    a?;
    b?;
    Ok(())
}

async fn mark_sent(t: &Tx<'_>, sent: Option<&SentWrite<'_>>, now: i64) -> Result<(), StoreError> {
    let Some(s) = sent else { return Ok(()) };
    let st = t
        .prepare_cached(
            "UPDATE sms SET sender = $2, status = $3, provider_id = $4, delivery = coalesce($5, delivery), \
             failure_reason = coalesce($6, failure_reason), \
             delivery_at = CASE WHEN $5::text IS NULL THEN delivery_at ELSE $7 END WHERE id = $1",
        )
        .await?;
    let status: &str = &s.status;
    let delivery = s.delivery.map(|d| d.as_str());
    let args: [&(dyn ToSql + Sync); 7] =
        [&s.id, &s.sender, &status, &s.provider_id, &delivery, &s.failure_reason, &now];
    t.execute(&st, &args).await?;
    Ok(())
}

/// Inserts jobs (one statement), skipping any whose key exists; `new_attempt` is the id of
/// the attempt written with them.
async fn insert_jobs(
    t: &Tx<'_>,
    request_id: i64,
    jobs: &[JobInsert<'_>],
    new_attempt: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
    let attempts: Vec<Option<i64>> = jobs
        .iter()
        .map(|j| match j.attempt {
            JobLink::None => None,
            JobLink::NewAttempt => new_attempt,
            JobLink::Id(id) => Some(id),
        })
        .collect();
    let kinds: Vec<&str> = jobs.iter().map(|j| j.kind.as_str()).collect();
    let data: Vec<&str> = jobs.iter().map(|j| j.data).collect();
    let run_at: Vec<i64> = jobs.iter().map(|j| j.run_at_ms).collect();
    let max_failures: Vec<i64> = jobs.iter().map(|j| i64::from(j.max_failures)).collect();
    let st = t
        .prepare_cached(
            "INSERT INTO jobs (key, kind, request_id, attempt_id, data, state, run_at, max_failures, created_at, \
             updated_at) SELECT s.key, s.kind, $1, s.attempt_id, s.data, 'ready', s.run_at, s.max_failures, $8, $8 \
             FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[], $7::bigint[]) \
             AS s(key, kind, attempt_id, data, run_at, max_failures) ON CONFLICT (key) DO NOTHING",
        )
        .await?;
    t.execute(&st, &[&request_id, &keys, &kinds, &attempts, &data, &run_at, &max_failures, &now]).await?;
    Ok(())
}

async fn insert_attempt(t: &Tx<'_>, request_id: i64, a: &NewAttempt, now: i64) -> Result<i64, StoreError> {
    // A new attempt comes from settling the previous attempt, whose row the guard locked: two
    // runs settling it queue on that lock and the second is stale, so the next sequence number
    // cannot race.
    let st = t
        .prepare_cached(
            "INSERT INTO payment_attempts (request_id, seq, token, provider, msisdn, amount_kes, status, created_at, \
             updated_at) SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5, 'created', $6, $6 \
             FROM payment_attempts WHERE request_id = $1 RETURNING id",
        )
        .await?;
    let (token, msisdn, amount) = (callback_token(), a.msisdn.as_u64() as i64, a.amount_kes as i64);
    let row = t.query_one(&st, &[&request_id, &token, &a.provider, &msisdn, &amount, &now]).await?;
    Ok(row.get(0))
}

async fn insert_sms(t: &Tx<'_>, request_id: i64, m: Option<&SmsRecord>, now: i64) -> Result<(), StoreError> {
    let Some(m) = m else { return Ok(()) };
    let st = t
        .prepare_cached(
            "INSERT INTO sms (request_id, msisdn, locale, text, segments, sender, status, provider_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .await?;
    let (msisdn, segments) = (crate::store::stored_phone(m.msisdn), i64::from(m.segments));
    let args: [&(dyn ToSql + Sync); 9] =
        [&request_id, &msisdn, &m.locale, &m.text, &segments, &m.sender, &m.status, &m.provider_id, &now];
    t.execute(&st, &args).await?;
    Ok(())
}

/// Keeps a queued SMS and its `send` job (one statement); returns the SMS's id.
pub(super) async fn queue_sms(t: &Tx<'_>, q: &QueueWrite<'_>, now: i64) -> Result<i64, StoreError> {
    let st = t
        .prepare_cached(
            "WITH s AS (INSERT INTO sms (request_id, inbound_id, resend_of, attempt, msisdn, locale, text, segments, \
             sender, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '-', $9, $10) RETURNING id), \
             j AS (INSERT INTO jobs (key, kind, request_id, sms_id, data, state, run_at, max_failures, created_at, \
             updated_at) SELECT $11 || s.id, $12, $1, s.id, '', 'ready', $13, $14, $10, $10 FROM s \
             ON CONFLICT (key) DO NOTHING) SELECT id FROM s",
        )
        .await?;
    // The job's key as `plan::send_job_key` builds it: its prefix, then the SMS's id.
    let key_prefix = plan::send_job_key_prefix();
    let (attempt, msisdn, segments) = (i64::from(q.attempt), q.msisdn.as_u64() as i64, i64::from(q.segments));
    let (kind, max_failures) = (crate::lifecycle::JobKind::Send.as_str(), i64::from(q.max_failures));
    let args: [&(dyn ToSql + Sync); 14] = [
        &q.request_id,
        &q.inbound_id,
        &q.resend_of,
        &attempt,
        &msisdn,
        &q.locale,
        &q.text,
        &segments,
        &SMS_QUEUED,
        &now,
        &key_prefix,
        &kind,
        &q.send_at_ms,
        &max_failures,
    ];
    Ok(t.query_one(&st, &args).await?.get(0))
}
