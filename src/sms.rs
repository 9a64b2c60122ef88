//! SMS out and what comes back: the [`SmsSender`] trait, the Africa's Talking messaging API,
//! the log sink of the embedded default (every message is also kept in the store by the
//! dispatcher, so `njia sms list` shows it whichever sender took it), and the provider-neutral
//! shapes of an inbound SMS and a delivery report that the SMS channel parses into.

use std::time::Duration;

use serde::Deserialize;

use crate::BoxFuture;
use crate::gsm7;
use crate::lifecycle::DeliveryStatus;
use crate::types::Msisdn;

/// One message to one citizen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingSms {
    pub to: Msisdn,
    pub text: String,
    /// The sender id to send as, when not the deployment's (a menu's own `sms_sender`).
    pub from: Option<String>,
}

impl OutgoingSms {
    /// Segments the message costs: 160/153 GSM-7 characters, 70/67 UCS-2 units.
    pub fn segments(&self) -> u32 {
        u32::try_from(gsm7::sms_segments(&self.text)).unwrap_or(u32::MAX)
    }
}

/// An SMS a citizen sent to the short code, as the provider forwarded it.
#[derive(Clone, PartialEq, Eq)]
pub struct InboundSms {
    /// The provider's message id; a provider retry carries the same one.
    pub provider_id: String,
    pub from: Msisdn,
    /// The short code or number it was sent to.
    pub to: String,
    pub text: String,
    /// When the citizen sent it, unix milliseconds.
    pub sent_at_ms: i64,
    /// Premium on-demand replies must quote it.
    pub link_id: Option<String>,
}

impl std::fmt::Debug for InboundSms {
    /// The text may hold personal data (ID numbers, names): only its length is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundSms")
            .field("provider_id", &self.provider_id)
            .field("from", &self.from.masked())
            .field("to", &self.to)
            .field("text_chars", &self.text.chars().count())
            .field("sent_at_ms", &self.sent_at_ms)
            .field("link_id", &self.link_id)
            .finish()
    }
}

/// A delivery report on one SMS Njia sent, as the provider forwarded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The message id the sender got back when it sent the SMS.
    pub provider_id: String,
    pub status: DeliveryStatus,
    pub msisdn: Option<Msisdn>,
    pub network_code: Option<String>,
    /// Only given for failures (`UserInBlackList`, `DeliveryFailure`, …).
    pub failure_reason: Option<String>,
    /// The provider's own delivery retries so far.
    pub retry_count: Option<u32>,
}

/// What the SMS provider said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmsOutcome {
    /// Taken for delivery.
    Accepted { provider_id: Option<String>, status: String },
    /// Not taken. `permanent` failures (an invalid or blacklisted number) are not retried.
    Failed { permanent: bool, detail: String },
}

pub trait SmsSender: Send + Sync + 'static {
    /// A short name kept with every message (`log`, `africastalking`).
    fn name(&self) -> &'static str;
    fn send<'a>(&'a self, sms: &'a OutgoingSms) -> BoxFuture<'a, SmsOutcome>;
}

/// The embedded default: writes each message to the log (the dispatcher keeps it in the
/// store). Nothing leaves the machine.
pub struct LogSms;

impl SmsSender for LogSms {
    fn name(&self) -> &'static str {
        "log"
    }

    fn send<'a>(&'a self, sms: &'a OutgoingSms) -> BoxFuture<'a, SmsOutcome> {
        Box::pin(async move {
            // A receipt carries no secret; the number is masked like everywhere in the log.
            tracing::info!(to = %sms.to.masked(), segments = sms.segments(), text = %sms.text, "SMS (log sink, not sent)");
            SmsOutcome::Accepted { provider_id: None, status: "logged".into() }
        })
    }
}

/// Africa's Talking messaging API settings.
#[derive(Clone)]
pub struct AfricasTalkingConfig {
    /// `https://api.africastalking.com` (or `https://api.sandbox.africastalking.com`).
    pub base_url: String,
    pub username: String,
    pub api_key: String,
    /// Registered sender id or short code; the account default when `None`.
    pub from: Option<String>,
    pub timeout: Duration,
}

impl std::fmt::Debug for AfricasTalkingConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfricasTalkingConfig")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("api_key", &"<redacted>")
            .field("from", &self.from)
            .finish()
    }
}

/// Sends through `POST {base}/version1/messaging`.
pub struct AfricasTalkingSms {
    config: AfricasTalkingConfig,
    http: reqwest::Client,
}

impl AfricasTalkingSms {
    pub fn new(config: AfricasTalkingConfig) -> Result<AfricasTalkingSms, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(config.timeout).build()?;
        Ok(AfricasTalkingSms { config, http })
    }
}

