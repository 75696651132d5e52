//! OTP data: what is imported and what is read back.

use std::fmt;

use secrecy::{ExposeSecret, SecretString, zeroize::Zeroize};
use serde::Deserialize;

use crate::InputError;

/// An OTP (TOTP) secret read from Authing. `Debug` does not print it, and it has no
/// `Display` (as secrecy's own `SecretString` has none): `secret.to_string()` does not compile
/// rather than silently store `<redacted>`. Call [`ExposeSecret::expose_secret`] where the value
/// is really needed.
///
/// ```
/// use authing_otp::OtpSecret;
/// use authing_otp::ExposeSecret;
///
/// let secret = OtpSecret::from("HZ2F6J3AGNAVSOTV".to_owned());
/// assert_eq!(format!("{secret:?}"), "OtpSecret(<redacted>)");
/// assert_eq!(secret.expose_secret(), "HZ2F6J3AGNAVSOTV");
/// ```
///
/// ```compile_fail
/// let secret = authing_otp::OtpSecret::from("HZ2F6J3AGNAVSOTV".to_owned());
/// let stored: String = secret.to_string();
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

impl OtpSecret {
    /// Whether this secret and `secret` are the same key as authenticator apps read them:
    /// ASCII case, spaces, tabs and trailing `=` padding do not count (`jbsw y3dp ehpk 3pxp`
    /// and `JBSWY3DPEHPK3PXP====` are one key). Compares without copying either.
    ///
    /// ```
    /// use authing_otp::OtpSecret;
    /// let read_back = OtpSecret::from("jbsw y3dp ehpk 3pxp".to_owned());
    /// assert!(read_back.is_same_key("JBSWY3DPEHPK3PXP===="));
    /// assert!(!read_back.is_same_key("JBSWY3DPEHPK3PXQ"));
    /// ```
    pub fn is_same_key(&self, secret: &str) -> bool {
        fn canonical(s: &str) -> impl Iterator<Item = u8> + '_ {
            s.trim_end_matches(['=', ' ', '\t'])
                .bytes()
                .filter(|b| !matches!(b, b' ' | b'\t'))
                .map(|b| b.to_ascii_uppercase())
        }
        canonical(self.expose_secret()).eq(canonical(secret))
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

/// One user's OTP secret (and optional recovery code) to import: an item of `importOtp`'s `list`.
///
/// Validated on construction and when deserialized (from upstream's shape,
/// `{"userId": …, "otp": {"secret": …, "recoveryCode": …}}`): the user id must not be empty, the
/// secret is taken as authenticator apps show it and kept in its canonical form (see
/// [`new`](Self::new) for the rule) and the recovery code, when given, must have at least
/// [`MIN_RECOVERY_CODE_CHARS`](Self::MIN_RECOVERY_CODE_CHARS) characters.
/// `Debug` redacts the secret and the recovery code.
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
    /// The fewest base32 characters a secret may have once canonical: 16, that is 80 bits
    /// (shorter is too short to be a real TOTP key).
    pub const MIN_SECRET_CHARS: usize = 16;

    /// The most base32 characters a secret may have once canonical: 128 (640 bits).
    pub const MAX_SECRET_CHARS: usize = 128;

    /// The longest user id accepted, in bytes of UTF-8: 1024, as for
    /// [`UserRef::MAX_USER_ID_BYTES`](crate::UserRef::MAX_USER_ID_BYTES).
    pub const MAX_USER_ID_BYTES: usize = crate::UserRef::MAX_USER_ID_BYTES;

    /// The fewest characters a recovery code may have, spaces at either end not counted: 6.
    /// A shorter one is no protection, and could not be told apart from ordinary words of a
    /// server's message, where it must be found to be redacted.
    pub const MIN_RECOVERY_CODE_CHARS: usize = 6;

