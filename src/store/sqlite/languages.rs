//! SQLite's [`Languages`]: read from the in-memory index the store keeps of every profile,
//! written behind the hop (see the module note of [`super`]).

use super::{Command, LANGUAGE_CACHE_MAX, SqliteStore, one};
use crate::BoxFuture;
use crate::store::{Languages, StoreError};
use crate::types::{Locale, Msisdn};

impl Languages for SqliteStore {
    fn language(&self, msisdn: Msisdn) -> BoxFuture<'_, Result<Option<Locale>, StoreError>> {
        let known = self.languages.lock().ok().and_then(|m| match m.map.get(&msisdn.as_u64()) {
            Some(hit) => Some(hit.clone()),
            None if m.complete => Some(None),
            None => None,
        });
        if let Some(hit) = known {
            return Box::pin(async move { Ok(hit) });
        }
        let read = self.exec(move |t| {
            let l: Option<String> =
                one(t, "SELECT locale FROM profiles WHERE msisdn = ?1", [msisdn.as_u64() as i64], |r| r.get(0))?;
            Ok(l.and_then(|l| Locale::parse(&l).ok()))
        });
        Box::pin(async move {
            let l = read.await?;
            // Only fill a gap: a language set while this read was in flight must win.
            if let Ok(mut m) = self.languages.lock()
                && m.map.len() < LANGUAGE_CACHE_MAX
            {
                m.map.entry(msisdn.as_u64()).or_insert_with(|| l.clone());
            }
            Ok(l)
        })
    }

    fn set_language(&self, msisdn: Msisdn, locale: Locale) -> BoxFuture<'_, Result<(), StoreError>> {
        // Remembered at once, written with the next commit (see the module's note).
        self.remember_language(msisdn, Some(locale.clone()));
        let first = match self.pending.lock() {
            Ok(mut p) => {
                p.push((msisdn, locale));
                p.len() == 1
            }
            Err(_) => false,
        };
        // One wake-up per batch of choices, not one per choice.
        let sent = !first || self.tx.send(Command::Languages).is_ok();
        Box::pin(async move { if sent { Ok(()) } else { Err(StoreError::Unavailable("store thread stopped".into())) } })
    }
}
