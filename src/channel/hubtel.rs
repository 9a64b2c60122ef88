//! Hubtel Programmable Services (Ghana): JSON POSTs with `Type` initiation / response /
//! release / timeout and the latest input in `Message` (the whole dial string at initiation);
//! JSON replies with `Type` `Response` (continue) or `Release` (end).

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

pub const CHANNEL: &str = "hubtel";
/// Hops are JSON POSTs to the channel path.
pub const DIALECT: Dialect = Dialect {
    name: CHANNEL,
    default_path: "/ussd/hubtel",
    max_screen: None,
    handle,
    telco: Some(&Telco { request: telco_request, read: telco_read }),
};

fn handle(sink: HopSink, ch: Arc<Channel>, req: ChannelRequest) -> BoxFuture<'static, Response> {
    crate::channel::post_hops(sink, ch, req, hop)
}

/// How Hubtel sends hop `k`: the whole dial string at initiation, then the latest input, with a
/// `Sequence` that counts hops.
fn telco_request(w: &Walk<'_>, k: usize) -> WireRequest {
    let (kind, message) = if k == 0 { ("initiation", w.code) } else { ("response", w.last(k)) };
    telco::json_post(
        w,
        "",
        serde_json::json!({"Type": kind, "Message": message, "ServiceCode": w.split_code().0, "Mobile": w.phone,
            "SessionId": w.session, "Sequence": k + 1, "Operator": "mtn"}),
    )
}

fn telco_read(r: &WireReply) -> Result<Screen, String> {
    telco::ok(r)?;
    let v = r.json()?;
    Ok(Screen { text: telco::json_str(&v, "/Message")?, end: telco::json_str(&v, "/Type")? == "Release" })
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
pub fn parse(body: &[u8], ch: &Channel) -> Result<Parsed, BadRequest> {
    let r: Request = serde_json::from_slice(body).map_err(|e| BadRequest(format!("not a Hubtel request: {e}")))?;
    let key = ch.key(&r.session_id)?;
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
            let service_code = if is_dialled_code(&r.message) {
                r.message.clone()
            } else if !r.service_code.is_empty() && r.service_code.bytes().all(|b| b.is_ascii_digit() || b == b'*') {
                format!("*{}#", r.service_code)
            } else {
                return Err(BadRequest("initiation needs a dial string in Message or a code in ServiceCode".into()));
            };
            Ok(Parsed::Hop(ch.hop(
                key,
                msisdn,
                service_code,
                HopInput::Latest { text: String::new(), first: true, sequence },
            )))
        }
        "response" => Ok(Parsed::Hop(ch.hop(
            key,
            msisdn,
            String::new(),
            HopInput::Latest { text: r.message, first: false, sequence },
        ))),
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

async fn hop(sink: HopSink, ch: Arc<Channel>, body: Bytes) -> Response {
    match parse(&body, &ch) {
        Ok(Parsed::Hop(hop)) => json_reply(format_reply(&sink.hop(hop).await)),
        Ok(Parsed::Ended { kind, msisdn }) => {
            tracing::info!(channel = %ch.name, msisdn = %msisdn.masked(), kind = %kind, "session ended by the network");
            json_reply(serde_json::json!({ "Type": "Release", "Message": "" }))
        }
        Err(e) => refuse(&ch.name, json_phone(&body, "Mobile"), e),
    }
}
