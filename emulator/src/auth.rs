//! Checking credentials against what the emulator remembers of them ([`crate::credentials`]):
//! the access key pair of the token endpoint, issuing tokens, and request authentication.
//!
//! [`authenticate`] is the one place a request's credentials are checked. It dispatches on
//! the `authorization` header's scheme: `Bearer <token>` (or a bare token, as the Java SDK sends
//! it) goes to [`verify_bearer`]; `authing <accessKeyId>:<signature>` (AK/SK request signing, the
//! Node SDK 4.x scheme) or `GenAuth <accessKeyId>:<signature>` (the same over `x-genauth-*`
//! headers, as `@genauth/nodejs` signs) goes to [`verify_signature`], which rebuilds the string
//! to sign from the request as it arrived with the client's own `authing_otp::signing`
//! functions. [`check_dialect`] refuses the other brand's headers when only one is accepted.

use std::time::{Duration, Instant, SystemTime};

use authing_otp::Brand;
use http::{HeaderMap, Method};
use secrecy::ExposeSecret as _;
use subtle::ConstantTimeEq as _;

use crate::credentials::{AuthFailure, Principal};
use crate::state::Shared;

/// Whether `id` and `secret` are the configured access key pair (the secret compared in
/// constant time).
pub(crate) fn access_key_matches(shared: &Shared, id: &str, secret: &str) -> bool {
    id == shared.access_key_id
        && bool::from(
            secret
                .as_bytes()
                .ct_eq(shared.access_key_secret.expose_secret().as_bytes()),
        )
}

/// Issues a management token for the pool, living the configured lifetime; returns it with
/// that lifetime.
pub(crate) fn issue_token(shared: &Shared) -> (String, Duration) {
    let ttl = shared.knobs().token_ttl;
    (shared.tokens().issue(&shared.user_pool_id, ttl), ttl)
}

/// The parts of a request credentials can depend on.
pub(crate) struct RequestView<'a> {
    /// The HTTP method.
    pub(crate) method: &'a Method,
    /// The path, without query.
    pub(crate) path: &'a str,
    /// The raw query string, without `?`.
    pub(crate) query: Option<&'a str>,
    /// All request headers.
    pub(crate) headers: &'a HeaderMap,
    /// The raw body (empty for GET).
    pub(crate) body: &'a [u8],
}

/// With one brand accepted, any header of the other's dialect is refused, on every operation
/// the token request included: a test can prove which dialect its client speaks.
pub(crate) fn check_dialect(shared: &Shared, headers: &HeaderMap) -> Result<(), AuthFailure> {
    check_dialect_for(shared.knobs().only_brand, headers)
}

fn check_dialect_for(accepted: Option<Brand>, headers: &HeaderMap) -> Result<(), AuthFailure> {
    let Some(only) = accepted else {
        return Ok(());
    };
    let foreign: Vec<&str> = Brand::ALL
        .into_iter()
        .filter(|b| *b != only)
        .map(Brand::header_prefix)
        .collect();
    if headers.keys().any(|name| {
        foreign
            .iter()
            .any(|prefix| name.as_str().starts_with(prefix))
    }) {
        return Err(AuthFailure::DialectNotAccepted);
    }
    Ok(())
}

/// Checks a request's credentials (any operation but the token endpoint's): the single entry
/// point for every scheme.
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
    let accepted = shared.knobs().only_brand;
    check_dialect_for(accepted, request.headers)?;
    match header.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
            verify_bearer(shared, request, rest.trim())
        }
        Some((scheme, rest)) => match Brand::from_signature_scheme(scheme) {
            Some(brand) if accepted.is_none_or(|only| only == brand) => {
                verify_signature(shared, request, rest.trim(), brand)
            }
            Some(_) => Err(AuthFailure::DialectNotAccepted),
            None => Err(AuthFailure::UnsupportedScheme),
        },
        // The Java SDK sends the token without a scheme.
        None => verify_bearer(shared, request, header),
    }
}

/// Management-token authentication: the token must be one this emulator issued and has not
/// expired, and `x-authing-userpool-id` (or `x-genauth-userpool-id`) must name the token's
/// pool.
fn verify_bearer(
    shared: &Shared,
    request: &RequestView<'_>,
    token: &str,
) -> Result<Principal, AuthFailure> {
    let principal = shared.tokens().check(token, Instant::now())?;
    require_userpool(request.headers, &principal)?;
    Ok(principal)
}

