//! Authentication: the management token (cached, refreshed ahead of expiry, one refresh shared by
//! all callers) or AK/SK request signing.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use arc_swap::ArcSwapOption;
use base64::Engine as _;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use crate::{Error, error::check_status, generated::Client, signing::Signer};

/// How requests prove who sends them.
///
/// ```
/// use authing_otp::AuthScheme;
/// assert_eq!("signature".parse::<AuthScheme>().unwrap(), AuthScheme::Signature);
/// assert_eq!("Token".parse::<AuthScheme>().unwrap(), AuthScheme::Token);
/// assert_eq!(AuthScheme::default(), AuthScheme::Token);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthScheme {
    /// Exchange the access key pair for a management token (as the Java, Go and Python SDKs
    /// do) and send `authorization: Bearer <token>` with `x-authing-userpool-id`.
    #[default]
    Token,
    /// Sign every request with HMAC-SHA1 over the access key secret (as the Node SDK 4.x does);
    /// no token request at all.
    Signature,
}

impl std::str::FromStr for AuthScheme {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        // Case-insensitive, as `Lang` is: environment values are often upper case.
        if s.eq_ignore_ascii_case("token") {
            Ok(AuthScheme::Token)
        } else if s.eq_ignore_ascii_case("signature") {
            Ok(AuthScheme::Signature)
        } else {
            Err(Error::Config(format!(
                "unknown auth scheme `{}`; expected `token` or `signature`",
                crate::error::shown(s)
            )))
        }
    }
}

/// The credentials and the state each scheme needs.
pub(crate) enum Auth {
    Token(TokenSource),
    Signature(Signer),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Token(t) => f
                .debug_struct("Token")
                .field("access_key_id", &t.access_key_id)
                .field("access_key_secret", &"<redacted>")
                .finish_non_exhaustive(),
            Auth::Signature(s) => fmt::Debug::fmt(s, f),
        }
    }
}

impl Auth {
    /// The access key secret, for scrubbing what a server quotes back.
    pub(crate) fn access_key_secret(&self) -> &SecretString {
        match self {
            Auth::Token(t) => &t.access_key_secret,
            Auth::Signature(s) => s.access_key_secret(),
        }
    }
}

/// A management token in use.
pub(crate) struct Token {
    /// `Bearer <token>`, marked sensitive so that `http`'s `Debug` hides it too.
    pub(crate) authorization: HeaderValue,
    /// The token alone, for scrubbing what a server quotes back.
    bearer: SecretString,
    pub(crate) user_pool_id: HeaderValue,
    /// When a replacement is fetched.
    refresh_at: Instant,
    /// When the server stops accepting it: until then it still serves if a refresh fails.
    expires_at: Instant,
}

/// Fetches and caches the management token.
pub(crate) struct TokenSource {
    access_key_id: String,
    access_key_secret: SecretString,
    /// The pool id set by the user; otherwise the token's `scoped_userpool_id` claim is used.
    user_pool_id: Option<String>,
    /// Read on every request: a plain lock held for a pointer copy.
    cache: ArcSwapOption<Token>,
    /// Held while a token is fetched, so that concurrent callers share one request. It guards
    /// the outcome of the last attempt: callers that queued behind a failed attempt share its
    /// error instead of each trying again in turn (64 callers behind a 10 s timeout would
    /// otherwise wait minutes).
    refresh: tokio::sync::Mutex<LastAttempt>,
    /// Counts finished attempts (written under `refresh`), so that a caller can tell whether
    /// one finished while it waited for the lock.
    attempts: AtomicU64,
}

#[derive(Default)]
struct LastAttempt {
    failure: Option<(String, Option<Arc<Error>>)>,
}

/// The management token operation's id, as progenitor names it in `OperationInfo`.
pub(crate) const TOKEN_OPERATION: &str = "get_management_token";

impl Token {
    /// The token itself (without `Bearer `).
    pub(crate) fn bearer(&self) -> Option<&str> {
        Some(self.bearer.expose_secret())
    }
}

impl TokenSource {
    pub(crate) fn new(
        access_key_id: String,
        access_key_secret: SecretString,
        user_pool_id: Option<String>,
    ) -> Self {
        TokenSource {
            access_key_id,
            access_key_secret,
            user_pool_id,
            cache: ArcSwapOption::empty(),
            refresh: tokio::sync::Mutex::default(),
            attempts: AtomicU64::new(0),
        }
    }

    /// The cached token, if `now` is before the instant `deadline` picks from it.
    fn cached_until(&self, deadline: impl Fn(&Token) -> Instant) -> Option<Arc<Token>> {
        self.cache
            .load_full()
            .filter(|t| Instant::now() < deadline(t))
    }

    /// A token not yet due for replacement.
    fn fresh(&self) -> Option<Arc<Token>> {
        self.cached_until(|t| t.refresh_at)
    }

