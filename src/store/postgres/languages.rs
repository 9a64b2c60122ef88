//! PostgreSQL's [`Languages`]: read and written at once, so another instance answers the
//! next dial in the language chosen on this one.

use super::{PostgresStore, one};
use crate::BoxFuture;
use crate::store::{Languages, StoreError, now_ms};
use crate::types::{Locale, Msisdn};

/// A number's language (prepared on every connection of the USSD pool when it is warmed).
pub(super) const LANGUAGE: &str = "SELECT locale FROM profiles WHERE msisdn = $1";

/// Remembers a number's language (both when a hop chose it and when an SMS set it).
pub(super) const PROFILE_UPSERT: &str = "INSERT INTO profiles (msisdn, locale, updated_at) VALUES ($1, $2, $3) \
     ON CONFLICT (msisdn) DO UPDATE SET locale = excluded.locale, updated_at = excluded.updated_at";

impl Languages for PostgresStore {
    fn language(&self, msisdn: Msisdn) -> BoxFuture<'_, Result<Option<Locale>, StoreError>> {
        Box::pin(async move {
            let row =
                one(&self.pool, LANGUAGE, &[&(msisdn.as_u64() as i64)], |r| Ok(Locale::parse(r.get(0)).ok())).await?;
            Ok(row.flatten())
        })
    }

    fn set_language(&self, msisdn: Msisdn, locale: Locale) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let client = self.client().await?;
            let stmt = client.prepare_cached(PROFILE_UPSERT).await?;
            client.execute(&stmt, &[&(msisdn.as_u64() as i64), &locale.as_str(), &now_ms()]).await?;
            Ok(())
        })
    }
}
