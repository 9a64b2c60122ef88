//! The production store: PostgreSQL through a deadpool-postgres pool.
//!
//! Several Njia instances share one database. Migrations run under an advisory lock, so
//! instances starting together apply each migration once; every statement is prepared once per
//! connection (`prepare_cached`); a submit is one transaction that commits before it returns.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::BoxFuture;
use crate::lifecycle::{AttemptStatus, DeliveryStatus, JobKind, JobState, RequestStatus};
use crate::store::{
    AttemptRow, ClaimedJob, DeliveryChange, Effects, EventRow, Finished, JobAttempt, JobFinish, JobRow, NewAttempt,
    NewInbound, NewJob, NewRequest, QueuedSms, RequestRow, SMS_FAILED_PREFIX, SMS_QUEUED, SessionEnd, SmsRecord,
    SmsRow, Store, StoreError, Stored, callback_token, check_new_request, delivery_holds, fields_from_json,
    fields_to_json, job_key, now_ms, reference_bits, request_change_holds, send_job_key_prefix,
};
use crate::types::{Locale, Msisdn, Reference};

/// Migrations in order, recorded in `schema_version`.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "0001_init", include_str!("../../migrations/postgres/0001_init.sql")),
    (2, "0002_handoff", include_str!("../../migrations/postgres/0002_handoff.sql")),
    (3, "0003_shared_tokens", include_str!("../../migrations/postgres/0003_shared_tokens.sql")),
    (4, "0004_sms_channel", include_str!("../../migrations/postgres/0004_sms_channel.sql")),
    (5, "0005_sessions", include_str!("../../migrations/postgres/0005_sessions.sql")),
    (6, "0006_sessions_hot", include_str!("../../migrations/postgres/0006_sessions_hot.sql")),
];

/// Opens every connection of `pool` and prepares `statements` on each, so no citizen's hop
/// pays for a connection set-up or a statement plan (both cost milliseconds, and would
/// otherwise land on the first hops after a start). A failure is not fatal: the connection or
/// statement is then made on first use. `what` names the pool in the log.
pub(crate) async fn warm(pool: &Pool, statements: &[&str], what: &str) {
    let size = pool.status().max_size;
    let mut held = Vec::with_capacity(size);
    for _ in 0..size {
        match pool.get().await {
            Ok(c) => {
                for sql in statements {
                    if let Err(e) = c.prepare_cached(sql).await {
                        tracing::warn!(error = %e, pool = what, "cannot prepare a statement while warming the pool");
                    }
                }
                held.push(c);
            }
            Err(e) => {
                tracing::warn!(error = %e, pool = what, "cannot open a pooled connection while warming the pool");
                break;
            }
        }
    }
}

/// The advisory lock key migrations hold ("njia" in ASCII, then 1).
const MIGRATION_LOCK: i64 = 0x6e6a_6961_0000_0001;

/// Connections per instance for the USSD path, plus [`BACKGROUND_POOL_SIZE`] for the
/// hand-off. Size them from the database's `max_connections` divided by the number of
/// instances, not from the number of cores.
pub(crate) const POOL_SIZE: usize = 16;
const BACKGROUND_POOL_SIZE: usize = 8;

pub struct PostgresStore {
    /// The USSD path: hops, submits, languages, status lookups.
    pool: Pool,
    /// The hand-off: the dispatcher, callbacks, administration. A separate pool, so a busy
    /// dispatcher can never make a citizen's hop wait for a connection.
    background: Pool,
}

impl PostgresStore {
    /// Connects to `url` (e.g. `postgres://user@host:5432/db`), runs the migrations this
    /// binary knows, and refuses a database that is newer than the binary.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        // A hop waits at most 2 s for a connection (the telco's budget is a few seconds); a
        // job can wait longer.
        let (pool, background) = (pool(url, POOL_SIZE, 2)?, pool(url, BACKGROUND_POOL_SIZE, 30)?);
        let store = PostgresStore { pool, background };
        store.migrate().await?;
        store.warm().await;
        Ok(store)
    }

    /// Connects to a database that already holds Njia's tables ([`StoreError::Missing`] when
    /// the database or its tables are not there), migrating it like [`connect`] but creating
    /// nothing else and warming no pool: what the administration commands read, so a wrong
    /// `DATABASE_URL` is reported instead of answered from a new, empty schema.
    ///
    /// [`connect`]: PostgresStore::connect
    pub async fn connect_existing(url: &str) -> Result<PostgresStore, StoreError> {
        let (pool, background) = (pool(url, POOL_SIZE, 2)?, pool(url, BACKGROUND_POOL_SIZE, 30)?);
        let store = PostgresStore { pool, background };
        let place = describe(url);
        let client = match store.pool.get().await {
            Ok(c) => c,
            Err(deadpool_postgres::PoolError::Backend(e))
                if e.code() == Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME) =>
            {
                return Err(StoreError::Missing(format!("at {place} (that database does not exist)")));
            }
            Err(e) => return Err(StoreError::Unavailable(e.to_string())),
        };
        let found: bool =
            client.query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[]).await.map_err(pg)?.get(0);
        drop(client);
        if !found {
            return Err(StoreError::Missing(format!("at {place} (it has no Njia tables)")));
        }
        store.migrate().await?;
        Ok(store)
    }

    /// Opens every pooled connection and prepares the statements of the USSD path on each (see
    /// [`warm`]).
    async fn warm(&self) {
        warm(&self.pool, &[SUBMIT, BY_KEY, LANGUAGE], "store").await;
    }

    /// The pool of the USSD path, which PostgreSQL sessions share: a hop holds one
    /// connection at a time, so sharing costs no waiting and halves the connections an
    /// instance opens.
    pub fn ussd_pool(&self) -> Pool {
        self.pool.clone()
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn background(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.background.get().await.map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        // Instances starting at once queue here; the first applies, the others see it done.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(pg)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 version INT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .map_err(pg)?;
        let have: i32 =
            tx.query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[]).await.map_err(pg)?.get(0);
        let known = MIGRATIONS.last().map_or(0, |m| m.0);
        if have > known {
            return Err(StoreError::Unavailable(format!(
                "database schema version {have} is newer than this binary knows ({known}); upgrade njia"
            )));
        }
        for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > have) {
            tx.batch_execute(sql).await.map_err(|e| StoreError::Database(format!("migration {name}: {e}")))?;
            tx.execute("INSERT INTO schema_version (version, name) VALUES ($1, $2)", &[version, name])
                .await
                .map_err(pg)?;
            tracing::info!(migration = name, "postgres migration applied");
        }
        tx.commit().await.map_err(pg)
    }
}

