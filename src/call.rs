//! The call: one place that owns a request from start to end, read top to bottom.
//!
//! For each call of the facade ([`run`]):
//!
//! 1. **Deadline**: the call's, from [`RetryConfig::call_timeout`](crate::RetryConfig): every
//!    wait and every attempt below is cut to it.
//! 2. For each attempt:
//!    1. **Rate limit**: the next slot of the client's limit, if it has one.
//!    2. **Auth**: a token from the cache (the token request itself is an ordinary call with
//!       no auth: no recursion), or "sign this attempt".
//!    3. **Send**: the generated client builds and sends the request; its hooks
//!       ([`crate::transport`]) decorate it and bound its answer.
//!    4. **Read**: the answer is decoded once ([`crate::envelope`]): a success, a refusal, a
//!       redirect, an answer that is not the promised JSON, or no answer at all.
//!    5. **Decide**: return; refresh the token once and send again (a 401 in token mode); retry
//!       after a backoff (429, 5xx, a failed connection, a timeout: [`classify`]), within the
//!       attempts, the deadline and the retry budget; or give up.
//! 3. **Scrub** the error, once, of every secret the call carried: the access key secret, the
//!    token it sent, and the call's own (OTP secrets, recovery codes).
//!
//! Every step's failure is a typed [`Error`], returned.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

// Tokio's clock, so that deadlines and slots follow a paused clock in tests.
use tokio::time::Instant;

use progenitor_client::ResponseValue;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde::Serialize;

use crate::{
    Error,
    attempt::{CallAuth, HookState},
    envelope::{self, Envelope, Verdict},
    generated,
    retry::{RetryReason, Spent, classify, retry_after},
    state::{Auth, Inner},
    token::{Fetch, Token},
    transport::{AnswerRefused, refused_in},
    wire,
};

/// How one call retries, when its caller decides instead of the client's
/// [`RetryConfig`](crate::RetryConfig): a bulk run owns its retries, its pace and its backoff.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Policy {
    /// Attempts of the call's own request; `None` for the client's.
    pub(crate) max_attempts: Option<u32>,
    /// Whether a 429 leaves the client's own rate limit as it is (a bulk run paces itself).
    pub(crate) keep_rate_limit: bool,
}

impl Policy {
    /// One attempt, and the rate limit left alone: the caller retries.
    pub(crate) fn caller_retries() -> Self {
        Policy {
            max_attempts: Some(1),
            keep_rate_limit: true,
        }
    }
}

/// What a call sent, for callers that count requests and honour `Retry-After` themselves.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CallReport {
    /// Requests of the operation itself sent (token requests not included).
    pub(crate) sent: u32,
    /// The last `Retry-After` a throttled answer carried.
    pub(crate) retry_after: Option<Duration>,
}

/// The operation a call makes, for its auth and its logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    Token,
    ImportOtp,
    GetOtpSecretByUser,
    GetUserBatch,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Token => "get_management_token",
            Operation::ImportOtp => "import_otp",
            Operation::GetOtpSecretByUser => "get_otp_secret_by_user",
            Operation::GetUserBatch => "get_user_batch",
        }
    }
}

/// What an attempt came to.
enum Attempt<D> {
    Success(Envelope<D>),
    Failed {
        error: Error,
        /// Worth another attempt, and why.
        retry: Option<RetryReason>,
        retry_after: Option<Duration>,
    },
}

