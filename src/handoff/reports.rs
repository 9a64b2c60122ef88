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
    if sms.delivery.is_some_and(DeliveryStatus::is_final) || report.msisdn.is_some_and(|m| Some(m) != sms.record.msisdn)
    {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::fixtures::citizen;
    use crate::store::SmsRecord;
    use crate::types::Msisdn;

    const NOW: i64 = 1_000_000;

    fn sent(attempt: u32, delivery: Option<DeliveryStatus>) -> SmsRow {
        SmsRow {
            id: 21,
            reference: None,
            record: SmsRecord {
                msisdn: Some(citizen()),
                locale: "sw".into(),
                text: "Ombi limepokelewa".into(),
                segments: 1,
                sender: "africastalking".into(),
                status: "Success".into(),
                provider_id: Some("ATX-1".into()),
            },
            at_ms: 0,
            request_id: Some(3),
            inbound_id: None,
            attempt,
            resend_of: None,
            delivery,
            failure_reason: None,
            delivery_at_ms: None,
        }
    }

    fn report(status: DeliveryStatus, reason: Option<&str>, msisdn: Option<Msisdn>) -> DeliveryReport {
        DeliveryReport {
            provider_id: "ATX-1".into(),
            status,
            msisdn,
            network_code: Some("63902".into()),
            failure_reason: reason.map(str::to_owned),
            retry_count: None,
        }
    }

    #[test]
    fn only_failures_that_may_pass_are_transient() {
        for (reason, transient) in [
            (None, true),
            (Some("DeliveryFailure"), true),
            (Some("AbsentSubscriber"), true),
            (Some("UserIsInactive"), true),
            (Some("SomethingNew"), true),
            (Some("UserInBlackList"), false),
            (Some(" userinblacklist "), false),
            (Some("InvalidPhoneNumber"), false),
            (Some("InsufficientCredit"), false),
        ] {
            assert_eq!(transient_failure(reason), transient, "{reason:?}");
        }
    }

    /// Every branch of `delivery_change`: final statuses stay, another number changes nothing,
    /// and only a failure that may pass, within the re-sends allowed, sends the SMS again.
    #[test]
    fn every_delivery_report() {
        let p = Policy { sms_resends: 2, sms_resend_delay_ms: 300_000, max_failures: 5, ..Policy::default() };
        let other = Msisdn::parse("+254722000222").expect("a number");
        let resend = Some(Resend { send_at_ms: NOW + 300_000, max_failures: 5 });
        let rows: Vec<(&str, SmsRow, DeliveryReport, Option<Option<Resend>>)> = vec![
            ("a first report", sent(1, None), report(DeliveryStatus::Success, None, Some(citizen())), Some(None)),
            (
                "an interim report moves on",
                sent(1, Some(DeliveryStatus::Sent)),
                report(DeliveryStatus::Buffered, None, None),
                Some(None),
            ),
            (
                "a final status stays",
                sent(1, Some(DeliveryStatus::Success)),
                report(DeliveryStatus::Failed, None, None),
                None,
            ),
            (
                "a failure stays too",
                sent(1, Some(DeliveryStatus::Failed)),
                report(DeliveryStatus::Success, None, None),
                None,
            ),
            ("another number changes nothing", sent(1, None), report(DeliveryStatus::Success, None, Some(other)), None),
            (
                "a failure that may pass is sent again",
                sent(1, Some(DeliveryStatus::Buffered)),
                report(DeliveryStatus::Failed, Some("AbsentSubscriber"), None),
                Some(resend),
            ),
            (
                "a rejection that may pass, on the last re-send allowed",
                sent(2, None),
                report(DeliveryStatus::Rejected, None, None),
                Some(resend),
            ),
            (
                "a failure that may pass, re-sends used up",
                sent(3, None),
                report(DeliveryStatus::Failed, Some("DeliveryFailure"), None),
                Some(None),
            ),
            (
                "a failure for good is not sent again",
                sent(1, None),
                report(DeliveryStatus::Failed, Some("UserInBlacklist"), None),
                Some(None),
            ),
        ];
        let from: Vec<Option<DeliveryStatus>> =
            vec![None, Some(DeliveryStatus::Sent), Some(DeliveryStatus::Submitted), Some(DeliveryStatus::Buffered)];
        for (why, sms, r, expected) in rows {
            let expected = expected.map(|resend| DeliveryChange {
                sms_id: 21,
                from: from.clone(),
                to: r.status,
                failure_reason: r.failure_reason.clone(),
                network_code: Some("63902".into()),
                resend,
            });
            assert_eq!(delivery_change(&sms, &r, &p, NOW), expected, "{why}");
        }
    }
}
