//! The menu engine: a pure function from (menu, session, input) to the next step.
//!
//! No IO, no clock, no randomness: given the same menu, catalog, session and input it returns
//! the same step, which is what makes it cheap to test exhaustively and safe to run on any
//! instance. IO the flow needs (a lookup, a durable submit) is returned as a [`Step`] for the
//! caller to perform and feed back. Bad input is never an error: it is the same screen again
//! with a localized reason on top.
//!
//! This module holds the public API: [`Ctx`], the session state and the steps. The work is
//! split along its seams:
//!
//! - `step`: the flow: starting, applying an input, a lookup's answer, a submit's END,
//!   resuming a dropped session.
//! - `render`: views, pagination and the text of a screen, measured in GSM-7 or UCS-2.
//! - `prepared`: what serving prepares once per menu set ([`Served`], [`Prepared`]): option
//!   labels, texts and the finished pages of fixed screens, so most hops answer with a copy.
//! - `validation`: what a citizen types or a backend answers, admitted into a session.

mod prepared;
mod render;
mod step;
mod validation;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::i18n::Catalog;
use crate::menu::{Menu, ScreenId};
use crate::types::Locale;

pub use prepared::{Prepared, Served, serve};
pub use render::{fit, recent_on_first_page, shown_with_error};
pub use step::{
    begin, begin_returning, current, lookup_answered, offer_recent, resumable, step, stored_end, submitted,
    used_service,
};

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

/// What the engine needs besides the session: the menu, what serving prepared for it, the
/// words, and the screen limit.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub menu: &'a Menu,
    /// Option labels, texts and fixed pages prepared for `menu` ([`Prepared::none`] when
    /// nothing is: every render is then laid out on the spot, to the same text).
    pub prepared: &'a Prepared,
    pub catalog: &'a Catalog,
    /// The channel's screen limit in GSM-7 characters (160 by default).
    pub limit: usize,
}

impl<'a> Ctx<'a> {
    /// The context of a served menu: renders answer from what was prepared for it.
    pub fn new(served: &'a Served, catalog: &'a Catalog, limit: usize) -> Ctx<'a> {
        Ctx { menu: &served.menu, prepared: &served.prepared, catalog, limit }
    }

    /// The context of a plain menu, with nothing prepared: what the checker lays out. Slower
    /// per render, never different.
    pub fn unprepared(menu: &'a Menu, catalog: &'a Catalog, limit: usize) -> Ctx<'a> {
        Ctx { menu, prepared: Prepared::none(), catalog, limit }
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
    /// The codes of the catalogue services the start screen offers first, numbered by their
    /// codes (see [`begin`]): the number's recent services, chosen when the session began.
    /// Home keeps them: they are the number's, not the flow's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<u32>,
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

    /// How many items the list variable `name` holds (none when unset or not a list).
    fn list_len(&self, name: &str) -> usize {
        match self.value(name) {
            Some(Value::List(l)) => l.len(),
            Some(Value::Codes(c)) => c.len(),
            _ => 0,
        }
    }

    /// Item `i` of the list variable `name`.
    fn list_item(&self, name: &str, i: usize) -> Option<ListItem<'_>> {
        match self.value(name)? {
            Value::List(l) => l.get(i).map(|t| ListItem::Text(t)),
            Value::Codes(c) => c.get(i).map(|&c| ListItem::Code(c)),
            _ => None,
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

/// One item of a list variable: a text, or a catalogue service's code ([`Value::Codes`]).
#[derive(Clone, Copy, Debug)]
enum ListItem<'a> {
    Text(&'a str),
    Code(u32),
}

impl ListItem<'_> {
    /// The service code the item names, when it is one (a text item written as a number).
    fn code(self) -> Option<u32> {
        match self {
            ListItem::Text(t) => t.parse().ok(),
            ListItem::Code(c) => Some(c),
        }
    }
}

impl std::fmt::Display for ListItem<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListItem::Text(t) => f.write_str(t),
            ListItem::Code(c) => write!(f, "{c}"),
        }
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
    /// A catalogue search found nothing for these words: count them (never with the number),
    /// so administrators learn what citizens look for.
    pub missed: Option<String>,
}

impl From<Step> for Outcome {
    fn from(step: Step) -> Outcome {
        Outcome { step, language: None, missed: None }
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
