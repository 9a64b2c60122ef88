//! Durable state: submitted requests and citizen profiles, behind the [`Store`] trait.
//!
//! The embedded default is SQLite ([`sqlite::SqliteStore`]); PostgreSQL implements the same
//! trait for production. A submit returns only after its transaction is committed, which is
//! what lets the USSD reply say "received".

pub mod sqlite;

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
