//! Hubtel Programmable Services (Ghana): JSON POSTs with `Type` initiation / response /
//! release / timeout and the latest input in `Message` (the whole dial string at initiation);
//! JSON replies with `Type` `Response` (continue) or `Release` (end).

use std::sync::Arc;

use axum::body::Bytes;
use axum::response::Response;
use serde::Deserialize;

use crate::BoxFuture;
use crate::channel::{BadRequest, Dialect, MAX_INPUT, is_dial_string, json_phone, json_reply, refuse, session_key};
use crate::hub::{Hop, HopInput, Reply};
use crate::server::AppState;
use crate::types::Msisdn;

pub const CHANNEL: &str = "hubtel";
pub const HOP_PATH: &str = "/ussd/hubtel";

pub const DIALECT: Dialect = Dialect { name: CHANNEL, hop_path: HOP_PATH, hop: Some(hop_boxed), routes: None };

fn hop_boxed(app: Arc<AppState>, body: Bytes) -> BoxFuture<'static, Response> {
    Box::pin(hop(app, body))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Request {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    service_code: String,
    mobile: String,
    session_id: String,
    /// A number in USSD requests, a string in app-channel samples.
    #[serde(default)]
    sequence: Option<serde_json::Value>,
}

/// What a Hubtel request is.
#[derive(Debug)]
pub enum Parsed {
    Hop(Hop),
    /// The citizen hung up (`release`) or Hubtel gave up waiting (`timeout`): nothing to show.
    Ended {
        kind: String,
        msisdn: Msisdn,
    },
}

/// Parses a request. Pure, for the table-driven tests.
pub fn parse(body: &[u8], limit: usize) -> Result<Parsed, BadRequest> {
    let r: Request = serde_json::from_slice(body).map_err(|e| BadRequest(format!("not a Hubtel request: {e}")))?;
    let key = session_key(CHANNEL, &r.session_id)?;
    let msisdn = Msisdn::parse(&r.mobile).map_err(|e| BadRequest(format!("Mobile: {e}")))?;
    if r.message.len() > MAX_INPUT {
        return Err(BadRequest(format!("Message is longer than {MAX_INPUT} bytes")));
    }
    let sequence = match &r.sequence {
        Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    match r.kind.to_ascii_lowercase().as_str() {
        "initiation" => {
            // The dial string (`*384*1#`) carries digits dialled with the code; without one the
            // service code names the code (`384`).
            let service_code = if is_dial_string(&r.message) {
                r.message.clone()
            } else if !r.service_code.is_empty() && r.service_code.bytes().all(|b| b.is_ascii_digit() || b == b'*') {
                format!("*{}#", r.service_code)
            } else {
                return Err(BadRequest("initiation needs a dial string in Message or a code in ServiceCode".into()));
            };
            Ok(Parsed::Hop(Hop {
                key,
                msisdn,
                service_code,
                input: HopInput::Latest { text: String::new(), first: true, sequence },
                limit,
            }))
        }
        "response" => Ok(Parsed::Hop(Hop {
            key,
            msisdn,
            service_code: String::new(),
            input: HopInput::Latest { text: r.message, first: false, sequence },
            limit,
        })),
        "release" | "timeout" => Ok(Parsed::Ended { kind: r.kind, msisdn }),
        other => Err(BadRequest(format!("Type {other:?} is not initiation, response, release or timeout"))),
    }
}

/// The JSON reply: `Response` continues, `Release` ends.
pub fn format_reply(reply: &Reply) -> serde_json::Value {
    serde_json::json!({
        "Type": if reply.end { "Release" } else { "Response" },
        "Message": reply.text,
        "Label": "",
        "DataType": if reply.end { "display" } else { "input" },
        "FieldType": "text",
        "ClientState": "",
    })
}

async fn hop(app: Arc<AppState>, body: Bytes) -> Response {
    match parse(&body, app.screen_limit) {
        Ok(Parsed::Hop(hop)) => json_reply(format_reply(&app.hub.hop(hop).await)),
        Ok(Parsed::Ended { kind, msisdn }) => {
            tracing::info!(channel = CHANNEL, msisdn = %msisdn.masked(), kind = %kind, "session ended by the network");
            json_reply(serde_json::json!({ "Type": "Release", "Message": "" }))
        }
        Err(e) => refuse(CHANNEL, json_phone(&body, "Mobile"), e),
    }
}
