//! What the emulator remembers of credentials, and its verdicts on them: the management tokens
//! it issued, the signature nonces it saw (each store bounded), who a credential speaks for
//! ([`Principal`]) and why one was refused ([`AuthFailure`]). Checking a request's credentials
//! against them is [`crate::auth`]'s part.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher as _, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::codes;
use crate::random::{random_bytes, random_hex};

/// The most management tokens an emulator remembers at once. Issuing one more forgets the one
/// due to be forgotten first (the oldest, unless lifetimes differ), which then reads as unknown
/// ([`codes::INVALID_TOKEN`]): a client that asks for a token per request cannot grow the
/// emulator's memory without bound.
pub const MAX_TOKENS: usize = 100_000;
/// The most signature nonces an emulator remembers at once (it remembers each for twice
/// [`EmulatorBuilder::max_clock_skew`](crate::EmulatorBuilder::max_clock_skew)). Past it, the
/// oldest is forgotten, and a replay of it is no longer refused with [`codes::NONCE_REUSED`]
/// (though one outside the allowed skew still fails the date check).
pub const MAX_NONCES: usize = 1_000_000;

/// Tokens are forgotten this long after they expire (an older token reads as unknown).
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// What an authenticated request may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal {
    /// The user pool the credentials are scoped to.
    pub(crate) user_pool_id: String,
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    /// No `authorization` header.
    MissingAuthorization,
    /// An `authorization` scheme other than Bearer or `authing`.
    UnsupportedScheme,
    /// A token this emulator did not issue (or forgot, or revoked).
    UnknownToken,
    /// A token past its lifetime.
    ExpiredToken,
    /// No `x-authing-userpool-id` header.
    MissingUserPool,
    /// `x-authing-userpool-id` names another pool than the credentials'.
    UserPoolMismatch,
    /// A signature header is missing.
    SignatureHeaderMissing,
    /// The signing access key id is not the configured one.
    UnknownAccessKey,
    /// A signature method or version other than HMAC-SHA1 1.0.
    SignatureMethodUnsupported,
    /// The signature does not match the request.
    SignatureMismatch,
    /// `authorization` or `date` is not of the expected form.
    SignatureMalformed,
    /// `date` is too far from the emulator's clock.
    ClockSkew,
    /// The nonce was used before.
    NonceReused,
    /// The request speaks a brand's dialect this emulator was told not to accept.
    DialectNotAccepted,
}

impl AuthFailure {
    /// The `apiCode` and message the emulator answers with.
    pub(crate) fn describe(self) -> (i64, &'static str) {
        match self {
            Self::MissingAuthorization => (
                codes::MISSING_AUTHORIZATION,
                "authorization header is required (Bearer <management token>)",
            ),
            Self::UnsupportedScheme => (
                codes::MISSING_AUTHORIZATION,
                "unsupported authorization scheme; expected Bearer <management token>",
            ),
            Self::UnknownToken => (codes::INVALID_TOKEN, "invalid access token"),
            Self::ExpiredToken => (codes::TOKEN_EXPIRED, "access token expired"),
            Self::MissingUserPool => (
                codes::MISSING_USERPOOL,
                "x-authing-userpool-id (or x-genauth-userpool-id) header is required",
            ),
            Self::UserPoolMismatch => (
                codes::USERPOOL_MISMATCH,
                "the user pool header does not match the user pool of the access token",
            ),
            Self::SignatureHeaderMissing => (
                codes::SIGNATURE_HEADER_MISSING,
                "signed requests need date and the x-authing-signature-nonce, -method and \
                 -version headers (x-genauth-* when signed with GenAuth)",
            ),
            Self::UnknownAccessKey => (codes::UNKNOWN_ACCESS_KEY, "unknown access key id"),
            Self::SignatureMethodUnsupported => (
                codes::SIGNATURE_METHOD_UNSUPPORTED,
                "only signature method HMAC-SHA1, version 1.0, is supported",
            ),
            Self::SignatureMismatch => (
                codes::SIGNATURE_MISMATCH,
                "the signature does not match the request",
            ),
            Self::SignatureMalformed => (
                codes::SIGNATURE_MALFORMED,
                "expected authorization: authing (or GenAuth) <accessKeyId>:<signature> and an \
                 HTTP date",
            ),
            Self::ClockSkew => (
                codes::CLOCK_SKEW,
                "the date header is too far from the server's clock",
            ),
            Self::NonceReused => (codes::NONCE_REUSED, "the signature nonce was already used"),
            Self::DialectNotAccepted => (
                codes::DIALECT_NOT_ACCEPTED,
                "this server accepts only one brand's headers, and the request uses the other's",
            ),
        }
    }
}

