//! The embedded store: SQLite in WAL mode with `synchronous=FULL`, owned by one thread.
//!
//! One OS thread owns the connection (SQLite is blocking, and the request path must never
//! block a tokio worker). Commands arrive on a channel; the thread drains whatever is queued
//! and runs it in one transaction, so a burst of submits costs one fsync, not one each (group
//! commit). Each command runs inside its own savepoint, so one failing command cannot undo the
//! others in its batch. Replies are sent only after the commit returned.
//!
//! Languages are the exception, on purpose: a citizen's language choice is a preference, not a
//! request, and waiting for its fsync made the language hop the slowest of a first walk. It is
//! remembered in memory at once and written with the next commit, or within
//! [`LANGUAGE_FLUSH`] when nothing else commits. A crash can forget the last such choices;
//! the citizen is then asked again, which is the whole cost.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::oneshot;

use crate::BoxFuture;
use crate::lifecycle::{AttemptStatus, DeliveryStatus, JobKind, JobState, RequestStatus};
use crate::store::{
    AttemptRow, ClaimedJob, DeliveryChange, Effects, EventRow, Finished, JobAttempt, JobFinish, JobRow, NewAttempt,
    NewInbound, NewJob, NewRequest, RequestChange, RequestRow, SMS_FAILED_PREFIX, SMS_QUEUED, SessionEnd, SmsRecord,
    SmsRow, Store, StoreError, Stored, callback_token, delivery_holds, fields_from_json, fields_to_json, job_key,
    now_ms, reference_bits, request_change_holds, send_job_key,
};
use crate::types::{Locale, Msisdn, Reference};

/// The database file inside the data directory.
const FILE: &str = "njia.sqlite3";

/// Migrations in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../../migrations/sqlite/0001_init.sql")),
    ("0002_handoff", include_str!("../../migrations/sqlite/0002_handoff.sql")),
    ("0003_shared_tokens", include_str!("../../migrations/sqlite/0003_shared_tokens.sql")),
    ("0004_sms_channel", include_str!("../../migrations/sqlite/0004_sms_channel.sql")),
];

/// Most commands one transaction takes, so one batch cannot delay its first reply for long.
const MAX_BATCH: usize = 128;

/// A command for the store thread: it runs against the batch's transaction and returns the
/// delivery of its reply, which the thread calls only once the batch's commit has returned
/// (with `false` if the commit failed).
type Job = Box<dyn FnOnce(&mut Transaction<'_>) -> Release + Send>;
type Release = Box<dyn FnOnce(bool) + Send>;

/// What the store thread is sent.
enum Command {
    Job(Job),
    /// Language choices are waiting in [`Pending`]: write them within [`LANGUAGE_FLUSH`].
    Languages,
}

/// Language choices not yet written, in the order they were made.
type Pending = Arc<Mutex<Vec<(Msisdn, Locale)>>>;

/// Longest a language choice waits for its write when nothing else commits.
pub const LANGUAGE_FLUSH: Duration = Duration::from_millis(50);

/// Handle to the store thread; cheap to share behind an `Arc`.
pub struct SqliteStore {
    tx: mpsc::Sender<Command>,
    languages: Mutex<Languages>,
    pending: Pending,
}

/// Remembered languages, so no hop waits on the store thread to learn one. Coherent because
/// this store is the only writer of its file.
///
/// Up to [`LANGUAGE_CACHE_MAX`] numbers, the index holds every profile (loaded when the store
/// opens), so a number it lacks has no language yet and a new citizen's first dial needs no
/// read either. Past that it becomes a cache: cleared wholesale, misses read from disk.
struct Languages {
    map: HashMap<u64, Option<Locale>>,
    /// Every profile is in `map`: a miss means "none yet".
    complete: bool,
}

impl Languages {
    fn remember(&mut self, msisdn: Msisdn, locale: Option<Locale>) {
        if self.map.len() >= LANGUAGE_CACHE_MAX && !self.map.contains_key(&msisdn.as_u64()) {
            self.map.clear();
            self.complete = false;
        }
        self.map.insert(msisdn.as_u64(), locale);
    }
}

/// Most phone numbers whose language is kept in memory (about 40 bytes each).
const LANGUAGE_CACHE_MAX: usize = 1_000_000;

impl SqliteStore {
    /// Opens (creating if needed) `<data_dir>/njia.sqlite3`, runs migrations, starts the thread.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", data_dir.display())))?;
        let conn = Connection::open(data_dir.join(FILE)).map_err(db)?;
        SqliteStore::start(conn)
    }

    /// Opens `<data_dir>/njia.sqlite3` only if it exists ([`StoreError::Missing`] otherwise),
    /// creating neither the directory nor the file: what the administration commands read, so
    /// a mistyped data directory is reported instead of answered from a new, empty store.
    pub fn open_existing(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        let path = data_dir.join(FILE);
        let missing = || StoreError::Missing(format!("in {} (there is no {FILE} in it)", data_dir.display()));
        if !path.is_file() {
            return Err(missing());
        }
        // Without SQLITE_OPEN_CREATE: a file removed since the check is not made again.
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
            | rusqlite::OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&path, flags).map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::CannotOpen) => missing(),
            _ => db(e),
        })?;
        SqliteStore::start(conn)
    }

    /// Sets the connection up, migrates it and starts the store thread.
    fn start(mut conn: Connection) -> Result<SqliteStore, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
        // FULL: a commit is on disk before it returns, so "received" is never a lie.
        conn.pragma_update(None, "synchronous", "FULL").map_err(db)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(db)?;
        migrate(&mut conn)?;
        let languages = load_languages(&conn)?;
        let (tx, rx) = mpsc::channel::<Command>();
        let pending = Pending::default();
        let thread_pending = Arc::clone(&pending);
        std::thread::Builder::new()
            .name("njia-sqlite".into())
            .spawn(move || run(conn, rx, thread_pending))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(SqliteStore { tx, languages: Mutex::new(languages), pending })
    }

    fn remember_language(&self, msisdn: Msisdn, locale: Option<Locale>) {
        if let Ok(mut m) = self.languages.lock() {
            m.remember(msisdn, locale);
        }
    }

    /// Runs `f` on the store thread inside the current batch's transaction.
    fn exec<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> BoxFuture<'_, Result<T, StoreError>> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let job: Job = Box::new(move |t| {
            // A savepoint per command: its failure rolls back only its own writes.
            let res = match t.savepoint() {
                Ok(mut sp) => match f(&sp) {
                    Ok(v) => sp.commit().map(|_| v).map_err(db),
                    Err(e) => {
                        let _ = sp.rollback();
                        Err(e)
                    }
                },
                Err(e) => Err(db(e)),
            };
            Box::new(move |committed: bool| {
                let res = match res {
                    Ok(_) if !committed => Err(StoreError::Database("commit failed".into())),
                    other => other,
                };
                let _ = reply_tx.send(res);
            })
        });
        let sent = self.tx.send(Command::Job(job)).is_ok();
        Box::pin(async move {
            if !sent {
                return Err(StoreError::Unavailable("store thread stopped".into()));
            }
            reply_rx.await.map_err(|_| StoreError::Unavailable("store thread stopped".into()))?
        })
    }
}

