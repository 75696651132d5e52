//! The management token: made from the token endpoint's answer, cached, replaced ahead of
//! expiry, and fetched once for every caller that needs one at the same time.
//!
//! The fetch runs in a task of its own, never inside one caller's future: a caller that stops
//! being polled (the losing branch of a `select!`, a stalled task) cannot hold every other call
//! back. A caller whose token is still valid never waits: when the token is due for replacement
//! (a fifth of its lifetime before it expires), the replacement is fetched in the background,
//! and a failed replacement leaves the current token in service until it expires. Callers that
//! wait for a fetch each wait until their own deadline; those that joined a fetch that failed
//! get its error, and a caller that comes after it starts a fresh fetch rather than inherit an
//! old failure.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

// Tokio's clock, so that deadlines and slots follow a paused clock in tests.
use tokio::time::Instant;

use arc_swap::ArcSwapOption;
use base64::Engine as _;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;

use crate::Error;

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

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("user_pool_id", &self.user_pool_id)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// The token itself (without `Bearer `).
    pub(crate) fn bearer(&self) -> &str {
        self.bearer.expose_secret()
    }

    /// A token from the token endpoint's answer: the token, its lifetime in seconds, and the
    /// user pool (`configured`, or the token's `scoped_userpool_id` claim).
    pub(crate) fn from_answer(
        access_token: String,
        expires_in: f64,
        configured_pool: Option<&str>,
    ) -> Result<Token, Error> {
        let refused = |reason: &str| Error::Token {
            reason: reason.to_owned(),
            source: None,
        };
        if access_token.is_empty() {
            return Err(refused(
                "the token endpoint answered without an access_token",
            ));
        }
        if !(expires_in.is_finite() && expires_in > 0.0) {
            return Err(refused(
                "the token endpoint answered with an expires_in that is not a positive number \
                 of seconds",
            ));
        }
        let pool = match configured_pool {
            Some(pool) => pool.to_owned(),
            None => scoped_userpool_id(&access_token).ok_or_else(|| {
                refused(
                    "the token carries no readable scoped_userpool_id claim and no user pool id \
                     was configured (set AUTHING_USERPOOL_ID or GENAUTH_USERPOOL_ID)",
                )
            })?,
        };
        let mut authorization = HeaderValue::try_from(format!("Bearer {access_token}"))
            .map_err(|_| refused("the access_token is not a valid HTTP header value"))?;
        authorization.set_sensitive(true);
        let user_pool_id = HeaderValue::try_from(pool)
            .map_err(|_| refused("the user pool id is not a valid HTTP header value"))?;
        let lifetime = cached_lifetime(expires_in);
        let now = Instant::now();
        Ok(Token {
            bearer: access_token.into(),
            authorization,
            user_pool_id,
            refresh_at: now + lifetime - refresh_margin(lifetime),
            expires_at: now + lifetime,
        })
    }
}

/// A fetch of a token, boxed: the fetch is an ordinary call of the client, whose future would
/// otherwise contain this cache's.
pub(crate) type Fetch = Pin<Box<dyn Future<Output = Result<Token, Error>> + Send>>;

/// What a fetch ended with, as its waiters see it.
type Outcome = Option<Result<Arc<Token>, Arc<Error>>>;

/// The cached token, shared by a client's clones.
pub(crate) struct TokenCache {
    cache: Arc<ArcSwapOption<Token>>,
    /// The fetch in flight, if one is: its waiters watch it.
    in_flight: Mutex<Option<watch::Receiver<Outcome>>>,
}

impl TokenCache {
    pub(crate) fn new() -> Self {
        TokenCache {
            cache: Arc::new(ArcSwapOption::empty()),
            in_flight: Mutex::new(None),
        }
    }

    /// A token for a call: the cached one while the server still accepts it (fetching its
    /// replacement in the background once it is due), else the one the fetch in flight, or a
    /// new one, brings, waited for until `deadline`. `fetch` is called only to start a fetch.
    pub(crate) async fn token(
        &self,
        deadline: Instant,
        fetch: impl FnOnce() -> Fetch,
    ) -> Result<Arc<Token>, Error> {
        let now = Instant::now();
        if let Some(token) = self.cache.load_full()
            && now < token.expires_at
        {
            if now >= token.refresh_at {
                // Not waited for: this caller's token is good for a while yet.
                drop(self.join_or_start(fetch));
            }
            return Ok(token);
        }
        let mut done = self.join_or_start(fetch);
        let outcome = match tokio::time::timeout_at(deadline, done.wait_for(Option::is_some)).await
        {
            Err(_) => return Err(Error::Timeout { source: None }),
            Ok(Err(_gone)) => {
                return Err(Error::Token {
                    reason: "the token request was abandoned".into(),
                    source: None,
                });
            }
            Ok(Ok(outcome)) => outcome.clone(),
        };
        match outcome {
            Some(Ok(token)) => Ok(token),
            Some(Err(error)) => Err(shared(&error)),
            None => unreachable!("waited for an outcome"),
        }
    }

