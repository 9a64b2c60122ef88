//! #13: the shipped catalogue end to end: search cases in both languages (typos, prefixes,
//! either language's words), twenty common services reached in four hops, every shipped
//! service walked to its END in both languages, a code dialled over Africa's Talking, and the
//! search words that found nothing counted and listed. (Direct dial over the other dialects
//! is a row in each dialect's table in `dialects.rs`; the checker's catalogue rules are cases
//! in `check_rules.rs`.)

use crate::common;
use crate::engine::until_screen;

use std::sync::Arc;

use njia::check::Loaded;
use njia::engine::{self, Ctx, Served, Session, Step, Value};
use njia::menu::Kind;
use njia::store::prelude::*;
use njia::types::Locale;

fn loaded() -> Loaded {
    common::load(&common::repo())
}

fn served(l: &Loaded) -> Served {
    Served::new(Arc::clone(l.menus.by_id("ecitizen").expect("the demo menu")), &l.catalog, &[160])
}

fn locale(l: &str) -> Locale {
    Locale::parse(l).expect("a locale")
}

/// Starts on home in `lang` (a returning citizen: no language question) and applies `inputs`,
/// resolving lookups from the shipped data; the session and every screen shown.
fn walk(ctx: Ctx<'_>, l: &Loaded, lang: &str, inputs: &[&str]) -> (Session, Vec<(String, bool)>) {
    let (mut s, first) = engine::begin(ctx, locale(lang), false);
    let mut shown = Vec::new();
    until_screen(ctx, &mut s, first, &l.lookups, &mut shown);
    for input in inputs {
        let o = engine::step(ctx, &mut s, input);
        if until_screen(ctx, &mut s, o.step, &l.lookups, &mut shown) {
            break;
        }
    }
    (s, shown)
}

/// The service ids a search for `query` lists, best first.
fn found(ctx: Ctx<'_>, l: &Loaded, lang: &str, query: &str) -> Vec<String> {
    let (s, _) = walk(ctx, l, lang, &["6", query]);
    let catalogue = ctx.menu.catalogue.as_deref().expect("a catalogue");
    match s.value("results") {
        Some(Value::Codes(codes)) if ctx.menu.screen(s.screen).name == "catalogue.results" => {
            codes.iter().map(|&c| catalogue.by_code(c).expect("a listed service").id.clone()).collect()
        }
        _ => Vec::new(),
    }
}

/// A search's results are carried as service codes (`Value::Codes`); a session stored before
/// holds them as a list of the codes' texts (a JSON `List`). That session still reads, shows
/// the same page and opens the same service.
#[test]
fn results_stored_as_texts_still_show_and_open() {
    let l = loaded();
    let m = served(&l);
    let ctx = Ctx::new(&m, &l.catalog, 160);
    let (new, shown) = walk(ctx, &l, "sw", &["6", "leseni"]);
    let Some(Value::Codes(codes)) = new.value("results").cloned() else { panic!("no results: {shown:?}") };
    assert!(codes.len() > 1, "{shown:?}");
    let json = serde_json::to_string(&new).expect("a session serializes");
    let as_codes = format!("{{\"Codes\":[{}]}}", codes.iter().map(u32::to_string).collect::<Vec<_>>().join(","));
    let as_texts = format!("{{\"List\":[{}]}}", codes.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(","));
    assert!(json.contains(&as_codes), "{json}");
    let mut old: Session = serde_json::from_str(&json.replace(&as_codes, &as_texts)).expect("an old session reads");
    assert!(matches!(old.value("results"), Some(Value::List(_))));
    assert_eq!(engine::current(ctx, &old), engine::current(ctx, &new));
    for pick in ["2", "1"] {
        let (mut old, mut new) = (old.clone(), new.clone());
        let (a, b) = (engine::step(ctx, &mut old, pick), engine::step(ctx, &mut new, pick));
        assert_eq!(a.step, b.step, "pick {pick}");
        assert_eq!(old.screen, new.screen);
    }
    // And paging on: the same second page.
    let (a, b) = (engine::step(ctx, &mut old, "98"), engine::step(ctx, &mut new.clone(), "98"));
    assert_eq!(a.step, b.step);
}

