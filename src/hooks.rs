//! The one place every request passes through: progenitor's `ClientHooks` for the generated
//! client.
//!
//! `pre` sets the headers every call carries, then authenticates (token or signature) last, so
//! that a signature covers the request exactly as it leaves. `exec` sends it under the rate
//! limit, reads the answer (never more than [`MAX_ANSWER_BYTES`] in [`MAX_ANSWER_CHUNKS`]
//! pieces, never following a redirect), and decides: success, a refused token to replace once (HTTP 401, or HTTP 200 with
//! `statusCode` 401), or a failure worth retrying ([`RetryConfig`]), re-signed afresh in
//! signature mode.
//!
//! Hooks can only fail with progenitor's stringly `Error::Custom` or a `reqwest::Error`; the
//! typed [`Error`] travels beside them in a task-local slot that [`run`] opens around each
//! facade call, together with the call's deadline.

use std::{
    cell::RefCell,
    fmt,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use progenitor_client::{ClientHooks, OperationInfo, ResponseValue};
use reqwest::{
    StatusCode,
    header::{AUTHORIZATION, HeaderMap, HeaderValue, LOCATION},
};
use secrecy::ExposeSecret;

use crate::{
    Brand, Error, RetryConfig, SDK_VERSION,
    auth::{Auth, TOKEN_OPERATION, Token},
    error::{Envelope, check_status},
    generated::Client,
    rate_limit::RateLimit,
    retry::{RetryBudget, RetryReason, classify, retry_after},
};

/// The largest answer read. Every answer of these operations is well under 1 KiB, and an
/// error page a few KiB; a bigger body is refused as it arrives, without buffering it.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// The most pieces (HTTP/1.1 chunks or reads, HTTP/2 DATA frames) an answer may arrive in. A
/// real answer comes in one to three; a server sending 256 KiB a byte at a time would cost
/// seconds of CPU before [`MAX_ANSWER_BYTES`] stopped it. Time is bounded too: the attempt's
/// timeout covers reading the body, not only the headers.
pub const MAX_ANSWER_CHUNKS: usize = 1024;

/// What the hooks need, stored in the generated client (`with_inner_type`). Cheap to clone;
/// clones share the token, the retry budget and the rate limit.
#[derive(Clone)]
pub struct HookState(pub(crate) Arc<Shared>);

pub(crate) struct Shared {
    pub(crate) brand: Brand,
    pub(crate) auth: Auth,
    pub(crate) lang: Option<HeaderValue>,
    pub(crate) tenant_id: Option<HeaderValue>,
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryConfig,
    pub(crate) budget: RetryBudget,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) log_user_ids: bool,
    pub(crate) stats: Stats,
}

/// Counts kept for [`ManagementClient::stats`](crate::ManagementClient::stats): relaxed
/// atomics, a few nanoseconds a request.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) requests: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) throttled: AtomicU64,
}

impl fmt::Debug for HookState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.0;
        f.debug_struct("HookState")
            .field("brand", &shared.brand)
            .field("auth", &shared.auth)
            .field("lang", &shared.lang)
            .field("tenant_id", &shared.tenant_id)
            .field("timeout", &shared.timeout)
            .field("retry", &shared.retry)
            .field("rps", &shared.rate_limit.as_ref().map(RateLimit::rps))
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Calls `f` with every secret a server might quote back to this call: the client's own
    /// (the access key secret, the token in use) and `extra` (the call's OTP secrets and
    /// recovery codes).
    pub(crate) fn with_secrets<R>(&self, extra: &[&str], f: impl FnOnce(&[&str]) -> R) -> R {
        let token = match &self.auth {
            Auth::Token(tokens) => tokens.current(),
            Auth::Signature(_) => None,
        };
        let mut secrets: Vec<&str> = Vec::with_capacity(extra.len() + 2);
        secrets.push(self.auth.access_key_secret().expose_secret());
        if let Some(token) = &token {
            secrets.extend(token.bearer());
        }
        secrets.extend_from_slice(extra);
        f(&secrets)
    }
}

/// The facade call in progress: where hooks leave a typed error, and when it must end.
struct Call {
    error: RefCell<Option<Error>>,
    deadline: Instant,
    /// The `authorization` a failed request of the call carried, to scrub its token even if
    /// the cache has moved on since (kept on failures only: a success needs nothing).
    sent: RefCell<Option<HeaderValue>>,
    policy: Policy,
    report: RefCell<CallReport>,
}

