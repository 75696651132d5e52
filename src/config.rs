//! Configuring a client: the builder, the environment, and the checks on the host.

use std::{ffi::OsString, fmt, sync::Arc, time::Duration};

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use crate::{
    AuthScheme, Brand, Error, Lang, ManagementClient, RetryConfig, SDK_VERSION,
    attempt::Decor,
    rate_limit::{MAX_RPS, MIN_RPS, RateLimit},
    retry::RetryBudget,
    signing::{Signer, Stamper, SystemStamper},
    state::{Auth, Inner, Shown, Stats},
    token::TokenCache,
};

/// The default API host (Authing's; GenAuth's is [`Brand::default_host`]).
pub(crate) const DEFAULT_HOST: &str = "https://api.authing.cn";
/// The default timeout of one request.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds a [`ManagementClient`]; every setting but the access key pair has a default.
///
/// ```
/// use std::time::Duration;
/// use authing_otp::{AuthScheme, ManagementClient};
///
/// // Environment first (AUTHING_*), then explicit settings on top.
/// let client = ManagementClient::builder()
///     .access_key("ak", "sk")
///     .with_env()?
///     .host("https://api.genauth.ai/")
///     .auth(AuthScheme::Signature)
///     .timeout(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(client.host(), "https://api.genauth.ai");
///
/// let err = ManagementClient::builder().host("not a url").access_key("ak", "sk").build();
/// assert_eq!(err.unwrap_err().kind(), authing_otp::ErrorKind::Config);
/// # Ok::<(), authing_otp::Error>(())
/// ```
#[derive(Default)]
#[must_use]
pub struct ManagementClientBuilder {
    access_key_id: Option<String>,
    access_key_secret: Option<SecretString>,
    host: Option<String>,
    user_pool_id: Option<String>,
    lang: Option<Lang>,
    tenant_id: Option<String>,
    timeout: Option<Duration>,
    http_client: Option<reqwest::Client>,
    auth: AuthScheme,
    brand: Option<Brand>,
    /// The brand the environment's credentials suggest (`GENAUTH_*` only).
    env_brand: Option<Brand>,
    stamper: Option<Arc<dyn Stamper>>,
    retry: RetryConfig,
    rps: Option<f64>,
    allow_insecure_http: bool,
    log_user_ids: bool,
}

impl fmt::Debug for ManagementClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagementClientBuilder")
            .field("access_key_id", &self.access_key_id)
            .field(
                "access_key_secret",
                &self.access_key_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("host", &self.host)
            .field("user_pool_id", &self.user_pool_id)
            .field("lang", &self.lang)
            .field("tenant_id", &self.tenant_id)
            .field("timeout", &self.timeout)
            .field("auth", &self.auth)
            .field("brand", &self.brand)
            .field("retry", &self.retry)
            .field("rps", &self.rps)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish_non_exhaustive()
    }
}

/// A secret as the builder takes it: a `&str`, a `String`, a [`SecretString`] or a
/// `&SecretString` (the emulator's, say), which it stays.
///
/// ```
/// use authing_otp::ManagementClient;
/// use secrecy::SecretString;
///
/// let secret = SecretString::from("sk");
/// let by_ref = ManagementClient::builder().access_key("ak", &secret).build()?;
/// let by_value = ManagementClient::builder().access_key("ak", "sk").build()?;
/// # let _ = (by_ref, by_value);
/// # Ok::<(), authing_otp::Error>(())
/// ```
pub trait IntoSecret {
    /// The secret, as a [`SecretString`].
    fn into_secret(self) -> SecretString;
}

impl IntoSecret for SecretString {
    fn into_secret(self) -> SecretString {
        self
    }
}

impl IntoSecret for &SecretString {
    fn into_secret(self) -> SecretString {
        self.expose_secret().into()
    }
}

impl IntoSecret for &str {
    fn into_secret(self) -> SecretString {
        self.into()
    }
}

impl IntoSecret for String {
    fn into_secret(self) -> SecretString {
        self.into()
    }
}

impl IntoSecret for &String {
    fn into_secret(self) -> SecretString {
        self.as_str().into()
    }
}

