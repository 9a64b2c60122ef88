//! `njia catalogue …` as administrators run it: list, show, stats, and the spreadsheet round
//! trip. Every command runs the real binary on a copy of the shipped menus and locales; an
//! import either passes every check and rewrites the catalogue, or names every bad row and
//! writes nothing.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::editable::copy_dir;
use common::{njia, repo};
use njia::catalogue_admin::Admin;
use njia::config::Config;

/// A temporary directory with copies of the shipped `menus/` and `locales/`.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["menus", "locales"] {
        copy_dir(&repo().join(sub), &dir.path().join(sub));
    }
    dir
}

fn catalogue(dir: &Path, args: &[&str]) -> Output {
    njia().arg("catalogue").args(args).current_dir(dir).output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn export(dir: &Path) -> String {
    ok(&catalogue(dir, &["export", "--csv"]))
}

fn import(dir: &Path, sheet: &str) -> Output {
    let file = dir.join("sheet.csv");
    std::fs::write(&file, sheet).unwrap();
    catalogue(dir, &["import", "--csv", file.to_str().unwrap()])
}

/// The sheet as rows of cells, the header first.
fn cells(sheet: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(sheet.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

fn sheet(rows: &[Vec<String>]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.write_record(r).unwrap();
    }
    String::from_utf8(w.into_inner().unwrap()).unwrap()
}

/// Applies `edit` to the cell of `column` in the row whose id is `id`.
fn set(rows: &mut [Vec<String>], id: &str, column: &str, value: &str) {
    let c = rows[0].iter().position(|h| h == column).unwrap();
    let i = rows[0].iter().position(|h| h == "id").unwrap();
    let row = rows.iter_mut().find(|r| r[i] == id).unwrap_or_else(|| panic!("no row {id}"));
    row[c] = value.to_owned();
}

/// Every file under `dir`, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "toml" || x == "ftl") {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// The catalogue as loaded (everything but where each row is written), with every service's
/// names and search words and every screen the menu has, for comparing two loads.
fn loaded(dir: &Path) -> Vec<String> {
    let fallback = Config::default().fallback_locales;
    let (menus, locales) = (dir.join("menus"), dir.join("locales"));
    let opts = njia::check::Options::new(&menus, &locales, &fallback);
    let admin = Admin::open(&opts).unwrap_or_else(|e| panic!("{e}"));
    let m = admin.menu();
    let cat = admin.catalogue();
    let mut out: Vec<String> = cat
        .services
        .iter()
        .map(|s| {
            let words: Vec<String> = admin
                .locales
                .iter()
                .map(|l| {
                    format!(
                        "{}|{:?}",
                        admin.loaded.catalog.format(l, &s.name, None),
                        admin.loaded.catalog.attribute(l, &s.name, "keywords")
                    )
                })
                .collect();
            format!(
                "{} {} {} {:?} {} {:?} {:?} {} {:?} {} {:?}",
                s.code,
                s.id,
                cat.agencies[usize::from(s.agency)].id,
                s.categories,
                s.flow,
                s.paid,
                s.backend,
                s.popularity,
                s.params,
                m.screen(s.entry).name,
                words
            )
        })
        .collect();
    out.extend(m.screens.iter().map(|s| format!("screen {} {:?}", s.name, s.text.as_ref().map(|t| &t.id))));
    out
}

#[test]
fn export_import_export_gives_the_same_sheet_and_the_same_catalogue() {
    let dir = workdir();
    let before = loaded(dir.path());
    let original = export(dir.path());
    assert_eq!(cells(&original).len(), 1 + before.iter().filter(|l| !l.starts_with("screen ")).count());
    // Every row changed once, then back: every agency file is rewritten twice, so what is
    // compared is what import writes, not the files as shipped.
    let mut rows = cells(&original);
    let p = rows[0].iter().position(|h| h == "popularity").unwrap();
    for r in rows.iter_mut().skip(1) {
        let n: u32 = r[p].parse().unwrap_or(0);
        r[p] = (n + 1).to_string();
    }
    let out = ok(&import(dir.path(), &sheet(&rows)));
    assert!(out.contains("imported") && out.contains("wrote"), "{out}");
    assert_ne!(loaded(dir.path()), before);
    let out = ok(&import(dir.path(), &original));
    assert!(out.contains("wrote") && out.contains("kra.toml"), "{out}");
    assert_eq!(export(dir.path()), original, "export -> import -> export changed the sheet");
    assert_eq!(loaded(dir.path()), before, "export -> import changed the loaded catalogue");
    // The header comments and the other messages stayed.
    let kra = std::fs::read_to_string(dir.path().join("menus/catalogue/kra.toml")).unwrap();
    assert!(kra.starts_with("# Kenya Revenue Authority (KRA)."), "{kra}");
    let ftl = std::fs::read_to_string(dir.path().join("locales/en/catalogue/kra.ftl")).unwrap();
    assert!(ftl.starts_with('#') && ftl.contains("svc-kra-nil-return-info ="), "{ftl}");
    ok(&njia().arg("check").current_dir(dir.path()).output().unwrap());
    // Importing the same sheet again writes nothing at all.
    let out = ok(&import(dir.path(), &original));
    assert!(out.contains("nothing changed"), "{out}");
}

#[test]
fn an_edited_sheet_changes_names_adds_and_removes_services() {
    let dir = workdir();
    let mut rows = cells(&export(dir.path()));
    // Spreadsheets quote commas, quotes and line breaks; a name may hold the first two.
    set(&mut rows, "kra-pin-check", "name_en", "Check a KRA PIN, \"quickly\"");
    // A new service, copied from a fixed-fee row, in a new category list.
    let id = rows[0].iter().position(|h| h == "id").unwrap();
    let mut new = rows.iter().find(|r| r[id] == "land-search").unwrap().clone();
    new[id] = "land-search-copy".into();
    new[rows[0].iter().position(|h| h == "code").unwrap()] = "4029".into();
    rows.push(new);
    set(&mut rows, "land-search-copy", "name_sw", "Upekuzi wa pili");
    set(&mut rows, "land-search-copy", "name_en", "Second land search");
    // One service removed.
    rows.retain(|r| r[id] != "kra-nil-return");
    let out = ok(&import(dir.path(), &sheet(&rows)));
    assert!(out.contains("imported"), "{out}");
    let list = ok(&catalogue(dir.path(), &["list", "--agency", "lands"]));
    assert!(list.contains("4029") && list.contains("Upekuzi wa pili"), "{list}");
    let en = ok(&catalogue(dir.path(), &["show", "4029"]));
    assert!(en.contains("[en] Second land search"), "{en}");
    let show = ok(&catalogue(dir.path(), &["show", "3011"]));
    assert!(show.contains("[en] Check a KRA PIN, \"quickly\""), "{show}");
    assert!(!catalogue(dir.path(), &["show", "3012"]).status.success());
    let ftl = std::fs::read_to_string(dir.path().join("locales/sw/catalogue/kra.ftl")).unwrap();
    assert!(!ftl.contains("svc-kra-nil-return ="), "a removed service keeps its name:\n{ftl}");
    let lands = std::fs::read_to_string(dir.path().join("locales/en/catalogue/lands.ftl")).unwrap();
    assert!(lands.contains("svc-land-search-copy = Second land search"), "{lands}");
    ok(&njia().arg("check").current_dir(dir.path()).output().unwrap());
}

#[test]
fn bad_rows_are_all_named_and_nothing_is_written() {
    let dir = workdir();
    let mut rows = cells(&export(dir.path()));
    let before = snapshot(dir.path());
    let id = rows[0].iter().position(|h| h == "id").unwrap();
    let code = rows[0].iter().position(|h| h == "code").unwrap();
    let row_of = |rows: &[Vec<String>], s: &str| rows.iter().position(|r| r[id] == s).unwrap() + 1;
    set(&mut rows, "company-registration", "flow", "no-such-template");
    let dup = rows.iter().find(|r| r[id] == "court-fees").unwrap()[code].clone();
    set(&mut rows, "small-claims", "code", &dup);
    set(&mut rows, "good-conduct", "fee", "a lot");
    set(&mut rows, "sha-status", "name_en", "");
    let out = import(dir.path(), &sheet(&rows));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for (service, says) in [
        ("company-registration", "unknown template \"no-such-template\""),
        ("small-claims", &format!("code {dup} is also used at row {}", row_of(&rows, "court-fees"))),
        ("good-conduct", "fee \"a lot\" is not an amount"),
        ("sha-status", "name_en is empty"),
    ] {
        let line = format!("row {} (code ", row_of(&rows, service));
        let at = err.lines().find(|l| l.starts_with(&line)).unwrap_or_else(|| panic!("no {line:?} in\n{err}"));
        assert!(at.contains(service) && at.contains(says), "{at}\nin\n{err}");
    }
    assert!(err.contains("nothing was written: 4 problem(s)"), "{err}");
    assert_eq!(snapshot(dir.path()), before, "a failed import changed files");
}

#[test]
fn a_bad_header_is_row_1_and_list_refuses_unknown_filters() {
    let dir = workdir();
    let original = export(dir.path());
    let bad = original.replacen("popularity,", "populariti,", 1);
    let out = import(dir.path(), &bad);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("row 1 (header): unknown column \"populariti\""), "{err}");
    assert!(err.contains("there is no column \"popularity\""), "{err}");
    let out = catalogue(dir.path(), &["list", "--category", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such category"));
    let land = ok(&catalogue(dir.path(), &["list", "--category", "land"]));
    assert!(land.contains("land-rates") && !land.contains("kra-pin-check"), "{land}");
}

/// A row moved to an agency that has no name yet: the check's complaint about the missing
/// `agency-<id>` message is put at that agency's first row.
#[test]
fn a_new_agency_without_a_name_is_put_at_its_first_row() {
    let dir = workdir();
    let mut rows = cells(&export(dir.path()));
    let before = snapshot(dir.path());
    set(&mut rows, "tsc-transfer", "agency", "kenha");
    let at = rows.iter().position(|r| r.iter().any(|c| c == "tsc-transfer")).unwrap() + 1;
    let out = import(dir.path(), &sheet(&rows));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("row {at} (code 2803, id tsc-transfer): message \"agency-kenha\"")), "{err}");
    assert_eq!(snapshot(dir.path()), before, "a failed import changed files");
}
