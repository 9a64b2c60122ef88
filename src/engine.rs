//! The menu engine: a pure function from (menu, session, input) to the next step.
//!
//! No IO, no clock, no randomness: given the same menu, catalog, session and input it returns
//! the same step, which is what makes it cheap to test exhaustively and safe to run on any
//! instance. IO the flow needs (a lookup, a durable submit) is returned as a [`Step`] for the
//! caller to perform and feed back. Bad input is never an error: it is the same screen again
//! with a localized reason on top.

use std::borrow::Cow;

use fluent::{FluentArgs, FluentValue};
use serde::{Deserialize, Serialize};

use crate::gsm7;
use crate::i18n::Catalog;
use crate::menu::{Condition, Input, Kind, Menu, Normalize, ScreenId};
use crate::types::Locale;

/// Messages the engine itself shows; every locale must define them (the checker enforces it).
pub const SYSTEM_MESSAGES: &[&str] = &[
    "njia-invalid-choice",
    "njia-invalid-input",
    "njia-lookup-failed",
    "njia-lookup-not-found",
    "njia-nav-back",
    "njia-nav-home",
    "njia-nav-more",
    "njia-technical-problem",
];

/// Most items kept from a list a lookup returns (they are paginated, but not without end).
pub const MAX_LIST_ITEMS: usize = 50;

/// How many screens Back can return through; older ones are forgotten to bound memory.
const MAX_STACK: usize = 32;

/// What the engine needs besides the session: the menu, the words, and the screen limit.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub menu: &'a Menu,
    pub catalog: &'a Catalog,
    /// The channel's screen limit in GSM-7 characters (160 by default).
    pub limit: usize,
}

/// Option labels and navigation lines of one menu, formatted and measured once per locale
/// when the menu set is loaded, so rendering a menu does no Fluent lookup for them.
#[derive(Debug, Default)]
pub struct Prepared {
    locales: Vec<(Locale, PreparedLocale)>,
}

#[derive(Debug)]
struct PreparedLocale {
    /// Per screen, per option (menu and language screens; empty for other kinds).
    labels: Vec<Vec<Line>>,
    /// Per screen, its text when that uses no variable (the same on every render).
    headers: Vec<Option<Line>>,
    /// Per screen, the finished pages of a screen that looks the same to everyone (see
    /// [`Fixed`]); empty for other screens.
    fixed: Vec<Vec<Fixed>>,
    more: Line,
    back: Line,
    home: Line,
}

/// A formatted line and its cost.
#[derive(Debug)]
struct Line {
    text: Box<str>,
    cost: LineCost,
}

impl Line {
    fn new(text: String) -> Line {
        let cost = LineCost::of(&text);
        Line { text: text.into_boxed_str(), cost }
    }
}

/// A navigation line such as `98. Zaidi`, with its cost.
fn nav_line(catalog: &Catalog, locale: &Locale, key: &str, id: &str) -> Line {
    Line::new(format!("{key}. {}", catalog.format(locale, id, None)))
}

/// The finished pages of a screen whose text and options use no variable and no condition
/// (a menu, language or input screen),
/// at one screen limit and one navigation depth: all a render of it can depend on besides the
/// page. Most hops land on such a menu, and answering them is then a copy.
#[derive(Debug)]
struct Fixed {
    limit: usize,
    /// The back stack's depth, capped at 2: none (no Back), one (Back), two or more (Back and
    /// Home).
    depth: u8,
    pages: Box<[Box<str>]>,
    /// The items each page shows, as `(first, last)` item indices: what a choice on that page
    /// may pick, known without laying the page out again.
    items: Box<[(usize, usize)]>,
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
fn prepared_text<'a>(ctx: Ctx<'a>, s: &Session, screen: ScreenId) -> Option<&'a Line> {
    ctx.menu.prepared.get(&s.locale)?.headers.get(usize::from(screen.0))?.as_ref()
}

