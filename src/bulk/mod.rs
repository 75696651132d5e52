//! Bulk import and read-back: millions of records at the pool's pace, with an outcome for
//! every record, on a pool shared with live traffic.
//!
//! [`ManagementClient::bulk_import`] batches a stream of records, sends the batches with
//! bounded concurrency, and, when the server refuses a batch for something in it (an unknown
//! user, a bad value, a body too large), splits the batch to isolate exactly the records at
//! fault and imports the rest. [`ManagementClient::bulk_get_otp_secrets`] reads secrets back
//! the same way, one request per user. [`ManagementClient::bulk_resolve_users`] finds the
//! Authing user id of users named by email, username, phone, … (`getUserBatch`), up to
//! [`MAX_USERS_PER_LOOKUP`](crate::MAX_USERS_PER_LOOKUP) per request. Every record gets an
//! outcome.
//!
//! A run is made to finish:
//!
//! - **Throttling slows it down, never ends it.** A 429 (HTTP or `statusCode`) sends the
//!   request again later; the send rate drops at once, honours `Retry-After`, and climbs back
//!   while requests succeed, never above the client's rate limit (CUBIC, as aws-sdk's adaptive
//!   retry mode: see [`BulkEvent::Throttled`]). Without a rate limit the run finds the pool's
//!   pace by itself.
//! - **Outages slow it down, never end it.** A connection that fails, a timeout, HTTP
//!   500/502/503/504 or `statusCode` 500/502/503: the run waits, with a backoff doubling from
//!   half a second up to [`BulkOptions::longest_wait`] (30 s), and one request probes before
//!   the others follow ([`BulkEvent::Unavailable`], [`BulkEvent::Recovered`]).
//! - **Only a lack of progress ends it**: no record finished for
//!   [`BulkOptions::stall_timeout`] (10 minutes), or a refusal that is not about the records
//!   ([`StopReason`]). Records not settled are [`Outcome::NotAttempted`]: run the same records
//!   again to continue.
//! - **A broken endpoint is not "every record refused".** Only Authing's own business
//!   refusals (statusCode 400, 404, 409 or 422 in its JSON envelope) are about the records;
//!   an HTML page, a route's 404, 401, 403 or a redirect stops the run at once. Until the
//!   endpoint has accepted something, a record refused on its own is held back: when the first
//!   records tried are all refused the same way, the run stops and marks none of them
//!   ([`StopReason::RefusedAlike`]), as a missing permission or a wrong pool would do.
//!
//! Memory stays flat in the number of records: records are pulled from the iterator as batches
//! are sent and at most `concurrency` batches are held; only the duplicate check keeps
//! something per record (see [`BulkOptions::check_duplicates`]).
//!
//! ```no_run
//! use authing_otp::{ManagementClient, OtpImport, bulk::{BulkEvent, BulkOptions, Outcome}};
//!
//! # async fn demo() -> Result<(), authing_otp::Error> {
//! let client = ManagementClient::builder()
//!     .access_key("ak", "sk")
//!     .rate_limit(300.0) // at most Authing's free-plan cap; the run slows down when throttled
//!     .build()?;
//! let records = (0..10_000u64).map(|n| {
//!     let item = OtpImport::new(format!("user-{n}"), "JBSWY3DPEHPK3PXP").unwrap();
//!     (n, item) // the key travels with the outcome: a line number, an id, anything
//! });
//! let summary = client
//!     .bulk_import(BulkOptions::default(), records, |event| match event {
//!         BulkEvent::Done(batch) => {
//!             for (line, user_id, outcome) in &batch.outcomes {
//!                 if let Outcome::Refused(why) = outcome {
//!                     eprintln!("line {line} ({user_id}): {why}");
//!                 }
//!             }
//!         }
//!         other => eprintln!("{other}"), // throttled, unavailable, recovered
//!     })
//!     .await;
//! println!("{} imported, {} refused", summary.imported, summary.refused);
//! if let Some(why) = &summary.stopped {
//!     eprintln!("stopped: {why}; run the rest again to continue");
//! }
//! # Ok(()) }
//! ```

mod pace;
mod resolve;
mod run;
mod stop;

pub use resolve::{ResolveDone, ResolveOutcome, ResolveSummary};
pub use stop::StopReason;

use std::{
    collections::hash_map::RandomState,
    collections::{HashMap, hash_map::Entry},
    fmt,
    future::Future,
    hash::BuildHasher,
    sync::{Arc, atomic::Ordering},
    task::Poll,
    time::{Duration, Instant},
};

