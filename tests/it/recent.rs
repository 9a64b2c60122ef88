//! #13: a returning citizen's home screen offers the services they used last first, numbered by
//! their codes, and forgets them after the menu's `recent_days`; search ranks equal matches by
//! how often services were used. The engine's screens in both languages, then the real server
//! over Africa's Talking with a manual clock (the store conformance of `Usage` is in
//! `store.rs`).

use crate::common::{self, TestServer, at_walk, config};
use crate::engine::until_screen;

use std::sync::Arc;
use std::time::Duration;

use njia::check::Loaded;
use njia::clock::ManualClock;
use njia::engine::{self, Ctx, Served, Step};
use njia::server::RunOptions;
use njia::types::Locale;

/// Passport (immigration) and company registration (BRS): information services, one hop from
/// their codes, on no option of home.
const PASSPORT: u32 = 2101;
const COMPANY: u32 = 2303;
/// Land rates and the KRA PIN check: catalogue services home already leads to.
const LAND: u32 = 4021;
const KRA: u32 = 3011;

const HOME_SW: &str = "Karibu e-Citizen\n1. Lipa ushuru wa ardhi\n2. Leseni ya udereva\n3. PIN ya KRA\n4. Hali ya ombi\n\
                       5. Mashirika ya serikali\n6. Tafuta huduma\n7. Huduma zote\n8. Lugha";

fn served(l: &Loaded) -> Served {
    Served::new(Arc::clone(l.menus.by_id("ecitizen").expect("the demo menu")), &l.catalog, &[160])
}

fn text(step: &Step) -> &str {
    match step {
        Step::Show { text, .. } => text,
        other => panic!("not a screen: {other:?}"),
    }
}

/// Home for a citizen whose recent services are `recent`, in `lang`, then what each of
/// `inputs` shows.
fn home(ctx: Ctx<'_>, l: &Loaded, lang: &str, recent: &[u32], inputs: &[&str]) -> Vec<String> {
    let (mut s, first) = engine::begin_returning(ctx, Locale::parse(lang).unwrap(), false, recent);
    let mut shown = vec![text(&first).to_owned()];
    for input in inputs {
        let step = engine::step(ctx, &mut s, input).step;
        let mut screens = Vec::new();
        until_screen(ctx, &mut s, step, &l.lookups, &mut screens);
        shown.extend(screens.into_iter().map(|(t, _)| t));
    }
    shown
}

/// The screens in both languages: recent services first, numbered by their codes, the menu's
/// own options keeping their numbers and moving to a second page as needed.
#[test]
fn home_offers_recent_services_first_numbered_by_code() {
    let l = common::load(&common::repo());
    let served = served(&l);
    let ctx = Ctx::new(&served, &l.catalog, 160);
    let sw = home(ctx, &l, "sw", &[COMPANY, PASSPORT], &["98"]);
    assert_eq!(
        sw,
        [
            "Karibu e-Citizen\n2303. Sajili kampuni\n2101. Omba pasipoti\n1. Lipa ushuru wa ardhi\n2. Leseni ya udereva\n\
             3. PIN ya KRA\n4. Hali ya ombi\n98. Zaidi",
            "Karibu e-Citizen\n5. Mashirika ya serikali\n6. Tafuta huduma\n7. Huduma zote\n8. Lugha\n0. Rudi",
        ]
    );
    let en = home(ctx, &l, "en", &[PASSPORT], &[]);
    assert_eq!(
        en[0],
        "Welcome to e-Citizen\n2101. Apply for a passport\n1. Pay land rates\n2. Driving licence\n3. KRA PIN\n\
         4. Application status\n5. Government agencies\n98. More"
    );
    for screen in sw.iter().chain(&en) {
        assert!(njia::gsm7::fits(screen, 160), "{screen}");
    }
}

