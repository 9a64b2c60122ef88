//! Typed values of menu variables, and the one rule that admits a raw value into a session.
//!
//! A value enters a session from a lookup (a data file or an agency over HTTP), an option's
//! `set`, or a citizen's input. [`admit`] is the boundary: it parses the raw text into the
//! variable's declared type ([`VarType`]) and enforces its declared width. A value that does
//! not parse, or is wider than its width, is refused, never cut silently; only a variable the
//! menu marks `truncate = true` (text that decorates a screen and reaches no submit) is
//! shortened, with `...` so the citizen sees that it was.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::money::{AmountError, Kes};

/// A variable's value in a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    Text(Box<str>),
    /// Items shown by a menu with `options_from`.
    List(Vec<Box<str>>),
    /// The codes of catalogue services, in the order listed (what a search found), each shown
    /// by its service's name. One allocation for the whole list where text items took one
    /// each: every later hop of the session copies the list (the session store hands out a
    /// copy), and twenty results were twenty-one allocations to copy and free. A session
    /// stored before it holds the codes as a `List` of their texts, which still reads.
    Codes(Box<[u32]>),
    /// Whole shillings, shown grouped (`4,500`), stored and charged as the number.
    Amount(Kes),
    /// A calendar date, shown as Kenyans write it (`31/12/2026`), stored as ISO 8601.
    Date(Date),
}

impl Value {
    /// The value as one canonical text (what conditions compare, lookups are given and a
    /// request's fields keep): digits for an amount, `YYYY-MM-DD` for a date. `None` for a
    /// list.
    pub fn canonical(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Value::Text(t) => Some(std::borrow::Cow::Borrowed(t)),
            Value::Amount(k) => Some(std::borrow::Cow::Owned(k.to_string())),
            Value::Date(d) => Some(std::borrow::Cow::Owned(d.to_string())),
            Value::List(_) | Value::Codes(_) => None,
        }
    }

    /// How many characters [`Value::shown`] takes, without building it (admission measures
    /// every looked-up amount on the hop's path).
    pub fn shown_width(&self) -> usize {
        match self {
            Value::Amount(k) => {
                let digits = k.get().checked_ilog10().unwrap_or(0) as usize + 1;
                digits + (digits - 1) / 3
            }
            // DD/MM/YYYY
            Value::Date(_) => 10,
            Value::Text(t) => t.chars().count(),
            Value::List(_) | Value::Codes(_) => 0,
        }
    }

    /// The value as a citizen reads it on a screen or in an SMS.
    pub fn shown(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Value::Amount(k) => Some(std::borrow::Cow::Owned(k.formatted())),
            Value::Date(d) => Some(std::borrow::Cow::Owned(d.shown())),
            other => other.canonical(),
        }
    }
}

/// What a variable holds, from `type = "…"` under `[variables]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VarType {
    #[default]
    Text,
    /// Whole shillings (`4500` or `4,500`); a submit's `payment.amount` is always one.
    Amount,
    /// `YYYY-MM-DD` as it arrives; shown `DD/MM/YYYY`.
    Date,
}

impl VarType {
    pub fn parse(raw: &str) -> Option<VarType> {
        match raw {
            "text" => Some(VarType::Text),
            "amount" => Some(VarType::Amount),
            "date" => Some(VarType::Date),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            VarType::Text => "text",
            VarType::Amount => "amount",
            VarType::Date => "date",
        }
    }

    /// The widest a value of this type is shown, when the type bounds it.
    pub fn natural_width(self) -> Option<usize> {
        match self {
            VarType::Text => None,
            // 250,000
            VarType::Amount => Some(7),
            // 31/12/2026
            VarType::Date => Some(10),
        }
    }
}

/// A variable's declaration as admission needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VarRule {
    pub ty: VarType,
    /// The widest value, in characters, as shown.
    pub width: usize,
    /// Shorten a wider text value (with `...`) instead of refusing it.
    pub truncate: bool,
}

