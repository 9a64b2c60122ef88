//! The pure engine on the shipped menus: property tests ("never panics, always fits") and
//! snapshots of every screen of a full walk in both languages. The walks are one table,
//! [`SCRIPTS`] (a flow's name and its inputs), run by one driver, [`walk`], whose transcript is
//! the expected output kept in `tests/snapshots`.

use crate::common;

use std::fmt::Write;
use std::sync::Arc;

use njia::check::Loaded;
use njia::engine::{self, Ctx, LookupAnswer, Served, Session, Step, Value};
use njia::lookup::DataFiles;
use njia::types::Locale;
use proptest::prelude::*;

fn loaded() -> Loaded {
    common::load(&common::repo())
}

/// The demo menu as serving runs it (prepared at the default limit).
fn menu(l: &Loaded) -> Served {
    Served::new(Arc::clone(l.menus.by_id("ecitizen").expect("the demo menu")), &l.catalog, &[160])
}

/// Resolves lookups from the shipped data files and submits with a fixed reference, the way
/// the hub does, collecting every screen shown.
pub(crate) fn until_screen(
    ctx: Ctx<'_>,
    s: &mut Session,
    mut step: Step,
    files: &DataFiles,
    shown: &mut Vec<(String, bool)>,
) -> bool {
    loop {
        step = match step {
            Step::Show { text, end } => {
                shown.push((text, end));
                return end;
            }
            Step::Lookup(call) => {
                let answer = if call.backend == "njia" && call.operation == "my_requests" {
                    LookupAnswer::Found(vec![(
                        "requests".into(),
                        Value::List(vec!["NJ-7K2QX".into(), "NJ-ABCDE".into()]),
                    )])
                } else if call.backend == "njia" {
                    LookupAnswer::Found(vec![
                        ("reference".into(), Value::Text("NJ-7K2QX".into())),
                        ("status".into(), Value::Text("received".into())),
                        ("service".into(), Value::Text("land-rates".into())),
                    ])
                } else {
                    files.answer(&call).unwrap_or(LookupAnswer::Failed)
                };
                engine::lookup_answered(ctx, s, answer).step
            }
            Step::Submit(_) => engine::submitted(ctx, s, "NJ-7K2QX"),
        };
    }
}

fn walk(locale: &str, inputs: &[&str]) -> String {
    let l = loaded();
    let m = menu(&l);
    let ctx = Ctx::new(&m, &l.catalog, 160);
    let files = &l.lookups;
    let (mut s, first) = engine::begin(ctx, Locale::parse(locale).unwrap(), true);
    let mut shown = Vec::new();
    until_screen(ctx, &mut s, first, files, &mut shown);
    let mut out = String::new();
    let mut inputs = inputs.iter();
    loop {
        let (text, end) = shown.last().cloned().expect("a screen");
        let _ =
            writeln!(out, "--- {} ({} chars)\n{text}", if end { "END" } else { "CON" }, njia::gsm7::cost(&text).units);
        if end {
            break;
        }
        let Some(input) = inputs.next() else { break };
        let _ = writeln!(out, ">>> {input}");
        let o = engine::step(ctx, &mut s, input);
        until_screen(ctx, &mut s, o.step, files, &mut shown);
    }
    out
}

/// One script per flow, walked in both languages (the first input picks the language).
const SCRIPTS: &[(&str, &[&str])] = &[
    ("land", &["1", "9", "1", "bad parcel", "nairobi/block82/9999", "kajiado/1234", "1"]),
    ("licence", &["1", "2", "DL123456", "2", "1"]),
    ("licence-back", &["1", "2", "DL654321", "0", "DL654321", "1", "2"]),
    ("kra", &["1", "3", "P051234567X"]),
    ("status", &["1", "4", "1"]),
    ("status-typed", &["1", "4", "3", "nj-7k2qx"]),
    ("agencies", &["1", "5", "98", "98", "98", "0", "12"]),
    ("language", &["1", "8", "2", "00", "1", "2"]),
    // #13: the catalogue: search (a typo, a Swahili word in either language), a search that
    // finds nothing, browse to an information END, a fixed fee, and a code typed at home.
    ("search", &["1", "6", "lesenj", "2"]),
    ("search-none", &["1", "6", "xyzzy", "2", "98", "0", "1", "1", "3"]),
    // Back and Home on the search screen and its results: 0 there is never a search.
    ("search-back", &["1", "6", "0", "6", "leseni", "0", "ardhi", "0", "00"]),
    ("fee", &["1", "7", "1", "1", "2", "kajiado/1234", "1"]),
    ("code", &["1", "6201", "12345678", "1"]),
];

