//! The menu file format as written by administrators (`menus/*.toml`), with source spans.
//!
//! These types mirror the file one to one so that every field keeps its position for error
//! messages; `menu::load` turns them into the compiled [`crate::menu::Menu`] the engine runs.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

/// One menu file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MenuFile {
    pub menu: Header,
    /// Declared maximum widths of variables set by lookups (and inputs without a length bound).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, VariableDef>")]
    pub variables: BTreeMap<Spanned<String>, Spanned<VariableDef>>,
    #[schemars(with = "BTreeMap<String, ScreenDef>")]
    pub screens: BTreeMap<Spanned<String>, Spanned<ScreenDef>>,
    /// SMS keywords citizens send to the short code, and the replies they get.
    #[schemars(with = "Option<SmsDef>")]
    pub sms: Option<Spanned<SmsDef>>,
    /// The national catalogue: services as rows, flows as templates.
    #[schemars(with = "Option<super::catalogue::model::CatalogueDef>")]
    pub catalogue: Option<Spanned<super::catalogue::model::CatalogueDef>>,
}

/// The `[sms]` table. Keywords are Fluent message ids whose value in each locale is the word
/// (or words, separated by spaces or commas) citizens send in that language.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsDef {
    /// The reply to a text that names no keyword.
    #[schemars(with = "String")]
    pub help: Spanned<String>,
    /// `HALI NJ-7K2QX`: the state of one of the sender's own requests.
    #[schemars(with = "Option<SmsStatusDef>")]
    pub status: Option<Spanned<SmsStatusDef>>,
    /// `LUGHA EN`: the language remembered for the sender's number.
    #[schemars(with = "Option<SmsLanguageDef>")]
    pub language: Option<Spanned<SmsLanguageDef>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsStatusDef {
    #[schemars(with = "String")]
    pub keyword: Spanned<String>,
    /// The answer; takes `$reference`, `$service` and `$status`.
    #[schemars(with = "String")]
    pub reply: Spanned<String>,
    /// No request of the sender's has that reference; takes `$reference`.
    #[schemars(with = "String")]
    pub not_found: Spanned<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsLanguageDef {
    #[schemars(with = "String")]
    pub keyword: Spanned<String>,
    /// The confirmation, in the language just chosen.
    #[schemars(with = "String")]
    pub reply: Spanned<String>,
    /// The text names no language Njia speaks.
    #[schemars(with = "String")]
    pub unknown: Spanned<String>,
}

/// The `[menu]` table.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Header {
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    #[schemars(with = "Vec<String>")]
    pub service_codes: Spanned<Vec<Spanned<String>>>,
    #[schemars(with = "String")]
    pub start: Spanned<String>,
    /// Screen asked on first use, when the phone number has no remembered language.
    #[schemars(with = "Option<String>")]
    pub language_screen: Option<Spanned<String>>,
    /// Locale used until the user chooses one.
    #[schemars(with = "Option<String>")]
    pub default_locale: Option<Spanned<String>>,
    #[serde(default)]
    pub navigation: NavigationDef,
    /// The sender id receipts of this menu's requests come from (Africa's Talking `from`):
    /// a county's menu sends as the county. Unset: the deployment's `[sms.africastalking].from`.
    #[schemars(with = "Option<String>")]
    pub sms_sender: Option<Spanned<String>>,
}

