//! Rates per key, per node: a flood from one user (sends) or one address (handshakes) is refused
//! before it costs anything and never slows anyone else. Backed by `governor`'s keyed GCRA limiter.
use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::ids::UserId;

/// Events per second per key (sustained) and the burst allowed on top; a rate of 0 turns it off.
pub struct KeyedRate<K: Hash + Eq + Clone> {
    limiter: Option<DefaultKeyedRateLimiter<K>>,
}

/// Sends per user.
pub type SendRate = KeyedRate<UserId>;

impl<K: Hash + Eq + Clone> KeyedRate<K> {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        KeyedRate { limiter }
    }

    /// `Err(wait)` when `key` must wait that long before the next event.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        limiter.check_key(key).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets keys whose bucket is full again, so the map holds only recent ones.
    pub fn prune(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_a_refusal_for_that_user_only() {
        let rate = SendRate::new(5, 10);
        let (flood, other) = (UserId::from_int(1), UserId::from_int(2));
        for _ in 0..10 {
            assert!(rate.check(&flood).is_ok());
        }
        let wait = rate.check(&flood).expect_err("over the burst");
        assert!(wait <= Duration::from_millis(200), "{wait:?}");
        assert!(rate.check(&other).is_ok(), "another user is untouched");
        assert!(SendRate::new(0, 0).check(&flood).is_ok(), "0 turns it off");
    }
}
