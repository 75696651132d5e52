//! The TLS set-up of the client's own HTTP connections.
//!
//! reqwest is built without a crypto provider of its own, so that a dependent compiles only the
//! one this crate's features choose: `rustls-ring` (the default, the cheaper build) or
//! `rustls-aws-lc-rs` (aws-lc-rs wins when both are on). The provider configures this crate's
//! connections only; it is never installed as the process-wide default behind the
//! application's back. With neither feature, the process-wide default provider is used, which
//! the application must have installed.
//!
//! Certificates are verified with the platform's verifier (the system's roots), as reqwest does.
//!
//! Because the TLS configuration is made here, reqwest's own TLS settings on a builder from
//! [`http_client_builder`] (`add_root_certificate`, `tls_version_min`, `identity`,
//! `danger_accept_invalid_certs`, …) have no effect, and, with the `http2` feature, HTTP/2 is
//! offered by ALPN even with `http1_only`. For another TLS set-up, build the `reqwest::Client` yourself, with reqwest's
//! own TLS features, and give it to
//! [`ManagementClientBuilder::http_client`](crate::ManagementClientBuilder::http_client).
//! Note that with this crate alone in the graph reqwest has no provider of its own:
//! `reqwest::Client::new()` then needs a process-wide provider (or reqwest's `rustls` feature in
//! your own `Cargo.toml`).

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

use crate::Error;

/// A `reqwest::ClientBuilder` set up as this crate's own client's is: the crypto provider
/// chosen by the crate's features, the platform's certificate verifier, HTTP/1.1 (and HTTP/2
/// with the `http2` feature) offered, and redirects never followed.
///
/// Start from it to give [`ManagementClientBuilder::http_client`] a client with your own
/// proxies or pool settings without choosing a TLS provider yourself.
///
/// ```
/// use std::time::Duration;
///
/// let http = authing_otp::tls::http_client_builder()?
///     .pool_idle_timeout(Duration::from_secs(30))
///     .build()
///     .expect("a valid reqwest configuration");
/// let client = authing_otp::ManagementClient::builder()
///     .access_key("ak", "sk")
///     .http_client(http)
///     .build()?;
/// # drop(client);
/// # Ok::<(), authing_otp::Error>(())
/// ```
///
/// [`ManagementClientBuilder::http_client`]: crate::ManagementClientBuilder::http_client
pub fn http_client_builder() -> Result<reqwest::ClientBuilder, Error> {
    let provider = provider()?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS set-up: {e}")))?;
    let verifier = rustls_platform_verifier::Verifier::new(builder.crypto_provider().clone())
        .map_err(|e| Error::Config(format!("TLS certificate verifier: {e}")))?;
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // reqwest sets ALPN only on configurations it builds itself. HTTP/2 only with the feature
    // that builds reqwest's support for it.
    config.alpn_protocols = if cfg!(feature = "http2") {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    // A redirect would carry the request's secrets to wherever it points: never follow one.
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .redirect(reqwest::redirect::Policy::none()))
}

/// The provider the features choose, or the process-wide default without either.
fn provider() -> Result<Arc<CryptoProvider>, Error> {
    #[cfg(feature = "rustls-aws-lc-rs")]
    return Ok(Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    #[cfg(all(feature = "rustls-ring", not(feature = "rustls-aws-lc-rs")))]
    return Ok(Arc::new(rustls::crypto::ring::default_provider()));
    #[cfg(not(any(feature = "rustls-ring", feature = "rustls-aws-lc-rs")))]
    CryptoProvider::get_default().cloned().ok_or_else(|| {
        Error::Config(
            "no TLS crypto provider: enable the `rustls-ring` or `rustls-aws-lc-rs` feature of \
             authing-otp, or install a process-wide rustls provider before building the client"
                .into(),
        )
    })
}
