//! Payment providers at the IO edge: the [`Payments`] trait the dispatcher drives, the
//! M-Pesa Daraja client ([`daraja`]) and the simulated provider of sandbox mode ([`sandbox`]).
//!
//! The provider only speaks its wire format. What a result means for a request (paid, failed,
//! retry later, unknown) is decided in [`crate::handoff`], so every provider shares one state
//! machine.

pub mod daraja;
pub mod sandbox;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::BoxFuture;
use crate::handoff::{self, CallbackOutcome};
use crate::server::AppState;
use crate::types::Msisdn;

/// Where payment callbacks arrive: `{public_url}/payments/stk/{token}`. The path avoids the
/// words Safaricom refuses in callback URLs ("mpesa", "query", …).
pub const CALLBACK_PATH: &str = "/payments/stk";

/// The payment callback route.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route(&format!("{CALLBACK_PATH}/{{token}}"), post(stk_callback))
}

/// Daraja's acknowledgement body.
fn ack(status: StatusCode, code: u8, desc: &str) -> Response {
    let body = serde_json::json!({ "ResultCode": code, "ResultDesc": desc }).to_string();
    (status, [("content-type", "application/json")], body).into_response()
}

/// An STK callback: authenticated by the unguessable token in its path (Daraja signs
/// nothing), recorded durably before the 200 goes back, idempotent.
async fn stk_callback(State(state): State<Arc<AppState>>, Path(token): Path<String>, body: Bytes) -> Response {
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        tracing::warn!("payment callback with a malformed token refused");
        return ack(StatusCode::NOT_FOUND, 1, "Unknown callback");
    }
    let result = match daraja::parse_callback(&body) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "malformed payment callback refused");
            return ack(StatusCode::BAD_REQUEST, 1, &format!("Malformed callback: {e}"));
        }
    };
    let hub = state.hub();
    match handoff::payment_callback(hub.store.as_ref(), &hub.config.handoff, &token, &result).await {
        Ok(CallbackOutcome::Applied) => {
            hub.config.wake.notify_one();
            ack(StatusCode::OK, 0, "Accepted")
        }
        Ok(CallbackOutcome::Duplicate) => ack(StatusCode::OK, 0, "Accepted"),
        Ok(CallbackOutcome::UnknownToken) => {
            tracing::warn!(checkout = %result.checkout_request_id, "payment callback for an unknown token refused");
            ack(StatusCode::NOT_FOUND, 1, "Unknown callback")
        }
        Ok(CallbackOutcome::Mismatch) => {
            tracing::warn!(checkout = %result.checkout_request_id, "payment callback names another push; refused");
            ack(StatusCode::BAD_REQUEST, 1, "CheckoutRequestID does not match")
        }
        Err(e) => {
            // Not recorded: a non-2xx lets Daraja try again, and the query job settles it
            // otherwise.
            tracing::error!(error = %e, "payment callback could not be recorded");
            ack(StatusCode::SERVICE_UNAVAILABLE, 1, "Try again")
        }
    }
}

/// One STK push, as the dispatcher asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushRequest {
    /// The paying phone, which also receives the prompt.
    pub phone: Msisdn,
    /// Whole shillings (Daraja accepts integers only).
    pub amount_kes: u64,
    /// Shown to the citizen in the prompt; the provider trims it to what it accepts.
    pub account_reference: String,
    /// Free text; the provider trims it to what it accepts.
    pub description: String,
    /// Unguessable per-attempt token; the provider puts it in the callback URL path, which is
    /// how a callback is tied to its attempt (Daraja callbacks are not signed).
    pub callback_token: String,
}

/// What the provider said to a push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// Accepted for processing; the result arrives by callback or by query.
    Accepted { checkout_request_id: String, merchant_request_id: String },
    /// Refused before acceptance for a reason that will not change (invalid field, bad
    /// credentials): never retried.
    Rejected { code: String, message: String },
    /// The subscriber is locked (an open USSD session or another push in flight): the push
    /// was not accepted; try again no sooner than a minute later.
    SubscriberBusy { message: String },
    /// Throttled or busy (spike arrest, quota, "system is busy"): not accepted; retry with
    /// backoff.
    Throttled { code: String, message: String },
    /// It is not known whether the provider accepted the push (timeout after the request was
    /// sent, a 5xx without a recognised body). Never pushed again: the callback or a query
    /// settles it.
    Unknown { detail: String },
    /// The request certainly did not reach the provider (connection refused, DNS): safe to
    /// retry.
    NotSent { detail: String },
}

/// What a status query said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    /// The citizen has not finished yet ("The transaction is being processed"): ask again.
    Pending,
    /// The final result: 0 paid, anything else failed.
    Final { result_code: i64, result_desc: String },
    /// The query itself failed (network, throttling, token): ask again later.
    Failed { detail: String },
}

/// A parsed asynchronous result (the STK callback body).
#[derive(Clone, Debug, PartialEq)]
pub struct PaymentResult {
    pub merchant_request_id: String,
    pub checkout_request_id: String,
    pub result_code: i64,
    pub result_desc: String,
    /// `MpesaReceiptNumber`, present on success.
    pub receipt: Option<String>,
    /// `Amount` as sent (`1` or `1.00`).
    pub amount: Option<String>,
    /// `PhoneNumber`, digits only.
    pub phone: Option<u64>,
}

/// A payment provider.
pub trait Payments: Send + Sync + 'static {
    /// Sends one push. Called at most once per payment attempt.
    fn push<'a>(&'a self, request: &'a PushRequest) -> BoxFuture<'a, PushOutcome>;
    /// Asks for the result of an accepted push.
    fn query<'a>(&'a self, checkout_request_id: &'a str) -> BoxFuture<'a, QueryOutcome>;
}
