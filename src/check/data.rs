//! The checker's rules on what serving will read besides menus and words: lookup backends and
//! their data, and select expressions against the values a variable can take.
//!
//! `njia check` loads the lookup data `serve` will answer from (the same directory, the same
//! loader) and proves that every lookup names a backend that exists, every entry provides
//! what its lookups say, and every value parses as its variable's type within its width. It
//! then holds every select expression to the same keys in every locale and, where the values
//! a variable can take are known, to those values: `[activ]` for `active` is an error, not an
//! active member told they are in arrears.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use crate::diag::{Place, Problem};
use crate::i18n::{Catalog, PLURAL_CATEGORIES};
use crate::lifecycle::RequestStatus;
use crate::lookup::DataFiles;
use crate::menu::{self, Kind, Menu};
use crate::value::{Value, VarType};

/// What the built-in `njia` backend's operations provide.
fn njia_provides(operation: &str) -> Option<&'static [&'static str]> {
    match operation {
        "my_requests" => Some(&["requests"]),
        "request_status" => Some(&["reference", "status", "service"]),
        _ => None,
    }
}

/// Every lookup of `m` against the backends serving will have: the data files in `dir`, the
/// agency backends configured over HTTP (`http`, whose answers are checked when they arrive),
/// and `njia`.
pub fn lookups(m: &Menu, files: &DataFiles, http: &[String], dir: &Path, problems: &mut Vec<Problem>) {
    for screen in &m.screens {
        let Kind::Lookup(l) = &screen.kind else { continue };
        if l.backend == "njia" {
            match njia_provides(&l.operation) {
                None => problems.push(Problem::error(
                    l.operation_place.clone(),
                    format!("backend njia has no operation {:?}", l.operation),
                    "use my_requests (gives requests) or request_status (gives reference, status and service)",
                )),
                Some(gives) => {
                    for p in l.provides.iter().filter(|p| !gives.contains(&p.as_str())) {
                        problems.push(Problem::error(
                            l.operation_place.clone(),
                            format!("njia's {} does not give {p:?}", l.operation),
                            format!("it gives {}", gives.join(", ")),
                        ));
                    }
                }
            }
            continue;
        }
        if http.contains(&l.backend) {
            continue;
        }
        let Some(file) = files.backend(&l.backend) else {
            let mut known: Vec<&str> = files.names().chain(http.iter().map(String::as_str)).collect();
            known.push("njia");
            let hint = menu::closest(&l.backend, &known).map_or_else(
                || {
                    format!(
                        "create {}/{}.toml, or configure [backends.{}] (an agency over HTTP)",
                        dir.display(),
                        l.backend,
                        l.backend
                    )
                },
                |k| format!("did you mean {k:?}?"),
            );
            problems.push(Problem::error(
                l.backend_place.clone(),
                format!(
                    "no lookup backend {:?}: no data file {}/{}.toml and no [backends.{}] configured; every call would answer \"service unavailable\"",
                    l.backend,
                    dir.display(),
                    l.backend,
                    l.backend
                ),
                hint,
            ));
            continue;
        };
        let Some(op) = file.operations.get(&l.operation) else {
            let known: Vec<&str> = file.operations.keys().map(String::as_str).collect();
            problems.push(Problem::error(
                l.operation_place.clone(),
                format!("{} has no entries for operation {:?}", file.file.display(), l.operation),
                menu::closest(&l.operation, &known).map_or_else(
                    || format!("add [{}.\"<key>\"] entries to {}", l.operation, file.file.display()),
                    |k| format!("did you mean {k:?}?"),
                ),
            ));
            continue;
        };
        let lookup_at = format!("{}:{}", l.backend_place.file.display(), l.backend_place.line);
        for (key, entry) in &op.entries {
            for p in &l.provides {
                let Some((_, value, at)) = entry.values.iter().find(|(k, _, _)| k == p) else {
                    problems.push(Problem::error(
                        entry.place.clone(),
                        format!(
                            "entry {key:?} of {} has no {p}, which the lookup at {lookup_at} provides (a citizen would see a broken screen)",
                            l.operation
                        ),
                        format!("add {p} = … to the entry, or take {p} out of the lookup's provides"),
                    ));
                    continue;
                };
                let rule = m.rule(p);
                if let Err(why) = crate::value::admit_value(rule, value) {
                    let fix = match rule.ty {
                        VarType::Amount => "write whole shillings: 4500 or \"4,500\"".to_owned(),
                        VarType::Date => "write the date as \"YYYY-MM-DD\"".to_owned(),
                        VarType::Text if rule.truncate => "shorten it".to_owned(),
                        VarType::Text => format!(
                            "shorten it, raise {p}'s max_width (if the screens still fit), or let screens shorten it: {p} = {{ max_width = {}, truncate = true }}",
                            rule.width
                        ),
                    };
                    problems.push(Problem::error(at.clone(), format!("{p} of entry {key:?}: {why}"), fix));
                }
            }
        }
    }
}

