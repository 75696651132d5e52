//! Typed async client for the OTP (TOTP) operations of the Authing / GenAuth V3 management API.
//!
//! The HTTP client is generated at build time by [progenitor] from the OpenAPI fragment in
//! `openapi/authing-otp.json` (see [`generated`]). This crate adds what the spec cannot say:
//!
//! - authentication ([`AuthScheme`]): a cached, single-flight management token that is refreshed ahead
//!   of expiry and once more on a 401, or AK/SK request signing;
//! - typed user references ([`UserRef`]) for every upstream `userIdType`;
//! - validation before anything is sent, and one [`Error`] type that says what went wrong and
//!   whether retrying is safe;
//! - secrets ([`OtpSecret`], access key secret, tokens) that never show in `Debug` or `Display`.
//!
//! Every request, generated or not, passes through one place: the `ClientHooks` implementation
//! in `hooks.rs`, which later retry and tracing layers hook into.
//!
//! Beside this crate: `authing-otp-emulator`, a loopback Authing to test against, and
//! `authing-otp-cli`, the `authing-otp` command (quickstart, get-secret, import, emulator, spec
//! drift check).
//!
//! # Features
//!
//! - `rustls-ring` (default) or `rustls-aws-lc-rs`: the TLS crypto provider of the client's
//!   connections (see [`tls`]); neither is installed process-wide.
//! - `schemars`: `schemars::JsonSchema` for the facade's data types.
//!
//! ```no_run
//! use authing_otp::{ManagementClient, OtpImport, UserRef};
//!
//! # async fn demo() -> Result<(), authing_otp::Error> {
//! let client = ManagementClient::from_env()?;
//! client
//!     .import_otp([OtpImport::new("6229ffaxxxxxxxxcade3e3d9", "HZ2F6J3AGNAVSOTV")?])
//!     .await?;
//! let secret = client
//!     .get_otp_secret_by_user(&UserRef::email("alice@example.com")?)
//!     .await?;
//! assert_eq!(format!("{secret:?}"), "OtpSecret(<redacted>)");
//! # Ok(())
//! # }
//! ```
//!
//! [progenitor]: https://github.com/oxidecomputer/progenitor
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod auth;
mod brand;
pub mod bulk;
mod client;
mod error;
mod hooks;
mod otp;
mod rate_limit;
mod retry;
pub mod signing;
pub mod tls;
mod user;
pub mod wire;

pub use auth::AuthScheme;
pub use brand::Brand;
pub use client::{ClientStats, Lang, ManagementClient, ManagementClientBuilder};
pub use error::{ApiError, Error, ErrorKind, InputError, json_error_summary};
pub use otp::{DuplicateUsers, ImportReceipt, OtpImport, OtpSecret};
pub use retry::RetryConfig;
pub use user::{UserIdType, UserRef};

/// Reveals an [`OtpSecret`]: re-exported from [`secrecy`] so that no direct dependency on it
/// is needed.
pub use secrecy::ExposeSecret;

/// The client progenitor generates from `openapi/authing-otp.json`, for power users.
///
/// Reach it through [`ManagementClient::generated`]: its requests pass through the same hooks as
/// the facade's (authentication, retries, rate limit, bounded answers). Its types mirror the
/// wire format exactly (numbers are `f64` because upstream declares them `number`); the four
/// that carry secrets are the hand-written ones in [`wire`], whose `Debug` redacts.
///
/// Its shape follows the spec: a `spec sync` that changes the spec can change it in ways semver
/// does not cover. The facade is the stable API.
#[allow(missing_docs, clippy::all, unreachable_pub)]
pub mod generated {
    include!(concat!(env!("OUT_DIR"), "/authing_otp_client.rs"));
}

// The README's Rust examples compile as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The OpenAPI fragment this client was generated from (`openapi/authing-otp.json`, as built):
/// the three operations and the schemas they reach, drawn from the vendor's V3 management
/// document. Tools that validate requests or check for drift read it from here.
///
/// ```
/// let fragment: serde_json::Value = serde_json::from_str(authing_otp::OPENAPI_FRAGMENT).unwrap();
/// assert!(fragment["paths"]["/api/v3/import-otp"]["post"].is_object());
/// ```
pub const OPENAPI_FRAGMENT: &str = include_str!("../openapi/authing-otp.json");

/// The value sent as `x-authing-sdk-version` on every request.
pub const SDK_VERSION: &str = concat!("authing-otp-rust:", env!("CARGO_PKG_VERSION"));
