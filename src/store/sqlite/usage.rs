//! SQLite's [`Usage`]: each number's recent catalogue services and the uses per service and
//! day, in the store thread's transactions like every other write.

use rusqlite::params;

use super::SqliteStore;
use crate::BoxFuture;
use crate::store::{ServiceUse, StoreError, Usage};
use crate::types::Msisdn;

impl Usage for SqliteStore {
    fn note_use(&self, used: ServiceUse) -> BoxFuture<'_, Result<(), StoreError>> {
        self.exec(move |t| {
            let msisdn = used.msisdn.as_u64() as i64;
            t.prepare_cached(
                "INSERT INTO recent_services (msisdn, menu, code, used_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (msisdn, menu, code) DO UPDATE SET used_at = max(used_at, excluded.used_at)",
            )?
            .execute(params![msisdn, used.menu, used.code, used.at_ms])?;
            t.prepare_cached("DELETE FROM recent_services WHERE msisdn = ?1 AND menu = ?2 AND used_at < ?3")?
                .execute(params![msisdn, used.menu, used.expired_before_ms])?;
            t.prepare_cached(
                "INSERT INTO service_uses (menu, day, code, count) VALUES (?1, ?2, ?3, 1) \
                 ON CONFLICT (menu, day, code) DO UPDATE SET count = count + 1",
            )?
            .execute(params![used.menu, used.day, used.code])?;
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
        let menu = menu.to_owned();
        self.exec(move |t| {
            let mut stmt = t.prepare_cached(
                "SELECT code FROM recent_services WHERE msisdn = ?1 AND menu = ?2 AND used_at >= ?3 \
                 ORDER BY used_at DESC, code LIMIT ?4",
            )?;
            let rows =
                stmt.query_map(params![msisdn.as_u64() as i64, menu, since_ms, limit], |r| r.get::<_, u32>(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn service_uses<'a>(&'a self, menu: &'a str, from_day: i64) -> BoxFuture<'a, Result<Vec<(u32, i64)>, StoreError>> {
        let menu = menu.to_owned();
        self.exec(move |t| {
            let mut stmt = t.prepare_cached(
                "SELECT code, SUM(count) FROM service_uses WHERE menu = ?1 AND day >= ?2 GROUP BY code ORDER BY code",
            )?;
            let rows = stmt.query_map(params![menu, from_day], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, i64>(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn expire_recent<'a>(&'a self, menu: &'a str, before_ms: i64) -> BoxFuture<'a, Result<u64, StoreError>> {
        let menu = menu.to_owned();
        self.exec(move |t| {
            let n = t
                .prepare_cached("DELETE FROM recent_services WHERE menu = ?1 AND used_at < ?2")?
                .execute(params![menu, before_ms])?;
            Ok(n as u64)
        })
    }
}
