//! Real HTTP test doubles of the world outside Njia: M-Pesa Daraja ([`DarajaDouble`]), an agency
//! service backend ([`AgencyDouble`], per `docs/agency-api.md`) and the Africa's Talking messaging
//! API ([`AtSmsDouble`]), which also calls Njia back as Africa's Talking does, with inbound SMS
//! and delivery reports.
//!
//! Each double binds `127.0.0.1:0`, serves on a spawned tokio task until it is dropped, records
//! everything it receives in shared state for assertions and exposes its knobs as methods. They
//! speak the documented wire formats including the awkward parts a client must tolerate: Daraja's
//! `expires_in` as a string, a numeric `ResultCode` in callbacks but a string one in query
//! answers, a `Balance` callback item without a value, duplicated, late and missing callbacks,
//! and answers that never come in time.
//!
//! The doubles hold their state behind a `std::sync::Mutex` that is never held across an
//! `.await`, so a knob set by a test takes effect on the next request the double receives.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use njia::config::{AfricasTalkingSection, BackendSection, Config, DarajaSection, SmsSection};
use njia::payment::daraja::TransactionType;

type HmacSha256 = Hmac<Sha256>;

// --- Shared plumbing ---------------------------------------------------------------------------

/// Binds `127.0.0.1:0`, serves `router` on a spawned task and returns the base URL and the task.
async fn serve(router: Router) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a test double on 127.0.0.1:0");
    let addr = listener.local_addr().expect("the test double's address");
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("the test double's server");
    });
    (format!("http://{addr}"), task)
}

/// Locks shared state, ignoring poisoning: a test that panicked while holding the lock must not
/// hide its own failure behind a second panic in the double.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).expect("a valid status code");
    (status, [(header::CONTENT_TYPE, "application/json")], serde_json::to_vec(body).expect("JSON body")).into_response()
}

fn text_response(status: u16, content_type: &'static str, body: String) -> Response {
    let status = StatusCode::from_u16(status).expect("a valid status code");
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether the request's `Content-Type` is `application/json` (parameters such as a charset are
/// allowed).
fn is_json(headers: &HeaderMap) -> bool {
    header_str(headers, "content-type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

fn random_from(alphabet: &[u8], len: usize) -> String {
    (0..len).map(|_| alphabet[rand::random_range(0..alphabet.len())] as char).collect()
}

const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_secs() as i64
}

/// Polls `f` every 20 ms until it holds; panics naming `what` if it does not within `timeout`.
/// Polls the async check `f` every 20 ms until it holds, failing with `what` after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out after {timeout:?} waiting until {what}");
}

pub async fn wait_until<F: Fn() -> bool>(what: &str, timeout: Duration, f: F) {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// --- Africa/Nairobi time ------------------------------------------------------------------------

/// Nairobi is UTC+3 all year (no daylight saving time).
const NAIROBI_OFFSET_SECS: i64 = 3 * 3600;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// Year, month, day, hour, minute and second in Nairobi of a Unix time.
fn nairobi_parts(unix: i64) -> (i64, i64, i64, i64, i64, i64) {
    let local = unix + NAIROBI_OFFSET_SECS;
    let (y, mo, d) = civil_from_days(local.div_euclid(86_400));
    let secs = local.rem_euclid(86_400);
    (y, mo, d, secs / 3600, secs / 60 % 60, secs % 60)
}

/// `YYYYMMDDHHmmss` in Africa/Nairobi time of a Unix time, as Daraja wants its `Timestamp`.
pub fn nairobi_timestamp(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = nairobi_parts(unix);
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
}

/// The Daraja `Timestamp` for now.
pub fn nairobi_timestamp_now() -> String {
    nairobi_timestamp(unix_now())
}

/// The Unix time of a 14-digit `YYYYMMDDHHmmss` Nairobi timestamp, or `None` if it is not one.
pub fn parse_nairobi_timestamp(s: &str) -> Option<i64> {
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().ok();
    let (y, mo, d, h, mi, sec) = (n(0..4)?, n(4..6)?, n(6..8)?, n(8..10)?, n(10..12)?, n(12..14)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    // A day that does not exist in its month (31 April) does not survive the round trip.
    if civil_from_days(days) != (y, mo, d) {
        return None;
    }
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - NAIROBI_OFFSET_SECS)
}

// --- M-Pesa Daraja ------------------------------------------------------------------------------

/// The sandbox Lipa na M-Pesa Online shortcode.
pub const SANDBOX_SHORTCODE: &str = "174379";
/// The public sandbox passkey of [`SANDBOX_SHORTCODE`].
pub const SANDBOX_PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";

/// How long a push answered with [`PushBehaviour::TimeoutAfterAccept`] waits before answering.
pub const TIMEOUT_AFTER_ACCEPT: Duration = Duration::from_secs(30);

/// The STK password: `base64(shortcode + passkey + timestamp)`.
pub fn daraja_password(shortcode: &str, passkey: &str, timestamp: &str) -> String {
    B64.encode(format!("{shortcode}{passkey}{timestamp}"))
}

/// The credentials the Daraja double accepts.
#[derive(Clone, Debug)]
pub struct DarajaDoubleConfig {
    pub consumer_key: String,
    pub consumer_secret: String,
    pub shortcode: String,
    pub passkey: String,
}

impl Default for DarajaDoubleConfig {
    fn default() -> Self {
        DarajaDoubleConfig {
            consumer_key: "njia-test-consumer-key".into(),
            consumer_secret: "njia-test-consumer-secret".into(),
            shortcode: SANDBOX_SHORTCODE.into(),
            passkey: SANDBOX_PASSKEY.into(),
        }
    }
}

/// How the double answers a valid STK push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushBehaviour {
    /// 200 with a `CheckoutRequestID`; the callback follows per the callback knobs.
    Accept,
    /// 500 `500.003.02` "Error Occurred: Spike Arrest Violation"; nothing is accepted.
    SpikeArrest,
    /// The push is accepted and its callback scheduled, but the answer only comes after
    /// [`TIMEOUT_AFTER_ACCEPT`], so the client times out without knowing the outcome.
    TimeoutAfterAccept,
    /// 400 `400.002.02` "Bad Request - Invalid PhoneNumber"; nothing is accepted.
    Invalid,
}

/// How the double delivers the callback of an accepted push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackMode {
    /// Once, after the callback delay.
    Once,
    /// Twice in a row, the same body both times.
    Duplicate,
    /// Never (the result can still be learnt by query once the delay has passed).
    Drop,
}

