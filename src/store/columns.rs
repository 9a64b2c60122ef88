//! The column lists both backends read rows with, as macros so that each statement is one
//! literal (`concat!`): no text is formatted per call, and a statement cache keyed by its text
//! finds it at once.

/// A request row's columns (table `requests`, unaliased).
macro_rules! request_columns {
    () => {
        "id, reference, menu, service, msisdn, locale, fields, payment_amount, payment_account, status, \
         refund_review, created_at, purged_at"
    };
}

/// A payment attempt's columns (table `payment_attempts`, unaliased).
macro_rules! attempt_columns {
    () => {
        "id, request_id, seq, token, provider, msisdn, amount_kes, status, checkout_request_id, receipt, \
         result_code, result_desc, created_at, updated_at"
    };
}

/// A job's columns, from `jobs j LEFT JOIN requests r`.
macro_rules! job_columns {
    () => {
        "j.id, j.key, j.kind, r.reference, j.sms_id, j.state, j.run_at, j.tries, j.failures, j.max_failures, \
         j.last_error, j.updated_at"
    };
}

/// A kept SMS's columns, from `sms s LEFT JOIN requests r`.
macro_rules! sms_columns {
    () => {
        "s.id, r.reference, s.msisdn, s.locale, s.text, s.segments, s.sender, s.status, s.provider_id, \
         s.created_at, s.request_id, s.inbound_id, s.attempt, s.resend_of, s.delivery, s.failure_reason, \
         s.delivery_at"
    };
}

/// What a delivery report's guard reads of the SMS it names (table `sms`, unaliased).
macro_rules! delivery_columns {
    () => {
        "id, request_id, inbound_id, attempt, msisdn, locale, text, delivery"
    };
}

/// The condition of an SMS that failed for good: refused at sending (`status LIKE` the
/// parameter, [`super::SMS_FAILED_PREFIX`] then `%`), a failed delivery no re-send follows, or
/// a reply still queued whose send job was dead-lettered.
macro_rules! failed_sms_condition {
    () => {
        "(s.delivery IN ('failed', 'rejected') OR s.status LIKE $1 \
         OR (s.status = 'queued' AND EXISTS (SELECT 1 FROM jobs j WHERE j.sms_id = s.id AND j.state = 'dead'))) \
         AND NOT EXISTS (SELECT 1 FROM sms n WHERE n.resend_of = s.id)"
    };
}

/// A request (`requests r`) a purge at cutoff `$1` removes the personal data of: not purged
/// yet, created and last changed before the cutoff, final (the statuses of
/// `RequestStatus::is_final`, held to them by a test), no refund to decide, and no job left to
/// run for it or for one of its SMS (a dead job counts: an administrator may replay it, and the
/// replay needs the number).
macro_rules! purgeable_request {
    () => {
        "r.purged_at IS NULL AND r.created_at < $1 \
         AND r.status IN ('payment_failed', 'fulfilled', 'rejected', 'notified') AND NOT r.refund_review \
         AND NOT EXISTS (SELECT 1 FROM request_events e WHERE e.request_id = r.id AND e.at >= $1) \
         AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.request_id = r.id AND j.state <> 'done') \
         AND NOT EXISTS (SELECT 1 FROM sms m JOIN jobs j ON j.sms_id = m.id WHERE m.request_id = r.id \
         AND j.state <> 'done')"
    };
}

/// An SMS of no request (`sms s`: a reply to an inbound SMS) a purge at `$1` erases: sent
/// before it, not erased yet, and no job left to send it.
macro_rules! purgeable_sms {
    () => {
        "s.request_id IS NULL AND s.msisdn <> 0 AND s.created_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.sms_id = s.id AND j.state <> 'done')"
    };
}

/// An inbound SMS (`inbound_sms i`) received before `$1` whose number is still kept.
macro_rules! purgeable_inbound {
    () => {
        "i.msisdn <> 0 AND i.received_at < $1"
    };
}

/// A telco's end-of-session notice (`session_ends e`) received before `$1` with a number.
macro_rules! purgeable_session_end {
    () => {
        "e.msisdn IS NOT NULL AND e.received_at < $1"
    };
}

/// A profile (`profiles p`) of a number not seen since `$1`: its language chosen before, and no
/// request, inbound SMS or recent service of it since.
macro_rules! purgeable_profile {
    () => {
        "p.updated_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.msisdn = p.msisdn AND r.created_at >= $1) \
         AND NOT EXISTS (SELECT 1 FROM inbound_sms i WHERE i.msisdn = p.msisdn AND i.received_at >= $1) \
         AND NOT EXISTS (SELECT 1 FROM recent_services u WHERE u.msisdn = p.msisdn AND u.used_at >= $1)"
    };
}

pub(crate) use {
    attempt_columns, delivery_columns, failed_sms_condition, job_columns, purgeable_inbound, purgeable_profile,
    purgeable_request, purgeable_session_end, purgeable_sms, request_columns, sms_columns,
};

/// Reconciliation's one query ([`super::Requests::attempts_created`]): the attempts created in
/// `[$1, $2)` with their requests, oldest first, at most `$3`; the attempt's columns are
/// [`attempt_columns`]' names, so an attempt row is read as everywhere else. Whether the request was ever
/// fulfilled and whether any of its attempts (of any day) is paid are read in the same
/// statement, each an indexed probe of the request's own rows, so no request is read twice.
/// Both databases take `$n` parameters (SQLite numbers them in order of appearance).
macro_rules! attempts_created_query {
    () => {
        "SELECT a.id, a.request_id, a.seq, a.token, a.provider, a.msisdn, a.amount_kes, a.status, \
         a.checkout_request_id, a.receipt, a.result_code, a.result_desc, a.created_at, a.updated_at, \
         r.reference, r.menu, r.service, \
         r.status AS request_status, r.refund_review, \
         EXISTS (SELECT 1 FROM request_events e WHERE e.request_id = r.id AND e.status = 'fulfilled') AS fulfilled, \
         EXISTS (SELECT 1 FROM payment_attempts p WHERE p.request_id = r.id AND p.status = 'paid') AS request_paid \
         FROM payment_attempts a JOIN requests r ON r.id = a.request_id \
         WHERE a.created_at >= $1 AND a.created_at < $2 ORDER BY a.created_at, a.id LIMIT $3"
    };
}

pub(crate) use attempts_created_query;

/// The statuses `purgeable_request!` names, for the test that holds them to
/// `RequestStatus::is_final`.
#[cfg(test)]
pub(crate) const PURGEABLE_STATUSES: &str = purgeable_request!();

#[cfg(test)]
mod tests {
    use crate::lifecycle::RequestStatus;

    /// The purge's SQL names exactly the final statuses, so a state added to the lifecycle
    /// cannot be purged (or escape the purge) by a list left behind.
    #[test]
    fn the_purge_names_exactly_the_final_statuses() {
        let sql = super::PURGEABLE_STATUSES;
        for s in RequestStatus::ALL {
            assert_eq!(sql.contains(&format!("'{}'", s.as_str())), s.is_final(), "{s}");
        }
    }
}
