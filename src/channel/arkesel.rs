//! Arkesel (Ghana): JSON POSTs with `sessionID`, `msisdn`, `newSession` and the latest input in
//! `userData`; JSON replies with `message` and `continueSession`. The request names no code:
//! a dial string in `userData` on the first hop routes it, otherwise the first menu answers.

use std::sync::Arc;

use axum::body::Bytes;
use axum::response::Response;
use serde::Deserialize;

use crate::BoxFuture;
use crate::channel::{BadRequest, Dialect, MAX_INPUT, is_dial_string, json_phone, json_reply, refuse, session_key};
use crate::hub::{Hop, HopInput, Reply};
use crate::server::AppState;
use crate::types::Msisdn;

pub const CHANNEL: &str = "arkesel";
pub const HOP_PATH: &str = "/ussd/arkesel";

pub const DIALECT: Dialect = Dialect { name: CHANNEL, hop_path: HOP_PATH, hop: Some(hop_boxed), routes: None };

fn hop_boxed(app: Arc<AppState>, body: Bytes) -> BoxFuture<'static, Response> {
    Box::pin(hop(app, body))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    #[serde(rename = "sessionID")]
    session_id: String,
    #[serde(rename = "userID", default)]
    user_id: String,
    new_session: bool,
    msisdn: String,
    #[serde(default)]
    user_data: String,
}

/// A parsed hop and what the reply must echo.
#[derive(Debug)]
pub struct Parsed {
    pub hop: Hop,
    pub session_id: String,
    pub user_id: String,
    pub msisdn: String,
}

/// Parses a request. Pure, for the table-driven tests.
pub fn parse(body: &[u8], limit: usize) -> Result<Parsed, BadRequest> {
    let r: Request = serde_json::from_slice(body).map_err(|e| BadRequest(format!("not an Arkesel request: {e}")))?;
    let key = session_key(CHANNEL, &r.session_id)?;
    let msisdn = Msisdn::parse(&r.msisdn).map_err(|e| BadRequest(format!("msisdn: {e}")))?;
    if r.user_data.len() > MAX_INPUT || r.user_id.len() > 64 {
        return Err(BadRequest(format!("userData is longer than {MAX_INPUT} bytes, or userID than 64")));
    }
    let service_code = if r.new_session && is_dial_string(&r.user_data) { r.user_data.clone() } else { String::new() };
    let hop = Hop {
        key,
        msisdn,
        service_code,
        input: HopInput::Latest { text: r.user_data, first: r.new_session, sequence: None },
        limit,
    };
    Ok(Parsed { hop, session_id: r.session_id, user_id: r.user_id, msisdn: r.msisdn })
}

pub fn format_reply(parsed: &Parsed, reply: &Reply) -> serde_json::Value {
    serde_json::json!({
        "userID": parsed.user_id,
        "sessionID": parsed.session_id,
        "message": reply.text,
        "continueSession": !reply.end,
        "msisdn": parsed.msisdn,
    })
}

async fn hop(app: Arc<AppState>, body: Bytes) -> Response {
    match parse(&body, app.screen_limit) {
        Ok(parsed) => {
            let reply = app.hub.hop(parsed.hop.clone()).await;
            json_reply(format_reply(&parsed, &reply))
        }
        Err(e) => refuse(CHANNEL, json_phone(&body, "msisdn"), e),
    }
}