    /// An item for the user with this Authing user id, binding `secret`.
    ///
    /// The secret is taken as authenticator apps show it and kept in its canonical form, the
    /// one sent to Authing and returned by [`secret`](Self::secret): ASCII spaces and tabs
    /// removed, letters upper-cased, trailing `=` padding dropped (`jbsw y3dp ehpk 3pxp` is
    /// `JBSWY3DPEHPK3PXP`). The canonical form must then be base32 (RFC 4648: letters A–Z,
    /// digits 2–7), [`MIN_SECRET_CHARS`](Self::MIN_SECRET_CHARS) (16, 80 bits) to
    /// [`MAX_SECRET_CHARS`](Self::MAX_SECRET_CHARS) (128) characters long, and of a length
    /// that encodes whole bytes (not 1, 3 or 6 more than a multiple of 8). Other whitespace,
    /// `-` and `=` other than at the end are refused, not removed. A refusal is an
    /// [`InputError`] on field `secret` whose reason never quotes the value (it may name a
    /// character's position, or the length).
    ///
    /// The user id must not be empty, nor have surrounding whitespace or control characters,
    /// nor be longer than [`MAX_USER_ID_BYTES`](Self::MAX_USER_ID_BYTES).
    ///
    /// ```
    /// use authing_otp::{ExposeSecret, OtpImport};
    ///
    /// let item = OtpImport::new("u1", "jbsw y3dp ehpk 3pxp")?;
    /// assert_eq!(item.secret().expose_secret(), "JBSWY3DPEHPK3PXP");
    /// let padded = OtpImport::new("u1", "HZ2F6J3AGNAVSOTVMZXW6YQ=")?;
    /// assert_eq!(padded.secret().expose_secret(), "HZ2F6J3AGNAVSOTVMZXW6YQ");
    ///
    /// let short = OtpImport::new("u1", "jbsw y3dp").unwrap_err();
    /// assert_eq!(short.field(), "secret");
    /// assert_eq!(
    ///     short.reason(),
    ///     "too short: 8 base32 characters (40 bits); a TOTP key has at least 16 (80 bits)"
    /// );
    /// let dashed = OtpImport::new("u1", "jbsw-y3dp-ehpk-3pxp").unwrap_err();
    /// assert_eq!(dashed.field(), "secret");
    /// assert!(dashed.reason().ends_with("character 5 is not"));
    /// assert!(!dashed.to_string().to_ascii_lowercase().contains("jbsw"));
    /// # Ok::<(), authing_otp::InputError>(())
    /// ```
    pub fn new(user_id: impl Into<String>, secret: impl Into<String>) -> Result<Self, InputError> {
        let user_id = user_id.into();
        let mut secret = secret.into();
        let user_problem = if user_id.trim().is_empty() {
            Some(InputError::new("userId", "must not be empty"))
        } else if let Err(too_long) = crate::user::check_length(&user_id) {
            Some(too_long)
        } else if user_id.trim() != user_id || user_id.chars().any(char::is_control) {
            Some(InputError::new(
                "userId",
                "must not have surrounding whitespace or control characters",
            ))
        } else {
            None
        };
        if let Some(problem) = user_problem {
            secret.zeroize();
            return Err(problem);
        }
        Ok(OtpImport {
            user_id,
            secret: canonical_secret(secret)?,
            recovery_code: None,
        })
    }

    /// An item from its three fields, as files and the wire carry them: [`new`](Self::new),
    /// then [`with_recovery_code`](Self::with_recovery_code) when there is one.
    ///
    /// ```
    /// use authing_otp::OtpImport;
    /// let item = OtpImport::from_parts(
    ///     "u1".into(),
    ///     "HZ2F6J3AGNAVSOTV".into(),
    ///     Some("b471-8ec0".into()),
    /// )?;
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

