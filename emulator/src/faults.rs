//! Injected faults: what a request gets instead of its answer (see
//! [`Emulator::fail_next`](crate::Emulator::fail_next)), and the bodies of the faults that are
//! written piece by piece. Which request gets which fault is decided in [`crate::state`]; this
//! module only turns a fault into what is sent.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use hyper::body::{Bytes, Frame, SizeHint};
use serde_json::json;
use tokio::time::Sleep;

use crate::random::request_id;

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

/// What a failed request gets instead of its normal answer (see
/// [`Emulator::fail_next`](crate::Emulator::fail_next)).
///
/// The statuses are [`StatusCode`](crate::StatusCode)s, re-exported by this crate:
///
/// ```
/// use authing_otp_emulator::{Emulator, Fault, Operation, StatusCode};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let emulator = Emulator::builder().start().await?;
/// emulator.fail_next(2, Fault::Status(StatusCode::SERVICE_UNAVAILABLE));
/// emulator.fail_next_on(
///     Operation::ImportOtp,
///     1,
///     Fault::Raw {
///         status: StatusCode::BAD_GATEWAY,
///         content_type: "text/html".to_owned(),
///         body: "<html>502 Bad Gateway</html>".to_owned(),
///     },
/// );
/// assert_eq!(emulator.pending_faults(), 3);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// This HTTP status, with an Authing-style JSON body `{"statusCode": <status>, "message",
    /// "requestId"}` (e.g. 429, 500, 503).
    Status(StatusCode),
    /// The connection is closed after the request is read, without any response.
    DropConnection,
    /// HTTP 200, `content-type: application/json`, and a body cut off mid-object (not JSON).
    MalformedBody,
    /// Any status, content type and body, e.g. a gateway's HTML error page.
    Raw {
        /// The HTTP status.
        status: StatusCode,
        /// The `content-type` header.
        content_type: String,
        /// The body.
        body: String,
    },
    /// Rate limiting as an HTTP status: HTTP 429, `content-type: application/json`, the body
    /// Authing sends, `{"statusCode":429,"message":"您的请求已超过最大数量限制，请稍后重试",
    /// "requestId":"<uuid>"}`, and a `Retry-After` header when `retry_after` is set (none
    /// otherwise).
    TooManyRequests {
        /// The `Retry-After` header, if any.
        retry_after: Option<RetryAfter>,
    },
    /// Rate limiting in the body, Authing's other style: the body of
    /// [`TooManyRequests`](Self::TooManyRequests) (`"statusCode":429` included) with HTTP 200,
    /// and a `Retry-After` header when `retry_after` is set (none otherwise).
    ThrottledInBody {
        /// The `Retry-After` header, if any.
        retry_after: Option<RetryAfter>,
    },
    /// A connection reset in the middle of the body: HTTP 200, `content-type:
    /// application/json`, `content-length: 64`, then only the first 20 bytes of a JSON object
    /// (`{"statusCode":200,"m`), after which the connection is closed without the other 44. A
    /// client reading the body gets an error, never a short body.
    ResetMidBody,
    /// A slow body: HTTP 200, `content-type: application/json`, a `content-length`, and a
    /// valid getOtpSecretByUser success, `{"statusCode":200,"message":"success","requestId":
    /// "<uuid>","data":{"secret":"TRICKLEDSECRETAA"}}` (whatever the path), written one byte
    /// at a time with `interval` before each byte. The status and headers are sent at once,
    /// so this exercises a client's timeout while it reads the body.
    Trickle {
        /// The pause before each byte of the body.
        interval: Duration,
    },
    /// A redirect: this status (meant for 3xx, e.g. 302, 307, 308) with a `location` header
    /// and an empty body (`content-length: 0`). Control and non-ASCII bytes of `location` are
    /// sent percent-encoded; everything else (`%` included) as given.
    Redirect {
        /// The HTTP status.
        status: StatusCode,
        /// The `location` header.
        location: String,
    },
    /// A body larger than any client should accept: HTTP 200, `content-type:
    /// application/json`, no `content-length` (`transfer-encoding: chunked`), and exactly
    /// `bytes` bytes that start like an Authing envelope, `{"statusCode":200,"message":"`
    /// (cut short if `bytes` is smaller), followed by `x` up to the end, so the body is never
    /// valid JSON. It is produced in chunks of at most 64 KiB as the client reads, never held
    /// whole in memory, so a client has to enforce its own size limit.
    Oversized {
        /// The exact length of the body.
        bytes: usize,
    },
}

/// The `Retry-After` header of [`Fault::TooManyRequests`] and [`Fault::ThrottledInBody`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryAfter {
    /// A delay in seconds: `Retry-After: 3`.
    Seconds(u64),
    /// A point in time, as an HTTP date in GMT to the second (the sub-second part is dropped):
    /// `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`.
    At(SystemTime),
}

impl RetryAfter {
    /// The header value.
    fn header_value(self) -> String {
        match self {
            Self::Seconds(seconds) => seconds.to_string(),
            Self::At(at) => httpdate::fmt_http_date(at),
        }
    }
}

/// What is sent for `fault`: `None` for [`Fault::DropConnection`], whose connection is to be
/// closed without any answer (which only the connection's server can do).
pub(crate) fn response(fault: Fault) -> Option<Response> {
    Some(match fault {
        Fault::DropConnection => return None,
        Fault::Status(status) => {
            let message = format!(
                "{} (fault injected by the emulator)",
                status.canonical_reason().unwrap_or("error")
            );
            let body = json!({
                "statusCode": status.as_u16(),
                "message": message,
                "requestId": request_id(),
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
                "requestId": request_id(),
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
    })
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

/// Authing's rate-limit answer with this HTTP status, and `Retry-After` if given: the answer
/// of the throttling faults, and of the rate limit.
pub(crate) fn throttled(status: StatusCode, retry_after: Option<RetryAfter>) -> Response {
    let body = json!({
        "statusCode": 429,
        "message": THROTTLED_MESSAGE,
        "requestId": request_id(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_dropped_connection_has_no_answer() {
        assert!(response(Fault::DropConnection).is_none());
        let status = response(Fault::Status(StatusCode::SERVICE_UNAVAILABLE)).unwrap();
        assert_eq!(status.status(), StatusCode::SERVICE_UNAVAILABLE);
        let redirect = response(Fault::Redirect {
            status: StatusCode::FOUND,
            location: "/elsewhere".to_owned(),
        })
        .unwrap();
        assert_eq!(redirect.status(), StatusCode::FOUND);
        assert_eq!(redirect.headers()[header::LOCATION], "/elsewhere");
    }
}
