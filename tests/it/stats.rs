//! #14: where citizens drop off. Sessions walked over Africa's Talking on the real server are
//! counted per screen (shown, left, ended, lookup failures) and per menu (started, over the rate
//! limit), written when the server stops, without any phone number, and read back by
//! `njia stats`: abandoned screens, completions, services entered and completed.

use crate::common::{self, TestServer, at_walk, config};

use njia::limit::Limits;
use njia::stats::ScreenFigures;
use njia::store::prelude::*;

fn screen<'a>(f: &'a njia::stats::Figures, name: &str) -> &'a ScreenFigures {
    f.screens.iter().find(|s| s.screen == name).unwrap_or_else(|| panic!("no figures for {name}: {:#?}", f.screens))
}

#[tokio::test]
async fn drop_off_is_counted_per_screen_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.rate_limit = Limits { phone_per_minute: 1, phone_burst: 3, ..Limits::default() };
    let server = TestServer::start(c).await;
    // Land rates, paid: home, parcel, confirm, the receipt (a submit).
    let paid = at_walk(
        &server,
        "ATUid_st1",
        "+254711800001",
        "*384*4021#",
        &["4021", "4021*KAJIADO/1234", "4021*KAJIADO/1234*1"],
    )
    .await;
    assert!(paid[2].starts_with("END Ombi NJ-"), "{}", paid[2]);
    // Home, a wrong choice (home again), then nothing: abandoned on home.
    at_walk(&server, "ATUid_st2", "+254711800002", "*384#", &["", "1", "1*9"]).await;
    // Passport information by its code: entered and completed at once.
    at_walk(&server, "ATUid_st3", "+254711800003", "*384*2101#", &["2101"]).await;
    // A fourth hop of one number within the minute: over the rate limit.
    let limited = at_walk(&server, "ATUid_st4", "+254711800004", "*384#", &["", "1", "1*1", "1*1*X"]).await;
    assert!(limited[3].starts_with("END "), "{}", limited[3]);
    server.stop().await;

    let store = njia::store::sqlite::SqliteStore::open(dir.path()).unwrap();
    let rows = store.stats(Some("ecitizen"), 0).await.unwrap();
    assert!(!rows.is_empty());
    let l = common::load(&common::repo());
    let m = l.menus.by_id("ecitizen").unwrap();
    let f = njia::stats::sum(m, &rows);
    let day = &f.days[0];
    assert_eq!((day.started, day.completed, day.limited), (4, 2, 1), "{:#?}", f.days);
    // New numbers dialling plain are asked their language first; home is shown after it (and
    // again after the wrong choice), left by each choice, and one session is abandoned there.
    // A dial with a code's digits passes home without showing it.
    let language = screen(&f, "language");
    assert_eq!((language.shown, language.left), (2, 2), "{language:?}");
    let home = screen(&f, "home");
    assert_eq!((home.shown, home.left, home.abandoned), (3, 2, 1), "{home:?}");
    let receipt = screen(&f, "land-rates.pay");
    assert_eq!((receipt.ended, receipt.shown), (1, 0), "{receipt:?}");
    assert_eq!(
        f.services.iter().map(|s| (s.code, s.entered, s.completed)).collect::<Vec<_>>(),
        [(4021, 2, 1), (2101, 1, 1)],
        "{:#?}",
        f.services
    );

    // The command prints the same figures; no phone number anywhere in the store's rows.
    let out = common::njia()
        .args(["stats", "--json", "--data-dir"])
        .arg(dir.path())
        .current_dir(common::repo())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["days"][0]["started"], 4);
    let text =
        common::njia().args(["stats", "--data-dir"]).arg(dir.path()).current_dir(common::repo()).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.starts_with("menu ecitizen: 4 sessions started, 2 completed (50%), 1 hops over the rate limit"),
        "{text}"
    );
    let conn = rusqlite::Connection::open(dir.path().join("njia.sqlite3")).unwrap();
    let dump: Vec<String> = conn
        .prepare("SELECT menu || screen FROM screen_stats")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(dump.iter().all(|r| !r.contains("71180000")), "{dump:?}");
}