    /// Calls `f` with the cached token if it is not yet due for replacement: the path of
    /// nearly every request, which neither locks nor touches a shared reference count.
    pub(crate) fn with_fresh<R>(&self, f: impl FnOnce(&Token) -> R) -> Option<R> {
        let cached = self.cache.load();
        cached
            .as_deref()
            .filter(|t| Instant::now() < t.refresh_at)
            .map(f)
    }

    /// A token the server still accepts, due for replacement or not.
    fn unexpired(&self) -> Option<Arc<Token>> {
        self.cached_until(|t| t.expires_at)
    }

    /// A token that is not about to expire, fetching one if needed. Concurrent callers wait
    /// for one shared fetch.
    pub(crate) async fn token(&self, client: &Client) -> Result<Arc<Token>, Error> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let seen = self.attempts.load(Ordering::Acquire);
        let mut last = self.refresh.lock().await;
        // Whoever held the lock before us may have fetched one already…
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        // …or failed to, while we waited: theirs is our answer too.
        if seen != self.attempts.load(Ordering::Acquire)
            && let Some((reason, source)) = &last.failure
        {
            return self.unexpired().ok_or_else(|| Error::Token {
                reason: reason.clone(),
                source: source.clone(),
            });
        }
        let outcome = self.fetch_boxed(client).await;
        self.attempts.fetch_add(1, Ordering::Release);
        match outcome {
            Ok(token) => {
                last.failure = None;
                let token = Arc::new(token);
                self.cache.store(Some(token.clone()));
                Ok(token)
            }
            Err(error) => {
                // A failure that is only this caller running out of time is not shared: the
                // callers queued behind it may have time left.
                let own_deadline = |e: &Error| matches!(e, Error::Timeout { source: None });
                if let Error::Token { reason, source } = &error
                    && !source.as_deref().is_some_and(own_deadline)
                {
                    last.failure = Some((reason.clone(), source.clone()));
                }
                // An early refresh that failed leaves the current token in service.
                self.unexpired().ok_or(error)
            }
        }
    }

    /// The token in the cache, if any, expired or not.
    pub(crate) fn current(&self) -> Option<Arc<Token>> {
        self.cache.load_full()
    }

    /// Forgets the cached token if it is the one a refused request carried (its
    /// `authorization`), so that the next caller fetches a new one; a token another caller
    /// already replaced is left alone.
    pub(crate) fn invalidate(&self, rejected: &HeaderValue) {
        self.cache.rcu(|cached| match cached {
            Some(t) if t.authorization == rejected => None,
            other => other.clone(),
        });
    }

    /// The token request passes through the same hooks as every other (which skip auth for it),
    /// so its future contains theirs. Returning it as a named `dyn Future` from a plain `fn`
    /// breaks the type cycle hooks → token → request → hooks.
    fn fetch_boxed<'a>(
        &'a self,
        client: &'a Client,
    ) -> Pin<Box<dyn Future<Output = Result<Token, Error>> + Send + 'a>> {
        Box::pin(self.fetch(client))
    }

    async fn fetch(&self, client: &Client) -> Result<Token, Error> {
        let body = crate::wire::GetManagementAccessTokenDto {
            access_key_id: self.access_key_id.clone(),
            access_key_secret: self.access_key_secret.expose_secret().to_owned(),
        };
        let request = client.get_management_token().body(body).send();
        // The cause keeps its kind (a timeout, a 503, a redirect): only a refusal of the pair is
        // an authentication failure. What the server said is scrubbed of the secret it was sent.
        let failed = |reason: &str, source: Error| Error::Token {
            reason: reason.to_owned(),
            source: Some(Arc::new(
                source.scrubbed(&[self.access_key_secret.expose_secret()]),
            )),
        };
        let answer = match request.await {
            Ok(answer) => answer,
            Err(e) => {
                let e = match crate::hooks::take_stashed() {
                    Some(typed) => typed,
                    None => Error::from_generated(e).await,
                };
                let reason = if e.is_retryable() {
                    "the token endpoint could not be reached or failed"
                } else if matches!(e, Error::Api(_) | Error::Unauthenticated(_)) {
                    "the token endpoint refused the access key pair"
                } else {
                    "the token endpoint's answer could not be used"
                };
                return Err(failed(reason, e));
            }
        };
        if let Err(refusal) = check_status(answer.status().as_u16(), answer.as_ref()) {
            let reason = if refusal.is_retryable() {
                "the token endpoint failed"
            } else if matches!(refusal, Error::Api(_) | Error::Unauthenticated(_)) {
                "the token endpoint refused the access key pair"
            } else {
                // Say, a statusCode that is not a whole number: no refusal of anything.
                "the token endpoint's answer could not be used"
            };
            return Err(failed(reason, refusal));
        }
        let dto = answer.into_inner();
        let token = dto.data.access_token;
        if token.is_empty() {
            return Err(Error::Token {
                reason: "the token endpoint answered without an access_token".into(),
                source: None,
            });
        }
        let lifetime = dto.data.expires_in;
        if !(lifetime.is_finite() && lifetime > 0.0) {
            return Err(Error::Token {
                reason: "the token endpoint answered with an expires_in that is not a positive \
                         number of seconds"
                    .into(),
                source: None,
            });
        }
        let pool = match &self.user_pool_id {
            Some(pool) => pool.clone(),
            None => scoped_userpool_id(&token).ok_or_else(|| Error::Token {
                reason: "the token carries no readable scoped_userpool_id claim and no user pool \
                         id was configured (set AUTHING_USERPOOL_ID or GENAUTH_USERPOOL_ID)"
                    .into(),
                source: None,
            })?,
        };
        let mut authorization =
            HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| Error::Token {
                reason: "the access_token is not a valid HTTP header value".into(),
                source: None,
            })?;
        authorization.set_sensitive(true);
        let user_pool_id = HeaderValue::try_from(pool).map_err(|_| Error::Token {
            reason: "the user pool id is not a valid HTTP header value".into(),
            source: None,
        })?;
        let lifetime = cached_lifetime(lifetime);
        let now = Instant::now();
        Ok(Token {
            bearer: token.into(),
            authorization,
            user_pool_id,
            refresh_at: now + lifetime - refresh_margin(lifetime),
            expires_at: now + lifetime,
        })
    }
}

