//! How fast a bulk run sends: a rate that finds the pool's headroom and follows it.
//!
//! A pool's request cap (Authing's free plans: 300 per second) is shared with the application's
//! live traffic, so the rate a migration may use is unknown and changes by the minute. The pace
//! is CUBIC congestion control, as aws-sdk's adaptive retry mode applies it to request rates:
//!
//! - **Throttled** (a 429): the rate drops at once to β = 0.7 of what the server was serving
//!   in the last second (the requests that succeeded, not the ones sent), and that served
//!   rate becomes the curve's plateau `w_max`.
//! - **Between throttles** the rate follows `0.4 (t − K)³ + w_max`, `K = ∛(w_max (1 − β) / 0.4)`:
//!   back to the plateau in `K` seconds (about 4 s at 100 requests per second), flat near it,
//!   then probing above it faster and faster until the next 429. A run spends most of its time
//!   close to the server's limit, which AIMD's sawtooth does not (AIMD with halving averages
//!   three quarters of the limit).
//! - It never goes above the ceiling (`--rps`, the client's rate limit), nor above twice the
//!   rate actually sent in the last second, so a run held back by its concurrency does not
//!   bank a rate it would then burst at.
//! - Without a ceiling and before the first 429 it starts at 50 requests per second and
//!   doubles every half second ("slow start"), so it finds a pool's pace within seconds without
//!   a first burst of refusals.
//! - `Retry-After` pauses every send until then.
//!
//! One decrease per episode: answers to requests sent before the last decrease, and 429s within
//! a second of it (the width of a pool's window, which is still full of earlier requests), say
//! nothing new. Each of those pushes the next send back by one slot instead, so that a full
//! window is not hammered while it drains.

