//! Why an emulator could not start or take a user.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why an emulator could not start or take a user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The emulator only binds loopback addresses.
    #[error("the emulator only binds loopback addresses (127.0.0.0/8, ::1); {0} is not one")]
    NonLoopback(SocketAddr),
    /// The address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// A seed file could not be read.
    #[error("reading seed file {}: {source}", path.display())]
    SeedRead {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// Seed JSON could not be parsed.
    #[error("parsing {origin}: {message}")]
    SeedParse {
        /// The file (or `seed` for a string).
        origin: String,
        /// What is wrong and where (values from the input are left out).
        message: String,
    },
    /// A user was refused (empty id, an id another user has, a `:` in a custom field key).
    #[error("user {id:?} refused: {problem}")]
    InvalidUser {
        /// The user's Authing user id.
        id: String,
        /// Why.
        problem: String,
    },
}
