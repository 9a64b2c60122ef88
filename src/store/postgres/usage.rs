//! PostgreSQL's [`Usage`]: each number's recent catalogue services, read on the first hop of
//! a session (on the USSD pool, whose connections have it prepared), and the uses per service
//! and day, written behind the hop on the background pool.

use super::{PostgresStore, all};
use crate::BoxFuture;
use crate::store::{ServiceUse, StoreError, Usage};
use crate::types::Msisdn;

/// A number's recent services (prepared on every connection of the USSD pool when it is
/// warmed: a new session reads it).
pub(super) const RECENT: &str = "SELECT code FROM recent_services WHERE msisdn = $1 AND menu = $2 AND used_at >= $3 \
     ORDER BY used_at DESC, code LIMIT $4";

const NOTE_RECENT: &str = "INSERT INTO recent_services (msisdn, menu, code, used_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (msisdn, menu, code) DO UPDATE SET used_at = GREATEST(recent_services.used_at, excluded.used_at)";

const FORGET_EXPIRED: &str = "DELETE FROM recent_services WHERE msisdn = $1 AND menu = $2 AND used_at < $3";

const COUNT_USE: &str = "INSERT INTO service_uses (menu, day, code, count) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (menu, day, code) DO UPDATE SET count = service_uses.count + excluded.count";

const USES: &str =
    "SELECT code, SUM(count)::BIGINT FROM service_uses WHERE menu = $1 AND day >= $2 GROUP BY code ORDER BY code";

const EXPIRE: &str = "DELETE FROM recent_services WHERE menu = $1 AND used_at < $2";

const EXPIRE_OTHERS: &str = "DELETE FROM recent_services WHERE menu <> ALL($1::TEXT[])";

impl Usage for PostgresStore {
    fn note_uses(&self, uses: Vec<ServiceUse>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut client = self.background().await?;
            let tx = client.transaction().await?;
            let note = tx.prepare_cached(NOTE_RECENT).await?;
            let forget = tx.prepare_cached(FORGET_EXPIRED).await?;
            let count = tx.prepare_cached(COUNT_USE).await?;
            for used in &uses {
                let msisdn = used.msisdn.as_u64() as i64;
                let code = i64::from(used.code);
                if used.remember {
                    tx.execute(&note, &[&msisdn, &used.menu, &code, &used.at_ms]).await?;
                    tx.execute(&forget, &[&msisdn, &used.menu, &used.expired_before_ms]).await?;
                }
                tx.execute(&count, &[&used.menu, &used.day, &code, &used.times]).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn recent_services<'a>(
        &'a self,
        msisdn: Msisdn,
        menu: &'a str,
        since_ms: i64,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<u32>, StoreError>> {
        Box::pin(async move {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
                [&(msisdn.as_u64() as i64), &menu, &since_ms, &i64::from(limit)];
            let codes = all(&self.pool, RECENT, &params, |r| Ok(r.get::<_, i64>(0))).await?;
            Ok(codes.into_iter().filter_map(|c| u32::try_from(c).ok()).collect())
        })
    }

    fn service_uses<'a>(&'a self, menu: &'a str, from_day: i64) -> BoxFuture<'a, Result<Vec<(u32, i64)>, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let st = client.prepare_cached(USES).await?;
            let rows = client.query(&st, &[&menu, &from_day]).await?;
            Ok(rows
                .iter()
                .filter_map(|r| Some((u32::try_from(r.get::<_, i64>(0)).ok()?, r.get::<_, i64>(1))))
                .collect())
        })
    }

    fn expire_recent(&self, keep: Vec<(String, i64)>) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let menus: Vec<&str> = keep.iter().map(|(m, _)| m.as_str()).collect();
            let st = client.prepare_cached(EXPIRE_OTHERS).await?;
            let mut n = client.execute(&st, &[&menus]).await?;
            let st = client.prepare_cached(EXPIRE).await?;
            for (menu, before) in &keep {
                n += client.execute(&st, &[menu, before]).await?;
            }
            Ok(n)
        })
    }
}
