//! The users an emulator knows, their OTP bindings, and how `userIdType` finds them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::ops::Bound;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Deserializer};

use crate::error::Error;

/// A user of the emulated user pool.
///
/// Every field but `id` is optional. The ids a user can be found by must be unique in the pool
/// (as in Authing): `id`, `email` (compared ignoring ASCII case), `phone`, `username`,
/// `externalId`, each identity and each sync relation. Custom fields need not be unique.
///
/// In a seed file a user is a JSON object with the same fields in camelCase, see [`Seed`].
///
/// ```
/// use authing_otp_emulator::User;
///
/// let alice = User::new("u1")
///     .email("alice@example.com")
///     .phone("+8613800000000")
///     .username("alice")
///     .external_id("emp-001")
///     .identity("62f20932716fbcc10d966ee5", "ou_8bae746e")
///     .sync_relation("lark", "ou_c0ffee")
///     .custom_field("employeeNo", "E-42")
///     .otp_with_recovery_code("HZ2F6J3AGNAVSOTV", "b471-8ec0");
/// assert_eq!(alice.id, "u1");
/// // Secrets never show in Debug output.
/// assert!(!format!("{alice:?}").contains("HZ2F6J3AGNAVSOTV"));
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    /// The Authing user id (`userIdType=user_id`, and the id `importOtp` takes).
    pub id: String,
    /// Email address (`userIdType=email`), matched ignoring ASCII case.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number (`userIdType=phone`), matched exactly.
    #[serde(default)]
    pub phone: Option<String>,
    /// Username (`userIdType=username`), matched exactly.
    #[serde(default)]
    pub username: Option<String>,
    /// The user's id in an external system (`userIdType=external_id`).
    #[serde(default)]
    pub external_id: Option<String>,
    /// Identities in identity sources (`userIdType=identity`, id `<extIdpId>:<userIdInIdp>`).
    #[serde(default)]
    pub identities: Vec<Identity>,
    /// Accounts in sync providers (`userIdType=sync_relation`, id `<provider>:<userIdInIdp>`).
    #[serde(default)]
    pub sync_relations: Vec<SyncRelation>,
    /// Custom user fields (`userIdType=custom_field`, id `<fieldKey>:<value>`). Keys must not
    /// contain `:`. In a seed file values may be strings, numbers or booleans; they are compared
    /// as text.
    #[serde(default, deserialize_with = "scalar_map")]
    pub custom_fields: BTreeMap<String, String>,
    /// An OTP binding the user starts with, as if imported.
    #[serde(default)]
    pub otp: Option<Otp>,
}

/// A user's identity in an Authing identity source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Identity {
    /// The identity source (external IdP) id.
    pub ext_idp_id: String,
    /// The user's id in that identity source.
    pub user_id_in_idp: String,
}

/// A user's account in a sync provider (e.g. `lark`, `wechatwork`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncRelation {
    /// The provider, e.g. `lark`.
    pub provider: String,
    /// The user's id at that provider.
    pub user_id_in_idp: String,
}

/// An OTP (TOTP) binding: the secret and, optionally, the recovery code. Both are redacted in
/// `Debug` output.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Otp {
    /// The TOTP secret (base32 by convention; the emulator, like the API's schema, does not
    /// check the alphabet).
    pub secret: SecretString,
    /// The recovery code, when one was imported.
    #[serde(default)]
    pub recovery_code: Option<SecretString>,
}

impl Otp {
    /// A binding with `secret` and no recovery code.
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: SecretString::from(secret.into()),
            recovery_code: None,
        }
    }

    /// Adds a recovery code.
    #[must_use]
    pub fn with_recovery_code(mut self, recovery_code: impl Into<String>) -> Self {
        self.recovery_code = Some(SecretString::from(recovery_code.into()));
        self
    }
}

impl User {
    /// A user with only an Authing user id.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }

    /// Sets the email address.
    #[must_use]
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Sets the phone number.
    #[must_use]
    pub fn phone(mut self, phone: impl Into<String>) -> Self {
        self.phone = Some(phone.into());
        self
    }

    /// Sets the username.
    #[must_use]
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Sets the external id.
    #[must_use]
    pub fn external_id(mut self, external_id: impl Into<String>) -> Self {
        self.external_id = Some(external_id.into());
        self
    }

