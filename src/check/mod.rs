//! `njia check`: every rule a menu set must satisfy before it may serve, reported all at once.
//!
//! Structural rules (TOML, unknown fields and screens, regexes, duplicate service codes) come
//! from [`crate::menu`]; Fluent syntax and cross-locale rules from [`crate::i18n`]. This module
//! adds the rules that need both: messages exist in every locale, every screen is reachable and
//! has a way out, every variable a message uses is set on some path to it, and every screen
//! fits the channel limit in every locale with every variable at its declared maximum width;
//! and the SMS channel's rules: one `[sms]` section, every keyword and reply in every locale,
//! keywords that are plain words, no word shared by two actions, replies that use only the
//! variables they are given.

mod catalogue;
mod data;

use std::collections::{BTreeSet, VecDeque};
use std::path::Path;
use std::sync::Arc;

use crate::diag::{self, Place, Problem};
use crate::engine::{MAX_LIST_ITEMS, SYSTEM_MESSAGES};
use crate::gsm7;
use crate::handoff::SMS_MESSAGES;
use crate::hub::HUB_MESSAGES;
use crate::i18n::Catalog;
use crate::keywords;
use crate::menu::catalogue::{CODE_VAR, DIAL_VAR, FEE_VAR, NAME_VAR, Paid};
use crate::menu::{self, Action, Kind, ListNext, Menu, MenuSet, ScreenId};
use crate::types::Locale;

/// Width assumed for a variable with no declared maximum (reported as an error too).
const UNKNOWN_WIDTH: usize = 20;

/// A menu set that passed every rule: plain menus, ready for serving to prepare (see
/// [`crate::engine::serve`]).
pub struct Loaded {
    pub catalog: Arc<Catalog>,
    pub menus: Arc<MenuSet>,
    /// The lookup data the menus were checked against: what serving answers from.
    pub lookups: Arc<crate::lookup::DataFiles>,
    pub warnings: Vec<Problem>,
}

/// What to check and against which limit.
#[derive(Clone, Debug)]
pub struct Options<'a> {
    pub menus_dir: &'a Path,
    pub locales_dir: &'a Path,
    /// The screen limit when no channels are given.
    pub limit: usize,
    /// The channels the menus are served on: each menu must fit the smallest limit of the
    /// channels that may reach it.
    pub channels: &'a [ScreenLimit],
    pub fallback: &'a [Locale],
    /// Lookup data files; `None` for `lookups/` beside the menus (as `serve` resolves it).
    pub lookups_dir: Option<&'a Path>,
    /// Backends configured as agencies over HTTP (`[backends.NAME]`): they answer instead of a
    /// data file of the same name.
    pub http_backends: &'a [String],
}

impl<'a> Options<'a> {
    /// Every menu in `menus_dir` and every locale in `locales_dir`, at the standard 160
    /// characters, with no channels, the lookup data beside the menus and no backend over
    /// HTTP: the shipped set as tests, benchmarks and the simplest check see it. Change a field
    /// with struct update syntax (`Options { limit: 120, ..Options::new(…) }`).
    pub fn new(menus_dir: &'a Path, locales_dir: &'a Path, fallback: &'a [Locale]) -> Options<'a> {
        Options { menus_dir, locales_dir, limit: 160, channels: &[], fallback, lookups_dir: None, http_backends: &[] }
    }
}

/// A channel's screen limit and the menus it may reach, as the checker needs them.
#[derive(Clone, Debug)]
pub struct ScreenLimit {
    pub channel: String,
    pub limit: usize,
    pub menus: menu::MenuFilter,
}

impl Options<'_> {
    /// The limit menu `id` must fit and the channel that sets it; `None` when no channel
    /// reaches the menu.
    fn limit_for(&self, id: &str) -> Option<(usize, Option<&str>)> {
        if self.channels.is_empty() {
            return Some((self.limit, None));
        }
        self.channels
            .iter()
            .filter(|c| menu::allows(c.menus.as_deref(), id))
            .min_by_key(|c| c.limit)
            .map(|c| (c.limit, Some(c.channel.as_str())))
    }
}

impl Options<'_> {
    /// Every screen limit menu `id` is served at, smallest first: where serving lays out its
    /// fixed pages (see [`crate::engine::serve`]).
    pub fn limits_serving(&self, id: &str) -> Vec<usize> {
        if self.channels.is_empty() {
            return vec![self.limit];
        }
        let mut limits: Vec<usize> =
            self.channels.iter().filter(|c| menu::allows(c.menus.as_deref(), id)).map(|c| c.limit).collect();
        limits.sort_unstable();
        limits.dedup();
        limits
    }
}

