//! Channels and their telco dialects: one module per dialect, registered in [`DIALECTS`]. A
//! channel is a dialect served at a path with a screen limit, the menus it may reach and its
//! authentication ([`Channel`]). An adapter parses its wire format into a
//! [`crate::hub::Hop`] and formats the [`crate::hub::Reply`]; it holds no business logic and
//! the engine knows no telco. What a dialect reaches below itself is a [`HopSink`]; the
//! channels never import the server that serves them.

pub mod africastalking;
pub mod airtel;
pub mod arkesel;
pub mod auth;
pub mod beem;
pub mod hubtel;
pub mod infobip;
pub mod nalo;
pub mod safaricom;
pub mod sink;
pub mod sms_africastalking;
pub mod telco;

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::BoxFuture;
use crate::channel::auth::ChannelAuth;
use crate::hub::{Hop, HopInput, MenuFilter};
use crate::types::{Msisdn, SessionKey};

pub use sink::HopSink;

/// Every dialect, in one explicit list.
pub const DIALECTS: &[Dialect] = &[
    africastalking::DIALECT,
    safaricom::DIALECT,
    airtel::DIALECT,
    hubtel::DIALECT,
    arkesel::DIALECT,
    nalo::DIALECT,
    beem::DIALECT,
    infobip::DIALECT,
    sms_africastalking::DIALECT,
];

/// The dialect called `name`.
pub fn dialect(name: &str) -> Option<&'static Dialect> {
    DIALECTS.iter().find(|d| d.name == name)
}

/// A request's handler: the hub in service (taken once for the request), the channel it came
/// in on and the request, its body already read (size- and time-limited) and its
/// authentication already checked.
pub type Handler = fn(HopSink, Arc<Channel>, ChannelRequest) -> BoxFuture<'static, Response>;

/// What the server needs to know of a dialect.
pub struct Dialect {
    pub name: &'static str,
    /// Where a channel of this dialect listens unless configured otherwise.
    pub default_path: &'static str,
    /// The longest screen the dialect's documentation allows (Nalo: 120), when it is below the
    /// server's `screen_limit`.
    pub max_screen: Option<usize>,
    /// Serves every request at or below the channel's path.
    pub handle: Handler,
    /// The telco's side of a USSD wire format, for `njia dial --dialect` and the tests;
    /// `None` for a channel that carries no USSD (SMS).
    pub telco: Option<&'static telco::Telco>,
}

impl std::fmt::Debug for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// A request for a channel, as its dialect sees it.
pub struct ChannelRequest {
    pub method: Method,
    /// The path below the channel's own (`""` for the channel path itself, `/events`, …).
    pub rest: String,
    /// The raw query string (GET dialects carry their fields there).
    pub query: String,
    pub body: Bytes,
}

impl ChannelRequest {
    /// The answer for a path or method this dialect does not serve: 405 on the channel path
    /// itself, 404 below it.
    pub fn unrouted(&self) -> Response {
        if self.rest.is_empty() {
            (StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n").into_response()
        } else {
            (StatusCode::NOT_FOUND, "not found\n").into_response()
        }
    }
}

/// Serves a dialect whose hops are POSTs to the channel path: `hop` gets the body; any other
/// method or path is unrouted.
pub fn post_hops<F>(
    sink: HopSink,
    ch: Arc<Channel>,
    req: ChannelRequest,
    hop: fn(HopSink, Arc<Channel>, Bytes) -> F,
) -> BoxFuture<'static, Response>
where
    F: std::future::Future<Output = Response> + Send + 'static,
{
    if req.method == Method::POST && req.rest.is_empty() {
        Box::pin(hop(sink, ch, req.body))
    } else {
        Box::pin(std::future::ready(req.unrouted()))
    }
}

/// Serves a dialect whose hops are GETs of the channel path: `hop` gets the query string; any
/// other method or path is unrouted.
pub fn get_hops<F>(
    sink: HopSink,
    ch: Arc<Channel>,
    req: ChannelRequest,
    hop: fn(HopSink, Arc<Channel>, String) -> F,
) -> BoxFuture<'static, Response>
where
    F: std::future::Future<Output = Response> + Send + 'static,
{
    if req.method == Method::GET && req.rest.is_empty() {
        Box::pin(hop(sink, ch, req.query))
    } else {
        Box::pin(std::future::ready(req.unrouted()))
    }
}

/// One configured channel: a dialect at a path, with its screen limit, the menus it may reach
/// and who may call it.
#[derive(Debug)]
pub struct Channel {
    /// Sessions are keyed under this name, so two channels never share a session.
    pub name: Arc<str>,
    pub dialect: &'static Dialect,
    pub path: String,
    /// Screen limit in GSM-7 characters.
    pub limit: usize,
    /// The menus (by id) this channel may reach; `None` for every menu.
    pub menus: MenuFilter,
    pub auth: ChannelAuth,
    /// Its request latency and answers, for `/metrics`: counted nowhere until the server
    /// that serves it registers it in its registry.
    pub metrics: Arc<crate::metrics::ChannelMetrics>,
}

impl Channel {
    /// The channel a dialect gets when none is configured: its name, its default path, the
    /// smaller of `limit` and the dialect's own, every menu, no authentication.
    pub fn default_for(d: &'static Dialect, limit: usize) -> Channel {
        Channel {
            name: Arc::from(d.name),
            dialect: d,
            path: d.default_path.to_owned(),
            limit: d.max_screen.map_or(limit, |m| m.min(limit)),
            menus: None,
            auth: ChannelAuth::default(),
            metrics: Arc::new(crate::metrics::ChannelMetrics::new(d.name)),
        }
    }

