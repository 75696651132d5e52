//! Retries: which answers are worth sending again, how long to wait, and how many retries a
//! client may spend.
//!
//! Every operation this crate sends is safe to send again: the token request has no effect
//! beyond issuing a token, `getOtpSecretByUser` is a read, and a second `importOtp` of the same
//! items binds the same secrets again. A retry after an ambiguous failure (a reset connection,
//! a timeout) therefore does no harm.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, SystemTime},
};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How requests are retried: attempts, backoff, a deadline for the whole call, and a budget
/// shared by a client's clones.
///
/// Retried: connection failures and resets (before or during the answer), timeouts, HTTP 429
/// and `statusCode` 429, HTTP 500/502/503/504 and `statusCode` 500/502/503. Never retried: 413
/// (split the batch instead), any other 4xx, and anything refused before it was sent. The
/// delay before attempt *n + 1* is drawn uniformly from zero to `initial_backoff × 2ⁿ⁻¹`, capped
/// at `max_backoff` ("full jitter"); a `Retry-After` header (seconds or an HTTP date) is honoured
/// instead, up to `max_backoff`. A `Retry-After` too large to read (`99999999999999999999`,
/// `1e9`, a date in the year 9999) means the longest wait, `max_backoff`; one that makes no
/// sense (negative, a date already past, not a number or a date) is ignored, and the jittered
/// delay applies. No retry starts that could not finish before the call's deadline.
///
/// The budget works as aws-sdk's standard retry mode does: the client starts with 500 tokens; a
/// retry costs 5 (10 after a timeout or a failed connection), a call that succeeds at once
/// earns 1 back and one that succeeds after retries earns their cost back. With the budget
/// spent, failures are returned at once, so a server that is down receives each call once
/// rather than `max_attempts` times.
///
/// ```
/// use std::time::Duration;
/// use authing_otp::{ManagementClient, RetryConfig};
///
/// let client = ManagementClient::builder()
///     .access_key("ak", "sk")
///     .retry(
///         RetryConfig::default()
///             .max_attempts(5)
///             .initial_backoff(Duration::from_millis(200))
///             .call_timeout(Duration::from_secs(120)),
///     )
///     .build()?;
/// # drop(client);
/// let none = RetryConfig::disabled();
/// assert_eq!(none, RetryConfig::default().max_attempts(1));
/// # Ok::<(), authing_otp::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryConfig {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    call_timeout: Duration,
    budget: bool,
}

/// The defaults: 3 attempts, 100 ms initial backoff, 20 s at most between attempts, 60 s for
/// the whole call, the shared budget on.
impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(20),
            call_timeout: Duration::from_secs(60),
            budget: true,
        }
    }
}

impl RetryConfig {
    /// One attempt per call: nothing is retried (the refresh of a refused token still is).
    pub fn disabled() -> Self {
        RetryConfig::default().max_attempts(1)
    }

    /// Attempts per call, the first included (at least 1; 3 by default).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The upper bound of the first delay; each retry doubles it (100 ms by default).
    #[must_use]
    pub fn initial_backoff(mut self, delay: Duration) -> Self {
        self.initial_backoff = delay.min(MAX_RETRY_AFTER);
        self
    }

    /// The longest wait between two attempts, `Retry-After` included (20 s by default; at
    /// most an hour).
    #[must_use]
    pub fn max_backoff(mut self, delay: Duration) -> Self {
        self.max_backoff = delay.min(MAX_RETRY_AFTER);
        self
    }

    /// The deadline of a whole call: token request, attempts, waits and reading the answers
    /// (60 s by default; at most a day).
    #[must_use]
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout.min(Duration::from_secs(24 * 3600));
        self
    }

    /// Whether retries draw on a budget shared by the client's clones (on by default).
    #[must_use]
    pub fn budget(mut self, enabled: bool) -> Self {
        self.budget = enabled;
        self
    }

    /// Attempts per call.
    pub(crate) fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The deadline of a whole call.
    pub(crate) fn deadline(&self) -> Duration {
        self.call_timeout
    }

    /// The delay before retry number `retry` (1 for the first), given the answer's
    /// `Retry-After` if any.
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_backoff);
        }
        let ceiling = self
            .initial_backoff
            .saturating_mul(1u32 << (retry - 1).min(20))
            .min(self.max_backoff);
        // Full jitter: anywhere in [0, ceiling].
        ceiling.mul_f64(random_unit())
    }

    pub(crate) fn uses_budget(&self) -> bool {
        self.budget
    }
}