/// The values a variable of a menu can take, when every way it is set is known; `None` for a
/// variable something open sets (a typed input, an agency over HTTP, a list choice).
type Known = HashMap<String, Option<BTreeSet<String>>>;

fn known_values(m: &Menu, menus: &[Menu], files: &DataFiles, http: &[String]) -> Known {
    let mut known: Known = HashMap::new();
    let mut add = |var: &str, values: Option<BTreeSet<String>>| {
        let slot = known.entry(var.to_owned()).or_insert_with(|| Some(BTreeSet::new()));
        match (slot.as_mut(), values) {
            (Some(set), Some(v)) => set.extend(v),
            _ => *slot = None,
        }
    };
    for screen in &m.screens {
        match &screen.kind {
            Kind::Menu { options, list } => {
                for o in options {
                    for (k, v) in &o.set {
                        add(k, v.canonical().map(|c| BTreeSet::from([c.into_owned()])));
                    }
                }
                if let Some(save_as) = list.as_ref().and_then(|l| l.save_as.as_ref()) {
                    add(save_as, None);
                }
            }
            Kind::Input(i) => add(&i.save_as, i.validate.one_of.as_ref().map(|o| o.iter().cloned().collect())),
            Kind::Lookup(l) => {
                for p in &l.provides {
                    let values = if l.backend == "njia" {
                        match p.as_str() {
                            "status" => Some(RequestStatus::ALL.iter().map(|s| s.as_str().to_owned()).collect()),
                            "service" => Some(
                                menus
                                    .iter()
                                    .flat_map(|m| &m.screens)
                                    .filter_map(|s| match &s.kind {
                                        Kind::Submit(sub) => Some(sub.service.clone()),
                                        _ => None,
                                    })
                                    .collect(),
                            ),
                            _ => None,
                        }
                    } else if http.contains(&l.backend) {
                        None
                    } else {
                        files.backend(&l.backend).and_then(|f| f.operations.get(&l.operation)).map(|op| {
                            op.entries
                                .values()
                                .flat_map(|e| &e.values)
                                .filter(|(k, _, _)| k == p)
                                .filter_map(|(_, v, _)| match v {
                                    Value::Text(t) => Some(t.to_string()),
                                    _ => None,
                                })
                                .collect()
                        })
                    };
                    add(p, values);
                }
            }
            Kind::Submit(_) => add("reference", None),
            Kind::End | Kind::Language { .. } => {}
        }
    }
    // A declaration says it outright.
    for (var, values) in &m.var_values {
        known.insert(var.clone(), Some(values.iter().cloned().collect()));
    }
    known
}

