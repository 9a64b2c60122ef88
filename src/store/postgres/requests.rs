//! PostgreSQL's [`Requests`]: the submit (the whole request with its plan in one statement),
//! the reads of requests and attempts, and the effects a payment result writes.

use tokio_postgres::types::ToSql;

use super::writes::write_effects;
use super::{PostgresStore, all, bad, count, one, phone_of};
use crate::BoxFuture;
use crate::lifecycle::{AttemptStatus, RequestStatus};
use crate::store::columns::{attempt_columns, attempts_created_query, request_columns};
use crate::store::plan;
use crate::store::{
    AttemptRow, DayAttempt, Effects, EventRow, NewRequest, RequestRow, Requests, SessionEnd, StoreError, Stored,
    fields_from_json, fields_to_json, new_reference, now_ms,
};
use crate::types::{Msisdn, Reference};

/// The reference a known idempotency key was stored under.
pub(super) const BY_KEY: &str = "SELECT reference FROM requests WHERE idempotency_key = $1";

/// A whole submit in one statement: the request (unless its key or reference is taken), its
/// history, its payment attempt and its jobs. The request's id is known only inside the
/// statement, so each job's key is spliced there from the parts `plan` built around it.
pub(super) const SUBMIT: &str = "\
WITH r AS (
    INSERT INTO requests (reference, idempotency_key, menu, service, msisdn, locale, fields, payment_amount,
                          payment_account, status, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    ON CONFLICT DO NOTHING RETURNING id
), e AS (
    INSERT INTO request_events (request_id, status, at)
    SELECT r.id, s.status, $11 FROM r, unnest($12::text[]) WITH ORDINALITY AS s(status, ord) ORDER BY s.ord
), a AS (
    INSERT INTO payment_attempts (request_id, seq, token, provider, msisdn, amount_kes, status, created_at, updated_at)
    SELECT r.id, 1, $13, $14, $22, $15, 'created', $11, $11 FROM r WHERE $14::text IS NOT NULL
    RETURNING id
), j AS (
    INSERT INTO jobs (key, kind, request_id, attempt_id, data, state, run_at, max_failures, created_at, updated_at)
    SELECT s.key_prefix || r.id || s.key_suffix, s.kind, r.id,
           CASE WHEN s.uses_attempt THEN (SELECT id FROM a) END, s.data, 'ready', s.run_at, s.max_failures, $11, $11
    FROM r, unnest($16::text[], $17::text[], $18::bool[], $19::text[], $20::bigint[], $21::bigint[], $23::text[])
         AS s(key_prefix, key_suffix, uses_attempt, data, run_at, max_failures, kind)
)
SELECT id FROM r";

