//! What serving prepares once per menu set, so that a hop formats and measures as little as
//! possible: each menu's option labels, navigation lines and variable-free texts, formatted and
//! measured once per locale, and the finished pages of every fixed screen at each screen limit
//! of the channels that serve it. Built beside the menu ([`Served`]), never inside it: the menu
//! is the checker's plain data, this is the renderer's.

use std::hash::{BuildHasher as _, Hash, Hasher};
use std::sync::Arc;

use hashbrown::HashTable;

use super::render::{LineCost, laid_out, view_with};
use super::{Ctx, Frame, Secrets, Session, Step};
use crate::i18n::Catalog;
use crate::menu::{Kind, Menu, MenuSet, ScreenId};
use crate::types::Locale;

/// A menu as serving runs it: the checked menu and what was prepared for it. It reads as its
/// menu (`Deref`), so routing and the hub use it where they used the menu.
#[derive(Debug)]
pub struct Served {
    pub menu: Arc<Menu>,
    pub prepared: Prepared,
}

impl Served {
    /// Prepares `menu` in every locale of `catalog`, with its fixed screens laid out at each of
    /// `limits` (the screen limits of the channels that serve it).
    pub fn new(menu: Arc<Menu>, catalog: &Catalog, limits: &[usize]) -> Served {
        let prepared = Prepared::new(&menu, catalog, limits);
        Served { menu, prepared }
    }

    /// Ranks equal search matches by how often citizens used each service (`uses`: code and
    /// count over the recent past), then by the popularity its catalogue row estimates, which
    /// is all a service nobody used yet has. Replaces the ranking whole; a search running
    /// meanwhile uses the one it started with.
    pub fn rank_by_use(&self, uses: &[(u32, i64)]) {
        let (Some(finder), Some(catalogue)) = (&self.prepared.finder, self.menu.catalogue.as_deref()) else { return };
        let used: std::collections::HashMap<u32, i64> = uses.iter().copied().collect();
        let key = |i: usize| {
            let s = &catalogue.services[i];
            (used.get(&s.code).copied().unwrap_or(0), s.popularity)
        };
        finder.popularity.store(Arc::new(dense_ranks(catalogue.services.len(), key)));
    }
}

/// Dense ranks of `n` items by `key`, highest key highest rank; equal keys rank equal, so the
/// search's own tie-break (document order) still decides between them.
fn dense_ranks<K: Ord + Copy>(n: usize, key: impl Fn(usize) -> K) -> Vec<u32> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by_key(|&i| key(i));
    let mut ranks = vec![0u32; n];
    let mut rank = 0u32;
    for (at, &i) in order.iter().enumerate() {
        if at > 0 && key(order[at - 1]) != key(i) {
            rank += 1;
        }
        ranks[i] = rank;
    }
    ranks
}

impl std::ops::Deref for Served {
    type Target = Menu;
    fn deref(&self) -> &Menu {
        &self.menu
    }
}

impl AsRef<Menu> for Served {
    fn as_ref(&self) -> &Menu {
        &self.menu
    }
}

/// The served form of a checked menu set: every menu prepared with `catalog` at the screen
/// limits `limits` gives for it (those of the channels that may reach it), routed as before.
pub fn serve(menus: &MenuSet, catalog: &Catalog, limits: impl Fn(&Menu) -> Vec<usize>) -> MenuSet<Served> {
    let served = menus.menus.iter().map(|m| Arc::new(Served::new(Arc::clone(m), catalog, &limits(m)))).collect();
    MenuSet::new(served)
}

/// Option labels, navigation lines, variable-free texts and fixed pages of one menu, formatted
/// and measured once per locale when serving prepares the menu set ([`serve`]), so rendering a
/// menu does no Fluent lookup for them.
#[derive(Debug, Default)]
pub struct Prepared {
    locales: Vec<(Locale, PreparedLocale)>,
    /// The catalogue's search index, when the menu has a catalogue.
    finder: Option<Finder>,
}

