//! The crate's one error type.

use std::{fmt, sync::Arc};

use crate::redact::{EXCERPT_CHARS, clean, truncate};

/// Everything that can go wrong talking to the Authing management API.
///
/// Match on [`Error::kind`] for a stable, `Copy` classification, and ask
/// [`Error::is_retryable`] whether sending the same request again is safe and may succeed.
/// No variant's `Display` or `Debug` contains the access key secret, a token, an OTP secret or a
/// recovery code. The variants can be matched (with `..`) but are made only by this crate.
///
/// ```
/// use authing_otp::{ErrorKind, UserRef};
///
/// let err = UserRef::email("").unwrap_err();
/// let err = authing_otp::Error::from(err);
/// assert_eq!(err.kind(), ErrorKind::InvalidInput);
/// assert!(!err.is_retryable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API answered with a `statusCode` other than 200 (in an HTTP 200 body or not).
    #[error(transparent)]
    #[non_exhaustive]
    Api(ApiError),
    /// The API rejected the credentials (HTTP 401 or `statusCode` 401), even after the token was
    /// refreshed and the request sent once more.
    #[error("not authenticated: {0}")]
    #[non_exhaustive]
    Unauthenticated(ApiError),
    /// No management token could be obtained. The cause, when there is one, is the
    /// [`source`](std::error::Error::source) and decides [`Error::kind`] and
    /// [`Error::is_retryable`]. Callers that were waiting on the same failed token request share
    /// its error.
    #[error("could not obtain a management token: {reason}")]
    #[non_exhaustive]
    Token {
        /// What went wrong, in this crate's words (the cause's own message is the source's).
        reason: String,
        /// The underlying error, where there is one.
        #[source]
        source: Option<Arc<Error>>,
    },
    /// The request could not be sent or its answer not received (connection refused or reset,
    /// TLS, a broken body). The transport's error is the source; it never carries the URL, whose
    /// query holds the user id.
    #[error("the request could not be sent or its answer not received")]
    #[non_exhaustive]
    Transport(#[source] reqwest::Error),
    /// No answer came in time: within one attempt's timeout (the transport's error is the
    /// source) or within the whole call's deadline (no source).
    #[error("{}", if .source.is_some() { "the request timed out" } else { "the call's deadline passed" })]
    #[non_exhaustive]
    Timeout {
        /// The transport's timeout error, for a single attempt's timeout.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// The server answered with a redirect, which is never followed: it would carry the access
    /// key secret, the token or the OTP secrets to wherever it points.
    ///
    /// Only 301, 302, 303, 307 and 308 are redirects; another 3xx (a 304 Not Modified, which
    /// this client never asks for, a 300 Multiple Choices, …) is an
    /// [`Error::UnexpectedResponse`]. When a client given to
    /// [`http_client`](crate::ManagementClientBuilder::http_client) followed the redirect by
    /// itself, `status` is that of the answer from where it led.
    #[error("{}", describe_redirect(*.status, .location.as_deref()))]
    #[non_exhaustive]
    Redirect {
        /// The HTTP status (301, 302, 303, 307 or 308; that of the answer from elsewhere when
        /// a caller-supplied client followed the redirect).
        status: u16,
        /// The origin (scheme, host, port) of the `location` header, never its path or query;
        /// `None` when the answer named no usable location.
        location: Option<String>,
    },
    /// The answer was not the JSON the spec promises, or was larger than any answer of these
    /// operations can be.
    #[error(
        "unexpected response (HTTP {status}): {reason}{}{excerpt}",
        if .excerpt.is_empty() { "" } else { "; body: " }
    )]
    #[non_exhaustive]
    UnexpectedResponse {
        /// The HTTP status.
        status: u16,
        /// Why the answer was not accepted.
        reason: String,
        /// The start of the body, with secret-bearing JSON fields and the call's own secrets
        /// redacted and control characters escaped; empty when there is nothing to show
        /// (`Display` then leaves out `; body:`).
        excerpt: String,
    },
    /// The input was refused before anything was sent.
    #[error("invalid input: {0}")]
    #[non_exhaustive]
    InvalidInput(InputError),
    /// The client is misconfigured (missing credentials, a bad host, …).
    #[error("bad configuration: {0}")]
    #[non_exhaustive]
    Config(String),
}