/// Runs every rule; returns all problems, sorted by file and position.
pub fn check(opts: &Options<'_>) -> Vec<Problem> {
    match load(opts) {
        Ok(l) => l.warnings,
        Err(p) => p,
    }
}

/// Loads and checks; `Err` carries every problem (errors and warnings) when any is an error.
/// The menus come back plain: whoever serves them prepares them ([`crate::engine::serve`]).
pub fn load(opts: &Options<'_>) -> Result<Loaded, Vec<Problem>> {
    let (catalog, mut problems) = Catalog::load(opts.locales_dir, opts.fallback);
    let (menus, menu_problems) = menu::load_dir(opts.menus_dir);
    problems.extend(menu_problems);
    system_messages(&catalog, opts.locales_dir, &mut problems);
    for m in &menus {
        let limit = opts.limit_for(&m.id);
        if limit.is_none() {
            problems.push(Problem::warning(
                Place::whole_file(&m.file),
                format!("no channel may reach menu {:?}", m.id),
                "add it to a channel's `menus` in the configuration, or remove the file",
            ));
        }
        check_menu(m, &catalog, limit, &mut problems);
        catalogue::words(m, &catalog, &mut problems);
        catalogue::recent(m, &catalog, limit, &mut problems);
    }
    sms_sections(&menus, &catalog, &mut problems);
    let lookups_dir = opts.lookups_dir.map_or_else(|| opts.menus_dir.join("lookups"), Path::to_path_buf);
    let (files, data_problems) = crate::lookup::DataFiles::load(&lookups_dir);
    problems.extend(data_problems);
    for m in &menus {
        data::lookups(m, &files, opts.http_backends, &lookups_dir, &mut problems);
    }
    data::selectors(&menus, &catalog, &files, opts.http_backends, &mut problems);
    diag::sort(&mut problems);
    problems.dedup();
    if problems.iter().any(Problem::is_error) {
        return Err(problems);
    }
    // A menu's version covers what its screens show and answer from: its file, every locale
    // and the lookup data. A reload that changes only words or data is a new version, so
    // /readyz and the log say something changed, and live sessions finish on what they began.
    let words_and_data = (catalog.fingerprint(), files.fingerprint());
    let menus = menus
        .into_iter()
        .map(|mut m| {
            m.version = {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::hash::Hash::hash(&(m.version, words_and_data), &mut h);
                std::hash::Hasher::finish(&h)
            };
            Arc::new(m)
        })
        .collect();
    Ok(Loaded {
        catalog: Arc::new(catalog),
        menus: Arc::new(MenuSet::new(menus)),
        lookups: Arc::new(files),
        warnings: problems,
    })
}

fn system_messages(catalog: &Catalog, dir: &Path, problems: &mut Vec<Problem>) {
    // (ids, kind, file, what the messages are for)
    let groups: [(&mut dyn Iterator<Item = &&str>, &str, &str, &str); 2] = [
        (
            &mut SYSTEM_MESSAGES.iter().chain(HUB_MESSAGES),
            "system message",
            "njia.ftl",
            "the engine shows it for navigation and errors",
        ),
        (
            &mut SMS_MESSAGES.iter(),
            "SMS message",
            "sms.ftl",
            "citizens get it as an SMS receipt; it takes $reference, $service, $amount and $receipt",
        ),
    ];
    let locales: Vec<_> = catalog.locales().cloned().collect();
    for (ids, kind, file_name, why) in groups {
        let ids: Vec<&str> = ids.copied().collect();
        for locale in &locales {
            for id in &ids {
                if catalog.message(locale, id).is_none() {
                    let file = dir.join(locale.as_str()).join(file_name);
                    let at = if file.exists() { file } else { dir.join(locale.as_str()) };
                    problems.push(Problem::error(
                        Place::whole_file(&at),
                        format!("{kind} {id:?} is missing in {locale}"),
                        format!("add it to locales/{locale}/{file_name} ({why})"),
                    ));
                }
            }
        }
    }
}