/// The search index over every catalogue service's names and keywords in every locale (a
/// citizen finds a service by either language's words), with what ranks ties.
#[derive(Debug)]
pub(super) struct Finder {
    index: crate::search::Index,
    /// Each service's rank by use, by service index: ties rank by it (see
    /// [`Served::rank_by_use`]; until then, by its row's popularity).
    popularity: crate::shared::Shared<Vec<u32>>,
    /// Each service's code, by service index: what a results list holds.
    codes: Vec<u32>,
}

impl Finder {
    fn new(menu: &Menu, catalog: &Catalog) -> Option<Finder> {
        let catalogue = menu.catalogue.as_deref()?;
        let mut b = crate::search::Builder::default();
        for (i, service) in catalogue.services.iter().enumerate() {
            let doc = i as u32;
            for locale in catalog.locales() {
                if catalog.message(locale, &service.name).is_some() {
                    b.add(doc, crate::search::Field::Name, &catalog.format(locale, &service.name, None));
                }
                if let Some(words) = catalog.attribute(locale, &service.name, "keywords") {
                    b.add(doc, crate::search::Field::Keyword, &words);
                }
            }
            // Typing a service's code finds it too.
            b.add(doc, crate::search::Field::Keyword, itoa::Buffer::new().format(service.code));
        }
        Some(Finder {
            index: b.build(),
            popularity: crate::shared::Shared::new(Arc::new(catalogue.services.iter().map(|s| s.popularity).collect())),
            codes: catalogue.services.iter().map(|s| s.code).collect(),
        })
    }

    /// The codes of the services `query` finds, best first, at most `limit`.
    pub(super) fn find(&self, query: &str, limit: usize) -> Box<[u32]> {
        thread_local! {
            // The candidates of a search: kept per thread so a search allocates only its
            // results (a candidate list can hold thousands, and is allocated afresh otherwise).
            static HITS: std::cell::RefCell<Vec<crate::search::Hit>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let popularity = self.popularity.load();
        crate::search::per_thread(&HITS, |hits| {
            self.index.search(query, &popularity, limit, hits);
            hits.iter().filter_map(|h| self.codes.get(h.doc as usize).copied()).collect()
        })
    }
}

#[derive(Debug)]
pub(super) struct PreparedLocale {
    /// Per catalogue service (by index), its name: the label of a listed service.
    pub(super) services: Vec<Line>,
    /// Per screen, per option (menu and language screens; none for other kinds).
    pub(super) labels: PerScreen<Box<[Line]>>,
    /// Per screen, its text when that uses no variable (the same on every render).
    headers: PerScreen<Line>,
    /// Per screen, the finished pages of a screen that looks the same to everyone (see
    /// [`Fixed`]), at each limit and depth; none for other screens.
    fixed: PerScreen<Box<[Fixed]>>,
    pub(super) more: Line,
    pub(super) back: Line,
    pub(super) home: Line,
}

/// Something prepared for each screen, kept once however many screens share it: a catalogue's
/// services of one template ask with the same prompt, offer the same options and show the same
/// pages (thousands of screens, a handful of distinct values), so each screen holds the index
/// of its value.
#[derive(Debug)]
pub(super) struct PerScreen<T> {
    /// By screen, an index into `distinct`, or [`PerScreen::NONE`].
    of_screen: Vec<u32>,
    distinct: Vec<T>,
}

impl<T> PerScreen<T> {
    const NONE: u32 = u32::MAX;

