//! SQLite's [`Stats`]: per-day totals of where citizens drop off, added to in the store
//! thread's transactions.

use rusqlite::params;

use super::SqliteStore;
use crate::BoxFuture;
use crate::store::{StatRow, Stats, StoreError};

impl Stats for SqliteStore {
    fn add_stats(&self, rows: Vec<StatRow>) -> BoxFuture<'_, Result<(), StoreError>> {
        self.exec(move |t| {
            let mut stmt = t.prepare_cached(
                "INSERT INTO screen_stats (menu, day, screen, shown, left_by, ended, failed, started, limited) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (menu, day, screen) DO UPDATE SET \
                 shown = shown + excluded.shown, left_by = left_by + excluded.left_by, ended = ended + excluded.ended, \
                 failed = failed + excluded.failed, started = started + excluded.started, \
                 limited = limited + excluded.limited",
            )?;
            for r in &rows {
                stmt.execute(params![
                    r.menu, r.day, r.screen, r.shown, r.left, r.ended, r.failed, r.started, r.limited
                ])?;
            }
            Ok(())
        })
    }

    fn stats<'a>(&'a self, menu: Option<&'a str>, from_day: i64) -> BoxFuture<'a, Result<Vec<StatRow>, StoreError>> {
        let menu = menu.map(str::to_owned);
        self.exec(move |t| {
            let mut stmt = t.prepare_cached(
                "SELECT menu, day, screen, shown, left_by, ended, failed, started, limited FROM screen_stats \
                 WHERE (?1 IS NULL OR menu = ?1) AND day >= ?2 ORDER BY menu, day, screen",
            )?;
            let rows = stmt.query_map(params![menu, from_day], |r| {
                Ok(StatRow {
                    menu: r.get(0)?,
                    day: r.get(1)?,
                    screen: r.get(2)?,
                    shown: r.get(3)?,
                    left: r.get(4)?,
                    ended: r.get(5)?,
                    failed: r.get(6)?,
                    started: r.get(7)?,
                    limited: r.get(8)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}
