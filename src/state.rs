//! What a client and its clones share: its settings, the HTTP client, the token cache, the
//! retry budget, the rate limit and the counts of what was sent.

use std::{
    fmt,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use secrecy::SecretString;

use crate::{
    AuthScheme, Brand, RetryConfig, attempt::Decor, rate_limit::RateLimit, retry::RetryBudget,
    token::TokenCache,
};

/// How a client authenticates, with what it needs.
pub(crate) enum Auth {
    /// A management token, cached.
    Token {
        tokens: TokenCache,
        access_key_id: String,
        /// The user pool id configured; otherwise the token's claim is used.
        user_pool_id: Option<String>,
    },
    /// AK/SK signing (the signer is in [`Decor`], which the hooks use).
    Signature,
}

/// A client's shared state.
pub(crate) struct Inner {
    pub(crate) base_url: String,
    pub(crate) http: reqwest::Client,
    pub(crate) decor: Arc<Decor>,
    pub(crate) auth: Auth,
    /// For scrubbing what a server quotes back.
    pub(crate) access_key_secret: SecretString,
    /// The timeout of one attempt.
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryConfig,
    pub(crate) budget: RetryBudget,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) log_user_ids: bool,
    pub(crate) stats: Stats,
    /// What the user configured, for `Debug`.
    pub(crate) shown: Shown,
}

/// A client's settings as `Debug` shows them: what the user configured, nothing secret.
#[derive(Debug)]
pub(crate) struct Shown {
    pub(crate) host: String,
    pub(crate) brand: Brand,
    pub(crate) auth: AuthScheme,
    pub(crate) access_key_id: String,
    pub(crate) user_pool_id: Option<String>,
    pub(crate) lang: Option<crate::Lang>,
    pub(crate) tenant_id: Option<String>,
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryConfig,
    pub(crate) rate_limit: Option<f64>,
    pub(crate) allow_insecure_http: bool,
    pub(crate) own_http_client: bool,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.shown;
        f.debug_struct("ManagementClient")
            .field("host", &shown.host)
            .field("brand", &shown.brand)
            .field("auth", &shown.auth)
            .field("access_key_id", &shown.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field("user_pool_id", &shown.user_pool_id)
            .field("lang", &shown.lang)
            .field("tenant_id", &shown.tenant_id)
            .field("timeout", &shown.timeout)
            .field("retry", &shown.retry)
            .field("rate_limit", &shown.rate_limit)
            .field("allow_insecure_http", &shown.allow_insecure_http)
            .field(
                "http_client",
                &if shown.own_http_client {
                    "given"
                } else {
                    "default"
                },
            )
            .finish()
    }
}

/// Counts kept for [`ManagementClient::stats`](crate::ManagementClient::stats): relaxed
/// atomics, a few nanoseconds a request.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) requests: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) throttled: AtomicU64,
}
