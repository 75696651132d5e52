//! What every request of a bulk run shares: the pace, the server's health, whether the
//! endpoint has shown that it accepts records, how long since a record was last finished, and
//! why the run stopped.
//!
//! [`Run::send`] owns one request's fate from the run's point of view: it waits for the
//! server to be up and for a slot of the pace, sends, and classifies the answer:
//!
//! - **throttled** (HTTP 429 or `statusCode` 429): the pace drops, the request is sent again
//!   later; never a failure;
//! - **unavailable** (no connection, a reset, a timeout, HTTP 500/502/503/504 or `statusCode`
//!   500/502/503, a token endpoint in the same state): the whole run waits, with a backoff
//!   doubling from half a second to the longest wait, then one request probes; the others wait
//!   for it;
//! - **about the records** (an Authing envelope saying 400, 404, 409 or 422: see
//!   [`about_the_records`]): returned to the caller, which splits the batch or refuses the
//!   record;
//! - **too large** (413, from Authing or a proxy): returned to the caller, which splits;
//! - **anything else** (credentials, permissions, a redirect, an answer that is not Authing's
//!   JSON): the run stops.
//!
//! Waiting is bounded by the stall timeout: when no record has finished for that long, the
//! run stops, saying what it last saw.

use std::{
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    task::Poll,
    time::{Duration, Instant},
};

use tokio::sync::{Notify, mpsc};

use super::{pace::Pace, stop::StopReason};
use crate::{Error, ErrorKind, call::CallReport};

/// How many records refused alike, before the endpoint has accepted anything, make the run
/// stop: a permission the key pair lacks, a wrong pool or a wrong kind of id answers every
/// record the same way.
pub(super) const ALIKE_BEFORE_TRUST: usize = 6;

/// The first wait after a failure; it doubles with each failed probe.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// What happened, for the run's caller.
#[derive(Debug)]
pub(super) enum Notice {
    Throttled {
        rate: f64,
        retry_after: Option<Duration>,
    },
    Unavailable {
        down_for: Duration,
        next_try_in: Duration,
        error: Arc<Error>,
    },
    Recovered {
        down_for: Duration,
    },
}

/// The fate of one request, for the caller.
pub(super) enum Sent<T> {
    Ok(T),
    /// Refused for what it holds (see [`about_the_records`]).
    Records(Error),
    /// Refused as too large (413).
    TooLarge(Error),
    /// The run stopped (by this request or another).
    Stopped,
}

/// Counts of what went over the wire.
#[derive(Default)]
pub(super) struct Counts {
    pub(super) requests: AtomicU64,
    pub(super) throttled: AtomicU64,
    pub(super) unavailable: AtomicU64,
}

pub(super) struct Run {
    pace: Pace,
    health: Mutex<Health>,
    /// Woken when the health changes or the run stops.
    changed: Notify,
    trust: Mutex<Trust>,
    trusted: AtomicBool,
    stopped: AtomicBool,
    stop: Mutex<Option<StopReason>>,
    last_progress: Mutex<Instant>,
    stall_timeout: Duration,
    longest_wait: Duration,
    /// Whether a "not found" (statusCode 404) needs the endpoint's trust like other refusals:
    /// yes for imports (a wrong pool refuses every user), no for reads (many users have no
    /// OTP bound, and a read changes nothing).
    guard_not_found: bool,
    notices: mpsc::UnboundedSender<Notice>,
    pub(super) counts: Counts,
}

#[derive(Default)]
struct Health {
    down_since: Option<Instant>,
    failures: u32,
    last_failure: Option<Instant>,
    next_try: Option<Instant>,
    probing: bool,
    last_error: Option<Arc<Error>>,
}

#[derive(Default)]
struct Trust {
    /// The shape (HTTP status, statusCode, apiCode) of each provisional refusal.
    alike: Vec<(Option<u16>, Option<i64>, Option<i64>)>,
}

/// What the run makes of a record refused on its own.
pub(super) enum Judgement {
    /// A refusal of this record.
    Refused,
    /// Held until the endpoint has accepted something: the record stays undone if the run
    /// stops instead.
    Provisional,
    /// The run stopped.
    Stopped,
}

