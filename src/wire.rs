//! The generated client's types that carry secrets, written by hand so that their `Debug`
//! redacts; and the user of `getUserBatch`'s answer ([`BatchUserDto`]), written by hand so
//! that it is read leniently.
//!
//! `build.rs` tells progenitor to use these in place of the types it would generate for the
//! same schemas; their fields, names and serde attributes are exactly what it would generate,
//! and `tests/schema_guard.rs` compares their JSON Schemas with the fragment's so that a spec
//! sync that changes one of these schemas fails a test instead of drifting silently.

use std::fmt;

use serde::{Deserialize, Serialize};

const REDACTED: &str = "<redacted>";

/// The token request's body (`GetManagementAccessTokenDto`). `Debug` redacts the secret.
///
/// ```
/// let body = authing_otp::wire::GetManagementAccessTokenDto {
///     access_key_id: "ak".into(),
///     access_key_secret: "sk-very-secret".into(),
/// };
/// assert!(!format!("{body:?}").contains("sk-very-secret"));
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct GetManagementAccessTokenDto {
    /// The access key id (or user pool id).
    #[serde(rename = "accessKeyId")]
    pub access_key_id: String,
    /// The access key secret.
    #[serde(rename = "accessKeySecret")]
    pub access_key_secret: String,
}

impl fmt::Debug for GetManagementAccessTokenDto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetManagementAccessTokenDto")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &REDACTED)
            .finish()
    }
}

/// The token answer's data (`AccessTokenResDto`). `Debug` redacts the token.
///
/// ```
/// let data = authing_otp::wire::AccessTokenResDto {
///     access_token: "eyJhbGciOi.secret.token".into(),
///     expires_in: 7200.0,
/// };
/// assert!(!format!("{data:?}").contains("secret.token"));
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct AccessTokenResDto {
    /// The management token.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: f64,
}

impl fmt::Debug for AccessTokenResDto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokenResDto")
            .field("access_token", &REDACTED)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// One import item's OTP data (`ImportOtpItemDataDto`). `Debug` redacts both fields.
///
/// ```
/// let data = authing_otp::wire::ImportOtpItemDataDto {
///     secret: "HZ2F6J3AGNAVSOTV".into(),
///     recovery_code: Some("b471-8ec0".into()),
/// };
/// let debug = format!("{data:?}");
/// assert!(!debug.contains("HZ2F6J3AGNAVSOTV") && !debug.contains("b471"));
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ImportOtpItemDataDto {
    /// The recovery code, if any.
    #[serde(
        rename = "recoveryCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub recovery_code: Option<String>,
    /// The OTP secret, base32.
    pub secret: String,
}

impl fmt::Debug for ImportOtpItemDataDto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportOtpItemDataDto")
            .field(
                "recovery_code",
                &self.recovery_code.as_ref().map(|_| REDACTED),
            )
            .field("secret", &REDACTED)
            .finish()
    }
}

/// `getOtpSecretByUser`'s data (`OtpSecretRespDto`). `Debug` redacts the secret.
///
/// ```
/// let data = authing_otp::wire::OtpSecretRespDto { secret: "HZ2F6J3AGNAVSOTV".into() };
/// assert_eq!(format!("{data:?}"), "OtpSecretRespDto { secret: \"<redacted>\" }");
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct OtpSecretRespDto {
    /// The OTP secret, base32.
    pub secret: String,
}

impl fmt::Debug for OtpSecretRespDto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtpSecretRespDto")
            .field("secret", &REDACTED)
            .finish()
    }
}

/// One user of `getUserBatch`'s answer (the spec's `UserDto`), read leniently: only what
/// matching a user to the ids asked needs. `userId` is required; the other fields are kept
/// when they are strings and dropped otherwise (a `null`, a number, an object), and every
/// other field of the user is skipped without being kept.
///
/// ```
/// let user: authing_otp::wire::BatchUserDto = serde_json::from_str(
///     r#"{"userId":"u1","email":"Alice@Example.com","phone":null,"loginsCount":3,
///         "identities":[{"extIdpId":"idp1","userIdInIdp":"ou_1","provider":"lark"}]}"#,
/// )?;
/// assert_eq!(user.user_id, "u1");
/// assert_eq!(user.email.as_deref(), Some("Alice@Example.com"));
/// assert_eq!(user.phone, None);
/// assert_eq!(user.identities[0].ext_idp_id, "idp1");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchUserDto {
    /// The Authing user id.
    #[serde(rename = "userId")]
    pub user_id: String,
    /// `email`, if a string.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<String>,
    /// `username`, if a string.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub username: Option<String>,
    /// `phone`, if a string.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub phone: Option<String>,
    /// `phoneCountryCode` (`+86`), if a string.
    #[serde(
        rename = "phoneCountryCode",
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub phone_country_code: Option<String>,
    /// `externalId`, if a string.
    #[serde(
        rename = "externalId",
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_id: Option<String>,
    /// `identities` (sent when asked for with `withIdentities`): those whose `extIdpId` and
    /// `userIdInIdp` are strings.
    #[serde(
        default,
        deserialize_with = "lenient_identities",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub identities: Vec<BatchIdentityDto>,
}

/// One identity of a [`BatchUserDto`] (the spec's `IdentityDto`, in part).
///
/// ```
/// let identity = authing_otp::wire::BatchIdentityDto::new("idp1", "ou_1");
/// assert_eq!(identity.user_id_in_idp, "ou_1");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchIdentityDto {
    /// The identity source's id.
    #[serde(rename = "extIdpId")]
    pub ext_idp_id: String,
    /// The user's id in it.
    #[serde(rename = "userIdInIdp")]
    pub user_id_in_idp: String,
}

impl BatchIdentityDto {
    /// An identity: the source's id and the user's id in it.
    pub fn new(ext_idp_id: impl Into<String>, user_id_in_idp: impl Into<String>) -> Self {
        BatchIdentityDto {
            ext_idp_id: ext_idp_id.into(),
            user_id_in_idp: user_id_in_idp.into(),
        }
    }
}

/// A string, or `None` for any other JSON value.
fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

/// The identities whose two ids are strings; anything else is dropped.
fn lenient_identities<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<BatchIdentityDto>, D::Error> {
    let serde_json::Value::Array(items) = serde_json::Value::deserialize(d)? else {
        return Ok(Vec::new());
    };
    Ok(items
        .into_iter()
        .filter_map(|item| serde_json::from_value(item).ok())
        .collect())
}