/// A uniform draw from [0, 1].
fn random_unit() -> f64 {
    let bits = getrandom::u64().unwrap_or(u64::MAX / 2);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Why an attempt is worth retrying, for the budget, the logs and the final error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RetryReason {
    /// HTTP 429 or `statusCode` 429.
    Throttled,
    /// A 5xx status, in the HTTP status or the body.
    ServerError,
    /// The connection failed or was reset.
    Connection,
    /// No answer in time.
    Timeout,
}

impl RetryReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RetryReason::Throttled => "throttled (429)",
            RetryReason::ServerError => "server error (5xx)",
            RetryReason::Connection => "connection failed or reset",
            RetryReason::Timeout => "timed out",
        }
    }

    pub(crate) fn cost(self) -> u32 {
        match self {
            RetryReason::Timeout | RetryReason::Connection => 10,
            RetryReason::Throttled | RetryReason::ServerError => 5,
        }
    }
}

/// Whether an answer with this HTTP status and body `statusCode` is worth retrying.
pub(crate) fn classify(http_status: u16, status_code: Option<f64>) -> Option<RetryReason> {
    match http_status {
        429 => return Some(RetryReason::Throttled),
        500 | 502 | 503 | 504 => return Some(RetryReason::ServerError),
        _ => {}
    }
    // `statusCode` is a JSON number: compared as the integer it should be.
    match status_code.filter(|c| c.fract() == 0.0).map(|c| c as i64) {
        Some(429) => Some(RetryReason::Throttled),
        Some(500 | 502 | 503) => Some(RetryReason::ServerError),
        _ => None,
    }
}

/// The longest `Retry-After` taken into account (the backoff cap then applies): a server's
/// number never reaches clock arithmetic unbounded.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The `Retry-After` header as a delay, at most an hour (and then at most `max_backoff`):
///
/// - delta-seconds (`120`) as that many seconds; more digits than any integer holds still say
///   "wait", so they mean the longest wait rather than none;
/// - an HTTP date as the time until then (a far-future one is the longest wait);
/// - a decimal number (`1.5`, `1e9`), which is not HTTP but some servers send, as that many
///   seconds (a huge one is the longest wait);
/// - anything else, a negative number, or a date already past (the clocks disagree, or the
///   server is confused) as no hint at all: the jittered backoff applies.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value.trim(), SystemTime::now())
}

fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let first = *value.as_bytes().first()?;
    let delay = if value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still a number of seconds: a very long one.
        value
            .parse::<u64>()
            .map_or(MAX_RETRY_AFTER, Duration::from_secs)
    } else if first.is_ascii_digit() || first == b'.' {
        // Only what starts like a number: `f64` would also read `inf` and `NaN`.
        let seconds = value.parse::<f64>().ok()?;
        // 1e400 reads as infinity: too long to say, so the longest wait.
        Duration::try_from_secs_f64(seconds).unwrap_or(MAX_RETRY_AFTER)
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).ok().filter(|d| !d.is_zero())?
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

const BUDGET_CAPACITY: u32 = 500;

/// The retry budget shared by a client's clones.
#[derive(Clone, Debug)]
pub(crate) struct RetryBudget(Arc<AtomicU32>);

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget(Arc::new(AtomicU32::new(BUDGET_CAPACITY)))
    }
}

impl RetryBudget {
    /// Takes the cost of a retry for `reason`; false (and nothing taken) when too little is
    /// left.
    pub(crate) fn withdraw(&self, reason: RetryReason) -> bool {
        let cost = reason.cost();
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(cost)
            })
            .is_ok()
    }

    /// A call finished well: after `spent` tokens of retries, or none.
    pub(crate) fn deposit(&self, spent: u32) {
        // Full, as it is in a healthy run: a read, not a write that every thread would contend
        // for.
        if self.0.load(Ordering::Relaxed) >= BUDGET_CAPACITY {
            return;
        }
        let amount = if spent == 0 { 1 } else { spent };
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                Some(left.saturating_add(amount).min(BUDGET_CAPACITY))
            });
    }

    /// Gives back tokens a call took but did not use up: its retries were cancelled.
    fn refund(&self, tokens: u32) {
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                Some(left.saturating_add(tokens).min(BUDGET_CAPACITY))
            });
    }

    #[cfg(test)]
    fn left(&self) -> u32 {
        self.0.load(Ordering::Acquire)
    }
}

/// The tokens one call took from the budget for its retries. A call that ends well gives them
/// back (and earns one more when it took none), as aws-sdk's retry quota does; a call that
/// fails keeps them spent; a call cancelled before it ends (dropped while it waits to retry)
/// gives them back too, as aws-sdk's permits do when dropped.
pub(crate) struct Spent<'a> {
    budget: &'a RetryBudget,
    tokens: u32,
    settled: bool,
}

impl<'a> Spent<'a> {
    pub(crate) fn new(budget: &'a RetryBudget) -> Self {
        Spent {
            budget,
            tokens: 0,
            settled: false,
        }
    }

    /// Takes the cost of one more retry; false when the budget cannot pay it.
    pub(crate) fn take(&mut self, reason: RetryReason) -> bool {
        let paid = self.budget.withdraw(reason);
        if paid {
            self.tokens += reason.cost();
        }
        paid
    }

    /// The call succeeded.
    pub(crate) fn succeeded(mut self) {
        self.settled = true;
        self.budget.deposit(self.tokens);
    }