/// The signature nonces seen recently. A nonce is remembered for twice the allowed clock skew:
/// a replay older than that fails the date check anyway. Nonces expire in the order they came,
/// so forgetting old ones costs nothing per request.
///
/// Only a keyed 64-bit hash of each is kept, whatever the nonce's length, and at most
/// [`MAX_NONCES`] of them (the oldest go first): with a huge allowed skew, or nonces of
/// hundreds of kilobytes, signed requests still cannot grow the emulator's memory without
/// bound. Two nonces with the same hash read as a replay: among a million nonces, a chance of
/// about one in 37 million.
#[derive(Default)]
pub(crate) struct Nonces {
    seen: HashSet<u64>,
    by_age: VecDeque<(Instant, u64)>,
    keys: RandomState,
}

impl Nonces {
    /// Records `nonce`; false if it was seen within `window`.
    pub(crate) fn first_use(&mut self, nonce: &str, now: Instant, window: Duration) -> bool {
        while let Some((at, _)) = self.by_age.front() {
            if now.duration_since(*at) < window && self.by_age.len() < MAX_NONCES {
                break;
            }
            if let Some((_, old)) = self.by_age.pop_front() {
                self.seen.remove(&old);
            }
        }
        let hash = self.keys.hash_one(nonce);
        if !self.seen.insert(hash) {
            return false;
        }
        self.by_age.push_back((now, hash));
        true
    }
}

/// A token the emulator issued.
struct Issued {
    user_pool_id: String,
    expires_at: Instant,
}

/// The tokens an emulator issued. Deliberately not `Debug`: its keys are secrets.
#[derive(Default)]
pub(crate) struct Tokens {
    issued: HashMap<Arc<str>, Issued>,
    /// Every token of `issued` once, with when it is to be forgotten, soonest on top: issuing
    /// forgets old tokens without looking at the others.
    forget: BinaryHeap<Reverse<(Instant, Arc<str>)>>,
}

