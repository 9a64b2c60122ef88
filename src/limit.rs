//! Rate limits: how many hops one phone number, and one channel, may make. Over the limit the
//! citizen gets a localized END ("try again in a minute"), never an HTTP error, which a telco
//! would count as a failed session.
//!
//! Limits count per instance: behind a load balancer with no sticky routing, N instances let a
//! phone make up to N times its quota. The per-phone state is a timestamp per number (GCRA);
//! [`RateLimits::spawn_pruner`] forgets numbers idle for longer than their quota's period, so
//! memory follows the numbers active in the last minute, not every number ever seen.
//!
//! The limiters read time from a clock chosen when they are built: production uses governor's
//! default clock (the type parameter's default, so a hop pays nothing for the choice), and
//! tests build them on a `FakeRelativeClock` and move time forward themselves instead of
//! sleeping through a quota's period.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use serde::Deserialize;

use crate::types::Msisdn;

/// A keyed GCRA limiter on the clock `C`.
type Keyed<K, C> = RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The `[rate_limit]` section.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Hops one phone number may make per minute, sustained; 0 turns the limit off.
    pub phone_per_minute: u32,
    /// Hops one phone number may make at once before the per-minute rate applies.
    pub phone_burst: u32,
    /// Hops one channel may carry per second, sustained; 0 turns the limit off.
    pub channel_per_second: u32,
    /// Hops one channel may carry at once before the per-second rate applies.
    pub channel_burst: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        // A citizen walks a menu in 5 to 10 hops, each a few seconds apart: a burst of 20 and
        // 30 a minute never touches them (nor two quick walks back to back), and stops a script
        // hammering one number.
        Limits { phone_per_minute: 30, phone_burst: 20, channel_per_second: 0, channel_burst: 0 }
    }
}

/// Which limit a hop went over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Over {
    Phone,
    Channel,
}

/// The live limiters, on the clock `C` (governor's default clock unless a test chooses one).
pub struct RateLimits<C: Clock = DefaultClock> {
    phone: Option<Keyed<u64, C>>,
    channel: Option<Keyed<Arc<str>, C>>,
    /// How long a phone's state matters: after this it is as if the number was never seen.
    phone_period: Duration,
}

impl<C: Clock + Clone> std::fmt::Debug for RateLimits<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").field("phones", &self.phones()).finish_non_exhaustive()
    }
}

impl RateLimits {
    /// The limits of `l` on the real clock.
    pub fn new(l: &Limits) -> RateLimits {
        RateLimits::with_clock(l, &DefaultClock::default())
    }

    /// No limits (tests and benchmarks of other things).
    pub fn none() -> RateLimits {
        RateLimits::new(&Limits { phone_per_minute: 0, phone_burst: 0, channel_per_second: 0, channel_burst: 0 })
    }
}

impl<C: Clock + Clone> RateLimits<C> {
    /// The limits of `l` reading time from `clock` (each limiter holds a clone: a fake clock's
    /// clones share one time).
    pub fn with_clock(l: &Limits, clock: &C) -> RateLimits<C> {
        RateLimits {
            phone: quota(l.phone_per_minute, l.phone_burst, true).map(|q| keyed(q, clock)),
            channel: quota(l.channel_per_second, l.channel_burst, false).map(|q| keyed(q, clock)),
            phone_period: Duration::from_secs(60),
        }
    }

    /// Counts one hop; `Err` names the limit it went over.
    pub fn check(&self, msisdn: Msisdn, channel: &Arc<str>) -> Result<(), Over> {
        if let Some(c) = &self.channel
            && c.check_key(channel).is_err()
        {
            return Err(Over::Channel);
        }
        if let Some(p) = &self.phone
            && p.check_key(&msisdn.as_u64()).is_err()
        {
            return Err(Over::Phone);
        }
        Ok(())
    }

    /// Phone numbers currently tracked.
    pub fn phones(&self) -> usize {
        self.phone.as_ref().map_or(0, |p| p.len())
    }

    /// Forgets numbers whose state no longer limits them.
    pub fn prune(&self) {
        if let Some(p) = &self.phone {
            p.retain_recent();
            p.shrink_to_fit();
        }
        if let Some(c) = &self.channel {
            c.retain_recent();
        }
    }
}

impl<C: Clock + Clone + Send + Sync + 'static> RateLimits<C>
where
    C::Instant: Send + Sync,
{
    /// Prunes once per period, for as long as the limits are alive.
    pub fn spawn_pruner(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let every = self.phone_period;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(limits) = weak.upgrade() else { return };
                limits.prune();
            }
        });
    }
}

/// A quota of `rate` per minute (or per second) with `burst` at once (`rate` when 0); `None`
/// when `rate` is 0, which turns the limit off.
fn quota(rate: u32, burst: u32, per_minute: bool) -> Option<Quota> {
    let rate = NonZeroU32::new(rate)?;
    let q = if per_minute { Quota::per_minute(rate) } else { Quota::per_second(rate) };
    Some(q.allow_burst(NonZeroU32::new(burst).unwrap_or(rate)))
}

