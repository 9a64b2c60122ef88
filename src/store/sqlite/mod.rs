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
//!
//! This file owns the thread, the connection and the migrations; the seams of the store live
//! beside it (`requests.rs`, `languages.rs`, `jobs.rs`, `sms.rs`, `shared.rs`), and `writes.rs`
//! executes what [`crate::store::plan`] decides. Every statement on the paths of a hop and of
//! the hand-off goes through the connection's statement cache (`prepare_cached`), so a paid
//! request parses no SQL text once the cache is warm.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

mod backlog;
pub mod backup;
mod jobs;
mod languages;
mod misses;
mod requests;
mod retention;
mod shared;
mod sms;
mod stats;
mod usage;
mod writes;

/// The statement a dispatcher's claim runs: public so that a test can count what it reads on a
/// long backlog (`tests/it/store.rs`).
pub use jobs::CLAIM as CLAIM_JOBS;

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use crate::BoxFuture;
use crate::clock::Clock;
use crate::store::{StoreError, now_ms};
use crate::types::{Locale, Msisdn};

/// The database file inside the data directory.
const FILE: &str = "njia.sqlite3";

/// Migrations in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../../../migrations/sqlite/0001_init.sql")),
    ("0002_handoff", include_str!("../../../migrations/sqlite/0002_handoff.sql")),
    ("0003_shared_tokens", include_str!("../../../migrations/sqlite/0003_shared_tokens.sql")),
    ("0004_sms_channel", include_str!("../../../migrations/sqlite/0004_sms_channel.sql")),
    ("0005_search_misses", include_str!("../../../migrations/sqlite/0005_search_misses.sql")),
    ("0006_service_usage", include_str!("../../../migrations/sqlite/0006_service_usage.sql")),
    ("0007_screen_stats", include_str!("../../../migrations/sqlite/0007_screen_stats.sql")),
    ("0008_retention", include_str!("../../../migrations/sqlite/0008_retention.sql")),
    ("0009_jobs_dead", include_str!("../../../migrations/sqlite/0009_jobs_dead.sql")),
    ("0010_reconcile", include_str!("../../../migrations/sqlite/0010_reconcile.sql")),
];

/// Statements the connection keeps prepared: every statement of the hop and hand-off paths
/// (about forty) and the transaction's own (`BEGIN`, `COMMIT`, the savepoints) stay cached, so
/// none is parsed again.
const STATEMENT_CACHE: usize = 64;

/// Most commands one transaction takes, so one batch cannot delay its first reply for long.
const MAX_BATCH: usize = 128;

/// A command for the store thread: it runs against the batch's transaction and returns the
/// delivery of its reply, which the thread calls only once the batch's commit has returned
/// (with `false` if the commit failed).
type Job = Box<dyn FnOnce(&Connection) -> Release + Send>;
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
    languages: Mutex<LanguageCache>,
    /// Each number's recent services (see `usage.rs`).
    recent: Mutex<usage::RecentIndex>,
    pending: Pending,
    /// Where the job queue reads "now" (the system's clock unless a test chose another).
    clock: Clock,
}

/// Remembered languages, so no hop waits on the store thread to learn one. Coherent because
/// this store is the only writer of its file.
///
/// Up to [`LANGUAGE_CACHE_MAX`] numbers, the index holds every profile (loaded when the store
/// opens), so a number it lacks has no language yet and a new citizen's first dial needs no
/// read either. Past that it becomes a cache: cleared wholesale, misses read from disk.
struct LanguageCache {
    map: HashMap<u64, Option<Locale>>,
    /// Every profile is in `map`: a miss means "none yet".
    complete: bool,
}