/// Every profile, when there are at most [`LANGUAGE_CACHE_MAX`]; otherwise an empty cache.
fn load_languages(conn: &Connection) -> Result<Languages, StoreError> {
    let count: i64 = conn.query_row("SELECT count(*) FROM profiles", [], |r| r.get(0)).map_err(db)?;
    let mut map = HashMap::new();
    if count as usize > LANGUAGE_CACHE_MAX {
        return Ok(Languages { map, complete: false });
    }
    map.reserve(count as usize);
    // A handful of distinct languages: every entry shares its language's one allocation.
    let mut seen: Vec<Locale> = Vec::new();
    let mut st = conn.prepare("SELECT msisdn, locale FROM profiles").map_err(db)?;
    let mut rows = st.query([]).map_err(db)?;
    while let Some(row) = rows.next().map_err(db)? {
        let (msisdn, tag): (i64, String) = (row.get(0).map_err(db)?, row.get(1).map_err(db)?);
        let locale = match seen.iter().find(|l| l.as_str() == tag) {
            Some(l) => Some(l.clone()),
            None => Locale::parse(&tag).ok().inspect(|l| seen.push(l.clone())),
        };
        map.insert(msisdn as u64, locale);
    }
    Ok(Languages { map, complete: true })
}

/// The store thread: take a batch, run it in one transaction with any waiting language
/// choices, commit, then release replies. Language choices alone are written once
/// [`LANGUAGE_FLUSH`] has passed since they started waiting, and before the thread stops.
fn run(mut conn: Connection, rx: mpsc::Receiver<Command>, pending: Pending) {
    let mut due: Option<Instant> = None;
    loop {
        let first = match due {
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        let mut batch = Vec::new();
        let take = |c: Command, batch: &mut Vec<Job>, due: &mut Option<Instant>| match c {
            Command::Job(j) => batch.push(j),
            Command::Languages => {
                due.get_or_insert_with(|| Instant::now() + LANGUAGE_FLUSH);
            }
        };
        let stopping = match first {
            Ok(c) => {
                take(c, &mut batch, &mut due);
                false
            }
            Err(mpsc::RecvTimeoutError::Timeout) => false,
            Err(mpsc::RecvTimeoutError::Disconnected) => true,
        };
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(c) => take(c, &mut batch, &mut due),
                Err(_) => break,
            }
        }
        let languages_due = stopping || due.is_some_and(|at| Instant::now() >= at);
        if batch.is_empty() && !languages_due {
            continue;
        }
        // Every waiting choice rides along with this commit, due or not.
        let languages = pending.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default();
        due = None;
        if !(batch.is_empty() && languages.is_empty()) {
            commit(&mut conn, batch, &languages);
        }
        if stopping {
            return;
        }
    }
}

/// Runs one batch (and the waiting language choices) in one transaction, then releases the
/// batch's replies with the commit's outcome.
fn commit(conn: &mut Connection, batch: Vec<Job>, languages: &[(Msisdn, Locale)]) {
    let mut tx = match conn.transaction() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, languages = languages.len(), "sqlite: cannot begin a transaction");
            // Dropping the jobs drops their reply senders: callers see "unavailable".
            return;
        }
    };
    if !languages.is_empty()
        && let Err(e) = write_languages(&mut tx, languages)
    {
        // The choices stay remembered in memory; only a restart would forget them.
        tracing::error!(error = %e, languages = languages.len(), "sqlite: cannot write language choices");
    }
    let releases: Vec<Release> = batch.into_iter().map(|job| job(&mut tx)).collect();
    let committed = match tx.commit() {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, languages = languages.len(), "sqlite: commit failed");
            false
        }
    };
    for release in releases {
        release(committed);
    }
}

