//! The state an emulator's handle and its server share ([`Shared`]): the fixed settings, the
//! knobs that can change while it runs, the rate limit, the users' directory, the token and
//! nonce stores, the pending faults and the request counters. It holds data and the small
//! operations on it; what a request does with it is the server's and the handlers' part.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use secrecy::SecretString;

use crate::credentials::{Nonces, Tokens};
use crate::faults::Fault;
use crate::operation::Operation;
use crate::users::Directory;

/// The rate limit's window.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// How authentication failures are answered. Both occur in the wild: the docs say every
/// endpoint answers HTTP 200 with the status in the body, yet 401 and 429 come as HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnauthorizedStyle {
    /// HTTP 401 with `{"statusCode":401, …}` (the default).
    #[default]
    Http401,
    /// HTTP 200 with `{"statusCode":401, …}`.
    Http200,
}

/// How many requests an emulator received, per operation, counting faulted and refused ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Requests to `/api/v3/get-management-token`.
    pub token_requests: u64,
    /// Requests to `/api/v3/import-otp`.
    pub import_otp_requests: u64,
    /// Requests to `/api/v3/get-otp-secret-by-user`.
    pub get_otp_secret_requests: u64,
    /// Requests to `/api/v3/get-user-batch`.
    pub get_user_batch_requests: u64,
    /// Requests to any other path.
    pub other_requests: u64,
}

impl Counters {
    /// Requests to either OTP operation (not [`get_user_batch_requests`](Self::get_user_batch_requests)).
    pub fn otp_requests(&self) -> u64 {
        self.import_otp_requests + self.get_otp_secret_requests
    }

    /// All requests.
    pub fn total(&self) -> u64 {
        self.token_requests
            + self.otp_requests()
            + self.get_user_batch_requests
            + self.other_requests
    }
}

/// The settings that can change while the emulator runs.
#[derive(Debug, Clone)]
pub(crate) struct Knobs {
    pub(crate) token_ttl: Duration,
    pub(crate) latency: Duration,
    pub(crate) unauthorized_style: UnauthorizedStyle,
    pub(crate) max_clock_skew: Duration,
    /// The most items an importOtp `list` may have.
    pub(crate) max_list: Option<usize>,
    /// The one brand whose dialect is accepted; both when `None`.
    pub(crate) only_brand: Option<authing_otp::Brand>,
}

/// The rate limit: a sliding one-second window of the requests served.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// The most requests served in any one-second interval; 0 for no limit.
    qps: u32,
    /// When the requests served in the last second arrived, oldest first.
    served: VecDeque<Instant>,
}

impl RateLimiter {
    pub(crate) fn new(qps: u32) -> Self {
        Self {
            qps,
            served: VecDeque::new(),
        }
    }

    /// Whether a request arriving `now` is within the limit; if so, it counts from now on.
    pub(crate) fn admit(&mut self, now: Instant) -> bool {
        if self.qps == 0 {
            return true;
        }
        while self
            .served
            .front()
            .is_some_and(|&at| now.saturating_duration_since(at) >= RATE_WINDOW)
        {
            self.served.pop_front();
        }
        if self.served.len() < self.qps as usize {
            self.served.push_back(now);
            true
        } else {
            false
        }
    }
}

/// A pending fault: applies to the next `remaining` requests (of `only`, if set).
#[derive(Debug)]
pub(crate) struct FaultRule {
    pub(crate) only: Option<Operation>,
    pub(crate) remaining: usize,
    pub(crate) fault: Fault,
}

/// Request counters.
#[derive(Debug, Default)]
pub(crate) struct CounterCells {
    token: AtomicU64,
    import: AtomicU64,
    get_secret: AtomicU64,
    user_batch: AtomicU64,
    other: AtomicU64,
}

