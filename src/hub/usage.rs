//! How citizens' use of catalogue services feeds back into serving: search ranks equal matches
//! by the last [`RANK_DAYS`] days' uses (ranked when menus are served, at start and before a
//! reloaded set serves, and every [`EVERY`]), and each number's recent services are forgotten
//! once past the menu's `recent_days` (when serving starts and every [`EVERY`]); both run from
//! [`super::maintain`].

use std::sync::Mutex;
use std::time::Duration;

use crate::engine::Served;
use crate::menu::MenuSet;
use crate::store::{ServiceUse, Store};
use crate::types::Msisdn;

/// Days of uses that rank search ties: recent enough to follow the season (school fees in
/// January, land rates in the first quarter), long enough that one day's spike does not.
pub const RANK_DAYS: i64 = 30;

/// How often the ranking is refreshed and expired recent services are forgotten.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Ranks each catalogue menu's search ties by its services' uses. A store that cannot answer
/// leaves the ranking as it was (a worse order, never a failed search).
pub async fn rank(store: &dyn Store, menus: &MenuSet<Served>, now_ms: i64) {
    let from_day = crate::clock::eat_day(now_ms) - (RANK_DAYS - 1);
    for menu in menus.menus.iter().filter(|m| m.catalogue.is_some()) {
        match store.service_uses(&menu.id, from_day).await {
            Ok(uses) => menu.rank_by_use(&uses),
            Err(e) => tracing::warn!(menu = %menu.id, error = %e, "cannot read service uses; search ranks as before"),
        }
    }
}

/// Forgets every number's recent services that expired, and all those of menus that are not
/// served or offer none.
pub async fn expire(store: &dyn Store, menus: &MenuSet<Served>, now_ms: i64) {
    let keep: Vec<(String, i64)> = menus
        .menus
        .iter()
        .filter_map(|m| {
            let c = m.catalogue.as_deref().filter(|c| c.recent.count > 0)?;
            Some((m.id.clone(), c.recent.expired_before_ms(now_ms)))
        })
        .collect();
    match store.expire_recent(keep).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(forgotten = n, "expired recent services forgotten"),
        Err(e) => tracing::warn!(error = %e, "cannot forget expired recent services"),
    }
}

/// Most uses kept waiting for a flush: past this (a store that cannot be written for long)
/// those waiting are dropped, and the log says so.
const PENDING_MAX: usize = 100_000;

/// Services used and not yet written, by number: a completed service costs an entry here, and
/// [`flush`] writes them together (one transaction) every few seconds. By number, because a
/// plain dial asks for its number's, and under load thousands wait between two flushes.
#[derive(Debug, Default)]
pub struct Pending(Mutex<PendingUses>);

#[derive(Debug, Default)]
struct PendingUses {
    by_number: hashbrown::HashMap<u64, Vec<ServiceUse>>,
    len: usize,
}

impl Pending {
    pub fn push(&self, used: ServiceUse) {
        let Ok(mut p) = self.0.lock() else { return };
        if p.len >= PENDING_MAX {
            // A store that cannot be written for long: start again rather than grow for ever.
            tracing::warn!(dropped = p.len, "service uses waited too long to be written; dropped");
            p.by_number.clear();
            p.len = 0;
        }
        // The same service again (a script, or a citizen checking a status twice) adds to its
        // entry: a number's entries stay as few as the services it used that day.
        let uses = p.by_number.entry(used.msisdn.as_u64()).or_default();
        match uses.iter_mut().find(|u| u.menu == used.menu && u.code == used.code && u.day == used.day) {
            Some(u) => {
                u.times += used.times;
                u.at_ms = u.at_ms.max(used.at_ms);
                u.expired_before_ms = u.expired_before_ms.max(used.expired_before_ms);
                u.remember |= used.remember;
            }
            None => {
                uses.push(used);
                p.len += 1;
            }
        }
    }

    /// The number's `limit` most recent services of `menu` used at or after `since` and not
    /// written yet, the most recent first.
    pub fn recent(&self, msisdn: Msisdn, menu: &str, since: i64, limit: usize) -> Vec<u32> {
        let Ok(p) = self.0.lock() else { return Vec::new() };
        let Some(uses) = p.by_number.get(&msisdn.as_u64()) else { return Vec::new() };
        let found = uses.iter().filter(|u| u.remember && u.at_ms >= since && u.menu == menu).map(|u| (u.at_ms, u.code));
        crate::store::most_recent(found, limit)
    }

    fn take(&self) -> Vec<ServiceUse> {
        let Ok(mut p) = self.0.lock() else { return Vec::new() };
        p.len = 0;
        std::mem::take(&mut p.by_number).into_values().flatten().collect()
    }
}

/// Writes the uses the hub has kept since the last flush, in one transaction. Ones that cannot
/// be written are put back for the next flush.
pub async fn flush(hub: &super::Hub) {
    let uses = hub.config.uses.take();
    if uses.is_empty() {
        return;
    }
    if let Err(e) = hub.store.note_uses(uses.clone()).await {
        tracing::warn!(error = %e, uses = uses.len(), "service uses not written; kept for the next flush");
        for u in uses {
            hub.config.uses.push(u);
        }
    }
}
