//! Reading Keycloak realm exports: each user's OTP (TOTP) credential, as the import needs it.
//!
//! # The shapes read
//!
//! Written against what `kc.sh export` writes in Keycloak 24 to 26 (the JSON of
//! `RealmRepresentation`, `UserRepresentation` and `CredentialRepresentation`; the credentials'
//! `secretData` and `credentialData` strings are those of Keycloak's credential model, the same
//! for OTP since Keycloak 12).
//!
//! - **A file** (`kc.sh export --realm NAME --file PATH`, users in the same file, the default):
//!   one JSON object, the realm, with a `users` array among its other keys (`id`, `realm`,
//!   `roles`, `clients`, `components`, …), wherever it comes. The other keys are checked to be
//!   JSON and skipped unread. `"users": null` is a realm without users; a realm without a
//!   `users` key is refused ([`KeycloakFileError::NoUsers`]), as is a top-level array (what
//!   `kc.sh export --file` writes for every realm at once: export one realm).
//! - **A directory** (`kc.sh export --realm NAME --dir PATH`): `<realm>-realm.json`, read for
//!   the users it holds if it has a `users` key (`--users same_file` or `realm_file`), then the
//!   users files `<realm>-users-<N>.json` (`--users different_files`), each an object
//!   `{"realm": …, "users": […]}`, in the numeric order of N, then any other
//!   `*-users-*.json`, by name. `*-federated-users-*.json` files (users of a user federation
//!   such as LDAP, `{"federatedUsers": […]}`, with no username) are not read. A directory with
//!   several realms' exports needs one named ([`KeycloakExport::open_realm`]).
//!
//! A user is an object whose `id`, `username` and `email` (strings, each optional here) name it,
//! and whose `credentials` array holds its credentials; its other keys (`attributes`,
//! `realmRoles`, `groups`, …) are not read. Its OTP credentials are those with
//! `"type": "otp"`:
//!
//! ```json
//! {
//!   "id" : "b6a3…", "type" : "otp", "userLabel" : "Phone", "createdDate" : 1700000000000,
//!   "secretData" : "{\"value\":\"…\"}",
//!   "credentialData" : "{\"subType\":\"totp\",\"digits\":6,\"counter\":0,\"period\":30,\"algorithm\":\"HmacSHA1\"}"
//! }
//! ```
//!
//! # The key
//!
//! Keycloak's TOTP key is **not** the base32 decoding of `value`: it is the UTF-8 bytes of
//! `value` itself (`OTPCredentialModel.getDecodedSecret`), and the base32 of those bytes is what
//! Keycloak's setup page and QR code show. Only when `credentialData` has
//! `"secretEncoding": "BASE32"` (credentials imported that way) is `value` base32, decoded to
//! the key. The secret to import is the key in base32 (RFC 4648, upper case, no padding), so
//! that authenticators keep producing the codes Keycloak accepted. Importing `value` as if it
//! were base32 would give every user a different key, and wrong codes.
//!
//! A BASE32 `value` is decoded strictly: letters in either case and digits 2–7, spaces and
//! `=` padding at the end ignored. Keycloak's decoder skips any other character; here a value
//! with one is refused, being more likely a mistake than a key.
//!
//! # Outcomes
//!
//! Each user is a [`KeycloakUser`] whose [`outcome`](KeycloakUser::outcome) is one of:
//! - [`KeycloakOutcome::Record`]: its one OTP credential (or the newest, when asked:
//!   [`KeycloakOptions::newest`]) is TOTP, `HmacSHA1`, 6 digits, 30 s, with a key of 10 to 80
//!   bytes (whose base32 is the 16 to 128 characters [`OtpImport::new`] accepts): an
//!   [`OtpImport`] for the identifier chosen ([`KeycloakOptions::identifier`]).
//! - [`KeycloakOutcome::NoOtp`]: no OTP credential, nothing to import.
//! - [`KeycloakOutcome::Refused`]: why not ([`KeycloakRefusal`]): HOTP, another algorithm,
//!   digit count or period, a key too short or too long, a value that is not base32 when it
//!   should be, `secretData` or `credentialData` not as Keycloak writes them, several OTP
//!   credentials, no value for the chosen identifier, an entry that is not a user object, or
//!   one longer than [`MAX_USER_BYTES`].
//!
//! Nothing shown (`Display`, `Debug`, messages) ever holds a secret: a user is named by its
//! position and username (or id), never by its credentials.
//!
//! # Streaming
//!
//! Readers are iterators that pull one user at a time out of the file, on the caller's thread:
//! a hand-written scanner checks the JSON as it goes and keeps only the bytes of the current
//! user, at most [`MAX_USER_BYTES`]; serde_json then reads from them only the fields above,
//! borrowed. So memory does not grow with the file (a 64 KiB read buffer, one user), and any
//! [`Read`] will do, a borrowed one too. (serde_json's own streaming is push-based: an iterator
//! would need a thread and a channel, and could not bound a user.) The first error about the
//! file itself ends the iteration.
//!
//! ```
//! use authing_otp_cli::keycloak::{KeycloakOptions, KeycloakOutcome, KeycloakReader};
//! use authing_otp::ExposeSecret;
//!
//! let export = r#"{
//!   "realm" : "acme",
//!   "users" : [ {
//!     "id" : "9f1c", "username" : "alice", "email" : "alice@example.com",
//!     "credentials" : [ {
//!       "type" : "password", "secretData" : "{\"value\":\"hash\",\"salt\":\"c2FsdA==\"}"
//!     }, {
//!       "id" : "c0de", "type" : "otp", "createdDate" : 1700000000000,
//!       "secretData" : "{\"value\":\"12345678901234567890\"}",
//!       "credentialData" : "{\"subType\":\"totp\",\"digits\":6,\"counter\":0,\"period\":30,\"algorithm\":\"HmacSHA1\"}"
//!     } ]
//!   }, { "id" : "77aa", "username" : "svc" } ],
//!   "clients" : [ ]
//! }"#;
//! let path = std::path::Path::new("acme.json");
//! let mut users = KeycloakReader::new(export.as_bytes(), path, KeycloakOptions::default());
//!
//! let alice = users.next().unwrap()?;
//! let KeycloakOutcome::Record(record) = &alice.outcome else { panic!("{alice}") };
//! assert_eq!(record.item.user_id(), "alice");
//! // The base32 of the 20 bytes "12345678901234567890", not that text read as base32.
//! assert_eq!(record.item.secret().expose_secret(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
//! assert_eq!(record.created_date, Some(1700000000000));
//! assert_eq!(alice.to_string(), "acme.json: line 3: users[0] (username \"alice\"): to import");
//! // For a failures file: the entry, one line, without the password credential.
//! let entry = String::from_utf8(alice.entry_json()).unwrap();
//! assert!(entry.starts_with(r#"{"id":"9f1c","username":"alice","#) && !entry.contains("hash"));
//!
//! let svc = users.next().unwrap()?;
//! assert!(matches!(svc.outcome, KeycloakOutcome::NoOtp));
//! assert!(users.next().is_none());
//! assert_eq!((users.counts().records, users.counts().no_otp), (1, 1));
//! # Ok::<(), authing_otp_cli::keycloak::KeycloakFileError>(())
//! ```

