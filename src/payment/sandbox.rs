//! Sandbox mode's simulated M-Pesa: accepts every push and, a moment later, "calls back" with
//! a success through the same code path as a real Daraja callback, so a newcomer can dial the
//! demo, pay and get the receipt SMS on a machine with no credentials. Every push is logged
//! loudly as simulated.
//!
//! The "same code path" is the hand-off's, which sits above this module: the server gives the
//! simulation a [`CallbackSink`] that leads there, so payments never import the hand-off.

use std::sync::Arc;
use std::time::Duration;

use crate::BoxFuture;
use crate::payment::{PaymentResult, Payments, PushOutcome, PushRequest, QueryOutcome};
use crate::store::StoreError;

/// Where a simulated provider delivers the callback a real one would POST: the server wires it
/// to the hand-off's `payment_callback`, the one path every payment result takes.
pub trait CallbackSink: Send + Sync + 'static {
    /// Records `result` for the attempt whose callback token is `token`; durable when it
    /// returns `Ok`.
    fn deliver<'a>(&'a self, token: &'a str, result: &'a PaymentResult) -> BoxFuture<'a, Result<(), StoreError>>;
}

pub struct SandboxPayments {
    /// Where the simulated callbacks go.
    pub callbacks: Arc<dyn CallbackSink>,
    /// Time the simulated citizen takes to enter their PIN.
    pub pin_delay: Duration,
}

fn sim_id(prefix: &str) -> String {
    let t = crate::store::callback_token().to_uppercase();
    format!("{prefix}{}", &t[..10])
}

impl Payments for SandboxPayments {
    fn push<'a>(&'a self, request: &'a PushRequest) -> BoxFuture<'a, PushOutcome> {
        Box::pin(async move {
            let checkout = sim_id("ws_CO_SIM");
            let merchant = sim_id("SIM-");
            tracing::warn!(
                phone = %request.phone.masked(),
                amount_kes = request.amount_kes,
                account = %request.account_reference,
                "SIMULATED M-Pesa push (sandbox mode): no money moves; it will succeed in {:?}",
                self.pin_delay
            );
            let result = PaymentResult {
                merchant_request_id: merchant.clone(),
                checkout_request_id: checkout.clone(),
                result_code: 0,
                result_desc: "The service request is processed successfully. (simulated)".into(),
                receipt: Some(sim_id("S")),
                amount: Some(request.amount_kes.to_string()),
                phone: Some(request.phone.as_u64()),
            };
            let callbacks = Arc::clone(&self.callbacks);
            let token = request.callback_token.clone();
            let delay = self.pin_delay;
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Err(e) = callbacks.deliver(&token, &result).await {
                    // The query job settles it later, as it would a lost Daraja callback.
                    tracing::error!(error = %e, "simulated M-Pesa callback could not be recorded");
                }
            });
            PushOutcome::Accepted { checkout_request_id: checkout, merchant_request_id: merchant }
        })
    }

    fn query<'a>(&'a self, _checkout_request_id: &'a str) -> BoxFuture<'a, QueryOutcome> {
        Box::pin(async move {
            QueryOutcome::Final {
                result_code: 0,
                result_desc: "The service request is processed successfully. (simulated)".into(),
            }
        })
    }
}