/// Lays out every page of a fixed screen at each limit and depth, through the same code as
/// a render (so the two can never disagree; a test holds them to it).
fn fixed_pages(menu: &Menu, catalog: &Catalog, locale: &Locale, screen: ScreenId, limits: &[usize]) -> Vec<Fixed> {
    let mut out = Vec::new();
    for &limit in limits {
        let ctx = Ctx { menu, catalog, limit };
        for depth in 0..=2u8 {
            let mut s = Session {
                locale: locale.clone(),
                screen,
                page: 0,
                stack: vec![Frame { screen: menu.start, page: 0 }; usize::from(depth)],
                vars: Vec::new(),
                secrets: Secrets::default(),
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
                let labels = menu
                    .screens
                    .iter()
                    .map(|sc| match &sc.kind {
                        Kind::Menu { options, .. } => options.iter().map(|o| Line::new(f(&o.label.id))).collect(),
                        Kind::Language { options, .. } => options.iter().map(|o| Line::new(f(&o.label.id))).collect(),
                        _ => Vec::new(),
                    })
                    .collect();
                let headers = menu
                    .screens
                    .iter()
                    .map(|sc| {
                        let text = sc.text.as_ref()?;
                        fixed_text(catalog, locale, &text.id).then(|| Line::new(f(&text.id)))
                    })
                    .collect();
                let fixed = (0..menu.screens.len())
                    .map(|i| {
                        let id = ScreenId(i as u16);
                        if is_fixed(menu.screen(id), catalog, locale) {
                            fixed_pages(menu, catalog, locale, id, limits)
                        } else {
                            Vec::new()
                        }
                    })
                    .collect();
                let nav = &menu.nav;
                let prepared = PreparedLocale {
                    labels,
                    headers,
                    fixed,
                    more: nav_line(catalog, locale, &nav.more, "njia-nav-more"),
                    back: nav_line(catalog, locale, &nav.back, "njia-nav-back"),
                    home: nav_line(catalog, locale, &nav.home, "njia-nav-home"),
                };
                (locale.clone(), prepared)
            })
            .collect();
        Prepared { locales }
    }

    fn get(&self, locale: &Locale) -> Option<&PreparedLocale> {
        self.locales.iter().find(|(l, _)| l == locale).map(|(_, p)| p)
    }
}

pub use crate::value::Value;

/// A screen to return to with Back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    pub screen: ScreenId,
    pub page: u16,
}

/// Where a user is in a menu and what they have entered so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub locale: Locale,
    pub screen: ScreenId,
    pub page: u16,
    pub stack: Vec<Frame>,
    pub vars: Vec<(Box<str>, Value)>,
    /// Secret inputs (PINs): kept only until the next lookup or submit consumes them, never
    /// serialized, never logged (their `Debug` shows names only).
    #[serde(skip)]
    pub secrets: Secrets,
}

/// Secret inputs by name. A newtype so that `Debug` (and any log line built from it) can
/// never print a value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(pub Vec<(Box<str>, Box<str>)>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(k, _)| format!("{k}=<redacted>"))).finish()
    }
}

impl std::ops::Deref for Secrets {
    type Target = Vec<(Box<str>, Box<str>)>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Secrets {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Session {
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.vars.iter().find(|(k, _)| &**k == name).map(|(_, v)| v)
    }

    /// A variable's canonical text (digits for an amount, ISO for a date); `None` when unset
    /// or a list.
    pub fn var(&self, name: &str) -> Option<Cow<'_, str>> {
        self.value(name).and_then(Value::canonical)
    }

    fn list(&self, name: &str) -> &[Box<str>] {
        match self.value(name) {
            Some(Value::List(l)) => l.as_slice(),
            _ => &[],
        }
    }

    pub fn set_var(&mut self, name: &str, value: Value) {
        match self.vars.iter_mut().find(|(k, _)| &**k == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((name.into(), value)),
        }
    }

    fn secret(&self, name: &str) -> Option<&str> {
        self.secrets.iter().find(|(k, _)| &**k == name).map(|(_, v)| &**v)
    }

    fn push(&mut self) {
        if self.stack.len() == MAX_STACK {
            self.stack.remove(0);
        }
        self.stack.push(Frame { screen: self.screen, page: self.page });
    }
}

/// What happens next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Show `text`; `end` closes the session (USSD `END`).
    Show { text: String, end: bool },
    /// Perform this lookup, then call [`lookup_answered`].
    Lookup(LookupCall),
    /// Store this request durably, then call [`submitted`] for the END screen.
    Submit(SubmitCall),
}

/// A step plus effects the caller must persist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub step: Step,
    /// The user chose this language: remember it for their phone number.
    pub language: Option<Locale>,
}