mod scan;
mod user;

use std::{
    collections::BTreeSet,
    fmt,
    fs::{self, File},
    io::{self, Read},
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
};

use authing_otp::OtpImport;
use serde_json::Value;

use scan::{Entries, Fault, FaultKind};

/// The largest user entry read, in bytes of the export (pretty-printing included): 1 MiB.
///
/// A user with its credentials, roles and attributes is a few KiB. A longer entry is refused
/// ([`KeycloakRefusal::TooLarge`]) without being kept: it is scanned to its end (and checked to
/// be JSON), and the next user read. So a reader holds at most this much of any entry, whatever
/// the export, plus what serde_json makes of an entry of this size.
///
/// ```
/// use authing_otp_cli::keycloak::{
///     KeycloakOptions, KeycloakOutcome, KeycloakReader, KeycloakRefusal, MAX_USER_BYTES,
/// };
///
/// let big = "x".repeat(MAX_USER_BYTES);
/// let export = format!(r#"{{"users":[{{"username":"big","note":"{big}"}},{{"username":"ok"}}]}}"#);
/// let path = std::path::Path::new("realm.json");
/// let mut users = KeycloakReader::new(export.as_bytes(), path, KeycloakOptions::default());
/// let first = users.next().unwrap()?;
/// assert!(matches!(first.outcome, KeycloakOutcome::Refused(KeycloakRefusal::TooLarge)));
/// assert_eq!(first.username, None); // not read
/// assert_eq!(
///     first.to_string(),
///     "realm.json: line 1: users[0]: refused: entry longer than 1048576 bytes: refused unread \
///      (a user is a few KiB)"
/// );
/// assert_eq!(users.next().unwrap()?.username.as_deref(), Some("ok"));
/// # Ok::<(), authing_otp_cli::keycloak::KeycloakFileError>(())
/// ```
pub const MAX_USER_BYTES: usize = 1 << 20;

