//! OTP data: what is imported and what is read back.

use std::{collections::HashMap, fmt};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::InputError;

/// An OTP (TOTP) secret read from Authing. Neither `Debug` nor `Display` prints it; call
/// [`ExposeSecret::expose_secret`] where the value is really needed.
///
/// ```
/// use authing_otp::OtpSecret;
/// use authing_otp::ExposeSecret;
///
/// let secret = OtpSecret::from("HZ2F6J3AGNAVSOTV".to_owned());
/// assert_eq!(format!("{secret:?} {secret}"), "OtpSecret(<redacted>) <redacted>");
/// assert_eq!(secret.expose_secret(), "HZ2F6J3AGNAVSOTV");
/// ```
#[derive(Clone)]
#[cfg_attr(
    feature = "schemars",
    derive(schemars::JsonSchema),
    schemars(transparent)
)]
pub struct OtpSecret(#[cfg_attr(feature = "schemars", schemars(with = "String"))] SecretString);

impl From<String> for OtpSecret {
    fn from(s: String) -> Self {
        OtpSecret(s.into())
    }
}

impl ExposeSecret<str> for OtpSecret {
    fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for OtpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpSecret(<redacted>)")
    }
}

impl fmt::Display for OtpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One user's OTP secret (and optional recovery code) to import: an item of `importOtp`'s `list`.
///
/// Validated on construction and when deserialized (from upstream's shape,
/// `{"userId": …, "otp": {"secret": …, "recoveryCode": …}}`): the user id must not be empty, the
/// secret must be base32 (RFC 4648, letters in either case, digits 2–7, optional `=` padding)
/// and the recovery code, when given, must not be empty. `Debug` redacts the secret and the
/// recovery code.
///
/// ```
/// use authing_otp::OtpImport;
///
/// let item = OtpImport::new("6229ffaxxxxxxxxcade3e3d9", "HZ2F6J3AGNAVSOTV")?
///     .with_recovery_code("b471-8ec0-874a-087f-bccb-cd54")?;
/// assert_eq!(item.user_id(), "6229ffaxxxxxxxxcade3e3d9");
/// assert!(!format!("{item:?}").contains("HZ2F6J3AGNAVSOTV"));
/// assert_eq!(OtpImport::new("", "HZ2F6J3AGNAVSOTV").unwrap_err().field(), "userId");
/// # Ok::<(), authing_otp::InputError>(())
/// ```
#[derive(Clone, Deserialize)]
#[serde(try_from = "WireImportItem")]
pub struct OtpImport {
    user_id: String,
    secret: SecretString,
    recovery_code: Option<SecretString>,
}

// The schema is the wire shape's, which deserializing goes through.
#[cfg(feature = "schemars")]
impl schemars::JsonSchema for OtpImport {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OtpImport".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <WireImportItem as schemars::JsonSchema>::json_schema(generator)
    }
}

/// Upstream's `ImportOtpItemDto`, unvalidated; deserializing an [`OtpImport`] goes through it.
#[derive(Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
struct WireImportItem {
    #[serde(rename = "userId")]
    user_id: String,
    otp: WireOtpData,
}

/// Upstream's `ImportOtpItemDataDto`, unvalidated.
#[derive(Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
struct WireOtpData {
    secret: String,
    #[serde(
        rename = "recoveryCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    recovery_code: Option<String>,
}

impl TryFrom<WireImportItem> for OtpImport {
    type Error = InputError;

    fn try_from(w: WireImportItem) -> Result<Self, InputError> {
        OtpImport::from_parts(w.user_id, w.otp.secret, w.otp.recovery_code)
    }
}

