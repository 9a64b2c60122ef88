//! Safe reload of menus and locales, on SIGHUP or `POST /admin/reload`: the new set is loaded
//! and checked with exactly the rules of `njia check` (at every channel's limit) and swapped in
//! atomically only when it is clean; otherwise the old set keeps serving and the problems are
//! logged and returned. Live sessions finish on the menu version they started with: the menus
//! a reload replaces stay reachable, with the catalog they were checked with, for
//! [`RETIRED_TTL`].

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::check::{self, Loaded, ScreenLimit};
use crate::diag::Problem;
use crate::engine::Served;
use crate::hub::{Hub, Retired};
use crate::i18n::Catalog;
use crate::menu::MenuSet;
use crate::server::AppState;
use crate::types::Locale;

/// How long a replaced menu version stays reachable for the sessions that started on it:
/// well past a session's life and the resume window.
pub const RETIRED_TTL: Duration = Duration::from_secs(30 * 60);

/// A value read on every request and replaced whole, rarely: readers take a cheap clone of
/// the `Arc` under an uncontended read lock and never see a half-made value.
pub struct Shared<T>(RwLock<Arc<T>>);

impl<T> Shared<T> {
    pub fn new(value: Arc<T>) -> Shared<T> {
        Shared(RwLock::new(value))
    }

    pub fn load(&self) -> Arc<T> {
        Arc::clone(&self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    pub fn store(&self, value: Arc<T>) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = value;
    }
}

impl<T> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared(..)")
    }
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

/// Loads, checks and, when clean, swaps in the new menus and locales.
pub async fn reload(state: &AppState) -> Outcome {
    let _one = RELOADING.lock().await;
    let source = state.source.clone();
    // Preparing the served form is CPU work too: it runs on the blocking pool with the check.
    let loaded = match tokio::task::spawn_blocking(move || source.load().map(|l| (source.serve(&l), l))).await {
        Ok(r) => r,
        Err(e) => Err(vec![Problem::error(
            crate::diag::Place::whole_file(std::path::Path::new("-")),
            format!("the reload task failed: {e}"),
            "see the log",
        )]),
    };
    let outcome = match loaded {
        Err(problems) => Outcome::Refused { problems },
        Ok((served, loaded)) => match missing_menus(state, &loaded) {
            Some(problem) => Outcome::Refused { problems: vec![problem] },
            None => swap(state, loaded, served),
        },
    };
    match &outcome {
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
    outcome
}

/// A channel's `menus` naming a menu the new set lacks would strand that channel.
fn missing_menus(state: &AppState, loaded: &Loaded) -> Option<Problem> {
    state.channels.iter().find_map(|c| {
        let missing = c.menus.iter().flat_map(|m| m.iter()).find(|id| loaded.menus.by_id(id).is_none())?;
        Some(Problem::error(
            crate::diag::Place::whole_file(&state.source.menus_dir),
            format!("channel {} may reach menu {missing:?}, which the new menus do not have", c.name),
            "restore the menu, or change the channel's `menus` and restart",
        ))
    })
}

fn swap(state: &AppState, loaded: Loaded, served: MenuSet<Served>) -> Outcome {
    let old = state.hub();
    let now = Instant::now();
    // The menus being replaced, with the catalog they were checked with, plus those retired
    // before and still young enough to have sessions.
    let mut retired: Vec<Retired> = old
        .menus
        .menus
        .iter()
        .filter(|m| loaded.menus.by_id(&m.id).is_none_or(|n| n.version != m.version))
        .map(|m| Retired { menu: Arc::clone(m), catalog: Arc::clone(&old.catalog), since: now })
        .collect();
    retired.extend(old.retired.iter().filter(|r| now.duration_since(r.since) < RETIRED_TTL).cloned());
    let menus: Vec<(String, u64)> = loaded.menus.menus.iter().map(|m| (m.id.clone(), m.version)).collect();
    let hub = Hub {
        menus: Arc::new(served),
        catalog: Arc::clone(&loaded.catalog),
        sessions: Arc::clone(&old.sessions),
        store: Arc::clone(&old.store),
        lookups: Arc::clone(&old.lookups),
        config: old.config.clone(),
        limits: Arc::clone(&old.limits),
        retired: retired.into(),
    };
    state.set_hub(Arc::new(hub));
    state.sms_catalog.store(loaded.catalog);
    state.lookup_files.store(loaded.lookups);
    state.senders.store(Arc::new(crate::server::menu_senders(&loaded.menus)));
    Outcome::Reloaded { menus, warnings: loaded.warnings }
}

/// Shared so the dispatcher writes receipts with the locales in service.
pub type SharedCatalog = Arc<Shared<Catalog>>;