/// The `[sms]` rules (see the module documentation).
fn sms_sections(menus: &[Menu], catalog: &Catalog, problems: &mut Vec<Problem>) {
    let mut with_sms = menus.iter().filter_map(|m| m.sms.as_ref().map(|s| (m, s)));
    let Some((first_menu, _)) = with_sms.next() else { return };
    for (m, sms) in with_sms {
        problems.push(Problem::error(
            sms.place.clone(),
            format!(
                "menu {:?} has an [sms] section, and so does menu {:?} ({}); SMS keywords are one set per server",
                m.id,
                first_menu.id,
                first_menu.file.display()
            ),
            "keep the [sms] section in one menu file",
        ));
    }
    let locales: Vec<Locale> = catalog.locales().cloned().collect();
    for m in menus {
        let Some(sms) = &m.sms else { continue };
        for (msg, what) in sms.messages() {
            for locale in &locales {
                if catalog.message(locale, &msg.id).is_none() {
                    problems.push(Problem::error(
                        msg.place.clone(),
                        format!("message {:?} ([sms] {what}) is missing in locale {locale}", msg.id),
                        format!("add {} = … to locales/{locale}/sms.ftl", msg.id),
                    ));
                }
            }
        }
        // Replies may use only the variables Njia gives them.
        let mut replies: Vec<(&menu::Message, &[&str], &str)> = vec![(&sms.help, &[], "help reply")];
        if let Some(st) = &sms.status {
            replies.push((&st.reply, &["reference", "service", "status"], "status reply"));
            replies.push((&st.not_found, &["reference"], "status not_found reply"));
        }
        if let Some(l) = &sms.language {
            replies.push((&l.reply, &[], "language reply"));
            replies.push((&l.unknown, &[], "language unknown reply"));
        }
        for (msg, allowed, what) in replies {
            for locale in &locales {
                for v in catalog.vars_used(locale, &msg.id) {
                    if !allowed.contains(&v.as_str()) {
                        let can = if allowed.is_empty() {
                            "it is given no variables".to_owned()
                        } else {
                            format!(
                                "it is given {}",
                                allowed.iter().map(|a| format!("${a}")).collect::<Vec<_>>().join(", ")
                            )
                        };
                        problems.push(Problem::error(
                            msg.place.clone(),
                            format!("message {:?} ([sms] {what}) uses ${v} in {locale}, but {can}", msg.id),
                            format!("remove ${v} from {} in locales/{locale}/", msg.id),
                        ));
                    }
                }
            }
        }
        // Keywords: plain words, and each word belongs to one action only.
        let keyword_messages = [
            sms.status.as_ref().map(|s| (Action::Status, &s.keyword)),
            sms.language.as_ref().map(|l| (Action::Language, &l.keyword)),
        ];
        let mut owner: Vec<(String, Action, Locale)> = Vec::new();
        for (action, msg) in keyword_messages.into_iter().flatten() {
            for locale in &locales {
                if catalog.message(locale, &msg.id).is_none() {
                    continue;
                }
                let value = catalog.format(locale, &msg.id, None);
                let words = keywords::split_words(&value);
                let plain = !words.is_empty()
                    && words.iter().all(|w| keywords::valid_word(w))
                    && catalog.vars_used(locale, &msg.id).is_empty();
                if !plain {
                    problems.push(Problem::error(
                        msg.place.clone(),
                        format!(
                            "keyword message {:?} ({locale}) must be one or more words of letters and digits, not {value:?}",
                            msg.id
                        ),
                        format!("write the word citizens send, e.g. {} = HALI", msg.id),
                    ));
                    continue;
                }
                for word in words {
                    match owner.iter().find(|(w, a, _)| *w == word && *a != action) {
                        Some((_, other, other_locale)) => problems.push(Problem::error(
                            msg.place.clone(),
                            format!(
                                "keyword {word} is used by two actions: {} in {other_locale} and {} in {locale}",
                                other.as_str(),
                                action.as_str()
                            ),
                            "give each action its own words in every locale",
                        )),
                        None => owner.push((word, action, locale.clone())),
                    }
                }
            }
        }
    }
}

fn check_menu(m: &Menu, catalog: &Catalog, limit: Option<(usize, Option<&str>)>, problems: &mut Vec<Problem>) {
    messages_exist(m, catalog, problems);
    if let Some(l) = &m.default_locale
        && !catalog.has_locale(l)
    {
        problems.push(Problem::error(
            Place::whole_file(&m.file),
            format!("default_locale {l} has no folder in locales/"),
            "add the locale or choose another",
        ));
    }
    let map = Map::of(m);
    reachability(m, &map, problems);
    ways_out(m, &map, problems);
    let available = available_vars(m, &map.edges);
    variables(m, catalog, &available, problems);
    secrets_consumed_at_once(m, problems);
    input_navigation(m, problems);
    if let Some((limit, channel)) = limit {
        fits(m, catalog, limit, channel, &map.edges, problems);
        titles_kept(m, catalog, limit, problems);
    }
}