/// How one facade call retries, when its caller decides instead of the client's
/// [`RetryConfig`]: a bulk run owns its retries, its pace and its backoff.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Policy {
    /// Attempts of the call's own request (token requests keep the client's); `None` for the
    /// client's.
    pub(crate) max_attempts: Option<u32>,
    /// Whether a 429 slows the client's own rate limit down (a bulk run paces itself).
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

tokio::task_local! {
    static CALL: Call;
}

/// Keeps `error` for the facade call that is running, and returns its message.
fn stash(error: Error) -> String {
    let message = error.to_string();
    let _ = CALL.try_with(|call| *call.error.borrow_mut() = Some(error));
    message
}

/// Takes the error a hook left for the running call, if any (the token request reads the
/// error of its own exchange this way).
pub(crate) fn take_stashed() -> Option<Error> {
    CALL.try_with(|call| call.error.borrow_mut().take())
        .ok()
        .flatten()
}

/// Stashes `error` and answers the generated code with a stand-in that it reports as an
/// unexpected response: the facade prefers the stashed, typed error. (Code that calls the
/// generated client outside the facade gets the stand-in, whose message says what happened.)
fn stand_in(error: Error) -> reqwest::Response {
    let message = stash(error);
    let body = serde_json::json!({"statusCode": 599, "message": message}).to_string();
    let mut response = http::Response::new(body);
    *response.status_mut() = StatusCode::from_u16(599).expect("599 is a valid status code");
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.into()
}

/// Runs a generated call within the client's deadline, under `policy`, checks the answer's
/// `statusCode`, and maps failures to the crate's error (a typed error stashed by a hook
/// first), scrubbed of the call's secrets: the client's, and `secrets` (the OTP secrets and
/// recovery codes it sent). Also says what the call sent.
pub(crate) async fn run_with<T, F>(
    shared: &Shared,
    secrets: &[&str],
    call: F,
    policy: Policy,
) -> (Result<T, Error>, CallReport)
where
    T: Envelope,
    F: Future<Output = Result<ResponseValue<T>, progenitor_client::Error>>,
{
    let deadline = deadline_after(shared.retry.get_call_timeout());
    let scope = Call {
        error: RefCell::new(None),
        deadline,
        sent: RefCell::new(None),
        policy,
        report: RefCell::default(),
    };
    // The deadline is enforced where time is spent, in `exec` (each attempt's timeout is cut
    // to the time left, and no wait outlasts it), rather than by a timer around the call.
    CALL.scope(scope, async move {
        let outcome = call.await;
        let report = CALL.with(|call| *call.report.borrow());
        let stashed = take_stashed();
        let outcome = match (outcome, stashed) {
            (_, Some(error)) => Err(error),
            (Ok(answer), None) => check_status(answer.status().as_u16(), answer.as_ref())
                .map(|()| answer.into_inner()),
            (Err(e), None) => Err(Error::from_generated(e).await),
        };
        let outcome = outcome.map_err(|error| {
            let sent = CALL.with(|call| call.sent.borrow().clone());
            let sent = sent
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            let mut extra: Vec<&str> = secrets.to_vec();
            extra.extend(sent);
            let error = shared.with_secrets(&extra, |all| error.scrubbed(all));
            tracing::debug!(
                kind = ?error.kind(),
                retryable = error.is_retryable(),
                http_status = error.http_status(),
                api_code = error.api_code(),
                request_id = error.request_id(),
                "call failed"
            );
            error
        });
        (outcome, report)
    })
    .await
}

/// `now + after`, or far ahead when that cannot be represented.
fn deadline_after(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .unwrap_or_else(|| now + Duration::from_secs(24 * 3600))
}

/// The running call's deadline, or one from now for a request outside a facade call.
fn current_deadline(shared: &Shared) -> Instant {
    CALL.try_with(|call| call.deadline)
        .unwrap_or_else(|_| deadline_after(shared.retry.get_call_timeout()))
}

/// A token, waiting for another caller's token request at most until the call's deadline.
async fn token_by(client: &Client, deadline: Instant) -> Result<Arc<Token>, Error> {
    let Auth::Token(tokens) = &client.inner.0.auth else {
        unreachable!("only token mode asks for a token");
    };
    let token = tokio::time::timeout_at(deadline.into(), tokens.token(client))
        .await
        .unwrap_or(Err(Error::Timeout { source: None }))?;
    Ok(token)
}