/// (locale, what the citizen types, the service that must rank first, others that must be
/// listed). Either language's words find a service in both; typos of 5+ letters and prefixes
/// of 3+ are forgiven.
const SEARCHES: &[(&str, &str, &str, &[&str])] = &[
    ("sw", "leseni", "licence-renewal", &["smart-dl"]),
    ("en", "leseni", "licence-renewal", &["smart-dl"]),
    ("en", "driving licence", "licence-renewal", &["smart-dl"]),
    ("sw", "lese", "licence-renewal", &[]),
    ("sw", "lesenj", "licence-renewal", &[]),
    ("sw", "pasipoti", "passport-apply", &["passport-replace", "passport-collect"]),
    ("en", "passport", "passport-apply", &["passport-replace"]),
    ("en", "pasport", "passport-apply", &[]),
    ("sw", "PASIPOTI", "passport-apply", &[]),
    ("sw", "cheti kuzaliwa", "birth-certificate", &[]),
    ("en", "birth certificate", "birth-certificate", &[]),
    ("sw", "cheti cha kuzaliwa", "birth-certificate", &[]),
    ("sw", "maadili", "good-conduct", &[]),
    ("en", "good conduct", "good-conduct", &[]),
    ("sw", "ushuru ardhi", "land-rates", &[]),
    ("en", "land rates", "land-rates", &[]),
    ("en", "kra pin", "kra-pin-check", &[]),
    ("sw", "4021", "land-rates", &[]),
    ("en", "helb", "helb-apply", &["helb-repay"]),
];