/// Typing a recent service's code opens it (one hop); the options keep their numbers; Home
/// (00) shows the recent services again.
#[test]
fn a_recent_service_is_one_hop_and_options_keep_their_numbers() {
    let l = common::load(&common::repo());
    let served = served(&l);
    let ctx = Ctx::new(&served, &l.catalog, 160);
    let opened = home(ctx, &l, "sw", &[COMPANY, PASSPORT], &["2101"]);
    assert!(opened[1].starts_with("Omba ecitizen.go.ke (Uhamiaji)"), "{}", opened[1]);
    let land = home(ctx, &l, "sw", &[COMPANY, PASSPORT], &["1"]);
    assert!(land[1].starts_with("Weka nambari ya kipande"), "{}", land[1]);
    let again = home(ctx, &l, "sw", &[COMPANY], &["5", "00"]);
    assert_eq!(again[2], again[0], "home again, with its recent service");
    assert!(again[0].contains("\n2303. Sajili kampuni\n"), "{}", again[0]);
    // The number of a recent line is not a choice: 3 is still the KRA PIN.
    let kra = home(ctx, &l, "sw", &[COMPANY], &["3"]);
    assert!(kra[1].contains("PIN"), "{}", kra[1]);
    // An option the recent lines pushed to the next page is still its number from the first:
    // 6 searches, as it did before there were recent services.
    let search = home(ctx, &l, "sw", &[COMPANY, PASSPORT], &["6"]);
    assert_eq!(search[1], "Andika jina la huduma (mfano leseni, ardhi, pasipoti):\n0. Rudi");
    // A number no option has is still a wrong choice.
    let wrong = home(ctx, &l, "sw", &[COMPANY, PASSPORT], &["9"]);
    assert!(wrong[1].starts_with("Chaguo si sahihi."), "{}", wrong[1]);
}

/// Only what home does not already lead to, what the catalogue still has, at most the menu's
/// `recent` (2), most recent first.
#[test]
fn only_services_home_does_not_lead_to_and_at_most_the_count() {
    let l = common::load(&common::repo());
    let served = served(&l);
    let ctx = Ctx::new(&served, &l.catalog, 160);
    let (s, _) = engine::begin_returning(ctx, Locale::parse("sw").unwrap(), false, &[LAND, 99_999, KRA, PASSPORT]);
    assert_eq!(s.recent, [PASSPORT], "land rates and KRA are options of home; 99999 is no service");
    let (s, _) = engine::begin_returning(ctx, Locale::parse("sw").unwrap(), false, &[COMPANY, PASSPORT, 1101]);
    assert_eq!(s.recent, [COMPANY, PASSPORT]);
    let (s, first) = engine::begin_returning(ctx, Locale::parse("sw").unwrap(), false, &[LAND, KRA]);
    assert!(s.recent.is_empty());
    assert_eq!(text(&first), HOME_SW, "the prepared home, as for a new number");
}

/// Equal matches rank by use once uses are known, then by the row's popularity.
#[test]
fn search_ties_rank_by_use() {
    let l = common::load(&common::repo());
    let served = served(&l);
    let ctx = Ctx::new(&served, &l.catalog, 160);
    let results = || home(ctx, &l, "sw", &[], &["6", "cheti"]).pop().expect("the results");
    let before = results();
    let sw = Locale::parse("sw").unwrap();
    let catalogue = served.catalogue.as_deref().unwrap();
    let named = |line: &str| {
        let name = line.split_once(". ")?.1;
        catalogue.services.iter().find(|s| l.catalog.format(&sw, &s.name, None) == name)
    };
    let lines: Vec<&str> = before.lines().filter(|line| named(line).is_some()).collect();
    assert!(lines.len() >= 3, "{before}");
    // The service listed last on the first page, used most.
    let last_line = lines.last().unwrap();
    let last_name = last_line.split_once(". ").unwrap().1;
    let last = named(last_line).expect("a listed service");
    served.rank_by_use(&[(last.code, 40)]);
    let after = results();
    assert!(after.contains(&format!("\n1. {last_name}\n")), "{last_name} first:\n{after}");
    // Nobody used anything: the rows' popularity again.
    served.rank_by_use(&[]);
    assert_eq!(results(), before);
}