impl ClientHooks<HookState> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        let shared = &self.inner.0;
        // A per-request timeout also bounds a caller-supplied reqwest::Client.
        request.timeout_mut().get_or_insert(shared.timeout);
        // Every header in the brand's own dialect, and none of the other's.
        let dialect = shared.brand.dialect();
        let headers = request.headers_mut();
        headers.insert(&dialect.sdk_version, HeaderValue::from_static(SDK_VERSION));
        if let Some(lang) = &shared.lang {
            headers.insert(&dialect.lang, lang.clone());
        }
        if let Some(tenant) = &shared.tenant_id {
            headers.insert(&dialect.tenant, tenant.clone());
        }
        if info.operation_id == TOKEN_OPERATION {
            return Ok(());
        }
        match &shared.auth {
            Auth::Token(tokens) => {
                if tokens
                    .with_fresh(|token| apply_token(request, token, shared.brand))
                    .is_none()
                {
                    let token = token_by(self, current_deadline(shared))
                        .await
                        .map_err(|e| progenitor_client::Error::Custom(stash(e)))?;
                    apply_token(request, &token, shared.brand);
                }
            }
            Auth::Signature(signer) => signer.sign_request(request),
        }
        Ok(())
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let shared = &self.inner.0;
        let operation = info.operation_id;
        let is_token_request = operation == TOKEN_OPERATION;
        let deadline = current_deadline(shared);
        let mut request = request;
        // The per-attempt timeout `pre` set (or the user's own), before any cut.
        let timeout = request.timeout().copied().unwrap_or(shared.timeout);
        let policy = CALL.try_with(|call| call.policy).unwrap_or_default();
        let max_attempts = match policy.max_attempts {
            Some(n) if !is_token_request => n,
            _ => shared.retry.get_max_attempts(),
        };
        let mut attempt: u32 = 0;
        let mut spent: u32 = 0;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            // Kept for a resend; the body is in memory (JSON), so this is a cheap copy. It also
            // tells, after a failure, which token the request carried.
            let resend = request.try_clone();
            if let Some(limit) = &shared.rate_limit
                && tokio::time::timeout_at(deadline.into(), limit.acquire())
                    .await
                    .is_err()
            {
                return Ok(stand_in(Error::Timeout { source: None }));
            }
            // Each attempt gets its timeout, cut to what is left of the call's deadline.
            let started = Instant::now();
            let left = deadline.saturating_duration_since(started);
            if left.is_zero() {
                return Ok(stand_in(Error::Timeout { source: None }));
            }
            let cut = left < timeout;
            *request.timeout_mut() = Some(timeout.min(left));
            shared.stats.requests.fetch_add(1, Ordering::Relaxed);
            if !is_token_request {
                let _ = CALL.try_with(|call| call.report.borrow_mut().sent += 1);
            }
            let expected_url = resend.as_ref().map(|r| r.url());
            let sent = send(&self.client, request, expected_url).await;
            // Anything but a plain success may end in an error that quotes the token sent.
            let plain_success = matches!(&sent, Ok(Answer::Complete(a))
                if a.status.is_success() && a.status_code.is_none_or(|c| c == 200.0));
            if !plain_success
                && !is_token_request
                && let Some(value) = resend.as_ref().and_then(|r| r.headers().get(AUTHORIZATION))
            {
                let _ = CALL.try_with(|call| *call.sent.borrow_mut() = Some(value.clone()));
            }
            let (reason, wait_hint, last) = match sent {
                Err(e) if e.is_timeout() && cut => {
                    tracing::debug!(operation, attempt, "the call's deadline passed");
                    return Ok(stand_in(Error::Timeout { source: None }));
                }
                // A request that cannot be built fails the same way every time (the facade
                // reports it as invalid input: see `Error::from_reqwest`).
                Err(e) if e.is_builder() => return Err(e),
                Err(e) => {
                    let reason = if e.is_timeout() {
                        RetryReason::Timeout
                    } else {
                        RetryReason::Connection
                    };
                    tracing::debug!(operation, attempt, error = %reason.as_str(), "no answer");
                    (reason, None, Err(e))
                }
                Ok(Answer::Redirect { status, location }) => {
                    tracing::warn!(operation, attempt, http_status = status, "redirect refused");
                    return Ok(stand_in(Error::Redirect { status, location }));
                }
                Ok(Answer::Refused { status, why }) => {
                    tracing::warn!(
                        operation,
                        attempt,
                        http_status = status,
                        why = why.as_str(),
                        "answer refused"
                    );
                    return Ok(stand_in(Error::UnexpectedResponse {
                        status,
                        reason: why.reason(status),
                        excerpt: String::new(),
                    }));
                }
                Ok(Answer::Complete(answer)) => {
                    tracing::debug!(
                        operation,
                        attempt,
                        http_status = answer.status.as_u16(),
                        status_code = answer.status_code,
                        elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                        "answer"
                    );
                    if !reauthenticated
                        && answer.unauthenticated()
                        && !is_token_request
                        && let Auth::Token(tokens) = &shared.auth
                        && let Some(mut next) = resend
                    {
                        // The token was refused before it expired (revoked, or the server's
                        // clock disagrees): fetch a new one, once, and send again. This is not
                        // a retry of a failure, so it spends neither attempts nor budget.
                        reauthenticated = true;
                        if let Some(sent) = next.headers().get(AUTHORIZATION) {
                            tokens.invalidate(sent);
                        }
                        match token_by(self, deadline).await {
                            Ok(token) => {
                                apply_token(&mut next, &token, shared.brand);
                                request = next;
                                attempt -= 1;
                                continue;
                            }
                            Err(e) => {
                                stash(e);
                                return Ok(answer.into_response());
                            }
                        }
                    }
                    match classify(answer.status.as_u16(), answer.status_code) {
                        None => {
                            // Only a success refills the budget (as aws-sdk's does): a server
                            // alternating 503 and 400 must not keep it full.
                            let success = answer.status.is_success()
                                && answer.status_code.is_none_or(|code| code == 200.0);
                            if success && shared.retry.uses_budget() {
                                shared.budget.deposit(spent);
                            }
                            return Ok(answer.into_response());
                        }
                        Some(reason) => {
                            let hint = retry_after(&answer.headers);
                            (reason, hint, Ok(answer))
                        }
                    }
                }
            };
            let give_up = |why: &str, last: reqwest::Result<Complete>| {
                tracing::debug!(
                    operation,
                    attempt,
                    reason = reason.as_str(),
                    why,
                    "not retried"
                );
                last.map(Complete::into_response)
            };
            if reason == RetryReason::Throttled {
                shared.stats.throttled.fetch_add(1, Ordering::Relaxed);
                if !is_token_request {
                    let _ = CALL.try_with(|call| call.report.borrow_mut().retry_after = wait_hint);
                }
            }
            if reason == RetryReason::Throttled
                && !policy.keep_rate_limit
                && let Some(limit) = &shared.rate_limit
            {
                let rps = limit.throttled(wait_hint);
                tracing::info!(
                    operation,
                    rps,
                    "throttled by the server: rate limit lowered"
                );
            }
            if attempt >= max_attempts {
                return give_up("no attempts left", last);
            }
            let Some(mut next) = resend else {
                return give_up("the request cannot be copied", last);
            };
            let delay = shared.retry.delay(attempt, wait_hint);
            if Instant::now()
                .checked_add(delay)
                .is_none_or(|at| at >= deadline)
            {
                return give_up("the call's deadline comes first", last);
            }
            if shared.retry.uses_budget() {
                if !shared.budget.withdraw(reason) {
                    return give_up("the retry budget is spent", last);
                }
                spent += reason.cost();
            }
            tracing::info!(
                operation,
                attempt,
                reason = reason.as_str(),
                delay_ms = delay.as_secs_f64() * 1e3,
                retry_after = wait_hint.is_some(),
                "retrying"
            );
            shared.stats.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
            // A replayed nonce is refused (apiCode 1306): every attempt is signed afresh.
            if let Auth::Signature(signer) = &shared.auth
                && !is_token_request
            {
                signer.sign_request(&mut next);
            }
            request = next;
        }
    }
}

