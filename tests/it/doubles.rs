//! Self-tests of the HTTP test doubles in `tests/common/doubles/`, spoken to over real HTTP
//! with reqwest, so that the integration tests built on them can trust what they emulate.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::post;
use common::doubles::*;
use serde_json::{Value, json};

const PHONE: &str = "254708374149";

/// A local stand-in for Njia's callback endpoint: records every body it receives.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<(String, Value)>>>,
}

async fn receiver() -> Receiver {
    type Received = Arc<Mutex<Vec<(String, Value)>>>;
    async fn callback(State(r): State<Received>, Path(token): Path<String>, body: Bytes) -> &'static str {
        r.lock().unwrap().push((token, serde_json::from_slice(&body).unwrap()));
        r#"{"ResultCode":0,"ResultDesc":"Accepted"}"#
    }
    let received: Received = Arc::default();
    let app = Router::new().route("/cb/{token}", post(callback)).with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, received }
}

async fn body_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn token(http: &reqwest::Client, d: &DarajaDouble) -> String {
    let r = http
        .get(format!("{}/oauth/v1/generate?grant_type=client_credentials", d.url))
        .basic_auth(&d.config.consumer_key, Some(&d.config.consumer_secret))
        .send()
        .await
        .unwrap();
    let (status, body) = body_json(r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], json!("3599"), "expires_in is a string");
    body["access_token"].as_str().unwrap().to_owned()
}

fn push_body(d: &DarajaDouble, phone: &str, amount: u64, callback_url: &str) -> Value {
    let timestamp = nairobi_timestamp_now();
    json!({
        "BusinessShortCode": d.config.shortcode.parse::<u64>().unwrap(),
        "Password": daraja_password(&d.config.shortcode, &d.config.passkey, &timestamp),
        "Timestamp": timestamp,
        "TransactionType": "CustomerPayBillOnline",
        "Amount": amount,
        "PartyA": phone,
        "PartyB": d.config.shortcode,
        "PhoneNumber": phone,
        "CallBackURL": callback_url,
        "AccountReference": "NJ-7K2QX",
        "TransactionDesc": "Land rates",
    })
}

async fn post_json(http: &reqwest::Client, url: &str, bearer: &str, body: &Value) -> (u16, Value) {
    let r = http
        .post(url)
        .bearer_auth(bearer)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap())
        .send()
        .await
        .unwrap();
    body_json(r).await
}

async fn push(http: &reqwest::Client, d: &DarajaDouble, bearer: &str, body: &Value) -> (u16, Value) {
    post_json(http, &format!("{}/mpesa/stkpush/v1/processrequest", d.url), bearer, body).await
}

async fn query(http: &reqwest::Client, d: &DarajaDouble, bearer: &str, checkout: &str) -> (u16, Value) {
    let timestamp = nairobi_timestamp_now();
    let body = json!({
        "BusinessShortCode": d.config.shortcode,
        "Password": daraja_password(&d.config.shortcode, &d.config.passkey, &timestamp),
        "Timestamp": timestamp,
        "CheckoutRequestID": checkout,
    });
    post_json(http, &format!("{}/mpesa/stkpushquery/v1/query", d.url), bearer, &body).await
}

fn item<'a>(callback: &'a Value, name: &str) -> Option<&'a Value> {
    callback["Body"]["stkCallback"]["CallbackMetadata"]["Item"].as_array()?.iter().find(|i| i["Name"] == name)
}

#[test]
fn password_matches_the_golden_vector() {
    assert_eq!(
        daraja_password(SANDBOX_SHORTCODE, SANDBOX_PASSKEY, "20160216165627"),
        "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMTYwMjE2MTY1NjI3"
    );
}

#[test]
fn nairobi_timestamps_are_utc_plus_three() {
    assert_eq!(nairobi_timestamp(0), "19700101030000");
    // 2026-11-29 07:15:00 UTC.
    assert_eq!(nairobi_timestamp(1_795_936_500), "20261129101500");
    assert_eq!(parse_nairobi_timestamp("20261129101500"), Some(1_795_936_500));
    assert_eq!(parse_nairobi_timestamp("20260431101500"), None);
    assert_eq!(parse_nairobi_timestamp("2026113010150"), None);
}

