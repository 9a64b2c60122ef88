//! A national catalogue at scale, for the scale tests and the benchmarks (issue #13): the
//! shipped menus and words, plus generated agencies and services up to 5,000 services from 77
//! agencies, written as an administrator would write them (agency files, Fluent files).
//!
//! Used by `tests/it/catalogue_scale.rs` (through `tests/common`) and by the benches (through
//! `#[path = "../tests/common/catalogue_gen.rs"] mod catalogue_gen;`), so it needs nothing but
//! std. It is deterministic: the same count always writes the same files.
//!
//! What it writes under a directory: `menus/` and `locales/` copied from the repository (the
//! shipped e-Citizen menu, its templates, lookup data and catalogue), then, for the agencies
//! the shipped catalogue lacks, `menus/catalogue/<agency>.toml` and
//! `locales/{sw,en}/catalogue/<agency>.ftl`: the counties (`county-01` ... `county-46`, by
//! their official numbers; Nairobi, 47, is shipped) and national bodies (`kebs`, `knec`,
//! ministries ...). Their services are mostly information and apply-with-fee; pay-by-account
//! and check-status rows use the backends that have lookup data (`lands`' `rates_due`,
//! `kra`'s `pin_status`), so every service can be walked to its end.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The catalogue size issue #13 measures.
pub const SERVICES: usize = 5000;
/// Its agencies.
pub const AGENCIES: usize = 77;

/// One generated service, as a test finds and walks it.
#[derive(Clone, Debug)]
pub struct GenService {
    pub code: u32,
    pub id: String,
    pub agency: String,
    /// The template: `information`, `apply-with-fee`, `pay-by-account` or `check-status`.
    pub flow: &'static str,
    pub name_sw: String,
    pub name_en: String,
    /// An input the service's first screen accepts (empty for information services).
    pub input: &'static str,
}

/// What [`generate`] wrote.
#[derive(Debug)]
pub struct Generated {
    /// Services in the catalogue, shipped ones included.
    pub services: usize,
    /// Agencies, shipped ones included.
    pub agencies: usize,
    /// The generated services (the shipped ones are not listed).
    pub generated: Vec<GenService>,
}

/// Counties by official number; Nairobi (47) is shipped as `nairobi`.
const COUNTIES: [&str; 46] = [
    "Mombasa",
    "Kwale",
    "Kilifi",
    "Tana River",
    "Lamu",
    "Taita Taveta",
    "Garissa",
    "Wajir",
    "Mandera",
    "Marsabit",
    "Isiolo",
    "Meru",
    "Tharaka Nithi",
    "Embu",
    "Kitui",
    "Machakos",
    "Makueni",
    "Nyandarua",
    "Nyeri",
    "Kirinyaga",
    "Murang'a",
    "Kiambu",
    "Turkana",
    "West Pokot",
    "Samburu",
    "Trans Nzoia",
    "Uasin Gishu",
    "Elgeyo Marakwet",
    "Nandi",
    "Baringo",
    "Laikipia",
    "Nakuru",
    "Narok",
    "Kajiado",
    "Kericho",
    "Bomet",
    "Kakamega",
    "Vihiga",
    "Bungoma",
    "Busia",
    "Siaya",
    "Kisumu",
    "Homa Bay",
    "Migori",
    "Kisii",
    "Nyamira",
];