    /// Adds an identity in identity source `ext_idp_id`.
    #[must_use]
    pub fn identity(
        mut self,
        ext_idp_id: impl Into<String>,
        user_id_in_idp: impl Into<String>,
    ) -> Self {
        self.identities.push(Identity {
            ext_idp_id: ext_idp_id.into(),
            user_id_in_idp: user_id_in_idp.into(),
        });
        self
    }

    /// Adds an account at sync provider `provider`.
    #[must_use]
    pub fn sync_relation(
        mut self,
        provider: impl Into<String>,
        user_id_in_idp: impl Into<String>,
    ) -> Self {
        self.sync_relations.push(SyncRelation {
            provider: provider.into(),
            user_id_in_idp: user_id_in_idp.into(),
        });
        self
    }

    /// Sets a custom field.
    #[must_use]
    pub fn custom_field(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.custom_fields.insert(key.into(), value.into());
        self
    }

    /// Binds an OTP secret (without recovery code) from the start, as if imported.
    #[must_use]
    pub fn otp(mut self, secret: impl Into<String>) -> Self {
        self.otp = Some(Otp::new(secret));
        self
    }

    /// Binds an OTP secret and its recovery code from the start, as if imported.
    #[must_use]
    pub fn otp_with_recovery_code(
        mut self,
        secret: impl Into<String>,
        recovery_code: impl Into<String>,
    ) -> Self {
        self.otp = Some(Otp::new(secret).with_recovery_code(recovery_code));
        self
    }
}

/// Users to start an emulator with, usually read from a JSON seed file.
///
/// The file is either `{"users": [ … ]}` or just the array. Each user:
///
/// ```json
/// {
///   "users": [
///     {
///       "id": "u1",
///       "email": "alice@example.com",
///       "phone": "+8613800000000",
///       "username": "alice",
///       "externalId": "emp-001",
///       "identities": [{"extIdpId": "62f20932716fbcc10d966ee5", "userIdInIdp": "ou_8bae746e"}],
///       "syncRelations": [{"provider": "lark", "userIdInIdp": "ou_c0ffee"}],
///       "customFields": {"employeeNo": "E-42", "badge": 7},
///       "otp": {"secret": "HZ2F6J3AGNAVSOTV", "recoveryCode": "b471-8ec0"}
///     },
///     {"id": "u2"}
///   ]
/// }
/// ```
///
/// Only `id` is required. Unknown fields are refused, so that a typo does not silently drop
/// data. Parse errors report the line and column but never a value from the file.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    /// The users, in file order.
    pub users: Vec<User>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    users: Vec<User>,
}

impl Seed {
    /// Parses seed JSON. `origin` names the source in error messages.
    fn parse(text: &str, origin: &str) -> Result<Self, Error> {
        let users = if text.trim_start().starts_with('[') {
            serde_json::from_str::<Vec<User>>(text).map_err(|e| seed_error(origin, &e))?
        } else {
            serde_json::from_str::<SeedFile>(text)
                .map_err(|e| seed_error(origin, &e))?
                .users
        };
        Ok(Self { users })
    }

    /// Parses seed JSON from a string.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        Self::parse(text, "seed")
    }

    /// Reads and parses a seed file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::SeedRead {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }
}

/// A serde_json error message with any value from the input removed: `invalid type: string
/// "S3CR3T", expected …` becomes `invalid type: string, expected …`.
fn seed_error(origin: &str, e: &serde_json::Error) -> Error {
    Error::SeedParse {
        origin: origin.to_owned(),
        message: redacted(e.to_string()),
    }
}

/// `message` (a serde_json error) without the value it may quote.
fn redacted(message: String) -> String {
    ["invalid type: ", "invalid value: "]
        .iter()
        .find_map(|prefix| {
            let rest = message.strip_prefix(prefix)?;
            let (unexpected, tail) = rest.split_once(", expected")?;
            let what = unexpected.split([' ', '`', '"']).next().unwrap_or("value");
            Some(format!("{prefix}{what}, expected{tail}"))
        })
        .unwrap_or(message)
}

/// What a line of a users file must hold: an object with a string `userId`; other keys are
/// ignored (without keeping their values). Unlike a derived struct, an array is refused.
struct UserLine {
    user_id: String,
}

