//! Payment providers at the IO edge: the [`Payments`] trait the dispatcher drives, the
//! M-Pesa Daraja client ([`daraja`]) and the simulated provider of sandbox mode ([`sandbox`]).
//!
//! The provider only speaks its wire format. What a result means for a request (paid, failed,
//! retry later, unknown) is decided in [`crate::handoff`], so every provider shares one state
//! machine. This module sits below the hand-off and never imports it: Daraja's callbacks reach
//! the hand-off through the server's route, the sandbox's through the
//! [`sandbox::CallbackSink`] the server gives it.

pub mod daraja;
pub mod sandbox;

use crate::BoxFuture;
use crate::types::Msisdn;

/// Where payment callbacks arrive: `{public_url}/payments/stk/{token}`. The path avoids the
/// words Safaricom refuses in callback URLs ("mpesa", "query", …). The route itself is the
/// server's (`server::routes`): it hands the result to the hand-off, which sits above this
/// module.
pub const CALLBACK_PATH: &str = "/payments/stk";

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
