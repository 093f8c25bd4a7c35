//! Per-user send rate, per node: a flood from one user is refused before it reaches Postgres
//! and never slows anyone else. Backed by `governor`'s keyed GCRA limiter.
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::ids::UserId;

/// Sends per second per user (sustained) and the burst allowed on top; `None` turns it off.
pub struct SendRate {
    limiter: Option<DefaultKeyedRateLimiter<UserId>>,
}

impl SendRate {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        SendRate { limiter }
    }

    /// `Err(wait)` when `user` must wait that long before the next send.
    pub fn check(&self, user: &UserId) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        limiter.check_key(user).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets users whose bucket is full again, so the map holds only recent senders.
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
