//! Criterion: one engine step plus the render of the next screen, on the shipped menus.
//!
//! Run: `cargo bench --bench engine`. The engine is pure, so this measures exactly the CPU a
//! hop spends deciding and rendering, without HTTP or session-store costs.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use njia::check;
use njia::engine::{self, Ctx, Step};
use njia::types::Locale;

fn bench(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fallback = [Locale::parse("sw").expect("sw"), Locale::parse("en").expect("en")];
    let opts = check::Options {
        menus_dir: &root.join("menus"),
        locales_dir: &root.join("locales"),
        limit: 160,
        fallback: &fallback,
    };
    let Ok(loaded) = check::load(&opts) else { panic!("shipped menus must pass check") };
    let menu = loaded.menus.by_id("ecitizen").expect("demo menu").clone();
    let ctx = Ctx { menu: &menu, catalog: &loaded.catalog, limit: 160 };
    let (home, first) = engine::begin(ctx, Locale::parse("sw").expect("sw"), false);
    assert!(matches!(first, Step::Show { .. }));

    // Home (6 options) -> agencies (16 options, paginated): a menu step plus a paginated render.
    c.bench_function("step: home -> agencies menu (paginated render)", |b| {
        b.iter_batched(
            || home.clone(),
            |mut s| black_box(engine::step(ctx, &mut s, black_box("5"))),
            BatchSize::SmallInput,
        )
    });
    // Agencies page 1 -> page 2 via 98.
    let mut agencies = home.clone();
    let _ = engine::step(ctx, &mut agencies, "5");
    c.bench_function("step: agencies 98 -> page 2", |b| {
        b.iter_batched(
            || agencies.clone(),
            |mut s| black_box(engine::step(ctx, &mut s, black_box("98"))),
            BatchSize::SmallInput,
        )
    });
    // Home -> input screen (validation path is exercised next).
    c.bench_function("step: home -> input screen", |b| {
        b.iter_batched(
            || home.clone(),
            |mut s| black_box(engine::step(ctx, &mut s, black_box("3"))),
            BatchSize::SmallInput,
        )
    });
    let mut kra = home.clone();
    let _ = engine::step(ctx, &mut kra, "3");
    c.bench_function("step: input validated by regex -> lookup call", |b| {
        b.iter_batched(
            || kra.clone(),
            |mut s| black_box(engine::step(ctx, &mut s, black_box("A123456789B"))),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("step: invalid choice re-render with error line", |b| {
        b.iter_batched(
            || home.clone(),
            |mut s| black_box(engine::step(ctx, &mut s, black_box("9"))),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