/// The settings of a run.
pub(super) struct Settings {
    pub(super) ceiling: Option<f64>,
    pub(super) stall_timeout: Duration,
    pub(super) longest_wait: Duration,
    pub(super) guard_not_found: bool,
}

/// Whether the refusal is about what the request holds: an Authing envelope (not a route's
/// 404 or a proxy's page) whose `statusCode` is 400 (a value refused), 404 (no such user, or
/// no OTP bound), 409 (a conflict) or 422 (an invalid operation), answered in HTTP 200 as
/// Authing answers business errors (or with the same HTTP status, 404 excepted: an HTTP 404 is
/// a route that does not exist). A refusal by the client itself, before sending, is too.
pub(super) fn about_the_records(error: &Error) -> bool {
    if error.kind() == ErrorKind::InvalidInput {
        return true;
    }
    let Some(api) = error.api_error() else {
        return false;
    };
    if !matches!(error, Error::Api(_)) {
        return false;
    }
    let code = api.status_code;
    matches!(code, 400 | 404 | 409 | 422)
        && (api.http_status == 200 || (i64::from(api.http_status) == code && code != 404))
}

/// Whether the server says the request is too large: 413, as Authing's envelope or a proxy's
/// own page.
pub(super) fn too_large(error: &Error) -> bool {
    error.http_status() == Some(413) || error.api_error().is_some_and(|api| api.status_code == 413)
}

