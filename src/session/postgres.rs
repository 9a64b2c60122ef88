//! Live sessions in PostgreSQL, so several instances behind a load balancer without sticky
//! routing serve any hop of any session.
//!
//! One row per session in an UNLOGGED table (`migrations/postgres/0005_sessions.sql`): a
//! session lives for minutes, and a crash loses only the dialogues that were live, which the
//! telco drops anyway; in exchange a write skips the WAL and its fsync, which is what makes a
//! write on every hop affordable. A `get` and a `put` are one round trip each: statements
//! prepared on every pooled connection at start-up, and the record (a [`SessionRecord`] as
//! JSON, about 300 bytes) in one `bytea` column. Expiry needs no scan: reads treat a row past
//! `live_until` as absent, and a sweeper deletes rows past `expires_at` in bounded batches
//! through the index on `sweep_after` (`expires_at` rounded up to the minute). No indexed
//! column changes on an ordinary hop, so PostgreSQL rewrites the row in place (a HOT update,
//! `0006_sessions_hot.sql`) instead of adding an entry to every index on every hop.

use std::sync::{Arc, Weak};
use std::time::Duration;

use deadpool_postgres::Pool;

use crate::BoxFuture;
use crate::clock::Clock;
use crate::session::{ENDED_SESSION_TTL, InputKey, OpenQuery, SessionError, SessionRecord, SessionStore};
use crate::store::{Store, StoreError, now_ms};
use crate::types::SessionKey;

/// Connections of a pool [`PgSessions::connect`] opens; the server shares the store's USSD
/// pool instead ([`PgSessions::with_pool`]).
const POOL_SIZE: usize = crate::store::postgres::POOL_SIZE;

/// The sweeper deletes at most this many rows per statement, so no delete holds many locks
/// or runs long, and goes on while batches come back full (at most [`SWEEP_BATCHES`]).
const SWEEP_BATCH: i64 = 1_000;
const SWEEP_BATCHES: usize = 20;
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// `sweep_after` is `expires_at` rounded up to a multiple of this: it changes about once a
/// minute in a session's life, so most hops leave every indexed column as it was.
const SWEEP_BUCKET_MS: i64 = 60_000;

/// The name the shared input key is kept under in `shared_tokens`.
const INPUT_KEY_NAME: &str = "njia-session-input-key";

const GET: &str = "SELECT record, open FROM sessions WHERE channel = $1 AND session_id = $2 AND live_until > $3";

/// A consumed (resumed) session stays closed whatever a late hop writes.
const PUT: &str = "\
INSERT INTO sessions (channel, session_id, msisdn, menu, open, touched_at, live_until, expires_at, sweep_after, record)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (channel, session_id) DO UPDATE SET
    open = sessions.open AND EXCLUDED.open, touched_at = EXCLUDED.touched_at, live_until = EXCLUDED.live_until,
    expires_at = EXCLUDED.expires_at, sweep_after = EXCLUDED.sweep_after, record = EXCLUDED.record";

/// A later hop of a session rewrites its row. An upsert would first try an insert, find the
/// key taken and only then update: more work for the database on every hop. Same parameters as
/// [`PUT`]; the number and menu of a session never change, so they only confirm the row.
const UPDATE: &str = "\
UPDATE sessions SET open = open AND $5, touched_at = $6, live_until = $7, expires_at = $8, sweep_after = $9, record = $10
WHERE channel = $1 AND session_id = $2 AND msisdn = $3 AND menu = $4";

/// The number's newest session other than the new one, closed and returned if it is open, on
/// the same channel and menu, and recent enough. The row lock makes two dials at once
/// serialise here: the second re-reads the row, finds it closed and gets nothing.
const TAKE: &str = "\
UPDATE sessions s SET open = false
FROM (SELECT channel, session_id FROM sessions
      WHERE msisdn = $1 AND NOT (channel = $2 AND session_id = $3) AND expires_at > $6
      ORDER BY touched_at DESC LIMIT 1 FOR UPDATE) n
WHERE s.channel = n.channel AND s.session_id = n.session_id
  AND s.open AND s.channel = $2 AND s.menu = $4 AND s.touched_at > $5
