//! The crate's one error type.

use std::{fmt, sync::Arc};

use crate::generated::types::{CommonResponseDto, GetManagementTokenRespDto, GetOtpSecretRespDto};

/// Everything that can go wrong talking to the Authing management API.
///
/// Match on [`Error::kind`] for a stable, `Copy` classification, and ask
/// [`Error::is_retryable`] whether sending the same request again is safe and may succeed.
/// No variant's `Display` or `Debug` contains the access key secret, a token, an OTP secret or a
/// recovery code.
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
    Api(ApiError),
    /// The API rejected the credentials (HTTP 401 or `statusCode` 401), even after the token was
    /// refreshed and the request sent once more.
    #[error("not authenticated: {0}")]
    Unauthenticated(ApiError),
    /// No management token could be obtained. The cause, when there is one, is the
    /// [`source`](std::error::Error::source) and decides [`Error::kind`] and
    /// [`Error::is_retryable`]. Callers that were waiting on the same failed token request share
    /// its error.
    #[error("could not obtain a management token: {reason}")]
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
    Transport(#[source] reqwest::Error),
    /// No answer came in time: within one attempt's timeout (the transport's error is the
    /// source) or within the whole call's deadline (no source).
    #[error("{}", if .source.is_some() { "the request timed out" } else { "the call's deadline passed" })]
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
    InvalidInput(InputError),
    /// The client is misconfigured (missing credentials, a bad host, …).
    #[error("bad configuration: {0}")]
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
/// assert_eq!(advice(&Error::Config("no host".into())), "fix the call");
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

/// The status fields every Authing answer carries, whatever its data.
pub(crate) trait Envelope {
    /// `statusCode` alone: the success path needs nothing else, and copies nothing.
    fn status_code(&self) -> f64;
    fn envelope(&self) -> CommonResponseDto;
}

impl Envelope for CommonResponseDto {
    fn status_code(&self) -> f64 {
        self.status_code
    }

    fn envelope(&self) -> CommonResponseDto {
        self.clone()
    }
}

macro_rules! envelope_of {
    ($($answer:ty),*) => {$(
        impl Envelope for $answer {
            fn status_code(&self) -> f64 {
                self.status_code
            }

            fn envelope(&self) -> CommonResponseDto {
                CommonResponseDto {
                    api_code: self.api_code,
                    message: self.message.clone(),
                    request_id: self.request_id.clone(),
                    status_code: self.status_code,
                }
            }
        }
    )*};
}

envelope_of!(GetManagementTokenRespDto, GetOtpSecretRespDto);

/// A body that parsed but says `statusCode` != 200 (or came with HTTP 401) is a refusal all the
/// same; one whose codes are not whole numbers is not an answer the spec allows.
pub(crate) fn check_status(http_status: u16, answer: &impl Envelope) -> Result<(), Error> {
    if answer.status_code() == 200.0 && http_status != 401 {
        return Ok(());
    }
    let envelope = answer.envelope();
    let api = ApiError::from_envelope(http_status, &envelope)?;
    Err(if api.is_unauthenticated() {
        Error::Unauthenticated(api)
    } else {
        Error::Api(api)
    })
}

/// 2⁵³: below it every integer is exactly one `f64`; from it on, `2⁵³ + 1` reads as `2⁵³`.
const MAX_EXACT_CODE: f64 = 9_007_199_254_740_992.0;

/// A code the spec types as a JSON number, as the integer it must be; `Err` says why it is not
/// one, rather than showing another number (`200.5 as i64` is 200).
fn whole_code(field: &str, value: f64) -> Result<i64, String> {
    if !value.is_finite() || value.fract() != 0.0 {
        Err(format!("the body's {field} is not a whole number"))
    } else if value.abs() >= MAX_EXACT_CODE {
        Err(format!("the body's {field} is too large to be a code"))
    } else {
        Ok(value as i64)
    }
}

/// The longest `message` an [`ApiError`] (or an import's receipt) keeps, in characters.
pub(crate) const MESSAGE_CHARS: usize = 1000;
/// The longest `requestId` an [`ApiError`] (or an import's receipt) keeps, in characters
/// (Authing's are 32).
pub(crate) const REQUEST_ID_CHARS: usize = 200;

impl ApiError {
    /// The refusal a failing envelope says, or an [`Error::UnexpectedResponse`] when its codes
    /// are not whole numbers.
    pub(crate) fn from_envelope(http_status: u16, body: &CommonResponseDto) -> Result<Self, Error> {
        let codes = whole_code("statusCode", body.status_code).and_then(|status_code| {
            let api_code = body
                .api_code
                .map(|code| whole_code("apiCode", code))
                .transpose()?;
            Ok((status_code, api_code))
        });
        let (status_code, api_code) = codes.map_err(|reason| Error::UnexpectedResponse {
            status: http_status,
            reason,
            excerpt: serde_json::to_vec(body)
                .map(|json| excerpt(&json))
                .unwrap_or_default(),
        })?;
        // Kept longer than shown until the call's secrets are scrubbed (see `excerpt`).
        Ok(ApiError {
            http_status,
            status_code,
            api_code,
            message: truncate(&clean(&body.message, &[]), MESSAGE_CHARS * 20),
            request_id: body
                .request_id
                .as_deref()
                .map(|id| truncate(&clean(id, &[]), REQUEST_ID_CHARS * 20)),
        })
    }

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
    /// Refuses `field` (named as on the wire) for `reason`, which must not quote a secret: for
    /// checks of your own, such as a reader of import files.
    ///
    /// ```
    /// let err = authing_otp::InputError::new("secret", "missing");
    /// assert_eq!(err.to_string(), "secret: missing");
    /// ```
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
    /// let err = authing_otp::Error::Token {
    ///     reason: "the token endpoint failed".into(),
    ///     source: Some(std::sync::Arc::new(authing_otp::Error::Config("no host".into()))),
    /// };
    /// assert_eq!(
    ///     err.display_chain(),
    ///     "could not obtain a management token: the token endpoint failed: bad configuration: no host"
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

    /// Classifies a failed answer's body: an Authing envelope becomes [`Error::Api`] (or
    /// [`Error::Unauthenticated`]), anything else [`Error::UnexpectedResponse`].
    pub(crate) fn from_body(status: u16, body: &[u8], fallback_reason: String) -> Self {
        serde_json::from_slice::<CommonResponseDto>(body)
            .ok()
            .and_then(|envelope| check_status(status, &envelope).err())
            // Not an envelope, or a success envelope that failed to match the promised schema.
            .unwrap_or_else(|| Error::UnexpectedResponse {
                status,
                reason: fallback_reason,
                excerpt: excerpt(body),
            })
    }

    /// Maps an error of the generated client to the crate's error.
    pub(crate) async fn from_generated(e: progenitor_client::Error<()>) -> Self {
        use progenitor_client::Error as G;
        match e {
            G::InvalidRequest(reason) => InputError::new("request", reason).into(),
            G::CommunicationError(e) | G::ResponseBodyError(e) | G::InvalidUpgrade(e) => {
                Error::from_reqwest(e)
            }
            G::InvalidResponsePayload(body, e) => Error::from_body(200, &body, describe_json(&e)),
            G::UnexpectedResponse(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(body) => Error::from_body(status, &body, "unexpected HTTP status".into()),
                    Err(e) => Error::from_reqwest(e),
                }
            }
            G::ErrorResponse(rv) => Error::UnexpectedResponse {
                status: rv.status().as_u16(),
                reason: "undocumented error response".into(),
                excerpt: String::new(),
            },
            // Hooks report their errors through `hooks::stash`; this is the message of one that
            // was raised outside a facade call.
            G::Custom(message) => Error::Config(message),
        }
    }
}