    /// What was prepared for screen `screen`, if anything.
    pub(super) fn get(&self, screen: usize) -> Option<&T> {
        self.distinct.get(*self.of_screen.get(screen)? as usize)
    }
}

/// Builds a [`PerScreen`] screen by screen, keeping one of each distinct value.
struct Distinct<T> {
    built: PerScreen<T>,
    /// Indices into `built.distinct`, by the hash of their value.
    table: HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl<T: Hash + Eq> Distinct<T> {
    fn new() -> Distinct<T> {
        Distinct {
            built: PerScreen { of_screen: Vec::new(), distinct: Vec::new() },
            table: HashTable::new(),
            hasher: hashbrown::DefaultHashBuilder::default(),
        }
    }

    /// The next screen's value, if it has one.
    fn push(&mut self, value: Option<T>) {
        let index = value.map_or(PerScreen::<T>::NONE, |v| self.index_of(v));
        self.built.of_screen.push(index);
    }

    fn index_of(&mut self, value: T) -> u32 {
        let Distinct { built, table, hasher } = self;
        let distinct = &mut built.distinct;
        let hash = hasher.hash_one(&value);
        if let Some(&i) = table.find(hash, |&i| distinct.get(i as usize) == Some(&value)) {
            return i;
        }
        // Fewer distinct values than screens, and a menu has at most 65,536 screens.
        let i = u32::try_from(distinct.len()).unwrap_or(PerScreen::<T>::NONE);
        distinct.push(value);
        table.insert_unique(hash, i, |&i| distinct.get(i as usize).map_or(0, |v| hasher.hash_one(v)));
        i
    }

    fn finish(self) -> PerScreen<T> {
        let mut built = self.built;
        built.of_screen.shrink_to_fit();
        built.distinct.shrink_to_fit();
        built
    }
}

/// A formatted line and its cost.
#[derive(Debug)]
pub(super) struct Line {
    pub(super) text: Box<str>,
    pub(super) cost: LineCost,
}

// A line's cost is a function of its text: two lines are the same when their texts are.
impl PartialEq for Line {
    fn eq(&self, other: &Line) -> bool {
        self.text == other.text
    }
}

impl Eq for Line {}

impl Hash for Line {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl Line {
    pub(super) fn new(text: String) -> Line {
        let cost = LineCost::of(&text);
        Line { text: text.into_boxed_str(), cost }
    }
}

/// A navigation line such as `98. Zaidi`, with its cost.
pub(super) fn nav_line(catalog: &Catalog, locale: &Locale, key: &str, id: &str) -> Line {
    Line::new(format!("{key}. {}", catalog.format(locale, id, None)))
}

/// The finished pages of a screen whose text and options use no variable and no condition
/// (a menu, language or input screen),
/// at one screen limit and one navigation depth: all a render of it can depend on besides the
/// page. Most hops land on such a menu, and answering them is then a copy.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct Fixed {
    limit: usize,
    /// The back stack's depth, capped at 2: none (no Back), one (Back), two or more (Back and
    /// Home).
    depth: u8,
    pub(super) pages: Box<[Box<str>]>,
    /// The items each page shows, as `(first, last)` item indices: what a choice on that page
    /// may pick, known without laying the page out again.
    pub(super) items: Box<[(usize, usize)]>,
}

/// The depth class of [`Fixed`] for a session.
fn depth_class(s: &Session) -> u8 {
    s.stack.len().min(2) as u8
}

/// True when a screen renders the same for every session at a given page, limit and depth.
fn is_fixed(screen: &crate::menu::Screen, catalog: &Catalog, locale: &Locale) -> bool {
    let plain = match &screen.kind {
        Kind::Menu { options, list: None } => options.iter().all(|o| o.when.is_none()),
        // An input screen is its text and, at depth, Back and Home.
        Kind::Language { .. } | Kind::Input(_) => true,
        _ => false,
    };
    plain && screen.text.as_ref().is_none_or(|t| fixed_text(catalog, locale, &t.id))
}

/// True when message `id` reads the same for everyone in `locale`: the locale has it (a
/// fallback's text may use variables) and it uses no variable.
fn fixed_text(catalog: &Catalog, locale: &Locale, id: &str) -> bool {
    catalog.message(locale, id).is_some() && catalog.vars_used(locale, id).is_empty()
}

/// The prepared text of `screen` in the session's locale, when it has no variables.
pub(super) fn prepared_text<'a>(ctx: Ctx<'a>, s: &Session, screen: ScreenId) -> Option<&'a Line> {
    ctx.prepared.get(&s.locale)?.headers.get(usize::from(screen.0))
}