RETURNING s.record";

/// Skips rows another instance's sweeper is deleting, so sweepers never wait on each other.
const SWEEP: &str = "\
DELETE FROM sessions WHERE (channel, session_id) IN (
    SELECT channel, session_id FROM sessions WHERE sweep_after <= $1 AND expires_at <= $1
    ORDER BY sweep_after LIMIT $2 FOR UPDATE SKIP LOCKED)";

pub struct PgSessions {
    pool: Pool,
    input_key: InputKey,
    idle_ms: i64,
    ended_ms: i64,
    keep_open_ms: i64,
    /// Where "now" is read: the system's clock in production. Every statement is given the
    /// time as a parameter (none reads PostgreSQL's `now()`), so a test's manual clock moves
    /// the database's view of time too.
    clock: Clock,
}

fn unavailable(e: impl std::fmt::Display) -> SessionError {
    SessionError::Unavailable(e.to_string())
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The key every instance sharing the database hashes cumulative inputs with: drawn at random
/// by the first instance that needs it and kept in `shared_tokens` (fetched under the store's
/// advisory lock, so instances starting together agree on one).
///
/// Whoever can read the live database can read the key too; the session rows themselves are
/// in an UNLOGGED table, so a backup, a replica or a WAL archive holds the key but never a
/// hash to try guesses against.
pub async fn shared_input_key(store: &dyn Store) -> Result<InputKey, StoreError> {
    let fetch: BoxFuture<'_, crate::store::Fetched> = Box::pin(async { Ok((InputKey::random().to_hex(), i64::MAX)) });
    match store.token_or_fetch(INPUT_KEY_NAME, now_ms(), None, fetch).await? {
        Ok((hex, _)) => InputKey::from_hex(&hex)
            .ok_or_else(|| StoreError::Corrupt(format!("shared token {INPUT_KEY_NAME} is not a session input key"))),
        Err(e) => Err(StoreError::Unavailable(e)),
    }
}

impl PgSessions {
    /// Connects a pool of its own to `url` (migrated by
    /// [`crate::store::postgres::PostgresStore`]); see [`PgSessions::with_pool`].
    pub async fn connect(
        url: &str,
        input_key: InputKey,
        idle: Duration,
        resume_window: Duration,
        clock: Clock,
    ) -> Result<Arc<PgSessions>, SessionError> {
        let pool = crate::store::postgres::pool(url, POOL_SIZE, 2).map_err(unavailable)?;
        Ok(PgSessions::with_pool(pool, input_key, idle, resume_window, clock).await)
    }

    /// Sessions on `pool`, with the session statements prepared on every connection. Sessions
    /// idle for `idle` are gone for hops; open ones are kept `resume_window` (when longer) for
    /// a later dial to resume. "Now" is read from `clock` (the system's, outside tests).
    pub async fn with_pool(
        pool: Pool,
        input_key: InputKey,
        idle: Duration,
        resume_window: Duration,
        clock: Clock,
    ) -> Arc<PgSessions> {
        let sessions = PgSessions {
            pool,
            input_key,
            idle_ms: millis(idle),
            ended_ms: millis(ENDED_SESSION_TTL.min(idle)),
            keep_open_ms: millis(idle.max(resume_window)),
            clock,
        };
        sessions.warm().await;
        Arc::new(sessions)
    }

    /// Opens every pooled connection and prepares the session statements on each.
    async fn warm(&self) {
        crate::store::postgres::warm(&self.pool, &[GET, PUT, UPDATE, TAKE], "sessions").await;
    }

    /// Deletes rows past `expires_at` at `now_ms`, in batches through the index; returns how
    /// many went.
    pub async fn sweep(&self, now_ms: i64) -> Result<u64, SessionError> {
        let c = self.pool.get().await.map_err(unavailable)?;
        let st = c.prepare_cached(SWEEP).await.map_err(unavailable)?;
        let mut total = 0;
        for _ in 0..SWEEP_BATCHES {
            let n = c.execute(&st, &[&now_ms, &SWEEP_BATCH]).await.map_err(unavailable)?;
            total += n;
            if n < SWEEP_BATCH as u64 {
                break;
            }
        }
        Ok(total)
    }

    /// Sweeps every few seconds until the store is dropped. Every instance runs one; they
    /// skip each other's rows.
    pub fn spawn_sweeper(self: &Arc<Self>) {
        let weak: Weak<PgSessions> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            loop {
                tick.tick().await;
                let Some(store) = weak.upgrade() else { break };
                match store.sweep(store.clock.now_ms()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(expired = n, "sessions expired"),
                    Err(e) => tracing::warn!(error = %e, "session sweep failed"),
                }
            }
        });
    }
}

