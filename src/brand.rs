//! The two brands of the same API: Authing (China) and GenAuth (international). Same paths and
//! bodies; each speaks its own header dialect.

use std::{fmt, str::FromStr};

use reqwest::header::HeaderName;

use crate::Error;

/// Which brand's dialect the client speaks.
///
/// | | Authing | GenAuth |
/// |---|---|---|
/// | default host | `https://api.authing.cn` | `https://api.genauth.ai` |
/// | headers | `x-authing-userpool-id`, `x-authing-lang`, … | `x-genauth-userpool-id`, `x-genauth-lang`, … |
/// | signature | `authorization: authing <ak>:<sig>` over `x-authing-*` and `date` | `authorization: GenAuth <ak>:<sig>` over `x-genauth-*` and `date` |
/// | environment | `AUTHING_*` | `GENAUTH_*` |
///
/// Unset, the brand follows the host (`*.genauth.ai` is GenAuth, anything else Authing) and
/// the environment (credentials given only as `GENAUTH_*` mean GenAuth). An explicit choice
/// always wins.
///
/// ```
/// use authing_otp::Brand;
/// assert_eq!("GenAuth".parse::<Brand>().unwrap(), Brand::GenAuth);
/// assert_eq!(Brand::from_host("https://api.genauth.ai"), Brand::GenAuth);
/// assert_eq!(Brand::from_host("https://auth.example.com"), Brand::Authing);
/// assert_eq!(Brand::GenAuth.header_prefix(), "x-genauth-");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Brand {
    /// Authing: `x-authing-*` headers, `https://api.authing.cn`.
    #[default]
    Authing,
    /// GenAuth: `x-genauth-*` headers, `https://api.genauth.ai`.
    GenAuth,
}

/// The header names of one dialect, made once.
pub(crate) struct Dialect {
    pub(crate) prefix: &'static str,
    pub(crate) scheme: &'static str,
    pub(crate) sdk_version: HeaderName,
    pub(crate) lang: HeaderName,
    pub(crate) tenant: HeaderName,
    pub(crate) userpool: HeaderName,
    pub(crate) nonce: HeaderName,
    pub(crate) method: HeaderName,
    pub(crate) version: HeaderName,
}

static AUTHING: Dialect = Dialect {
    prefix: "x-authing-",
    scheme: "authing",
    sdk_version: HeaderName::from_static("x-authing-sdk-version"),
    lang: HeaderName::from_static("x-authing-lang"),
    tenant: HeaderName::from_static("x-authing-app-tenant-id"),
    userpool: HeaderName::from_static("x-authing-userpool-id"),
    nonce: HeaderName::from_static("x-authing-signature-nonce"),
    method: HeaderName::from_static("x-authing-signature-method"),
    version: HeaderName::from_static("x-authing-signature-version"),
};

static GENAUTH: Dialect = Dialect {
    prefix: "x-genauth-",
    scheme: "GenAuth",
    sdk_version: HeaderName::from_static("x-genauth-sdk-version"),
    lang: HeaderName::from_static("x-genauth-lang"),
    tenant: HeaderName::from_static("x-genauth-app-tenant-id"),
    userpool: HeaderName::from_static("x-genauth-userpool-id"),
    nonce: HeaderName::from_static("x-genauth-signature-nonce"),
    method: HeaderName::from_static("x-genauth-signature-method"),
    version: HeaderName::from_static("x-genauth-signature-version"),
};

impl Brand {
    /// Both brands.
    pub const ALL: [Brand; 2] = [Brand::Authing, Brand::GenAuth];

    /// `authing` or `genauth`.
    pub fn as_str(self) -> &'static str {
        match self {
            Brand::Authing => "authing",
            Brand::GenAuth => "genauth",
        }
    }

    /// The prefix of the brand's headers: `x-authing-` or `x-genauth-`.
    pub fn header_prefix(self) -> &'static str {
        self.dialect().prefix
    }

    /// The scheme of a signed request's `authorization`: `authing` or `GenAuth`.
    pub fn signature_scheme(self) -> &'static str {
        self.dialect().scheme
    }

    /// The brand's API host.
    pub fn default_host(self) -> &'static str {
        match self {
            Brand::Authing => "https://api.authing.cn",
            Brand::GenAuth => "https://api.genauth.ai",
        }
    }

    /// The prefix of the brand's environment variables: `AUTHING_` or `GENAUTH_`.
    pub fn env_prefix(self) -> &'static str {
        match self {
            Brand::Authing => "AUTHING_",
            Brand::GenAuth => "GENAUTH_",
        }
    }

    /// The brand a host belongs to: GenAuth for `genauth.ai` and its subdomains, Authing for
    /// anything else (private deployments included).
    pub fn from_host(host: &str) -> Brand {
        Brand::owns_host(host).unwrap_or_default()
    }

    /// The brand whose own API host this is (`*.genauth.ai` or `*.authing.cn`), or `None` for
    /// any other host (a private deployment, the emulator).
    ///
    /// ```
    /// use authing_otp::Brand;
    /// assert_eq!(Brand::owns_host("https://api.authing.cn"), Some(Brand::Authing));
    /// assert_eq!(Brand::owns_host("https://eu.genauth.ai"), Some(Brand::GenAuth));
    /// assert_eq!(Brand::owns_host("http://127.0.0.1:8080"), None);
    /// ```
    pub fn owns_host(host: &str) -> Option<Brand> {
        let name = reqwest::Url::parse(host)
            .ok()?
            .host_str()?
            .to_ascii_lowercase();
        let under = |domain: &str| name == domain || name.ends_with(&format!(".{domain}"));
        if under("genauth.ai") {
            Some(Brand::GenAuth)
        } else if under("authing.cn") {
            Some(Brand::Authing)
        } else {
            None
        }
    }

    /// The brand whose `authorization` scheme this is (`authing` or `GenAuth`, any case).
    pub fn from_signature_scheme(scheme: &str) -> Option<Brand> {
        Brand::ALL
            .into_iter()
            .find(|b| b.signature_scheme().eq_ignore_ascii_case(scheme))
    }

    pub(crate) fn dialect(self) -> &'static Dialect {
        match self {
            Brand::Authing => &AUTHING,
            Brand::GenAuth => &GENAUTH,
        }
    }
}

impl fmt::Display for Brand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Brand {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Brand::ALL
            .into_iter()
            .find(|b| b.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown brand `{}`; expected `authing` or `genauth`",
                    crate::redact::shown(s)
                ))
            })
    }
}
