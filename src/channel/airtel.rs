//! Airtel (Comviva Flares HTTP pull): a GET per hop with `SessionID`, `MSISDN` and `input`,
//! the code without `*` and `#` on the first hop (`384*1`) and the latest input after; the
//! reply is the screen as the body, with `Freeflow: FC` to continue or `FB` to end. A request
//! with `clean` is the network cleaning up a session.

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::channel::{BadRequest, Dialect, MAX_INPUT, field, form_pairs, refuse, session_key};
use crate::hub::{Hop, HopInput, Reply};
use crate::menu::normalize_code;
use crate::server::AppState;
use crate::types::{Msisdn, mask_raw_phone};

pub const CHANNEL: &str = "airtel";
pub const HOP_PATH: &str = "/ussd/airtel";

pub const DIALECT: Dialect = Dialect { name: CHANNEL, hop_path: HOP_PATH, hop: None, routes: Some(routes) };

fn routes() -> Router<Arc<AppState>> {
    Router::new().route(HOP_PATH, get(hop))
}

/// What an Airtel request is.
#[derive(Debug)]
pub enum Parsed {
    Hop(Hop),
    /// The network cleans up a session (`clean`, with an `error` reason).
    Cleanup,
}

/// Parses a request from its query string. Pure, for the table-driven tests.
pub fn parse(query: &str, limit: usize) -> Result<Parsed, BadRequest> {
    let pairs = form_pairs(query.as_bytes());
    if field(&pairs, "clean").is_some() {
        return Ok(Parsed::Cleanup);
    }
    let required =
        |name: &str| field(&pairs, name).ok_or_else(|| BadRequest(format!("parameter '{name}' is required")));
    let key = session_key(CHANNEL, required("SessionID")?)?;
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
    Ok(Parsed::Hop(Hop {
        key,
        msisdn,
        service_code: code,
        input: HopInput::Latest { text: input.to_owned(), first: false, sequence: None },
        limit,
    }))
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

async fn hop(State(app): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    match parse(&query, app.screen_limit) {
        Ok(Parsed::Hop(hop)) => format_reply(&app.hub.hop(hop).await),
        Ok(Parsed::Cleanup) => {
            tracing::info!(channel = CHANNEL, "session cleaned up by the network");
            "OK".into_response()
        }
        Err(e) => refuse(CHANNEL, field(&form_pairs(query.as_bytes()), "MSISDN").map(mask_raw_phone), e),
    }
}
