//! Rows the hand-off's table tests start from: one citizen and one payment attempt, varied per
//! row by the field under test.

use crate::lifecycle::AttemptStatus;
use crate::store::AttemptRow;
use crate::types::Msisdn;

pub(super) fn citizen() -> Msisdn {
    Msisdn::parse("+254711000111").expect("a number")
}

/// Attempt 7 of request 3, for KES 4,500 by [`citizen`].
pub(super) fn attempt(status: AttemptStatus, seq: u32, checkout: Option<&str>) -> AttemptRow {
    AttemptRow {
        id: 7,
        request_id: 3,
        seq,
        token: "token".into(),
        provider: "mpesa".into(),
        msisdn: Some(citizen()),
        amount_kes: 4500,
        status,
        checkout_request_id: checkout.map(str::to_owned),
        receipt: None,
        result_code: None,
        result_desc: None,
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}
