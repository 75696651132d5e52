//! Typed user references: the `userId` / `userIdType` query pair of `getOtpSecretByUser`.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{
    InputError,
    generated::types::{
        GetOtpSecretByUserUserIdType as Generated, GetUserBatchUserIdType as Batch,
    },
};

/// What kind of id a [`UserRef`] carries: upstream's `userIdType` enum.
///
/// The conversions to and from the generated enum are exhaustive matches, so a value added to
/// the spec upstream fails the build here instead of being silently unusable.
///
/// ```
/// use authing_otp::UserIdType;
/// assert_eq!(UserIdType::SyncRelation.as_str(), "sync_relation");
/// assert_eq!("email".parse::<UserIdType>().unwrap(), UserIdType::Email);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UserIdType {
    /// The Authing user id, e.g. `6319a1504f3xxxxf214dd5b7`.
    UserId,
    /// The user's id in an external system (the user's `externalId`).
    ExternalId,
    /// The user's phone number.
    Phone,
    /// The user's email address.
    Email,
    /// The user's username.
    Username,
    /// `<extIdpId>:<userIdInIdp>`: an Authing identity source and the user's id in it.
    Identity,
    /// `<provider>:<userIdInIdp>`: a sync provider (`lark`, `wechatwork`, …) and the user's id
    /// in it.
    SyncRelation,
    /// A custom user field (upstream does not document the id format).
    CustomField,
}

impl UserIdType {
    /// Every value, in upstream's order.
    pub const ALL: [UserIdType; 8] = [
        UserIdType::UserId,
        UserIdType::ExternalId,
        UserIdType::Phone,
        UserIdType::Email,
        UserIdType::Username,
        UserIdType::Identity,
        UserIdType::SyncRelation,
        UserIdType::CustomField,
    ];

    /// The wire value, as sent in `userIdType`.
    pub fn as_str(self) -> &'static str {
        match self {
            UserIdType::UserId => "user_id",
            UserIdType::ExternalId => "external_id",
            UserIdType::Phone => "phone",
            UserIdType::Email => "email",
            UserIdType::Username => "username",
            UserIdType::Identity => "identity",
            UserIdType::SyncRelation => "sync_relation",
            UserIdType::CustomField => "custom_field",
        }
    }
}

impl From<UserIdType> for Generated {
    fn from(t: UserIdType) -> Self {
        match t {
            UserIdType::UserId => Generated::UserId,
            UserIdType::ExternalId => Generated::ExternalId,
            UserIdType::Phone => Generated::Phone,
            UserIdType::Email => Generated::Email,
            UserIdType::Username => Generated::Username,
            UserIdType::Identity => Generated::Identity,
            UserIdType::SyncRelation => Generated::SyncRelation,
            UserIdType::CustomField => Generated::CustomField,
        }
    }
}

impl From<Generated> for UserIdType {
    fn from(t: Generated) -> Self {
        match t {
            Generated::UserId => UserIdType::UserId,
            Generated::ExternalId => UserIdType::ExternalId,
            Generated::Phone => UserIdType::Phone,
            Generated::Email => UserIdType::Email,
            Generated::Username => UserIdType::Username,
            Generated::Identity => UserIdType::Identity,
            Generated::SyncRelation => UserIdType::SyncRelation,
            Generated::CustomField => UserIdType::CustomField,
        }
    }
}

// getUserBatch's `userIdType` is an enum of its own in the generated client: the same
// exhaustive matches hold it to the same values.
impl From<UserIdType> for Batch {
    fn from(t: UserIdType) -> Self {
        match t {
            UserIdType::UserId => Batch::UserId,
            UserIdType::ExternalId => Batch::ExternalId,
            UserIdType::Phone => Batch::Phone,
            UserIdType::Email => Batch::Email,
            UserIdType::Username => Batch::Username,
            UserIdType::Identity => Batch::Identity,
            UserIdType::SyncRelation => Batch::SyncRelation,
            UserIdType::CustomField => Batch::CustomField,
        }
    }
}

impl From<Batch> for UserIdType {
    fn from(t: Batch) -> Self {
        match t {
            Batch::UserId => UserIdType::UserId,
            Batch::ExternalId => UserIdType::ExternalId,
            Batch::Phone => UserIdType::Phone,
            Batch::Email => UserIdType::Email,
            Batch::Username => UserIdType::Username,
            Batch::Identity => UserIdType::Identity,
            Batch::SyncRelation => UserIdType::SyncRelation,
            Batch::CustomField => UserIdType::CustomField,
        }
    }
}

impl fmt::Display for UserIdType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UserIdType {
    type Err = InputError;

