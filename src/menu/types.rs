//! The compiled menu, what the engine runs and the checker inspects: screens with every
//! reference resolved to a [`ScreenId`], validators compiled, and each variable's declared type
//! and width. Plain data: nothing here formats a word or lays out a screen.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::diag::Place;
use crate::types::Locale;
use crate::value::{Value, VarRule, VarType};

use super::Sms;

/// Index of a screen within its menu.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ScreenId(pub u16);

/// Navigation keys of a menu.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Navigation {
    pub back: Box<str>,
    pub home: Box<str>,
    pub more: Box<str>,
}

impl Default for Navigation {
    fn default() -> Navigation {
        Navigation { back: "0".into(), home: "00".into(), more: "98".into() }
    }
}

/// A compiled menu.
#[derive(Debug)]
pub struct Menu {
    pub id: String,
    pub file: PathBuf,
    /// A hash of the file's bytes: sessions remember which version they started on.
    pub version: u64,
    pub service_codes: Vec<String>,
    /// Where each service code is written, for the checker.
    pub service_code_places: Vec<Place>,
    pub start: ScreenId,
    pub language_screen: Option<ScreenId>,
    pub default_locale: Option<Locale>,
    pub nav: Navigation,
    pub screens: Vec<Screen>,
    /// Declared maximum widths (from `[variables]` and inferred from input validators).
    pub var_widths: HashMap<String, usize>,
    /// Where each variable was declared, for the checker.
    pub var_places: HashMap<String, Place>,
    /// Variables that hold something other than text (amounts, dates); every other is text.
    pub var_types: HashMap<String, VarType>,
    /// Text variables a wider value may be shortened in (`truncate = true`).
    pub var_truncate: HashSet<String>,
    /// Values declared with `values = [...]`, for the selector-key rule.
    pub var_values: HashMap<String, Vec<String>>,
    /// The `[sms]` section: keywords and replies of the SMS channel.
    pub sms: Option<Sms>,
    /// The sender id of this menu's receipts, when it has its own.
    pub sms_sender: Option<String>,
    /// The catalogue whose services' screens this menu holds, if it has one.
    pub catalogue: Option<Box<super::Catalogue>>,
    /// How many catalogue services the start screen leads to straight (see
    /// [`Menu::home_leads_to`]), counted once when the menu compiles.
    pub home_services: usize,
    /// Screens by name, for [`Menu::screen_id`].
    pub(super) index: HashMap<String, ScreenId>,
}

impl Menu {
    pub fn screen(&self, id: ScreenId) -> &Screen {
        &self.screens[usize::from(id.0)]
    }

    /// True when the start screen is a menu with an option leading straight to `entry`: a
    /// service one choice away, which the start screen never offers again as a recent one.
    pub fn home_leads_to(&self, entry: ScreenId) -> bool {
        matches!(&self.screen(self.start).kind, Kind::Menu { options, .. } if options.iter().any(|o| o.goto == entry))
    }

    pub fn screen_id(&self, name: &str) -> Option<ScreenId> {
        self.index.get(name).copied()
    }

    /// How a value of `var` is admitted: its type, its width (the widest a screen is checked
    /// with; [`MAX_WIDTH`] for a variable never declared) and whether it may be shortened.
    pub fn rule(&self, var: &str) -> VarRule {
        Rules { nav: &self.nav, widths: &self.var_widths, types: &self.var_types, truncate: &self.var_truncate }
            .rule(var)
    }
}

/// One screen.
#[derive(Debug)]
pub struct Screen {
    pub name: String,
    pub place: Place,
    /// Fluent message id of the screen's text.
    pub text: Option<Message>,
    pub kind: Kind,
    /// The catalogue service this screen starts (an index into its services): entering it
    /// sets the service's code and name.
    pub service: Option<u16>,
    /// The catalogue service whose flow this screen is part of: reached from its entry without
    /// passing home, another service's entry or a list of services, and from no other
    /// service's. A session ending here used that service.
    pub within: Option<u16>,
}

