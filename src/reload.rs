//! Safe reload of menus and locales, on SIGHUP or `POST /admin/reload`: the new set is loaded
//! and checked with exactly the rules of `njia check` (at every channel's limit) and swapped in
//! atomically only when it is clean; otherwise the old set keeps serving and the problems are
//! logged and returned. Live sessions finish on the menu version they started with: the menus
//! a reload replaces stay reachable, with the catalog they were checked with, for
//! [`RETIRED_TTL`].
//!
//! This module owns what a reload replaces ([`Live`]); the server holds one and lends it to
//! the operations endpoints and the SIGHUP handler, so a reload needs nothing of the server.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::agency::Agencies;
use crate::channel::Channels;
use crate::check::{self, Loaded, ScreenLimit};
use crate::diag::Problem;
use crate::engine::Served;
use crate::hub::{Hub, Retired};
use crate::i18n::Catalog;
use crate::lookup::DataFiles;
use crate::menu::{Kind, Menu, MenuSet};
use crate::types::Locale;

/// The value type behind every reloadable piece; it lives at the bottom of the layers so the
/// readers (`lookup`, `handoff`) need not import this module. Re-exported for the callers
/// that know it by this path.
pub use crate::shared::Shared;

/// How long a replaced menu version stays reachable for the sessions that started on it:
/// well past a session's life and the resume window.
pub const RETIRED_TTL: Duration = Duration::from_secs(30 * 60);

/// What a reload replaces, read by every request: the hub in service and, swapped with it,
/// the catalog and sender ids the dispatcher writes receipts with and the lookup data files;
/// and where a new set is loaded from.
pub struct Live {
    /// The hub in service; a reload replaces it whole.
    hub: Shared<Hub>,
    /// Where menus and locales are reloaded from, and the rules they must pass.
    pub source: Source,
    /// The catalog the dispatcher writes receipts with.
    pub sms_catalog: SharedCatalog,
    /// The sender id of each menu with its own, for the dispatcher's receipts.
    pub senders: Arc<Shared<HashMap<String, String>>>,
    /// The lookup data files answering lookups, checked with the menus.
    pub lookup_files: Arc<Shared<DataFiles>>,
    /// The agency backends, whose catalogue routes a reload replaces (and whose coverage of
    /// every service it checks outside sandbox mode).
    pub agencies: Option<Arc<Agencies>>,
}

impl Live {
    /// The set in service at start: `hub` with the pieces the server shared with the
    /// dispatcher and the lookups when it built them.
    pub fn new(
        hub: Arc<Hub>,
        source: Source,
        sms_catalog: SharedCatalog,
        senders: Arc<Shared<HashMap<String, String>>>,
        lookup_files: Arc<Shared<DataFiles>>,
    ) -> Live {
        Live { hub: Shared::new(hub), source, sms_catalog, senders, lookup_files, agencies: None }
    }

    /// With the agency backends whose catalogue routes a reload replaces.
    pub fn with_agencies(self, agencies: Arc<Agencies>) -> Live {
        Live { agencies: Some(agencies), ..self }
    }

    /// The hub in service. Handlers take it once per request, so a request runs entirely on
    /// one menu set even when a reload lands meanwhile.
    pub fn hub(&self) -> Arc<Hub> {
        self.hub.load()
    }
}

/// The sender id of each menu that names one.
pub fn menu_senders(menus: &MenuSet) -> HashMap<String, String> {
    menus.menus.iter().filter_map(|m| Some((m.id.clone(), m.sms_sender.clone()?))).collect()
}

/// Each catalogue service's agency: where `[backends.*] agencies = [...]` delivers it.
pub fn service_agencies(menus: &MenuSet) -> HashMap<String, String> {
    menus
        .menus
        .iter()
        .filter_map(|m| m.catalogue.as_deref())
        .flat_map(|c| c.services.iter().map(|s| (s.id.clone(), c.agencies[usize::from(s.agency)].id.clone())))
        .collect()
}

