//! Bulk import: millions of records at the pool's pace, with an outcome for every record.
//!
//! [`ManagementClient::bulk_import`] batches a stream of records, sends the batches with
//! bounded concurrency under the client's rate limit and retry policy, and, when the server
//! refuses a batch for something in it (an unknown user, a bad value, a body too large),
//! splits the batch to isolate exactly the records at fault and imports the rest. After a 413
//! it sends smaller batches from then on. Every record gets an [`Outcome`]: imported, refused
//! (with what the server said, scrubbed of secrets), or not attempted (the run stopped).
//!
//! Memory stays flat in the number of records: records are pulled from the iterator as batches
//! are sent, at most `concurrency` batches are held, and nothing is kept per record once its
//! batch is done. Duplicates across a whole file are the caller's to find before sending (the
//! command does it with [`UserFingerprints`], 8 bytes per record).
//!
//! ```no_run
//! use authing_otp::{ManagementClient, OtpImport, bulk::{BulkOptions, Outcome}};
//!
//! # async fn demo() -> Result<(), authing_otp::Error> {
//! let client = ManagementClient::builder()
//!     .access_key("ak", "sk")
//!     .rate_limit(300.0) // Authing's free plans: 300 requests per second per pool
//!     .build()?;
//! let records = (0..10_000u64).map(|n| {
//!     let item = OtpImport::new(format!("user-{n}"), "JBSWY3DPEHPK3PXP").unwrap();
//!     (n, item) // the key travels with the outcome: a line number, an id, anything
//! });
//! let summary = client
//!     .bulk_import(BulkOptions::default(), records, |done| {
//!         for (line, user_id, outcome) in &done.outcomes {
//!             if let Outcome::Refused(why) = outcome {
//!                 eprintln!("line {line} ({user_id}): {why}");
//!             }
//!         }
//!     })
//!     .await;
//! println!("{} imported, {} refused", summary.imported, summary.refused);
//! # Ok(()) }
//! ```

use std::{
    collections::HashSet,
    collections::hash_map::RandomState,
    fmt,
    hash::BuildHasher,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::task::JoinSet;

use crate::{ApiError, Error, ErrorKind, ManagementClient, OtpImport};

/// How a bulk import batches and sends.
///
/// ```
/// use authing_otp::bulk::BulkOptions;
/// let options = BulkOptions::default().batch_size(50).concurrency(8);
/// assert_eq!((options.get_batch_size(), options.get_concurrency()), (50, 8));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkOptions {
    batch_size: usize,
    concurrency: usize,
}

/// 100 records per request, 4 requests in flight. A batch of 100 is about 10 KiB of JSON,
/// far from any body limit, and 100 × 300 requests per second is 30,000 records per second
/// under Authing's free-plan cap; 4 in flight keep that rate over a 10 ms round trip.
impl Default for BulkOptions {
    fn default() -> Self {
        BulkOptions {
            batch_size: 100,
            concurrency: 4,
        }
    }
}

impl BulkOptions {
    /// Records per request (at least 1; 100 by default). Halved after every 413.
    #[must_use]
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Requests in flight at once (at least 1; 4 by default). The client's rate limit, if
    /// set, still spaces them.
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Records per request.
    pub fn get_batch_size(&self) -> usize {
        self.batch_size
    }

    /// Requests in flight at once.
    pub fn get_concurrency(&self) -> usize {
        self.concurrency
    }
}

/// What became of one record.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Bound to its user.
    Imported,
    /// The server refused it (alone, after its batch was split).
    Refused(Refusal),
    /// Never sent, or sent in a batch whose fate is unknown: the run stopped first.
    NotAttempted,
}

/// Why the server refused a record: what it said, scrubbed of the secrets the request carried
/// and with control characters escaped.
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
                message: message.clone(),
            },
            None => Refusal {
                http_status: error.http_status(),
                status_code: None,
                api_code: None,
                message: error.to_string(),
            },
        }
    }
}

/// The outcomes of one batch, handed to the caller as soon as the batch is done (in the order
/// batches finish, not the order of the input).
#[derive(Debug)]
#[non_exhaustive]
pub struct BatchDone<K> {
    /// Each record's key, user id and outcome, in input order within the batch.
    pub outcomes: Vec<(K, String, Outcome)>,
    /// Requests this batch took (more than one when it was split).
    pub requests: u64,
}

