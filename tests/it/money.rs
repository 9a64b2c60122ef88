//! #11, finding 1: money is a typed value, never re-read from a rendered string. An amount is
//! parsed strictly once where it enters (here: a lookup answer), carried as a number, and the
//! amount pushed to M-Pesa is the amount the lookup provided, or nothing is pushed at all.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::doubles::{eventually, outside_world, production};
use common::editable::{copy_dir, edit};
use common::{TestServer, at_hop, config, try_request};
use njia::engine::{self, Ctx, LookupAnswer, Step, Value};
use njia::handoff::{Policy, plan_submit};
use njia::money::{AmountError, Kes};
use njia::store::Store;
use njia::store::sqlite::SqliteStore;
use njia::types::{Locale, Msisdn};
use proptest::prelude::*;
use serde_json::json;
use tokio::net::TcpListener;

/// Every amount string the finding names, and the neighbours that break the same way.
#[test]
fn amount_strings_parse_strictly() {
    let ok: &[(&str, u64)] = &[
        ("10000", 10_000),
        ("10,000", 10_000),
        ("4500", 4_500),
        ("4,500", 4_500),
        ("1", 1),
        ("999", 999),
        ("250000", 250_000),
        ("250,000", 250_000),
        ("1,000", 1_000),
    ];
    for (raw, want) in ok {
        assert_eq!(Kes::parse(raw).map(Kes::get), Ok(*want), "{raw:?}");
    }
    let bad: &[(&str, AmountError)] = &[
        ("10,00", AmountError::Grouping("10,00".into())),
        ("1,0000", AmountError::Grouping("1,0000".into())),
        ("1000,000", AmountError::Grouping("1000,000".into())),
        ("1,000,", AmountError::Grouping("1,000,".into())),
        (",100", AmountError::Malformed(",100".into())),
        ("-5", AmountError::Malformed("-5".into())),
        ("4.5", AmountError::Malformed("4.5".into())),
        ("4500.00", AmountError::Malformed("4500.00".into())),
        ("KES 4500", AmountError::Malformed("KES 4500".into())),
        ("4 500", AmountError::Malformed("4 500".into())),
        (" 4500", AmountError::Malformed(" 4500".into())),
        ("04500", AmountError::Malformed("04500".into())),
        ("", AmountError::Empty),
        ("0", AmountError::OutOfRange(0)),
        ("250001", AmountError::OutOfRange(250_001)),
        ("250,001", AmountError::OutOfRange(250_001)),
        ("99999999999999999999999", AmountError::Malformed("99999999999999999999999".into())),
        ("٤٥٠٠", AmountError::Malformed("٤٥٠٠".into())),
    ];
    for (raw, want) in bad {
        assert_eq!(Kes::parse(raw).as_ref(), Err(want), "{raw:?}");
    }
}

/// The land-rates walk on the shipped menu up to the submit, with `amount` as the lookup's
/// answer: the amount the payment attempt is planned with, or the screen the citizen got.
fn planned_amount(raw: &str) -> Result<u64, String> {
    let l = common::load(&common::repo());
    let served = engine::serve(&l.menus, &l.catalog, |_| vec![160]);
    let m = served.by_id("ecitizen").unwrap();
    let ctx = Ctx::new(m, &l.catalog, 160);
    let (mut s, _) = engine::begin(ctx, Locale::parse("en").unwrap(), false);
    engine::step(ctx, &mut s, "1");
    let Step::Lookup(_) = engine::step(ctx, &mut s, "KAJIADO/1234").step else { panic!("the rates lookup") };
    let answer = LookupAnswer::Found(vec![
        ("owner".into(), Value::Text("Wanjiku Kamau".into())),
        ("amount".into(), Value::Text(raw.into())),
    ]);
    match engine::lookup_answered(ctx, &mut s, answer).step {
        Step::Show { end: false, text } if text.contains("Rates due") => {}
        other => return Err(format!("{other:?}")),
    }
    let Step::Submit(call) = engine::step(ctx, &mut s, "1").step else { panic!("the submit") };
    let amount = call.payment.expect("land rates are paid").amount;
    let plan = plan_submit(Msisdn::parse("254711000111").unwrap(), Some(amount), &Policy::default(), 0);
    Ok(plan.attempt.expect("an attempt").amount_kes)
}

/// What an amount string means, written independently of the parser: digits, or digits
/// grouped by commas in threes after a first group of one to three, no leading zero.
fn meaning(raw: &str) -> Option<u64> {
    let groups: Vec<&str> = raw.split(',').collect();
    let digits = |g: &str| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit());
    let shape = groups.iter().all(|g| digits(g))
        && !groups[0].starts_with('0')
        && (groups.len() == 1 || (groups[0].len() <= 3 && groups[1..].iter().all(|g| g.len() == 3)));
    if !shape || raw.len() > 12 {
        return None;
    }
    let n: u64 = groups.concat().parse().ok()?;
    (1..=250_000).contains(&n).then_some(n)
}