/// Runs one call of `operation`: `send` makes the generated client send the request once
/// (again for each attempt). `secrets` are the call's own, scrubbed from any error.
pub(crate) async fn run<D, F, Fut>(
    inner: &Arc<Inner>,
    operation: Operation,
    secrets: &[&str],
    policy: Policy,
    mut send: F,
) -> (Result<Envelope<D>, Error>, CallReport)
where
    D: Serialize,
    F: FnMut(generated::Client) -> Fut,
    Fut: Future<Output = Result<ResponseValue<Envelope<D>>, progenitor_client::Error<()>>>,
{
    let deadline = deadline_after(inner.retry.deadline());
    let max_attempts = match policy.max_attempts {
        Some(n) if operation != Operation::Token => n,
        _ => inner.retry.attempts(),
    };
    let mut report = CallReport::default();
    let mut spent = Spent::new(&inner.budget);
    let mut refreshed = false;
    let mut attempt = 0u32;
    // The token the last attempt sent: scrubbed from the error even if the cache moved on.
    let mut sent_token: Option<Arc<Token>> = None;
    let result = loop {
        attempt += 1;
        if let Some(limit) = &inner.rate_limit
            && tokio::time::timeout_at(deadline, limit.acquire())
                .await
                .is_err()
        {
            break Err(Error::Timeout { source: None });
        }
        let auth = match (&inner.auth, operation) {
            (_, Operation::Token) => CallAuth::None,
            (Auth::Signature, _) => CallAuth::Signature,
            (Auth::Token { tokens, .. }, _) => {
                match tokens.token(deadline, || fetch_token(inner.clone())).await {
                    Ok(token) => {
                        sent_token = Some(token.clone());
                        CallAuth::Token(token)
                    }
                    Err(error) => break Err(error),
                }
            }
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Err(Error::Timeout { source: None });
        }
        // The attempt's timeout bounds it from connecting to the answer's last byte, and so
        // keeps it within the deadline: the client's, or what is left when that is shorter.
        let cut = left < inner.timeout;
        let timeout = (cut || inner.decor.foreign_client).then(|| inner.timeout.min(left));
        let client = generated::Client::new_with_client(
            &inner.base_url,
            inner.http.clone(),
            HookState {
                decor: inner.decor.clone(),
                auth,
                timeout,
            },
        );
        if operation != Operation::Token {
            report.sent += 1;
        }
        inner.stats.requests.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let answer = read(send(client).await, cut).await;
        let (error, reason, wait_hint) = match answer {
            Attempt::Success(envelope) => {
                tracing::debug!(
                    operation = operation.name(),
                    attempt,
                    elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                    "answer"
                );
                break Ok(envelope);
            }
            Attempt::Failed {
                error,
                retry,
                retry_after,
            } => (error, retry, retry_after),
        };
        tracing::debug!(
            operation = operation.name(),
            attempt,
            http_status = error.http_status(),
            status_code = error.status_code(),
            api_code = error.api_code(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "attempt failed"
        );
        // A token refused before it expired (revoked, or the server's clock disagrees): a new
        // one, once, and the request again. Not a retry of a failure: it spends neither
        // attempts nor budget.
        if !refreshed
            && matches!(error, Error::Unauthenticated(_))
            && let Auth::Token { tokens, .. } = &inner.auth
            && let Some(token) = &sent_token
        {
            refreshed = true;
            tokens.reject(token);
            attempt -= 1;
            continue;
        }
        let Some(reason) = reason else {
            break Err(error);
        };
        if reason == RetryReason::Throttled {
            inner.stats.throttled.fetch_add(1, Ordering::Relaxed);
            if operation != Operation::Token {
                report.retry_after = wait_hint;
            }
            if !policy.keep_rate_limit
                && let Some(limit) = &inner.rate_limit
            {
                let rps = limit.throttled(wait_hint);
                tracing::info!(
                    operation = operation.name(),
                    rps,
                    "throttled by the server: rate limit lowered"
                );
            }
        }
        let give_up = |why: &str| {
            tracing::debug!(
                operation = operation.name(),
                attempt,
                reason = reason.as_str(),
                why,
                "not retried"
            );
        };
        if attempt >= max_attempts {
            give_up("no attempts left");
            break Err(error);
        }
        let delay = inner.retry.delay(attempt, wait_hint);
        if Instant::now()
            .checked_add(delay)
            .is_none_or(|at| at >= deadline)
        {
            give_up("the call's deadline comes first");
            break Err(error);
        }
        if inner.retry.uses_budget() && !spent.take(reason) {
            give_up("the retry budget is spent");
            break Err(error);
        }
        tracing::info!(
            operation = operation.name(),
            attempt,
            reason = reason.as_str(),
            delay_ms = delay.as_secs_f64() * 1e3,
            retry_after = wait_hint.is_some(),
            "retrying"
        );
        inner.stats.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(delay).await;
    };
    match result {
        Ok(envelope) => {
            if inner.retry.uses_budget() {
                spent.succeeded();
            }
            (Ok(envelope), report)
        }
        Err(error) => {
            spent.failed();
            let token = sent_token.as_deref().map(Token::bearer);
            let error = scrub(inner, error, secrets, token);
            tracing::debug!(
                operation = operation.name(),
                kind = ?error.kind(),
                retryable = error.is_retryable(),
                http_status = error.http_status(),
                api_code = error.api_code(),
                request_id = error.request_id(),
                "call failed"
            );
            (Err(error), report)
        }
    }
}

/// The error, scrubbed of every secret the call carried.
fn scrub(inner: &Inner, error: Error, secrets: &[&str], token: Option<&str>) -> Error {
    let mut all: Vec<&str> = Vec::with_capacity(secrets.len() + 2);
    all.push(inner.access_key_secret.expose_secret());
    all.extend(token);
    all.extend_from_slice(secrets);
    error.scrubbed(&all)
}

/// What an attempt's answer says. `cut`: the attempt's timeout was cut to the call's deadline,
/// so that a timeout is the deadline's.
async fn read<D: Serialize>(
    answer: Result<ResponseValue<Envelope<D>>, progenitor_client::Error<()>>,
    cut: bool,
) -> Attempt<D> {
    use progenitor_client::Error as G;
    let failed = |error: Error| {
        let retry = retryable(&error);
        Attempt::Failed {
            error,
            retry,
            retry_after: None,
        }
    };
    match answer {
        Ok(value) => {
            let status = value.status().as_u16();
            // Read only from answers that refuse: a success has no use for it.
            let wait_hint = (value.status_code != 200.0)
                .then(|| retry_after(value.headers()))
                .flatten();
            match value.into_inner().verdict(status) {
                Verdict::Success(envelope) => Attempt::Success(envelope),
                Verdict::Refused(error) => Attempt::Failed {
                    retry: retryable(&error),
                    error,
                    retry_after: wait_hint,
                },
            }
        }
        Err(G::UnexpectedResponse(response)) => {
            let status = response.status();
            let wait_hint = retry_after(response.headers());
            if status.is_redirection() {
                return failed(redirect(&response));
            }
            let error = match response.bytes().await {
                Ok(body) => envelope::refusal(status.as_u16(), &body),
                Err(e) => transport_error(e, status.as_u16(), cut),
            };
            Attempt::Failed {
                retry: retryable(&error),
                error,
                retry_after: wait_hint,
            }
        }
        Err(G::InvalidResponsePayload(body, e)) => failed(envelope::malformed(&body, &e)),
        Err(G::CommunicationError(e) | G::ResponseBodyError(e) | G::InvalidUpgrade(e)) => {
            let status = e.status().map_or(200, |s| s.as_u16());
            failed(transport_error(e, status, cut))
        }
        Err(G::InvalidRequest(reason)) => failed(crate::InputError::new("request", reason).into()),
        // Not produced: the fragment documents no error responses, and the hooks never fail.
        Err(G::ErrorResponse(value)) => failed(Error::UnexpectedResponse {
            status: value.status().as_u16(),
            reason: "undocumented error response".into(),
            excerpt: String::new(),
        }),
        Err(G::Custom(reason)) => failed(Error::UnexpectedResponse {
            status: 0,
            reason,
            excerpt: String::new(),
        }),
    }
}

/// Whether to try again, and why: what the client retries ([`classify`]).
fn retryable(error: &Error) -> Option<RetryReason> {
    match error {
        Error::Timeout { .. } => Some(RetryReason::Timeout),
        Error::Transport(_) => Some(RetryReason::Connection),
        Error::Api(api) => classify(api.http_status, Some(api.status_code as f64)),
        Error::UnexpectedResponse { status, .. } => classify(*status, None),
        _ => None,
    }
}

/// A failure of the transport: an answer refused by the hooks (too large, in too many pieces,
/// from elsewhere), a timeout (the call's deadline's when the attempt was `cut` to it), or a
/// connection that failed.
fn transport_error(e: reqwest::Error, status: u16, cut: bool) -> Error {
    match refused_in(&e) {
        Some(AnswerRefused::Redirected { status, origin }) => Error::Redirect {
            status: *status,
            location: Some(origin.clone()),
        },
        Some(refused) => Error::UnexpectedResponse {
            status,
            reason: refused.to_string(),
            excerpt: String::new(),
        },
        None if e.is_timeout() && cut => Error::Timeout { source: None },
        None => Error::from_reqwest(e),
    }
}

/// A 3xx answer: a redirect (301, 302, 303, 307, 308), never followed, naming where it points
/// by origin only; another 3xx is not an answer of these operations.
fn redirect(response: &reqwest::Response) -> Error {
    let status = response.status();
    if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        let reason = if status == StatusCode::NOT_MODIFIED {
            "304 Not Modified, which this client never asks for".to_owned()
        } else {
            format!(
                "{} {}, which is not a redirect and not an answer of this operation",
                status.as_u16(),
                status
                    .canonical_reason()
                    .unwrap_or("(an unassigned 3xx status)")
            )
        };
        return Error::UnexpectedResponse {
            status: status.as_u16(),
            reason,
            excerpt: String::new(),
        };
    }
    // Only an http(s) target is a place to name: `origin()` of another scheme is "null".
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| response.url().join(l).ok())
        .filter(|target| matches!(target.scheme(), "http" | "https"))
        .map(|target| target.origin().ascii_serialization());
    Error::Redirect {
        status: status.as_u16(),
        location,
    }
}

