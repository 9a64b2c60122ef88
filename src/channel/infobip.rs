//! Infobip's USSD gateway REST API: the gateway calls `POST {path}/session/{id}/start` when a
//! citizen dials, `POST …/response` with each latest input, `PUT …/end` when the session ends
//! on its side and `GET …/status` to ask whether a session is live. Requests are JSON with
//! `msisdn`, `text` and (not always) `shortCode`; replies carry `ussdMenu`, `shouldClose`
//! and a mandatory `responseExitCode`. (Praekelt's Vumi transport quotes the specification;
//! its test vectors are rows in `tests/it/dialects.rs`.)

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::BoxFuture;
use crate::channel::telco::{self, Screen, Telco, Walk, WireReply, WireRequest};
use crate::channel::{
    BadRequest, Channel, ChannelRequest, Dialect, HopSink, MAX_INPUT, is_dialled_code, json_phone, json_reply,
};
use crate::hub::{Hop, HopInput, Reply};
use crate::store::SessionEnd;
use crate::types::Msisdn;

pub const CHANNEL: &str = "infobip";

pub const DIALECT: Dialect = Dialect {
    name: CHANNEL,
    default_path: "/ussd/infobip",
    // "USSD messages can have up to 182 alphanumeric characters": above the server's limit.
    max_screen: None,
    handle,
    telco: Some(&Telco { request: telco_request, read: telco_read }),
};

/// What a request below the channel path asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Call<'a> {
    Start(&'a str),
    Response(&'a str),
    End(&'a str),
    Status(&'a str),
}

/// Reads `/session/{id}/{action}` with the method the specification gives each action.
pub fn route<'a>(method: &Method, rest: &'a str) -> Option<Call<'a>> {
    let (id, action) = rest.strip_prefix("/session/")?.split_once('/')?;
    if id.is_empty() {
        return None;
    }
    match (method, action) {
        (&Method::POST, "start") => Some(Call::Start(id)),
        (&Method::POST, "response") => Some(Call::Response(id)),
        (&Method::PUT, "end") => Some(Call::End(id)),
        (&Method::GET, "status") => Some(Call::Status(id)),
        _ => None,
    }
}

fn handle(sink: HopSink, ch: Arc<Channel>, req: ChannelRequest) -> BoxFuture<'static, Response> {
    Box::pin(async move {
        match route(&req.method, &req.rest) {
            Some(Call::Start(id)) => hop(&sink, &ch, id, &req.body, true).await,
            Some(Call::Response(id)) => hop(&sink, &ch, id, &req.body, false).await,
            Some(Call::End(id)) => end(&sink, &ch, id, &req.body).await,
            Some(Call::Status(id)) => match ch.key(id) {
                Ok(key) => json_reply(serde_json::json!({
                    "sessionActive": sink.is_active(&key).await,
                    "responseExitCode": 200,
                    "responseMessage": "",
                })),
                Err(e) => refused(&ch, &req.body, e),
            },
            None => (StatusCode::NOT_FOUND, "expected /session/{id}/start, response, end or status\n").into_response(),
        }
    })
}

/// How Infobip sends hop `k`: `start` with the dial string, then `response` with the latest input.
fn telco_request(w: &Walk<'_>, k: usize) -> WireRequest {
    let (action, text) = if k == 0 { ("start", w.code) } else { ("response", w.last(k)) };
    telco::json_post(
        w,
        &format!("/session/{}/{action}", w.session),
        serde_json::json!({"msisdn": w.phone, "imsi": "639020000000001", "shortCode": w.base_code(),
            "optional": "", "ussdGwId": "11", "language": null, "text": text}),
    )
}