impl<'de> Deserialize<'de> for UserLine {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UserLine;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object with a string userId")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UserLine, A::Error> {
                let mut user_id = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "userId" {
                        if user_id.is_some() {
                            return Err(serde::de::Error::duplicate_field("userId"));
                        }
                        user_id = Some(map.next_value::<String>()?);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                let user_id = user_id.ok_or_else(|| serde::de::Error::missing_field("userId"))?;
                Ok(UserLine { user_id })
            }
        }
        d.deserialize_map(Visitor)
    }
}

/// Adds a user with only an id, and no OTP, for each line of the JSON Lines file at `path`,
/// reading it one line at a time; ids already in `directory` are skipped. Returns how many
/// users were added.
pub(crate) fn add_users_from_jsonl(directory: &mut Directory, path: &Path) -> Result<u64, Error> {
    let read_error = |source| Error::SeedRead {
        path: path.to_owned(),
        source,
    };
    let parse_error = |line: u64, message: String| Error::SeedParse {
        origin: path.display().to_string(),
        message: format!("line {line}: {message}"),
    };
    let mut reader = BufReader::new(File::open(path).map_err(read_error)?);
    let mut buf = Vec::new();
    let mut number = 0u64;
    let mut added = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(read_error)? == 0 {
            return Ok(added);
        }
        number += 1;
        let mut line = buf.as_slice();
        if number == 1 {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let id = match serde_json::from_slice::<UserLine>(line) {
            Ok(parsed) => parsed.user_id,
            Err(e) => return Err(parse_error(number, line_error(&e))),
        };
        if id.is_empty() {
            return Err(parse_error(number, "userId is empty".to_owned()));
        }
        if !directory.contains(&id) {
            directory.add(User::new(id))?;
            added += 1;
        }
    }
}

/// A serde_json error about one line: what is wrong and at which column, without the line
/// number serde_json adds (always 1) or any value from the line.
fn line_error(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let what = match full.rfind(" at line ") {
        Some(at) => full[..at].to_owned(),
        None => full,
    };
    let what = match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            format!("not valid JSON ({what})")
        }
        serde_json::error::Category::Data | serde_json::error::Category::Io => redacted(what),
    };
    if e.column() == 0 {
        what
    } else {
        format!("{what}, at column {}", e.column())
    }
}

fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        String(String),
        Number(serde_json::Number),
        Bool(bool),
    }
    let raw = BTreeMap::<String, Scalar>::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Scalar::String(s) => s,
                Scalar::Number(n) => n.to_string(),
                Scalar::Bool(b) => b.to_string(),
            };
            (k, v)
        })
        .collect())
}

/// Why a lookup found no single user.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LookupError {
    /// Nobody has that id.
    NotFound,
    /// More than one user matches (only possible for `custom_field`).
    Ambiguous(usize),
    /// The id does not have the shape its `userIdType` needs.
    Malformed(&'static str),
}

/// The user directory: users with their OTP bindings, and indexes on every id a request can
/// name, so that no request scans the users (it holds the directory's lock while it looks).
#[derive(Default)]
pub(crate) struct Directory {
    users: Vec<User>,
    /// When each user (same index) was added, in milliseconds since the Unix epoch: the
    /// `createdAt` and `updatedAt` getUserBatch answers.
    added_ms: Vec<u64>,
    by_id: HashMap<String, usize>,
    /// The users with an OTP bound, by id in byte order: the bindings endpoint reads it a
    /// page at a time.
    bound: BTreeMap<String, usize>,
    /// Every user with a custom field, by `(key, value)`; custom fields need not be unique.
    by_custom_field: HashMap<(String, String), Vec<usize>>,
    by_email: HashMap<String, usize>,
    by_phone: HashMap<String, usize>,
    by_username: HashMap<String, usize>,
    by_external_id: HashMap<String, usize>,
    by_identity: HashMap<(String, String), usize>,
    by_sync_relation: HashMap<(String, String), usize>,
}

impl fmt::Debug for Directory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Directory")
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

