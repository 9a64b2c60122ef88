//! Criterion: one engine step plus the render of the next screen, on the shipped menus.
//!
//! Run: `cargo bench --bench engine`. The engine is pure, so this measures exactly the CPU a
//! hop spends deciding and rendering, without HTTP or session-store costs.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use njia::check;
use njia::engine::{self, Ctx, Session, Step};
use njia::types::Locale;

/// The shipped menus, checked.
fn load() -> check::Loaded {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fallback = [Locale::parse("sw").expect("sw"), Locale::parse("en").expect("en")];
    let (menus, locales) = (root.join("menus"), root.join("locales"));
    let opts = check::Options::new(&menus, &locales, &fallback);
    match check::load(&opts) {
        Ok(loaded) => loaded,
        Err(problems) => panic!("shipped menus must pass check: {problems:#?}"),
    }
}

fn bench(c: &mut Criterion) {
    let loaded = load();
    let served = engine::serve(&loaded.menus, &loaded.catalog, |_| vec![160]);
    let menu = served.by_id("ecitizen").expect("demo menu");
    let ctx = Ctx::new(menu, &loaded.catalog, 160);
    let (home, first) = engine::begin(ctx, Locale::parse("sw").expect("sw"), false);
    assert!(matches!(first, Step::Show { .. }));
    // Each case applies one input to a copy of a session at a given screen.
    let mut case = |name: &str, from: &Session, input: &str| {
        c.bench_function(name, |b| {
            b.iter_batched(
                || from.clone(),
                |mut s| black_box(engine::step(ctx, &mut s, black_box(input))),
                BatchSize::SmallInput,
            )
        });
    };
    let mut agencies = home.clone();
    let _ = engine::step(ctx, &mut agencies, "5");
    let mut kra = home.clone();
    let _ = engine::step(ctx, &mut kra, "3");
    // Home (6 options) -> agencies (16 options, paginated): a menu step plus a paginated render.
    case("step: home -> agencies menu (paginated render)", &home, "5");
    case("step: agencies 98 -> page 2", &agencies, "98");
    case("step: home -> input screen", &home, "3");
    case("step: input validated by regex -> lookup call", &kra, "A123456789B");
    case("step: invalid choice re-render with error line", &home, "9");
}

/// The hub without HTTP: the same 5-hop walk the load benchmark drives, with the
/// in-memory session store, the SQLite store (language cached) and data-file lookups. This is
/// the application's share of a hop, free of the kernel's noise.
fn hub(c: &mut Criterion) {
    use std::sync::Arc;
    use std::time::Duration;

    use njia::hub::{Hop, HopInput, Hub, HubConfig};
    use njia::lookup::Lookups;
    use njia::session::MemorySessions;
    use njia::store::Store;
    use njia::store::sqlite::SqliteStore;
    use njia::types::{Msisdn, SessionKey};

    let loaded = load();
    let data = std::env::temp_dir().join(format!("njia-bench-hub-{}", std::process::id()));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data).expect("store"));
    let phone = Msisdn::parse("+254711000111").expect("phone");
    rt.block_on(store.set_language(phone, Locale::parse("sw").expect("sw"))).expect("language");
    let hub = Hub {
        menus: Arc::new(njia::engine::serve(&loaded.menus, &loaded.catalog, |_| vec![160])),
        catalog: loaded.catalog,
        sessions: MemorySessions::new(Duration::from_secs(180), Duration::from_secs(300), 1_000_000),
        store: Arc::clone(&store),
        lookups: Arc::new(Lookups {
            files: Arc::new(njia::reload::Shared::new(Arc::clone(&loaded.lookups))),
            store,
            http: Default::default(),
        }),
        config: HubConfig {
            lookup_timeout: Duration::from_secs(2),
            default_locale: Locale::parse("sw").expect("sw"),
            handoff: njia::handoff::Policy::default(),
            wake: Arc::new(tokio::sync::Notify::new()),
            resume_window: Duration::from_secs(300),
            clock: njia::clock::Clock::System,
            behind: Default::default(),
            funnel: Default::default(),
            uses: Default::default(),
            metrics: njia::metrics::Registry::for_server(false),
        },
        limits: Arc::new(njia::limit::RateLimits::none()),
        retired: Arc::from([]),
    };
    let channel: Arc<str> = Arc::from("bench");
    let walk = ["", "5", "5*98", "5*98*98", "5*98*98*12"];
    let mut n = 0u64;
    c.bench_function("hub: a whole 5-hop agencies walk (divide by 5 for a hop)", |b| {
        b.iter(|| {
            n += 1;
            let key = SessionKey::new(Arc::clone(&channel), &format!("s{n}")).expect("key");
            for text in walk {
                let hop = Hop {
                    key: key.clone(),
                    msisdn: phone,
                    service_code: "*384#".into(),
                    input: HopInput::Cumulative(text.into()),
                    limit: 160,
                    menus: None,
                };
                black_box(rt.block_on(hub.hop(hop)));
            }
        })
    });
    let _ = std::fs::remove_dir_all(&data);
}

criterion_group!(benches, bench, hub);
criterion_main!(benches);