/// Upserts language choices inside a savepoint, so a failure undoes only them.
fn write_languages(t: &mut Transaction<'_>, languages: &[(Msisdn, Locale)]) -> rusqlite::Result<()> {
    let sp = t.savepoint()?;
    {
        let mut st = sp.prepare_cached(
            "INSERT INTO profiles (msisdn, locale, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (msisdn) DO UPDATE SET locale = excluded.locale, updated_at = excluded.updated_at",
        )?;
        let now = now_ms();
        for (msisdn, locale) in languages {
            st.execute(params![msisdn.as_u64() as i64, locale.as_str(), now])?;
        }
    }
    sp.commit()
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let have: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(db)?;
    let want = MIGRATIONS.len() as i64;
    if have > want {
        return Err(StoreError::Unavailable(format!(
            "database schema version {have} is newer than this binary knows ({want}); upgrade njia"
        )));
    }
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(have as usize) {
        let t = conn.transaction().map_err(db)?;
        t.execute_batch(sql).map_err(|e| StoreError::Database(format!("migration {name}: {e}")))?;
        t.pragma_update(None, "user_version", (i + 1) as i64).map_err(db)?;
        t.commit().map_err(db)?;
        tracing::info!(migration = name, "sqlite migration applied");
    }
    Ok(())
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// A stored value that no longer parses (only possible in a hand-edited database).
fn invalid(name: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        Box::new(BadColumn(name.to_owned(), "not a value this version knows".to_owned())),
    )
}

#[derive(Debug, thiserror::Error)]
#[error("column {0} holds an invalid value: {1}")]
struct BadColumn(String, String);

fn row_to_request(r: &rusqlite::Row<'_>) -> rusqlite::Result<RequestRow> {
    let fields_json: String = r.get("fields")?;
    let fields = fields_from_json(&fields_json);
    let amount: Option<String> = r.get("payment_amount")?;
    let account: Option<String> = r.get("payment_account")?;
    let msisdn: i64 = r.get("msisdn")?;
    let reference: String = r.get("reference")?;
    Ok(RequestRow {
        id: r.get("id")?,
        reference: Reference::parse(&reference).ok_or_else(|| invalid("reference"))?,
        menu: r.get("menu")?,
        service: r.get("service")?,
        msisdn: u64::try_from(msisdn).ok().and_then(Msisdn::from_u64).ok_or_else(|| invalid("msisdn"))?,
        locale: r.get("locale")?,
        fields,
        payment: amount.zip(account),
        status: r.get("status")?,
        refund_review: r.get::<_, i64>("refund_review")? != 0,
        created_at_ms: r.get("created_at")?,
    })
}

fn submit_tx(t: &Connection, r: &NewRequest) -> Result<Stored, StoreError> {
    super::check_new_request(r)?;
    if let Some(existing) = t
        .query_row("SELECT reference FROM requests WHERE idempotency_key = ?1", [&r.idempotency_key], |row| {
            row.get::<_, String>(0)
        })
        .optional()
        .map_err(db)?
    {
        let reference =
            Reference::parse(&existing).ok_or_else(|| StoreError::Database("bad stored reference".into()))?;
        return Ok(Stored { reference, created: false });
    }
    let fields = fields_to_json(&r.fields);
    let now = now_ms();
    for attempt in 0..8 {
        let reference = Reference::from_bits(reference_bits(attempt));
        let res = t.execute(
            "INSERT INTO requests (reference, idempotency_key, menu, service, msisdn, locale, fields, \
             payment_amount, payment_account, status, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'received', ?10)",
            params![
                reference.as_str(),
                r.idempotency_key,
                r.menu,
                r.service,
                r.msisdn.as_u64() as i64,
                r.locale.as_str(),
                fields,
                r.payment.as_ref().map(|p| p.0.to_string()),
                r.payment.as_ref().map(|p| p.1.as_str()),
                now
            ],
        );
        match res {
            Ok(_) => {
                let id = t.last_insert_rowid();
                add_event(t, id, RequestStatus::Received, None, now)?;
                // The request's plan (payment pending, its attempt, its first job) commits with
                // it: a request is never stored without the work that carries it through.
                let plan = Effects {
                    request_id: id,
                    request: (!r.statuses.is_empty()).then(|| RequestChange {
                        from: vec![RequestStatus::Received],
                        to: r.statuses.iter().map(|s| (*s, None)).collect(),
                        refund_review: false,
                    }),
                    new_attempt: r.attempt.clone(),
                    jobs: r.jobs.clone(),
                    ..Effects::default()
                };
                if !write_effects(t, &plan, now)? {
                    return Err(StoreError::Database("a new request's plan breaks the lifecycle".into()));
                }
                return Ok(Stored { reference, created: true });
            }
            // A reference collision: draw another.
            Err(rusqlite::Error::SqliteFailure(e, Some(msg)))
                if e.code == rusqlite::ErrorCode::ConstraintViolation && msg.contains("reference") => {}
            Err(e) => return Err(db(e)),
        }
    }
    Err(StoreError::Database("could not draw a free reference".into()))
}

const REQUEST_COLUMNS: &str = "id, reference, menu, service, msisdn, locale, fields, payment_amount, payment_account, \
     status, refund_review, created_at";

fn add_event(
    t: &Connection,
    request_id: i64,
    status: RequestStatus,
    detail: Option<&str>,
    at: i64,
) -> Result<(), StoreError> {
    t.prepare_cached("INSERT INTO request_events (request_id, status, detail, at) VALUES (?1, ?2, ?3, ?4)")
        .and_then(|mut st| st.execute(params![request_id, status.as_str(), detail, at]))
        .map_err(db)?;
    Ok(())
}