/// Back and Home on input screens: by default they work exactly where the validators could
/// never take `0` or `00` as data. Where they could, a citizen who chose the wrong service is
/// stuck on the screen: worth a warning unless the file says `navigation = false` on purpose;
/// and `navigation = true` on a screen where `0` is valid data means the data can never be typed.
/// A search screen is left alone: there they are Back and Home unless the file says otherwise,
/// as no citizen searches for `0`.
fn input_navigation(m: &Menu, problems: &mut Vec<Problem>) {
    let (back, home) = (&*m.nav.back, &*m.nav.home);
    for s in &m.screens {
        let Kind::Input(inp) = &s.kind else { continue };
        if inp.secret || inp.search.is_some() {
            continue;
        }
        let data = [back, home].into_iter().filter(|k| inp.validate.admits(k)).collect::<Vec<_>>();
        match inp.navigation_declared {
            None if !data.is_empty() => problems.push(Problem::warning(
                s.place.clone(),
                format!(
                    "on input screen {:?} a typed {} is data (the validators accept it), so citizens cannot go back or home from it",
                    s.name,
                    data.join(" or ")
                ),
                "give it a validate pattern that excludes them, or write navigation = false to say this is intended",
            )),
            Some(true) if !data.is_empty() => problems.push(Problem::warning(
                s.place.clone(),
                format!(
                    "on input screen {:?} {} is valid data and also navigation: navigation wins, so it can never be entered",
                    s.name,
                    data.join(" and ")
                ),
                "exclude them from the validators, or remove navigation = true",
            )),
            _ => {}
        }
    }
}

/// A menu page whose error line ("not a valid choice") does not fit with its title shows the
/// error in the title's place (see `engine::page_text`): said here, screen by screen, with the
/// page laid out exactly as the engine lays it out.
fn titles_kept(m: &Menu, catalog: &Catalog, limit: usize, problems: &mut Vec<Problem>) {
    let ctx = crate::engine::Ctx::unprepared(m, catalog, limit);
    // The catalogue's browse screens are written by the loader, one per category and agency:
    // they are said once per locale, with how many, not one by one.
    let mut generated: Vec<(&crate::types::Locale, Vec<&str>, crate::diag::Place)> = Vec::new();
    for (i, s) in m.screens.iter().enumerate() {
        let (Kind::Menu { list: None, .. }, Some(text)) = (&s.kind, &s.text) else { continue };
        let Ok(id) = u16::try_from(i).map(ScreenId) else { continue };
        for locale in catalog.locales() {
            // Titles with variables change with every session; those without are what a
            // citizen always sees.
            if !catalog.vars_used(locale, &text.id).is_empty() {
                continue;
            }
            let Some(title) = catalog.format_strict(locale, &text.id, None) else { continue };
            let depth = usize::from(id != m.start);
            let shown = crate::engine::shown_with_error(ctx, locale.clone(), id, depth, "njia-invalid-choice");
            if title.is_empty() || shown.contains(&*title) {
                continue;
            }
            if m.catalogue.is_some() && crate::menu::catalogue::is_generated(&s.name) {
                match generated.iter_mut().find(|(l, _, _)| *l == locale) {
                    Some((_, names, _)) => names.push(&s.name),
                    None => generated.push((locale, vec![&s.name], text.place.clone())),
                }
                continue;
            }
            problems.push(Problem::warning(
                text.place.clone(),
                format!(
                    "screen {:?} in {locale}: after a wrong choice the error line replaces the title (both do not fit in {limit} characters with the first page)",
                    s.name
                ),
                "fine if the options speak for themselves; otherwise shorten the title or the options",
            ));
        }
    }
    for (locale, names, place) in generated {
        problems.push(Problem::warning(
            place,
            format!(
                "{} of the catalogue's browse screens in {locale} (e.g. {:?}): after a wrong choice the error line replaces the title (both do not fit in {limit} characters with the first page)",
                names.len(),
                names[0]
            ),
            "fine: their options are the categories, agencies and services they list",
        ));
    }
}