/// National bodies the shipped catalogue lacks: (id, label in names, English name, Swahili
/// name). Taken in order until the catalogue has [`AGENCIES`] agencies.
const NATIONAL: [(&str, &str, &str, &str); 20] = [
    ("kebs", "KEBS", "Kenya Bureau of Standards (KEBS)", "Shirika la Viwango (KEBS)"),
    ("knec", "KNEC", "Examinations Council (KNEC)", "Baraza la Mitihani (KNEC)"),
    ("kws", "KWS", "Kenya Wildlife Service", "Huduma ya Wanyamapori (KWS)"),
    ("kfs", "KFS", "Kenya Forest Service", "Huduma ya Misitu (KFS)"),
    ("epra", "EPRA", "Energy Regulator (EPRA)", "Mamlaka ya Nishati (EPRA)"),
    ("nca", "NCA", "Construction Authority (NCA)", "Mamlaka ya Ujenzi (NCA)"),
    ("nita", "NITA", "Industrial Training (NITA)", "Mafunzo ya Viwanda (NITA)"),
    ("moh", "Afya", "Ministry of Health", "Wizara ya Afya"),
    ("moe", "Elimu", "Ministry of Education", "Wizara ya Elimu"),
    ("moa", "Kilimo", "Ministry of Agriculture", "Wizara ya Kilimo"),
    ("labour", "Leba", "Ministry of Labour", "Wizara ya Leba"),
    ("trade", "Biashara", "Ministry of Trade", "Wizara ya Biashara"),
    ("ppb", "PPB", "Pharmacy and Poisons Board", "Bodi ya Dawa (PPB)"),
    ("kenha", "KeNHA", "Highways Authority (KeNHA)", "Barabara Kuu (KeNHA)"),
    ("iebc", "IEBC", "Electoral Commission (IEBC)", "Tume ya Uchaguzi (IEBC)"),
    ("nhc", "NHC", "Housing Corporation (NHC)", "Shirika la Nyumba (NHC)"),
    ("kemri", "KEMRI", "Medical Research (KEMRI)", "Utafiti wa Tiba (KEMRI)"),
    ("nacada", "NACADA", "NACADA", "NACADA"),
    ("kura", "KURA", "Urban Roads (KURA)", "Barabara za Mijini (KURA)"),
    ("kalro", "KALRO", "Agricultural Research (KALRO)", "Utafiti wa Kilimo (KALRO)"),
];

/// What an apply-with-fee service asks for: (message id, English prompt, Swahili prompt,
/// pattern, an input that matches).
const INPUTS: [(&str, &str, &str, &str, &str); 5] = [
    ("gen-enter-id", "Enter your ID number:", "Weka nambari ya kitambulisho:", "[0-9]{7,8}", "12345678"),
    (
        "gen-enter-business",
        "Enter the business number (e.g. BN-ABC1234):",
        "Weka nambari ya biashara (mfano BN-ABC1234):",
        "(BN|PVT)-?[A-Z0-9]{6,8}",
        "BN-ABC1234",
    ),
    (
        "gen-enter-plate",
        "Enter the number plate (e.g. KCA123A):",
        "Weka nambari ya gari (mfano KCA123A):",
        "K[A-Z]{2} ?[0-9]{3}[A-Z]",
        "KCA123A",
    ),
    (
        "gen-enter-pin",
        "Enter the KRA PIN (e.g. A123456789B):",
        "Weka PIN ya KRA (mfano A123456789B):",
        "[AP][0-9]{9}[A-Z]",
        "A123456789B",
    ),
    (
        "gen-enter-parcel",
        "Enter the parcel number (e.g. KAJIADO/1234):",
        "Weka nambari ya kipande (mfano KAJIADO/1234):",
        "[A-Z][A-Z0-9]*(/[A-Z0-9]+){1,3}",
        "KAJIADO/1234",
    ),
];

