//! Rate limits: how many hops one phone number, and one channel, may make. Over the limit the
//! citizen gets a localized END ("try again in a minute"), never an HTTP error, which a telco
//! would count as a failed session.
//!
//! Limits count per instance: behind a load balancer with no sticky routing, N instances let a
//! phone make up to N times its quota. The per-phone state is a timestamp per number (GCRA);
//! [`RateLimits::spawn_pruner`] forgets numbers idle for longer than their quota's period, so
//! memory follows the numbers active in the last minute, not every number ever seen.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;

use crate::types::Msisdn;

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

/// The live limiters.
pub struct RateLimits {
    phone: Option<DefaultKeyedRateLimiter<u64>>,
    channel: Option<DefaultKeyedRateLimiter<Arc<str>>>,
    /// How long a phone's state matters: after this it is as if the number was never seen.
    phone_period: Duration,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").field("phones", &self.phones()).finish_non_exhaustive()
    }
}

impl RateLimits {
    pub fn new(l: &Limits) -> RateLimits {
        let quota = |rate: u32, burst: u32, per_minute: bool| {
            let rate = NonZeroU32::new(rate)?;
            let q = if per_minute { Quota::per_minute(rate) } else { Quota::per_second(rate) };
            Some(q.allow_burst(NonZeroU32::new(burst).unwrap_or(rate)))
        };
        RateLimits {
            phone: quota(l.phone_per_minute, l.phone_burst, true).map(RateLimiter::keyed),
            channel: quota(l.channel_per_second, l.channel_burst, false).map(RateLimiter::keyed),
            phone_period: Duration::from_secs(60),
        }
    }

    /// No limits (tests and benchmarks of other things).
    pub fn none() -> RateLimits {
        RateLimits::new(&Limits { phone_per_minute: 0, phone_burst: 0, channel_per_second: 0, channel_burst: 0 })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phone_over_its_burst_is_limited_and_others_are_not() {
        let l = RateLimits::new(&Limits { phone_per_minute: 6, phone_burst: 3, ..Limits::default() });
        let ch: Arc<str> = Arc::from("africastalking");
        let a = Msisdn::parse("+254711000001").unwrap();
        let b = Msisdn::parse("+254711000002").unwrap();
        for _ in 0..3 {
            assert_eq!(l.check(a, &ch), Ok(()));
        }
        assert_eq!(l.check(a, &ch), Err(Over::Phone));
        assert_eq!(l.check(b, &ch), Ok(()));
        assert_eq!(l.phones(), 2);
    }

    #[test]
    fn a_channel_over_its_rate_is_limited() {
        let l =
            RateLimits::new(&Limits { phone_per_minute: 0, phone_burst: 0, channel_per_second: 1, channel_burst: 2 });
        let ch: Arc<str> = Arc::from("hubtel");
        let other: Arc<str> = Arc::from("nalo");
        let a = Msisdn::parse("+233244000001").unwrap();
        assert_eq!(l.check(a, &ch), Ok(()));
        assert_eq!(l.check(a, &ch), Ok(()));
        assert_eq!(l.check(a, &ch), Err(Over::Channel));
        assert_eq!(l.check(a, &other), Ok(()));
    }

    #[test]
    fn pruning_forgets_numbers_whose_state_has_refilled() {
        // A million numbers seen once each: once their quota has refilled they are dropped,
        // so memory does not grow with every number ever seen.
        let l = RateLimits::new(&Limits { phone_per_minute: 60_000, phone_burst: 1, ..Limits::default() });
        let ch: Arc<str> = Arc::from("africastalking");
        for i in 0..20_000u64 {
            let m = Msisdn::parse(&format!("+2547{:08}", i)).unwrap();
            let _ = l.check(m, &ch);
        }
        assert_eq!(l.phones(), 20_000);
        // At 60,000 a minute one hop refills in a millisecond.
        std::thread::sleep(Duration::from_millis(20));
        l.prune();
        assert_eq!(l.phones(), 0);
    }
}
