//! The national catalogue: services as rows of data, flows as templates. A menu with a
//! `[catalogue]` table gets, at load, every service's screens (its template filled in with the
//! row's parameters), the browse screens (category, agency, service) and the search screens,
//! compiled with the menu like screens written by hand. Nothing is built on a hop.
//!
//! - `model`: the files as written (the `[catalogue]` table, agency files, template files).
//! - `expand`: rows and templates into screen definitions, each field placed at the catalogue
//!   row (or template line) it came from, so every mistake is reported there.
//!
//! The compiled [`Catalogue`] sits beside the menu's screens: which screen each service starts
//! on, its code, agency, categories and payment, for dialling a code, search and the
//! administrators' commands.

mod expand;
pub mod model;

use std::collections::HashMap;
use std::path::PathBuf;

use crate::diag::Place;
use crate::money::Kes;

pub(super) use expand::{Expanded, Synth, expand};

use super::ScreenId;

/// The screen of the category list (`goto = "catalogue"` in a menu's options).
pub const BROWSE: &str = "catalogue";
/// The screen asking for a search word.
pub const SEARCH: &str = "catalogue.search";
/// The screen listing what a search found.
pub const RESULTS: &str = "catalogue.results";
/// The screen shown when a search found nothing: another word, or browse.
pub const NONE: &str = "catalogue.none";

/// True for a screen named as the catalogue's loader names those it writes (browse, search,
/// results): `catalogue` and every `catalogue.<...>`.
pub fn is_generated(screen: &str) -> bool {
    screen == BROWSE || screen.strip_prefix(BROWSE).is_some_and(|rest| rest.starts_with('.'))
}
/// The variable a search saves what was typed in.
pub const QUERY_VAR: &str = "query";
/// The list variable a search fills with the codes of what it found.
pub const RESULTS_VAR: &str = "results";
/// The variable entering a service sets to its code (shown as "next time dial *384*4021#").
pub const CODE_VAR: &str = "service_code";
/// The variable entering a service sets to the whole dial string that opens it (`*384*4021#`,
/// after the menu's first service code): what "next time dial" screens and receipts show.
pub const DIAL_VAR: &str = "service_dial";
/// The variable entering a service sets to its name in the citizen's language.
pub const NAME_VAR: &str = "service_name";
/// The variable entering a fixed-fee service sets to its fee (an amount).
pub const FEE_VAR: &str = "fee";
/// The widest a service name may be, in characters: one list row on a feature phone with its
/// number (`12. `), so a page still holds several rows in both languages.
pub const NAME_WIDTH: usize = 32;
/// The most services a search lists: three pages on a feature phone. Ranked, the one meant
/// is near the top; listing fifty made a search hop render fifty names it never shows.
pub const SEARCH_RESULTS: usize = 20;
/// The longest search a citizen can type.
pub const QUERY_WIDTH: usize = 30;
/// Codes are dialled after the menu's code: at least three digits, so they never collide with
/// a menu choice (`*384*1#` picks option 1), at most five.
pub const CODES: std::ops::RangeInclusive<i64> = 100..=99_999;

/// The compiled catalogue of a menu.
#[derive(Debug, Default)]
pub struct Catalogue {
    /// Where the agency files are.
    pub dir: PathBuf,
    /// Where the templates are.
    pub templates_dir: PathBuf,
    /// Category ids in the order citizens see them; names are `cat-<id>`.
    pub categories: Vec<String>,
    pub agencies: Vec<Agency>,
    /// Every service, by code.
    pub services: Vec<Service>,
    pub templates: Vec<Template>,
    /// What the start screen offers a returning citizen.
    pub recent: Recent,
    /// Where `recent` is written, when it is.
    pub recent_place: Option<Place>,
    /// A hash of every file the catalogue was read from (its agency files and templates): what
    /// `njia_build_info` shows, so a dashboard sees which catalogue each instance serves.
    pub version: u64,
    by_code: HashMap<u32, u16>,
}

/// The recent services a start screen offers: at most `count` of those the number used in
/// the last `days` days, most recent first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recent {
    pub count: u8,
    pub days: u16,
}

impl Default for Recent {
    fn default() -> Recent {
        Recent { count: 0, days: Recent::DEFAULT_DAYS }
    }
}

impl Recent {
    /// Most recent services a start screen may offer: each takes a line of a 160-character
    /// screen that already holds the menu's own options.
    pub const MAX_COUNT: u8 = 3;
    /// Days a used service stays recent when the menu does not say.
    pub const DEFAULT_DAYS: u16 = 90;
    /// Longest a number's services may be remembered: a year.
    pub const MAX_DAYS: u16 = 366;

    /// The time before which a use has expired, for a clock reading `now_ms`.
    pub fn expired_before_ms(&self, now_ms: i64) -> i64 {
        now_ms - i64::from(self.days) * 86_400_000
    }
}

impl Catalogue {
    /// The service dialled as `code`.
    pub fn by_code(&self, code: u32) -> Option<&Service> {
        self.by_code.get(&code).map(|&i| &self.services[usize::from(i)])
    }

    /// The index of the service dialled as `code`.
    pub fn index_of(&self, code: u32) -> Option<u16> {
        self.by_code.get(&code).copied()
    }

    pub fn service(&self, index: u16) -> &Service {
        &self.services[usize::from(index)]
    }
}

/// One agency: its file, and the lookup backend its services use by default. Its name is
/// the Fluent message `agency-<id>`.
#[derive(Debug)]
pub struct Agency {
    pub id: String,
    pub file: PathBuf,
    pub backend: Option<String>,
}

/// One service row, instantiated.
#[derive(Debug)]
pub struct Service {
    pub code: u32,
    pub id: String,
    /// The Fluent message naming it (`svc-<id>`); its `.keywords` attribute holds its search
    /// words.
    pub name: String,
    /// Index into [`Catalogue::agencies`].
    pub agency: u16,
    /// Indexes into [`Catalogue::categories`].
    pub categories: Vec<u16>,
    /// Its template's id.
    pub flow: String,
    pub paid: Paid,
    /// The lookup backend it uses (its row's, else its agency's), if any.
    pub backend: Option<String>,
    pub popularity: u32,
    /// The template parameters as the row wrote them.
    pub params: Vec<(String, String)>,
    /// The row, for the checker and the administrators' commands.
    pub place: Place,
    /// The screen it starts on.
    pub entry: ScreenId,
    /// Its code as text, written once at load.
    pub code_text: Box<str>,
    /// The whole dial string that opens it (`*384*4021#`, after the menu's first code),
    /// written once at load: entering it copies this, never formats it.
    pub dial: Box<str>,
}

impl Service {
    /// The dial string of code `code` after a menu's service code (`*384#`).
    pub fn dial_for(menu_code: Option<&str>, code: u32) -> Box<str> {
        match menu_code {
            Some(c) => format!("{}*{code}#", c.trim_end_matches('#')).into(),
            None => code.to_string().into(),
        }
    }
}

/// The Fluent message naming service `id`.
pub fn name_id(id: &str) -> String {
    format!("svc-{id}")
}

/// How a service is paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paid {
    Free,
    Fixed(Kes),
    /// The amount a backend answers for the citizen's account.
    LookedUp,
}

/// How a template's services are paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payment {
    None,
    Fixed,
    Lookup,
}

/// One flow template.
#[derive(Debug)]
pub struct Template {
    pub id: String,
    pub file: PathBuf,
    pub payment: Payment,
    pub about: Option<String>,
    /// Parameters with their description and default (`None`: required).
    pub params: Vec<(String, Option<String>, Option<String>)>,
}