    /// The fetch in flight, or a new one, started in a task of its own.
    fn join_or_start(&self, fetch: impl FnOnce() -> Fetch) -> watch::Receiver<Outcome> {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = in_flight.as_ref()
            && running.borrow().is_none()
        {
            return running.clone();
        }
        let (tell, done) = watch::channel(None);
        let cache = self.cache.clone();
        let fetch = fetch();
        tokio::spawn(async move {
            let outcome = match fetch.await {
                Ok(token) => {
                    let token = Arc::new(token);
                    cache.store(Some(token.clone()));
                    Ok(token)
                }
                Err(error) => {
                    tracing::debug!(kind = ?error.kind(), "token request failed");
                    Err(Arc::new(error))
                }
            };
            let _ = tell.send(Some(outcome));
        });
        *in_flight = Some(done.clone());
        done
    }

    /// The token in the cache, if any, expired or not.
    pub(crate) fn current(&self) -> Option<Arc<Token>> {
        self.cache.load_full()
    }

    /// Forgets `rejected` if it is still the cached token (the server refused it before it
    /// expired: revoked, or a clock that disagrees), so that the next caller fetches a new one;
    /// a token another caller already replaced is left alone.
    pub(crate) fn reject(&self, rejected: &Arc<Token>) {
        self.cache.rcu(|cached| match cached {
            Some(token) if Arc::ptr_eq(token, rejected) => None,
            other => other.clone(),
        });
    }
}

/// A fetch's error, for one of its waiters: each gets its own [`Error::Token`], sharing the
/// cause.
fn shared(error: &Arc<Error>) -> Error {
    match &**error {
        Error::Token { reason, source } => Error::Token {
            reason: reason.clone(),
            source: source.clone(),
        },
        _ => Error::Token {
            reason: "the token request failed".into(),
            source: Some(error.clone()),
        },
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

    fn token(lifetime: f64) -> Token {
        Token::from_answer(
            "a.eyJzY29wZWRfdXNlcnBvb2xfaWQiOiJwIn0.c".into(),
            lifetime,
            None,
        )
        .unwrap()
    }

    /// A fetch that answers `token` after `delay`, counting itself.
    fn fetch_after(delay: Duration, count: Arc<std::sync::atomic::AtomicU32>) -> Fetch {
        Box::pin(async move {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            Ok(token(7200.0))
        })
    }

    /// Issue 16: a caller parked in the middle of a token fetch held every other caller back.
    #[tokio::test(start_paused = true)]
    async fn a_parked_caller_does_not_hold_the_others_back() {
        let cache = Arc::new(TokenCache::new());
        let count = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let deadline = Instant::now() + Duration::from_secs(60);
        // The first caller starts the fetch, then is never polled again.
        let parked = {
            let (cache, count) = (cache.clone(), count.clone());
            async move {
                cache
                    .token(deadline, || fetch_after(Duration::from_secs(1), count))
                    .await
            }
        };
        let mut parked = Box::pin(parked);
        assert!(futures_poll_once(parked.as_mut()).is_pending());
        let other = cache
            .token(deadline, || {
                fetch_after(Duration::from_secs(1), count.clone())
            })
            .await;
        assert!(other.is_ok());
        assert_eq!(
            count.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "one fetch"
        );
    }

    /// Issue 16: once the early-refresh point passed, every caller queued behind the refresh.
    #[tokio::test(start_paused = true)]
    async fn callers_with_a_valid_token_never_wait_for_its_replacement() {
        let cache = TokenCache::new();
        cache.cache.store(Some(Arc::new(token(100.0))));
        tokio::time::advance(Duration::from_secs(85)).await; // past 80: due, not expired
        let count = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let deadline = Instant::now() + Duration::from_millis(1);
        for _ in 0..100 {
            // A slow replacement: nobody waits for it.
            let got = cache
                .token(deadline, || {
                    fetch_after(Duration::from_secs(30), count.clone())
                })
                .await;
            assert!(got.is_ok());
        }
        // The replacement runs in the background, once.
        tokio::time::sleep(Duration::from_secs(31)).await;
        assert_eq!(
            count.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "one refresh"
        );
    }

    /// Issue 16: a later caller got an earlier failure without trying.
    #[tokio::test(start_paused = true)]
    async fn a_caller_after_a_failed_fetch_tries_again() {
        let cache = TokenCache::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let failing = || -> Fetch {
            Box::pin(async {
                Err(Error::Token {
                    reason: "the token endpoint failed".into(),
                    source: None,
                })
            })
        };
        let first = cache.token(deadline, failing).await.unwrap_err();
        assert_eq!(
            first.to_string(),
            "could not obtain a management token: the token endpoint failed"
        );
        let count = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let second = cache
            .token(deadline, || fetch_after(Duration::ZERO, count.clone()))
            .await;
        assert!(second.is_ok(), "{second:?}");
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    /// Polls a future once, with a waker that does nothing.
    fn futures_poll_once<F: Future>(future: Pin<&mut F>) -> std::task::Poll<F::Output> {
        let waker = std::task::Waker::noop();
        future.poll(&mut std::task::Context::from_waker(waker))
    }
}