    /// The same item with a recovery code: not empty, without control characters, and at least
    /// [`MIN_RECOVERY_CODE_CHARS`](Self::MIN_RECOVERY_CODE_CHARS) (6) characters long once
    /// spaces at either end are set aside (it is sent as given). A refusal is an
    /// [`InputError`] on field `recoveryCode` that never quotes the code.
    ///
    /// ```
    /// use authing_otp::OtpImport;
    /// let item = OtpImport::new("u1", "HZ2F6J3AGNAVSOTV")?;
    /// assert!(item.clone().with_recovery_code("b471-8ec0").is_ok());
    /// let err = item.with_recovery_code("b47").unwrap_err();
    /// assert_eq!(err.field(), "recoveryCode");
    /// assert_eq!(err.reason(), "too short: a recovery code has at least 6 characters");
    /// # Ok::<(), authing_otp::InputError>(())
    /// ```
    pub fn with_recovery_code(mut self, code: impl Into<String>) -> Result<Self, InputError> {
        let mut code = code.into();
        let problem = if code.trim().is_empty() {
            Some("must not be empty when given".to_owned())
        } else if code.chars().any(char::is_control) {
            Some("must not contain control characters".to_owned())
        } else if code.trim().chars().count() < Self::MIN_RECOVERY_CODE_CHARS {
            // Neither the code nor its length: both are the secret's.
            Some(format!(
                "too short: a recovery code has at least {} characters",
                Self::MIN_RECOVERY_CODE_CHARS
            ))
        } else {
            None
        };
        if let Some(reason) = problem {
            code.zeroize();
            return Err(InputError::new("recoveryCode", reason));
        }
        self.recovery_code = Some(code.into());
        Ok(self)
    }

    /// The Authing user id.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The secret to bind, in its canonical form (see [`new`](Self::new)).
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

/// The canonical form of a secret to import (see [`OtpImport::new`]), checked without ever
/// quoting the value. No copy of the secret is left behind: `secret` is wiped unless it becomes
/// the result as it is.
fn canonical_secret(mut secret: String) -> Result<SecretString, InputError> {
    match canonicalize(&mut secret) {
        // Boxing a string of exactly its capacity keeps its allocation.
        Ok(()) if secret.len() == secret.capacity() => Ok(secret.into()),
        result => {
            let canonical = result.map(|()| SecretString::from(secret.as_str()));
            secret.zeroize();
            canonical
        }
    }
}

fn canonicalize(secret: &mut String) -> Result<(), InputError> {
    // The usual case, already canonical: only the length is left to check.
    let canonical = |b: &u8| b.is_ascii_uppercase() || (b'2'..=b'7').contains(b);
    if !secret.as_bytes().iter().all(canonical) {
        canonicalize_text(secret)?;
    }
    check_canonical_length(secret.len())
}

/// Removes spaces, tabs and trailing padding and upper-cases letters, once the characters are
/// checked.
fn canonicalize_text(secret: &mut String) -> Result<(), InputError> {
    // Positions in errors are those of the given text (1-based, in characters): checked first.
    let mut padding_from = None;
    for (i, c) in secret.chars().enumerate() {
        let bad = match c {
            ' ' | '\t' => false,
            '=' => {
                padding_from.get_or_insert(i);
                false
            }
            'a'..='z' | 'A'..='Z' | '2'..='7' => padding_from.is_some(),
            _ => true,
        };
        if bad {
            return Err(InputError::new(
                "secret",
                format!(
                    "must be base32 (letters A-Z in either case, digits 2-7; spaces, tabs and \
                     `=` padding at the end are ignored); character {} is not",
                    padding_from.unwrap_or(i) + 1
                ),
            ));
        }
    }
    secret.retain(|c| c != ' ' && c != '\t');
    let body = secret.trim_end_matches('=').len();
    secret.truncate(body);
    secret.make_ascii_uppercase();
    Ok(())
}

/// Checks the length of a canonical secret.
fn check_canonical_length(len: usize) -> Result<(), InputError> {
    if len == 0 {
        return Err(InputError::new("secret", "must not be empty"));
    }
    if len < OtpImport::MIN_SECRET_CHARS {
        return Err(InputError::new(
            "secret",
            format!(
                "too short: {len} base32 characters ({} bits); a TOTP key has at least {} ({} \
                 bits)",
                len * 5,
                OtpImport::MIN_SECRET_CHARS,
                OtpImport::MIN_SECRET_CHARS * 5
            ),
        ));
    }
    if len > OtpImport::MAX_SECRET_CHARS {
        return Err(InputError::new(
            "secret",
            format!(
                "too long: {len} base32 characters; at most {}",
                OtpImport::MAX_SECRET_CHARS
            ),
        ));
    }
    // Lengths that leave a partial byte cannot come from encoding whole bytes.
    if matches!(len % 8, 1 | 3 | 6) {
        return Err(InputError::new(
            "secret",
            format!("a base32 text of {len} characters cannot encode whole bytes"),
        ));
    }
    Ok(())
}

/// Checks RFC 4648 base32 without ever quoting the value: secrets read back from Authing, which
/// are taken as they are.
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
    /// The API's `message`, cleaned and cut as [`ApiError::message`](crate::ApiError::message)
    /// is.
    pub message: String,
    /// The API's `requestId`, when it sent one, cleaned and cut as
    /// [`ApiError::request_id`](crate::ApiError::request_id) is.
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

