//! The M-Pesa Daraja (Safaricom) STK push wire client: OAuth token cache, push, status query,
//! callback parsing, and the mapping of Daraja's answers onto [`PushOutcome`] and [`QueryOutcome`].
//!
//! Only the wire format lives here. Whether a push may be retried, and what a result means for
//! a citizen's request, is decided in [`crate::handoff`] from the outcomes this module returns.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::{PaymentResult, Payments, PushOutcome, PushRequest, QueryOutcome};
use crate::BoxFuture;
use crate::store::Store;
use crate::types::Msisdn;

/// Daraja's code for a bad field in the request ("Bad Request - Invalid XXXX").
const CODE_INVALID_FIELD: &str = "400.002.02";
/// Daraja's code for an access token it no longer accepts (expired, or replaced by a newer one).
const CODE_INVALID_TOKEN: &str = "404.001.03";
/// Daraja's catch-all code: wrong credentials, unknown merchant, a locked subscriber, and (on
/// the query) "the transaction is being processed". Only the message tells them apart.
const CODE_GENERIC_1001: &str = "500.001.1001";
/// Spike arrest (TPS limit) or "system is busy".
const CODE_SPIKE_ARREST: &str = "500.003.02";
/// Quota violation.
const CODE_QUOTA: &str = "500.003.03";
/// Daraja's internal server error; the push may or may not have been accepted.
const CODE_INTERNAL: &str = "500.003.1001";

/// Codes of refusals decided here, before any HTTP call.
const LOCAL_INVALID_PHONE: &str = "local.invalid-phone";
const LOCAL_INVALID_AMOUNT: &str = "local.invalid-amount";
const LOCAL_INVALID_ACCOUNT_REFERENCE: &str = "local.invalid-account-reference";
const LOCAL_INVALID_CALLBACK_TOKEN: &str = "local.invalid-callback-token";

/// The longest `AccountReference` Daraja accepts.
pub const ACCOUNT_REFERENCE_MAX: usize = 12;
/// The longest `TransactionDesc` Daraja accepts.
pub const TRANSACTION_DESC_MAX: usize = 13;

/// How long before its announced expiry a token is replaced, so that a call never races the
/// expiry on Daraja's clock.
const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Which kind of receiving account the push pays into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum TransactionType {
    /// A paybill number (`PartyB` is the paybill shortcode). Config may also say `paybill`.
    #[serde(alias = "paybill")]
    CustomerPayBillOnline,
    /// A till (`PartyB` is the till number, `BusinessShortCode` the store number). Config may
    /// also say `till`.
    #[serde(alias = "till")]
    CustomerBuyGoodsOnline,
}

impl TransactionType {
    /// The value of the `TransactionType` field on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionType::CustomerPayBillOnline => "CustomerPayBillOnline",
            TransactionType::CustomerBuyGoodsOnline => "CustomerBuyGoodsOnline",
        }
    }
}

/// Everything the client needs to talk to one Daraja shortcode.
#[derive(Clone)]
pub struct DarajaConfig {
    /// `https://sandbox.safaricom.co.ke` or `https://api.safaricom.co.ke` (a trailing slash is
    /// tolerated and removed).
    pub base_url: String,
    pub consumer_key: String,
    pub consumer_secret: String,
    /// The `BusinessShortCode` (for tills, the store number used at go-live).
    pub shortcode: String,
    /// The Lipa na M-Pesa Online passkey of `shortcode`.
    pub passkey: String,
    pub transaction_type: TransactionType,
    /// The receiving shortcode or till (`PartyB`).
    pub party_b: String,
    /// Public HTTPS base of our callback route; each push calls back to
    /// `{callback_base_url}/{callback_token}`.
    pub callback_base_url: String,
    /// Budget for each HTTP call (token, push, query), connection included.
    pub timeout: Duration,
}

impl DarajaConfig {
    /// The per-call timeout used by well-known Daraja clients, and ours unless configured.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
}

impl fmt::Debug for DarajaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The consumer key and secret and the passkey are credentials: they must never reach a
        // log line, even when a whole config is printed while debugging.
        f.debug_struct("DarajaConfig")
            .field("base_url", &self.base_url)
            .field("consumer_key", &"<redacted>")
            .field("consumer_secret", &"<redacted>")
            .field("shortcode", &self.shortcode)
            .field("passkey", &"<redacted>")
            .field("transaction_type", &self.transaction_type)
            .field("party_b", &self.party_b)
            .field("callback_base_url", &self.callback_base_url)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a [`Daraja`] client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DarajaError {
    #[error("invalid Daraja config: {0}")]
    Config(String),
    #[error("cannot build the HTTP client for Daraja: {0}")]
    Client(#[source] reqwest::Error),
}

/// Why an STK callback body was refused.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("STK callback is not JSON of the expected shape: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("STK callback has no {0}")]
    Missing(&'static str),
    #[error("STK callback field {field} is not {expected}")]
    Invalid { field: &'static str, expected: &'static str },
}

// ---------------------------------------------------------------------------------------------
// Pure functions
// ---------------------------------------------------------------------------------------------

/// Formats a Unix time as Daraja's `Timestamp`, `YYYYMMDDHHmmss` in Africa/Nairobi time.
///
/// Daraja compares the timestamp with its own clock in EAT, so a server running in another
/// zone must not use its local time. The conversion is plain arithmetic because Nairobi has a
/// fixed offset (UTC+3, no daylight saving time).
pub fn timestamp_eat(unix_secs: i64) -> String {
    let c = crate::clock::eat(unix_secs);
    format!("{:04}{:02}{:02}{:02}{:02}{:02}", c.year, c.month, c.day, c.hour, c.minute, c.second)
}

/// The `Password` of a push or query: `base64(shortcode + passkey + timestamp)`.
///
/// The shortcode and timestamp must be the very values sent in the same body, or Daraja answers
/// "Wrong credentials".
pub fn password(shortcode: &str, passkey: &str, timestamp: &str) -> String {
    BASE64.encode(format!("{shortcode}{passkey}{timestamp}"))
}

/// The phone as Daraja wants it, `254` followed by nine digits, for Kenyan mobile numbers
/// (`2547…` and the newer `2541…`); `None` for anything else, which Daraja cannot prompt.
pub fn normalize_phone(m: Msisdn) -> Option<String> {
    let digits = m.digits();
    let kenyan_mobile = digits.len() == 12 && (digits.starts_with("2547") || digits.starts_with("2541"));
    kenyan_mobile.then_some(digits)
}

/// Reduces free text to what Daraja shows safely in the prompt: ASCII letters, digits, single
/// spaces and single hyphens, at most `max` characters.
///
/// The rules, in order:
/// - ASCII letters and digits are kept; any whitespace becomes a space.
/// - `-` and the separators `/ \ _ . , : ; | +` become `-`, so that "BLOCK82/1234" stays two
///   readable parts instead of merging into one number.
/// - Everything else is dropped (`@ # &` and the like are reported to make pushes fail
///   silently, and non-ASCII letters are not reliably displayed).
/// - A run of spaces and hyphens becomes one character: `-` if the run held a hyphen, else a
///   space.
/// - Spaces and hyphens are trimmed from both ends, before and after cutting to `max`.
pub fn sanitize(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    // The separator run not yet written: None, Some(' ') or Some('-').
    let mut pending: Option<char> = None;
    for c in text.chars() {
        let mapped = match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' => c,
            '-' | '/' | '\\' | '_' | '.' | ',' | ':' | ';' | '|' | '+' => '-',
            c if c.is_whitespace() => ' ',
            _ => continue,
        };
        if mapped == ' ' || mapped == '-' {
            pending = match (pending, mapped) {
                (Some('-'), _) | (_, '-') => Some('-'),
                _ => Some(' '),
            };
            continue;
        }
        if let Some(sep) = pending.take()
            && !out.is_empty()
        {
            out.push(sep);
        }
        out.push(mapped);
    }
    // Every character is ASCII by now, so cutting at a byte index is cutting at a character.
    out.truncate(max);
    out.trim_end_matches([' ', '-']).to_owned()
}