/// Which of a user's identifiers names it in Authing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeycloakIdentifier {
    /// `username` (Keycloak's usernames are unique in a realm, and lower case).
    #[default]
    Username,
    /// `email`.
    Email,
    /// `id`, Keycloak's user id: for Authing users created with it as their external id.
    Id,
}

impl KeycloakIdentifier {
    /// The key of the user's entry: `username`, `email` or `id`.
    ///
    /// ```
    /// use authing_otp_cli::keycloak::KeycloakIdentifier;
    /// assert_eq!(KeycloakIdentifier::Email.as_str(), "email");
    /// assert_eq!("id".parse::<KeycloakIdentifier>(), Ok(KeycloakIdentifier::Id));
    /// assert!("uid".parse::<KeycloakIdentifier>().is_err());
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            KeycloakIdentifier::Username => "username",
            KeycloakIdentifier::Email => "email",
            KeycloakIdentifier::Id => "id",
        }
    }
}

impl fmt::Display for KeycloakIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeycloakIdentifier {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "username" => Ok(KeycloakIdentifier::Username),
            "email" => Ok(KeycloakIdentifier::Email),
            "id" => Ok(KeycloakIdentifier::Id),
            _ => Err("expected username, email or id".to_owned()),
        }
    }
}

/// How users are read: which identifier names them, and what to do with several OTP
/// credentials.
///
/// ```
/// use authing_otp_cli::keycloak::{KeycloakIdentifier, KeycloakOptions};
///
/// let options = KeycloakOptions::default().identifier(KeycloakIdentifier::Email).newest(true);
/// assert_eq!(options.identifier, KeycloakIdentifier::Email);
/// assert!(options.newest);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeycloakOptions {
    /// The identifier that names a user in its [`OtpImport`] (default: `username`); a user with
    /// an OTP credential and no value for it is refused ([`KeycloakRefusal::NoIdentifier`]).
    pub identifier: KeycloakIdentifier,
    /// With several OTP credentials, import the newest by `createdDate` (default: refuse the
    /// user). Two sharing the latest date, or one without a date, and the user is refused
    /// still. The newest is picked before it is checked: if it cannot be imported, the user is
    /// refused, not given an older one.
    pub newest: bool,
}

impl KeycloakOptions {
    /// The same options with `identifier`.
    pub fn identifier(mut self, identifier: KeycloakIdentifier) -> Self {
        self.identifier = identifier;
        self
    }

    /// The same options, picking the newest of several OTP credentials or not.
    pub fn newest(mut self, newest: bool) -> Self {
        self.newest = newest;
        self
    }
}

/// Where a user is in the export.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeycloakPosition {
    /// The file it is in (for a directory, the directory joined with the file's name).
    pub file: Arc<Path>,
    /// Its 0-based index among the export's users, all files counted in the order read.
    pub index: u64,
    /// Its 0-based index in its file's `users` array.
    pub index_in_file: u64,
    /// The 1-based line its entry starts on.
    pub line: u64,
    /// The 0-based byte offset its entry starts at, in its file.
    pub offset: u64,
}

impl fmt::Display for KeycloakPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: line {}: users[{}]",
            self.file.display(),
            self.line,
            self.index_in_file
        )
    }
}

/// One user of the export: where, who, and what to do with it.
///
/// `Display` is one line naming the user (by username, else id) and its outcome; neither it nor
/// `Debug` shows a secret or the entry's bytes.
///
/// It holds its entry's bytes (for [`entry_json`](Self::entry_json); up to
/// [`MAX_USER_BYTES`]): take what is needed (the record's item) rather than keep many users.
#[non_exhaustive]
pub struct KeycloakUser {
    /// Where the user is.
    pub position: KeycloakPosition,
    /// Keycloak's user id (`id`), if the entry has one.
    pub id: Option<String>,
    /// `username`, if the entry has one.
    pub username: Option<String>,
    /// `email`, if the entry has one.
    pub email: Option<String>,
    /// What to do with it.
    pub outcome: KeycloakOutcome,
    /// The entry's bytes as exported (none when over [`MAX_USER_BYTES`]).
    raw: Option<Vec<u8>>,
    /// Which of its OTP credentials was picked among several, if one was.
    picked: Option<usize>,
}

