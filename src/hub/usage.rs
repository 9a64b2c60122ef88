//! How citizens' use of catalogue services feeds back into serving: search ranks equal matches
//! by the last [`RANK_DAYS`] days' uses, and each number's recent services expire after the
//! menu's `recent_days`. Both run when menus are served (at start and on every reload) and
//! every [`EVERY`] after.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::Served;
use crate::menu::MenuSet;
use crate::store::Store;

/// Days of uses that rank search ties: recent enough to follow the season (school fees in
/// January, land rates in the first quarter), long enough that one day's spike does not.
pub const RANK_DAYS: i64 = 30;

/// How often the ranking is refreshed and expired recent services are forgotten.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Ranks each catalogue menu's search ties by its services' uses. A store that cannot answer
/// leaves the ranking as it was (a worse order, never a failed search).
pub async fn rank(store: &dyn Store, menus: &MenuSet<Served>, now_ms: i64) {
    let from_day = crate::clock::eat_day(now_ms) - RANK_DAYS;
    for menu in menus.menus.iter().filter(|m| m.catalogue.is_some()) {
        match store.service_uses(&menu.id, from_day).await {
            Ok(uses) => menu.rank_by_use(&uses),
            Err(e) => tracing::warn!(menu = %menu.id, error = %e, "cannot read service uses; search ranks as before"),
        }
    }
}

/// Forgets every number's recent services that expired, menu by menu.
pub async fn expire(store: &dyn Store, menus: &MenuSet<Served>, now_ms: i64) {
    for menu in menus.menus.iter() {
        let Some(c) = menu.catalogue.as_deref() else { continue };
        match store.expire_recent(&menu.id, c.recent.expired_before_ms(now_ms)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(menu = %menu.id, forgotten = n, "expired recent services forgotten"),
            Err(e) => tracing::warn!(menu = %menu.id, error = %e, "cannot forget expired recent services"),
        }
    }
}

/// Every [`EVERY`], ranks and expires on the hub `current` returns then (a reload replaces
/// it), until it returns none (the server is gone). The first round is one period after the
/// start: serving ranked already.
pub fn spawn(current: impl Fn() -> Option<Arc<super::Hub>> + Send + 'static) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(hub) = current() else { return };
            let now = hub.config.clock.now_ms();
            rank(&*hub.store, &hub.menus, now).await;
            expire(&*hub.store, &hub.menus, now).await;
        }
    });
}
