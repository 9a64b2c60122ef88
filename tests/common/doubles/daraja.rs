//! The M-Pesa Daraja double: OAuth, STK push, its callbacks and STK push query, with knobs for
//! the answers a client must survive (spike arrest, a locked subscriber, a refused token, a
//! slow token endpoint, an answer that comes too late, a result still being processed, a push
//! held open with no answer at all while the test acts, a callback held back until the result
//! has been learnt by query).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::{
    ALNUM, HEX, UPPER, UPPER_DIGITS, header_str, is_json, json_response, lock, nairobi_timestamp,
    parse_nairobi_timestamp, random_from, serve, unix_now,
};

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
    /// 404 `404.001.03` "Invalid Access Token", and the token is revoked: what a client sees
    /// when another process fetched a new token with the same credentials between its own
    /// fetch and this push. Nothing is accepted.
    InvalidToken,
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
    /// Kept back until [`DarajaDouble::release_callbacks`], then sent once: Daraja's callback
    /// coming after the result was known by query (which answers from the delay on).
    Held,
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
    /// The HTTP status the double answered (or, for a timed-out answer, will answer); 0 for a
    /// held push, which is never answered.
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
    /// The body of a success callback for this push carrying `amount`, `receipt` and `phone`
    /// as given, whatever the push asked for: what a late callback, or one forged by someone
    /// who learnt its URL, sends.
    pub fn paid_callback(&self, amount: Value, receipt: &str, phone: Value) -> Value {
        json!({"Body": {"stkCallback": {
            "MerchantRequestID": self.merchant_request_id,
            "CheckoutRequestID": self.checkout_request_id,
            "ResultCode": 0,
            "ResultDesc": "The service request is processed successfully.",
            "CallbackMetadata": {"Item": [
                {"Name": "Amount", "Value": amount},
                {"Name": "MpesaReceiptNumber", "Value": receipt},
                {"Name": "TransactionDate", "Value": 20261204101010u64},
                {"Name": "PhoneNumber", "Value": phone},
            ]},
        }}})
    }

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
    query_bodies: Vec<Value>,
    pending_queries: usize,
    token_delay: Duration,
    requests: usize,
    sequence: u64,
    /// Phones whose pushes are held open, unanswered.
    hold: HashSet<String>,
    /// Callbacks of [`CallbackMode::Held`], not sent yet.
    held_callbacks: Vec<CallbackJob>,
}

#[derive(Clone)]
struct DarajaShared {
    state: Arc<Mutex<DarajaState>>,
    http: reqwest::Client,
    /// Told of each push held (see [`DarajaDouble::hold_pushes_to`]).
    held: Arc<tokio::sync::Notify>,
}