use tokio::{sync::mpsc, task::JoinSet};

use self::run::{Judgement, Notice, Run, Sent, Settings};
use crate::{ApiError, Error, ManagementClient, OtpImport, OtpSecret, UserRef, call::Policy};

/// How a bulk run batches, sends and waits.
///
/// ```
/// use std::time::Duration;
/// use authing_otp::bulk::BulkOptions;
///
/// let options = BulkOptions::default()
///     .batch_size(50)
///     .concurrency(8)
///     .stall_timeout(Duration::from_secs(30 * 60));
/// assert_ne!(options, BulkOptions::default());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkOptions {
    batch_size: usize,
    concurrency: usize,
    stall_timeout: Duration,
    longest_wait: Duration,
    check_duplicates: bool,
}

/// The default stall timeout: how long a run may go without a single record finished.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// The default longest wait between two tries of an unavailable server, or after a
/// `Retry-After`.
pub const DEFAULT_LONGEST_WAIT: Duration = Duration::from_secs(30);

/// 100 records per request, 4 requests in flight, a 10-minute stall timeout, waits of at most
/// 30 s, duplicates checked. A batch of 100 is about 10 KiB of JSON, far from any body limit,
/// and 100 × 300 requests per second is 30,000 records per second under Authing's free-plan
/// cap; 4 in flight keep that rate over a 10 ms round trip. Ten minutes outlast a deployment
/// or a failover of the server, and are short enough that a run stuck for good says so the
/// same day.
impl Default for BulkOptions {
    fn default() -> Self {
        BulkOptions {
            batch_size: 100,
            concurrency: 4,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            longest_wait: DEFAULT_LONGEST_WAIT,
            check_duplicates: true,
        }
    }
}

impl BulkOptions {
    /// Records per request (at least 1; 100 by default). Halved after a 413. For reads, the
    /// records reported together (each is its own request). For resolutions, at most
    /// [`MAX_USERS_PER_LOOKUP`](crate::MAX_USERS_PER_LOOKUP) whatever is set here.
    #[must_use]
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Requests in flight at once (at least 1; 4 by default). The pace still spaces them.
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How long the run may go without a single record finished (imported, refused, read)
    /// before it stops: throttling and outages are waited out until then (10 minutes by
    /// default; at least a second).
    #[must_use]
    pub fn stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = timeout.max(Duration::from_secs(1));
        self
    }

    /// The longest wait between two tries of a server that is unavailable, and the longest
    /// `Retry-After` honoured (30 s by default; between 1 s and an hour).
    #[must_use]
    pub fn longest_wait(mut self, wait: Duration) -> Self {
        self.longest_wait = wait.clamp(Duration::from_secs(1), Duration::from_secs(3600));
        self
    }

    /// Whether records naming a user an earlier record of the run named are refused
    /// ([`Outcome::Duplicate`]) instead of sent (on by default). `importOtp` binds one secret
    /// per user: without the check, the last record would silently win. The check keeps a
    /// 128-bit fingerprint of each user id and the key of its first record: 16 bytes plus the
    /// key's size per user, plus the hash table's overhead. Turn it off only when the records
    /// are known to name each user once (the `authing-otp` command checks its whole file
    /// before sending, in 8 bytes per record).
    #[must_use]
    pub fn check_duplicates(mut self, check: bool) -> Self {
        self.check_duplicates = check;
        self
    }
}

/// What became of one record of an import.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome<K> {
    /// Bound to its user.
    Imported,
    /// The server refused it (alone, after its batch was split).
    Refused(Refusal),
    /// Not sent: an earlier record of the run, whose key this is, names the same user.
    Duplicate(K),
    /// Never sent, or sent in a batch whose fate is unknown: the run stopped first.
    NotAttempted,
}

/// What became of one user of a read-back.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ReadOutcome {
    /// The secret bound to the user.
    Secret(OtpSecret),
    /// The server refused it: no such user, no OTP bound, …
    Refused(Refusal),
    /// Never sent: the run stopped first.
    NotAttempted,
}

/// The most of a server's message kept per refusal: a message is a line, and a server that
/// quotes megabytes must not fill memory, the journal or the report.
pub const MAX_REFUSAL_MESSAGE: usize = 1024;

