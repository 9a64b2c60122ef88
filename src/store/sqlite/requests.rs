//! SQLite's [`Requests`]: the submit (a request with its plan, in one savepoint), the reads of
//! requests and attempts, and the effects a payment result writes.

use rusqlite::{Connection, params};

use super::writes::{add_event, insert_attempt, insert_job, write_effects};
use super::{SqliteStore, all, invalid, one, phone_of};
use crate::BoxFuture;
use crate::lifecycle::{AttemptStatus, RequestStatus};
use crate::store::columns::{attempt_columns, attempts_created_query, request_columns};
use crate::store::plan::{self, NewRequestWrites};
use crate::store::{
    AttemptRow, DayAttempt, Effects, EventRow, NewRequest, RequestRow, Requests, SessionEnd, StoreError, Stored,
    fields_from_json, fields_to_json, new_reference, now_ms,
};
use crate::types::{Msisdn, Reference};

impl Requests for SqliteStore {
    fn submit(&self, request: NewRequest) -> BoxFuture<'_, Result<Stored, StoreError>> {
        self.exec(move |t| submit_tx(t, &request))
    }

    fn request<'a>(&'a self, reference: &'a Reference) -> BoxFuture<'a, Result<Option<RequestRow>, StoreError>> {
        let reference = reference.as_str().to_owned();
        self.exec(move |t| {
            one(
                t,
                concat!("SELECT ", request_columns!(), " FROM requests WHERE reference = ?1"),
                [reference],
                row_to_request,
            )
        })
    }

    fn request_by_key<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<RequestRow>, StoreError>> {
        let key = key.to_owned();
        self.exec(move |t| {
            one(
                t,
                concat!("SELECT ", request_columns!(), " FROM requests WHERE idempotency_key = ?1"),
                [key],
                row_to_request,
            )
        })
    }

    fn recent_requests(
        &self,
        msisdn: Option<Msisdn>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RequestRow>, StoreError>> {
        self.exec(move |t| match msisdn {
            Some(m) => all(
                t,
                concat!("SELECT ", request_columns!(), " FROM requests WHERE msisdn = ?1 ORDER BY id DESC LIMIT ?2"),
                params![m.as_u64() as i64, limit],
                row_to_request,
            ),
            None => all(
                t,
                concat!("SELECT ", request_columns!(), " FROM requests ORDER BY id DESC LIMIT ?1"),
                params![limit],
                row_to_request,
            ),
        })
    }

    fn record_session_end(&self, end: SessionEnd) -> BoxFuture<'_, Result<(), StoreError>> {
        self.exec(move |t| {
            t.prepare_cached(
                "INSERT INTO session_ends (channel, session_id, msisdn, status, hops, duration_ms, error_message, \
                 received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (channel, session_id) DO NOTHING",
            )?
            .execute(params![
                end.channel,
                end.session_id,
                end.msisdn.map(|m| m.as_u64() as i64),
                end.status,
                end.hops,
                end.duration_ms,
                end.error_message,
                now_ms()
            ])?;
            Ok(())
        })
    }

    fn request_by_id(&self, id: i64) -> BoxFuture<'_, Result<Option<RequestRow>, StoreError>> {
        self.exec(move |t| {
            one(t, concat!("SELECT ", request_columns!(), " FROM requests WHERE id = ?1"), [id], row_to_request)
        })
    }

    fn requests_with_status(
        &self,
        status: Option<RequestStatus>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RequestRow>, StoreError>> {
        self.exec(move |t| {
            all(
                t,
                concat!(
                    "SELECT ",
                    request_columns!(),
                    " FROM requests WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC LIMIT ?2"
                ),
                params![status.map(|s| s.as_str()), limit],
                row_to_request,
            )
        })
    }

    fn events(&self, request_id: i64) -> BoxFuture<'_, Result<Vec<EventRow>, StoreError>> {
        self.exec(move |t| {
            all(
                t,
                "SELECT status, detail, at FROM request_events WHERE request_id = ?1 ORDER BY id",
                [request_id],
                |r| Ok(EventRow { status: r.get(0)?, detail: r.get(1)?, at_ms: r.get(2)? }),
            )
        })
    }

    fn attempts(&self, request_id: i64) -> BoxFuture<'_, Result<Vec<AttemptRow>, StoreError>> {
        self.exec(move |t| {
            all(
                t,
                concat!("SELECT ", attempt_columns!(), " FROM payment_attempts WHERE request_id = ?1 ORDER BY seq"),
                [request_id],
                row_to_attempt,
            )
        })
    }

    fn attempt(&self, id: i64) -> BoxFuture<'_, Result<Option<AttemptRow>, StoreError>> {
        self.exec(move |t| {
            one(t, concat!("SELECT ", attempt_columns!(), " FROM payment_attempts WHERE id = ?1"), [id], row_to_attempt)
        })
    }

    fn attempt_by_token<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Option<AttemptRow>, StoreError>> {
        let token = token.to_owned();
        self.exec(move |t| {
            one(
                t,
                concat!("SELECT ", attempt_columns!(), " FROM payment_attempts WHERE token = ?1"),
                [token],
                row_to_attempt,
            )
        })
    }

    fn apply(&self, effects: Effects) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.exec(move |t| write_effects(t, &effects, now_ms()))
    }

    fn attempts_created(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<DayAttempt>, StoreError>> {
        self.exec(move |t| all(t, attempts_created_query!(), params![from_ms, to_ms, limit], row_to_day_attempt))
    }
}