impl OtpImport {
    /// An item for the user with this Authing user id, binding `secret` (base32).
    pub fn new(user_id: impl Into<String>, secret: impl Into<String>) -> Result<Self, InputError> {
        let user_id = user_id.into();
        let secret = secret.into();
        if user_id.trim().is_empty() {
            return Err(InputError::new("userId", "must not be empty"));
        }
        if user_id.trim() != user_id || user_id.chars().any(char::is_control) {
            return Err(InputError::new(
                "userId",
                "must not have surrounding whitespace or control characters",
            ));
        }
        check_base32(&secret)?;
        Ok(OtpImport {
            user_id,
            secret: secret.into(),
            recovery_code: None,
        })
    }

    /// An item from its three fields, as files and the wire carry them: [`new`](Self::new),
    /// then [`with_recovery_code`](Self::with_recovery_code) when there is one.
    ///
    /// ```
    /// use authing_otp::OtpImport;
    /// let item = OtpImport::from_parts("u1".into(), "HZ2F6J3AGNAVSOTV".into(), Some("b471".into()))?;
    /// assert!(item.recovery_code().is_some());
    /// # Ok::<(), authing_otp::InputError>(())
    /// ```
    pub fn from_parts(
        user_id: String,
        secret: String,
        recovery_code: Option<String>,
    ) -> Result<Self, InputError> {
        let item = OtpImport::new(user_id, secret)?;
        match recovery_code {
            Some(code) => item.with_recovery_code(code),
            None => Ok(item),
        }
    }

    /// The same item with a recovery code.
    pub fn with_recovery_code(mut self, code: impl Into<String>) -> Result<Self, InputError> {
        let code = code.into();
        if code.trim().is_empty() {
            return Err(InputError::new(
                "recoveryCode",
                "must not be empty when given",
            ));
        }
        if code.chars().any(char::is_control) {
            return Err(InputError::new(
                "recoveryCode",
                "must not contain control characters",
            ));
        }
        self.recovery_code = Some(code.into());
        Ok(self)
    }

    /// The Authing user id.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The secret to bind.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// The recovery code, if any.
    pub fn recovery_code(&self) -> Option<&SecretString> {
        self.recovery_code.as_ref()
    }

    pub(crate) fn to_wire(&self) -> crate::generated::types::ImportOtpItemDto {
        use crate::{generated::types::ImportOtpItemDto, wire::ImportOtpItemDataDto};
        ImportOtpItemDto {
            user_id: self.user_id.clone(),
            otp: ImportOtpItemDataDto {
                secret: self.secret.expose_secret().to_owned(),
                recovery_code: self
                    .recovery_code
                    .as_ref()
                    .map(|c| c.expose_secret().to_owned()),
            },
        }
    }
}

