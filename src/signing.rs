//! AK/SK request signing, exactly as the official Node SDK 4.x computes it.
//!
//! ```text
//! stringToSign = METHOD "\n"
//!              + one "name:value\n" per `x-authing-*` header and `date`, sorted by name,
//!                values trimmed
//!              + path
//!              + "?k=v&…" over the parameters sorted by key, values not url-encoded
//!                (nothing when there are none)
//! authorization = "authing " accessKeyId ":" base64(HMAC-SHA1(accessKeySecret, stringToSign))
//! ```
//!
//! The parameters are the query's for GET and the top-level keys of the JSON body for POST,
//! object and array values written as compact JSON exactly as they appear in the body.
//!
//! The client signs in its request hook, after every header is set, over the request exactly as
//! it leaves. What is part of the API here is [`Stamper`] (where a signature takes its date and
//! nonce, see [`signature_stamper`](crate::ManagementClientBuilder::signature_stamper)) with
//! [`Stamp`] and [`SystemStamper`]. The signing functions themselves are public only so that
//! the emulator (`authing-otp-emulator`) verifies signatures with the very code that makes
//! them, and the conformance tests recompute the official SDKs' recorded ones: they are hidden
//! from the documentation and may change.
//!
//! ```
//! use authing_otp::signing::{sign, string_to_sign};
//!
//! // A request the official Node SDK 4.0.1 was recorded sending, with its signature.
//! let headers = [
//!     ("x-authing-signature-nonce", "243eec4050420fa99d00cc67dd651e36"),
//!     ("x-authing-signature-method", "HMAC-SHA1"),
//!     ("x-authing-signature-version", "1.0"),
//!     ("x-authing-sdk-version", "authing-node-sdk:4.0.1"),
//!     ("x-authing-lang", "zh-CN"),
//!     ("date", "Sun, 22 Nov 2026 07:09:05 GMT"),
//!     ("accept", "application/json"),
//! ];
//! let params = [("userId".to_owned(), "u1".to_owned()), ("userIdType".to_owned(), "email".to_owned())];
//! let text = string_to_sign("GET", "/api/v3/get-otp-secret-by-user", headers, &params);
//! assert_eq!(sign("sk-test", &text), "ThdnJGdfJSI6981FIXxPikR10Cw=");
//! ```

use std::{collections::BTreeMap, fmt, sync::Arc, time::SystemTime};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::{AUTHORIZATION, DATE, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::value::RawValue;

use crate::Brand;

#[doc(hidden)]
/// The `x-authing-signature-method` (or `x-genauth-…`) value.
pub const SIGNATURE_METHOD: &str = "HMAC-SHA1";
#[doc(hidden)]
/// The `x-authing-signature-version` (or `x-genauth-…`) value.
pub const SIGNATURE_VERSION: &str = "1.0";

#[doc(hidden)]
/// Builds Authing's string to sign. `headers` may hold any headers: only `x-authing-*` and
/// `date` (names compared case-insensitively) are used. [`string_to_sign_for`] is the same for
/// either brand.
pub fn string_to_sign<'a>(
    method: &str,
    path: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    params: &[(String, String)],
) -> String {
    string_to_sign_for(Brand::Authing, method, path, headers, params)
}

