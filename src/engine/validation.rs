//! Admission into a session: a typed input normalised and validated, a menu choice read as a
//! number, and a backend's answer held to the variables a lookup provides, in their declared
//! types and widths.

use super::{Ctx, MAX_LIST_ITEMS, Refused, Value};
use crate::menu::{Input, Normalize};

/// The provided values of an answer, admitted; the first refusal otherwise.
pub(super) fn admit_answer(
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
pub(super) fn admit(ctx: Ctx<'_>, var: &str, raw: &str) -> Result<Value, crate::value::Refusal> {
    crate::value::admit(ctx.menu.rule(var), raw)
}

pub(super) fn parse_choice(input: &str) -> Option<usize> {
    if input.is_empty() || input.len() > 4 || !input.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    input.parse().ok()
}

/// Normalises and validates an input; the value to save on success.
pub(super) fn validate(inp: &Input, raw: &str) -> Result<String, ()> {
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