fn apply_token(request: &mut reqwest::Request, token: &Token, brand: Brand) {
    let headers = request.headers_mut();
    headers.insert(AUTHORIZATION, token.authorization.clone());
    headers.insert(&brand.dialect().userpool, token.user_pool_id.clone());
}

/// An answer, read.
enum Answer {
    Complete(Complete),
    /// A redirect (301, 302, 303, 307, 308): never followed.
    Redirect {
        status: u16,
        location: Option<String>,
    },
    /// An answer refused before (or while) its body was read.
    Refused {
        status: u16,
        why: Refusal,
    },
}

/// Why an answer was refused unread.
#[derive(Clone, Copy)]
enum Refusal {
    /// More than [`MAX_ANSWER_BYTES`], announced or arriving.
    TooLarge,
    /// More than [`MAX_ANSWER_CHUNKS`] pieces.
    TooManyPieces,
    /// A 3xx that is not a redirect: 304 Not Modified (this client never sends a conditional
    /// request), 300 Multiple Choices, 305, 306, or an unassigned one.
    NotARedirect,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::TooLarge => "too large",
            Refusal::TooManyPieces => "too many pieces",
            Refusal::NotARedirect => "a 3xx that is not a redirect",
        }
    }

    /// The reason of the [`Error::UnexpectedResponse`] it becomes.
    fn reason(self, status: u16) -> String {
        match self {
            Refusal::TooLarge => format!(
                "the answer is larger than {} KiB, more than any answer of this operation can be",
                MAX_ANSWER_BYTES / 1024
            ),
            Refusal::TooManyPieces => format!(
                "the answer arrived in more than {MAX_ANSWER_CHUNKS} pieces, where any answer \
                 of this operation takes a few"
            ),
            Refusal::NotARedirect if status == 304 => {
                "304 Not Modified, which this client never asks for".into()
            }
            Refusal::NotARedirect => format!(
                "{status} {}, which is not a redirect and not an answer of this operation",
                StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("(an unassigned 3xx status)")
            ),
        }
    }
}