impl From<Step> for Outcome {
    fn from(step: Step) -> Outcome {
        Outcome { step, language: None }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupCall {
    pub backend: String,
    pub operation: String,
    /// Argument names and values (secrets included: lookups are where they are used).
    pub args: Vec<(String, String)>,
    /// The citizen's language, so a backend can answer in it.
    pub language: Locale,
}

/// What a lookup returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupAnswer {
    Found(Vec<(String, Value)>),
    NotFound,
    /// Timed out or failed: the user sees an apology and can try again.
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitCall {
    pub service: String,
    /// What the request must be paid with first, if anything.
    pub payment: Option<PaymentCall>,
    /// The request's fields, never including secrets.
    pub fields: Vec<(String, String)>,
}

/// The payment a submit asks for: the amount as the number it was admitted as, never re-read
/// from a screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentCall {
    pub amount: crate::money::Kes,
    /// The account the payment is for (e.g. the parcel number).
    pub account: String,
}

/// A lookup answer the engine refused: a value that did not parse as its variable's type or
/// did not fit its width. The citizen sees the lookup apology; the caller logs and counts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub variable: String,
    pub why: crate::value::Refusal,
}

/// The step after a lookup answer, and what was refused in it, if anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answered {
    pub step: Step,
    pub refused: Option<Refused>,
}

/// Starts a session: the language screen on first use, else the menu's start screen.
pub fn begin(ctx: Ctx<'_>, locale: Locale, ask_language: bool) -> (Session, Step) {
    let start = match (ask_language, ctx.menu.language_screen) {
        (true, Some(l)) => l,
        _ => ctx.menu.start,
    };
    let mut s =
        Session { locale, screen: start, page: 0, stack: Vec::new(), vars: Vec::new(), secrets: Secrets::default() };
    let step = enter(ctx, &mut s, start);
    (s, step)
}

/// Applies one input to the session.
pub fn step(ctx: Ctx<'_>, s: &mut Session, input: &str) -> Outcome {
    let nav = &ctx.menu.nav;
    let input = input.trim();
    let screen = ctx.menu.screen(s.screen);
    match &screen.kind {
        Kind::Menu { .. } | Kind::Language { .. } => {
            if input == &*nav.home {
                return go_home(ctx, s).into();
            }
            if input == &*nav.back {
                return go_back(ctx, s).into();
            }
            if input == &*nav.more {
                if let Some(pages) = fixed_for(ctx, s) {
                    if usize::from(s.page) + 1 < pages.len() {
                        s.page += 1;
                        return Step::Show { text: pages[usize::from(s.page)].to_string(), end: false }.into();
                    }
                    return render(ctx, s, Some("njia-invalid-choice")).into();
                }
                let view = view(ctx, s);
                if view.broken {
                    return apology(ctx, s).into();
                }
                if view.pages.get(usize::from(s.page) + 1).is_some() {
                    s.page += 1;
                    // The layout does not depend on the page, so reuse it.
                    return Step::Show { text: fit(page_text(s, view, ctx.limit), ctx.limit), end: false }.into();
                }
                return render(ctx, s, Some("njia-invalid-choice")).into();
            }
            // Numbering is stable across pages, but only what this page shows can be chosen:
            // a citizen never lands somewhere they never saw (typing 16 on page 2, where 16
            // is on page 3, is a wrong choice, not a jump).
            let items = items(ctx, s);
            let (first, last) = on_page(ctx, s, items.len());
            let Some(n) = parse_choice(input).filter(|n| (first + 1..=last).contains(n)) else {
                return render(ctx, s, Some("njia-invalid-choice")).into();
            };
            choose(ctx, s, items[n - 1])
        }
        Kind::Input(inp) => {
            if inp.navigation && input == &*nav.home {
                return go_home(ctx, s).into();
            }
            if inp.navigation && input == &*nav.back {
                return go_back(ctx, s).into();
            }
            // What the citizen typed is admitted like any other value: typed amounts and dates
            // are parsed here, and a value wider than its variable is a wrong input.
            let admitted = validate(inp, input).and_then(|value| {
                if inp.secret {
                    Ok(Value::Text(value.into()))
                } else {
                    admit(ctx, &inp.save_as, &value).map_err(|_| ())
                }
            });
            match admitted {
                Ok(value) => {
                    if inp.secret {
                        let Value::Text(value) = value else { return render(ctx, s, None).into() };
                        s.secrets.retain(|(k, _)| **k != *inp.save_as);
                        s.secrets.push((inp.save_as.as_str().into(), value));
                    } else {
                        s.set_var(&inp.save_as, value);
                    }
                    s.push();
                    enter(ctx, s, inp.next).into()
                }
                Err(()) => {
                    let err = inp.validate.error.as_ref().map_or("njia-invalid-input", |m| m.id.as_str());
                    render(ctx, s, Some(err)).into()
                }
            }
        }
        // The session never rests on these kinds; show where it is without moving.
        Kind::Lookup(_) | Kind::Submit(_) | Kind::End => enter(ctx, s, s.screen).into(),
    }
}

