//! The menu file format as written by administrators (`menus/*.toml`), with source spans.
//!
//! These types mirror the file one to one so that every field keeps its position for error
//! messages; `menu::load` turns them into the compiled [`crate::menu::Menu`] the engine runs.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// One menu file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MenuFile {
    pub menu: Header,
    /// Declared maximum widths of variables set by lookups (and inputs without a length bound).
    #[serde(default)]
    pub variables: BTreeMap<Spanned<String>, Spanned<VariableDef>>,
    pub screens: BTreeMap<Spanned<String>, Spanned<ScreenDef>>,
    /// SMS keywords citizens send to the short code, and the replies they get.
    pub sms: Option<Spanned<SmsDef>>,
    /// The national catalogue: services as rows, flows as templates.
    pub catalogue: Option<Spanned<super::catalogue::model::CatalogueDef>>,
}

/// The `[sms]` table. Keywords are Fluent message ids whose value in each locale is the word
/// (or words, separated by spaces or commas) citizens send in that language.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsDef {
    /// The reply to a text that names no keyword.
    pub help: Spanned<String>,
    /// `HALI NJ-7K2QX`: the state of one of the sender's own requests.
    pub status: Option<Spanned<SmsStatusDef>>,
    /// `LUGHA EN`: the language remembered for the sender's number.
    pub language: Option<Spanned<SmsLanguageDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsStatusDef {
    pub keyword: Spanned<String>,
    /// The answer; takes `$reference`, `$service` and `$status`.
    pub reply: Spanned<String>,
    /// No request of the sender's has that reference; takes `$reference`.
    pub not_found: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsLanguageDef {
    pub keyword: Spanned<String>,
    /// The confirmation, in the language just chosen.
    pub reply: Spanned<String>,
    /// The text names no language Njia speaks.
    pub unknown: Spanned<String>,
}

/// The `[menu]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub id: Spanned<String>,
    pub service_codes: Spanned<Vec<Spanned<String>>>,
    pub start: Spanned<String>,
    /// Screen asked on first use, when the phone number has no remembered language.
    pub language_screen: Option<Spanned<String>>,
    /// Locale used until the user chooses one.
    pub default_locale: Option<Spanned<String>>,
    #[serde(default)]
    pub navigation: NavigationDef,
    /// The sender id receipts of this menu's requests come from (Africa's Talking `from`):
    /// a county's menu sends as the county. Unset: the deployment's `[sms.africastalking].from`.
    pub sms_sender: Option<Spanned<String>>,
}

/// Navigation keys; Kenyan defaults `0` Back, `00` Home, `98` More.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NavigationDef {
    pub back: Option<String>,
    pub home: Option<String>,
    pub more: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDef {
    /// Widest value as shown; an amount defaults to 7 (`250,000`), a date to 10.
    pub max_width: Option<usize>,
    /// `text` (the default), `amount` (whole shillings) or `date` (`YYYY-MM-DD`).
    #[serde(rename = "type")]
    pub ty: Option<Spanned<String>>,
    /// A wider text value is shortened with `...` instead of refused (screens only: a variable
    /// that reaches a submit or a lookup may not be shortened).
    #[serde(default)]
    pub truncate: bool,
    /// Every value the variable can take, for the checker's selector-key rule.
    pub values: Option<Vec<String>>,
}

/// One screen: a flat table whose allowed fields depend on `kind`.
///
/// Kept flat (rather than a serde-tagged enum) so every field keeps its span and a field used
/// with the wrong kind gets a precise error instead of a generic "unknown variant".
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScreenDef {
    pub kind: Option<Spanned<String>>,
    pub text: Option<Spanned<String>>,
    pub next: Option<Spanned<String>>,
    // menu and language
    pub options: Option<Vec<Spanned<OptionDef>>>,
    pub options_from: Option<Spanned<String>>,
    // menu (options_from) and input
    pub save_as: Option<Spanned<String>>,
    // input
    pub validate: Option<Spanned<ValidateDef>>,
    pub secret: Option<Spanned<bool>>,
    pub navigation: Option<Spanned<bool>>,
    pub normalize: Option<Spanned<String>>,
    // lookup
    pub backend: Option<Spanned<String>>,
    pub operation: Option<Spanned<String>>,
    pub args: Option<Vec<Spanned<String>>>,
    pub provides: Option<Vec<Spanned<String>>>,
    pub not_found: Option<Spanned<String>>,
    // submit
    pub service: Option<Spanned<String>>,
    pub payment: Option<Spanned<PaymentDef>>,
    pub fields: Option<Vec<Spanned<String>>>,
    // search
    /// The screen shown when a search finds nothing.
    pub empty: Option<Spanned<String>>,
    // menu (options_from)
    /// What the listed items are: `services` lists services by their codes, shows each by
    /// its name, and opens the one chosen.
    pub list: Option<Spanned<String>>,
}

/// One option of a menu or language screen.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionDef {
    pub label: Spanned<String>,
    pub goto: Option<Spanned<String>>,
    /// Shown only when this condition holds: `var`, `!var`, `var == value`, `var != value`.
    pub when: Option<Spanned<String>>,
    /// Variables set when the option is chosen.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// For language screens: the locale this option selects.
    pub locale: Option<Spanned<String>>,
}

/// Validators of an input screen; all that are present must pass.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateDef {
    pub pattern: Option<Spanned<String>>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// A Kenyan mobile number; the saved value is normalised to `2547XXXXXXXX`.
    #[serde(default)]
    pub phone: bool,
    pub one_of: Option<Vec<String>>,
    /// Message shown when validation fails (defaults to `njia-invalid-input`).
    pub error: Option<Spanned<String>>,
}

/// Payment a submit asks for, naming the variables that hold the amount and the account.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentDef {
    pub amount: Spanned<String>,
    pub account: Spanned<String>,
}