    fn canonical(secret: &str) -> Result<String, InputError> {
        OtpImport::new("u1", secret).map(|item| item.secret().expose_secret().to_owned())
    }

    #[test]
    fn secrets_are_kept_in_canonical_form() {
        for (given, kept) in [
            ("JBSWY3DPEHPK3PXP", "JBSWY3DPEHPK3PXP"),
            ("jbswy3dpehpk3pxp", "JBSWY3DPEHPK3PXP"),
            ("jbsw y3dp ehpk 3pxp", "JBSWY3DPEHPK3PXP"),
            ("JbSw\tY3dP  eHpK\t3PxP", "JBSWY3DPEHPK3PXP"),
            ("  JBSWY3DPEHPK3PXP\t", "JBSWY3DPEHPK3PXP"),
            ("JBSWY3DPEHPK3PXP========", "JBSWY3DPEHPK3PXP"),
            ("JBSWY3DPEHPK3PXP = =", "JBSWY3DPEHPK3PXP"),
            ("hz2f6j3agnavsotvmzxw6yq=", "HZ2F6J3AGNAVSOTVMZXW6YQ"),
            ("hz2f 6j3a gnav sotv mzxw 6yq=", "HZ2F6J3AGNAVSOTVMZXW6YQ"),
            // 18 characters: 90 bits, 11 whole bytes and two spare bits.
            ("abcd efgh ijkl mnop qr", "ABCDEFGHIJKLMNOPQR"),
        ] {
            assert_eq!(canonical(given).unwrap(), kept, "{given:?}");
        }
        let long = "A".repeat(OtpImport::MAX_SECRET_CHARS);
        assert_eq!(canonical(&long).unwrap(), long);
        let spaced_long = format!("{} ", "a ".repeat(OtpImport::MAX_SECRET_CHARS));
        assert_eq!(canonical(&spaced_long).unwrap(), long);
        // Deserializing goes through the same rule.
        let item: OtpImport =
            serde_json::from_str(r#"{"userId":"u1","otp":{"secret":"jbsw y3dp ehpk 3pxp=="}}"#)
                .unwrap();
        assert_eq!(item.secret().expose_secret(), "JBSWY3DPEHPK3PXP");
        assert_eq!(
            item.to_wire().otp.secret,
            "JBSWY3DPEHPK3PXP",
            "the canonical form is what is sent"
        );
    }

    #[test]
    fn secrets_are_refused_without_being_quoted() {
        let min = OtpImport::MIN_SECRET_CHARS;
        let max = OtpImport::MAX_SECRET_CHARS;
        let too_long = "B".repeat(max + 8);
        let cases: [(&str, &str); 17] = [
            ("", "must not be empty"),
            ("   \t ", "must not be empty"),
            ("====", "must not be empty"),
            ("JBSWY3DP", "too short: 8 base32 characters (40 bits)"),
            (
                "jbsw y3dp ehpk 3px",
                "too short: 15 base32 characters (75 bits)",
            ),
            ("JBSWY3DPEHPK3PX=", "too short: 15"),
            (&too_long, "too long: 136 base32 characters; at most 128"),
            (
                "JBSWY3DPEHPK3PXPQ",
                "a base32 text of 17 characters cannot encode",
            ),
            ("jbsw-y3dp-ehpk-3pxp", "character 5 is not"),
            ("JBSWY3DPEHPK3PX1", "character 16 is not"),
            ("JBSWY3DPEHPK3PX8", "character 16 is not"),
            ("JBSWY3DP\nEHPK3PXP", "character 9 is not"),
            ("JBSWY3DP\u{a0}EHPK3PXP", "character 9 is not"),
            ("JBSWY3DPÉHPK3PXP", "character 9 is not"),
            ("JBSW=Y3DPEHPK3PXP", "character 5 is not"),
            ("JBSWY3DPEHPK3PXP= A", "character 17 is not"),
            ("HZ2F6J!!3AGNAVSOTV", "must be base32 (letters A-Z"),
        ];
        for (bad, why) in cases {
            let err = canonical(bad).unwrap_err();
            assert_eq!(err.field(), "secret", "{bad:?}");
            assert!(err.reason().contains(why), "{bad:?}: {err}");
            let shown = format!("{err} {err:?}").to_ascii_uppercase();
            let canonical: String = bad
                .chars()
                .filter(|c| !matches!(c, ' ' | '\t'))
                .collect::<String>()
                .trim_end_matches('=')
                .to_ascii_uppercase();
            for needle in [bad.to_ascii_uppercase(), canonical] {
                // Four characters are enough to recognise a piece of a secret.
                for piece in needle.as_bytes().windows(4) {
                    let piece = String::from_utf8_lossy(piece);
                    assert!(!shown.contains(&*piece), "{bad:?} shows {piece:?}: {shown}");
                }
            }
        }
        assert!(canonical(&"A".repeat(min)).is_ok());
        assert!(canonical(&"A".repeat(max + 1)).is_err());
        // A bad user id is reported first, as before.
        assert_eq!(OtpImport::new(" u1", "x").unwrap_err().field(), "userId");
    }

    /// Issue 15: a 3-character recovery code was too short to be scrubbed from what the
    /// server wrote back, and reached files.
    #[test]
    fn recovery_codes_shorter_than_the_minimum_are_refused_unquoted() {
        let item = || OtpImport::new("u1", "HZ2F6J3AGNAVSOTV").unwrap();
        for short in ["b47", "x", "12345", " b4712 ", "  ab  ", "€€€€€"] {
            let err = item().with_recovery_code(short).unwrap_err();
            assert_eq!(err.field(), "recoveryCode", "{short:?}");
            assert_eq!(
                err.reason(),
                "too short: a recovery code has at least 6 characters"
            );
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(short.trim()), "{short:?}: {shown}");
            let json = serde_json::json!(
                {"userId": "u1", "otp": {"secret": "HZ2F6J3AGNAVSOTV", "recoveryCode": short}}
            );
            assert!(
                serde_json::from_value::<OtpImport>(json).is_err(),
                "{short:?}"
            );
        }
        // Six characters, counted as characters, are enough; surrounding spaces are kept.
        for ok in ["b471-8", "€€€€€€", " b471-8 "] {
            let item = item().with_recovery_code(ok).unwrap();
            assert_eq!(item.recovery_code().unwrap().expose_secret(), ok);
        }
        assert_eq!(OtpImport::MIN_RECOVERY_CODE_CHARS, 6);
    }

    #[test]
    fn user_ids_longer_than_the_maximum_are_refused() {
        let max = OtpImport::MAX_USER_ID_BYTES;
        assert!(OtpImport::new("a".repeat(max), "HZ2F6J3AGNAVSOTV").is_ok());
        for long in ["a".repeat(max + 1), "a".repeat(120_000)] {
            let err = OtpImport::new(long.clone(), "HZ2F6J3AGNAVSOTV").unwrap_err();
            assert_eq!(err.field(), "userId");
            assert_eq!(
                err.reason(),
                format!("too long: {} bytes; at most {max}", long.len())
            );
            let json = serde_json::json!({"userId": long, "otp": {"secret": "HZ2F6J3AGNAVSOTV"}});
            assert!(serde_json::from_value::<OtpImport>(json).is_err());
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
