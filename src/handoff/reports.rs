//! Delivery reports of the SMS sent: what a report changes ([`delivery_change`], pure: a final
//! status is never overwritten, and a failure that may pass sends the SMS again a bounded
//! number of times) and [`delivery_report`], which reads the SMS, decides and writes.

use super::Policy;
use crate::lifecycle::DeliveryStatus;
use crate::sms::DeliveryReport;
use crate::store::{DeliveryChange, Resend, SmsRow, Store, StoreError, now_ms};

/// Failure reasons after which sending the same SMS again cannot help (Africa's Talking's
/// delivery report `failureReason` values, and the send API's permanent refusals).
const PERMANENT_FAILURES: &[&str] = &[
    "UserInBlackList",
    "UserInBlacklist",
    "UserAccountSuspended",
    "UserDoesNotExist",
    "NotNetworkSubcriber",
    "NotNetworkSubscriber",
    "UserNotSubscribedToProduct",
    "InvalidLinkId",
    "InsufficientCredit",
    "InvalidPhoneNumber",
    "UnsupportedNumberType",
];

/// Whether a failed delivery may succeed if the SMS is sent again later: `DeliveryFailure`,
/// `AbsentSubscriber`, `UserIsInactive` (the phone was off or out of coverage), and any reason
/// that is unknown or absent (an expired message gives none).
pub fn transient_failure(reason: Option<&str>) -> bool {
    reason.is_none_or(|r| !PERMANENT_FAILURES.iter().any(|p| p.eq_ignore_ascii_case(r.trim())))
}

/// What a delivery report changes on the SMS it names: its delivery status, unless that is
/// final already (so a duplicate report, or an interim one arriving late, changes nothing),
/// and, for a failure that may pass, the SMS sent again after `sms_resend_delay_ms`, at most
/// `sms_resends` times. `None` when nothing is to change: a final status is recorded, or the
/// report names another phone number than the SMS went to.
pub fn delivery_change(sms: &SmsRow, report: &DeliveryReport, policy: &Policy, now: i64) -> Option<DeliveryChange> {
    if sms.delivery.is_some_and(DeliveryStatus::is_final) || report.msisdn.is_some_and(|m| m != sms.record.msisdn) {
        return None;
    }
    let resend = (report.status.is_failure()
        && transient_failure(report.failure_reason.as_deref())
        && sms.attempt <= policy.sms_resends)
        .then(|| Resend { send_at_ms: now + policy.sms_resend_delay_ms, max_failures: policy.max_failures });
    Some(DeliveryChange {
        sms_id: sms.id,
        from: std::iter::once(None).chain(DeliveryStatus::INTERIM.map(Some)).collect(),
        to: report.status,
        failure_reason: report.failure_reason.clone(),
        network_code: report.network_code.clone(),
        resend,
    })
}

/// What became of a delivery report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportOutcome {
    /// Recorded; `resent` when the SMS is queued to be sent again.
    Applied { resent: bool },
    /// Nothing changed: the SMS has a final status already, or the report names another number.
    Ignored,
    /// No SMS sent by `sender` has that message id.
    UnknownMessage,
}

/// Records a delivery report against the SMS `sender` knows by the report's id. Durable when it
/// returns.
pub async fn delivery_report(
    store: &dyn Store,
    policy: &Policy,
    sender: &str,
    report: &DeliveryReport,
) -> Result<ReportOutcome, StoreError> {
    let Some(sms) = store.sms_by_provider_id(sender, &report.provider_id).await? else {
        return Ok(ReportOutcome::UnknownMessage);
    };
    let Some(change) = delivery_change(&sms, report, policy, now_ms()) else { return Ok(ReportOutcome::Ignored) };
    let resent = change.resend.is_some();
    Ok(if store.apply_delivery(change).await? { ReportOutcome::Applied { resent } } else { ReportOutcome::Ignored })
}