    fn from_str(s: &str) -> Result<Self, InputError> {
        UserIdType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = UserIdType::ALL.iter().map(|t| t.as_str()).collect();
                InputError::new(
                    "userIdType",
                    format!(
                        "unknown user id type `{}`; expected one of {}",
                        crate::redact::shown(s),
                        known.join(", ")
                    ),
                )
            })
    }
}

/// A user, named by one of the kinds of id Authing accepts.
///
/// Constructors validate: an empty id, a composite id with an empty part, or an id longer than
/// [`MAX_USER_ID_BYTES`](Self::MAX_USER_ID_BYTES) is refused before any request. It renders the `userId` and `userIdType` query values, and parses from and
/// displays as `<userIdType>:<userId>` (a bare id means `user_id`).
///
/// The facade always sends `userIdType`, `user_id` included, rather than leaving the server to
/// assume its default.
///
/// ```
/// use authing_otp::{UserIdType, UserRef};
///
/// let user = UserRef::identity("62f20932716fbcc10d966ee5", "ou_8bae746eac07")?;
/// assert_eq!(user.id(), "62f20932716fbcc10d966ee5:ou_8bae746eac07");
/// assert_eq!(user.id_type(), UserIdType::Identity);
///
/// let parsed: UserRef = "sync_relation:lark:ou_8bae".parse()?;
/// assert_eq!(parsed, UserRef::sync_relation("lark", "ou_8bae")?);
/// assert_eq!("6229ffaxxxxxxxxcade3e3d9".parse::<UserRef>()?.id_type(), UserIdType::UserId);
/// assert!(UserRef::identity("", "ou_8bae").is_err());
/// # Ok::<(), authing_otp::InputError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "WireUserRef")]
pub struct UserRef {
    #[serde(rename = "userId")]
    user_id: String,
    #[serde(rename = "userIdType")]
    user_id_type: UserIdType,
}

// The schema is the wire shape's, which deserializing goes through.
#[cfg(feature = "schemars")]
impl schemars::JsonSchema for UserRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "UserRef".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <WireUserRef as schemars::JsonSchema>::json_schema(generator)
    }
}

/// The unvalidated shape, so that deserializing goes through the same checks as constructing.
#[derive(Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
struct WireUserRef {
    #[serde(rename = "userId")]
    user_id: String,
    #[serde(rename = "userIdType", default = "default_type")]
    user_id_type: UserIdType,
}

fn default_type() -> UserIdType {
    UserIdType::UserId
}

impl TryFrom<WireUserRef> for UserRef {
    type Error = InputError;

    fn try_from(w: WireUserRef) -> Result<Self, InputError> {
        UserRef::new(w.user_id_type, w.user_id)
    }
}

impl UserRef {
    /// The longest `userId` accepted, in bytes of UTF-8, whatever its type (a composite id
    /// counted whole, `:` included): 1024. Real ids are far shorter (an email address is at
    /// most 254 bytes); a longer one would make a URL no HTTP stack sends.
    ///
    /// ```
    /// use authing_otp::UserRef;
    /// assert!(UserRef::username("a".repeat(UserRef::MAX_USER_ID_BYTES)).is_ok());
    /// let err = UserRef::username("a".repeat(UserRef::MAX_USER_ID_BYTES + 1)).unwrap_err();
    /// assert_eq!(err.field(), "userId");
    /// assert_eq!(err.reason(), "too long: 1025 bytes; at most 1024");
    /// ```
    pub const MAX_USER_ID_BYTES: usize = 1024;

    /// A user of the given kind of id; composite kinds (`identity`, `sync_relation`) take the
    /// joined `<a>:<b>` form.
    pub fn new(user_id_type: UserIdType, user_id: impl Into<String>) -> Result<Self, InputError> {
        let user_id = user_id.into();
        check_length(&user_id)?;
        match user_id_type {
            UserIdType::Identity => {
                let (a, b) = split_composite(&user_id, "<extIdpId>:<userIdInIdp>")?;
                check_part("extIdpId", a)?;
                check_part("userIdInIdp", b)?;
            }
            UserIdType::SyncRelation => {
                let (a, b) = split_composite(&user_id, "<provider>:<userIdInIdp>")?;
                check_part("provider", a)?;
                check_part("userIdInIdp", b)?;
            }
            UserIdType::Email => {
                check_part("userId", &user_id)?;
                if !user_id.contains('@') {
                    return Err(InputError::new("userId", "an email address needs an `@`"));
                }
            }
            _ => check_part("userId", &user_id)?,
        }
        Ok(UserRef {
            user_id,
            user_id_type,
        })
    }

    /// The id, of the kind [`id_type`](Self::id_type) says (composite ids joined by `:`), as
    /// sent in `userId`.
    pub fn id(&self) -> &str {
        &self.user_id
    }