impl Requests for PostgresStore {
    fn submit(&self, r: NewRequest) -> BoxFuture<'_, Result<Stored, StoreError>> {
        Box::pin(async move {
            // The plan is checked and decided here, once, so the database only writes.
            let writes = plan::plan_new_request(&r)?;
            let client = self.client().await?;
            // One statement, so one round trip and its own transaction: the request, its
            // history, its payment attempt and its jobs commit together or not at all.
            let insert = client.prepare_cached(SUBMIT).await?;
            let by_key = client.prepare_cached(BY_KEY).await?;
            let fields = fields_to_json(&r.fields);
            let msisdn = r.msisdn.as_u64() as i64;
            let amount = r.payment.as_ref().map(|p| p.0.to_string());
            let account = r.payment.as_ref().map(|p| p.1.as_str());
            let statuses: Vec<&str> = writes.statuses.iter().map(|s| s.as_str()).collect();
            let status = writes.status.as_str();
            let provider = writes.attempt.map(|a| a.provider.as_str());
            let attempt_amount = writes.attempt.map(|a| a.amount_kes as i64);
            let attempt_msisdn = writes.attempt.map(|a| a.msisdn.as_u64() as i64);
            let prefixes: Vec<&str> = writes.jobs.iter().map(|j| j.key_prefix.as_str()).collect();
            let suffixes: Vec<&str> = writes.jobs.iter().map(|j| j.key_suffix.as_str()).collect();
            let kinds: Vec<&str> = writes.jobs.iter().map(|j| j.kind.as_str()).collect();
            let uses: Vec<bool> = writes.jobs.iter().map(|j| j.uses_attempt).collect();
            let data: Vec<&str> = writes.jobs.iter().map(|j| j.data).collect();
            let run_at: Vec<i64> = writes.jobs.iter().map(|j| j.run_at_ms).collect();
            let max_failures: Vec<i64> = writes.jobs.iter().map(|j| i64::from(j.max_failures)).collect();
            for _ in 0..8 {
                let reference = new_reference();
                let token = crate::store::callback_token();
                let (reference_text, locale, now) = (reference.as_str(), r.locale.as_str(), now_ms());
                let args: [&(dyn ToSql + Sync); 23] = [
                    &reference_text,
                    &r.idempotency_key,
                    &r.menu,
                    &r.service,
                    &msisdn,
                    &locale,
                    &fields,
                    &amount,
                    &account,
                    &status,
                    &now,
                    &statuses,
                    &token,
                    &provider,
                    &attempt_amount,
                    &prefixes,
                    &suffixes,
                    &uses,
                    &data,
                    &run_at,
                    &max_failures,
                    &attempt_msisdn,
                    &kinds,
                ];
                if client.query_opt(&insert, &args).await?.is_some() {
                    return Ok(Stored { reference, created: true });
                }
                // A conflict: the key is known (a retried submit: its reference is returned)
                // or the reference was taken (draw again). The insert comes first because a
                // new request is the common case: one round trip.
                if let Some(row) = client.query_opt(&by_key, &[&r.idempotency_key]).await? {
                    let reference = Reference::parse(row.get::<_, &str>(0)).ok_or_else(|| bad("reference"))?;
                    return Ok(Stored { reference, created: false });
                }
            }
            Err(StoreError::NoFreeReference)
        })
    }

    fn request<'a>(&'a self, reference: &'a Reference) -> BoxFuture<'a, Result<Option<RequestRow>, StoreError>> {
        let sql = concat!("SELECT ", request_columns!(), " FROM requests WHERE reference = $1");
        Box::pin(async move { one(&self.pool, sql, &[&reference.as_str()], row_to_request).await })
    }

    fn request_by_key<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<RequestRow>, StoreError>> {
        let sql = concat!("SELECT ", request_columns!(), " FROM requests WHERE idempotency_key = $1");
        Box::pin(async move { one(&self.pool, sql, &[&key], row_to_request).await })
    }

    fn recent_requests(
        &self,
        msisdn: Option<Msisdn>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RequestRow>, StoreError>> {
        Box::pin(async move {
            let limit = i64::from(limit);
            match msisdn {
                Some(m) => {
                    let sql = concat!(
                        "SELECT ",
                        request_columns!(),
                        " FROM requests WHERE msisdn = $1 ORDER BY id DESC LIMIT $2"
                    );
                    all(&self.pool, sql, &[&(m.as_u64() as i64), &limit], row_to_request).await
                }
                None => {
                    let sql = concat!("SELECT ", request_columns!(), " FROM requests ORDER BY id DESC LIMIT $1");
                    all(&self.pool, sql, &[&limit], row_to_request).await
                }
            }
        })
    }

    fn record_session_end(&self, end: SessionEnd) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "INSERT INTO session_ends (channel, session_id, msisdn, status, hops, duration_ms, error_message, \
                     received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (channel, session_id) DO NOTHING",
                )
                .await?;
            let (msisdn, now) = (end.msisdn.map(|m| m.as_u64() as i64), now_ms());
            let args: [&(dyn ToSql + Sync); 8] = [
                &end.channel,
                &end.session_id,
                &msisdn,
                &end.status,
                &end.hops,
                &end.duration_ms,
                &end.error_message,
                &now,
            ];
            client.execute(&stmt, &args).await?;
            Ok(())
        })
    }

    fn request_by_id(&self, id: i64) -> BoxFuture<'_, Result<Option<RequestRow>, StoreError>> {
        let sql = concat!("SELECT ", request_columns!(), " FROM requests WHERE id = $1");
        Box::pin(async move { one(&self.background, sql, &[&id], row_to_request).await })
    }

    fn requests_with_status(
        &self,
        status: Option<RequestStatus>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RequestRow>, StoreError>> {
        let sql = concat!(
            "SELECT ",
            request_columns!(),
            " FROM requests WHERE ($1::text IS NULL OR status = $1) ORDER BY id DESC LIMIT $2"
        );
        Box::pin(async move {
            all(&self.background, sql, &[&status.map(|s| s.as_str()), &i64::from(limit)], row_to_request).await
        })
    }

    fn events(&self, request_id: i64) -> BoxFuture<'_, Result<Vec<EventRow>, StoreError>> {
        let sql = "SELECT status, detail, at FROM request_events WHERE request_id = $1 ORDER BY id";
        Box::pin(async move {
            all(&self.pool, sql, &[&request_id], |r| {
                Ok(EventRow { status: r.get(0), detail: r.get(1), at_ms: r.get(2) })
            })
            .await
        })
    }

    fn attempts(&self, request_id: i64) -> BoxFuture<'_, Result<Vec<AttemptRow>, StoreError>> {
        let sql = concat!("SELECT ", attempt_columns!(), " FROM payment_attempts WHERE request_id = $1 ORDER BY seq");
        Box::pin(async move { all(&self.background, sql, &[&request_id], row_to_attempt).await })
    }

    fn attempt(&self, id: i64) -> BoxFuture<'_, Result<Option<AttemptRow>, StoreError>> {
        let sql = concat!("SELECT ", attempt_columns!(), " FROM payment_attempts WHERE id = $1");
        Box::pin(async move { one(&self.background, sql, &[&id], row_to_attempt).await })
    }

    fn attempt_by_token<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Option<AttemptRow>, StoreError>> {
        let sql = concat!("SELECT ", attempt_columns!(), " FROM payment_attempts WHERE token = $1");
        Box::pin(async move { one(&self.background, sql, &[&token], row_to_attempt).await })
    }

    fn apply(&self, effects: Effects) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut client = self.background().await?;
            let tx = client.transaction().await?;
            let applied = write_effects(&tx, &effects, now_ms()).await?;
            if applied {
                tx.commit().await?;
            }
            Ok(applied)
        })
    }

    fn attempts_created(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<DayAttempt>, StoreError>> {
        Box::pin(async move {
            let limit = i64::from(limit);
            all(&self.background, attempts_created_query!(), &[&from_ms, &to_ms, &limit], row_to_day_attempt).await
        })
    }
}