/// One STK push the double received (after authentication, with a JSON body).
#[derive(Clone, Debug)]
pub struct RecordedPush {
    /// `PhoneNumber` as sent (a number is recorded as its digits).
    pub phone: String,
    /// `PartyA` as sent.
    pub party_a: String,
    /// `Amount`, when it was an integer (a JSON number or a string of digits).
    pub amount: Option<u64>,
    pub account_reference: String,
    pub description: String,
    pub callback_url: String,
    pub timestamp: String,
    /// The whole request body.
    pub body: Value,
    /// When the push arrived.
    pub at: Instant,
    /// The HTTP status the double answered (or, for a timed-out answer, will answer).
    pub status: u16,
    /// `errorCode` of an error answer.
    pub error_code: Option<String>,
    /// `errorMessage` of an error answer.
    pub error_message: Option<String>,
    /// Set when the push was accepted.
    pub checkout_request_id: Option<String>,
    pub merchant_request_id: Option<String>,
}

impl RecordedPush {
    /// Whether the double accepted this push (and so schedules its callback).
    pub fn accepted(&self) -> bool {
        self.checkout_request_id.is_some()
    }
}

/// One attempt by the double to deliver an STK callback.
#[derive(Clone, Debug)]
pub struct RecordedCallback {
    pub checkout_request_id: String,
    pub url: String,
    /// The body as sent.
    pub body: Value,
    /// The HTTP status Njia answered; `None` if no answer came (see `error`).
    pub status: Option<u16>,
    /// Why no answer came (connection refused, timeout).
    pub error: Option<String>,
    /// When the attempt finished.
    pub at: Instant,
}

/// An accepted push, as the double remembers it for queries.
struct Checkout {
    merchant_request_id: String,
    phone: String,
    result_code: i64,
    /// When the result is known: the callback delay after acceptance.
    result_at: Instant,
}

/// A callback to deliver, fixed when the push is accepted.
struct CallbackJob {
    checkout_request_id: String,
    url: String,
    delay: Duration,
    mode: CallbackMode,
    body: String,
}

struct DarajaState {
    config: DarajaDoubleConfig,
    current_token: Option<String>,
    tokens_issued: usize,
    default_behaviour: PushBehaviour,
    queued_behaviours: VecDeque<PushBehaviour>,
    ussd_open: HashSet<String>,
    lock_while_in_flight: bool,
    results: HashMap<String, i64>,
    callback_mode: CallbackMode,
    callback_delay: Duration,
    balance_item: bool,
    amount_decimal: bool,
    checkouts: HashMap<String, Checkout>,
    receipts: HashSet<String>,
    pushes: Vec<RecordedPush>,
    callbacks: Vec<RecordedCallback>,
    queries: usize,
    sequence: u64,
}

#[derive(Clone)]
struct DarajaShared {
    state: Arc<Mutex<DarajaState>>,
    http: reqwest::Client,
}

/// A Daraja (M-Pesa) double: OAuth, STK push, its callbacks and STK push query.
pub struct DarajaDouble {
    /// `http://127.0.0.1:<port>`, the base URL to configure in place of the Safaricom host.
    pub url: String,
    pub config: DarajaDoubleConfig,
    state: Arc<Mutex<DarajaState>>,
    server: JoinHandle<()>,
}

impl Drop for DarajaDouble {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl DarajaDouble {
    /// Starts the double. Defaults: every push accepted, every result `0`, one callback 200 ms
    /// after acceptance with a valueless `Balance` item and a decimal `Amount` (`10.00`).
    pub async fn start(config: DarajaDoubleConfig) -> DarajaDouble {
        let state = Arc::new(Mutex::new(DarajaState {
            config: config.clone(),
            current_token: None,
            tokens_issued: 0,
            default_behaviour: PushBehaviour::Accept,
            queued_behaviours: VecDeque::new(),
            ussd_open: HashSet::new(),
            lock_while_in_flight: false,
            results: HashMap::new(),
            callback_mode: CallbackMode::Once,
            callback_delay: Duration::from_millis(200),
            balance_item: true,
            amount_decimal: true,
            checkouts: HashMap::new(),
            receipts: HashSet::new(),
            pushes: Vec::new(),
            callbacks: Vec::new(),
            queries: 0,
            sequence: 0,
        }));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("callback client");
        let shared = DarajaShared { state: state.clone(), http };
        let router = Router::new()
            .route("/oauth/v1/generate", get(daraja_oauth))
            .route("/mpesa/stkpush/v1/processrequest", post(daraja_push))
            .route("/mpesa/stkpushquery/v1/query", post(daraja_query))
            .fallback(daraja_not_found)
            .with_state(shared);
        let (url, server) = serve(router).await;
        DarajaDouble { url, config, state, server }
    }

    /// The answer to every later push, once the queue of [`Self::push_behaviours_next`] is empty.
    pub fn set_push_behaviour(&self, behaviour: PushBehaviour) {
        lock(&self.state).default_behaviour = behaviour;
    }

    /// Answers for the next valid pushes, one each, before falling back to the default.
    pub fn push_behaviours_next(&self, behaviours: Vec<PushBehaviour>) {
        lock(&self.state).queued_behaviours.extend(behaviours);
    }

    /// Opens or closes a simulated USSD session on `phone` (`2547…`). While it is open, a push
    /// to the phone is refused with "Unable to lock subscriber".
    pub fn set_ussd_open(&self, phone: &str, open: bool) {
        let mut st = lock(&self.state);
        if open {
            st.ussd_open.insert(phone.to_owned());
        } else {
            st.ussd_open.remove(phone);
        }
    }

    /// When on (default off), a push to a phone that already has an accepted push whose result
    /// is not yet known is refused with "Unable to lock subscriber", as a handset with a prompt
    /// on screen would be.
    pub fn set_lock_while_in_flight(&self, on: bool) {
        lock(&self.state).lock_while_in_flight = on;
    }