/// Parses the body Daraja POSTs to the callback URL (`{"Body":{"stkCallback":{…}}}`).
///
/// `ResultCode` is a number (a string is accepted too). Metadata items are read by name, never
/// by position; an item without a `Value` (the old `Balance` item) and unknown items are
/// skipped. `Amount` is kept exactly as written (`1` or `1.00`). A missing `ResultDesc` is
/// read as empty, because the code alone decides the result.
pub fn parse_callback(body: &[u8]) -> Result<PaymentResult, CallbackError> {
    let envelope: CallbackEnvelope<'_> = serde_json::from_slice(body)?;
    let cb = envelope
        .body
        .ok_or(CallbackError::Missing("Body"))?
        .stk_callback
        .ok_or(CallbackError::Missing("Body.stkCallback"))?;

    let merchant_request_id = required_string(cb.merchant_request_id, "MerchantRequestID")?;
    let checkout_request_id = required_string(cb.checkout_request_id, "CheckoutRequestID")?;
    let result_code = match cb.result_code {
        None => return Err(CallbackError::Missing("ResultCode")),
        Some(v) => int_of(&v).ok_or(CallbackError::Invalid { field: "ResultCode", expected: "an integer" })?,
    };
    let result_desc = match cb.result_desc {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(_) => return Err(CallbackError::Invalid { field: "ResultDesc", expected: "a string" }),
    };

    let mut result = PaymentResult {
        merchant_request_id,
        checkout_request_id,
        result_code,
        result_desc,
        receipt: None,
        amount: None,
        phone: None,
    };
    let items = cb.metadata.map(|m| m.items).unwrap_or_default();
    for item in items {
        let (Some(name), Some(raw)) = (item.name, item.value) else { continue };
        match name.as_str() {
            "Amount" => result.amount = Some(amount_text(raw)?),
            "MpesaReceiptNumber" => match serde_json::from_str::<Value>(raw.get())? {
                Value::String(s) => result.receipt = Some(s),
                _ => return Err(CallbackError::Invalid { field: "MpesaReceiptNumber", expected: "a string" }),
            },
            "PhoneNumber" => {
                let v = serde_json::from_str::<Value>(raw.get())?;
                let phone = match &v {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.trim().trim_start_matches('+').parse().ok(),
                    _ => None,
                };
                result.phone =
                    Some(phone.ok_or(CallbackError::Invalid { field: "PhoneNumber", expected: "a number of digits" })?);
            }
            _ => {}
        }
    }
    Ok(result)
}

/// The callback envelope. Every field is optional so that a missing one is reported by name
/// rather than as a generic deserialisation error.
#[derive(Deserialize)]
struct CallbackEnvelope<'a> {
    #[serde(rename = "Body", borrow)]
    body: Option<CallbackBody<'a>>,
}

#[derive(Deserialize)]
struct CallbackBody<'a> {
    #[serde(rename = "stkCallback", borrow)]
    stk_callback: Option<StkCallback<'a>>,
}

#[derive(Deserialize)]
struct StkCallback<'a> {
    #[serde(rename = "MerchantRequestID")]
    merchant_request_id: Option<Value>,
    #[serde(rename = "CheckoutRequestID")]
    checkout_request_id: Option<Value>,
    #[serde(rename = "ResultCode")]
    result_code: Option<Value>,
    #[serde(rename = "ResultDesc")]
    result_desc: Option<Value>,
    #[serde(rename = "CallbackMetadata", borrow)]
    metadata: Option<CallbackMetadata<'a>>,
}

#[derive(Deserialize)]
struct CallbackMetadata<'a> {
    #[serde(rename = "Item", borrow, default)]
    items: Vec<MetadataItem<'a>>,
}

/// One name/value pair. The value is kept raw so that `Amount` can be returned exactly as
/// written (serde_json would read `1.00` as the float 1.0). `RawValue` comes from serde_json's
/// `raw_value` feature, which axum, a direct dependency, turns on.
#[derive(Deserialize)]
struct MetadataItem<'a> {
    #[serde(rename = "Name")]
    name: Option<String>,
    #[serde(rename = "Value", borrow)]
    value: Option<&'a RawValue>,
}

fn required_string(v: Option<Value>, field: &'static str) -> Result<String, CallbackError> {
    match v {
        None | Some(Value::Null) => Err(CallbackError::Missing(field)),
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(CallbackError::Invalid { field, expected: "a non-empty string" }),
    }
}

/// The text of an `Amount` value: a JSON number as written, or the content of a string that
/// looks like a decimal number.
fn amount_text(raw: &RawValue) -> Result<String, CallbackError> {
    let invalid = CallbackError::Invalid { field: "Amount", expected: "a decimal number" };
    let text = match serde_json::from_str::<Value>(raw.get())? {
        Value::Number(_) => raw.get().trim().to_owned(),
        Value::String(s) => s.trim().to_owned(),
        _ => return Err(invalid),
    };
    let decimal = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|&b| b == b'.').count() <= 1
        && text.as_bytes()[0].is_ascii_digit();
    if decimal { Ok(text) } else { Err(invalid) }
}