impl LanguageCache {
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
            .map_err(|source| StoreError::DataDir { path: data_dir.to_path_buf(), source })?;
        let conn = Connection::open(data_dir.join(FILE))?;
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
            _ => StoreError::Sqlite(e),
        })?;
        SqliteStore::start(conn)
    }

    /// Sets the connection up, migrates it and starts the store thread.
    fn start(mut conn: Connection) -> Result<SqliteStore, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a commit is on disk before it returns, so "received" is never a lie.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        stable_plans(&conn)?;
        migrate(&mut conn)?;
        let languages = load_languages(&conn)?;
        let recent = usage::load_recent(&conn)?;
        let (tx, rx) = mpsc::channel::<Command>();
        let pending = Pending::default();
        let thread_pending = Arc::clone(&pending);
        std::thread::Builder::new()
            .name("njia-sqlite".into())
            .spawn(move || run(conn, rx, thread_pending))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(SqliteStore {
            tx,
            languages: Mutex::new(languages),
            recent: Mutex::new(recent),
            pending,
            clock: Clock::System,
        })
    }

    /// The same store with its job queue reading "now" from `clock`: claims, their leases and
    /// the times the queue writes. A test moves a manual clock past a lease instead of sleeping.
    pub fn with_clock(self, clock: Clock) -> SqliteStore {
        SqliteStore { clock, ..self }
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
        let job: Job = Box::new(move |conn| {
            // A savepoint per command: its failure rolls back only its own writes.
            let res = within(conn, &COMMAND, f);
            Box::new(move |committed: bool| {
                let res = match res {
                    Ok(_) if !committed => Err(StoreError::CommitFailed),
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
fn load_languages(conn: &Connection) -> Result<LanguageCache, StoreError> {
    let count: i64 = conn.query_row("SELECT count(*) FROM profiles", [], |r| r.get(0))?;
    let mut map = HashMap::new();
    if count as usize > LANGUAGE_CACHE_MAX {
        return Ok(LanguageCache { map, complete: false });
    }
    map.reserve(count as usize);
    // A handful of distinct languages: every entry shares its language's one allocation.
    let mut seen: Vec<Locale> = Vec::new();
    let mut st = conn.prepare("SELECT msisdn, locale FROM profiles")?;
    let mut rows = st.query([])?;
    while let Some(row) = rows.next()? {
        let (msisdn, tag): (i64, String) = (row.get(0)?, row.get(1)?);
        let locale = match seen.iter().find(|l| l.as_str() == tag) {
            Some(l) => Some(l.clone()),
            None => Locale::parse(&tag).ok().inspect(|l| seen.push(l.clone())),
        };
        map.insert(msisdn as u64, locale);
    }
    Ok(LanguageCache { map, complete: true })
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
    if let Err(e) = control(conn, "BEGIN DEFERRED") {
        tracing::error!(error = %e, languages = languages.len(), "sqlite: cannot begin a transaction");
        // Dropping the jobs drops their reply senders: callers see "unavailable".
        return;
    }
    if !languages.is_empty()
        && let Err(e) = write_languages(conn, languages)
    {
        // The choices stay remembered in memory; only a restart would forget them.
        tracing::error!(error = %e, languages = languages.len(), "sqlite: cannot write language choices");
    }
    let releases: Vec<Release> = batch.into_iter().map(|job| job(conn)).collect();
    let committed = match control(conn, "COMMIT") {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, languages = languages.len(), "sqlite: commit failed");
            // Still inside the transaction when the commit failed: end it, so the next batch
            // begins afresh.
            if !conn.is_autocommit() {
                let _ = control(conn, "ROLLBACK");
            }
            false
        }
    };
    for release in releases {
        release(committed);
    }
}

/// Upserts language choices inside a savepoint, so a failure undoes only them.
fn write_languages(conn: &Connection, languages: &[(Msisdn, Locale)]) -> rusqlite::Result<()> {
    within(conn, &LANGUAGES, |sp| {
        let mut st = sp.prepare_cached(PROFILE_UPSERT)?;
        let now = now_ms();
        for (msisdn, locale) in languages {
            st.execute(params![msisdn.as_u64() as i64, locale.as_str(), now])?;
        }
        Ok(())
    })
}

/// Asks SQLite for plans that never depend on the values bound (its query planner stability
/// guarantee). Without it SQLite marks a statement for compiling again when a parameter it
/// planned around gets a new value (a `LIMIT ?`, or a `column = ?` it estimates differently
/// for 0 and 1), and rusqlite clears every binding when a statement goes back to its cache:
/// the job fence and guarded reads of every hand-off step were parsed and planned again each
/// time, a fifth of a paid request. This store's statements find rows by key and index; no
/// plan here gains from the values.
fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map(|_| ())
}

/// Runs a transaction's own statement (`BEGIN`, `COMMIT`, a savepoint's) from the statement
/// cache. rusqlite's `transaction()` and `savepoint()` send theirs through `execute_batch`,
/// which parses the text again every time: four parses per command, 11 % of a paid request.
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// A savepoint's three statements.
struct Savepoint {
    begin: &'static str,
    release: &'static str,
    undo: &'static str,
}

/// The savepoint each command runs in.
const COMMAND: Savepoint =
    Savepoint { begin: "SAVEPOINT command", release: "RELEASE command", undo: "ROLLBACK TO command" };

/// The savepoint the waiting language choices are written in.
const LANGUAGES: Savepoint =
    Savepoint { begin: "SAVEPOINT languages", release: "RELEASE languages", undo: "ROLLBACK TO languages" };

/// Runs `f` inside the savepoint `sp`: released when `f` succeeds, rolled back and released
/// when it fails (or the release does), as rusqlite's savepoints end, so a failure undoes
/// only what `f` wrote and the transaction goes on.
fn within<T, E: From<rusqlite::Error>>(
    conn: &Connection,
    sp: &Savepoint,
    f: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E> {
    control(conn, sp.begin)?;
    let done = f(conn).and_then(|v| control(conn, sp.release).map(|()| v).map_err(E::from));
    if done.is_err() {
        let _ = control(conn, sp.undo).and_then(|()| control(conn, sp.release));
    }
    done
}

/// Remembers a number's language (both when a hop chose it and when an SMS set it).
const PROFILE_UPSERT: &str = "INSERT INTO profiles (msisdn, locale, updated_at) VALUES (?1, ?2, ?3) \
     ON CONFLICT (msisdn) DO UPDATE SET locale = excluded.locale, updated_at = excluded.updated_at";

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let have: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let want = MIGRATIONS.len() as i64;
    if have > want {
        return Err(StoreError::Unavailable(format!(
            "database schema version {have} is newer than this binary knows ({want}); upgrade njia"
        )));
    }
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(have as usize) {
        let t = conn.transaction()?;
        t.execute_batch(sql).map_err(|e| StoreError::Migration { name, source: Box::new(e) })?;
        t.pragma_update(None, "user_version", (i + 1) as i64)?;
        t.commit()?;
        tracing::info!(migration = name, "sqlite migration applied");
    }
    Ok(())
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

/// Every row a cached statement returns, each mapped by `map`.
fn all<T>(
    t: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut st = t.prepare_cached(sql)?;
    let rows = st.query_map(params, map)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The one row a cached statement returns, if any, mapped by `map`.
fn one<T>(
    t: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>, StoreError> {
    use rusqlite::OptionalExtension;
    Ok(t.prepare_cached(sql)?.query_row(params, map).optional()?)
}

/// A stored phone number back as a [`Msisdn`].
fn msisdn_of(n: i64) -> rusqlite::Result<Msisdn> {
    u64::try_from(n).ok().and_then(Msisdn::from_u64).ok_or_else(|| invalid("msisdn"))
}

/// A stored phone number that a retention purge may have removed (stored as 0): `None` then.
fn phone_of(n: i64) -> rusqlite::Result<Option<Msisdn>> {
    if n == 0 { Ok(None) } else { msisdn_of(n).map(Some) }
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, StatementStatus, params};

    use super::{migrate, one, stable_plans};

    /// A statement whose parameters SQLite would plan around (`tries = ?3`, `LIMIT ?4`) runs
    /// from the cache as it was prepared, whatever is bound.
    #[test]
    fn no_statement_is_prepared_again_for_its_values() {
        let mut conn = Connection::open_in_memory().unwrap();
        stable_plans(&conn).unwrap();
        migrate(&mut conn).unwrap();
        let fence =
            "SELECT id FROM jobs WHERE id = ?1 AND state = 'running' AND locked_by = ?2 AND tries = ?3 LIMIT ?4";
        for tries in [0, 1, 2] {
            assert_eq!(one(&conn, fence, params![1, "w", tries, 1], |r| r.get::<_, i64>(0)).unwrap(), None);
        }
        assert_eq!(conn.prepare_cached(fence).unwrap().get_status(StatementStatus::RePrepare), 0);
    }
}
