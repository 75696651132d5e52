//! The management client and its builder.

use std::{borrow::Borrow, collections::HashMap, fmt, str::FromStr, sync::Arc, time::Duration};

use reqwest::header::HeaderValue;
use secrecy::SecretString;

use crate::{
    AuthScheme, DuplicateUsers, Error, ImportReceipt, InputError, OtpImport, OtpSecret, UserRef,
    auth::{Auth, TokenSource},
    error::check_status,
    generated::{self, types},
    hooks::{self, HookState, Shared},
    signing::{Signer, Stamper, SystemStamper},
};

/// The default API host.
pub const DEFAULT_HOST: &str = "https://api.authing.cn";
/// The default timeout of one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

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
                    "unknown language `{s}`; expected zh-CN, en-US, ja-JP or zh-TW"
                ))
            })
    }
}

/// A client for the OTP operations of one Authing user pool. Cheap to clone; clones share the
/// connection pool and the cached token.
///
/// ```no_run
/// use authing_otp::{Lang, ManagementClient};
///
/// let client = ManagementClient::builder()
///     .access_key("6250f12d5dxxxx9bcfcf784b", "4ae78d3e579a6dxxxx1aeca7b1e29ec2")
///     .host("https://api.authing.cn")
///     .lang(Lang::EnUs)
///     .build()?;
/// assert!(!format!("{client:?}").contains("4ae78d3e579a6dxxxx1aeca7b1e29ec2"));
/// # Ok::<(), authing_otp::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ManagementClient {
    generated: generated::Client,
}

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
    stamper: Option<Arc<dyn Stamper>>,
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
            .finish_non_exhaustive()
    }
}

impl ManagementClientBuilder {
    /// The access key pair: the user pool id and secret, or a collaborator's key pair.
    pub fn access_key(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.access_key_id = Some(id.into());
        self.access_key_secret = Some(SecretString::from(secret.into()));
        self
    }

    /// The API host, e.g. `https://api.authing.cn` (the default), `https://api.genauth.ai`, or a
    /// private deployment's. A trailing slash is ignored.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The user pool id sent as `x-authing-userpool-id` in token mode. Without it, the token's
    /// `scoped_userpool_id` claim is used.
    pub fn user_pool_id(mut self, id: impl Into<String>) -> Self {
        self.user_pool_id = Some(id.into());
        self
    }

    /// The language of the API's messages. Unset, no `x-authing-lang` is sent and the server
    /// answers in its default, Chinese.
    pub fn lang(mut self, lang: Lang) -> Self {
        self.lang = Some(lang);
        self
    }

    /// A tenant id, sent as `x-authing-app-tenant-id`.
    pub fn tenant_id(mut self, id: impl Into<String>) -> Self {
        self.tenant_id = Some(id.into());
        self
    }

    /// The timeout of one request (10 s by default), applied per request, so it also bounds a
    /// client given to [`http_client`](Self::http_client).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends through this `reqwest::Client` (proxies, TLS roots, connection pool settings).
    ///
    /// Its default headers are added after the request hook has signed the request: in
    /// signature mode, do not give it `x-authing-*` or `date` default headers, which the server
    /// would expect to be signed.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
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
    /// `AUTHING_USERPOOL_ID`, `AUTHING_LANG`, `AUTHING_TENANT_ID` and `AUTHING_AUTH`
    /// (`token` or `signature`); unset or empty variables leave the setting as it was.
    pub fn with_env(self) -> Result<Self, Error> {
        self.with_vars(std::env::vars().collect())
    }

    fn with_vars(mut self, vars: HashMap<String, String>) -> Result<Self, Error> {
        let var = |name: &str| vars.get(name).filter(|v| !v.is_empty()).cloned();
        if let Some(id) = var("AUTHING_ACCESS_KEY_ID") {
            self.access_key_id = Some(id);
        }
        if let Some(secret) = var("AUTHING_ACCESS_KEY_SECRET") {
            self.access_key_secret = Some(secret.into());
        }
        if let Some(host) = var("AUTHING_HOST") {
            self.host = Some(host);
        }
        if let Some(pool) = var("AUTHING_USERPOOL_ID") {
            self.user_pool_id = Some(pool);
        }
        if let Some(lang) = var("AUTHING_LANG") {
            self.lang = Some(lang.parse()?);
        }
        if let Some(tenant) = var("AUTHING_TENANT_ID") {
            self.tenant_id = Some(tenant);
        }
        if let Some(auth) = var("AUTHING_AUTH") {
            self.auth = auth.parse()?;
        }
        Ok(self)
    }

