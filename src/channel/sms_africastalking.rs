//! Africa's Talking SMS callbacks: inbound SMS (keywords to the short code) and delivery reports
//! on the SMS Njia sent, both form POSTs answered 200 once what they carry is durable.
//!
//! Africa's Talking retries an inbound SMS for about ten minutes until it gets a 200, so both
//! callbacks are idempotent: an inbound SMS is recorded once per `id` (a retry is answered 200
//! and sends nothing), and a delivery report never overwrites a final status. The handlers only
//! parse and answer; what a message means is [`crate::keywords`], what a report means is
//! [`crate::handoff::delivery_report`]. Message texts are never logged, only their length.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::BoxFuture;
use crate::channel::{BadRequest, Channel, ChannelRequest, Dialect, HopSink, field, form_pairs, refuse};
use crate::handoff::ReportOutcome;
use crate::lifecycle::DeliveryStatus;
use crate::sms::{DeliveryReport, InboundSms};
use crate::types::{Msisdn, mask_raw_phone};

/// The provider name inbound SMS are recorded under, and the sender name of the SMS Africa's
/// Talking sent for Njia (`crate::sms::AfricasTalkingSms`), which its delivery reports name.
pub const PROVIDER: &str = "africastalking";

/// The channel's default path; inbound SMS and delivery reports arrive below it.
pub const DEFAULT_PATH: &str = "/sms/africastalking";

/// Where Africa's Talking POSTs inbound SMS (its "incoming messages" callback URL) on the
/// default channel.
pub const INBOUND_PATH: &str = "/sms/africastalking/inbound";

/// Where Africa's Talking POSTs delivery reports (its "delivery reports" callback URL) on the
/// default channel.
pub const DELIVERY_PATH: &str = "/sms/africastalking/delivery";

/// An SMS channel: `{path}/inbound` and `{path}/delivery`, authenticated like any channel.
pub const DIALECT: Dialect =
    Dialect { name: "africastalking-sms", default_path: DEFAULT_PATH, max_screen: None, handle, telco: None };

fn handle(sink: HopSink, _ch: Arc<Channel>, req: ChannelRequest) -> BoxFuture<'static, Response> {
    Box::pin(async move {
        match (&req.method, req.rest.as_str()) {
            (&Method::POST, "/inbound") => inbound(sink, req.body).await,
            (&Method::POST, "/delivery") => delivery_report(sink, req.body).await,
            _ => (StatusCode::NOT_FOUND, "expected POST /inbound or /delivery\n").into_response(),
        }
    })
}

/// How often, and how far apart, a report naming an unknown message id looks again.
const UNKNOWN_RETRIES: u32 = 4;
const UNKNOWN_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

/// Longest message id accepted (Africa's Talking ids are about 40 characters).
const MAX_ID: usize = 128;

/// Why a `date` was refused, naming the formats that are accepted.
const DATE_FORMAT: &str = "date must be YYYY-MM-DD HH:MM:SS (UTC) or ISO 8601 YYYY-MM-DDTHH:MM:SS, \
                           optionally with fractional seconds and Z or an offset such as +03:00";

fn message_id(value: Option<&str>, name: &str) -> Result<String, BadRequest> {
    let id = value.ok_or_else(|| BadRequest(format!("field '{name}' is required")))?;
    if id.is_empty() || id.len() > MAX_ID || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BadRequest(format!("{name} must be 1 to {MAX_ID} printable characters")));
    }
    Ok(id.to_owned())
}

/// Parses an inbound SMS: `from`, `to`, `text`, `date`, `id` are required (`text` may be empty),
/// `linkId` is optional; `date` is `2026-12-04 10:10:10` or ISO 8601 `2026-12-04T10:10:10`,
/// with optional fractional seconds and `Z` or an offset (`+03:00`); without a zone it is UTC
/// ([`crate::clock::parse_utc_ms`]). Pure, for the tables, the properties and the fuzzer.
pub fn parse_inbound(body: &[u8]) -> Result<InboundSms, BadRequest> {
    let pairs = form_pairs(body);
    let provider_id = message_id(field(&pairs, "id"), "id")?;
    let from = field(&pairs, "from").ok_or_else(|| BadRequest("field 'from' is required".into()))?;
    let from = Msisdn::parse(from).map_err(|e| BadRequest(format!("from: {e}")))?;
    let to = field(&pairs, "to").ok_or_else(|| BadRequest("field 'to' is required".into()))?;
    if to.is_empty() || to.len() > 32 || !to.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BadRequest("to must be the short code or number, 1 to 32 printable characters".into()));
    }
    let text = field(&pairs, "text").ok_or_else(|| BadRequest("field 'text' is required".into()))?;
    let date = field(&pairs, "date").ok_or_else(|| BadRequest("field 'date' is required".into()))?;
    let sent_at_ms = crate::clock::parse_utc_ms(date).ok_or_else(|| BadRequest(DATE_FORMAT.into()))?;
    let link_id = match field(&pairs, "linkId").filter(|l| !l.is_empty()) {
        Some(l) => Some(message_id(Some(l), "linkId")?),
        None => None,
    };
    Ok(InboundSms { provider_id, from, to: to.to_owned(), text: text.to_owned(), sent_at_ms, link_id })
}