    /// Checks a session id (1 to 128 printable characters) and keys it under this channel.
    pub fn key(&self, id: &str) -> Result<SessionKey, BadRequest> {
        SessionKey::new(Arc::clone(&self.name), id).map_err(|e| BadRequest(format!("session id: {e}")))
    }

    /// A hop on this channel, carrying its limit and menus.
    pub fn hop(&self, key: SessionKey, msisdn: Msisdn, service_code: String, input: HopInput) -> Hop {
        Hop { key, msisdn, service_code, input, limit: self.limit, menus: self.menus.clone() }
    }

    /// Whether `menu` is reachable on this channel.
    pub fn reaches(&self, menu: &str) -> bool {
        self.menus.as_ref().is_none_or(|m| m.iter().any(|id| &**id == menu))
    }
}

/// Smallest screen limit a channel may be configured with: below it no menu screen is usable.
pub const MIN_SCREEN: usize = 60;

/// Paths the server itself serves, which no channel may take.
const RESERVED: &[&str] = &["/payments", "/healthz", "/readyz", "/metrics", "/admin"];

/// The channels `config` describes, without authentication (which needs secrets): every
/// dialect at its default path when none is configured. For the server and for `njia check`,
/// which checks every menu at the limit of each channel that may reach it.
pub fn layout(config: &crate::config::Config) -> Result<Vec<Channel>, String> {
    if config.channels.is_empty() {
        return Ok(DIALECTS.iter().map(|d| Channel::default_for(d, config.screen_limit)).collect());
    }
    let mut out: Vec<Channel> = Vec::new();
    for (name, c) in &config.channels {
        let bad = |e: String| format!("[channels.{name}]: {e}");
        let dialect_name = c.dialect.as_deref().unwrap_or(name);
        let Some(d) = dialect(dialect_name) else {
            let known: Vec<_> = DIALECTS.iter().map(|d| d.name).collect();
            return Err(bad(format!("no dialect {dialect_name:?} (known: {}); set `dialect`", known.join(", "))));
        };
        if name.is_empty()
            || name.len() > 32
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad("a channel name is 1 to 32 letters, digits, '-' or '_'".into()));
        }
        let mut ch = Channel::default_for(d, config.screen_limit);
        ch.name = Arc::from(name.as_str());
        // Unless configured: the dialect's own path for a section named after it, otherwise
        // the section's name beside it (`/ussd/at-ke`, `/sms/sms-ke`).
        ch.path = c.path.clone().unwrap_or_else(|| {
            if name == d.name {
                d.default_path.to_owned()
            } else {
                let parent = d.default_path.rsplit_once('/').map_or("", |(p, _)| p);
                format!("{parent}/{name}")
            }
        });
        let path_ok = ch.path.len() > 1
            && ch.path.starts_with('/')
            && !ch.path.ends_with('/')
            && ch.path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b));
        if !path_ok {
            return Err(bad(format!("path {:?} must look like /ussd/name", ch.path)));
        }
        let clash =
            |p: &str| ch.path == p || ch.path.starts_with(&format!("{p}/")) || p.starts_with(&format!("{}/", ch.path));
        if let Some(r) = RESERVED.iter().find(|r| clash(r)) {
            return Err(bad(format!("path {:?} overlaps the server's own {r}", ch.path)));
        }
        if let Some(other) = out.iter().find(|o| clash(&o.path)) {
            return Err(bad(format!("path {:?} overlaps channel {}'s {:?}", ch.path, other.name, other.path)));
        }
        if let Some(limit) = c.screen_limit {
            if !(MIN_SCREEN..=1000).contains(&limit) {
                return Err(bad(format!("screen_limit {limit} is not between {MIN_SCREEN} and 1000")));
            }
            if let Some(max) = d.max_screen.filter(|m| limit > *m) {
                tracing::warn!(channel = %name, limit, max, "screen_limit is above what the dialect documents");
            }
            ch.limit = limit;
        }
        ch.menus = c.menus.as_ref().map(|m| Arc::from(m.clone()));
        out.push(ch);
    }
    Ok(out)
}