impl ManagementClientBuilder {
    /// The access key pair: the user pool id and secret, or a collaborator's key pair. The
    /// secret may be given as a `&str`, a `String`, a [`SecretString`] or a `&SecretString`
    /// ([`IntoSecret`]), and stays secret.
    pub fn access_key(mut self, id: impl Into<String>, secret: impl IntoSecret) -> Self {
        self.access_key_id = Some(id.into());
        self.access_key_secret = Some(secret.into_secret());
        // Credentials given here, not by GENAUTH_* variables, say nothing of the brand.
        self.env_brand = None;
        self
    }

    /// The access key id alone (the secret from elsewhere, say the environment).
    pub fn access_key_id(mut self, id: impl Into<String>) -> Self {
        self.access_key_id = Some(id.into());
        self
    }

    /// The access key secret alone (the id from elsewhere, say the environment).
    pub fn access_key_secret(mut self, secret: impl IntoSecret) -> Self {
        self.access_key_secret = Some(secret.into_secret());
        self
    }

    /// The API host, e.g. `https://api.authing.cn` (the default), `https://api.genauth.ai`, or a
    /// private deployment's. A trailing slash is ignored.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The user pool id sent as `x-authing-userpool-id` (`x-genauth-userpool-id` for GenAuth)
    /// in token mode. Without it, the token's `scoped_userpool_id` claim is used.
    pub fn user_pool_id(mut self, id: impl Into<String>) -> Self {
        self.user_pool_id = Some(id.into());
        self
    }

    /// The language of the API's messages. Unset, no `x-authing-lang` (`x-genauth-lang`) is
    /// sent and the server answers in its default, Chinese.
    pub fn lang(mut self, lang: Lang) -> Self {
        self.lang = Some(lang);
        self
    }

    /// A tenant id, sent as `x-authing-app-tenant-id` (`x-genauth-app-tenant-id` for GenAuth).
    pub fn tenant_id(mut self, id: impl Into<String>) -> Self {
        self.tenant_id = Some(id.into());
        self
    }

    /// The timeout of one request, reading its answer included (10 s by default; more than
    /// zero), applied per request, so it also bounds a client given to
    /// [`http_client`](Self::http_client).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends through this `reqwest::Client` (proxies, TLS roots, connection pool settings).
    /// Build it with `redirect(reqwest::redirect::Policy::none())`: the client refuses the
    /// redirects it sees, and the answer of one that the given client followed by itself, but
    /// by then the request's secrets have gone wherever it pointed. [`tls::http_client_builder`]
    /// starts from the crate's own TLS set-up, redirects off.
    ///
    /// [`tls::http_client_builder`]: crate::tls::http_client_builder
    ///
    /// Its default headers are added after the request is signed: in signature mode, do not
    /// give it `x-authing-*` or `date` default headers, which the server would expect to be
    /// signed.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// How failed requests are retried ([`RetryConfig::default`]: 3 attempts, a 60 s deadline
    /// per call, a retry budget shared by clones); [`RetryConfig::disabled`] for none.
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// At most `rps` requests per second (token requests included), evenly spaced, first come
    /// first served, shared by every clone of the client; halved for a while when the server
    /// throttles (429) anyway. Off by default. Between 0.01 (one request every 100 s) and
    /// 1,000,000. Authing's free plans allow 300 per second per user pool.
    pub fn rate_limit(mut self, rps: f64) -> Self {
        self.rps = Some(rps);
        self
    }

    /// Allows a plain `http://` host that is not a loopback address. Off by default: the access
    /// key secret, the token and the OTP secrets would cross the network in clear text.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Puts the `userId` values in tracing events (their type only, by default): they are
    /// often email addresses or phone numbers.
    pub fn log_user_ids(mut self, log: bool) -> Self {
        self.log_user_ids = log;
        self
    }

    /// The brand whose dialect to speak. Unset, it follows the host (`*.genauth.ai` is
    /// GenAuth) and the environment (credentials only as `GENAUTH_*` mean GenAuth); Authing
    /// otherwise. It also picks the default host.
    pub fn brand(mut self, brand: Brand) -> Self {
        self.brand = Some(brand);
        self
    }

    /// How requests are authenticated; [`AuthScheme::Token`] by default.
    pub fn auth(mut self, scheme: AuthScheme) -> Self {
        self.auth = scheme;
        self
    }

