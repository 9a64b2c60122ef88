//! How long `njia check` takes on a large catalogue: 5,000 services in Swahili and English.
//!
//! Run: `cargo bench --bench check` (release build). It writes a menus directory and a locales
//! directory into a temp dir, in two layouts an administrator might choose:
//!
//! - `files`: one menu file per agency (50 files of 100 services, each agency on its own code
//!   `*384*N#`), with one Fluent file per agency and language;
//! - `one`: the whole catalogue in one menu file on `*384#` (home, 50 agencies, 10 categories
//!   each, 10 services each: about 19,000 screens);
//! - `catalogue`: the national catalogue as issue #13 writes it: the shipped e-Citizen menu
//!   with its templates, lookup data and catalogue, grown to 5,000 services of 77 agencies by
//!   `tests/common/catalogue_gen.rs` (agency files and Fluent files; every service's screens
//!   come from a template at load). The budget is 1 s.
//!
//! Each service is what a real one looks like: an input with its validator and error (one of a
//! few patterns, as ID numbers, parcels, plates and PINs differ), for two in three a lookup with
//! its not-found message, a confirm menu showing the looked-up values (pay with M-Pesa or
//! cancel; submit or cancel for those without a lookup), and a submit whose END text shows the
//! reference. It then times, over `--runs` runs (default 5), the check in-process
//! (`njia::check::load`: reading, parsing and checking every file, then `njia::engine::serve`
//! preparing the menus as `njia serve` does) and the real binary (`njia check --menus …
//! --locales …`, its embedded configuration, so every screen must fit Nalo's 120 characters),
//! and prints min and median.
//! Options (after `--`): `--services N` (default 5000), `--runs N`,
//! `--layout files|one|catalogue|all` (default all), `--generate DIR` (only write the
//! catalogues, to DIR/files, DIR/one and DIR/catalogue, for profiling).

#[path = "../tests/common/catalogue_gen.rs"]
mod catalogue_gen;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use njia::check;
use njia::types::Locale;

/// Services per agency, and per category within an agency.
const PER_AGENCY: usize = 100;
const PER_CATEGORY: usize = 10;

/// Input kinds: (English noun, Swahili noun, pattern, max_length).
const INPUTS: [(&str, &str, &str, usize); 6] = [
    ("ID number", "nambari ya kitambulisho", "[0-9]{7,8}", 8),
    ("parcel number", "nambari ya kipande", "[A-Z][A-Z0-9]*(/[A-Z0-9]+){1,3}", 24),
    ("KRA PIN", "PIN ya KRA", "[AP][0-9]{9}[A-Z]", 11),
    ("number plate", "nambari ya gari", "K[A-Z]{2} ?[0-9]{3}[A-Z]", 8),
    ("account number", "nambari ya akaunti", "[0-9]{6,12}", 12),
    ("business number", "nambari ya biashara", "(BN|PVT)-?[A-Z0-9]{6,8}", 12),
];

/// Service names are an action and a thing, in both languages.
const ACTIONS: [(&str, &str); 5] =
    [("Renew", "Huisha"), ("Apply for", "Omba"), ("Pay for", "Lipia"), ("Replace", "Badilisha"), ("Check", "Angalia")];