/// Continues after a lookup the caller performed.
///
/// Every value the answer provides is admitted first ([`crate::value::admit`]): parsed into
/// its variable's type and held to its declared width. One refused value refuses the whole
/// answer (the citizen sees the lookup apology, nothing is set), because a screen or a submit
/// built on part of an answer would be wrong in a way nobody sees.
pub fn lookup_answered(ctx: Ctx<'_>, s: &mut Session, answer: LookupAnswer) -> Answered {
    let Kind::Lookup(l) = &ctx.menu.screen(s.screen).kind else {
        return Answered { step: render(ctx, s, None), refused: None };
    };
    s.secrets.clear();
    let mut refused = None;
    let error = match answer {
        LookupAnswer::Found(values) => match admit_answer(ctx, &l.provides, values) {
            Ok(values) => {
                // A backend sets only what the menu says it provides: the checker proved the
                // screens fit with those widths, and a backend must not overwrite what the
                // citizen entered.
                for (k, v) in values {
                    s.set_var(&k, v);
                }
                return Answered { step: enter(ctx, s, l.next), refused: None };
            }
            Err(r) => {
                refused = Some(r);
                "njia-lookup-failed"
            }
        },
        LookupAnswer::NotFound => l.not_found.as_ref().map_or("njia-lookup-not-found", |m| m.id.as_str()),
        LookupAnswer::Failed => "njia-lookup-failed",
    };
    Answered { step: lookup_failed(ctx, s, error), refused }
}

/// The provided values of an answer, admitted; the first refusal otherwise.
fn admit_answer(
    ctx: Ctx<'_>,
    provides: &[String],
    values: Vec<(String, Value)>,
) -> Result<Vec<(String, Value)>, Refused> {
    let mut out = Vec::with_capacity(values.len());
    for (k, v) in values {
        if !provides.contains(&k) {
            continue;
        }
        // A list is kept to what a menu can page through.
        let v = match v {
            Value::List(mut items) => {
                items.truncate(MAX_LIST_ITEMS);
                Value::List(items)
            }
            other => other,
        };
        match crate::value::admit_value(ctx.menu.rule(&k), &v) {
            Ok(v) => out.push((k, v)),
            Err(why) => return Err(Refused { variable: k, why }),
        }
    }
    Ok(out)
}

/// Admits `raw` as a value of `var` under the menu's declaration.
fn admit(ctx: Ctx<'_>, var: &str, raw: &str) -> Result<Value, crate::value::Refusal> {
    crate::value::admit(ctx.menu.rule(var), raw)
}

/// Back to the screen that led to a lookup, with the reason on top: the session goes on.
fn lookup_failed(ctx: Ctx<'_>, s: &mut Session, error: &str) -> Step {
    match s.stack.pop() {
        Some(f) => {
            s.screen = f.screen;
            s.page = f.page;
            render(ctx, s, Some(error))
        }
        None => Step::Show { text: fit(ctx.catalog.format(&s.locale, error, None).into_owned(), ctx.limit), end: true },
    }
}

/// The END screen after the caller stored the request under `reference`.
pub fn submitted(ctx: Ctx<'_>, s: &mut Session, reference: &str) -> Step {
    s.secrets.clear();
    s.set_var("reference", Value::Text(reference.into()));
    let text = match ctx.menu.screen(s.screen).text.as_ref() {
        Some(m) => format(ctx, s, &m.id),
        None => Some(String::new()),
    };
    match text {
        Some(text) => Step::Show { text: fit(text, ctx.limit), end: true },
        None => apology(ctx, s),
    }
}

/// The END a stored request's submit showed, rendered again from what the store kept (its
/// language, fields and amount): the answer to a telco's retry of the final hop when the
/// session that showed it is gone. `None` when the menu has no submit for the service.
pub fn stored_end(
    ctx: Ctx<'_>,
    locale: Locale,
    service: &str,
    fields: &[(String, String)],
    amount: Option<crate::money::Kes>,
    reference: &str,
) -> Option<Step> {
    let screen =
        ctx.menu.screens.iter().position(|s| matches!(&s.kind, Kind::Submit(sub) if sub.service == service))?;
    let mut s = Session {
        locale,
        screen: ScreenId(u16::try_from(screen).ok()?),
        page: 0,
        stack: Vec::new(),
        vars: Vec::new(),
        secrets: Secrets::default(),
    };
    for (k, v) in fields {
        // Stored canonical; typed again so amounts and dates show as they did.
        let value = admit(ctx, k, v).unwrap_or_else(|_| Value::Text(v.as_str().into()));
        s.set_var(k, value);
    }
    if let (Kind::Submit(sub), Some(kes)) = (&ctx.menu.screen(s.screen).kind, amount)
        && let Some(p) = &sub.payment
    {
        s.set_var(&p.amount, Value::Amount(kes));
    }
    Some(submitted(ctx, &mut s, reference))
}

