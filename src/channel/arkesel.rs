//! Arkesel (Ghana): JSON POSTs with `sessionID`, `msisdn`, `newSession` and the latest input in
//! `userData`; JSON replies with `message` and `continueSession`. The request names no code:
//! a dial string in `userData` on the first hop routes it, otherwise the first menu answers.

use std::sync::Arc;

use axum::body::Bytes;
use axum::response::Response;
use serde::Deserialize;

use crate::BoxFuture;
use crate::channel::telco::{self, Screen, Telco, Walk, WireReply, WireRequest};
use crate::channel::{
    BadRequest, Channel, ChannelRequest, Dialect, HopSink, MAX_INPUT, is_dialled_code, json_phone, json_reply, refuse,
};
use crate::hub::{Hop, HopInput, Reply};
use crate::types::Msisdn;

pub const CHANNEL: &str = "arkesel";
/// Hops are JSON POSTs to the channel path.
pub const DIALECT: Dialect = Dialect {
    name: CHANNEL,
    default_path: "/ussd/arkesel",
    max_screen: None,
    handle,
    telco: Some(&Telco { request: telco_request, read: telco_read }),
};

fn handle(sink: HopSink, ch: Arc<Channel>, req: ChannelRequest) -> BoxFuture<'static, Response> {
    crate::channel::post_hops(sink, ch, req, hop)
}

/// How Arkesel sends hop `k`: `newSession` with the dial string first, then the latest input.
fn telco_request(w: &Walk<'_>, k: usize) -> WireRequest {
    let data = if k == 0 { w.code } else { w.last(k) };
    telco::json_post(
        w,
        "",
        serde_json::json!({"sessionID": w.session, "userID": "NJIA", "newSession": k == 0, "msisdn": w.phone,
            "userData": data, "network": "MTN"}),
    )
}

fn telco_read(r: &WireReply) -> Result<Screen, String> {
    telco::ok(r)?;
    let v = r.json()?;
    let end = v.get("continueSession").and_then(serde_json::Value::as_bool).ok_or("reply has no continueSession")?;
    Ok(Screen { text: telco::json_str(&v, "/message")?, end: !end })
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
pub fn parse(body: &[u8], ch: &Channel) -> Result<Parsed, BadRequest> {
    let r: Request = serde_json::from_slice(body).map_err(|e| BadRequest(format!("not an Arkesel request: {e}")))?;
    let key = ch.key(&r.session_id)?;
    let msisdn = Msisdn::parse(&r.msisdn).map_err(|e| BadRequest(format!("msisdn: {e}")))?;
    if r.user_data.len() > MAX_INPUT || r.user_id.len() > 64 {
        return Err(BadRequest(format!("userData is longer than {MAX_INPUT} bytes, or userID than 64")));
    }
    let service_code = if r.new_session && is_dialled_code(&r.user_data) { r.user_data.clone() } else { String::new() };
    let hop =
        ch.hop(key, msisdn, service_code, HopInput::Latest { text: r.user_data, first: r.new_session, sequence: None });
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

async fn hop(sink: HopSink, ch: Arc<Channel>, body: Bytes) -> Response {
    match parse(&body, &ch) {
        Ok(parsed) => {
            let reply = sink.hop(parsed.hop.clone()).await;
            json_reply(format_reply(&parsed, &reply))
        }
        Err(e) => refuse(&ch.name, json_phone(&body, "msisdn"), e),
    }
}