/// Navigation keys; Kenyan defaults `0` Back, `00` Home, `98` More.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NavigationDef {
    pub back: Option<String>,
    pub home: Option<String>,
    pub more: Option<String>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableDef {
    /// Widest value as shown; an amount defaults to 7 (`250,000`), a date to 10.
    pub max_width: Option<usize>,
    /// `text` (the default), `amount` (whole shillings) or `date` (`YYYY-MM-DD`).
    #[serde(rename = "type")]
    #[schemars(with = "Option<String>")]
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
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreenDef {
    #[schemars(with = "Option<String>")]
    pub kind: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub text: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub next: Option<Spanned<String>>,
    // menu and language
    #[schemars(with = "Option<Vec<OptionDef>>")]
    pub options: Option<Vec<Spanned<OptionDef>>>,
    #[schemars(with = "Option<String>")]
    pub options_from: Option<Spanned<String>>,
    // menu (options_from) and input
    #[schemars(with = "Option<String>")]
    pub save_as: Option<Spanned<String>>,
    // input
    #[schemars(with = "Option<ValidateDef>")]
    pub validate: Option<Spanned<ValidateDef>>,
    #[schemars(with = "Option<bool>")]
    pub secret: Option<Spanned<bool>>,
    #[schemars(with = "Option<bool>")]
    pub navigation: Option<Spanned<bool>>,
    #[schemars(with = "Option<String>")]
    pub normalize: Option<Spanned<String>>,
    // lookup
    #[schemars(with = "Option<String>")]
    pub backend: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub operation: Option<Spanned<String>>,
    #[schemars(with = "Option<Vec<String>>")]
    pub args: Option<Vec<Spanned<String>>>,
    #[schemars(with = "Option<Vec<String>>")]
    pub provides: Option<Vec<Spanned<String>>>,
    #[schemars(with = "Option<String>")]
    pub not_found: Option<Spanned<String>>,
    // submit
    #[schemars(with = "Option<String>")]
    pub service: Option<Spanned<String>>,
    #[schemars(with = "Option<PaymentDef>")]
    pub payment: Option<Spanned<PaymentDef>>,
    #[schemars(with = "Option<Vec<String>>")]
    pub fields: Option<Vec<Spanned<String>>>,
    // search
    /// The screen shown when a search finds nothing.
    #[schemars(with = "Option<String>")]
    pub empty: Option<Spanned<String>>,
    // menu (options_from)
    /// What the listed items are: `services` lists services by their codes, shows each by
    /// its name, and opens the one chosen.
    #[schemars(with = "Option<String>")]
    pub list: Option<Spanned<String>>,
}

/// One option of a menu or language screen.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionDef {
    #[schemars(with = "String")]
    pub label: Spanned<String>,
    #[schemars(with = "Option<String>")]
    pub goto: Option<Spanned<String>>,
    /// Shown only when this condition holds: `var`, `!var`, `var == value`, `var != value`.
    #[schemars(with = "Option<String>")]
    pub when: Option<Spanned<String>>,
    /// Variables set when the option is chosen.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// For language screens: the locale this option selects.
    #[schemars(with = "Option<String>")]
    pub locale: Option<Spanned<String>>,
}

/// Validators of an input screen; all that are present must pass.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateDef {
    #[schemars(with = "Option<String>")]
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
    #[schemars(with = "Option<String>")]
    pub error: Option<Spanned<String>>,
}

/// Payment a submit asks for, naming the variables that hold the amount and the account.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentDef {
    #[schemars(with = "String")]
    pub amount: Spanned<String>,
    #[schemars(with = "String")]
    pub account: Spanned<String>,
}

/// The kinds of files administrators write, each with its JSON Schema (`njia schema`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// `menus/*.toml`.
    Menu,
    /// `menus/templates/*.toml`.
    Template,
    /// `menus/catalogue/*.toml`.
    Agency,
}

impl FileKind {
    pub const ALL: [FileKind; 3] = [FileKind::Menu, FileKind::Template, FileKind::Agency];

    /// The name `njia schema` takes and the shipped schema's file is named by.
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Menu => "menu",
            FileKind::Template => "template",
            FileKind::Agency => "agency",
        }
    }

    /// The JSON Schema of this kind of file, derived from the types the loader reads it into,
    /// pretty-printed with a trailing newline.
    pub fn schema(self) -> String {
        // Draft 7, which Taplo (and so VS Code's Even Better TOML) reads.
        let generator = schemars::generate::SchemaSettings::draft07().into_generator();
        let schema = match self {
            FileKind::Menu => generator.into_root_schema_for::<MenuFile>(),
            FileKind::Template => generator.into_root_schema_for::<super::catalogue::model::TemplateFile>(),
            FileKind::Agency => generator.into_root_schema_for::<super::catalogue::model::AgencyFile>(),
        };
        let mut schema = schema.to_value();
        without_null(&mut schema);
        let mut out = serde_json::to_string_pretty(&schema).unwrap_or_default();
        out.push('\n');
        out
    }
}

/// TOML has no null: an optional key is absent, never "null or a value". Removes the null
/// alternative schemars gives every `Option`, so an editor never suggests one.
fn without_null(v: &mut serde_json::Value) {
    use serde_json::Value;
    let null = |x: &Value| x.get("type").and_then(Value::as_str) == Some("null");
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t.as_str() != Some("null"));
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(alts)) = map.get_mut("anyOf") {
                alts.retain(|a| !null(a));
                if alts.len() == 1 {
                    let only = alts.remove(0);
                    map.remove("anyOf");
                    if let Value::Object(inner) = only {
                        for (k, x) in inner {
                            map.entry(k).or_insert(x);
                        }
                    }
                }
            }
            for x in map.values_mut() {
                without_null(x);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(without_null),
        _ => {}
    }
}