    /// Where signatures take their date and nonce (the clock and fresh randomness by default).
    /// Fixing them lets a test rebuild a recorded request byte for byte; never fix them in
    /// production, as the server refuses a reused nonce.
    pub fn signature_stamper(mut self, stamper: impl Stamper) -> Self {
        self.stamper = Some(Arc::new(stamper));
        self
    }

    /// Reads `AUTHING_ACCESS_KEY_ID`, `AUTHING_ACCESS_KEY_SECRET`, `AUTHING_HOST`,
    /// `AUTHING_USERPOOL_ID`, `AUTHING_LANG`, `AUTHING_TENANT_ID`, `AUTHING_AUTH` (`token` or
    /// `signature`), `AUTHING_MAX_ATTEMPTS`, `AUTHING_RPS` and `AUTHING_BRAND`, and their
    /// `GENAUTH_*` twins: `AUTHING_*` first, unless the brand named (by a `*_BRAND` variable or
    /// the builder) is GenAuth or the settings are given only as `GENAUTH_*`; the key pair is
    /// taken from one brand's variables when that brand has both. Unset or empty variables
    /// leave the setting as it was. Only these variables are read, so a variable elsewhere in the
    /// environment that is not Unicode does no harm; one of these that is not is an error.
    pub fn with_env(self) -> Result<Self, Error> {
        self.with_vars(|name| std::env::var_os(name))
    }

