//! Daraja's wire format, with no IO: the JSON shapes Njia sends and reads (push and query
//! bodies' fields, the callback, the shared error body), the EAT `Timestamp` and `Password`,
//! field sanitising, and the classification of every answer into a [`PushOutcome`] or a
//! [`QueryOutcome`]. Pure functions, so each rule is a table in the tests below.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::payment::{PaymentResult, PushOutcome, QueryOutcome};
use crate::types::Msisdn;

/// Daraja's code for a bad field in the request ("Bad Request - Invalid XXXX").
const CODE_INVALID_FIELD: &str = "400.002.02";
/// Daraja's code for an access token it no longer accepts (expired, or replaced by a newer one).
pub(super) const CODE_INVALID_TOKEN: &str = "404.001.03";
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
pub(super) const LOCAL_INVALID_PHONE: &str = "local.invalid-phone";
pub(super) const LOCAL_INVALID_AMOUNT: &str = "local.invalid-amount";
pub(super) const LOCAL_INVALID_ACCOUNT_REFERENCE: &str = "local.invalid-account-reference";
pub(super) const LOCAL_INVALID_CALLBACK_TOKEN: &str = "local.invalid-callback-token";

/// The longest `AccountReference` Daraja accepts.
pub const ACCOUNT_REFERENCE_MAX: usize = 12;
/// The longest `TransactionDesc` Daraja accepts.
pub const TRANSACTION_DESC_MAX: usize = 13;

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
pub(super) fn int_of(v: &Value) -> Option<i64> {
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
pub(super) struct ApiError {
    pub(super) code: String,
    pub(super) message: String,
}

pub(super) fn api_error(body: &[u8]) -> Option<ApiError> {
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

/// A callback token goes into a URL path; Daraja refuses URLs with spaces or odd characters.
pub(super) fn valid_callback_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 128
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SANDBOX_PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";

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
}
