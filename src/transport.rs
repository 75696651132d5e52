//! One attempt on the wire: the generated client's hooks, which only decorate a request and
//! bound its answer.
//!
//! The call ([`crate::call`]) decides everything else. For each attempt it hands the
//! generated client a [`HookState`] holding what the attempt sends: the client's headers, and
//! the token it obtained (or "sign this"). Progenitor's builder then makes the request,
//! `pre` decorates it (the dialect's headers, then the token or the signature, last, so that a
//! signature covers the request exactly as it leaves), and `exec` sends it and hands back an
//! answer whose body cannot be read past [`MAX_ANSWER_BYTES`] or [`MAX_ANSWER_PIECES`]: reading
//! further fails with an [`AnswerRefused`] in the error's source chain, which the call finds.
//! The body stays under the request's own timeout, which reqwest applies from connecting to the
//! body's end: the client's (set on the HTTP client this crate builds, and on each request sent
//! through a caller's), or what is left of the call's deadline when that is shorter.
//!
//! Why hooks that only decorate and bound: a hook can fail only with progenitor's untyped
//! errors, so anything that decides (retry, refresh, give up) belongs to the call, where a typed
//! error is a plain return value. Wrapping the body is the one way to bound an answer that
//! progenitor itself reads, without reading it twice.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use progenitor_client::{ClientHooks, OperationInfo};
use reqwest::{ResponseBuilderExt as _, header::AUTHORIZATION};

use crate::{
    attempt::{CallAuth, HookState},
    generated::Client,
};

/// The largest answer read. Every answer of these operations is well under 1 KiB, and an
/// error page a few KiB; a bigger body is refused as it arrives, without buffering it.
pub(crate) const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// The most pieces (chunks of the HTTP body) an answer may arrive in. Every answer of these
/// operations takes a few; a server sending 256 KiB a byte at a time cost 16 seconds of CPU
/// before [`MAX_ANSWER_BYTES`] stopped it. Time is bounded too: the attempt's timeout covers
/// reading the body.
pub(crate) const MAX_ANSWER_PIECES: usize = 1024;

impl ClientHooks<HookState> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        _info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        let state = &self.inner;
        if let Some(timeout) = state.timeout {
            *request.timeout_mut() = Some(timeout);
        }
        let headers = request.headers_mut();
        for (name, value) in &state.decor.headers {
            headers.insert(name, value.clone());
        }
        // Last: a signature covers the request exactly as it leaves.
        match &state.auth {
            CallAuth::None => {}
            CallAuth::Token(token) => {
                headers.insert(AUTHORIZATION, token.authorization.clone());
                headers.insert(&state.decor.userpool, token.user_pool_id.clone());
            }
            CallAuth::Signature => {
                if let Some(signer) = &state.decor.signer {
                    signer.sign_request(request);
                }
            }
        }
        Ok(())
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        _info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        // Only a caller's client can have followed a redirect by itself.
        let expected = self
            .inner
            .decor
            .foreign_client
            .then(|| request.url().clone());
        let response = self.client.execute(request).await?;
        let refused = match expected {
            Some(expected) if *response.url() != expected => Some(AnswerRefused::Redirected {
                status: response.status().as_u16(),
                origin: response.url().origin().ascii_serialization(),
            }),
            _ => None,
        };
        Ok(bounded(response, refused))
    }
}

/// Why an answer's body was not read: found in the source chain of the error reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AnswerRefused {
    /// More than [`MAX_ANSWER_BYTES`], announced or arriving.
    TooLarge,
    /// More than [`MAX_ANSWER_PIECES`].
    TooManyPieces,
    /// The answer came from elsewhere: the caller's HTTP client followed a redirect.
    Redirected {
        /// The status of the answer from elsewhere.
        status: u16,
        /// Where it came from: scheme, host and port only.
        origin: String,
    },
}

impl fmt::Display for AnswerRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerRefused::TooLarge => write!(
                f,
                "the answer is larger than {} KiB, more than any answer of this operation can be",
                MAX_ANSWER_BYTES / 1024
            ),
            AnswerRefused::TooManyPieces => write!(
                f,
                "the answer arrived in more than {MAX_ANSWER_PIECES} pieces, where any answer of \
                 this operation takes a few"
            ),
            AnswerRefused::Redirected { origin, .. } => {
                write!(
                    f,
                    "the answer came from {origin}, not from where it was sent"
                )
            }
        }
    }
}

impl std::error::Error for AnswerRefused {}

/// `response`, its body bounded (or refused outright with `refused`).
fn bounded(response: reqwest::Response, refused: Option<AnswerRefused>) -> reqwest::Response {
    let refused = refused.or_else(|| {
        response
            .content_length()
            .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
            .then_some(AnswerRefused::TooLarge)
    });
    let url = response.url().clone();
    let (parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
    let body = reqwest::Body::wrap(Bounded {
        inner: body,
        left: MAX_ANSWER_BYTES,
        pieces: 0,
        refused,
    });
    // Rebuilt with its URL, so that reqwest does not parse a placeholder.
    let mut rebuilt = http::Response::builder()
        .status(parts.status)
        .version(parts.version)
        .url(url);
    if let Some(headers) = rebuilt.headers_mut() {
        *headers = parts.headers;
    }
    if let Some(extensions) = rebuilt.extensions_mut() {
        extensions.extend(parts.extensions);
    }
    match rebuilt.body(body) {
        Ok(rebuilt) => rebuilt.into(),
        // The parts came from a valid answer: cannot happen.
        Err(_) => unreachable!("an answer's own parts make an answer"),
    }
}

/// A body that cannot be read past a size or a number of pieces.
struct Bounded<B> {
    inner: B,
    left: usize,
    pieces: usize,
    /// Refused before anything is read.
    refused: Option<AnswerRefused>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<B> Body for Bounded<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(refused) = self.refused.take() {
            return Poll::Ready(Some(Err(Box::new(refused))));
        }
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let Some(data) = frame.data_ref() {
            self.pieces += 1;
            if self.pieces > MAX_ANSWER_PIECES {
                return Poll::Ready(Some(Err(Box::new(AnswerRefused::TooManyPieces))));
            }
            if data.len() > self.left {
                return Poll::Ready(Some(Err(Box::new(AnswerRefused::TooLarge))));
            }
            self.left -= data.len();
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.refused.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The [`AnswerRefused`] in `error`'s source chain, if there is one.
pub(crate) fn refused_in<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a AnswerRefused> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(refused) = e.downcast_ref::<AnswerRefused>() {
            return Some(refused);
        }
        cause = e.source();
    }
    None
}
