//! Agency service backends: where a completed request is delivered, and the HTTP lookups a
//! menu makes during a session. The contract an agency implements is `docs/agency-api.md`.
//!
//! Every call is signed with Standard Webhooks headers ([`crate::webhook`]); a delivery also
//! carries `Idempotency-Key: <reference>` and is retried by the dispatcher until the agency
//! decides, so the agency sees each request once however often it is sent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::BoxFuture;
use crate::engine::{LookupAnswer, LookupCall, Value};
use crate::lookup::{Lookup, LookupError};
use crate::metrics::Outbound;
use crate::shared::Shared;
use crate::types::Msisdn;
use crate::webhook;

/// A request as the agency receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub reference: String,
    pub service: String,
    /// `254…` digits.
    pub msisdn: String,
    pub language: String,
    pub submitted_at_ms: i64,
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub payment: Option<DeliveredPayment>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeliveredPayment {
    pub provider: String,
    pub amount_kes: u64,
    pub receipt: Option<String>,
}

/// What the agency decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Accepted {
        agency_reference: Option<String>,
    },
    /// Refused for good (a 4xx that is not a "try again").
    Rejected {
        status: u16,
        reason: String,
    },
    /// Not decided (down, timeout, throttled): try again later.
    Retry {
        detail: String,
    },
}

pub trait Agency: Send + Sync + 'static {
    fn deliver<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, DeliveryOutcome>;
}

/// One configured agency backend.
pub struct HttpBackend {
    pub name: String,
    base_url: String,
    key: Vec<u8>,
    deliver_http: reqwest::Client,
    lookup_http: reqwest::Client,
    /// Latency and results of its deliveries and lookups (`agency:<name>` on `/metrics`).
    delivered: Arc<Outbound>,
    looked_up: Arc<Outbound>,
}

impl std::fmt::Debug for HttpBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpBackend").field("name", &self.name).field("base_url", &self.base_url).finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("backend {0}: {1}")]
    Secret(String, webhook::WebhookError),
    #[error("backend {0}: {1}")]
    Http(String, reqwest::Error),
}

/// Deliveries wait this long for the agency (Standard Webhooks suggests 15 to 30 s).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(15);

