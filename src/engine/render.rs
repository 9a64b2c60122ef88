//! Rendering: a resting screen's view (header, numbered items, navigation lines), its pages
//! laid out by arithmetic on measured lines, the text of one page with an error line on top,
//! and the last guard that cuts a screen to the channel's limit.

use std::borrow::Cow;

use fluent::{FluentArgs, FluentValue};

use super::prepared::{PreparedLocale, fixed_page, nav_line, prepared_text};
use super::{Ctx, Frame, ListItem, MAX_STACK, Secrets, Session, Step, Value};
use crate::gsm7;
use crate::menu::{Condition, Kind, ListNext, ScreenId};
use crate::types::Locale;

/// The localized apology that replaces a screen whose text could not be formatted (a variable
/// it uses is unset): a citizen never sees a raw `{$…}`. The checker makes this unreachable
/// for shipped menus; it guards the rest.
pub(super) fn apology(ctx: Ctx<'_>, s: &Session) -> Step {
    let text = ctx.catalog.format(&s.locale, "njia-technical-problem", None).into_owned();
    Step::Show { text: fit(text, ctx.limit), end: true }
}

/// The first page of `screen` as shown with `error` on top, for a citizen `depth` screens deep
/// with nothing entered: what the checker lays out to warn where an error line takes the
/// title's place (see [`page_text`]).
pub fn shown_with_error(ctx: Ctx<'_>, locale: Locale, screen: ScreenId, depth: usize, error: &str) -> String {
    let frame = Frame { screen: ctx.menu.start, page: 0 };
    let s = Session {
        locale,
        screen,
        page: 0,
        stack: vec![frame; depth.min(MAX_STACK)],
        vars: Vec::new(),
        secrets: Secrets::default(),
        recent: Vec::new(),
    };
    match laid_out(ctx, &s, Some(error)) {
        Step::Show { text, .. } => text,
        _ => String::new(),
    }
}

/// How many of `recent` (service codes) the first page of the start screen shows to a
/// returning citizen, laid out as the engine lays it out (none when that page does not fit):
/// what the checker holds to the catalogue's `recent` count.
pub fn recent_on_first_page(ctx: Ctx<'_>, locale: Locale, recent: Vec<u32>) -> usize {
    let s = Session {
        locale,
        screen: ctx.menu.start,
        page: 0,
        stack: Vec::new(),
        vars: Vec::new(),
        secrets: Secrets::default(),
        recent,
    };
    let v = view(ctx, &s);
    let shown = v.pages.first().map_or(0, |&(_, end)| end).min(s.recent.len());
    // A page always holds one item, even one that does not fit with the title: none shown.
    if gsm7::fits(&page_text(&s, v, ctx.limit), ctx.limit) { shown } else { 0 }
}

impl View<'_> {
    /// Whether page `page` (as [`page_text`] picks it: the last page when past the end) is
    /// known to fit the limit with its title and navigation, and has no error line to place.
    pub(super) fn page_fits(&self, page: usize) -> bool {
        if self.error.is_some() {
            return false;
        }
        let page = page.min(self.pages.len().saturating_sub(1));
        self.fitting.checked_shr(page as u32).is_some_and(|bits| bits & 1 == 1)
    }
}

/// One selectable line of a menu or language screen.
#[derive(Clone, Copy, Debug)]
pub(super) enum Item {
    Option(usize),
    Listed(usize),
    /// One of the session's recent services (on the start screen), numbered by its code.
    Recent(usize),
}

/// A resting screen laid out for the current locale: what is selectable and the pages.
pub(super) struct View<'a> {
    /// Labels without their numbers; item `i` is shown as `{number(i)}. {label}`.
    pub(super) labels: Vec<Cow<'a, str>>,
    /// The codes of the recent services the items begin with (see [`number`]).
    recent: Vec<u32>,
    /// Item index ranges, one per page.
    pub(super) pages: Vec<(usize, usize)>,
    /// Bit `p` set when page `p` with its title and navigation is known to fit the limit (its
    /// lines measured by the layout), so its text needs no second measuring.
    fitting: u64,
    header: Cow<'a, str>,
    /// A reason shown on top (invalid choice, lookup failed), not part of the layout.
    error: Option<Cow<'a, str>>,
    nav: NavLabels<'a>,
    /// The header could not be formatted: the screen must not be shown (see [`apology`]).
    pub(super) broken: bool,
}

pub(super) fn view<'a>(ctx: Ctx<'a>, s: &Session) -> View<'a> {
    view_with(ctx, s, None)
}