/// Why the server refused a record: what it said, scrubbed of the secrets the request carried,
/// with control characters escaped, and cut to [`MAX_REFUSAL_MESSAGE`] bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refusal {
    /// The HTTP status of the answer.
    pub http_status: Option<u16>,
    /// The body's `statusCode`, when it had one.
    pub status_code: Option<i64>,
    /// The body's `apiCode`, when it had one.
    pub api_code: Option<i64>,
    /// The server's message, or this crate's description of the answer.
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(code) = self.status_code {
            write!(f, "statusCode {code}")?;
        } else if let Some(status) = self.http_status {
            write!(f, "HTTP {status}")?;
        }
        if let Some(code) = self.api_code {
            write!(f, ", apiCode {code}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// `text` cut to at most `max` bytes at a character boundary, with `…` when cut.
fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut at = max.saturating_sub('…'.len_utf8());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
        text.push('…');
    }
    text
}

impl Refusal {
    fn from_error(error: &Error) -> Self {
        match error.api_error() {
            Some(ApiError {
                http_status,
                status_code,
                api_code,
                message,
                ..
            }) => Refusal {
                http_status: Some(*http_status),
                status_code: Some(*status_code),
                api_code: *api_code,
                message: cut(message.clone(), MAX_REFUSAL_MESSAGE),
            },
            None => Refusal {
                http_status: error.http_status(),
                status_code: None,
                api_code: None,
                message: cut(error.display_chain(), MAX_REFUSAL_MESSAGE),
            },
        }
    }
}

/// The outcomes of one batch of an import, handed over as soon as the batch is done (in the
/// order batches finish, not the order of the input).
#[derive(Debug)]
#[non_exhaustive]
pub struct BatchDone<K> {
    /// Each record's key, user id and outcome, in input order within the batch.
    pub outcomes: Vec<(K, String, Outcome<K>)>,
    /// Requests this batch took, as sent (more than one when it was split, throttled or
    /// tried again after an outage).
    pub requests: u64,
}

/// The outcomes of one batch of a read-back.
#[derive(Debug)]
#[non_exhaustive]
pub struct ReadDone<K> {
    /// Each record's key, user and outcome, in input order within the batch.
    pub outcomes: Vec<(K, UserRef, ReadOutcome)>,
    /// Requests this batch took, as sent.
    pub requests: u64,
}

/// What a bulk run reports as it goes: a finished batch, or a change in how the server
/// answers. `Display` describes the changes for a progress line.
///
/// ```
/// use std::time::Duration;
/// use authing_otp::bulk::{BatchDone, BulkEvent};
///
/// let event: BulkEvent<BatchDone<u64>> =
///     BulkEvent::Throttled { requests_per_second: 87.4, retry_after: None };
/// assert_eq!(event.to_string(), "throttled: 87 requests/s");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum BulkEvent<D> {
    /// A batch is done.
    Done(D),
    /// The server throttled (429): the run now sends at most this rate, climbing back as
    /// requests succeed. The throttled requests are sent again.
    Throttled {
        /// The new rate.
        requests_per_second: f64,
        /// The `Retry-After` the server asked for, if any (honoured up to
        /// [`BulkOptions::longest_wait`]).
        retry_after: Option<Duration>,
    },
    /// The server could not be reached or failed: the run waits, then one request tries
    /// again. Its requests are sent again once the server is back.
    Unavailable {
        /// Since the first failure.
        down_for: Duration,
        /// Until the next try.
        next_try_in: Duration,
        /// The last failure, scrubbed of secrets.
        error: Arc<Error>,
    },
    /// The server answers again after an outage.
    Recovered {
        /// How long it was unavailable.
        down_for: Duration,
    },
}

impl<D> fmt::Display for BulkEvent<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BulkEvent::Done(_) => f.write_str("a batch is done"),
            BulkEvent::Throttled {
                requests_per_second,
                retry_after,
            } => {
                write!(f, "throttled: {requests_per_second:.0} requests/s")?;
                if let Some(after) = retry_after {
                    write!(f, " (Retry-After {} s)", after.as_secs())?;
                }
                Ok(())
            }
            BulkEvent::Unavailable {
                down_for,
                next_try_in,
                error,
            } => write!(
                f,
                "server unavailable for {} s, next try in {} s: {}",
                down_for.as_secs(),
                next_try_in.as_secs_f64().ceil() as u64,
                error.display_chain()
            ),
            BulkEvent::Recovered { down_for } => {
                write!(f, "server available again after {} s", down_for.as_secs())
            }
        }
    }
}