    fn with_vars(mut self, vars: impl Fn(&str) -> Option<OsString>) -> Result<Self, Error> {
        let raw = |name: &str| -> Result<Option<String>, Error> {
            match vars(name) {
                None => Ok(None),
                Some(value) => value
                    .into_string()
                    .map(|v| Some(v).filter(|v| !v.is_empty()))
                    .map_err(|_| Error::Config(format!("{name} is not valid Unicode"))),
            }
        };
        // The brand named in the environment (or on the builder) decides which twin wins;
        // unnamed, the settings given only as `GENAUTH_*` decide for GenAuth; else `AUTHING_*`
        // comes first and `GENAUTH_*` fills the gaps.
        let named = match (raw("AUTHING_BRAND")?, raw("GENAUTH_BRAND")?) {
            (Some(a), Some(g)) if !a.eq_ignore_ascii_case(&g) => {
                return Err(Error::Config(format!(
                    "AUTHING_BRAND ({a}) and GENAUTH_BRAND ({g}) disagree"
                )));
            }
            (Some(b), _) => Some(b.parse::<Brand>().map_err(|e| in_var("AUTHING_BRAND", e))?),
            (None, Some(b)) => Some(b.parse::<Brand>().map_err(|e| in_var("GENAUTH_BRAND", e))?),
            (None, None) => None,
        };
        const WHERE: [&str; 4] = ["ACCESS_KEY_ID", "ACCESS_KEY_SECRET", "HOST", "USERPOOL_ID"];
        let mut authing_given = false;
        let mut genauth_given = false;
        for setting in WHERE {
            authing_given |= raw(&format!("AUTHING_{setting}"))?.is_some();
            genauth_given |= raw(&format!("GENAUTH_{setting}"))?.is_some();
        }
        let hint = (genauth_given && !authing_given).then_some(Brand::GenAuth);
        let order = match named.or(self.brand).or(hint) {
            Some(Brand::GenAuth) => [Brand::GenAuth, Brand::Authing],
            _ => [Brand::Authing, Brand::GenAuth],
        };
        // Returns the value and the name it came from, for messages.
        let var = |setting: &str| -> Result<Option<(String, String)>, Error> {
            for brand in order {
                let name = format!("{}{setting}", brand.env_prefix());
                if let Some(value) = raw(&name)? {
                    return Ok(Some((value, name)));
                }
            }
            Ok(None)
        };
        if named.is_some() {
            self.brand = named;
        }
        if hint.is_some() {
            self.env_brand = hint;
        }
        // The key pair comes from one brand's variables when that brand has both, so that an id
        // and a secret of different pools are never sent together.
        let pair = order.into_iter().find_map(|brand| {
            let id = raw(&format!("{}ACCESS_KEY_ID", brand.env_prefix())).ok()??;
            let secret = raw(&format!("{}ACCESS_KEY_SECRET", brand.env_prefix())).ok()??;
            Some((id, secret))
        });
        match pair {
            Some((id, secret)) => {
                self.access_key_id = Some(id);
                self.access_key_secret = Some(secret.into());
            }
            None => {
                if let Some((id, _)) = var("ACCESS_KEY_ID")? {
                    self.access_key_id = Some(id);
                }
                if let Some((secret, _)) = var("ACCESS_KEY_SECRET")? {
                    self.access_key_secret = Some(secret.into());
                }
            }
        }
        if let Some((host, _)) = var("HOST")? {
            self.host = Some(host);
        }
        if let Some((pool, _)) = var("USERPOOL_ID")? {
            self.user_pool_id = Some(pool);
        }
        if let Some((lang, name)) = var("LANG")? {
            self.lang = Some(lang.parse().map_err(|e| in_var(&name, e))?);
        }
        if let Some((tenant, _)) = var("TENANT_ID")? {
            self.tenant_id = Some(tenant);
        }
        if let Some((auth, name)) = var("AUTH")? {
            self.auth = auth.parse().map_err(|e| in_var(&name, e))?;
        }
        if let Some((attempts, name)) = var("MAX_ATTEMPTS")? {
            let attempts = attempts
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    Error::Config(format!("{name} must be a whole number, at least 1"))
                })?;
            self.retry = self.retry.max_attempts(attempts);
        }
        if let Some((rps, name)) = var("RPS")? {
            let rps = rps.parse::<f64>().map_err(|_| {
                Error::Config(format!("{name} must be a number of requests per second"))
            })?;
            self.rps = Some(rps);
        }
        Ok(self)
    }

    /// Checks the settings and builds the client. Nothing is sent until the first call.
    pub fn build(self) -> Result<ManagementClient, Error> {
        let access_key_id = self
            .access_key_id
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| {
                Error::Config(
                    "no access key id (set AUTHING_ACCESS_KEY_ID or GENAUTH_ACCESS_KEY_ID)".into(),
                )
            })?;
        if !access_key_id.chars().all(|c| c.is_ascii_graphic()) || access_key_id.contains(':') {
            return Err(Error::Config(
                "the access key id must be printable ASCII without spaces or `:`".into(),
            ));
        }
        let access_key_secret = self
            .access_key_secret
            .filter(|s| !secrecy::ExposeSecret::expose_secret(s).is_empty())
            .ok_or_else(|| {
                Error::Config("no access key secret (set AUTHING_ACCESS_KEY_SECRET or GENAUTH_ACCESS_KEY_SECRET)".into())
            })?;
        // An explicit brand wins; then a host that is one brand's own; then what the
        // environment's credentials say; Authing otherwise.
        let brand = self.brand.unwrap_or_else(|| {
            self.host
                .as_deref()
                .and_then(Brand::owns_host)
                .or(self.env_brand)
                .unwrap_or_default()
        });
        let host = self.host.unwrap_or_else(|| brand.default_host().to_owned());
        let host = host.trim_end_matches('/').to_owned();
        check_host(&host, self.allow_insecure_http)?;
        let rate_limit = match self.rps {
            Some(rps) if (MIN_RPS..=MAX_RPS).contains(&rps) => Some(RateLimit::new(rps)),
            Some(_) => {
                return Err(Error::Config(format!(
                    "the rate limit must be between {MIN_RPS} and {MAX_RPS} requests per second"
                )));
            }
            None => None,
        };
        // Visible ASCII only: a value that is not text cannot be signed, and servers disagree
        // on other bytes.
        let header = |name: &str, value: String| {
            if !value.chars().all(|c| c.is_ascii_graphic() || c == ' ') || value.trim().is_empty() {
                return Err(Error::Config(format!(
                    "the {name} must be non-empty printable ASCII"
                )));
            }
            HeaderValue::try_from(value)
                .map_err(|_| Error::Config(format!("the {name} is not a valid header value")))
        };
        let tenant_id = self
            .tenant_id
            .clone()
            .map(|t| header("tenant id", t))
            .transpose()?;
        if let Some(pool) = &self.user_pool_id {
            header("user pool id", pool.clone())?;
        }
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(Error::Config(
                "the timeout must be more than zero (it bounds each request)".into(),
            ));
        }
        let dialect = brand.dialect();
        let mut headers = vec![(
            dialect.sdk_version.clone(),
            HeaderValue::from_static(SDK_VERSION),
        )];
        if let Some(lang) = self.lang {
            headers.push((
                dialect.lang.clone(),
                HeaderValue::from_static(lang.as_str()),
            ));
        }
        if let Some(tenant) = tenant_id {
            headers.push((dialect.tenant.clone(), tenant));
        }
        let signer = (self.auth == AuthScheme::Signature).then(|| {
            Signer::new(
                access_key_id.clone(),
                access_key_secret.clone(),
                self.stamper.unwrap_or_else(|| Arc::new(SystemStamper)),
                brand,
            )
        });
        let auth = match self.auth {
            AuthScheme::Token => Auth::Token {
                tokens: TokenCache::new(),
                access_key_id: access_key_id.clone(),
                user_pool_id: self.user_pool_id.clone(),
            },
            AuthScheme::Signature => Auth::Signature,
        };
        let own_http_client = self.http_client.is_some();
        let http = match self.http_client {
            Some(client) => client,
            None => crate::tls::http_client_builder()?
                .user_agent(concat!("authing-otp-rust/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(timeout)
                // Each attempt's timeout, unless the call sets a shorter one (its deadline's).
                .timeout(timeout)
                .build()
                .map_err(|e| Error::Config(format!("building the HTTP client: {e}")))?,
        };
        let shown = Shown {
            host: host.clone(),
            brand,
            auth: self.auth,
            access_key_id,
            user_pool_id: self.user_pool_id,
            lang: self.lang,
            tenant_id: self.tenant_id,
            timeout,
            retry: self.retry.clone(),
            rate_limit: rate_limit.as_ref().map(RateLimit::rps),
            allow_insecure_http: self.allow_insecure_http,
            own_http_client,
        };
        Ok(ManagementClient::from_inner(Inner {
            base_url: host,
            http,
            decor: Arc::new(Decor {
                headers,
                userpool: dialect.userpool.clone(),
                signer,
                foreign_client: own_http_client,
            }),
            auth,
            access_key_secret,
            timeout,
            retry: self.retry,
            budget: RetryBudget::default(),
            rate_limit,
            log_user_ids: self.log_user_ids,
            stats: Stats::default(),
            shown,
        }))
    }
}