pub(super) fn view_with<'a>(ctx: Ctx<'a>, s: &Session, error: Option<&str>) -> View<'a> {
    let screen = ctx.menu.screen(s.screen);
    // The layout never depends on the error line: the same page holds the same items with or
    // without it, so an error never moves or hides an option (see `page_text`).
    let error = error.map(|e| Cow::Owned(ctx.catalog.format(&s.locale, e, None).into_owned()));
    // Labels (and texts without variables) prepared for serving when the locale has them;
    // formatted here otherwise (a plain menu's `Ctx::unprepared`, or a locale added to sessions
    // but not to the catalog).
    let prepared = ctx.prepared.get(&s.locale);
    let mut broken = false;
    let (header, header_cost) = match prepared_text(ctx, s, s.screen) {
        Some(line) => (Cow::Borrowed(&*line.text), line.cost),
        None => {
            let text = match &screen.text {
                Some(t) => format(ctx, s, &t.id).unwrap_or_else(|| {
                    broken = true;
                    String::new()
                }),
                None => String::new(),
            };
            let cost = LineCost::of(&text);
            (Cow::Owned(text), cost)
        }
    };
    let labels: Vec<(Cow<'a, str>, LineCost)> = items(ctx, s)
        .iter()
        .map(|item| match (&screen.kind, *item) {
            (Kind::Menu { options, .. }, Item::Option(i)) => option_label(ctx, prepared, s, &options[i].label.id, i),
            (Kind::Language { options, .. }, Item::Option(i)) => {
                option_label(ctx, prepared, s, &options[i].label.id, i)
            }
            (Kind::Menu { .. }, Item::Recent(i)) => match s.recent.get(i) {
                Some(&code) => service_label(ctx, prepared, s, Some(ListItem::Code(code))),
                None => (Cow::Borrowed(""), LineCost::EMPTY),
            },
            (Kind::Menu { list: Some(list), .. }, Item::Listed(i)) if list.next == ListNext::Service => {
                service_label(ctx, prepared, s, s.list_item(&list.var, i))
            }
            (Kind::Menu { list: Some(list), .. }, Item::Listed(i)) => {
                let text = s.list_item(&list.var, i).map(|v| v.to_string()).unwrap_or_default();
                let cost = LineCost::of(&text);
                (Cow::Owned(text), cost)
            }
            _ => (Cow::Borrowed(""), LineCost::EMPTY),
        })
        .collect();
    let nav = match prepared {
        Some(p) => NavLabels {
            more: (Cow::Borrowed(&*p.more.text), p.more.cost),
            back: (Cow::Borrowed(&*p.back.text), p.back.cost),
            home: (Cow::Borrowed(&*p.home.text), p.home.cost),
        },
        None => NavLabels::new(ctx, s),
    };
    let recent = shown_recent(ctx, s).to_vec();
    let (pages, fitting) = paginate(ctx, s, &nav, header_cost, &labels, &recent);
    View { labels: labels.into_iter().map(|(t, _)| t).collect(), recent, pages, fitting, header, error, nav, broken }
}

/// The number item `i` is shown with: a recent service's code, else its place after them.
fn number(recent: &[u32], i: usize) -> usize {
    match recent.get(i) {
        Some(&code) => code as usize,
        None => i - recent.len() + 1,
    }
}

/// A listed catalogue service, shown by its name (the code itself if the catalogue no longer
/// has it).
fn service_label<'a>(
    ctx: Ctx<'a>,
    prepared: Option<&'a PreparedLocale>,
    s: &Session,
    item: Option<ListItem<'_>>,
) -> (Cow<'a, str>, LineCost) {
    let found = ctx.menu.catalogue.as_deref().and_then(|c| Some((c, c.index_of(item?.code()?)?)));
    let text = match found {
        Some((c, i)) => match prepared.and_then(|p| p.services.get(usize::from(i))) {
            Some(line) => return (Cow::Borrowed(&*line.text), line.cost),
            None => ctx.catalog.format(&s.locale, &c.service(i).name, None).into_owned(),
        },
        None => item.map(|i| i.to_string()).unwrap_or_default(),
    };
    let cost = LineCost::of(&text);
    (Cow::Owned(text), cost)
}

fn option_label<'a>(
    ctx: Ctx<'a>,
    prepared: Option<&'a PreparedLocale>,
    s: &Session,
    id: &'a str,
    i: usize,
) -> (Cow<'a, str>, LineCost) {
    match prepared.and_then(|p| p.labels.get(usize::from(s.screen.0))).and_then(|l| l.get(i)) {
        Some(line) => (Cow::Borrowed(&*line.text), line.cost),
        None => {
            let text = ctx.catalog.format(&s.locale, id, None);
            let cost = LineCost::of(&text);
            (text, cost)
        }
    }
}