/// What services are about: (Swahili, English, category, index into [`INPUTS`]).
const THINGS: &[(&str, &str, &str, usize)] = &[
    ("leseni ya biashara", "trade licence", "business", 1),
    ("kibali cha biashara", "business permit", "business", 1),
    ("kibali cha ujenzi", "building permit", "land", 4),
    ("ramani ya jengo", "building plan", "land", 4),
    ("kibali cha afya", "health permit", "health", 0),
    ("leseni ya pombe", "liquor licence", "business", 1),
    ("kibali cha maegesho", "parking permit", "transport", 2),
    ("kibanda cha soko", "market stall", "business", 0),
    ("muunganisho wa maji", "water connection", "county", 4),
    ("cheti cha kuzaliwa", "birth certificate", "family", 0),
    ("cheti cha kifo", "death certificate", "family", 0),
    ("cheti cha ndoa", "marriage certificate", "family", 0),
    ("cheti cha maadili", "good conduct", "justice", 0),
    ("kibali cha kazi", "work permit", "work", 0),
    ("leseni ya uvuvi", "fishing licence", "business", 0),
    ("kibali cha uchimbaji", "mining permit", "business", 1),
    ("kibali cha kuuza nje", "export permit", "business", 1),
    ("cheti cha mbegu", "seed certificate", "business", 1),
    ("kibali cha mifugo", "livestock permit", "county", 0),
    ("kibali cha matangazo", "signage permit", "county", 1),
    ("usajili wa gari", "vehicle registration", "transport", 2),
    ("ukaguzi wa gari", "vehicle inspection", "transport", 2),
    ("leseni ya matatu", "matatu licence", "transport", 2),
    ("leseni ya boda", "boda boda licence", "transport", 2),
    ("usajili wa kampuni", "company registration", "business", 1),
    ("usajili wa ushirika", "co-op registration", "business", 1),
    ("ruzuku ya shule", "school bursary", "education", 0),
    ("matokeo ya mtihani", "exam results", "education", 0),
    ("usajili wa shule", "school registration", "education", 1),
    ("bima ya afya", "health cover", "health", 0),
    ("leseni ya duka la dawa", "pharmacy licence", "health", 1),
    ("kibali cha kliniki", "clinic permit", "health", 1),
    ("msaada wa kilimo", "farm subsidy", "county", 0),
    ("mbolea ya ruzuku", "fertiliser subsidy", "county", 0),
    ("chanjo ya mifugo", "livestock vaccination", "health", 0),
    ("kibali cha kuni", "firewood permit", "land", 0),
    ("kibali cha misitu", "forest permit", "land", 0),
    ("tathmini ya mazingira", "EIA licence", "land", 1),
    ("kibali cha moto", "fire certificate", "county", 1),
    ("kibali cha kelele", "noise permit", "county", 1),
    ("usajili wa mpiga kura", "voter registration", "family", 0),
    ("pensheni ya wazee", "elderly pension", "work", 0),
    ("mafunzo ya ufundi", "trade test", "education", 0),
    ("usajili wa fundi", "contractor registration", "work", 1),
    ("ada ya soko", "market fee", "county", 0),
    ("ada ya taka", "refuse fee", "county", 0),
    ("kodi ya duka", "shop rent", "county", 1),
    ("bili ya maji", "water bill", "county", 4),
    ("leseni ya duka", "shop licence", "business", 1),
    ("kibali cha hema", "tent permit", "county", 0),
    ("leseni ya hoteli", "hotel licence", "business", 1),
    ("kibali cha mnara", "mast permit", "land", 4),
    ("ada ya kichinjio", "slaughter fee", "county", 0),
    ("ada ya maegesho", "parking fee", "transport", 2),
    ("kibali cha mchanga", "sand permit", "land", 0),
    ("kibali cha kokoto", "quarry permit", "land", 4),
    ("leseni ya baa", "bar licence", "business", 1),
    ("kibali cha mabango", "billboard permit", "business", 1),
    ("ada ya ukaguzi", "inspection fee", "business", 1),
    ("leseni ya kinyozi", "barber licence", "business", 0),
    ("leseni ya saluni", "salon licence", "business", 0),
    ("kibali cha mazishi", "burial permit", "family", 0),
    ("ada ya kaburi", "grave fee", "family", 0),
    ("kibali cha tamasha", "event permit", "county", 0),
    ("kibali cha kibanda", "kiosk permit", "business", 0),
    ("leseni ya mkate", "bakery licence", "business", 1),
    ("ada ya mifugo", "livestock fee", "county", 0),
    ("leseni ya kuku", "poultry licence", "business", 0),
    ("leseni ya nyama", "butchery licence", "business", 1),
    ("kibali cha uzio", "fence permit", "land", 4),
    ("kibali cha kisima", "borehole permit", "land", 4),
];

/// What is done with the thing: (Swahili, English).
const ACTIONS: [(&str, &str); 8] = [
    ("Omba", "Apply for"),
    ("Huisha", "Renew"),
    ("Badilisha", "Replace"),
    ("Lipia", "Pay for"),
    ("Thibitisha", "Verify"),
    ("Ghairi", "Cancel"),
    ("Sajili", "Register"),
    ("Hamisha", "Transfer"),
];

/// Paid by account number, the amount answered by `lands`' `rates_due`: (Swahili, English).
const PAY: [(&str, &str); 4] = [
    ("Lipa ushuru wa ardhi", "Pay land rates"),
    ("Lipa kodi ya kiwanja", "Pay plot rent"),
    ("Lipa ushuru wa nyumba", "Pay property rates"),
    ("Lipa kodi ya ardhi", "Pay ground rent"),
];

/// Checked by KRA PIN, answered by `kra`'s `pin_status`: (Swahili, English).
const STATUS: [(&str, &str); 3] = [
    ("Angalia PIN ya mzabuni", "Check supplier PIN"),
    ("Angalia hali ya kodi", "Check tax status"),
    ("Angalia PIN ya mpangaji", "Check tenant PIN"),
];