    /// The call failed for good: its retries stay spent.
    pub(crate) fn failed(mut self) {
        self.settled = true;
    }
}

impl Drop for Spent<'_> {
    fn drop(&mut self) {
        if !self.settled && self.tokens > 0 {
            self.budget.refund(self.tokens);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_under_a_doubling_cap() {
        let config = RetryConfig::default()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_secs(1));
        for _ in 0..200 {
            assert!(config.delay(1, None) <= Duration::from_millis(100));
            assert!(config.delay(3, None) <= Duration::from_millis(400));
            assert!(config.delay(30, None) <= Duration::from_secs(1));
        }
        assert_eq!(
            config.delay(1, Some(Duration::from_secs(30))),
            Duration::from_secs(1),
            "Retry-After is honoured within the cap"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        let later = SystemTime::now() + Duration::from_secs(90);
        headers.insert(RETRY_AFTER, httpdate::fmt_http_date(later).parse().unwrap());
        let delay = retry_after(&headers).unwrap();
        assert!(delay > Duration::from_secs(85) && delay <= Duration::from_secs(90));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
        // Found by review: a huge number must not reach clock arithmetic.
        headers.insert(RETRY_AFTER, "18446744073709551615".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn odd_retry_after_values_wait_the_longest_or_not_at_all() {
        let now = SystemTime::now();
        let cases: [(&str, Option<Duration>); 17] = [
            // Issue 15: digits beyond u64 were ignored and the retry went at once.
            ("99999999999999999999", Some(MAX_RETRY_AFTER)),
            (&"9".repeat(400), Some(MAX_RETRY_AFTER)),
            ("0", Some(Duration::ZERO)),
            ("1e9", Some(MAX_RETRY_AFTER)),
            ("1e400", Some(MAX_RETRY_AFTER)),
            ("1.5", Some(Duration::from_millis(1500))),
            (".25", Some(Duration::from_millis(250))),
            ("Fri, 31 Dec 9999 23:59:59 GMT", Some(MAX_RETRY_AFTER)),
            ("-5", None),
            ("-99999999999999999999", None),
            ("+5", None),
            ("inf", None),
            ("NaN", None),
            ("1.2.3", None),
            ("", None),
            ("Wed, 21 Oct 2015 07:28:00 GMT", None),
            ("5 seconds", None),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_retry_after(value, now), expected, "{value:?}");
        }
        // The longest wait is then the backoff cap.
        let config = RetryConfig::default().max_backoff(Duration::from_secs(2));
        assert_eq!(
            config.delay(1, parse_retry_after("99999999999999999999", now)),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn classification_follows_the_documented_classes() {
        assert_eq!(classify(429, None), Some(RetryReason::Throttled));
        assert_eq!(classify(200, Some(429.0)), Some(RetryReason::Throttled));
        for status in [500, 502, 503, 504] {
            assert_eq!(classify(status, None), Some(RetryReason::ServerError));
        }
        assert_eq!(classify(200, Some(503.0)), Some(RetryReason::ServerError));
        for status in [400, 401, 403, 404, 408, 413, 422, 501] {
            assert_eq!(classify(status, None), None, "{status}");
        }
        assert_eq!(classify(200, Some(413.0)), None);
        assert_eq!(classify(200, Some(200.0)), None);
    }

    /// Issue 16: a retry wait that was cancelled kept its tokens spent.
    #[test]
    fn a_call_cancelled_while_it_waits_gives_its_tokens_back() {
        let budget = RetryBudget::default();
        let mut spent = Spent::new(&budget);
        assert!(spent.take(RetryReason::Timeout) && spent.take(RetryReason::Throttled));
        assert_eq!(budget.left(), BUDGET_CAPACITY - 15);
        drop(spent); // the call's future dropped during its backoff
        assert_eq!(budget.left(), BUDGET_CAPACITY);
        let mut spent = Spent::new(&budget);
        assert!(spent.take(RetryReason::ServerError));
        spent.failed();
        assert_eq!(
            budget.left(),
            BUDGET_CAPACITY - 5,
            "a failure keeps them spent"
        );
        let mut spent = Spent::new(&budget);
        assert!(spent.take(RetryReason::ServerError));
        spent.succeeded();
        assert_eq!(
            budget.left(),
            BUDGET_CAPACITY - 5,
            "a success gives back its own"
        );
    }

    #[test]
    fn the_budget_runs_out_and_refills() {
        let budget = RetryBudget::default();
        let mut retries = 0;
        while budget.withdraw(RetryReason::Timeout) {
            retries += 1;
        }
        assert_eq!(retries, 50);
        budget.deposit(0);
        assert_eq!(budget.left(), 1);
        budget.deposit(10);
        assert!(budget.withdraw(RetryReason::Timeout));
        for _ in 0..1000 {
            budget.deposit(0);
        }
        assert_eq!(budget.left(), BUDGET_CAPACITY);
    }
}
