//! Every SMS a citizen can get, in both languages (receipts and replies to SMS keywords): it
//! names the request's reference, stays in GSM-7 (UCS-2 would halve the room), and fits in two
//! segments even with the longest values;
//! and the parsers of what the outside world sends never panic on any input.

use crate::common;

use njia::handoff::{FailReason, Notice, compose_sms};
use njia::lifecycle::AttemptStatus;
use njia::store::{AttemptRow, RequestRow};
use njia::types::{Locale, Msisdn, Reference};
use proptest::prelude::*;
use std::time::Duration;

fn request(locale: &str, service: &str) -> RequestRow {
    RequestRow {
        id: 1,
        reference: Reference::parse("NJ-WWWWW").unwrap(),
        menu: "ecitizen".into(),
        service: service.into(),
        msisdn: Some(Msisdn::parse("+254711000111").unwrap()),
        locale: locale.into(),
        fields: vec![],
        payment: Some(("250,000".into(), "NAIROBI/BLOCK82/1234".into())),
        status: "fulfilled".into(),
        refund_review: false,
        created_at_ms: 0,
        purged_at_ms: None,
    }
}

fn paid() -> AttemptRow {
    AttemptRow {
        id: 1,
        request_id: 1,
        seq: 1,
        token: "0".repeat(32),
        provider: "mpesa".into(),
        msisdn: Some(Msisdn::parse("+254711000111").unwrap()),
        amount_kes: 250_000,
        status: AttemptStatus::Paid,
        checkout_request_id: Some("ws_CO_1".into()),
        receipt: Some("NLJ7RT61SV".into()),
        result_code: Some(0),
        result_desc: None,
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

#[test]
fn every_receipt_names_its_reference_and_fits_two_gsm7_segments() {
    let loaded = common::load(&common::repo());
    let default = Locale::parse("sw").unwrap();
    let notices = [
        Notice::Fulfilled,
        Notice::Rejected,
        Notice::PaymentUnknown,
        Notice::Delayed,
        Notice::PaymentFailed(FailReason::InsufficientFunds),
        Notice::PaymentFailed(FailReason::Cancelled),
        Notice::PaymentFailed(FailReason::Unreachable),
        Notice::PaymentFailed(FailReason::WrongPin),
        Notice::PaymentFailed(FailReason::Busy),
        Notice::PaymentFailed(FailReason::Refused),
        Notice::PaymentFailed(FailReason::Other),
    ];
    let mut seen = std::collections::HashSet::new();
    for locale in ["sw", "en"] {
        for service in ["land-rates", "licence-renewal", "a-service-with-no-name"] {
            for notice in notices {
                for attempt in [None, Some(paid())] {
                    let text =
                        compose_sms(&loaded.catalog, &default, &request(locale, service), notice, attempt.as_ref());
                    assert!(text.contains("NJ-WWWWW"), "{locale} {notice:?}: no reference in {text:?}");
                    assert!(njia::gsm7::is_gsm7(&text), "{locale} {notice:?}: not GSM-7: {text:?}");
                    assert!(
                        njia::gsm7::sms_segments(&text) <= 2,
                        "{locale} {notice:?}: more than 2 segments: {text:?}"
                    );
                    assert!(!text.contains('{') && !text.contains('}'), "{locale} {notice:?}: unfilled: {text:?}");
                    seen.insert(text);
                }
            }
        }
    }
    // Swahili and English receipts differ (nothing fell back to the other language).
    let sw = compose_sms(&loaded.catalog, &default, &request("sw", "land-rates"), Notice::Fulfilled, Some(&paid()));
    let en = compose_sms(&loaded.catalog, &default, &request("en", "land-rates"), Notice::Fulfilled, Some(&paid()));
    assert_eq!(
        sw,
        "e-Citizen: Tumepokea KES 250,000 za ushuru wa ardhi, risiti ya M-Pesa NLJ7RT61SV. Ombi NJ-WWWWW limekamilika. Asante."
    );
    assert_eq!(
        en,
        "e-Citizen: KES 250,000 received for land rates, M-Pesa receipt NLJ7RT61SV. Request NJ-WWWWW is complete. Thank you."
    );
    assert!(seen.len() > 40);
}

/// Every reply to an SMS keyword, in both languages, for every status and service: GSM-7, at
/// most two segments with the longest values, nothing left unfilled, and the status reply names
/// the reference.
#[test]
fn every_keyword_reply_fits_two_gsm7_segments() {
    let loaded = common::load(&common::repo());
    let sms = loaded.menus.menus.iter().find_map(|m| m.sms.as_ref()).expect("the demo menu has an [sms] section");
    let status = sms.status.as_ref().expect("a status keyword");
    let language = sms.language.as_ref().expect("a language keyword");
    let reference = Reference::parse("NJ-WWWWW").unwrap();
    let check = |what: &str, text: &str| {
        assert!(njia::gsm7::is_gsm7(text), "{what}: not GSM-7: {text:?}");
        assert!(njia::gsm7::sms_segments(text) <= 2, "{what}: more than 2 segments: {text:?}");
        assert!(!text.contains('{') && !text.contains('}'), "{what}: unfilled: {text:?}");
    };
    for locale in ["sw", "en"] {
        let locale = Locale::parse(locale).unwrap();
        for service in ["land-rates", "licence-renewal", "a-service-with-no-name"] {
            let reply =
                |s: &str| njia::keywords::status_reply(&loaded.catalog, status, &locale, &reference, service, s);
            let fallback = reply("a-status-no-one-knows");
            for s in njia::lifecycle::RequestStatus::ALL {
                let text = reply(s.as_str());
                check(&format!("{locale} {service} {s}"), &text);
                assert!(text.contains("NJ-WWWWW"), "{text}");
                // Every status a citizen can be shown has its own words (`notified` is shown as
                // the outcome the citizen was told about, so it never reaches the message).
                if s != njia::lifecycle::RequestStatus::Notified {
                    assert_ne!(text, fallback, "{locale}: status {s} falls through to the catch-all");
                }
            }
        }
        check("not found", &njia::keywords::not_found_reply(&loaded.catalog, status, &locale, &reference));
        for id in [&sms.help.id, &language.reply.id, &language.unknown.id] {
            check(id, &loaded.catalog.format(&locale, id, None));
        }
    }
}

proptest! {
    #[test]
    fn payment_callbacks_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = njia::payment::daraja::parse_callback(&body);
    }

    #[test]
    fn callback_shaped_json_never_panics(code in any::<i64>(), desc in ".{0,40}", item in "[A-Za-z]{0,12}", value in prop_oneof![
        Just(serde_json::json!(null)), any::<f64>().prop_map(|f| serde_json::json!(f)), ".{0,12}".prop_map(|s| serde_json::json!(s))
    ]) {
        let body = serde_json::json!({"Body": {"stkCallback": {
            "MerchantRequestID": "m", "CheckoutRequestID": "c", "ResultCode": code, "ResultDesc": desc,
            "CallbackMetadata": {"Item": [{"Name": item, "Value": value}]}
        }}});
        let _ = njia::payment::daraja::parse_callback(body.to_string().as_bytes());
    }

    #[test]
    fn daraja_and_agency_answers_never_panic(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = njia::payment::daraja::classify_push_response(status, &body);
        let _ = njia::payment::daraja::parse_query_response(status, &body);
        let _ = njia::agency::classify_delivery(status, &body);
        let _ = njia::agency::parse_lookup_answer(&body);
    }
}

/// #11: receipts and their sender belong to the menu. A server with two menus (the national
/// e-Citizen menu and a county's) sends each citizen the receipt of the menu they used: the
/// county's own texts (`county-sms-…`) from the county's sender id, e-Citizen's from the
/// deployment's.
#[tokio::test]
async fn each_menu_sends_its_own_receipts_from_its_own_sender() {
    use common::doubles::{eventually, outside_world, production};
    use common::editable::copy_dir;

    let (daraja, agency, sms) = outside_world().await;
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&common::repo().join("menus"), &dir.path().join("menus"));
    copy_dir(&common::repo().join("locales"), &dir.path().join("locales"));
    let national = std::fs::read_to_string(dir.path().join("menus/ecitizen.toml")).unwrap();
    let county = national[..national.find("\n[sms]").unwrap()]
        .replacen("id = \"ecitizen\"", "id = \"county\"\nsms_sender = \"NAIROBI\"", 1)
        .replacen("service_codes = [\"*384#\"]", "service_codes = [\"*385#\"]", 1);
    std::fs::write(dir.path().join("menus/county.toml"), county).unwrap();
    for (lang, text) in [
        (
            "en",
            "Nairobi County: KES {$amount} received for {$service}, M-Pesa {$receipt}. Request {$reference} is complete. Dial *385#.",
        ),
        (
            "sw",
            "Kaunti ya Nairobi: Tumepokea KES {$amount} za {$service}, M-Pesa {$receipt}. Ombi {$reference} limekamilika. Piga *385#.",
        ),
    ] {
        let path = dir.path().join(format!("locales/{lang}/county.ftl"));
        std::fs::write(path, format!("county-sms-fulfilled-paid = {text}\n")).unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut c = production(common::config(&dir.path().join("data")), addr, &daraja, &agency, &sms);
    c.menus_dir = dir.path().join("menus");
    c.locales_dir = dir.path().join("locales");
    c.lookups_dir = None;
    let server = common::TestServer::start_on(listener, c).await;

    for (code, phone, session) in [("*384#", "+254711000601", "r-national"), ("*385#", "+254711000602", "r-county")] {
        let mut end = String::new();
        for text in ["", "2", "2*1", "2*1*KAJIADO/1234", "2*1*KAJIADO/1234*1"] {
            end = server.post_form("/ussd/africastalking", &common::at_hop(session, phone, code, text)).await.1;
        }
        assert!(end.starts_with("END Request NJ-"), "{code}: {end}");
        eventually("the receipt", Duration::from_secs(15), || async { sms.messages().iter().any(|m| m.to == phone) })
            .await;
    }
    let receipt = |phone: &str| sms.messages().into_iter().find(|m| m.to == phone).unwrap();
    let national = receipt("+254711000601");
    assert!(national.message.starts_with("e-Citizen: KES 4,500 received"), "{}", national.message);
    assert_eq!(national.from, None, "the deployment's sender (none configured here)");
    let county = receipt("+254711000602");
    assert!(county.message.starts_with("Nairobi County: KES 4,500 received for land rates"), "{}", county.message);
    // A catalogue service's receipt says how to dial it next time, on the menu's own code.
    assert!(county.message.ends_with("Dial *385#. Next time dial *385*4021#"), "{}", county.message);
    assert_eq!(county.from.as_deref(), Some("NAIROBI"));
    server.stop().await;
}