const THINGS: [(&str, &str); 20] = [
    ("trade licence", "leseni ya biashara"),
    ("fire certificate", "cheti cha moto"),
    ("health permit", "kibali cha afya"),
    ("land search", "utafutaji wa ardhi"),
    ("building plan", "ramani ya jengo"),
    ("liquor licence", "leseni ya pombe"),
    ("parking permit", "kibali cha maegesho"),
    ("market stall", "kibanda cha soko"),
    ("water connection", "muunganisho wa maji"),
    ("birth certificate", "cheti cha kuzaliwa"),
    ("death certificate", "cheti cha kifo"),
    ("good conduct", "cheti cha maadili"),
    ("passport", "pasipoti"),
    ("work permit", "kibali cha kazi"),
    ("fishing licence", "leseni ya uvuvi"),
    ("mining permit", "kibali cha uchimbaji"),
    ("export permit", "kibali cha kuuza nje"),
    ("seed certificate", "cheti cha mbegu"),
    ("vet permit", "kibali cha mifugo"),
    ("signage permit", "kibali cha matangazo"),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// One menu file per agency.
    Files,
    /// One menu file for everything.
    One,
    /// The e-Citizen menu with its catalogue: agency files of service rows, and templates.
    Catalogue,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --benches` runs benches with `--test`: a small catalogue, once.
    let smoke = args.iter().any(|a| a == "--test");
    let services = if smoke { 200 } else { njia_flag(&args, "--services", 5000) as usize };
    let runs = if smoke { 1 } else { njia_flag(&args, "--runs", 5).max(1) as usize };
    let layout = args.iter().position(|a| a == "--layout").and_then(|i| args.get(i + 1)).map_or("all", |s| s.as_str());
    let layouts: Vec<Layout> = match layout {
        "files" => vec![Layout::Files],
        "one" => vec![Layout::One],
        "catalogue" => vec![Layout::Catalogue],
        _ => vec![Layout::Files, Layout::One, Layout::Catalogue],
    };
    if let Some(out) = args.iter().position(|a| a == "--generate").and_then(|i| args.get(i + 1)) {
        for (layout, name) in [(Layout::Files, "files"), (Layout::One, "one"), (Layout::Catalogue, "catalogue")] {
            let dir = Path::new(out).join(name);
            let _ = std::fs::remove_dir_all(&dir);
            generate(&dir, services, layout);
            println!("{}: njia check --menus {0}/menus --locales {0}/locales", dir.display());
        }
        return;
    }
    println!("# njia check on a generated catalogue: {services} services in sw and en, {runs} runs\n");
    println!("| layout | menu files | screens | messages | in-process min | median | `njia check` min | median |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for layout in layouts {
        let dir = tempfile::tempdir().expect("temp dir");
        let stats = generate(dir.path(), services, layout);
        let menus = dir.path().join("menus");
        let locales = dir.path().join("locales");
        let fallback = [Locale::parse("sw").expect("sw"), Locale::parse("en").expect("en")];
        let opts = check::Options { limit: 120, ..check::Options::new(&menus, &locales, &fallback) };
        let mut in_process: Vec<Duration> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                // Checked, then prepared for serving, as `njia serve` does.
                let loaded = check::load(&opts)
                    .map(|l| njia::engine::serve(&l.menus, &l.catalog, |m| opts.limits_serving(&m.id)));
                let took = t.elapsed();
                if let Err(problems) = loaded {
                    let errors: Vec<String> = problems.iter().take(10).map(|p| format!("{p:?}")).collect();
                    panic!("the generated catalogue must pass check; first problems:\n{}", errors.join("\n"));
                }
                took
            })
            .collect();
        let mut binary: Vec<Duration> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                let out = Command::new(env!("CARGO_BIN_EXE_njia"))
                    .arg("check")
                    .arg("--menus")
                    .arg(&menus)
                    .arg("--locales")
                    .arg(&locales)
                    .output()
                    .expect("run njia check");
                let took = t.elapsed();
                assert!(out.status.success(), "njia check failed: {}", String::from_utf8_lossy(&out.stdout));
                took
            })
            .collect();
        in_process.sort();
        binary.sort();
        let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1e3);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            match layout {
                Layout::Files => "a file per agency",
                Layout::One => "one file",
                Layout::Catalogue => "catalogue (#13): agency files + templates",
            },
            stats.files,
            stats.screens,
            stats.messages,
            ms(in_process[0]),
            ms(in_process[runs / 2]),
            ms(binary[0]),
            ms(binary[runs / 2]),
        );
    }
}

fn njia_flag(args: &[String], name: &str, default: u64) -> u64 {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What was generated.
struct Stats {
    files: usize,
    screens: usize,
    /// Fluent messages per locale.
    messages: usize,
}

/// Writes `menus/` and `locales/{sw,en}/` for `services` services under `root`.
fn generate(root: &Path, services: usize, layout: Layout) -> Stats {
    if layout == Layout::Catalogue {
        return catalogue(root, services);
    }
    let menus = root.join("menus");
    std::fs::create_dir_all(&menus).expect("menus dir");
    let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("locales");
    for lang in ["sw", "en"] {
        let dir = root.join("locales").join(lang);
        std::fs::create_dir_all(&dir).expect("locale dir");
        // The system's own words (navigation, errors, SMS receipts), as shipped.
        for f in ["njia.ftl", "sms.ftl"] {
            std::fs::copy(shipped.join(lang).join(f), dir.join(f)).expect("copy system messages");
        }
    }
    let agencies = services.div_ceil(PER_AGENCY);
    let mut stats = Stats { files: 0, screens: 0, messages: 0 };
    let mut shared = [String::new(), String::new()];
    shared_messages(&mut shared);
    let mut one = String::new();
    if layout == Layout::One {
        header(&mut one, "ecitizen", "*384#");
        one.push_str("[screens.home]\nkind = \"menu\"\ntext = \"home-title\"\noptions = [\n");
        for a in 0..agencies {
            let _ = writeln!(one, "  {{ label = \"agency{a}-name\", goto = \"agency{a}\" }},");
        }
        one.push_str("]\n\n");
        stats.screens += 1;
    }
    for a in 0..agencies {
        let range = a * PER_AGENCY..((a + 1) * PER_AGENCY).min(services);
        let (mut en, mut sw) = (String::new(), String::new());
        let _ =
            writeln!(en, "agency{a}-name = County service office {a}\nagency{a}-title = Office {a}: choose a group");
        let _ =
            writeln!(sw, "agency{a}-name = Ofisi ya huduma ya kaunti {a}\nagency{a}-title = Ofisi {a}: chagua kundi");
        stats.messages += 2;
        let mut toml = String::new();
        let home = match layout {
            Layout::Files => {
                header(&mut toml, &format!("agency{a}"), &format!("*384*{}#", a + 1));
                "home".to_owned()
            }
            Layout::One | Layout::Catalogue => format!("agency{a}"),
        };
        // The agency's lookup data, as check loads it: one entry per looked-up service.
        let mut data = String::new();
        for s in range.clone().filter(|s| !s.is_multiple_of(3)) {
            let _ = writeln!(
                data,
                "[s{s}.\"A{s:07}\"]\nholder = \"Holder {s}\"\namount = \"{},{:03}\"\n",
                1 + s % 9,
                s % 1000
            );
        }
        std::fs::create_dir_all(menus.join("lookups")).expect("lookups dir");
        std::fs::write(menus.join("lookups").join(format!("agency{a}.toml")), data).expect("write lookup data");
        agency(&mut toml, &mut en, &mut sw, a, &home, range, &mut stats);
        if layout == Layout::Files {
            toml.push_str("[screens.cancelled]\nkind = \"end\"\ntext = \"cancelled\"\n");
            stats.screens += 1;
            std::fs::write(menus.join(format!("agency{a:02}.toml")), toml).expect("write menu");
            stats.files += 1;
        } else {
            one.push_str(&toml);
        }
        for (lang, text) in [("en", en), ("sw", sw)] {
            std::fs::write(root.join("locales").join(lang).join(format!("agency{a:02}.ftl")), text).expect("write ftl");
        }
    }
    if layout == Layout::One {
        one.push_str("[screens.cancelled]\nkind = \"end\"\ntext = \"cancelled\"\n");
        stats.screens += 1;
        std::fs::write(menus.join("ecitizen.toml"), one).expect("write menu");
        stats.files += 1;
    }
    for (lang, text) in [("en", &shared[0]), ("sw", &shared[1])] {
        std::fs::write(root.join("locales").join(lang).join("common.ftl"), text).expect("write ftl");
    }
    stats.messages += 6;
    stats
}

/// The #13 catalogue of `services` services (at least the shipped ones): its files and
/// messages counted as written, its screens as loading expands them.
fn catalogue(root: &Path, services: usize) -> Stats {
    let generated = catalogue_gen::generate(root, services);
    let count = |dir: &Path, ext: &str| -> usize {
        let mut n = 0;
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("read dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == ext) {
                    n += if ext == "ftl" {
                        let text = std::fs::read_to_string(&p).expect("read ftl");
                        text.lines()
                            .filter(|l| l.split_once(" = ").is_some_and(|(k, _)| !k.starts_with([' ', '#', '.'])))
                            .count()
                    } else {
                        1
                    };
                }
            }
        }
        n
    };
    let files = count(&root.join("menus"), "toml") - count(&root.join("menus").join("lookups"), "toml");
    let messages = count(&root.join("locales").join("en"), "ftl");
    let fallback = [Locale::parse("sw").expect("sw"), Locale::parse("en").expect("en")];
    let (menus, locales) = (root.join("menus"), root.join("locales"));
    let opts = check::Options { limit: 120, ..check::Options::new(&menus, &locales, &fallback) };
    let screens = check::load(&opts).map_or(0, |l| l.menus.menus.iter().map(|m| m.screens.len()).sum());
    assert_eq!(generated.services, services);
    Stats { files, screens, messages }
}

/// The `[menu]` and `[variables]` sections.
fn header(toml: &mut String, id: &str, code: &str) {
    let _ = write!(
        toml,
        "[menu]\nid = \"{id}\"\nservice_codes = [\"{code}\"]\nstart = \"home\"\nlanguage_screen = \"language\"\n\
         default_locale = \"sw\"\n\n[variables]\nholder = {{ max_width = 20 }}\namount = {{ max_width = 9 }}\n\n\
         [screens.language]\nkind = \"language\"\ntext = \"language-title\"\noptions = [\n  \
         {{ label = \"language-sw\", locale = \"sw\" }},\n  {{ label = \"language-en\", locale = \"en\" }},\n]\n\
         next = \"home\"\n\n"
    );
}

/// Messages every menu shares.
fn shared_messages(out: &mut [String; 2]) {
    out[0] = "language-title = Chagua lugha / Choose language\nlanguage-sw = Kiswahili\nlanguage-en = English\n\
              home-title = Welcome to e-Citizen\npay-mpesa = Pay with M-Pesa\ncancel = Cancel\n\
              confirm-submit = Submit\ncancelled = Cancelled. Thank you for using e-Citizen.\n"
        .to_owned();
    out[1] = "language-title = Chagua lugha / Choose language\nlanguage-sw = Kiswahili\nlanguage-en = English\n\
              home-title = Karibu e-Citizen\npay-mpesa = Lipa kwa M-Pesa\ncancel = Ghairi\n\
              confirm-submit = Tuma\ncancelled = Umeghairi. Asante kwa kutumia e-Citizen.\n"
        .to_owned();
}

/// One agency: its group menu, a menu per category, and every service's screens.
fn agency(
    toml: &mut String,
    en: &mut String,
    sw: &mut String,
    a: usize,
    home: &str,
    range: std::ops::Range<usize>,
    stats: &mut Stats,
) {
    let categories: Vec<Vec<usize>> = range.collect::<Vec<_>>().chunks(PER_CATEGORY).map(<[usize]>::to_vec).collect();
    let title = if home == "home" { "home-title".to_owned() } else { format!("agency{a}-title") };
    let _ = writeln!(toml, "[screens.{home}]\nkind = \"menu\"\ntext = \"{title}\"\noptions = [");
    for (c, _) in categories.iter().enumerate() {
        let _ = writeln!(toml, "  {{ label = \"a{a}c{c}\", goto = \"a{a}c{c}\" }},");
        let _ = writeln!(en, "a{a}c{c} = Group {} services", c + 1);
        let _ = writeln!(sw, "a{a}c{c} = Huduma za kundi {}", c + 1);
        stats.messages += 1;
    }
    toml.push_str("]\n\n");
    stats.screens += 1;
    for (c, services) in categories.iter().enumerate() {
        let _ = writeln!(toml, "[screens.a{a}c{c}]\nkind = \"menu\"\ntext = \"a{a}c{c}\"\noptions = [");
        for &s in services {
            let _ = writeln!(toml, "  {{ label = \"s{s}\", goto = \"s{s}-enter\" }},");
        }
        toml.push_str("]\n\n");
        stats.screens += 1;
        for &s in services {
            service(toml, en, sw, a, s, stats);
        }
    }
}

/// One service's screens and messages.
fn service(toml: &mut String, en: &mut String, sw: &mut String, a: usize, s: usize, stats: &mut Stats) {
    let (noun_en, noun_sw, pattern, max) = INPUTS[s % INPUTS.len()];
    let (act_en, act_sw) = ACTIONS[s % ACTIONS.len()];
    let (thing_en, thing_sw) = THINGS[(s / ACTIONS.len()) % THINGS.len()];
    let lookup = !s.is_multiple_of(3);
    let var = format!("s{s}-in");
    let after_input = if lookup { format!("s{s}-lookup") } else { format!("s{s}-confirm") };
    let _ = write!(
        toml,
        "[screens.s{s}-enter]\nkind = \"input\"\ntext = \"s{s}-enter\"\nsave_as = \"account\"\nnormalize = \"upper\"\n\
         validate = {{ pattern = \"{pattern}\", max_length = {max}, error = \"s{s}-invalid\" }}\nnext = \"{after_input}\"\n\n"
    );
    let _ = writeln!(en, "s{s} = {act_en} {thing_en} ({})", s % 97);
    let _ = writeln!(sw, "s{s} = {act_sw} {thing_sw} ({})", s % 97);
    let _ = writeln!(en, "s{s}-enter = {thing_en}: enter your {noun_en}:");
    // Short enough for Nalo's 120 characters with the lookup apology on top and Back and Home
    // below (the input screens navigate: no pattern here can be 0 or 00).
    let _ = writeln!(sw, "s{s}-enter = {thing_sw}: weka {noun_sw}:");
    let _ = writeln!(en, "s{s}-invalid = That {noun_en} is not valid.");
    let _ = writeln!(sw, "s{s}-invalid = {noun_sw} si sahihi.");
    stats.messages += 3;
    stats.screens += 3;
    if lookup {
        let _ = write!(
            toml,
            "[screens.s{s}-lookup]\nkind = \"lookup\"\nbackend = \"agency{a}\"\noperation = \"s{s}\"\nargs = [\"account\"]\n\
             provides = [\"holder\", \"amount\"]\nnot_found = \"s{s}-unknown\"\nnext = \"s{s}-confirm\"\n\n\
             [screens.s{s}-confirm]\nkind = \"menu\"\ntext = \"s{s}-confirm\"\noptions = [\n  \
             {{ label = \"pay-mpesa\", goto = \"s{s}-submit\" }},\n  {{ label = \"cancel\", goto = \"cancelled\" }},\n]\n\n\
             [screens.s{s}-submit]\nkind = \"submit\"\nservice = \"{var}\"\npayment = {{ amount = \"amount\", account = \"account\" }}\n\
             fields = [\"account\", \"holder\", \"amount\"]\ntext = \"s{s}-submitted\"\n\n"
        );
        let _ = writeln!(en, "s{s}-unknown = That {noun_en} was not found.");
        let _ = writeln!(sw, "s{s}-unknown = {noun_sw} haikupatikana.");
        let _ = writeln!(en, "s{s}-confirm = {{$account}}, {{$holder}}\n    {thing_en}: KES {{$amount}}");
        let _ = writeln!(sw, "s{s}-confirm = {{$account}}, {{$holder}}\n    {thing_sw}: KES {{$amount}}");
        let _ = writeln!(
            en,
            "s{s}-submitted = Request {{$reference}} received. Enter your M-Pesa PIN to pay KES {{$amount}}."
        );
        let _ = writeln!(
            sw,
            "s{s}-submitted = Ombi {{$reference}} limepokelewa. Weka PIN ya M-Pesa kulipa KES {{$amount}}."
        );
        stats.messages += 3;
        stats.screens += 1;
    } else {
        let _ = write!(
            toml,
            "[screens.s{s}-confirm]\nkind = \"menu\"\ntext = \"s{s}-confirm\"\noptions = [\n  \
             {{ label = \"confirm-submit\", goto = \"s{s}-submit\" }},\n  {{ label = \"cancel\", goto = \"cancelled\" }},\n]\n\n\
             [screens.s{s}-submit]\nkind = \"submit\"\nservice = \"{var}\"\nfields = [\"account\"]\ntext = \"s{s}-submitted\"\n\n"
        );
        let _ = writeln!(en, "s{s}-confirm = {act_en} {thing_en} for {{$account}}?");
        let _ = writeln!(sw, "s{s}-confirm = {act_sw} {thing_sw} kwa {{$account}}?");
        let _ = writeln!(en, "s{s}-submitted = Request {{$reference}} received. We will send you an SMS.");
        let _ = writeln!(sw, "s{s}-submitted = Ombi {{$reference}} limepokelewa. Tutakutumia SMS.");
        stats.messages += 2;
    }
}