/// A Fluent message id with the place that names it.
#[derive(Clone, Debug)]
pub struct Message {
    pub id: String,
    pub place: Place,
}

#[derive(Debug)]
pub enum Kind {
    Menu { options: Vec<MenuOption>, list: Option<ListOptions> },
    Input(Input),
    Lookup(Lookup),
    Submit(Submit),
    End,
    Language { options: Vec<LanguageOption>, next: Option<ScreenId> },
}

impl Kind {
    /// The screens this one leads to by its own definition: options, a list's one screen, an
    /// input's next (and its search's no-result screen), a lookup's next, a language screen's
    /// next. Not the services a list of services may hold, nor the start screen a language
    /// screen without `next` returns to: those depend on the menu, which callers add.
    pub fn successors(&self) -> Vec<ScreenId> {
        match self {
            Kind::Menu { options, list } => {
                let listed = match list.as_ref().map(|l| l.next) {
                    Some(ListNext::Screen(next)) => Some(next),
                    _ => None,
                };
                options.iter().map(|o| o.goto).chain(listed).collect()
            }
            Kind::Input(i) => std::iter::once(i.next).chain(i.search.as_ref().map(|s| s.empty)).collect(),
            Kind::Lookup(l) => vec![l.next],
            Kind::Language { next, .. } => next.iter().copied().collect(),
            Kind::Submit(_) | Kind::End => Vec::new(),
        }
    }
}

#[derive(Debug)]
pub struct MenuOption {
    pub label: Message,
    pub goto: ScreenId,
    pub when: Option<Condition>,
    /// Values set when chosen, admitted at load time like any other value.
    pub set: Vec<(String, Value)>,
}

/// Options built at run time from a list variable; the chosen item is saved in `save_as`.
#[derive(Debug)]
pub struct ListOptions {
    pub var: String,
    pub save_as: Option<String>,
    pub next: ListNext,
}

/// Where choosing a listed item leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListNext {
    /// One screen for every item.
    Screen(ScreenId),
    /// The items are catalogue codes, shown by their services' names: the chosen service.
    Service,
}

#[derive(Debug)]
pub struct LanguageOption {
    pub label: Message,
    pub locale: Locale,
}

#[derive(Debug)]
pub struct Input {
    pub save_as: String,
    pub validate: Validation,
    pub secret: bool,
    /// Whether the Back and Home keys navigate here (and are shown). By default they do
    /// exactly when the validators could never accept them as data (`[A-Z]{3}[0-9]{4}` cannot
    /// be `0`); `navigation = true` or `false` in the file decides instead.
    pub navigation: bool,
    /// `navigation` as the file wrote it, for the checker's warnings.
    pub navigation_declared: Option<bool>,
    pub normalize: Normalize,
    pub next: ScreenId,
    /// A search screen: what was typed is looked up in the catalogue.
    pub search: Option<Search>,
}

/// Where a search leads: `Input::next` lists what it found (saved in `results` as codes), or
/// `empty` says it found nothing.
#[derive(Debug)]
pub struct Search {
    pub results: String,
    pub empty: ScreenId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalize {
    Trim,
    Upper,
    Lower,
}

impl Validation {
    /// The value to save when `v` (already normalised, not empty) passes every validator, in
    /// its canonical spelling: `+003` is saved as `3`, `YES` as the listed `yes`, a phone
    /// number as `2547…`, so conditions, lookups and widths see one spelling. `None` when a
    /// validator refuses it.
    pub fn accept(&self, v: String) -> Option<String> {
        if let Some((lo, hi)) = self.length {
            let n = v.chars().count();
            if n < lo || n > hi {
                return None;
            }
        }
        if self.pattern.as_ref().is_some_and(|p| !p.is_match(&v)) {
            return None;
        }
        let mut v = v;
        if let Some((lo, hi)) = self.range {
            v = v.parse::<i64>().ok().filter(|n| *n >= lo && *n <= hi)?.to_string();
        }
        if let Some(allowed) = &self.one_of {
            v = allowed.iter().find(|a| a.eq_ignore_ascii_case(&v))?.clone();
        }
        if self.phone {
            return crate::types::Msisdn::parse_kenyan_mobile(&v).ok().map(crate::types::Msisdn::digits);
        }
        Some(v)
    }

