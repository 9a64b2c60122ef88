//! The Africa's Talking messaging API double (`POST /version1/messaging`), which also calls
//! Njia back as Africa's Talking does, with inbound SMS and delivery reports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use serde_json::json;
use tokio::task::JoinHandle;

use super::{HEX, header_str, json_response, lock, random_from, serve, text_response, unix_now};

/// One recipient of one `POST /version1/messaging` call the double received.
#[derive(Clone, Debug)]
pub struct RecordedSms {
    /// One recipient, as sent (`+2547…`).
    pub to: String,
    pub message: String,
    pub from: Option<String>,
    pub username: String,
    /// The recipient's `statusCode` in the answer: 101 when sent, else the failure given to
    /// [`AtSmsDouble::fail_number`] (or 403 for a malformed number).
    pub status_code: u16,
    pub status: String,
    /// `ATXid_…` when sent, the string `None` otherwise (as the real API writes it).
    pub message_id: String,
    pub at: Instant,
}

impl RecordedSms {
    /// Whether the gateway accepted this recipient.
    pub fn sent(&self) -> bool {
        self.status_code == 101
    }
}

struct AtState {
    api_key: String,
    down: bool,
    failures: HashMap<String, (u16, String)>,
    messages: Vec<RecordedSms>,
    requests: usize,
    sequence: u64,
}

/// An Africa's Talking messaging API double.
pub struct AtSmsDouble {
    /// `http://127.0.0.1:<port>`; messages go to `{url}/version1/messaging`.
    pub url: String,
    state: Arc<Mutex<AtState>>,
    server: JoinHandle<()>,
}

impl Drop for AtSmsDouble {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl AtSmsDouble {
    /// Starts the double, accepting requests whose `apiKey` header is `api_key`.
    pub async fn start(api_key: &str) -> AtSmsDouble {
        let state = Arc::new(Mutex::new(AtState {
            api_key: api_key.to_owned(),
            down: false,
            failures: HashMap::new(),
            messages: Vec::new(),
            requests: 0,
            sequence: 0,
        }));
        let router = Router::new().route("/version1/messaging", post(at_messaging)).with_state(state.clone());
        let (url, server) = serve(router).await;
        AtSmsDouble { url, state, server }
    }

    /// Makes messages to `number` (with or without the `+`) fail with `status_code` and `status`,
    /// for example 403 `InvalidPhoneNumber`, 405 `InsufficientBalance`, 406 `UserInBlacklist`,
    /// 500 `InternalServerError`.
    pub fn fail_number(&self, number: &str, status_code: u16, status: &str) {
        lock(&self.state).failures.insert(number.trim_start_matches('+').to_owned(), (status_code, status.to_owned()));
    }

    /// While down, every request answers HTTP 500.
    pub fn set_down(&self, down: bool) {
        lock(&self.state).down = down;
    }

    /// One entry per recipient of every well-formed, authenticated request, sent or failed.
    pub fn messages(&self) -> Vec<RecordedSms> {
        lock(&self.state).messages.clone()
    }

    /// How many requests arrived, whatever was answered.
    pub fn requests(&self) -> usize {
        lock(&self.state).requests
    }

