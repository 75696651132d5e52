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
//! Every call of the facade is owned by one loop (`call.rs`): the deadline, the rate limit, the
//! token, the attempts, the decision (return, retry, refresh the token once, give up) and the
//! scrubbing of what the server said. The generated client builds and sends each attempt; its
//! hooks (`transport.rs`) only decorate the request and bound the answer.
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
#![warn(unreachable_pub)]

mod attempt;
mod brand;
pub mod bulk;
mod call;
mod client;
mod config;
pub mod envelope;
mod error;
mod fragment;
mod otp;
mod rate_limit;
mod redact;
mod resolve;
mod retry;
mod settings;
pub mod signing;
mod state;
pub mod tls;
mod token;
mod transport;
mod user;
pub mod wire;

pub use brand::Brand;
pub use client::{ClientStats, ManagementClient};
pub use config::{IntoSecret, ManagementClientBuilder};
pub use error::{ApiError, Error, ErrorKind, InputError};
pub use otp::{ImportReceipt, OtpImport, OtpSecret};
pub use resolve::{MAX_USERS_PER_LOOKUP, Resolution};
pub use retry::RetryConfig;
pub use settings::{AuthScheme, Lang};
pub use user::{UserIdType, UserRef};

/// Describes a JSON decoding failure without quoting any value of the input.
///
/// Not part of the API: the `authing-otp` command's import reader describes a bad line with
/// it, as the client describes a bad answer.
#[doc(hidden)]
pub use redact::json_error_summary;

/// Reveals an [`OtpSecret`]: re-exported from [`secrecy`] so that no direct dependency on it
/// is needed.
pub use secrecy::ExposeSecret;

/// The client progenitor generates from `openapi/authing-otp.json`.
///
/// Not part of the API: the facade ([`ManagementClient`]) sends every request through it, and
/// its requests made directly skip the facade's retries, deadline, `statusCode` check and
/// scrubbing. Its types mirror the wire format (numbers are `f64` because upstream declares
/// them `number`); those that carry secrets are the hand-written ones in [`wire`], whose
/// `Debug` redacts, and its answers are the [`envelope`]s.
#[doc(hidden)]
#[allow(missing_docs, clippy::all, unreachable_pub)]
pub mod generated {
    include!(concat!(env!("OUT_DIR"), "/authing_otp_client.rs"));
}

// The README's Rust examples compile as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use fragment::{OPENAPI_FRAGMENT, SDK_VERSION};