/// The recent services the session's screen shows first: the start screen's, when it is a
/// menu (what [`items`] lists and the layout numbers by code).
fn shown_recent<'s>(ctx: Ctx<'_>, s: &'s Session) -> &'s [u32] {
    let on_start = s.screen == ctx.menu.start && matches!(ctx.menu.screen(s.screen).kind, Kind::Menu { .. });
    if on_start { &s.recent } else { &[] }
}

/// The selectable items of the current menu or language screen, in display order.
pub(super) fn items(ctx: Ctx<'_>, s: &Session) -> Vec<Item> {
    match &ctx.menu.screen(s.screen).kind {
        Kind::Menu { options, list } => {
            // A returning citizen's recent services first on the start screen (the common
            // case is then one hop), then listed items (the citizen's own data), then the
            // fixed options such as "enter another", the order people expect on a handset.
            let recent = shown_recent(ctx, s).len();
            let listed = list.as_ref().map_or(0, |l| s.list_len(&l.var));
            let mut out = Vec::with_capacity(recent + listed + options.len());
            out.extend((0..recent).map(Item::Recent));
            out.extend((0..listed).map(Item::Listed));
            let visible = options.iter().enumerate().filter(|(_, o)| o.when.as_ref().is_none_or(|c| holds(c, s)));
            out.extend(visible.map(|(i, _)| Item::Option(i)));
            out
        }
        Kind::Language { options, .. } => (0..options.len()).map(Item::Option).collect(),
        _ => Vec::new(),
    }
}