/// The localized apology that replaces a screen whose text could not be formatted (a variable
/// it uses is unset): a citizen never sees a raw `{$…}`. The checker makes this unreachable
/// for shipped menus; it guards the rest.
fn apology(ctx: Ctx<'_>, s: &Session) -> Step {
    let text = ctx.catalog.format(&s.locale, "njia-technical-problem", None).into_owned();
    Step::Show { text: fit(text, ctx.limit), end: true }
}

/// Prepares a dropped session's state to be continued by a later dial. Secret inputs are
/// dropped; if one was still held (typed, and not yet used by a lookup), the screens after it
/// depend on it, so the session goes back to the screen that asked for it, which asks again.
/// False when there is nothing worth continuing: the session never left its first screen.
pub fn resumable(ctx: Ctx<'_>, s: &mut Session) -> bool {
    if !s.secrets.is_empty() {
        let asked = s.stack.iter().position(|f| {
            matches!(&ctx.menu.screen(f.screen).kind,
                Kind::Input(i) if i.secret && s.secrets.iter().any(|(k, _)| **k == *i.save_as))
        });
        match asked {
            Some(at) => {
                s.screen = s.stack[at].screen;
                s.stack.truncate(at);
            }
            // Its frame was trimmed from a very deep stack: start over rather than guess.
            None => {
                s.screen = ctx.menu.start;
                s.stack.clear();
                s.vars.clear();
            }
        }
        s.page = 0;
        s.secrets.clear();
    }
    let resting = matches!(ctx.menu.screen(s.screen).kind, Kind::Menu { .. } | Kind::Input(_) | Kind::Language { .. });
    let first = s.stack.is_empty()
        && s.vars.is_empty()
        && s.page == 0
        && (s.screen == ctx.menu.start || Some(s.screen) == ctx.menu.language_screen);
    resting && !first
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
    };
    match laid_out(ctx, &s, Some(error)) {
        Step::Show { text, .. } => text,
        _ => String::new(),
    }
}

/// The current screen again (a telco retry after a lost reply, or an inconsistent hop).
pub fn current(ctx: Ctx<'_>, s: &Session) -> Step {
    render(ctx, s, None)
}

fn choose(ctx: Ctx<'_>, s: &mut Session, item: Item) -> Outcome {
    match (&ctx.menu.screen(s.screen).kind, item) {
        (Kind::Menu { options, .. }, Item::Option(i)) => {
            let o = &options[i];
            for (k, v) in &o.set {
                s.set_var(k, v.clone());
            }
            s.push();
            enter(ctx, s, o.goto).into()
        }
        (Kind::Menu { list: Some(list), .. }, Item::ListItem(i)) => {
            let chosen = s.list(&list.var).get(i).cloned().unwrap_or_default();
            s.set_var(&list.save_as, Value::Text(chosen));
            s.push();
            enter(ctx, s, list.next).into()
        }
        (Kind::Language { options, next }, Item::Option(i)) => {
            let locale = options[i].locale.clone();
            s.locale = locale.clone();
            let target = next.unwrap_or(ctx.menu.start);
            // A language chosen on first use leads into the menu proper: nothing to go back to.
            if Some(s.screen) == ctx.menu.language_screen && s.stack.is_empty() {
                s.stack.clear();
            } else {
                s.push();
            }
            Outcome { step: enter(ctx, s, target), language: Some(locale) }
        }
        _ => render(ctx, s, Some("njia-invalid-choice")).into(),
    }
}

/// The items the session's page shows, as `(first, last)` with item `i` numbered `i + 1`.
/// A screen with one page shows them all (no layout needed); otherwise the layout says.
fn on_page(ctx: Ctx<'_>, s: &Session, n: usize) -> (usize, usize) {
    if let Some(f) = fixed_layout(ctx, s) {
        if f.items.len() <= 1 {
            return (0, n);
        }
        let page = usize::from(s.page).min(f.items.len() - 1);
        return f.items.get(page).map_or((0, n), |&(a, b)| (a, b.min(n)));
    }
    let v = view(ctx, s);
    let page = usize::from(s.page).min(v.pages.len().saturating_sub(1));
    v.pages.get(page).copied().map_or((0, n), |(a, b)| (a, b.min(n)))
}

