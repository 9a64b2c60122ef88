//! The real providers the hand-off calls, timed and counted for `/metrics`: Daraja's pushes and
//! queries and the SMS API's sends, by provider (`njia_outbound_*`). The clients themselves sit
//! below the metrics in the layers and know only their wire format; the server wraps what it
//! builds. Agency backends time their own calls (`agency` sits above the metrics). The
//! sandbox's simulations and the log sink are not wrapped: nothing leaves the machine.

use std::sync::Arc;

use crate::BoxFuture;
use crate::metrics::Outbound;
use crate::payment::{Payments, PushOutcome, PushRequest, QueryOutcome};
use crate::sms::{OutgoingSms, SmsOutcome, SmsSender};

/// A payment provider whose every call is timed and counted under `provider`.
pub struct MeasuredPayments {
    inner: Arc<dyn Payments>,
    pushes: Arc<Outbound>,
    queries: Arc<Outbound>,
}

impl MeasuredPayments {
    pub fn new(provider: &str, inner: Arc<dyn Payments>) -> MeasuredPayments {
        MeasuredPayments {
            inner,
            pushes: crate::metrics::outbound(provider, "push"),
            queries: crate::metrics::outbound(provider, "query"),
        }
    }
}

/// Codes the Daraja client gives a push it refused itself, before any call.
const REFUSED_LOCALLY: &str = "local.";

impl Payments for MeasuredPayments {
    fn push<'a>(&'a self, request: &'a PushRequest) -> BoxFuture<'a, PushOutcome> {
        Box::pin(async move {
            let timing = self.pushes.start();
            let outcome = self.inner.push(request).await;
            match &outcome {
                PushOutcome::Rejected { code, .. } if code.starts_with(REFUSED_LOCALLY) => timing.not_made(),
                PushOutcome::Accepted { .. } => timing.done("ok"),
                // Daraja answered and said no: it is up, the push was not for it.
                PushOutcome::Rejected { .. } | PushOutcome::SubscriberBusy { .. } => timing.done("refused"),
                PushOutcome::Throttled { .. } | PushOutcome::Unknown { .. } | PushOutcome::NotSent { .. } => {
                    timing.done("error")
                }
            }
            outcome
        })
    }

    fn query<'a>(&'a self, checkout_request_id: &'a str) -> BoxFuture<'a, QueryOutcome> {
        Box::pin(async move {
            let timing = self.queries.start();
            let outcome = self.inner.query(checkout_request_id).await;
            timing.done(match outcome {
                QueryOutcome::Pending | QueryOutcome::Final { .. } => "ok",
                QueryOutcome::Failed { .. } => "error",
            });
            outcome
        })
    }
}

/// An SMS sender whose every send is timed and counted under its own name.
pub struct MeasuredSms {
    inner: Arc<dyn SmsSender>,
    sends: Arc<Outbound>,
}

impl MeasuredSms {
    pub fn new(inner: Arc<dyn SmsSender>) -> MeasuredSms {
        let sends = crate::metrics::outbound(inner.name(), "send");
        MeasuredSms { inner, sends }
    }
}

impl SmsSender for MeasuredSms {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn send<'a>(&'a self, sms: &'a OutgoingSms) -> BoxFuture<'a, SmsOutcome> {
        Box::pin(async move {
            let timing = self.sends.start();
            let outcome = self.inner.send(sms).await;
            timing.done(match outcome {
                SmsOutcome::Accepted { .. } => "ok",
                SmsOutcome::Failed { permanent: true, .. } => "refused",
                SmsOutcome::Failed { permanent: false, .. } => "error",
            });
            outcome
        })
    }
}