/// The services a menu submits that no backend delivers, with the agencies `menus` give
/// them: outside sandbox mode, a set with any is refused (a request nobody can deliver is a
/// request lost).
pub fn undelivered(menus: &MenuSet, agencies: &Agencies) -> Vec<String> {
    let owners = service_agencies(menus);
    let mut missing: Vec<String> = menus
        .menus
        .iter()
        .flat_map(|m| m.screens.iter())
        .filter_map(|s| match &s.kind {
            Kind::Submit(sub)
                if !agencies.by_service.contains_key(&sub.service)
                    && !owners.get(&sub.service).is_some_and(|a| agencies.by_agency.contains_key(a)) =>
            {
                Some(sub.service.clone())
            }
            _ => None,
        })
        .collect();
    missing.sort();
    missing.dedup();
    missing
}

/// Where menus and locales come from and what they must satisfy: the inputs of the check
/// that ran at start.
#[derive(Clone, Debug)]
pub struct Source {
    pub menus_dir: PathBuf,
    pub locales_dir: PathBuf,
    pub limit: usize,
    pub channels: Vec<ScreenLimit>,
    pub fallback: Vec<Locale>,
    pub lookups_dir: Option<PathBuf>,
    pub http_backends: Vec<String>,
}

impl Source {
    /// Loads and checks, as `njia check` does.
    pub fn load(&self) -> Result<Loaded, Vec<Problem>> {
        check::load(&self.options())
    }

    /// The served form of a checked set: prepared at every limit its channels serve it at.
    pub fn serve(&self, loaded: &Loaded) -> MenuSet<Served> {
        let opts = self.options();
        crate::engine::serve(&loaded.menus, &loaded.catalog, |m| opts.limits_serving(&m.id))
    }

    fn options(&self) -> check::Options<'_> {
        check::Options {
            menus_dir: &self.menus_dir,
            locales_dir: &self.locales_dir,
            limit: self.limit,
            channels: &self.channels,
            fallback: &self.fallback,
            lookups_dir: self.lookups_dir.as_deref(),
            http_backends: &self.http_backends,
        }
    }
}

/// What a reload did.
#[derive(Debug)]
pub enum Outcome {
    /// Swapped in: the menus now served, as (id, version).
    Reloaded { menus: Vec<(String, u64)>, warnings: Vec<Problem> },
    /// Refused: the old set keeps serving.
    Refused { problems: Vec<Problem> },
}

/// Serializes reloads: two at once would race to retire each other's menus.
static RELOADING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Loads, checks and, when clean, swaps in the new menus and locales. `channels` are the ones
/// served: a new set must still have every menu a channel names.
pub async fn reload(live: &Live, channels: &Channels) -> Outcome {
    let outcome = swap_in(live, channels).await;
    report(&outcome);
    outcome
}

/// What [`reload`] does, without counting or logging it: the console's sandbox takes up the
/// draft on disk with it, which is no reload of the set in service.
pub async fn swap_in(live: &Live, channels: &Channels) -> Outcome {
    let _one = RELOADING.lock().await;
    let source = live.source.clone();
    // Preparing the served form is CPU work too: it runs on the blocking pool with the check.
    let loaded = match tokio::task::spawn_blocking(move || source.load().map(|l| (source.serve(&l), l))).await {
        Ok(r) => r,
        Err(e) => Err(vec![Problem::error(
            crate::diag::Place::whole_file(std::path::Path::new("-")),
            format!("the reload task failed: {e}"),
            "see the log",
        )]),
    };
    match loaded {
        Err(problems) => Outcome::Refused { problems },
        Ok((served, loaded)) => match missing_menus(live, channels, &loaded).or_else(|| undeliverable(live, &loaded)) {
            Some(problem) => Outcome::Refused { problems: vec![problem] },
            None => {
                // Ranked before it serves a search, from the same uses as the set it replaces.
                let hub = live.hub();
                crate::hub::usage::rank(&*hub.store, &served, hub.config.clock.now_ms()).await;
                swap(live, loaded, served)
            }
        },
    }
}

