//! The embedded store: SQLite in WAL mode with `synchronous=FULL`, owned by one thread.
//!
//! One OS thread owns the connection (SQLite is blocking, and the request path must never
//! block a tokio worker). Commands arrive on a channel; the thread drains whatever is queued
//! and runs it in one transaction, so a burst of submits costs one fsync, not one each (group
//! commit). Each command runs inside its own savepoint, so one failing command cannot undo the
//! others in its batch. Replies are sent only after the commit returned.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, mpsc};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::oneshot;

use crate::BoxFuture;
use crate::store::{
    NewRequest, RequestRow, SessionEnd, Store, StoreError, Stored, fields_from_json, fields_to_json, now_ms,
    reference_bits,
};
use crate::types::{Locale, Msisdn, Reference};

/// Migrations in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[(&str, &str)] = &[("0001_init", include_str!("../../migrations/sqlite/0001_init.sql"))];

/// Most commands one transaction takes, so one batch cannot delay its first reply for long.
const MAX_BATCH: usize = 128;

/// A command for the store thread: it runs against the batch's transaction and returns the
/// delivery of its reply, which the thread calls only once the batch's commit has returned
/// (with `false` if the commit failed).
type Job = Box<dyn FnOnce(&mut Transaction<'_>) -> Release + Send>;
type Release = Box<dyn FnOnce(bool) + Send>;

/// Handle to the store thread; cheap to share behind an `Arc`.
pub struct SqliteStore {
    tx: mpsc::Sender<Job>,
    /// Remembered languages (including "none yet"), so the first hop of a session does not
    /// wait on the store thread. Coherent because this store is the only writer of its file;
    /// cleared wholesale when it reaches [`LANGUAGE_CACHE_MAX`] to bound memory.
    languages: Mutex<HashMap<u64, Option<Locale>>>,
}

/// Most phone numbers whose language is cached.
const LANGUAGE_CACHE_MAX: usize = 200_000;

impl SqliteStore {
    /// Opens (creating if needed) `<data_dir>/njia.sqlite3`, runs migrations, starts the thread.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", data_dir.display())))?;
        let path = data_dir.join("njia.sqlite3");
        let mut conn = Connection::open(&path).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
        // FULL: a commit is on disk before it returns, so "received" is never a lie.
        conn.pragma_update(None, "synchronous", "FULL").map_err(db)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(db)?;
        migrate(&mut conn)?;
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("njia-sqlite".into())
            .spawn(move || run(conn, rx))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(SqliteStore { tx, languages: Mutex::new(HashMap::new()) })
    }

    fn remember_language(&self, msisdn: Msisdn, locale: Option<Locale>) {
        if let Ok(mut m) = self.languages.lock() {
            if m.len() >= LANGUAGE_CACHE_MAX {
                m.clear();
            }
            m.insert(msisdn.as_u64(), locale);
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
        let sent = self.tx.send(job).is_ok();
        Box::pin(async move {
            if !sent {
                return Err(StoreError::Unavailable("store thread stopped".into()));
            }
            reply_rx.await.map_err(|_| StoreError::Unavailable("store thread stopped".into()))?
        })
    }
}

/// The store thread: take a batch, run it in one transaction, commit, then release replies.
fn run(mut conn: Connection, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let tx = match conn.transaction() {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "sqlite: cannot begin a transaction");
                // Dropping the jobs drops their reply senders: callers see "unavailable".
                continue;
            }
        };
        let mut tx = tx;
        let releases: Vec<Release> = batch.into_iter().map(|job| job(&mut tx)).collect();
        let committed = match tx.commit() {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "sqlite: commit failed");
                false
            }
        };
        for release in releases {
            release(committed);
        }
    }
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
fn bad_column(name: &str, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        Box::new(BadColumn(name.to_owned(), e.to_string())),
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
        reference: Reference::parse(&reference).ok_or_else(|| bad_column("reference", crate::types::MsisdnError))?,
        menu: r.get("menu")?,
        service: r.get("service")?,
        msisdn: u64::try_from(msisdn)
            .ok()
            .and_then(Msisdn::from_u64)
            .ok_or_else(|| bad_column("msisdn", crate::types::MsisdnError))?,
        locale: r.get("locale")?,
        fields,
        payment: amount.zip(account),
        status: r.get("status")?,
        created_at_ms: r.get("created_at")?,
    })
}

fn submit_tx(t: &Connection, r: &NewRequest) -> Result<Stored, StoreError> {
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
                r.payment.as_ref().map(|p| p.0.as_str()),
                r.payment.as_ref().map(|p| p.1.as_str()),
                now
            ],
        );
        match res {
            Ok(_) => {
                let id = t.last_insert_rowid();
                t.execute(
                    "INSERT INTO request_events (request_id, status, at) VALUES (?1, 'received', ?2)",
                    params![id, now],
                )
                .map_err(db)?;
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

const REQUEST_COLUMNS: &str =
    "reference, menu, service, msisdn, locale, fields, payment_amount, payment_account, status, created_at";

impl Store for SqliteStore {
    fn language(&self, msisdn: Msisdn) -> BoxFuture<'_, Result<Option<Locale>, StoreError>> {
        if let Some(hit) = self.languages.lock().ok().and_then(|m| m.get(&msisdn.as_u64()).cloned()) {
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
                && m.len() < LANGUAGE_CACHE_MAX
            {
                m.entry(msisdn.as_u64()).or_insert_with(|| l.clone());
            }
            Ok(l)
        })
    }

    fn set_language(&self, msisdn: Msisdn, locale: Locale) -> BoxFuture<'_, Result<(), StoreError>> {
        let cached = locale.clone();
        let write = self.exec(move |t| {
            t.execute(
                "INSERT INTO profiles (msisdn, locale, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (msisdn) DO UPDATE SET locale = excluded.locale, updated_at = excluded.updated_at",
                params![msisdn.as_u64() as i64, locale.as_str(), now_ms()],
            )
            .map_err(db)?;
            Ok(())
        });
        Box::pin(async move {
            write.await?;
            // Only after the commit: a failed write must not be remembered.
            self.remember_language(msisdn, Some(cached));
            Ok(())
        })
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