/// The localized navigation lines (with their costs) of one render.
struct NavLabels<'a> {
    more: (Cow<'a, str>, LineCost),
    back: (Cow<'a, str>, LineCost),
    home: (Cow<'a, str>, LineCost),
}

impl<'a> NavLabels<'a> {
    fn new(ctx: Ctx<'a>, s: &Session) -> NavLabels<'a> {
        let nav = &ctx.menu.nav;
        let line = |key: &str, id: &str| {
            let l = nav_line(ctx.catalog, &s.locale, key, id);
            (Cow::Owned(l.text.into_string()), l.cost)
        };
        NavLabels {
            more: line(&nav.more, "njia-nav-more"),
            back: line(&nav.back, "njia-nav-back"),
            home: line(&nav.home, "njia-nav-home"),
        }
    }

    /// Navigation lines a page shows: More when a later page exists, Back when there is
    /// somewhere to go back to, Home when Back would not already lead there.
    fn lines(&self, s: &Session, page: usize, has_more: bool) -> impl Iterator<Item = &(Cow<'a, str>, LineCost)> {
        let more = has_more.then_some(&self.more);
        let back = (page > 0 || !s.stack.is_empty()).then_some(&self.back);
        let home = (s.stack.len() >= 2).then_some(&self.home);
        [more, back, home].into_iter().flatten()
    }
}

/// Splits numbered items into pages that fit the limit with their navigation lines, and says
/// which pages are known to fit (bit `p` of the mask for page `p`; pages past 64 are measured
/// when shown). Every page holds at least one item, so the layout always makes progress, and
/// a page whose one item is too long for it is not among those known to fit.
///
/// Each line is measured once; the layout itself is arithmetic on those measures, which keeps
/// a 16-option paginated menu in the low microseconds.
fn paginate(
    ctx: Ctx<'_>,
    s: &Session,
    nav: &NavLabels<'_>,
    header_cost: LineCost,
    items: &[(Cow<'_, str>, LineCost)],
    recent: &[u32],
) -> (Vec<(usize, usize)>, u64) {
    let item_costs: Vec<LineCost> = items.iter().enumerate().map(|(i, (_, c))| c.numbered(number(recent, i))).collect();
    // Navigation costs for (first page?, has more?): the lines differ only in those two ways.
    let nav_cost = |page: usize, has_more: bool| -> LineCost {
        nav.lines(s, page, has_more).fold(LineCost::EMPTY, |acc, (_, c)| acc.then(*c))
    };
    let navs = [[nav_cost(0, false), nav_cost(0, true)], [nav_cost(1, false), nav_cost(1, true)]];
    let mut pages = Vec::new();
    let mut fitting = 0u64;
    let mut start = 0;
    while start < items.len() || pages.is_empty() {
        let [without_more, with_more] = navs[usize::from(!pages.is_empty())];
        let fits_with = |end: usize, nav: LineCost| {
            item_costs[start..end].iter().fold(header_cost, |acc, c| acc.then(*c)).then(nav).fits(ctx.limit)
        };
        let bit = 1u64.checked_shl(pages.len() as u32).unwrap_or(0);
        if fits_with(items.len(), without_more) {
            pages.push((start, items.len()));
            fitting |= bit;
            break;
        }
        let mut end = start + 1;
        while end < items.len() && fits_with(end + 1, with_more) {
            end += 1;
        }
        // Past the first item every page's fit was just measured; a lone item was not.
        if end > start + 1 || (end < items.len() && fits_with(end, with_more)) {
            fitting |= bit;
        }
        pages.push((start, end));
        start = end;
    }
    (pages, fitting)
}

/// The cost of one or more lines joined with newlines, in both encodings.
#[derive(Clone, Copy, Debug)]
pub(super) struct LineCost {
    /// GSM-7 septets, or `None` once any character needs UCS-2.
    septets: Option<usize>,
    utf16: usize,
    /// False for the empty sequence, so joining adds no newline before the first line.
    any: bool,
}

impl LineCost {
    const EMPTY: LineCost = LineCost { septets: Some(0), utf16: 0, any: false };

    pub(super) fn of(line: &str) -> LineCost {
        let c = gsm7::cost(line);
        let utf16 = if line.is_ascii() { line.len() } else { line.encode_utf16().count() };
        let septets = (c.encoding == gsm7::Encoding::Gsm7).then_some(c.units);
        LineCost { septets, utf16, any: true }
    }

    /// The cost of `{n}. {label}` given the label's cost (digits, dot and space are GSM-7).
    fn numbered(self, n: usize) -> LineCost {
        let prefix = n.checked_ilog10().map_or(1, |d| d as usize + 1) + 2;
        LineCost { septets: self.septets.map(|x| x + prefix), utf16: self.utf16 + prefix, any: true }
    }

    /// This sequence followed by `next` on a new line.
    fn then(self, next: LineCost) -> LineCost {
        if !next.any {
            return self;
        }
        if !self.any {
            return next;
        }
        LineCost {
            septets: self.septets.zip(next.septets).map(|(a, b)| a + 1 + b),
            utf16: self.utf16 + 1 + next.utf16,
            any: true,
        }
    }

    fn fits(self, limit: usize) -> bool {
        match self.septets {
            Some(n) => n <= limit,
            None => self.utf16 <= limit / 2,
        }
    }
}

/// The text of the session's current page of a laid-out menu. An error line goes on top;
/// when the page cannot hold both, the error takes the title's place so the options stay
/// exactly where the layout put them; when even that does not fit, the page goes without it.
pub(super) fn page_text(s: &Session, v: View<'_>, limit: usize) -> String {
    let page = usize::from(s.page).min(v.pages.len().saturating_sub(1));
    let (a, b) = v.pages.get(page).copied().unwrap_or((0, 0));
    let mut body = String::with_capacity(v.labels[a..b].iter().map(|l| l.len() + 6).sum::<usize>() + 48);
    for (i, l) in v.labels[a..b].iter().enumerate() {
        body.push('\n');
        push_number(&mut body, number(&v.recent, a + i));
        body.push_str(". ");
        body.push_str(l);
    }
    for (l, _) in v.nav.lines(s, page, b < v.labels.len()) {
        body.push('\n');
        body.push_str(l);
    }
    let mut text = String::with_capacity(v.header.len() + body.len() + 64);
    if let Some(e) = &v.error {
        text.push_str(e);
        text.push('\n');
        text.push_str(&v.header);
        text.push_str(&body);
        if gsm7::fits(&text, limit) {
            return text;
        }
        text.clear();
        text.push_str(e);
        text.push_str(&body);
        if gsm7::fits(&text, limit) {
            return text;
        }
        // An error longer than the title it replaces would push the page over the limit and
        // cut its last lines (Back, Home): the page is shown as laid out, without the error.
        text.clear();
    }
    text.push_str(&v.header);
    text.push_str(&body);
    text
}

/// Appends `n` in decimal: what `write!` would do, without the formatting machinery (this
/// runs for every line of every menu page).
fn push_number(out: &mut String, n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[i..].iter().map(|&d| char::from(d)));
}

/// The header with the error line on top, for screens without pages.
fn with_error(v: View<'_>) -> String {
    match v.error {
        Some(e) if v.header.is_empty() => e.into_owned(),
        Some(e) => format!("{e}\n{}", v.header),
        None => v.header.into_owned(),
    }
}

pub(super) fn render(ctx: Ctx<'_>, s: &Session, error: Option<&str>) -> Step {
    if error.is_none()
        && let Some(text) = fixed_page(ctx, s)
    {
        return Step::Show { text: text.to_owned(), end: false };
    }
    laid_out(ctx, s, error)
}

/// A render laid out now: the screen's view, its page and the error line.
pub(super) fn laid_out(ctx: Ctx<'_>, s: &Session, error: Option<&str>) -> Step {
    let screen = ctx.menu.screen(s.screen);
    let v = view_with(ctx, s, error);
    if v.broken {
        return apology(ctx, s);
    }
    let mut text;
    // A menu page measured by its layout fits as it is; anything else is measured here.
    let mut known_to_fit = false;
    match &screen.kind {
        Kind::Menu { .. } | Kind::Language { .. } => {
            known_to_fit = v.page_fits(usize::from(s.page));
            text = page_text(s, v, ctx.limit);
        }
        Kind::Input(inp) => {
            let nav: Vec<String> = if inp.navigation {
                v.nav.lines(s, 0, false).map(|(l, _)| l.to_string()).collect()
            } else {
                Vec::new()
            };
            text = with_error(v);
            for l in nav {
                text.push('\n');
                text.push_str(&l);
            }
        }
        Kind::End | Kind::Lookup(_) | Kind::Submit(_) => {
            text = with_error(v);
        }
    }
    // The layout's measure and the text's must agree: tests (debug builds) hold them to it.
    debug_assert!(!known_to_fit || gsm7::fits(&text, ctx.limit), "a page measured to fit does not: {text:?}");
    Step::Show { text: if known_to_fit { text } else { fit(text, ctx.limit) }, end: false }
}

/// Formats a screen message with the session's variables as arguments (amounts and dates as
/// citizens read them); `None` when Fluent could not (a variable it uses is unset), so no raw
/// `{$…}` placeable ever reaches a screen.
pub(super) fn format(ctx: Ctx<'_>, s: &Session, id: &str) -> Option<String> {
    if s.vars.is_empty() {
        return ctx.catalog.format_strict(&s.locale, id, None).map(Cow::into_owned);
    }
    let mut args = FluentArgs::with_capacity(s.vars.len());
    for (k, v) in &s.vars {
        match v {
            Value::Text(t) => args.set(&**k, fluent_value(t)),
            Value::Amount(a) => args.set(&**k, FluentValue::from(a.formatted())),
            Value::Date(d) => args.set(&**k, FluentValue::from(d.shown())),
            Value::List(_) | Value::Codes(_) => {}
        }
    }
    ctx.catalog.format_strict(&s.locale, id, Some(&args)).map(Cow::into_owned)
}

/// Canonical integers become numbers so plural selectors work; everything else (identifiers
/// with leading zeros, amounts already formatted with separators) stays text.
fn fluent_value(t: &str) -> FluentValue<'_> {
    let canonical =
        !t.is_empty() && t.len() <= 15 && t.bytes().all(|b| b.is_ascii_digit()) && (t == "0" || !t.starts_with('0'));
    match t.parse::<f64>() {
        Ok(n) if canonical => FluentValue::from(n),
        _ => FluentValue::from(t),
    }
}

/// The last guard of "every screen fits": cut at a character boundary. The checker makes this
/// unreachable for shipped texts; it exists for data from lookups.
pub fn fit(mut text: String, limit: usize) -> String {
    if gsm7::fits(&text, limit) {
        return text;
    }
    // One pass: keep characters while both the GSM-7 and the UCS-2 reading fit, and cut at
    // the first that would not fit the encoding the kept prefix needs.
    let (mut septets, mut utf16, mut ucs2) = (0usize, 0usize, false);
    let mut cut = text.len();
    for (i, c) in text.char_indices() {
        match gsm7::septets(c) {
            Some(n) => septets += n,
            None => ucs2 = true,
        }
        utf16 += c.len_utf16();
        let fits = if ucs2 { utf16 <= limit / 2 } else { septets <= limit };
        if !fits {
            cut = i;
            break;
        }
    }
    text.truncate(cut);
    text
}

fn holds(c: &Condition, s: &Session) -> bool {
    match c {
        Condition::Set(v) => s.var(v).is_some_and(|x| !x.is_empty()),
        Condition::Unset(v) => s.var(v).is_none_or(|x| x.is_empty()),
        Condition::Equals(v, want) => s.var(v).as_deref() == Some(want.as_str()),
        Condition::NotEquals(v, want) => s.var(v).as_deref() != Some(want.as_str()),
    }
}