impl HttpBackend {
    /// `secret` is the `whsec_…` string; `lookup_timeout` is the session's lookup deadline.
    pub fn new(
        name: &str,
        base_url: &str,
        secret: &str,
        lookup_timeout: Duration,
    ) -> Result<HttpBackend, BackendError> {
        let key = webhook::parse_secret(secret).map_err(|e| BackendError::Secret(name.to_owned(), e))?;
        let build = |t: Duration| {
            reqwest::Client::builder()
                .timeout(t)
                .connect_timeout(t.min(Duration::from_secs(5)))
                .build()
                .map_err(|e| BackendError::Http(name.to_owned(), e))
        };
        let provider = format!("agency:{name}");
        Ok(HttpBackend {
            name: name.to_owned(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            key,
            deliver_http: build(DELIVERY_TIMEOUT)?,
            lookup_http: build(lookup_timeout)?,
            delivered: crate::metrics::outbound(&provider, "deliver"),
            looked_up: crate::metrics::outbound(&provider, "lookup"),
        })
    }

    fn signed(&self, http: &reqwest::Client, path: &str, id: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
        let ts = crate::store::now_ms() / 1000;
        let signature = webhook::sign(&self.key, id, ts, &body);
        http.post(format!("{}{path}", self.base_url))
            .header("Content-Type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body)
    }

    /// Asks `POST {base}/lookups/{operation}`.
    pub async fn lookup(&self, caller: Msisdn, call: &LookupCall) -> Result<LookupAnswer, LookupError> {
        let args: serde_json::Map<String, serde_json::Value> =
            call.args.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        let body = serde_json::json!({ "msisdn": caller.digits(), "language": call.language.as_str(), "args": args });
        let body = serde_json::to_vec(&body).map_err(|e| LookupError::Backend(e.to_string()))?;
        let id = format!("lookup_{}", crate::store::callback_token());
        let path = format!("/lookups/{}", call.operation);
        // Every way out but the two marked counts as an error, the hop's deadline included
        // (it drops this future, and the timing with it).
        let timing = self.looked_up.start();
        let res = self
            .signed(&self.lookup_http, &path, &id, body)
            .send()
            .await
            .map_err(|e| LookupError::Backend(format!("{}: {e}", self.name)))?;
        let status = res.status();
        if !status.is_success() {
            if status.is_client_error() {
                timing.done("refused");
            }
            return Err(LookupError::Backend(format!("{} answered HTTP {}", self.name, status.as_u16())));
        }
        let bytes = res.bytes().await.map_err(|e| LookupError::Backend(format!("{}: {e}", self.name)))?;
        let answer = parse_lookup_answer(&bytes).map_err(|e| LookupError::Backend(format!("{}: {e}", self.name)))?;
        timing.done("ok");
        Ok(answer)
    }
}

#[derive(Deserialize)]
struct LookupBody {
    found: bool,
    #[serde(default)]
    values: serde_json::Map<String, serde_json::Value>,
}

/// Reads `{"found": true, "values": {...}}` (strings, or lists of strings).
pub fn parse_lookup_answer(bytes: &[u8]) -> Result<LookupAnswer, String> {
    let body: LookupBody = serde_json::from_slice(bytes).map_err(|e| format!("unreadable lookup answer: {e}"))?;
    if !body.found {
        return Ok(LookupAnswer::NotFound);
    }
    let mut values = Vec::with_capacity(body.values.len());
    for (k, v) in body.values {
        let v = match v {
            serde_json::Value::String(s) => Value::Text(s.into()),
            serde_json::Value::Number(n) => Value::Text(n.to_string().into()),
            serde_json::Value::Array(items) => Value::List(
                items
                    .into_iter()
                    .map(|i| match i {
                        serde_json::Value::String(s) => Ok(s.into()),
                        other => Err(format!("value {k} holds a non-string item {other}")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => return Err(format!("value {k} is {other}, not a string or a list of strings")),
        };
        values.push((k, v));
    }
    Ok(LookupAnswer::Found(values))
}

/// Maps an agency's HTTP status (see `docs/agency-api.md`): 2xx accepted; 401 (a secret
/// being rotated), 408, 409, 425, 429 and 5xx undecided; every other 4xx rejected.
pub fn classify_delivery(status: u16, body: &[u8]) -> DeliveryOutcome {
    #[derive(Deserialize, Default)]
    struct Answer {
        agency_reference: Option<String>,
        reason: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(body).unwrap_or_default();
    match status {
        200..=299 => DeliveryOutcome::Accepted { agency_reference: answer.agency_reference },
        401 | 408 | 409 | 425 | 429 => DeliveryOutcome::Retry { detail: format!("HTTP {status}") },
        400..=499 => DeliveryOutcome::Rejected {
            status,
            reason: answer.reason.unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect()),
        },
        _ => DeliveryOutcome::Retry { detail: format!("HTTP {status}") },
    }
}

impl Agency for HttpBackend {
    fn deliver<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, DeliveryOutcome> {
        Box::pin(async move {
            let body = match serde_json::to_vec(delivery) {
                Ok(b) => b,
                Err(e) => return DeliveryOutcome::Retry { detail: e.to_string() },
            };
            // The same id on every try: the agency's idempotency and Standard Webhooks
            // deduplication both key on it.
            let id = format!("deliver_{}", delivery.reference);
            let timing = self.delivered.start();
            let res = self
                .signed(&self.deliver_http, "/requests", &id, body)
                .header("Idempotency-Key", &delivery.reference)
                .send()
                .await;
            let outcome = match res {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body = r.bytes().await.unwrap_or_default();
                    classify_delivery(status, &body)
                }
                Err(e) => DeliveryOutcome::Retry { detail: format!("{}: {e}", self.name) },
            };
            timing.done(match outcome {
                DeliveryOutcome::Accepted { .. } => "ok",
                DeliveryOutcome::Rejected { .. } => "refused",
                DeliveryOutcome::Retry { .. } => "error",
            });
            outcome
        })
    }
}

/// The simulated agency of sandbox mode: accepts every request at once.
pub struct SimulatedAgency;

impl Agency for SimulatedAgency {
    fn deliver<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, DeliveryOutcome> {
        Box::pin(async move {
            tracing::warn!(reference = %delivery.reference, service = %delivery.service, "SIMULATED agency accepted the request (sandbox mode)");
            DeliveryOutcome::Accepted { agency_reference: Some(format!("SIM-{}", delivery.reference)) }
        })
    }
}

/// An agency's lookup backend in a sandbox (`journey::sandboxed` keeps the names of
/// `[backends.*]` so the menus still pass the check): it never reaches the agency and answers
/// every lookup as unavailable, so the citizen is shown the lookup's apology, as when the
/// agency is down. Logged as simulated, like every simulated step of sandbox mode.
pub struct SimulatedLookup {
    pub backend: String,
}

impl Lookup for SimulatedLookup {
    fn call<'a>(&'a self, _: Msisdn, call: &'a LookupCall) -> BoxFuture<'a, Result<LookupAnswer, LookupError>> {
        Box::pin(async move {
            tracing::warn!(
                backend = %self.backend,
                operation = %call.operation,
                "SIMULATED lookup answered as unavailable (sandbox mode: the agency is not reached)"
            );
            Err(LookupError::Backend(format!("{}: simulated as unavailable in sandbox mode", self.backend)))
        })
    }
}

/// Routes deliveries by service to their backend; services with no backend go to the
/// simulated agency in sandbox mode and are undeliverable otherwise (refused at start and at
/// a reload).
#[derive(Default)]
pub struct Agencies {
    /// Backends named for a service (`services = [...]`), which win.
    pub by_service: HashMap<String, Arc<HttpBackend>>,
    /// Backends named for a catalogue agency (`agencies = [...]`): every service of it.
    pub by_agency: HashMap<String, Arc<HttpBackend>>,
    /// Each catalogue service's agency, as the menus in service say: replaced by a reload, so
    /// a row added to an agency's file is delivered without a restart.
    pub service_agency: Arc<Shared<HashMap<String, String>>>,
    pub by_name: HashMap<String, Arc<HttpBackend>>,
    pub simulated: bool,
}

impl Agencies {
    /// The backend that delivers `service`, if any.
    pub fn backend_for(&self, service: &str) -> Option<Arc<HttpBackend>> {
        if let Some(b) = self.by_service.get(service) {
            return Some(Arc::clone(b));
        }
        let agencies = self.service_agency.load();
        agencies.get(service).and_then(|a| self.by_agency.get(a)).cloned()
    }
}

impl Agency for Agencies {
    fn deliver<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, DeliveryOutcome> {
        Box::pin(async move {
            match self.backend_for(&delivery.service) {
                Some(b) => b.deliver(delivery).await,
                None if self.simulated => SimulatedAgency.deliver(delivery).await,
                None => {
                    DeliveryOutcome::Retry { detail: format!("no backend delivers service {:?}", delivery.service) }
                }
            }
        })
    }
}

/// An agency backend answers lookups over HTTP (`POST {base}/lookups/{operation}`); `lookup`
/// sits below `agency` and knows backends only as this trait.
impl Lookup for HttpBackend {
    fn call<'a>(&'a self, caller: Msisdn, call: &'a LookupCall) -> BoxFuture<'a, Result<LookupAnswer, LookupError>> {
        Box::pin(self.lookup(caller, call))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend named for a service wins; an agency's backend delivers every service the
    /// menus in service give that agency, and a reload's new map is used at once.
    #[test]
    fn deliveries_route_by_service_then_by_the_agency_in_service() {
        let secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3";
        let backend = |name: &str| {
            Arc::new(HttpBackend::new(name, "http://127.0.0.1:1", secret, Duration::from_secs(1)).unwrap())
        };
        let mut a = Agencies::default();
        a.by_service.insert("land-rates".into(), backend("lands"));
        a.by_agency.insert("kra".into(), backend("kra"));
        a.service_agency.store(Arc::new(HashMap::from([("kra-pin-check".to_owned(), "kra".to_owned())])));
        let name = |s: &str| a.backend_for(s).map(|b| b.name.clone());
        assert_eq!(name("land-rates").as_deref(), Some("lands"));
        assert_eq!(name("kra-pin-check").as_deref(), Some("kra"));
        assert_eq!(name("kra-tcc"), None, "not in the menus in service");
        // A reload adds the row.
        a.service_agency.store(Arc::new(HashMap::from([
            ("kra-pin-check".to_owned(), "kra".to_owned()),
            ("kra-tcc".to_owned(), "kra".to_owned()),
        ])));
        assert_eq!(name("kra-tcc").as_deref(), Some("kra"));
    }

    #[test]
    fn delivery_statuses() {
        assert_eq!(
            classify_delivery(200, br#"{"agency_reference":"L-1"}"#),
            DeliveryOutcome::Accepted { agency_reference: Some("L-1".into()) }
        );
        assert_eq!(classify_delivery(204, b""), DeliveryOutcome::Accepted { agency_reference: None });
        assert_eq!(
            classify_delivery(422, br#"{"reason":"parcel closed"}"#),
            DeliveryOutcome::Rejected { status: 422, reason: "parcel closed".into() }
        );
        for retry in [401, 408, 409, 425, 429, 500, 502, 503] {
            assert!(matches!(classify_delivery(retry, b""), DeliveryOutcome::Retry { .. }), "{retry}");
        }
    }

    #[test]
    fn lookup_answers() {
        assert_eq!(parse_lookup_answer(br#"{"found":false}"#), Ok(LookupAnswer::NotFound));
        assert_eq!(
            parse_lookup_answer(br#"{"found":true,"values":{"owner":"A","list":["x","y"],"n":5}}"#),
            Ok(LookupAnswer::Found(vec![
                ("list".into(), Value::List(vec!["x".into(), "y".into()])),
                ("n".into(), Value::Text("5".into())),
                ("owner".into(), Value::Text("A".into())),
            ]))
        );
        assert!(parse_lookup_answer(br#"{"found":true,"values":{"x":{"a":1}}}"#).is_err());
        assert!(parse_lookup_answer(b"<html>").is_err());
    }
}