/// Writes `e` if its guards hold (checked first, so a stale effect writes nothing). Runs
/// inside the caller's savepoint, on the one store thread, so check and write are atomic.
fn write_effects(t: &Connection, e: &Effects, now: i64) -> Result<bool, StoreError> {
    if let Some(a) = &e.attempt {
        let current: Option<String> = t
            .query_row("SELECT status FROM payment_attempts WHERE id = ?1", [a.id], |r| r.get(0))
            .optional()
            .map_err(db)?;
        let holds = current.as_deref().and_then(AttemptStatus::parse).is_some_and(|s| a.from.contains(&s));
        if !holds {
            return Ok(false);
        }
    }
    if let Some(c) = &e.request {
        let current: Option<String> = t
            .query_row("SELECT status FROM requests WHERE id = ?1", [e.request_id], |r| r.get(0))
            .optional()
            .map_err(db)?;
        if !current.is_some_and(|cur| request_change_holds(&cur, c)) {
            return Ok(false);
        }
    }
    if let Some(sent) = &e.sms_sent {
        let current: Option<String> =
            t.query_row("SELECT status FROM sms WHERE id = ?1", [sent.id], |r| r.get(0)).optional().map_err(db)?;
        if current.as_deref() != Some(SMS_QUEUED) {
            return Ok(false);
        }
    }
    if let Some(a) = &e.attempt {
        t.prepare_cached(
            "UPDATE payment_attempts SET status = ?2, checkout_request_id = coalesce(?3, checkout_request_id), \
             merchant_request_id = coalesce(?4, merchant_request_id), receipt = coalesce(?5, receipt), \
             result_code = coalesce(?6, result_code), result_desc = coalesce(?7, result_desc), updated_at = ?8 \
             WHERE id = ?1",
        )
        .and_then(|mut st| {
            st.execute(params![
                a.id,
                a.to.as_str(),
                a.checkout_request_id,
                a.merchant_request_id,
                a.receipt,
                a.result_code,
                a.result_desc,
                now
            ])
        })
        .map_err(db)?;
    }
    if let Some(c) = &e.request {
        for (status, detail) in &c.to {
            add_event(t, e.request_id, *status, detail.as_deref(), now)?;
        }
        if let Some((last, _)) = c.to.last() {
            t.prepare_cached("UPDATE requests SET status = ?2, refund_review = max(refund_review, ?3) WHERE id = ?1")
                .and_then(|mut st| st.execute(params![e.request_id, last.as_str(), i64::from(c.refund_review)]))
                .map_err(db)?;
        }
    }
    let new_attempt = match &e.new_attempt {
        Some(a) => Some(insert_attempt(t, e.request_id, a, now)?),
        None => None,
    };
    for j in &e.jobs {
        insert_job(t, e.request_id, j, new_attempt, now)?;
    }
    if let Some(sms) = &e.sms {
        insert_sms(t, Some(e.request_id), sms, now)?;
    }
    if let Some(sent) = &e.sms_sent {
        let (status, delivery) = match &sent.failed {
            Some(why) => (format!("{SMS_FAILED_PREFIX}{why}"), Some(DeliveryStatus::Failed.as_str())),
            None => (sent.status.clone(), None),
        };
        t.prepare_cached(
            "UPDATE sms SET sender = ?2, status = ?3, provider_id = ?4, delivery = coalesce(?5, delivery), \
             failure_reason = coalesce(?6, failure_reason), delivery_at = CASE WHEN ?5 IS NULL THEN delivery_at \
             ELSE ?7 END WHERE id = ?1",
        )
        .and_then(|mut st| {
            st.execute(params![sent.id, sent.sender, status, sent.provider_id, delivery, sent.failed, now])
        })
        .map_err(db)?;
    }
    Ok(true)
}

/// Keeps a queued SMS and its `send` job; returns the SMS's id.
fn queue_sms(
    t: &Connection,
    request_id: Option<i64>,
    inbound_id: Option<i64>,
    resend_of: Option<i64>,
    attempt: u32,
    q: &crate::store::QueuedSms,
    now: i64,
) -> Result<i64, StoreError> {
    let segments = crate::gsm7::sms_segments(&q.text) as i64;
    t.prepare_cached(
        "INSERT INTO sms (request_id, inbound_id, resend_of, attempt, msisdn, locale, text, segments, sender, status, \
         created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, '-', ?9, ?10)",
    )
    .and_then(|mut st| {
        st.execute(params![
            request_id,
            inbound_id,
            resend_of,
            attempt,
            q.msisdn.as_u64() as i64,
            q.locale,
            q.text,
            segments,
            SMS_QUEUED,
            now
        ])
    })
    .map_err(db)?;
    let sms_id = t.last_insert_rowid();
    t.prepare_cached(
        "INSERT INTO jobs (key, kind, request_id, sms_id, data, state, run_at, max_failures, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, '', 'ready', ?5, ?6, ?7, ?7) ON CONFLICT (key) DO NOTHING",
    )
    .and_then(|mut st| {
        st.execute(params![
            send_job_key(sms_id),
            JobKind::Send.as_str(),
            request_id,
            sms_id,
            q.send_at_ms,
            q.max_failures,
            now
        ])
    })
    .map_err(db)?;
    Ok(sms_id)
}

fn record_inbound_tx(t: &Connection, m: &NewInbound, now: i64) -> Result<bool, StoreError> {
    let inserted = t
        .prepare_cached(
            "INSERT INTO inbound_sms (provider, provider_id, msisdn, short_code, link_id, sent_at, text_chars, \
             understood, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (provider, provider_id) DO NOTHING",
        )
        .and_then(|mut st| {
            st.execute(params![
                m.provider,
                m.provider_id,
                m.msisdn.as_u64() as i64,
                m.to,
                m.link_id,
                m.sent_at_ms,
                m.text_chars,
                m.understood,
                now
            ])
        })
        .map_err(db)?;
    if inserted == 0 {
        return Ok(false);
    }
    let inbound_id = t.last_insert_rowid();
    if let Some(l) = &m.set_language {
        t.execute(
            "INSERT INTO profiles (msisdn, locale, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (msisdn) DO UPDATE SET locale = excluded.locale, updated_at = excluded.updated_at",
            params![m.msisdn.as_u64() as i64, l.as_str(), now],
        )
        .map_err(db)?;
    }
    if let Some(reply) = &m.reply {
        queue_sms(t, None, Some(inbound_id), None, 1, reply, now)?;
    }
    Ok(true)
}