/// A secret input (a PIN) leads straight to the lookup that uses it, so the secret is used and
/// forgotten in the hop it was typed in. Sessions never keep a secret between hops (they may
/// live in PostgreSQL, and a dropped session may be resumed later), so a secret that had to
/// wait for a later hop would reach its lookup empty.
fn secrets_consumed_at_once(m: &Menu, problems: &mut Vec<Problem>) {
    for s in &m.screens {
        let Kind::Input(i) = &s.kind else { continue };
        if !i.secret {
            continue;
        }
        let next = m.screen(i.next);
        let used = matches!(&next.kind, Kind::Lookup(l) if l.args.contains(&i.save_as));
        if !used {
            problems.push(Problem::error(
                s.place.clone(),
                format!(
                    "secret input {:?} of screen {:?} leads to screen {:?}, not to a lookup that takes it",
                    i.save_as, s.name, next.name
                ),
                "set `next` to the lookup that uses the secret: sessions never keep a secret from one hop to the next",
            ));
        }
    }
}

/// Every message a menu names (texts, labels, errors) exists in every locale.
fn messages_exist(m: &Menu, catalog: &Catalog, problems: &mut Vec<Problem>) {
    for s in &m.screens {
        for msg in screen_messages(s) {
            for locale in catalog.locales() {
                if catalog.message(locale, &msg.id).is_none() {
                    problems.push(Problem::error(
                        msg.place.clone(),
                        format!("message {:?} (screen {:?}) is missing in locale {locale}", msg.id, s.name),
                        format!("add {} = … to a file in locales/{locale}/", msg.id),
                    ));
                }
            }
        }
        if let Kind::Language { options, .. } = &s.kind {
            for o in options {
                if !catalog.has_locale(&o.locale) {
                    problems.push(Problem::error(
                        o.label.place.clone(),
                        format!("language {} has no folder in locales/", o.locale),
                        "add the locale folder or remove the option",
                    ));
                }
            }
        }
    }
}

fn screen_messages(s: &menu::Screen) -> Vec<&menu::Message> {
    let mut out: Vec<&menu::Message> = s.text.iter().collect();
    match &s.kind {
        Kind::Menu { options, .. } => out.extend(options.iter().map(|o| &o.label)),
        Kind::Language { options, .. } => out.extend(options.iter().map(|o| &o.label)),
        Kind::Input(i) => out.extend(i.validate.error.iter()),
        Kind::Lookup(l) => out.extend(l.not_found.iter()),
        Kind::Submit(_) | Kind::End => {}
    }
    out
}

/// Forward edges of the screen graph (Home is implicit and leads to the start screen).
fn edges(m: &Menu) -> Vec<Vec<ScreenId>> {
    m.screens
        .iter()
        .map(|s| {
            let mut to = s.kind.successors();
            match &s.kind {
                // A list of services may hold any of them.
                Kind::Menu { list: Some(l), .. } if l.next == ListNext::Service => {
                    to.extend(m.catalogue.iter().flat_map(|c| c.services.iter().map(|s| s.entry)));
                }
                Kind::Language { next: None, .. } => to.push(m.start),
                _ => {}
            }
            to
        })
        .collect()
}

/// Screens reachable from `starts` along `edges` (breadth-first flood).
fn flood(n: usize, starts: impl IntoIterator<Item = usize>, edges: &[Vec<usize>]) -> Vec<bool> {
    let mut seen = vec![false; n];
    let mut queue: VecDeque<usize> = starts.into_iter().collect();
    while let Some(i) = queue.pop_front() {
        if !std::mem::replace(&mut seen[i], true) {
            queue.extend(edges[i].iter().copied());
        }
    }
    seen
}

fn forward(edges: &[Vec<ScreenId>]) -> Vec<Vec<usize>> {
    edges.iter().map(|tos| tos.iter().map(|t| usize::from(t.0)).collect()).collect()
}

/// A menu as a graph of screens: where each leads, which the start reaches, and from which an
/// end or submit screen can be reached. The rules below read it, and `njia graph` draws it.
#[derive(Debug)]
pub struct Map {
    /// Per screen, the screens it leads to.
    pub edges: Vec<Vec<ScreenId>>,
    /// Per screen, whether the start (or the language screen) reaches it.
    pub reachable: Vec<bool>,
    /// Per screen, whether some path from it reaches an end or submit screen.
    pub way_out: Vec<bool>,
}