    /// The `ResultCode` of later pushes to `phone` (`2547…`); `0` (paid) by default. Common
    /// failures: 1 insufficient funds, 1032 cancelled, 2001 wrong PIN, 1037 unreachable,
    /// 1001 busy. The code is fixed when a push is accepted.
    pub fn set_result(&self, phone: &str, code: i64) {
        lock(&self.state).results.insert(phone.to_owned(), code);
    }

    /// How the callbacks of later accepted pushes are delivered.
    pub fn set_callback_mode(&self, mode: CallbackMode) {
        lock(&self.state).callback_mode = mode;
    }

    /// How long after acceptance the result is known and the callback sent (default 200 ms).
    pub fn set_callback_delay(&self, delay: Duration) {
        lock(&self.state).callback_delay = delay;
    }

    /// Whether success callbacks carry a `{"Name":"Balance"}` item without a value (default on).
    pub fn set_balance_item(&self, on: bool) {
        lock(&self.state).balance_item = on;
    }

    /// Whether a success callback's `Amount` is written `10.00` (default) or `10`.
    pub fn set_amount_decimal(&self, on: bool) {
        lock(&self.state).amount_decimal = on;
    }

    /// Invalidates the current token without issuing a new one to the client, as when another
    /// process fetched a token with the same credentials.
    pub fn revoke_token(&self) {
        lock(&self.state).current_token = Some(random_from(ALNUM, 28));
    }

    /// The token currently valid, if any was issued.
    pub fn current_token(&self) -> Option<String> {
        lock(&self.state).current_token.clone()
    }

    /// Every push received after authentication, in order.
    pub fn pushes(&self) -> Vec<RecordedPush> {
        lock(&self.state).pushes.clone()
    }

    /// Every callback delivery attempt, in order.
    pub fn callbacks(&self) -> Vec<RecordedCallback> {
        lock(&self.state).callbacks.clone()
    }

    /// How many authenticated status queries were received.
    pub fn queries(&self) -> usize {
        lock(&self.state).queries
    }

    /// How many tokens were issued.
    pub fn tokens_issued(&self) -> usize {
        lock(&self.state).tokens_issued
    }
}

fn daraja_request_id() -> String {
    format!("{}-{}-{}-{}", random_from(HEX, 4), random_from(HEX, 4), random_from(HEX, 4), random_from(HEX, 19))
}

fn daraja_error(status: u16, code: &str, message: &str) -> Response {
    json_response(status, &json!({"requestId": daraja_request_id(), "errorCode": code, "errorMessage": message}))
}

fn invalid_token() -> Response {
    daraja_error(404, "404.001.03", "Invalid Access Token")
}

async fn daraja_not_found() -> Response {
    daraja_error(404, "404.001.01", "Resource not found")
}

/// A field as text: a string as is, a number as its digits.
fn field_text(v: &Value, name: &str) -> Option<String> {
    match v.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `^254[17]\d{8}$`.
fn is_safaricom_msisdn(s: &str) -> bool {
    s.len() == 12
        && s.starts_with("254")
        && matches!(s.as_bytes()[3], b'1' | b'7')
        && s.bytes().all(|b| b.is_ascii_digit())
}

/// Only `[A-Za-z0-9 -]`.
fn is_plain_text(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-')
}

/// An integer amount: a JSON integer or a string of digits (the official sample sends `"1"`).
fn integer_amount(v: &Value) -> Option<u64> {
    match v.get("Amount")? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        _ => None,
    }
}

fn result_desc(code: i64) -> &'static str {
    match code {
        0 => "The service request is processed successfully.",
        1 => "The balance is insufficient for the transaction.",
        17 => "Rule limited.",
        1001 => "Unable to lock subscriber, a transaction is already in process for the current subscriber",
        1019 => "Transaction has expired",
        1025 => "An error occurred while sending a push request",
        1032 => "Request cancelled by user",
        1037 => "DS timeout user cannot be reached",
        2001 => "The initiator information is invalid.",
        _ => "The transaction failed.",
    }
}