    /// Forwards an SMS a citizen sent to `short_code`, as Africa's Talking POSTs it to the
    /// incoming-messages callback at `server` + `path`: a form with `from`, `to`, `text`, `date`
    /// (UTC, `2006-01-02 15:04:05`), `id` and an empty `linkId`. Returns the status and body.
    pub async fn post_inbound(
        &self,
        server: std::net::SocketAddr,
        path: &str,
        id: &str,
        from: &str,
        short_code: &str,
        text: &str,
    ) -> (u16, String) {
        let date = utc_timestamp(unix_now());
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("from", from),
                ("to", short_code),
                ("text", text),
                ("date", &date),
                ("id", id),
                ("linkId", ""),
            ])
            .finish();
        crate::common::try_request(server, "POST", path, "application/x-www-form-urlencoded", &body)
            .await
            .expect("the server answers the inbound SMS callback")
    }

    /// Reports the delivery of a message this double sent (by its `ATXid_…`), as Africa's
    /// Talking POSTs it to the delivery-reports callback: `id`, `status`, `phoneNumber` (the
    /// recipient it recorded), `networkCode`, `failureReason` (for `Rejected` and `Failed`) and
    /// `retryCount`. Panics when the double never sent that message.
    pub async fn post_delivery_report(
        &self,
        server: std::net::SocketAddr,
        path: &str,
        message_id: &str,
        status: &str,
        failure_reason: Option<&str>,
    ) -> (u16, String) {
        let to = self
            .messages()
            .into_iter()
            .find(|m| m.message_id == message_id)
            .unwrap_or_else(|| panic!("the double never sent {message_id}"))
            .to;
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.extend_pairs([("id", message_id), ("status", status), ("phoneNumber", &to), ("networkCode", "63902")]);
        if let Some(reason) = failure_reason {
            form.append_pair("failureReason", reason);
        }
        form.append_pair("retryCount", "0");
        crate::common::try_request(server, "POST", path, "application/x-www-form-urlencoded", &form.finish())
            .await
            .expect("the server answers the delivery report callback")
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, the `date` of Africa's Talking's inbound SMS callback.
pub fn utc_timestamp(unix: i64) -> String {
    let (y, mo, d) = njia::clock::civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `+` followed by 10 to 15 digits.
fn is_international_number(n: &str) -> bool {
    n.strip_prefix('+').is_some_and(|d| (10..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

async fn at_messaging(State(s): State<Arc<Mutex<AtState>>>, headers: HeaderMap, raw: Bytes) -> Response {
    let mut st = lock(&s);
    st.requests += 1;
    if st.down {
        return text_response(500, "text/plain", "Internal Server Error".into());
    }
    if header_str(&headers, "apikey") != Some(st.api_key.as_str()) {
        return text_response(401, "text/plain", "The supplied authentication is invalid".into());
    }
    let form: HashMap<String, String> = form_urlencoded::parse(&raw).into_owned().collect();
    for required in ["username", "to", "message"] {
        if form.get(required).is_none_or(|v| v.is_empty()) {
            return text_response(400, "text/plain", format!("Request is missing required form field '{required}'"));
        }
    }
    let now = Instant::now();
    let mut recipients = Vec::new();
    let mut sent = 0usize;
    for number in form["to"].split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let failure = if is_international_number(number) {
            st.failures.get(number.trim_start_matches('+')).cloned()
        } else {
            Some((403, "InvalidPhoneNumber".to_owned()))
        };
        let (status_code, status, cost, message_id) = match failure {
            Some((code, status)) => (code, status, "0".to_owned(), "None".to_owned()),
            None => {
                st.sequence += 1;
                sent += 1;
                let id = format!("ATXid_{}{:06}", random_from(HEX, 26), st.sequence);
                (101, "Success".to_owned(), "KES 0.8000".to_owned(), id)
            }
        };
        recipients.push(json!({
            "statusCode": status_code,
            "number": number,
            "status": status,
            "cost": cost,
            "messageId": message_id,
        }));
        st.messages.push(RecordedSms {
            to: number.to_owned(),
            message: form["message"].clone(),
            from: form.get("from").filter(|f| !f.is_empty()).cloned(),
            username: form["username"].clone(),
            status_code,
            status,
            message_id,
            at: now,
        });
    }
    let total = if sent == 0 { "0".to_owned() } else { format!("KES {:.4}", 0.8 * sent as f64) };
    let summary = format!("Sent to {sent}/{} Total Cost: {total}", recipients.len());
    let wants_json = header_str(&headers, "accept").is_some_and(|a| a.contains("application/json"));
    if wants_json {
        return json_response(201, &json!({"SMSMessageData": {"Message": summary, "Recipients": recipients}}));
    }
    // Without `Accept: application/json` the real API answers XML; so does the double, so a
    // client that forgets the header fails here as it would in production.
    let items: String = recipients
        .iter()
        .map(|r| {
            format!(
                concat!(
                    "<Recipient><number>{}</number><cost>{}</cost><status>{}</status>",
                    "<statusCode>{}</statusCode><messageId>{}</messageId></Recipient>"
                ),
                r["number"].as_str().unwrap_or_default(),
                r["cost"].as_str().unwrap_or_default(),
                r["status"].as_str().unwrap_or_default(),
                r["statusCode"],
                r["messageId"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    text_response(
        201,
        "application/xml",
        format!(
            concat!(
                "<?xml version='1.0' encoding='UTF-8'?><AfricasTalkingResponse><SMSMessageData>",
                "<Message>{summary}</Message><Recipients>{items}</Recipients></SMSMessageData></AfricasTalkingResponse>"
            ),
            summary = summary,
            items = items
        ),
    )
}