/// Select expressions: the same keys in every locale (plural categories aside), and, in the
/// messages a menu's screens show, only keys some value of the variable can take.
pub fn selectors(menus: &[Menu], catalog: &Catalog, files: &DataFiles, http: &[String], problems: &mut Vec<Problem>) {
    let locales: Vec<_> = catalog.locales().cloned().collect();
    let ids: BTreeSet<&str> = menus
        .iter()
        .flat_map(|m| &m.screens)
        .flat_map(super::screen_messages)
        .map(|msg| msg.id.as_str())
        .chain(menus.iter().filter_map(|m| m.sms.as_ref()).flat_map(|s| s.messages()).map(|(msg, _)| msg.id.as_str()))
        .chain(crate::handoff::SMS_MESSAGES.iter().copied())
        .collect();
    let place = |locale: &crate::types::Locale, id: &str| {
        catalog.message(locale, id).map(|info| Place::new(&info.file, info.line, 1))
    };
    // Across locales.
    for id in &ids {
        let mut keys: BTreeMap<&crate::types::Locale, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
        for locale in &locales {
            for sel in catalog.selectors(locale, id) {
                let k = keys.entry(locale).or_default().entry(sel.var).or_default();
                k.extend(sel.keys.into_iter().filter(|k| !PLURAL_CATEGORIES.contains(&k.as_str())));
            }
        }
        // One problem per pair of locales that disagree: which of the two is wrong is for the
        // administrator to say.
        for (locale, vars) in &keys {
            for (var, mine) in vars {
                for (other, their_vars) in keys
                    .range::<&crate::types::Locale, _>((std::ops::Bound::Excluded(locale), std::ops::Bound::Unbounded))
                {
                    let Some(theirs) = their_vars.get(var) else { continue };
                    let only_mine: Vec<&String> = mine.difference(theirs).collect();
                    let only_theirs: Vec<&String> = theirs.difference(mine).collect();
                    if only_mine.is_empty() && only_theirs.is_empty() {
                        continue;
                    }
                    let Some(at) = place(locale, id) else { continue };
                    let keys = |ks: &[&String]| ks.iter().map(|k| format!("[{k}]")).collect::<Vec<_>>().join(" ");
                    let typo = only_mine.iter().find_map(|k| {
                        let candidates: Vec<&str> = only_theirs.iter().map(|t| t.as_str()).collect();
                        menu::closest(k, &candidates).map(|c| format!("[{k}] or [{c}]? "))
                    });
                    problems.push(Problem::error(
                        at,
                        format!(
                            "{id}: the selector on ${var} has {} in {locale} but {} in {other}: citizens reading one language would get another answer than the other",
                            if only_mine.is_empty() { "no other key".to_owned() } else { keys(&only_mine) },
                            if only_theirs.is_empty() { "no other key".to_owned() } else { keys(&only_theirs) },
                        ),
                        format!("{}give every locale the same keys", typo.unwrap_or_default()),
                    ));
                }
            }
        }
    }
    // Against the values each menu's variables can take.
    for m in menus {
        let known = known_values(m, menus, files, http);
        let shown: BTreeSet<&str> =
            m.screens.iter().flat_map(super::screen_messages).map(|msg| msg.id.as_str()).collect();
        for id in shown {
            for locale in &locales {
                for sel in catalog.selectors(locale, id) {
                    let Some(Some(values)) = known.get(&sel.var) else { continue };
                    if values.is_empty() {
                        continue;
                    }
                    let numeric = values.iter().any(|v| v.parse::<f64>().is_ok());
                    for k in &sel.keys {
                        let plural = numeric && PLURAL_CATEGORIES.contains(&k.as_str());
                        if *k == sel.default || plural || values.contains(k) {
                            continue;
                        }
                        let Some(at) = place(locale, id) else { continue };
                        let candidates: Vec<&str> = values.iter().map(String::as_str).collect();
                        let listed: Vec<&str> = candidates.iter().take(12).copied().collect();
                        problems.push(Problem::error(
                            at,
                            format!(
                                "{id}: [{k}] in {locale} can never be chosen: ${} of menu {:?} only takes {}",
                                sel.var,
                                m.id,
                                listed.join(", ")
                            ),
                            menu::closest(k, &candidates).map_or_else(
                                || {
                                    format!(
                                        "use one of its values, or declare them: [variables] {} = {{ values = [...] }}",
                                        sel.var
                                    )
                                },
                                |c| format!("did you mean [{c}]?"),
                            ),
                        ));
                    }
                }
            }
        }
    }
}