/// Counts and logs what a reload did.
fn report(outcome: &Outcome) {
    match outcome {
        Outcome::Reloaded { menus, warnings } => {
            crate::metrics::METRICS.reloads.inc("ok");
            // One line per menu: log collectors get plain fields, not an array in a string.
            for (id, v) in menus {
                tracing::info!(menu = %id, version = %format!("{v:016x}"), "menu in service");
            }
            tracing::info!(menus = menus.len(), warnings = warnings.len(), "menus and locales reloaded");
        }
        Outcome::Refused { problems } => {
            crate::metrics::METRICS.reloads.inc("refused");
            for p in problems {
                tracing::error!(problem = %p, "reload refused");
            }
            tracing::error!(
                problems = problems.len(),
                "reload refused: the menus and locales in service are unchanged"
            );
        }
    }
}

/// Makes `target` serve what `source` serves (its menus, the catalog they were checked with,
/// the lookup data), keeping `target`'s own sessions, store and settings; the menus replaced
/// stay reachable for `target`'s live sessions, as after a reload. Nothing when both already
/// serve the same versions. The console's simulator dials the version in service with it, on
/// a sandbox of its own.
pub fn mirror(target: &Live, source: &Live) {
    let (old, new) = (target.hub(), source.hub());
    let versions = |h: &Hub| h.menus.menus.iter().map(|m| (m.id.clone(), m.version)).collect::<Vec<_>>();
    if versions(&old) == versions(&new) {
        return;
    }
    let hub = successor(&old, Arc::clone(&new.menus), Arc::clone(&new.catalog));
    target.hub.store(Arc::new(hub));
    target.sms_catalog.store(Arc::clone(&new.catalog));
    target.lookup_files.store(source.lookup_files.load());
    target.senders.store(source.senders.load());
}

/// Outside sandbox mode, a new set whose services some backend cannot deliver is refused, as
/// the server refuses to start on it.
fn undeliverable(live: &Live, loaded: &Loaded) -> Option<Problem> {
    let agencies = live.agencies.as_ref().filter(|a| !a.simulated)?;
    let missing = undelivered(&loaded.menus, agencies);
    (!missing.is_empty()).then(|| {
        Problem::error(
            crate::diag::Place::whole_file(&live.source.menus_dir),
            format!("no backend delivers service(s) {}", missing.join(", ")),
            "list them (or their agencies) under a [backends.NAME] section and restart, or remove them",
        )
    })
}

/// A channel's `menus` naming a menu the new set lacks would strand that channel.
fn missing_menus(live: &Live, channels: &Channels, loaded: &Loaded) -> Option<Problem> {
    channels.iter().find_map(|c| {
        let missing = c.menus.iter().flat_map(|m| m.iter()).find(|id| loaded.menus.by_id(id).is_none())?;
        Some(Problem::error(
            crate::diag::Place::whole_file(&live.source.menus_dir),
            format!("channel {} may reach menu {missing:?}, which the new menus do not have", c.name),
            "restore the menu, or change the channel's `menus` and restart",
        ))
    })
}

fn swap(live: &Live, loaded: Loaded, served: MenuSet<Served>) -> Outcome {
    let menus: Vec<(String, u64)> = loaded.menus.menus.iter().map(|m| (m.id.clone(), m.version)).collect();
    let hub = successor(&live.hub(), Arc::new(served), Arc::clone(&loaded.catalog));
    live.hub.store(Arc::new(hub));
    if let Some(agencies) = &live.agencies {
        agencies.service_agency.store(Arc::new(service_agencies(&loaded.menus)));
    }
    live.sms_catalog.store(loaded.catalog);
    live.lookup_files.store(loaded.lookups);
    live.senders.store(Arc::new(menu_senders(&loaded.menus)));
    Outcome::Reloaded { menus, warnings: loaded.warnings }
}