impl<D> From<Notice> for BulkEvent<D> {
    fn from(notice: Notice) -> Self {
        match notice {
            Notice::Throttled { rate, retry_after } => BulkEvent::Throttled {
                requests_per_second: rate,
                retry_after,
            },
            Notice::Unavailable {
                down_for,
                next_try_in,
                error,
            } => BulkEvent::Unavailable {
                down_for,
                next_try_in,
                error,
            },
            Notice::Recovered { down_for } => BulkEvent::Recovered { down_for },
        }
    }
}

/// How a bulk import went. Every count is what happened on the wire.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct BulkSummary {
    /// Records taken from the input.
    pub records: u64,
    /// Records imported.
    pub imported: u64,
    /// Records refused by the server.
    pub refused: u64,
    /// Records not sent because an earlier record named the same user.
    pub duplicates: u64,
    /// Records taken from the input but not settled (the run stopped).
    pub not_attempted: u64,
    /// importOtp requests sent, every try included (token requests are not).
    pub requests: u64,
    /// Answers that said 429.
    pub throttled: u64,
    /// Tries that found the server unavailable (no connection, a timeout, a 5xx).
    pub unavailable: u64,
    /// The batch size in force at the end (smaller after a 413).
    pub final_batch_size: usize,
    /// Why the run stopped before the end of the input, if it did.
    pub stopped: Option<StopReason>,
    /// How long it took.
    pub elapsed: Duration,
}

/// How a bulk read-back went. Every count is what happened on the wire.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ReadSummary {
    /// Records taken from the input.
    pub records: u64,
    /// Secrets read.
    pub read: u64,
    /// Records refused by the server (no such user, no OTP bound, …).
    pub refused: u64,
    /// Records taken from the input but not settled (the run stopped).
    pub not_attempted: u64,
    /// getOtpSecretByUser requests sent, every try included.
    pub requests: u64,
    /// Answers that said 429.
    pub throttled: u64,
    /// Tries that found the server unavailable.
    pub unavailable: u64,
    /// Why the run stopped before the end of the input, if it did.
    pub stopped: Option<StopReason>,
    /// How long it took.
    pub elapsed: Duration,
}

/// A record's outcome inside a unit: final, or held until the endpoint has shown it accepts
/// records (see [`Run::judge`]).
enum Slot<O> {
    Final(O),
    Provisional(Refusal),
}

/// What a unit of work (one batch) hands back.
struct UnitDone<K, U, O> {
    entries: Vec<(K, U, Slot<O>)>,
    requests: u64,
    saw_413: bool,
}

impl<K, U, O> UnitDone<K, U, O> {
    fn has_provisional(&self) -> bool {
        self.entries
            .iter()
            .any(|(_, _, slot)| matches!(slot, Slot::Provisional(_)))
    }
}

enum Step<U> {
    Next,
    Done(U),
    Notice(Notice),
}

/// Starts units while there is input and room (and the run goes on), and hands `step` their
/// results and the run's notices as they come.
async fn drive<U, F>(
    run: &Run,
    notices: &mut mpsc::UnboundedReceiver<Notice>,
    concurrency: usize,
    mut step: impl FnMut(Step<U>) -> Option<F>,
) where
    U: Send + 'static,
    F: Future<Output = U> + Send + 'static,
{
    let mut in_flight = JoinSet::new();
    let mut exhausted = false;
    loop {
        while !exhausted && !run.is_stopped() && in_flight.len() < concurrency {
            match step(Step::Next) {
                Some(unit) => {
                    in_flight.spawn(unit);
                }
                None => exhausted = true,
            }
        }
        if in_flight.is_empty() {
            break;
        }
        // Notices first, so that a batch done after a throttle is reported after it.
        let next = std::future::poll_fn(|cx| {
            if let Poll::Ready(Some(notice)) = notices.poll_recv(cx) {
                return Poll::Ready(Step::Notice(notice));
            }
            match in_flight.poll_join_next(cx) {
                Poll::Ready(Some(Ok(done))) => Poll::Ready(Step::Done(done)),
                Poll::Ready(Some(Err(e))) => std::panic::resume_unwind(e.into_panic()),
                // Not empty (checked above), so a unit is still running.
                Poll::Ready(None) | Poll::Pending => Poll::Pending,
            }
        })
        .await;
        step(next);
    }
    while let Ok(notice) = notices.try_recv() {
        step(Step::Notice(notice));
    }
}

/// The users an import has seen: a 128-bit keyed fingerprint of each user id, and the key of
/// the record that named it first.
struct SeenUsers<K> {
    keys: (RandomState, RandomState),
    first: HashMap<u128, K>,
}