/// How a bulk import went.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct BulkSummary {
    /// Records taken from the input.
    pub records: u64,
    /// Records imported.
    pub imported: u64,
    /// Records refused.
    pub refused: u64,
    /// Records taken from the input but not attempted (the run stopped).
    pub not_attempted: u64,
    /// importOtp requests sent (each retry counts once more in the client's stats).
    pub requests: u64,
    /// Batches sent smaller after a 413: the batch size in force at the end.
    pub final_batch_size: usize,
    /// Why the run stopped before the end of the input, if it did. Records after it were not
    /// read.
    pub stopped: Option<Arc<Error>>,
    /// How long it took.
    pub elapsed: Duration,
}

/// Whether the server's refusal is about what the batch holds (split it and try the halves),
/// rather than about the server or the credentials (stop).
fn refuses_records(error: &Error) -> bool {
    const ABOUT_THE_RECORDS: [i64; 5] = [400, 404, 409, 413, 422];
    match error.kind() {
        ErrorKind::InvalidInput => true,
        ErrorKind::Api => error.api_error().is_some_and(|api| {
            ABOUT_THE_RECORDS.contains(&api.status_code)
                || ABOUT_THE_RECORDS.contains(&i64::from(api.http_status))
        }),
        // A proxy's own page (HTML 413 from a gateway, say) refuses the body all the same.
        ErrorKind::UnexpectedResponse => error
            .http_status()
            .is_some_and(|status| ABOUT_THE_RECORDS.contains(&i64::from(status))),
        _ => false,
    }
}

fn too_large(error: &Error) -> bool {
    error.http_status() == Some(413) || error.api_error().is_some_and(|api| api.status_code == 413)
}

/// One batch's work: import, split on refusal, down to single records.
async fn run_batch<K: Send + 'static>(
    client: ManagementClient,
    batch: Vec<(K, OtpImport)>,
) -> (BatchDone<K>, Option<Error>, bool) {
    // Keys stay out of the request futures: they need only be `Send`.
    let (keys, items): (Vec<K>, Vec<OtpImport>) = batch.into_iter().unzip();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; items.len()];
    let mut requests = 0;
    let mut saw_413 = false;
    let mut stop = None;
    // Ranges still to send, as a stack: halves are pushed right first, so the left goes first.
    let mut pending = vec![(0, items.len())];
    while let Some((start, end)) = pending.pop() {
        if stop.is_some() {
            break;
        }
        requests += 1;
        match client.import_otp(&items[start..end]).await {
            Ok(_) => outcomes[start..end].fill(Some(Outcome::Imported)),
            Err(e) if refuses_records(&e) => {
                saw_413 |= too_large(&e);
                if end - start == 1 {
                    outcomes[start] = Some(Outcome::Refused(Refusal::from_error(&e)));
                } else {
                    let mid = start + (end - start) / 2;
                    pending.push((mid, end));
                    pending.push((start, mid));
                }
            }
            Err(e) => stop = Some(e),
        }
    }
    let outcomes = keys
        .into_iter()
        .zip(items)
        .zip(outcomes)
        .map(|((key, item), outcome)| {
            let outcome = outcome.unwrap_or(Outcome::NotAttempted);
            (key, item.user_id().to_owned(), outcome)
        })
        .collect();
    (BatchDone { outcomes, requests }, stop, saw_413)
}