fn decode(bytes: &[u8]) -> Result<SessionRecord, SessionError> {
    serde_json::from_slice(bytes).map_err(|e| SessionError::Unavailable(format!("stored session unreadable: {e}")))
}

impl SessionStore for PgSessions {
    fn get<'a>(&'a self, key: &'a SessionKey) -> BoxFuture<'a, Result<Option<SessionRecord>, SessionError>> {
        Box::pin(async move {
            let c = self.pool.get().await.map_err(unavailable)?;
            let st = c.prepare_cached(GET).await.map_err(unavailable)?;
            let row = c
                .query_opt(&st, &[&&*key.channel, &&*key.session_id, &self.clock.now_ms()])
                .await
                .map_err(unavailable)?;
            let Some(row) = row else { return Ok(None) };
            let mut record = decode(row.get(0))?;
            // Resumed by a later dial: a late hop of this dialogue gets its last screen, ended.
            if !row.get::<_, bool>(1) {
                record.ended = true;
            }
            Ok(Some(record))
        })
    }

    fn put<'a>(&'a self, key: &'a SessionKey, record: SessionRecord) -> BoxFuture<'a, Result<(), SessionError>> {
        Box::pin(async move {
            let bytes = serde_json::to_vec(&record).map_err(unavailable)?;
            let now = self.clock.now_ms();
            let open = !record.ended;
            let live_until = now.saturating_add(if open { self.idle_ms } else { self.ended_ms });
            let expires_at = if open { now.saturating_add(self.keep_open_ms) } else { live_until };
            // Never before `expires_at`, so a row the sweeper finds through it has expired.
            let sweep_after = expires_at.saturating_add(SWEEP_BUCKET_MS - 1) / SWEEP_BUCKET_MS * SWEEP_BUCKET_MS;
            let msisdn = record.msisdn.as_u64() as i64;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 10] = [
                &&*key.channel,
                &&*key.session_id,
                &msisdn,
                &&*record.menu_id,
                &open,
                &now,
                &live_until,
                &expires_at,
                &sweep_after,
                &bytes,
            ];
            let c = self.pool.get().await.map_err(unavailable)?;
            // A session's first hop inserts its row; a later one updates it, and inserts only
            // if the row has gone meanwhile (swept while the citizen was idle past its TTL).
            if record.hops > 1 {
                let st = c.prepare_cached(UPDATE).await.map_err(unavailable)?;
                if c.execute(&st, &params).await.map_err(unavailable)? == 1 {
                    return Ok(());
                }
            }
            let st = c.prepare_cached(PUT).await.map_err(unavailable)?;
            c.execute(&st, &params).await.map_err(unavailable)?;
            Ok(())
        })
    }

    fn take_open<'a>(&'a self, q: OpenQuery<'a>) -> BoxFuture<'a, Result<Option<SessionRecord>, SessionError>> {
        Box::pin(async move {
            let now = self.clock.now_ms();
            let since = now.saturating_sub(millis(q.within));
            let msisdn = q.msisdn.as_u64() as i64;
            let c = self.pool.get().await.map_err(unavailable)?;
            let st = c.prepare_cached(TAKE).await.map_err(unavailable)?;
            let row = c
                .query_opt(
                    &st,
                    &[&msisdn, &&*q.new_session.channel, &&*q.new_session.session_id, &q.menu, &since, &now],
                )
                .await
                .map_err(unavailable)?;
            row.map(|r| decode(r.get(0))).transpose()
        })
    }

    fn input_key(&self) -> &InputKey {
        &self.input_key
    }
}