fn apply_delivery_tx(t: &Connection, c: &DeliveryChange, now: i64) -> Result<bool, StoreError> {
    let current: Option<(Option<String>, SmsRow)> = t
        .query_row(
            &format!("SELECT {SMS_COLUMNS} FROM sms s LEFT JOIN requests r ON r.id = s.request_id WHERE s.id = ?1"),
            [c.sms_id],
            |r| Ok((r.get("delivery")?, row_to_sms(r)?)),
        )
        .optional()
        .map_err(db)?;
    let Some((delivery, row)) = current else { return Ok(false) };
    if !delivery_holds(delivery.as_deref(), c) {
        return Ok(false);
    }
    t.prepare_cached(
        "UPDATE sms SET delivery = ?2, failure_reason = coalesce(?3, failure_reason), \
         network_code = coalesce(?4, network_code), delivery_at = ?5 WHERE id = ?1",
    )
    .and_then(|mut st| st.execute(params![c.sms_id, c.to.as_str(), c.failure_reason, c.network_code, now]))
    .map_err(db)?;
    if let Some(resend) = &c.resend {
        let q = crate::store::QueuedSms {
            msisdn: row.record.msisdn,
            locale: row.record.locale.clone(),
            text: row.record.text.clone(),
            send_at_ms: resend.send_at_ms,
            max_failures: resend.max_failures,
        };
        queue_sms(t, row.request_id, row.inbound_id, Some(row.id), row.attempt + 1, &q, now)?;
    }
    Ok(true)
}

const SMS_COLUMNS: &str = "s.id, r.reference, s.msisdn, s.locale, s.text, s.segments, s.sender, s.status, \
     s.provider_id, s.created_at, s.request_id, s.inbound_id, s.attempt, s.resend_of, s.delivery, s.failure_reason, \
     s.delivery_at";

fn row_to_sms(r: &rusqlite::Row<'_>) -> rusqlite::Result<SmsRow> {
    let reference: Option<String> = r.get("reference")?;
    let msisdn: i64 = r.get("msisdn")?;
    let delivery: Option<String> = r.get("delivery")?;
    Ok(SmsRow {
        id: r.get("id")?,
        reference: reference.as_deref().and_then(Reference::parse),
        record: SmsRecord {
            msisdn: u64::try_from(msisdn).ok().and_then(Msisdn::from_u64).ok_or_else(|| invalid("msisdn"))?,
            locale: r.get("locale")?,
            text: r.get("text")?,
            segments: r.get("segments")?,
            sender: r.get("sender")?,
            status: r.get("status")?,
            provider_id: r.get("provider_id")?,
        },
        at_ms: r.get("created_at")?,
        request_id: r.get("request_id")?,
        inbound_id: r.get("inbound_id")?,
        attempt: r.get("attempt")?,
        resend_of: r.get("resend_of")?,
        delivery: match delivery {
            Some(d) => Some(DeliveryStatus::parse(&d).ok_or_else(|| invalid("delivery"))?),
            None => None,
        },
        failure_reason: r.get("failure_reason")?,
        delivery_at_ms: r.get("delivery_at")?,
    })
}

fn insert_attempt(t: &Connection, request_id: i64, a: &NewAttempt, now: i64) -> Result<i64, StoreError> {
    let seq: i64 = t
        .query_row("SELECT coalesce(max(seq), 0) + 1 FROM payment_attempts WHERE request_id = ?1", [request_id], |r| {
            r.get(0)
        })
        .map_err(db)?;
    t.prepare_cached(
        "INSERT INTO payment_attempts (request_id, seq, token, provider, msisdn, amount_kes, status, created_at, \
         updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'created', ?7, ?7)",
    )
    .and_then(|mut st| {
        st.execute(params![
            request_id,
            seq,
            callback_token(),
            a.provider,
            a.msisdn.as_u64() as i64,
            a.amount_kes as i64,
            now
        ])
    })
    .map_err(db)?;
    Ok(t.last_insert_rowid())
}

fn insert_job(
    t: &Connection,
    request_id: i64,
    j: &NewJob,
    new_attempt: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    let attempt = match j.attempt {
        JobAttempt::None => None,
        JobAttempt::New => {
            Some(new_attempt.ok_or_else(|| StoreError::Database("a job points at an attempt not created".into()))?)
        }
        JobAttempt::Id(id) => Some(id),
    };
    t.prepare_cached(
        "INSERT INTO jobs (key, kind, request_id, attempt_id, data, state, run_at, max_failures, created_at, \
         updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'ready', ?6, ?7, ?8, ?8) ON CONFLICT (key) DO NOTHING",
    )
    .and_then(|mut st| {
        st.execute(params![
            job_key(j.kind, request_id, &j.discriminator),
            j.kind.as_str(),
            request_id,
            attempt,
            j.data,
            j.run_at_ms,
            j.max_failures,
            now
        ])
    })
    .map_err(db)?;
    Ok(())
}

fn insert_sms(t: &Connection, request_id: Option<i64>, m: &SmsRecord, now: i64) -> Result<(), StoreError> {
    t.prepare_cached(
        "INSERT INTO sms (request_id, msisdn, locale, text, segments, sender, status, provider_id, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut st| {
        st.execute(params![
            request_id,
            m.msisdn.as_u64() as i64,
            m.locale,
            m.text,
            m.segments,
            m.sender,
            m.status,
            m.provider_id,
            now
        ])
    })
    .map_err(db)?;
    Ok(())
}

const ATTEMPT_COLUMNS: &str = "id, request_id, seq, token, provider, msisdn, amount_kes, status, checkout_request_id, \
     receipt, result_code, result_desc, created_at, updated_at";

