//! The search index on a national catalogue: 5,000 services of 77 agencies, each named in
//! Swahili and English, with keywords, about 10,000 distinct words in all.
//!
//! Run: `cargo bench --bench search`. The catalogue is generated here (deterministically):
//! names of 3-6 words made of government-service words in both languages, the agency or county,
//! and a word of the service's own (a programme, a place), so the vocabulary reaches the size of
//! a real catalogue; keywords hold the agency, a few words of either language, more words of the
//! service's own and its numeric code. It prints:
//!
//! - the build time, the vocabulary and the index's heap bytes;
//! - p50/p99/p99.9/max of one search (folding the query included), timed one at a time over
//!   many rounds of a mixed query set, per query kind (exact words, 3-4 letter prefixes,
//!   typos, two-word ANDs, misses, and heavy queries of 4-8 common words) and over all; the
//!   budget is 20 µs at p99;
//! - then criterion's mean per query kind (each iteration is the kind's next query).
//!
//! `cargo bench --bench search -- --test` (what CI runs) and `cargo test --benches` use 500
//! services and a few rounds.

// The catalogue generator's deterministic generator: the bench's corpus is the same every run.
#[path = "../tests/common/catalogue_gen.rs"]
mod catalogue_gen;

use std::collections::HashSet;
use std::hint::black_box;

use catalogue_gen::Rng;
use std::time::{Duration, Instant};

use criterion::Criterion;
use njia::search::{Builder, Field, Hit, Index};

/// Government-service words: (Swahili, English).
const THINGS: &[(&str, &str)] = &[
    ("leseni ya udereva", "driving licence"),
    ("leseni ya biashara", "trade licence"),
    ("kibali cha biashara", "business permit"),
    ("kibali cha ujenzi", "building permit"),
    ("kibali cha afya", "health permit"),
    ("usajili wa biashara", "business registration"),
    ("usajili wa gari", "vehicle registration"),
    ("usajili wa kampuni", "company registration"),
    ("malipo ya ushuru", "tax payment"),
    ("ushuru wa ardhi", "land rates"),
    ("utafutaji wa ardhi", "land search"),
    ("hati miliki", "title deed"),
    ("cheti cha kuzaliwa", "birth certificate"),
    ("cheti cha kifo", "death certificate"),
    ("cheti cha ndoa", "marriage certificate"),
    ("cheti cha maadili", "good conduct certificate"),
    ("pasipoti", "passport"),
    ("kitambulisho cha taifa", "national identity card"),
    ("bima ya afya", "health insurance"),
    ("pensheni", "pension"),
    ("mkopo wa elimu", "education loan"),
    ("ruzuku ya shule", "school bursary"),
    ("matokeo ya mtihani", "exam results"),
    ("muunganisho wa maji", "water connection"),
    ("muunganisho wa umeme", "electricity connection"),
    ("faini ya trafiki", "traffic fine"),
    ("kesi mahakamani", "court case"),
    ("chanjo ya mifugo", "livestock vaccination"),
    ("leseni ya uvuvi", "fishing licence"),
    ("kibali cha kazi", "work permit"),
    ("uraia", "citizenship"),
    ("kibali cha ukaazi", "residence permit"),
    ("visa ya utalii", "tourist visa"),
    ("forodha bandarini", "port customs"),
    ("ramani ya jengo", "building plan"),
    ("tathmini ya mazingira", "environmental assessment"),
    ("kibanda cha soko", "market stall"),
    ("usajili wa ushirika", "cooperative registration"),
    ("msaada wa kilimo", "agriculture subsidy"),
    ("mbolea ya ruzuku", "subsidised fertiliser"),
];

/// What is done with the thing: (Swahili, English).
const ACTIONS: &[(&str, &str)] = &[
    ("Omba", "Apply for"),
    ("Huisha", "Renew"),
    ("Lipia", "Pay for"),
    ("Badilisha", "Replace"),
    ("Angalia hali ya", "Check status of"),
    ("Thibitisha", "Verify"),
    ("Ghairi", "Cancel"),
];