/// The statuses that send the client elsewhere, all refused.
fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// An answer read whole, with its body's `statusCode` when it is a JSON envelope.
struct Complete {
    status: StatusCode,
    version: http::Version,
    headers: HeaderMap,
    body: Bytes,
    status_code: Option<f64>,
}

impl Complete {
    /// Authing says "unauthenticated" with HTTP 401, or with `statusCode` 401 in HTTP 200.
    fn unauthenticated(&self) -> bool {
        self.status == StatusCode::UNAUTHORIZED || self.status_code == Some(401.0)
    }

    /// The answer again, for the generated code to decode.
    fn into_response(self) -> reqwest::Response {
        let mut rebuilt = http::Response::new(self.body);
        *rebuilt.status_mut() = self.status;
        *rebuilt.version_mut() = self.version;
        *rebuilt.headers_mut() = self.headers;
        rebuilt.into()
    }
}

/// Sends `request` and reads its answer, at most [`MAX_ANSWER_BYTES`] of it.
async fn send(
    client: &reqwest::Client,
    request: reqwest::Request,
    expected_url: Option<&reqwest::Url>,
) -> reqwest::Result<Answer> {
    let mut response = client.execute(request).await?;
    let status = response.status();
    // A caller-supplied client may follow redirects by itself: the answer then comes from
    // elsewhere. Too late to keep the request from going there, but not to refuse the answer.
    if let Some(expected) = expected_url
        && response.url() != expected
    {
        return Ok(Answer::Redirect {
            status: status.as_u16(),
            location: Some(response.url().origin().ascii_serialization()),
        });
    }
    if is_redirect(status) {
        // Only an http(s) target is a place to name: `origin()` of another scheme is "null".
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| response.url().join(l).ok())
            .filter(|target| matches!(target.scheme(), "http" | "https"))
            .map(|target| target.origin().ascii_serialization());
        return Ok(Answer::Redirect {
            status: status.as_u16(),
            location,
        });
    }
    let refused = |why| Answer::Refused {
        status: status.as_u16(),
        why,
    };
    if status.is_redirection() {
        return Ok(refused(Refusal::NotARedirect));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Ok(refused(Refusal::TooLarge));
    }
    let headers = std::mem::take(response.headers_mut());
    let version = response.version();
    // Most answers arrive in one chunk, kept as it is; only several are copied together.
    let mut first: Option<Bytes> = None;
    let mut joined: Vec<u8> = Vec::new();
    let mut pieces = 0;
    while let Some(chunk) = response.chunk().await? {
        pieces += 1;
        if pieces > MAX_ANSWER_CHUNKS {
            return Ok(refused(Refusal::TooManyPieces));
        }
        let so_far = first.as_ref().map_or(0, Bytes::len).max(joined.len());
        if so_far + chunk.len() > MAX_ANSWER_BYTES {
            return Ok(refused(Refusal::TooLarge));
        }
        match &first {
            None => first = Some(chunk),
            Some(head) => {
                if joined.is_empty() {
                    joined.extend_from_slice(head);
                }
                joined.extend_from_slice(&chunk);
            }
        }
    }
    let body = if joined.is_empty() {
        first.unwrap_or_default()
    } else {
        Bytes::from(joined)
    };
    // Only `statusCode` is read: serde skips the rest without allocating.
    #[derive(serde::Deserialize)]
    struct Status {
        #[serde(rename = "statusCode")]
        status_code: f64,
    }
    let status_code = status
        .is_success()
        .then(|| serde_json::from_slice::<Status>(&body).ok())
        .flatten()
        .map(|s| s.status_code);
    Ok(Answer::Complete(Complete {
        status,
        version,
        headers,
        body,
        status_code,
    }))
}
