//! The HTTP side: the accept loop, the rate limit, per-request faults and latency, the three
//! operations and the bindings endpoint.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::{Service as _, service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Sleep;

use super::auth::{self, AuthFailure, Nonces, RequestView, Tokens};
use super::connections::{
    BODY_READ_TIMEOUT, Conn, HEADER_READ_TIMEOUT, Registry, Slot, StallGuard,
};
use super::echo::{ID_CHARS, METHOD_CHARS, PATH_CHARS, SHOWN, clip};
use super::schema::{OperationSpec, Problems, SPEC};
use super::users::{Directory, LookupError, Otp};
use super::{BINDINGS_PATH, Counters, Fault, Operation, RetryAfter, UnauthorizedStyle, codes};

/// Largest request body read; larger ones are refused.
const MAX_BODY: usize = 1 << 20;

/// How long a shutdown waits for in-flight requests before closing their connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The message of Authing's rate-limit answer ([`Fault::TooManyRequests`]).
const THROTTLED_MESSAGE: &str = "您的请求已超过最大数量限制，请稍后重试";

/// What [`Fault::ResetMidBody`] sends of its body before the connection goes.
const RESET_PREFIX: &[u8] = br#"{"statusCode":200,"m"#;

/// The length [`Fault::ResetMidBody`] announces.
const RESET_ANNOUNCED: u64 = 64;

/// How long [`Fault::ResetMidBody`] waits between its bytes and the reset, so that hyper
/// writes them out first.
const RESET_PAUSE: Duration = Duration::from_millis(10);

/// The secret in [`Fault::Trickle`]'s body.
const TRICKLED_SECRET: &str = "TRICKLEDSECRETAA";

/// How [`Fault::Oversized`]'s body starts.
const OVERSIZED_PREFIX: &[u8] = br#"{"statusCode":200,"message":""#;

/// The largest chunk of [`Fault::Oversized`]'s body.
const OVERSIZED_CHUNK: usize = 64 * 1024;

/// [`Fault::Oversized`]'s filler, shared by every chunk.
static FILLER: [u8; OVERSIZED_CHUNK] = [b'x'; OVERSIZED_CHUNK];

/// The rate limit's window.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// About how large each chunk of the bindings endpoint's body is.
const BINDINGS_CHUNK: usize = 64 * 1024;

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
    fn admit(&mut self, now: Instant) -> bool {
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
    other: AtomicU64,
}