/// A submit: the plan checked first (nothing is written for a refused one), a known key
/// answered with its reference, otherwise the request with its history, attempt and jobs.
fn submit_tx(t: &Connection, r: &NewRequest) -> Result<Stored, StoreError> {
    let writes = plan::plan_new_request(r)?;
    if let Some(existing) =
        one(t, "SELECT reference FROM requests WHERE idempotency_key = ?1", [&r.idempotency_key], |row| {
            row.get::<_, String>(0)
        })?
    {
        let reference =
            Reference::parse(&existing).ok_or_else(|| StoreError::Corrupt("bad stored reference".into()))?;
        return Ok(Stored { reference, created: false });
    }
    let fields = fields_to_json(&r.fields);
    let now = now_ms();
    for _ in 0..8 {
        let reference = new_reference();
        let res = t
            .prepare_cached(
                "INSERT INTO requests (reference, idempotency_key, menu, service, msisdn, locale, fields, \
                 payment_amount, payment_account, status, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                reference.as_str(),
                r.idempotency_key,
                r.menu,
                r.service,
                r.msisdn.as_u64() as i64,
                r.locale.as_str(),
                fields,
                r.payment.as_ref().map(|p| p.0.to_string()),
                r.payment.as_ref().map(|p| p.1.as_str()),
                writes.status.as_str(),
                now
            ]);
        match res {
            Ok(_) => {
                // The request's plan (its history, its attempt, its first jobs) commits with
                // it: a request is never stored without the work that carries it through.
                write_plan(t, t.last_insert_rowid(), &writes, now)?;
                return Ok(Stored { reference, created: true });
            }
            // A reference collision: draw another.
            Err(rusqlite::Error::SqliteFailure(e, Some(msg)))
                if e.code == rusqlite::ErrorCode::ConstraintViolation && msg.contains("reference") => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::NoFreeReference)
}

/// What a new request writes besides its row, once its id is known.
fn write_plan(t: &Connection, id: i64, w: &NewRequestWrites<'_>, now: i64) -> Result<(), StoreError> {
    for status in &w.statuses {
        add_event(t, id, status.as_str(), None, now)?;
    }
    let attempt = match w.attempt {
        Some(a) => Some(insert_attempt(t, id, a, now)?),
        None => None,
    };
    for job in &w.jobs {
        insert_job(t, id, &job.with_request(id), attempt, now)?;
    }
    Ok(())
}

fn row_to_request(r: &rusqlite::Row<'_>) -> rusqlite::Result<RequestRow> {
    let fields_json: String = r.get("fields")?;
    let amount: Option<String> = r.get("payment_amount")?;
    let account: Option<String> = r.get("payment_account")?;
    let reference: String = r.get("reference")?;
    Ok(RequestRow {
        id: r.get("id")?,
        reference: Reference::parse(&reference).ok_or_else(|| invalid("reference"))?,
        menu: r.get("menu")?,
        service: r.get("service")?,
        msisdn: phone_of(r.get("msisdn")?)?,
        locale: r.get("locale")?,
        fields: fields_from_json(&fields_json),
        payment: amount.zip(account),
        status: r.get("status")?,
        refund_review: r.get::<_, i64>("refund_review")? != 0,
        created_at_ms: r.get("created_at")?,
        purged_at_ms: r.get("purged_at")?,
    })
}

fn row_to_attempt(r: &rusqlite::Row<'_>) -> rusqlite::Result<AttemptRow> {
    let status: String = r.get("status")?;
    Ok(AttemptRow {
        id: r.get("id")?,
        request_id: r.get("request_id")?,
        seq: r.get("seq")?,
        token: r.get("token")?,
        provider: r.get("provider")?,
        msisdn: phone_of(r.get("msisdn")?)?,
        amount_kes: r.get::<_, i64>("amount_kes")?.max(0) as u64,
        status: AttemptStatus::parse(&status).ok_or_else(|| invalid("status"))?,
        checkout_request_id: r.get("checkout_request_id")?,
        receipt: r.get("receipt")?,
        result_code: r.get("result_code")?,
        result_desc: r.get("result_desc")?,
        created_at_ms: r.get("created_at")?,
        updated_at_ms: r.get("updated_at")?,
    })
}

/// A row of [`attempts_created_query`]: reconciliation's attempt with its request.
fn row_to_day_attempt(r: &rusqlite::Row<'_>) -> rusqlite::Result<DayAttempt> {
    let request_status: String = r.get("request_status")?;
    let reference: String = r.get("reference")?;
    Ok(DayAttempt {
        attempt: row_to_attempt(r)?,
        reference: Reference::parse(&reference).ok_or_else(|| invalid("reference"))?,
        menu: r.get("menu")?,
        service: r.get("service")?,
        request_status: RequestStatus::parse(&request_status).ok_or_else(|| invalid("request_status"))?,
        refund_review: r.get::<_, i64>("refund_review")? != 0,
        fulfilled: r.get::<_, i64>("fulfilled")? != 0,
        request_paid: r.get::<_, i64>("request_paid")? != 0,
    })
}