impl Directory {
    /// Adds a user, refusing an empty id, a `:` in a custom field key, and any unique id another
    /// user already has. Nothing is changed when the user is refused.
    pub(crate) fn add(&mut self, user: User) -> Result<(), Error> {
        let invalid = |what: String| Error::InvalidUser {
            id: user.id.clone(),
            problem: what,
        };
        if user.id.is_empty() {
            return Err(invalid("the id is empty".to_owned()));
        }
        if user.custom_fields.keys().any(|k| k.contains(':')) {
            return Err(invalid(
                "custom field keys must not contain ':' (custom_field ids are <fieldKey>:<value>)"
                    .to_owned(),
            ));
        }
        let taken = |owner: Option<&usize>, what: &str| match owner {
            Some(&i) => Err(invalid(format!(
                "its {what} is already used by user {}",
                self.users[i].id
            ))),
            None => Ok(()),
        };
        taken(self.by_id.get(&user.id), "id")?;
        if let Some(e) = &user.email {
            taken(self.by_email.get(&e.to_ascii_lowercase()), "email")?;
        }
        if let Some(p) = &user.phone {
            taken(self.by_phone.get(p), "phone")?;
        }
        if let Some(u) = &user.username {
            taken(self.by_username.get(u), "username")?;
        }
        if let Some(x) = &user.external_id {
            taken(self.by_external_id.get(x), "externalId")?;
        }
        let identities: Vec<(String, String)> = user
            .identities
            .iter()
            .map(|i| (i.ext_idp_id.clone(), i.user_id_in_idp.clone()))
            .collect();
        let relations: Vec<(String, String)> = user
            .sync_relations
            .iter()
            .map(|r| (r.provider.clone(), r.user_id_in_idp.clone()))
            .collect();
        for (n, key) in identities.iter().enumerate() {
            taken(self.by_identity.get(key), "identity")?;
            if identities[..n].contains(key) {
                return Err(invalid("it lists the same identity twice".to_owned()));
            }
        }
        for (n, key) in relations.iter().enumerate() {
            taken(self.by_sync_relation.get(key), "sync relation")?;
            if relations[..n].contains(key) {
                return Err(invalid("it lists the same sync relation twice".to_owned()));
            }
        }

        let i = self.users.len();
        self.by_id.insert(user.id.clone(), i);
        if let Some(e) = &user.email {
            self.by_email.insert(e.to_ascii_lowercase(), i);
        }
        if let Some(p) = &user.phone {
            self.by_phone.insert(p.clone(), i);
        }
        if let Some(u) = &user.username {
            self.by_username.insert(u.clone(), i);
        }
        if let Some(x) = &user.external_id {
            self.by_external_id.insert(x.clone(), i);
        }
        for key in identities {
            self.by_identity.insert(key, i);
        }
        for key in relations {
            self.by_sync_relation.insert(key, i);
        }
        for (key, value) in &user.custom_fields {
            self.by_custom_field
                .entry((key.clone(), value.clone()))
                .or_default()
                .push(i);
        }
        if user.otp.is_some() {
            self.bound.insert(user.id.clone(), i);
        }
        self.users.push(user);
        self.added_ms.push(now_ms());
        Ok(())
    }

    /// The user with Authing user id `id`.
    pub(crate) fn get(&self, id: &str) -> Option<&User> {
        self.by_id.get(id).map(|&i| &self.users[i])
    }

    /// Whether a user has Authing user id `id`.
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// Every binding, as `(user id, binding)`, sorted by user id.
    pub(crate) fn bindings(&self) -> Vec<(String, Otp)> {
        self.bindings_after(None, usize::MAX)
    }