#[test]
fn searches_find_what_citizens_mean_in_either_language() {
    let l = loaded();
    let m = served(&l);
    let ctx = Ctx::new(&m, &l.catalog, 160);
    let mut failures = Vec::new();
    for (lang, query, first, also) in SEARCHES {
        let ids = found(ctx, &l, lang, query);
        if ids.first().map(String::as_str) != Some(*first) || also.iter().any(|a| !ids.iter().any(|i| i == a)) {
            failures.push(format!("{lang} {query:?}: want {first} first and {also:?}, got {ids:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_search_that_finds_nothing_offers_another_word_or_browsing() {
    let l = loaded();
    let m = served(&l);
    let ctx = Ctx::new(&m, &l.catalog, 160);
    for (lang, none, again, browse) in [
        ("sw", "Hakuna huduma ya \"xyzzy\".", "1. Tafuta tena", "2. Huduma kwa aina"),
        ("en", "No service matches \"xyzzy\".", "1. Search again", "2. Services by kind"),
    ] {
        let ctx2 = ctx;
        let (mut s, shown) = walk(ctx2, &l, lang, &["6", "xyzzy"]);
        let (text, end) = shown.last().expect("a screen");
        assert!(!end && text.starts_with(none) && text.contains(again) && text.contains(browse), "{text}");
        let o = engine::step(ctx, &mut s, "1");
        assert!(matches!(o.step, Step::Show { ref text, .. } if text.contains("(")), "search again: {:?}", o.step);
        // Nothing found is counted by its words (the hub writes them).
        let (_, missed) = {
            let (mut s, _) = walk(ctx, &l, lang, &["6"]);
            let o = engine::step(ctx, &mut s, "Xyzzy  plugh");
            (s, o.missed)
        };
        assert_eq!(missed.as_deref(), Some("Xyzzy  plugh"));
    }
}

/// Twenty services citizens use most, and the word each language's speakers would type: each
/// is reached in four hops (the dial, 6 Search, the word, its number on the first page).
const COMMON: &[(&str, &str, &str)] = &[
    ("land-rates", "ardhi", "land"),
    ("land-search", "upekuzi", "land search"),
    ("licence-renewal", "leseni", "licence"),
    ("smart-dl", "smart", "smart"),
    ("kra-pin-check", "kra", "pin"),
    ("kra-nil-return", "ritani", "nil return"),
    ("passport-apply", "pasipoti", "passport"),
    ("birth-certificate", "kuzaliwa", "birth"),
    ("death-certificate", "kifo", "death"),
    ("marriage-certificate", "ndoa", "marriage"),
    ("good-conduct", "maadili", "good conduct"),
    ("id-application", "kitambulisho", "national id"),
    ("id-replacement", "kitambulisho", "id replacement"),
    ("business-name-search", "jina biashara", "business name search"),
    ("business-name-register", "sajili biashara", "register business"),
    ("sha-register", "sha", "sha"),
    ("nssf-statement", "nssf", "nssf statement"),
    ("helb-apply", "helb", "helb loan"),
    ("kuccps-placement", "kuccps", "placement"),
    ("nairobi-business-permit", "kibali biashara", "business permit"),
];

#[test]
fn twenty_common_services_are_four_hops_away_in_both_languages() {
    let l = loaded();
    let m = served(&l);
    let ctx = Ctx::new(&m, &l.catalog, 160);
    let catalogue = m.catalogue.as_deref().expect("a catalogue");
    let mut failures = Vec::new();
    for (id, sw, en) in COMMON {
        let service = catalogue.services.iter().find(|s| s.id == *id).unwrap_or_else(|| panic!("{id} is shipped"));
        for (lang, word) in [("sw", *sw), ("en", *en)] {
            // Hop 1 is the dial (home), hop 2 "6", hop 3 the word: the results' first page.
            let (_, shown) = walk(ctx, &l, lang, &["6", word]);
            let page = &shown.last().expect("a screen").0;
            let name = l.catalog.format(&locale(lang), &service.name, None);
            let Some(line) = page.lines().find(|line| line.split_once(". ").is_some_and(|(_, n)| n == name)) else {
                failures.push(format!("{lang} {word:?}: {id} ({name}) is not on the first page:\n{page}"));
                continue;
            };
            let number = line.split_once(". ").expect("a numbered line").0;
            // Hop 4: its number opens it.
            let (s, _) = walk(ctx, &l, lang, &["6", word, number]);
            if s.screen != service.entry {
                failures.push(format!("{lang} {word:?} {number}: on {}, not {id}", m.screen(s.screen).name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Inputs that pass the shipped services' validators (each input screen takes the first one
/// it accepts).
const INPUTS: &[&str] = &["KAJIADO/1234", "A123456789B", "DL123456", "12345678", "ACME TRADERS", "1234567"];

#[test]
fn every_shipped_service_walks_to_its_end_in_both_languages() {
    let l = loaded();
    let m = served(&l);
    let ctx = Ctx::new(&m, &l.catalog, 160);
    let catalogue = m.catalogue.as_deref().expect("a catalogue");
    assert!(catalogue.services.len() >= 50, "the shipped catalogue: {}", catalogue.services.len());
    let mut failures = Vec::new();
    for service in &catalogue.services {
        for lang in ["sw", "en"] {
            // Typing the code on home opens it.
            let code = service.code.to_string();
            let (mut s, mut shown) = walk(ctx, &l, lang, &[&code]);
            let mut hops = 0;
            while !shown.last().expect("a screen").1 && hops < 12 {
                hops += 1;
                let input = match &m.screen(s.screen).kind {
                    Kind::Input(i) => INPUTS.iter().copied().find(|v| i.validate.admits(v)).unwrap_or("?"),
                    // Menus of a service: its first option (pay, a year) goes on.
                    _ => "1",
                };
                let o = engine::step(ctx, &mut s, input);
                until_screen(ctx, &mut s, o.step, &l.lookups, &mut shown);
            }
            let (text, end) = shown.last().expect("a screen");
            let problem =
                |t: &str| t.contains('{') || t.contains("svc-") || t.contains("Samahani") || t.contains("Sorry");
            if !end || problem(text) {
                failures.push(format!(
                    "{} ({lang}): {:?}",
                    service.id,
                    shown.iter().map(|(t, _)| t).collect::<Vec<_>>()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} walks failed:\n{}", failures.len(), failures.join("\n"));
}

/// Africa's Talking carries `*384*4021#` as `text=4021` on the first hop; searches that found
/// nothing are counted per term and day (no number) in the store and listed for
/// administrators.
#[tokio::test]
async fn a_dialled_code_opens_its_service_and_missed_searches_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::TestServer::start(common::config(dir.path())).await;
    let (_, body) =
        server.post_form("/ussd/africastalking", &common::at_hop("c-1", "+254711000950", "*384#", "4021")).await;
    assert!(body.starts_with("CON Weka nambari ya kipande"), "{body}");
    // An ID number typed into search is never kept; the words around it are.
    for (i, q) in ["Xyzzy", "xyzzy", "plugh room", "12345678", "plugh 12345678 room"].iter().enumerate() {
        let session = format!("c-m{i}");
        let phone = format!("+25471100096{i}");
        for text in ["", "1", "1*6", &format!("1*6*{q}")] {
            server.post_form("/ussd/africastalking", &common::at_hop(&session, &phone, "*384#", text)).await;
        }
    }
    // The counts are written behind the hops.
    let store = njia::store::sqlite::SqliteStore::open(dir.path()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let misses = loop {
        let misses = store.misses(0).await.unwrap();
        if misses.iter().map(|m| m.count).sum::<i64>() >= 4 || std::time::Instant::now() > deadline {
            break misses;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let listed: Vec<(&str, i64)> = misses.iter().map(|m| (m.term.as_str(), m.count)).collect();
    assert_eq!(listed, [("plugh room", 2), ("xyzzy", 2)]);
    let today = njia::clock::eat_day(njia::store::now_ms());
    assert!(misses.iter().all(|m| m.day == today));
    let (_, metrics) = server.request("GET", "/metrics", "text/plain", "").await;
    assert!(metrics.contains("njia_search_misses_total"), "{metrics}");
    server.stop().await;
    // What administrators read: `njia catalogue misses`, most searched first.
    let out =
        common::njia().args(["catalogue", "misses", "--days", "7", "--data-dir"]).arg(dir.path()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let day = njia::clock::format_day(today);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "DAY         COUNT  WORDS", "{text}");
    assert_eq!(lines[1], format!("{day}      2  plugh room"), "{text}");
    assert_eq!(lines[2], format!("{day}      2  xyzzy"), "{text}");
    assert_eq!(lines[3], "2 word(s), 4 search(es)", "{text}");
}

/// The README's catalogue examples (`# menus/catalogue/…` and `# menus/templates/…` blocks)
/// are real files: each, put in place of the shipped one, checks clean.
#[test]
fn the_readmes_catalogue_examples_check_clean() {
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    let mut tried = 0;
    for block in readme.split("```toml\n").skip(1) {
        let block = block.split("```").next().unwrap();
        let Some(path) = block.lines().next().and_then(|l| l.strip_prefix("# ")).filter(|p| p.starts_with("menus/"))
        else {
            continue;
        };
        let dir = tempfile::tempdir().unwrap();
        common::editable::copy_dir(&common::repo().join("menus"), &dir.path().join("menus"));
        common::editable::copy_dir(&common::repo().join("locales"), &dir.path().join("locales"));
        std::fs::write(dir.path().join(path), block).unwrap();
        let problems = njia::check::check(&njia::check::Options::new(
            &dir.path().join("menus"),
            &dir.path().join("locales"),
            &[locale("sw"), locale("en")],
        ));
        let errors: Vec<String> = problems.iter().filter(|p| p.is_error()).map(ToString::to_string).collect();
        assert!(errors.is_empty(), "the README's {path} does not check:\n{}", errors.join("\n"));
        tried += 1;
    }
    assert!(tried >= 2, "the README shows an agency file and a template: {tried}");
}