type DarajaFailure = (u16, &'static str, String);

impl DarajaState {
    /// Checks the shortcode, timestamp and password every Daraja STK call carries.
    fn check_credentials(&self, v: &Value) -> Result<(), DarajaFailure> {
        let shortcode = field_text(v, "BusinessShortCode").unwrap_or_default();
        if shortcode != self.config.shortcode {
            return Err((400, "400.002.02", "Bad Request - Invalid BusinessShortCode".into()));
        }
        let timestamp = field_text(v, "Timestamp").unwrap_or_default();
        let within = parse_nairobi_timestamp(&timestamp).is_some_and(|t| (t - unix_now()).abs() <= 300);
        if !within {
            return Err((400, "400.002.02", "Bad Request - Invalid Timestamp".into()));
        }
        let expected = daraja_password(&self.config.shortcode, &self.config.passkey, &timestamp);
        if v.get("Password").and_then(Value::as_str) != Some(expected.as_str()) {
            return Err((500, "500.001.1001", "Wrong credentials".into()));
        }
        Ok(())
    }

    fn validate_push(&self, v: &Value) -> Result<(), DarajaFailure> {
        let invalid = |field: &str| Err((400, "400.002.02", format!("Bad Request - Invalid {field}")));
        self.check_credentials(v)?;
        let kind = field_text(v, "TransactionType").unwrap_or_default();
        if kind != "CustomerPayBillOnline" && kind != "CustomerBuyGoodsOnline" {
            return invalid("TransactionType");
        }
        if !integer_amount(v).is_some_and(|a| (1..=250_000).contains(&a)) {
            return invalid("Amount");
        }
        if !field_text(v, "PartyA").is_some_and(|p| is_safaricom_msisdn(&p)) {
            return invalid("PartyA");
        }
        if field_text(v, "PartyB").is_none_or(|p| p.is_empty()) {
            return invalid("PartyB");
        }
        if !field_text(v, "PhoneNumber").is_some_and(|p| is_safaricom_msisdn(&p)) {
            return invalid("PhoneNumber");
        }
        let url = field_text(v, "CallBackURL").unwrap_or_default();
        let url_ok = (url.starts_with("http://") || url.starts_with("https://"))
            && url.len() > "https://".len()
            && !url.chars().any(char::is_whitespace);
        if !url_ok {
            return invalid("CallBackURL");
        }
        let reference = field_text(v, "AccountReference").unwrap_or_default();
        if reference.is_empty() || reference.chars().count() > 12 || !is_plain_text(&reference) {
            return invalid("AccountReference");
        }
        if let Some(desc) = field_text(v, "TransactionDesc")
            && (desc.chars().count() > 13 || !is_plain_text(&desc))
        {
            return invalid("TransactionDesc");
        }
        Ok(())
    }

    fn subscriber_locked(&self, phone: &str, now: Instant) -> bool {
        self.ussd_open.contains(phone)
            || (self.lock_while_in_flight && self.checkouts.values().any(|c| c.phone == phone && c.result_at > now))
    }

    fn new_receipt(&mut self) -> String {
        loop {
            let receipt = format!("{}{}", random_from(UPPER, 1), random_from(UPPER_DIGITS, 9));
            if self.receipts.insert(receipt.clone()) {
                return receipt;
            }
        }
    }

    /// Accepts a validated push: remembers it for queries and fixes its callback.
    fn accept(&mut self, v: &Value, push: &mut RecordedPush, now: Instant) -> (Value, CallbackJob) {
        self.sequence += 1;
        let seq = self.sequence;
        let (y, mo, d, h, mi, s) = nairobi_parts(unix_now());
        let checkout_request_id =
            format!("ws_CO_{d:02}{mo:02}{y:04}{h:02}{mi:02}{s:02}{seq:05}{}", random_from(HEX, 6));
        let merchant_request_id = format!(
            "{}-{}-{}-{}{seq}",
            random_from(HEX, 4),
            random_from(HEX, 4),
            random_from(HEX, 4),
            random_from(HEX, 12)
        );
        let result_code = self.results.get(&push.phone).copied().unwrap_or(0);
        let amount = integer_amount(v).unwrap_or(0);
        let mut stk = json!({
            "MerchantRequestID": merchant_request_id,
            "CheckoutRequestID": checkout_request_id,
            "ResultCode": result_code,
            "ResultDesc": result_desc(result_code),
        });
        if result_code == 0 {
            let mut items = vec![
                json!({"Name": "Amount", "Value": "__NJIA_AMOUNT__"}),
                json!({"Name": "MpesaReceiptNumber", "Value": self.new_receipt()}),
            ];
            if self.balance_item {
                items.push(json!({"Name": "Balance"}));
            }
            let date: u64 =
                nairobi_timestamp(unix_now() + self.callback_delay.as_secs() as i64).parse().expect("digits");
            items.push(json!({"Name": "TransactionDate", "Value": date}));
            let phone: u64 = push.phone.parse().expect("a validated phone is digits");
            items.push(json!({"Name": "PhoneNumber", "Value": phone}));
            stk["CallbackMetadata"] = json!({"Item": items});
        }
        let amount_text = if self.amount_decimal { format!("{amount}.00") } else { amount.to_string() };
        let body = serde_json::to_string(&json!({"Body": {"stkCallback": stk}}))
            .expect("callback JSON")
            .replace("\"__NJIA_AMOUNT__\"", &amount_text);
        self.checkouts.insert(
            checkout_request_id.clone(),
            Checkout {
                merchant_request_id: merchant_request_id.clone(),
                phone: push.phone.clone(),
                result_code,
                result_at: now + self.callback_delay,
            },
        );
        push.checkout_request_id = Some(checkout_request_id.clone());
        push.merchant_request_id = Some(merchant_request_id.clone());
        let answer = json!({
            "MerchantRequestID": merchant_request_id,
            "CheckoutRequestID": checkout_request_id,
            "ResponseCode": "0",
            "ResponseDescription": "Success. Request accepted for processing",
            "CustomerMessage": "Success. Request accepted for processing",
        });
        let job = CallbackJob {
            checkout_request_id,
            url: push.callback_url.clone(),
            delay: self.callback_delay,
            mode: self.callback_mode,
            body,
        };
        (answer, job)
    }
}

async fn daraja_oauth(
    State(s): State<DarajaShared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut st = lock(&s.state);
    if q.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return daraja_error(400, "400.008.02", "Invalid grant type passed");
    }
    let basic = B64.encode(format!("{}:{}", st.config.consumer_key, st.config.consumer_secret));
    if header_str(&headers, "authorization") != Some(format!("Basic {basic}").as_str()) {
        return daraja_error(400, "400.008.01", "Invalid Authentication passed");
    }
    let token = random_from(ALNUM, 28);
    st.current_token = Some(token.clone());
    st.tokens_issued += 1;
    json_response(200, &json!({"access_token": token, "expires_in": "3599"}))
}

fn bearer_ok(st: &DarajaState, headers: &HeaderMap) -> bool {
    let token = header_str(headers, "authorization").and_then(|v| v.strip_prefix("Bearer "));
    token.is_some() && st.current_token.as_deref() == token
}

/// What the push handler does once it has released the lock.
enum PushAnswer {
    Now(Response),
    Accepted { answer: Value, job: CallbackJob, late: bool },
}

