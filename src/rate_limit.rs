//! A client-side limit of requests per second, shared by a client's clones, that slows down
//! for a while when the server throttles anyway (as aws-sdk's adaptive retry mode does).

use std::{
    num::NonZeroU32,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// How long the limiter stays slowed down after a 429, unless `Retry-After` says longer.
const SLOWDOWN: Duration = Duration::from_secs(10);
/// The slowest the limiter goes: one request every ten seconds.
const FLOOR_RPS: f64 = 0.1;

/// Requests per second, evenly spaced (bursts of at most 2: a pool's QPS cap is counted per
/// second).
pub(crate) struct RateLimit {
    configured: f64,
    /// The bucket at the configured rate, read by every request without a lock.
    normal: DefaultDirectRateLimiter,
    /// Set while slowed down: the common path reads this flag and nothing else of the slowdown.
    slowed: AtomicBool,
    slowdown: Mutex<Slowdown>,
}

struct Slowdown {
    rate: f64,
    until: Option<Instant>,
    /// The bucket in force while slowed down (shared by the requests waiting on it).
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
}

/// The fastest rate accepted: one request a microsecond.
pub(crate) const MAX_RPS: f64 = 1e6;

fn limiter(rate: f64) -> DefaultDirectRateLimiter {
    let period = Duration::from_secs_f64(1.0 / rate.clamp(FLOOR_RPS.min(rate), MAX_RPS));
    // A burst of 2: a request that comes late (timers tick in milliseconds, tasks wake late)
    // lets the next one go at once, so the long-run rate is the one asked for. Any one-second
    // window then holds at most one request more than the rate.
    let quota = Quota::with_period(period)
        .expect("the period is positive")
        .allow_burst(NonZeroU32::new(2).expect("2 is not zero"));
    RateLimiter::direct(quota)
}

impl RateLimit {
    /// `rps` must be finite and positive (the builder checks).
    pub(crate) fn new(rps: f64) -> Self {
        RateLimit {
            configured: rps,
            normal: limiter(rps),
            slowed: AtomicBool::new(false),
            slowdown: Mutex::new(Slowdown {
                rate: rps,
                until: None,
                limiter: None,
            }),
        }
    }

    /// The configured rate.
    pub(crate) fn rps(&self) -> f64 {
        self.configured
    }

    /// Waits for the next free slot.
    pub(crate) async fn acquire(&self) {
        if self.slowed.load(Ordering::Acquire)
            && let Some(slow) = self.slow_limiter()
        {
            return slow.until_ready().await;
        }
        self.normal.until_ready().await;
    }

    /// The slowed-down bucket, or `None` when the slowdown is over (which ends it).
    fn slow_limiter(&self) -> Option<Arc<DefaultDirectRateLimiter>> {
        let mut slowdown = self.slowdown.lock().unwrap_or_else(PoisonError::into_inner);
        if slowdown.until.is_some_and(|until| Instant::now() >= until) {
            slowdown.rate = self.configured;
            slowdown.until = None;
            slowdown.limiter = None;
            self.slowed.store(false, Ordering::Release);
        }
        slowdown.limiter.clone()
    }

    /// The server answered 429 although the limit was kept: halve the rate for a while.
    /// Returns the new rate.
    pub(crate) fn throttled(&self, retry_after: Option<Duration>) -> f64 {
        let mut slowdown = self.slowdown.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        // One halving per burst of 429s: the answers to requests already in flight say the
        // same thing again.
        let recently = slowdown
            .until
            .is_some_and(|until| until > now + SLOWDOWN - Duration::from_secs(1));
        if !recently {
            slowdown.rate = (slowdown.rate / 2.0).max(FLOOR_RPS.min(self.configured));
            slowdown.limiter = Some(Arc::new(limiter(slowdown.rate)));
        }
        // `retry_after` is at most an hour (see retry::retry_after).
        let hold = retry_after.unwrap_or_default().max(SLOWDOWN);
        slowdown.until = Some(now.checked_add(hold).unwrap_or(now + SLOWDOWN));
        self.slowed.store(true, Ordering::Release);
        slowdown.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spaces_requests_and_slows_down_after_a_throttle() {
        let limit = RateLimit::new(100.0);
        let start = Instant::now();
        for _ in 0..21 {
            limit.acquire().await;
        }
        // 21 slots 10 ms apart, the first two at once: about 190 ms.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(180), "{elapsed:?}");
        assert_eq!(limit.throttled(None), 50.0);
        assert_eq!(limit.throttled(None), 50.0, "one halving per burst of 429s");
        assert_eq!(limit.rps(), 100.0);
    }
}