/// The hub that serves `menus` with `catalog` after `old`: `old`'s sessions, store, lookups,
/// settings and limits, and the menus it served that `menus` replaces (a new version, or
/// gone) retired beside those retired before and still young enough to have sessions.
fn successor(old: &Hub, menus: Arc<MenuSet<Served>>, catalog: Arc<Catalog>) -> Hub {
    let now = Instant::now();
    let mut retired: Vec<Retired> = old
        .menus
        .menus
        .iter()
        .filter(|m| menus.by_id(&m.id).is_none_or(|n| n.version != m.version))
        .map(|m| Retired { menu: Arc::clone(m), catalog: Arc::clone(&old.catalog), since: now })
        .collect();
    retired.extend(old.retired.iter().filter(|r| now.duration_since(r.since) < RETIRED_TTL).cloned());
    Hub {
        menus,
        catalog,
        sessions: Arc::clone(&old.sessions),
        store: Arc::clone(&old.store),
        lookups: Arc::clone(&old.lookups),
        config: old.config.clone(),
        limits: Arc::clone(&old.limits),
        retired: retired.into(),
    }
}

/// Shared so the dispatcher writes receipts with the locales in service.
pub type SharedCatalog = Arc<Shared<Catalog>>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Outside sandbox mode a set is refused while any service it submits has no backend: one
    /// named for it, or one for its agency in the catalogue.
    #[test]
    fn every_submitted_service_needs_a_backend_by_name_or_by_agency() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let fallback = [Locale::parse("sw").unwrap(), Locale::parse("en").unwrap()];
        let (menus, locales) = (root.join("menus"), root.join("locales"));
        let opts = check::Options::new(&menus, &locales, &fallback);
        let loaded = check::load(&opts).unwrap_or_else(|p| panic!("{p:?}"));
        let secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3";
        let backend = Arc::new(
            crate::agency::HttpBackend::new("b", "http://127.0.0.1:1", secret, Duration::from_secs(1)).unwrap(),
        );
        let owners = service_agencies(&loaded.menus);
        assert_eq!(owners.get("land-rates").map(String::as_str), Some("lands"));
        assert_eq!(owners.get("good-conduct").map(String::as_str), Some("police"));
        let mut agencies = Agencies::default();
        let mut ids: Vec<&String> = owners.values().collect();
        ids.sort();
        ids.dedup();
        for id in ids.iter().filter(|a| a.as_str() != "police") {
            agencies.by_agency.insert((*id).clone(), Arc::clone(&backend));
        }
        assert_eq!(undelivered(&loaded.menus, &agencies), ["good-conduct"], "the police's one paid service");
        agencies.by_service.insert("good-conduct".into(), backend);
        assert!(undelivered(&loaded.menus, &agencies).is_empty());
    }
}

/// One difference between the set in service and the files on disk.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// `menu added`, `menu removed`, `screen added`, `screen removed`, `screen changed`,
    /// `text added`, `text removed` or `text changed`.
    pub what: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub menu: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// The message of a text change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

impl Change {
    fn new(what: &'static str) -> Change {
        Change { what, menu: None, screen: None, locale: None, id: None, before: None, after: None }
    }
}

/// What a reload would do, without doing it: the check of the files on disk (every problem,
/// warnings too) and, when they load, what differs from the set in service.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Preview {
    /// True when the files pass every check: a reload would swap them in.
    pub clean: bool,
    pub problems: Vec<String>,
    pub changes: Vec<Change>,
}

