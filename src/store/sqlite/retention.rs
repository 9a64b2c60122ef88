//! SQLite's [`Retention`]: each batch one command on the store thread (one savepoint in its
//! transaction), and the memory the store keeps of numbers (languages, recent services)
//! forgetting what the batch deleted.

use rusqlite::{Connection, params};

use super::SqliteStore;
use crate::BoxFuture;
use crate::store::columns::{
    purgeable_inbound, purgeable_profile, purgeable_request, purgeable_session_end, purgeable_sms,
};
use crate::store::{Purged, Retention, StoreError};

impl Retention for SqliteStore {
    fn purgeable(&self, cutoff_ms: i64) -> BoxFuture<'_, Result<Purged, StoreError>> {
        self.exec(move |t| {
            let count = |sql: &str| -> Result<u64, StoreError> {
                let n: i64 = t.prepare_cached(sql)?.query_row([cutoff_ms], |r| r.get(0))?;
                Ok(n.max(0) as u64)
            };
            Ok(Purged {
                requests: count(concat!("SELECT count(*) FROM requests r WHERE ", purgeable_request!()))?,
                attempts: count(concat!(
                    "SELECT count(*) FROM payment_attempts a JOIN requests r ON r.id = a.request_id WHERE a.msisdn <> 0 \
                     AND ",
                    purgeable_request!()
                ))?,
                sms: count(concat!(
                    "SELECT (SELECT count(*) FROM sms m JOIN requests r ON r.id = m.request_id WHERE m.msisdn <> 0 AND ",
                    purgeable_request!(),
                    ") + (SELECT count(*) FROM sms s WHERE ",
                    purgeable_sms!(),
                    ")"
                ))?,
                inbound_sms: count(concat!("SELECT count(*) FROM inbound_sms i WHERE ", purgeable_inbound!()))?,
                session_ends: count(concat!("SELECT count(*) FROM session_ends e WHERE ", purgeable_session_end!()))?,
                profiles: count(concat!("SELECT count(*) FROM profiles p WHERE ", purgeable_profile!()))?,
                recent_services: count("SELECT count(*) FROM recent_services WHERE used_at < $1")?,
            })
        })
    }

    fn purge_batch(&self, cutoff_ms: i64, now_ms: i64, limit: u32) -> BoxFuture<'_, Result<Purged, StoreError>> {
        let batch = self.exec(move |t| purge_tx(t, cutoff_ms, now_ms, limit));
        Box::pin(async move {
            let (purged, forgotten) = batch.await?;
            // The memory the hops read follows the file. A language chosen for one of these
            // numbers between the batch's commit and this line (a number not seen for the whole
            // retention, dialling in that instant) is forgotten in memory only: the citizen is
            // asked again, the cost of a lost preference.
            if let Ok(mut languages) = self.languages.lock() {
                for m in &forgotten {
                    languages.map.remove(m);
                }
            }
            if let Ok(mut recent) = self.recent.lock() {
                recent.forget_before(cutoff_ms);
            }
            Ok(purged)
        })
    }
}

/// One batch, and the numbers whose profiles it deleted.
fn purge_tx(t: &Connection, cutoff: i64, now: i64, limit: u32) -> Result<(Purged, Vec<u64>), StoreError> {
    let ids = |sql: &str| -> Result<String, StoreError> {
        let mut st = t.prepare_cached(sql)?;
        let found = st.query_map(params![cutoff, limit], |r| r.get::<_, i64>(0))?.collect::<Result<Vec<_>, _>>()?;
        Ok(serde_json::to_string(&found).unwrap_or_else(|_| "[]".into()))
    };
    let requests = ids(concat!("SELECT r.id FROM requests r WHERE ", purgeable_request!(), " ORDER BY r.id LIMIT $2"))?;
    let attempts = t
        .prepare_cached(
            "UPDATE payment_attempts SET msisdn = 0 WHERE msisdn <> 0 AND request_id IN (SELECT value FROM json_each(?1))",
        )?
        .execute([&requests])?;
    let mut sms = t
        .prepare_cached(
            "UPDATE sms SET msisdn = 0, text = '' WHERE msisdn <> 0 AND request_id IN (SELECT value FROM json_each(?1))",
        )?
        .execute([&requests])?;
    // An agency's or a provider's error may quote what the citizen typed.
    t.prepare_cached("UPDATE jobs SET last_error = NULL WHERE request_id IN (SELECT value FROM json_each(?1))")?
        .execute([&requests])?;
    let purged_requests = t
        .prepare_cached(
            "UPDATE requests SET msisdn = 0, fields = '{}', purged_at = ?2, idempotency_key = 'purged:' || reference, \
             payment_account = CASE WHEN payment_account IS NULL THEN NULL ELSE '' END \
             WHERE id IN (SELECT value FROM json_each(?1))",
        )?
        .execute(params![requests, now])?;
    let alone = ids(concat!("SELECT s.id FROM sms s WHERE ", purgeable_sms!(), " ORDER BY s.id LIMIT $2"))?;
    sms += t
        .prepare_cached("UPDATE sms SET msisdn = 0, text = '' WHERE id IN (SELECT value FROM json_each(?1))")?
        .execute([&alone])?;
    let inbound =
        ids(concat!("SELECT i.id FROM inbound_sms i WHERE ", purgeable_inbound!(), " ORDER BY i.id LIMIT $2"))?;
    let inbound_sms = t
        .prepare_cached(
            "UPDATE inbound_sms SET msisdn = 0, link_id = NULL WHERE id IN (SELECT value FROM json_each(?1))",
        )?
        .execute([&inbound])?;
    let ends =
        ids(concat!("SELECT e.id FROM session_ends e WHERE ", purgeable_session_end!(), " ORDER BY e.id LIMIT $2"))?;
    let session_ends = t
        .prepare_cached("UPDATE session_ends SET msisdn = NULL WHERE id IN (SELECT value FROM json_each(?1))")?
        .execute([&ends])?;
    let numbers: Vec<i64> = {
        let mut st =
            t.prepare_cached(concat!("SELECT p.msisdn FROM profiles p WHERE ", purgeable_profile!(), " LIMIT $2"))?;
        st.query_map(params![cutoff, limit], |r| r.get::<_, i64>(0))?.collect::<Result<Vec<_>, _>>()?
    };
    let profiles = t
        .prepare_cached("DELETE FROM profiles WHERE msisdn IN (SELECT value FROM json_each(?1))")?
        .execute([serde_json::to_string(&numbers).unwrap_or_else(|_| "[]".into())])?;
    let recent_services = t
        .prepare_cached(
            "DELETE FROM recent_services WHERE rowid IN (SELECT rowid FROM recent_services WHERE used_at < ?1 LIMIT ?2)",
        )?
        .execute(params![cutoff, limit])?;
    let purged = Purged {
        requests: purged_requests as u64,
        attempts: attempts as u64,
        sms: sms as u64,
        inbound_sms: inbound_sms as u64,
        session_ends: session_ends as u64,
        profiles: profiles as u64,
        recent_services: recent_services as u64,
    };
    Ok((purged, numbers.into_iter().filter_map(|n| u64::try_from(n).ok()).collect()))
}
