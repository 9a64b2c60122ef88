//! The catalogue at national scale (issue #13): the generated 5,000 services of 77 agencies
//! (`tests/common/catalogue_gen.rs`) pass `njia check`, serving prepares them with their search
//! index, a search finds a generated service by its name in either language, and services of
//! every template walk to their END through the real engine.

use crate::common;
use crate::common::catalogue_gen::{self, GenService};

use std::sync::Arc;

use njia::check::Loaded;
use njia::engine::{self, Ctx, LookupAnswer, Served, Session, Step};
use njia::types::Locale;

fn generated() -> (tempfile::TempDir, catalogue_gen::Generated, Loaded) {
    let dir = tempfile::tempdir().unwrap();
    let generated = catalogue_gen::generate(dir.path(), catalogue_gen::SERVICES);
    let loaded = common::load(dir.path());
    (dir, generated, loaded)
}

/// Runs steps until a screen is shown, answering lookups from the data files and submits with
/// a fixed reference, as the hub does; returns the screen and whether it ends the session.
fn settle(ctx: Ctx<'_>, s: &mut Session, mut step: Step, l: &Loaded) -> (String, bool) {
    loop {
        step = match step {
            Step::Show { text, end } => return (text, end),
            Step::Lookup(call) => {
                let answer = l.lookups.answer(&call).unwrap_or(LookupAnswer::Failed);
                engine::lookup_answered(ctx, s, answer).step
            }
            Step::Submit(_) => engine::submitted(ctx, s, "NJ-7K2QX"),
        };
    }
}

/// What a citizen types to find `name`: its words without punctuation or the little ones
/// (`ya`, `cha`, `for`), within the 30 characters a search takes, the last words (the thing
/// and the agency) kept first.
fn query(name: &str) -> String {
    let mut words: Vec<&str> = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() > 3 || w.chars().any(|c| c.is_ascii_uppercase()))
        .collect();
    while words.join(" ").len() > 30 {
        words.remove(0);
    }
    words.join(" ")
}

/// The number of the list row showing `name` on `screen`, if any.
fn row(screen: &str, name: &str) -> Option<String> {
    screen.lines().find_map(|l| l.split_once(". ").filter(|(_, rest)| *rest == name).map(|(n, _)| n.to_owned()))
}

/// From home: search for `query`, pick `name` among the results (paging on with 98), then
/// walk the service to its END with `input` and Pay. Returns every screen shown.
fn search_and_walk(ctx: Ctx<'_>, l: &Loaded, locale: &str, query: &str, name: &str, input: &str) -> Vec<String> {
    let (mut s, first) = engine::begin(ctx, Locale::parse(locale).unwrap(), false);
    let mut shown = vec![settle(ctx, &mut s, first, l).0];
    let hop = |s: &mut Session, input: &str, shown: &mut Vec<String>| {
        let o = engine::step(ctx, s, input);
        let (text, end) = settle(ctx, s, o.step, l);
        shown.push(text);
        end
    };
    assert!(!hop(&mut s, "6", &mut shown), "home 6 is search");
    assert!(!hop(&mut s, query, &mut shown));
    let pick = loop {
        let screen = shown.last().unwrap().clone();
        if let Some(n) = row(&screen, name) {
            break n;
        }
        assert!(screen.contains("\n98. "), "{name:?} is not among the results of {query:?}: {shown:#?}");
        hop(&mut s, "98", &mut shown);
    };
    let mut inputs = vec![pick.as_str()];
    if !input.is_empty() {
        inputs.push(input);
    }
    // Pay at a confirm screen; a check or an information service has ended before.
    inputs.push("1");
    for input in inputs {
        if hop(&mut s, input, &mut shown) {
            return shown;
        }
    }
    panic!("{name:?} did not end: {shown:#?}");
}

#[test]
fn five_thousand_services_check_serve_find_and_walk() {
    let (_dir, generated, loaded) = generated();
    assert_eq!(generated.services, catalogue_gen::SERVICES);
    assert_eq!(generated.agencies, catalogue_gen::AGENCIES);
    let menu = loaded.menus.by_id("ecitizen").expect("the e-Citizen menu");
    let catalogue = menu.catalogue.as_deref().expect("its catalogue");
    assert_eq!(catalogue.services.len(), catalogue_gen::SERVICES);
    assert_eq!(catalogue.agencies.len(), catalogue_gen::AGENCIES);
    // Every template is used, and the names are distinct in both languages.
    for flow in ["information", "apply-with-fee", "pay-by-account", "check-status"] {
        assert!(generated.generated.iter().any(|g| g.flow == flow), "no {flow} service");
    }
    let mut names = std::collections::HashSet::new();
    for g in &generated.generated {
        assert!(names.insert(&g.name_en) && names.insert(&g.name_sw), "{} is named twice", g.id);
        assert!(g.name_en.chars().count() <= 32 && g.name_sw.chars().count() <= 32, "{} is too long", g.id);
    }

    // Serving prepares it (the search index included), as `njia serve` does.
    let served = engine::serve(&loaded.menus, &loaded.catalog, |_| vec![160]);
    let served: Arc<Served> = Arc::clone(served.by_id("ecitizen").expect("served"));
    let ctx = Ctx::new(&served, &loaded.catalog, 160);

    // One service of each template, and a few more, found by name in both languages and
    // walked to the END.
    let mut picks: Vec<&GenService> = Vec::new();
    for flow in ["information", "apply-with-fee", "pay-by-account", "check-status"] {
        picks.push(generated.generated.iter().find(|g| g.flow == flow).unwrap());
    }
    picks.extend(generated.generated.iter().step_by(997));
    for g in picks {
        for (locale, name) in [("sw", &g.name_sw), ("en", &g.name_en)] {
            let shown = search_and_walk(ctx, &loaded, locale, &query(name), name, g.input);
            let end = shown.last().unwrap();
            match g.flow {
                "information" => assert!(
                    end.contains("Huduma")
                        || end.contains("ecitizen")
                        || end.contains("ofisi")
                        || end.contains("office"),
                    "{}: {end}",
                    g.id
                ),
                "check-status" => assert!(end.contains("Wanjiku Kamau"), "{}: {end}", g.id),
                _ => assert!(end.contains("NJ-7K2QX"), "{} ({locale}): {shown:#?}", g.id),
            }
        }
    }

    // A word of the thing in one language finds the service named in the other: the English
    // list shows the English name of a service found by its Swahili words.
    let g = generated.generated.iter().find(|g| g.flow == "information").unwrap();
    let shown = search_and_walk(ctx, &loaded, "en", &query(&g.name_sw), &g.name_en, "");
    assert!(shown.len() >= 4, "{shown:#?}");
}