/// Search words by category: (Swahili, English), a few added to each service's keywords.
const WORDS: [(&str, &[&str], &[&str]); 11] = [
    ("land", &["ardhi", "kiwanja", "shamba", "hati"], &["land", "plot", "property", "title"]),
    ("transport", &["usafiri", "gari", "barabara", "dereva"], &["transport", "car", "road", "driver"]),
    ("tax", &["kodi", "ushuru", "mapato"], &["tax", "revenue", "levy"]),
    ("business", &["biashara", "leseni", "kibali", "duka"], &["business", "licence", "permit", "shop"]),
    ("health", &["afya", "hospitali", "dawa", "kliniki"], &["health", "hospital", "medicine", "clinic"]),
    ("education", &["elimu", "shule", "mwanafunzi", "chuo"], &["education", "school", "student", "college"]),
    ("immigration", &["uhamiaji", "safari"], &["immigration", "travel"]),
    ("family", &["familia", "cheti", "usajili"], &["family", "certificate", "registration"]),
    ("work", &["kazi", "ajira", "mfanyakazi"], &["work", "job", "employment"]),
    ("justice", &["mahakama", "polisi", "sheria"], &["court", "police", "law"]),
    ("county", &["kaunti", "ofisi", "huduma"], &["county", "office", "services"]),
];

/// Information texts, `{}` the label (a county or a body): (English, Swahili). Under 110
/// characters with the longest label, so the END fits every channel's screen.
const INFO: [(&str, &str); 3] = [
    (
        "Apply at the {} office, Mon-Fri 8am-5pm. Bring your ID card and a passport photo.",
        "Omba kwenye ofisi ya {}, Jumatatu-Ijumaa saa 2-11. Leta kitambulisho na picha.",
    ),
    (
        "Apply on ecitizen.go.ke ({}), pay by M-Pesa and collect in person with your ID.",
        "Omba ecitizen.go.ke ({}), lipa kwa M-Pesa na uchukue mwenyewe ukiwa na ID.",
    ),
    (
        "Visit any Huduma Centre or the {} office with your ID. It takes 7 working days.",
        "Tembelea Huduma Centre au ofisi ya {} ukiwa na ID. Huchukua siku 7 za kazi.",
    ),
];

/// A small deterministic generator (xorshift64*), so every run writes (and `benches/search.rs`
/// builds) the same catalogue.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// The longest a service name may be (one list row on a feature phone).
const NAME_WIDTH: usize = 32;

/// One generated agency.
struct Agency {
    id: String,
    /// How its services name it: `Kisumu`, `KEBS`.
    label: String,
    name_en: String,
    name_sw: String,
    county: bool,
}

/// A candidate service name of an agency: (Swahili, English, thing index or None, kind).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Thing(usize, usize),
    Pay(usize),
    Status(usize),
}