    /// The kind of id, as sent in `userIdType`.
    pub fn id_type(&self) -> UserIdType {
        self.user_id_type
    }

    /// By Authing user id, e.g. `6319a1504f3xxxxf214dd5b7`.
    pub fn user_id(id: impl Into<String>) -> Result<Self, InputError> {
        Self::new(UserIdType::UserId, id)
    }

    /// By phone number.
    pub fn phone(phone: impl Into<String>) -> Result<Self, InputError> {
        Self::new(UserIdType::Phone, phone)
    }

    /// By email address.
    pub fn email(email: impl Into<String>) -> Result<Self, InputError> {
        Self::new(UserIdType::Email, email)
    }

    /// By username.
    pub fn username(username: impl Into<String>) -> Result<Self, InputError> {
        Self::new(UserIdType::Username, username)
    }

    /// By the user's id in an external system (`externalId`).
    pub fn external_id(id: impl Into<String>) -> Result<Self, InputError> {
        Self::new(UserIdType::ExternalId, id)
    }

    /// By an identity source id and the user's id in it.
    pub fn identity(
        ext_idp_id: impl AsRef<str>,
        user_id_in_idp: impl AsRef<str>,
    ) -> Result<Self, InputError> {
        let (ext_idp_id, user_id_in_idp) = (ext_idp_id.as_ref(), user_id_in_idp.as_ref());
        check_part("extIdpId", ext_idp_id)?;
        if ext_idp_id.contains(':') {
            return Err(InputError::new("extIdpId", "must not contain `:`"));
        }
        Self::new(
            UserIdType::Identity,
            format!("{ext_idp_id}:{user_id_in_idp}"),
        )
    }

    /// By a sync provider (`lark`, `wechatwork`, …) and the user's id in it.
    pub fn sync_relation(
        provider: impl AsRef<str>,
        user_id_in_idp: impl AsRef<str>,
    ) -> Result<Self, InputError> {
        let (provider, user_id_in_idp) = (provider.as_ref(), user_id_in_idp.as_ref());
        check_part("provider", provider)?;
        if provider.contains(':') {
            return Err(InputError::new("provider", "must not contain `:`"));
        }
        Self::new(
            UserIdType::SyncRelation,
            format!("{provider}:{user_id_in_idp}"),
        )
    }

    /// By a custom field value (upstream does not document the format; it is sent as given).
    pub fn custom_field(value: impl Into<String>) -> Result<Self, InputError> {
        Self::new(UserIdType::CustomField, value)
    }
}

/// Refuses a `userId` longer than [`UserRef::MAX_USER_ID_BYTES`], without quoting it.
pub(crate) fn check_length(user_id: &str) -> Result<(), InputError> {
    if user_id.len() > UserRef::MAX_USER_ID_BYTES {
        return Err(InputError::new(
            "userId",
            format!(
                "too long: {} bytes; at most {}",
                user_id.len(),
                UserRef::MAX_USER_ID_BYTES
            ),
        ));
    }
    Ok(())
}

fn split_composite<'a>(id: &'a str, shape: &str) -> Result<(&'a str, &'a str), InputError> {
    id.split_once(':')
        .ok_or_else(|| InputError::new("userId", format!("must have the form {shape}")))
}