impl CounterCells {
    fn record(&self, op: Option<Operation>) {
        let cell = match op {
            Some(Operation::GetManagementToken) => &self.token,
            Some(Operation::ImportOtp) => &self.import,
            Some(Operation::GetOtpSecretByUser) => &self.get_secret,
            None => &self.other,
        };
        cell.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Counters {
        Counters {
            token_requests: self.token.load(Ordering::Relaxed),
            import_otp_requests: self.import.load(Ordering::Relaxed),
            get_otp_secret_requests: self.get_secret.load(Ordering::Relaxed),
            other_requests: self.other.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn reset(&self) {
        for cell in [&self.token, &self.import, &self.get_secret, &self.other] {
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
    fn take_fault(&self, op: Option<Operation>) -> Option<Fault> {
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

    /// The answer to a request that failed authentication, in the configured style.
    fn reject(&self, failure: AuthFailure) -> Response {
        let (api_code, message) = failure.describe();
        let body = error_body(401, api_code, message);
        match self.knobs().unauthorized_style {
            UnauthorizedStyle::Http401 => (StatusCode::UNAUTHORIZED, Json(body)).into_response(),
            UnauthorizedStyle::Http200 => Json(body).into_response(),
        }
    }
}

/// Accepts connections until `shutdown` turns true, then lets in-flight requests finish (for
/// up to [`SHUTDOWN_GRACE`]) and closes everything.
///
/// A connection is accepted only once it has a slot (see [`Registry::reserve`]): while all are
/// taken, new connections wait in the kernel's backlog.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    let router = router(shared.clone());
    let registry = Registry::new(shared.max_connections);
    let mut connections = JoinSet::new();
    let mut stop = shutdown.clone();
    let mut reserved = None;
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            permit = registry.reserve(), if reserved.is_none() => reserved = Some(permit),
            accepted = listener.accept(), if reserved.is_some() => match accepted {
                Ok((stream, _peer)) => {
                    let Some(permit) = reserved.take() else { continue };
                    connections.spawn(serve_connection(
                        stream,
                        router.clone(),
                        shared.clone(),
                        shutdown.clone(),
                        registry.register(permit),
                    ));
                }
                // Out of file descriptors (the process's limit may be below max_connections):
                // free one if a connection idles. Either way, back off instead of spinning.
                Err(e) => {
                    if out_of_descriptors(&e) {
                        registry.evict_longest_waiting();
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, drain).await;
    connections.abort_all();
}

/// Whether `accept` failed for want of a file descriptor: `EMFILE` or `ENFILE` (numbered
/// alike on Linux and the BSDs), `WSAEMFILE` on Windows.
fn out_of_descriptors(e: &io::Error) -> bool {
    let codes: &[i32] = if cfg!(windows) { &[10024] } else { &[23, 24] };
    e.raw_os_error().is_some_and(|code| codes.contains(&code))
}

/// Resolves once `shutdown` is true (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Serves one connection in `slot`. A [`Fault::DropConnection`] notifies `kill`, which drops
/// the connection (closing the socket) without writing a response; so does the registry
/// evicting it while it waits on its client.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    slot: Slot,
) {
    let _ = stream.set_nodelay(true);
    let kill = Arc::new(Notify::new());
    let conn = slot.conn().clone();
    let service = {
        let kill = kill.clone();
        let conn = conn.clone();
        let inner = TowerToHyperService::new(router);
        service_fn(move |mut request: hyper::Request<Incoming>| {
            // The head has arrived: the server works on it, except while a handler waits for
            // the body.
            conn.busy();
            request.extensions_mut().insert(conn.clone());
            let shared = shared.clone();
            let kill = kill.clone();
            let conn = conn.clone();
            let inner = inner.clone();
            async move {
                let response = handle(&shared, &kill, inner, request).await;
                // Then it is up to the client to read the answer and send the next request.
                conn.waiting();
                Ok::<_, Infallible>(response)
            }
        })
    };
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(StallGuard::new(stream)), service);
    tokio::pin!(connection);
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            () = kill.notified() => return,
            () = conn.evicted() => if conn.still_evicted() { return },
            () = stopped(&mut shutdown) => break,
        }
    }
    connection.as_mut().graceful_shutdown();
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            () = kill.notified() => return,
            () = conn.evicted() => if conn.still_evicted() { return },
        }
    }
}

/// Counts the request, applies latency and faults, and hands the rest to the router.
async fn handle(
    shared: &Shared,
    kill: &Notify,
    router: TowerToHyperService<Router>,
    request: hyper::Request<Incoming>,
) -> Response {
    let op = Operation::from_path(request.uri().path());
    shared.counters.record(op);
    // Decided on arrival; the bindings endpoint is exempt (and does not count).
    let over_limit = shared.rate_limited
        && request.uri().path() != BINDINGS_PATH
        && !lock(&shared.rate).admit(Instant::now());
    let latency = shared.knobs().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(fault) = shared.take_fault(op) {
        return match fault {
            Fault::DropConnection => {
                kill.notify_one();
                std::future::pending().await
            }
            Fault::Status(status) => {
                let message = format!(
                    "{} (fault injected by the emulator)",
                    status.canonical_reason().unwrap_or("error")
                );
                let body = json!({
                    "statusCode": status.as_u16(),
                    "message": message,
                    "requestId": auth::request_id(),
                });
                (status, Json(body)).into_response()
            }
            Fault::MalformedBody => raw(
                StatusCode::OK,
                "application/json; charset=utf-8",
                r#"{"statusCode":200,"message":"succ"#.to_owned(),
            ),
            Fault::Raw {
                status,
                content_type,
                body,
            } => raw(status, &content_type, body),
            Fault::TooManyRequests { retry_after } => {
                throttled(StatusCode::TOO_MANY_REQUESTS, retry_after)
            }
            Fault::ThrottledInBody { retry_after } => throttled(StatusCode::OK, retry_after),
            Fault::ResetMidBody => streamed(
                Streamed::Reset {
                    prefix: Some(Bytes::from_static(RESET_PREFIX)),
                    pause: None,
                },
                Some(RESET_ANNOUNCED),
            ),
            Fault::Trickle { interval } => {
                let body = json!({
                    "statusCode": 200,
                    "message": "success",
                    "requestId": auth::request_id(),
                    "data": {"secret": TRICKLED_SECRET},
                });
                let body = Bytes::from(body.to_string());
                let length = body.len() as u64;
                let pause = Box::pin(tokio::time::sleep(interval));
                streamed(
                    Streamed::Trickle {
                        body,
                        interval,
                        pause,
                    },
                    Some(length),
                )
            }
            Fault::Redirect { status, location } => {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = status;
                response
                    .headers_mut()
                    .insert(header::LOCATION, header_value_escaped(&location));
                response
            }
            Fault::Oversized { bytes } => {
                let prefix = &OVERSIZED_PREFIX[..bytes.min(OVERSIZED_PREFIX.len())];
                streamed(
                    Streamed::Oversized {
                        prefix: Bytes::from_static(prefix),
                        remaining: bytes,
                    },
                    None,
                )
            }
        };
    }
    if over_limit {
        return throttled(StatusCode::TOO_MANY_REQUESTS, None);
    }
    match router.call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

fn raw(status: StatusCode, content_type: &str, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let content_type = HeaderValue::from_str(content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
}

/// Authing's rate-limit answer with this HTTP status, and `Retry-After` if given.
fn throttled(status: StatusCode, retry_after: Option<RetryAfter>) -> Response {
    let body = json!({
        "statusCode": 429,
        "message": THROTTLED_MESSAGE,
        "requestId": auth::request_id(),
    });
    let mut response = (status, Json(body)).into_response();
    if let Some(retry_after) = retry_after {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header_value_escaped(&retry_after.header_value()),
        );
    }
    response
}

/// `value` as a header value, with control and non-ASCII bytes percent-encoded (the rest,
/// `%` included, passes unchanged).
fn header_value_escaped(value: &str) -> HeaderValue {
    let mut escaped = String::with_capacity(value.len());
    for b in value.bytes() {
        if b == b' ' || b.is_ascii_graphic() {
            escaped.push(char::from(b));
        } else {
            escaped.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderValue::from_str(&escaped).expect("printable ASCII is a valid header value")
}

/// HTTP 200, `application/json`, with a body produced piece by piece; `length`, if given, is
/// announced in `content-length` whatever the body really holds.
fn streamed(body: Streamed, length: Option<u64>) -> Response {
    let mut response = Response::new(Body::new(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Some(length) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    response
}

/// The bodies of the faults that are written piece by piece.
enum Streamed {
    /// [`Fault::ResetMidBody`]: `prefix`, a pause (so that hyper writes it out), then an
    /// error, on which hyper drops the connection.
    Reset {
        prefix: Option<Bytes>,
        pause: Option<Pin<Box<Sleep>>>,
    },
    /// [`Fault::Trickle`]: what is left of `body`, one byte each time `pause` ends; `pause`
    /// starts again, for `interval`, after each byte.
    Trickle {
        body: Bytes,
        interval: Duration,
        pause: Pin<Box<Sleep>>,
    },
    /// [`Fault::Oversized`]: `remaining` more bytes, `prefix` first, then filler.
    Oversized { prefix: Bytes, remaining: usize },
}

impl hyper::body::Body for Streamed {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Self::Reset { prefix, pause } => {
                if let Some(prefix) = prefix.take() {
                    *pause = Some(Box::pin(tokio::time::sleep(RESET_PAUSE)));
                    return Poll::Ready(Some(Ok(Frame::data(prefix))));
                }
                if let Some(pause) = pause {
                    ready!(pause.as_mut().poll(cx));
                }
                Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "connection reset mid-body (fault injected by the emulator)",
                ))))
            }
            Self::Trickle {
                body,
                interval,
                pause,
            } => {
                if body.is_empty() {
                    return Poll::Ready(None);
                }
                ready!(pause.as_mut().poll(cx));
                // Not `reset(now + interval)`, which would overflow for a huge interval.
                pause.set(tokio::time::sleep(*interval));
                Poll::Ready(Some(Ok(Frame::data(body.split_to(1)))))
            }
            Self::Oversized { prefix, remaining } => {
                if !prefix.is_empty() {
                    let prefix = std::mem::take(prefix);
                    *remaining -= prefix.len();
                    return Poll::Ready(Some(Ok(Frame::data(prefix))));
                }
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let n = (*remaining).min(OVERSIZED_CHUNK);
                *remaining -= n;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&FILLER[..n])))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Trickle { body, .. } => body.is_empty(),
            // Oversized: even an empty one is sent chunked, as the fault documents.
            Self::Reset { .. } | Self::Oversized { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Reset { .. } => SizeHint::with_exact(RESET_ANNOUNCED),
            Self::Trickle { body, .. } => SizeHint::with_exact(body.len() as u64),
            Self::Oversized { .. } => SizeHint::default(),
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            Operation::GetManagementToken.path(),
            post(get_management_token).fallback(not_found),
        )
        .route(
            Operation::ImportOtp.path(),
            post(import_otp).fallback(not_found),
        )
        .route(
            Operation::GetOtpSecretByUser.path(),
            get(get_otp_secret_by_user).fallback(not_found),
        )
        .route(BINDINGS_PATH, get(bindings).fallback(not_found))
        .fallback(not_found)
        .with_state(shared)
}

