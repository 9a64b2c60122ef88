//! #11, findings 2 and 3: what serving relies on is checked first, and a mistake that still
//! gets through never reaches a citizen as a raw placeable or a wrong screen.

mod common;

use common::editable::{copy_dir, edit};
use njia::engine::{self, Ctx, Secrets, Session, Step, Value};
use njia::server::StartError;
use njia::types::Locale;

/// A copy of the shipped menus and locales to break.
fn copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&common::repo().join("menus"), &dir.path().join("menus"));
    copy_dir(&common::repo().join("locales"), &dir.path().join("locales"));
    dir
}

async fn start_error(dir: &std::path::Path) -> Vec<String> {
    let mut c = common::config(&dir.join("data"));
    c.menus_dir = dir.join("menus");
    c.locales_dir = dir.join("locales");
    // Unset: the data files beside the menus, as serve resolves them without a config file.
    c.lookups_dir = None;
    match njia::server::build(&c).await {
        Err(StartError::Check(problems)) => problems.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("serve started on menus that njia check refuses"),
    }
}

/// Each mistake of the finding passed check once and served broken; now check names it with
/// file:line, and serve refuses to start on it.
#[tokio::test]
async fn serve_refuses_the_lookup_mistakes_check_reports() {
    // A backend that names neither a data file nor a configured backend.
    let dir = copy();
    edit(&dir.path().join("menus/ecitizen.toml"), "backend = \"lands\"", "backend = \"land\"");
    let problems = start_error(dir.path()).await;
    assert!(
        problems.iter().any(|p| p.contains("ecitizen.toml:") && p.contains("no lookup backend \"land\"")),
        "{problems:#?}"
    );

    // A data-file entry that lacks a variable its lookup provides (the citizen once saw
    // `KES {$fee}`).
    let dir = copy();
    edit(&dir.path().join("menus/lookups/ntsa.toml"), "fee = \"1,350\"", "");
    let problems = start_error(dir.path()).await;
    assert!(
        problems.iter().any(|p| p.contains("ntsa.toml:") && p.contains("has no fee, which the lookup at")),
        "{problems:#?}"
    );

    // The finding's amount: wider than its declared width.
    let dir = copy();
    edit(&dir.path().join("menus/ecitizen.toml"), "amount = { max_width = 9 }", "amount = { max_width = 5 }");
    let problems = start_error(dir.path()).await;
    assert!(
        problems.iter().any(|p| p.contains("lands.toml:") && p.contains("6 characters, wider than its max_width 5")),
        "{problems:#?}"
    );

    // A Swahili selector key typo: an active taxpayer would be told the PIN is not in use.
    let dir = copy();
    edit(&dir.path().join("locales/sw/ecitizen.ftl"), "[active] inatumika", "[activ] inatumika");
    let problems = start_error(dir.path()).await;
    assert!(
        problems.iter().any(|p| p.contains("sw/ecitizen.ftl:") && p.contains("[activ] in sw can never be chosen")),
        "{problems:#?}"
    );
}

/// If formatting fails at run time (a variable a screen uses is unset: a session restored
/// from a state the checker never saw), the citizen gets the localized apology, never
/// `{$owner}`.
#[test]
fn a_screen_that_cannot_be_formatted_is_the_apology_not_a_raw_placeable() {
    let l = common::load(&common::repo());
    let m = l.menus.by_id("ecitizen").unwrap();
    let ctx = Ctx { menu: m, catalog: &l.catalog, limit: 160 };
    for (lang, apology) in [("en", "Sorry, there is a technical problem"), ("sw", "Samahani")] {
        let s = Session {
            locale: Locale::parse(lang).unwrap(),
            screen: m.screen_id("land-confirm").unwrap(),
            page: 0,
            stack: Vec::new(),
            // The parcel, but not the owner or the amount.
            vars: vec![("parcel".into(), Value::Text("KAJIADO/1234".into()))],
            secrets: Secrets::default(),
        };
        match engine::current(ctx, &s) {
            Step::Show { text, end } => {
                assert!(end, "the apology ends the session");
                assert!(text.starts_with(apology), "{text}");
                assert!(!text.contains('{') && !text.contains('$'), "{text}");
            }
            other => panic!("{other:?}"),
        }
    }
}
