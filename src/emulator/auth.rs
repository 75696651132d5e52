//! Management tokens and request authentication.
//!
//! [`authenticate`] is the one place an OTP request's credentials are checked. It dispatches on
//! the `authorization` header's scheme: `Bearer <token>` (or a bare token, as the Java SDK sends
//! it) goes to [`verify_bearer`]; `authing <accessKeyId>:<signature>` (AK/SK request signing, the
//! Node SDK 4.x scheme) goes to [`verify_signature`], the seam where signature verification will
//! be added: it receives everything the string to sign is built from (method, path, query,
//! headers, body) and returns the [`Principal`] or an [`AuthFailure`].

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Method};
use serde_json::json;

use super::codes;
use super::server::Shared;

/// The `x-authing-userpool-id` header.
pub(crate) const USERPOOL_HEADER: &str = "x-authing-userpool-id";

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
    /// AK/SK request signing, which the emulator does not verify yet.
    SignatureUnsupported,
}

impl AuthFailure {
    /// The `apiCode` and message the emulator answers with.
    pub(crate) fn describe(self) -> (u32, &'static str) {
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
                "x-authing-userpool-id header is required",
            ),
            Self::UserPoolMismatch => (
                codes::USERPOOL_MISMATCH,
                "x-authing-userpool-id does not match the user pool of the access token",
            ),
            Self::SignatureUnsupported => (
                codes::SIGNATURE_UNSUPPORTED,
                "AK/SK request signing is not supported by the emulator yet; use a management token",
            ),
        }
    }
}

/// The parts of a request credentials can depend on.
pub(crate) struct RequestView<'a> {
    /// The HTTP method.
    #[allow(dead_code, reason = "for signature verification")]
    pub(crate) method: &'a Method,
    /// The path, without query.
    #[allow(dead_code, reason = "for signature verification")]
    pub(crate) path: &'a str,
    /// The raw query string, without `?`.
    #[allow(dead_code, reason = "for signature verification")]
    pub(crate) query: Option<&'a str>,
    /// All request headers.
    pub(crate) headers: &'a HeaderMap,
    /// The raw body (empty for GET).
    #[allow(dead_code, reason = "for signature verification")]
    pub(crate) body: &'a [u8],
}

/// Checks an OTP request's credentials: the single entry point for every scheme.
pub(crate) fn authenticate(
    shared: &Shared,
    request: &RequestView<'_>,
) -> Result<Principal, AuthFailure> {
    let header = request
        .headers
        .get(http::header::AUTHORIZATION)
        .ok_or(AuthFailure::MissingAuthorization)?
        .to_str()
        .map_err(|_| AuthFailure::UnknownToken)?
        .trim();
    if header.is_empty() {
        return Err(AuthFailure::MissingAuthorization);
    }
    match header.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
            verify_bearer(shared, request, rest.trim())
        }
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("authing") => {
            verify_signature(shared, request, rest.trim())
        }
        Some(_) => Err(AuthFailure::UnsupportedScheme),
        // The Java SDK sends the token without a scheme.
        None => verify_bearer(shared, request, header),
    }
}

/// Management-token authentication: the token must be one this emulator issued and has not
/// expired, and `x-authing-userpool-id` must name the token's pool.
fn verify_bearer(
    shared: &Shared,
    request: &RequestView<'_>,
    token: &str,
) -> Result<Principal, AuthFailure> {
    let principal = shared.tokens().check(token, Instant::now())?;
    require_userpool(request.headers, &principal)?;
    Ok(principal)
}

/// AK/SK request-signature verification (scheme in `docs/authing-wire.md` and `src/signing.rs`):
/// `credential` is `<accessKeyId>:<base64 signature>`. To implement: look the access key id up
/// (`shared.access_key_id`), rebuild the string to sign from `request` (method, the
/// `x-authing-*` and `date` headers, path, and the query pairs for GET or the top-level body
/// keys for POST), compare HMAC-SHA1 with `shared.access_key_secret`, check the `date` skew and
/// nonce reuse, and return the key's pool. Until then every signed request is refused.
fn verify_signature(
    _shared: &Shared,
    _request: &RequestView<'_>,
    _credential: &str,
) -> Result<Principal, AuthFailure> {
    Err(AuthFailure::SignatureUnsupported)
}

fn require_userpool(headers: &HeaderMap, principal: &Principal) -> Result<(), AuthFailure> {
    let pool = headers
        .get(USERPOOL_HEADER)
        .map(|v| v.to_str().unwrap_or_default().trim())
        .filter(|v| !v.is_empty())
        .ok_or(AuthFailure::MissingUserPool)?;
    if pool == principal.user_pool_id {
        Ok(())
    } else {
        Err(AuthFailure::UserPoolMismatch)
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
    issued: HashMap<String, Issued>,
}

impl Tokens {
    /// Issues a JWT-shaped token for `user_pool_id` living `ttl`.
    ///
    /// `base64url({"alg":"HS256","typ":"JWT"}) . base64url({"scoped_userpool_id", "iat", "exp",
    /// "jti"}) . base64url(32 random bytes)`: the signature is random, not an HMAC; the emulator
    /// recognises its tokens by remembering them.
    pub(crate) fn issue(&mut self, user_pool_id: &str, ttl: Duration) -> String {
        let now = Instant::now();
        self.issued.retain(|_, t| t.expires_at + FORGET_AFTER > now);
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
        let signature: Vec<u8> = (0..4).flat_map(|_| random_u64().to_le_bytes()).collect();
        let token = format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(signature));
        self.issued.insert(
            token.clone(),
            Issued {
                user_pool_id: user_pool_id.to_owned(),
                expires_at: now + ttl,
            },
        );
        token
    }

    /// The principal of a live token.
    pub(crate) fn check(&self, token: &str, now: Instant) -> Result<Principal, AuthFailure> {
        let issued = self.issued.get(token).ok_or(AuthFailure::UnknownToken)?;
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
    }

    /// Forgets every issued token (they read as unknown).
    pub(crate) fn revoke_all(&mut self) {
        self.issued.clear();
    }
}

/// A random number; quality is that of the standard library's hash seeds, enough for ids.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    RandomState::new().hash_one((n, nanos))
}

/// `bytes` random bytes as lowercase hex.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes * 2);
    while out.len() < bytes * 2 {
        out.push_str(&format!("{:016x}", random_u64()));
    }
    out.truncate(bytes * 2);
    out
}

/// A request id shaped like a UUID v4.
pub(crate) fn request_id() -> String {
    let h = random_hex(16);
    format!(
        "{}-{}-4{}-{:x}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        8 + (u8::from_str_radix(&h[16..17], 16).unwrap_or(0) & 3),
        &h[17..20],
        &h[20..32]
    )
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
    fn request_ids_look_like_uuids() {
        let id = request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_eq!(&id[14..15], "4");
    }
}
