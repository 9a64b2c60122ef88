//! Safe reload against the real server: a clean change is swapped in (on `POST /admin/reload`
//! and on SIGHUP) while a session that started before it finishes on the version it started
//! with; a broken change is refused with every problem and the old set keeps serving.

use crate::common;

use common::editable::{ADMIN, FORM, edit, hop, server};
use common::{TestServer, exchange_with};

async fn reload(server: &TestServer) -> (u16, serde_json::Value) {
    let (status, _, body) =
        exchange_with(server.addr, "POST", "/admin/reload", FORM, &[ADMIN], "").await.expect("reload answered");
    (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")))
}

#[tokio::test]
async fn a_clean_change_is_swapped_in_and_live_sessions_finish_on_their_version() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    // A citizen is mid-session (English, on the home menu) when the administrator reloads.
    let old = "+254711000801";
    hop(&server, "old-1", old, "").await;
    assert!(hop(&server, "old-1", old, "2").await.starts_with("CON Welcome to e-Citizen\n"));

    edit(
        &dir.path().join("locales/en/ecitizen.ftl"),
        "home-title = Welcome to e-Citizen",
        "home-title = e-Citizen services",
    );
    edit(&dir.path().join("menus/ecitizen.toml"), "[screens.home]", "# reviewed\n[screens.home]");
    let (_, before) = server.request("GET", "/readyz", "text/plain", "").await;
    let (status, answer) = reload(&server).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["reloaded"], true);
    let (_, after) = server.request("GET", "/readyz", "text/plain", "").await;
    assert_ne!(before, after, "the menu version changed");

    // The live session goes on, on the version and texts it started with.
    assert!(hop(&server, "old-1", old, "2*5").await.starts_with("CON Government agencies"), "agencies");
    let home = hop(&server, "old-1", old, "2*5*0").await;
    assert!(home.starts_with("CON Welcome to e-Citizen\n"), "{home}");
    // A new session gets the new set.
    let new = "+254711000802";
    hop(&server, "new-1", new, "").await;
    assert!(hop(&server, "new-1", new, "2").await.starts_with("CON e-Citizen services\n"));
    server.stop().await;
}

#[tokio::test]
async fn a_broken_change_is_refused_with_every_problem_and_the_old_set_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    // Two mistakes: a Swahili message removed, and a goto to a screen that does not exist.
    edit(&dir.path().join("locales/sw/ecitizen.ftl"), "home-land = Lipa ushuru wa ardhi\n", "");
    let menu = std::fs::read_to_string(dir.path().join("menus/ecitizen.toml")).unwrap();
    let line = 1 + menu.lines().position(|l| l.contains("goto = \"agencies\"")).unwrap();
    edit(&dir.path().join("menus/ecitizen.toml"), "goto = \"agencies\"", "goto = \"agencys\"");
    let (status, answer) = reload(&server).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["reloaded"], false);
    let problems: Vec<String> =
        answer["problems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect();
    assert!(problems.iter().any(|p| p.contains("home-land") && p.contains("ecitizen.ftl:")), "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains("agencys") && p.contains(&format!("ecitizen.toml:{line}:"))),
        "{problems:?}"
    );
    // Still serving the old, good set.
    let phone = "+254711000803";
    hop(&server, "b-1", phone, "").await;
    let home = hop(&server, "b-1", phone, "1").await;
    assert!(home.contains("1. Lipa ushuru wa ardhi"), "{home}");
    let (_, _, metrics) = exchange_with(server.addr, "GET", "/metrics", FORM, &[ADMIN], "").await.unwrap();
    assert!(metrics.contains("njia_menu_reloads_total{result=\"refused\"}"), "{metrics}");
    // Unauthenticated reloads are refused.
    let (status, _) = server.request("POST", "/admin/reload", FORM, "").await;
    assert_eq!(status, 401);
    server.stop().await;
}

/// #11: a reload that changes only words, or only lookup data, is a new version: /readyz says
/// so, and the data served is the new data (checked like the menus).
#[tokio::test]
async fn words_or_lookup_data_alone_make_a_new_version() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let version = |readyz: &str| {
        let v: serde_json::Value = serde_json::from_str(readyz).unwrap();
        v["menus"][0]["version"].as_str().unwrap().to_owned()
    };
    let v0 = version(&server.request("GET", "/readyz", "text/plain", "").await.1);

    edit(&dir.path().join("locales/sw/ecitizen.ftl"), "home-title = Karibu e-Citizen", "home-title = Karibu");
    assert_eq!(reload(&server).await.0, 200);
    let v1 = version(&server.request("GET", "/readyz", "text/plain", "").await.1);
    assert_ne!(v0, v1, "a change of words is a new version");

    edit(&dir.path().join("menus/lookups/lands.toml"), "amount = \"4,500\"", "amount = \"4,600\"");
    assert_eq!(reload(&server).await.0, 200);
    let v2 = version(&server.request("GET", "/readyz", "text/plain", "").await.1);
    assert_ne!(v1, v2, "a change of lookup data is a new version");
    let phone = "+254711000804";
    let mut last = String::new();
    for text in ["", "2", "2*1", "2*1*KAJIADO/1234"] {
        last = hop(&server, "v-1", phone, text).await;
    }
    assert!(last.contains("KES 4,600"), "the reloaded data answers: {last}");

    // Data that check refuses is refused by a reload too, and the old data keeps serving.
    edit(&dir.path().join("menus/lookups/lands.toml"), "amount = \"4,600\"", "amount = \"46,00\"");
    let (status, answer) = reload(&server).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["problems"].to_string().contains("lands.toml"), "{answer}");
    server.stop().await;
}