/// `{"statusCode", "message", "apiCode", "requestId"}`, the shape of every Authing failure.
fn error_body(status_code: u16, api_code: u32, message: &str) -> Value {
    json!({
        "statusCode": status_code,
        "message": message,
        "apiCode": api_code,
        "requestId": auth::request_id(),
    })
}

/// A business error: HTTP 200 with the failure in the body.
fn business(status_code: u16, api_code: u32, message: &str) -> Response {
    Json(error_body(status_code, api_code, message)).into_response()
}

fn invalid_request(problems: &Problems) -> Response {
    business(400, codes::INVALID_REQUEST, &problems.message())
}

fn success(data: Option<Value>) -> Response {
    let mut body = json!({"statusCode": 200, "message": "success"});
    if let Some(data) = data {
        body["data"] = data;
    }
    Json(body).into_response()
}

/// What the NestJS server behind Authing answers for an unknown route (with a long method or
/// path cut short).
async fn not_found(method: Method, uri: Uri) -> Response {
    let body = json!({
        "statusCode": 404,
        "message": format!(
            "Cannot {} {}",
            clip(method.as_str(), METHOD_CHARS),
            clip(uri.path(), PATH_CHARS)
        ),
        "error": "Not Found",
    });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

fn spec(op: Operation) -> OperationSpec<'static> {
    SPEC.operation(op.method(), op.path())
        .expect("the fragment describes every emulated operation")
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// Reads the whole body, for at most [`BODY_READ_TIMEOUT`]; the connection (from the request's
/// extensions) counts as waiting on its client meanwhile.
async fn read_body(
    body: Body,
    extensions: &http::Extensions,
) -> Result<axum::body::Bytes, Response> {
    let conn = extensions.get::<Arc<Conn>>();
    if let Some(conn) = conn {
        conn.waiting();
    }
    let read = tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await;
    if let Some(conn) = conn {
        conn.busy();
    }
    match read {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(_)) => Err(invalid_request(&Problems::one(format!(
            "body: larger than {MAX_BODY} bytes"
        )))),
        Err(_) => Err(body_timeout()),
    }
}

