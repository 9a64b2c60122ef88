//! The Daraja client (`njia::payment::daraja`) against the shared Daraja double: the token is
//! fetched once and reused, fetched again once after Daraja refuses it, and fetched once for
//! concurrent callers; each refusal a push can meet maps onto its outcome; a push whose answer
//! does not come in time is never sent again; a query reads "being processed" and then the
//! final code. The double checks the credentials, password and timestamp of every call as
//! Daraja does, so an accepted call proves them right.

use std::sync::Arc;
use std::time::Duration;

use njia::payment::daraja::{Daraja, DarajaConfig, TransactionType, timestamp_eat};
use njia::payment::{Payments, PushOutcome, PushRequest, QueryOutcome};
use njia::types::Msisdn;
use serde_json::{Value, json};

use crate::common::doubles::{CallbackMode, DarajaDouble, DarajaDoubleConfig, PushBehaviour, RecordedPush};

const KEY: &str = "key-123";
const SECRET: &str = "secret-456";
const CALLBACK_BASE: &str = "https://cb.example.org/daraja";
const PHONE: &str = "254711000111";
const TIMEOUT: Duration = Duration::from_secs(5);

fn request() -> PushRequest {
    PushRequest {
        phone: Msisdn::parse("0711000111").unwrap(),
        amount_kes: 10,
        account_reference: "NJ-7K2QX".into(),
        description: "Parking fee".into(),
        callback_token: "cbtok-123_x".into(),
    }
}

/// Starts the Daraja double and returns a client pointed at it. The double never calls back:
/// these tests are about the client's calls, and the callback URL is not a real endpoint.
async fn start(timeout: Duration) -> (Arc<Daraja>, DarajaDouble) {
    let config = DarajaDoubleConfig { consumer_key: KEY.into(), consumer_secret: SECRET.into(), ..Default::default() };
    let double = DarajaDouble::start(config).await;
    double.set_callback_mode(CallbackMode::Drop);
    let daraja = Daraja::new(DarajaConfig {
        base_url: double.url.clone(),
        consumer_key: KEY.into(),
        consumer_secret: SECRET.into(),
        shortcode: double.config.shortcode.clone(),
        passkey: double.config.passkey.clone(),
        transaction_type: TransactionType::CustomerPayBillOnline,
        party_b: "174379".into(),
        callback_base_url: CALLBACK_BASE.into(),
        timeout,
    })
    .unwrap();
    (Arc::new(daraja), double)
}

/// Whether `body`'s `Timestamp` is the current time in Nairobi (Daraja allows some minutes;
/// the client must send the time of the call).
fn timestamp_is_now(body: &Value) -> bool {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    (now - 5..=now + 1).any(|t| body["Timestamp"] == json!(timestamp_eat(t)))
}

/// The fields of a push the client made for [`request`], as Daraja's documentation writes
/// them (the shortcode and amount as numbers, the phone as text).
fn assert_push_fields(push: &RecordedPush) {
    let expect = [
        ("BusinessShortCode", json!(174379)),
        ("TransactionType", json!("CustomerPayBillOnline")),
        ("Amount", json!(10)),
        ("PartyA", json!(PHONE)),
        ("PartyB", json!("174379")),
        ("PhoneNumber", json!(PHONE)),
        ("CallBackURL", json!(format!("{CALLBACK_BASE}/cbtok-123_x"))),
        ("AccountReference", json!("NJ-7K2QX")),
        ("TransactionDesc", json!("Parking fee")),
    ];
    for (field, want) in expect {
        assert_eq!(push.body[field], want, "push field {field}");
    }
    assert!(timestamp_is_now(&push.body), "timestamp {} is not now in EAT", push.body["Timestamp"]);
}

/// The outcome the double's answer to `push` means: accepted with its ids.
fn accepted(push: &RecordedPush) -> PushOutcome {
    PushOutcome::Accepted {
        checkout_request_id: push.checkout_request_id.clone().expect("an accepted push"),
        merchant_request_id: push.merchant_request_id.clone().expect("an accepted push"),
    }
}

#[tokio::test]
async fn push_accepted_and_token_reused() {
    let (daraja, double) = start(TIMEOUT).await;
    let first = daraja.push(&request()).await;
    assert_eq!(first, accepted(&double.pushes()[0]));
    assert!(matches!(daraja.push(&request()).await, PushOutcome::Accepted { .. }));
    assert_eq!(double.tokens_issued(), 1, "the cached token is reused");
    let pushes = double.pushes();
    assert_eq!(pushes.len(), 2);
    pushes.iter().for_each(assert_push_fields);
}

