//! Telco dialects: one module each, registered in [`routes`]. An adapter parses its wire
//! format into a [`crate::hub::Hop`], authenticates it, and formats the [`crate::hub::Reply`];
//! it holds no business logic and the engine knows no telco.

pub mod africastalking;
pub mod airtel;
pub mod arkesel;
pub mod auth;
pub mod beem;
pub mod hubtel;
pub mod safaricom;
pub mod sms_africastalking;

use std::borrow::Cow;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::BoxFuture;
use crate::server::AppState;

/// Every dialect, in one explicit list.
pub const DIALECTS: &[Dialect] =
    &[africastalking::DIALECT, safaricom::DIALECT, airtel::DIALECT, hubtel::DIALECT, arkesel::DIALECT, beem::DIALECT];

/// A USSD hop handler: takes the whole (size-limited) body, returns the reply.
pub type HopHandler = fn(Arc<AppState>, Bytes) -> BoxFuture<'static, Response>;

/// What the server needs to know of a dialect.
pub struct Dialect {
    pub name: &'static str,
    /// Where the telco sends hops.
    pub hop_path: &'static str,
    /// The handler of hops POSTed to `hop_path`, which the server calls without going through
    /// the router (the hot path: the router's boxing and matching cost about 2 µs per hop).
    /// `None` for a dialect whose hops are not POSTs (Safaricom's GETs go through its routes).
    pub hop: Option<HopHandler>,
    /// The dialect's other routes (GET hops, end-of-session notices). The POST hop route is
    /// added for every dialect with a `hop` handler, so other methods get a 405 there.
    pub routes: Option<fn() -> Router<Arc<AppState>>>,
}

/// Every dialect's routes.
pub fn routes() -> Router<Arc<AppState>> {
    DIALECTS.iter().fold(Router::new(), |r, d| {
        let r = match d.hop {
            Some(h) => r.route(
                d.hop_path,
                axum::routing::post(
                    move |axum::extract::State(app): axum::extract::State<Arc<AppState>>, body: Bytes| h(app, body),
                ),
            ),
            None => r,
        };
        match d.routes {
            Some(extra) => r.merge(extra()),
            None => r,
        }
    })
}

/// Answers a request a channel could not parse: 400 with the reason, and a log line with the
/// masked phone number when one could be read.
pub fn refuse(channel: &str, phone: Option<String>, e: BadRequest) -> Response {
    tracing::warn!(channel, msisdn = phone.as_deref().unwrap_or("-"), reason = %e.0, "malformed request refused");
    e.into_response()
}

/// The masked phone number in a JSON body's `field`, for the log line of a refused request.
pub fn json_phone(body: &[u8], field: &str) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get(field).and_then(|m| m.as_str()).map(crate::types::mask_raw_phone))
}

/// The dialect whose routes `path` belongs to (its hop path, or below it).
pub fn dialect_of(path: &str) -> Option<&'static Dialect> {
    DIALECTS.iter().find(|d| path.strip_prefix(d.hop_path).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
}

/// The hop handler for a POST to `path`, if a dialect serves hops there.
pub fn hop_handler(path: &str) -> Option<HopHandler> {
    DIALECTS.iter().find(|d| d.hop_path == path).and_then(|d| d.hop)
}

/// A request a dialect refused: 400 with a body saying what was wrong.
#[derive(Debug, PartialEq, Eq)]
pub struct BadRequest(pub String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, [("content-type", "text/plain; charset=utf-8")], format!("bad request: {}\n", self.0))
            .into_response()
    }
}

/// Form pairs borrowing from the request body where no decoding was needed.
pub type FormPairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// Parses an `application/x-www-form-urlencoded` body into its pairs. Never fails: bytes that
/// are not UTF-8 become U+FFFD and then fail the field's own validation with a clear reason.
pub fn form_pairs(body: &[u8]) -> FormPairs<'_> {
    // Telco callbacks carry five to twelve fields: size once instead of growing.
    let mut pairs = Vec::with_capacity(12);
    pairs.extend(form_urlencoded::parse(body));
    pairs
}

/// Checks a session id: 1 to 128 printable characters.
pub fn session_key(channel: &'static str, id: &str) -> Result<crate::types::SessionKey, BadRequest> {
    crate::types::SessionKey::new(Arc::from(channel), id).map_err(|e| BadRequest(format!("session id: {e}")))
}

/// Longest latest input accepted: a screen's answer, never a whole session.
pub const MAX_INPUT: usize = 512;

/// True when `s` is a dial string such as `*384#` or `*384*1*2#`.
pub fn is_dial_string(s: &str) -> bool {
    s.len() <= 40
        && s.starts_with('*')
        && s.ends_with('#')
        && s.len() > 2
        && s[1..s.len() - 1].bytes().all(|b| b.is_ascii_digit() || b == b'*')
}

/// A JSON reply.
pub fn json_reply(body: serde_json::Value) -> Response {
    ([("content-type", "application/json")], body.to_string()).into_response()
}

/// The value of `name` in form pairs (the first, if repeated).
pub fn field<'a>(pairs: &'a FormPairs<'_>, name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| &**v)
}