impl ManagementClient {
    /// Imports `records` in batches, with up to [`BulkOptions::get_concurrency`] requests in
    /// flight, under the client's rate limit and retries, and calls `on_batch` with the
    /// outcome of every record of each batch as it completes. See the [`bulk`](crate::bulk)
    /// module.
    ///
    /// Each record's key (`K`: a line number, a row id) comes back with its outcome. The run
    /// stops at the first failure that is not about the records themselves (the server down
    /// after all retries, the credentials refused): batches in flight finish, the failed
    /// batch's records are [`Outcome::NotAttempted`], no more records are read, and
    /// [`BulkSummary::stopped`] says why. Records must not name a user twice across the run
    /// (within a batch the client refuses it; across batches, check first, for example with
    /// [`UserFingerprints`]).
    ///
    /// `records` is pulled from the calling task, a batch at a time: a file reader fits.
    pub async fn bulk_import<K, I, F>(
        &self,
        options: BulkOptions,
        records: I,
        mut on_batch: F,
    ) -> BulkSummary
    where
        K: Send + 'static,
        I: IntoIterator<Item = (K, OtpImport)>,
        F: FnMut(BatchDone<K>),
    {
        let started = Instant::now();
        let mut records = records.into_iter();
        let mut summary = BulkSummary {
            final_batch_size: options.batch_size,
            ..BulkSummary::default()
        };
        let mut batch_size = options.batch_size;
        let mut in_flight = JoinSet::new();
        let mut exhausted = false;
        loop {
            while !exhausted && summary.stopped.is_none() && in_flight.len() < options.concurrency {
                let batch: Vec<(K, OtpImport)> = records.by_ref().take(batch_size).collect();
                if batch.is_empty() {
                    exhausted = true;
                    break;
                }
                summary.records += batch.len() as u64;
                in_flight.spawn(run_batch(self.clone(), batch));
            }
            let Some(joined) = in_flight.join_next().await else {
                break;
            };
            let (done, stop, saw_413) = joined.expect("a batch task does not panic");
            // Half the size of the batch that was too large: batches in flight at the old
            // size that fail the same way do not halve it again.
            let smaller = (done.outcomes.len() / 2).max(1);
            // One record too large on its own says nothing about the others.
            if saw_413 && done.outcomes.len() > 1 && smaller < batch_size {
                batch_size = smaller;
                tracing::info!(batch_size, "413: sending smaller batches from now on");
            }
            summary.requests += done.requests;
            for (_, _, outcome) in &done.outcomes {
                match outcome {
                    Outcome::Imported => summary.imported += 1,
                    Outcome::Refused(_) => summary.refused += 1,
                    Outcome::NotAttempted => summary.not_attempted += 1,
                }
            }
            if let Some(error) = stop
                && summary.stopped.is_none()
            {
                tracing::warn!(kind = ?error.kind(), "bulk import stopped");
                summary.stopped = Some(Arc::new(error));
            }
            on_batch(done);
        }
        summary.final_batch_size = batch_size;
        summary.elapsed = started.elapsed();
        summary
    }
}

/// Finds user ids named twice in a stream of millions, in bounded memory: each id is kept as
/// a 64-bit keyed hash, not as a string, in one flat array: 8 bytes per record, 8 MB per
/// million, whatever the ids' length. [`repeated`](Self::repeated) sorts the array and returns
/// the hashes seen more than once.
///
/// Two different ids share a hash with a probability of about 3 × 10⁻⁸ in a file of a million:
/// a caller that must be exact confirms each repeated hash by looking at the records that carry
/// it (the command re-reads the file to name the earlier line, which settles it).
///
/// ```
/// use authing_otp::bulk::UserFingerprints;
///
/// let mut seen = UserFingerprints::with_capacity(3);
/// for user in ["alice@example.com", "bob@example.com", "alice@example.com"] {
///     seen.push(user);
/// }
/// let repeated = seen.repeated();
/// assert!(repeated.contains(&seen.hash("alice@example.com")));
/// assert!(!repeated.contains(&seen.hash("bob@example.com")));
/// ```
pub struct UserFingerprints {
    keys: RandomState,
    hashes: Vec<u64>,
}

impl UserFingerprints {
    /// An empty set with room for `records` ids (a count of lines is a fine upper bound).
    pub fn with_capacity(records: usize) -> Self {
        UserFingerprints {
            keys: RandomState::new(),
            hashes: Vec::with_capacity(records),
        }
    }

    /// The hash `user_id` is kept as.
    pub fn hash(&self, user_id: &str) -> u64 {
        self.keys.hash_one(user_id)
    }

    /// Records `user_id`.
    pub fn push(&mut self, user_id: &str) {
        let hash = self.hash(user_id);
        self.hashes.push(hash);
    }

    /// The hashes recorded more than once (the array is sorted in place to find them).
    pub fn repeated(&mut self) -> HashSet<u64> {
        self.hashes.sort_unstable();
        self.hashes
            .windows(2)
            .filter(|pair| pair[0] == pair[1])
            .map(|pair| pair[0])
            .collect()
    }

    /// How many ids were recorded.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

impl Default for UserFingerprints {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl fmt::Debug for UserFingerprints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserFingerprints")
            .field("users", &self.hashes.len())
            .finish()
    }
}