/// A database URL as an administrator may read it: database, host and port, never the
/// password.
fn describe(url: &str) -> String {
    let Ok(c) = url.parse::<tokio_postgres::Config>() else { return "the configured database URL".into() };
    let host = match c.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let db = c.get_dbname().or(c.get_user()).unwrap_or("postgres");
    format!("database {db:?} on {host}:{port}")
}

/// A pool of `size` connections to `url`, waiting at most `wait_secs` for one.
pub(crate) fn pool(url: &str, size: usize, wait_secs: u64) -> Result<Pool, StoreError> {
    let config: tokio_postgres::Config =
        url.parse().map_err(|e| StoreError::Unavailable(format!("database_url: {e}")))?;
    let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(std::time::Duration::from_secs(wait_secs)))
        .create_timeout(Some(std::time::Duration::from_secs(5)))
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

const REQUEST_COLUMNS: &str = "id, reference, menu, service, msisdn, locale, fields, payment_amount, payment_account, \
     status, refund_review, created_at";

type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// A whole submit in one statement: the request (unless its key or reference is taken), its
/// history, its payment attempt and its jobs. Job keys are built as `job_key` builds them.
const BY_KEY: &str = "SELECT reference FROM requests WHERE idempotency_key = $1";
const LANGUAGE: &str = "SELECT locale FROM profiles WHERE msisdn = $1";

const SUBMIT: &str = "\
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
    SELECT r.id, 1, $13, $14, $5, $15, 'created', $11, $11 FROM r WHERE $14::text IS NOT NULL
    RETURNING id
), j AS (
    INSERT INTO jobs (key, kind, request_id, attempt_id, data, state, run_at, max_failures, created_at, updated_at)
    SELECT s.kind || ':' || r.id || ':' || s.disc, s.kind, r.id,
           CASE WHEN s.uses_attempt THEN (SELECT id FROM a) END, s.data, 'ready', s.run_at, s.max_failures, $11, $11
    FROM r, unnest($16::text[], $17::text[], $18::bool[], $19::text[], $20::bigint[], $21::bigint[])
         AS s(kind, disc, uses_attempt, data, run_at, max_failures)
)
SELECT id FROM r";

fn bad(what: &str) -> StoreError {
    StoreError::Database(format!("stored {what} is not a value this version knows"))
}