fn check_part(field: &'static str, value: &str) -> Result<(), InputError> {
    if value.trim().is_empty() {
        return Err(InputError::new(field, "must not be empty"));
    }
    if value.trim() != value {
        return Err(InputError::new(
            field,
            "must not start or end with whitespace",
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(InputError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.user_id_type, self.user_id)
    }
}

impl FromStr for UserRef {
    type Err = InputError;

    /// `email:alice@example.com`, `identity:<extIdpId>:<userIdInIdp>`,
    /// `sync_relation:<provider>:<userIdInIdp>`, …, or a bare id meaning `user_id`.
    fn from_str(s: &str) -> Result<Self, InputError> {
        match s.split_once(':') {
            None => UserRef::user_id(s),
            Some((kind, rest)) => match kind.parse::<UserIdType>() {
                Ok(t) => UserRef::new(t, rest),
                Err(_) => Err(InputError::new(
                    "userIdType",
                    format!(
                        "unknown user id type `{}` (expected one of {}); write user_id:<id> \
                         for a user id that contains `:`",
                        crate::redact::shown(kind),
                        UserIdType::ALL.map(UserIdType::as_str).join(", ")
                    ),
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        let cases = [
            ("u1", UserIdType::UserId, "u1"),
            ("user_id:a:b", UserIdType::UserId, "a:b"),
            ("email:a+b@x.com", UserIdType::Email, "a+b@x.com"),
            (
                "phone:+86 13800000000",
                UserIdType::Phone,
                "+86 13800000000",
            ),
            ("username:alice", UserIdType::Username, "alice"),
            ("external_id:E-1", UserIdType::ExternalId, "E-1"),
            (
                "identity:62f2:ou_8bae",
                UserIdType::Identity,
                "62f2:ou_8bae",
            ),
            ("identity:62f2:ou:x", UserIdType::Identity, "62f2:ou:x"),
            (
                "sync_relation:lark:ou_8",
                UserIdType::SyncRelation,
                "lark:ou_8",
            ),
            ("custom_field:emp:42", UserIdType::CustomField, "emp:42"),
        ];
        for (text, t, id) in cases {
            let user: UserRef = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!((user.id_type(), user.id()), (t, id), "{text}");
        }
    }

    #[test]
    fn refuses_empty_and_malformed_ids() {
        for text in [
            "",
            "email:",
            "email:nobody",
            "identity:",
            "identity:62f2",
            "identity::ou",
            "identity:62f2:",
            "sync_relation::x",
            "sync_relation:lark:",
            "nonsense:x",
            "username: alice",
        ] {
            assert!(
                text.parse::<UserRef>().is_err(),
                "{text:?} should be refused"
            );
        }
        assert_eq!(
            UserRef::identity("a:b", "c").unwrap_err().field(),
            "extIdpId"
        );
        assert_eq!(
            UserRef::sync_relation("lark", " ").unwrap_err().field(),
            "userIdInIdp"
        );
    }

    /// Issue 15: a 120 KB id became a "builder error" only when the request was made.
    #[test]
    fn ids_longer_than_the_maximum_are_refused_for_every_type() {
        let max = UserRef::MAX_USER_ID_BYTES;
        for t in UserIdType::ALL {
            let fits = match t {
                UserIdType::Email => format!("{}@x", "a".repeat(max - 2)),
                UserIdType::Identity | UserIdType::SyncRelation => {
                    format!("p:{}", "a".repeat(max - 2))
                }
                _ => "a".repeat(max),
            };
            assert_eq!(fits.len(), max);
            assert!(UserRef::new(t, fits.clone()).is_ok(), "{t}");
            for long in [format!("{fits}a"), format!("{fits}{}", "a".repeat(120_000))] {
                let err = UserRef::new(t, long.clone()).unwrap_err();
                assert_eq!(err.field(), "userId", "{t}");
                assert_eq!(
                    err.reason(),
                    format!("too long: {} bytes; at most {max}", long.len())
                );
                // Parsed and deserialized ids go through the same check.
                assert!(format!("{t}:{long}").parse::<UserRef>().is_err(), "{t}");
                let json = serde_json::json!({"userId": long, "userIdType": t});
                assert!(serde_json::from_value::<UserRef>(json).is_err(), "{t}");
            }
        }
        // Bytes, not characters: 342 three-byte characters are 1026 bytes.
        assert!(UserRef::username("€".repeat(341)).is_ok());
        assert!(UserRef::username("€".repeat(342)).is_err());
        // The composite constructors count the joined id.
        let half = "a".repeat(max / 2);
        assert!(UserRef::identity(&half, &half).is_err());
        assert!(UserRef::sync_relation(&half, &half[1..]).is_ok());
    }

    #[test]
    fn an_unknown_kind_is_not_repeated_whole_or_raw() {
        let err = format!("{}:x", "k".repeat(120_000))
            .parse::<UserRef>()
            .unwrap_err();
        assert_eq!(err.field(), "userIdType");
        assert!(err.reason().len() < 300, "{}", err.reason().len());
        let err = "k\u{1b}[2J:x".parse::<UserRef>().unwrap_err();
        assert!(err.reason().contains("`k\\u{1b}[2J`"), "{}", err.reason());
        let err = format!("{}\u{7}", "t".repeat(5000))
            .parse::<UserIdType>()
            .unwrap_err();
        assert!(err.reason().len() < 300 && !err.reason().contains('\u{7}'));
    }

    #[test]
    fn display_round_trips() {
        for user in [
            UserRef::email("a@b.c").unwrap(),
            UserRef::identity("x", "y:z").unwrap(),
            UserRef::user_id("plain").unwrap(),
        ] {
            assert_eq!(user.to_string().parse::<UserRef>().unwrap(), user);
        }
    }

    #[test]
    fn deserializing_validates() {
        let ok: UserRef =
            serde_json::from_str(r#"{"userId":"a@b.c","userIdType":"email"}"#).unwrap();
        assert_eq!(ok, UserRef::email("a@b.c").unwrap());
        assert!(serde_json::from_str::<UserRef>(r#"{"userId":"","userIdType":"email"}"#).is_err());
        assert!(
            serde_json::from_str::<UserRef>(r#"{"userId":"x","userIdType":"passkey"}"#).is_err()
        );
    }
}
