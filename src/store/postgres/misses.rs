//! PostgreSQL's [`Misses`]: search terms that found nothing, counted per day by every instance.

use super::PostgresStore;
use crate::BoxFuture;
use crate::store::{Miss, Misses, StoreError};

const COUNT: &str = "INSERT INTO search_misses (day, term, count) VALUES ($1, $2, 1) \
     ON CONFLICT (day, term) DO UPDATE SET count = search_misses.count + 1";

const LIST: &str = "SELECT day, term, count FROM search_misses WHERE day >= $1 ORDER BY count DESC, day DESC, term";

impl Misses for PostgresStore {
    fn count_miss<'a>(&'a self, day: i64, term: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let stmt = client.prepare_cached(COUNT).await?;
            client.execute(&stmt, &[&day, &term]).await?;
            Ok(())
        })
    }

    fn misses(&self, from_day: i64) -> BoxFuture<'_, Result<Vec<Miss>, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let stmt = client.prepare_cached(LIST).await?;
            let rows = client.query(&stmt, &[&from_day]).await?;
            Ok(rows.iter().map(|r| Miss { day: r.get(0), term: r.get(1), count: r.get(2) }).collect())
        })
    }
}