impl KeycloakUser {
    /// The value of `identifier` for this user, if it has one.
    ///
    /// ```
    /// use authing_otp_cli::keycloak::{KeycloakIdentifier, KeycloakOptions, KeycloakReader};
    ///
    /// let export = br#"{"users":[{"id":"9f1c","username":"alice"}]}"#;
    /// let path = std::path::Path::new("realm.json");
    /// let alice = KeycloakReader::new(&export[..], path, KeycloakOptions::default())
    ///     .next()
    ///     .unwrap()?;
    /// assert_eq!(alice.identifier(KeycloakIdentifier::Id), Some("9f1c"));
    /// assert_eq!(alice.identifier(KeycloakIdentifier::Email), None);
    /// # Ok::<(), authing_otp_cli::keycloak::KeycloakFileError>(())
    /// ```
    pub fn identifier(&self, identifier: KeycloakIdentifier) -> Option<&str> {
        match identifier {
            KeycloakIdentifier::Username => self.username.as_deref(),
            KeycloakIdentifier::Email => self.email.as_deref(),
            KeycloakIdentifier::Id => self.id.as_deref(),
        }
    }

    /// The user's entry as exported, as one line of compact JSON, with its credentials other
    /// than OTP ones left out (and of several OTP ones, only the one picked, when
    /// [`KeycloakOptions::newest`] picked one): for a failures file, from which the user can be
    /// imported again once fixed. The keys keep their order; strings and numbers are the same
    /// values, though escapes and number formats may be written differently. Empty when the
    /// entry is not a JSON object that can be parsed (longer than [`MAX_USER_BYTES`], not
    /// UTF-8, not an object).
    ///
    /// It holds the OTP secrets: write it only where secrets may go. (It is made when asked
    /// for, from the entry's bytes, so that users imported never pay for it.)
    pub fn entry_json(&self) -> Vec<u8> {
        let Some(Ok(Value::Object(mut entry))) =
            self.raw.as_deref().map(serde_json::from_slice::<Value>)
        else {
            return Vec::new();
        };
        if let Some(Value::Array(credentials)) = entry.get_mut("credentials") {
            // The other credentials (password hashes, WebAuthn keys…) are left out.
            credentials.retain(user::is_otp);
            if let Some(i) = self.picked.filter(|&i| i < credentials.len()) {
                let picked = credentials.swap_remove(i);
                *credentials = vec![picked];
            }
        }
        serde_json::to_vec(&entry).unwrap_or_default()
    }
}

impl fmt::Debug for KeycloakUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeycloakUser")
            .field("position", &self.position)
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("outcome", &self.outcome)
            .field(
                "raw",
                &format_args!("<{} bytes withheld>", self.raw.as_ref().map_or(0, Vec::len)),
            )
            .field("picked", &self.picked)
            .finish()
    }
}

impl fmt::Display for KeycloakUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.position)?;
        match (&self.username, &self.id) {
            (Some(username), _) => write!(f, " (username {username:?})")?,
            (None, Some(id)) => write!(f, " (id {id:?})")?,
            (None, None) => {}
        }
        match &self.outcome {
            KeycloakOutcome::Record(_) => f.write_str(": to import"),
            KeycloakOutcome::NoOtp => f.write_str(": no OTP credential"),
            KeycloakOutcome::Refused(why) => write!(f, ": refused: {why}"),
        }
    }
}

/// What to do with a user.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeycloakOutcome {
    /// Import its OTP credential.
    Record(KeycloakRecord),
    /// Refuse it, for this reason.
    Refused(KeycloakRefusal),
    /// Nothing: it has no OTP credential.
    NoOtp,
}

/// A user's OTP credential, ready for the import. `Debug` redacts the secret.
#[derive(Debug)]
#[non_exhaustive]
pub struct KeycloakRecord {
    /// The user (named by the identifier chosen) and its secret, the base32 of Keycloak's key.
    pub item: OtpImport,
    /// When the credential was created (`createdDate`, milliseconds since the Unix epoch), if
    /// the export says.
    pub created_date: Option<i64>,
    /// The credential's id, if the export has one.
    pub credential_id: Option<String>,
}

