//! PostgreSQL's [`Stats`]: per-day totals of where citizens drop off, added to by every
//! instance on the background pool.

use super::PostgresStore;
use crate::BoxFuture;
use crate::store::{StatRow, Stats, StoreError};

const ADD: &str = "INSERT INTO screen_stats (menu, day, screen, shown, left_by, ended, failed, started, limited) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (menu, day, screen) DO UPDATE SET \
     shown = screen_stats.shown + excluded.shown, left_by = screen_stats.left_by + excluded.left_by, \
     ended = screen_stats.ended + excluded.ended, failed = screen_stats.failed + excluded.failed, \
     started = screen_stats.started + excluded.started, limited = screen_stats.limited + excluded.limited";

const LIST: &str = "SELECT menu, day, screen, shown, left_by, ended, failed, started, limited FROM screen_stats \
     WHERE ($1::TEXT IS NULL OR menu = $1) AND day >= $2 ORDER BY menu, day, screen";

impl Stats for PostgresStore {
    fn add_stats(&self, rows: Vec<StatRow>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut client = self.background().await?;
            let tx = client.transaction().await?;
            let st = tx.prepare_cached(ADD).await?;
            for r in &rows {
                tx.execute(
                    &st,
                    &[&r.menu, &r.day, &r.screen, &r.shown, &r.left, &r.ended, &r.failed, &r.started, &r.limited],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn stats<'a>(&'a self, menu: Option<&'a str>, from_day: i64) -> BoxFuture<'a, Result<Vec<StatRow>, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let st = client.prepare_cached(LIST).await?;
            let rows = client.query(&st, &[&menu, &from_day]).await?;
            Ok(rows
                .iter()
                .map(|r| StatRow {
                    menu: r.get(0),
                    day: r.get(1),
                    screen: r.get(2),
                    shown: r.get(3),
                    left: r.get(4),
                    ended: r.get(5),
                    failed: r.get(6),
                    started: r.get(7),
                    limited: r.get(8),
                })
                .collect())
        })
    }
}
