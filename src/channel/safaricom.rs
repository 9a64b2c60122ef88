//! Safaricom direct USSD: a GET per hop with `ORIG` (the phone), `DEST` (the code, `384`),
//! `SESSION_ID` and `USSD_PARAMS`, the whole session's input so far, digits dialled with the
//! code included; `CON `/`END ` plain-text replies. (Praekelt's Vumi transport is the best
//! public description; its test vectors are the table in `tests/dialects.rs`.)

use std::sync::Arc;

use axum::response::Response;

use crate::BoxFuture;
use crate::channel::telco::{self, Telco, Walk, WireRequest};
use crate::channel::{BadRequest, Channel, ChannelRequest, Dialect, field, form_pairs, refuse};
use crate::hub::{Hop, HopInput};
use crate::menu::normalize_code;
use crate::server::AppState;
use crate::types::{Msisdn, mask_raw_phone};

pub const CHANNEL: &str = "safaricom";

/// Longest `USSD_PARAMS` accepted.
const MAX_PARAMS: usize = 2048;

/// Hops are GETs of the channel path.
pub const DIALECT: Dialect = Dialect {
    name: CHANNEL,
    default_path: "/ussd/safaricom",
    max_screen: None,
    handle,
    telco: Some(&Telco { request: telco_request, read: telco::read_con_end }),
};

fn handle(app: Arc<AppState>, ch: Arc<Channel>, req: ChannelRequest) -> BoxFuture<'static, Response> {
    crate::channel::get_hops(app, ch, req, hop)
}

/// How Safaricom sends hop `k`: the code's digits in `DEST`, everything typed since the dial
/// (digits dialled with the code first) in `USSD_PARAMS`.
fn telco_request(w: &Walk<'_>, k: usize) -> WireRequest {
    let params = w.cumulative(k);
    telco::get(w, &[("ORIG", w.phone), ("DEST", w.split_code().0), ("SESSION_ID", w.session), ("USSD_PARAMS", &params)])
}

/// Parses a hop from the query string. Pure, for the table-driven tests.
pub fn parse_hop(query: &str, ch: &Channel) -> Result<Hop, BadRequest> {
    let pairs = form_pairs(query.as_bytes());
    let required =
        |name: &str| field(&pairs, name).ok_or_else(|| BadRequest(format!("parameter '{name}' is required")));
    let key = ch.key(required("SESSION_ID")?)?;
    let msisdn = Msisdn::parse(required("ORIG")?).map_err(|e| BadRequest(format!("ORIG: {e}")))?;
    let dest = required("DEST")?;
    if dest.is_empty() || dest.len() > 32 || !dest.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'#') {
        return Err(BadRequest("DEST must be a code such as 384".into()));
    }
    let params = field(&pairs, "USSD_PARAMS").unwrap_or_default();
    if params.len() > MAX_PARAMS {
        return Err(BadRequest(format!("USSD_PARAMS is longer than {MAX_PARAMS} bytes")));
    }
    Ok(ch.hop(key, msisdn, format!("*{}#", normalize_code(dest)), HopInput::Cumulative(params.to_owned())))
}

async fn hop(app: Arc<AppState>, ch: Arc<Channel>, query: String) -> Response {
    let hop = match parse_hop(&query, &ch) {
        Ok(h) => h,
        Err(e) => {
            return refuse(&ch.name, field(&form_pairs(query.as_bytes()), "ORIG").map(mask_raw_phone), e);
        }
    };
    let reply = app.hub().hop(hop).await;
    // The same `CON `/`END ` text as Africa's Talking.
    crate::channel::plain_text(crate::channel::africastalking::format_reply(&reply))
}