/// The checker's view of USSD channels: name, limit and menus.
pub fn screen_limits(channels: &[Channel]) -> Vec<crate::check::ScreenLimit> {
    channels
        .iter()
        .filter(|c| c.dialect.telco.is_some())
        .map(|c| crate::check::ScreenLimit { channel: c.name.to_string(), limit: c.limit, menus: c.menus.clone() })
        .collect()
}

/// The channels a server serves, found by path.
#[derive(Debug, Default)]
pub struct Channels {
    list: Vec<Arc<Channel>>,
}

impl Channels {
    pub fn new(list: Vec<Arc<Channel>>) -> Channels {
        // Longest path first, so `/ussd/at/ke` wins over `/ussd/at` for its own requests.
        let mut list = list;
        list.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        Channels { list }
    }

    /// Every dialect on its default path with the default limit.
    pub fn defaults(limit: usize) -> Channels {
        Channels::new(DIALECTS.iter().map(|d| Arc::new(Channel::default_for(d, limit))).collect())
    }

    /// The channel serving `path` and the part of the path below the channel's.
    pub fn find<'p>(&self, path: &'p str) -> Option<(&Arc<Channel>, &'p str)> {
        self.list.iter().find_map(|c| {
            let rest = path.strip_prefix(c.path.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then_some((c, rest))
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Channel>> {
        self.list.iter()
    }

    pub fn by_name(&self, name: &str) -> Option<&Arc<Channel>> {
        self.list.iter().find(|c| &*c.name == name)
    }
}

/// Answers a request a channel could not parse: 400 with the reason, and a log line with the
/// masked phone number when one could be read.
pub fn refuse(channel: &str, phone: Option<String>, e: BadRequest) -> Response {
    let e = BadRequest(mask_digit_runs(&e.0));
    tracing::warn!(channel, msisdn = phone.as_deref().unwrap_or("-"), reason = %e.0, "malformed request refused");
    e.into_response()
}

/// The reason with every run of seven or more digits masked: a parser's error can quote the
/// value it refused (serde_json does, for a phone number sent as a JSON number), and phone
/// numbers never reach a log or a reply in full.
pub fn mask_digit_runs(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 7 {
            out.push_str(&crate::types::mask_raw_phone(run));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in reason.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The masked phone number in a JSON body's `field`, for the log line of a refused request.
pub fn json_phone(body: &[u8], field: &str) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(body).ok().and_then(|v| {
        v.get(field).and_then(|m| match m {
            serde_json::Value::String(s) => Some(crate::types::mask_raw_phone(s)),
            serde_json::Value::Number(n) => Some(crate::types::mask_raw_phone(&n.to_string())),
            _ => None,
        })
    })
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

/// A `200 text/plain` answer, the reply of every hop in the plain-text dialects. Built with a
/// constant header rather than axum's `(headers, body)` tuple, which parses the header name
/// and value again on every response.
pub fn plain_text(body: String) -> Response {
    let mut response = Response::new(axum::body::Body::from(body));
    response
        .headers_mut()
        .insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// Parses an `application/x-www-form-urlencoded` body into its pairs. Never fails: bytes that
/// are not UTF-8 become U+FFFD and then fail the field's own validation with a clear reason.
///
/// The WHATWG rules that `form_urlencoded::parse` follows (split on `&`, skip empty pieces,
/// split at the first `=`, `+` is a space, `%XX` a byte, a malformed escape stays as typed),
/// with a fast path: a name or value without `+` or `%`, which is most of them, is borrowed
/// after one scan. This runs on every hop of the form dialects, and the general decoder was
/// a tenth of the server's own instructions per hop.
pub fn form_pairs(body: &[u8]) -> FormPairs<'_> {
    // Telco callbacks carry five to twelve fields: size once instead of growing.
    let mut pairs = Vec::with_capacity(12);
    for piece in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match piece.iter().position(|&b| b == b'=') {
            Some(i) => (&piece[..i], &piece[i + 1..]),
            None => (piece, &[][..]),
        };
        pairs.push((form_decode(name), form_decode(value)));
    }
    pairs
}

/// The first value of each of `names` in an `application/x-www-form-urlencoded` body, decoded
/// exactly as [`form_pairs`] decodes it (`None` for a name the body lacks): what a hop parser
/// reads, without building every pair.
///
/// A body that is valid UTF-8 (every telco's) is checked once and split on its ASCII `&` and
/// `=`, which never cut a character, so no piece is checked again; a plain name is compared
/// as it is, and only the values asked for are decoded. Any other body goes through
/// [`form_pairs`], which decodes escapes before it replaces bytes that are not UTF-8.
pub fn form_fields<'a, const N: usize>(body: &'a [u8], names: [&str; N]) -> [Option<Cow<'a, str>>; N] {
    let mut found: [Option<Cow<'a, str>>; N] = [const { None }; N];
    let Ok(text) = std::str::from_utf8(body) else {
        for (name, value) in form_pairs(body) {
            if let Some(i) = names.iter().position(|n| *n == name)
                && found[i].is_none()
            {
                found[i] = Some(value);
            }
        }
        return found;
    };
    let mut missing = N;
    for piece in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        let name = form_decode_str(name);
        let Some(i) = names.iter().position(|n| *n == name) else { continue };
        if found[i].is_none() {
            found[i] = Some(form_decode_str(value));
            missing -= 1;
            if missing == 0 {
                break;
            }
        }
    }
    found
}

/// A name or value of a body already known to be UTF-8: borrowed as it is without `+` or `%`.
fn form_decode_str(part: &str) -> Cow<'_, str> {
    if part.bytes().any(|b| b == b'+' || b == b'%') { decode_escapes(part.as_bytes()) } else { Cow::Borrowed(part) }
}

/// One form-encoded name or value, decoded (see [`form_pairs`]).
fn form_decode(part: &[u8]) -> Cow<'_, str> {
    if !part.iter().any(|&b| b == b'+' || b == b'%') {
        // `from_utf8` first: its validation is much faster than the lossy decoder's.
        return match std::str::from_utf8(part) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(part),
        };
    }
    decode_escapes(part)
}

