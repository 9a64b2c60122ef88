//! The national catalogue at 5,000 services of 77 agencies (issue #13), in Swahili and
//! English: the memory it takes loaded with its search index, the time a reload of it takes,
//! and the engine's time for a search hop.
//!
//! Run: `cargo bench --bench catalogue`. The catalogue is `tests/common/catalogue_gen.rs`'s
//! (the shipped e-Citizen menu grown to 5,000 services). It prints:
//!
//! - memory: the bytes live after `njia::check::load` (menus, the Fluent catalog, lookup data)
//!   and after `njia::engine::serve` (what serving prepares per locale, and the search index),
//!   minus the bytes live before, counted by this binary's global allocator (every allocation
//!   and free, so exact, whatever the allocator the server links); and the peak while loading.
//!   The budget is 32 MiB;
//! - reload: `check::load` + `engine::serve` on the whole catalogue, what a reload does before
//!   it swaps the new set in (`src/reload.rs`), min and median of `--runs` runs (default 5).
//!   The budget is 1 s;
//! - the search hop: `engine::step` on the search screen with a typed query, the render of
//!   the results (or of the no-result screen) included, timed one at a time over many rounds
//!   of a mixed query set in both languages: p50/p99/p99.9/max per kind and over all (the
//!   budget is 20 µs at p99), beside a plain menu hop (home -> agencies) timed the same way;
//! - then criterion's mean of the same hops.
//!
//! `cargo bench --bench catalogue -- --test` and `cargo test --benches` use 300 services and a
//! few rounds; `cargo bench --bench catalogue -- --memory` prints the memory table only (the
//! full catalogue, a few seconds), to judge a change to what loading keeps.

#[path = "../tests/common/catalogue_gen.rs"]
mod catalogue_gen;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion};
use njia::check;
use njia::engine::{self, Ctx, Session, Step};
use njia::types::Locale;

/// The system allocator, counting the bytes live and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is passed on to `System` unchanged; only counters are updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is the one `System::alloc` requires.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, i.e. by `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and `new_size` is the caller's, as `System` requires.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// The session at the search screen, in `locale`.
fn at_search(ctx: Ctx<'_>, locale: &str) -> Session {
    let (mut s, first) = engine::begin(ctx, Locale::parse(locale).expect("locale"), false);
    assert!(matches!(first, Step::Show { .. }));
    let o = engine::step(ctx, &mut s, "6");
    assert!(matches!(o.step, Step::Show { end: false, .. }), "home 6 is the search screen");
    s
}