fn msisdn_of(n: i64) -> Result<Msisdn, StoreError> {
    u64::try_from(n).ok().and_then(Msisdn::from_u64).ok_or_else(|| bad("phone number"))
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Writes `e` if its guards hold. The guarded rows are locked (`FOR UPDATE`) before they are
/// checked, so two instances applying the same callback serialise and the second sees the
/// first's result: stale, nothing written.
///
/// Statements that do not depend on one another are sent together (tokio-postgres pipelines
/// concurrent queries on one connection): the guards in one round trip, the writes in one more
/// (two when a new attempt's id feeds its jobs).
async fn write_effects(t: &Tx<'_>, e: &Effects, now: i64) -> Result<bool, StoreError> {
    let attempt_guard = async {
        let Some(a) = &e.attempt else { return Ok::<_, StoreError>(true) };
        let st = t.prepare_cached("SELECT status FROM payment_attempts WHERE id = $1 FOR UPDATE").await.map_err(pg)?;
        let row = t.query_opt(&st, &[&a.id]).await.map_err(pg)?;
        Ok(row.as_ref().and_then(|r| AttemptStatus::parse(r.get::<_, &str>(0))).is_some_and(|s| a.from.contains(&s)))
    };
    let request_guard = async {
        let Some(c) = &e.request else { return Ok::<_, StoreError>(true) };
        let st = t.prepare_cached("SELECT status FROM requests WHERE id = $1 FOR UPDATE").await.map_err(pg)?;
        let row = t.query_opt(&st, &[&e.request_id]).await.map_err(pg)?;
        Ok(row.is_some_and(|r| request_change_holds(r.get::<_, &str>(0), c)))
    };
    let sms_guard = async {
        let Some(sent) = &e.sms_sent else { return Ok::<_, StoreError>(true) };
        let st = t.prepare_cached("SELECT status FROM sms WHERE id = $1 FOR UPDATE").await.map_err(pg)?;
        let row = t.query_opt(&st, &[&sent.id]).await.map_err(pg)?;
        Ok(row.is_some_and(|r| r.get::<_, &str>(0) == SMS_QUEUED))
    };
    let (attempt_ok, request_ok, sms_ok) = tokio::join!(attempt_guard, request_guard, sms_guard);
    if !(attempt_ok? && request_ok? && sms_ok?) {
        return Ok(false);
    }
    let attempt_update = async {
        let Some(a) = &e.attempt else { return Ok::<_, StoreError>(()) };
        let st = t
            .prepare_cached(
                "UPDATE payment_attempts SET status = $2, checkout_request_id = coalesce($3, checkout_request_id), \
                 merchant_request_id = coalesce($4, merchant_request_id), receipt = coalesce($5, receipt), \
                 result_code = coalesce($6, result_code), result_desc = coalesce($7, result_desc), updated_at = $8 \
                 WHERE id = $1",
            )
            .await
            .map_err(pg)?;
        let to = a.to.as_str();
        t.execute(
            &st,
            &[
                &a.id,
                &to,
                &a.checkout_request_id,
                &a.merchant_request_id,
                &a.receipt,
                &a.result_code,
                &a.result_desc,
                &now,
            ],
        )
        .await
        .map_err(pg)?;
        Ok(())
    };
    let request_update = async {
        let Some(c) = &e.request else { return Ok::<_, StoreError>(()) };
        let Some((last, _)) = c.to.last() else { return Ok(()) };
        let statuses: Vec<&str> = c.to.iter().map(|(s, _)| s.as_str()).collect();
        let details: Vec<Option<&str>> = c.to.iter().map(|(_, d)| d.as_deref()).collect();
        let events = t
            .prepare_cached(
                "INSERT INTO request_events (request_id, status, detail, at) \
                 SELECT $1, s.status, s.detail, $4 FROM unnest($2::text[], $3::text[]) WITH ORDINALITY \
                 AS s(status, detail, ord) ORDER BY s.ord",
            )
            .await
            .map_err(pg)?;
        let update = t
            .prepare_cached("UPDATE requests SET status = $2, refund_review = refund_review OR $3 WHERE id = $1")
            .await
            .map_err(pg)?;
        let last = last.as_str();
        let event_args: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [&e.request_id, &statuses, &details, &now];
        let update_args: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&e.request_id, &last, &c.refund_review];
        let (a, b) = tokio::join!(t.execute(&events, &event_args), t.execute(&update, &update_args));
        a.map_err(pg)?;
        b.map_err(pg)?;
        Ok(())
    };
    let attempt_and_jobs = async {
        let new_attempt = match &e.new_attempt {
            Some(a) => Some(insert_attempt(t, e.request_id, a, now).await?),
            None => None,
        };
        insert_jobs(t, e.request_id, &e.jobs, new_attempt, now).await
    };
    let sms = async {
        match &e.sms {
            Some(m) => insert_sms(t, Some(e.request_id), m, now).await,
            None => Ok(()),
        }
    };
    let sent = async {
        let Some(sent) = &e.sms_sent else { return Ok::<_, StoreError>(()) };
        let (status, delivery) = match &sent.failed {
            Some(why) => (format!("{SMS_FAILED_PREFIX}{why}"), Some(DeliveryStatus::Failed.as_str())),
            None => (sent.status.clone(), None),
        };
        let st = t
            .prepare_cached(
                "UPDATE sms SET sender = $2, status = $3, provider_id = $4, delivery = coalesce($5, delivery), \
                 failure_reason = coalesce($6, failure_reason), \
                 delivery_at = CASE WHEN $5::text IS NULL THEN delivery_at ELSE $7 END WHERE id = $1",
            )
            .await
            .map_err(pg)?;
        t.execute(&st, &[&sent.id, &sent.sender, &status, &sent.provider_id, &delivery, &sent.failed, &now])
            .await
            .map_err(pg)?;
        Ok(())
    };
    let (a, b, c, d, f) = tokio::join!(attempt_update, request_update, attempt_and_jobs, sms, sent);
    a?;
    b?;
    c?;
    d?;
    f?;
    Ok(true)
}

/// Keeps a queued SMS and its `send` job (one statement); returns the SMS's id.
async fn queue_sms(
    t: &Tx<'_>,
    owner: (Option<i64>, Option<i64>, Option<i64>),
    attempt: u32,
    q: &QueuedSms,
    now: i64,
) -> Result<i64, StoreError> {
    let (request_id, inbound_id, resend_of) = owner;
    let st = t
        .prepare_cached(
            "WITH s AS (INSERT INTO sms (request_id, inbound_id, resend_of, attempt, msisdn, locale, text, segments, \
             sender, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '-', $9, $10) RETURNING id), \
             j AS (INSERT INTO jobs (key, kind, request_id, sms_id, data, state, run_at, max_failures, created_at, \
             updated_at) SELECT $11 || s.id, $12, $1, s.id, '', 'ready', $13, $14, $10, $10 FROM s \
             ON CONFLICT (key) DO NOTHING) SELECT id FROM s",
        )
        .await
        .map_err(pg)?;
    let segments = crate::gsm7::sms_segments(&q.text) as i64;
    // The job key as `send_job_key` builds it: its prefix, then the SMS's id.
    let key_prefix = send_job_key_prefix();
    let row = t
        .query_one(
            &st,
            &[
                &request_id,
                &inbound_id,
                &resend_of,
                &i64::from(attempt),
                &(q.msisdn.as_u64() as i64),
                &q.locale,
                &q.text,
                &segments,
                &SMS_QUEUED,
                &now,
                &key_prefix,
                &JobKind::Send.as_str(),
                &q.send_at_ms,
                &i64::from(q.max_failures),
            ],
        )
        .await
        .map_err(pg)?;
    Ok(row.get(0))
}

const SMS_COLUMNS: &str = "s.id, r.reference, s.msisdn, s.locale, s.text, s.segments, s.sender, s.status, \
     s.provider_id, s.created_at, s.request_id, s.inbound_id, s.attempt, s.resend_of, s.delivery, s.failure_reason, \
     s.delivery_at";