fn keyed<K: Hash + Eq + Clone, C: Clock + Clone>(quota: Quota, clock: &C) -> Keyed<K, C> {
    RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock.clone())
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    /// One hop of a scenario: after moving the clock forward by `after_ms`, the number (an
    /// index into `PHONES`) dials on the channel, and the limits answer `want`.
    struct Hop {
        after_ms: u64,
        phone: usize,
        channel: &'static str,
        want: Result<(), Over>,
    }

    const fn hop(after_ms: u64, phone: usize, channel: &'static str, want: Result<(), Over>) -> Hop {
        Hop { after_ms, phone, channel, want }
    }

    const PHONES: [&str; 2] = ["+254711000001", "+254711000002"];
    const OK: Result<(), Over> = Ok(());
    const PHONE: Result<(), Over> = Err(Over::Phone);
    const CHANNEL: Result<(), Over> = Err(Over::Channel);

    const fn limits(phone_per_minute: u32, phone_burst: u32, channel_per_second: u32, channel_burst: u32) -> Limits {
        Limits { phone_per_minute, phone_burst, channel_per_second, channel_burst }
    }

    /// Each scenario runs on its own fake clock, so a quota's period passes in no time at all.
    #[test]
    fn limits_over_time() {
        let at = "africastalking";
        let cases: &[(&str, Limits, &[Hop])] = &[
            (
                // 6 a minute is one hop every 10 s once the burst of 3 is spent.
                "a phone over its burst is limited until its rate refills one hop",
                limits(6, 3, 0, 0),
                &[
                    hop(0, 0, at, OK),
                    hop(0, 0, at, OK),
                    hop(0, 0, at, OK),
                    hop(0, 0, at, PHONE),
                    hop(0, 1, at, OK),
                    hop(9_999, 0, at, PHONE),
                    hop(1, 0, at, OK),
                    hop(0, 0, at, PHONE),
                    hop(30_000, 0, at, OK),
                    hop(0, 0, at, OK),
                    hop(0, 0, at, OK),
                    hop(0, 0, at, PHONE),
                ],
            ),
            (
                "a burst of 0 means the rate itself",
                limits(2, 0, 0, 0),
                &[hop(0, 0, at, OK), hop(0, 0, at, OK), hop(0, 0, at, PHONE), hop(30_000, 0, at, OK)],
            ),
            (
                "a channel over its rate is limited, other channels are not",
                limits(0, 0, 1, 2),
                &[
                    hop(0, 0, "hubtel", OK),
                    hop(0, 1, "hubtel", OK),
                    hop(0, 0, "hubtel", CHANNEL),
                    hop(0, 0, "nalo", OK),
                    hop(999, 1, "hubtel", CHANNEL),
                    hop(1, 1, "hubtel", OK),
                ],
            ),
            (
                // The channel is asked first: a hop over both limits names the channel.
                "a hop over both limits names the channel",
                limits(30, 1, 1, 1),
                &[hop(0, 0, at, OK), hop(0, 0, at, CHANNEL), hop(1_000, 0, at, PHONE), hop(0, 1, "nalo", OK)],
            ),
            ("0 turns a limit off", limits(0, 5, 0, 5), &[hop(0, 0, at, OK), hop(0, 0, at, OK), hop(0, 0, at, OK)]),
        ];
        for (name, l, hops) in cases {
            let clock = FakeRelativeClock::default();
            let limits = RateLimits::with_clock(l, &clock);
            for (i, h) in hops.iter().enumerate() {
                clock.advance(Duration::from_millis(h.after_ms));
                let phone = Msisdn::parse(PHONES[h.phone]).expect("a test number");
                let got = limits.check(phone, &Arc::from(h.channel));
                assert_eq!(got, h.want, "{name}: hop {i}");
            }
        }
    }

    #[test]
    fn pruning_forgets_numbers_whose_state_has_refilled() {
        // Numbers seen once each: once their quota has refilled they are dropped, so memory
        // does not grow with every number ever seen; before that they are kept.
        let clock = FakeRelativeClock::default();
        let l = RateLimits::with_clock(&limits(60_000, 1, 0, 0), &clock);
        let ch: Arc<str> = Arc::from("africastalking");
        for i in 0..20_000u64 {
            let m = Msisdn::parse(&format!("+2547{i:08}")).expect("a test number");
            assert_eq!(l.check(m, &ch), Ok(()));
        }
        assert_eq!(l.phones(), 20_000);
        l.prune();
        assert_eq!(l.phones(), 20_000, "nothing has refilled yet: every number still counts");
        // At 60,000 a minute one hop refills in a millisecond; 20 are well past it.
        clock.advance(Duration::from_millis(20));
        l.prune();
        assert_eq!(l.phones(), 0);
    }

    #[test]
    fn no_limits_track_nothing() {
        let l = RateLimits::none();
        let ch: Arc<str> = Arc::from("africastalking");
        let a = Msisdn::parse(PHONES[0]).expect("a test number");
        for _ in 0..1_000 {
            assert_eq!(l.check(a, &ch), Ok(()));
        }
        assert_eq!(l.phones(), 0);
    }
}
