//! Bulk resolution: users named by email, username, … to Authing user ids, a batch of one
//! `userIdType` per `getUserBatch` request, on the run engine of the other bulk operations.

use std::{sync::Arc, time::Duration};

use super::{
    BulkEvent, BulkOptions, Refusal, Slot, StopReason, UnitDone,
    run::{Judgement, Run, Sent},
};
use crate::{
    MAX_USERS_PER_LOOKUP, ManagementClient, Resolution, UserIdType, UserRef, call::Policy,
    resolve::one_per_request,
};

/// What became of one user of a bulk resolution.
///
/// ```
/// use authing_otp::bulk::ResolveOutcome;
///
/// let outcome = ResolveOutcome::Found("6229ffaxxxxxxxxcade3e3d9".into());
/// if let ResolveOutcome::Found(user_id) = &outcome {
///     assert_eq!(user_id.len(), 24);
/// }
/// assert_ne!(outcome, ResolveOutcome::NotFound);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResolveOutcome {
    /// Exactly one user: its Authing user id.
    Found(String),
    /// No user.
    NotFound,
    /// More than one user answered for this reference.
    Ambiguous,
    /// The server refused it (alone, after its batch was refused).
    Refused(Refusal),
    /// Never sent, or sent in a batch whose fate is unknown: the run stopped first.
    NotAttempted,
}

/// The outcomes of one batch of a bulk resolution, handed over as soon as the batch is done
/// (in the order batches finish, not the order of the input).
///
/// ```
/// use authing_otp::bulk::{ResolveDone, ResolveOutcome};
///
/// fn found(batch: &ResolveDone<u64>) -> Vec<(u64, &str)> {
///     batch
///         .outcomes
///         .iter()
///         .filter_map(|(line, _, outcome)| match outcome {
///             ResolveOutcome::Found(user_id) => Some((*line, user_id.as_str())),
///             _ => None,
///         })
///         .collect()
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct ResolveDone<K> {
    /// Each record's key, user and outcome, in input order within the batch.
    pub outcomes: Vec<(K, UserRef, ResolveOutcome)>,
    /// Requests this batch took, as sent.
    pub requests: u64,
}

/// How a bulk resolution went. Every count is what happened on the wire.
///
/// ```
/// let summary = authing_otp::bulk::ResolveSummary::default();
/// assert_eq!(summary.found + summary.not_found + summary.ambiguous, 0);
/// assert!(summary.stopped.is_none());
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ResolveSummary {
    /// Records taken from the input.
    pub records: u64,
    /// Records that named exactly one user.
    pub found: u64,
    /// Records that named no user.
    pub not_found: u64,
    /// Records that named more than one user.
    pub ambiguous: u64,
    /// Records refused by the server.
    pub refused: u64,
    /// Records taken from the input but not settled (the run stopped).
    pub not_attempted: u64,
    /// getUserBatch requests sent, every try included.
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

impl From<Resolution> for ResolveOutcome {
    fn from(resolution: Resolution) -> Self {
        match resolution {
            Resolution::Found(id) => ResolveOutcome::Found(id),
            Resolution::NotFound => ResolveOutcome::NotFound,
            Resolution::Ambiguous => ResolveOutcome::Ambiguous,
        }
    }
}

/// One batch (one `userIdType`): one request, or one per user for the types no answer
/// matches per user. A batch refused for what it holds is asked again a user at a time, to
/// find the users at fault.
async fn resolve_unit<K: Send + 'static>(
    run: Arc<Run>,
    client: ManagementClient,
    batch: Vec<(K, UserRef)>,
) -> UnitDone<K, UserRef, ResolveOutcome> {
    let (keys, users): (Vec<K>, Vec<UserRef>) = batch.into_iter().unzip();
    if users[0].id_type() == UserIdType::UserId {
        // Nothing to ask: not a request, so neither a slot of the pace nor a sign that the
        // endpoint answers.
        run.progress(users.len());
        let entries = keys
            .into_iter()
            .zip(users)
            .map(|(key, user)| {
                let id = user.id().to_owned();
                (key, user, Slot::Final(ResolveOutcome::Found(id)))
            })
            .collect();
        return UnitDone {
            entries,
            requests: 0,
            saw_413: false,
        };
    }
    let mut slots: Vec<Option<Slot<ResolveOutcome>>> = users.iter().map(|_| None).collect();
    let mut requests = 0;
    let step = if one_per_request(users[0].id_type()) {
        1
    } else {
        users.len()
    };
    // Ranges still to ask, last first.
    let mut pending: Vec<(usize, usize)> = (0..users.len())
        .step_by(step)
        .map(|start| (start, (start + step).min(users.len())))
        .rev()
        .collect();
    while let Some((start, end)) = pending.pop() {
        if run.is_stopped() {
            break;
        }
        let chunk = &users[start..end];
        let sent = run
            .send(&mut requests, || {
                client.resolve_with(chunk, Policy::caller_retries())
            })
            .await;
        match sent {
            Sent::Ok(found) => {
                for (slot, resolution) in slots[start..end].iter_mut().zip(found) {
                    *slot = Some(Slot::Final(resolution.into()));
                }
                run.progress(end - start);
            }
            Sent::Records(error) | Sent::TooLarge(error) if end - start == 1 => {
                slots[start] = match run.judge(&error) {
                    Judgement::Refused => {
                        run.progress(1);
                        Some(Slot::Final(ResolveOutcome::Refused(Refusal::from_error(
                            &error,
                        ))))
                    }
                    Judgement::Provisional => Some(Slot::Provisional(Refusal::from_error(&error))),
                    Judgement::Stopped => break,
                };
            }
            Sent::Records(_) | Sent::TooLarge(_) => {
                pending.extend((start..end).rev().map(|i| (i, i + 1)));
            }
            Sent::Stopped => break,
        }
    }
    let entries = keys
        .into_iter()
        .zip(users)
        .zip(slots)
        .map(|((key, user), slot)| {
            (
                key,
                user,
                slot.unwrap_or(Slot::Final(ResolveOutcome::NotAttempted)),
            )
        })
        .collect();
    UnitDone {
        entries,
        requests,
        saw_413: false,
    }
}