/// An integer given as a JSON number or as a string of digits (Daraja uses both).
fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Text given as a JSON string or as a number (Daraja uses both for codes).
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The error body every Daraja API shares: `{"requestId","errorCode","errorMessage"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ApiError {
    code: String,
    message: String,
}

fn api_error(body: &[u8]) -> Option<ApiError> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let code = text_of(v.get("errorCode")?)?;
    let message = v.get("errorMessage").and_then(text_of).unwrap_or_default();
    Some(ApiError { code, message })
}

/// Maps an answer to a push that is not a success onto a [`PushOutcome`].
///
/// The rule of thumb: a refusal Daraja made before processing is `Rejected`, `SubscriberBusy`
/// or `Throttled`; when it cannot be told whether the push was accepted (an internal error, a
/// 5xx without a recognisable body, an unreadable 2xx), the answer is `Unknown`, because
/// pushing again could charge the citizen twice.
pub fn classify_push_error(http_status: u16, body: &[u8]) -> PushOutcome {
    if let Some(e) = api_error(body) {
        let ApiError { code, message } = e;
        return match code.as_str() {
            CODE_INVALID_FIELD => PushOutcome::Rejected { code, message },
            CODE_GENERIC_1001 if message.to_ascii_lowercase().contains("lock subscriber") => {
                PushOutcome::SubscriberBusy { message }
            }
            // Wrong credentials or an unknown merchant: a config error that retrying won't fix.
            CODE_GENERIC_1001 => PushOutcome::Rejected { code, message },
            CODE_SPIKE_ARREST | CODE_QUOTA => PushOutcome::Throttled { code, message },
            // The client refreshes the token and retries once; seeing this code here means the
            // fresh token was refused too (another process keeps replacing it). Daraja refused
            // the push before processing it, so a later attempt is safe.
            CODE_INVALID_TOKEN => PushOutcome::Throttled { code, message },
            CODE_INTERNAL => PushOutcome::Unknown { detail: format!("HTTP {http_status} {code}: {message}") },
            _ => match http_status {
                429 => PushOutcome::Throttled { code, message },
                300..=499 => PushOutcome::Rejected { code, message },
                _ => PushOutcome::Unknown { detail: format!("HTTP {http_status} {code}: {message}") },
            },
        };
    }
    let detail = format!("HTTP {http_status} with an unrecognised body ({} bytes)", body.len());
    match http_status {
        429 => PushOutcome::Throttled { code: "http-429".to_owned(), message: detail },
        // Redirects are not followed, so a 3xx or 4xx means the gateway refused the request
        // before it reached the STK service: a config error or a bug, never retried.
        300..=499 => PushOutcome::Rejected { code: format!("http-{http_status}"), message: detail },
        _ => PushOutcome::Unknown { detail },
    }
}

/// Maps any answer to a push (success or not) onto a [`PushOutcome`].
pub fn classify_push_response(http_status: u16, body: &[u8]) -> PushOutcome {
    if (200..300).contains(&http_status)
        && let Ok(v) = serde_json::from_slice::<Value>(body)
        && let Some(response_code) = v.get("ResponseCode").and_then(text_of)
    {
        let field = |name: &str| v.get(name).and_then(text_of).filter(|s| !s.is_empty());
        if response_code.trim() != "0" {
            // Daraja answered but did not accept: it says so with its own code.
            let message = field("ResponseDescription").unwrap_or_default();
            return PushOutcome::Rejected { code: response_code, message };
        }
        return match (field("CheckoutRequestID"), field("MerchantRequestID")) {
            (Some(checkout_request_id), Some(merchant_request_id)) => {
                PushOutcome::Accepted { checkout_request_id, merchant_request_id }
            }
            // Accepted, but without the ids we cannot correlate it: only the callback (by its
            // URL token) or a reconciliation can settle it.
            _ => PushOutcome::Unknown { detail: "push accepted without CheckoutRequestID or MerchantRequestID".into() },
        };
    }
    classify_push_error(http_status, body)
}

/// Maps an answer to a status query that is not a result onto a [`QueryOutcome`]: "the
/// transaction is being processed" is `Pending`, everything else `Failed` (ask again later).
pub fn classify_query_error(http_status: u16, body: &[u8]) -> QueryOutcome {
    match api_error(body) {
        Some(ApiError { code, message })
            if code == CODE_GENERIC_1001 && message.to_ascii_lowercase().contains("being processed") =>
        {
            QueryOutcome::Pending
        }
        Some(ApiError { code, message }) => {
            QueryOutcome::Failed { detail: format!("HTTP {http_status} {code}: {message}") }
        }
        None => QueryOutcome::Failed {
            detail: format!("HTTP {http_status} with an unrecognised body ({} bytes)", body.len()),
        },
    }
}

/// Maps any answer to a status query onto a [`QueryOutcome`]. The values of a query response
/// are strings (`"ResultCode": "0"`); numbers are accepted too.
pub fn parse_query_response(http_status: u16, body: &[u8]) -> QueryOutcome {
    if (200..300).contains(&http_status)
        && let Ok(v) = serde_json::from_slice::<Value>(body)
        && v.get("errorCode").is_none()
    {
        let result_desc = v.get("ResultDesc").and_then(text_of).unwrap_or_default();
        return match v.get("ResultCode") {
            Some(code) => match int_of(code) {
                Some(result_code) => QueryOutcome::Final { result_code, result_desc },
                None => QueryOutcome::Failed { detail: format!("query ResultCode is not an integer: {code}") },
            },
            None => {
                let response_code = v.get("ResponseCode").and_then(text_of).unwrap_or_default();
                QueryOutcome::Failed {
                    detail: format!("query answered ResponseCode {response_code:?} without a ResultCode"),
                }
            }
        };
    }
    classify_query_error(http_status, body)
}

/// The token endpoint's answer: `expires_in` is a string (`"3599"`) on the real gateway and a
/// number in the documentation, so both are read.
fn parse_token_response(body: &[u8]) -> Option<(String, Duration)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let token = v.get("access_token")?.as_str().filter(|t| !t.is_empty())?.to_owned();
    let secs = u64::try_from(int_of(v.get("expires_in")?)?).ok()?;
    Some((token, Duration::from_secs(secs)))
}

/// How long a token with the given lifetime is used before it is replaced: five minutes early,
/// or at half its life when it lives less than ten minutes.
fn token_use_window(expires_in: Duration) -> Duration {
    expires_in.saturating_sub(TOKEN_REFRESH_MARGIN.min(expires_in / 2))
}

/// The current Unix time. A clock set before 1970 reads as 1970; Daraja then refuses the
/// timestamp, which is the visible failure we want for a broken clock.
fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// A callback token goes into a URL path; Daraja refuses URLs with spaces or odd characters.
fn valid_callback_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 128
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A transport error with its causes, which reqwest's own message leaves out.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/// The Daraja client: one per shortcode and process.
///
/// Each token request invalidates the previous token, so there must be one token owner per
/// consumer key; the cache below makes this process one (concurrent callers wait for a single
/// fetch rather than each fetching their own).
pub struct Daraja {
    config: DarajaConfig,
    /// `BusinessShortCode` as the number the push body carries.
    shortcode_number: u64,
    token_url: String,
    push_url: String,
    query_url: String,
    callback_base: String,
    http: reqwest::Client,
    /// The current token and the instant it stops being used, and the last token Daraja
    /// refused (never taken from the shared store again).
    token: tokio::sync::Mutex<TokenCache>,
    /// Where instances share the token (the store), so that they do not invalidate one
    /// another's by each fetching their own.
    shared: Option<Arc<dyn Store>>,
    shared_key: String,
}

#[derive(Default)]
struct TokenCache {
    current: Option<(String, Instant)>,
    refused: Option<String>,
}

impl fmt::Debug for Daraja {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token cache is left out: the token is a credential.
        f.debug_struct("Daraja").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Why a call to Daraja did not produce an answer.
enum CallError {
    /// No token could be obtained, so the call itself was not made.
    Token(String),
    /// The request failed in transport.
    Transport(reqwest::Error),
}

impl Daraja {
    /// Checks the config and builds the HTTP client.
    pub fn new(config: DarajaConfig) -> Result<Daraja, DarajaError> {
        let bad = |m: &str| Err(DarajaError::Config(m.to_owned()));
        let base = config.base_url.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return bad("base_url must start with https:// (or http:// for a local test double)");
        }
        if config.consumer_key.is_empty() || config.consumer_secret.is_empty() {
            return bad("consumer_key and consumer_secret must not be empty");
        }
        if config.passkey.is_empty() {
            return bad("passkey must not be empty");
        }
        let digits = |s: &str| !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(&config.shortcode) || !digits(&config.party_b) {
            return bad("shortcode and party_b must be shortcode or till numbers (digits only)");
        }
        let shortcode_number =
            config.shortcode.parse().map_err(|_| DarajaError::Config("shortcode is not a number".into()))?;
        let callback_base = config.callback_base_url.trim().trim_end_matches('/').to_owned();
        // Daraja only calls back public HTTPS URLs, so anything else would silently lose every
        // callback.
        // Daraja calls back only over HTTPS; plain http is allowed to loopback, where the
        // test doubles live.
        let loopback =
            ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"].iter().any(|p| callback_base.starts_with(p));
        if !(callback_base.starts_with("https://") || loopback) || callback_base.contains(char::is_whitespace) {
            return bad("callback_base_url must be a public https:// URL without spaces");
        }
        if config.timeout.is_zero() {
            return bad("timeout must be greater than zero");
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            // A connection that cannot be opened in time is a connect error, which tells the
            // caller that nothing was sent; without this it would be a bare timeout, an
            // unknown outcome.
            .connect_timeout(config.timeout)
            // A redirected POST would turn into a GET; a redirect is a config error to report.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("njia/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(DarajaError::Client)?;
        let shared_key = format!("daraja:{}@{base}", config.shortcode);
        Ok(Daraja {
            token_url: format!("{base}/oauth/v1/generate?grant_type=client_credentials"),
            push_url: format!("{base}/mpesa/stkpush/v1/processrequest"),
            query_url: format!("{base}/mpesa/stkpushquery/v1/query"),
            callback_base,
            shortcode_number,
            config,
            http,
            token: tokio::sync::Mutex::new(TokenCache::default()),
            shared: None,
            shared_key,
        })
    }

    /// A valid token, from the cache or freshly fetched.
    ///
    /// The lock is held during the fetch on purpose: concurrent callers wait for one fetch,
    /// because a second fetch would invalidate the token the first one just obtained.
    /// Shares the access token with every instance using `store`: a token another instance
    /// fetched is used here too, and a token fetched here is published for the others.
    pub fn with_shared_token(mut self, store: Arc<dyn Store>) -> Daraja {
        self.shared = Some(store);
        self
    }

    async fn token(&self) -> Result<String, String> {
        let mut cache = self.token.lock().await;
        if let Some((token, use_until)) = cache.current.as_ref()
            && Instant::now() < *use_until
        {
            return Ok(token.clone());
        }
        cache.current = None;
        let now_ms = crate::store::now_ms();
        let until_ms = |window: Duration| now_ms.saturating_add(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
        if let Some(store) = &self.shared {
            let fetch: BoxFuture<'_, crate::store::Fetched> = Box::pin(async {
                let (token, expires_in) = self.fetch_token().await?;
                tracing::info!(expires_in_secs = expires_in.as_secs(), "daraja access token refreshed and shared");
                Ok((token, until_ms(token_use_window(expires_in))))
            });
            match store.token_or_fetch(&self.shared_key, now_ms, cache.refused.as_deref(), fetch).await {
                Ok(Ok((token, until))) => {
                    let left = Duration::from_millis(u64::try_from(until - now_ms).unwrap_or(0));
                    cache.current = Some((token.clone(), Instant::now() + left));
                    return Ok(token);
                }
                Ok(Err(fetch_failed)) => return Err(fetch_failed),
                // The database is down: this process fetches on its own rather than stop paying.
                Err(e) => tracing::warn!(error = %e, "cannot share the daraja token through the store; fetching one"),
            }
        }
        let (token, expires_in) = self.fetch_token().await?;
        cache.current = Some((token.clone(), Instant::now() + token_use_window(expires_in)));
        tracing::info!(expires_in_secs = expires_in.as_secs(), "daraja access token refreshed");
        Ok(token)
    }

    /// Forgets `stale` if it is still the cached token. A caller holding an older token must
    /// not throw away a newer one that another caller has fetched meanwhile.
    async fn invalidate(&self, stale: &str) {
        let mut cache = self.token.lock().await;
        if cache.current.as_ref().is_some_and(|(t, _)| t == stale) {
            cache.current = None;
        }
        cache.refused = Some(stale.to_owned());
    }

    async fn fetch_token(&self) -> Result<(String, Duration), String> {
        let resp = self
            .http
            .get(&self.token_url)
            .basic_auth(&self.config.consumer_key, Some(&self.config.consumer_secret))
            .send()
            .await
            .map_err(|e| format!("token request failed: {}", error_chain(&e)))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| format!("token response unreadable: {}", error_chain(&e)))?;
        if (200..300).contains(&status)
            && let Some(parsed) = parse_token_response(&body)
        {
            return Ok(parsed);
        }
        // The body is never quoted: on success it holds the token itself.
        Err(match api_error(&body) {
            Some(e) => format!("token request refused: HTTP {status} {}: {}", e.code, e.message),
            None => format!("token request answered HTTP {status} without a usable token"),
        })
    }

    /// POSTs a JSON body with the current token. When Daraja refuses the token (404.001.03) the
    /// token is dropped, a new one fetched and the call made once more: Daraja checks the token
    /// before processing anything, so even a push is safe to repeat then.
    async fn post_json(&self, url: &str, body: &Value) -> Result<(u16, bytes::Bytes), CallError> {
        let body = body.to_string();
        let mut token = self.token().await.map_err(CallError::Token)?;
        let mut retried = false;
        loop {
            let resp = self
                .http
                .post(url)
                .bearer_auth(&token)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await
                .map_err(CallError::Transport)?;
            let status = resp.status().as_u16();
            let answer = resp.bytes().await.map_err(CallError::Transport)?;
            let token_refused = api_error(&answer).is_some_and(|e| e.code == CODE_INVALID_TOKEN);
            if !token_refused || retried {
                return Ok((status, answer));
            }
            tracing::warn!(
                code = CODE_INVALID_TOKEN,
                "daraja refused the access token; fetching a new one and retrying once"
            );
            self.invalidate(&token).await;
            token = self.token().await.map_err(CallError::Token)?;
            retried = true;
        }
    }

    async fn push_once(&self, request: &PushRequest) -> PushOutcome {
        let msisdn = request.phone.masked();
        let Some(phone) = normalize_phone(request.phone) else {
            tracing::warn!(%msisdn, "daraja push refused locally: not a Kenyan mobile number");
            return PushOutcome::Rejected {
                code: LOCAL_INVALID_PHONE.into(),
                message: "M-Pesa can only prompt Kenyan mobile numbers (2547… or 2541…)".into(),
            };
        };
        if request.amount_kes == 0 {
            tracing::warn!(%msisdn, "daraja push refused locally: amount is zero");
            return PushOutcome::Rejected {
                code: LOCAL_INVALID_AMOUNT.into(),
                message: "amount must be at least KES 1".into(),
            };
        }
        let account_reference = sanitize(&request.account_reference, ACCOUNT_REFERENCE_MAX);
        if account_reference.is_empty() {
            tracing::warn!(%msisdn, "daraja push refused locally: empty account reference");
            return PushOutcome::Rejected {
                code: LOCAL_INVALID_ACCOUNT_REFERENCE.into(),
                message: "account reference has no letters or digits".into(),
            };
        }
        if !valid_callback_token(&request.callback_token) {
            tracing::warn!(%msisdn, "daraja push refused locally: callback token is not URL-safe");
            return PushOutcome::Rejected {
                code: LOCAL_INVALID_CALLBACK_TOKEN.into(),
                message: "callback token must be 1 to 128 characters of [A-Za-z0-9_-]".into(),
            };
        }
        // TransactionDesc is optional for Daraja, but an empty string is not the same as an
        // absent field; a neutral word avoids finding out which one it refuses.
        let mut description = sanitize(&request.description, TRANSACTION_DESC_MAX);
        if description.is_empty() {
            description = "Payment".to_owned();
        }

        let timestamp = timestamp_eat(now_unix());
        let body = serde_json::json!({
            "BusinessShortCode": self.shortcode_number,
            "Password": password(&self.config.shortcode, &self.config.passkey, &timestamp),
            "Timestamp": timestamp,
            "TransactionType": self.config.transaction_type.as_str(),
            "Amount": request.amount_kes,
            "PartyA": phone,
            "PartyB": self.config.party_b,
            "PhoneNumber": phone,
            "CallBackURL": format!("{}/{}", self.callback_base, request.callback_token),
            "AccountReference": account_reference,
            "TransactionDesc": description,
        });

        let outcome = match self.post_json(&self.push_url, &body).await {
            Ok((status, answer)) => classify_push_response(status, &answer),
            // Without a token nothing was pushed.
            Err(CallError::Token(detail)) => PushOutcome::NotSent { detail },
            Err(CallError::Transport(e)) if e.is_connect() || e.is_builder() => {
                PushOutcome::NotSent { detail: format!("push not sent: {}", error_chain(&e)) }
            }
            // The request may have reached Daraja: a timeout or a broken connection after
            // sending leaves the outcome open, and pushing again could charge twice.
            Err(CallError::Transport(e)) if e.is_timeout() => PushOutcome::Unknown {
                detail: format!("no answer within {} ms after sending the push", self.config.timeout.as_millis()),
            },
            Err(CallError::Transport(e)) => {
                PushOutcome::Unknown { detail: format!("push failed after sending: {}", error_chain(&e)) }
            }
        };
        log_push(msisdn, &outcome);
        outcome
    }

    async fn query_once(&self, checkout_request_id: &str) -> QueryOutcome {
        let timestamp = timestamp_eat(now_unix());
        let body = serde_json::json!({
            "BusinessShortCode": self.config.shortcode,
            "Password": password(&self.config.shortcode, &self.config.passkey, &timestamp),
            "Timestamp": timestamp,
            "CheckoutRequestID": checkout_request_id,
        });
        let outcome = match self.post_json(&self.query_url, &body).await {
            Ok((status, answer)) => parse_query_response(status, &answer),
            Err(CallError::Token(detail)) => QueryOutcome::Failed { detail },
            Err(CallError::Transport(e)) => {
                QueryOutcome::Failed { detail: format!("query failed: {}", error_chain(&e)) }
            }
        };
        match &outcome {
            QueryOutcome::Pending => tracing::info!(checkout_request_id, "daraja query: still being processed"),
            QueryOutcome::Final { result_code, result_desc } => {
                tracing::info!(checkout_request_id, result_code, result_desc = %result_desc, "daraja query: final result")
            }
            QueryOutcome::Failed { detail } => {
                tracing::warn!(checkout_request_id, detail = %detail, "daraja query failed")
            }
        }
        outcome
    }
}

fn log_push(msisdn: crate::types::Masked, outcome: &PushOutcome) {
    match outcome {
        PushOutcome::Accepted { checkout_request_id, merchant_request_id } => {
            tracing::info!(%msisdn, checkout_request_id = %checkout_request_id, merchant_request_id = %merchant_request_id, "daraja push accepted")
        }
        PushOutcome::Rejected { code, message } => {
            tracing::warn!(%msisdn, code = %code, message = %message, "daraja push rejected")
        }
        PushOutcome::SubscriberBusy { message } => {
            tracing::warn!(%msisdn, message = %message, "daraja push refused: subscriber busy")
        }
        PushOutcome::Throttled { code, message } => {
            tracing::warn!(%msisdn, code = %code, message = %message, "daraja push throttled")
        }
        PushOutcome::Unknown { detail } => {
            tracing::warn!(%msisdn, detail = %detail, "daraja push outcome unknown; waiting for callback or query")
        }
        PushOutcome::NotSent { detail } => tracing::warn!(%msisdn, detail = %detail, "daraja push not sent"),
    }
}

impl Payments for Daraja {
    fn push<'a>(&'a self, request: &'a PushRequest) -> BoxFuture<'a, PushOutcome> {
        Box::pin(self.push_once(request))
    }

    fn query<'a>(&'a self, checkout_request_id: &'a str) -> BoxFuture<'a, QueryOutcome> {
        Box::pin(self.query_once(checkout_request_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SANDBOX_PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";

    // -- pure functions --------------------------------------------------------------------

    #[test]
    fn timestamp_is_nairobi_time() {
        let cases = [
            (0, "19700101030000"),
            (-1, "19700101025959"),
            // The golden vector's timestamp: 2016-02-16 13:56:27 UTC.
            (1_455_630_987, "20160216165627"),
            // 2024-02-29 20:59:59 UTC: the last second of a leap day in Nairobi.
            (1_709_240_399, "20240229235959"),
            (1_709_240_400, "20240301000000"),
            // 2023-12-31 21:00:00 UTC: New Year in Nairobi.
            (1_704_056_400, "20240101000000"),
            // 2000-02-29 (a leap year divisible by 400) 12:00 UTC.
            (951_825_600, "20000229150000"),
        ];
        for (secs, want) in cases {
            assert_eq!(timestamp_eat(secs), want, "{secs}");
        }
    }

    #[test]
    fn password_matches_golden_vector() {
        assert_eq!(
            password("174379", SANDBOX_PASSKEY, "20160216165627"),
            "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMTYwMjE2MTY1NjI3"
        );
    }

    #[test]
    fn phones_normalise_to_kenyan_mobiles_only() {
        let cases = [
            ("+254711000111", Some("254711000111")),
            ("0722000000", Some("254722000000")),
            ("0110000111", Some("254110000111")),
            ("711000111", Some("254711000111")),
            ("+254201234567", None),
            ("+233244234546", None),
            ("+2547110001112", None),
        ];
        for (raw, want) in cases {
            let m = Msisdn::parse(raw).unwrap();
            assert_eq!(normalize_phone(m).as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn sanitize_keeps_plain_characters() {
        let cases = [
            ("NAIROBI/BLOCK82/1234", 20, "NAIROBI-BLOCK82-1234"),
            ("NAIROBI/BLOCK82/1234", ACCOUNT_REFERENCE_MAX, "NAIROBI-BLOC"),
            ("NJ-7K2QX", ACCOUNT_REFERENCE_MAX, "NJ-7K2QX"),
            ("Ada & Sons #1", 20, "Ada Sons 1"),
            ("  --x--  ", 10, "x"),
            ("a / b", 10, "a-b"),
            ("a \t\n b", 10, "a b"),
            ("Ada Lovelace", 4, "Ada"),
            ("ab-cd", 3, "ab"),
            ("Café Njeri", 13, "Caf Njeri"),
            ("Business permit fee", TRANSACTION_DESC_MAX, "Business perm"),
            ("@#&", 12, ""),
            ("", 12, ""),
        ];
        for (text, max, want) in cases {
            assert_eq!(sanitize(text, max), want, "{text:?} max {max}");
        }
    }

    const SUCCESS_CALLBACK: &str = r#"{
        "Body": {
            "stkCallback": {
                "MerchantRequestID": "29115-34620561-1",
                "CheckoutRequestID": "ws_CO_191220191020363925",
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "CallbackMetadata": {
                    "Item": [
                        { "Name": "Amount", "Value": 1.00 },
                        { "Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV" },
                        { "Name": "TransactionDate", "Value": 20191219102115 },
                        { "Name": "PhoneNumber", "Value": 254708374149 }
                    ]
                }
            }
        }
    }"#;

    const CANCELLED_CALLBACK: &str = r#"{
        "Body": {
            "stkCallback": {
                "MerchantRequestID": "f1e2-4b95-a71d-b30d3cdbb7a7942864",
                "CheckoutRequestID": "ws_CO_21072024125243250722943992",
                "ResultCode": 1032,
                "ResultDesc": "Request cancelled by user"
            }
        }
    }"#;

    #[test]
    fn callback_official_success_sample() {
        let r = parse_callback(SUCCESS_CALLBACK.as_bytes()).unwrap();
        assert_eq!(
            r,
            PaymentResult {
                merchant_request_id: "29115-34620561-1".into(),
                checkout_request_id: "ws_CO_191220191020363925".into(),
                result_code: 0,
                result_desc: "The service request is processed successfully.".into(),
                receipt: Some("NLJ7RT61SV".into()),
                amount: Some("1.00".into()),
                phone: Some(254_708_374_149),
            }
        );
    }

    #[test]
    fn callback_official_cancelled_sample() {
        let r = parse_callback(CANCELLED_CALLBACK.as_bytes()).unwrap();
        assert_eq!(r.result_code, 1032);
        assert_eq!(r.result_desc, "Request cancelled by user");
        assert_eq!(r.checkout_request_id, "ws_CO_21072024125243250722943992");
        assert_eq!((r.receipt, r.amount, r.phone), (None, None, None));
    }

    #[test]
    fn callback_reads_items_by_name_and_skips_valueless_balance() {
        // The older payload shape: items in another order, a Balance item without a Value,
        // an integer Amount, and a string ResultCode.
        let body = r#"{"Body":{"stkCallback":{
            "MerchantRequestID":"19465-780693-1","CheckoutRequestID":"ws_CO_27072017154747416",
            "ResultCode":"0","ResultDesc":"The service request is processed successfully.",
            "CallbackMetadata":{"Item":[
                {"Name":"PhoneNumber","Value":254721566839},
                {"Name":"MpesaReceiptNumber","Value":"LGR7OWQX0R"},
                {"Name":"Balance"},
                {"Name":"TransactionDate","Value":20170727154800},
                {"Name":"Amount","Value":1}
            ]}}}}"#;
        let r = parse_callback(body.as_bytes()).unwrap();
        assert_eq!(r.result_code, 0);
        assert_eq!(r.receipt.as_deref(), Some("LGR7OWQX0R"));
        assert_eq!(r.amount.as_deref(), Some("1"));
        assert_eq!(r.phone, Some(254_721_566_839));
    }

    #[test]
    fn callback_refuses_garbage_and_missing_fields() {
        let missing = |body: &str, want: &str| match parse_callback(body.as_bytes()) {
            Err(CallbackError::Missing(f)) => assert_eq!(f, want, "{body}"),
            other => panic!("{body}: expected Missing({want}), got {other:?}"),
        };
        missing("{}", "Body");
        missing(r#"{"Body":{}}"#, "Body.stkCallback");
        missing(r#"{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1","ResultCode":0}}}"#, "MerchantRequestID");
        missing(r#"{"Body":{"stkCallback":{"MerchantRequestID":"m","ResultCode":0}}}"#, "CheckoutRequestID");
        missing(r#"{"Body":{"stkCallback":{"MerchantRequestID":"m","CheckoutRequestID":"c"}}}"#, "ResultCode");

        for garbage in
            ["", "not json", "[1,2]", r#"{"Body":"x"}"#, r#"{"Body":{"stkCallback":{"CallbackMetadata":{"Item":5}}}}"#]
        {
            assert!(matches!(parse_callback(garbage.as_bytes()), Err(CallbackError::Malformed(_))), "{garbage:?}");
        }

        let invalid = |body: &str, want: &str| match parse_callback(body.as_bytes()) {
            Err(CallbackError::Invalid { field, .. }) => assert_eq!(field, want, "{body}"),
            other => panic!("{body}: expected Invalid({want}), got {other:?}"),
        };
        invalid(
            r#"{"Body":{"stkCallback":{"MerchantRequestID":"m","CheckoutRequestID":"c","ResultCode":"zero"}}}"#,
            "ResultCode",
        );
        invalid(
            r#"{"Body":{"stkCallback":{"MerchantRequestID":"m","CheckoutRequestID":"c","ResultCode":0.5}}}"#,
            "ResultCode",
        );
        invalid(
            r#"{"Body":{"stkCallback":{"MerchantRequestID":7,"CheckoutRequestID":"c","ResultCode":0}}}"#,
            "MerchantRequestID",
        );
        invalid(
            r#"{"Body":{"stkCallback":{"MerchantRequestID":"m","CheckoutRequestID":"c","ResultCode":0,
               "CallbackMetadata":{"Item":[{"Name":"Amount","Value":{"x":1}}]}}}}"#,
            "Amount",
        );
        invalid(
            r#"{"Body":{"stkCallback":{"MerchantRequestID":"m","CheckoutRequestID":"c","ResultCode":0,
               "CallbackMetadata":{"Item":[{"Name":"PhoneNumber","Value":"07x"}]}}}}"#,
            "PhoneNumber",
        );

        // The message says what was wrong.
        let e = parse_callback(br#"{"Body":{}}"#).unwrap_err();
        assert_eq!(e.to_string(), "STK callback has no Body.stkCallback");
    }

    fn err_body(code: &str, message: &str) -> Vec<u8> {
        serde_json::json!({"requestId": "1c5b-4ba8-815c", "errorCode": code, "errorMessage": message})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn push_errors_are_classified() {
        #[derive(Debug, PartialEq)]
        enum Kind {
            Rejected,
            Busy,
            Throttled,
            Unknown,
        }
        let cases: &[(u16, &[u8], Kind)] = &[
            (400, &err_body("400.002.02", "Bad Request - Invalid PhoneNumber"), Kind::Rejected),
            (
                500,
                &err_body(
                    "500.001.1001",
                    "Unable to lock subscriber, a transaction is already in process for the current subscriber",
                ),
                Kind::Busy,
            ),
            (500, &err_body("500.001.1001", "UNABLE TO LOCK SUBSCRIBER"), Kind::Busy),
            (500, &err_body("500.001.1001", "Wrong credentials"), Kind::Rejected),
            (500, &err_body("500.001.1001", "Merchant does not exist"), Kind::Rejected),
            (500, &err_body("500.003.02", "Error Occurred: Spike Arrest Violation"), Kind::Throttled),
            (500, &err_body("500.003.02", "System is busy. Please try again in few minutes"), Kind::Throttled),
            (500, &err_body("500.003.03", "Quota Violation"), Kind::Throttled),
            (404, &err_body("404.001.03", "Invalid Access Token"), Kind::Throttled),
            (500, &err_body("500.003.1001", "Internal Server Error"), Kind::Unknown),
            (404, &err_body("404.001.01", "Resource not found"), Kind::Rejected),
            (405, &err_body("405.001", "Method Not Allowed"), Kind::Rejected),
            (503, &err_body("503.999.99", "Something new"), Kind::Unknown),
            (502, b"<html>Bad Gateway</html>", Kind::Unknown),
            (500, b"", Kind::Unknown),
            (504, b"{}", Kind::Unknown),
            (200, b"{}", Kind::Unknown),
            (429, b"", Kind::Throttled),
            (400, b"Bad Request", Kind::Rejected),
            (301, b"", Kind::Rejected),
        ];
        for (status, body, want) in cases {
            let got = match classify_push_error(*status, body) {
                PushOutcome::Rejected { .. } => Kind::Rejected,
                PushOutcome::SubscriberBusy { .. } => Kind::Busy,
                PushOutcome::Throttled { .. } => Kind::Throttled,
                PushOutcome::Unknown { .. } => Kind::Unknown,
                other => panic!("{status}: unexpected {other:?}"),
            };
            assert_eq!(&got, want, "{status} {}", String::from_utf8_lossy(body));
        }
        // The code and message are passed on verbatim.
        assert_eq!(
            classify_push_error(400, &err_body("400.002.02", "Bad Request - Invalid CallBackURL")),
            PushOutcome::Rejected { code: "400.002.02".into(), message: "Bad Request - Invalid CallBackURL".into() }
        );
    }

    #[test]
    fn push_success_body_is_accepted() {
        let body = br#"{"MerchantRequestID":"2654-4b64-97ff-b827b542881d3130",
            "CheckoutRequestID":"ws_CO_1007202409152617172396192","ResponseCode":"0",
            "ResponseDescription":"Success. Request accepted for processing",
            "CustomerMessage":"Success. Request accepted for processing"}"#;
        assert_eq!(
            classify_push_response(200, body),
            PushOutcome::Accepted {
                checkout_request_id: "ws_CO_1007202409152617172396192".into(),
                merchant_request_id: "2654-4b64-97ff-b827b542881d3130".into(),
            }
        );
        // A numeric ResponseCode is read too.
        let numeric = br#"{"MerchantRequestID":"m","CheckoutRequestID":"c","ResponseCode":0}"#;
        assert!(matches!(classify_push_response(200, numeric), PushOutcome::Accepted { .. }));
        // Accepted without ids: cannot be correlated, so unknown.
        assert!(matches!(classify_push_response(200, br#"{"ResponseCode":"0"}"#), PushOutcome::Unknown { .. }));
        // A non-zero ResponseCode is Daraja's own refusal.
        assert!(matches!(
            classify_push_response(200, br#"{"ResponseCode":"1","ResponseDescription":"no"}"#),
            PushOutcome::Rejected { .. }
        ));
        // An error status goes through the error table even with a success-looking body.
        assert!(matches!(classify_push_response(500, body), PushOutcome::Unknown { .. }));
    }

    #[test]
    fn query_answers_are_classified() {
        let final_ = |code: i64, desc: &str| QueryOutcome::Final { result_code: code, result_desc: desc.into() };
        let cases: Vec<(u16, Vec<u8>, Option<QueryOutcome>)> = vec![
            (
                200,
                br#"{"ResponseCode":"0","ResponseDescription":"The service request has been accepted successfully",
                    "MerchantRequestID":"22205-34066-1","CheckoutRequestID":"ws_CO_13012021093521236557",
                    "ResultCode":"0","ResultDesc":"The service request is processed successfully."}"#
                    .to_vec(),
                Some(final_(0, "The service request is processed successfully.")),
            ),
            (
                200,
                br#"{"ResultCode":"1032","ResultDesc":"Request cancelled by user"}"#.to_vec(),
                Some(final_(1032, "Request cancelled by user")),
            ),
            (200, br#"{"ResultCode":1037,"ResultDesc":"DS timeout"}"#.to_vec(), Some(final_(1037, "DS timeout"))),
            (500, err_body("500.001.1001", "The transaction is being processed"), Some(QueryOutcome::Pending)),
            (500, err_body("500.001.1001", "the TRANSACTION is BEING PROCESSED"), Some(QueryOutcome::Pending)),
            (500, err_body("500.001.1001", "Wrong credentials"), None),
            (500, err_body("500.003.02", "Spike Arrest Violation"), None),
            (200, br#"{"ResultCode":"SFC_IC0003"}"#.to_vec(), None),
            (200, br#"{"ResponseCode":"0"}"#.to_vec(), None),
            (502, b"<html/>".to_vec(), None),
            (200, b"garbage".to_vec(), None),
        ];
        for (status, body, want) in cases {
            let got = parse_query_response(status, &body);
            match want {
                Some(want) => assert_eq!(got, want, "{status} {}", String::from_utf8_lossy(&body)),
                None => assert!(matches!(got, QueryOutcome::Failed { .. }), "{status}: {got:?}"),
            }
        }
    }

    #[test]
    fn token_responses_accept_string_and_number_lifetimes() {
        let want = Some(("abc".to_owned(), Duration::from_secs(3599)));
        assert_eq!(parse_token_response(br#"{"access_token":"abc","expires_in":"3599"}"#), want);
        assert_eq!(parse_token_response(br#"{"access_token":"abc","expires_in":3599}"#), want);
        assert_eq!(parse_token_response(br#"{"access_token":"","expires_in":"3599"}"#), None);
        assert_eq!(parse_token_response(br#"{"access_token":"abc","expires_in":"-1"}"#), None);
        assert_eq!(parse_token_response(br#"{"access_token":"abc"}"#), None);
        assert_eq!(token_use_window(Duration::from_secs(3599)), Duration::from_secs(3299));
        assert_eq!(token_use_window(Duration::from_secs(120)), Duration::from_secs(60));
        assert_eq!(token_use_window(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let text = format!("{:?}", test_config("https://sandbox.safaricom.co.ke", Duration::from_secs(10)));
        for secret in ["key-123", "secret-456", SANDBOX_PASSKEY] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(text.contains("174379"));
        assert_eq!(TransactionType::CustomerBuyGoodsOnline.as_str(), "CustomerBuyGoodsOnline");
    }

    #[test]
    fn transaction_type_reads_from_config_text() {
        #[derive(Deserialize)]
        struct T {
            t: TransactionType,
        }
        let parse = |s: &str| serde_json::from_str::<T>(s).map(|t| t.t).ok();
        assert_eq!(parse(r#"{"t":"CustomerPayBillOnline"}"#), Some(TransactionType::CustomerPayBillOnline));
        assert_eq!(parse(r#"{"t":"till"}"#), Some(TransactionType::CustomerBuyGoodsOnline));
        assert_eq!(parse(r#"{"t":"bank"}"#), None);
    }

    #[test]
    fn config_is_checked() {
        let ok = test_config("https://sandbox.safaricom.co.ke/", Duration::from_secs(10));
        let d = Daraja::new(ok.clone()).unwrap();
        assert_eq!(d.push_url, "https://sandbox.safaricom.co.ke/mpesa/stkpush/v1/processrequest");
        let broken: [fn(&mut DarajaConfig); 5] = [
            |c| c.base_url = "sandbox.safaricom.co.ke".into(),
            |c| c.passkey.clear(),
            |c| c.shortcode = "17 4379".into(),
            |c| c.callback_base_url = "http://cb.example.org".into(),
            |c| c.timeout = Duration::ZERO,
        ];
        for f in broken {
            let mut c = ok.clone();
            f(&mut c);
            assert!(matches!(Daraja::new(c), Err(DarajaError::Config(_))));
        }
    }

    // -- the client against a Daraja double ----------------------------------------------

    use std::sync::Arc;
    use std::sync::Mutex as StdMutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode, Uri, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};

    const KEY: &str = "key-123";
    const SECRET: &str = "secret-456";
    const CALLBACK_BASE: &str = "https://cb.example.org/daraja";

    fn test_config(base_url: &str, timeout: Duration) -> DarajaConfig {
        DarajaConfig {
            base_url: base_url.to_owned(),
            consumer_key: KEY.into(),
            consumer_secret: SECRET.into(),
            shortcode: "174379".into(),
            passkey: SANDBOX_PASSKEY.into(),
            transaction_type: TransactionType::CustomerPayBillOnline,
            party_b: "174379".into(),
            callback_base_url: CALLBACK_BASE.into(),
            timeout,
        }
    }

    fn request() -> PushRequest {
        PushRequest {
            phone: Msisdn::parse("0711000111").unwrap(),
            amount_kes: 10,
            account_reference: "NJ-7K2QX".into(),
            description: "Parking fee".into(),
            callback_token: "cbtok-123_x".into(),
        }
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Scenario {
        Success,
        /// The first push is refused with 404.001.03, as when another process took a new token.
        StaleTokenOnce,
        SpikeArrest,
        LockSubscriber,
        /// The push handler answers only after this long.
        Slow(Duration),
        /// The first query is "being processed", the next ones the final result 1032.
        QueryPendingThenFinal,
    }

    /// The Daraja double's state: what it was asked, and what it found wrong.
    struct Mock {
        scenario: Scenario,
        token_fetches: AtomicUsize,
        pushes: AtomicUsize,
        queries: AtomicUsize,
        problems: StdMutex<Vec<String>>,
    }

    impl Mock {
        fn problem(&self, p: String) {
            self.problems.lock().unwrap().push(p);
        }
        fn current_token(&self) -> String {
            format!("tok-{}", self.token_fetches.load(Ordering::SeqCst))
        }
        fn problems(&self) -> Vec<String> {
            self.problems.lock().unwrap().clone()
        }
        /// Checks the headers and credentials shared by push and query; returns the body.
        fn check_call(&self, headers: &HeaderMap, body: &[u8]) -> Value {
            let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
            if bearer != format!("Bearer {}", self.current_token()) {
                self.problem(format!("bearer {bearer:?} is not the current token {}", self.current_token()));
            }
            if headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) != Some("application/json") {
                self.problem("content type is not application/json".into());
            }
            let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let ts = v["Timestamp"].as_str().unwrap_or("");
            let shortcode = match &v["BusinessShortCode"] {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => String::new(),
            };
            if v["Password"].as_str() != Some(&password(&shortcode, SANDBOX_PASSKEY, ts)) || shortcode != "174379" {
                self.problem(format!("password does not match shortcode {shortcode:?} and timestamp {ts:?}"));
            }
            // The timestamp is the current time in Nairobi.
            let now = now_unix();
            if !(now - 5..=now + 1).any(|t| timestamp_eat(t) == ts) {
                self.problem(format!("timestamp {ts:?} is not now in EAT ({})", timestamp_eat(now)));
            }
            v
        }
    }

    fn json(status: StatusCode, v: Value) -> Response {
        (status, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
    }

    fn error(status: StatusCode, code: &str, message: &str) -> Response {
        json(status, serde_json::json!({"requestId": "rq-1", "errorCode": code, "errorMessage": message}))
    }

    async fn token_handler(State(m): State<Arc<Mock>>, headers: HeaderMap, uri: Uri) -> Response {
        let want = format!("Basic {}", BASE64.encode(format!("{KEY}:{SECRET}")));
        let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        if auth != want {
            m.problem(format!("token request with authorization {auth:?}"));
            return error(StatusCode::BAD_REQUEST, "400.008.01", "Invalid Authentication passed");
        }
        if uri.query() != Some("grant_type=client_credentials") {
            m.problem(format!("token request with query {:?}", uri.query()));
            return error(StatusCode::BAD_REQUEST, "400.008.02", "Invalid grant type passed");
        }
        // Widen the window in which concurrent callers could each fetch a token.
        tokio::time::sleep(Duration::from_millis(30)).await;
        let n = m.token_fetches.fetch_add(1, Ordering::SeqCst) + 1;
        // The real gateway sends the lifetime as a string.
        json(StatusCode::OK, serde_json::json!({"access_token": format!("tok-{n}"), "expires_in": "3599"}))
    }

    async fn push_handler(State(m): State<Arc<Mock>>, headers: HeaderMap, body: Bytes) -> Response {
        let n = m.pushes.fetch_add(1, Ordering::SeqCst) + 1;
        let v = m.check_call(&headers, &body);
        let expect = [
            ("BusinessShortCode", serde_json::json!(174379)),
            ("TransactionType", serde_json::json!("CustomerPayBillOnline")),
            ("Amount", serde_json::json!(10)),
            ("PartyA", serde_json::json!("254711000111")),
            ("PartyB", serde_json::json!("174379")),
            ("PhoneNumber", serde_json::json!("254711000111")),
            ("CallBackURL", serde_json::json!(format!("{CALLBACK_BASE}/cbtok-123_x"))),
            ("AccountReference", serde_json::json!("NJ-7K2QX")),
            ("TransactionDesc", serde_json::json!("Parking fee")),
        ];
        for (field, want) in expect {
            if v[field] != want {
                m.problem(format!("push field {field} is {} instead of {want}", v[field]));
            }
        }
        let accepted = || {
            json(
                StatusCode::OK,
                serde_json::json!({
                    "MerchantRequestID": format!("mr-{n}"),
                    "CheckoutRequestID": format!("ws_CO_{n}"),
                    "ResponseCode": "0",
                    "ResponseDescription": "Success. Request accepted for processing",
                    "CustomerMessage": "Success. Request accepted for processing",
                }),
            )
        };
        match m.scenario {
            Scenario::StaleTokenOnce if n == 1 => error(StatusCode::NOT_FOUND, "404.001.03", "Invalid Access Token"),
            Scenario::SpikeArrest => {
                error(StatusCode::INTERNAL_SERVER_ERROR, "500.003.02", "Error Occurred: Spike Arrest Violation")
            }
            Scenario::LockSubscriber => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500.001.1001",
                "Unable to lock subscriber, a transaction is already in process for the current subscriber",
            ),
            Scenario::Slow(d) => {
                tokio::time::sleep(d).await;
                accepted()
            }
            _ => accepted(),
        }
    }

    async fn query_handler(State(m): State<Arc<Mock>>, headers: HeaderMap, body: Bytes) -> Response {
        let n = m.queries.fetch_add(1, Ordering::SeqCst) + 1;
        let v = m.check_call(&headers, &body);
        // The query carries the shortcode as a string, as in the official sample.
        if v["BusinessShortCode"] != serde_json::json!("174379")
            || v["CheckoutRequestID"] != serde_json::json!("ws_CO_1")
        {
            m.problem(format!("query body {v}"));
        }
        if m.scenario == Scenario::QueryPendingThenFinal && n == 1 {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "500.001.1001", "The transaction is being processed");
        }
        json(
            StatusCode::OK,
            serde_json::json!({
                "ResponseCode": "0",
                "ResponseDescription": "The service request has been accepted successfully",
                "MerchantRequestID": "mr-1",
                "CheckoutRequestID": "ws_CO_1",
                "ResultCode": "1032",
                "ResultDesc": "Request cancelled by user",
            }),
        )
    }

    /// Starts the Daraja double on a free port and returns a client pointed at it.
    async fn start(scenario: Scenario, timeout: Duration) -> (Arc<Daraja>, Arc<Mock>) {
        let mock = Arc::new(Mock {
            scenario,
            token_fetches: AtomicUsize::new(0),
            pushes: AtomicUsize::new(0),
            queries: AtomicUsize::new(0),
            problems: StdMutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/oauth/v1/generate", get(token_handler))
            .route("/mpesa/stkpush/v1/processrequest", post(push_handler))
            .route("/mpesa/stkpushquery/v1/query", post(query_handler))
            .with_state(mock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let daraja = Daraja::new(test_config(&format!("http://{addr}"), timeout)).unwrap();
        (Arc::new(daraja), mock)
    }

    const TIMEOUT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn push_accepted_and_token_reused() {
        let (daraja, mock) = start(Scenario::Success, TIMEOUT).await;
        let first = daraja.push(&request()).await;
        assert_eq!(
            first,
            PushOutcome::Accepted { checkout_request_id: "ws_CO_1".into(), merchant_request_id: "mr-1".into() }
        );
        assert!(matches!(daraja.push(&request()).await, PushOutcome::Accepted { .. }));
        assert_eq!(mock.token_fetches.load(Ordering::SeqCst), 1, "the cached token is reused");
        assert_eq!(mock.pushes.load(Ordering::SeqCst), 2);
        assert_eq!(mock.problems(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn push_refetches_token_once_after_invalid_token() {
        let (daraja, mock) = start(Scenario::StaleTokenOnce, TIMEOUT).await;
        let outcome = daraja.push(&request()).await;
        assert_eq!(
            outcome,
            PushOutcome::Accepted { checkout_request_id: "ws_CO_2".into(), merchant_request_id: "mr-2".into() }
        );
        assert_eq!(mock.token_fetches.load(Ordering::SeqCst), 2, "a new token was fetched");
        assert_eq!(mock.pushes.load(Ordering::SeqCst), 2, "one refused push and one accepted");
        // The double checks that every call carries its newest token, so the retry used tok-2.
        assert_eq!(mock.problems(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn push_spike_arrest_is_throttled() {
        let (daraja, mock) = start(Scenario::SpikeArrest, TIMEOUT).await;
        assert_eq!(
            daraja.push(&request()).await,
            PushOutcome::Throttled {
                code: "500.003.02".into(),
                message: "Error Occurred: Spike Arrest Violation".into()
            }
        );
        assert_eq!(mock.pushes.load(Ordering::SeqCst), 1, "no retry inside the client");
        assert_eq!(mock.problems(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn push_locked_subscriber_is_busy() {
        let (daraja, mock) = start(Scenario::LockSubscriber, TIMEOUT).await;
        assert!(matches!(daraja.push(&request()).await, PushOutcome::SubscriberBusy { .. }));
        assert_eq!(mock.pushes.load(Ordering::SeqCst), 1);
        assert_eq!(mock.problems(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn push_timeout_after_sending_is_unknown() {
        let (daraja, mock) = start(Scenario::Slow(Duration::from_secs(3)), Duration::from_millis(400)).await;
        let outcome = daraja.push(&request()).await;
        assert!(matches!(outcome, PushOutcome::Unknown { .. }), "{outcome:?}");
        assert_eq!(mock.pushes.load(Ordering::SeqCst), 1, "never pushed again");
        assert_eq!(mock.problems(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn push_to_closed_port_is_not_sent() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let daraja = Daraja::new(test_config(&format!("http://{addr}"), TIMEOUT)).unwrap();
        // Without a token the token request fails first.
        let outcome = daraja.push(&request()).await;
        assert!(matches!(outcome, PushOutcome::NotSent { .. }), "{outcome:?}");
        // With a cached token the push request itself cannot connect.
        daraja.token.lock().await.current = Some(("tok-cached".into(), Instant::now() + Duration::from_secs(60)));
        let outcome = daraja.push(&request()).await;
        match outcome {
            PushOutcome::NotSent { detail } => assert!(detail.starts_with("push not sent"), "{detail}"),
            other => panic!("expected NotSent, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn push_to_foreign_phone_makes_no_call() {
        let (daraja, mock) = start(Scenario::Success, TIMEOUT).await;
        let mut r = request();
        r.phone = Msisdn::parse("+233244234546").unwrap();
        assert!(matches!(daraja.push(&r).await, PushOutcome::Rejected { code, .. } if code == LOCAL_INVALID_PHONE));
        assert_eq!(mock.token_fetches.load(Ordering::SeqCst), 0);
        assert_eq!(mock.pushes.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_pushes_share_one_token_fetch() {
        let (daraja, mock) = start(Scenario::Success, TIMEOUT).await;
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let daraja = daraja.clone();
                tokio::spawn(async move { daraja.push(&request()).await })
            })
            .collect();
        for t in tasks {
            assert!(matches!(t.await.unwrap(), PushOutcome::Accepted { .. }));
        }
        assert_eq!(mock.token_fetches.load(Ordering::SeqCst), 1);
        assert_eq!(mock.pushes.load(Ordering::SeqCst), 8);
        assert_eq!(mock.problems(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn query_pending_then_final_string_code() {
        let (daraja, mock) = start(Scenario::QueryPendingThenFinal, TIMEOUT).await;
        assert_eq!(daraja.query("ws_CO_1").await, QueryOutcome::Pending);
        assert_eq!(
            daraja.query("ws_CO_1").await,
            QueryOutcome::Final { result_code: 1032, result_desc: "Request cancelled by user".into() }
        );
        assert_eq!(mock.queries.load(Ordering::SeqCst), 2);
        assert_eq!(mock.token_fetches.load(Ordering::SeqCst), 1);
        assert_eq!(mock.problems(), Vec::<String>::new());
    }
}