/// Queries by kind: words of generated services' names (the thing and the agency, as a
/// citizen types them), single common words, 3-4 letter prefixes, one-typo words, misses.
fn queries(g: &catalogue_gen::Generated) -> Vec<(&'static str, Vec<String>)> {
    let words = |name: &str| -> String {
        let w: Vec<&str> = name.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| w.len() > 3).collect();
        w[w.len().saturating_sub(3)..].join(" ")
    };
    let named: Vec<String> = g
        .generated
        .iter()
        .step_by((g.generated.len() / 6).max(1))
        .flat_map(|s| [words(&s.name_sw), words(&s.name_en)])
        .collect();
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        ("service words (3)", named),
        ("one word", owned(&["leseni", "kibali", "licence", "permit", "cheti", "certificate", "kisumu", "pasipoti"])),
        ("prefix", owned(&["lese", "kib", "perm", "cert", "usaj", "reg"])),
        ("typo", owned(&["lesrni", "kibalu", "licenxe", "pasport", "certifcate"])),
        ("miss", owned(&["xyzzy", "qwertyuiop", "leseni xylophone"])),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; `cargo test --benches` and `-- --test` do not, and get a
    // small catalogue so that they stay fast.
    let smoke = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    let runs = if smoke {
        1
    } else {
        args.iter()
            .position(|a| a == "--runs")
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(5usize)
            .max(1)
    };
    let (n, rounds) = if smoke { (300, 20) } else { (catalogue_gen::SERVICES, 4000) };
    let dir = tempfile::tempdir().expect("temp dir");
    let generated = catalogue_gen::generate(dir.path(), n);
    let menus_dir = dir.path().join("menus");
    let locales_dir = dir.path().join("locales");
    let fallback = [Locale::parse("sw").expect("sw"), Locale::parse("en").expect("en")];
    let opts = check::Options::new(&menus_dir, &locales_dir, &fallback);
    let load = || match check::load(&opts) {
        Ok(loaded) => loaded,
        Err(problems) => panic!("the generated catalogue must pass check: {:#?}", &problems[..problems.len().min(10)]),
    };
    println!(
        "# The national catalogue: {} services of {} agencies, Swahili and English\n",
        generated.services, generated.agencies
    );

    // Memory: what stays live once loaded and prepared, as a server holds it. First the
    // Fluent catalog alone (loaded, measured, dropped), to say what the menus' share is.
    let fluent = {
        let before = LIVE.load(Ordering::Relaxed);
        let (catalog, _) = njia::i18n::Catalog::load(&locales_dir, &fallback);
        let bytes = LIVE.load(Ordering::Relaxed) - before;
        drop(catalog);
        bytes
    };
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let loaded = load();
    let after_load = LIVE.load(Ordering::Relaxed);
    let served = engine::serve(&loaded.menus, &loaded.catalog, |_| vec![160]);
    let after_serve = LIVE.load(Ordering::Relaxed);
    let peak = PEAK.load(Ordering::Relaxed);
    println!("| memory (bytes live after minus before) | bytes | MiB |");
    println!("|---|---:|---:|");
    for (what, bytes) in [
        ("check::load: menus, Fluent catalog, lookup data", after_load - before),
        ("  of which the Fluent catalog (sw and en, loaded alone)", fluent),
        ("engine::serve: prepared locales and the search index", after_serve - after_load),
        ("the loaded catalogue in all (budget 32 MiB)", after_serve - before),
        ("peak while loading and preparing", peak - before),
    ] {
        println!("| {what} | {bytes} | {:.1} |", mib(bytes));
    }
    if args.iter().any(|a| a == "--memory") {
        return;
    }

    // Reload: what a reload does before the swap, the old set still alive beside it.
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let l = load();
            let s = engine::serve(&l.menus, &l.catalog, |_| vec![160]);
            let took = t.elapsed();
            black_box((l, s));
            took
        })
        .collect();
    times.sort();
    println!(
        "\nreload (check::load + engine::serve) over {runs} runs: min {:.0} ms, median {:.0} ms (budget 1 s)\n",
        times[0].as_secs_f64() * 1e3,
        times[runs / 2].as_secs_f64() * 1e3
    );

    // The search hop.
    let menu = served.by_id("ecitizen").expect("the e-Citizen menu");
    let ctx = Ctx::new(menu, &loaded.catalog, 160);
    let searching = [at_search(ctx, "sw"), at_search(ctx, "en")];
    let (home, _) = engine::begin(ctx, Locale::parse("sw").expect("sw"), false);
    let kinds = queries(&generated);
    let hop = |from: &Session, input: &str| -> Duration {
        let mut s = from.clone();
        let t = Instant::now();
        let o = engine::step(ctx, &mut s, black_box(input));
        let took = t.elapsed();
        black_box(o);
        took
    };
    for _ in 0..rounds.min(50) {
        for (_, qs) in &kinds {
            for q in qs {
                for s in &searching {
                    hop(s, q);
                }
            }
        }
    }
    let mut samples: Vec<Vec<Duration>> = kinds.iter().map(|_| Vec::new()).collect();
    let mut menu_hop = Vec::new();
    for _ in 0..rounds {
        for ((_, qs), times) in kinds.iter().zip(&mut samples) {
            for q in qs {
                for s in &searching {
                    times.push(hop(s, q));
                }
            }
        }
        menu_hop.push(hop(&home, "5"));
    }
    println!("| hop (engine::step + render) | n | p50 µs | p99 µs | p99.9 µs | max µs |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut all = Vec::new();
    let mut rows = Vec::new();
    for ((kind, qs), mut times) in kinds.iter().zip(samples) {
        all.extend_from_slice(&times);
        times.sort_unstable();
        rows.push((format!("search: {kind}"), qs.len() * 2, times));
    }
    all.sort_unstable();
    let total = kinds.iter().map(|k| k.1.len() * 2).sum();
    rows.push(("search: all (mixed, budget 20 µs at p99)".to_owned(), total, all));
    menu_hop.sort_unstable();
    rows.push(("menu: home -> agencies (paginated)".to_owned(), 1, menu_hop));
    for (kind, count, times) in &rows {
        println!(
            "| {kind} | {count} | {:.2} | {:.2} | {:.2} | {:.2} |",
            micros(percentile(times, 0.5)),
            micros(percentile(times, 0.99)),
            micros(percentile(times, 0.999)),
            micros(percentile(times, 1.0)),
        );
    }
    println!("\n({rounds} rounds; n is queries x 2 locales; each hop timed on its own from a copy of the session)\n");

    let mut c = Criterion::default().configure_from_args();
    for (kind, qs) in &kinds {
        let mut k = 0;
        c.bench_function(&format!("search hop: {kind} (cycling {} queries x sw, en)", qs.len()), |b| {
            b.iter_batched(
                || {
                    k += 1;
                    (searching[k % 2].clone(), &qs[(k / 2) % qs.len()])
                },
                |(mut s, q)| black_box(engine::step(ctx, &mut s, black_box(q))),
                BatchSize::SmallInput,
            )
        });
    }
    c.bench_function("menu hop: home -> agencies (paginated render)", |b| {
        b.iter_batched(
            || home.clone(),
            |mut s| black_box(engine::step(ctx, &mut s, black_box("5"))),
            BatchSize::SmallInput,
        )
    });
    c.final_summary();
}