#[doc(hidden)]
/// Builds the string to sign in `brand`'s dialect: only its headers (`x-authing-*` or
/// `x-genauth-*`) and `date` are used. GenAuth's SDK signs exactly as Authing's Node SDK does,
/// over its own headers.
///
/// ```
/// use authing_otp::{Brand, signing::{sign, string_to_sign_for}};
///
/// // A request the official @genauth/nodejs 1.0.0 was recorded sending.
/// let headers = [
///     ("x-genauth-signature-nonce", "8ee14a0e32213cf06ed7963027bedacd"),
///     ("x-genauth-signature-method", "HMAC-SHA1"),
///     ("x-genauth-signature-version", "1.0"),
///     ("x-genauth-sdk-version", "gen-auth-node-sdk:1.0.0"),
///     ("x-genauth-lang", "zh-CN"),
///     ("date", "Sun, 22 Nov 2026 11:44:08 GMT"),
///     ("x-authing-lang", "ignored in GenAuth's dialect"),
/// ];
/// let params = [("userId".to_owned(), "u1".to_owned()), ("userIdType".to_owned(), "email".to_owned())];
/// let path = "/api/v3/get-otp-secret-by-user";
/// let text = string_to_sign_for(Brand::GenAuth, "GET", path, headers, &params);
/// assert_eq!(sign("sk-test", &text), "5PVBZs4UXM3C6+XVMoMX1BhtuYw=");
/// ```
pub fn string_to_sign_for<'a>(
    brand: Brand,
    method: &str,
    path: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    params: &[(String, String)],
) -> String {
    let prefix = brand.header_prefix();
    let signed: BTreeMap<String, &str> = headers
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim()))
        .filter(|(name, _)| name == "date" || name.starts_with(prefix))
        .collect();
    let mut out = String::with_capacity(256);
    out.push_str(&method.to_ascii_uppercase());
    out.push('\n');
    for (name, value) in &signed {
        out.push_str(name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    out.push_str(path);
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (key, value)) in sorted.into_iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    out
}

#[doc(hidden)]
/// `base64(HMAC-SHA1(secret, string_to_sign))`.
pub fn sign(secret: &str, string_to_sign: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(mac(secret, string_to_sign).finalize().into_bytes())
}

#[doc(hidden)]
/// Whether `signature` (base64) is [`sign`]`(secret, string_to_sign)`, compared in constant
/// time, for a server that verifies requests (the emulator does).
///
/// ```
/// use authing_otp::signing::{sign, verify};
///
/// let signature = sign("sk-test", "GET\n/api/v3/x");
/// assert!(verify("sk-test", "GET\n/api/v3/x", &signature));
/// assert!(!verify("sk-other", "GET\n/api/v3/x", &signature));
/// assert!(!verify("sk-test", "GET\n/api/v3/x", "not base64!"));
/// ```
pub fn verify(secret: &str, string_to_sign: &str, signature: &str) -> bool {
    let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(signature) else {
        return false;
    };
    mac(secret, string_to_sign).verify_slice(&signature).is_ok()
}

fn mac(secret: &str, string_to_sign: &str) -> Hmac<sha1::Sha1> {
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any size");
    mac.update(string_to_sign.as_bytes());
    mac
}

#[doc(hidden)]
/// The parameters of a query string, decoded (`+` and `%XX`), in order.
pub fn params_from_query(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

#[doc(hidden)]
/// The top-level keys of a JSON object body: strings unquoted, anything else as it is written in
/// the body (compact JSON when the body is compact). A body that is not a JSON object has no
/// parameters.
pub fn params_from_json_body(body: &[u8]) -> Vec<(String, String)> {
    let Ok(object) = serde_json::from_slice::<BTreeMap<String, &RawValue>>(body) else {
        return Vec::new();
    };
    object
        .into_iter()
        .map(|(key, raw)| {
            let text = raw.get();
            let value = if text.starts_with('"') {
                serde_json::from_str::<String>(text).unwrap_or_else(|_| text.to_owned())
            } else {
                text.to_owned()
            };
            (key, value)
        })
        .collect()
}

/// A signature's date and nonce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The `date` header, RFC 7231 GMT form (`Sun, 22 Nov 2026 07:09:05 GMT`).
    pub date: String,
    /// The `x-authing-signature-nonce` header: unique per request.
    pub nonce: String,
}

/// Where a signature's date and nonce come from: the system clock and fresh randomness by
/// default ([`SystemStamper`]); a test may fix them to rebuild a recorded request.
///
/// Any `Fn() -> Stamp` closure is a stamper.
pub trait Stamper: Send + Sync + 'static {
    /// The date and nonce for the next request.
    fn stamp(&self) -> Stamp;
}