impl fmt::Debug for OtpImport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtpImport")
            .field("user_id", &self.user_id)
            .field("secret", &"<redacted>")
            .field(
                "recovery_code",
                &self.recovery_code.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Checks RFC 4648 base32 without ever quoting the value.
pub(crate) fn check_base32(secret: &str) -> Result<(), InputError> {
    if secret.is_empty() {
        return Err(InputError::new("secret", "must not be empty"));
    }
    let body = secret.trim_end_matches('=');
    if body.is_empty() {
        return Err(InputError::new("secret", "must not be only padding"));
    }
    if body.len() != secret.len() && !secret.len().is_multiple_of(8) {
        return Err(InputError::new(
            "secret",
            "padded base32 must be a multiple of 8 characters long",
        ));
    }
    if let Some(pos) = body
        .chars()
        .position(|c| !(c.is_ascii_alphabetic() || ('2'..='7').contains(&c)))
    {
        return Err(InputError::new(
            "secret",
            format!(
                "must be base32 (letters A-Z, digits 2-7, `=` padding at the end); character {} \
                 is not",
                pos + 1
            ),
        ));
    }
    // Lengths that leave a partial byte cannot come from encoding whole bytes.
    if matches!(body.len() % 8, 1 | 3 | 6) {
        return Err(InputError::new(
            "secret",
            format!(
                "a base32 text of {} characters cannot encode whole bytes",
                body.len()
            ),
        ));
    }
    Ok(())
}

/// Finds the items that name a user an earlier item named: `importOtp` binds one secret per
/// user, so a list (or a whole file) naming a user twice is refused before anything is sent.
///
/// Positions are the caller's: item indexes for one request, line numbers for a file. `Debug`
/// shows only how many users were seen, not their ids.
///
/// ```
/// use authing_otp::{DuplicateUsers, OtpImport};
///
/// let mut seen = DuplicateUsers::new();
/// let a = OtpImport::new("u1", "HZ2F6J3AGNAVSOTV")?;
/// let b = OtpImport::new("u2", "HZ2F6J3AGNAVSOTV")?;
/// assert_eq!(seen.first_seen(&a, 2), None);
/// assert_eq!(seen.first_seen(&b, 3), None);
/// assert_eq!(seen.first_seen(&a, 7), Some(2));
/// assert_eq!(seen.first_seen(&a, 9), Some(2)); // always the first position
/// assert_eq!(format!("{seen:?}"), "DuplicateUsers { users: 2 }");
/// # Ok::<(), authing_otp::InputError>(())
/// ```
pub struct DuplicateUsers<P> {
    first: HashMap<String, P>,
}

impl<P: Copy> DuplicateUsers<P> {
    /// Nothing seen yet.
    pub fn new() -> Self {
        DuplicateUsers {
            first: HashMap::new(),
        }
    }

    /// Records `item`, found at `at`. When an earlier item named the same user, returns that
    /// item's position and records nothing.
    pub fn first_seen(&mut self, item: &OtpImport, at: P) -> Option<P> {
        // Look up before inserting: a new user costs one allocation, a repeated one none.
        if let Some(first) = self.first.get(item.user_id()) {
            return Some(*first);
        }
        self.first.insert(item.user_id().to_owned(), at);
        None
    }
}

impl<P: Copy> Default for DuplicateUsers<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> fmt::Debug for DuplicateUsers<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DuplicateUsers")
            .field("users", &self.first.len())
            .finish()
    }
}

/// What Authing said to a successful import.
///
/// ```no_run
/// # async fn demo(client: authing_otp::ManagementClient) -> Result<(), authing_otp::Error> {
/// let items = [authing_otp::OtpImport::new("u1", "HZ2F6J3AGNAVSOTV")?];
/// let receipt = client.import_otp(&items).await?;
/// println!("{} imported: {}", receipt.imported, receipt.message);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct ImportReceipt {
    /// How many items were sent in the request the API accepted (it reports no count of its
    /// own).
    pub imported: usize,
    /// The API's `message`.
    pub message: String,
    /// The API's `requestId`, when it sent one.
    pub request_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_rules() {
        for ok in [
            "HZ2F6J3AGNAVSOTV",
            "hz2f6j3agnavsotv",
            "MZXW6===",
            "MZXW6YQ=",
        ] {
            assert!(check_base32(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "====",
            "HZ2F 6J3A",
            "HZ2F6J3AGNAVSOT1",
            "ABC",
            "A=B=",
            "MZXW6Y==",
        ] {
            let err = check_base32(bad).unwrap_err();
            assert_eq!(err.field(), "secret");
            if !bad.is_empty() {
                assert!(!err.to_string().contains(bad), "{err}");
            }
        }
    }

    #[test]
    fn deserializes_upstream_shape_with_validation() {
        let item: OtpImport = serde_json::from_str(
            r#"{"userId":"u1","otp":{"secret":"HZ2F6J3AGNAVSOTV","recoveryCode":"b471-8ec0"}}"#,
        )
        .unwrap();
        assert_eq!(item.recovery_code().unwrap().expose_secret(), "b471-8ec0");
        let err = serde_json::from_str::<OtpImport>(r#"{"userId":"u1","otp":{"secret":"1"}}"#)
            .err()
            .unwrap();
        assert!(err.to_string().contains("secret"), "{err}");
    }
}
