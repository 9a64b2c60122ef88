//! SQLite's [`Usage`]: each number's recent catalogue services and the uses per service and
//! day. Recent services are also kept in memory ([`RecentIndex`], loaded when the store opens
//! and written through), so a plain dial never waits on the store thread to learn them, as a
//! language is never waited for (see the module note of [`super`]).

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{Connection, params};

use super::SqliteStore;
use crate::BoxFuture;
use crate::store::{ServiceUse, StoreError, Usage};
use crate::types::Msisdn;

/// Most phone numbers whose recent services are kept in memory (a few dozen bytes each).
const RECENT_CACHE_MAX: usize = 1_000_000;

/// Every number's recent services by number: `(menu, code, used_at)`. Coherent because this
/// store is the only writer of its file. Up to [`RECENT_CACHE_MAX`] numbers it holds every
/// row, so a number it lacks has none; past that it becomes a cache, misses read from disk.
#[derive(Debug, Default)]
pub(super) struct RecentIndex {
    map: HashMap<u64, Vec<(Arc<str>, u32, i64)>>,
    complete: bool,
    /// One allocation per menu id, shared by every entry.
    menus: Vec<Arc<str>>,
}

impl RecentIndex {
    fn menu(&mut self, menu: &str) -> Arc<str> {
        match self.menus.iter().find(|m| &***m == menu) {
            Some(m) => Arc::clone(m),
            None => {
                let m: Arc<str> = Arc::from(menu);
                self.menus.push(Arc::clone(&m));
                m
            }
        }
    }

    fn note(&mut self, msisdn: u64, menu: &str, code: u32, at: i64, expired_before: i64) {
        if self.map.len() >= RECENT_CACHE_MAX && !self.map.contains_key(&msisdn) {
            self.map.clear();
            self.complete = false;
        }
        let menu = self.menu(menu);
        let rows = self.map.entry(msisdn).or_default();
        rows.retain(|(m, c, used)| !(*m == menu && (*c == code || *used < expired_before)));
        rows.push((menu, code, at));
    }

    /// The number's codes of `menu` used at or after `since`, most recent first; `None` when
    /// the index cannot say (a cache miss past [`RECENT_CACHE_MAX`]).
    fn recent(&self, msisdn: u64, menu: &str, since: i64, limit: u32) -> Option<Vec<u32>> {
        let Some(rows) = self.map.get(&msisdn) else { return self.complete.then(Vec::new) };
        // As the query orders them: the most recent first, then by code.
        let found = rows.iter().filter(|(m, _, used)| &**m == menu && *used >= since).map(|(_, c, used)| (*used, *c));
        Some(crate::store::most_recent(found, limit as usize))
    }

    /// Forgets every use before `cutoff` (a retention purge deleted their rows).
    pub(super) fn forget_before(&mut self, cutoff: i64) {
        self.map.retain(|_, rows| {
            rows.retain(|(_, _, used)| *used >= cutoff);
            !rows.is_empty()
        });
    }

    fn expire(&mut self, keep: &[(String, i64)]) {
        self.map.retain(|_, rows| {
            rows.retain(|(m, _, used)| keep.iter().any(|(k, before)| **k == **m && *used >= *before));
            !rows.is_empty()
        });
    }
}

/// Every recent service, when there are at most [`RECENT_CACHE_MAX`] numbers; else none.
pub(super) fn load_recent(conn: &Connection) -> Result<RecentIndex, StoreError> {
    let numbers: i64 = conn.query_row("SELECT count(DISTINCT msisdn) FROM recent_services", [], |r| r.get(0))?;
    let mut index = RecentIndex::default();
    if numbers as usize > RECENT_CACHE_MAX {
        return Ok(index);
    }
    let mut st = conn.prepare("SELECT msisdn, menu, code, used_at FROM recent_services")?;
    let mut rows = st.query([])?;
    while let Some(row) = rows.next()? {
        let (msisdn, menu, code, used): (i64, String, u32, i64) = (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
        let menu = index.menu(&menu);
        index.map.entry(msisdn as u64).or_default().push((menu, code, used));
    }
    index.complete = true;
    Ok(index)
}

impl Usage for SqliteStore {
    fn note_uses(&self, uses: Vec<ServiceUse>) -> BoxFuture<'_, Result<(), StoreError>> {
        if let Ok(mut index) = self.recent.lock() {
            for u in uses.iter().filter(|u| u.remember) {
                index.note(u.msisdn.as_u64(), &u.menu, u.code, u.at_ms, u.expired_before_ms);
            }
        }
        self.exec(move |t| {
            for used in &uses {
                if used.remember {
                    let msisdn = used.msisdn.as_u64() as i64;
                    t.prepare_cached(
                        "INSERT INTO recent_services (msisdn, menu, code, used_at) VALUES (?1, ?2, ?3, ?4) \
                         ON CONFLICT (msisdn, menu, code) DO UPDATE SET used_at = max(used_at, excluded.used_at)",
                    )?
                    .execute(params![msisdn, used.menu, used.code, used.at_ms])?;
                    t.prepare_cached("DELETE FROM recent_services WHERE msisdn = ?1 AND menu = ?2 AND used_at < ?3")?
                        .execute(params![msisdn, used.menu, used.expired_before_ms])?;
                }
                t.prepare_cached(
                    "INSERT INTO service_uses (menu, day, code, count) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (menu, day, code) DO UPDATE SET count = count + excluded.count",
                )?
                .execute(params![used.menu, used.day, used.code, used.times])?;
            }
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
        let known = self.recent.lock().ok().and_then(|i| i.recent(msisdn.as_u64(), menu, since_ms, limit));
        if let Some(codes) = known {
            return Box::pin(async move { Ok(codes) });
        }
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

    fn expire_recent(&self, keep: Vec<(String, i64)>) -> BoxFuture<'_, Result<u64, StoreError>> {
        if let Ok(mut index) = self.recent.lock() {
            index.expire(&keep);
        }
        self.exec(move |t| {
            let menus: Vec<&str> = keep.iter().map(|(m, _)| m.as_str()).collect();
            let menus = serde_json::to_string(&menus).unwrap_or_else(|_| "[]".into());
            let mut n = t
                .prepare_cached("DELETE FROM recent_services WHERE menu NOT IN (SELECT value FROM json_each(?1))")?
                .execute([menus])?;
            let mut st = t.prepare_cached("DELETE FROM recent_services WHERE menu = ?1 AND used_at < ?2")?;
            for (menu, before) in &keep {
                n += st.execute(params![menu, before])?;
            }
            Ok(n as u64)
        })
    }
}