/// Why a user is refused. `Display` says why without quoting any value of its credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeycloakRefusal {
    /// The entry is longer than [`MAX_USER_BYTES`]: it was not kept, nor read.
    TooLarge,
    /// The entry is not a user as Keycloak writes one: not a JSON object, not valid UTF-8, or
    /// `id`, `username`, `email` or `credentials` of the wrong type.
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// Several OTP credentials, and the newest was not asked for ([`KeycloakOptions::newest`]).
    SeveralOtp {
        /// How many.
        count: usize,
    },
    /// Several OTP credentials, and the newest cannot be told.
    NewestUnknown {
        /// How many.
        count: usize,
        /// `true`: two share the latest `createdDate`; `false`: one has no `createdDate`.
        tie: bool,
    },
    /// The OTP credential cannot be imported.
    Credential {
        /// The field at fault: `secretData`, `credentialData`, `subType`, `algorithm`,
        /// `digits`, `period` or `secretEncoding`.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The key is shorter than 10 bytes or longer than 80: its base32 would have fewer than 16
    /// or more than 128 characters ([`OtpImport::new`]'s bounds).
    KeyLength {
        /// The key's length in bytes.
        bytes: usize,
    },
    /// The user has no value (or an empty one) for the chosen identifier.
    NoIdentifier(KeycloakIdentifier),
    /// The chosen identifier's value is refused as an Authing user id ([`OtpImport::new`]).
    Identifier {
        /// Which identifier.
        identifier: KeycloakIdentifier,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for KeycloakRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeycloakRefusal::TooLarge => write!(
                f,
                "entry longer than {MAX_USER_BYTES} bytes: refused unread (a user is a few KiB)"
            ),
            KeycloakRefusal::Malformed { reason } => f.write_str(reason),
            KeycloakRefusal::SeveralOtp { count } => write!(
                f,
                "{count} OTP credentials: which one to import is not known (the newest by \
                 createdDate can be picked)"
            ),
            KeycloakRefusal::NewestUnknown { count, tie: true } => write!(
                f,
                "{count} OTP credentials, the newest two with the same createdDate: which one to \
                 import is not known"
            ),
            KeycloakRefusal::NewestUnknown { count, tie: false } => write!(
                f,
                "{count} OTP credentials, not all with a createdDate: the newest is not known"
            ),
            KeycloakRefusal::Credential { field, reason } => {
                write!(f, "OTP credential: {field}: {reason}")
            }
            KeycloakRefusal::KeyLength { bytes } => write!(
                f,
                "OTP credential: a key of {bytes} bytes is {} base32 characters; Authing takes \
                 {} to {} (a key of {} to {} bytes)",
                (bytes * 8).div_ceil(5),
                OtpImport::MIN_SECRET_CHARS,
                OtpImport::MAX_SECRET_CHARS,
                OtpImport::MIN_SECRET_CHARS * 5 / 8,
                OtpImport::MAX_SECRET_CHARS * 5 / 8
            ),
            KeycloakRefusal::NoIdentifier(identifier) => write!(f, "no {identifier}"),
            KeycloakRefusal::Identifier { identifier, reason } => {
                write!(f, "{identifier}: {reason}")
            }
        }
    }
}

/// How many users a reader has returned, by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeycloakCounts {
    /// Users with an OTP credential to import.
    pub records: u64,
    /// Users refused.
    pub refused: u64,
    /// Users without an OTP credential.
    pub no_otp: u64,
}

impl KeycloakCounts {
    /// All the users.
    pub fn users(&self) -> u64 {
        self.records + self.refused + self.no_otp
    }

    fn add(&mut self, outcome: &KeycloakOutcome) {
        match outcome {
            KeycloakOutcome::Record(_) => self.records += 1,
            KeycloakOutcome::Refused(_) => self.refused += 1,
            KeycloakOutcome::NoOtp => self.no_otp += 1,
        }
    }
}

/// Why an export cannot be read. Each names the file (or directory), and where in it when
/// known; none quotes a value of the file.
///
/// ```
/// use authing_otp_cli::keycloak::{KeycloakFileError, KeycloakOptions, KeycloakReader};
///
/// let cut = br#"{"users":[{"username":"alice","credentials":[{"secretData":"{\"value\":\"12345"#;
/// let path = std::path::Path::new("realm.json");
/// let mut users = KeycloakReader::new(&cut[..], path, KeycloakOptions::default());
/// let err = users.next().unwrap().unwrap_err();
/// assert!(matches!(err, KeycloakFileError::Truncated { offset: 78, .. }));
/// assert_eq!(
///     err.to_string(),
///     "realm.json: line 1, column 79 (byte 78): the JSON ends early: is the export truncated?"
/// );
/// assert!(users.next().is_none());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeycloakFileError {
    /// The file (or directory) could not be read.
    #[error("{}{}: {source}", file.display(), offset.map(|o| format!(": byte {o}")).unwrap_or_default())]
    Io {
        /// The file.
        file: PathBuf,
        /// Where reading failed, if it had started.
        offset: Option<u64>,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file is not JSON.
    #[error("{}: line {line}, column {column} (byte {offset}): not valid JSON: {reason}", file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// The 1-based line.
        line: u64,
        /// The 1-based column, in bytes.
        column: u64,
        /// The 0-based byte offset.
        offset: u64,
        /// What was expected or found, never a value.
        reason: &'static str,
    },
    /// The file ends inside the JSON (or is empty).
    #[error(
        "{}: line {line}, column {column} (byte {offset}): the JSON ends early: is the export \
         truncated?",
        file.display()
    )]
    Truncated {
        /// The file.
        file: PathBuf,
        /// The 1-based line of the end.
        line: u64,
        /// The 1-based column of the end, in bytes.
        column: u64,
        /// The file's length.
        offset: u64,
    },
    /// The file is JSON, but not a realm export of the shape read (see the module docs).
    #[error("{}: line {line}, column {column} (byte {offset}): {reason}", file.display())]
    NotAnExport {
        /// The file.
        file: PathBuf,
        /// The 1-based line.
        line: u64,
        /// The 1-based column, in bytes.
        column: u64,
        /// The 0-based byte offset.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The export has no `users` key: it was exported without users (`--users skip`), or it is
    /// the realm file of a directory export whose users are in files of their own.
    #[error(
        "{}: no `users` in the export (exported with --users skip? For an export to a \
         directory, give the directory)",
        file.display()
    )]
    NoUsers {
        /// The file, or the directory.
        file: PathBuf,
    },
    /// A directory that is not a usable export.
    #[error("{}: {reason}", dir.display())]
    Directory {
        /// The directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
}