async fn daraja_push(State(s): State<DarajaShared>, headers: HeaderMap, body: Bytes) -> Response {
    let now = Instant::now();
    let answer = {
        let mut st = lock(&s.state);
        if !bearer_ok(&st, &headers) {
            return invalid_token();
        }
        // Daraja reports a wrong content type as an invalid shortcode.
        if !is_json(&headers) {
            return daraja_error(400, "400.002.02", "Bad Request - Invalid BusinessShortCode");
        }
        let Ok(v) = serde_json::from_slice::<Value>(&body) else {
            return daraja_error(400, "400.002.02", "Bad Request - Invalid JSON");
        };
        let text = |name: &str| field_text(&v, name).unwrap_or_default();
        let mut push = RecordedPush {
            phone: text("PhoneNumber"),
            party_a: text("PartyA"),
            amount: integer_amount(&v),
            account_reference: text("AccountReference"),
            description: text("TransactionDesc"),
            callback_url: text("CallBackURL"),
            timestamp: text("Timestamp"),
            body: v.clone(),
            at: now,
            status: 200,
            error_code: None,
            error_message: None,
            checkout_request_id: None,
            merchant_request_id: None,
        };
        // `Ok(late)` accepts the push, answering late when `late`; `Err` refuses it.
        let decision: Result<bool, DarajaFailure> = if let Err(failure) = st.validate_push(&v) {
            Err(failure)
        } else if st.subscriber_locked(&push.phone, now) {
            Err((
                500,
                "500.001.1001",
                "Unable to lock subscriber, a transaction is already in process for the current subscriber".into(),
            ))
        } else {
            match st.queued_behaviours.pop_front().unwrap_or(st.default_behaviour) {
                PushBehaviour::SpikeArrest => Err((500, "500.003.02", "Error Occurred: Spike Arrest Violation".into())),
                PushBehaviour::Invalid => Err((400, "400.002.02", "Bad Request - Invalid PhoneNumber".into())),
                PushBehaviour::Accept => Ok(false),
                PushBehaviour::TimeoutAfterAccept => Ok(true),
            }
        };
        let answer = match decision {
            Err((status, code, message)) => {
                push.status = status;
                push.error_code = Some(code.to_owned());
                push.error_message = Some(message.clone());
                PushAnswer::Now(daraja_error(status, code, &message))
            }
            Ok(late) => {
                let (answer, job) = st.accept(&v, &mut push, now);
                PushAnswer::Accepted { answer, job, late }
            }
        };
        st.pushes.push(push);
        answer
    };
    match answer {
        PushAnswer::Now(response) => response,
        PushAnswer::Accepted { answer, job, late } => {
            tokio::spawn(deliver_callbacks(s.clone(), job));
            if late {
                tokio::time::sleep(TIMEOUT_AFTER_ACCEPT).await;
            }
            json_response(200, &answer)
        }
    }
}

