#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod answers;
mod matchers;

/// The generated stubs: progenitor's httpmock generator on the client's OpenAPI fragment
/// (`build.rs`), documented there.
#[allow(clippy::all, unreachable_pub)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/authing_otp_httpmock.rs"));
}

pub use answers::{Refusal, Throttling, management_token};
pub use generated::{MockServerExt, operations};

/// The httpmock this crate's stubs are made for, so that a test needs no dependency of its own
/// on a matching version.
///
/// ```
/// let server = authing_otp_httpmock::httpmock::MockServer::start();
/// assert!(server.base_url().starts_with("http://127.0.0.1:"));
/// ```
pub use httpmock;