impl KeycloakFileError {
    /// The file (or directory) at fault.
    pub fn file(&self) -> &Path {
        match self {
            KeycloakFileError::Io { file, .. }
            | KeycloakFileError::Syntax { file, .. }
            | KeycloakFileError::Truncated { file, .. }
            | KeycloakFileError::NotAnExport { file, .. }
            | KeycloakFileError::NoUsers { file } => file,
            KeycloakFileError::Directory { dir, .. } => dir,
        }
    }

    fn from_fault(file: &Path, fault: Fault) -> Self {
        let file = file.to_path_buf();
        let Fault {
            kind,
            offset,
            line,
            column,
        } = fault;
        match kind {
            FaultKind::Io(source) => KeycloakFileError::Io {
                file,
                offset: Some(offset),
                source,
            },
            FaultKind::Syntax(reason) => KeycloakFileError::Syntax {
                file,
                line,
                column,
                offset,
                reason,
            },
            FaultKind::Eof => KeycloakFileError::Truncated {
                file,
                line,
                column,
                offset,
            },
            FaultKind::Shape(reason) => KeycloakFileError::NotAnExport {
                file,
                line,
                column,
                offset,
                reason,
            },
        }
    }
}

/// Streams the [`KeycloakUser`]s of one export file read by `R`: see the [module docs](self).
///
/// After an error about the file, it ends.
pub struct KeycloakReader<R> {
    entries: Entries<R>,
    file: Arc<Path>,
    options: KeycloakOptions,
    /// Whether a missing `users` key is an error (not for a directory's realm file).
    users_required: bool,
    next_index: u64,
    counts: KeycloakCounts,
    fused: bool,
}

impl<R: Read> KeycloakReader<R> {
    /// The users of the export read by `reader`, a file (not a directory) that errors and
    /// positions name `file`.
    pub fn new(reader: R, file: &Path, options: KeycloakOptions) -> Self {
        KeycloakReader::with_file(reader, Arc::from(file), options, true)
    }

    fn with_file(
        reader: R,
        file: Arc<Path>,
        options: KeycloakOptions,
        users_required: bool,
    ) -> Self {
        KeycloakReader {
            entries: Entries::new(reader, MAX_USER_BYTES),
            file,
            options,
            users_required,
            next_index: 0,
            counts: KeycloakCounts::default(),
            fused: false,
        }
    }

    /// How many users it has returned so far, by outcome.
    pub fn counts(&self) -> KeycloakCounts {
        self.counts
    }

    /// Whether the file had a `users` key (known once the iteration has ended).
    fn users_seen(&self) -> bool {
        self.entries.users_seen()
    }
}

impl<R: Read> Iterator for KeycloakReader<R> {
    type Item = Result<KeycloakUser, KeycloakFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.fused {
            return None;
        }
        let entry = match self.entries.next_entry() {
            Ok(Some(entry)) => entry,
            Ok(None) => {
                self.fused = true;
                return (self.users_required && !self.entries.users_seen()).then(|| {
                    Err(KeycloakFileError::NoUsers {
                        file: self.file.to_path_buf(),
                    })
                });
            }
            Err(fault) => {
                self.fused = true;
                return Some(Err(KeycloakFileError::from_fault(&self.file, fault)));
            }
        };
        let position = KeycloakPosition {
            file: self.file.clone(),
            index: self.next_index,
            index_in_file: self.next_index,
            line: entry.line,
            offset: entry.offset,
        };
        let user::Converted {
            id,
            username,
            email,
            outcome,
            picked,
        } = user::convert(entry.bytes, &self.options);
        let raw = entry.bytes.map(<[u8]>::to_vec);
        self.next_index += 1;
        self.counts.add(&outcome);
        Some(Ok(KeycloakUser {
            position,
            id,
            username,
            email,
            outcome,
            raw,
            picked,
        }))
    }
}

