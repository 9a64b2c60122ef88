//! SQLite's [`Shared`]: provider tokens (one process owns the file, so the default
//! `token_or_fetch` needs no lock) and the health probe.

use rusqlite::params;

use super::{SqliteStore, one};
use crate::BoxFuture;
use crate::store::{Shared, StoreError, now_ms};

impl Shared for SqliteStore {
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        self.exec(|t| {
            one(t, "SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
    }

    fn shared_token<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<(String, i64)>, StoreError>> {
        let key = key.to_owned();
        self.exec(move |t| {
            one(t, "SELECT token, use_until FROM shared_tokens WHERE key = ?1", [key], |r| Ok((r.get(0)?, r.get(1)?)))
        })
    }

    fn put_shared_token<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        use_until_ms: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let (key, token) = (key.to_owned(), token.to_owned());
        self.exec(move |t| {
            t.prepare_cached(
                "INSERT INTO shared_tokens (key, token, use_until, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (key) DO UPDATE SET token = excluded.token, use_until = excluded.use_until, \
                 updated_at = excluded.updated_at",
            )?
            .execute(params![key, token, use_until_ms, now_ms()])?;
            Ok(())
        })
    }
}