/// A value of the caller's shown back in a message about it: control characters escaped, and
/// cut to 40 characters, so that a wrong value cannot flood a terminal or drive it.
pub(crate) fn shown(value: &str) -> String {
    truncate(&clean(value, &[]), 40)
}

/// Describes a JSON decoding failure for an unexpected answer.
fn describe_json(e: &serde_json::Error) -> String {
    format!("{}; the spec promises another shape", json_error_summary(e))
}

/// Describes a JSON decoding failure without quoting any value of the input: serde_json's own
/// messages can quote the offending value, which in a file of OTP secrets may be one. Field
/// names and the position are kept.
///
/// ```
/// let e = serde_json::from_str::<Vec<u32>>(r#"["HZ2F6J3AGNAVSOTV"]"#).unwrap_err();
/// assert!(e.to_string().contains("HZ2F6J3AGNAVSOTV"));
/// let summary = authing_otp::json_error_summary(&e);
/// assert_eq!(summary, "a field has the wrong type or value (line 1, column 19)");
/// ```
pub fn json_error_summary(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let what = if ["missing field", "unknown variant", "unknown field"]
        .iter()
        .any(|p| msg.starts_with(p))
    {
        msg.split(" at line").next().unwrap_or_default().to_owned()
    } else {
        match e.classify() {
            serde_json::error::Category::Data => "a field has the wrong type or value".to_owned(),
            serde_json::error::Category::Syntax => "not valid JSON".to_owned(),
            serde_json::error::Category::Eof => "JSON that ends early".to_owned(),
            serde_json::error::Category::Io => "JSON that could not be read".to_owned(),
        }
    };
    format!("{what} (line {}, column {})", e.line(), e.column())
}

