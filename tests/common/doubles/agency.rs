//! The agency backend double (`docs/agency-api.md`): signed deliveries (`POST /requests`) and
//! lookups (`POST /lookups/{operation}`), both verified with Standard Webhooks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::task::JoinHandle;

use super::{header_str, json_response, lock, serve, unix_now};

type HmacSha256 = Hmac<Sha256>;

/// The key of a Standard Webhooks secret: the base64-decoded part after `whsec_`.
fn secret_key(secret: &str) -> Vec<u8> {
    B64.decode(secret.strip_prefix("whsec_").unwrap_or(secret)).expect("a whsec_ secret holds base64")
}

fn mac_over(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The Standard Webhooks signature (`v1,<base64>`) of `body` sent as message `id` at `timestamp`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = mac_over(&secret_key(secret), id, &timestamp.to_string(), body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// Checks the Standard Webhooks headers of a request over its raw body, in constant time.
fn verify_signature(key: &[u8], headers: &HeaderMap, body: &[u8]) -> Result<(), &'static str> {
    let id = header_str(headers, "webhook-id").ok_or("missing webhook-id")?;
    let timestamp = header_str(headers, "webhook-timestamp").ok_or("missing webhook-timestamp")?;
    let seconds: i64 = timestamp.parse().map_err(|_| "malformed webhook-timestamp")?;
    if (unix_now() - seconds).abs() > 300 {
        return Err("webhook-timestamp is more than 5 minutes away");
    }
    let signatures = header_str(headers, "webhook-signature").ok_or("missing webhook-signature")?;
    for entry in signatures.split(' ') {
        let Some(encoded) = entry.strip_prefix("v1,") else { continue };
        let Ok(tag) = B64.decode(encoded) else { continue };
        if mac_over(key, id, timestamp, body).verify_slice(&tag).is_ok() {
            return Ok(());
        }
    }
    Err("no valid signature")
}

/// One delivery try of `POST /requests`.
#[derive(Clone, Debug)]
pub struct AgencyTry {
    pub idempotency_key: Option<String>,
    pub webhook_id: Option<String>,
    pub webhook_timestamp: Option<String>,
    /// The parsed body (`Null` if it was not JSON).
    pub body: Value,
    /// The status the double answered.
    pub status: u16,
    /// The answer's body.
    pub answer: Value,
    pub at: Instant,
}

/// One call of `POST /lookups/{operation}`.
#[derive(Clone, Debug)]
pub struct RecordedLookup {
    pub operation: String,
    pub webhook_id: Option<String>,
    /// The parsed body (`Null` if it was not JSON).
    pub body: Value,
    pub status: u16,
    pub answer: Value,
    pub at: Instant,
}

struct AgencyState {
    key: Vec<u8>,
    down: bool,
    delay: Duration,
    lookup_delay: Duration,
    rejections: Vec<(String, String)>,
    /// Accepted requests in order: idempotency key, body, agency reference.
    accepted: Vec<(String, Value, String)>,
    /// Where each idempotency key is in `accepted`. A scan of `accepted` per delivery made the
    /// double quadratic: in the 30-minute soak run (170,000 deliveries) it took a millisecond
    /// and more per delivery, under its lock, and starved the machine it shares with the server.
    by_key: HashMap<String, usize>,
    duplicates: usize,
    tries: Vec<AgencyTry>,
    table: Vec<(String, Value, Option<Value>)>,
    lookups: Vec<RecordedLookup>,
}

impl AgencyState {
    fn decide_request(&mut self, headers: &HeaderMap, raw: &[u8], body: &Value) -> (u16, Value) {
        if self.down {
            return (503, json!({"reason": "the service is down for maintenance"}));
        }
        if let Err(why) = verify_signature(&self.key, headers, raw) {
            return (401, json!({"reason": why}));
        }
        let Some(key) = header_str(headers, "idempotency-key") else {
            return (400, json!({"reason": "missing Idempotency-Key"}));
        };
        if !body.is_object() {
            return (400, json!({"reason": "the body is not a JSON object"}));
        }
        if let Some((_, _, reference)) = self.by_key.get(key).and_then(|&i| self.accepted.get(i)) {
            self.duplicates += 1;
            return (200, json!({"agency_reference": reference}));
        }
        for (field, value) in &self.rejections {
            if body["fields"][field.as_str()].as_str() == Some(value.as_str()) {
                return (422, json!({"reason": format!("{field} {value} is not accepted")}));
            }
        }
        let reference = format!("AG-{}", self.accepted.len() + 1);
        self.by_key.insert(key.to_owned(), self.accepted.len());
        self.accepted.push((key.to_owned(), body.clone(), reference.clone()));
        (200, json!({"agency_reference": reference}))
    }

    fn decide_lookup(&self, operation: &str, headers: &HeaderMap, raw: &[u8], body: &Value) -> (u16, Value) {
        if self.down {
            return (503, json!({"reason": "the service is down for maintenance"}));
        }
        if let Err(why) = verify_signature(&self.key, headers, raw) {
            return (401, json!({"reason": why}));
        }
        let well_formed = body["msisdn"].is_string() && body["language"].is_string() && body["args"].is_object();
        if !well_formed {
            return (400, json!({"reason": "expected {\"msisdn\", \"language\", \"args\"}"}));
        }
        let found = self.table.iter().find(|(op, args, _)| op == operation && *args == body["args"]);
        match found {
            Some((_, _, Some(values))) => (200, json!({"found": true, "values": values})),
            _ => (200, json!({"found": false})),
        }
    }
}

/// An agency service backend implementing `docs/agency-api.md`: deliveries and lookups, both
/// signed with Standard Webhooks.
pub struct AgencyDouble {
    /// `http://127.0.0.1:<port>`, the backend's `base_url`.
    pub url: String,
    /// The shared secret (`whsec_…`).
    pub secret: String,
    state: Arc<Mutex<AgencyState>>,
    server: JoinHandle<()>,
}

impl Drop for AgencyDouble {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl AgencyDouble {
    /// A fresh random secret: `whsec_` + base64 of 32 random bytes.
    pub fn new_secret() -> String {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes[..]);
        format!("whsec_{}", B64.encode(bytes))
    }

    /// Starts the double, verifying signatures with `secret` (`whsec_<base64>`).
    pub async fn start(secret: &str) -> AgencyDouble {
        let state = Arc::new(Mutex::new(AgencyState {
            key: secret_key(secret),
            down: false,
            delay: Duration::ZERO,
            lookup_delay: Duration::ZERO,
            rejections: Vec::new(),
            accepted: Vec::new(),
            by_key: HashMap::new(),
            duplicates: 0,
            tries: Vec::new(),
            table: Vec::new(),
            lookups: Vec::new(),
        }));
        let router = Router::new()
            .route("/requests", post(agency_requests))
            .route("/lookups/{operation}", post(agency_lookup))
            .with_state(state.clone());
        let (url, server) = serve(router).await;
        AgencyDouble { url, secret: secret.to_owned(), state, server }
    }

    /// While down, both endpoints answer 503.
    pub fn set_down(&self, down: bool) {
        lock(&self.state).down = down;
    }

    /// Rejects (422 with a `reason`) a new delivery whose `fields[field]` equals `value`.
    pub fn reject_when(&self, field: &str, value: &str) {
        lock(&self.state).rejections.push((field.to_owned(), value.to_owned()));
    }

    /// How long `POST /requests` waits before answering. The outcome is decided (and a new
    /// request accepted) when the delivery arrives, so a client that gives up still leaves an
    /// accepted request behind, as a slow real agency would.
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.state).delay = delay;
    }

    /// How long `POST /lookups/{operation}` waits before answering.
    pub fn set_lookup_delay(&self, delay: Duration) {
        lock(&self.state).lookup_delay = delay;
    }

    /// Answers `operation` called with exactly `args` (a JSON object) with
    /// `{"found":true,"values":values}`, or `{"found":false}` when `values` is `None`. Calls
    /// that match no entry answer `{"found":false}`. Setting the same operation and args again
    /// replaces the entry.
    pub fn set_lookup(&self, operation: &str, args: Value, values: Option<Value>) {
        let mut st = lock(&self.state);
        st.table.retain(|(op, a, _)| !(op == operation && *a == args));
        st.table.push((operation.to_owned(), args, values));
    }

    /// Every delivery try, in order, whatever was answered.
    pub fn tries(&self) -> Vec<AgencyTry> {
        lock(&self.state).tries.clone()
    }

    /// The bodies of the accepted requests, one per idempotency key, in order of acceptance.
    pub fn accepted(&self) -> Vec<Value> {
        lock(&self.state).accepted.iter().map(|(_, body, _)| body.clone()).collect()
    }

    /// The agency reference given to the request with `idempotency_key`, if it was accepted.
    pub fn reference_for(&self, idempotency_key: &str) -> Option<String> {
        let st = lock(&self.state);
        st.by_key.get(idempotency_key).and_then(|&i| st.accepted.get(i)).map(|(_, _, r)| r.clone())
    }

    /// How many deliveries arrived with a key that was already accepted.
    pub fn duplicates_accepted(&self) -> usize {
        lock(&self.state).duplicates
    }

    /// Every lookup call, in order.
    pub fn lookups(&self) -> Vec<RecordedLookup> {
        lock(&self.state).lookups.clone()
    }
}

async fn agency_requests(State(s): State<Arc<Mutex<AgencyState>>>, headers: HeaderMap, raw: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let (status, answer, delay) = {
        let mut st = lock(&s);
        let (status, answer) = st.decide_request(&headers, &raw, &body);
        st.tries.push(AgencyTry {
            idempotency_key: header_str(&headers, "idempotency-key").map(str::to_owned),
            webhook_id: header_str(&headers, "webhook-id").map(str::to_owned),
            webhook_timestamp: header_str(&headers, "webhook-timestamp").map(str::to_owned),
            body,
            status,
            answer: answer.clone(),
            at: Instant::now(),
        });
        (status, answer, st.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    json_response(status, &answer)
}

async fn agency_lookup(
    State(s): State<Arc<Mutex<AgencyState>>>,
    Path(operation): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let (status, answer, delay) = {
        let mut st = lock(&s);
        let (status, answer) = st.decide_lookup(&operation, &headers, &raw, &body);
        st.lookups.push(RecordedLookup {
            operation,
            webhook_id: header_str(&headers, "webhook-id").map(str::to_owned),
            body,
            status,
            answer: answer.clone(),
            at: Instant::now(),
        });
        (status, answer, st.lookup_delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    json_response(status, &answer)
}