fn row_to_attempt(r: &tokio_postgres::Row) -> Result<AttemptRow, StoreError> {
    Ok(AttemptRow {
        id: r.get("id"),
        request_id: r.get("request_id"),
        seq: count(r.get("seq")),
        token: r.get("token"),
        provider: r.get("provider"),
        msisdn: phone_of(r.get("msisdn"))?,
        amount_kes: r.get::<_, i64>("amount_kes").max(0) as u64,
        status: AttemptStatus::parse(r.get("status")).ok_or_else(|| bad("attempt status"))?,
        checkout_request_id: r.get("checkout_request_id"),
        receipt: r.get("receipt"),
        result_code: r.get("result_code"),
        result_desc: r.get("result_desc"),
        created_at_ms: r.get("created_at"),
        updated_at_ms: r.get("updated_at"),
    })
}

fn row_to_request(r: &tokio_postgres::Row) -> Result<RequestRow, StoreError> {
    let amount: Option<String> = r.get("payment_amount");
    let account: Option<String> = r.get("payment_account");
    Ok(RequestRow {
        id: r.get("id"),
        reference: Reference::parse(r.get("reference")).ok_or_else(|| bad("reference"))?,
        menu: r.get("menu"),
        service: r.get("service"),
        msisdn: phone_of(r.get("msisdn"))?,
        locale: r.get("locale"),
        fields: fields_from_json(r.get("fields")),
        payment: amount.zip(account),
        status: r.get("status"),
        refund_review: r.get("refund_review"),
        created_at_ms: r.get("created_at"),
        purged_at_ms: r.get("purged_at"),
    })
}

/// A row of [`attempts_created_query`]: reconciliation's attempt with its request.
fn row_to_day_attempt(r: &tokio_postgres::Row) -> Result<DayAttempt, StoreError> {
    Ok(DayAttempt {
        attempt: row_to_attempt(r)?,
        reference: Reference::parse(r.get("reference")).ok_or_else(|| bad("reference"))?,
        menu: r.get("menu"),
        service: r.get("service"),
        request_status: RequestStatus::parse(r.get("request_status")).ok_or_else(|| bad("request status"))?,
        refund_review: r.get("refund_review"),
        fulfilled: r.get("fulfilled"),
        request_paid: r.get("request_paid"),
    })
}