fn row_to_sms(r: &tokio_postgres::Row) -> Result<SmsRow, StoreError> {
    let reference: Option<&str> = r.get("reference");
    let delivery: Option<&str> = r.get("delivery");
    Ok(SmsRow {
        id: r.get("id"),
        reference: reference.and_then(Reference::parse),
        record: SmsRecord {
            msisdn: msisdn_of(r.get("msisdn"))?,
            locale: r.get("locale"),
            text: r.get("text"),
            segments: count(r.get("segments")),
            sender: r.get("sender"),
            status: r.get("status"),
            provider_id: r.get("provider_id"),
        },
        at_ms: r.get("created_at"),
        request_id: r.get("request_id"),
        inbound_id: r.get("inbound_id"),
        attempt: count(r.get("attempt")),
        resend_of: r.get("resend_of"),
        delivery: match delivery {
            Some(d) => Some(DeliveryStatus::parse(d).ok_or_else(|| bad("delivery status"))?),
            None => None,
        },
        failure_reason: r.get("failure_reason"),
        delivery_at_ms: r.get("delivery_at"),
    })
}

/// Inserts jobs (one statement), skipping any whose key exists.
async fn insert_jobs(
    t: &Tx<'_>,
    request_id: i64,
    jobs: &[NewJob],
    new_attempt: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let mut keys = Vec::with_capacity(jobs.len());
    let mut attempts: Vec<Option<i64>> = Vec::with_capacity(jobs.len());
    for j in jobs {
        keys.push(job_key(j.kind, request_id, &j.discriminator));
        attempts.push(match j.attempt {
            JobAttempt::None => None,
            JobAttempt::New => {
                Some(new_attempt.ok_or_else(|| StoreError::Database("a job points at an attempt not created".into()))?)
            }
            JobAttempt::Id(id) => Some(id),
        });
    }
    let kinds: Vec<&str> = jobs.iter().map(|j| j.kind.as_str()).collect();
    let data: Vec<&str> = jobs.iter().map(|j| j.data.as_str()).collect();
    let run_at: Vec<i64> = jobs.iter().map(|j| j.run_at_ms).collect();
    let max_failures: Vec<i64> = jobs.iter().map(|j| i64::from(j.max_failures)).collect();
    let st = t
        .prepare_cached(
            "INSERT INTO jobs (key, kind, request_id, attempt_id, data, state, run_at, max_failures, created_at, \
             updated_at) SELECT s.key, s.kind, $1, s.attempt_id, s.data, 'ready', s.run_at, s.max_failures, $8, $8 \
             FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[], $7::bigint[]) \
             AS s(key, kind, attempt_id, data, run_at, max_failures) ON CONFLICT (key) DO NOTHING",
        )
        .await
        .map_err(pg)?;
    t.execute(&st, &[&request_id, &keys, &kinds, &attempts, &data, &run_at, &max_failures, &now]).await.map_err(pg)?;
    Ok(())
}

async fn insert_attempt(t: &Tx<'_>, request_id: i64, a: &NewAttempt, now: i64) -> Result<i64, StoreError> {
    // A new attempt comes either with a new request (inserted in this transaction) or from
    // settling the previous attempt, whose row the guard locked: two runs settling it queue
    // on that lock and the second is stale, so the next sequence number cannot race.
    let st = t
        .prepare_cached(
            "INSERT INTO payment_attempts (request_id, seq, token, provider, msisdn, amount_kes, status, created_at, \
             updated_at) SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5, 'created', $6, $6 \
             FROM payment_attempts WHERE request_id = $1 RETURNING id",
        )
        .await
        .map_err(pg)?;
    let row = t
        .query_one(
            &st,
            &[&request_id, &callback_token(), &a.provider, &(a.msisdn.as_u64() as i64), &(a.amount_kes as i64), &now],
        )
        .await
        .map_err(pg)?;
    Ok(row.get(0))
}