impl Map {
    pub fn of(m: &Menu) -> Map {
        let edges = edges(m);
        let n = m.screens.len();
        let fwd = forward(&edges);
        let starts = std::iter::once(m.start).chain(m.language_screen).map(|s| usize::from(s.0));
        let reachable = flood(n, starts, &fwd);
        let mut reverse = vec![Vec::new(); n];
        for (from, tos) in fwd.into_iter().enumerate() {
            for to in tos {
                reverse[to].push(from);
            }
        }
        let ends = (0..n).filter(|&i| matches!(m.screens[i].kind, Kind::End | Kind::Submit(_)));
        let way_out = flood(n, ends, &reverse);
        Map { edges, reachable, way_out }
    }
}

fn reachability(m: &Menu, map: &Map, problems: &mut Vec<Problem>) {
    for (s, _) in m.screens.iter().zip(&map.reachable).filter(|(_, seen)| !**seen) {
        problems.push(Problem::error(
            s.place.clone(),
            format!("screen {:?} is unreachable from the start screen", s.name),
            "link to it from a menu option or next, or delete it",
        ));
    }
}

/// Every screen must be able to reach an `end` or `submit` screen.
fn ways_out(m: &Menu, map: &Map, problems: &mut Vec<Problem>) {
    for (s, _) in m.screens.iter().zip(&map.way_out).filter(|(_, ok)| !**ok) {
        problems.push(Problem::error(
            s.place.clone(),
            format!("screen {:?} has no way out: no path from it reaches an end or submit screen", s.name),
            "give it an option or next that leads to an end or submit screen",
        ));
    }
}

/// Variables each screen sets when the user leaves it.
fn sets(m: &Menu, s: ScreenId) -> Vec<&str> {
    match &m.screen(s).kind {
        Kind::Input(i) if !i.secret => {
            std::iter::once(i.save_as.as_str()).chain(i.search.as_ref().map(|s| s.results.as_str())).collect()
        }
        Kind::Menu { options, list } => options
            .iter()
            .flat_map(|o| o.set.iter().map(|(k, _)| k.as_str()))
            .chain(list.iter().filter_map(|l| l.save_as.as_deref()))
            .collect(),
        Kind::Lookup(l) => l.provides.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    }
}

/// For each screen, the variables set on at least one path from the start to it.
fn available_vars(m: &Menu, edges: &[Vec<ScreenId>]) -> Vec<BTreeSet<String>> {
    let n = m.screens.len();
    let mut avail: Vec<BTreeSet<String>> = vec![BTreeSet::new(); n];
    let mut queue: VecDeque<usize> =
        std::iter::once(m.start).chain(m.language_screen).map(|s| usize::from(s.0)).collect();
    let mut visited = vec![false; n];
    // Entering a catalogue service sets its code and name, whichever way it was reached.
    for (i, s) in m.screens.iter().enumerate() {
        if let (Some(service), Some(c)) = (s.service, m.catalogue.as_deref()) {
            avail[i].extend([CODE_VAR.to_owned(), NAME_VAR.to_owned(), DIAL_VAR.to_owned()]);
            if matches!(c.service(service).paid, Paid::Fixed(_)) {
                avail[i].insert(FEE_VAR.to_owned());
            }
        }
    }
    while let Some(i) = queue.pop_front() {
        visited[i] = true;
        let mut out = avail[i].clone();
        out.extend(sets(m, ScreenId(i as u16)).into_iter().map(str::to_owned));
        for to in &edges[i] {
            let j = usize::from(to.0);
            let before = avail[j].len();
            avail[j].extend(out.iter().cloned());
            if avail[j].len() != before || !visited[j] {
                visited[j] = true;
                queue.push_back(j);
            }
        }
    }
    for (i, s) in m.screens.iter().enumerate() {
        if matches!(s.kind, Kind::Submit(_)) {
            avail[i].insert("reference".to_owned());
        }
    }
    avail
}

