//! SQLite's [`Backlog`]: the queue's and the administrators' figures for `/metrics`, read in
//! one statement on the store thread (each part from an index, so a scrape never holds the
//! writer for a scan).

use super::{SqliteStore, all};
use crate::BoxFuture;
use crate::store::{BACKLOG_SQL, Backlog, BacklogFigures, StoreError, backlog_of};

impl Backlog for SqliteStore {
    fn backlog(&self) -> BoxFuture<'_, Result<BacklogFigures, StoreError>> {
        let clock = self.clock.clone();
        self.exec(move |t| {
            let rows = all(t, BACKLOG_SQL, [clock.now_ms()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            backlog_of(rows)
        })
    }
}