/// A token for a request made outside a call (the hidden `generated()`), waited for until
/// the client's call deadline.
pub(crate) async fn token_for(inner: &Arc<Inner>) -> Result<Arc<Token>, Error> {
    let Auth::Token { tokens, .. } = &inner.auth else {
        unreachable!("only token mode asks for a token");
    };
    let deadline = deadline_after(inner.retry.deadline());
    tokens
        .token(deadline, || fetch_token(inner.clone()))
        .await
        .map_err(|e| scrub(inner, e, &[], None))
}

/// `now + after`, or far ahead when that cannot be represented.
fn deadline_after(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .unwrap_or_else(|| now + Duration::from_secs(24 * 3600))
}

/// Fetches a token: the token request, an ordinary call with no auth. Its failure keeps its
/// cause's kind (a timeout, a 503, a redirect); only a refusal of the pair is an
/// authentication failure.
fn fetch_token(inner: Arc<Inner>) -> Fetch {
    Box::pin(async move {
        let Auth::Token {
            access_key_id,
            user_pool_id,
            ..
        } = &inner.auth
        else {
            unreachable!("only token mode fetches tokens");
        };
        let body = wire::GetManagementAccessTokenDto {
            access_key_id: access_key_id.clone(),
            access_key_secret: inner.access_key_secret.expose_secret().to_owned(),
        };
        let (answer, _) = run(&inner, Operation::Token, &[], Policy::default(), |client| {
            let body = body.clone();
            async move { client.get_management_token().body(body).send().await }
        })
        .await;
        let data = match answer {
            Ok(Envelope {
                data: Some(data), ..
            }) => data,
            Ok(_) => {
                return Err(Error::Token {
                    reason: "the token endpoint answered without an access_token".into(),
                    source: None,
                });
            }
            Err(error) => {
                let reason = if error.is_retryable() {
                    "the token endpoint could not be reached or failed"
                } else if matches!(error, Error::Api(_) | Error::Unauthenticated(_)) {
                    "the token endpoint refused the access key pair"
                } else {
                    "the token endpoint's answer could not be used"
                };
                return Err(Error::Token {
                    reason: reason.into(),
                    source: Some(Arc::new(error)),
                });
            }
        };
        Token::from_answer(data.access_token, data.expires_in, user_pool_id.as_deref())
    })
}