#[tokio::test]
async fn daraja_token_push_callback_and_query() {
    let d = DarajaDouble::start(DarajaDoubleConfig::default()).await;
    d.set_callback_delay(Duration::from_millis(400));
    let rx = receiver().await;
    let http = reqwest::Client::new();
    let t = token(&http, &d).await;

    let (status, body) = push(&http, &d, &t, &push_body(&d, PHONE, 4500, &format!("{}/cb/tok1", rx.url))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ResponseCode"], json!("0"));
    let checkout = body["CheckoutRequestID"].as_str().unwrap().to_owned();
    assert!(checkout.starts_with("ws_CO_"), "{checkout}");

    let (status, pending) = query(&http, &d, &t, &checkout).await;
    assert_eq!(status, 500, "{pending}");
    assert_eq!(pending["errorCode"], "500.001.1001");
    assert_eq!(pending["errorMessage"], "The transaction is being processed");

    common::doubles::wait_until("the callback is delivered", Duration::from_secs(5), || {
        d.callbacks().len() == 1 && rx.received.lock().unwrap().len() == 1
    })
    .await;
    let delivered = d.callbacks();
    assert_eq!(delivered[0].status, Some(200));
    assert_eq!(delivered[0].checkout_request_id, checkout);
    let (path_token, cb) = rx.received.lock().unwrap()[0].clone();
    assert_eq!(path_token, "tok1");
    let stk = &cb["Body"]["stkCallback"];
    assert_eq!(stk["ResultCode"], json!(0), "ResultCode is a number");
    assert_eq!(stk["CheckoutRequestID"], json!(checkout));
    assert_eq!(item(&cb, "Amount").unwrap()["Value"].as_f64(), Some(4500.0));
    let receipt = item(&cb, "MpesaReceiptNumber").unwrap()["Value"].as_str().unwrap();
    assert_eq!(receipt.len(), 10);
    assert!(receipt.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()), "{receipt}");
    assert!(item(&cb, "Balance").unwrap().get("Value").is_none(), "Balance has no Value");
    assert_eq!(item(&cb, "PhoneNumber").unwrap()["Value"], json!(254_708_374_149_u64));
    assert!(item(&cb, "TransactionDate").unwrap()["Value"].is_u64());

    let (status, done) = query(&http, &d, &t, &checkout).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["ResultCode"], json!("0"), "ResultCode is a string in a query answer");
    assert_eq!(done["ResponseCode"], json!("0"));

    let (status, unknown) = query(&http, &d, &t, "ws_CO_nonesuch").await;
    assert_eq!(status, 400);
    assert_eq!(unknown["errorMessage"], "Bad Request - Invalid CheckoutRequestID");

    let pushes = d.pushes();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].phone, PHONE);
    assert_eq!(pushes[0].amount, Some(4500));
    assert_eq!(pushes[0].account_reference, "NJ-7K2QX");
    assert!(pushes[0].accepted());
    assert_eq!(d.queries(), 3);
    assert_eq!(d.tokens_issued(), 1);
}