fn grouped(n: u64) -> String {
    njia::money::group_thousands(n)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The amount pushed is the amount the lookup provided, written either way.
    #[test]
    fn the_amount_charged_is_the_amount_looked_up(n in 1u64..=250_000, group in any::<bool>()) {
        let raw = if group { grouped(n) } else { n.to_string() };
        prop_assert_eq!(planned_amount(&raw), Ok(n));
    }

    /// Any answer at all: either the charge is exactly what the text means, or there is no
    /// charge (the citizen got the apology). Never a charge of something else.
    #[test]
    fn no_answer_is_charged_as_something_it_does_not_say(raw in "[0-9,.\\- ]{0,10}|KES [0-9,]{1,8}") {
        match (planned_amount(&raw), meaning(&raw)) {
            (Ok(charged), Some(meant)) => prop_assert_eq!(charged, meant),
            (Ok(charged), None) => prop_assert!(false, "{raw:?} charged as {charged}"),
            (Err(screen), Some(meant)) => prop_assert!(false, "{raw:?} means {meant} but got {screen}"),
            (Err(screen), None) => prop_assert!(screen.contains("huduma haipatikani") || screen.contains("unavailable"), "{screen}"),
        }
    }
}

/// Walks land rates for `parcel` in English; the last screen.
async fn walk(addr: std::net::SocketAddr, session: &str, phone: &str, parcel: &str) -> String {
    let mut last = String::new();
    for text in [String::new(), "2".into(), "2*1".into(), format!("2*1*{parcel}")] {
        let body = at_hop(session, phone, "*384#", &text);
        last = try_request(addr, "POST", "/ussd/africastalking", "application/x-www-form-urlencoded", &body)
            .await
            .expect("the server answers")
            .1;
    }
    last
}

fn refused_lookups(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("njia_lookups_total{outcome=\"refused\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// An agency lookup over HTTP (a buggy or hostile backend) answering amounts that are
/// malformed, out of range, or wider than the menu declares: each is a lookup failure (the
/// citizen gets the apology and stays on the parcel screen), counted, and no request, attempt
/// or push exists. A well-formed amount on the same server is pushed as exactly that number.
#[tokio::test]
async fn an_agency_answer_that_is_not_a_fitting_amount_charges_nothing() {
    let (daraja, agency, sms) = outside_world().await;
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&common::repo().join("menus"), &dir.path().join("menus"));
    copy_dir(&common::repo().join("locales"), &dir.path().join("locales"));
    // The finding's menu: amounts declared at most 5 wide.
    edit(&dir.path().join("menus/ecitizen.toml"), "amount = { max_width = 9 }", "amount = { max_width = 5 }");
    let cases = [
        ("KAJIADO/1", json!("10,00")),
        ("KAJIADO/2", json!("10,000")),
        ("KAJIADO/3", json!("1,0000")),
        ("KAJIADO/4", json!("KES 4500")),
        ("KAJIADO/5", json!(4500.5)),
        ("KAJIADO/6", json!(-5)),
        ("KAJIADO/7", json!("")),
        ("KAJIADO/8", json!(["4500"])),
    ];
    for (parcel, amount) in &cases {
        agency.set_lookup(
            "rates_due",
            json!({ "parcel": parcel }),
            Some(json!({ "owner": "A. Otieno", "amount": amount })),
        );
    }
    agency.set_lookup(
        "rates_due",
        json!({ "parcel": "KAJIADO/9" }),
        Some(json!({ "owner": "A. Otieno", "amount": 9500 })),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut c = production(config(&dir.path().join("data")), addr, &daraja, &agency, &sms);
    c.menus_dir = dir.path().join("menus");
    c.locales_dir = dir.path().join("locales");
    let server = TestServer::start_on(listener, c).await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("data")).unwrap());
    let before = refused_lookups(&server.request("GET", "/metrics", "text/plain", "").await.1);

    for (i, (parcel, amount)) in cases.iter().enumerate() {
        let screen = walk(addr, &format!("money-{i}"), &format!("+25471100{i:04}"), parcel).await;
        assert!(
            screen.starts_with("CON Sorry, the service is unavailable now"),
            "{parcel} with amount {amount}: {screen}"
        );
        assert!(screen.contains("parcel"), "back on the parcel screen: {screen}");
        // Choosing "pay" is not possible: the citizen is on the parcel input, so a 1 is a parcel.
    }
    let after = refused_lookups(&server.request("GET", "/metrics", "text/plain", "").await.1);
    assert_eq!(after - before, cases.len() as u64, "each refused answer is counted");
    assert!(store.recent_requests(None, 50).await.unwrap().is_empty(), "no request was stored");

    // The same server takes a fitting amount and pushes exactly it.
    let screen = walk(addr, "money-ok", "+254711009999", "KAJIADO/9").await;
    assert!(screen.contains("Rates due: KES 9,500"), "{screen}");
    let body = at_hop("money-ok", "+254711009999", "*384#", "2*1*KAJIADO/9*1");
    let end =
        try_request(addr, "POST", "/ussd/africastalking", "application/x-www-form-urlencoded", &body).await.unwrap().1;
    assert!(end.starts_with("END ") && end.contains("KES 9,500"), "{end}");
    eventually("the push reaches Daraja", Duration::from_secs(10), || async { !daraja.pushes().is_empty() }).await;
    let pushes = daraja.pushes();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].amount, Some(9500));
    let requests = store.recent_requests(None, 50).await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].payment.as_ref().map(|p| p.0.as_str()), Some("9500"));
    server.stop().await;
}