/// True when `screen` is shown with nothing to go back to in a dialogue: the start screen
/// (entering it clears the back stack), the language screen asked on first use, and where
/// choosing a language there leads. Every other screen is shown at depth one or more (a
/// catalogue service's screens at two or more), unless a back stack deeper than the engine
/// keeps dropped its oldest frames and the citizen then went all the way back: such a render
/// is laid out then, as any screen without prepared pages is, so its pages at depth none are
/// not prepared.
fn shown_at_top(menu: &Menu, screen: ScreenId) -> bool {
    screen == menu.start
        || Some(screen) == menu.language_screen
        || menu
            .language_screen
            .is_some_and(|l| matches!(&menu.screen(l).kind, Kind::Language { next: Some(next), .. } if *next == screen))
}

/// Lays out every page of a fixed screen at each limit and depth it can be shown at, through
/// the same code as a render (so the two can never disagree; a test holds them to it).
fn fixed_pages(menu: &Menu, catalog: &Catalog, locale: &Locale, screen: ScreenId, limits: &[usize]) -> Vec<Fixed> {
    let mut out = Vec::new();
    let first = if shown_at_top(menu, screen) { 0 } else { 1 };
    for &limit in limits {
        // Laid out from nothing prepared: the prepared form is what is being built.
        let ctx = Ctx::unprepared(menu, catalog, limit);
        for depth in first..=2u8 {
            let mut s = Session {
                locale: locale.clone(),
                screen,
                page: 0,
                stack: vec![Frame { screen: menu.start, page: 0 }; usize::from(depth)],
                vars: Vec::new(),
                secrets: Secrets::default(),
                recent: Vec::new(),
            };
            let items: Box<[(usize, usize)]> = view_with(ctx, &s, None).pages.into();
            let count = items.len().max(1);
            let pages = (0..count)
                .map(|p| {
                    s.page = p as u16;
                    match laid_out(ctx, &s, None) {
                        Step::Show { text, .. } => text.into_boxed_str(),
                        _ => Box::from(""),
                    }
                })
                .collect();
            out.push(Fixed { limit, depth, pages, items });
        }
    }
    out
}

impl Prepared {
    /// Formats every option label and navigation line of `menu` in every locale of `catalog`,
    /// and lays out the pages of its fixed screens at each of `limits` (the screen limits of
    /// the channels that serve it).
    pub fn new(menu: &Menu, catalog: &Catalog, limits: &[usize]) -> Prepared {
        let locales = catalog
            .locales()
            .map(|locale| {
                let f = |id: &str| catalog.format(locale, id, None).into_owned();
                let mut labels = Distinct::new();
                let mut headers = Distinct::new();
                let mut fixed = Distinct::new();
                for (i, sc) in menu.screens.iter().enumerate() {
                    labels.push(match &sc.kind {
                        Kind::Menu { options, .. } => Some(options.iter().map(|o| Line::new(f(&o.label.id))).collect()),
                        Kind::Language { options, .. } => {
                            Some(options.iter().map(|o| Line::new(f(&o.label.id))).collect())
                        }
                        _ => None,
                    });
                    headers.push(
                        sc.text
                            .as_ref()
                            .filter(|text| fixed_text(catalog, locale, &text.id))
                            .map(|text| Line::new(f(&text.id))),
                    );
                    let id = ScreenId(i as u16);
                    fixed.push(
                        is_fixed(sc, catalog, locale)
                            .then(|| fixed_pages(menu, catalog, locale, id, limits).into_boxed_slice()),
                    );
                }
                let nav = &menu.nav;
                let services = menu
                    .catalogue
                    .as_deref()
                    .map(|c| c.services.iter().map(|sv| Line::new(f(&sv.name))).collect())
                    .unwrap_or_default();
                let prepared = PreparedLocale {
                    services,
                    labels: labels.finish(),
                    headers: headers.finish(),
                    fixed: fixed.finish(),
                    more: nav_line(catalog, locale, &nav.more, "njia-nav-more"),
                    back: nav_line(catalog, locale, &nav.back, "njia-nav-back"),
                    home: nav_line(catalog, locale, &nav.home, "njia-nav-home"),
                };
                (locale.clone(), prepared)
            })
            .collect();
        Prepared { locales, finder: Finder::new(menu, catalog) }
    }

