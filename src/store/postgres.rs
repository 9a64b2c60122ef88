//! The production store: PostgreSQL through a deadpool-postgres pool.
//!
//! Several Njia instances share one database. Migrations run under an advisory lock, so
//! instances starting together apply each migration once; every statement is prepared once per
//! connection (`prepare_cached`); a submit is one transaction that commits before it returns.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::BoxFuture;
use crate::store::{
    NewRequest, RequestRow, SessionEnd, Store, StoreError, Stored, fields_from_json, fields_to_json, now_ms,
    reference_bits,
};
use crate::types::{Locale, Msisdn, Reference};

/// Migrations in order, recorded in `schema_version`.
const MIGRATIONS: &[(i32, &str, &str)] = &[(1, "0001_init", include_str!("../../migrations/postgres/0001_init.sql"))];

/// The advisory lock key migrations hold ("njia" in ASCII, then 1).
const MIGRATION_LOCK: i64 = 0x6e6a_6961_0000_0001;

/// Connections per instance. Size it from the database's `max_connections` divided by the
/// number of instances, not from the number of cores.
const POOL_SIZE: usize = 16;

pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Connects to `url` (e.g. `postgres://user@host:5432/db`), runs the migrations this
    /// binary knows, and refuses a database that is newer than the binary.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::Unavailable(format!("database_url: {e}")))?;
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(std::time::Duration::from_secs(2)))
            .create_timeout(Some(std::time::Duration::from_secs(5)))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let store = PostgresStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Unavailable(e.to_string()))
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

fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

const REQUEST_COLUMNS: &str =
    "reference, menu, service, msisdn, locale, fields, payment_amount, payment_account, status, created_at";

fn row_to_request(r: &tokio_postgres::Row) -> Result<RequestRow, StoreError> {
    let reference: String = r.get("reference");
    let msisdn: i64 = r.get("msisdn");
    let amount: Option<String> = r.get("payment_amount");
    let account: Option<String> = r.get("payment_account");
    let fields: String = r.get("fields");
    Ok(RequestRow {
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
        created_at_ms: r.get("created_at"),
    })
}

impl Store for PostgresStore {
    fn language(&self, msisdn: Msisdn) -> BoxFuture<'_, Result<Option<Locale>, StoreError>> {
        Box::pin(async move {
            let client = self.client().await?;
            let stmt = client.prepare_cached("SELECT locale FROM profiles WHERE msisdn = $1").await.map_err(pg)?;
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
            let mut client = self.client().await?;
            let by_key =
                client.prepare_cached("SELECT reference FROM requests WHERE idempotency_key = $1").await.map_err(pg)?;
            let insert = client
                .prepare_cached(
                    "INSERT INTO requests (reference, idempotency_key, menu, service, msisdn, locale, fields, \
                     payment_amount, payment_account, status, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'received', $10) \
                     ON CONFLICT DO NOTHING RETURNING id",
                )
                .await
                .map_err(pg)?;
            let event = client
                .prepare_cached("INSERT INTO request_events (request_id, status, at) VALUES ($1, 'received', $2)")
                .await
                .map_err(pg)?;
            let fields = fields_to_json(&r.fields);
            let msisdn = r.msisdn.as_u64() as i64;
            let amount = r.payment.as_ref().map(|p| p.0.as_str());
            let account = r.payment.as_ref().map(|p| p.1.as_str());
            for attempt in 0..8 {
                let tx = client.transaction().await.map_err(pg)?;
                let existing = tx.query_opt(&by_key, &[&r.idempotency_key]).await.map_err(pg)?;
                if let Some(row) = existing {
                    let reference = Reference::parse(row.get::<_, &str>(0))
                        .ok_or_else(|| StoreError::Database("bad stored reference".into()))?;
                    return Ok(Stored { reference, created: false });
                }
                let reference = Reference::from_bits(reference_bits(attempt));
                let now = now_ms();
                let inserted = tx
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
                            &now,
                        ],
                    )
                    .await
                    .map_err(pg)?;
                match inserted {
                    Some(row) => {
                        let id: i64 = row.get(0);
                        tx.execute(&event, &[&id, &now]).await.map_err(pg)?;
                        // The caller's "received" reply waits for this commit.
                        tx.commit().await.map_err(pg)?;
                        return Ok(Stored { reference, created: true });
                    }
                    // A conflict: either a concurrent submit with the same key won (the next
                    // round returns its reference) or the reference was taken (draw again).
                    None => tx.rollback().await.map_err(pg)?,
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