use std::{
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

/// CUBIC's multiplicative decrease (aws-sdk's value).
const BETA: f64 = 0.7;
/// CUBIC's scaling constant, in requests per second per second cubed (aws-sdk's value).
const SCALE: f64 = 0.4;
/// The slowest pace: one request every two seconds (aws-sdk's minimum fill rate).
const FLOOR: f64 = 0.5;
/// Where a run without a ceiling starts before its first 429.
const INITIAL: f64 = 50.0;
/// Rates are measured over this window: a pool's cap is counted per second.
const WINDOW: Duration = Duration::from_secs(1);
/// The resolution of the measurements.
const BUCKET: Duration = Duration::from_millis(100);
const BUCKETS: usize = 10;

/// The shared pace of one bulk run.
pub(super) struct Pace {
    state: Mutex<State>,
}

struct State {
    ceiling: Option<f64>,
    started: Instant,
    /// The next free slot.
    next_at: Instant,
    /// `Retry-After`: nothing is sent before this.
    paused_until: Option<Instant>,
    /// The curve since the last decrease; `None` before the first 429.
    curve: Option<Curve>,
    last_decrease: Option<Instant>,
    sends: Meter,
    successes: Meter,
}

#[derive(Clone, Copy)]
struct Curve {
    w_max: f64,
    k: f64,
    since: Instant,
}

impl Pace {
    /// A pace that never exceeds `ceiling` requests per second, if given.
    pub(super) fn new(ceiling: Option<f64>) -> Self {
        let now = Instant::now();
        Pace {
            state: Mutex::new(State {
                ceiling: ceiling.filter(|c| c.is_finite() && *c > 0.0),
                started: now,
                next_at: now,
                paused_until: None,
                curve: None,
                last_decrease: None,
                sends: Meter::new(now),
                successes: Meter::new(now),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the next slot: when the caller may send. The caller sleeps until then.
    pub(super) fn slot(&self) -> Instant {
        let mut state = self.state();
        let now = Instant::now();
        let rate = state.rate(now);
        let mut at = state.next_at.max(now);
        if let Some(until) = state.paused_until {
            if until <= now {
                state.paused_until = None;
            } else {
                at = at.max(until);
            }
        }
        state.next_at = at + interval(rate);
        state.sends.add(at);
        at
    }

    /// A request succeeded (or was answered with a refusal: the server served it).
    pub(super) fn served(&self) {
        let mut state = self.state();
        let now = Instant::now();
        state.successes.add(now);
    }

    /// A request sent at `sent_at` was throttled. Returns the new rate when this is a new
    /// episode (the rate dropped), `None` when it only confirms the last one.
    pub(super) fn throttled(
        &self,
        sent_at: Instant,
        retry_after: Option<Duration>,
        longest_wait: Duration,
    ) -> Option<f64> {
        let mut state = self.state();
        let now = Instant::now();
        if let Some(after) = retry_after {
            let until = now + after.min(longest_wait);
            state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
        }
        let same_episode = state
            .last_decrease
            .is_some_and(|at| sent_at <= at || now < at + WINDOW);
        if same_episode {
            let rate = state.rate(now);
            state.next_at = state.next_at.max(now) + interval(rate);
            return None;
        }
        let current = state.rate(now);
        // What the server was willing to serve: its window is a second wide.
        let served = state.successes.count(now) as f64 / WINDOW.as_secs_f64();
        let w_max = served.min(current).max(FLOOR);
        state.curve = Some(Curve {
            w_max,
            k: (w_max * (1.0 - BETA) / SCALE).cbrt(),
            since: now,
        });
        state.last_decrease = Some(now);
        let rate = state.rate(now);
        state.next_at = state.next_at.max(now + interval(rate));
        Some(rate)
    }
}

impl State {
    fn rate(&mut self, now: Instant) -> f64 {
        // Twice what was really sent lately, measured over at least a tenth of a second.
        let covered = now
            .saturating_duration_since(self.started)
            .clamp(BUCKET, WINDOW)
            .as_secs_f64();
        let sent = self.sends.count(now) as f64 / covered;
        let headroom = (2.0 * sent).max(2.0 * FLOOR);
        let rate = match (self.curve, self.ceiling) {
            (None, Some(ceiling)) => ceiling,
            (None, None) => headroom.max(INITIAL),
            (Some(curve), _) => {
                let t = now.saturating_duration_since(curve.since).as_secs_f64();
                (SCALE * (t - curve.k).powi(3) + curve.w_max).min(headroom)
            }
        };
        rate.min(self.ceiling.unwrap_or(f64::INFINITY)).max(FLOOR)
    }
}

fn interval(rate: f64) -> Duration {
    Duration::from_secs_f64(1.0 / rate.max(FLOOR))
}

/// Events in the last second, in buckets of a tenth of a second.
struct Meter {
    started: Instant,
    counts: [u32; BUCKETS],
    /// The bucket number (since `started`) the newest count is in.
    head: u64,
}

impl Meter {
    fn new(started: Instant) -> Self {
        Meter {
            started,
            counts: [0; BUCKETS],
            head: 0,
        }
    }

    fn bucket(&self, at: Instant) -> u64 {
        (at.saturating_duration_since(self.started).as_nanos() / BUCKET.as_nanos()) as u64
    }

    /// Moves the window forward to `bucket`, emptying the buckets it leaves behind.
    fn advance(&mut self, bucket: u64) {
        if bucket <= self.head {
            return;
        }
        let fresh = (bucket - self.head).min(BUCKETS as u64);
        for b in bucket + 1 - fresh..=bucket {
            self.counts[(b % BUCKETS as u64) as usize] = 0;
        }
        self.head = bucket;
    }

    fn add(&mut self, at: Instant) {
        let bucket = self.bucket(at);
        self.advance(bucket);
        // A count older than the window (a late report) is dropped.
        if self.head - bucket < BUCKETS as u64 {
            let slot = &mut self.counts[(bucket % BUCKETS as u64) as usize];
            *slot = slot.saturating_add(1);
        }
    }

    /// Events in the last second (the newest bucket included).
    fn count(&mut self, now: Instant) -> u64 {
        let bucket = self.bucket(now);
        self.advance(bucket);
        self.counts.iter().map(|&c| u64::from(c)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ceiling_is_where_it_starts_and_never_passed() {
        let pace = Pace::new(Some(300.0));
        assert_eq!(pace.state().rate(Instant::now()), 300.0);
        // Slots 1/300 s apart.
        let first = pace.slot();
        let second = pace.slot();
        let gap = second - first;
        assert!(
            gap >= Duration::from_micros(3300) && gap <= Duration::from_micros(3400),
            "{gap:?}"
        );
    }

    #[test]
    fn a_throttle_drops_to_seven_tenths_of_what_was_served_and_only_once_an_episode() {
        let pace = Pace::new(Some(300.0));
        let before = Instant::now();
        for _ in 0..100 {
            pace.slot();
            pace.served();
        }
        let rate = pace
            .throttled(before, None, Duration::from_secs(30))
            .unwrap();
        assert!((rate - 70.0).abs() < 1.0, "{rate}");
        // The answers to requests already in flight say the same thing again.
        assert_eq!(pace.throttled(before, None, Duration::from_secs(30)), None);
        assert_eq!(
            pace.throttled(Instant::now(), None, Duration::from_secs(30)),
            None,
            "within a second of the decrease"
        );
        assert!(pace.state().rate(Instant::now()) <= 71.0);
    }

    #[test]
    fn the_curve_climbs_back_to_the_plateau_then_probes_above_it() {
        let mut state = State {
            ceiling: None,
            started: Instant::now() - Duration::from_secs(60),
            next_at: Instant::now(),
            paused_until: None,
            curve: None,
            last_decrease: None,
            sends: Meter::new(Instant::now() - Duration::from_secs(60)),
            successes: Meter::new(Instant::now() - Duration::from_secs(60)),
        };
        let now = Instant::now();
        // Sending at 1,000 per second lately: the headroom cap is out of the way.
        for _ in 0..1000 {
            state.sends.add(now);
        }
        let k = (100.0 * (1.0 - BETA) / SCALE).cbrt();
        state.curve = Some(Curve {
            w_max: 100.0,
            k,
            since: now,
        });
        let at = |secs: f64| now + Duration::from_secs_f64(secs);
        let rate_at = |state: &mut State, secs: f64| {
            let when = at(secs);
            for _ in 0..1000 {
                state.sends.add(when);
            }
            state.rate(when)
        };
        assert!((rate_at(&mut state, 0.0) - 70.0).abs() < 0.5);
        let back = rate_at(&mut state, k);
        assert!((back - 100.0).abs() < 0.5, "{back}");
        assert!(
            rate_at(&mut state, k + 1.0) < 101.0,
            "flat near the plateau"
        );
        assert!(
            rate_at(&mut state, k + 5.0) > 140.0,
            "then probing above it"
        );
    }

    #[test]
    fn without_a_ceiling_it_starts_slowly_and_never_runs_ahead_of_what_is_sent() {
        let pace = Pace::new(None);
        assert_eq!(pace.state().rate(Instant::now()), INITIAL);
        let pace = Pace::new(Some(0.0));
        assert_eq!(
            pace.state().rate(Instant::now()),
            INITIAL,
            "a zero ceiling is no ceiling"
        );
    }

    #[test]
    fn retry_after_pauses_every_send() {
        let pace = Pace::new(Some(1000.0));
        let sent = Instant::now();
        pace.throttled(sent, Some(Duration::from_secs(3)), Duration::from_secs(30));
        let slot = pace.slot();
        assert!(
            slot >= sent + Duration::from_millis(2990),
            "{:?}",
            slot - sent
        );
        // A server's absurd Retry-After waits the longest allowed, no more.
        let pace = Pace::new(Some(1000.0));
        pace.throttled(
            Instant::now(),
            Some(Duration::from_secs(1_000_000)),
            Duration::from_secs(30),
        );
        assert!(pace.slot() <= Instant::now() + Duration::from_secs(30));
    }

    #[test]
    fn the_meter_forgets_what_left_the_window() {
        let start = Instant::now();
        let mut meter = Meter::new(start);
        for ms in [0, 50, 150, 900] {
            meter.add(start + Duration::from_millis(ms));
        }
        assert_eq!(meter.count(start + Duration::from_millis(950)), 4);
        assert_eq!(meter.count(start + Duration::from_millis(1050)), 2);
        assert_eq!(meter.count(start + Duration::from_millis(5000)), 0);
    }
}