fn variables(m: &Menu, catalog: &Catalog, available: &[BTreeSet<String>], problems: &mut Vec<Problem>) {
    let mut unsized_reported = BTreeSet::new();
    // Once per menu, not per screen: per screen it made checking a menu quadratic in its size
    // (most of a minute for one file of 19,000 screens).
    let secrets: BTreeSet<&str> = m
        .screens
        .iter()
        .filter_map(|s| match &s.kind {
            Kind::Input(i) if i.secret => Some(i.save_as.as_str()),
            _ => None,
        })
        .collect();
    for (i, s) in m.screens.iter().enumerate() {
        let have = &available[i];
        for msg in screen_messages(s) {
            for locale in catalog.locales() {
                for v in catalog.vars_used(locale, &msg.id) {
                    if !have.contains(&v) {
                        problems.push(Problem::error(
                            msg.place.clone(),
                            format!("message {:?} ({locale}) uses ${v}, which no path to screen {:?} sets", msg.id, s.name),
                            format!("set {v} before this screen (an input's save_as, an option's set, a lookup's provides) or remove it from the message"),
                        ));
                    } else if !m.var_widths.contains_key(&v) && unsized_reported.insert(v.clone()) {
                        let at = m.var_places.get(&v).cloned().unwrap_or_else(|| msg.place.clone());
                        problems.push(Problem::error(
                            at,
                            format!("variable ${v} is shown on screen but has no maximum width"),
                            format!("declare it under [variables]: {v} = {{ max_width = N }}, or give its input a max_length"),
                        ));
                    }
                }
            }
        }
        let mut needs: Vec<(&str, &str)> = Vec::new();
        match &s.kind {
            Kind::Lookup(l) => needs.extend(l.args.iter().map(|a| (a.as_str(), "lookup argument"))),
            Kind::Submit(sub) => {
                if let Some(p) = &sub.payment {
                    needs.push((&p.amount, "payment amount"));
                    needs.push((&p.account, "payment account"));
                }
                needs.extend(sub.fields.iter().flatten().map(|f| (f.as_str(), "request field")));
            }
            Kind::Menu { options, list } => {
                needs.extend(options.iter().filter_map(|o| o.when.as_ref()).map(|c| (c.var(), "condition")));
                needs.extend(list.iter().map(|l| (l.var.as_str(), "options_from list")));
            }
            _ => {}
        }
        for (v, what) in needs {
            let secret_ok = what == "lookup argument" && secrets.contains(v);
            if !have.contains(v) && !secret_ok {
                problems.push(Problem::error(
                    s.place.clone(),
                    format!("{what} {v:?} of screen {:?} is not set on any path to it", s.name),
                    "set it on an earlier screen or fix the name",
                ));
            }
        }
    }
}

/// Worst-case rendering of every screen in every locale must fit the limit.
fn fits(
    m: &Menu,
    catalog: &Catalog,
    limit: usize,
    channel: Option<&str>,
    edges: &[Vec<ScreenId>],
    problems: &mut Vec<Problem>,
) {
    let on = channel.map(|c| format!(" (channel {c})")).unwrap_or_default();
    for locale in catalog.locales() {
        let nav = nav_lines(m, catalog, locale);
        for (i, s) in m.screens.iter().enumerate() {
            let versions = worst_versions(m, catalog, locale, edges, &nav, i);
            // Each version against its own encoding's room; the one furthest over is reported.
            let worst = versions
                .iter()
                .map(|v| gsm7::measure(v, limit))
                .max_by_key(|(cost, room)| cost.units as i64 - *room as i64);
            let Some((cost, room)) = worst else { continue };
            if cost.units > room {
                let enc = cost.encoding.name();
                let at = s.text.as_ref().map_or_else(|| s.place.clone(), |t| t.place.clone());
                problems.push(Problem::error(
                    at,
                    format!(
                        "screen {:?} can need {} {enc} characters in {locale}, over the limit of {room}{on}",
                        s.name, cost.units
                    ),
                    "shorten the texts or lower the variables' max_width (the worst case includes navigation and, except on \
                     menus, the error line)",
                ));
            }
        }
    }
}

