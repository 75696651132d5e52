//! The generated client's types that carry secrets, written by hand so that their `Debug`
//! redacts.
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
