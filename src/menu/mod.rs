//! Menus as data: the compiled, validated form of `menus/*.toml` that the engine runs.
//!
//! Loading resolves every screen reference to an index once, compiles regexes once and
//! collects every structural problem with its file and line; the graph and wording rules that
//! need the locale catalog live in `check`. This is the bottom of the serving layers: it knows
//! no renderer, hub or checker, and the engine keeps what it prepares for serving beside a
//! menu, never in it.
//!
//! - `types`: the compiled [`Menu`] and its screens, validators and conditions.
//! - `compiler`: `menus/*.toml` into menus ([`load_dir`], [`load_str`]), with [`closest`] for
//!   "did you mean" hints.
//! - `routing`: [`MenuSet`], service codes to menus, and which menus a channel may reach.
//! - `sms`: the `[sms]` section and its [`Keyword`]s.
//! - [`catalogue`]: services as rows and flows as templates, expanded into screens at load.
//! - [`model`]: the TOML file as written, with spans.

pub mod catalogue;
mod compiler;
pub mod model;
mod routing;
mod sms;
mod types;

pub use catalogue::Catalogue;
pub use compiler::{closest, load_dir, load_str};
pub use routing::{MenuFilter, MenuSet, allows, normalize_code};
pub use sms::{Action, Keyword, Sms, SmsLanguage, SmsStatus};
pub use types::{
    Condition, Input, Kind, LanguageOption, ListNext, ListOptions, Lookup, MAX_WIDTH, Menu, MenuOption, Message,
    Navigation, Normalize, Payment, Screen, ScreenId, Search, Submit, Validation,
};