/// Home starts over: the back stack and everything entered so far are forgotten, so a later
/// request never carries values from an abandoned flow.
fn go_home(ctx: Ctx<'_>, s: &mut Session) -> Step {
    s.stack.clear();
    s.vars.clear();
    s.secrets.clear();
    enter(ctx, s, ctx.menu.start)
}

fn go_back(ctx: Ctx<'_>, s: &mut Session) -> Step {
    if s.page > 0 {
        s.page -= 1;
    } else if let Some(f) = s.stack.pop() {
        s.screen = f.screen;
        s.page = f.page;
    }
    render(ctx, s, None)
}

/// Moves to `target` and runs it: resting screens render, the others become steps.
fn enter(ctx: Ctx<'_>, s: &mut Session, target: ScreenId) -> Step {
    s.screen = target;
    s.page = 0;
    if target == ctx.menu.start {
        s.stack.clear();
    }
    let screen = ctx.menu.screen(target);
    match &screen.kind {
        Kind::Menu { .. } | Kind::Input(_) | Kind::Language { .. } => render(ctx, s, None),
        Kind::End => {
            let text = match (prepared_text(ctx, s, target), &screen.text) {
                (Some(line), _) => Some(line.text.to_string()),
                (None, Some(m)) => format(ctx, s, &m.id),
                (None, None) => Some(String::new()),
            };
            s.secrets.clear();
            match text {
                Some(text) => Step::Show { text: fit(text, ctx.limit), end: true },
                None => apology(ctx, s),
            }
        }
        Kind::Lookup(l) => Step::Lookup(LookupCall {
            language: s.locale.clone(),
            backend: l.backend.clone(),
            operation: l.operation.clone(),
            args: l
                .args
                .iter()
                .map(|a| {
                    let v = s.var(a).map(Cow::into_owned).or_else(|| s.secret(a).map(str::to_owned));
                    (a.clone(), v.unwrap_or_default())
                })
                .collect(),
        }),
        Kind::Submit(sub) => {
            let fields = match &sub.fields {
                Some(names) => names.iter().filter_map(|n| s.var(n).map(|v| (n.clone(), v.into_owned()))).collect(),
                None => s.vars.iter().filter_map(|(k, v)| Some((k.to_string(), v.canonical()?.into_owned()))).collect(),
            };
            let payment = match &sub.payment {
                None => None,
                // The amount is the number admitted when it entered the session. Anything else
                // here (unset, or text from a session stored before amounts were typed) is never
                // parsed into a charge: the citizen gets the apology, nothing is stored.
                Some(p) => match s.value(&p.amount) {
                    Some(Value::Amount(amount)) => Some(PaymentCall {
                        amount: *amount,
                        account: s.var(&p.account).map(Cow::into_owned).unwrap_or_default(),
                    }),
                    _ => return apology(ctx, s),
                },
            };
            Step::Submit(SubmitCall { service: sub.service.clone(), payment, fields })
        }
    }
}

/// One selectable line of a menu or language screen.
#[derive(Clone, Copy, Debug)]
enum Item {
    Option(usize),
    ListItem(usize),
}

/// A resting screen laid out for the current locale: what is selectable and the pages.
struct View<'a> {
    /// Labels without their numbers; item `i` is shown as `{i + 1}. {label}`.
    labels: Vec<Cow<'a, str>>,
    /// Item index ranges, one per page.
    pages: Vec<(usize, usize)>,
    header: Cow<'a, str>,
    /// A reason shown on top (invalid choice, lookup failed), not part of the layout.
    error: Option<Cow<'a, str>>,
    nav: NavLabels<'a>,
    /// The header could not be formatted: the screen must not be shown (see [`apology`]).
    broken: bool,
}

fn view<'a>(ctx: Ctx<'a>, s: &Session) -> View<'a> {
    view_with(ctx, s, None)
}