    /// The bindings of the users whose id comes after `after` (all when `None`), in user id
    /// order, as many as fit in about `budget` bytes of ids, secrets and recovery codes (at
    /// least one, if there is one).
    pub(crate) fn bindings_after(&self, after: Option<&str>, budget: usize) -> Vec<(String, Otp)> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut page = Vec::new();
        let mut size = 0usize;
        for (id, &i) in self.bound.range::<str, _>((start, Bound::Unbounded)) {
            if size >= budget && !page.is_empty() {
                break;
            }
            let Some(otp) = &self.users[i].otp else {
                continue;
            };
            size = size.saturating_add(
                id.len()
                    + otp.secret.expose_secret().len()
                    + otp
                        .recovery_code
                        .as_ref()
                        .map_or(0, |c| c.expose_secret().len()),
            );
            page.push((id.clone(), otp.clone()));
        }
        page
    }

    /// Binds `otp` to user `id` (which must exist), replacing any earlier binding.
    pub(crate) fn bind(&mut self, id: &str, otp: Otp) {
        if let Some(&i) = self.by_id.get(id) {
            if self.users[i].otp.is_none() {
                self.bound.insert(id.to_owned(), i);
            }
            self.users[i].otp = Some(otp);
        }
    }

    /// Finds the user `id` names when read as `id_type` (a `userIdType` value).
    pub(crate) fn resolve(&self, id_type: &str, id: &str) -> Result<&User, LookupError> {
        self.resolve_index(id_type, id).map(|i| &self.users[i])
    }

    /// Finds the users `ids` name when read as `id_type`: one lookup per id, then a copy of
    /// each user found, once, in the order of the first id that named it. Nothing is copied
    /// when an id is malformed or ambiguous (see [`Batch`]). Unknown ids are left out.
    pub(crate) fn resolve_batch<'a>(
        &self,
        id_type: &str,
        ids: impl ExactSizeIterator<Item = &'a str>,
    ) -> Batch {
        let mut seen = HashSet::with_capacity(ids.len());
        let mut found = Vec::with_capacity(ids.len());
        let mut refused = Vec::new();
        for (at, id) in ids.enumerate() {
            match self.resolve_index(id_type, id) {
                Ok(i) if seen.insert(i) => found.push(i),
                Ok(_) | Err(LookupError::NotFound) => {}
                Err(e) => refused.push((at, e)),
            }
        }
        if !refused.is_empty() {
            return Batch {
                found: Vec::new(),
                refused,
            };
        }
        Batch {
            found: found.into_iter().map(|i| self.profile(i)).collect(),
            refused,
        }
    }

    /// A copy of what getUserBatch tells about user `i`.
    fn profile(&self, i: usize) -> Profile {
        let user = &self.users[i];
        Profile {
            id: user.id.clone(),
            email: user.email.clone(),
            phone: user.phone.clone(),
            username: user.username.clone(),
            external_id: user.external_id.clone(),
            identities: user.identities.clone(),
            custom_fields: user.custom_fields.clone(),
            added_ms: self.added_ms[i],
        }
    }

    /// The index of the user `id` names when read as `id_type`.
    fn resolve_index(&self, id_type: &str, id: &str) -> Result<usize, LookupError> {
        let found = match id_type {
            "user_id" => self.by_id.get(id),
            "email" => self.by_email.get(&id.to_ascii_lowercase()),
            "phone" => self.by_phone.get(id),
            "username" => self.by_username.get(id),
            "external_id" => self.by_external_id.get(id),
            "identity" => {
                let (idp, uid) = id
                    .split_once(':')
                    .ok_or(LookupError::Malformed("<extIdpId>:<userIdInIdp>"))?;
                self.by_identity.get(&(idp.to_owned(), uid.to_owned()))
            }
            "sync_relation" => {
                let (provider, uid) = id
                    .split_once(':')
                    .ok_or(LookupError::Malformed("<provider>:<userIdInIdp>"))?;
                self.by_sync_relation
                    .get(&(provider.to_owned(), uid.to_owned()))
            }
            "custom_field" => {
                let (key, value) = id
                    .split_once(':')
                    .ok_or(LookupError::Malformed("<fieldKey>:<value>"))?;
                let matches = self
                    .by_custom_field
                    .get(&(key.to_owned(), value.to_owned()))
                    .map_or(&[][..], Vec::as_slice);
                return match matches {
                    [one] => Ok(*one),
                    [] => Err(LookupError::NotFound),
                    many => Err(LookupError::Ambiguous(many.len())),
                };
            }
            // The schema check has refused anything else already.
            _ => None,
        };
        found.copied().ok_or(LookupError::NotFound)
    }
}

/// What [`Directory::resolve_batch`] found.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The users found, each once, in the order of the first id that named it; empty when
    /// `refused` is not.
    pub(crate) found: Vec<Profile>,
    /// The position in the batch and the problem of every id that is malformed or names
    /// several users, in batch order.
    pub(crate) refused: Vec<(usize, LookupError)>,
}

/// A copy of what getUserBatch tells about a user: its ids, identities, custom fields and when
/// it was added; not its OTP binding, nor its sync relations (`UserDto` has no field for them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Profile {
    pub(crate) id: String,
    pub(crate) email: Option<String>,
    pub(crate) phone: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) external_id: Option<String>,
    pub(crate) identities: Vec<Identity>,
    pub(crate) custom_fields: BTreeMap<String, String>,
    /// When the emulator added the user, in milliseconds since the Unix epoch.
    pub(crate) added_ms: u64,
}