/// The answer to a request whose body did not arrive in time: HTTP 408 in Authing's shape,
/// and the connection closes (what is left of the body can no longer be told from a next
/// request).
fn body_timeout() -> Response {
    let body = json!({
        "statusCode": 408,
        "message": format!(
            "request timeout: the body did not arrive within {} s",
            BODY_READ_TIMEOUT.as_secs()
        ),
        "requestId": auth::request_id(),
    });
    let mut response = (StatusCode::REQUEST_TIMEOUT, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The `expires_in` for a lifetime: whole seconds as an integer, as Authing writes it; a
/// sub-second part (only for tests that want fast expiry) makes it fractional.
pub(crate) fn expires_in(ttl: Duration) -> Value {
    if ttl.subsec_nanos() == 0 {
        json!(ttl.as_secs())
    } else {
        json!(ttl.as_secs_f64())
    }
}

async fn get_management_token(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(failure) = auth::check_dialect(&shared, &parts.headers) {
        return shared.reject(failure);
    }
    let body = match read_body(body, &parts.extensions).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let value =
        match spec(Operation::GetManagementToken).check_body(content_type(&parts.headers), &body) {
            Ok(v) => v.unwrap_or_default(),
            Err(problems) => return invalid_request(&problems),
        };
    let id = value["accessKeyId"].as_str().unwrap_or_default();
    let secret = value["accessKeySecret"].as_str().unwrap_or_default();
    if id != shared.access_key_id
        || !bool::from(
            secret
                .as_bytes()
                .ct_eq(shared.access_key_secret.expose_secret().as_bytes()),
        )
    {
        return business(
            403,
            codes::INVALID_ACCESS_KEY,
            "invalid access key pair: accessKeyId or accessKeySecret is wrong",
        );
    }
    let ttl = shared.knobs().token_ttl;
    let token = shared.tokens().issue(&shared.user_pool_id, ttl);
    success(Some(
        json!({"access_token": token, "expires_in": expires_in(ttl)}),
    ))
}

async fn import_otp(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match read_body(body, &parts.extensions).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let view = RequestView {
        method: &parts.method,
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
    };
    if let Err(failure) = auth::authenticate(&shared, &view) {
        return shared.reject(failure);
    }
    let value = match spec(Operation::ImportOtp).check_body(content_type(&parts.headers), &body) {
        Ok(v) => v.unwrap_or_default(),
        Err(problems) => return invalid_request(&problems),
    };
    let listed = value["list"].as_array().map_or(0, Vec::len);
    let max_list = shared.knobs().max_list;
    if let Some(max) = max_list.filter(|&max| listed > max) {
        let message = format!(
            "request entity too large: list has {listed} items, at most {max} are accepted; \
             nothing was imported"
        );
        let body = error_body(413, codes::LIST_TOO_LARGE, &message);
        return (StatusCode::PAYLOAD_TOO_LARGE, Json(body)).into_response();
    }
    let items: Vec<(&str, Otp)> = value["list"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|item| {
            let mut otp = Otp::new(item["otp"]["secret"].as_str().unwrap_or_default());
            if let Some(code) = item["otp"]["recoveryCode"].as_str() {
                otp = otp.with_recovery_code(code);
            }
            (item["userId"].as_str().unwrap_or_default(), otp)
        })
        .collect();
    // Under the lock, one lookup per item and nothing else: all bound, or none.
    let unknown: Vec<&str> = {
        let mut directory = shared.directory();
        let unknown: Vec<&str> = items
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| !directory.contains(id))
            .collect();
        if unknown.is_empty() {
            for (id, otp) in items {
                directory.bind(id, otp);
            }
            return success(None);
        }
        unknown
    };
    business(
        404,
        codes::USER_NOT_FOUND,
        &format!(
            "users not found: {}; nothing was imported",
            unknown_users(unknown)
        ),
    )
}

/// The first [`SHOWN`] distinct ids of `unknown`, each cut to [`ID_CHARS`] characters, and
/// ` and <n> more` for the other distinct ones.
fn unknown_users(unknown: Vec<&str>) -> String {
    let mut seen = HashSet::with_capacity(unknown.len());
    let distinct: Vec<&str> = unknown.into_iter().filter(|id| seen.insert(*id)).collect();
    let mut names = distinct
        .iter()
        .take(SHOWN)
        .map(|id| clip(id, ID_CHARS))
        .collect::<Vec<_>>()
        .join(", ");
    if distinct.len() > SHOWN {
        names.push_str(&format!(" and {} more", distinct.len() - SHOWN));
    }
    names
}

async fn get_otp_secret_by_user(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let view = RequestView {
        method: &parts.method,
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &[],
    };
    if let Err(failure) = auth::authenticate(&shared, &view) {
        return shared.reject(failure);
    }
    let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) else {
        return invalid_request(&Problems::one("query: not a valid query string".to_owned()));
    };
    let params = match spec(Operation::GetOtpSecretByUser).check_parameters(&pairs, &parts.headers)
    {
        Ok(p) => p,
        Err(problems) => return invalid_request(&problems),
    };
    let user_id = params
        .get("userId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let id_type = params
        .get("userIdType")
        .and_then(Value::as_str)
        .unwrap_or("user_id");
    let directory = shared.directory();
    match directory.resolve(id_type, user_id) {
        Ok(user) => match &user.otp {
            Some(otp) => success(Some(json!({"secret": otp.secret.expose_secret()}))),
            None => business(404, codes::OTP_NOT_BOUND, "the user has no OTP bound"),
        },
        Err(LookupError::NotFound) => business(
            404,
            codes::USER_NOT_FOUND,
            &format!("user not found (userIdType {id_type})"),
        ),
        Err(LookupError::Ambiguous(n)) => business(
            409,
            codes::AMBIGUOUS_USER,
            &format!("{n} users match this custom_field id; it must identify exactly one user"),
        ),
        Err(LookupError::Malformed(shape)) => invalid_request(&Problems::one(format!(
            "userId: a {id_type} id must be {shape}"
        ))),
    }
}

/// `GET /__emulator/bindings`: every binding as JSON Lines, sorted by user id. Not
/// authenticated: the emulator only listens on loopback.
async fn bindings(State(shared): State<Arc<Shared>>) -> Response {
    let mut response = Response::new(Body::new(BindingLines {
        shared,
        after: None,
        done: false,
    }));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

/// One line of the bindings endpoint.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BindingLine<'a> {
    user_id: &'a str,
    secret: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_code: Option<&'a str>,
}

/// The bindings endpoint's body, written a page of lines at a time as the client reads, each
/// page read from the directory then: neither the lock nor a copy of every binding is held
/// while the client reads.
struct BindingLines {
    shared: Arc<Shared>,
    /// The last user id written.
    after: Option<String>,
    done: bool,
}

impl hyper::body::Body for BindingLines {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let page = this
            .shared
            .directory()
            .bindings_after(this.after.as_deref(), BINDINGS_CHUNK);
        let Some((last, _)) = page.last() else {
            this.done = true;
            return Poll::Ready(None);
        };
        this.after = Some(last.clone());
        let mut chunk = Vec::new();
        for (user_id, otp) in &page {
            let line = BindingLine {
                user_id,
                secret: otp.secret.expose_secret(),
                recovery_code: otp.recovery_code.as_ref().map(|c| c.expose_secret()),
            };
            serde_json::to_writer(&mut chunk, &line).expect("strings serialize into a Vec");
            chunk.push(b'\n');
        }
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
    }

    fn is_end_stream(&self) -> bool {
        self.done
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

    #[test]
    fn success_bodies_match_the_documented_responses() {
        let token = json!({"statusCode": 200, "message": "success",
            "data": {"access_token": "a.b.c", "expires_in": expires_in(Duration::from_secs(7200))}});
        assert!(
            spec(Operation::GetManagementToken)
                .check_response(&token)
                .is_empty()
        );
        let fractional = json!({"statusCode": 200, "message": "success",
            "data": {"access_token": "a.b.c", "expires_in": expires_in(Duration::from_millis(1500))}});
        assert!(
            spec(Operation::GetManagementToken)
                .check_response(&fractional)
                .is_empty()
        );
        let import = json!({"statusCode": 200, "message": "success"});
        assert!(
            spec(Operation::ImportOtp)
                .check_response(&import)
                .is_empty()
        );
        let secret = json!({"statusCode": 200, "message": "success", "data": {"secret": "S"}});
        assert!(
            spec(Operation::GetOtpSecretByUser)
                .check_response(&secret)
                .is_empty()
        );
        // Failures carry no data, which the documented schemas (written for success) require;
        // only the common fields are checked.
        let failure = error_body(404, codes::USER_NOT_FOUND, "user not found");
        assert!(
            spec(Operation::ImportOtp)
                .check_response(&failure)
                .is_empty()
        );
    }
}