    /// Service `i`'s name in `locale`, as prepared.
    pub(super) fn service_name(&self, locale: &Locale, i: u16) -> Option<&str> {
        self.get(locale)?.services.get(usize::from(i)).map(|l| &*l.text)
    }

    /// The catalogue's search, when the menu has a catalogue and serving prepared it.
    pub(super) fn finder(&self) -> Option<&Finder> {
        self.finder.as_ref()
    }

    /// Nothing prepared: every render is laid out on the spot (the checker's layouts, and the
    /// pages being prepared).
    pub fn none() -> &'static Prepared {
        static NONE: Prepared = Prepared { locales: Vec::new(), finder: None };
        &NONE
    }

    pub(super) fn get(&self, locale: &Locale) -> Option<&PreparedLocale> {
        self.locales.iter().find(|(l, _)| l == locale).map(|(_, p)| p)
    }
}

/// The prepared pages of the session's screen, when it is fixed (see [`Fixed`]).
pub(super) fn fixed_for<'a>(ctx: Ctx<'a>, s: &Session) -> Option<&'a [Box<str>]> {
    fixed_layout(ctx, s).map(|f| &*f.pages)
}

pub(super) fn fixed_layout<'a>(ctx: Ctx<'a>, s: &Session) -> Option<&'a Fixed> {
    // A start screen offering a returning citizen's recent services is that citizen's own.
    if !s.recent.is_empty() && s.screen == ctx.menu.start {
        return None;
    }
    let fixed = ctx.prepared.get(&s.locale)?.fixed.get(usize::from(s.screen.0))?;
    let depth = depth_class(s);
    fixed.iter().find(|f| f.limit == ctx.limit && f.depth == depth)
}

