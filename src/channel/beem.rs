//! Beem Africa USSD Hub (Tanzania): JSON POSTs with `command` initiate / continue / terminate,
//! the latest input in `payload.response` and a hop counter in `payload.request_id`; JSON
//! replies with `command` continue / terminate and the screen in `payload.request`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::response::Response;
use serde::Deserialize;

use crate::BoxFuture;
use crate::channel::telco::{self, Screen, Telco, Walk, WireReply, WireRequest};
use crate::channel::{BadRequest, Channel, ChannelRequest, Dialect, MAX_INPUT, json_phone, json_reply, refuse};
use crate::hub::{Hop, HopInput, Reply};
use crate::server::AppState;
use crate::types::Msisdn;

pub const CHANNEL: &str = "beem";
/// Hops are JSON POSTs to the channel path.
pub const DIALECT: Dialect = Dialect {
    name: CHANNEL,
    default_path: "/ussd/beem",
    max_screen: None,
    handle,
    telco: Some(&Telco { request: telco_request, read: telco_read }),
};

fn handle(app: Arc<AppState>, ch: Arc<Channel>, req: ChannelRequest) -> BoxFuture<'static, Response> {
    crate::channel::post_hops(app, ch, req, hop)
}

/// How Beem sends hop `k`: `initiate` with a 0 response (Beem names no code), then `continue`
/// with the latest input; `request_id` counts hops.
fn telco_request(w: &Walk<'_>, k: usize) -> WireRequest {
    let response = if k == 0 { serde_json::json!(0) } else { serde_json::json!(w.last(k)) };
    telco::json_post(
        w,
        "",
        serde_json::json!({"command": if k == 0 { "initiate" } else { "continue" }, "msisdn": w.phone,
            "session_id": w.session, "operator": "vodacom", "payload": {"request_id": k, "response": response}}),
    )
}

fn telco_read(r: &WireReply) -> Result<Screen, String> {
    telco::ok(r)?;
    let v = r.json()?;
    Ok(Screen { text: telco::json_str(&v, "/payload/request")?, end: telco::json_str(&v, "/command")? == "terminate" })
}

#[derive(Deserialize)]
struct Request {
    command: String,
    msisdn: String,
    session_id: String,
    #[serde(default)]
    operator: String,
    #[serde(default)]
    payload: Payload,
}

#[derive(Deserialize, Default)]
struct Payload {
    #[serde(default)]
    request_id: Option<serde_json::Value>,
    /// The input: a string, or the number 0 on `initiate`.
    #[serde(default)]
    response: Option<serde_json::Value>,
}

/// A parsed Beem request and what the reply must echo.
#[derive(Debug)]
pub struct Parsed {
    /// `None` for `terminate`: the network ended the session.
    pub hop: Option<Hop>,
    pub msisdn: String,
    pub operator: String,
    pub session_id: String,
    pub request_id: u32,
}

fn number(v: &Option<serde_json::Value>) -> Option<u32> {
    match v {
        Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    }
}

/// Parses a request. Pure, for the table-driven tests.
pub fn parse(body: &[u8], ch: &Channel) -> Result<Parsed, BadRequest> {
    let r: Request = serde_json::from_slice(body).map_err(|e| BadRequest(format!("not a Beem request: {e}")))?;
    let key = ch.key(&r.session_id)?;
    let msisdn = Msisdn::parse(&r.msisdn).map_err(|e| BadRequest(format!("msisdn: {e}")))?;
    let text = match &r.payload.response {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if text.len() > MAX_INPUT || r.operator.len() > 32 {
        return Err(BadRequest(format!("payload.response is longer than {MAX_INPUT} bytes, or operator than 32")));
    }
    let request_id = number(&r.payload.request_id).unwrap_or(0);
    let first = match r.command.as_str() {
        "initiate" => true,
        "continue" => false,
        "terminate" => {
            return Ok(Parsed {
                hop: None,
                msisdn: r.msisdn,
                operator: r.operator,
                session_id: r.session_id,
                request_id,
            });
        }
        other => return Err(BadRequest(format!("command {other:?} is not initiate, continue or terminate"))),
    };
    let hop = ch.hop(key, msisdn, String::new(), HopInput::Latest { text, first, sequence: Some(request_id) });
    Ok(Parsed { hop: Some(hop), msisdn: r.msisdn, operator: r.operator, session_id: r.session_id, request_id })
}

pub fn format_reply(parsed: &Parsed, reply: &Reply) -> serde_json::Value {
    serde_json::json!({
        "msisdn": parsed.msisdn,
        "operator": parsed.operator,
        "session_id": parsed.session_id,
        "command": if reply.end { "terminate" } else { "continue" },
        "payload": { "request_id": if reply.end { 0 } else { parsed.request_id + 1 }, "request": reply.text },
    })
}

async fn hop(app: Arc<AppState>, ch: Arc<Channel>, body: Bytes) -> Response {
    match parse(&body, &ch) {
        Ok(parsed) => match &parsed.hop {
            Some(hop) => {
                let reply = app.hub().hop(hop.clone()).await;
                json_reply(format_reply(&parsed, &reply))
            }
            None => {
                tracing::info!(channel = %ch.name, "session terminated by the network");
                json_reply(format_reply(&parsed, &Reply { text: String::new(), end: true }))
            }
        },
        Err(e) => refuse(&ch.name, json_phone(&body, "msisdn"), e),
    }
}