/// A configuration error, said of the variable it came from.
fn in_var(name: &str, error: Error) -> Error {
    match error {
        Error::Config(message) => Error::Config(format!("{name}: {message}")),
        other => other,
    }
}

/// An `http(s)` URL with a host and nothing else (no user info, query or fragment); plain
/// `http` only to a loopback host unless allowed.
///
/// Messages never repeat the host as given: it may carry a password (`ftp://user:pass@…`). They
/// name it as `scheme://host:port` when it parses with a host, and not at all otherwise.
fn check_host(host: &str, allow_insecure_http: bool) -> Result<(), Error> {
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        // The URL parser would drop tabs and line breaks silently; the client's host would not.
        return Err(Error::Config(
            "the host must not contain whitespace or control characters".into(),
        ));
    }
    let parsed = reqwest::Url::parse(host).ok();
    let url = parsed
        .as_ref()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
        .ok_or_else(|| {
            Error::Config(match parsed.as_ref().and_then(named_origin) {
                Some(origin) => {
                    format!("the host `{origin}` is not an http(s) URL such as {DEFAULT_HOST}")
                }
                None => format!("the host is not an http(s) URL such as {DEFAULT_HOST}"),
            })
        })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(
            "the host must not carry user info (`user:password@`): give the access key pair \
             instead"
                .into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Config(format!(
            "the host `{}` must not have a query or a fragment",
            url.origin().ascii_serialization()
        )));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    };
    if url.scheme() == "http" && !loopback && !allow_insecure_http {
        return Err(Error::Config(format!(
            "the host `{}` is plain http, which would send the access key secret and the OTP \
             secrets in clear text: use https (plain http is accepted for loopback hosts, or \
             with allow_insecure_http)",
            url.origin().ascii_serialization()
        )));
    }
    Ok(())
}