fn view_with<'a>(ctx: Ctx<'a>, s: &Session, error: Option<&str>) -> View<'a> {
    let screen = ctx.menu.screen(s.screen);
    // The layout never depends on the error line: the same page holds the same items with or
    // without it, so an error never moves or hides an option (see `page_text`).
    let error = error.map(|e| Cow::Owned(ctx.catalog.format(&s.locale, e, None).into_owned()));
    // Labels (and texts without variables) prepared at load time when the locale has them;
    // formatted here otherwise (a menu built without `Prepared`, or a locale added to sessions
    // but not to the catalog).
    let prepared = ctx.menu.prepared.get(&s.locale);
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
            (Kind::Menu { list: Some(list), .. }, Item::ListItem(i)) => {
                let text = s.list(&list.var).get(i).map(|v| v.to_string()).unwrap_or_default();
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
    let pages = paginate(ctx, s, &nav, header_cost, &labels);
    View { labels: labels.into_iter().map(|(t, _)| t).collect(), pages, header, error, nav, broken }
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

/// The selectable items of the current menu or language screen, in display order.
fn items(ctx: Ctx<'_>, s: &Session) -> Vec<Item> {
    match &ctx.menu.screen(s.screen).kind {
        Kind::Menu { options, list } => {
            // Listed items (the citizen's own data) first, then the fixed options such as
            // "enter another", the order people expect on a handset.
            let listed = list.as_ref().map_or(0, |l| s.list(&l.var).len());
            let mut out = Vec::with_capacity(listed + options.len());
            out.extend((0..listed).map(Item::ListItem));
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

/// Splits numbered items into pages that fit the limit with their navigation lines.
/// Every page holds at least one item, so the layout always makes progress.
///
/// Each line is measured once; the layout itself is arithmetic on those measures, which keeps
/// a 16-option paginated menu in the low microseconds.
fn paginate(
    ctx: Ctx<'_>,
    s: &Session,
    nav: &NavLabels<'_>,
    header_cost: LineCost,
    items: &[(Cow<'_, str>, LineCost)],
) -> Vec<(usize, usize)> {
    let item_costs: Vec<LineCost> = items.iter().enumerate().map(|(i, (_, c))| c.numbered(i + 1)).collect();
    // Navigation costs for (first page?, has more?): the lines differ only in those two ways.
    let nav_cost = |page: usize, has_more: bool| -> LineCost {
        nav.lines(s, page, has_more).fold(LineCost::EMPTY, |acc, (_, c)| acc.then(*c))
    };
    let navs = [[nav_cost(0, false), nav_cost(0, true)], [nav_cost(1, false), nav_cost(1, true)]];
    let mut pages = Vec::new();
    let mut start = 0;
    while start < items.len() || pages.is_empty() {
        let [without_more, with_more] = navs[usize::from(!pages.is_empty())];
        let fits_with = |end: usize, nav: LineCost| {
            item_costs[start..end].iter().fold(header_cost, |acc, c| acc.then(*c)).then(nav).fits(ctx.limit)
        };
        if fits_with(items.len(), without_more) {
            pages.push((start, items.len()));
            break;
        }
        let mut end = start + 1;
        while end < items.len() && fits_with(end + 1, with_more) {
            end += 1;
        }
        pages.push((start, end));
        start = end;
    }
    pages
}

/// The cost of one or more lines joined with newlines, in both encodings.
#[derive(Clone, Copy, Debug)]
struct LineCost {
    /// GSM-7 septets, or `None` once any character needs UCS-2.
    septets: Option<usize>,
    utf16: usize,
    /// False for the empty sequence, so joining adds no newline before the first line.
    any: bool,
}

impl LineCost {
    const EMPTY: LineCost = LineCost { septets: Some(0), utf16: 0, any: false };

    fn of(line: &str) -> LineCost {
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
fn page_text(s: &Session, v: View<'_>, limit: usize) -> String {
    let page = usize::from(s.page).min(v.pages.len().saturating_sub(1));
    let (a, b) = v.pages.get(page).copied().unwrap_or((0, 0));
    let mut body = String::with_capacity(v.labels[a..b].iter().map(|l| l.len() + 6).sum::<usize>() + 48);
    for (i, l) in v.labels[a..b].iter().enumerate() {
        body.push('\n');
        push_number(&mut body, a + i + 1);
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

fn render(ctx: Ctx<'_>, s: &Session, error: Option<&str>) -> Step {
    if error.is_none()
        && let Some(text) = fixed_page(ctx, s)
    {
        return Step::Show { text: text.to_owned(), end: false };
    }
    laid_out(ctx, s, error)
}

/// The prepared pages of the session's screen, when it is fixed (see [`Fixed`]).
fn fixed_for<'a>(ctx: Ctx<'a>, s: &Session) -> Option<&'a [Box<str>]> {
    fixed_layout(ctx, s).map(|f| &*f.pages)
}

fn fixed_layout<'a>(ctx: Ctx<'a>, s: &Session) -> Option<&'a Fixed> {
    let fixed = ctx.menu.prepared.get(&s.locale)?.fixed.get(usize::from(s.screen.0))?;
    let depth = depth_class(s);
    fixed.iter().find(|f| f.limit == ctx.limit && f.depth == depth)
}

/// The prepared text of the session's page, when its screen is fixed.
fn fixed_page<'a>(ctx: Ctx<'a>, s: &Session) -> Option<&'a str> {
    let pages = fixed_for(ctx, s)?;
    // Past the last page shows the last page, as a layout does.
    let page = usize::from(s.page).min(pages.len().checked_sub(1)?);
    pages.get(page).map(|p| &**p)
}

/// A render laid out now: the screen's view, its page and the error line.
fn laid_out(ctx: Ctx<'_>, s: &Session, error: Option<&str>) -> Step {
    let screen = ctx.menu.screen(s.screen);
    let v = view_with(ctx, s, error);
    if v.broken {
        return apology(ctx, s);
    }
    let mut text;
    match &screen.kind {
        Kind::Menu { .. } | Kind::Language { .. } => {
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
    Step::Show { text: fit(text, ctx.limit), end: false }
}

/// Formats a screen message with the session's variables as arguments (amounts and dates as
/// citizens read them); `None` when Fluent could not (a variable it uses is unset), so no raw
/// `{$…}` placeable ever reaches a screen.
fn format(ctx: Ctx<'_>, s: &Session, id: &str) -> Option<String> {
    if s.vars.is_empty() {
        return ctx.catalog.format_strict(&s.locale, id, None).map(Cow::into_owned);
    }
    let mut args = FluentArgs::with_capacity(s.vars.len());
    for (k, v) in &s.vars {
        match v {
            Value::Text(t) => args.set(&**k, fluent_value(t)),
            Value::Amount(a) => args.set(&**k, FluentValue::from(a.formatted())),
            Value::Date(d) => args.set(&**k, FluentValue::from(d.shown())),
            Value::List(_) => {}
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

fn parse_choice(input: &str) -> Option<usize> {
    if input.is_empty() || input.len() > 4 || !input.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    input.parse().ok()
}

/// Normalises and validates an input; the value to save on success.
fn validate(inp: &Input, raw: &str) -> Result<String, ()> {
    let v = match inp.normalize {
        Normalize::Trim => raw.trim().to_owned(),
        Normalize::Upper => raw.trim().to_uppercase(),
        Normalize::Lower => raw.trim().to_lowercase(),
    };
    if v.is_empty() {
        return Err(());
    }
    inp.validate.accept(v).ok_or(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Options, ScreenLimit};

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
        let mut compared = 0;
        for menu in loaded.menus.menus.iter() {
            for locale in loaded.catalog.locales() {
                for (i, screen) in menu.screens.iter().enumerate() {
                    let id = ScreenId(i as u16);
                    let fixed = is_fixed(screen, &loaded.catalog, locale);
                    for limit in [120, 160] {
                        let ctx = Ctx { menu, catalog: &loaded.catalog, limit };
                        for depth in 0..=3 {
                            for page in 0..6u16 {
                                let s = Session {
                                    locale: locale.clone(),
                                    screen: id,
                                    page,
                                    stack: vec![Frame { screen: menu.start, page: 0 }; depth],
                                    vars: Vec::new(),
                                    secrets: Secrets::default(),
                                };
                                let prepared = fixed_page(ctx, &s);
                                assert_eq!(prepared.is_some(), fixed, "{} screen {}", menu.id, screen.name);
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
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let fallback = [Locale::parse("sw").unwrap()];
        let opts = Options {
            menus_dir: &root.join("menus"),
            locales_dir: &root.join("locales"),
            limit: 160,
            channels: &[],
            fallback: &fallback,
            lookups_dir: None,
            http_backends: &[],
        };
        let loaded = crate::check::load(&opts).unwrap_or_else(|p| panic!("{p:?}"));
        let menu = loaded.menus.by_id("ecitizen").unwrap();
        let s = Session {
            locale: Locale::parse("en").unwrap(),
            screen: menu.start,
            page: 0,
            stack: Vec::new(),
            vars: Vec::new(),
            secrets: Secrets::default(),
        };
        let at = |limit| Ctx { menu, catalog: &loaded.catalog, limit };
        assert!(fixed_page(at(160), &s).is_some());
        assert!(fixed_page(at(120), &s).is_none());
        let Step::Show { text, .. } = render(at(120), &s, None) else { panic!("a screen") };
        assert!(gsm7::fits(&text, 120), "{text}");
    }
}