/// Why a raw value was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("not an amount: {0}")]
    Amount(#[from] AmountError),
    #[error("not a date written YYYY-MM-DD")]
    Date,
    #[error("a list where one {0} is expected")]
    List(&'static str),
    #[error("{len} characters, wider than its max_width {width}")]
    TooWide { len: usize, width: usize },
}

/// The marker a shortened value ends with: three GSM-7 dots, so shortening never switches a
/// screen to UCS-2 (the one-character ellipsis is not in the GSM-7 alphabet).
pub const SHORTENED: &str = "...";

/// Parses `raw` into a value of `rule`'s type within its width, or says why not.
pub fn admit(rule: VarRule, raw: &str) -> Result<Value, Refusal> {
    let value = match rule.ty {
        VarType::Text => return admit_text(rule, raw).map(Value::Text),
        VarType::Amount => Value::Amount(Kes::parse(raw)?),
        VarType::Date => Value::Date(Date::parse(raw).ok_or(Refusal::Date)?),
    };
    let len = value.shown_width();
    if len > rule.width {
        return Err(Refusal::TooWide { len, width: rule.width });
    }
    Ok(value)
}

/// A value as a backend answers it (text, or a list of text) admitted under `rule`: the one
/// rule the engine applies to a lookup answer and the checker to lookup data. A list is only
/// for a text variable, each item held to its width; an already typed value stands.
pub fn admit_value(rule: VarRule, value: &Value) -> Result<Value, Refusal> {
    match value {
        Value::Text(t) => admit(rule, t),
        Value::List(items) if rule.ty == VarType::Text => {
            Ok(Value::List(items.iter().map(|i| admit_text(rule, i)).collect::<Result<_, _>>()?))
        }
        Value::List(_) | Value::Codes(_) => Err(Refusal::List(rule.ty.name())),
        typed => Ok(typed.clone()),
    }
}

/// A text value within `rule`'s width: as it is, shortened when the rule allows, else refused.
pub fn admit_text(rule: VarRule, raw: &str) -> Result<Box<str>, Refusal> {
    let Some((cut, _)) = raw.char_indices().nth(rule.width) else { return Ok(raw.into()) };
    if !rule.truncate {
        return Err(Refusal::TooWide { len: raw.chars().count(), width: rule.width });
    }
    let keep = rule.width.saturating_sub(SHORTENED.len());
    let end = raw.char_indices().nth(keep).map_or(cut, |(i, _)| i);
    let mut out = String::with_capacity(end + SHORTENED.len());
    out.push_str(&raw[..end]);
    out.push_str(&SHORTENED[..rule.width.min(SHORTENED.len())]);
    Ok(out.into())
}

/// A calendar date (proleptic Gregorian), validated when parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// Parses exactly `YYYY-MM-DD` naming a day that exists.
    pub fn parse(raw: &str) -> Option<Date> {
        let b = raw.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u16> {
            let s = raw.get(r)?;
            s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok()).flatten()
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (year >= 1900 && (1..=days).contains(&day)).then_some(Date { year, month: month as u8, day: day as u8 })
    }

    /// `31/12/2026`: day first, as dates are written in Kenya.
    pub fn shown(self) -> String {
        format!("{:02}/{:02}/{:04}", self.day, self.month, self.year)
    }
}

/// ISO 8601, the form stored and given to backends.
impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(ty: VarType, width: usize, truncate: bool) -> VarRule {
        VarRule { ty, width, truncate }
    }

    /// A search's results serialize as numbers; a list of texts (what sessions held before)
    /// still reads as one.
    #[test]
    fn codes_and_text_lists_serialize_apart() {
        let codes = Value::Codes(vec![4021, 4022].into());
        let json = serde_json::to_string(&codes).unwrap();
        assert_eq!(json, r#"{"Codes":[4021,4022]}"#);
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), codes);
        let old: Value = serde_json::from_str(r#"{"List":["4021","4022"]}"#).unwrap();
        assert_eq!(old, Value::List(vec!["4021".into(), "4022".into()]));
        assert_eq!(codes.canonical(), None);
        assert_eq!(codes.shown_width(), 0);
    }

    #[test]
    fn dates() {
        assert_eq!(Date::parse("2026-12-31").map(Date::shown).as_deref(), Some("31/12/2026"));
        assert_eq!(Date::parse("2024-02-29").map(|d| d.to_string()).as_deref(), Some("2024-02-29"));
        for bad in ["2025-02-29", "2026-13-01", "2026-00-10", "2026-1-01", "31/12/2026", "", "2026-12-3a", "+026-12-31"]
        {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn text_is_refused_or_shortened_never_cut_silently() {
        assert_eq!(admit(rule(VarType::Text, 5, false), "Amina").unwrap(), Value::Text("Amina".into()));
        assert_eq!(admit(rule(VarType::Text, 5, false), "Aminata"), Err(Refusal::TooWide { len: 7, width: 5 }));
        assert_eq!(admit(rule(VarType::Text, 6, true), "Aminata").unwrap(), Value::Text("Ami...".into()));
        assert_eq!(admit(rule(VarType::Text, 2, true), "Aminata").unwrap(), Value::Text("..".into()));
    }

    #[test]
    fn widths_are_what_is_shown() {
        for n in [1, 9, 10, 999, 1_000, 9_999, 10_000, 100_000, 250_000] {
            let v = Value::Amount(Kes::new(n).unwrap());
            assert_eq!(v.shown_width(), v.shown().unwrap().chars().count(), "{n}");
        }
        let d = Value::Date(Date::parse("2026-12-31").unwrap());
        assert_eq!(d.shown_width(), d.shown().unwrap().chars().count());
    }

    #[test]
    fn amounts_are_measured_as_shown() {
        assert_eq!(admit(rule(VarType::Amount, 6, false), "10000").unwrap(), Value::Amount(Kes::new(10_000).unwrap()));
        // The finding of #11: max_width 5 and "10,000" is a refusal, not KES 1,000.
        assert_eq!(admit(rule(VarType::Amount, 5, true), "10,000"), Err(Refusal::TooWide { len: 6, width: 5 }));
        assert!(matches!(admit(rule(VarType::Amount, 9, false), "10,00"), Err(Refusal::Amount(_))));
    }
}