fn telco_read(r: &WireReply) -> Result<Screen, String> {
    telco::ok(r)?;
    let v = r.json()?;
    let close = v.get("shouldClose").and_then(serde_json::Value::as_bool).ok_or("reply has no shouldClose")?;
    Ok(Screen { text: telco::json_str(&v, "/ussdMenu")?, end: close })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HopRequest {
    msisdn: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    short_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EndRequest {
    #[serde(default)]
    exit_code: Option<serde_json::Value>,
    #[serde(default)]
    reason: Option<String>,
}

/// The code a start names: a dial string in `text` (it carries digits dialled with the code),
/// else `shortCode` (which some gateways write as `*123#1#`: the part up to the first `#`).
fn start_code(text: &str, short_code: &str) -> String {
    if is_dialled_code(text) {
        return text.to_owned();
    }
    if is_dialled_code(short_code) {
        return short_code.to_owned();
    }
    match short_code.find('#') {
        Some(at) if is_dialled_code(&short_code[..=at]) => short_code[..=at].to_owned(),
        _ => String::new(),
    }
}

/// Parses a start (`first`) or response body for session `id`. Pure, for the tests and fuzzer.
pub fn parse(id: &str, body: &[u8], first: bool, ch: &Channel) -> Result<Hop, BadRequest> {
    let r: HopRequest =
        serde_json::from_slice(body).map_err(|e| BadRequest(format!("not an Infobip session request: {e}")))?;
    let key = ch.key(id)?;
    let msisdn = Msisdn::parse(&r.msisdn).map_err(|e| BadRequest(format!("msisdn: {e}")))?;
    let text = r.text.unwrap_or_default();
    let short_code = r.short_code.unwrap_or_default();
    if text.len() > MAX_INPUT || short_code.len() > 40 {
        return Err(BadRequest(format!("text is longer than {MAX_INPUT} bytes, or shortCode than 40")));
    }
    let service_code = if first { start_code(&text, &short_code) } else { String::new() };
    Ok(ch.hop(key, msisdn, service_code, HopInput::Latest { text, first, sequence: None }))
}

/// Parses an end notice for session `id`.
pub fn parse_end(id: &str, body: &[u8], ch: &Channel) -> Result<SessionEnd, BadRequest> {
    // An end with no body is still an end.
    let r: EndRequest = if body.iter().all(u8::is_ascii_whitespace) {
        EndRequest { exit_code: None, reason: None }
    } else {
        serde_json::from_slice(body).map_err(|e| BadRequest(format!("not an Infobip end request: {e}")))?
    };
    // Checked like any session id, though only kept in the record.
    ch.key(id)?;
    let reason: String = r.reason.unwrap_or_default().chars().filter(|c| !c.is_control()).take(200).collect();
    let status = match &r.exit_code {
        Some(serde_json::Value::Number(n)) if n.as_i64() == Some(0) => "Success".to_owned(),
        Some(code) => format!("exit {code}"),
        None => "ended".to_owned(),
    };
    Ok(SessionEnd {
        channel: ch.name.to_string(),
        session_id: id.to_owned(),
        msisdn: None,
        status,
        hops: None,
        duration_ms: None,
        error_message: (!reason.is_empty()).then_some(reason),
    })
}

/// The reply: `shouldClose` ends the session; `responseExitCode` is mandatory.
pub fn format_reply(reply: &Reply) -> serde_json::Value {
    serde_json::json!({
        "shouldClose": reply.end,
        "ussdMenu": reply.text,
        "responseExitCode": 200,
        "responseMessage": "",
    })
}

fn refused(ch: &Channel, body: &[u8], e: BadRequest) -> Response {
    crate::channel::refuse(&ch.name, json_phone(body, "msisdn"), e)
}

async fn hop(sink: &HopSink, ch: &Channel, id: &str, body: &Bytes, first: bool) -> Response {
    match parse(id, body, first, ch) {
        Ok(hop) => json_reply(format_reply(&sink.hop(hop).await)),
        Err(e) => refused(ch, body, e),
    }
}

async fn end(sink: &HopSink, ch: &Channel, id: &str, body: &Bytes) -> Response {
    let end = match parse_end(id, body, ch) {
        Ok(e) => e,
        Err(e) => return refused(ch, body, e),
    };
    tracing::info!(channel = %ch.name, status = %end.status, "session ended by the gateway");
    match sink.session_end(end).await {
        Ok(()) => json_reply(serde_json::json!({ "responseExitCode": 200, "responseMessage": "" })),
        Err(e) => {
            tracing::error!(error = %e, "cannot record end of session");
            (StatusCode::SERVICE_UNAVAILABLE, "try again\n").into_response()
        }
    }
}