/// The prepared text of the session's page, when its screen is fixed.
pub(super) fn fixed_page<'a>(ctx: Ctx<'a>, s: &Session) -> Option<&'a str> {
    let pages = fixed_for(ctx, s)?;
    // Past the last page shows the last page, as a layout does.
    let page = usize::from(s.page).min(pages.len().checked_sub(1)?);
    pages.get(page).map(|p| &**p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Options, ScreenLimit};
    use crate::engine::render::{items, render, view};
    use crate::engine::step::on_page;
    use crate::gsm7;

    /// Every prepared page of every fixed screen of the shipped menus is exactly what laying
    /// it out now gives, in both languages, at two channel limits, at every depth and page
    /// (and past the last page).
    #[test]
    fn fixed_pages_are_the_pages_a_render_lays_out() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let channels: Vec<ScreenLimit> =
            [120, 160].iter().map(|&limit| ScreenLimit { channel: format!("c{limit}"), limit, menus: None }).collect();
        let fallback = [Locale::parse("sw").unwrap()];
        let opts = Options {
            menus_dir: &root.join("menus"),
            locales_dir: &root.join("locales"),
            limit: 160,
            channels: &channels,
            fallback: &fallback,
            lookups_dir: None,
            http_backends: &[],
        };
        let loaded = crate::check::load(&opts).unwrap_or_else(|p| panic!("{p:?}"));
        let served = serve(&loaded.menus, &loaded.catalog, |m| opts.limits_serving(&m.id));
        let mut compared = 0;
        for menu in served.menus.iter() {
            for locale in loaded.catalog.locales() {
                for (i, screen) in menu.screens.iter().enumerate() {
                    let id = ScreenId(i as u16);
                    let fixed = is_fixed(screen, &loaded.catalog, locale);
                    for limit in [120, 160] {
                        let ctx = Ctx::new(menu, &loaded.catalog, limit);
                        for depth in 0..=3 {
                            for page in 0..6u16 {
                                let s = Session {
                                    locale: locale.clone(),
                                    screen: id,
                                    page,
                                    stack: vec![Frame { screen: menu.start, page: 0 }; depth],
                                    vars: Vec::new(),
                                    secrets: Secrets::default(),
                                    recent: Vec::new(),
                                };
                                let prepared = fixed_page(ctx, &s);
                                let shown = depth > 0 || shown_at_top(menu, id);
                                assert_eq!(prepared.is_some(), fixed && shown, "{} screen {}", menu.id, screen.name);
                                if let (Some(text), Step::Show { text: now, .. }) = (prepared, laid_out(ctx, &s, None))
                                {
                                    assert_eq!(
                                        text, now,
                                        "{} screen {} page {page} depth {depth}",
                                        menu.id, screen.name
                                    );
                                    // The items a choice may pick on this page are the ones a
                                    // fresh layout puts there.
                                    let n = items(ctx, &s).len();
                                    let v = view(ctx, &s);
                                    let p = usize::from(page).min(v.pages.len().saturating_sub(1));
                                    let fresh = v.pages.get(p).map_or((0, n), |&(a, b)| (a, b.min(n)));
                                    let fresh = if v.pages.len() <= 1 { (0, n) } else { fresh };
                                    assert_eq!(
                                        on_page(ctx, &s, n),
                                        fresh,
                                        "{} screen {} page {page}",
                                        menu.id,
                                        screen.name
                                    );
                                    compared += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(compared > 100, "only {compared} pages compared");
    }

    /// A limit no channel serves is laid out at render time, never answered from another
    /// limit's pages.
    #[test]
    fn a_limit_without_prepared_pages_is_laid_out() {
        // With no channel, every menu is served at the checker's limit (160) only.
        let loaded = shipped();
        let served = serve(&loaded.menus, &loaded.catalog, |_| vec![160]);
        let menu = served.by_id("ecitizen").unwrap();
        let s = Session {
            locale: Locale::parse("en").unwrap(),
            screen: menu.start,
            page: 0,
            stack: Vec::new(),
            vars: Vec::new(),
            secrets: Secrets::default(),
            recent: Vec::new(),
        };
        let at = |limit| Ctx::new(menu, &loaded.catalog, limit);
        assert!(fixed_page(at(160), &s).is_some());
        assert!(fixed_page(at(120), &s).is_none());
        let Step::Show { text, .. } = render(at(120), &s, None) else { panic!("a screen") };
        assert!(gsm7::fits(&text, 120), "{text}");
    }

    /// The screens of one template share what was prepared for them: the shipped catalogue's
    /// services ask with the same prompts and offer the same options, so there are fewer
    /// distinct labels and pages than screens that have them; and a service's screens, never
    /// shown with an empty back stack, have no pages prepared for it.
    #[test]
    fn screens_share_what_was_prepared() {
        let loaded = shipped();
        let served = serve(&loaded.menus, &loaded.catalog, |_| vec![160]);
        let menu = served.by_id("ecitizen").unwrap();
        for (_, p) in &menu.prepared.locales {
            for (what, of_screen, distinct) in [
                ("labels", &p.labels.of_screen, p.labels.distinct.len()),
                ("pages", &p.fixed.of_screen, p.fixed.distinct.len()),
            ] {
                let having = of_screen.iter().filter(|&&i| i != PerScreen::<()>::NONE).count();
                assert!(distinct < having, "{what}: {distinct} distinct for {having} screens");
            }
            for (i, screen) in menu.screens.iter().enumerate() {
                let at_top = p.fixed.get(i).is_some_and(|f| f.iter().any(|f| f.depth == 0));
                assert_eq!(
                    at_top,
                    shown_at_top(menu, ScreenId(i as u16)) && p.fixed.get(i).is_some(),
                    "{}",
                    screen.name
                );
                if screen.service.is_some() {
                    assert!(!at_top, "{}", screen.name);
                }
            }
        }
    }

    /// The shipped menus and locales, checked with no channel (every menu at 160).
    fn shipped() -> crate::check::Loaded {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let fallback = [Locale::parse("sw").unwrap()];
        let (menus, locales) = (root.join("menus"), root.join("locales"));
        let opts = Options::new(&menus, &locales, &fallback);
        crate::check::load(&opts).unwrap_or_else(|p| panic!("{p:?}"))
    }

    /// The checker lays screens out from plain menus, with nothing prepared; serving answers
    /// from prepared labels, texts and pages. Both show the same text for every screen of the
    /// shipped menus, in every locale, at every depth and page, with and without an error line.
    #[test]
    fn an_unprepared_render_is_the_served_render() {
        let loaded = shipped();
        let served = serve(&loaded.menus, &loaded.catalog, |_| vec![160]);
        let mut from_pages = 0;
        for menu in served.menus.iter() {
            let prepared = Ctx::new(menu, &loaded.catalog, 160);
            let plain = Ctx::unprepared(&menu.menu, &loaded.catalog, 160);
            for locale in loaded.catalog.locales() {
                for (i, screen) in menu.screens.iter().enumerate() {
                    for (depth, page, error) in (0..=2usize)
                        .flat_map(|d| (0..3u16).map(move |p| (d, p)))
                        .flat_map(|(d, p)| [None, Some("njia-invalid-choice")].map(|e| (d, p, e)))
                    {
                        let s = Session {
                            locale: locale.clone(),
                            screen: ScreenId(i as u16),
                            page,
                            stack: vec![Frame { screen: menu.start, page: 0 }; depth],
                            vars: Vec::new(),
                            secrets: Secrets::default(),
                            recent: Vec::new(),
                        };
                        assert!(fixed_page(plain, &s).is_none(), "nothing is prepared for a plain menu");
                        from_pages += usize::from(error.is_none() && fixed_page(prepared, &s).is_some());
                        assert_eq!(
                            render(prepared, &s, error),
                            render(plain, &s, error),
                            "{} screen {} in {locale}, depth {depth}, page {page}, error {error:?}",
                            menu.id,
                            screen.name
                        );
                    }
                }
            }
        }
        assert!(from_pages > 100, "only {from_pages} renders came from prepared pages");
    }

    /// Serving routes exactly as the checked set does: every code, with and without digits
    /// dialled after it, reaches the same menu (the same checked `Arc`) with the same extras.
    #[test]
    fn the_served_set_routes_as_the_checked_set() {
        let loaded = shipped();
        let served = serve(&loaded.menus, &loaded.catalog, |_| vec![160]);
        assert_eq!(served.menus.len(), loaded.menus.menus.len());
        let mut dials: Vec<String> = vec!["*1#".into(), "".into()];
        for m in &loaded.menus.menus {
            for code in &m.service_codes {
                let bare = crate::menu::normalize_code(code);
                dials.extend([code.clone(), format!("*{bare}*1*2#"), format!("*{bare}1#")]);
            }
        }
        for dial in &dials {
            let plain = loaded.menus.route(dial).map(|(m, extras)| (Arc::as_ptr(m), extras));
            let routed = served.route(dial).map(|(m, extras)| (Arc::as_ptr(&m.menu), extras));
            assert_eq!(plain, routed, "{dial}");
        }
        for m in &loaded.menus.menus {
            let by_id = served.by_id(&m.id).map(|s| Arc::as_ptr(&s.menu));
            assert_eq!(by_id, Some(Arc::as_ptr(m)), "{}", m.id);
        }
    }
}