impl<R> fmt::Debug for KeycloakReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeycloakReader")
            .field("file", &self.file)
            .field("options", &self.options)
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

/// A file of an export, and whether it must have a `users` key.
#[derive(Clone, Debug)]
struct ExportFile {
    path: Arc<Path>,
    users_required: bool,
}

/// An export found at a path: a file, or a directory's realm and users files, in the order they
/// are read.
///
/// ```
/// use authing_otp_cli::keycloak::{KeycloakExport, KeycloakOptions};
///
/// let dir = std::env::temp_dir().join(format!("keycloak-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// std::fs::write(dir.join("acme-realm.json"), r#"{"realm":"acme","clients":[]}"#)?;
/// for n in [10, 2] {
///     let users = format!(r#"{{"realm":"acme","users":[{{"username":"user{n}"}}]}}"#);
///     std::fs::write(dir.join(format!("acme-users-{n}.json")), users)?;
/// }
/// let export = KeycloakExport::open(&dir)?;
/// let names: Vec<_> = export.files().iter().map(|f| f.file_name().unwrap().to_str().unwrap()).collect();
/// assert_eq!(names, ["acme-realm.json", "acme-users-2.json", "acme-users-10.json"]);
/// let mut users = export.users(KeycloakOptions::default());
/// let first = users.next().unwrap()?;
/// assert_eq!((first.username.as_deref(), first.position.index), (Some("user2"), 0));
/// let second = users.next().unwrap()?;
/// assert_eq!((second.position.index, second.position.index_in_file), (1, 0));
/// assert!(second.position.file.ends_with("acme-users-10.json"));
/// assert!(users.next().is_none());
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct KeycloakExport {
    path: PathBuf,
    files: Vec<ExportFile>,
}

impl KeycloakExport {
    /// The export at `path`: a file, or a directory holding one realm's export (see the
    /// [module docs](self)).
    pub fn open(path: &Path) -> Result<Self, KeycloakFileError> {
        KeycloakExport::find(path, None)
    }

    /// The export of realm `realm` in the directory `dir`, which may hold other realms' too.
    pub fn open_realm(dir: &Path, realm: &str) -> Result<Self, KeycloakFileError> {
        KeycloakExport::find(dir, Some(realm))
    }

    fn find(path: &Path, realm: Option<&str>) -> Result<Self, KeycloakFileError> {
        let io_error = |source| KeycloakFileError::Io {
            file: path.to_path_buf(),
            offset: None,
            source,
        };
        let meta = fs::metadata(path).map_err(io_error)?;
        let files = if meta.is_dir() {
            directory_files(path, realm)?
        } else if let Some(realm) = realm {
            return Err(KeycloakFileError::Directory {
                dir: path.to_path_buf(),
                reason: format!("not a directory, where realm {realm:?} was to be found"),
            });
        } else {
            vec![ExportFile {
                path: Arc::from(path),
                users_required: true,
            }]
        };
        Ok(KeycloakExport {
            path: path.to_path_buf(),
            files,
        })
    }

    /// The files read, in order.
    pub fn files(&self) -> Vec<&Path> {
        self.files.iter().map(|f| &*f.path).collect()
    }

    /// The export's users, one file after the other (each opened when reached).
    pub fn users(&self, options: KeycloakOptions) -> KeycloakUsers {
        KeycloakUsers {
            path: self.path.clone(),
            files: self.files.clone().into_iter(),
            current: None,
            options,
            next_index: 0,
            users_seen: false,
            counts: KeycloakCounts::default(),
            fused: false,
        }
    }
}