    /// Checks the settings and builds the client. Nothing is sent until the first call.
    pub fn build(self) -> Result<ManagementClient, Error> {
        let access_key_id = self
            .access_key_id
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| Error::Config("no access key id (set AUTHING_ACCESS_KEY_ID)".into()))?;
        if !access_key_id.chars().all(|c| c.is_ascii_graphic()) || access_key_id.contains(':') {
            return Err(Error::Config(
                "the access key id must be printable ASCII without spaces or `:`".into(),
            ));
        }
        let access_key_secret = self
            .access_key_secret
            .filter(|s| !secrecy::ExposeSecret::expose_secret(s).is_empty())
            .ok_or_else(|| {
                Error::Config("no access key secret (set AUTHING_ACCESS_KEY_SECRET)".into())
            })?;
        let host = self.host.unwrap_or_else(|| DEFAULT_HOST.to_owned());
        let host = host.trim_end_matches('/').to_owned();
        match reqwest::Url::parse(&host) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.host().is_some()
                    && url.query().is_none() => {}
            _ => {
                return Err(Error::Config(format!(
                    "the host `{host}` is not an http(s) URL such as {DEFAULT_HOST}"
                )));
            }
        }
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
        let tenant_id = self.tenant_id.map(|t| header("tenant id", t)).transpose()?;
        if let Some(pool) = &self.user_pool_id {
            header("user pool id", pool.clone())?;
        }
        let auth = match self.auth {
            AuthScheme::Token => Auth::Token(TokenSource::new(
                access_key_id,
                access_key_secret,
                self.user_pool_id,
            )),
            AuthScheme::Signature => Auth::Signature(Signer::new(
                access_key_id,
                access_key_secret,
                self.stamper.unwrap_or_else(|| Arc::new(SystemStamper)),
            )),
        };
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let http = match self.http_client {
            Some(client) => client,
            None => crate::tls::http_client_builder()?
                .user_agent(concat!("authing-otp-rust/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(timeout)
                .build()
                .map_err(|e| Error::Config(format!("building the HTTP client: {e}")))?,
        };
        let state = HookState(Arc::new(Shared {
            auth,
            lang: self.lang.map(|l| HeaderValue::from_static(l.as_str())),
            tenant_id,
            timeout,
        }));
        Ok(ManagementClient {
            generated: generated::Client::new_with_client(&host, http, state),
        })
    }
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

    /// The API host requests go to.
    pub fn host(&self) -> &str {
        progenitor_client::ClientInfo::baseurl(&self.generated)
    }

    /// The generated client, for operations and options the facade does not cover. Its
    /// requests pass through the same hooks: they are authenticated the same way.
    pub fn generated(&self) -> &generated::Client {
        &self.generated
    }

    /// Binds each item's OTP secret (and recovery code) to its user (`importOtp`). Items may be
    /// given by value or by reference.
    ///
    /// The items are checked before anything is sent: the list must not be empty and must not
    /// name a user twice. One call is one request; split very large imports into batches.
    ///
    /// ```no_run
    /// # async fn demo(client: authing_otp::ManagementClient) -> Result<(), authing_otp::Error> {
    /// use authing_otp::OtpImport;
    /// let receipt = client
    ///     .import_otp([OtpImport::new("6229ffaxxxxxxxxcade3e3d9", "HZ2F6J3AGNAVSOTV")?])
    ///     .await?;
    /// assert_eq!(receipt.imported, 1);
    /// # Ok(()) }
    /// ```
    pub async fn import_otp<I>(&self, items: I) -> Result<ImportReceipt, Error>
    where
        I: IntoIterator,
        I::Item: Borrow<OtpImport>,
    {
        let mut seen = DuplicateUsers::new();
        let mut list = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            let item = item.borrow();
            if let Some(first) = seen.first_seen(item, index) {
                return Err(InputError::new(
                    "userId",
                    format!("names the same user as item {first}"),
                )
                .at_item(index)
                .into());
            }
            list.push(item.to_wire());
        }
        if list.is_empty() {
            return Err(InputError::new("list", "must contain at least one item").into());
        }
        let imported = list.len();
        let body = types::ImportOtpReqDto { list };
        let answer = hooks::run(self.generated.import_otp().body(body).send()).await?;
        check_status(answer.status().as_u16(), answer.as_ref())?;
        let answer = answer.into_inner();
        Ok(ImportReceipt {
            imported,
            message: answer.message,
            request_id: answer.request_id,
        })
    }

    /// The OTP secret bound to `user` (`getOtpSecretByUser`). `userIdType` is always sent.
    ///
    /// ```no_run
    /// # async fn demo(client: authing_otp::ManagementClient) -> Result<(), authing_otp::Error> {
    /// use authing_otp::UserRef;
    /// use authing_otp::ExposeSecret;
    /// let secret = client
    ///     .get_otp_secret_by_user(&UserRef::identity("62f20932716fbcc10d966ee5", "ou_8bae")?)
    ///     .await?;
    /// let _base32: &str = secret.expose_secret();
    /// # Ok(()) }
    /// ```
    pub async fn get_otp_secret_by_user(&self, user: &UserRef) -> Result<OtpSecret, Error> {
        let call = self
            .generated
            .get_otp_secret_by_user()
            .user_id(user.user_id())
            .user_id_type(types::GetOtpSecretByUserUserIdType::from(
                user.user_id_type(),
            ))
            .send();
        let answer = hooks::run(call).await?;
        check_status(answer.status().as_u16(), answer.as_ref())?;
        Ok(OtpSecret::from(answer.into_inner().data.secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
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
}