/// Writes a catalogue of `services` services under `root` (`root/menus`, `root/locales`).
/// Panics when it cannot write, or when `services` is fewer than the shipped catalogue holds.
pub fn generate(root: &Path, services: usize) -> Generated {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&repo.join("menus"), &root.join("menus"));
    copy_dir(&repo.join("locales"), &root.join("locales"));
    let catalogue = root.join("menus").join("catalogue");
    let mut shipped_agencies = 0;
    let mut shipped_services = 0;
    for entry in std::fs::read_dir(&catalogue).expect("read the shipped catalogue") {
        let path = entry.expect("catalogue entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            shipped_agencies += 1;
            let text = std::fs::read_to_string(&path).expect("read an agency file");
            shipped_services += text.lines().filter(|l| l.trim() == "[[service]]").count();
        }
    }
    assert!(services >= shipped_services, "the shipped catalogue alone has {shipped_services} services");
    let mut agencies: Vec<Agency> = COUNTIES
        .iter()
        .enumerate()
        .map(|(i, name)| Agency {
            id: format!("county-{:02}", i + 1),
            label: short(name).to_owned(),
            name_en: format!("{name} County"),
            name_sw: format!("Kaunti ya {name}"),
            county: true,
        })
        .collect();
    let national = AGENCIES.saturating_sub(shipped_agencies + agencies.len()).min(NATIONAL.len());
    agencies.extend(NATIONAL[..national].iter().map(|&(id, label, en, sw)| Agency {
        id: id.to_owned(),
        label: label.to_owned(),
        name_en: en.to_owned(),
        name_sw: sw.to_owned(),
        county: false,
    }));

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let wanted = services - shipped_services;
    let mut generated = Vec::with_capacity(wanted);
    let mut common = [String::new(), String::new()];
    for (id, en, sw, _, _) in INPUTS {
        let _ = writeln!(common[0], "{id} = {en}");
        let _ = writeln!(common[1], "{id} = {sw}");
    }
    for (a, agency) in agencies.iter().enumerate() {
        // Services spread evenly, the first agencies taking the remainder.
        let count = wanted / agencies.len() + usize::from(a < wanted % agencies.len());
        let mut pool = candidates(agency);
        rng.shuffle(&mut pool);
        assert!(pool.len() >= count, "{}: {} names for {count} services", agency.id, pool.len());
        // Lookup-backed services first in a few agencies, so every kind is always present.
        pool.sort_by_key(|(_, _, k)| match k {
            Kind::Pay(_) | Kind::Status(_) if a % 3 == 0 => 0,
            _ => 1,
        });
        let mut toml = format!(
            "# {}: generated for scale tests (tests/common/catalogue_gen.rs); demo data.\n\n\
             [agency]\nid = \"{}\"\n\n",
            agency.name_en, agency.id
        );
        let mut en = format!("agency-{} = {}\n\n", agency.id, agency.name_en);
        let mut sw = format!("agency-{} = {}\n\n", agency.id, agency.name_sw);
        for (sw_name, en_name, kind) in pool.into_iter().take(count) {
            let code = 10_000 + generated.len() as u32;
            let id = format!("{}-{}", agency.id, slug(&en_name));
            let popularity = 1 + rng.below(100);
            let _ = write!(toml, "[[service]]\ncode = {code}\nid = \"{id}\"\n");
            let (flow, input, category) = match kind {
                Kind::Pay(_) => {
                    let _ = write!(
                        toml,
                        "categories = [\"land\"{}]\nflow = \"pay-by-account\"\nbackend = \"lands\"\npopularity = {popularity}\n\
                         params = {{ prompt = \"land-enter-parcel\", pattern = \"[A-Z][A-Z0-9]*(/[A-Z0-9]+){{1,3}}\", \
                         operation = \"rates_due\", invalid = \"land-parcel-invalid\", not_found = \"land-parcel-unknown\", \
                         confirm = \"land-confirm\", done = \"land-submitted\", account = \"parcel\", payer = \"owner\" }}\n\n",
                        if agency.county { ", \"county\"" } else { "" }
                    );
                    ("pay-by-account", "KAJIADO/1234", "land")
                }
                Kind::Status(_) => {
                    let _ = write!(
                        toml,
                        "categories = [\"tax\"]\nflow = \"check-status\"\nbackend = \"kra\"\npopularity = {popularity}\n\
                         params = {{ prompt = \"kra-enter-pin\", pattern = \"[AP][0-9]{{9}}[A-Z]\", operation = \"pin_status\", \
                         invalid = \"kra-pin-invalid\", not_found = \"kra-pin-unknown\", result = \"kra-result\", \
                         provides = \"taxpayer pin_status\", account = \"pin\" }}\n\n"
                    );
                    ("check-status", "A123456789B", "tax")
                }
                Kind::Thing(t, _) => {
                    let (_, _, category, input) = THINGS[t];
                    let cats = if agency.county && category != "county" {
                        format!("\"{category}\", \"county\"")
                    } else {
                        format!("\"{category}\"")
                    };
                    // About half apply with a fee, half are information only.
                    if rng.below(2) == 0 {
                        let (prompt, _, _, pattern, example) = INPUTS[input];
                        let fee = 100 + 50 * rng.below(99);
                        let _ = write!(
                            toml,
                            "categories = [{cats}]\nflow = \"apply-with-fee\"\nfee = {fee}\npopularity = {popularity}\n\
                             params = {{ prompt = \"{prompt}\", pattern = \"{pattern}\" }}\n\n"
                        );
                        ("apply-with-fee", example, category)
                    } else {
                        let _ = write!(
                            toml,
                            "categories = [{cats}]\nflow = \"information\"\npopularity = {popularity}\n\n"
                        );
                        ("information", "", category)
                    }
                }
            };
            let mut keywords = |lang: usize, name: &str| {
                let mut words: Vec<String> =
                    name.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 2).map(str::to_lowercase).collect();
                let mut add = |cat: &str| {
                    if let Some((_, s, e)) = WORDS.iter().find(|(c, _, _)| *c == cat) {
                        let list = if lang == 0 { e } else { s };
                        words.push(list[rng.below(list.len())].to_owned());
                        words.push(list[rng.below(list.len())].to_owned());
                    }
                };
                add(category);
                if agency.county {
                    add("county");
                }
                words.push(agency.id.replace('-', ""));
                let mut seen = std::collections::HashSet::new();
                words.retain(|w| seen.insert(w.clone()));
                words.join(" ")
            };
            let _ = writeln!(en, "svc-{id} = {en_name}\n    .keywords = {}", keywords(0, &en_name));
            let _ = writeln!(sw, "svc-{id} = {sw_name}\n    .keywords = {}", keywords(1, &sw_name));
            if flow == "information" {
                let (info_en, info_sw) = INFO[rng.below(INFO.len())];
                let _ = writeln!(en, "svc-{id}-info = {}", info_en.replace("{}", &agency.label));
                let _ = writeln!(sw, "svc-{id}-info = {}", info_sw.replace("{}", &agency.label));
            }
            generated.push(GenService {
                code,
                id,
                agency: agency.id.clone(),
                flow,
                name_sw: sw_name,
                name_en: en_name,
                input,
            });
        }
        std::fs::write(catalogue.join(format!("{}.toml", agency.id)), toml).expect("write an agency file");
        for (lang, text) in [("en", en), ("sw", sw)] {
            let dir = root.join("locales").join(lang).join("catalogue");
            std::fs::write(dir.join(format!("{}.ftl", agency.id)), text).expect("write an agency's words");
        }
    }
    for (lang, text) in [("en", &common[0]), ("sw", &common[1])] {
        let path = root.join("locales").join(lang).join("catalogue").join("generated.ftl");
        std::fs::write(path, format!("# Prompts of the generated services.\n\n{text}")).expect("write prompts");
    }
    Generated { services: shipped_services + generated.len(), agencies: shipped_agencies + agencies.len(), generated }
}

