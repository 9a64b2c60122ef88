//! PostgreSQL's [`Retention`]: each batch one transaction on the background pool, the rows it
//! changes locked as they are found (`SKIP LOCKED`: a row the hand-off is writing, or another
//! instance's purge holds, waits for the next batch or the next day).

use tokio_postgres::types::ToSql;

use super::PostgresStore;
use crate::BoxFuture;
use crate::store::columns::{
    purgeable_inbound, purgeable_profile, purgeable_request, purgeable_session_end, purgeable_sms,
};
use crate::store::{Purged, Retention, StoreError};

const COUNT: &str = concat!(
    "SELECT (SELECT count(*) FROM requests r WHERE ",
    purgeable_request!(),
    "), (SELECT count(*) FROM payment_attempts a JOIN requests r ON r.id = a.request_id WHERE a.msisdn <> 0 AND ",
    purgeable_request!(),
    "), (SELECT count(*) FROM sms m JOIN requests r ON r.id = m.request_id WHERE m.msisdn <> 0 AND ",
    purgeable_request!(),
    ") + (SELECT count(*) FROM sms s WHERE ",
    purgeable_sms!(),
    "), (SELECT count(*) FROM inbound_sms i WHERE ",
    purgeable_inbound!(),
    "), (SELECT count(*) FROM session_ends e WHERE ",
    purgeable_session_end!(),
    "), (SELECT count(*) FROM profiles p WHERE ",
    purgeable_profile!(),
    "), (SELECT count(*) FROM recent_services WHERE used_at < $1)"
);

const REQUESTS: &str = concat!(
    "SELECT r.id FROM requests r WHERE ",
    purgeable_request!(),
    " ORDER BY r.id LIMIT $2 FOR UPDATE SKIP LOCKED"
);
const ATTEMPTS: &str = "UPDATE payment_attempts SET msisdn = 0 WHERE msisdn <> 0 AND request_id = ANY($1)";
const REQUEST_SMS: &str = "UPDATE sms SET msisdn = 0, text = '' WHERE msisdn <> 0 AND request_id = ANY($1)";
/// An agency's or a provider's error may quote what the citizen typed.
const JOB_ERRORS: &str = "UPDATE jobs SET last_error = NULL WHERE request_id = ANY($1)";
const PURGE_REQUESTS: &str = "UPDATE requests SET msisdn = 0, fields = '{}', purged_at = $2, \
     idempotency_key = 'purged:' || reference, \
     payment_account = CASE WHEN payment_account IS NULL THEN NULL ELSE '' END WHERE id = ANY($1)";
const SMS: &str = concat!(
    "UPDATE sms SET msisdn = 0, text = '' WHERE id IN (SELECT s.id FROM sms s WHERE ",
    purgeable_sms!(),
    " ORDER BY s.id LIMIT $2 FOR UPDATE SKIP LOCKED)"
);
const INBOUND: &str = concat!(
    "UPDATE inbound_sms SET msisdn = 0, link_id = NULL WHERE id IN (SELECT i.id FROM inbound_sms i WHERE ",
    purgeable_inbound!(),
    " ORDER BY i.id LIMIT $2 FOR UPDATE SKIP LOCKED)"
);
const SESSION_ENDS: &str = concat!(
    "UPDATE session_ends SET msisdn = NULL WHERE id IN (SELECT e.id FROM session_ends e WHERE ",
    purgeable_session_end!(),
    " ORDER BY e.id LIMIT $2 FOR UPDATE SKIP LOCKED)"
);
const PROFILES: &str = concat!(
    "DELETE FROM profiles WHERE msisdn IN (SELECT p.msisdn FROM profiles p WHERE ",
    purgeable_profile!(),
    " LIMIT $2 FOR UPDATE SKIP LOCKED)"
);
const RECENT: &str = "DELETE FROM recent_services WHERE (msisdn, menu, code) IN (SELECT msisdn, menu, code \
     FROM recent_services WHERE used_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)";

impl Retention for PostgresStore {
    fn purgeable(&self, cutoff_ms: i64) -> BoxFuture<'_, Result<Purged, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let st = client.prepare_cached(COUNT).await?;
            let row = client.query_one(&st, &[&cutoff_ms]).await?;
            let n = |i: usize| row.get::<_, i64>(i).max(0) as u64;
            Ok(Purged {
                requests: n(0),
                attempts: n(1),
                sms: n(2),
                inbound_sms: n(3),
                session_ends: n(4),
                profiles: n(5),
                recent_services: n(6),
            })
        })
    }

    fn purge_batch(&self, cutoff_ms: i64, now_ms: i64, limit: u32) -> BoxFuture<'_, Result<Purged, StoreError>> {
        Box::pin(async move {
            let mut client = self.background().await?;
            let tx = client.transaction().await?;
            let limit = i64::from(limit);
            let bounded: [&(dyn ToSql + Sync); 2] = [&cutoff_ms, &limit];
            let st = tx.prepare_cached(REQUESTS).await?;
            let ids: Vec<i64> = tx.query(&st, &bounded).await?.iter().map(|r| r.get(0)).collect();
            let mut purged = Purged::default();
            if !ids.is_empty() {
                let st = tx.prepare_cached(ATTEMPTS).await?;
                purged.attempts = tx.execute(&st, &[&ids]).await?;
                let st = tx.prepare_cached(REQUEST_SMS).await?;
                purged.sms = tx.execute(&st, &[&ids]).await?;
                let st = tx.prepare_cached(JOB_ERRORS).await?;
                tx.execute(&st, &[&ids]).await?;
                let st = tx.prepare_cached(PURGE_REQUESTS).await?;
                purged.requests = tx.execute(&st, &[&ids, &now_ms]).await?;
            }
            let st = tx.prepare_cached(SMS).await?;
            purged.sms += tx.execute(&st, &bounded).await?;
            let st = tx.prepare_cached(INBOUND).await?;
            purged.inbound_sms = tx.execute(&st, &bounded).await?;
            let st = tx.prepare_cached(SESSION_ENDS).await?;
            purged.session_ends = tx.execute(&st, &bounded).await?;
            let st = tx.prepare_cached(PROFILES).await?;
            purged.profiles = tx.execute(&st, &bounded).await?;
            let st = tx.prepare_cached(RECENT).await?;
            purged.recent_services = tx.execute(&st, &bounded).await?;
            tx.commit().await?;
            Ok(purged)
        })
    }
}