#[derive(Deserialize)]
struct AtResponse {
    #[serde(rename = "SMSMessageData")]
    data: AtData,
}

#[derive(Deserialize)]
struct AtData {
    #[serde(rename = "Message", default)]
    message: String,
    #[serde(rename = "Recipients", default)]
    recipients: Vec<AtRecipient>,
}

#[derive(Deserialize)]
struct AtRecipient {
    #[serde(rename = "statusCode")]
    status_code: u16,
    #[serde(default)]
    status: String,
    #[serde(rename = "messageId", default)]
    message_id: Option<String>,
}

/// Maps a recipient's `statusCode`: 100 Processed, 101 Sent and 102 Queued are taken;
/// 403 InvalidPhoneNumber, 404 UnsupportedNumberType and 406 UserInBlacklist will never
/// succeed; the rest (401 RiskHold, 402 InvalidSenderId, 405 InsufficientBalance,
/// 407 CouldNotRoute, 5xx gateway errors) may succeed later.
pub fn classify_recipient(status_code: u16, status: &str, message_id: Option<String>) -> SmsOutcome {
    match status_code {
        100..=102 => SmsOutcome::Accepted { provider_id: message_id, status: status.to_owned() },
        403 | 404 | 406 => SmsOutcome::Failed { permanent: true, detail: format!("{status_code} {status}") },
        _ => SmsOutcome::Failed { permanent: false, detail: format!("{status_code} {status}") },
    }
}

impl SmsSender for AfricasTalkingSms {
    fn name(&self) -> &'static str {
        "africastalking"
    }

    fn send<'a>(&'a self, sms: &'a OutgoingSms) -> BoxFuture<'a, SmsOutcome> {
        Box::pin(async move {
            let body = {
                let to = sms.to.to_string();
                let mut form = form_urlencoded::Serializer::new(String::new());
                form.append_pair("username", &self.config.username)
                    .append_pair("to", &to)
                    .append_pair("message", &sms.text);
                if let Some(from) = sms.from.as_ref().or(self.config.from.as_ref()) {
                    form.append_pair("from", from);
                }
                form.finish()
            };
            let url = format!("{}/version1/messaging", self.config.base_url.trim_end_matches('/'));
            let res = self
                .http
                .post(url)
                .header("apiKey", &self.config.api_key)
                .header("Accept", "application/json")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await;
            let res = match res {
                Ok(r) => r,
                Err(e) => return SmsOutcome::Failed { permanent: false, detail: format!("africastalking: {e}") },
            };
            let status = res.status();
            let body = res.bytes().await.unwrap_or_default();
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body);
                return SmsOutcome::Failed {
                    permanent: false,
                    detail: format!("africastalking HTTP {}: {}", status.as_u16(), text.trim()),
                };
            }
            match serde_json::from_slice::<AtResponse>(&body) {
                Ok(r) => match r.data.recipients.into_iter().next() {
                    Some(rc) => classify_recipient(rc.status_code, &rc.status, rc.message_id),
                    None => SmsOutcome::Failed {
                        permanent: false,
                        detail: format!("africastalking: no recipient in the answer ({})", r.data.message),
                    },
                },
                Err(e) => {
                    SmsOutcome::Failed { permanent: false, detail: format!("africastalking: unreadable answer: {e}") }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipient_status_codes() {
        let cases: &[(u16, Option<bool>)] = &[
            (100, None),
            (101, None),
            (102, None),
            (401, Some(false)),
            (402, Some(false)),
            (403, Some(true)),
            (404, Some(true)),
            (405, Some(false)),
            (406, Some(true)),
            (407, Some(false)),
            (500, Some(false)),
            (501, Some(false)),
            (502, Some(false)),
        ];
        for (code, want) in cases {
            let got = classify_recipient(*code, "x", None);
            match (want, got) {
                (None, SmsOutcome::Accepted { .. }) => {}
                (Some(p), SmsOutcome::Failed { permanent, .. }) => assert_eq!(*p, permanent, "{code}"),
                (w, g) => panic!("{code}: wanted {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn segments_follow_the_encoding() {
        let to = Msisdn::parse("254712345678").unwrap();
        assert_eq!(OutgoingSms { to, text: "a".repeat(160), from: None }.segments(), 1);
        assert_eq!(OutgoingSms { to, text: "a".repeat(161), from: None }.segments(), 2);
        assert_eq!(OutgoingSms { to, text: "ŵ".repeat(70), from: None }.segments(), 1);
        assert_eq!(OutgoingSms { to, text: "ŵ".repeat(71), from: None }.segments(), 2);
    }
}