impl Tokens {
    /// Issues a JWT-shaped token for `user_pool_id` living `ttl`.
    ///
    /// `base64url({"alg":"HS256","typ":"JWT"}) . base64url({"scoped_userpool_id", "iat", "exp",
    /// "jti"}) . base64url(32 random bytes)`: the signature is random, not an HMAC; the emulator
    /// recognises its tokens by remembering them.
    pub(crate) fn issue(&mut self, user_pool_id: &str, ttl: Duration) -> String {
        // Any lifetime past a century is a century: the clock arithmetic below cannot overflow.
        let ttl = ttl.min(Duration::from_secs(100 * 365 * 86_400));
        let now = Instant::now();
        while let Some(Reverse((at, _))) = self.forget.peek()
            && (*at <= now || self.issued.len() >= MAX_TOKENS)
        {
            if let Some(Reverse((_, old))) = self.forget.pop() {
                self.issued.remove(&old);
            }
        }
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let exp = (unix + ttl).as_secs() + u64::from((unix + ttl).subsec_nanos() > 0);
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = json!({
            "scoped_userpool_id": user_pool_id,
            "iat": unix.as_secs(),
            "exp": exp,
            "jti": random_hex(16),
        });
        let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
        let signature = random_bytes(32);
        let token = format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(signature));
        let key: Arc<str> = Arc::from(token.as_str());
        let expires_at = now + ttl;
        self.forget
            .push(Reverse((expires_at + FORGET_AFTER, key.clone())));
        self.issued.insert(
            key,
            Issued {
                user_pool_id: user_pool_id.to_owned(),
                expires_at,
            },
        );
        token
    }

    /// The principal of a live token.
    pub(crate) fn check(&self, token: &str, now: Instant) -> Result<Principal, AuthFailure> {
        let issued = self.issued.get(token).ok_or(AuthFailure::UnknownToken)?;
        // Not forgotten yet only because no token was issued since.
        if now >= issued.expires_at + FORGET_AFTER {
            return Err(AuthFailure::UnknownToken);
        }
        if now >= issued.expires_at {
            return Err(AuthFailure::ExpiredToken);
        }
        Ok(Principal {
            user_pool_id: issued.user_pool_id.clone(),
        })
    }

    /// Makes every issued token expired (they stay known, so they read as expired).
    pub(crate) fn expire_all(&mut self) {
        let now = Instant::now();
        for t in self.issued.values_mut() {
            t.expires_at = t.expires_at.min(now);
        }
        // Each is now forgotten sooner.
        self.forget = self
            .issued
            .iter()
            .map(|(token, t)| Reverse((t.expires_at + FORGET_AFTER, token.clone())))
            .collect();
    }

    /// Forgets every issued token (they read as unknown).
    pub(crate) fn revoke_all(&mut self) {
        self.issued.clear();
        self.forget.clear();
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_jwt_shaped_and_carry_the_pool() {
        let mut tokens = Tokens::default();
        let t = tokens.issue("up-1", Duration::from_secs(60));
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        let payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(payload["scoped_userpool_id"], "up-1");
        assert!(payload["exp"].as_u64().unwrap() > payload["iat"].as_u64().unwrap());
        assert_eq!(
            tokens.check(&t, Instant::now()).unwrap().user_pool_id,
            "up-1"
        );
        assert_eq!(
            tokens.check(&t, Instant::now() + Duration::from_secs(61)),
            Err(AuthFailure::ExpiredToken)
        );
        assert_ne!(t, tokens.issue("up-1", Duration::from_secs(60)));
    }

    #[test]
    fn tokens_are_forgotten_soonest_first_and_never_more_than_the_limit() {
        let mut tokens = Tokens::default();
        let short = tokens.issue("up", Duration::ZERO);
        let long = tokens.issue("up", Duration::from_secs(7200));
        let later = Instant::now() + Duration::from_secs(10);
        assert_eq!(tokens.check(&short, later), Err(AuthFailure::ExpiredToken));
        let forgotten = Instant::now() + FORGET_AFTER + Duration::from_secs(1);
        assert_eq!(
            tokens.check(&short, forgotten),
            Err(AuthFailure::UnknownToken)
        );
        assert!(tokens.check(&long, forgotten).is_ok());

        for _ in 0..MAX_TOKENS - 2 {
            tokens.issue("up", Duration::from_secs(60));
        }
        assert_eq!(tokens.issued.len(), MAX_TOKENS);
        // One more: the one due to be forgotten first goes, whatever the order of issue.
        let newest = tokens.issue("up", Duration::from_secs(60));
        assert_eq!(tokens.issued.len(), MAX_TOKENS);
        assert_eq!(tokens.forget.len(), MAX_TOKENS);
        assert_eq!(
            tokens.check(&short, Instant::now()),
            Err(AuthFailure::UnknownToken)
        );
        assert!(tokens.check(&long, Instant::now()).is_ok());
        assert!(tokens.check(&newest, Instant::now()).is_ok());

        // Expired at will, they are forgotten an hour from now, not from their lifetime's end.
        tokens.expire_all();
        assert_eq!(tokens.forget.len(), MAX_TOKENS);
        let Reverse((soonest, _)) = tokens.forget.peek().unwrap();
        assert!(*soonest <= Instant::now() + FORGET_AFTER);
        tokens.revoke_all();
        assert!(tokens.issued.is_empty() && tokens.forget.is_empty());
    }

    #[test]
    fn nonces_are_single_use_within_the_window() {
        let mut nonces = Nonces::default();
        let (t0, window) = (Instant::now(), Duration::from_secs(60));
        assert!(nonces.first_use("a", t0, window));
        assert!(nonces.first_use("b", t0 + Duration::from_secs(30), window));
        assert!(!nonces.first_use("a", t0 + Duration::from_secs(59), window));
        // "a" has aged out, "b" has not.
        assert!(nonces.first_use("a", t0 + Duration::from_secs(61), window));
        assert!(!nonces.first_use("b", t0 + Duration::from_secs(62), window));
        assert_eq!(nonces.seen.len(), nonces.by_age.len());
    }

    #[test]
    fn at_most_max_nonces_are_remembered_the_oldest_going_first() {
        let mut nonces = Nonces::default();
        let (now, forever) = (Instant::now(), Duration::MAX);
        let long = "n".repeat(100_000);
        assert!(nonces.first_use(&long, now, forever));
        assert!(!nonces.first_use(&long, now, forever));
        for n in 1..MAX_NONCES {
            assert!(nonces.first_use(&n.to_string(), now, forever));
        }
        assert_eq!(nonces.by_age.len(), MAX_NONCES);
        assert!(!nonces.first_use("1", now, forever), "still remembered");
        assert!(nonces.first_use("one more", now, forever));
        assert_eq!(nonces.by_age.len(), MAX_NONCES);
        assert_eq!(nonces.seen.len(), MAX_NONCES);
        assert!(
            nonces.first_use(&long, now, forever),
            "the oldest was forgotten"
        );
    }
}
