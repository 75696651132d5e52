//! A client-side limit of requests per second, shared by a client's clones, that slows down
//! for a while when the server throttles anyway (as aws-sdk's adaptive retry mode does).

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// How long the limiter stays slowed down after a 429, unless `Retry-After` says longer.
const SLOWDOWN: Duration = Duration::from_secs(10);
/// The slowest the limiter goes: one request every ten seconds.
const FLOOR_RPS: f64 = 0.1;

/// Requests per second, evenly spaced (no bursts: a pool's QPS cap is counted per second).
pub(crate) struct RateLimit {
    configured: f64,
    state: Mutex<State>,
}

struct State {
    rate: f64,
    limiter: Arc<DefaultDirectRateLimiter>,
    slowed_until: Option<Instant>,
}

fn limiter(rate: f64) -> Arc<DefaultDirectRateLimiter> {
    let period = Duration::from_secs_f64(1.0 / rate.max(FLOOR_RPS));
    let quota = Quota::with_period(period).expect("the period is positive");
    Arc::new(RateLimiter::direct(quota))
}

impl RateLimit {
    /// `rps` must be finite and positive (the builder checks).
    pub(crate) fn new(rps: f64) -> Self {
        RateLimit {
            configured: rps,
            state: Mutex::new(State {
                rate: rps,
                limiter: limiter(rps),
                slowed_until: None,
            }),
        }
    }

    /// The configured rate.
    pub(crate) fn rps(&self) -> f64 {
        self.configured
    }

    /// Waits for the next free slot.
    pub(crate) async fn acquire(&self) {
        let current = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state
                .slowed_until
                .is_some_and(|until| Instant::now() >= until)
            {
                state.rate = self.configured;
                state.limiter = limiter(self.configured);
                state.slowed_until = None;
            }
            state.limiter.clone()
        };
        current.until_ready().await;
    }

    /// The server answered 429 although the limit was kept: halve the rate for a while.
    /// Returns the new rate.
    pub(crate) fn throttled(&self, retry_after: Option<Duration>) -> f64 {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        // One halving per burst of 429s: the answers to requests already in flight say the
        // same thing again.
        let recently = state
            .slowed_until
            .is_some_and(|until| until > now + SLOWDOWN - Duration::from_secs(1));
        if !recently {
            state.rate = (state.rate / 2.0).max(FLOOR_RPS);
            state.limiter = limiter(state.rate);
        }
        state.slowed_until = Some(now + retry_after.unwrap_or_default().max(SLOWDOWN));
        state.rate
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
        // 21 slots 10 ms apart, the first at once: about 200 ms.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(190), "{elapsed:?}");
        assert_eq!(limit.throttled(None), 50.0);
        assert_eq!(limit.throttled(None), 50.0, "one halving per burst of 429s");
        assert_eq!(limit.rps(), 100.0);
    }
}