/// Words that mark a key (or, in a body that is not JSON, the text) as secret-bearing. Keys are
/// compared lower-cased with `_` and `-` removed, by substring, so `otpSecret`,
/// `recovery_codes` and `refresh_token` all match.
const SECRET_WORDS: &[&str] = &["secret", "token", "recovery", "password", "credential"];

fn is_secret_key(key: &str) -> bool {
    let key: String = key
        .chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    SECRET_WORDS.iter().any(|w| key.contains(w))
}

/// `text` with each of `secrets` (4 characters or more, ASCII case ignored) replaced by
/// `<redacted>`, and control and bidirectional-override characters escaped (`\u{1b}`), so that
/// what a server writes can neither leak a secret the call carried nor drive a terminal.
pub(crate) fn clean(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    // Longest first, so that a short secret inside a longer one cannot leave the rest behind;
    // each also as JSON would escape it, as an excerpt of a JSON body shows it. A secret longer
    // than the text cannot be in it: the usual short success message costs nothing here.
    let mut secrets: Vec<String> = secrets
        .iter()
        .filter(|s| s.len() >= 4 && s.len() <= text.len())
        .flat_map(|s| {
            let escaped = s
                .contains(|c: char| c == '"' || c == '\\' || c.is_control())
                .then(|| serde_json::to_string(s).unwrap_or_default())
                .map(|e| e.trim_matches('"').to_owned());
            std::iter::once(s.to_string()).chain(escaped)
        })
        .collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    for secret in &secrets {
        out = replace_ignore_ascii_case(&out, secret, "<redacted>");
    }
    if out.chars().any(is_unsafe_char) {
        out = out
            .chars()
            .map(|c| {
                if is_unsafe_char(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect();
    }
    out
}

/// Control characters, and the Unicode controls that reorder text on a terminal.
fn is_unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn replace_ignore_ascii_case(text: &str, needle: &str, with: &str) -> String {
    let (hay, pat) = (text.to_ascii_lowercase(), needle.to_ascii_lowercase());
    if !hay.contains(&pat) {
        return text.to_owned();
    }
    // ASCII lower-casing keeps byte offsets, so matches in `hay` are matches in `text`.
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, _) in hay.match_indices(&pat) {
        if at < last {
            continue;
        }
        out.push_str(&text[last..at]);
        out.push_str(with);
        last = at + pat.len();
    }
    out.push_str(&text[last..]);
    out
}

const EXCERPT_CHARS: usize = 200;

/// The start of a body for an error message, with secret-bearing JSON values redacted.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(mut value) => {
            redact(&mut value);
            value.to_string()
        }
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            // A body that is not JSON but mentions a secret word is withheld whole: cutting it
            // safely would need a parser it evidently does not fit.
            if is_secret_key(&text) {
                return format!("<{} bytes withheld: may contain secrets>", body.len());
            }
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        }
    };
    // Kept longer than shown until the call's secrets are scrubbed from it (`scrubbed` cuts it
    // to `EXCERPT_CHARS`): a secret that straddles the cut would otherwise survive in part.
    truncate(&clean(&text, &[]), EXCERPT_CHARS * 20)
}

