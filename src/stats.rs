//! `njia stats`: where citizens drop off, from the per-day totals the server keeps
//! ([`crate::store::Stats`]), read against the menus on disk: per screen, how often it was
//! shown, left, ended on and abandoned, and its lookup failures; per catalogue service, how many
//! entered it and how many finished it; per day, sessions started and completed.
//!
//! Abandoned is what was shown and neither left by an input nor ended on: the citizen hung
//! up, the network dropped the session, or it timed out. Completed is a session that ended on
//! an END or a submit's receipt; an apology's END is an end too, but not a completion.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::menu::{Kind, Menu};
use crate::store::{StatRow, Store, StoreError};

/// One screen's totals over the days asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScreenFigures {
    pub screen: String,
    pub shown: i64,
    pub left: i64,
    pub ended: i64,
    pub abandoned: i64,
    pub failed: i64,
}

/// One catalogue service: sessions that entered it and those that finished it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ServiceFigures {
    pub code: u32,
    pub id: String,
    pub entered: i64,
    pub completed: i64,
}

/// One day's sessions of a menu.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DayFigures {
    pub day: String,
    pub started: i64,
    pub completed: i64,
    pub limited: i64,
}

/// A menu's figures over the days asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Figures {
    pub menu: String,
    pub days: Vec<DayFigures>,
    pub screens: Vec<ScreenFigures>,
    pub services: Vec<ServiceFigures>,
}

/// Reads `menu`'s rows from `from_day` on and sums them, knowing the menu's screens (which end
/// a flow, which service each belongs to) from `m`. Rows of screens the menu no longer has are
/// kept by name.
pub async fn figures(store: &dyn Store, m: &Menu, from_day: i64) -> Result<Figures, StoreError> {
    Ok(sum(m, &store.stats(Some(&m.id), from_day).await?))
}

/// Sums `rows` of menu `m` (see [`figures`]).
pub fn sum(m: &Menu, rows: &[StatRow]) -> Figures {
    let by_name: std::collections::HashMap<&str, usize> =
        m.screens.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    let completes =
        |name: &str| by_name.get(name).is_some_and(|&i| matches!(m.screens[i].kind, Kind::End | Kind::Submit(_)));
    let mut days: BTreeMap<i64, DayFigures> = BTreeMap::new();
    let mut screens: BTreeMap<&str, ScreenFigures> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.menu == m.id) {
        let day = days.entry(r.day).or_insert_with(|| DayFigures { day: date(r.day), ..DayFigures::default() });
        day.started += r.started;
        day.limited += r.limited;
        if r.screen.is_empty() {
            continue;
        }
        if completes(&r.screen) {
            day.completed += r.ended;
        }
        let s = screens
            .entry(&r.screen)
            .or_insert_with(|| ScreenFigures { screen: r.screen.clone(), ..Default::default() });
        s.shown += r.shown;
        s.left += r.left;
        s.ended += r.ended;
        s.failed += r.failed;
    }
    let mut screens: Vec<ScreenFigures> = screens.into_values().collect();
    for s in &mut screens {
        s.abandoned = (s.shown - s.left).max(0);
    }
    // In the menu's order, screens it no longer has last.
    screens.sort_by_key(|s| by_name.get(s.screen.as_str()).copied().unwrap_or(usize::MAX));
    let mut services = Vec::new();
    if let Some(c) = m.catalogue.as_deref() {
        // One pass over the screens counted: a service is entered on its entry screen and
        // completed on a screen within its flow that ends one.
        let mut by_service: Vec<ServiceFigures> = c
            .services
            .iter()
            .map(|service| ServiceFigures { code: service.code, id: service.id.clone(), ..Default::default() })
            .collect();
        for s in &screens {
            let Some(&at) = by_name.get(s.screen.as_str()) else { continue };
            let screen = &m.screens[at];
            if let Some(f) = screen.service.and_then(|i| by_service.get_mut(usize::from(i))) {
                f.entered += s.shown + s.ended;
            }
            if completes(&s.screen)
                && let Some(f) = screen.within.and_then(|i| by_service.get_mut(usize::from(i)))
            {
                f.completed += s.ended;
            }
        }
        services = by_service.into_iter().filter(|f| f.entered > 0).collect();
        services.sort_by(|a, b| b.entered.cmp(&a.entered).then(a.code.cmp(&b.code)));
    }
    Figures { menu: m.id.clone(), days: days.into_values().collect(), screens, services }
}

/// A Kenyan day number as its date, `2026-12-05`.
fn date(day: i64) -> String {
    crate::clock::format_day(day)
}

fn percent(part: i64, whole: i64) -> String {
    if whole == 0 { "-".to_owned() } else { format!("{}%", (part * 100 + whole / 2) / whole) }
}

/// The figures as `njia stats` prints them.
pub fn text(f: &Figures) -> String {
    let mut out = String::new();
    let started: i64 = f.days.iter().map(|d| d.started).sum();
    let completed: i64 = f.days.iter().map(|d| d.completed).sum();
    let limited: i64 = f.days.iter().map(|d| d.limited).sum();
    let _ = writeln!(
        out,
        "menu {}: {started} sessions started, {completed} completed ({}), {limited} hops over the rate limit",
        f.menu,
        percent(completed, started)
    );
    let _ = writeln!(out, "\nDAY         STARTED  COMPLETED  LIMITED");
    for d in &f.days {
        let _ = writeln!(out, "{:<10}  {:>7}  {:>9}  {:>7}", d.day, d.started, d.completed, d.limited);
    }
    let _ = writeln!(out, "\nSCREEN                              SHOWN   LEFT  ENDED  ABANDONED  LOOKUP FAILED");
    for s in &f.screens {
        let _ = writeln!(
            out,
            "{:<34}  {:>5}  {:>5}  {:>5}  {:>9}  {:>13}",
            s.screen, s.shown, s.left, s.ended, s.abandoned, s.failed
        );
    }
    if !f.services.is_empty() {
        let _ = writeln!(out, "\nSERVICE                                ENTERED  COMPLETED");
        for s in &f.services {
            let _ = writeln!(
                out,
                "{:<5}  {:<31}  {:>7}  {:>9} ({})",
                s.code,
                s.id,
                s.entered,
                s.completed,
                percent(s.completed, s.entered)
            );
        }
    }
    out
}