/// Checks the files on disk against the set in service as a reload would (the checker's work
/// on the blocking pool; the menus the channels name; a backend for every service outside
/// sandbox mode), changing nothing.
pub async fn preview(live: &Live, channels: &Channels) -> Preview {
    let source = live.source.clone();
    // A set that does not pass is still compared, as far as it compiles: what is wrong and
    // what would change, side by side.
    let loaded = tokio::task::spawn_blocking(move || {
        source.load().map_err(|problems| {
            let (menus, _) = crate::menu::load_dir(&source.menus_dir);
            let (catalog, _) = Catalog::load(&source.locales_dir, &source.fallback);
            (problems, MenuSet::new(menus.into_iter().map(Arc::new).collect()), catalog)
        })
    })
    .await;
    let hub = live.hub();
    match loaded {
        Ok(Ok(loaded)) => {
            // What a reload refuses besides the checker's errors.
            let refused = missing_menus(live, channels, &loaded).or_else(|| undeliverable(live, &loaded));
            let mut problems: Vec<String> = refused.iter().map(ToString::to_string).collect();
            problems.extend(loaded.warnings.iter().map(ToString::to_string));
            Preview {
                clean: refused.is_none(),
                problems,
                changes: diff(&hub.menus, &hub.catalog, &loaded.menus, &loaded.catalog),
            }
        }
        Ok(Err((problems, menus, catalog))) => Preview {
            clean: false,
            problems: problems.iter().map(ToString::to_string).collect(),
            changes: diff(&hub.menus, &hub.catalog, &menus, &catalog),
        },
        Err(e) => Preview { clean: false, problems: vec![format!("the check task failed: {e}")], changes: Vec::new() },
    }
}

fn menus_of<M: AsRef<Menu>>(set: &MenuSet<M>) -> impl Iterator<Item = &Menu> {
    set.menus.iter().map(|m| AsRef::<Menu>::as_ref(&**m))
}

/// What differs between two sets: menus and screens by name (a screen whose kind changed
/// too), and every message of every locale, as formatted with no arguments (a placeable shows
/// as itself), so an administrator sees each word that would change.
pub fn diff<A: AsRef<Menu>, B: AsRef<Menu>>(
    old: &MenuSet<A>,
    old_catalog: &Catalog,
    new: &MenuSet<B>,
    new_catalog: &Catalog,
) -> Vec<Change> {
    let mut out = Vec::new();
    for m in menus_of(old) {
        match menus_of(new).find(|n| n.id == m.id) {
            None => out.push(Change { menu: Some(m.id.clone()), ..Change::new("menu removed") }),
            Some(n) => {
                for s in &m.screens {
                    let at =
                        |what| Change { menu: Some(m.id.clone()), screen: Some(s.name.clone()), ..Change::new(what) };
                    match n.screen_id(&s.name).map(|id| n.screen(id)) {
                        None => out.push(at("screen removed")),
                        Some(t) if std::mem::discriminant(&t.kind) != std::mem::discriminant(&s.kind) => {
                            out.push(at("screen changed"))
                        }
                        Some(_) => {}
                    }
                }
                for t in n.screens.iter().filter(|t| m.screen_id(&t.name).is_none()) {
                    out.push(Change {
                        menu: Some(m.id.clone()),
                        screen: Some(t.name.clone()),
                        ..Change::new("screen added")
                    });
                }
            }
        }
    }
    for n in menus_of(new).filter(|n| !menus_of(old).any(|m| m.id == n.id)) {
        out.push(Change { menu: Some(n.id.clone()), ..Change::new("menu added") });
    }
    for locale in new_catalog.locales() {
        let text = |c: &Catalog, id: &str| c.message(locale, id).map(|_| c.format(locale, id, None).into_owned());
        let at =
            |what, id: &str| Change { locale: Some(locale.to_string()), id: Some(id.to_owned()), ..Change::new(what) };
        for id in old_catalog.ids(locale) {
            match (text(old_catalog, id), text(new_catalog, id)) {
                (Some(before), None) => out.push(Change { before: Some(before), ..at("text removed", id) }),
                (Some(before), Some(after)) if before != after => {
                    out.push(Change { before: Some(before), after: Some(after), ..at("text changed", id) })
                }
                _ => {}
            }
        }
        for id in new_catalog.ids(locale).into_iter().filter(|id| old_catalog.message(locale, id).is_none()) {
            out.push(Change { after: text(new_catalog, id), ..at("text added", id) });
        }
    }
    out
}