/// Milliseconds since the Unix epoch (0 for a clock set before it).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_errors_do_not_repeat_values() {
        let err = Seed::from_json(r#"{"users":[{"id":"u1","otp":"S3CR3T-VALUE"}]}"#).unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("S3CR3T"), "{text}");
        assert!(text.contains("invalid type: string, expected"), "{text}");
        assert!(text.contains("line 1"), "{text}");
    }

    #[test]
    fn seed_accepts_both_shapes_and_scalar_custom_fields() {
        let a =
            Seed::from_json(r#"[{"id":"u1","customFields":{"n":7,"b":true,"s":"x"}}]"#).unwrap();
        assert_eq!(a.users[0].custom_fields["n"], "7");
        assert_eq!(a.users[0].custom_fields["b"], "true");
        let b = Seed::from_json(r#"{"users":[{"id":"u1"}]}"#).unwrap();
        assert_eq!(b.users[0].id, "u1");
        let typo = Seed::from_json(r#"{"users":[{"id":"u1","emial":"a@b"}]}"#).unwrap_err();
        assert!(typo.to_string().contains("unknown field `emial`"), "{typo}");
    }

    fn users_file(name: &str, text: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!(
            "authing-otp-emulator-users-{}-{name}.jsonl",
            std::process::id()
        ));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn users_files_add_ids_only_and_report_lines_without_values() {
        let path = users_file(
            "ok",
            b"\xEF\xBB\xBF{\"userId\":\"a\",\"secret\":\"S1\"}\r\n\n  \n\
              {\"otp\":{\"secret\":\"S2\"},\"userId\":\"b\"}\n\
              {\"userId\":\"a\"}\n{\"userId\":\"c\"}",
        );
        let mut d = Directory::default();
        d.add(User::new("c").email("c@x.com")).unwrap();
        assert_eq!(add_users_from_jsonl(&mut d, &path).unwrap(), 2);
        std::fs::remove_file(&path).unwrap();
        assert!(d.contains("a") && d.contains("b"));
        assert!(d.get("a").unwrap().otp.is_none(), "secrets are not bound");
        assert_eq!(d.get("c").unwrap().email.as_deref(), Some("c@x.com"));
        assert!(d.bindings().is_empty());

        for (name, text, expected) in [
            (
                "num",
                &b"{\"userId\":\"a\"}\n\n{\"userId\":12345}\n"[..],
                "line 3: invalid type: integer, expected a string, at column",
            ),
            (
                "missing",
                b"{\"secret\":\"S3CR3T\"}",
                "line 1: missing field `userId`",
            ),
            (
                "array",
                b"[\"S3CR3T\"]",
                "line 1: invalid type: sequence, expected a JSON object",
            ),
            (
                "syntax",
                b"\n{\"userId\":\"S3CR3T",
                "line 2: not valid JSON (EOF while parsing",
            ),
            ("empty", b"{\"userId\":\"\"}", "line 1: userId is empty"),
        ] {
            let path = users_file(name, text);
            let err = add_users_from_jsonl(&mut Directory::default(), &path).unwrap_err();
            std::fs::remove_file(&path).unwrap();
            let text = err.to_string();
            assert!(matches!(err, Error::SeedParse { .. }), "{text}");
            assert!(text.contains(expected), "{name}: {text}");
            assert!(
                !text.contains("S3CR3T") && !text.contains("12345"),
                "{text}"
            );
        }
        let missing = Path::new("/nonexistent/users.jsonl");
        assert!(matches!(
            add_users_from_jsonl(&mut Directory::default(), missing),
            Err(Error::SeedRead { .. })
        ));
    }

    #[test]
    fn bindings_are_sorted_by_id() {
        let mut d = Directory::default();
        for id in ["b", "a", "c"] {
            d.add(User::new(id)).unwrap();
        }
        d.bind("c", Otp::new("C"));
        d.bind("a", Otp::new("A").with_recovery_code("rc"));
        let ids: Vec<String> = d.bindings().into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["a", "c"]);
    }

    #[test]
    fn bindings_come_in_pages_after_a_user_id() {
        let mut d = Directory::default();
        for id in ["d", "b", "a", "c", "e"] {
            d.add(User::new(id)).unwrap();
        }
        d.add(User::new("f").otp("FFFF")).unwrap();
        for id in ["e", "a", "c", "b"] {
            d.bind(id, Otp::new(id.repeat(9)));
        }
        d.bind("a", Otp::new("AAAA"));
        let ids = |page: Vec<(String, Otp)>| page.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        // Each binding here counts 1 + 9 bytes, "a" 1 + 4, "f" 1 + 4.
        assert_eq!(ids(d.bindings_after(None, 15)), ["a", "b"]);
        assert_eq!(ids(d.bindings_after(Some("b"), 1)), ["c"], "at least one");
        assert_eq!(ids(d.bindings_after(Some("bb"), 0)), ["c"]);
        assert_eq!(ids(d.bindings_after(Some("c"), 100)), ["e", "f"]);
        assert!(d.bindings_after(Some("f"), 100).is_empty());
        assert_eq!(ids(d.bindings()), ["a", "b", "c", "e", "f"]);
        assert_eq!(
            d.bindings()[0].1.secret.expose_secret(),
            "AAAA",
            "rebinding replaces"
        );
    }

    #[test]
    fn unique_ids_are_enforced_and_nothing_changes_on_refusal() {
        let mut d = Directory::default();
        d.add(User::new("u1").email("A@x.com").identity("idp", "1"))
            .unwrap();
        assert!(d.add(User::new("u1")).is_err());
        assert!(d.add(User::new("u2").email("a@X.com")).is_err());
        assert!(d.add(User::new("u3").identity("idp", "1")).is_err());
        assert!(d.add(User::new("")).is_err());
        assert!(d.add(User::new("u4").custom_field("a:b", "c")).is_err());
        assert!(!d.contains("u2") && !d.contains("u3"));
        d.add(User::new("u2").email("b@x.com")).unwrap();
        assert_eq!(d.resolve("email", "B@X.COM").unwrap().id, "u2");
    }

    #[test]
    fn a_batch_copies_each_user_found_once_in_the_order_first_named() {
        let mut d = Directory::default();
        d.add(User::new("u1").email("a@x.com").otp("S1")).unwrap();
        d.add(User::new("u2").email("b@x.com").custom_field("k", "v"))
            .unwrap();
        d.add(User::new("u3").custom_field("k", "v")).unwrap();
        let ids = |batch: &Batch| batch.found.iter().map(|p| p.id.clone()).collect::<Vec<_>>();
        let batch = d.resolve_batch(
            "email",
            ["B@X.COM", "nobody@x.com", "a@x.com", "b@x.com"].into_iter(),
        );
        assert_eq!(ids(&batch), ["u2", "u1"]);
        assert!(batch.refused.is_empty());
        assert_eq!(batch.found[0].email.as_deref(), Some("b@x.com"));
        assert_eq!(batch.found[1].added_ms, d.added_ms[0]);
        assert!(
            d.resolve_batch("user_id", ["x"].into_iter())
                .found
                .is_empty()
        );
        // Any malformed or ambiguous id: nothing copied, each problem with its position.
        let batch = d.resolve_batch("custom_field", ["k:v", "k", "nope:1", "k:v"].into_iter());
        assert!(batch.found.is_empty());
        assert_eq!(
            batch.refused,
            [
                (0, LookupError::Ambiguous(2)),
                (1, LookupError::Malformed("<fieldKey>:<value>")),
                (3, LookupError::Ambiguous(2)),
            ]
        );
    }

    #[test]
    fn custom_field_lookup() {
        let mut d = Directory::default();
        d.add(
            User::new("u1")
                .custom_field("dept", "eng")
                .custom_field("no", "a:b"),
        )
        .unwrap();
        d.add(User::new("u2").custom_field("dept", "eng")).unwrap();
        assert_eq!(d.resolve("custom_field", "no:a:b").unwrap().id, "u1");
        assert_eq!(
            d.resolve("custom_field", "dept:eng").unwrap_err(),
            LookupError::Ambiguous(2)
        );
        assert_eq!(
            d.resolve("custom_field", "dept:ops").unwrap_err(),
            LookupError::NotFound
        );
        assert!(matches!(
            d.resolve("custom_field", "dept").unwrap_err(),
            LookupError::Malformed(_)
        ));
        d.add(User::new("u3").custom_field("dept", "ops")).unwrap();
        assert_eq!(d.resolve("custom_field", "dept:ops").unwrap().id, "u3");
        assert_eq!(
            d.resolve("custom_field", "no:a").unwrap_err(),
            LookupError::NotFound,
            "values match whole"
        );
        // A refused user leaves no trace in the index.
        assert!(d.add(User::new("u1").custom_field("dept", "qa")).is_err());
        assert_eq!(
            d.resolve("custom_field", "dept:qa").unwrap_err(),
            LookupError::NotFound
        );
    }
}