impl<F: Fn() -> Stamp + Send + Sync + 'static> Stamper for F {
    fn stamp(&self) -> Stamp {
        self()
    }
}

/// The current time and 16 random bytes in hex.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemStamper;

impl Stamper for SystemStamper {
    fn stamp(&self) -> Stamp {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the OS random number generator is available");
        Stamp {
            date: httpdate::fmt_http_date(SystemTime::now()),
            nonce: bytes.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }
}

/// Signs requests with an access key pair.
#[derive(Clone)]
pub(crate) struct Signer {
    access_key_id: String,
    access_key_secret: SecretString,
    stamper: Arc<dyn Stamper>,
    brand: Brand,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signature")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub(crate) fn new(
        access_key_id: String,
        access_key_secret: SecretString,
        stamper: Arc<dyn Stamper>,
        brand: Brand,
    ) -> Self {
        Signer {
            access_key_id,
            access_key_secret,
            stamper,
            brand,
        }
    }

    pub(crate) fn sign_request(&self, request: &mut reqwest::Request) {
        let Stamp { date, nonce } = self.stamper.stamp();
        let dialect = self.brand.dialect();
        let headers = request.headers_mut();
        headers.insert(&dialect.method, HeaderValue::from_static(SIGNATURE_METHOD));
        headers.insert(
            &dialect.version,
            HeaderValue::from_static(SIGNATURE_VERSION),
        );
        // Both come from a `Stamper`, which may be user code: drop what is not a header value
        // rather than panic; the server then refuses the request and says why.
        if let Ok(v) = HeaderValue::try_from(nonce) {
            headers.insert(&dialect.nonce, v);
        }
        if let Ok(v) = HeaderValue::try_from(date) {
            headers.insert(DATE, v);
        }
        let params = if request.method() == reqwest::Method::GET {
            params_from_query(request.url().query().unwrap_or(""))
        } else {
            request
                .body()
                .and_then(reqwest::Body::as_bytes)
                .map(params_from_json_body)
                .unwrap_or_default()
        };
        let text = string_to_sign_for(
            self.brand,
            request.method().as_str(),
            request.url().path(),
            request
                .headers()
                .iter()
                .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?))),
            &params,
        );
        let signature = sign(self.access_key_secret.expose_secret(), &text);
        let mut value = HeaderValue::try_from(format!(
            "{} {}:{signature}",
            dialect.scheme, self.access_key_id
        ))
        .expect("the access key id was checked to be a header value");
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_params_keep_body_text() {
        let body = br#"{"list":[{"userId":"u1","otp":{"secret":"S","recoveryCode":"r"}}],"a":"x y","n":1}"#;
        assert_eq!(
            params_from_json_body(body),
            vec![
                ("a".to_owned(), "x y".to_owned()),
                (
                    "list".to_owned(),
                    r#"[{"userId":"u1","otp":{"secret":"S","recoveryCode":"r"}}]"#.to_owned()
                ),
                ("n".to_owned(), "1".to_owned()),
            ]
        );
        assert!(params_from_json_body(b"[1]").is_empty());
    }

    #[test]
    fn query_params_are_decoded() {
        assert_eq!(
            params_from_query("userId=a+b%2Bc%40x.com%3A%C3%A9&userIdType=email"),
            vec![
                ("userId".to_owned(), "a b+c@x.com:é".to_owned()),
                ("userIdType".to_owned(), "email".to_owned())
            ]
        );
    }

    #[test]
    fn no_params_no_question_mark() {
        assert_eq!(
            string_to_sign("post", "/p", [("Date", " d "), ("X-Authing-A", "1")], &[]),
            "POST\ndate:d\nx-authing-a:1\n/p"
        );
    }
}
