//! `njia check`: one broken fixture per rule proves each.
//!
//! `tests/fixtures/check/base` is a minimal valid menu set (a menu, an input, a lookup and two
//! end screens, in sw and en). Every other folder there is a full copy of it with exactly one
//! mistake; the table below names the problem that mistake must produce: the file, the line,
//! a fragment of what is wrong, and the severity.

use std::path::{Path, PathBuf};

use njia::check::{Options, check};
use njia::diag::{Problem, Severity};
use njia::types::Locale;

/// Screen limit of the smallest channel (GSM-7 characters).
const LIMIT: usize = 160;

/// A fixture should break one rule; a mistake may show in a second place (e.g. a message
/// missing in one locale is reported where the menu uses it and where the other locale has it),
/// but not more, so the fixtures stay minimal.
const MAX_ERRORS: usize = 2;

/// (fixture folder, file the problem is in (path suffix), line, fragment of `what`, severity)
const CASES: &[(&str, &str, usize, &str, Severity)] = &[
    ("toml-syntax", "menus/m.toml", 13, "invalid menu file", Severity::Error),
    ("unknown-field", "menus/m.toml", 22, "unknown field `save_ass`", Severity::Error),
    ("unknown-screen", "menus/m.toml", 16, "unknown screen \"by\"", Severity::Error),
    ("unreachable-screen", "menus/m.toml", 43, "screen \"orphan\" is unreachable", Severity::Error),
    ("no-way-out", "menus/m.toml", 44, "screen \"spin-a\" has no way out", Severity::Error),
    (
        "missing-message",
        "menus/m.toml",
        41,
        "message \"bye\" (screen \"bye\") is missing in locale sw",
        Severity::Error,
    ),
    (
        "one-locale-only",
        "locales/en/m.ftl",
        10,
        "message \"stray\" is defined in en only but missing in sw",
        Severity::Error,
    ),
    ("fluent-syntax", "locales/sw/m.ftl", 5, "Fluent syntax error", Severity::Error),
    ("unset-variable", "menus/m.toml", 41, "uses $x, which no path to screen \"bye\" sets", Severity::Error),
    ("bad-regex", "menus/m.toml", 23, "regular expression does not compile", Severity::Error),
    // Wrapped in a group for anchoring, `[0-9]{4})|(x` would become valid; it must not pass.
    ("regex-unbalanced", "menus/m.toml", 23, "unopened group", Severity::Error),
    // The second lookup of a chain returns to the screen before the chain with its reason.
    ("lookup-chain", "menus/m.toml", 21, "screen \"ask-id\" can need 197 GSM-7 characters in sw", Severity::Error),
    // Widths far past any screen are refused instead of being rendered as worst cases.
    ("huge-width", "menus/m.toml", 9, "wider than any screen", Severity::Error),
    (
        "too-long",
        "menus/m.toml",
        37,
        "screen \"result\" can need 166 GSM-7 characters in sw, over the limit of 160",
        Severity::Error,
    ),
    ("non-gsm7", "locales/en/m.ftl", 9, "non-GSM-7 characters", Severity::Warning),
    ("duplicate-service-code", "menus/m2.toml", 3, "service code *500# is claimed", Severity::Error),
    // Sessions never keep a secret between hops: it must go straight to the lookup that uses it.
    (
        "secret-not-consumed",
        "menus/m.toml",
        27,
        "secret input \"pin\" of screen \"ask-pin\" leads to screen \"find\", not to a lookup that takes it",
        Severity::Error,
    ),
    (
        "missing-system-message",
        "locales/en/njia.ftl",
        1,
        "system message \"njia-nav-back\" is missing in en",
        Severity::Error,
    ),
    (
        "missing-sms-message",
        "locales/sw/sms.ftl",
        1,
        "SMS message \"sms-payment-busy\" is missing in sw",
        Severity::Error,
    ),
    ("field-wrong-kind", "menus/m.toml", 14, "field \"validate\" does not belong on a menu screen", Severity::Error),
    (
        "sms-keyword-missing",
        "menus/m.toml",
        45,
        "message \"kw-status\" ([sms] status keyword) is missing in locale sw",
        Severity::Error,
    ),
    (
        "sms-keyword-twice",
        "menus/m.toml",
        46,
        "keyword HALI is used by two actions: status in sw and language in en",
        Severity::Error,
    ),
    (
        "sms-reply-missing",
        "menus/m.toml",
        45,
        "message \"sms-status\" ([sms] status reply) is missing in locale en",
        Severity::Error,
    ),
    // #11: check loads the lookup data serve answers from, and holds it to the menu.
    ("unknown-backend", "menus/m.toml", 28, "no lookup backend \"registri\"", Severity::Error),
    (
        "data-missing-variable",
        "menus/lookups/registry.toml",
        2,
        "entry \"12345678\" of person has no name",
        Severity::Error,
    ),
    (
        "data-too-wide",
        "menus/lookups/registry.toml",
        3,
        "name of entry \"12345678\": 17 characters, wider than its max_width 10",
        Severity::Error,
    ),
    ("data-not-amount", "menus/lookups/registry.toml", 4, "fee of entry \"12345678\": not an amount", Severity::Error),
    // An active member told they are in arrears: a selector key no value takes.
    ("selector-key-typo", "locales/sw/m.ftl", 8, "[activ] in sw can never be chosen", Severity::Error),
    ("truncate-amount", "menus/m.toml", 10, "it can never be shortened", Severity::Error),
    // An ID pattern that takes 0: Back and Home are data there, and a citizen is stuck.
    (
        "input-zero-is-data",
        "menus/m.toml",
        19,
        "a typed 0 or 00 is data (the validators accept it), so citizens cannot go back",
        Severity::Warning,
    ),
    // A long title: after a wrong choice the error line takes its place.
    (
        "title-replaced",
        "menus/m.toml",
        13,
        "in sw: after a wrong choice the error line replaces the title",
        Severity::Warning,
    ),
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> PathBuf {
    repo().join("tests/fixtures/check")
}

fn run(menus_dir: &Path, locales_dir: &Path) -> Vec<Problem> {
    let fallback: Vec<Locale> = ["sw", "en"].iter().map(|l| Locale::parse(l).expect("locale")).collect();
    check(&Options {
        menus_dir,
        locales_dir,
        limit: LIMIT,
        channels: &[],
        fallback: &fallback,
        lookups_dir: None,
        http_backends: &[],
    })
}

fn run_fixture(name: &str) -> Vec<Problem> {
    let dir = fixtures().join(name);
    assert!(dir.is_dir(), "fixture {} is missing", dir.display());
    run(&dir.join("menus"), &dir.join("locales"))
}

fn listing(problems: &[Problem]) -> String {
    if problems.is_empty() {
        return "  (no problems)".to_owned();
    }
    problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
}

fn errors(problems: &[Problem]) -> usize {
    problems.iter().filter(|p| p.is_error()).count()
}

#[test]
fn each_rule_has_a_broken_fixture_that_trips_it() {
    let mut failures = Vec::new();
    for &(fixture, file, line, fragment, severity) in CASES {
        let problems = run_fixture(fixture);
        let found = problems
            .iter()
            .any(|p| p.file.ends_with(file) && p.line == line && p.what.contains(fragment) && p.severity == severity);
        let n_errors = errors(&problems);
        let mut why = Vec::new();
        if !found {
            why.push(format!("no {severity:?} at {file}:{line} containing {fragment:?}"));
        }
        match severity {
            Severity::Error if n_errors == 0 => why.push("check reported no error".to_owned()),
            Severity::Error if n_errors > MAX_ERRORS => why
                .push(format!("{n_errors} errors (at most {MAX_ERRORS} expected: the fixture should break one rule)")),
            Severity::Warning if n_errors > 0 => {
                why.push(format!("{n_errors} errors (a warning-only fixture must check clean of errors)"))
            }
            _ => {}
        }
        if let Some(p) = problems.iter().find(|p| p.line == 0 || p.col == 0 || p.what.is_empty() || p.fix.is_empty()) {
            why.push(format!("problem without a position, a description or a fix: {p:?}"));
        }
        if !why.is_empty() {
            failures.push(format!("[{fixture}] {}\n{}", why.join("; "), listing(&problems)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rule fixtures failed:\n\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_fixture_folder_is_a_case() {
    let mut dirs: Vec<String> = std::fs::read_dir(fixtures())
        .expect("tests/fixtures/check")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "base")
        .collect();
    dirs.sort();
    let mut cases: Vec<String> = CASES.iter().map(|c| c.0.to_owned()).collect();
    cases.sort();
    cases.dedup();
    assert_eq!(dirs, cases, "each fixture folder needs a row in CASES and each row a folder");
}

#[test]
fn base_fixture_checks_clean() {
    let problems = run_fixture("base");
    assert!(problems.is_empty(), "the base fixture must pass every rule:\n{}", listing(&problems));
}

#[test]
fn demo_menus_check_clean() {
    let root = repo();
    let problems = run(&root.join("menus"), &root.join("locales"));
    assert_eq!(errors(&problems), 0, "the demo menus must pass njia check:\n{}", listing(&problems));
}
