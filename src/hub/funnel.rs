//! Where citizens drop off, counted on the hop: per menu version and screen, how often it was
//! shown, left by an input, ended on, and how often its lookup failed; per menu, sessions
//! started and hops over the rate limit. A hop adds to a few atomic counters the menu version
//! owns (no allocation, no lock held but a read lock to find them); [`Funnel::drain`] takes the
//! totals every [`FLUSH_EVERY`] and the store adds them to the day's rows
//! ([`crate::store::Stats`]). No phone number is counted or kept.
//!
//! A session that was shown a screen and neither went on from it nor ended there was
//! abandoned on it (the citizen hung up, the network dropped it, or it timed out): that is
//! `shown - left - ended`, which the report computes, so nothing has to notice a session's
//! silent end.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::menu::{Menu, ScreenId};
use crate::store::StatRow;

/// How often the totals are written: a crash loses at most this much counting.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);

/// What a hop can count on a screen.
#[derive(Clone, Copy, Debug)]
pub enum Event {
    Shown,
    Left,
    Ended,
    Failed,
}

/// The counters of one screen.
#[derive(Debug, Default)]
struct ScreenCounts {
    shown: AtomicU64,
    left: AtomicU64,
    ended: AtomicU64,
    failed: AtomicU64,
}

/// The counters of one menu version, with the names its screens are written under.
#[derive(Debug)]
struct Counts {
    menu: String,
    names: Vec<String>,
    screens: Vec<ScreenCounts>,
    started: AtomicU64,
    limited: AtomicU64,
}

/// Every menu version's counters, by version. hashbrown's default hasher (foldhash) because
/// the lookup runs twice a hop and SipHash would be most of its cost.
#[derive(Debug, Default)]
pub struct Funnel {
    by_version: RwLock<hashbrown::HashMap<u64, Counts>>,
}

impl Funnel {
    /// Runs `f` on `menu`'s counters, creating them on the version's first hop.
    fn with(&self, menu: &Menu, f: impl FnOnce(&Counts)) {
        if let Ok(map) = self.by_version.read()
            && let Some(c) = map.get(&menu.version)
        {
            f(c);
            return;
        }
        let Ok(mut map) = self.by_version.write() else { return };
        let c = map.entry(menu.version).or_insert_with(|| Counts {
            menu: menu.id.clone(),
            names: menu.screens.iter().map(|s| s.name.clone()).collect(),
            screens: menu.screens.iter().map(|_| ScreenCounts::default()).collect(),
            started: AtomicU64::new(0),
            limited: AtomicU64::new(0),
        });
        f(c);
    }

    /// Counts `event` on `screen` of `menu`.
    pub fn screen(&self, menu: &Menu, screen: ScreenId, event: Event) {
        self.with(menu, |c| {
            if let Some(s) = c.screens.get(usize::from(screen.0)) {
                let counter = match event {
                    Event::Shown => &s.shown,
                    Event::Left => &s.left,
                    Event::Ended => &s.ended,
                    Event::Failed => &s.failed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    /// Counts a session started on `menu`.
    pub fn started(&self, menu: &Menu) {
        self.with(menu, |c| {
            c.started.fetch_add(1, Ordering::Relaxed);
        });
    }

    /// Counts a hop for `menu` refused by the rate limits.
    pub fn limited(&self, menu: &Menu) {
        self.with(menu, |c| {
            c.limited.fetch_add(1, Ordering::Relaxed);
        });
    }

    /// Takes every total counted since the last drain, as `day`'s rows (screens with nothing
    /// counted are left out), and forgets the versions not in `live` once drained.
    pub fn drain(&self, day: i64, live: &[u64]) -> Vec<StatRow> {
        let Ok(mut map) = self.by_version.write() else { return Vec::new() };
        let mut rows: Vec<StatRow> = Vec::new();
        for c in map.values() {
            let take = |a: &AtomicU64| a.swap(0, Ordering::Relaxed) as i64;
            let (started, limited) = (take(&c.started), take(&c.limited));
            if started + limited > 0 {
                rows.push(StatRow { menu: c.menu.clone(), day, started, limited, ..StatRow::default() });
            }
            for (name, s) in c.names.iter().zip(&c.screens) {
                let row = StatRow {
                    menu: c.menu.clone(),
                    day,
                    screen: name.clone(),
                    shown: take(&s.shown),
                    left: take(&s.left),
                    ended: take(&s.ended),
                    failed: take(&s.failed),
                    ..StatRow::default()
                };
                if row.shown + row.left + row.ended + row.failed > 0 {
                    rows.push(row);
                }
            }
        }
        map.retain(|version, _| live.contains(version));
        // Two versions of one menu (before and after a reload) add to the same rows.
        let mut merged: Vec<StatRow> = Vec::with_capacity(rows.len());
        rows.sort_by(|a, b| (&a.menu, &a.screen).cmp(&(&b.menu, &b.screen)));
        for r in rows {
            match merged.last_mut() {
                Some(m) if m.menu == r.menu && m.screen == r.screen => {
                    m.shown += r.shown;
                    m.left += r.left;
                    m.ended += r.ended;
                    m.failed += r.failed;
                    m.started += r.started;
                    m.limited += r.limited;
                }
                _ => merged.push(r),
            }
        }
        merged
    }
}

/// Writes what the hub counted since the last flush.
pub async fn flush(hub: &super::Hub) {
    let day = crate::clock::eat_day(hub.config.clock.now_ms());
    let live: Vec<u64> =
        hub.menus.menus.iter().map(|m| m.version).chain(hub.retired.iter().map(|r| r.menu.version)).collect();
    let rows = hub.config.funnel.drain(day, &live);
    if rows.is_empty() {
        return;
    }
    if let Err(e) = hub.store.add_stats(rows).await {
        tracing::warn!(error = %e, "drop-off figures of the last seconds were not written");
    }
}