impl<K: Clone> SeenUsers<K> {
    fn new() -> Self {
        SeenUsers {
            keys: (RandomState::new(), RandomState::new()),
            first: HashMap::new(),
        }
    }

    /// The key of the earlier record naming `user_id`; records `key` as the first if none.
    fn earlier(&mut self, user_id: &str, key: &K) -> Option<K> {
        let fingerprint = u128::from(self.keys.0.hash_one(user_id)) << 64
            | u128::from(self.keys.1.hash_one(user_id));
        match self.first.entry(fingerprint) {
            Entry::Occupied(first) => Some(first.get().clone()),
            Entry::Vacant(slot) => {
                slot.insert(key.clone());
                None
            }
        }
    }
}

/// One batch of an import: sent whole, then, when refused for what it holds, split in halves
/// down to the records at fault; while the endpoint has accepted nothing yet, probed a record
/// at a time instead, so that a refusal of every record costs a request each, not two, and
/// the run stops after a few.
async fn import_unit<K: Send + 'static>(
    run: Arc<Run>,
    client: ManagementClient,
    batch: Vec<(K, OtpImport, Option<K>)>,
) -> UnitDone<K, String, Outcome<K>> {
    let mut slots: Vec<Option<Slot<Outcome<K>>>> = Vec::with_capacity(batch.len());
    let mut keys = Vec::with_capacity(batch.len());
    let mut items = Vec::with_capacity(batch.len());
    // Positions in `items` of the records to send.
    let mut sendable = Vec::with_capacity(batch.len());
    for (i, (key, item, earlier)) in batch.into_iter().enumerate() {
        match earlier {
            Some(first) => slots.push(Some(Slot::Final(Outcome::Duplicate(first)))),
            None => {
                slots.push(None);
                sendable.push(i);
            }
        }
        keys.push(key);
        items.push(item);
    }
    let mut requests = 0;
    let mut saw_413 = false;
    // Ranges of `sendable` still to send, as a stack: the left one goes first. A range marked
    // `probe` is sent a record at a time while the endpoint has accepted nothing yet.
    let mut pending = vec![(0, sendable.len(), false)];
    pending.retain(|&(start, end, _)| start < end);
    while let Some((start, end, probe)) = pending.pop() {
        if run.is_stopped() {
            break;
        }
        if probe && end - start > 1 && !run.trusted() {
            pending.push((start + 1, end, true));
            pending.push((start, start + 1, false));
            continue;
        }
        let chunk: Vec<&OtpImport> = sendable[start..end].iter().map(|&i| &items[i]).collect();
        let sent = run
            .send(&mut requests, || {
                client.import_with(&chunk, Policy::caller_retries())
            })
            .await;
        let mut halves = || {
            let mid = start + (end - start) / 2;
            pending.push((mid, end, false));
            pending.push((start, mid, false));
        };
        match sent {
            Sent::Ok(_) => {
                for &i in &sendable[start..end] {
                    slots[i] = Some(Slot::Final(Outcome::Imported));
                }
                run.progress(end - start);
            }
            Sent::TooLarge(error) => {
                saw_413 = true;
                if end - start == 1 {
                    slots[sendable[start]] =
                        Some(Slot::Final(Outcome::Refused(Refusal::from_error(&error))));
                    run.progress(1);
                } else {
                    halves();
                }
            }
            Sent::Records(error) if end - start == 1 => match run.judge(&error) {
                Judgement::Refused => {
                    slots[sendable[start]] =
                        Some(Slot::Final(Outcome::Refused(Refusal::from_error(&error))));
                    run.progress(1);
                }
                Judgement::Provisional => {
                    slots[sendable[start]] = Some(Slot::Provisional(Refusal::from_error(&error)));
                }
                Judgement::Stopped => break,
            },
            Sent::Records(error) if run.probing_records(&error) => {
                pending.push((start, end, true));
            }
            Sent::Records(_) => halves(),
            Sent::Stopped => break,
        }
    }
    let entries = keys
        .into_iter()
        .zip(items)
        .zip(slots)
        .map(|((key, item), slot)| {
            let slot = slot.unwrap_or(Slot::Final(Outcome::NotAttempted));
            (key, item.user_id().to_owned(), slot)
        })
        .collect();
    UnitDone {
        entries,
        requests,
        saw_413,
    }
}

