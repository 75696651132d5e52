//! The settings a client is configured with that have names: the language of the API's
//! messages and how requests are authenticated.

use std::str::FromStr;

use crate::Error;

/// The language of the API's messages (`x-authing-lang`).
///
/// ```
/// assert_eq!("en-US".parse::<authing_otp::Lang>().unwrap(), authing_otp::Lang::EnUs);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Lang {
    /// `zh-CN`, the server's default.
    ZhCn,
    /// `en-US`.
    EnUs,
    /// `ja-JP`.
    JaJp,
    /// `zh-TW`.
    ZhTw,
}

impl Lang {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::EnUs => "en-US",
            Lang::JaJp => "ja-JP",
            Lang::ZhTw => "zh-TW",
        }
    }
}

impl FromStr for Lang {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        [Lang::ZhCn, Lang::EnUs, Lang::JaJp, Lang::ZhTw]
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown language `{}`; expected zh-CN, en-US, ja-JP or zh-TW",
                    crate::redact::shown(s)
                ))
            })
    }
}

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
                crate::redact::shown(s)
            )))
        }
    }
}
