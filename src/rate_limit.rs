//! A client-side limit of requests per second, shared by a client's clones, that slows down
//! for a while when the server throttles anyway.
//!
//! Each caller takes the next free slot of a schedule (GCRA: a "theoretical arrival time"
//! moved one period per request) and sleeps until it: callers go first come, first served,
//! and a waiter wakes once, at its own turn, not at every slot. A burst of two is allowed (a
//! slot may start up to one period late without the next one waiting): timer ticks and late
//! wake-ups then do not cost throughput, and any one-second window holds at most one request
//! more than the rate. A caller that gives up while it waits leaves its slot unused.

use std::{
    sync::{Mutex, PoisonError},
    time::Duration,
};

// Tokio's clock, so that deadlines and slots follow a paused clock in tests.
use tokio::time::Instant;

/// How long the limiter stays slowed down after a 429, unless `Retry-After` says longer.
const SLOWDOWN: Duration = Duration::from_secs(10);

/// The fastest rate accepted: one request a microsecond.
pub(crate) const MAX_RPS: f64 = 1e6;
/// The slowest rate accepted: one request every 100 seconds. Below it, the period would be
/// longer than any call's deadline, and the arithmetic of much slower rates overflows.
pub(crate) const MIN_RPS: f64 = 0.01;

/// Requests per second, evenly spaced.
pub(crate) struct RateLimit {
    configured: f64,
    schedule: Mutex<Schedule>,
}

struct Schedule {
    /// When the next request would be due if requests came exactly at the rate.
    arrival: Instant,
    /// The period in force.
    period: Duration,
    /// Slowed down until then, after a 429.
    slowed_until: Option<Instant>,
}

fn period(rate: f64) -> Duration {
    Duration::from_secs_f64(1.0 / rate.clamp(MIN_RPS, MAX_RPS))
}

impl RateLimit {
    /// `rps` must be within [`MIN_RPS`] and [`MAX_RPS`] (the builder checks).
    pub(crate) fn new(rps: f64) -> Self {
        RateLimit {
            configured: rps,
            schedule: Mutex::new(Schedule {
                arrival: Instant::now(),
                period: period(rps),
                slowed_until: None,
            }),
        }
    }

    /// The configured rate.
    pub(crate) fn rps(&self) -> f64 {
        self.configured
    }

    /// Takes the next slot: when the caller may send.
    fn slot(&self) -> Instant {
        let mut schedule = self.schedule.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if schedule.slowed_until.is_some_and(|until| now >= until) {
            schedule.slowed_until = None;
            schedule.period = period(self.configured);
        }
        let period = schedule.period;
        // One period of tolerance: a burst of two.
        let at = now.max(schedule.arrival.checked_sub(period).unwrap_or(now));
        schedule.arrival = schedule.arrival.max(at) + period;
        at
    }

    /// Waits for the next slot.
    pub(crate) async fn acquire(&self) {
        let at = self.slot();
        if at > Instant::now() {
            tokio::time::sleep_until(at).await;
        }
    }

    /// The server answered 429 although the limit was kept: halve the rate for a while (one
    /// halving per burst of 429s). Returns the new rate.
    pub(crate) fn throttled(&self, retry_after: Option<Duration>) -> f64 {
        let mut schedule = self.schedule.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        // The answers to requests already in flight say the same thing again.
        let recently = schedule
            .slowed_until
            .is_some_and(|until| until > now + SLOWDOWN - Duration::from_secs(1));
        if !recently {
            schedule.period = (schedule.period * 2).min(period(MIN_RPS));
        }
        // `retry_after` is at most an hour (see retry::retry_after).
        let hold = retry_after.unwrap_or_default().max(SLOWDOWN);
        schedule.slowed_until = Some(now.checked_add(hold).unwrap_or(now + SLOWDOWN));
        1.0 / schedule.period.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_and_slows_down_after_a_throttle() {
        let limit = RateLimit::new(100.0);
        let start = Instant::now();
        for _ in 0..21 {
            limit.acquire().await;
        }
        // 21 slots 10 ms apart, the first two at once: 190 ms on the paused clock (timers
        // round up to the millisecond).
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(190) && elapsed <= Duration::from_millis(191),
            "{elapsed:?}"
        );
        assert_eq!(limit.throttled(None), 50.0);
        assert_eq!(limit.throttled(None), 50.0, "one halving per burst of 429s");
        assert_eq!(limit.rps(), 100.0);
    }

    /// Issue 16: 1,000 waiters all woke at every slot; now each sleeps until its own.
    #[tokio::test(start_paused = true)]
    async fn waiters_go_in_order_each_at_its_own_slot() {
        let limit = std::sync::Arc::new(RateLimit::new(200.0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for n in 0..1000u32 {
            let limit = limit.clone();
            tasks.push(tokio::spawn(async move {
                limit.acquire().await;
                (n, start.elapsed())
            }));
        }
        let mut done = Vec::new();
        for task in tasks {
            done.push(task.await.unwrap());
        }
        // First come, first served, 5 ms apart: the last after 4.99 s, not later.
        for window in done.windows(2) {
            assert!(window[0].1 <= window[1].1, "{window:?}");
        }
        let last = done[999].1;
        assert!(
            last >= Duration::from_millis(4990) && last <= Duration::from_millis(4991),
            "{last:?}"
        );
    }
}