fn row_to_attempt(r: &rusqlite::Row<'_>) -> rusqlite::Result<AttemptRow> {
    let status: String = r.get("status")?;
    let msisdn: i64 = r.get("msisdn")?;
    Ok(AttemptRow {
        id: r.get("id")?,
        request_id: r.get("request_id")?,
        seq: r.get("seq")?,
        token: r.get("token")?,
        provider: r.get("provider")?,
        msisdn: u64::try_from(msisdn).ok().and_then(Msisdn::from_u64).ok_or_else(|| invalid("msisdn"))?,
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

const JOB_COLUMNS: &str = "j.id, j.key, j.kind, r.reference, j.sms_id, j.state, j.run_at, j.tries, j.failures, \
     j.max_failures, j.last_error, j.updated_at";

fn row_to_job(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    let kind: String = r.get("kind")?;
    let state: String = r.get("state")?;
    let reference: Option<String> = r.get("reference")?;
    Ok(JobRow {
        id: r.get("id")?,
        key: r.get("key")?,
        kind: JobKind::parse(&kind).ok_or_else(|| invalid("kind"))?,
        reference: match reference {
            Some(s) => Some(Reference::parse(&s).ok_or_else(|| invalid("reference"))?),
            None => None,
        },
        sms_id: r.get("sms_id")?,
        state: JobState::parse(&state).ok_or_else(|| invalid("state"))?,
        run_at_ms: r.get("run_at")?,
        tries: r.get("tries")?,
        failures: r.get("failures")?,
        max_failures: r.get("max_failures")?,
        last_error: r.get("last_error")?,
        updated_at_ms: r.get("updated_at")?,
    })
}

fn claim_tx(t: &Connection, worker: &str, limit: u32, lease_ms: i64, now: i64) -> Result<Vec<ClaimedJob>, StoreError> {
    // Due jobs, and jobs whose runner died (lease expired). One writer thread: no two claims
    // can interleave, so no job is handed out twice.
    let mut st = t
        .prepare_cached(
            "UPDATE jobs SET state = 'running', tries = tries + 1, locked_by = ?1, lease_until = ?2, updated_at = ?3 \
             WHERE id IN (SELECT id FROM (SELECT id, run_at AS due FROM jobs WHERE state = 'ready' AND run_at <= ?3 \
             UNION ALL SELECT id, lease_until AS due FROM jobs WHERE state = 'running' AND lease_until < ?3) \
             ORDER BY due LIMIT ?4) \
             RETURNING id, kind, request_id, attempt_id, data, tries, failures, max_failures, sms_id",
        )
        .map_err(db)?;
    let rows = st
        .query_map(params![worker, now + lease_ms, now, limit], |r| {
            let kind: String = r.get(1)?;
            Ok(ClaimedJob {
                id: r.get(0)?,
                kind: JobKind::parse(&kind).ok_or_else(|| invalid("kind"))?,
                request_id: r.get(2)?,
                attempt_id: r.get(3)?,
                data: r.get(4)?,
                tries: r.get(5)?,
                failures: r.get(6)?,
                max_failures: r.get(7)?,
                sms_id: r.get(8)?,
                worker: worker.to_owned(),
            })
        })
        .map_err(db)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db)
}

fn finish_tx(
    t: &Connection,
    job: &ClaimedJob,
    finish: &JobFinish,
    effects: Option<&Effects>,
) -> Result<Finished, StoreError> {
    let now = now_ms();
    let fenced: Option<i64> = t
        .query_row(
            "SELECT id FROM jobs WHERE id = ?1 AND state = 'running' AND locked_by = ?2 AND tries = ?3",
            params![job.id, job.worker, job.tries],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    if fenced.is_none() {
        return Ok(Finished::LostLease);
    }
    let applied = match effects {
        Some(e) => write_effects(t, e, now)?,
        None => true,
    };
    let (state, run_at, failures, error) = finish.next(job);
    t.prepare_cached(
        "UPDATE jobs SET state = ?2, run_at = coalesce(?3, run_at), failures = ?4, \
         last_error = coalesce(?5, last_error), locked_by = NULL, lease_until = NULL, updated_at = ?6 WHERE id = ?1",
    )
    .and_then(|mut st| st.execute(params![job.id, state.as_str(), run_at, failures, error, now]))
    .map_err(db)?;
    Ok(if applied { Finished::Applied } else { Finished::Stale })
}

impl Store for SqliteStore {
    fn language(&self, msisdn: Msisdn) -> BoxFuture<'_, Result<Option<Locale>, StoreError>> {
        let known = self.languages.lock().ok().and_then(|m| match m.map.get(&msisdn.as_u64()) {
            Some(hit) => Some(hit.clone()),
            None if m.complete => Some(None),
            None => None,
        });
        if let Some(hit) = known {
            return Box::pin(async move { Ok(hit) });
        }
        let read = self.exec(move |t| {
            let l: Option<String> = t
                .prepare_cached("SELECT locale FROM profiles WHERE msisdn = ?1")
                .and_then(|mut st| st.query_row([msisdn.as_u64() as i64], |r| r.get(0)).optional())
                .map_err(db)?;
            Ok(l.and_then(|l| Locale::parse(&l).ok()))
        });
        Box::pin(async move {
            let l = read.await?;
            // Only fill a gap: a language set while this read was in flight must win.
            if let Ok(mut m) = self.languages.lock()
                && m.map.len() < LANGUAGE_CACHE_MAX
            {
                m.map.entry(msisdn.as_u64()).or_insert_with(|| l.clone());
            }
            Ok(l)
        })
    }

    fn set_language(&self, msisdn: Msisdn, locale: Locale) -> BoxFuture<'_, Result<(), StoreError>> {
        // Remembered at once, written with the next commit (see the module's note).
        self.remember_language(msisdn, Some(locale.clone()));
        let first = match self.pending.lock() {
            Ok(mut p) => {
                p.push((msisdn, locale));
                p.len() == 1
            }
            Err(_) => false,
        };
        // One wake-up per batch of choices, not one per choice.
        let sent = !first || self.tx.send(Command::Languages).is_ok();
        Box::pin(async move { if sent { Ok(()) } else { Err(StoreError::Unavailable("store thread stopped".into())) } })
    }

    fn submit(&self, request: NewRequest) -> BoxFuture<'_, Result<Stored, StoreError>> {
        self.exec(move |t| submit_tx(t, &request))
    }

    fn request<'a>(&'a self, reference: &'a Reference) -> BoxFuture<'a, Result<Option<RequestRow>, StoreError>> {
        let reference = reference.as_str().to_owned();
        self.exec(move |t| {
            t.query_row(
                &format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE reference = ?1"),
                [reference],
                row_to_request,
            )
            .optional()
            .map_err(db)
        })
    }

    fn request_by_key<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<RequestRow>, StoreError>> {
        let key = key.to_owned();
        self.exec(move |t| {
            t.query_row(
                &format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE idempotency_key = ?1"),
                [key],
                row_to_request,
            )
            .optional()
            .map_err(db)
        })
    }

    fn recent_requests(
        &self,
        msisdn: Option<Msisdn>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RequestRow>, StoreError>> {
        self.exec(move |t| {
            let (sql, arg) = match msisdn {
                Some(m) => (
                    format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE msisdn = ?1 ORDER BY id DESC LIMIT ?2"),
                    m.as_u64() as i64,
                ),
                None => (format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE ?1 = ?1 ORDER BY id DESC LIMIT ?2"), 0),
            };
            let mut stmt = t.prepare(&sql).map_err(db)?;
            let rows = stmt.query_map(params![arg, limit], row_to_request).map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
    }

    fn request_by_id(&self, id: i64) -> BoxFuture<'_, Result<Option<RequestRow>, StoreError>> {
        self.exec(move |t| {
            t.query_row(&format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = ?1"), [id], row_to_request)
                .optional()
                .map_err(db)
        })
    }

    fn requests_with_status(
        &self,
        status: Option<RequestStatus>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RequestRow>, StoreError>> {
        self.exec(move |t| {
            let sql = format!(
                "SELECT {REQUEST_COLUMNS} FROM requests WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC LIMIT ?2"
            );
            let mut stmt = t.prepare_cached(&sql).map_err(db)?;
            let rows = stmt.query_map(params![status.map(|s| s.as_str()), limit], row_to_request).map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
    }

    fn events(&self, request_id: i64) -> BoxFuture<'_, Result<Vec<EventRow>, StoreError>> {
        self.exec(move |t| {
            let mut stmt = t
                .prepare_cached("SELECT status, detail, at FROM request_events WHERE request_id = ?1 ORDER BY id")
                .map_err(db)?;
            let rows = stmt
                .query_map([request_id], |r| Ok(EventRow { status: r.get(0)?, detail: r.get(1)?, at_ms: r.get(2)? }))
                .map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
    }

    fn attempts(&self, request_id: i64) -> BoxFuture<'_, Result<Vec<AttemptRow>, StoreError>> {
        self.exec(move |t| {
            let sql = format!("SELECT {ATTEMPT_COLUMNS} FROM payment_attempts WHERE request_id = ?1 ORDER BY seq");
            let mut stmt = t.prepare_cached(&sql).map_err(db)?;
            let rows = stmt.query_map([request_id], row_to_attempt).map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
    }

    fn attempt(&self, id: i64) -> BoxFuture<'_, Result<Option<AttemptRow>, StoreError>> {
        self.exec(move |t| {
            let sql = format!("SELECT {ATTEMPT_COLUMNS} FROM payment_attempts WHERE id = ?1");
            t.query_row(&sql, [id], row_to_attempt).optional().map_err(db)
        })
    }

    fn attempt_by_token<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Option<AttemptRow>, StoreError>> {
        let token = token.to_owned();
        self.exec(move |t| {
            let sql = format!("SELECT {ATTEMPT_COLUMNS} FROM payment_attempts WHERE token = ?1");
            t.query_row(&sql, [token], row_to_attempt).optional().map_err(db)
        })
    }

    fn apply(&self, effects: Effects) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.exec(move |t| write_effects(t, &effects, now_ms()))
    }

    fn claim_jobs<'a>(
        &'a self,
        worker: &'a str,
        limit: u32,
        lease_ms: i64,
    ) -> BoxFuture<'a, Result<Vec<ClaimedJob>, StoreError>> {
        let worker = worker.to_owned();
        self.exec(move |t| claim_tx(t, &worker, limit, lease_ms, now_ms()))
    }

    fn finish_job<'a>(
        &'a self,
        job: &'a ClaimedJob,
        finish: JobFinish,
        effects: Option<Effects>,
    ) -> BoxFuture<'a, Result<Finished, StoreError>> {
        let job = job.clone();
        self.exec(move |t| finish_tx(t, &job, &finish, effects.as_ref()))
    }

    fn jobs(
        &self,
        state: Option<JobState>,
        request_id: Option<i64>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<JobRow>, StoreError>> {
        self.exec(move |t| {
            let sql = format!(
                "SELECT {JOB_COLUMNS} FROM jobs j LEFT JOIN requests r ON r.id = j.request_id \
                 WHERE (?1 IS NULL OR j.state = ?1) AND (?2 IS NULL OR j.request_id = ?2) ORDER BY j.id DESC LIMIT ?3"
            );
            let mut stmt = t.prepare_cached(&sql).map_err(db)?;
            let rows = stmt.query_map(params![state.map(|s| s.as_str()), request_id, limit], row_to_job).map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
    }

    fn job(&self, id: i64) -> BoxFuture<'_, Result<Option<JobRow>, StoreError>> {
        self.exec(move |t| {
            let sql =
                format!("SELECT {JOB_COLUMNS} FROM jobs j LEFT JOIN requests r ON r.id = j.request_id WHERE j.id = ?1");
            let mut stmt = t.prepare_cached(&sql).map_err(db)?;
            stmt.query_row(params![id], row_to_job).optional().map_err(db)
        })
    }

    fn retry_job(&self, id: i64) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.exec(move |t| {
            let n = t
                .execute(
                    "UPDATE jobs SET state = 'ready', failures = 0, run_at = ?2, updated_at = ?2 \
                     WHERE id = ?1 AND state = 'dead'",
                    params![id, now_ms()],
                )
                .map_err(db)?;
            Ok(n == 1)
        })
    }

    fn sms(&self, request_id: Option<i64>, limit: u32) -> BoxFuture<'_, Result<Vec<SmsRow>, StoreError>> {
        self.exec(move |t| {
            let sql = format!(
                "SELECT {SMS_COLUMNS} FROM sms s LEFT JOIN requests r ON r.id = s.request_id \
                 WHERE (?1 IS NULL OR s.request_id = ?1) ORDER BY s.id DESC LIMIT ?2"
            );
            let mut stmt = t.prepare_cached(&sql).map_err(db)?;
            let rows = stmt.query_map(params![request_id, limit], row_to_sms).map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
    }

    fn sms_by_id(&self, id: i64) -> BoxFuture<'_, Result<Option<SmsRow>, StoreError>> {
        self.exec(move |t| {
            let sql =
                format!("SELECT {SMS_COLUMNS} FROM sms s LEFT JOIN requests r ON r.id = s.request_id WHERE s.id = ?1");
            t.query_row(&sql, [id], row_to_sms).optional().map_err(db)
        })
    }

    fn sms_by_provider_id<'a>(
        &'a self,
        sender: &'a str,
        provider_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<SmsRow>, StoreError>> {
        let (sender, provider_id) = (sender.to_owned(), provider_id.to_owned());
        self.exec(move |t| {
            let sql = format!(
                "SELECT {SMS_COLUMNS} FROM sms s LEFT JOIN requests r ON r.id = s.request_id \
                 WHERE s.sender = ?1 AND s.provider_id = ?2"
            );
            t.query_row(&sql, params![sender, provider_id], row_to_sms).optional().map_err(db)
        })
    }

    fn failed_sms(&self, limit: u32) -> BoxFuture<'_, Result<Vec<SmsRow>, StoreError>> {
        self.exec(move |t| {
            // Failed for good: refused at sending, a failed delivery no re-send follows, or a
            // reply still queued whose send job was dead-lettered.
            let sql = format!(
                "SELECT {SMS_COLUMNS} FROM sms s LEFT JOIN requests r ON r.id = s.request_id \
                 WHERE (s.delivery IN ('failed', 'rejected') OR s.status LIKE ?1 \
                 OR (s.status = '{SMS_QUEUED}' AND EXISTS (SELECT 1 FROM jobs j WHERE j.sms_id = s.id AND j.state = 'dead'))) \
                 AND NOT EXISTS (SELECT 1 FROM sms n WHERE n.resend_of = s.id) ORDER BY s.id DESC LIMIT ?2"
            );
            let mut stmt = t.prepare_cached(&sql).map_err(db)?;
            let rows = stmt.query_map(params![format!("{SMS_FAILED_PREFIX}%"), limit], row_to_sms).map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
    }

    fn record_inbound(&self, inbound: NewInbound) -> BoxFuture<'_, Result<bool, StoreError>> {
        let remember = inbound.set_language.clone().map(|l| (inbound.msisdn, l));
        let write = self.exec(move |t| record_inbound_tx(t, &inbound, now_ms()));
        Box::pin(async move {
            let new = write.await?;
            // Only after the commit, and only when this write set it (a retry set nothing).
            if new && let Some((msisdn, l)) = remember {
                self.remember_language(msisdn, Some(l));
            }
            Ok(new)
        })
    }

    fn apply_delivery(&self, change: DeliveryChange) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.exec(move |t| apply_delivery_tx(t, &change, now_ms()))
    }

    fn shared_token<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<(String, i64)>, StoreError>> {
        let key = key.to_owned();
        self.exec(move |t| {
            t.query_row("SELECT token, use_until FROM shared_tokens WHERE key = ?1", [key], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(db)
        })
    }

    fn put_shared_token<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        use_until_ms: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let (key, token) = (key.to_owned(), token.to_owned());
        self.exec(move |t| {
            t.execute(
                "INSERT INTO shared_tokens (key, token, use_until, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (key) DO UPDATE SET token = excluded.token, use_until = excluded.use_until, \
                 updated_at = excluded.updated_at",
                params![key, token, use_until_ms, now_ms()],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        self.exec(|t| t.query_row("SELECT 1", [], |_| Ok(())).map_err(db))
    }

    fn record_session_end(&self, end: SessionEnd) -> BoxFuture<'_, Result<(), StoreError>> {
        self.exec(move |t| {
            t.execute(
                "INSERT INTO session_ends (channel, session_id, msisdn, status, hops, duration_ms, error_message, received_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (channel, session_id) DO NOTHING",
                params![
                    end.channel,
                    end.session_id,
                    end.msisdn.map(|m| m.as_u64() as i64),
                    end.status,
                    end.hops,
                    end.duration_ms,
                    end.error_message,
                    now_ms()
                ],
            )
            .map_err(db)?;
            Ok(())
        })
    }
}