/// 30 national agencies and 47 counties: 77 agencies, comma-separated (one string keeps the
/// list compact).
const AGENCIES: &str = "\
NTSA,KRA,NHIF,SHA,NSSF,KEBS,NEMA,KPLC,KNEC,HELB,eCitizen,Huduma,Immigration,Ardhi,Mahakama,Polisi,\
KeNHA,KURA,KWS,KFS,KALRO,KEPHIS,NCA,EPRA,CAK,BRS,IEBC,NACADA,NITA,TSC,\
Mombasa,Kwale,Kilifi,Tana River,Lamu,Taita Taveta,Garissa,Wajir,Mandera,Marsabit,Isiolo,Meru,\
Tharaka Nithi,Embu,Kitui,Machakos,Makueni,Nyandarua,Nyeri,Kirinyaga,Murang'a,Kiambu,Turkana,\
West Pokot,Samburu,Trans Nzoia,Uasin Gishu,Elgeyo Marakwet,Nandi,Baringo,Laikipia,Nakuru,Narok,\
Kajiado,Kericho,Bomet,Kakamega,Vihiga,Bungoma,Busia,Siaya,Kisumu,Homa Bay,Migori,Kisii,Nyamira,\
Nairobi";

/// Distinct made-up words of 2-4 Swahili-like syllables: the names of programmes, places and
/// projects that make most of a real catalogue's vocabulary.
fn made_up_words(rng: &mut Rng, n: usize) -> Vec<String> {
    const ONSETS: &[&str] = &[
        "b", "ch", "d", "f", "g", "h", "j", "k", "l", "m", "mb", "n", "nd", "ng", "ny", "p", "r", "s", "sh", "t", "w",
        "y", "z",
    ];
    const VOWELS: &[&str] = &["a", "e", "i", "o", "u"];
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let syllables = 2 + rng.below(3);
        let word: String = (0..syllables).map(|_| format!("{}{}", rng.pick(ONSETS), rng.pick(VOWELS))).collect();
        if seen.insert(word.clone()) {
            out.push(word);
        }
    }
    out
}

/// One service: its two names and its keywords.
struct Service {
    names: [String; 2],
    keywords: Vec<String>,
}

fn catalogue(services: usize) -> Vec<Service> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Four made-up words per service drawn from a pool about the size of the catalogue: with
    // one numeric code per service and the words above, the vocabulary lands near 10,000
    // words for 5,000 services.
    let own = made_up_words(&mut rng, services * 24 / 25);
    let agencies: Vec<&str> = AGENCIES.split(',').collect();
    (0..services)
        .map(|s| {
            let agency = agencies[s % agencies.len()];
            let (thing_sw, thing_en) = *rng.pick(THINGS);
            let (act_sw, act_en) = *rng.pick(ACTIONS);
            let word = rng.pick(&own);
            // 3-6 words: the thing, sometimes the action, sometimes the agency, a word of its own.
            let with_action = rng.below(2) == 0;
            let with_agency = rng.below(2) == 0;
            let name = |act: &str, thing: &str| {
                let mut n = String::new();
                if with_action {
                    n.push_str(act);
                    n.push(' ');
                }
                n.push_str(thing);
                if with_agency {
                    n.push_str(" - ");
                    n.push_str(agency);
                }
                n.push(' ');
                n.push_str(word);
                n
            };
            let mut keywords = vec![agency.to_owned(), (1000 + s).to_string()];
            for _ in 0..2 {
                let (sw, en) = *rng.pick(THINGS);
                keywords.push(if rng.below(2) == 0 { sw } else { en }.to_owned());
            }
            for _ in 0..3 {
                keywords.push(rng.pick(&own).clone());
            }
            Service { names: [name(act_sw, thing_sw), name(act_en, thing_en)], keywords }
        })
        .collect()
}

fn build(services: &[Service]) -> Index {
    let mut b = Builder::default();
    for (doc, s) in services.iter().enumerate() {
        for n in &s.names {
            b.add(doc as u32, Field::Name, n);
        }
        for k in &s.keywords {
            b.add(doc as u32, Field::Keyword, k);
        }
    }
    b.build()
}

/// One letter of `w` changed (the middle one, to the next letter of the alphabet).
fn typo(w: &str) -> String {
    let mut bytes = w.as_bytes().to_vec();
    let mid = bytes.len() / 2;
    bytes[mid] = if bytes[mid] == b'z' { b'a' } else { bytes[mid] + 1 };
    String::from_utf8(bytes).expect("ASCII")
}

