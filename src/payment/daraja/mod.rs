//! The M-Pesa Daraja (Safaricom) STK push wire client: OAuth token cache, push, status query,
//! callback parsing, and the mapping of Daraja's answers onto [`PushOutcome`] and [`QueryOutcome`].
//!
//! Only the wire format lives here. Whether a push may be retried, and what a result means for
//! a citizen's request, is decided in [`crate::handoff`] from the outcomes this module returns.
//! `wire.rs` holds the JSON shapes and every rule that reads or writes them (pure), `token.rs`
//! the access token's cache and `client.rs` the HTTP calls.
//!
//! [`PushOutcome`]: super::PushOutcome
//! [`QueryOutcome`]: super::QueryOutcome

mod client;
mod token;
mod wire;

pub use client::{Daraja, DarajaConfig, DarajaError};
pub use wire::{
    ACCOUNT_REFERENCE_MAX, CallbackError, TRANSACTION_DESC_MAX, TransactionType, classify_push_error,
    classify_push_response, classify_query_error, normalize_phone, parse_callback, parse_query_response, password,
    sanitize, timestamp_eat,
};

/// A transport error with its causes, which reqwest's own message leaves out.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