impl From<InputError> for Error {
    fn from(e: InputError) -> Self {
        Error::InvalidInput(e)
    }
}

/// What [`Error::Redirect`] says: where to, when the answer named a place, and whether it was
/// refused or, by a caller-supplied client, already followed.
fn describe_redirect(status: u16, location: Option<&str>) -> String {
    match location {
        // Not a 3xx: a client given to `http_client` followed the redirect itself.
        Some(to) if !(300..400).contains(&status) => format!(
            "the request was redirected to {to} by the HTTP client given to the builder, which \
             follows redirects; its answer (HTTP {status}) was refused"
        ),
        Some(to) => {
            format!(
                "the server answered HTTP {status} redirecting to {to}; redirects are not followed"
            )
        }
        None => format!(
            "the server answered HTTP {status}, a redirect without a usable location; redirects \
             are not followed"
        ),
    }
}

/// A `Copy` classification of [`Error`], for matching.
///
/// ```
/// use authing_otp::{Error, ErrorKind};
///
/// fn advice(e: &Error) -> &'static str {
///     match e.kind() {
///         ErrorKind::InvalidInput | ErrorKind::Config => "fix the call",
///         ErrorKind::Authentication => "check the access key pair",
///         _ if e.is_retryable() => "try again later",
///         _ => "report it, with e.request_id()",
///     }
/// }
/// let err = authing_otp::ManagementClient::builder().build().unwrap_err(); // no access key
/// assert_eq!(advice(&err), "fix the call");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`Error::Api`].
    Api,
    /// See [`Error::Unauthenticated`] and [`Error::Token`].
    Authentication,
    /// See [`Error::Transport`].
    Transport,
    /// See [`Error::Timeout`].
    Timeout,
    /// See [`Error::UnexpectedResponse`].
    UnexpectedResponse,
    /// See [`Error::Redirect`].
    Redirect,
    /// See [`Error::InvalidInput`].
    InvalidInput,
    /// See [`Error::Config`].
    Config,
}