/// `scheme://host[:port]` of any URL with a host, whatever its scheme (`origin()` says `null`
/// for most), and never its user info, path, query or fragment; `None` when there is no host
/// or the result would be too long to be a host anyone typed.
fn named_origin(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str().filter(|h| !h.is_empty())?;
    let origin = match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    };
    (origin.len() <= 300).then_some(origin)
}

impl ManagementClient {
    /// A builder with the defaults.
    pub fn builder() -> ManagementClientBuilder {
        ManagementClientBuilder::default()
    }

    /// A client configured from the `AUTHING_*` environment variables
    /// (see [`ManagementClientBuilder::with_env`]).
    pub fn from_env() -> Result<Self, Error> {
        Self::builder().with_env()?.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::HashMap;

    /// A fake environment holding exactly `pairs`.
    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).map(OsString::from)
    }

    #[test]
    fn from_env_reads_every_variable() {
        let builder = ManagementClient::builder()
            .with_vars(vars(&[
                ("AUTHING_ACCESS_KEY_ID", "ak"),
                ("AUTHING_ACCESS_KEY_SECRET", "sk-very-secret"),
                ("AUTHING_HOST", "http://127.0.0.1:9/"),
                ("AUTHING_USERPOOL_ID", "pool"),
                ("AUTHING_LANG", "ja-JP"),
                ("AUTHING_TENANT_ID", "t1"),
                ("AUTHING_AUTH", "signature"),
            ]))
            .unwrap();
        let debug = format!("{builder:?}");
        assert!(!debug.contains("sk-very-secret"), "{debug}");
        assert_eq!(builder.lang, Some(Lang::JaJp));
        assert_eq!(builder.auth, AuthScheme::Signature);
        let client = builder.build().unwrap();
        assert_eq!(client.host(), "http://127.0.0.1:9");
        assert!(!format!("{client:?}").contains("sk-very-secret"));
    }

    #[test]
    fn refuses_bad_configuration() {
        let bad = [
            vec![],
            vec![("AUTHING_ACCESS_KEY_ID", "ak")],
            vec![
                ("AUTHING_ACCESS_KEY_ID", "ak"),
                ("AUTHING_ACCESS_KEY_SECRET", "sk"),
                ("AUTHING_HOST", "ftp://x"),
            ],
            vec![
                ("AUTHING_ACCESS_KEY_ID", "ak"),
                ("AUTHING_ACCESS_KEY_SECRET", "sk"),
                ("AUTHING_TENANT_ID", "bad\nvalue"),
            ],
        ];
        for pairs in bad {
            let err = ManagementClient::builder()
                .with_vars(vars(&pairs))
                .and_then(ManagementClientBuilder::build)
                .unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Config, "{pairs:?}: {err}");
        }
        let err = ManagementClient::builder()
            .with_vars(vars(&[("AUTHING_LANG", "fr-FR")]))
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
    }

    #[test]
    fn the_brand_follows_the_host_and_the_environment_unless_chosen() {
        let brand = |pairs: &[(&str, &str)]| {
            ManagementClient::builder()
                .with_vars(vars(pairs))
                .and_then(ManagementClientBuilder::build)
                .map(|c| (c.brand(), c.host().to_owned()))
                .unwrap()
        };
        let authing = [
            ("AUTHING_ACCESS_KEY_ID", "ak"),
            ("AUTHING_ACCESS_KEY_SECRET", "sk"),
        ];
        let genauth = [
            ("GENAUTH_ACCESS_KEY_ID", "ak"),
            ("GENAUTH_ACCESS_KEY_SECRET", "sk"),
        ];
        assert_eq!(
            brand(&authing),
            (Brand::Authing, "https://api.authing.cn".into())
        );
        // Credentials only as GENAUTH_* mean GenAuth, and its host.
        assert_eq!(
            brand(&genauth),
            (Brand::GenAuth, "https://api.genauth.ai".into())
        );
        // The host says GenAuth.
        let mut by_host = authing.to_vec();
        by_host.push(("AUTHING_HOST", "https://eu.genauth.ai"));
        assert_eq!(brand(&by_host).0, Brand::GenAuth);
        // An explicit choice wins over both.
        let mut chosen = genauth.to_vec();
        chosen.push(("GENAUTH_BRAND", "authing"));
        assert_eq!(
            brand(&chosen),
            (Brand::Authing, "https://api.authing.cn".into())
        );
        let client = ManagementClient::builder()
            .with_vars(vars(&genauth))
            .unwrap()
            .brand(Brand::Authing)
            .build()
            .unwrap();
        assert_eq!(client.brand(), Brand::Authing);
        // GENAUTH_* twins fill what AUTHING_* leaves unset; the key pair comes from the brand
        // that has both halves.
        let mixed = [
            ("AUTHING_ACCESS_KEY_ID", "ak-authing"),
            ("GENAUTH_ACCESS_KEY_ID", "ak-genauth"),
            ("GENAUTH_ACCESS_KEY_SECRET", "sk"),
            ("GENAUTH_LANG", "en-US"),
        ];
        let builder = ManagementClient::builder().with_vars(vars(&mixed)).unwrap();
        assert_eq!(builder.access_key_id.as_deref(), Some("ak-genauth"));
        assert_eq!(builder.lang, Some(Lang::EnUs));
        // With both sets complete, AUTHING_* wins unless GenAuth is named.
        let both = [
            ("AUTHING_ACCESS_KEY_ID", "ak-authing"),
            ("AUTHING_ACCESS_KEY_SECRET", "sk-a"),
            ("AUTHING_HOST", "https://api.authing.cn"),
            ("GENAUTH_ACCESS_KEY_ID", "ak-genauth"),
            ("GENAUTH_ACCESS_KEY_SECRET", "sk-g"),
            ("GENAUTH_HOST", "https://api.genauth.ai"),
        ];
        assert_eq!(
            brand(&both),
            (Brand::Authing, "https://api.authing.cn".into())
        );
        let mut named = both.to_vec();
        named.push(("GENAUTH_BRAND", "genauth"));
        assert_eq!(
            brand(&named),
            (Brand::GenAuth, "https://api.genauth.ai".into())
        );
        let builder = ManagementClient::builder().with_vars(vars(&named)).unwrap();
        assert_eq!(builder.access_key_id.as_deref(), Some("ak-genauth"));
        // GENAUTH_* only, but a stale AUTHING_HOST of a private deployment: GenAuth still
        // decides the order of the other settings.
        let mut stale = genauth.to_vec();
        stale.push(("GENAUTH_HOST", "https://eu.genauth.ai"));
        assert_eq!(
            brand(&stale),
            (Brand::GenAuth, "https://eu.genauth.ai".into())
        );
        let err = ManagementClient::builder()
            .with_vars(vars(&[
                ("AUTHING_BRAND", "authing"),
                ("GENAUTH_BRAND", "genauth"),
            ]))
            .unwrap_err();
        assert!(err.to_string().contains("disagree"), "{err}");
        let err = ManagementClient::builder()
            .with_vars(vars(&[("GENAUTH_BRAND", "okta")]))
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
    }

    #[cfg(unix)]
    #[test]
    fn a_variable_that_is_not_unicode_is_a_config_error_not_a_panic() {
        use std::os::unix::ffi::OsStringExt;
        let env = |name: &str| {
            (name == "AUTHING_HOST").then(|| OsString::from_vec(b"https://\xff.example".to_vec()))
        };
        let err = ManagementClient::builder().with_vars(env).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        assert!(err.to_string().contains("AUTHING_HOST"), "{err}");
    }

    /// Issue 15: `ftp://user:pass@…` was echoed whole, password included.
    #[test]
    fn a_bad_host_is_never_echoed_with_its_user_info() {
        let build = |host: &str| {
            ManagementClient::builder()
                .access_key("ak", "sk")
                .host(host)
                .build()
                .unwrap_err()
        };
        for (bad, named) in [
            (
                "ftp://admin:hunter2@api.authing.cn",
                Some("ftp://api.authing.cn"),
            ),
            (
                "ftp://admin:hunter2@files.example:2121/x?y#z",
                Some("ftp://files.example:2121"),
            ),
            (
                "gopher://admin:hunter2@h.example",
                Some("gopher://h.example"),
            ),
            ("https://admin:hunter2@", None),
            ("https://admin:hunter2@[::1", None),
            ("admin:hunter2@api.authing.cn", None),
            ("mailto:admin:hunter2@api.authing.cn", None),
            ("//admin:hunter2@api.authing.cn", None),
            ("https://admin:hunter2@api.authing.cn\n", None),
            ("https://admin:hun ter2@api.authing.cn", None),
            ("admin:hunter2", None),
        ] {
            let err = build(bad);
            assert_eq!(err.kind(), crate::ErrorKind::Config, "{bad}");
            let shown = format!("{} {err:?}", err.display_chain());
            assert!(
                !shown.contains("hunter2") && !shown.contains("admin"),
                "{bad}: {shown}"
            );
            if let Some(named) = named {
                assert!(shown.contains(&format!("`{named}`")), "{bad}: {shown}");
            }
        }
    }

    #[test]
    fn hosts_are_https_or_loopback_http_and_nothing_more() {
        let build = |host: &str, allow: bool| {
            ManagementClient::builder()
                .access_key("ak", "sk")
                .host(host)
                .allow_insecure_http(allow)
                .build()
        };
        for ok in [
            "https://api.authing.cn",
            "https://api.genauth.ai/",
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
            "http://localhost:3000",
            "https://auth.example.com/prefix",
        ] {
            assert!(build(ok, false).is_ok(), "{ok}");
        }
        for (bad, says) in [
            ("http://some.remote.host", "use https"),
            ("http://10.0.0.8", "use https"),
            ("https://user:pw@api.authing.cn", "user info"),
            ("https://api.authing.cn/?x=1", "query"),
            ("https://api.authing.cn/#frag", "fragment"),
            ("ftp://api.authing.cn", "http(s) URL"),
        ] {
            let err = build(bad, false).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Config, "{bad}");
            assert!(err.to_string().contains(says), "{bad}: {err}");
            assert!(!err.to_string().contains("pw"), "{err}");
        }
        assert!(build("http://some.remote.host", true).is_ok());
        let err = ManagementClient::builder()
            .access_key("ak", "sk")
            .rate_limit(0.0)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
    }

    /// Issue 16: `rate_limit(1e-11)` panicked in `build()`, `1e-10` in every call.
    #[test]
    fn tiny_or_absurd_rates_and_a_zero_timeout_are_configuration_errors() {
        for rps in [1e-11, 1e-10, 0.009, 0.0, -1.0, f64::NAN, f64::INFINITY, 2e6] {
            let err = ManagementClient::builder()
                .access_key("ak", "sk")
                .rate_limit(rps)
                .build()
                .unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Config, "{rps}");
            assert!(
                err.to_string().contains("between 0.01 and 1000000"),
                "{err}"
            );
        }
        assert!(
            ManagementClient::builder()
                .access_key("ak", "sk")
                .rate_limit(0.01)
                .build()
                .is_ok()
        );
        let err = ManagementClient::builder()
            .with_vars(vars(&[
                ("AUTHING_ACCESS_KEY_ID", "ak"),
                ("AUTHING_ACCESS_KEY_SECRET", "sk"),
                ("AUTHING_RPS", "1e-11"),
            ]))
            .and_then(ManagementClientBuilder::build)
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        let err = ManagementClient::builder()
            .access_key("ak", "sk")
            .timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad configuration: the timeout must be more than zero (it bounds each request)"
        );
    }

    /// Issue 16: the client's `Debug` was 700 characters of reqwest and hook internals.
    #[test]
    fn debug_shows_what_was_configured_and_no_secret() {
        let client = ManagementClient::builder()
            .access_key("ak-1", "sk-very-secret")
            .host("https://api.genauth.ai")
            .lang(Lang::EnUs)
            .rate_limit(100.0)
            .build()
            .unwrap();
        let shown = format!("{client:?}");
        assert!(shown.len() < 500, "{} characters: {shown}", shown.len());
        for part in [
            "ManagementClient",
            "host: \"https://api.genauth.ai\"",
            "brand: GenAuth",
            "access_key_id: \"ak-1\"",
            "access_key_secret: \"<redacted>\"",
            "lang: Some(EnUs)",
            "rate_limit: Some(100.0)",
        ] {
            assert!(shown.contains(part), "{part} not in {shown}");
        }
        assert!(!shown.contains("sk-very-secret"));
    }
}