/// A Daraja (M-Pesa) double: OAuth, STK push, its callbacks and STK push query.
pub struct DarajaDouble {
    /// `http://127.0.0.1:<port>`, the base URL to configure in place of the Safaricom host.
    pub url: String,
    pub config: DarajaDoubleConfig,
    state: Arc<Mutex<DarajaState>>,
    held: Arc<tokio::sync::Notify>,
    /// The client callbacks are sent with (what [`Self::release_callbacks`] sends them with).
    http: reqwest::Client,
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
            query_bodies: Vec::new(),
            pending_queries: 0,
            token_delay: Duration::ZERO,
            requests: 0,
            sequence: 0,
            hold: HashSet::new(),
            held_callbacks: Vec::new(),
        }));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("callback client");
        let held = Arc::new(tokio::sync::Notify::new());
        let shared = DarajaShared { state: state.clone(), http: http.clone(), held: Arc::clone(&held) };
        let router = Router::new()
            .route("/oauth/v1/generate", get(daraja_oauth))
            .route("/mpesa/stkpush/v1/processrequest", post(daraja_push))
            .route("/mpesa/stkpushquery/v1/query", post(daraja_query))
            .fallback(daraja_not_found)
            .with_state(shared);
        let (url, server) = serve(router).await;
        DarajaDouble { url, config, state, held, http, server }
    }

    /// Holds every later valid push to `phone` (`2547…`) open: it is recorded (status 0), then
    /// never answered and never accepted, until the client gives up or goes away. Seen from
    /// the client, the push went out and its answer has not come: the moment a test can act
    /// in, told by [`Self::push_held`] however long the push took to come.
    pub fn hold_pushes_to(&self, phone: &str) {
        lock(&self.state).hold.insert(phone.to_owned());
    }

    /// Resolves once a push was held (at once if one was held since the last call).
    pub async fn push_held(&self) {
        self.held.notified().await;
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

    /// Sends every callback held back by [`CallbackMode::Held`], once each, in the order their
    /// pushes were accepted; returns how many once each was answered (or failed to be).
    pub async fn release_callbacks(&self) -> usize {
        let jobs = std::mem::take(&mut lock(&self.state).held_callbacks);
        let shared = DarajaShared { state: self.state.clone(), http: self.http.clone(), held: Arc::clone(&self.held) };
        let released = jobs.len();
        for job in jobs {
            deliver_callbacks(shared.clone(), CallbackJob { delay: Duration::ZERO, mode: CallbackMode::Once, ..job })
                .await;
        }
        released
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

    /// The bodies of the authenticated status queries with a JSON body, in order.
    pub fn query_bodies(&self) -> Vec<Value> {
        lock(&self.state).query_bodies.clone()
    }

    /// The next `n` queries about a known push answer "The transaction is being processed",
    /// whether or not its result is known yet (Daraja says so for a while after the result).
    pub fn pending_queries_next(&self, n: usize) {
        lock(&self.state).pending_queries += n;
    }

    /// How long the token endpoint takes to answer (default no time): a slow endpoint widens
    /// the window in which concurrent callers could each fetch their own token.
    pub fn set_token_delay(&self, delay: Duration) {
        lock(&self.state).token_delay = delay;
    }

    /// How many requests arrived on any path, whatever was answered.
    pub fn requests(&self) -> usize {
        lock(&self.state).requests
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

async fn daraja_not_found(State(s): State<DarajaShared>) -> Response {
    lock(&s.state).requests += 1;
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
        let t = njia::clock::eat(unix_now());
        let checkout_request_id = format!(
            "ws_CO_{:02}{:02}{:04}{:02}{:02}{:02}{seq:05}{}",
            t.day,
            t.month,
            t.year,
            t.hour,
            t.minute,
            t.second,
            random_from(HEX, 6)
        );
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
    let delay = {
        let mut st = lock(&s.state);
        st.requests += 1;
        st.token_delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
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
    /// No answer at all (see [`DarajaDouble::hold_pushes_to`]).
    Held,
    Accepted {
        answer: Value,
        /// The callback to send; `None` when it is held back for `release_callbacks`.
        job: Option<CallbackJob>,
        late: bool,
    },
}

async fn daraja_push(State(s): State<DarajaShared>, headers: HeaderMap, body: Bytes) -> Response {
    let now = Instant::now();
    let answer = {
        let mut st = lock(&s.state);
        st.requests += 1;
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
        // `Ok(Some(late))` accepts the push, answering late when `late`; `Ok(None)` holds it;
        // `Err` refuses it.
        let decision: Result<Option<bool>, DarajaFailure> = if let Err(failure) = st.validate_push(&v) {
            Err(failure)
        } else if st.hold.contains(&push.phone) {
            Ok(None)
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
                PushBehaviour::InvalidToken => {
                    st.current_token = Some(random_from(ALNUM, 28));
                    Err((404, "404.001.03", "Invalid Access Token".into()))
                }
                PushBehaviour::Accept => Ok(Some(false)),
                PushBehaviour::TimeoutAfterAccept => Ok(Some(true)),
            }
        };
        let answer = match decision {
            Err((status, code, message)) => {
                push.status = status;
                push.error_code = Some(code.to_owned());
                push.error_message = Some(message.clone());
                PushAnswer::Now(daraja_error(status, code, &message))
            }
            Ok(None) => {
                push.status = 0;
                PushAnswer::Held
            }
            Ok(Some(late)) => {
                let (answer, job) = st.accept(&v, &mut push, now);
                // Kept under the same lock that records the push: a test that sees the push
                // can release its callback.
                let job = if job.mode == CallbackMode::Held {
                    st.held_callbacks.push(job);
                    None
                } else {
                    Some(job)
                };
                PushAnswer::Accepted { answer, job, late }
            }
        };
        st.pushes.push(push);
        answer
    };
    match answer {
        PushAnswer::Now(response) => response,
        PushAnswer::Held => hold(&s).await,
        PushAnswer::Accepted { answer, job, late } => {
            if let Some(job) = job {
                tokio::spawn(deliver_callbacks(s.clone(), job));
            }
            if late {
                tokio::time::sleep(TIMEOUT_AFTER_ACCEPT).await;
            }
            json_response(200, &answer)
        }
    }
}

/// Never answers: the push stays open until the client gives up or goes away.
async fn hold(s: &DarajaShared) -> Response {
    // A permit, not only a wake-up of waiters: a test that asks after the push came is told too.
    s.held.notify_one();
    std::future::pending().await
}

async fn deliver_callbacks(s: DarajaShared, job: CallbackJob) {
    tokio::time::sleep(job.delay).await;
    let times = match job.mode {
        CallbackMode::Once => 1,
        CallbackMode::Duplicate => 2,
        // Held callbacks are sent once, by `release_callbacks`, never from here.
        CallbackMode::Drop | CallbackMode::Held => 0,
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
    st.requests += 1;
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
    st.query_bodies.push(v.clone());
    if let Err((status, code, message)) = st.check_credentials(&v) {
        return daraja_error(status, code, &message);
    }
    let id = field_text(&v, "CheckoutRequestID").unwrap_or_default();
    if st.pending_queries > 0 && st.checkouts.contains_key(&id) {
        st.pending_queries -= 1;
        return being_processed(&id);
    }
    match st.checkouts.get(&id) {
        None => daraja_error(400, "400.002.02", "Bad Request - Invalid CheckoutRequestID"),
        Some(c) if Instant::now() < c.result_at => being_processed(&id),
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

/// The query's answer while a push's result is not known: 500 with Daraja's catch-all code.
fn being_processed(checkout_request_id: &str) -> Response {
    json_response(
        500,
        &json!({
            "requestId": checkout_request_id,
            "errorCode": "500.001.1001",
            "errorMessage": "The transaction is being processed",
        }),
    )
}