/// The real server: a service used becomes the number's recent one at once, the most recent
/// first; a service home already lists is not repeated; a stop writes them and the next start
/// reads them; after `recent_days` (90) they are forgotten.
#[tokio::test]
async fn recent_services_are_remembered_per_number_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let options = || RunOptions { clock: clock.clone().into(), ..RunOptions::default() };
    let server = TestServer::start_with(config(dir.path()), options()).await;
    let phone = "+254711600001";
    let new = at_walk(&server, "ATUid_rc1", phone, "*384#", &["", "1"]).await;
    assert_eq!(new[1], format!("CON {HOME_SW}"), "a new number: no recent services");

    let passport = at_walk(&server, "ATUid_rc2", phone, "*384*2101#", &["2101"]).await;
    assert!(passport[0].starts_with("END Omba ecitizen.go.ke"), "{}", passport[0]);
    // The next dial offers it, before any write: the instance keeps it in memory.
    let home = at_walk(&server, "ATUid_rc3", phone, "*384#", &[""]).await.remove(0);
    assert!(home.starts_with("CON Karibu e-Citizen\n2101. Omba pasipoti\n1. Lipa ushuru wa ardhi\n"), "{home}");

    // Another number's use is not this one's.
    let other = at_walk(&server, "ATUid_rc4", "+254711600002", "*384*2303#", &["2303"]).await;
    assert!(other[0].starts_with("END "), "{}", other[0]);

    // The clock stands still unless moved: a minute later.
    clock.advance(Duration::from_secs(60));
    at_walk(&server, "ATUid_rc5", phone, "*384*2303#", &["2303"]).await;
    let home = at_walk(&server, "ATUid_rc6", phone, "*384#", &[""]).await.remove(0);
    assert!(home.starts_with("CON Karibu e-Citizen\n2303. Sajili kampuni\n2101. Omba pasipoti\n1. "), "{home}");
    // Its code opens it from home, in one hop.
    let opened = at_walk(&server, "ATUid_rc7", phone, "*384#", &["", "2303"]).await;
    assert!(opened[1].starts_with("END Tafuta jina"), "{}", opened[1]);

    // The KRA PIN check is option 3 of home: used, but not repeated as a recent line.
    let kra = at_walk(&server, "ATUid_rc8", phone, "*384#", &["", "3", "3*A123456789B"]).await;
    assert!(kra[2].starts_with("END PIN A123456789B"), "{}", kra[2]);
    let after_kra = at_walk(&server, "ATUid_rc9", phone, "*384#", &[""]).await;
    assert_eq!(after_kra[0], home);

    // A stop writes them; a new start on the same store offers them from what it reads.
    server.stop().await;
    let conn = rusqlite::Connection::open(dir.path().join("njia.sqlite3")).unwrap();
    let msisdn = njia::types::Msisdn::parse(phone).unwrap().as_u64() as i64;
    let kept: i64 =
        conn.query_row("SELECT count(*) FROM recent_services WHERE msisdn = ?1", [msisdn], |r| r.get(0)).unwrap();
    assert_eq!(kept, 3, "2101, 2303 and the KRA check");
    let server = TestServer::start_with(config(dir.path()), options()).await;
    let again = at_walk(&server, "ATUid_rc10", phone, "*384#", &[""]).await;
    assert_eq!(again[0], home);

    // 91 days later the number's services are forgotten: home as for a new number.
    clock.advance(Duration::from_secs(91 * 86_400));
    let later = at_walk(&server, "ATUid_rc11", phone, "*384#", &[""]).await;
    assert_eq!(later[0], format!("CON {HOME_SW}"));
    server.stop().await;
}

/// A service is used when the session ends on a screen of its own flow: a request received
/// (land rates, paid), a status shown (KRA PIN), information read (passport). Not when the
/// citizen looked in, went back and ended elsewhere.
#[test]
fn a_use_is_an_end_within_the_service() {
    let l = common::load(&common::repo());
    let served = served(&l);
    let ctx = Ctx::new(&served, &l.catalog, 160);
    let used = |inputs: &[&str]| {
        let (mut s, _) = engine::begin(ctx, Locale::parse("sw").unwrap(), false);
        let mut shown = Vec::new();
        for input in inputs {
            let step = engine::step(ctx, &mut s, input).step;
            if until_screen(ctx, &mut s, step, &l.lookups, &mut shown) {
                break;
            }
        }
        assert!(shown.last().is_some_and(|(_, end)| *end), "{inputs:?} ends: {shown:?}");
        engine::used_service(ctx, &s)
    };
    assert_eq!(used(&["1", "KAJIADO/1234", "1"]), Some(LAND), "land rates, paid");
    assert_eq!(used(&["3", "A123456789B"]), Some(KRA), "a KRA PIN's status");
    assert_eq!(used(&["2101"]), Some(PASSPORT), "passport information, by its code");
    assert_eq!(used(&["4", "1"]), None, "application status is not a catalogue service");
    assert_eq!(used(&["3", "0", "4", "1"]), None, "into the KRA check, back, and to status");
}