fn throttled(error: &Error) -> bool {
    error.http_status() == Some(429) || error.api_error().is_some_and(|api| api.status_code == 429)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The backoff after `failures` failed tries: doubling from [`FIRST_BACKOFF`], at most
/// `longest`, with "equal jitter" (between half and all of it), so that runs sharing a server
/// do not probe in step.
fn backoff(failures: u32, longest: Duration) -> Duration {
    let ceiling = FIRST_BACKOFF
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(longest);
    let unit = getrandom::u64().unwrap_or(u64::MAX / 2) as f64 / u64::MAX as f64;
    ceiling / 2 + (ceiling / 2).mul_f64(unit)
}

impl Run {
    pub(super) fn new(settings: Settings, notices: mpsc::UnboundedSender<Notice>) -> Self {
        Run {
            pace: Pace::new(settings.ceiling),
            health: Mutex::default(),
            changed: Notify::new(),
            trust: Mutex::default(),
            trusted: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            stop: Mutex::new(None),
            last_progress: Mutex::new(Instant::now()),
            stall_timeout: settings.stall_timeout,
            longest_wait: settings.longest_wait,
            guard_not_found: settings.guard_not_found,
            notices,
            counts: Counts::default(),
        }
    }

    pub(super) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Stops the run, unless it stopped already (the first reason stands).
    pub(super) fn stop(&self, reason: StopReason) {
        let mut stop = lock(&self.stop);
        if stop.is_none() {
            tracing::warn!(reason = %reason, "bulk run stopped");
            *stop = Some(reason);
            self.stopped.store(true, Ordering::Release);
        }
        drop(stop);
        self.changed.notify_waiters();
    }

    pub(super) fn take_stop(&self) -> Option<StopReason> {
        lock(&self.stop).take()
    }

    /// `n` records finished: the run is making progress.
    pub(super) fn progress(&self, n: usize) {
        if n > 0 {
            *lock(&self.last_progress) = Instant::now();
        }
    }

    fn stall_deadline(&self) -> Instant {
        let last = *lock(&self.last_progress);
        last.checked_add(self.stall_timeout)
            .unwrap_or(last + Duration::from_secs(365 * 24 * 3600))
    }

    /// Stops the run if it has stalled; true if it is stopped.
    fn check_stall(&self) -> bool {
        if self.is_stopped() {
            return true;
        }
        let last = *lock(&self.last_progress);
        let stalled = last.elapsed();
        if stalled >= self.stall_timeout {
            let last_error = lock(&self.health).last_error.clone();
            self.stop(StopReason::Stalled {
                after: stalled,
                last_error,
            });
            return true;
        }
        false
    }

    /// Sleeps until `until` (or until woken, when `None`), the health changes, the run stops
    /// or stalls. False when the run is stopped.
    async fn wait(&self, until: Option<Instant>) -> bool {
        let notified = self.changed.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        if self.check_stall() {
            return false;
        }
        let stall = self.stall_deadline();
        let until = until.map_or(stall, |u| u.min(stall));
        let mut sleep = std::pin::pin!(tokio::time::sleep_until(until.into()));
        std::future::poll_fn(|cx| {
            if sleep.as_mut().poll(cx).is_ready() || notified.as_mut().poll(cx).is_ready() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        !self.check_stall()
    }

    /// Waits until the server is up (`Some(false)`), or this caller may probe it
    /// (`Some(true)`). `None` when the run stopped.
    async fn healthy(&self) -> Option<bool> {
        loop {
            let until = {
                let mut health = lock(&self.health);
                if self.is_stopped() {
                    return None;
                }
                if health.down_since.is_none() {
                    return Some(false);
                }
                let now = Instant::now();
                match health.next_try {
                    Some(at) if now < at => Some(at),
                    _ if !health.probing => {
                        health.probing = true;
                        return Some(true);
                    }
                    // Another request is probing: wait for its answer.
                    _ => None,
                }
            };
            if !self.wait(until).await {
                return None;
            }
        }
    }

    /// Waits for a slot of the pace. Returns when the request may leave, `None` if the run
    /// stopped meanwhile.
    async fn slot(&self) -> Option<Instant> {
        let at = self.pace.slot();
        while Instant::now() < at {
            if !self.wait(Some(at)).await {
                return None;
            }
        }
        Some(at)
    }

    /// The server answered: it is up.
    fn up(&self) {
        let mut health = lock(&self.health);
        health.probing = false;
        if let Some(since) = health.down_since.take() {
            health.failures = 0;
            health.next_try = None;
            drop(health);
            let _ = self.notices.send(Notice::Recovered {
                down_for: since.elapsed(),
            });
            self.changed.notify_waiters();
        }
    }

    /// A request sent at `sent_at` (the probe, or not) found the server unavailable.
    fn down(&self, sent_at: Instant, probe: bool, error: Error) {
        let error = Arc::new(error);
        let mut health = lock(&self.health);
        let now = Instant::now();
        health.last_error = Some(error.clone());
        // A request that left before the last failure was seen says nothing new (unless it was
        // the probe): it is sent again with the others once the server is back.
        let stale = !probe && health.last_failure.is_some_and(|at| sent_at < at);
        if stale {
            return;
        }
        health.failures += 1;
        let since = *health.down_since.get_or_insert(now);
        health.last_failure = Some(now);
        let wait = backoff(health.failures, self.longest_wait);
        health.next_try = Some(now + wait);
        health.probing = false;
        drop(health);
        tracing::info!(
            failures = self.counts.unavailable.load(Ordering::Relaxed),
            next_try_ms = wait.as_millis() as u64,
            "server unavailable"
        );
        let _ = self.notices.send(Notice::Unavailable {
            down_for: now - since,
            next_try_in: wait,
            error,
        });
        self.changed.notify_waiters();
    }

    /// Sends one request (`call` is called again for each try) until it is answered with a
    /// success or a refusal, or the run stops: throttling and outages are waited out here.
    pub(super) async fn send<T, F, Fut>(&self, requests: &mut u64, mut call: F) -> Sent<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = (Result<T, Error>, CallReport)>,
    {
        loop {
            let Some(probe) = self.healthy().await else {
                return Sent::Stopped;
            };
            let Some(sent_at) = self.slot().await else {
                if probe {
                    self.release_probe();
                }
                return Sent::Stopped;
            };
            let (result, report) = call().await;
            *requests += u64::from(report.sent);
            self.counts
                .requests
                .fetch_add(u64::from(report.sent), Ordering::Relaxed);
            let error = match result {
                Ok(value) => {
                    self.up();
                    self.pace.served();
                    self.trust();
                    return Sent::Ok(value);
                }
                Err(error) => error,
            };
            if throttled(&error) {
                self.counts.throttled.fetch_add(1, Ordering::Relaxed);
                self.up();
                if let Some(rate) =
                    self.pace
                        .throttled(sent_at, report.retry_after, self.longest_wait)
                {
                    tracing::info!(rate, "throttled by the server: sending slower");
                    let _ = self.notices.send(Notice::Throttled {
                        rate,
                        retry_after: report.retry_after,
                    });
                }
                if self.check_stall() {
                    return Sent::Stopped;
                }
                continue;
            }
            if error.is_retryable() {
                self.counts.unavailable.fetch_add(1, Ordering::Relaxed);
                self.down(sent_at, probe, error);
                if self.check_stall() {
                    return Sent::Stopped;
                }
                continue;
            }
            if report.sent > 0 {
                self.up();
                self.pace.served();
            } else if probe {
                self.release_probe();
            }
            if too_large(&error) {
                return Sent::TooLarge(error);
            }
            if about_the_records(&error) {
                return Sent::Records(error);
            }
            self.stop(StopReason::Refused(Arc::new(error)));
            return Sent::Stopped;
        }
    }

    fn release_probe(&self) {
        let mut health = lock(&self.health);
        if health.probing {
            health.probing = false;
            drop(health);
            self.changed.notify_waiters();
        }
    }

    /// The endpoint accepted something: refusals from now on are the records'.
    fn trust(&self) {
        self.trusted.store(true, Ordering::Release);
    }

    pub(super) fn trusted(&self) -> bool {
        self.trusted.load(Ordering::Acquire)
    }

    /// Whether a refusal of a batch should be answered by probing its records one at a time
    /// (the endpoint has accepted nothing yet) rather than by splitting it in halves.
    pub(super) fn probing_records(&self, error: &Error) -> bool {
        !self.trusted() && self.needs_trust(error)
    }

    fn needs_trust(&self, error: &Error) -> bool {
        let not_found = error.api_error().is_some_and(|api| api.status_code == 404);
        error.kind() != ErrorKind::InvalidInput && (self.guard_not_found || !not_found)
    }

    /// What to make of a record refused on its own with `error`.
    pub(super) fn judge(&self, error: &Error) -> Judgement {
        if self.is_stopped() {
            return Judgement::Stopped;
        }
        if self.trusted() || !self.needs_trust(error) {
            return Judgement::Refused;
        }
        let shape = (
            error.http_status(),
            error.api_error().map(|api| api.status_code),
            error.api_code(),
        );
        let mut trust = lock(&self.trust);
        if trust.alike.iter().any(|seen| *seen != shape) {
            // Records refused in different ways: the server is looking at each of them.
            drop(trust);
            self.trust();
            return Judgement::Refused;
        }
        trust.alike.push(shape);
        if trust.alike.len() >= ALIKE_BEFORE_TRUST {
            let records = trust.alike.len() as u64;
            drop(trust);
            // Only Authing's envelopes are judged here (see `about_the_records`).
            let error = match error.api_error() {
                Some(api) => Error::Api(api.clone()),
                None => Error::Config(error.to_string()),
            };
            self.stop(StopReason::RefusedAlike {
                error: Arc::new(error),
                records,
            });
            return Judgement::Stopped;
        }
        Judgement::Provisional
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiError;

    fn api(http_status: u16, status_code: i64, api_code: Option<i64>) -> Error {
        Error::Api(ApiError {
            http_status,
            status_code,
            api_code,
            message: "m".into(),
            request_id: None,
        })
    }

    #[test]
    fn only_authings_business_refusals_are_about_the_records() {
        for (error, records) in [
            (api(200, 404, Some(2004)), true),
            (api(200, 400, Some(40001)), true),
            (api(200, 409, None), true),
            (api(200, 422, None), true),
            (api(400, 400, None), true),
            // A route that does not exist, as NestJS answers it.
            (api(404, 404, None), false),
            (api(200, 403, Some(40301)), false),
            (api(200, 402, None), false),
            (api(200, 499, None), false),
            (
                Error::UnexpectedResponse {
                    status: 404,
                    reason: "r".into(),
                    excerpt: "<html>".into(),
                },
                false,
            ),
        ] {
            assert_eq!(about_the_records(&error), records, "{error}");
        }
        assert!(too_large(&api(413, 413, None)));
        assert!(throttled(&api(200, 429, None)));
    }

    #[test]
    fn backoff_doubles_up_to_the_longest_wait_with_jitter() {
        let longest = Duration::from_secs(30);
        for _ in 0..100 {
            let first = backoff(1, longest);
            assert!(
                first >= FIRST_BACKOFF / 2 && first <= FIRST_BACKOFF,
                "{first:?}"
            );
            let later = backoff(30, longest);
            assert!(later >= longest / 2 && later <= longest, "{later:?}");
        }
    }
}
