//! `HopSink`: everything a dialect reaches below itself, the one interface between the
//! channels and the hub. A dialect parses its wire format, hands what it parsed to the sink
//! and formats what comes back; it never sees the server's state, so the channels import the
//! hub and never the server that wires them.

use std::future::Future;
use std::sync::Arc;

use crate::handoff::ReportOutcome;
use crate::hub::{Hop, Hub, Reply};
use crate::sms::{DeliveryReport, InboundSms};
use crate::store::{SessionEnd, StoreError};
use crate::types::SessionKey;

/// The hub in service for one request. The server takes the hub once per request and hands it
/// to the dialect in this wrapper, so a request runs entirely on one menu set even when a
/// reload lands meanwhile, and a dialect can do only what its methods offer.
///
/// It is one `Arc`, moved, never cloned, on the hop path: a hop costs what it did when the
/// dialects read the hub from the server's state themselves.
pub struct HopSink(Arc<Hub>);

impl HopSink {
    pub fn new(hub: Arc<Hub>) -> HopSink {
        HopSink(hub)
    }

    /// Answers one USSD hop. The hub's own future is returned as it is, so the sink adds no
    /// state machine and no allocation to the hop.
    pub fn hop(&self, hop: Hop) -> impl Future<Output = Reply> + Send + '_ {
        self.0.hop(hop)
    }

    /// Whether the session is live (Infobip's `status` call).
    pub async fn is_active(&self, key: &SessionKey) -> bool {
        self.0.is_active(key).await
    }

    /// Records a gateway's end-of-session notice.
    pub async fn session_end(&self, end: SessionEnd) -> Result<(), StoreError> {
        self.0.store.record_session_end(end).await
    }

    /// Records an inbound SMS with its reply queued, once per provider message id (see
    /// [`crate::keywords::receive`]).
    pub async fn inbound_sms(&self, provider: &str, sms: &InboundSms) -> Result<bool, StoreError> {
        crate::keywords::receive(&self.0, provider, sms).await
    }

    /// Records a delivery report against the SMS it names (see
    /// [`crate::handoff::delivery_report`]).
    pub async fn delivery_report(&self, provider: &str, report: &DeliveryReport) -> Result<ReportOutcome, StoreError> {
        crate::handoff::delivery_report(self.0.store.as_ref(), &self.0.config.handoff, provider, report).await
    }

    /// Wakes the dispatcher: work was queued that should not wait for its next poll.
    pub fn wake_dispatcher(&self) {
        self.0.config.wake.notify_one();
    }
}