#[test]
fn snapshots_of_every_flow_in_both_languages() {
    for (name, inputs) in SCRIPTS {
        for (lang, pick) in [("sw", "1"), ("en", "2")] {
            let mut inputs = inputs.to_vec();
            inputs[0] = pick;
            let transcript = walk("sw", &inputs);
            insta::assert_snapshot!(format!("{name}_{lang}"), transcript);
        }
    }
}

#[test]
fn no_rendered_screen_has_isolation_marks() {
    for (_, inputs) in SCRIPTS {
        let t = walk("sw", inputs);
        assert!(!t.contains('\u{2068}') && !t.contains('\u{2069}'), "{t}");
    }
}

/// Inputs a citizen (or a fuzzer) might send: navigation keys, digits, data, junk.
fn input() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["0", "00", "98", "1", "2", "3", "4", "5", "6", "7", "16", "99", "",
            "KAJIADO/1234", "DL123456", "A123456789B", "NJ-7K2QX", "*", "**", "0*0"]).prop_map(str::to_owned),
        1 => "[0-9*#]{0,12}",
        1 => any::<String>(),
    ]
}

fn answer() -> impl Strategy<Value = LookupAnswer> {
    // The variables the shipped menus use (so lists reach `options_from`), or any name.
    let name = prop_oneof![
        3 => prop::sample::select(vec!["requests", "owner", "amount", "holder", "expiry", "fee", "status", "service", "reference", "taxpayer", "pin_status"]).prop_map(str::to_owned),
        1 => "[a-z_]{1,10}",
    ];
    let value = prop_oneof![
        any::<String>().prop_map(|s| Value::Text(s.into())),
        "[ -~]{0,300}".prop_map(|s| Value::Text(s.into())),
        prop::collection::vec("[ -~]{0,40}", 0..30).prop_map(|v| Value::List(v.into_iter().map(Into::into).collect()))
    ];
    prop_oneof![
        Just(LookupAnswer::Failed),
        Just(LookupAnswer::NotFound),
        prop::collection::vec((name, value), 0..6).prop_map(LookupAnswer::Found),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// No input sequence makes the engine panic, and every screen fits the channel limit,
    /// whatever lookups return.
    #[test]
    fn never_panics_and_always_fits(
        locale in prop::sample::select(vec!["sw", "en"]),
        ask in any::<bool>(),
        limit in prop::sample::select(vec![120usize, 160, 182]),
        inputs in prop::collection::vec(input(), 0..25),
        answers in prop::collection::vec(answer(), 25),
    ) {
        let l = loaded();
        let m = menu(&l);
        let ctx = Ctx::new(&m, &l.catalog, limit);
        let (mut s, mut step) = engine::begin(ctx, Locale::parse(locale).unwrap(), ask);
        let mut answers = answers.into_iter().cycle();
        for inp in inputs {
            loop {
                step = match step {
                    Step::Show { ref text, end } => {
                        prop_assert!(njia::gsm7::fits(text, limit), "over {limit}: {text:?}");
                        if end { return Ok(()); }
                        break;
                    }
                    Step::Lookup(_) => engine::lookup_answered(ctx, &mut s, answers.next().unwrap_or(LookupAnswer::Failed)).step,
                    Step::Submit(_) => engine::submitted(ctx, &mut s, "NJ-7K2QX"),
                };
            }
            step = engine::step(ctx, &mut s, &inp).step;
        }
    }
}
