//! Durable state: submitted requests and citizen profiles, behind the [`Store`] trait.
//!
//! The embedded default is SQLite ([`sqlite::SqliteStore`]); PostgreSQL implements the same
//! trait for production. A submit returns only after its transaction is committed, which is
//! what lets the USSD reply say "received".

pub mod postgres;
pub mod sqlite;

use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::BoxFuture;
use crate::types::{Locale, Msisdn, Reference};

/// A request to store, as the engine produced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRequest {
    /// Unique per submit; a retried submit hop with the same key stores nothing new.
    pub idempotency_key: String,
    pub menu: String,
    pub service: String,
    pub msisdn: Msisdn,
    pub locale: Locale,
    /// Amount and account when the request must be paid.
    pub payment: Option<(String, String)>,
    pub fields: Vec<(String, String)>,
}

/// The outcome of a submit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub reference: Reference,
    /// False when the idempotency key was already known (a retry): nothing new was stored.
    pub created: bool,
}

/// A stored request as administrators and status lookups see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRow {
    pub reference: Reference,
    pub menu: String,
    pub service: String,
    pub msisdn: Msisdn,
    pub locale: String,
    pub fields: Vec<(String, String)>,
    pub payment: Option<(String, String)>,
    pub status: String,
    pub created_at_ms: i64,
}

/// A telco's end-of-session notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEnd {
    pub channel: String,
    pub session_id: String,
    pub msisdn: Option<Msisdn>,
    pub status: String,
    pub hops: Option<i64>,
    pub duration_ms: Option<i64>,
    pub error_message: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(String),
}

pub trait Store: Send + Sync + 'static {
    /// The language remembered for a phone number.
    fn language(&self, msisdn: Msisdn) -> BoxFuture<'_, Result<Option<Locale>, StoreError>>;
    /// Remembers a language; durable when the future resolves.
    fn set_language(&self, msisdn: Msisdn, locale: Locale) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Stores a request (idempotent on its key); durable when the future resolves.
    fn submit(&self, request: NewRequest) -> BoxFuture<'_, Result<Stored, StoreError>>;
    fn request<'a>(&'a self, reference: &'a Reference) -> BoxFuture<'a, Result<Option<RequestRow>, StoreError>>;
    /// The newest requests, optionally only one phone number's.
    fn recent_requests(&self, msisdn: Option<Msisdn>, limit: u32)
    -> BoxFuture<'_, Result<Vec<RequestRow>, StoreError>>;
    /// Records an end-of-session notification (idempotent on channel and session id).
    fn record_session_end(&self, end: SessionEnd) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// Unix milliseconds, the time unit of every stored timestamp.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Unpredictable bits for a reference: SipHash with per-process random keys over a counter and
/// the clock, so references cannot be guessed from one another.
pub(crate) fn reference_bits(attempt: u64) -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    thread_local! { static KEYS: std::hash::RandomState = std::hash::RandomState::new(); }
    KEYS.with(|k| {
        let mut h = k.build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u64(attempt);
        h.write_i64(now_ms());
        h.finish()
    })
}

/// A request's fields as the JSON object both stores keep.
pub(crate) fn fields_to_json(fields: &[(String, String)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> =
        fields.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
    serde_json::Value::Object(map).to_string()
}

/// The fields back from their JSON object (in key order).
pub(crate) fn fields_from_json(json: &str) -> Vec<(String, String)> {
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json)
        .map(|m| m.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default()
}