impl ManagementClient {
    /// Resolves each user of `users` to its Authing user id (`getUserBatch`), in batches of
    /// at most [`BulkOptions::batch_size`] (capped at [`MAX_USERS_PER_LOOKUP`]) users of one
    /// [`UserIdType`] (a batch ends where the type changes), with up to
    /// [`BulkOptions::concurrency`] requests in flight, under the same pace, throttling,
    /// outage and stall rules as [`bulk_import`](Self::bulk_import); and calls `on_event`
    /// with the outcome of every user of each batch as it completes.
    ///
    /// Each batch is one request (`sync_relation` and `custom_field` users one request each,
    /// user ids none: see [`resolve_user_ids`](Self::resolve_user_ids)). A user no one
    /// answers for is [`ResolveOutcome::NotFound`], never a refusal; a batch the server
    /// refuses for what it holds is asked again a user at a time, so that only the users at
    /// fault are [`ResolveOutcome::Refused`].
    ///
    /// ```no_run
    /// use authing_otp::{ManagementClient, UserRef};
    /// use authing_otp::bulk::{BulkEvent, BulkOptions, ResolveOutcome};
    ///
    /// # async fn demo(client: ManagementClient) -> Result<(), authing_otp::Error> {
    /// let users = ["alice@example.com", "bob@example.com"]
    ///     .into_iter()
    ///     .map(|email| UserRef::email(email).map(|user| (email, user)))
    ///     .collect::<Result<Vec<_>, _>>()?;
    /// let summary = client
    ///     .bulk_resolve_users(BulkOptions::default(), users, |event| {
    ///         if let BulkEvent::Done(batch) = event {
    ///             for (email, _, outcome) in batch.outcomes {
    ///                 match outcome {
    ///                     ResolveOutcome::Found(user_id) => println!("{email},{user_id}"),
    ///                     other => eprintln!("{email}: {other:?}"),
    ///                 }
    ///             }
    ///         }
    ///     })
    ///     .await;
    /// assert_eq!(summary.records, 2);
    /// # Ok(()) }
    /// ```
    pub async fn bulk_resolve_users<K, I, F>(
        &self,
        options: BulkOptions,
        users: I,
        mut on_event: F,
    ) -> ResolveSummary
    where
        K: Send + 'static,
        I: IntoIterator<Item = (K, UserRef)>,
        F: FnMut(BulkEvent<ResolveDone<K>>),
    {
        let started = std::time::Instant::now();
        let mut users = users.into_iter().peekable();
        let batch_size = options.batch_size.min(MAX_USERS_PER_LOOKUP);
        let mut summary = ResolveSummary::default();
        // Batches of one userIdType: a lookup asks for one.
        let next_batch = || {
            let id_type: UserIdType = users.peek()?.1.id_type();
            let mut batch = Vec::with_capacity(batch_size);
            while batch.len() < batch_size
                && let Some(next) = users.next_if(|(_, u)| u.id_type() == id_type)
            {
                batch.push(next);
            }
            Some(batch)
        };
        let done = |outcomes: Vec<(K, UserRef, ResolveOutcome)>, requests| {
            for (_, _, outcome) in &outcomes {
                *match outcome {
                    ResolveOutcome::Found(_) => &mut summary.found,
                    ResolveOutcome::NotFound => &mut summary.not_found,
                    ResolveOutcome::Ambiguous => &mut summary.ambiguous,
                    ResolveOutcome::Refused(_) => &mut summary.refused,
                    ResolveOutcome::NotAttempted => &mut summary.not_attempted,
                } += 1;
            }
            ResolveDone { outcomes, requests }
        };
        let totals = self
            .run_over_users(&options, next_batch, resolve_unit, done, &mut on_event)
            .await;
        summary.records = totals.records;
        summary.requests = totals.requests;
        summary.throttled = totals.throttled;
        summary.unavailable = totals.unavailable;
        summary.stopped = totals.stopped;
        summary.elapsed = started.elapsed();
        summary
    }
}

impl super::UserOutcome for ResolveOutcome {
    fn refused(why: Refusal) -> Self {
        ResolveOutcome::Refused(why)
    }
    fn not_attempted() -> Self {
        ResolveOutcome::NotAttempted
    }
}