/// One batch of a read-back: a request per user, in order.
async fn read_unit<K: Send + 'static>(
    run: Arc<Run>,
    client: ManagementClient,
    batch: Vec<(K, UserRef)>,
) -> UnitDone<K, UserRef, ReadOutcome> {
    let mut requests = 0;
    let mut entries = Vec::with_capacity(batch.len());
    for (key, user) in batch {
        let slot = if run.is_stopped() {
            Slot::Final(ReadOutcome::NotAttempted)
        } else {
            let sent = run
                .send(&mut requests, || {
                    client.get_secret_with(&user, Policy::caller_retries())
                })
                .await;
            match sent {
                Sent::Ok(secret) => {
                    run.progress(1);
                    Slot::Final(ReadOutcome::Secret(secret))
                }
                Sent::Records(error) | Sent::TooLarge(error) => match run.judge(&error) {
                    Judgement::Refused => {
                        run.progress(1);
                        Slot::Final(ReadOutcome::Refused(Refusal::from_error(&error)))
                    }
                    Judgement::Provisional => Slot::Provisional(Refusal::from_error(&error)),
                    Judgement::Stopped => Slot::Final(ReadOutcome::NotAttempted),
                },
                Sent::Stopped => Slot::Final(ReadOutcome::NotAttempted),
            }
        };
        entries.push((key, user, slot));
    }
    UnitDone {
        entries,
        requests,
        saw_413: false,
    }
}

/// Units whose provisional refusals wait for the endpoint's trust: settled as refusals once
/// it has accepted something (or the run ends without deciding), as not attempted if the run
/// stops.
struct Parked<U>(Vec<U>);

impl<U> Parked<U> {
    /// Hands back `unit` now if it can be settled, or keeps it. Also hands back every kept
    /// unit once the endpoint is trusted.
    fn take(&mut self, run: &Run, unit: Option<U>, undecided: impl Fn(&U) -> bool) -> Vec<U> {
        if let Some(unit) = unit {
            self.0.push(unit);
        }
        if run.trusted() || run.is_stopped() {
            return std::mem::take(&mut self.0);
        }
        let (ready, kept) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(|u| !undecided(u));
        self.0 = kept;
        ready
    }
}

/// Whether held refusals are refusals (`true`) or not attempted, once the run is over or
/// trusted.
fn provisional_stands(run: &Run) -> bool {
    run.trusted() || !run.is_stopped()
}

/// An outcome of a bulk run over users: what a refusal held back becomes, and a user never
/// sent.
trait UserOutcome: Send + 'static {
    fn refused(why: Refusal) -> Self;
    fn not_attempted() -> Self;
}

impl UserOutcome for ReadOutcome {
    fn refused(why: Refusal) -> Self {
        ReadOutcome::Refused(why)
    }
    fn not_attempted() -> Self {
        ReadOutcome::NotAttempted
    }
}

/// What every summary of a run over users reports beside its outcomes.
struct RunTotals {
    records: u64,
    requests: u64,
    throttled: u64,
    unavailable: u64,
    stopped: Option<StopReason>,
}

impl ManagementClient {
    /// The loop the bulk runs over users share (`bulk_get_otp_secrets`, `bulk_resolve_users`):
    /// batches from `next_batch`, each sent by `unit` with up to `concurrency` in flight, their
    /// outcomes settled (refusals held back until the endpoint is trusted) and turned into the
    /// caller's event by `done`, with the unit's requests; the run's notices as they come.
    async fn run_over_users<K, O, D, Fut>(
        &self,
        options: &BulkOptions,
        mut next_batch: impl FnMut() -> Option<Vec<(K, UserRef)>>,
        unit: impl Fn(Arc<Run>, ManagementClient, Vec<(K, UserRef)>) -> Fut,
        mut done: impl FnMut(Vec<(K, UserRef, O)>, u64) -> D,
        on_event: &mut impl FnMut(BulkEvent<D>),
    ) -> RunTotals
    where
        K: Send + 'static,
        O: UserOutcome,
        Fut: Future<Output = UnitDone<K, UserRef, O>> + Send + 'static,
    {
        let (run, mut notices) = self.start_run(options, false);
        let mut records = 0;
        let mut parked = Parked(Vec::new());
        let mut report = |unit: UnitDone<K, UserRef, O>, on_event: &mut dyn FnMut(BulkEvent<D>)| {
            let stands = provisional_stands(&run);
            let outcomes = unit
                .entries
                .into_iter()
                .map(|(key, user, slot)| {
                    let outcome = match slot {
                        Slot::Final(outcome) => outcome,
                        Slot::Provisional(why) if stands => O::refused(why),
                        Slot::Provisional(_) => O::not_attempted(),
                    };
                    (key, user, outcome)
                })
                .collect();
            on_event(BulkEvent::Done(done(outcomes, unit.requests)));
        };
        drive(&run, &mut notices, options.concurrency, |step| {
            match step {
                Step::Next => {
                    let batch = next_batch()?;
                    records += batch.len() as u64;
                    return Some(unit(run.clone(), self.clone(), batch));
                }
                Step::Done(unit) => {
                    for unit in parked.take(&run, Some(unit), UnitDone::has_provisional) {
                        report(unit, on_event);
                    }
                }
                Step::Notice(notice) => on_event(notice.into()),
            }
            None
        })
        .await;
        for unit in parked.take(&run, None, |_| false) {
            report(unit, on_event);
        }
        let mut totals = RunTotals {
            records,
            requests: 0,
            throttled: 0,
            unavailable: 0,
            stopped: run.take_stop(),
        };
        run.counts.fill(
            &mut totals.requests,
            &mut totals.throttled,
            &mut totals.unavailable,
        );
        totals
    }
}

