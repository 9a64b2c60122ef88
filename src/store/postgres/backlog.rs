//! PostgreSQL's [`Backlog`]: the queue's and the administrators' figures for `/metrics`, read
//! in one statement on the background pool (a scrape never takes a connection a hop waits
//! for). With several instances each reports the same shared figures.

use super::PostgresStore;
use crate::BoxFuture;
use crate::store::{BACKLOG_SQL, Backlog, BacklogFigures, StoreError, backlog_of};

impl Backlog for PostgresStore {
    fn backlog(&self) -> BoxFuture<'_, Result<BacklogFigures, StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let st = client.prepare_cached(BACKLOG_SQL).await?;
            let rows = client.query(&st, &[&self.clock.now_ms()]).await?;
            backlog_of(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))))
        })
    }
}