/// `text` cut to `chars` characters, with `…` when something was cut.
pub(crate) fn truncate(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn redact(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if is_secret_key(key) {
                    *v = serde_json::Value::String("<redacted>".into());
                } else {
                    redact(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_redacts_secret_fields_and_truncates() {
        let body = br#"{"statusCode":200,"data":{"secret":"HZ2F6J3AGNAVSOTV","recoveryCode":"b471"},"x":"y"}"#;
        let e = excerpt(body);
        assert!(
            !e.contains("HZ2F6J3AGNAVSOTV") && !e.contains("b471"),
            "{e}"
        );
        assert!(e.contains("<redacted>"));
        let long = "x".repeat(5000);
        assert_eq!(
            excerpt(long.as_bytes()).chars().count(),
            EXCERPT_CHARS * 20 + 1
        );
        let shown = Error::UnexpectedResponse {
            status: 500,
            reason: "r".into(),
            excerpt: excerpt(long.as_bytes()),
        }
        .scrubbed(&[]);
        let Error::UnexpectedResponse { excerpt: shown, .. } = shown else {
            unreachable!()
        };
        assert_eq!(shown.chars().count(), EXCERPT_CHARS + 1);
        // Found by review: a secret straddling the cut, and one inside another.
        let body = format!(
            r#"{{"echo":"{}HZ2F6J3AGNAVSOTV"}}"#,
            "x".repeat(EXCERPT_CHARS - 20)
        );
        let cut = Error::UnexpectedResponse {
            status: 500,
            reason: "r".into(),
            excerpt: excerpt(body.as_bytes()),
        }
        .scrubbed(&["HZ2F6J3AGNAVSOTV", "2F6J"]);
        assert!(!format!("{cut}").contains("HZ2F6J"), "{cut}");
        assert_eq!(
            clean("HZ2F6J3AGNAVSOTV", &["2F6J", "HZ2F6J3AGNAVSOTV"]),
            "<redacted>"
        );
        assert!(excerpt(b"<html>secret: HZ2F</html>").contains("withheld"));
        // Found by review: key names other than the spec's own.
        for body in [
            &br#"{"data":{"otpSecret":"HZ2F6J3AGNAVSOTV","recoveryCodes":["b471-8ec0"]}}"#[..],
            br#"{"data":{"secret":null,"refresh_token":"RT-SECRET-1"}}"#,
            br#"{"statusCode":200,"data":{"Access-Token":"RT-SECRET-1"}}"#,
            b"recovery_code=b471-8ec0&otp=HZ2F6J3AGNAVSOTV",
        ] {
            let e = excerpt(body);
            for needle in ["HZ2F6J3AGNAVSOTV", "b471-8ec0", "RT-SECRET-1"] {
                assert!(!e.contains(needle), "{needle} in {e}");
            }
        }
    }

    #[test]
    fn clean_redacts_the_calls_secrets_and_escapes_controls() {
        let text = "bad secret hz2f6j3agnavsotv for \u{1b}[31mu1\u{1b}[0m\u{202e} b471-8ec0!";
        let cleaned = clean(text, &["HZ2F6J3AGNAVSOTV", "b471-8ec0", "ab"]);
        assert_eq!(
            cleaned,
            "bad secret <redacted> for \\u{1b}[31mu1\\u{1b}[0m\\u{202e} <redacted>!"
        );
        assert_eq!(clean("ab cd", &["ab"]), "ab cd", "too short to redact");
        assert_eq!(clean("é€ plain", &[]), "é€ plain");
    }

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
    fn codes_are_whole_numbers_or_not_codes() {
        assert_eq!(whole_code("statusCode", 200.0), Ok(200));
        assert_eq!(whole_code("statusCode", -0.0), Ok(0));
        assert_eq!(
            whole_code("statusCode", 9_007_199_254_740_991.0),
            Ok(9_007_199_254_740_991)
        );
        for odd in [200.5, f64::NAN, f64::INFINITY, -1e-300] {
            assert_eq!(
                whole_code("statusCode", odd),
                Err("the body's statusCode is not a whole number".into()),
                "{odd}"
            );
        }
        for huge in [MAX_EXACT_CODE, -MAX_EXACT_CODE, 1e300, f64::MAX] {
            assert_eq!(
                whole_code("apiCode", huge),
                Err("the body's apiCode is too large to be a code".into()),
                "{huge}"
            );
        }
    }

    #[test]
    fn api_errors_keep_a_bounded_message_and_request_id() {
        let body = CommonResponseDto {
            api_code: None,
            message: format!("{}HZ2F6J3AGNAVSOTV", "m".repeat(MESSAGE_CHARS - 8)),
            request_id: Some("r".repeat(100_000)),
            status_code: 400.0,
        };
        let err = check_status(200, &body)
            .unwrap_err()
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

    #[test]
    fn json_errors_do_not_quote_values() {
        let e = serde_json::from_str::<CommonResponseDto>(
            r#"{"statusCode":"HZ2F6J3AGNAVSOTV","message":"m"}"#,
        )
        .unwrap_err();
        assert!(!describe_json(&e).contains("HZ2F"));
    }
}