/// A name or value holding `+` or `%`, decoded into a new string.
fn decode_escapes(part: &[u8]) -> Cow<'_, str> {
    let hex = |b: Option<&u8>| match b? {
        b @ b'0'..=b'9' => Some(b - b'0'),
        b @ b'a'..=b'f' => Some(b - b'a' + 10),
        b @ b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let mut out = Vec::with_capacity(part.len());
    let mut rest = part;
    // Plain runs are copied whole; only `+` and `%` are looked at one by one.
    while let Some(i) = rest.iter().position(|&b| b == b'+' || b == b'%') {
        out.extend_from_slice(&rest[..i]);
        if rest[i] == b'+' {
            out.push(b' ');
            rest = &rest[i + 1..];
            continue;
        }
        match (hex(rest.get(i + 1)), hex(rest.get(i + 2))) {
            (Some(hi), Some(lo)) => {
                out.push(hi << 4 | lo);
                rest = &rest[i + 3..];
            }
            _ => {
                out.push(b'%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.extend_from_slice(rest);
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// Longest latest input accepted: a screen's answer, never a whole session.
pub const MAX_INPUT: usize = 512;

/// True when `s` is a whole USSD code as dialled, with its `*` and `#`: `*384#` or
/// `*384*1*2#`. (Not the hub's test of a first hop's text, which is the digits after the code.)
pub fn is_dialled_code(s: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The fast form parser reads every body exactly as the WHATWG parser does.
        #[test]
        fn form_pairs_read_bodies_as_the_whatwg_parser_does(body in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::sample::select(b"&=+%*#2Aaf0Z ".to_vec()),
                proptest::num::u8::ANY,
            ],
            0..64,
        )) {
            let ours = form_pairs(&body);
            let theirs: Vec<_> = form_urlencoded::parse(&body).collect();
            proptest::prop_assert_eq!(ours, theirs);
        }
    }

    proptest::proptest! {
        /// Reading only some fields gives what the first pair of each name holds.
        #[test]
        fn form_fields_are_the_first_pair_of_each_name(body in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::sample::select(b"&=+%ab2A".to_vec()),
                proptest::num::u8::ANY,
            ],
            0..48,
        )) {
            let names = ["a", "b", "a b", "ab", ""];
            let pairs = form_pairs(&body);
            let want: Vec<Option<&str>> = names.iter().map(|n| field(&pairs, n)).collect();
            let got = form_fields(&body, names);
            proptest::prop_assert_eq!(got.iter().map(|v| v.as_deref()).collect::<Vec<_>>(), want);
        }
    }

    #[test]
    fn form_fields_read_a_hop_and_borrow_plain_values() {
        let body = b"sessionId=AT1&networkCode=63902&phoneNumber=%2B254711000111&text=1%2A2&text=3&sessionId=x";
        let [session, phone, text, code] = form_fields(body, ["sessionId", "phoneNumber", "text", "serviceCode"]);
        assert_eq!(session.as_deref(), Some("AT1"));
        assert!(matches!(session, Some(Cow::Borrowed(_))), "plain values are borrowed");
        assert_eq!(phone.as_deref(), Some("+254711000111"));
        assert_eq!(text.as_deref(), Some("1*2"), "the first of a repeated name");
        assert_eq!(code, None);
        let [lossy] = form_fields(b"t=%C3%A9\xff", ["t"]);
        assert_eq!(lossy.as_deref(), Some("\u{e9}\u{fffd}"), "escapes are decoded before bytes are replaced");
    }

    #[test]
    fn form_pairs_decode_escapes_and_borrow_plain_text() {
        let pairs = form_pairs(b"sessionId=AT1&phoneNumber=%2B254711000111&text=1%2A2+3&bad=%zz%4&=x&flag");
        let got: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(
            got,
            [
                ("sessionId", "AT1"),
                ("phoneNumber", "+254711000111"),
                ("text", "1*2 3"),
                ("bad", "%zz%4"),
                ("", "x"),
                ("flag", "")
            ]
        );
        assert!(matches!(pairs[0].1, Cow::Borrowed(_)), "plain values are borrowed");
    }

    #[test]
    fn a_dialled_code_is_a_whole_code_with_its_star_and_hash() {
        let longest = format!("*{}#", "1".repeat(38));
        let too_long = format!("*{}#", "1".repeat(39));
        let cases: &[(&str, bool)] = &[
            ("*384#", true),
            ("*384*1*2#", true),
            ("**#", true),
            (&longest, true),
            (&too_long, false),
            ("*#", false),
            ("*384", false),
            ("384#", false),
            ("1*2", false),
            ("", false),
            ("*38a#", false),
            ("*384 #", false),
        ];
        for (text, want) in cases {
            assert_eq!(is_dialled_code(text), *want, "{text:?}");
        }
    }

    #[test]
    fn a_refusal_never_quotes_a_phone_number() {
        // What serde_json says of a phone number sent as a JSON number.
        let body = br#"{"Type":"initiation","Mobile":254711000999,"SessionId":"s","Message":"*384#"}"#;
        let e = match crate::channel::hubtel::parse(body, &Channel::default_for(&hubtel::DIALECT, 160)) {
            Err(e) => e,
            Ok(_) => panic!("a numeric Mobile is refused"),
        };
        assert!(e.0.contains("254711000999"), "the raw reason quotes it: {}", e.0);
        let masked = mask_digit_runs(&e.0);
        assert!(!masked.contains("254711000999") && masked.contains("+2547****999"), "{masked}");
        assert_eq!(mask_digit_runs("line 1 column 40"), "line 1 column 40");
        assert_eq!(json_phone(br#"{"msisdn":254711000999}"#, "msisdn").as_deref(), Some("+2547****999"));
    }
}
