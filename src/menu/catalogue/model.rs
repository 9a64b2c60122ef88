//! The catalogue's files as written, with source spans: the `[catalogue]` table of a menu, one
//! agency file per agency (`menus/catalogue/<agency>.toml`) and one file per flow template
//! (`menus/templates/<template>.toml`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::menu::model::{ScreenDef, VariableDef};

/// The `[catalogue]` table of a menu file: where its services and templates are, and the
/// categories citizens browse by, in the order they are listed.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogueDef {
    /// The folder of agency files, relative to the menu's folder (default `catalogue`).
    #[schemars(with = "Option<String>")]
    pub services: Option<Spanned<String>>,
    /// The folder of flow templates, relative to the menu's folder (default `templates`).
    #[schemars(with = "Option<String>")]
    pub templates: Option<Spanned<String>>,
    /// Category ids; each is named by the Fluent message `cat-<id>`.
    #[schemars(with = "Vec<String>")]
    pub categories: Spanned<Vec<Spanned<String>>>,
    /// How many of a returning citizen's recent services the start screen offers first, 0 to
    /// 3 (0, the default, offers none).
    #[schemars(with = "Option<i64>")]
    pub recent: Option<Spanned<i64>>,
    /// How many days a used service stays among a number's recent ones (default 90).
    #[schemars(with = "Option<i64>")]
    pub recent_days: Option<Spanned<i64>>,
}

/// One agency's file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgencyFile {
    pub agency: AgencyDef,
    #[serde(default)]
    #[schemars(with = "Vec<ServiceDef>")]
    pub service: Vec<Spanned<ServiceDef>>,
}

/// The `[agency]` table. Its name is the Fluent message `agency-<id>`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgencyDef {
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// The lookup backend its services use unless a row names another.
    #[schemars(with = "Option<String>")]
    pub backend: Option<Spanned<String>>,
}

/// One `[[service]]` row. Its name is the Fluent message `svc-<id>`, its search words that
/// message's `.keywords` attribute, in every locale.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceDef {
    /// The number citizens dial after the menu's code: `*384*4021#`.
    #[schemars(with = "i64")]
    pub code: Spanned<i64>,
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    #[schemars(with = "Vec<String>")]
    pub categories: Spanned<Vec<Spanned<String>>>,
    /// The template its screens come from.
    #[schemars(with = "Option<String>")]
    pub flow: Option<Spanned<String>>,
    /// Instead of a template: the hand-written screen of the menu it starts on, for a service
    /// that needs its own screens.
    #[schemars(with = "Option<String>")]
    pub screen: Option<Spanned<String>>,
    /// A fixed fee in whole shillings, for templates that charge one: `1050` or `"1,050"`.
    #[schemars(with = "Option<Fee>")]
    pub fee: Option<Spanned<Fee>>,
    /// The lookup backend, when not the agency's.
    #[schemars(with = "Option<String>")]
    pub backend: Option<Spanned<String>>,
    /// How often citizens use it, relative to the others (search ranks ties by it).
    #[schemars(with = "Option<u32>")]
    pub popularity: Option<Spanned<u32>>,
    /// The template's parameters.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub params: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// A fee as written: a number, or text such as `"1,050"` (what a spreadsheet exports).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Fee {
    Number(i64),
    Text(String),
}

/// One template file: a flow written once, with `{param}`s its rows fill in. A variable's
/// name may be a parameter too (`"{account}"`), so one template serves a parcel number and a
/// KRA PIN under their own names.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateFile {
    pub template: TemplateHeader,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, ParamDef>")]
    pub params: BTreeMap<Spanned<String>, Spanned<ParamDef>>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, VariableDef>")]
    pub variables: BTreeMap<Spanned<String>, Spanned<VariableDef>>,
    #[schemars(with = "BTreeMap<String, ScreenDef>")]
    pub screens: BTreeMap<Spanned<String>, Spanned<ScreenDef>>,
}

/// The `[template]` table.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateHeader {
    /// The screen a service of this template starts on.
    #[schemars(with = "String")]
    pub start: Spanned<String>,
    /// How its services are paid: `none` (the default), `fixed` (the row's `fee`) or
    /// `lookup` (the amount a backend answers).
    #[schemars(with = "Option<String>")]
    pub payment: Option<Spanned<String>>,
    /// One line for administrators: what the flow does.
    pub about: Option<String>,
}

/// A parameter: required unless it has a default (which may use the row's own `{service}`,
/// `{code}`, `{agency}`, `{backend}` and `{fee}`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParamDef {
    pub about: Option<String>,
    pub default: Option<String>,
}
