//! Personal data retention, driven in bounded batches: [`purge`] runs [`Retention::purge_batch`]
//! until a batch finds nothing more, so a large purge never holds a store (SQLite's one thread,
//! or PostgreSQL's row locks) for longer than one batch; the server runs it daily (see
//! `hub::maintain`) and `njia purge` on demand.

use super::{Purged, Store, StoreError};

/// Rows of each kind one batch changes at most: a few milliseconds of work, so hops and the
/// hand-off queued behind a batch on SQLite's thread wait no longer than that.
pub const BATCH: u32 = 500;

/// Milliseconds in a day.
const DAY_MS: i64 = 24 * 3600 * 1000;

/// The cutoff of a retention of `days` at `now_ms`: what is older is purged. Subtracted with
/// saturation, so no setting can overflow it.
pub fn cutoff(now_ms: i64, days: u32) -> i64 {
    now_ms.saturating_sub(i64::from(days).saturating_mul(DAY_MS))
}

/// Purges everything older than `cutoff_ms` (or, with `dry_run`, counts what would be purged,
/// changing nothing), and returns the counts by kind. Idempotent: a second purge finds
/// nothing the first one changed.
pub async fn purge(store: &dyn Store, cutoff_ms: i64, now_ms: i64, dry_run: bool) -> Result<Purged, StoreError> {
    if dry_run {
        return store.purgeable(cutoff_ms).await;
    }
    let mut total = Purged::default();
    loop {
        let batch = store.purge_batch(cutoff_ms, now_ms, BATCH).await?;
        total += batch;
        if !batch.more(BATCH) {
            return Ok(total);
        }
        // Let the hops and jobs queued behind this batch run before the next one.
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_days_before_now_and_never_overflows() {
        assert_eq!(cutoff(10 * DAY_MS, 3), 7 * DAY_MS);
        assert_eq!(cutoff(5, 0), 5);
        assert_eq!(cutoff(i64::MIN + 1, u32::MAX), i64::MIN);
    }

    #[test]
    fn a_batch_is_followed_by_another_only_when_a_kind_it_bounds_was_full() {
        assert!(!Purged::default().more(BATCH));
        // Attempts follow their requests, unbounded: many of them alone call for no other batch.
        assert!(!Purged { attempts: 5_000, ..Purged::default() }.more(BATCH));
        assert!(Purged { requests: 500, ..Purged::default() }.more(BATCH));
        assert!(Purged { recent_services: 500, ..Purged::default() }.more(BATCH));
    }

    #[test]
    fn counts_are_logged_by_kind() {
        let p = Purged { requests: 2, sms: 3, ..Purged::default() };
        assert_eq!(
            p.to_string(),
            "requests 2, attempts 0, sms 3, inbound_sms 0, session_ends 0, profiles 0, recent_services 0"
        );
    }
}