/// Every name an agency's services could have, each within a list row in both languages.
fn candidates(agency: &Agency) -> Vec<(String, String, Kind)> {
    fn push(out: &mut Vec<(String, String, Kind)>, sw: String, en: String, kind: Kind) {
        if sw.chars().count() <= NAME_WIDTH && en.chars().count() <= NAME_WIDTH {
            out.push((sw, en, kind));
        }
    }
    let mut out = Vec::new();
    for (t, (thing_sw, thing_en, _, _)) in THINGS.iter().enumerate() {
        for (a, (act_sw, act_en)) in ACTIONS.iter().enumerate() {
            push(
                &mut out,
                format!("{act_sw} {thing_sw}, {}", agency.label),
                format!("{act_en} {thing_en}, {}", agency.label),
                Kind::Thing(t, a),
            );
        }
    }
    for (p, (sw, en)) in PAY.iter().enumerate() {
        push(&mut out, format!("{sw}, {}", agency.label), format!("{en}, {}", agency.label), Kind::Pay(p));
    }
    if !agency.county {
        for (p, (sw, en)) in STATUS.iter().enumerate() {
            push(&mut out, format!("{sw}, {}", agency.label), format!("{en}, {}", agency.label), Kind::Status(p));
        }
    }
    // A long county name leaves little room: the thing alone, without the action, too.
    if out.len() < 120 {
        for (t, (thing_sw, thing_en, _, _)) in THINGS.iter().enumerate() {
            let sw = format!("{}{}, {}", thing_sw[..1].to_uppercase(), &thing_sw[1..], agency.label);
            let en = format!("{}{}, {}", thing_en[..1].to_uppercase(), &thing_en[1..], agency.label);
            push(&mut out, sw, en, Kind::Thing(t, ACTIONS.len()));
        }
    }
    out
}

/// How service names call a county: its name, or for the longest the short form people say,
/// so that a name still fits a list row.
fn short(county: &str) -> &str {
    match county {
        "Elgeyo Marakwet" => "Marakwet",
        "Tharaka Nithi" => "Tharaka",
        "Taita Taveta" => "Taita",
        other => other,
    }
}

/// A service id's tail from its English name: `Renew trade licence, Kisumu` ->
/// `renew-trade-licence`.
fn slug(name: &str) -> String {
    let head = name.split(", ").next().unwrap_or(name);
    let mut out = String::new();
    for c in head.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a directory");
    for entry in std::fs::read_dir(from).expect("read a directory") {
        let entry = entry.expect("a directory entry");
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copy a file");
        }
    }
}