impl ManagementClient {
    /// Imports `records` in batches, with up to [`BulkOptions::concurrency`] requests in
    /// flight, at a pace that follows the server (never above the client's rate limit), and
    /// calls `on_event` with the outcome of every record of each batch as it completes, and
    /// with the server's throttling and outages as they happen. See the [`bulk`](crate::bulk)
    /// module for what slows a run down and what stops it.
    ///
    /// Each record's key (`K`: a line number, a row id) comes back with its outcome, and names
    /// the first record of a user named twice ([`Outcome::Duplicate`]). The client's own
    /// retries are not used: the run retries throttled requests and waits out outages itself,
    /// for as long as records keep finishing.
    ///
    /// `records` is pulled from the calling task, a batch at a time: a file reader fits.
    pub async fn bulk_import<K, I, F>(
        &self,
        options: BulkOptions,
        records: I,
        mut on_event: F,
    ) -> BulkSummary
    where
        K: Clone + Send + 'static,
        I: IntoIterator<Item = (K, OtpImport)>,
        F: FnMut(BulkEvent<BatchDone<K>>),
    {
        let started = Instant::now();
        let (run, mut notices) = self.start_run(&options, true);
        let mut records = records.into_iter();
        let mut seen = options.check_duplicates.then(SeenUsers::new);
        let mut batch_size = options.batch_size;
        let mut summary = BulkSummary::default();
        let mut parked = Parked(Vec::new());
        let report =
            |unit: UnitDone<K, String, Outcome<K>>, summary: &mut BulkSummary, on_event: &mut F| {
                let stands = provisional_stands(&run);
                let outcomes: Vec<_> = unit
                    .entries
                    .into_iter()
                    .map(|(key, user, slot)| {
                        let outcome = match slot {
                            Slot::Final(outcome) => outcome,
                            Slot::Provisional(why) if stands => Outcome::Refused(why),
                            Slot::Provisional(_) => Outcome::NotAttempted,
                        };
                        match &outcome {
                            Outcome::Imported => summary.imported += 1,
                            Outcome::Refused(_) => summary.refused += 1,
                            Outcome::Duplicate(_) => summary.duplicates += 1,
                            Outcome::NotAttempted => summary.not_attempted += 1,
                        }
                        (key, user, outcome)
                    })
                    .collect();
                on_event(BulkEvent::Done(BatchDone {
                    outcomes,
                    requests: unit.requests,
                }));
            };
        drive(&run, &mut notices, options.concurrency, |step| {
            match step {
                Step::Next => {
                    let batch: Vec<_> = records
                        .by_ref()
                        .take(batch_size)
                        .map(|(key, item)| {
                            let earlier = seen
                                .as_mut()
                                .and_then(|seen| seen.earlier(item.user_id(), &key));
                            (key, item, earlier)
                        })
                        .collect();
                    if batch.is_empty() {
                        return None;
                    }
                    summary.records += batch.len() as u64;
                    return Some(import_unit(run.clone(), self.clone(), batch));
                }
                Step::Done(unit) => {
                    // Half the size of the batch that was too large: batches in flight at the
                    // old size that fail the same way do not halve it again. One record too
                    // large on its own says nothing about the others.
                    let size = unit.entries.len();
                    if unit.saw_413 && size > 1 && (size / 2).max(1) < batch_size {
                        batch_size = (size / 2).max(1);
                        tracing::info!(batch_size, "413: sending smaller batches from now on");
                    }
                    for unit in parked.take(&run, Some(unit), UnitDone::has_provisional) {
                        report(unit, &mut summary, &mut on_event);
                    }
                }
                Step::Notice(notice) => on_event(notice.into()),
            }
            None
        })
        .await;
        for unit in parked.take(&run, None, |_| false) {
            report(unit, &mut summary, &mut on_event);
        }
        summary.final_batch_size = batch_size;
        summary.stopped = run.take_stop();
        run.counts.fill(
            &mut summary.requests,
            &mut summary.throttled,
            &mut summary.unavailable,
        );
        summary.elapsed = started.elapsed();
        summary
    }

