//! Beem Africa USSD Hub (Tanzania): JSON POSTs with `command` initiate / continue / terminate,
//! the latest input in `payload.response` and a hop counter in `payload.request_id`; JSON
//! replies with `command` continue / terminate and the screen in `payload.request`.
//!
//! Beem names no service code, and its `initiate` carries `response` 0: the wire format has no
//! place for digits dialled after the code (`*…*1*2#`). An `initiate` that carries any other
//! input cannot be read as those digits (nothing tells the code from what follows it), so the
//! session starts at the menu's first screen as for a plain dial, and a warning is logged.

use std::sync::Arc;

use axum::body::Bytes;
use axum::response::Response;
use serde::Deserialize;

use crate::BoxFuture;
use crate::channel::telco::{self, Screen, Telco, Walk, WireReply, WireRequest};
use crate::channel::{
    BadRequest, Channel, ChannelRequest, Dialect, HopSink, MAX_INPUT, json_phone, json_reply, refuse,
};
use crate::hub::{Hop, HopInput, Reply};
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

fn handle(sink: HopSink, ch: Arc<Channel>, req: ChannelRequest) -> BoxFuture<'static, Response> {
    crate::channel::post_hops(sink, ch, req, hop)
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
    /// The length in bytes of input an `initiate` carried where Beem's wire format has 0 (most
    /// likely digits dialled after the code): it is not applied, and the handler logs a warning.
    pub unhonoured_input: Option<usize>,
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
    // The documented `initiate` carries the number 0; an empty or absent response (or "0")
    // means the same nothing.
    let unhonoured_input = (r.command == "initiate" && !text.is_empty() && text != "0").then_some(text.len());
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
                unhonoured_input,
            });
        }
        other => return Err(BadRequest(format!("command {other:?} is not initiate, continue or terminate"))),
    };
    let hop = ch.hop(key, msisdn, String::new(), HopInput::Latest { text, first, sequence: Some(request_id) });
    Ok(Parsed {
        hop: Some(hop),
        msisdn: r.msisdn,
        operator: r.operator,
        session_id: r.session_id,
        request_id,
        unhonoured_input,
    })
}

/// Warns that an `initiate` carried input the server cannot honour (see the module's notes):
/// the citizen who dialled straight to a service lands on the first screen instead. The
/// number is masked and the input itself is not logged, only its length.
fn warn_unhonoured(channel: &str, parsed: &Parsed) {
    let (Some(hop), Some(bytes)) = (&parsed.hop, parsed.unhonoured_input) else { return };
    tracing::warn!(
        channel,
        msisdn = %hop.msisdn.masked(),
        bytes,
        "Beem initiate carried input (digits dialled after the code?) that its wire format cannot place; starting at the first screen"
    );
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

async fn hop(sink: HopSink, ch: Arc<Channel>, body: Bytes) -> Response {
    match parse(&body, &ch) {
        Ok(parsed) => match &parsed.hop {
            Some(hop) => {
                warn_unhonoured(&ch.name, &parsed);
                let reply = sink.hop(hop.clone()).await;
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects what a tracing subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(parsed: &Parsed) -> String {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        tracing::subscriber::with_default(subscriber, || warn_unhonoured("beem", parsed));
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    fn initiate(response: &str) -> Parsed {
        let body = format!(
            r#"{{"command":"initiate","msisdn":"255712345678","session_id":"s","operator":"vodacom","payload":{{"request_id":0,"response":{response}}}}}"#
        );
        parse(body.as_bytes(), &Channel::default_for(&DIALECT, 160)).unwrap()
    }

    #[test]
    fn dialled_digits_on_initiate_are_not_applied_and_are_logged_masked() {
        for response in [r#""*150*46*1*2#""#, r#""1*2""#, "12"] {
            let parsed = initiate(response);
            assert!(parsed.unhonoured_input.is_some(), "{response}");
            // The hub starts a latest-input session afresh and ignores a first hop's text.
            assert!(
                matches!(parsed.hop.as_ref().map(|h| &h.input), Some(HopInput::Latest { first: true, .. })),
                "{response}"
            );
            let log = logged(&parsed);
            assert!(log.contains("WARN") && log.contains("first screen"), "{response}: {log}");
            assert!(log.contains("+2557****678") && !log.contains("255712345678"), "{response}: {log}");
            assert!(!log.contains("*150*46") && !log.contains("1*2"), "the input is never logged: {log}");
        }
        // The documented initiate (0, or nothing) and later hops carry nothing to warn about.
        for response in ["0", r#""0""#, r#""""#, "null"] {
            let parsed = initiate(response);
            assert_eq!(parsed.unhonoured_input, None, "{response}");
            assert_eq!(logged(&parsed), "", "{response}");
        }
        let body = br#"{"command":"continue","msisdn":"255712345678","session_id":"s","payload":{"request_id":1,"response":"1*2"}}"#;
        let parsed = parse(body, &Channel::default_for(&DIALECT, 160)).unwrap();
        assert_eq!(parsed.unhonoured_input, None);
    }
}