async fn insert_sms(t: &Tx<'_>, request_id: Option<i64>, m: &SmsRecord, now: i64) -> Result<(), StoreError> {
    let st = t
        .prepare_cached(
            "INSERT INTO sms (request_id, msisdn, locale, text, segments, sender, status, provider_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .await
        .map_err(pg)?;
    t.execute(
        &st,
        &[
            &request_id,
            &(m.msisdn.as_u64() as i64),
            &m.locale,
            &m.text,
            &i64::from(m.segments),
            &m.sender,
            &m.status,
            &m.provider_id,
            &now,
        ],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

const ATTEMPT_COLUMNS: &str = "id, request_id, seq, token, provider, msisdn, amount_kes, status, checkout_request_id, \
     receipt, result_code, result_desc, created_at, updated_at";

fn row_to_attempt(r: &tokio_postgres::Row) -> Result<AttemptRow, StoreError> {
    Ok(AttemptRow {
        id: r.get("id"),
        request_id: r.get("request_id"),
        seq: count(r.get("seq")),
        token: r.get("token"),
        provider: r.get("provider"),
        msisdn: msisdn_of(r.get("msisdn"))?,
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

const JOB_COLUMNS: &str = "j.id, j.key, j.kind, r.reference, j.sms_id, j.state, j.run_at, j.tries, j.failures, \
     j.max_failures, j.last_error, j.updated_at";

fn row_to_job(r: &tokio_postgres::Row) -> Result<JobRow, StoreError> {
    let reference: Option<&str> = r.get("reference");
    Ok(JobRow {
        id: r.get("id"),
        key: r.get("key"),
        kind: JobKind::parse(r.get("kind")).ok_or_else(|| bad("job kind"))?,
        reference: match reference {
            Some(s) => Some(Reference::parse(s).ok_or_else(|| bad("reference"))?),
            None => None,
        },
        sms_id: r.get("sms_id"),
        state: JobState::parse(r.get("state")).ok_or_else(|| bad("job state"))?,
        run_at_ms: r.get("run_at"),
        tries: count(r.get("tries")),
        failures: count(r.get("failures")),
        max_failures: count(r.get("max_failures")),
        last_error: r.get("last_error"),
        updated_at_ms: r.get("updated_at"),
    })
}

fn row_to_request(r: &tokio_postgres::Row) -> Result<RequestRow, StoreError> {
    let reference: String = r.get("reference");
    let msisdn: i64 = r.get("msisdn");
    let amount: Option<String> = r.get("payment_amount");
    let account: Option<String> = r.get("payment_account");
    let fields: String = r.get("fields");
    Ok(RequestRow {
        id: r.get("id"),
        reference: Reference::parse(&reference).ok_or_else(|| StoreError::Database("bad stored reference".into()))?,
        menu: r.get("menu"),
        service: r.get("service"),
        msisdn: u64::try_from(msisdn)
            .ok()
            .and_then(Msisdn::from_u64)
            .ok_or_else(|| StoreError::Database("bad stored phone number".into()))?,
        locale: r.get("locale"),
        fields: fields_from_json(&fields),
        payment: amount.zip(account),
        status: r.get("status"),
        refund_review: r.get("refund_review"),
        created_at_ms: r.get("created_at"),
    })
}

impl Store for PostgresStore {
    fn language(&self, msisdn: Msisdn) -> BoxFuture<'_, Result<Option<Locale>, StoreError>> {
        Box::pin(async move {
            let client = self.client().await?;
            let stmt = client.prepare_cached(LANGUAGE).await.map_err(pg)?;
            let row = client.query_opt(&stmt, &[&(msisdn.as_u64() as i64)]).await.map_err(pg)?;
            Ok(row.and_then(|r| Locale::parse(r.get::<_, &str>(0)).ok()))
        })
    }

    fn set_language(&self, msisdn: Msisdn, locale: Locale) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "INSERT INTO profiles (msisdn, locale, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (msisdn) DO UPDATE SET locale = excluded.locale, updated_at = excluded.updated_at",
                )
                .await
                .map_err(pg)?;
            client.execute(&stmt, &[&(msisdn.as_u64() as i64), &locale.as_str(), &now_ms()]).await.map_err(pg)?;
            Ok(())
        })
    }

    fn submit(&self, r: NewRequest) -> BoxFuture<'_, Result<Stored, StoreError>> {
        Box::pin(async move {
            // The plan is checked here, once, so the database only writes.
            check_new_request(&r)?;
            let client = self.client().await?;
            // One statement, so one round trip and its own transaction: the request, its
            // history, its payment attempt and its jobs commit together or not at all.
            let insert = client.prepare_cached(SUBMIT).await.map_err(pg)?;
            let by_key = client.prepare_cached(BY_KEY).await.map_err(pg)?;
            let fields = fields_to_json(&r.fields);
            let msisdn = r.msisdn.as_u64() as i64;
            let amount = r.payment.as_ref().map(|p| p.0.to_string());
            let account = r.payment.as_ref().map(|p| p.1.as_str());
            let statuses: Vec<&str> = std::iter::once(RequestStatus::Received)
                .chain(r.statuses.iter().copied())
                .map(|s| s.as_str())
                .collect();
            let last = statuses.last().copied().unwrap_or("received");
            let provider = r.attempt.as_ref().map(|a| a.provider.as_str());
            let attempt_amount = r.attempt.as_ref().map(|a| a.amount_kes as i64);
            let kinds: Vec<&str> = r.jobs.iter().map(|j| j.kind.as_str()).collect();
            let discs: Vec<&str> = r.jobs.iter().map(|j| j.discriminator.as_str()).collect();
            let uses: Vec<bool> = r.jobs.iter().map(|j| j.attempt == JobAttempt::New).collect();
            let data: Vec<&str> = r.jobs.iter().map(|j| j.data.as_str()).collect();
            let run_at: Vec<i64> = r.jobs.iter().map(|j| j.run_at_ms).collect();
            let max_failures: Vec<i64> = r.jobs.iter().map(|j| i64::from(j.max_failures)).collect();
            for attempt in 0..8 {
                let reference = Reference::from_bits(reference_bits(attempt));
                let token = callback_token();
                let inserted = client
                    .query_opt(
                        &insert,
                        &[
                            &reference.as_str(),
                            &r.idempotency_key,
                            &r.menu,
                            &r.service,
                            &msisdn,
                            &r.locale.as_str(),
                            &fields,
                            &amount,
                            &account,
                            &last,
                            &now_ms(),
                            &statuses,
                            &token,
                            &provider,
                            &attempt_amount,
                            &kinds,
                            &discs,
                            &uses,
                            &data,
                            &run_at,
                            &max_failures,
                        ],
                    )
                    .await
                    .map_err(pg)?;
                if inserted.is_some() {
                    return Ok(Stored { reference, created: true });
                }
                // A conflict: the key is known (a retried submit: its reference is returned)
                // or the reference was taken (draw again). The insert comes first because a
                // new request is the common case: one round trip.
                if let Some(row) = client.query_opt(&by_key, &[&r.idempotency_key]).await.map_err(pg)? {
                    let reference = Reference::parse(row.get::<_, &str>(0))
                        .ok_or_else(|| StoreError::Database("bad stored reference".into()))?;
                    return Ok(Stored { reference, created: false });
                }
            }
            Err(StoreError::Database("could not draw a free reference".into()))
        })
    }

    fn request<'a>(&'a self, reference: &'a Reference) -> BoxFuture<'a, Result<Option<RequestRow>, StoreError>> {
        Box::pin(async move {
            let client = self.client().await?;
            let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE reference = $1");
            let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
            let row = client.query_opt(&stmt, &[&reference.as_str()]).await.map_err(pg)?;
            row.as_ref().map(row_to_request).transpose()
        })
    }

    fn request_by_key<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<RequestRow>, StoreError>> {
        Box::pin(async move {
            let client = self.client().await?;
            let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE idempotency_key = $1");
            let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
            let row = client.query_opt(&stmt, &[&key]).await.map_err(pg)?;
            row.as_ref().map(row_to_request).transpose()
        })
    }

    fn recent_requests(
        &self,
        msisdn: Option<Msisdn>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RequestRow>, StoreError>> {
        Box::pin(async move {
            let client = self.client().await?;
            let limit = i64::from(limit);
            let rows = match msisdn {
                Some(m) => {
                    let sql =
                        format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE msisdn = $1 ORDER BY id DESC LIMIT $2");
                    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
                    client.query(&stmt, &[&(m.as_u64() as i64), &limit]).await.map_err(pg)?
                }
                None => {
                    let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests ORDER BY id DESC LIMIT $1");
                    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
                    client.query(&stmt, &[&limit]).await.map_err(pg)?
                }
            };
            rows.iter().map(row_to_request).collect()
        })
    }

    fn request_by_id(&self, id: i64) -> BoxFuture<'_, Result<Option<RequestRow>, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let stmt = client
                .prepare_cached(&format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1"))
                .await
                .map_err(pg)?;
            let row = client.query_opt(&stmt, &[&id]).await.map_err(pg)?;
            row.as_ref().map(row_to_request).transpose()
        })
    }

    fn requests_with_status(
        &self,
        status: Option<RequestStatus>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RequestRow>, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let sql = format!(
                "SELECT {REQUEST_COLUMNS} FROM requests WHERE ($1::text IS NULL OR status = $1) ORDER BY id DESC LIMIT $2"
            );
            let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
            let rows = client.query(&stmt, &[&status.map(|s| s.as_str()), &i64::from(limit)]).await.map_err(pg)?;
            rows.iter().map(row_to_request).collect()
        })
    }

    fn events(&self, request_id: i64) -> BoxFuture<'_, Result<Vec<EventRow>, StoreError>> {
        Box::pin(async move {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached("SELECT status, detail, at FROM request_events WHERE request_id = $1 ORDER BY id")
                .await
                .map_err(pg)?;
            let rows = client.query(&stmt, &[&request_id]).await.map_err(pg)?;
            Ok(rows.iter().map(|r| EventRow { status: r.get(0), detail: r.get(1), at_ms: r.get(2) }).collect())
        })
    }

    fn attempts(&self, request_id: i64) -> BoxFuture<'_, Result<Vec<AttemptRow>, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let sql = format!("SELECT {ATTEMPT_COLUMNS} FROM payment_attempts WHERE request_id = $1 ORDER BY seq");
            let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
            let rows = client.query(&stmt, &[&request_id]).await.map_err(pg)?;
            rows.iter().map(row_to_attempt).collect()
        })
    }

    fn attempt(&self, id: i64) -> BoxFuture<'_, Result<Option<AttemptRow>, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let sql = format!("SELECT {ATTEMPT_COLUMNS} FROM payment_attempts WHERE id = $1");
            let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
            let row = client.query_opt(&stmt, &[&id]).await.map_err(pg)?;
            row.as_ref().map(row_to_attempt).transpose()
        })
    }

    fn attempt_by_token<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Option<AttemptRow>, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let sql = format!("SELECT {ATTEMPT_COLUMNS} FROM payment_attempts WHERE token = $1");
            let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
            let row = client.query_opt(&stmt, &[&token]).await.map_err(pg)?;
            row.as_ref().map(row_to_attempt).transpose()
        })
    }

    fn apply(&self, effects: Effects) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut client = self.background().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let applied = write_effects(&tx, &effects, now_ms()).await?;
            if applied {
                tx.commit().await.map_err(pg)?;
            }
            Ok(applied)
        })
    }

    fn claim_jobs<'a>(
        &'a self,
        worker: &'a str,
        limit: u32,
        lease_ms: i64,
    ) -> BoxFuture<'a, Result<Vec<ClaimedJob>, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            // SKIP LOCKED: concurrent dispatchers (other instances) pass over rows another
            // claim holds instead of waiting for them, and never get the same job.
            let stmt = client
                .prepare_cached(
                    "WITH c AS (SELECT id FROM jobs WHERE (state = 'ready' AND run_at <= $3) \
                     OR (state = 'running' AND lease_until < $3) \
                     ORDER BY CASE WHEN state = 'ready' THEN run_at ELSE lease_until END LIMIT $4 FOR UPDATE SKIP LOCKED) \
                     UPDATE jobs j SET state = 'running', tries = j.tries + 1, locked_by = $1, lease_until = $2, \
                     updated_at = $3 FROM c WHERE j.id = c.id \
                     RETURNING j.id, j.kind, j.request_id, j.attempt_id, j.data, j.tries, j.failures, j.max_failures, \
                     j.sms_id",
                )
                .await
                .map_err(pg)?;
            let now = now_ms();
            let rows = client.query(&stmt, &[&worker, &(now + lease_ms), &now, &i64::from(limit)]).await.map_err(pg)?;
            rows.iter()
                .map(|r| {
                    Ok(ClaimedJob {
                        id: r.get(0),
                        kind: JobKind::parse(r.get(1)).ok_or_else(|| bad("job kind"))?,
                        request_id: r.get(2),
                        attempt_id: r.get(3),
                        data: r.get(4),
                        tries: count(r.get(5)),
                        failures: count(r.get(6)),
                        max_failures: count(r.get(7)),
                        sms_id: r.get(8),
                        worker: worker.to_owned(),
                    })
                })
                .collect()
        })
    }

    fn finish_job<'a>(
        &'a self,
        job: &'a ClaimedJob,
        finish: JobFinish,
        effects: Option<Effects>,
    ) -> BoxFuture<'a, Result<Finished, StoreError>> {
        Box::pin(async move {
            let mut client = self.background().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let now = now_ms();
            let (state, run_at, failures, error) = finish.next(job);
            // The job's end is written only under its own claim; a runner whose lease was
            // taken over writes nothing at all.
            let update = tx
                .prepare_cached(
                    "UPDATE jobs SET state = $2, run_at = coalesce($3, run_at), failures = $4, \
                     last_error = coalesce($5, last_error), locked_by = NULL, lease_until = NULL, updated_at = $6 \
                     WHERE id = $1 AND state = 'running' AND locked_by = $7 AND tries = $8 RETURNING id",
                )
                .await
                .map_err(pg)?;
            let claim =
                (job.id, state.as_str(), run_at, i64::from(failures), error, now, &job.worker, i64::from(job.tries));
            let fenced = tx
                .query_opt(&update, &[&claim.0, &claim.1, &claim.2, &claim.3, &claim.4, &claim.5, claim.6, &claim.7])
                .await
                .map_err(pg)?;
            if fenced.is_none() {
                return Ok(Finished::LostLease);
            }
            // A stale effect is detected before it writes anything; the job is finished anyway.
            let applied = match &effects {
                Some(e) => write_effects(&tx, e, now).await?,
                None => true,
            };
            tx.commit().await.map_err(pg)?;
            Ok(if applied { Finished::Applied } else { Finished::Stale })
        })
    }

    fn jobs(
        &self,
        state: Option<JobState>,
        request_id: Option<i64>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<JobRow>, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let sql = format!(
                "SELECT {JOB_COLUMNS} FROM jobs j LEFT JOIN requests r ON r.id = j.request_id \
                 WHERE ($1::text IS NULL OR j.state = $1) AND ($2::bigint IS NULL OR j.request_id = $2) \
                 ORDER BY j.id DESC LIMIT $3"
            );
            let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
            let rows =
                client.query(&stmt, &[&state.map(|s| s.as_str()), &request_id, &i64::from(limit)]).await.map_err(pg)?;
            rows.iter().map(row_to_job).collect()
        })
    }

    fn job(&self, id: i64) -> BoxFuture<'_, Result<Option<JobRow>, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let sql =
                format!("SELECT {JOB_COLUMNS} FROM jobs j LEFT JOIN requests r ON r.id = j.request_id WHERE j.id = $1");
            let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
            client.query_opt(&stmt, &[&id]).await.map_err(pg)?.as_ref().map(row_to_job).transpose()
        })
    }

    fn retry_job(&self, id: i64) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let stmt = client
                .prepare_cached(
                    "UPDATE jobs SET state = 'ready', failures = 0, run_at = $2, updated_at = $2 \
                     WHERE id = $1 AND state = 'dead'",
                )
                .await
                .map_err(pg)?;
            Ok(client.execute(&stmt, &[&id, &now_ms()]).await.map_err(pg)? == 1)
        })
    }

    fn sms(&self, request_id: Option<i64>, limit: u32) -> BoxFuture<'_, Result<Vec<SmsRow>, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let sql = format!(
                "SELECT {SMS_COLUMNS} FROM sms s LEFT JOIN requests r ON r.id = s.request_id \
                 WHERE ($1::bigint IS NULL OR s.request_id = $1) ORDER BY s.id DESC LIMIT $2"
            );
            let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
            let rows = client.query(&stmt, &[&request_id, &i64::from(limit)]).await.map_err(pg)?;
            rows.iter().map(row_to_sms).collect()
        })
    }

    fn sms_by_id(&self, id: i64) -> BoxFuture<'_, Result<Option<SmsRow>, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let sql =
                format!("SELECT {SMS_COLUMNS} FROM sms s LEFT JOIN requests r ON r.id = s.request_id WHERE s.id = $1");
            let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
            let row = client.query_opt(&stmt, &[&id]).await.map_err(pg)?;
            row.as_ref().map(row_to_sms).transpose()
        })
    }

    fn sms_by_provider_id<'a>(
        &'a self,
        sender: &'a str,
        provider_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<SmsRow>, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let sql = format!(
                "SELECT {SMS_COLUMNS} FROM sms s LEFT JOIN requests r ON r.id = s.request_id \
                 WHERE s.sender = $1 AND s.provider_id = $2"
            );
            let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
            let row = client.query_opt(&stmt, &[&sender, &provider_id]).await.map_err(pg)?;
            row.as_ref().map(row_to_sms).transpose()
        })
    }

    fn failed_sms(&self, limit: u32) -> BoxFuture<'_, Result<Vec<SmsRow>, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            // Failed for good: refused at sending, a failed delivery no re-send follows, or a
            // reply still queued whose send job was dead-lettered.
            let sql = format!(
                "SELECT {SMS_COLUMNS} FROM sms s LEFT JOIN requests r ON r.id = s.request_id \
                 WHERE (s.delivery IN ('failed', 'rejected') OR s.status LIKE $1 \
                 OR (s.status = '{SMS_QUEUED}' AND EXISTS (SELECT 1 FROM jobs j WHERE j.sms_id = s.id AND j.state = 'dead'))) \
                 AND NOT EXISTS (SELECT 1 FROM sms n WHERE n.resend_of = s.id) ORDER BY s.id DESC LIMIT $2"
            );
            let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
            let pattern = format!("{SMS_FAILED_PREFIX}%");
            let rows = client.query(&stmt, &[&pattern, &i64::from(limit)]).await.map_err(pg)?;
            rows.iter().map(row_to_sms).collect()
        })
    }

    fn record_inbound(&self, m: NewInbound) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut client = self.background().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let now = now_ms();
            // The unique (provider, provider_id) decides: a provider retry, even one racing the
            // first delivery on another instance, inserts nothing and so queues nothing.
            let st = tx
                .prepare_cached(
                    "INSERT INTO inbound_sms (provider, provider_id, msisdn, short_code, link_id, sent_at, text_chars, \
                     understood, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (provider, provider_id) DO NOTHING RETURNING id",
                )
                .await
                .map_err(pg)?;
            let msisdn = m.msisdn.as_u64() as i64;
            let row = tx
                .query_opt(
                    &st,
                    &[
                        &m.provider,
                        &m.provider_id,
                        &msisdn,
                        &m.to,
                        &m.link_id,
                        &m.sent_at_ms,
                        &i64::from(m.text_chars),
                        &m.understood,
                        &now,
                    ],
                )
                .await
                .map_err(pg)?;
            let Some(row) = row else { return Ok(false) };
            let inbound_id: i64 = row.get(0);
            if let Some(l) = &m.set_language {
                let st = tx
                    .prepare_cached(
                        "INSERT INTO profiles (msisdn, locale, updated_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (msisdn) DO UPDATE SET locale = excluded.locale, updated_at = excluded.updated_at",
                    )
                    .await
                    .map_err(pg)?;
                tx.execute(&st, &[&msisdn, &l.as_str(), &now]).await.map_err(pg)?;
            }
            if let Some(reply) = &m.reply {
                queue_sms(&tx, (None, Some(inbound_id), None), 1, reply, now).await?;
            }
            tx.commit().await.map_err(pg)?;
            Ok(true)
        })
    }

    fn apply_delivery(&self, c: DeliveryChange) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut client = self.background().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let now = now_ms();
            // Locked before the guard is checked: two instances taking the same report (or two
            // reports) serialise here, and the second sees the first's status.
            let sql = format!(
                "SELECT {SMS_COLUMNS} FROM sms s LEFT JOIN requests r ON r.id = s.request_id WHERE s.id = $1 \
                 FOR UPDATE OF s"
            );
            let st = tx.prepare_cached(&sql).await.map_err(pg)?;
            let Some(row) = tx.query_opt(&st, &[&c.sms_id]).await.map_err(pg)? else { return Ok(false) };
            let current: Option<&str> = row.get("delivery");
            if !delivery_holds(current, &c) {
                return Ok(false);
            }
            let sms = row_to_sms(&row)?;
            let st = tx
                .prepare_cached(
                    "UPDATE sms SET delivery = $2, failure_reason = coalesce($3, failure_reason), \
                     network_code = coalesce($4, network_code), delivery_at = $5 WHERE id = $1",
                )
                .await
                .map_err(pg)?;
            tx.execute(&st, &[&c.sms_id, &c.to.as_str(), &c.failure_reason, &c.network_code, &now])
                .await
                .map_err(pg)?;
            if let Some(resend) = &c.resend {
                let q = QueuedSms {
                    msisdn: sms.record.msisdn,
                    locale: sms.record.locale.clone(),
                    text: sms.record.text.clone(),
                    send_at_ms: resend.send_at_ms,
                    max_failures: resend.max_failures,
                };
                queue_sms(&tx, (sms.request_id, sms.inbound_id, Some(sms.id)), sms.attempt + 1, &q, now).await?;
            }
            tx.commit().await.map_err(pg)?;
            Ok(true)
        })
    }

    fn shared_token<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<(String, i64)>, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let stmt =
                client.prepare_cached("SELECT token, use_until FROM shared_tokens WHERE key = $1").await.map_err(pg)?;
            let row = client.query_opt(&stmt, &[&key]).await.map_err(pg)?;
            Ok(row.map(|r| (r.get(0), r.get(1))))
        })
    }

    fn put_shared_token<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        use_until_ms: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let stmt = client
                .prepare_cached(
                    "INSERT INTO shared_tokens (key, token, use_until, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (key) DO UPDATE SET token = excluded.token, use_until = excluded.use_until, \
                     updated_at = excluded.updated_at",
                )
                .await
                .map_err(pg)?;
            client.execute(&stmt, &[&key, &token, &use_until_ms, &now_ms()]).await.map_err(pg)?;
            Ok(())
        })
    }

    fn token_or_fetch<'a>(
        &'a self,
        key: &'a str,
        now_ms: i64,
        refused: Option<&'a str>,
        fetch: BoxFuture<'a, crate::store::Fetched>,
    ) -> BoxFuture<'a, Result<crate::store::Fetched, StoreError>> {
        Box::pin(async move {
            let mut client = self.background().await?;
            let tx = client.transaction().await.map_err(pg)?;
            // Instances needing a token at once queue on this lock; the first fetches and
            // shares, the others find its token when their turn comes.
            tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&key]).await.map_err(pg)?;
            let row =
                tx.query_opt("SELECT token, use_until FROM shared_tokens WHERE key = $1", &[&key]).await.map_err(pg)?;
            if let Some(r) = row {
                let (token, until): (String, i64) = (r.get(0), r.get(1));
                if until > now_ms && refused != Some(token.as_str()) {
                    return Ok(Ok((token, until)));
                }
            }
            match fetch.await {
                Ok((token, until)) => {
                    tx.execute(
                        "INSERT INTO shared_tokens (key, token, use_until, updated_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (key) DO UPDATE SET token = excluded.token, use_until = excluded.use_until, \
                         updated_at = excluded.updated_at",
                        &[&key, &token, &until, &now_ms],
                    )
                    .await
                    .map_err(pg)?;
                    tx.commit().await.map_err(pg)?;
                    Ok(Ok((token, until)))
                }
                Err(e) => Ok(Err(e)),
            }
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let client = self.client().await?;
            client.simple_query("SELECT 1").await.map_err(pg)?;
            Ok(())
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
                .await
                .map_err(pg)?;
            let msisdn = end.msisdn.map(|m| m.as_u64() as i64);
            client
                .execute(
                    &stmt,
                    &[
                        &end.channel,
                        &end.session_id,
                        &msisdn,
                        &end.status,
                        &end.hops,
                        &end.duration_ms,
                        &end.error_message,
                        &now_ms(),
                    ],
                )
                .await
                .map_err(pg)?;
            Ok(())
        })
    }
}
