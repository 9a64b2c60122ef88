//! The hand-off's timing and retry policy: the `[dispatcher]` section of the configuration,
//! and the full-jitter backoff a failed job waits before it runs again.

/// Timing and retry policy of the hand-off: the `[dispatcher]` section of the configuration.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Run a dispatcher in this instance (several instances may each run one).
    pub enabled: bool,
    /// Wait between the session's END and the STK push: the handset holds one USSD dialogue
    /// at a time, and the M-Pesa prompt is one.
    pub push_delay_ms: i64,
    /// Wait before pushing again to a subscriber who was busy (Daraja asks for a minute).
    pub busy_retry_ms: i64,
    /// Payment attempts (pushes) per request at most.
    pub max_payment_attempts: u32,
    /// Tries of one push that Daraja did not take (throttled, unreachable) before the payment
    /// fails with an SMS saying to try again.
    pub push_retries: u32,
    /// Delays between status queries; after the last, the payment is `unknown`.
    pub query_delays_ms: Vec<i64>,
    /// Failures before a job is dead-lettered.
    pub max_failures: u32,
    /// Full-jitter backoff: a retry waits a random time in `[0, min(cap, base * 2^failures)]`.
    pub backoff_base_ms: i64,
    pub backoff_cap_ms: i64,
    /// How long a claim holds a job; longer than any one run (HTTP timeouts included).
    pub lease_ms: i64,
    /// Jobs claimed at once, and so run concurrently, per dispatcher.
    pub batch: u32,
    /// Idle poll interval when no job is due.
    pub poll_ms: u64,
    /// Sandbox only: how long the simulated citizen takes to enter the M-Pesa PIN.
    pub sandbox_pin_delay_ms: u64,
    /// Times an SMS whose delivery failed for a reason that may pass (the phone was off, the
    /// network failed) is sent again; after that `njia sms list --failed` shows it.
    pub sms_resends: u32,
    /// Wait before sending such an SMS again, so the phone has a chance to come back.
    pub sms_resend_delay_ms: i64,
    /// After a push whose outcome is unknown (its answer was lost, or the server stopped
    /// mid-push), wait this long for the callback, then tell the citizen by SMS what happened,
    /// how to check, and not to pay again until told (the query schedule goes on, and a late
    /// callback still settles the payment).
    pub unknown_notice_ms: i64,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            enabled: true,
            push_delay_ms: 3_000,
            busy_retry_ms: 60_000,
            max_payment_attempts: 2,
            push_retries: 4,
            query_delays_ms: vec![45_000, 90_000, 180_000, 360_000, 600_000, 600_000, 600_000],
            // With the 30-minute cap, about five hours of retries on average (ten at most) before
            // a job is dead-lettered; a delivery that dies tells the citizen it is delayed, and
            // an administrator replays it with `njia jobs retry`.
            max_failures: 30,
            backoff_base_ms: 2_000,
            backoff_cap_ms: 1_800_000,
            lease_ms: 60_000,
            batch: 32,
            poll_ms: 250,
            sandbox_pin_delay_ms: 2_000,
            sms_resends: 2,
            sms_resend_delay_ms: 300_000,
            unknown_notice_ms: 120_000,
        }
    }
}

impl Policy {
    /// Full jitter (AWS architecture blog): spreads retries of many jobs that failed together.
    pub fn backoff_ms(&self, failures: u32, random: f64) -> i64 {
        let exp = self.backoff_base_ms.saturating_mul(1_i64 << failures.min(30));
        let ceiling = exp.min(self.backoff_cap_ms).max(0);
        (ceiling as f64 * random.clamp(0.0, 1.0)) as i64
    }

    /// When a job that failed `failures` times before this run goes again: `now` plus its
    /// backoff. `random` (in `[0, 1]`) is drawn by the caller, so the decision stays pure.
    pub fn retry_at(&self, failures: u32, now: i64, random: f64) -> i64 {
        now + self.backoff_ms(failures, random)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_full_jitter_and_capped() {
        let p = Policy { backoff_base_ms: 1000, backoff_cap_ms: 60_000, ..Policy::default() };
        for (failures, random, backoff) in [
            (0, 1.0, 1000),
            (3, 1.0, 8000),
            (10, 1.0, 60_000),
            (200, 1.0, 60_000),
            (3, 0.0, 0),
            (3, 0.5, 4000),
            // Randomness outside [0, 1] is clamped: never a negative wait, never past the cap.
            (3, -1.0, 0),
            (10, 7.0, 60_000),
        ] {
            assert_eq!(p.backoff_ms(failures, random), backoff, "{failures} failures, random {random}");
            assert_eq!(p.retry_at(failures, 5_000, random), 5_000 + backoff);
        }
    }
}
