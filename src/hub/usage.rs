//! How citizens' use of catalogue services feeds back into serving: search ranks equal matches
//! by the last [`RANK_DAYS`] days' uses (ranked when menus are served, at start and before a
//! reloaded set serves, and every [`EVERY`]), and each number's recent services are forgotten
//! once past the menu's `recent_days` (at start and every [`EVERY`]).

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

/// At once and then every [`EVERY`], ranks and expires on the hub `current` returns then (a
/// reload replaces it), until it returns none (the server is gone): an instance restarted
/// more often than hourly still forgets what expired.
pub fn spawn(current: impl Fn() -> Option<Arc<super::Hub>> + Send + 'static) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(hub) = current() else { return };
            let now = hub.config.clock.now_ms();
            rank(&*hub.store, &hub.menus, now).await;
            expire(&*hub.store, &hub.menus, now).await;
        }
    });
}