/// What the API said when it said no.
///
/// ```no_run
/// # async fn demo(client: authing_otp::ManagementClient, user: authing_otp::UserRef) {
/// if let Err(e) = client.get_otp_secret_by_user(&user).await {
///     if let Some(api) = e.api_error() {
///         eprintln!("statusCode {} apiCode {:?}: {}", api.status_code, api.api_code, api.message);
///     }
/// }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP status of the answer (Authing often answers HTTP 200 with a failing
    /// `statusCode`).
    pub http_status: u16,
    /// The body's `statusCode`, exactly: an answer whose `statusCode` is not a whole number
    /// (`200.5`), or is too large to be exact (±2⁵³ or beyond), is an
    /// [`Error::UnexpectedResponse`] instead, never shown as another number.
    pub status_code: i64,
    /// The body's `apiCode`, a finer error kind, when present; held to the same rule as
    /// `status_code`.
    pub api_code: Option<i64>,
    /// The body's `message`, control characters escaped, the call's secrets redacted, and cut
    /// to 1000 characters (with `…`).
    pub message: String,
    /// The body's `requestId`, when present: quote it to Authing support. Cleaned as
    /// `message` is, and cut to 200 characters.
    pub request_id: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the Authing API said no: statusCode {}",
            self.status_code
        )?;
        if let Some(code) = self.api_code {
            write!(f, ", apiCode {code}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " (requestId {id})")?;
        }
        if self.http_status != 200 {
            write!(f, " [HTTP {}]", self.http_status)?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// The longest `message` an [`ApiError`] (or an import's receipt) keeps, in characters.
pub(crate) const MESSAGE_CHARS: usize = 1000;
/// The longest `requestId` an [`ApiError`] (or an import's receipt) keeps, in characters
/// (Authing's are 32).
pub(crate) const REQUEST_ID_CHARS: usize = 200;
/// How much of a server's text is kept until the call's secrets are scrubbed from it, as a
/// multiple of what is shown: a secret that straddles the cut would otherwise survive in part.
pub(crate) const KEPT_UNTIL_SCRUBBED: usize = 20;

impl ApiError {
    /// Whether the API rejected the credentials.
    pub fn is_unauthenticated(&self) -> bool {
        self.http_status == 401 || self.status_code == 401
    }
}

/// Input refused before anything was sent: which item, which field, and why.
///
/// The reason never repeats a secret's value.
///
/// ```
/// let err = authing_otp::OtpImport::new("u1", "not base32!").unwrap_err();
/// assert_eq!(err.field(), "secret");
/// assert!(!err.to_string().contains("not base32"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct InputError {
    item: Option<usize>,
    field: &'static str,
    reason: String,
}

impl InputError {
    /// Refuses `field` (named as on the wire) for `reason`, which must not quote a secret.
    ///
    /// Not part of the API: the `authing-otp` command's import reader reports its own checks
    /// of a file's fields with it, so that they read as the client's do.
    #[doc(hidden)]
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        InputError {
            item: None,
            field,
            reason: reason.into(),
        }
    }

    /// The same error, said of the item at `index` (0-based) of a list.
    pub fn at_item(mut self, index: usize) -> Self {
        self.item = Some(index);
        self
    }

    /// The 0-based index of the offending item in a list, if the input was a list.
    pub fn item(&self) -> Option<usize> {
        self.item
    }

    /// The field at fault, named as on the wire (`userId`, `secret`, `recoveryCode`, …).
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// Why the value was refused.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(i) = self.item {
            write!(f, "item {i}: ")?;
        }
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl Error {
    /// The kind of error, for matching.
    ///
    /// A [`Error::Token`] error takes its cause's kind when the token endpoint could not be
    /// reached or failed (a timeout is [`ErrorKind::Timeout`], a 503 [`ErrorKind::Api`]), and
    /// is [`ErrorKind::Authentication`] when it refused the access key pair.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Api(_) => ErrorKind::Api,
            Error::Unauthenticated(_) => ErrorKind::Authentication,
            Error::Token { source, .. } => match source.as_deref() {
                Some(cause) if cause.is_retryable() => cause.kind(),
                Some(cause @ (Error::Redirect { .. } | Error::UnexpectedResponse { .. })) => {
                    cause.kind()
                }
                _ => ErrorKind::Authentication,
            },
            Error::Transport(_) => ErrorKind::Transport,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Redirect { .. } => ErrorKind::Redirect,
            Error::UnexpectedResponse { .. } => ErrorKind::UnexpectedResponse,
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::Config(_) => ErrorKind::Config,
        }
    }

    /// Whether the same request may succeed if sent again, and doing so is safe.
    ///
    /// True exactly for what the client itself retries (see [`RetryConfig`](crate::RetryConfig)):
    /// transport failures and timeouts, 429, and HTTP 500/502/503/504 or `statusCode`
    /// 500/502/503 (with a JSON body or not), and a token request that failed for one of these
    /// reasons. False for refusals that will not change (bad input, other 4xx business errors
    /// including 413, rejected credentials, redirects, bad configuration), other statuses, and
    /// answers that are not the promised JSON. Every operation of this crate is idempotent
    /// (a token request, a read, and an import that binds the same secret again), so a retry
    /// after an ambiguous failure does no harm. The client has retried already, as its
    /// [`RetryConfig`](crate::RetryConfig) allows, before returning such an error.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api(e) => {
                crate::retry::classify(e.http_status, Some(e.status_code as f64)).is_some()
            }
            Error::Token { source, .. } => source.as_deref().is_some_and(Error::is_retryable),
            // A request that could not even be built fails the same way again.
            Error::Transport(e) => !e.is_builder(),
            Error::Timeout { .. } => true,
            Error::UnexpectedResponse { status, .. } => {
                crate::retry::classify(*status, None).is_some()
            }
            Error::Redirect { .. }
            | Error::Unauthenticated(_)
            | Error::InvalidInput(_)
            | Error::Config(_) => false,
        }
    }

    /// This error and its causes, `: `-separated, each saying its own part once: what
    /// anyhow's `{:#}` prints, for programs that print errors themselves.
    ///
    /// ```
    /// let err = authing_otp::ManagementClient::builder()
    ///     .access_key("ak", "sk")
    ///     .host("ftp://api.authing.cn")
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(
    ///     err.display_chain(),
    ///     "bad configuration: the host `ftp://api.authing.cn` is not an http(s) URL such as \
    ///      https://api.authing.cn"
    /// );
    /// ```
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

    /// The refused input, for [`Error::InvalidInput`].
    pub fn input_error(&self) -> Option<&InputError> {
        match self {
            Error::InvalidInput(e) => Some(e),
            _ => None,
        }
    }

    /// The API's answer, for [`Error::Api`] and [`Error::Unauthenticated`].
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) | Error::Unauthenticated(e) => Some(e),
            Error::Token { source, .. } => source.as_deref().and_then(Error::api_error),
            _ => None,
        }
    }

    /// The HTTP status of the answer, when there was one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Api(e) | Error::Unauthenticated(e) => Some(e.http_status),
            Error::UnexpectedResponse { status, .. } => Some(*status),
            Error::Redirect { status, .. } => Some(*status),
            Error::Transport(e) => e.status().map(|s| s.as_u16()),
            Error::Timeout { source } => {
                source.as_ref().and_then(|e| e.status()).map(|s| s.as_u16())
            }
            Error::Token { source, .. } => source.as_deref().and_then(Error::http_status),
            _ => None,
        }
    }

    /// The body's `apiCode`, when the API said no with one.
    pub fn api_code(&self) -> Option<i64> {
        self.api_error().and_then(|e| e.api_code)
    }

    /// The body's `requestId`, when the API sent one.
    pub fn request_id(&self) -> Option<&str> {
        self.api_error().and_then(|e| e.request_id.as_deref())
    }

    /// The body's `statusCode` (Authing's business status, often in an HTTP 200 answer), when
    /// the API answered with one that says no.
    ///
    /// ```no_run
    /// # async fn demo(client: authing_otp::ManagementClient, user: authing_otp::UserRef) {
    /// match client.get_otp_secret_by_user(&user).await {
    ///     Err(e) if e.status_code() == Some(404) => { /* no such user, or no OTP bound */ }
    ///     Err(e) => eprintln!("{}", e.display_chain()),
    ///     Ok(_secret) => {}
    /// }
    /// # }
    /// ```
    pub fn status_code(&self) -> Option<i64> {
        self.api_error().map(|e| e.status_code)
    }

    /// Whether the API said that what was asked for does not exist: `statusCode` 404 in an
    /// answer of Authing's business errors (HTTP 200), such as an unknown user or a user with
    /// no OTP bound. A route that does not exist (HTTP 404, a wrong host or path) is not: it is
    /// about the endpoint, not the user. [`Error::kind`] stays [`ErrorKind::Api`].
    pub fn is_not_found(&self) -> bool {
        self.api_error()
            .is_some_and(|e| e.status_code == 404 && e.http_status == 200)
    }

    /// A transport error, without its URL: the query holds the user id, often an email
    /// address or a phone number. A request that could not even be built (reqwest's "builder
    /// error": a URL too long for HTTP, a value a header cannot hold) was never sent: it is
    /// the input's fault, not the network's, and fails the same way again.
    pub(crate) fn from_reqwest(e: reqwest::Error) -> Self {
        let e = e.without_url();
        if e.is_builder() {
            // The causes say what was wrong (`invalid uri character`, …), never the value.
            let mut why = Vec::new();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                why.push(c.to_string());
                cause = c.source();
            }
            let why = match why.join(": ") {
                why if why.is_empty() => String::new(),
                why => format!(" ({})", truncate(&clean(&why, &[]), EXCERPT_CHARS)),
            };
            return InputError::new(
                "request",
                format!("cannot be made into an HTTP request{why}; nothing was sent"),
            )
            .into();
        }
        if e.is_timeout() {
            Error::Timeout { source: Some(e) }
        } else {
            Error::Transport(e)
        }
    }

    /// This error with every `secret` replaced by `<redacted>` (ASCII case ignored) and control
    /// characters escaped, wherever the server's words reach its text: `message`, `requestId`
    /// and excerpts. Secrets shorter than 4 characters are left alone: redacting them would
    /// garble the message without protecting anything.
    pub(crate) fn scrubbed(mut self, secrets: &[&str]) -> Self {
        match &mut self {
            Error::Api(api) | Error::Unauthenticated(api) => {
                // Scrubbed whole, then cut, as excerpts are.
                api.message = truncate(&clean(&api.message, secrets), MESSAGE_CHARS);
                api.request_id = api
                    .request_id
                    .as_deref()
                    .map(|id| truncate(&clean(id, secrets), REQUEST_ID_CHARS));
            }
            Error::UnexpectedResponse {
                reason, excerpt, ..
            } => {
                *reason = clean(reason, secrets);
                // Scrubbed whole, then cut: a cut first could leave half a secret behind.
                *excerpt = truncate(&clean(excerpt, secrets), EXCERPT_CHARS);
            }
            Error::Token { reason, .. } => *reason = clean(reason, secrets),
            Error::Redirect { location, .. } => {
                *location = location
                    .as_deref()
                    .map(|l| truncate(&clean(l, secrets), EXCERPT_CHARS));
            }
            Error::Transport(_)
            | Error::Timeout { .. }
            | Error::InvalidInput(_)
            | Error::Config(_) => {}
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15: a request too big to make was a `Transport` error saying "builder error".
    #[tokio::test]
    async fn a_request_that_cannot_be_built_is_invalid_input() {
        let Ok(http) = crate::tls::http_client_builder()
            .and_then(|b| b.build().map_err(|e| Error::Config(e.to_string())))
        else {
            return; // no TLS provider in this build
        };
        let long = format!("http://127.0.0.1:9/?userId={}", "a".repeat(120 * 1024));
        let errors = [
            http.get("http://[::1").build().unwrap_err(),
            http.get(&long).send().await.unwrap_err(),
        ];
        for e in errors {
            assert!(e.is_builder(), "{e:?}");
            let err = Error::from_reqwest(e);
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
            assert!(!err.is_retryable());
            let text = err.display_chain();
            assert_eq!(err.input_error().unwrap().field(), "request");
            assert!(
                text.starts_with("invalid input: request: cannot be made into an HTTP request"),
                "{text}"
            );
            assert!(text.ends_with("; nothing was sent"), "{text}");
            assert!(!text.contains("aaaa") && text.len() < 400, "{text}");
        }
    }

    #[test]
    fn api_errors_keep_a_bounded_message_and_request_id() {
        let body = serde_json::json!({
            "statusCode": 400,
            "message": format!("{}HZ2F6J3AGNAVSOTV", "m".repeat(MESSAGE_CHARS - 8)),
            "requestId": "r".repeat(100_000),
        });
        let err = crate::envelope::refusal(400, body.to_string().as_bytes())
            .scrubbed(&["HZ2F6J3AGNAVSOTV"]);
        let api = err.api_error().unwrap();
        assert_eq!(api.message.chars().count(), MESSAGE_CHARS + 1);
        assert!(!api.message.contains("HZ2F6J3A"), "scrubbed, then cut");
        assert_eq!(
            api.request_id.as_deref().unwrap().chars().count(),
            REQUEST_ID_CHARS + 1
        );
    }

    #[test]
    fn redirects_say_where_to_when_they_can() {
        let said = |status, location: Option<&str>| {
            Error::Redirect {
                status,
                location: location.map(str::to_owned),
            }
            .to_string()
        };
        assert_eq!(
            said(307, Some("https://c.example:8443")),
            "the server answered HTTP 307 redirecting to https://c.example:8443; redirects are \
             not followed"
        );
        assert_eq!(
            said(302, None),
            "the server answered HTTP 302, a redirect without a usable location; redirects are \
             not followed"
        );
        // A caller's client followed it: the answer came from elsewhere, with its own status.
        assert_eq!(
            said(200, Some("https://c.example")),
            "the request was redirected to https://c.example by the HTTP client given to the \
             builder, which follows redirects; its answer (HTTP 200) was refused"
        );
        assert!(!said(302, None).contains("unnamed"));
    }

    #[test]
    fn values_shown_back_are_escaped_and_cut() {
        use crate::redact::shown;
        assert_eq!(shown("fr\u{1b}[2J"), "fr\\u{1b}[2J");
        assert_eq!(shown(&"x".repeat(100_000)).chars().count(), 41);
        let long = "y".repeat(100_000);
        for err in [
            "\u{1b}[2J".parse::<crate::Lang>().unwrap_err(),
            "\u{1b}[2J".parse::<crate::Brand>().unwrap_err(),
            "\u{1b}[2J".parse::<crate::AuthScheme>().unwrap_err(),
            long.parse::<crate::Lang>().unwrap_err(),
        ] {
            let text = err.to_string();
            assert!(!text.contains('\u{1b}') && text.len() < 200, "{text}");
        }
    }
}