#[tokio::test]
async fn daraja_failure_results_duplicates_and_dropped_callbacks() {
    let d = DarajaDouble::start(DarajaDoubleConfig::default()).await;
    d.set_callback_delay(Duration::from_millis(50));
    let rx = receiver().await;
    let http = reqwest::Client::new();
    let t = token(&http, &d).await;

    d.set_result("254712345678", 1032);
    d.set_callback_mode(CallbackMode::Duplicate);
    let (status, _) = push(&http, &d, &t, &push_body(&d, "254712345678", 10, &format!("{}/cb/a", rx.url))).await;
    assert_eq!(status, 200);
    common::doubles::wait_until("two callbacks", Duration::from_secs(5), || d.callbacks().len() == 2).await;
    let cbs = d.callbacks();
    assert_eq!(cbs[0].body, cbs[1].body);
    assert_eq!(cbs[0].body["Body"]["stkCallback"]["ResultCode"], json!(1032));
    assert!(cbs[0].body["Body"]["stkCallback"].get("CallbackMetadata").is_none());

    d.set_callback_mode(CallbackMode::Drop);
    let (_, accepted) = push(&http, &d, &t, &push_body(&d, PHONE, 10, &format!("{}/cb/b", rx.url))).await;
    let checkout = accepted["CheckoutRequestID"].as_str().unwrap().to_owned();
    // A later push whose callback is sent: its callback comes after the dropped one's delay
    // has passed (the same delay, started later), so by then a dropped callback that was sent
    // after all would be there.
    d.set_callback_mode(CallbackMode::Once);
    push(&http, &d, &t, &push_body(&d, PHONE, 10, &format!("{}/cb/c", rx.url))).await;
    common::doubles::wait_until("the later push's callback", Duration::from_secs(5), || {
        d.callbacks().iter().any(|c| c.url.ends_with("/cb/c"))
    })
    .await;
    assert_eq!(d.callbacks().len(), 3, "a dropped callback is never sent");
    assert!(!d.callbacks().iter().any(|c| c.url.ends_with("/cb/b")), "a dropped callback is never sent");
    let (status, done) = query(&http, &d, &t, &checkout).await;
    assert_eq!(status, 200, "the result is known by query although the callback was dropped: {done}");
}

