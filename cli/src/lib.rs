//! The library half of the `authing-otp` command: the readers of OTP import files and the
//! spec-drift tooling, for the command, its tests and maintainers' own scripts.
//!
//! The command itself (`authing-otp quickstart | get-secret | import | emulator | spec`) is this
//! crate's binary; install it with `cargo install authing-otp-cli`. The typed client is the
//! `authing-otp` crate, and the loopback server the command's `emulator` runs is
//! `authing-otp-emulator`.
//!
//! - [`import`]: JSON Lines, CSV and Key URI files of OTP secrets, streamed and validated line by
//!   line.
//! - [`keycloak`]: Keycloak realm exports (a file or a directory), streamed user by user: each
//!   user's OTP credential as Keycloak's key in base32, or why it cannot be imported.
//! - [`export`]: the users file, the output lines and the journal of `authing-otp export`.
//! - [`journal`]: what a bulk import has done, so that a killed run resumes where it stopped.
//! - [`fingerprints`]: the users a file names twice, found in 8 bytes per record.
//! - [`files`]: the input and the outputs of a bulk import, checked and opened so that no run
//!   harms a file it touches.
//! - [`spec`]: derive the OpenAPI fragment from the vendor's document, report drift, sync.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod export;
pub mod files;
pub mod fingerprints;
pub mod import;
pub mod journal;
pub mod keycloak;
pub mod spec;
