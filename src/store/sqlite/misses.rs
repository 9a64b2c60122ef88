//! SQLite's [`Misses`]: search terms that found nothing, counted per day.

use rusqlite::params;

use super::SqliteStore;
use crate::BoxFuture;
use crate::store::{Miss, Misses, StoreError};

impl Misses for SqliteStore {
    fn count_miss<'a>(&'a self, day: i64, term: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let term = term.to_owned();
        self.exec(move |t| {
            t.prepare_cached(
                "INSERT INTO search_misses (day, term, count) VALUES (?1, ?2, 1) \
                 ON CONFLICT (day, term) DO UPDATE SET count = count + 1",
            )?
            .execute(params![day, term])?;
            Ok(())
        })
    }

    fn misses(&self, from_day: i64) -> BoxFuture<'_, Result<Vec<Miss>, StoreError>> {
        self.exec(move |t| {
            let mut stmt = t.prepare_cached(
                "SELECT day, term, count FROM search_misses WHERE day >= ?1 ORDER BY count DESC, day DESC, term",
            )?;
            let rows =
                stmt.query_map([from_day], |r| Ok(Miss { day: r.get(0)?, term: r.get(1)?, count: r.get(2)? }))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}