async fn deliver_callbacks(s: DarajaShared, job: CallbackJob) {
    tokio::time::sleep(job.delay).await;
    let times = match job.mode {
        CallbackMode::Once => 1,
        CallbackMode::Duplicate => 2,
        CallbackMode::Drop => 0,
    };
    let body: Value = serde_json::from_str(&job.body).expect("callback JSON");
    for _ in 0..times {
        let sent =
            s.http.post(&job.url).header(header::CONTENT_TYPE, "application/json").body(job.body.clone()).send().await;
        let (status, error) = match sent {
            Ok(r) => (Some(r.status().as_u16()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        lock(&s.state).callbacks.push(RecordedCallback {
            checkout_request_id: job.checkout_request_id.clone(),
            url: job.url.clone(),
            body: body.clone(),
            status,
            error,
            at: Instant::now(),
        });
    }
}

async fn daraja_query(State(s): State<DarajaShared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut st = lock(&s.state);
    if !bearer_ok(&st, &headers) {
        return invalid_token();
    }
    st.queries += 1;
    if !is_json(&headers) {
        return daraja_error(400, "400.002.02", "Bad Request - Invalid BusinessShortCode");
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return daraja_error(400, "400.002.02", "Bad Request - Invalid JSON");
    };
    if let Err((status, code, message)) = st.check_credentials(&v) {
        return daraja_error(status, code, &message);
    }
    let id = field_text(&v, "CheckoutRequestID").unwrap_or_default();
    match st.checkouts.get(&id) {
        None => daraja_error(400, "400.002.02", "Bad Request - Invalid CheckoutRequestID"),
        Some(c) if Instant::now() < c.result_at => json_response(
            500,
            &json!({
                "requestId": id,
                "errorCode": "500.001.1001",
                "errorMessage": "The transaction is being processed",
            }),
        ),
        Some(c) => json_response(
            200,
            &json!({
                "ResponseCode": "0",
                "ResponseDescription": "The service request has been accepted successsfully",
                "MerchantRequestID": c.merchant_request_id,
                "CheckoutRequestID": id,
                "ResultCode": c.result_code.to_string(),
                "ResultDesc": result_desc(c.result_code),
            }),
        ),
    }
}

// --- Agency backend -----------------------------------------------------------------------------

/// The key of a Standard Webhooks secret: the base64-decoded part after `whsec_`.
fn secret_key(secret: &str) -> Vec<u8> {
    B64.decode(secret.strip_prefix("whsec_").unwrap_or(secret)).expect("a whsec_ secret holds base64")
}

fn mac_over(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The Standard Webhooks signature (`v1,<base64>`) of `body` sent as message `id` at `timestamp`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = mac_over(&secret_key(secret), id, &timestamp.to_string(), body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// Checks the Standard Webhooks headers of a request over its raw body, in constant time.
fn verify_signature(key: &[u8], headers: &HeaderMap, body: &[u8]) -> Result<(), &'static str> {
    let id = header_str(headers, "webhook-id").ok_or("missing webhook-id")?;
    let timestamp = header_str(headers, "webhook-timestamp").ok_or("missing webhook-timestamp")?;
    let seconds: i64 = timestamp.parse().map_err(|_| "malformed webhook-timestamp")?;
    if (unix_now() - seconds).abs() > 300 {
        return Err("webhook-timestamp is more than 5 minutes away");
    }
    let signatures = header_str(headers, "webhook-signature").ok_or("missing webhook-signature")?;
    for entry in signatures.split(' ') {
        let Some(encoded) = entry.strip_prefix("v1,") else { continue };
        let Ok(tag) = B64.decode(encoded) else { continue };
        if mac_over(key, id, timestamp, body).verify_slice(&tag).is_ok() {
            return Ok(());
        }
    }
    Err("no valid signature")
}

/// One delivery try of `POST /requests`.
#[derive(Clone, Debug)]
pub struct AgencyTry {
    pub idempotency_key: Option<String>,
    pub webhook_id: Option<String>,
    pub webhook_timestamp: Option<String>,
    /// The parsed body (`Null` if it was not JSON).
    pub body: Value,
    /// The status the double answered.
    pub status: u16,
    /// The answer's body.
    pub answer: Value,
    pub at: Instant,
}

/// One call of `POST /lookups/{operation}`.
#[derive(Clone, Debug)]
pub struct RecordedLookup {
    pub operation: String,
    pub webhook_id: Option<String>,
    /// The parsed body (`Null` if it was not JSON).
    pub body: Value,
    pub status: u16,
    pub answer: Value,
    pub at: Instant,
}

struct AgencyState {
    key: Vec<u8>,
    down: bool,
    delay: Duration,
    lookup_delay: Duration,
    rejections: Vec<(String, String)>,
    /// Accepted requests in order: idempotency key, body, agency reference.
    accepted: Vec<(String, Value, String)>,
    duplicates: usize,
    tries: Vec<AgencyTry>,
    table: Vec<(String, Value, Option<Value>)>,
    lookups: Vec<RecordedLookup>,
}

impl AgencyState {
    fn decide_request(&mut self, headers: &HeaderMap, raw: &[u8], body: &Value) -> (u16, Value) {
        if self.down {
            return (503, json!({"reason": "the service is down for maintenance"}));
        }
        if let Err(why) = verify_signature(&self.key, headers, raw) {
            return (401, json!({"reason": why}));
        }
        let Some(key) = header_str(headers, "idempotency-key") else {
            return (400, json!({"reason": "missing Idempotency-Key"}));
        };
        if !body.is_object() {
            return (400, json!({"reason": "the body is not a JSON object"}));
        }
        if let Some((_, _, reference)) = self.accepted.iter().find(|(k, _, _)| k == key) {
            self.duplicates += 1;
            return (200, json!({"agency_reference": reference}));
        }
        for (field, value) in &self.rejections {
            if body["fields"][field.as_str()].as_str() == Some(value.as_str()) {
                return (422, json!({"reason": format!("{field} {value} is not accepted")}));
            }
        }
        let reference = format!("AG-{}", self.accepted.len() + 1);
        self.accepted.push((key.to_owned(), body.clone(), reference.clone()));
        (200, json!({"agency_reference": reference}))
    }

    fn decide_lookup(&self, operation: &str, headers: &HeaderMap, raw: &[u8], body: &Value) -> (u16, Value) {
        if self.down {
            return (503, json!({"reason": "the service is down for maintenance"}));
        }
        if let Err(why) = verify_signature(&self.key, headers, raw) {
            return (401, json!({"reason": why}));
        }
        let well_formed = body["msisdn"].is_string() && body["language"].is_string() && body["args"].is_object();
        if !well_formed {
            return (400, json!({"reason": "expected {\"msisdn\", \"language\", \"args\"}"}));
        }
        let found = self.table.iter().find(|(op, args, _)| op == operation && *args == body["args"]);
        match found {
            Some((_, _, Some(values))) => (200, json!({"found": true, "values": values})),
            _ => (200, json!({"found": false})),
        }
    }
}

/// An agency service backend implementing `docs/agency-api.md`: deliveries and lookups, both
/// signed with Standard Webhooks.
pub struct AgencyDouble {
    /// `http://127.0.0.1:<port>`, the backend's `base_url`.
    pub url: String,
    /// The shared secret (`whsec_…`).
    pub secret: String,
    state: Arc<Mutex<AgencyState>>,
    server: JoinHandle<()>,
}

impl Drop for AgencyDouble {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl AgencyDouble {
    /// A fresh random secret: `whsec_` + base64 of 32 random bytes.
    pub fn new_secret() -> String {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes[..]);
        format!("whsec_{}", B64.encode(bytes))
    }

    /// Starts the double, verifying signatures with `secret` (`whsec_<base64>`).
    pub async fn start(secret: &str) -> AgencyDouble {
        let state = Arc::new(Mutex::new(AgencyState {
            key: secret_key(secret),
            down: false,
            delay: Duration::ZERO,
            lookup_delay: Duration::ZERO,
            rejections: Vec::new(),
            accepted: Vec::new(),
            duplicates: 0,
            tries: Vec::new(),
            table: Vec::new(),
            lookups: Vec::new(),
        }));
        let router = Router::new()
            .route("/requests", post(agency_requests))
            .route("/lookups/{operation}", post(agency_lookup))
            .with_state(state.clone());
        let (url, server) = serve(router).await;
        AgencyDouble { url, secret: secret.to_owned(), state, server }
    }

    /// While down, both endpoints answer 503.
    pub fn set_down(&self, down: bool) {
        lock(&self.state).down = down;
    }

    /// Rejects (422 with a `reason`) a new delivery whose `fields[field]` equals `value`.
    pub fn reject_when(&self, field: &str, value: &str) {
        lock(&self.state).rejections.push((field.to_owned(), value.to_owned()));
    }

    /// How long `POST /requests` waits before answering. The outcome is decided (and a new
    /// request accepted) when the delivery arrives, so a client that gives up still leaves an
    /// accepted request behind, as a slow real agency would.
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.state).delay = delay;
    }

    /// How long `POST /lookups/{operation}` waits before answering.
    pub fn set_lookup_delay(&self, delay: Duration) {
        lock(&self.state).lookup_delay = delay;
    }

    /// Answers `operation` called with exactly `args` (a JSON object) with
    /// `{"found":true,"values":values}`, or `{"found":false}` when `values` is `None`. Calls
    /// that match no entry answer `{"found":false}`. Setting the same operation and args again
    /// replaces the entry.
    pub fn set_lookup(&self, operation: &str, args: Value, values: Option<Value>) {
        let mut st = lock(&self.state);
        st.table.retain(|(op, a, _)| !(op == operation && *a == args));
        st.table.push((operation.to_owned(), args, values));
    }

    /// Every delivery try, in order, whatever was answered.
    pub fn tries(&self) -> Vec<AgencyTry> {
        lock(&self.state).tries.clone()
    }

    /// The bodies of the accepted requests, one per idempotency key, in order of acceptance.
    pub fn accepted(&self) -> Vec<Value> {
        lock(&self.state).accepted.iter().map(|(_, body, _)| body.clone()).collect()
    }

    /// The agency reference given to the request with `idempotency_key`, if it was accepted.
    pub fn reference_for(&self, idempotency_key: &str) -> Option<String> {
        let st = lock(&self.state);
        st.accepted.iter().find(|(k, _, _)| k == idempotency_key).map(|(_, _, r)| r.clone())
    }

    /// How many deliveries arrived with a key that was already accepted.
    pub fn duplicates_accepted(&self) -> usize {
        lock(&self.state).duplicates
    }

    /// Every lookup call, in order.
    pub fn lookups(&self) -> Vec<RecordedLookup> {
        lock(&self.state).lookups.clone()
    }
}

async fn agency_requests(State(s): State<Arc<Mutex<AgencyState>>>, headers: HeaderMap, raw: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let (status, answer, delay) = {
        let mut st = lock(&s);
        let (status, answer) = st.decide_request(&headers, &raw, &body);
        st.tries.push(AgencyTry {
            idempotency_key: header_str(&headers, "idempotency-key").map(str::to_owned),
            webhook_id: header_str(&headers, "webhook-id").map(str::to_owned),
            webhook_timestamp: header_str(&headers, "webhook-timestamp").map(str::to_owned),
            body,
            status,
            answer: answer.clone(),
            at: Instant::now(),
        });
        (status, answer, st.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    json_response(status, &answer)
}

async fn agency_lookup(
    State(s): State<Arc<Mutex<AgencyState>>>,
    Path(operation): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let (status, answer, delay) = {
        let mut st = lock(&s);
        let (status, answer) = st.decide_lookup(&operation, &headers, &raw, &body);
        st.lookups.push(RecordedLookup {
            operation,
            webhook_id: header_str(&headers, "webhook-id").map(str::to_owned),
            body,
            status,
            answer: answer.clone(),
            at: Instant::now(),
        });
        (status, answer, st.lookup_delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    json_response(status, &answer)
}

// --- Africa's Talking SMS -----------------------------------------------------------------------

/// One recipient of one `POST /version1/messaging` call the double received.
#[derive(Clone, Debug)]
pub struct RecordedSms {
    /// One recipient, as sent (`+2547…`).
    pub to: String,
    pub message: String,
    pub from: Option<String>,
    pub username: String,
    /// The recipient's `statusCode` in the answer: 101 when sent, else the failure given to
    /// [`AtSmsDouble::fail_number`] (or 403 for a malformed number).
    pub status_code: u16,
    pub status: String,
    /// `ATXid_…` when sent, the string `None` otherwise (as the real API writes it).
    pub message_id: String,
    pub at: Instant,
}

impl RecordedSms {
    /// Whether the gateway accepted this recipient.
    pub fn sent(&self) -> bool {
        self.status_code == 101
    }
}

struct AtState {
    api_key: String,
    down: bool,
    failures: HashMap<String, (u16, String)>,
    messages: Vec<RecordedSms>,
    requests: usize,
    sequence: u64,
}

/// An Africa's Talking messaging API double.
pub struct AtSmsDouble {
    /// `http://127.0.0.1:<port>`; messages go to `{url}/version1/messaging`.
    pub url: String,
    state: Arc<Mutex<AtState>>,
    server: JoinHandle<()>,
}

impl Drop for AtSmsDouble {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl AtSmsDouble {
    /// Starts the double, accepting requests whose `apiKey` header is `api_key`.
    pub async fn start(api_key: &str) -> AtSmsDouble {
        let state = Arc::new(Mutex::new(AtState {
            api_key: api_key.to_owned(),
            down: false,
            failures: HashMap::new(),
            messages: Vec::new(),
            requests: 0,
            sequence: 0,
        }));
        let router = Router::new().route("/version1/messaging", post(at_messaging)).with_state(state.clone());
        let (url, server) = serve(router).await;
        AtSmsDouble { url, state, server }
    }

    /// Makes messages to `number` (with or without the `+`) fail with `status_code` and `status`,
    /// for example 403 `InvalidPhoneNumber`, 405 `InsufficientBalance`, 406 `UserInBlacklist`,
    /// 500 `InternalServerError`.
    pub fn fail_number(&self, number: &str, status_code: u16, status: &str) {
        lock(&self.state).failures.insert(number.trim_start_matches('+').to_owned(), (status_code, status.to_owned()));
    }

    /// While down, every request answers HTTP 500.
    pub fn set_down(&self, down: bool) {
        lock(&self.state).down = down;
    }

    /// One entry per recipient of every well-formed, authenticated request, sent or failed.
    pub fn messages(&self) -> Vec<RecordedSms> {
        lock(&self.state).messages.clone()
    }

    /// How many requests arrived, whatever was answered.
    pub fn requests(&self) -> usize {
        lock(&self.state).requests
    }

    /// Forwards an SMS a citizen sent to `short_code`, as Africa's Talking POSTs it to the
    /// incoming-messages callback at `server` + `path`: a form with `from`, `to`, `text`, `date`
    /// (UTC, `2006-01-02 15:04:05`), `id` and an empty `linkId`. Returns the status and body.
    pub async fn post_inbound(
        &self,
        server: std::net::SocketAddr,
        path: &str,
        id: &str,
        from: &str,
        short_code: &str,
        text: &str,
    ) -> (u16, String) {
        let date = utc_timestamp(unix_now());
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("from", from),
                ("to", short_code),
                ("text", text),
                ("date", &date),
                ("id", id),
                ("linkId", ""),
            ])
            .finish();
        super::try_request(server, "POST", path, "application/x-www-form-urlencoded", &body)
            .await
            .expect("the server answers the inbound SMS callback")
    }

    /// Reports the delivery of a message this double sent (by its `ATXid_…`), as Africa's
    /// Talking POSTs it to the delivery-reports callback: `id`, `status`, `phoneNumber` (the
    /// recipient it recorded), `networkCode`, `failureReason` (for `Rejected` and `Failed`) and
    /// `retryCount`. Panics when the double never sent that message.
    pub async fn post_delivery_report(
        &self,
        server: std::net::SocketAddr,
        path: &str,
        message_id: &str,
        status: &str,
        failure_reason: Option<&str>,
    ) -> (u16, String) {
        let to = self
            .messages()
            .into_iter()
            .find(|m| m.message_id == message_id)
            .unwrap_or_else(|| panic!("the double never sent {message_id}"))
            .to;
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.extend_pairs([("id", message_id), ("status", status), ("phoneNumber", &to), ("networkCode", "63902")]);
        if let Some(reason) = failure_reason {
            form.append_pair("failureReason", reason);
        }
        form.append_pair("retryCount", "0");
        super::try_request(server, "POST", path, "application/x-www-form-urlencoded", &form.finish())
            .await
            .expect("the server answers the delivery report callback")
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, the `date` of Africa's Talking's inbound SMS callback.
pub fn utc_timestamp(unix: i64) -> String {
    let (y, mo, d) = civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `+` followed by 10 to 15 digits.
fn is_international_number(n: &str) -> bool {
    n.strip_prefix('+').is_some_and(|d| (10..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

async fn at_messaging(State(s): State<Arc<Mutex<AtState>>>, headers: HeaderMap, raw: Bytes) -> Response {
    let mut st = lock(&s);
    st.requests += 1;
    if st.down {
        return text_response(500, "text/plain", "Internal Server Error".into());
    }
    if header_str(&headers, "apikey") != Some(st.api_key.as_str()) {
        return text_response(401, "text/plain", "The supplied authentication is invalid".into());
    }
    let form: HashMap<String, String> = form_urlencoded::parse(&raw).into_owned().collect();
    for required in ["username", "to", "message"] {
        if form.get(required).is_none_or(|v| v.is_empty()) {
            return text_response(400, "text/plain", format!("Request is missing required form field '{required}'"));
        }
    }
    let now = Instant::now();
    let mut recipients = Vec::new();
    let mut sent = 0usize;
    for number in form["to"].split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let failure = if is_international_number(number) {
            st.failures.get(number.trim_start_matches('+')).cloned()
        } else {
            Some((403, "InvalidPhoneNumber".to_owned()))
        };
        let (status_code, status, cost, message_id) = match failure {
            Some((code, status)) => (code, status, "0".to_owned(), "None".to_owned()),
            None => {
                st.sequence += 1;
                sent += 1;
                let id = format!("ATXid_{}{:06}", random_from(HEX, 26), st.sequence);
                (101, "Success".to_owned(), "KES 0.8000".to_owned(), id)
            }
        };
        recipients.push(json!({
            "statusCode": status_code,
            "number": number,
            "status": status,
            "cost": cost,
            "messageId": message_id,
        }));
        st.messages.push(RecordedSms {
            to: number.to_owned(),
            message: form["message"].clone(),
            from: form.get("from").filter(|f| !f.is_empty()).cloned(),
            username: form["username"].clone(),
            status_code,
            status,
            message_id,
            at: now,
        });
    }
    let total = if sent == 0 { "0".to_owned() } else { format!("KES {:.4}", 0.8 * sent as f64) };
    let summary = format!("Sent to {sent}/{} Total Cost: {total}", recipients.len());
    let wants_json = header_str(&headers, "accept").is_some_and(|a| a.contains("application/json"));
    if wants_json {
        return json_response(201, &json!({"SMSMessageData": {"Message": summary, "Recipients": recipients}}));
    }
    // Without `Accept: application/json` the real API answers XML; so does the double, so a
    // client that forgets the header fails here as it would in production.
    let items: String = recipients
        .iter()
        .map(|r| {
            format!(
                concat!(
                    "<Recipient><number>{}</number><cost>{}</cost><status>{}</status>",
                    "<statusCode>{}</statusCode><messageId>{}</messageId></Recipient>"
                ),
                r["number"].as_str().unwrap_or_default(),
                r["cost"].as_str().unwrap_or_default(),
                r["status"].as_str().unwrap_or_default(),
                r["statusCode"],
                r["messageId"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    text_response(
        201,
        "application/xml",
        format!(
            concat!(
                "<?xml version='1.0' encoding='UTF-8'?><AfricasTalkingResponse><SMSMessageData>",
                "<Message>{summary}</Message><Recipients>{items}</Recipients></SMSMessageData></AfricasTalkingResponse>"
            ),
            summary = summary,
            items = items
        ),
    )
}

/// Daraja, an agency whose `lands` backend answers the demo parcel's lookup (over signed HTTP,
/// like a real agency), and Africa's Talking SMS: the outside world of a production walk.
pub async fn outside_world() -> (DarajaDouble, AgencyDouble, AtSmsDouble) {
    let daraja = DarajaDouble::start(DarajaDoubleConfig::default()).await;
    let agency = AgencyDouble::start(&AgencyDouble::new_secret()).await;
    agency.set_lookup(
        "rates_due",
        json!({ "parcel": "KAJIADO/1234" }),
        Some(json!({ "owner": "Wanjiku Kamau", "amount": "4,500" })),
    );
    let sms = AtSmsDouble::start("at-test-key").await;
    (daraja, agency, sms)
}

// --- A production configuration against the doubles --------------------------------------------

/// Production configuration (no sandbox) pointed at the doubles, with short timings.
pub fn production(
    base: Config,
    addr: std::net::SocketAddr,
    daraja: &DarajaDouble,
    agency: &AgencyDouble,
    sms: &AtSmsDouble,
) -> Config {
    let mut c = base;
    c.sandbox = Some(false);
    c.public_url = Some(format!("http://{addr}"));
    c.daraja = Some(DarajaSection {
        base_url: daraja.url.clone(),
        shortcode: daraja.config.shortcode.clone(),
        party_b: None,
        transaction_type: TransactionType::CustomerPayBillOnline,
        consumer_key_env: "TEST_DARAJA_KEY".into(),
        consumer_secret_env: "TEST_DARAJA_SECRET".into(),
        passkey_env: "TEST_DARAJA_PASSKEY".into(),
        timeout_ms: 1_000,
    });
    c.sms = SmsSection {
        sender: None,
        africastalking: Some(AfricasTalkingSection {
            base_url: sms.url.clone(),
            username: "njia".into(),
            api_key_env: "TEST_AT_KEY".into(),
            from: None,
            timeout_ms: 2_000,
        }),
    };
    c.backends.insert(
        "lands".into(),
        BackendSection {
            base_url: agency.url.clone(),
            secret_env: "TEST_LANDS_SECRET".into(),
            services: vec!["land-rates".into(), "licence-renewal".into()],
        },
    );
    for (k, v) in [
        ("TEST_DARAJA_KEY", daraja.config.consumer_key.clone()),
        ("TEST_DARAJA_SECRET", daraja.config.consumer_secret.clone()),
        ("TEST_DARAJA_PASSKEY", daraja.config.passkey.clone()),
        ("TEST_AT_KEY", "at-test-key".to_owned()),
        ("TEST_LANDS_SECRET", agency.secret.clone()),
    ] {
        c.secrets.insert(k.into(), v);
    }
    let d = &mut c.dispatcher;
    d.push_delay_ms = 50;
    d.busy_retry_ms = 300;
    d.query_delays_ms = vec![400, 400, 400];
    d.backoff_base_ms = 50;
    d.backoff_cap_ms = 200;
    d.max_failures = 30;
    d.poll_ms = 20;
    d.lease_ms = 5_000;
    c
}
