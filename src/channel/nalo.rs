//! Nalo Solutions (Ghana, Nigeria): JSON POSTs with `SESSIONID`, `MSISDN`, `USERID` (the
//! account), `MSGTYPE` (true on the first hop) and the latest input in `USERDATA`; JSON replies
//! with `MSG` and `MSGTYPE` (true continues, false ends). Screens hold at most 120 characters.
//! The request names no code: a dial string in `USERDATA` on the first hop routes it,
//! otherwise the channel's first menu answers.

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

pub const CHANNEL: &str = "nalo";

/// Nalo's documented limit on `MSG` (and `USERDATA`).
pub const MAX_SCREEN: usize = 120;

/// Hops are JSON POSTs to the channel path.
pub const DIALECT: Dialect = Dialect {
    name: CHANNEL,
    default_path: "/ussd/nalo",
    max_screen: Some(MAX_SCREEN),
    handle,
    telco: Some(&Telco { request: telco_request, read: telco_read }),
};

fn handle(sink: HopSink, ch: Arc<Channel>, req: ChannelRequest) -> BoxFuture<'static, Response> {
    crate::channel::post_hops(sink, ch, req, hop)
}

/// How Nalo sends hop `k`: `MSGTYPE` true with the dial string first, then the latest input.
fn telco_request(w: &Walk<'_>, k: usize) -> WireRequest {
    let data = if k == 0 { w.code } else { w.last(k) };
    telco::json_post(
        w,
        "",
        serde_json::json!({"USERID": "NALOTest", "MSISDN": w.phone, "USERDATA": data, "MSGTYPE": k == 0,
            "NETWORK": "MTN", "SESSIONID": w.session}),
    )
}

fn telco_read(r: &WireReply) -> Result<Screen, String> {
    telco::ok(r)?;
    let v = r.json()?;
    let more = v.get("MSGTYPE").and_then(serde_json::Value::as_bool).ok_or("reply has no boolean MSGTYPE")?;
    Ok(Screen { text: telco::json_str(&v, "/MSG")?, end: !more })
}

#[derive(Deserialize)]
#[serde(rename_all = "UPPERCASE")]
struct Request {
    #[serde(rename = "SESSIONID")]
    session_id: serde_json::Value,
    #[serde(rename = "USERID", default)]
    user_id: String,
    msisdn: serde_json::Value,
    #[serde(default)]
    userdata: String,
    msgtype: serde_json::Value,
    #[serde(default)]
    network: String,
}

/// A parsed hop and what the reply must echo.
#[derive(Debug)]
pub struct Parsed {
    pub hop: Hop,
    pub user_id: String,
    pub msisdn: String,
}

/// A JSON string or number as text (gateways are not consistent about ids and phones).
fn text(v: &serde_json::Value, name: &str) -> Result<String, BadRequest> {
    match v {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        _ => Err(BadRequest(format!("{name} must be a string"))),
    }
}

/// Parses a request. Pure, for the table-driven tests and the fuzzer.
pub fn parse(body: &[u8], ch: &Channel) -> Result<Parsed, BadRequest> {
    let r: Request = serde_json::from_slice(body).map_err(|e| BadRequest(format!("not a Nalo request: {e}")))?;
    let key = ch.key(&text(&r.session_id, "SESSIONID")?)?;
    let phone = text(&r.msisdn, "MSISDN")?;
    let msisdn = Msisdn::parse(&phone).map_err(|e| BadRequest(format!("MSISDN: {e}")))?;
    // Documented as a boolean; a string "true"/"false" is read the same.
    let first = match &r.msgtype {
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::String(s) if s.eq_ignore_ascii_case("true") => true,
        serde_json::Value::String(s) if s.eq_ignore_ascii_case("false") => false,
        _ => return Err(BadRequest("MSGTYPE must be true (first hop) or false".into())),
    };
    if r.userdata.len() > MAX_INPUT || r.user_id.len() > 64 || r.network.len() > 32 {
        return Err(BadRequest(format!(
            "USERDATA is longer than {MAX_INPUT} bytes, or USERID than 64, or NETWORK than 32"
        )));
    }
    let service_code = if first && is_dialled_code(&r.userdata) { r.userdata.clone() } else { String::new() };
    let hop = ch.hop(key, msisdn, service_code, HopInput::Latest { text: r.userdata, first, sequence: None });
    Ok(Parsed { hop, user_id: r.user_id, msisdn: phone })
}

/// The JSON reply: `MSGTYPE` true continues the session, false ends it.
pub fn format_reply(parsed: &Parsed, reply: &Reply) -> serde_json::Value {
    serde_json::json!({
        "USERID": parsed.user_id,
        "MSISDN": parsed.msisdn,
        "MSG": reply.text,
        "MSGTYPE": !reply.end,
    })
}

async fn hop(sink: HopSink, ch: Arc<Channel>, body: Bytes) -> Response {
    match parse(&body, &ch) {
        Ok(parsed) => {
            let reply = sink.hop(parsed.hop.clone()).await;
            json_reply(format_reply(&parsed, &reply))
        }
        Err(e) => refuse(&ch.name, json_phone(&body, "MSISDN"), e),
    }
}