impl CounterCells {
    pub(crate) fn record(&self, op: Option<Operation>) {
        let cell = match op {
            Some(Operation::GetManagementToken) => &self.token,
            Some(Operation::ImportOtp) => &self.import,
            Some(Operation::GetOtpSecretByUser) => &self.get_secret,
            Some(Operation::GetUserBatch) => &self.user_batch,
            None => &self.other,
        };
        cell.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Counters {
        Counters {
            token_requests: self.token.load(Ordering::Relaxed),
            import_otp_requests: self.import.load(Ordering::Relaxed),
            get_otp_secret_requests: self.get_secret.load(Ordering::Relaxed),
            get_user_batch_requests: self.user_batch.load(Ordering::Relaxed),
            other_requests: self.other.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn reset(&self) {
        for cell in [
            &self.token,
            &self.import,
            &self.get_secret,
            &self.user_batch,
            &self.other,
        ] {
            cell.store(0, Ordering::Relaxed);
        }
    }
}

/// Everything the server and the handle share. Not `Debug` as a whole: it holds secrets.
pub(crate) struct Shared {
    pub(crate) user_pool_id: String,
    pub(crate) access_key_id: String,
    pub(crate) access_key_secret: SecretString,
    pub(crate) knobs: Mutex<Knobs>,
    pub(crate) rate: Mutex<RateLimiter>,
    /// Whether a rate limit is set at all: without one, requests skip its lock.
    pub(crate) rate_limited: bool,
    pub(crate) directory: Mutex<Directory>,
    pub(crate) tokens: Mutex<Tokens>,
    pub(crate) nonces: Mutex<Nonces>,
    pub(crate) faults: Mutex<VecDeque<FaultRule>>,
    pub(crate) counters: CounterCells,
    /// The most connections open at once.
    pub(crate) max_connections: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn rate(&self) -> MutexGuard<'_, RateLimiter> {
        lock(&self.rate)
    }

    pub(crate) fn knobs(&self) -> MutexGuard<'_, Knobs> {
        lock(&self.knobs)
    }

    pub(crate) fn directory(&self) -> MutexGuard<'_, Directory> {
        lock(&self.directory)
    }

    pub(crate) fn tokens(&self) -> MutexGuard<'_, Tokens> {
        lock(&self.tokens)
    }

    pub(crate) fn nonces(&self) -> MutexGuard<'_, Nonces> {
        lock(&self.nonces)
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, VecDeque<FaultRule>> {
        lock(&self.faults)
    }

    /// Takes one use of the first pending fault that applies to a request of `op`.
    pub(crate) fn take_fault(&self, op: Option<Operation>) -> Option<Fault> {
        let mut faults = self.faults();
        let at = faults
            .iter()
            .position(|r| r.remaining > 0 && (r.only.is_none() || r.only == op))?;
        let rule = &mut faults[at];
        rule.remaining -= 1;
        let fault = rule.fault.clone();
        if rule.remaining == 0 {
            faults.remove(at);
        }
        Some(fault)
    }
}

#[cfg(test)]
impl Shared {
    /// A state for unit tests: pool `up`, key pair `ak`/`sk`, tokens living `token_ttl`, no
    /// users, no limits.
    pub(crate) fn for_tests(token_ttl: Duration) -> Self {
        Self {
            user_pool_id: "up".to_owned(),
            access_key_id: "ak".to_owned(),
            access_key_secret: SecretString::from("sk"),
            knobs: Mutex::new(Knobs {
                token_ttl,
                latency: Duration::ZERO,
                unauthorized_style: UnauthorizedStyle::default(),
                max_clock_skew: Duration::from_secs(900),
                max_list: None,
                only_brand: None,
            }),
            rate: Mutex::new(RateLimiter::new(0)),
            rate_limited: false,
            directory: Mutex::default(),
            tokens: Mutex::default(),
            nonces: Mutex::default(),
            faults: Mutex::default(),
            counters: CounterCells::default(),
            max_connections: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_window_slides() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut limiter = RateLimiter::new(2);
        assert!(limiter.admit(at(0)));
        assert!(limiter.admit(at(400)));
        assert!(!limiter.admit(at(500)), "a third within the second");
        assert!(!limiter.admit(at(999)));
        assert!(limiter.admit(at(1000)), "the first has left the window");
        assert!(
            !limiter.admit(at(1300)),
            "refusals did not count, the second still does"
        );
        assert!(limiter.admit(at(1400)));
        let mut off = RateLimiter::new(0);
        assert!((0..1000).all(|_| off.admit(start)));
        assert!(off.served.is_empty());
    }
}