/// The mixed query set by kind, some queries taken from the generated catalogue itself.
fn queries(services: &[Service]) -> Vec<(&'static str, Vec<String>)> {
    let own = |i: usize| services[i % services.len()].names[0].rsplit(' ').next().unwrap_or("").to_owned();
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let long_own: Vec<String> = (0..services.len()).map(own).filter(|w| w.len() >= 6).take(4).collect();
    let mut exact = owned(&["leseni", "pasipoti", "passport", "certificate", "ardhi", "nairobi", "kibali"]);
    exact.extend([own(7), own(1234), format!("{}", 1000 + services.len() / 2)]);
    let prefix = owned(&["lese", "kib", "pas", "reg", "cert", "usa", "mal", "kit", "ush", "perm"]);
    let mut typos = owned(&["lesrni", "pasport", "certifcate", "kibalu", "usajli", "registraton", "nairbi", "lesrn"]);
    typos.extend(long_own.iter().map(|w| typo(w)));
    let and = owned(&[
        "leseni udereva",
        "birth certificate",
        "cheti kuzaliwa",
        "land rates",
        "kibali biashara",
        "leseni ya udereva",
        "permit nakuru",
        "lese biash",
    ]);
    let misses = owned(&["zzzzqx", "xylophone", "qwertyuiop", "kq", "leseni xylophone", "passport zzzz"]);
    // The worst a keypad can send: several common words and short prefixes, each with
    // hundreds or thousands of postings, which match (so no word ends the search early), and
    // eight common words of which the last misses.
    let heavy = owned(&[
        "omba leseni ya biashara apply for trade licence",
        "kibali cha biashara business permit",
        "cheti cha kuzaliwa birth certificate",
        "che kuz bir cer",
        "renew apply pay replace check verify cancel xylophone",
    ]);
    vec![
        ("exact", exact),
        ("prefix", prefix),
        ("typo", typos),
        ("two words", and),
        ("miss", misses),
        ("heavy (4-8 words)", heavy),
    ]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` and CI's `-- --test` do not, and
    // get the small catalogue so that they stay fast.
    let args: Vec<String> = std::env::args().collect();
    let smoke = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    let (n, rounds) = if smoke { (500, 5) } else { (5000, 4000) };
    let services = catalogue(n);
    let popularity: Vec<u32> = {
        let mut rng = Rng(42);
        (0..n).map(|_| (rng.below(1000) * rng.below(1000)) as u32).collect()
    };

    let started = Instant::now();
    let index = build(&services);
    let build_time = started.elapsed();
    println!("# Search index: {n} services x 2 locales, 77 agencies\n");
    println!(
        "build {:.1} ms; {} words; heap {} bytes ({:.2} MiB); per-thread stamps {} bytes\n",
        build_time.as_secs_f64() * 1e3,
        index.vocabulary_size(),
        index.heap_bytes(),
        index.heap_bytes() as f64 / (1024.0 * 1024.0),
        4 * index.docs(),
    );

    let kinds = queries(&services);
    let mut out: Vec<Hit> = Vec::with_capacity(n);
    // Warm the caches and the thread's stamps, as a serving thread is.
    for _ in 0..rounds.min(50) {
        for (_, qs) in &kinds {
            for q in qs {
                index.search(q, &popularity, 10, &mut out);
            }
        }
    }
    let mut all = Vec::new();
    let mut rows = Vec::new();
    let mut samples: Vec<Vec<Duration>> = kinds.iter().map(|_| Vec::with_capacity(rounds * 16)).collect();
    for _ in 0..rounds {
        for ((_, qs), times) in kinds.iter().zip(&mut samples) {
            for q in qs {
                let t = Instant::now();
                index.search(black_box(q), &popularity, 10, &mut out);
                times.push(t.elapsed());
                black_box(&out);
            }
        }
    }
    println!("| queries | n | hits (mean, of 10) | p50 µs | p99 µs | p99.9 µs | max µs |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for ((kind, qs), mut times) in kinds.iter().zip(samples) {
        let hits: usize = qs
            .iter()
            .map(|q| {
                index.search(q, &popularity, 10, &mut out);
                out.len()
            })
            .sum();
        all.extend_from_slice(&times);
        times.sort_unstable();
        rows.push((kind.to_string(), qs.len(), hits as f64 / qs.len() as f64, times));
    }
    all.sort_unstable();
    let total = kinds.iter().map(|k| k.1.len()).sum();
    rows.push(("all (mixed)".to_owned(), total, f64::NAN, all));
    for (kind, count, hits, times) in &rows {
        println!(
            "| {kind} | {count} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
            if hits.is_nan() { "".to_owned() } else { format!("{hits:.1}") },
            micros(percentile(times, 0.5)),
            micros(percentile(times, 0.99)),
            micros(percentile(times, 0.999)),
            micros(percentile(times, 1.0)),
        );
    }
    println!("\n({rounds} rounds; each search timed on its own, query folding included)\n");

    let mut c = Criterion::default().configure_from_args();
    for (kind, qs) in &kinds {
        let mut k = 0;
        c.bench_function(&format!("search: {kind} (mean of one query, cycling {} queries)", qs.len()), |b| {
            b.iter(|| {
                k += 1;
                index.search(black_box(&qs[k % qs.len()]), &popularity, 10, &mut out);
                black_box(out.len())
            })
        });
    }
    c.final_summary();
}