/// Parses a delivery report: `id` and `status` are required; `phoneNumber`, `networkCode`,
/// `failureReason` (given for `Rejected` and `Failed`) and `retryCount` are read when present.
/// `Expired` is a failure. Pure, for the tables, the properties and the fuzzer.
pub fn parse_delivery_report(body: &[u8]) -> Result<DeliveryReport, BadRequest> {
    let pairs = form_pairs(body);
    let provider_id = message_id(field(&pairs, "id"), "id")?;
    let raw = field(&pairs, "status").ok_or_else(|| BadRequest("field 'status' is required".into()))?;
    let status = match raw {
        "Sent" => DeliveryStatus::Sent,
        "Submitted" => DeliveryStatus::Submitted,
        "Buffered" => DeliveryStatus::Buffered,
        "Success" => DeliveryStatus::Success,
        "Rejected" => DeliveryStatus::Rejected,
        "Failed" | "Expired" => DeliveryStatus::Failed,
        _ => {
            return Err(BadRequest(
                "status must be Sent, Submitted, Buffered, Success, Rejected, Failed or Expired".into(),
            ));
        }
    };
    let msisdn = match field(&pairs, "phoneNumber").filter(|p| !p.is_empty()) {
        Some(p) => Some(Msisdn::parse(p).map_err(|e| BadRequest(format!("phoneNumber: {e}")))?),
        None => None,
    };
    let word = |name: &str| -> Result<Option<String>, BadRequest> {
        match field(&pairs, name).map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) if v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic() || b == b' ') => Ok(Some(v.to_owned())),
            Some(_) => Err(BadRequest(format!("{name} must be at most 64 printable characters"))),
        }
    };
    let retry_count = match field(&pairs, "retryCount").filter(|v| !v.is_empty()) {
        Some(v) => Some(v.parse().map_err(|_| BadRequest("retryCount must be a whole number".into()))?),
        None => None,
    };
    Ok(DeliveryReport {
        provider_id,
        status,
        msisdn,
        network_code: word("networkCode")?,
        failure_reason: word("failureReason")?,
        retry_count,
    })
}

fn ok() -> Response {
    crate::channel::plain_text("OK\n".to_owned())
}

/// A store failure: the provider retries, and the retry finds nothing half done.
fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "try again\n").into_response()
}

/// `POST /sms/africastalking/inbound`: records the SMS with its reply queued (in one
/// transaction), then answers 200; a retry of the same `id` is answered 200 and sends nothing.
pub async fn inbound(sink: HopSink, body: Bytes) -> Response {
    let sms = match parse_inbound(&body) {
        Ok(s) => s,
        Err(e) => return refuse("africastalking-sms", field(&form_pairs(&body), "from").map(mask_raw_phone), e),
    };
    match sink.inbound_sms(PROVIDER, &sms).await {
        Ok(_) => ok(),
        Err(e) => {
            tracing::error!(error = %e, id = %sms.provider_id, from = %sms.from.masked(), "cannot record an inbound SMS");
            unavailable()
        }
    }
}

/// `POST /sms/africastalking/delivery`: records the report against the SMS it names (a failure
/// that may pass queues the SMS again), then answers 200. A report about an SMS Njia does not
/// know is answered 200 too: no retry would make it known.
pub async fn delivery_report(sink: HopSink, body: Bytes) -> Response {
    let report = match parse_delivery_report(&body) {
        Ok(r) => r,
        Err(e) => {
            return refuse("africastalking-sms", field(&form_pairs(&body), "phoneNumber").map(mask_raw_phone), e);
        }
    };
    let masked = report.msisdn.map(|m| m.masked().to_string());
    let record = || sink.delivery_report(PROVIDER, &report);
    let mut outcome = record().await;
    // A report can overtake the write that records the message id (the dispatcher commits it
    // just after Africa's Talking answered the send): look again for a moment before calling
    // the message unknown.
    for _ in 0..UNKNOWN_RETRIES {
        if !matches!(outcome, Ok(ReportOutcome::UnknownMessage)) {
            break;
        }
        tokio::time::sleep(UNKNOWN_PAUSE).await;
        outcome = record().await;
    }
    match outcome {
        Ok(outcome) => {
            crate::metrics::METRICS.delivery_report(report.status.as_str());
            if outcome == ReportOutcome::UnknownMessage {
                tracing::warn!(id = %report.provider_id, msisdn = masked.as_deref().unwrap_or("-"), "delivery report for an SMS Njia did not send");
            } else {
                tracing::info!(
                    id = %report.provider_id,
                    msisdn = masked.as_deref().unwrap_or("-"),
                    status = %report.status,
                    reason = report.failure_reason.as_deref().unwrap_or("-"),
                    outcome = ?outcome,
                    "delivery report"
                );
            }
            if matches!(outcome, ReportOutcome::Applied { resent: true }) {
                sink.wake_dispatcher();
            }
            ok()
        }
        Err(e) => {
            tracing::error!(error = %e, id = %report.provider_id, "cannot record a delivery report");
            unavailable()
        }
    }
}