    /// Reads back the secret bound to each user of `users`, one request per user, with up to
    /// [`BulkOptions::concurrency`] in flight, under the same pace, throttling, outage and
    /// stall rules as [`bulk_import`](Self::bulk_import), and calls `on_event` with the
    /// outcome of every user of each batch of [`BulkOptions::batch_size`] as it
    /// completes. A user the server does not know, or who has no OTP bound, is a
    /// [`ReadOutcome::Refused`], never a stop of the run.
    ///
    /// ```no_run
    /// use authing_otp::{ExposeSecret, ManagementClient, UserRef};
    /// use authing_otp::bulk::{BulkEvent, BulkOptions, ReadOutcome};
    ///
    /// # async fn demo(client: ManagementClient) -> Result<(), authing_otp::Error> {
    /// let users = ["alice@example.com", "bob@example.com"]
    ///     .into_iter()
    ///     .map(|email| UserRef::email(email).map(|user| (email, user)))
    ///     .collect::<Result<Vec<_>, _>>()?;
    /// let summary = client
    ///     .bulk_get_otp_secrets(BulkOptions::default(), users, |event| {
    ///         if let BulkEvent::Done(batch) = event {
    ///             for (email, _, outcome) in batch.outcomes {
    ///                 if let ReadOutcome::Secret(secret) = outcome {
    ///                     let _backup: &str = secret.expose_secret();
    ///                 } else {
    ///                     eprintln!("{email}: {outcome:?}");
    ///                 }
    ///             }
    ///         }
    ///     })
    ///     .await;
    /// assert_eq!(summary.records, 2);
    /// # Ok(()) }
    /// ```
    pub async fn bulk_get_otp_secrets<K, I, F>(
        &self,
        options: BulkOptions,
        users: I,
        mut on_event: F,
    ) -> ReadSummary
    where
        K: Send + 'static,
        I: IntoIterator<Item = (K, UserRef)>,
        F: FnMut(BulkEvent<ReadDone<K>>),
    {
        let started = Instant::now();
        let mut users = users.into_iter();
        let mut summary = ReadSummary::default();
        let next_batch = || {
            let batch: Vec<_> = users.by_ref().take(options.batch_size).collect();
            (!batch.is_empty()).then_some(batch)
        };
        let done = |outcomes: Vec<(K, UserRef, ReadOutcome)>, requests| {
            for (_, _, outcome) in &outcomes {
                match outcome {
                    ReadOutcome::Secret(_) => summary.read += 1,
                    ReadOutcome::Refused(_) => summary.refused += 1,
                    ReadOutcome::NotAttempted => summary.not_attempted += 1,
                }
            }
            ReadDone { outcomes, requests }
        };
        let totals = self
            .run_over_users(&options, next_batch, read_unit, done, &mut on_event)
            .await;
        summary.records = totals.records;
        summary.requests = totals.requests;
        summary.throttled = totals.throttled;
        summary.unavailable = totals.unavailable;
        summary.stopped = totals.stopped;
        summary.elapsed = started.elapsed();
        summary
    }

    fn start_run(
        &self,
        options: &BulkOptions,
        guard_not_found: bool,
    ) -> (Arc<Run>, mpsc::UnboundedReceiver<Notice>) {
        let (notices, receiver) = mpsc::unbounded_channel();
        let run = Run::new(
            Settings {
                ceiling: self.configured_rps(),
                stall_timeout: options.stall_timeout,
                longest_wait: options.longest_wait,
                guard_not_found,
            },
            notices,
        );
        (Arc::new(run), receiver)
    }
}

impl run::Counts {
    fn fill(&self, requests: &mut u64, throttled: &mut u64, unavailable: &mut u64) {
        *requests = self.requests.load(Ordering::Relaxed);
        *throttled = self.throttled.load(Ordering::Relaxed);
        *unavailable = self.unavailable.load(Ordering::Relaxed);
    }
}
