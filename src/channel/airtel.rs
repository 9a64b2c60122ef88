//! Airtel (Comviva Flares HTTP pull): a GET per hop with `SessionID`, `MSISDN` and `input`,
//! the code without `*` and `#` on the first hop (`384*1`) and the latest input after; the
//! reply is the screen as the body, with `Freeflow: FC` to continue or `FB` to end. A request
//! with `clean` is the network cleaning up a session.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};

use crate::BoxFuture;
use crate::channel::telco::{self, Screen, Telco, Walk, WireReply, WireRequest};
use crate::channel::{BadRequest, Channel, ChannelRequest, Dialect, HopSink, MAX_INPUT, field, form_pairs, refuse};
use crate::hub::{Hop, HopInput, Reply};
use crate::menu::normalize_code;
use crate::types::{Msisdn, mask_raw_phone};

pub const CHANNEL: &str = "airtel";

/// Hops and cleanups are GETs of the channel path.
pub const DIALECT: Dialect = Dialect {
    name: CHANNEL,
    default_path: "/ussd/airtel",
    max_screen: None,
    handle,
    telco: Some(&Telco { request: telco_request, read: telco_read }),
};

fn handle(sink: HopSink, ch: Arc<Channel>, req: ChannelRequest) -> BoxFuture<'static, Response> {
    crate::channel::get_hops(sink, ch, req, hop)
}

/// How Airtel sends hop `k`: the code without `*` and `#` first (`384*5`), then the latest input.
fn telco_request(w: &Walk<'_>, k: usize) -> WireRequest {
    let code = w.code.trim_start_matches('*').trim_end_matches('#');
    let input = if k == 0 { code } else { w.last(k) };
    telco::get(w, &[("SessionID", w.session), ("MSISDN", w.phone), ("MSC", "airtel"), ("input", input)])
}

/// Whether the session goes on is the `Freeflow` header: `FC` continues, `FB` ends.
fn telco_read(r: &WireReply) -> Result<Screen, String> {
    telco::ok(r)?;
    match r.header("freeflow") {
        Some("FC") => Ok(Screen { text: r.body.clone(), end: false }),
        Some("FB") => Ok(Screen { text: r.body.clone(), end: true }),
        other => Err(format!("Freeflow header is {other:?}, not FC or FB")),
    }
}

/// What an Airtel request is.
#[derive(Debug)]
pub enum Parsed {
    Hop(Hop),
    /// The network cleans up a session (`clean`, with an `error` reason).
    Cleanup,
}

/// Parses a request from its query string. Pure, for the table-driven tests.
pub fn parse(query: &str, ch: &Channel) -> Result<Parsed, BadRequest> {
    let pairs = form_pairs(query.as_bytes());
    if field(&pairs, "clean").is_some() {
        return Ok(Parsed::Cleanup);
    }
    let required =
        |name: &str| field(&pairs, name).ok_or_else(|| BadRequest(format!("parameter '{name}' is required")));
    let key = ch.key(required("SessionID")?)?;
    let msisdn = Msisdn::parse(required("MSISDN")?).map_err(|e| BadRequest(format!("MSISDN: {e}")))?;
    let input = field(&pairs, "input").unwrap_or_default();
    if input.len() > MAX_INPUT {
        return Err(BadRequest(format!("input is longer than {MAX_INPUT} bytes")));
    }
    // Airtel has no new-session signal: the first input is the code (`384*1`), which the hub
    // recognises when it has no session for this id.
    let code = if !input.is_empty() && input.bytes().all(|b| b.is_ascii_digit() || b == b'*') {
        format!("*{}#", normalize_code(input))
    } else {
        String::new()
    };
    Ok(Parsed::Hop(ch.hop(
        key,
        msisdn,
        code,
        HopInput::Latest { text: input.to_owned(), first: false, sequence: None },
    )))
}

/// The reply: the screen as the body, `Freeflow` saying whether the session goes on.
pub fn format_reply(reply: &Reply) -> Response {
    let freeflow = if reply.end { "FB" } else { "FC" };
    (
        [("content-type", "text/plain; charset=utf-8"), ("Freeflow", freeflow), ("charge", "N"), ("amount", "0")],
        reply.text.clone(),
    )
        .into_response()
}

async fn hop(sink: HopSink, ch: Arc<Channel>, query: String) -> Response {
    match parse(&query, &ch) {
        Ok(Parsed::Hop(hop)) => format_reply(&sink.hop(hop).await),
        Ok(Parsed::Cleanup) => {
            tracing::info!(channel = %ch.name, "session cleaned up by the network");
            "OK".into_response()
        }
        Err(e) => refuse(&ch.name, field(&form_pairs(query.as_bytes()), "MSISDN").map(mask_raw_phone), e),
    }
}
