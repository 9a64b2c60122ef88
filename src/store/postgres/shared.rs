//! PostgreSQL's [`Shared`]: provider tokens every instance shares (fetched by one instance at a
//! time, under an advisory lock) and the health probe.

use super::{PostgresStore, one};
use crate::BoxFuture;
use crate::store::{Fetched, Shared, StoreError, now_ms, reuse_or_fetch};

/// Shares a token (the newest wins).
const TOKEN_UPSERT: &str = "INSERT INTO shared_tokens (key, token, use_until, updated_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (key) DO UPDATE SET token = excluded.token, use_until = excluded.use_until, \
     updated_at = excluded.updated_at";

const TOKEN: &str = "SELECT token, use_until FROM shared_tokens WHERE key = $1";

impl Shared for PostgresStore {
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let client = self.client().await?;
            client.simple_query("SELECT 1").await?;
            Ok(())
        })
    }

    fn shared_token<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<(String, i64)>, StoreError>> {
        Box::pin(async move { one(&self.background, TOKEN, &[&key], |r| Ok((r.get(0), r.get(1)))).await })
    }

    fn put_shared_token<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        use_until_ms: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let client = self.background().await?;
            let stmt = client.prepare_cached(TOKEN_UPSERT).await?;
            client.execute(&stmt, &[&key, &token, &use_until_ms, &now_ms()]).await?;
            Ok(())
        })
    }

    fn token_or_fetch<'a>(
        &'a self,
        key: &'a str,
        now_ms: i64,
        refused: Option<&'a str>,
        fetch: BoxFuture<'a, Fetched>,
    ) -> BoxFuture<'a, Result<Fetched, StoreError>> {
        Box::pin(async move {
            let mut client = self.background().await?;
            let tx = client.transaction().await?;
            // Instances needing a token at once queue on this lock; the first fetches and
            // shares, the others find its token when their turn comes.
            tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&key]).await?;
            let current = tx.query_opt(TOKEN, &[&key]).await?.map(|r| (r.get(0), r.get(1)));
            reuse_or_fetch(current, now_ms, refused, fetch, |token, until| async move {
                tx.execute(TOKEN_UPSERT, &[&key, &token, &until, &now_ms]).await?;
                tx.commit().await?;
                Ok(())
            })
            .await
        })
    }
}