/// A held callback: the result is known by query once the delay has passed, while the callback
/// waits; released, it is sent once, with the receipt, and not again.
#[tokio::test]
async fn daraja_holds_a_callback_until_released() {
    let d = DarajaDouble::start(DarajaDoubleConfig::default()).await;
    d.set_callback_delay(Duration::from_millis(50));
    d.set_callback_mode(CallbackMode::Held);
    let rx = receiver().await;
    let http = reqwest::Client::new();
    let t = token(&http, &d).await;
    let (status, accepted) = push(&http, &d, &t, &push_body(&d, PHONE, 4500, &format!("{}/cb/h", rx.url))).await;
    assert_eq!(status, 200, "{accepted}");
    let checkout = accepted["CheckoutRequestID"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let paid = loop {
        let (status, answer) = query(&http, &d, &t, &checkout).await;
        if status == 200 {
            break answer;
        }
        assert!(std::time::Instant::now() < deadline, "the query never knew the result: {answer}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(paid["ResultCode"], json!("0"), "paid, by query: {paid}");
    assert!(paid.get("MpesaReceiptNumber").is_none(), "a query carries no receipt: {paid}");
    assert!(d.callbacks().is_empty() && rx.received.lock().unwrap().is_empty(), "held back");

    assert_eq!(d.release_callbacks().await, 1);
    let cbs = d.callbacks();
    assert_eq!((cbs.len(), cbs[0].status, cbs[0].checkout_request_id.as_str()), (1, Some(200), checkout.as_str()));
    assert_eq!(rx.received.lock().unwrap().len(), 1);
    assert!(item(&cbs[0].body, "MpesaReceiptNumber").unwrap()["Value"].as_str().is_some_and(|r| r.len() == 10));
    assert_eq!(d.release_callbacks().await, 0, "sent once");
    assert_eq!(d.callbacks().len(), 1);
}

#[tokio::test]
async fn daraja_stale_token_is_refused() {
    let d = DarajaDouble::start(DarajaDoubleConfig::default()).await;
    let rx = receiver().await;
    let http = reqwest::Client::new();
    let old = token(&http, &d).await;
    let new = token(&http, &d).await;
    assert_ne!(old, new);
    assert_eq!(d.tokens_issued(), 2);

    let body = push_body(&d, PHONE, 1, &format!("{}/cb/x", rx.url));
    let (status, refused) = push(&http, &d, &old, &body).await;
    assert_eq!(status, 404);
    assert_eq!(refused["errorCode"], "404.001.03");
    assert_eq!(refused["errorMessage"], "Invalid Access Token");
    assert!(d.pushes().is_empty(), "an unauthenticated push is not recorded");
    let (status, _) = push(&http, &d, &new, &body).await;
    assert_eq!(status, 200);

    let wrong = http
        .get(format!("{}/oauth/v1/generate?grant_type=client_credentials", d.url))
        .basic_auth("someone", Some("else"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 400);
}

#[tokio::test]
async fn daraja_locks_the_subscriber_and_follows_the_behaviour_knobs() {
    let d = DarajaDouble::start(DarajaDoubleConfig::default()).await;
    let rx = receiver().await;
    let http = reqwest::Client::new();
    let t = token(&http, &d).await;
    let body = push_body(&d, PHONE, 100, &format!("{}/cb/x", rx.url));

    d.set_ussd_open(PHONE, true);
    let (status, locked) = push(&http, &d, &t, &body).await;
    assert_eq!(status, 500);
    assert_eq!(locked["errorCode"], "500.001.1001");
    assert!(locked["errorMessage"].as_str().unwrap().starts_with("Unable to lock subscriber"));
    d.set_ussd_open(PHONE, false);

    d.push_behaviours_next(vec![PushBehaviour::SpikeArrest, PushBehaviour::Invalid]);
    let (status, spike) = push(&http, &d, &t, &body).await;
    assert_eq!((status, spike["errorCode"].as_str()), (500, Some("500.003.02")));
    let (status, invalid) = push(&http, &d, &t, &body).await;
    assert_eq!((status, invalid["errorCode"].as_str()), (400, Some("400.002.02")));
    let (status, _) = push(&http, &d, &t, &body).await;
    assert_eq!(status, 200, "the queue is spent; the default accepts");

    let pushes = d.pushes();
    assert_eq!(pushes.len(), 4);
    assert_eq!(pushes.iter().filter(|p| p.accepted()).count(), 1);
    assert_eq!(pushes[0].status, 500);

    // A push that the client gives up on is still accepted and its callback still comes.
    d.set_push_behaviour(PushBehaviour::TimeoutAfterAccept);
    d.set_callback_delay(Duration::from_millis(50));
    let hasty = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    let sent = hasty
        .post(format!("{}/mpesa/stkpush/v1/processrequest", d.url))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .send()
        .await;
    assert!(sent.unwrap_err().is_timeout());
    assert!(d.pushes()[4].accepted());
    common::doubles::wait_until("the late push's callback", Duration::from_secs(5), || d.callbacks().len() == 2).await;
}

#[tokio::test]
async fn daraja_validates_the_push() {
    let d = DarajaDouble::start(DarajaDoubleConfig::default()).await;
    let http = reqwest::Client::new();
    let t = token(&http, &d).await;
    let good = push_body(&d, PHONE, 100, "http://127.0.0.1:9/cb/x");

    let mut stale = good.clone();
    let old = nairobi_timestamp(1_795_936_500 - 3600 * 24 * 365);
    stale["Timestamp"] = json!(old);
    stale["Password"] = json!(daraja_password(SANDBOX_SHORTCODE, SANDBOX_PASSKEY, &old));
    let (status, body) = push(&http, &d, &t, &stale).await;
    assert_eq!((status, body["errorMessage"].as_str()), (400, Some("Bad Request - Invalid Timestamp")));

    let cases: [(&str, Value, &str); 6] = [
        ("Password", json!("d3Jvbmc="), "Wrong credentials"),
        ("Amount", json!(10.5), "Bad Request - Invalid Amount"),
        ("PhoneNumber", json!("0708374149"), "Bad Request - Invalid PhoneNumber"),
        ("AccountReference", json!("NJ-7K2QX-TOOLONG"), "Bad Request - Invalid AccountReference"),
        ("TransactionDesc", json!("Land rates & more"), "Bad Request - Invalid TransactionDesc"),
        ("CallBackURL", json!("not a url"), "Bad Request - Invalid CallBackURL"),
    ];
    for (field, value, message) in cases {
        let mut bad = good.clone();
        bad[field] = value;
        let (_, body) = push(&http, &d, &t, &bad).await;
        assert_eq!(body["errorMessage"], message, "{field}");
    }
    let wrong_type = http
        .post(format!("{}/mpesa/stkpush/v1/processrequest", d.url))
        .bearer_auth(&t)
        .header("content-type", "text/plain")
        .body(serde_json::to_vec(&good).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status().as_u16(), 400);
    assert!(d.pushes().iter().all(|p| !p.accepted()));
}

async fn deliver(
    http: &reqwest::Client,
    agency: &AgencyDouble,
    key: &str,
    signature: Option<String>,
    timestamp: i64,
    body: &Value,
) -> (u16, Value) {
    let raw = serde_json::to_vec(body).unwrap();
    let id = format!("msg_{key}");
    let signature = signature.unwrap_or_else(|| sign(&agency.secret, &id, timestamp, &raw));
    let r = http
        .post(format!("{}/requests", agency.url))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(raw)
        .send()
        .await
        .unwrap();
    body_json(r).await
}

fn request_body(reference: &str, parcel: &str) -> Value {
    json!({
        "reference": reference,
        "service": "land-rates",
        "msisdn": PHONE,
        "language": "sw",
        "submitted_at_ms": 1_795_939_200_000_u64,
        "fields": {"parcel": parcel, "owner": "Wanjiku Kamau", "amount": "4,500"},
        "payment": {"provider": "mpesa", "amount_kes": 4500, "receipt": "NLJ7RT61SV"},
    })
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn agency_verifies_signatures_and_is_idempotent() {
    let secret = AgencyDouble::new_secret();
    assert!(secret.starts_with("whsec_"));
    let agency = AgencyDouble::start(&secret).await;
    let http = reqwest::Client::new();
    let body = request_body("NJ-7K2QX", "KAJIADO/1234");

    let (status, answer) = deliver(&http, &agency, "NJ-7K2QX", None, now(), &body).await;
    assert_eq!((status, answer["agency_reference"].as_str()), (200, Some("AG-1")));
    let (status, again) = deliver(&http, &agency, "NJ-7K2QX", None, now(), &body).await;
    assert_eq!((status, again["agency_reference"].as_str()), (200, Some("AG-1")));
    assert_eq!(agency.accepted(), vec![body.clone()]);
    assert_eq!(agency.duplicates_accepted(), 1);
    assert_eq!(agency.reference_for("NJ-7K2QX").as_deref(), Some("AG-1"));

    let other = request_body("NJ-AAAAA", "KAJIADO/1");
    let forged = sign(&AgencyDouble::new_secret(), "msg_NJ-AAAAA", now(), b"{}");
    let (status, _) = deliver(&http, &agency, "NJ-AAAAA", Some(forged.clone()), now(), &other).await;
    assert_eq!(status, 401, "a bad signature");
    let (status, _) = deliver(&http, &agency, "NJ-AAAAA", None, now() - 600, &other).await;
    assert_eq!(status, 401, "a stale timestamp");
    let raw = serde_json::to_vec(&other).unwrap();
    let t = now();
    let rotated = format!("{forged} {}", sign(&secret, "msg_NJ-AAAAA", t, &raw));
    let (status, _) = deliver(&http, &agency, "NJ-AAAAA", Some(rotated), t, &other).await;
    assert_eq!(status, 200, "one valid signature among several is enough");

    agency.reject_when("parcel", "KAJIADO/9999");
    let (status, rejected) =
        deliver(&http, &agency, "NJ-BBBBB", None, now(), &request_body("NJ-BBBBB", "KAJIADO/9999")).await;
    assert_eq!(status, 422);
    assert!(rejected["reason"].is_string());

    agency.set_down(true);
    let (status, _) = deliver(&http, &agency, "NJ-CCCCC", None, now(), &request_body("NJ-CCCCC", "X/1")).await;
    assert_eq!(status, 503);
    agency.set_down(false);

    let statuses: Vec<u16> = agency.tries().iter().map(|t| t.status).collect();
    assert_eq!(statuses, [200, 200, 401, 401, 200, 422, 503]);
    assert_eq!(agency.tries()[0].idempotency_key.as_deref(), Some("NJ-7K2QX"));
    assert_eq!(agency.tries()[0].webhook_id.as_deref(), Some("msg_NJ-7K2QX"));
    assert_eq!(agency.accepted().len(), 2);
}

#[tokio::test]
async fn agency_answers_lookups_from_its_table() {
    let secret = AgencyDouble::new_secret();
    let agency = AgencyDouble::start(&secret).await;
    agency.set_lookup(
        "rates",
        json!({"parcel": "KAJIADO/1234"}),
        Some(json!({"owner": "Wanjiku Kamau", "amount": "4,500"})),
    );
    agency.set_lookup("rates", json!({"parcel": "KAJIADO/0"}), None);
    let http = reqwest::Client::new();
    let call = |parcel: &str, good: bool| {
        let body = serde_json::to_vec(&json!({"msisdn": PHONE, "language": "en", "args": {"parcel": parcel}})).unwrap();
        let t = now();
        let id = format!("lk_{parcel}");
        let signature = if good { sign(&secret, &id, t, &body) } else { sign(&secret, &id, t, b"tampered") };
        http.post(format!("{}/lookups/rates", agency.url))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", t.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
    };
    let (status, found) = body_json(call("KAJIADO/1234", true).await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(found, json!({"found": true, "values": {"owner": "Wanjiku Kamau", "amount": "4,500"}}));
    let (_, missing) = body_json(call("KAJIADO/0", true).await.unwrap()).await;
    assert_eq!(missing, json!({"found": false}));
    let (_, unknown) = body_json(call("NAKURU/5", true).await.unwrap()).await;
    assert_eq!(unknown, json!({"found": false}));
    let (status, _) = body_json(call("KAJIADO/1234", false).await.unwrap()).await;
    assert_eq!(status, 401);
    let lookups = agency.lookups();
    assert_eq!(lookups.len(), 4);
    assert_eq!(lookups[0].operation, "rates");
}

#[tokio::test]
async fn at_sms_sends_and_fails_per_recipient() {
    let at = AtSmsDouble::start("at-key").await;
    at.fail_number("+254711000000", 406, "UserInBlacklist");
    let http = reqwest::Client::new();
    let send = |key: &str, to: &str| {
        let form = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("username", "sandbox"),
                ("to", to),
                ("message", "Ombi NJ-7K2QX limepokelewa"),
                ("from", "NJIA"),
            ])
            .finish();
        http.post(format!("{}/version1/messaging", at.url))
            .header("apiKey", key)
            .header("Accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
    };

    let (status, ok) = body_json(send("at-key", "+254708374149").await.unwrap()).await;
    assert_eq!(status, 201);
    assert_eq!(ok["SMSMessageData"]["Message"], "Sent to 1/1 Total Cost: KES 0.8000");
    let r = &ok["SMSMessageData"]["Recipients"][0];
    assert_eq!(r["statusCode"], json!(101));
    assert_eq!(r["status"], "Success");
    assert!(r["messageId"].as_str().unwrap().starts_with("ATXid_"));

    let (_, mixed) = body_json(send("at-key", "+254711000000,+254708374149").await.unwrap()).await;
    let recipients = mixed["SMSMessageData"]["Recipients"].as_array().unwrap();
    assert_eq!(recipients[0]["statusCode"], json!(406));
    assert_eq!(recipients[0]["status"], "UserInBlacklist");
    assert_eq!(recipients[0]["cost"], "0");
    assert_eq!(recipients[1]["statusCode"], json!(101));

    let xml = http
        .post(format!("{}/version1/messaging", at.url))
        .header("apiKey", "at-key")
        .body("username=sandbox&to=%2B254708374149&message=hi")
        .send()
        .await
        .unwrap();
    assert_eq!(xml.status().as_u16(), 201);
    assert!(xml.text().await.unwrap().starts_with("<?xml"), "without Accept: application/json the answer is XML");

    let wrong = send("not-the-key", "+254708374149").await.unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    assert_eq!(wrong.text().await.unwrap(), "The supplied authentication is invalid");
    at.set_down(true);
    assert_eq!(send("at-key", "+254708374149").await.unwrap().status().as_u16(), 500);

    let messages = at.messages();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages.iter().filter(|m| m.sent()).count(), 3);
    assert_eq!(messages[0].to, "+254708374149");
    assert_eq!(messages[0].from.as_deref(), Some("NJIA"));
    assert_eq!(messages[0].username, "sandbox");
    assert_eq!(at.requests(), 5);
}