    /// Whether a citizen typing `v` would pass every validator (normalising changes no
    /// digit): how the menu learns whether `0` and `00` can be data on a screen.
    pub fn admits(&self, v: &str) -> bool {
        self.accept(v.to_owned()).is_some()
    }
}

#[derive(Debug, Default)]
pub struct Validation {
    /// Shared by every input with the same pattern: a `Regex` clone would carry its own
    /// cache pool (about a kilobyte), and a catalogue repeats a few patterns thousands of times.
    pub pattern: Option<std::sync::Arc<regex::Regex>>,
    pub length: Option<(usize, usize)>,
    pub range: Option<(i64, i64)>,
    pub phone: bool,
    pub one_of: Option<Vec<String>>,
    pub error: Option<Message>,
}

#[derive(Debug)]
pub struct Lookup {
    pub backend: String,
    pub operation: String,
    /// Where `backend` and `operation` are written, for the checker's lookup-data rules.
    pub backend_place: Place,
    pub operation_place: Place,
    pub args: Vec<String>,
    pub provides: Vec<String>,
    pub next: ScreenId,
    pub not_found: Option<Message>,
}

#[derive(Debug)]
pub struct Submit {
    pub service: String,
    pub payment: Option<Payment>,
    /// Variables copied into the request; `None` means every non-secret variable.
    pub fields: Option<Vec<String>>,
}

#[derive(Debug)]
pub struct Payment {
    pub amount: String,
    pub account: String,
}

/// A condition on session variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    Set(String),
    Unset(String),
    Equals(String, String),
    NotEquals(String, String),
}

impl Condition {
    /// Parses `var`, `!var`, `var == value` or `var != value` (value optionally quoted).
    pub fn parse(raw: &str) -> Option<Condition> {
        let raw = raw.trim();
        let name_ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let unquote = |s: &str| {
            let s = s.trim();
            let q = s.len() >= 2
                && ((s.starts_with('"') && s.ends_with('"')) || (s.starts_with('\'') && s.ends_with('\'')));
            if q { s[1..s.len() - 1].to_owned() } else { s.to_owned() }
        };
        if let Some((l, r)) = raw.split_once("!=") {
            let l = l.trim();
            return name_ok(l).then(|| Condition::NotEquals(l.to_owned(), unquote(r)));
        }
        if let Some((l, r)) = raw.split_once("==") {
            let l = l.trim();
            return name_ok(l).then(|| Condition::Equals(l.to_owned(), unquote(r)));
        }
        if let Some(v) = raw.strip_prefix('!') {
            let v = v.trim();
            return name_ok(v).then(|| Condition::Unset(v.to_owned()));
        }
        name_ok(raw).then(|| Condition::Set(raw.to_owned()))
    }

    pub fn var(&self) -> &str {
        match self {
            Condition::Set(v) | Condition::Unset(v) | Condition::Equals(v, _) | Condition::NotEquals(v, _) => v,
        }
    }
}

/// The declarations admission needs while screens compile (and, once compiled, [`Menu::rule`]).
pub(super) struct Rules<'a> {
    pub(super) nav: &'a Navigation,
    pub(super) widths: &'a HashMap<String, usize>,
    pub(super) types: &'a HashMap<String, VarType>,
    pub(super) truncate: &'a HashSet<String>,
}

impl Rules<'_> {
    pub(super) fn rule(&self, var: &str) -> VarRule {
        VarRule {
            ty: self.types.get(var).copied().unwrap_or_default(),
            width: self.widths.get(var).copied().unwrap_or(MAX_WIDTH).min(MAX_WIDTH),
            truncate: self.truncate.contains(var),
        }
    }
}

/// Widest variable the checker considers: beyond any screen, and small enough that worst-case
/// renderings stay cheap.
pub const MAX_WIDTH: usize = 200;