#[tokio::test]
async fn push_refetches_token_once_after_invalid_token() {
    let (daraja, double) = start(TIMEOUT).await;
    double.push_behaviours_next(vec![PushBehaviour::InvalidToken]);
    let outcome = daraja.push(&request()).await;
    let pushes = double.pushes();
    assert_eq!(pushes.len(), 2, "one refused push and one accepted");
    assert_eq!(pushes[0].error_code.as_deref(), Some("404.001.03"));
    assert_eq!(outcome, accepted(&pushes[1]));
    assert_eq!(double.tokens_issued(), 2, "a new token was fetched");
    // The double accepts only its newest token, so the retry carried the new one.
    pushes.iter().for_each(assert_push_fields);
}

#[tokio::test]
async fn push_spike_arrest_is_throttled() {
    let (daraja, double) = start(TIMEOUT).await;
    double.set_push_behaviour(PushBehaviour::SpikeArrest);
    assert_eq!(
        daraja.push(&request()).await,
        PushOutcome::Throttled { code: "500.003.02".into(), message: "Error Occurred: Spike Arrest Violation".into() }
    );
    assert_eq!(double.pushes().len(), 1, "no retry inside the client");
    assert_push_fields(&double.pushes()[0]);
}

#[tokio::test]
async fn push_locked_subscriber_is_busy() {
    let (daraja, double) = start(TIMEOUT).await;
    double.set_ussd_open(PHONE, true);
    assert!(matches!(daraja.push(&request()).await, PushOutcome::SubscriberBusy { .. }));
    assert_eq!(double.pushes().len(), 1);
    assert_push_fields(&double.pushes()[0]);
}

#[tokio::test]
async fn push_timeout_after_sending_is_unknown() {
    let (daraja, double) = start(Duration::from_millis(400)).await;
    double.set_push_behaviour(PushBehaviour::TimeoutAfterAccept);
    let outcome = daraja.push(&request()).await;
    assert!(matches!(outcome, PushOutcome::Unknown { .. }), "{outcome:?}");
    assert_eq!(double.pushes().len(), 1, "never pushed again");
    assert_push_fields(&double.pushes()[0]);
}

#[tokio::test]
async fn push_to_foreign_phone_makes_no_call() {
    let (daraja, double) = start(TIMEOUT).await;
    let mut r = request();
    r.phone = Msisdn::parse("+233244234546").unwrap();
    assert!(matches!(daraja.push(&r).await, PushOutcome::Rejected { code, .. } if code == "local.invalid-phone"));
    assert_eq!(double.tokens_issued(), 0);
    assert_eq!(double.requests(), 0, "no call of any kind reached Daraja");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_share_one_token_fetch() {
    let (daraja, double) = start(TIMEOUT).await;
    // Widen the window in which concurrent callers could each fetch a token.
    double.set_token_delay(Duration::from_millis(30));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let daraja = daraja.clone();
            tokio::spawn(async move { daraja.push(&request()).await })
        })
        .collect();
    for t in tasks {
        assert!(matches!(t.await.unwrap(), PushOutcome::Accepted { .. }));
    }
    assert_eq!(double.tokens_issued(), 1);
    assert_eq!(double.pushes().len(), 8);
    double.pushes().iter().for_each(assert_push_fields);
}

#[tokio::test]
async fn query_pending_then_final_string_code() {
    let (daraja, double) = start(TIMEOUT).await;
    // A push whose result, 1032 (cancelled), is known at once; the first query about it is
    // still answered "being processed".
    double.set_result(PHONE, 1032);
    double.set_callback_delay(Duration::ZERO);
    let PushOutcome::Accepted { checkout_request_id, .. } = daraja.push(&request()).await else {
        panic!("the push is accepted")
    };
    double.pending_queries_next(1);
    assert_eq!(daraja.query(&checkout_request_id).await, QueryOutcome::Pending);
    assert_eq!(
        daraja.query(&checkout_request_id).await,
        QueryOutcome::Final { result_code: 1032, result_desc: "Request cancelled by user".into() }
    );
    assert_eq!(double.queries(), 2);
    assert_eq!(double.tokens_issued(), 1);
    // The query carries the shortcode as a string, as in the official sample.
    for body in double.query_bodies() {
        assert_eq!(body["BusinessShortCode"], json!("174379"), "{body}");
        assert_eq!(body["CheckoutRequestID"], json!(checkout_request_id), "{body}");
        assert!(timestamp_is_now(&body), "timestamp {} is not now in EAT", body["Timestamp"]);
    }
}
