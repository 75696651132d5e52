//! Why a bulk run stopped.

use std::{fmt, sync::Arc, time::Duration};

use crate::Error;

/// Why a bulk run stopped before the end of its input. Records after it were not read;
/// records not settled are [`Outcome::NotAttempted`](super::Outcome::NotAttempted).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum StopReason {
    /// The server refused a request for a reason that is not about the records: the
    /// credentials or a permission (401, 403), a redirect, a route that does not exist, an
    /// answer that is not Authing's JSON (a proxy's or a wrong host's page), a refusal of
    /// another kind.
    Refused(Arc<Error>),
    /// The first records tried were all refused the same way before the endpoint accepted
    /// anything: a permission the key pair lacks, a wrong pool, or a wrong kind of user id
    /// looks like this. None of them is marked refused.
    RefusedAlike {
        /// The refusal they all got.
        error: Arc<Error>,
        /// How many records were refused alike.
        records: u64,
    },
    /// No record finished for this long (the stall timeout): the server was unavailable, or
    /// throttled every request, all along.
    Stalled {
        /// How long without progress.
        after: Duration,
        /// The last failure seen, if any.
        last_error: Option<Arc<Error>>,
    },
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Refused(_) => f.write_str(
                "the server refused a request for a reason that is not about the records",
            ),
            StopReason::RefusedAlike { records, .. } => write!(
                f,
                "the first {records} records tried were all refused the same way before any \
                 was accepted, which points at the endpoint, the credentials or the pool \
                 rather than the records; none of them is marked done"
            ),
            StopReason::Stalled { after, .. } => {
                write!(f, "no record finished for {} s", after.as_secs())
            }
        }
    }
}

impl std::error::Error for StopReason {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StopReason::Refused(error) | StopReason::RefusedAlike { error, .. } => Some(&**error),
            StopReason::Stalled { last_error, .. } => last_error
                .as_deref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
        }
    }
}

impl StopReason {
    /// This reason and its causes, `: `-separated (see [`Error::display_chain`]).
    pub fn display_chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }

    /// The error behind the stop, if any.
    pub fn error(&self) -> Option<&Error> {
        match self {
            StopReason::Refused(error) | StopReason::RefusedAlike { error, .. } => Some(error),
            StopReason::Stalled { last_error, .. } => last_error.as_deref(),
        }
    }
}