/// The longest a token is kept, whatever `expires_in` says.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The shortest a token is kept, whatever `expires_in` says (Authing's say 7200 s).
const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(10);

/// How long a token with this positive, finite `expires_in` is cached: as long as it says,
/// within [`MIN_TOKEN_LIFETIME`] and [`MAX_TOKEN_LIFETIME`]; the early refresh
/// ([`refresh_margin`]) then applies to that.
///
/// The floor bounds the token requests a server can cause by saying `expires_in: 1e-9`: one
/// per call, otherwise. If its tokens really do die sooner, a request that carries one is
/// refused with 401, and the token is replaced and the request sent again, once, as for a
/// revoked token. The ceiling renews tokens daily at least, and keeps an absurd value from
/// overflowing the clock.
fn cached_lifetime(expires_in: f64) -> Duration {
    Duration::try_from_secs_f64(expires_in)
        .unwrap_or(MAX_TOKEN_LIFETIME)
        .clamp(MIN_TOKEN_LIFETIME, MAX_TOKEN_LIFETIME)
}

/// How long before expiry a token is replaced: a fifth of its lifetime, at most five minutes,
/// so that a request never leaves with a token that expires on the way.
fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 5).min(Duration::from_secs(300))
}

/// Reads the `scoped_userpool_id` claim from a JWT's payload, without verifying it (as the
/// official SDKs do: the token is only passed back to the server that issued it).
fn scoped_userpool_id(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine.decode(payload).ok()?;
    #[derive(serde::Deserialize)]
    struct Claims {
        scoped_userpool_id: String,
    }
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    (!claims.scoped_userpool_id.is_empty()).then_some(claims.scoped_userpool_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_pool_claim() {
        // The token the Python SDK was answered with in the shared recordings.
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzY29wZWRfdXNlcnBvb2xfaWQiOiJ1cC10ZXN0LTEiLCJleHAiOjQxMDI0NDQ4MDB9.c2lnLXRlc3Q";
        assert_eq!(scoped_userpool_id(token).as_deref(), Some("up-test-1"));
        assert_eq!(scoped_userpool_id("not-a-jwt"), None);
        assert_eq!(scoped_userpool_id("a.!!!.c"), None);
    }

    #[test]
    fn lifetimes_are_kept_between_ten_seconds_and_a_day() {
        // Issue 15: `expires_in: 1e-9` meant a token request per call.
        for (expires_in, kept) in [
            (1e-9, 10),
            (f64::MIN_POSITIVE, 10),
            (1.0, 10),
            (9.99, 10),
            (10.0, 10),
            (7200.0, 7200),
            (86_400.0, 86_400),
            (1e30, 86_400),
            (f64::MAX, 86_400),
        ] {
            assert_eq!(
                cached_lifetime(expires_in),
                Duration::from_secs(kept),
                "{expires_in}"
            );
        }
        // Refreshed 2 s early at the floor.
        let floor = cached_lifetime(1e-9);
        assert_eq!(floor - refresh_margin(floor), Duration::from_secs(8));
    }

    #[test]
    fn margin_is_a_fifth_capped_at_five_minutes() {
        assert_eq!(
            refresh_margin(Duration::from_secs(7200)),
            Duration::from_secs(300)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(10)),
            Duration::from_secs(2)
        );
    }
}