/// A screen's worst-case renderings in one locale, each variable at its maximum width: the
/// text with the widest error line it can carry, or, on a paged screen, the text and the error
/// in the title's place. `fits` holds each to the limit; the console's map shows them.
fn worst_versions(
    m: &Menu,
    catalog: &Catalog,
    locale: &Locale,
    edges: &[Vec<ScreenId>],
    nav: &[String; 3],
    i: usize,
) -> Vec<String> {
    let widths = |v: &str| m.var_widths.get(v).copied().unwrap_or(UNKNOWN_WIDTH);
    let worst = |id: &str| catalog.worst_case(locale, id, &widths).unwrap_or_default();
    let s = &m.screens[i];
    let text = s.text.as_ref().map(|t| worst(&t.id)).unwrap_or_default();
    // The widest error line this screen can carry on top.
    let mut errors: Vec<String> = Vec::new();
    // A lookup that fails, or finds nothing, returns here with its reason on top; so do
    // the later lookups of a chain (lookup -> lookup) that starts here.
    let mut chain: Vec<ScreenId> = edges[i].iter().copied().filter(|t| is_lookup(m, *t)).collect();
    let mut seen = BTreeSet::new();
    while let Some(t) = chain.pop() {
        if !seen.insert(t) {
            continue;
        }
        if let Kind::Lookup(l) = &m.screen(t).kind {
            errors.push(worst("njia-lookup-failed"));
            errors.push(l.not_found.as_ref().map_or_else(|| worst("njia-lookup-not-found"), |n| worst(&n.id)));
            if is_lookup(m, l.next) {
                chain.push(l.next);
            }
        }
    }
    let lines: Vec<String> = match &s.kind {
        Kind::Menu { options, list } => {
            errors.push(worst("njia-invalid-choice"));
            // Listed items come first at run time, so with a list the fixed options
            // are numbered after as many items as a lookup may give.
            let first_fixed = if list.is_some() { MAX_LIST_ITEMS + 1 } else { 1 };
            let n = first_fixed + options.len();
            let mut longest = options
                .iter()
                .enumerate()
                .map(|(k, o)| format!("{}. {}", first_fixed + k, worst(&o.label.id)))
                .max_by_key(|l| gsm7::cost(l).units)
                .unwrap_or_default();
            if let Some(l) = list {
                let item = format!("{n}. {}", "X".repeat(widths(&l.var)));
                if gsm7::cost(&item).units > gsm7::cost(&longest).units {
                    longest = item;
                }
            }
            std::iter::once(longest).chain(nav.iter().cloned()).collect()
        }
        Kind::Language { options, .. } => {
            errors.push(worst("njia-invalid-choice"));
            // Language screens are short lists; they must fit on one page, with Back
            // and Home when reached from a menu.
            let labels = options.iter().enumerate().map(|(k, o)| format!("{}. {}", k + 1, worst(&o.label.id)));
            labels.chain(nav[1..].iter().cloned()).collect()
        }
        Kind::Input(inp) => {
            errors.push(inp.validate.error.as_ref().map_or_else(|| worst("njia-invalid-input"), |e| worst(&e.id)));
            if inp.navigation { nav[1..].to_vec() } else { Vec::new() }
        }
        Kind::End | Kind::Submit(_) | Kind::Lookup(_) => Vec::new(),
    };
    let error = errors.into_iter().max_by_key(|e| gsm7::cost(e).units).filter(|e| !e.is_empty());
    let join = |top: &[&str]| {
        let mut screen = String::new();
        for part in top.iter().filter(|p| !p.is_empty()) {
            if !screen.is_empty() {
                screen.push('\n');
            }
            screen.push_str(part);
        }
        for l in &lines {
            screen.push('\n');
            screen.push_str(l);
        }
        screen
    };
    // A menu page whose error line would not fit shows the error in the title's place
    // (the engine's `page_text`), so it must fit with either on top; other screens
    // carry both. (A page the layout filled with a title shorter than the error shows
    // no error at all, never more than the limit.)
    let paged = matches!(s.kind, Kind::Menu { .. } | Kind::Language { .. });
    match &error {
        Some(e) if paged => vec![join(&[&text]), join(&[e])],
        Some(e) => vec![join(&[e, &text])],
        None => vec![join(&[&text])],
    }
}

/// The navigation lines of `m` in `locale`, at their widest: More, Back and Home.
fn nav_lines(m: &Menu, catalog: &Catalog, locale: &Locale) -> [String; 3] {
    let widths = |v: &str| m.var_widths.get(v).copied().unwrap_or(UNKNOWN_WIDTH);
    let worst = |id: &str| catalog.worst_case(locale, id, &widths).unwrap_or_default();
    [
        format!("{}. {}", m.nav.more, worst("njia-nav-more")),
        format!("{}. {}", m.nav.back, worst("njia-nav-back")),
        format!("{}. {}", m.nav.home, worst("njia-nav-home")),
    ]
}

/// Screen `screen`'s worst-case renderings in `locale` (see `worst_versions`), for the
/// console's map.
pub fn worst_case(m: &Menu, catalog: &Catalog, locale: &Locale, screen: ScreenId) -> Vec<String> {
    let edges = edges(m);
    let nav = nav_lines(m, catalog, locale);
    worst_versions(m, catalog, locale, &edges, &nav, usize::from(screen.0))
}

fn is_lookup(m: &Menu, s: ScreenId) -> bool {
    matches!(m.screen(s).kind, Kind::Lookup(_))
}

/// Counts errors and warnings, for the summary line.
pub fn count_by_severity(problems: &[Problem]) -> (usize, usize) {
    let errors = problems.iter().filter(|p| p.is_error()).count();
    (errors, problems.len() - errors)
}
