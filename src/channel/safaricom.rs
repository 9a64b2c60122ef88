//! Safaricom direct USSD: a GET per hop with `ORIG` (the phone), `DEST` (the code, `384`),
//! `SESSION_ID` and `USSD_PARAMS`, the whole session's input so far, digits dialled with the
//! code included; `CON `/`END ` plain-text replies. (Praekelt's Vumi transport is the best
//! public description; its test vectors are the table in `tests/dialects.rs`.)

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::channel::{BadRequest, Dialect, field, form_pairs, refuse, session_key};
use crate::hub::{Hop, HopInput};
use crate::menu::normalize_code;
use crate::server::AppState;
use crate::types::{Msisdn, mask_raw_phone};

pub const CHANNEL: &str = "safaricom";
pub const HOP_PATH: &str = "/ussd/safaricom";

/// Longest `USSD_PARAMS` accepted.
const MAX_PARAMS: usize = 2048;

pub const DIALECT: Dialect = Dialect { name: CHANNEL, hop_path: HOP_PATH, hop: None, routes: Some(routes) };

fn routes() -> Router<Arc<AppState>> {
    Router::new().route(HOP_PATH, get(hop))
}

/// Parses a hop from the query string. Pure, for the table-driven tests.
pub fn parse_hop(query: &str, limit: usize) -> Result<Hop, BadRequest> {
    let pairs = form_pairs(query.as_bytes());
    let required =
        |name: &str| field(&pairs, name).ok_or_else(|| BadRequest(format!("parameter '{name}' is required")));
    let key = session_key(CHANNEL, required("SESSION_ID")?)?;
    let msisdn = Msisdn::parse(required("ORIG")?).map_err(|e| BadRequest(format!("ORIG: {e}")))?;
    let dest = required("DEST")?;
    if dest.is_empty() || dest.len() > 32 || !dest.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'#') {
        return Err(BadRequest("DEST must be a code such as 384".into()));
    }
    let params = field(&pairs, "USSD_PARAMS").unwrap_or_default();
    if params.len() > MAX_PARAMS {
        return Err(BadRequest(format!("USSD_PARAMS is longer than {MAX_PARAMS} bytes")));
    }
    Ok(Hop {
        key,
        msisdn,
        service_code: format!("*{}#", normalize_code(dest)),
        input: HopInput::Cumulative(params.to_owned()),
        limit,
    })
}

async fn hop(State(app): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let hop = match parse_hop(&query, app.screen_limit) {
        Ok(h) => h,
        Err(e) => {
            return refuse(CHANNEL, field(&form_pairs(query.as_bytes()), "ORIG").map(mask_raw_phone), e);
        }
    };
    let reply = app.hub.hop(hop).await;
    // The same `CON `/`END ` text as Africa's Talking.
    ([("content-type", "text/plain; charset=utf-8")], crate::channel::africastalking::format_reply(&reply))
        .into_response()
}
