//! Africa's Talking USSD: form POSTs with a cumulative `text`, `CON `/`END ` plain-text replies,
//! and a separate end-of-session notification.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::Method;
use axum::response::{IntoResponse, Response};

use crate::BoxFuture;
use crate::channel::telco::{self, Telco, Walk, WireRequest};
use crate::channel::{BadRequest, Channel, ChannelRequest, Dialect, HopSink, field, form_fields, form_pairs, refuse};
use crate::hub::{Hop, HopInput, Reply};
use crate::store::SessionEnd;
use crate::types::{Msisdn, mask_raw_phone};

/// The dialect's name, and the channel name sessions are keyed under by default.
pub const CHANNEL: &str = "africastalking";

/// Longest `text` accepted; a real session is far shorter (180 s of typing on a keypad).
const MAX_TEXT: usize = 2048;

/// Hops are POSTed to the channel path, end-of-session notices to `{path}/events`.
pub const DIALECT: Dialect = Dialect {
    name: CHANNEL,
    default_path: "/ussd/africastalking",
    max_screen: None,
    handle,
    telco: Some(&Telco { request: telco_request, read: telco::read_con_end }),
};

fn handle(sink: HopSink, ch: Arc<Channel>, req: ChannelRequest) -> BoxFuture<'static, Response> {
    Box::pin(async move {
        match (&req.method, req.rest.as_str()) {
            (&Method::POST, "") => hop(sink, ch, req.body).await,
            (&Method::POST, "/events") => session_end(sink, ch, req.body).await,
            _ => req.unrouted(),
        }
    })
}

/// How Africa's Talking sends hop `k`: the cumulative text, digits dialled with the code first.
fn telco_request(w: &Walk<'_>, k: usize) -> WireRequest {
    let phone = format!("+{}", w.phone);
    let text = w.cumulative(k);
    let body = telco::form(&[
        ("sessionId", w.session),
        ("phoneNumber", &phone),
        ("networkCode", "63902"),
        ("serviceCode", &w.base_code()),
        ("text", &text),
    ]);
    WireRequest { method: "POST", target: w.path.to_owned(), content_type: telco::FORM, body }
}

/// Parses a hop. Pure, so the table-driven tests and fuzzers can call it directly.
pub fn parse_hop(body: &[u8], ch: &Channel) -> Result<Hop, BadRequest> {
    let [session_id, phone, service_code, text] =
        form_fields(body, ["sessionId", "phoneNumber", "serviceCode", "text"]);
    let session_id = session_id.ok_or_else(|| BadRequest("field 'sessionId' is required".into()))?;
    let key = ch.key(&session_id)?;
    let phone = phone.ok_or_else(|| BadRequest("field 'phoneNumber' is required".into()))?;
    let msisdn = Msisdn::parse(&phone).map_err(|e| BadRequest(format!("phoneNumber: {e}")))?;
    let service_code = service_code.ok_or_else(|| BadRequest("field 'serviceCode' is required".into()))?;
    if service_code.is_empty() || service_code.len() > 32 || !service_code.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BadRequest("serviceCode must be 1 to 32 printable characters".into()));
    }
    // `text` is empty on the first hop; some gateways leave it out entirely then.
    let text = text.unwrap_or_default();
    if text.len() > MAX_TEXT {
        return Err(BadRequest(format!("text is longer than {MAX_TEXT} bytes")));
    }
    // A value that had escapes was decoded into a string of its own: the hop takes it over.
    Ok(ch.hop(key, msisdn, service_code.into_owned(), HopInput::Cumulative(text.into_owned())))
}

/// Formats a reply: `CON ` continues the session, `END ` closes it.
pub fn format_reply(reply: &Reply) -> String {
    let mut out = String::with_capacity(reply.text.len() + 4);
    out.push_str(if reply.end { "END " } else { "CON " });
    out.push_str(&reply.text);
    out
}

async fn hop(sink: HopSink, ch: Arc<Channel>, body: Bytes) -> Response {
    let hop = match parse_hop(&body, &ch) {
        Ok(h) => h,
        Err(e) => {
            return refuse(&ch.name, field(&form_pairs(&body), "phoneNumber").map(mask_raw_phone), e);
        }
    };
    let reply = sink.hop(hop).await;
    crate::channel::plain_text(format_reply(&reply))
}

/// Parses an end-of-session notification.
pub fn parse_session_end(body: &[u8], ch: &Channel) -> Result<SessionEnd, BadRequest> {
    let pairs = form_pairs(body);
    let session_id = field(&pairs, "sessionId").filter(|s| !s.is_empty() && s.len() <= 128);
    let session_id = session_id.ok_or_else(|| BadRequest("field 'sessionId' is required".into()))?;
    let status = field(&pairs, "status").ok_or_else(|| BadRequest("field 'status' is required".into()))?;
    if status.is_empty() || status.len() > 32 || !status.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(BadRequest("status must be a word such as Success, Incomplete or Failed".into()));
    }
    let number = |name: &str| -> Result<Option<i64>, BadRequest> {
        match field(&pairs, name).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| BadRequest(format!("{name} must be a whole number"))),
        }
    };
    Ok(SessionEnd {
        channel: ch.name.to_string(),
        session_id: session_id.to_owned(),
        msisdn: field(&pairs, "phoneNumber").and_then(|p| Msisdn::parse(p).ok()),
        status: status.to_owned(),
        hops: number("hopsCount")?,
        duration_ms: number("durationInMillis")?,
        // `input` and `lastAppResponse` are deliberately not kept: the input can hold a PIN.
        error_message: field(&pairs, "errorMessage").filter(|e| !e.is_empty()).map(|e| e.chars().take(500).collect()),
    })
}

async fn session_end(sink: HopSink, ch: Arc<Channel>, body: Bytes) -> Response {
    let end = match parse_session_end(&body, &ch) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(channel = %ch.name, reason = %e.0, "malformed end-of-session notification");
            return e.into_response();
        }
    };
    let masked = end.msisdn.map(|m| m.masked().to_string());
    tracing::info!(channel = %ch.name, msisdn = masked.as_deref().unwrap_or("-"), status = ?end.status, hops = ?end.hops, "session ended");
    match sink.session_end(end).await {
        Ok(()) => "OK".into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot record end of session");
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, "try again").into_response()
        }
    }
}