/// #13: a catalogue change reloads like a menu: a new service row (and its words) is found by
/// search and dialled by its code after the reload, while a session that began before it
/// searches the catalogue it started with.
#[tokio::test]
async fn a_catalogue_change_is_reloaded_and_live_sessions_keep_their_version() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let old = "+254711000811";
    hop(&server, "cat-old", old, "").await;
    // On the English home menu when the administrator reloads.
    assert!(hop(&server, "cat-old", old, "2").await.starts_with("CON Welcome to e-Citizen\n"));
    let row = "\n[[service]]\ncode = 3013\nid = \"kra-tcc\"\ncategories = [\"tax\"]\nflow = \"information\"\n";
    let file = dir.path().join("menus/catalogue/kra.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text}{row}")).unwrap();
    for (lang, words) in [
        (
            "sw",
            "svc-kra-tcc = Cheti cha kulipa kodi (TCC)\n    .keywords = kra tcc cheti kodi\nsvc-kra-tcc-info = Omba itax.kra.go.ke. Piga {$service_dial}\n",
        ),
        (
            "en",
            "svc-kra-tcc = Tax compliance certificate\n    .keywords = kra tcc compliance tax\nsvc-kra-tcc-info = Apply on itax.kra.go.ke. Dial {$service_dial}\n",
        ),
    ] {
        let ftl = dir.path().join(format!("locales/{lang}/catalogue/kra.ftl"));
        let text = std::fs::read_to_string(&ftl).unwrap();
        std::fs::write(&ftl, format!("{text}{words}")).unwrap();
    }
    let (status, answer) = reload(&server).await;
    assert_eq!(status, 200, "{answer}");
    // The live session goes on on its version: its search does not know the new service.
    hop(&server, "cat-old", old, "2*6").await;
    let page = hop(&server, "cat-old", old, "2*6*tcc").await;
    assert!(page.starts_with("CON No service matches \"tcc\"."), "{page}");
    // A new session finds it, and its code dials it.
    let new = "+254711000812";
    hop(&server, "cat-new", new, "").await;
    hop(&server, "cat-new", new, "2").await;
    hop(&server, "cat-new", new, "2*6").await;
    let found = hop(&server, "cat-new", new, "2*6*tcc").await;
    assert!(found.contains("1. Tax compliance certificate"), "{found}");
    let dialled = hop(&server, "cat-dial", "+254711000813", "3013").await;
    assert!(dialled.starts_with("END Omba itax.kra.go.ke. Piga *384*3013#"), "{dialled}");
    server.stop().await;
}

async fn preview(server: &TestServer) -> serde_json::Value {
    let (status, _, body) =
        exchange_with(server.addr, "GET", "/admin/preview", FORM, &[ADMIN], "").await.expect("preview answered");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// #14: the files on disk previewed against the set in service before a reload: a text
/// changed and a screen added are listed per locale; a broken change shows every problem at
/// its file:line; nothing is swapped in by looking.
#[tokio::test]
async fn a_preview_shows_the_changes_and_the_problems_without_reloading() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let same = preview(&server).await;
    assert_eq!(same["clean"], true, "{same}");
    assert_eq!(same["changes"], serde_json::json!([]), "nothing changed yet: {same}");

    edit(
        &dir.path().join("locales/en/ecitizen.ftl"),
        "home-title = Welcome to e-Citizen",
        "home-title = e-Citizen services",
    );
    edit(
        &dir.path().join("menus/ecitizen.toml"),
        "[screens.home]",
        "[screens.extra]\nkind = \"end\"\ntext = \"cancelled\"\n\n[screens.home]",
    );
    let changed = preview(&server).await;
    let changes = changed["changes"].as_array().unwrap();
    assert!(
        changes.contains(&serde_json::json!({"what": "text changed", "locale": "en", "id": "home-title",
            "before": "Welcome to e-Citizen", "after": "e-Citizen services"})),
        "{changed}"
    );
    assert!(
        changes.contains(&serde_json::json!({"what": "screen added", "menu": "ecitizen", "screen": "extra"})),
        "{changed}"
    );
    // An unreachable screen is an error: not clean, said at its line.
    assert_eq!(changed["clean"], false, "{changed}");
    let problems: Vec<&str> = changed["problems"].as_array().unwrap().iter().filter_map(|p| p.as_str()).collect();
    assert!(
        problems.iter().any(|p| p.contains("menus/ecitizen.toml:") && p.contains("\"extra\" is unreachable")),
        "{problems:?}"
    );
    // Looking swapped nothing in.
    hop(&server, "pv-1", "+254711000811", "").await;
    let home = hop(&server, "pv-1", "+254711000811", "2").await;
    assert!(home.starts_with("CON Welcome to e-Citizen\n"), "{home}");
    server.stop().await;
}