/// The files of one realm's export in `dir`, in reading order.
fn directory_files(dir: &Path, realm: Option<&str>) -> Result<Vec<ExportFile>, KeycloakFileError> {
    let io_error = |source| KeycloakFileError::Io {
        file: dir.to_path_buf(),
        offset: None,
        source,
    };
    let mut realm_files = Vec::new();
    let mut numbered = Vec::new();
    let mut others = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".json") else {
            continue;
        };
        // Symbolic links are followed: only files count.
        if !fs::metadata(entry.path()).is_ok_and(|m| m.is_file()) {
            continue;
        }
        if let Some(realm) = stem.strip_suffix("-realm") {
            realm_files.push(realm.to_owned());
        } else if stem.contains("-federated-users-") {
            // Federated users' files: `federatedUsers`, not read.
        } else if let Some((realm, n)) = stem.rsplit_once("-users-")
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = n.parse::<u64>()
        {
            numbered.push((realm.to_owned(), n, name.clone()));
        } else if stem.contains("-users-") {
            others.push(name.clone());
        }
    }
    let realms: BTreeSet<&str> = realm_files
        .iter()
        .map(String::as_str)
        .chain(numbered.iter().map(|(r, _, _)| r.as_str()))
        .collect();
    let realm = match (realm, realms.len()) {
        (Some(r), _) if realms.contains(r) => r.to_owned(),
        (Some(r), _) => {
            return Err(KeycloakFileError::Directory {
                dir: dir.to_path_buf(),
                reason: format!("no export of realm {r:?} (no {r}-realm.json, {r}-users-N.json)"),
            });
        }
        (None, 1) => realms.first().map(|r| (*r).to_owned()).unwrap_or_default(),
        (None, 0) if others.is_empty() => {
            return Err(KeycloakFileError::Directory {
                dir: dir.to_path_buf(),
                reason: "no Keycloak export in it (no <realm>-realm.json, <realm>-users-N.json)"
                    .to_owned(),
            });
        }
        (None, 0) => String::new(),
        (None, _) => {
            let names: Vec<_> = realms.iter().map(|r| format!("{r:?}")).collect();
            return Err(KeycloakFileError::Directory {
                dir: dir.to_path_buf(),
                reason: format!(
                    "the exports of several realms ({}): name the one to read",
                    names.join(", ")
                ),
            });
        }
    };
    let several = realms.len() > 1;
    let file = |name: &str, users_required| ExportFile {
        path: Arc::from(dir.join(name)),
        users_required,
    };
    let mut files = Vec::new();
    if realm_files.contains(&realm) {
        files.push(file(&format!("{realm}-realm.json"), false));
    }
    numbered.retain(|(r, _, _)| *r == realm);
    numbered.sort_by(|(_, a, an), (_, b, bn)| a.cmp(b).then_with(|| an.cmp(bn)));
    files.extend(numbered.iter().map(|(_, _, name)| file(name, true)));
    // With several realms, only the chosen one's other users files.
    others.retain(|name| !several || name.starts_with(&format!("{realm}-users-")));
    others.sort();
    files.extend(others.iter().map(|name| file(name, true)));
    Ok(files)
}

/// Streams the [`KeycloakUser`]s of a [`KeycloakExport`], file after file: positions number
/// users across files ([`KeycloakPosition::index`]). The first error ends it.
pub struct KeycloakUsers {
    path: PathBuf,
    files: std::vec::IntoIter<ExportFile>,
    current: Option<KeycloakReader<File>>,
    options: KeycloakOptions,
    next_index: u64,
    users_seen: bool,
    counts: KeycloakCounts,
    fused: bool,
}

impl KeycloakUsers {
    /// How many users it has returned so far, by outcome.
    pub fn counts(&self) -> KeycloakCounts {
        self.counts
    }
}

impl Iterator for KeycloakUsers {
    type Item = Result<KeycloakUser, KeycloakFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.fused {
            let Some(reader) = &mut self.current else {
                let Some(next) = self.files.next() else {
                    self.fused = true;
                    return (!self.users_seen).then(|| {
                        Err(KeycloakFileError::NoUsers {
                            file: self.path.clone(),
                        })
                    });
                };
                match File::open(&next.path) {
                    Ok(file) => {
                        self.current = Some(KeycloakReader::with_file(
                            file,
                            next.path,
                            self.options.clone(),
                            next.users_required,
                        ));
                    }
                    Err(source) => {
                        self.fused = true;
                        return Some(Err(KeycloakFileError::Io {
                            file: next.path.to_path_buf(),
                            offset: None,
                            source,
                        }));
                    }
                }
                continue;
            };
            match reader.next() {
                Some(Ok(mut user)) => {
                    user.position.index = self.next_index;
                    self.next_index += 1;
                    self.counts.add(&user.outcome);
                    return Some(Ok(user));
                }
                Some(Err(e)) => {
                    self.fused = true;
                    self.current = None;
                    return Some(Err(e));
                }
                None => {
                    self.users_seen |= reader.users_seen();
                    self.current = None;
                }
            }
        }
        None
    }
}

impl fmt::Debug for KeycloakUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeycloakUsers")
            .field("path", &self.path)
            .field("options", &self.options)
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}
