//! The production store: PostgreSQL through a deadpool-postgres pool.
//!
//! Several Njia instances share one database. Migrations run under an advisory lock, so
//! instances starting together apply each migration once; every statement is prepared once per
//! connection (`prepare_cached`); a submit is one transaction that commits before it returns.
//!
//! This file owns the pools and the migrations; the seams of the store live beside it
//! (`requests.rs`, `languages.rs`, `jobs.rs`, `sms.rs`, `shared.rs`), and `writes.rs` executes
//! what [`crate::store::plan`] decides, sending independent statements together.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

mod backlog;
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

/// The statement a dispatcher's claim runs: public so that a test can read its plan on a long
/// backlog (`tests/it/store.rs`).
pub use jobs::CLAIM as CLAIM_JOBS;

use crate::clock::Clock;
use crate::store::StoreError;
use crate::types::Msisdn;

/// Migrations in order, recorded in `schema_version`.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "0001_init", include_str!("../../../migrations/postgres/0001_init.sql")),
    (2, "0002_handoff", include_str!("../../../migrations/postgres/0002_handoff.sql")),
    (3, "0003_shared_tokens", include_str!("../../../migrations/postgres/0003_shared_tokens.sql")),
    (4, "0004_sms_channel", include_str!("../../../migrations/postgres/0004_sms_channel.sql")),
    (5, "0005_sessions", include_str!("../../../migrations/postgres/0005_sessions.sql")),
    (6, "0006_sessions_hot", include_str!("../../../migrations/postgres/0006_sessions_hot.sql")),
    (7, "0007_search_misses", include_str!("../../../migrations/postgres/0007_search_misses.sql")),
    (8, "0008_service_usage", include_str!("../../../migrations/postgres/0008_service_usage.sql")),
    (9, "0009_screen_stats", include_str!("../../../migrations/postgres/0009_screen_stats.sql")),
    (10, "0010_retention", include_str!("../../../migrations/postgres/0010_retention.sql")),
    (11, "0011_jobs_dead", include_str!("../../../migrations/postgres/0011_jobs_dead.sql")),
    (12, "0012_reconcile", include_str!("../../../migrations/postgres/0012_reconcile.sql")),
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
    /// Where the job queue reads "now" (the system's clock unless a test chose another).
    clock: Clock,
}

impl PostgresStore {
    /// Connects to `url` (e.g. `postgres://user@host:5432/db`), runs the migrations this
    /// binary knows, and refuses a database that is newer than the binary.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        // A hop waits at most 2 s for a connection (the telco's budget is a few seconds); a
        // job can wait longer.
        let (pool, background) = (pool(url, POOL_SIZE, 2)?, pool(url, BACKGROUND_POOL_SIZE, 30)?);
        let store = PostgresStore { pool, background, clock: Clock::System };
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
        let store = PostgresStore { pool, background, clock: Clock::System };
        let place = describe(url);
        let client = match store.pool.get().await {
            Ok(c) => c,
            Err(deadpool_postgres::PoolError::Backend(e))
                if e.code() == Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME) =>
            {
                return Err(StoreError::Missing(format!("at {place} (that database does not exist)")));
            }
            Err(e) => return Err(e.into()),
        };
        let found: bool = client.query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[]).await?.get(0);
        drop(client);
        if !found {
            return Err(StoreError::Missing(format!("at {place} (it has no Njia tables)")));
        }
        store.migrate().await?;
        Ok(store)
    }

    /// The same store with its job queue reading "now" from `clock`: claims, their leases and
    /// the times the queue writes. A test moves a manual clock past a lease instead of sleeping.
    pub fn with_clock(self, clock: Clock) -> PostgresStore {
        PostgresStore { clock, ..self }
    }

    /// Opens every pooled connection and prepares the statements of the USSD path on each (see
    /// [`warm`]).
    async fn warm(&self) {
        warm(&self.pool, &[requests::SUBMIT, requests::BY_KEY, languages::LANGUAGE, usage::RECENT], "store").await;
    }

    /// The pool of the USSD path, which PostgreSQL sessions share: a hop holds one
    /// connection at a time, so sharing costs no waiting and halves the connections an
    /// instance opens.
    pub fn ussd_pool(&self) -> Pool {
        self.pool.clone()
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.pool.get().await?)
    }

    async fn background(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.background.get().await?)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Instances starting at once queue here; the first applies, the others see it done.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 version INT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await?;
        let have: i32 = tx.query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[]).await?.get(0);
        let known = MIGRATIONS.last().map_or(0, |m| m.0);
        if have > known {
            return Err(StoreError::Unavailable(format!(
                "database schema version {have} is newer than this binary knows ({known}); upgrade njia"
            )));
        }
        for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > have) {
            tx.batch_execute(sql).await.map_err(|e| StoreError::Migration { name, source: Box::new(e) })?;
            tx.execute("INSERT INTO schema_version (version, name) VALUES ($1, $2)", &[version, name]).await?;
            tracing::info!(migration = name, "postgres migration applied");
        }
        Ok(tx.commit().await?)
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

type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// A stored value this version cannot read.
fn bad(what: &str) -> StoreError {
    StoreError::Corrupt(format!("stored {what} is not a value this version knows"))
}

fn msisdn_of(n: i64) -> Result<Msisdn, StoreError> {
    u64::try_from(n).ok().and_then(Msisdn::from_u64).ok_or_else(|| bad("phone number"))
}

/// A stored phone number that a retention purge may have removed (stored as 0): `None` then.
fn phone_of(n: i64) -> Result<Option<Msisdn>, StoreError> {
    if n == 0 { Ok(None) } else { msisdn_of(n).map(Some) }
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Every row a cached statement returns on a connection of `pool`, each mapped by `map`.
async fn all<T>(
    pool: &Pool,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    map: impl Fn(&tokio_postgres::Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let client = pool.get().await?;
    let st = client.prepare_cached(sql).await?;
    client.query(&st, params).await?.iter().map(map).collect()
}

/// The one row a cached statement returns on a connection of `pool`, if any, mapped by `map`.
async fn one<T>(
    pool: &Pool,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    map: impl FnOnce(&tokio_postgres::Row) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let client = pool.get().await?;
    let st = client.prepare_cached(sql).await?;
    client.query_opt(&st, params).await?.as_ref().map(map).transpose()
}