/// AK/SK request-signature verification (the official Node SDK's scheme, described in
/// [`authing_otp::signing`]): `credential` is `<accessKeyId>:<base64 signature>`. The signature is
/// checked before the nonce is recorded, so a forged request cannot burn a real one's nonce.
fn verify_signature(
    shared: &Shared,
    request: &RequestView<'_>,
    credential: &str,
    brand: Brand,
) -> Result<Principal, AuthFailure> {
    use authing_otp::signing;

    let (access_key_id, signature) = credential
        .split_once(':')
        .ok_or(AuthFailure::SignatureMalformed)?;
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(AuthFailure::SignatureHeaderMissing)
    };
    let prefix = brand.header_prefix();
    let named = |suffix: &str| header(&format!("{prefix}{suffix}"));
    let (date, nonce) = (header("date")?, named("signature-nonce")?);
    if named("signature-method")? != signing::SIGNATURE_METHOD
        || named("signature-version")? != signing::SIGNATURE_VERSION
    {
        return Err(AuthFailure::SignatureMethodUnsupported);
    }
    if access_key_id != shared.access_key_id {
        return Err(AuthFailure::UnknownAccessKey);
    }
    let sent = httpdate::parse_http_date(date).map_err(|_| AuthFailure::SignatureMalformed)?;
    let now = SystemTime::now();
    let skew = now
        .duration_since(sent)
        .or_else(|_| sent.duration_since(now))
        .unwrap_or_default();
    let max_skew = shared.knobs().max_clock_skew;
    if skew > max_skew {
        return Err(AuthFailure::ClockSkew);
    }
    let params = if request.method == Method::GET {
        signing::params_from_query(request.query.unwrap_or(""))
    } else {
        signing::params_from_json_body(request.body)
    };
    let string_to_sign = signing::string_to_sign_for(
        brand,
        request.method.as_str(),
        request.path,
        request
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?))),
        &params,
    );
    if !signing::verify(
        shared.access_key_secret.expose_secret(),
        &string_to_sign,
        signature,
    ) {
        return Err(AuthFailure::SignatureMismatch);
    }
    if !shared
        .nonces()
        .first_use(nonce, Instant::now(), max_skew.saturating_mul(2))
    {
        return Err(AuthFailure::NonceReused);
    }
    Ok(Principal {
        user_pool_id: shared.user_pool_id.clone(),
    })
}

fn require_userpool(headers: &HeaderMap, principal: &Principal) -> Result<(), AuthFailure> {
    let pool = Brand::ALL
        .into_iter()
        .find_map(|brand| headers.get(format!("{}userpool-id", brand.header_prefix())))
        .map(|v| v.to_str().unwrap_or_default().trim())
        .filter(|v| !v.is_empty())
        .ok_or(AuthFailure::MissingUserPool)?;
    if pool == principal.user_pool_id {
        Ok(())
    } else {
        Err(AuthFailure::UserPoolMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_configured_key_pair_matches() {
        let shared = Shared::for_tests(Duration::from_secs(60));
        assert!(access_key_matches(&shared, "ak", "sk"));
        for (id, secret) in [
            ("ak", "s"),
            ("ak", "skk"),
            ("ak", ""),
            ("a", "sk"),
            ("", ""),
        ] {
            assert!(!access_key_matches(&shared, id, secret), "{id}/{secret}");
        }
    }

    #[test]
    fn issued_tokens_live_the_configured_lifetime_in_the_pool() {
        let shared = Shared::for_tests(Duration::from_secs(60));
        let (token, ttl) = issue_token(&shared);
        assert_eq!(ttl, Duration::from_secs(60));
        let principal = shared.tokens().check(&token, Instant::now()).unwrap();
        assert_eq!(principal.user_pool_id, "up");
        assert_eq!(
            shared
                .tokens()
                .check(&token, Instant::now() + Duration::from_secs(61)),
            Err(AuthFailure::ExpiredToken)
        );
        shared.knobs().token_ttl = Duration::from_secs(5);
        assert_eq!(issue_token(&shared).1, Duration::from_secs(5));
    }
}
