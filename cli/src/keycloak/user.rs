//! One exported user: its identifiers, its OTP credentials, and the outcome.

use authing_otp::{OtpImport, json_error_summary};
use secrecy::zeroize::Zeroize;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    KeycloakIdentifier, KeycloakOptions, KeycloakOutcome, KeycloakRecord, KeycloakRefusal,
};

/// Keycloak's credential type of OTP credentials (`OTPCredentialModel.TYPE`).
const OTP_TYPE: &str = "otp";

/// The shortest and longest keys whose base32 Authing accepts: 16 to 128 characters of whole
/// bytes are 10 to 80 bytes.
const MIN_KEY_BYTES: usize = OtpImport::MIN_SECRET_CHARS * 5 / 8;
const MAX_KEY_BYTES: usize = OtpImport::MAX_SECRET_CHARS * 5 / 8;

/// What is read of one entry.
pub(super) struct Converted {
    pub(super) id: Option<String>,
    pub(super) username: Option<String>,
    pub(super) email: Option<String>,
    pub(super) outcome: KeycloakOutcome,
    pub(super) entry: Option<Map<String, Value>>,
}

impl Converted {
    fn refused(refusal: KeycloakRefusal) -> Self {
        Converted {
            id: None,
            username: None,
            email: None,
            outcome: KeycloakOutcome::Refused(refusal),
            entry: None,
        }
    }
}

/// Reads the entry `bytes` (`None`: longer than the limit, not kept).
pub(super) fn convert(bytes: Option<&[u8]>, options: &KeycloakOptions) -> Converted {
    let Some(bytes) = bytes else {
        return Converted::refused(KeycloakRefusal::TooLarge);
    };
    let mut user = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(user)) => user,
        Ok(_) => return Converted::refused(malformed("not a JSON object")),
        // The scanner checked the syntax: this is bad UTF-8 or a lone surrogate in a string.
        Err(e) => {
            return Converted::refused(malformed(format!(
                "not valid JSON: {}",
                json_error_summary(&e)
            )));
        }
    };
    let mut problem = None;
    let mut text = |key: &'static str| match user.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            problem.get_or_insert_with(|| malformed(format!("`{key}` is not a string")));
            None
        }
    };
    let (id, username, email) = (text("id"), text("username"), text("email"));
    let outcome = match problem {
        Some(refusal) => KeycloakOutcome::Refused(refusal),
        None => outcome(&mut user, [&id, &username, &email], options),
    };
    Converted {
        id,
        username,
        email,
        outcome,
        entry: Some(user),
    }
}

fn malformed(reason: impl Into<String>) -> KeycloakRefusal {
    KeycloakRefusal::Malformed {
        reason: reason.into(),
    }
}

fn credential(field: &'static str, reason: impl Into<String>) -> KeycloakRefusal {
    KeycloakRefusal::Credential {
        field,
        reason: reason.into(),
    }
}

/// The outcome for `user`, whose `credentials` are left with the OTP ones only (or only the one
/// picked).
fn outcome(
    user: &mut Map<String, Value>,
    [id, username, email]: [&Option<String>; 3],
    options: &KeycloakOptions,
) -> KeycloakOutcome {
    let mut otp = match user.get_mut("credentials") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(credentials)) => {
            // The other credentials (password hashes, WebAuthn keys…) are left out.
            credentials.retain(|c| c.get("type").and_then(Value::as_str) == Some(OTP_TYPE));
            std::mem::take(credentials)
        }
        Some(_) => return KeycloakOutcome::Refused(malformed("`credentials` is not an array")),
    };
    let chosen = match otp.len() {
        0 => None,
        1 => Some(Ok(0)),
        count if !options.newest => Some(Err(KeycloakRefusal::SeveralOtp { count })),
        count => Some(newest(&otp).ok_or(KeycloakRefusal::NewestUnknown {
            count,
            tie: otp.iter().all(|c| created_date(c).is_some()),
        })),
    };
    if let Some(Ok(i)) = chosen {
        otp.swap(0, i);
        otp.truncate(1);
    }
    let outcome = match chosen {
        None => KeycloakOutcome::NoOtp,
        Some(Err(refusal)) => KeycloakOutcome::Refused(refusal),
        Some(Ok(_)) => {
            let identifier = match options.identifier {
                KeycloakIdentifier::Username => username,
                KeycloakIdentifier::Email => email,
                KeycloakIdentifier::Id => id,
            };
            match record(&otp[0], identifier.as_deref(), options.identifier) {
                Ok(record) => KeycloakOutcome::Record(record),
                Err(refusal) => KeycloakOutcome::Refused(refusal),
            }
        }
    };
    if let Some(credentials) = user.get_mut("credentials")
        && let Value::Array(credentials) = credentials
    {
        *credentials = otp;
    }
    outcome
}

fn created_date(credential: &Value) -> Option<i64> {
    credential.get("createdDate").and_then(Value::as_i64)
}

/// The index of the credential created last, if every one has a date and no other shares it.
fn newest(otp: &[Value]) -> Option<usize> {
    let dates = otp.iter().map(created_date).collect::<Option<Vec<_>>>()?;
    let last = *dates.iter().max()?;
    match dates.iter().filter(|&&d| d == last).count() {
        1 => dates.iter().position(|&d| d == last),
        _ => None,
    }
}

/// `secretData` of an OTP credential, parsed from its string.
#[derive(Deserialize)]
struct SecretData {
    value: String,
}

/// `credentialData` of an OTP credential (`OTPCredentialData`), parsed from its string.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CredentialData {
    sub_type: Option<String>,
    digits: Option<i64>,
    period: Option<i64>,
    algorithm: Option<String>,
    secret_encoding: Option<String>,
}

/// The JSON text held in the string `field` of the credential `otp`, parsed as `T`.
fn embedded<T: for<'de> Deserialize<'de>>(
    otp: &Value,
    field: &'static str,
) -> Result<T, KeycloakRefusal> {
    match otp.get(field) {
        None | Some(Value::Null) => Err(credential(field, "missing")),
        Some(Value::String(text)) => serde_json::from_str(text).map_err(|e| {
            credential(
                field,
                format!("not as Keycloak writes it: {}", json_error_summary(&e)),
            )
        }),
        Some(_) => Err(credential(
            field,
            "not a string (Keycloak writes a JSON text in a string)",
        )),
    }
}

/// Why a credential's codes would not be Authing's: Authing's authenticator is TOTP, HmacSHA1,
/// 6 digits, 30 s, and `importOtp` carries only the secret.
const NOT_AUTHINGS: &str = "Authing's authenticator codes are TOTP, HmacSHA1, 6 digits, 30 s, and \
                            importOtp carries only the secret, so codes would never match";

/// The record of the OTP credential `otp` for the user named `identifier`.
fn record(
    otp: &Value,
    identifier: Option<&str>,
    which: KeycloakIdentifier,
) -> Result<KeycloakRecord, KeycloakRefusal> {
    let data: CredentialData = embedded(otp, "credentialData")?;
    match data.sub_type.as_deref() {
        Some("totp") => {}
        Some("hotp") => {
            return Err(credential(
                "subType",
                format!("hotp (counter-based) is not supported: {NOT_AUTHINGS}"),
            ));
        }
        Some(_) => return Err(credential("subType", "neither totp nor hotp")),
        None => return Err(credential("credentialData", "no subType")),
    }
    match data.algorithm.as_deref() {
        Some("HmacSHA1") => {}
        Some(name @ ("HmacSHA256" | "HmacSHA512")) => {
            return Err(credential(
                "algorithm",
                format!("{name} is not supported: {NOT_AUTHINGS}"),
            ));
        }
        Some(_) => {
            return Err(credential(
                "algorithm",
                "not one of HmacSHA1, HmacSHA256, HmacSHA512",
            ));
        }
        None => return Err(credential("credentialData", "no algorithm")),
    }
    match data.digits {
        Some(6) => {}
        Some(n) => {
            return Err(credential(
                "digits",
                format!("{n} is not supported: {NOT_AUTHINGS}"),
            ));
        }
        None => return Err(credential("credentialData", "no digits")),
    }
    match data.period {
        Some(30) => {}
        Some(n) => {
            return Err(credential(
                "period",
                format!("{n} s is not supported: {NOT_AUTHINGS}"),
            ));
        }
        None => return Err(credential("credentialData", "no period")),
    }
    let mut secret: SecretData = embedded(otp, "secretData")?;
    // Keycloak's key (`OTPCredentialModel.getDecodedSecret`): the value's UTF-8 bytes, or with
    // `secretEncoding` BASE32 the bytes it decodes to.
    let key = match data.secret_encoding.as_deref() {
        None => Ok(std::mem::take(&mut secret.value).into_bytes()),
        Some("BASE32") => base32_decode(&secret.value).map_err(|reason| {
            credential(
                "secretData",
                format!("secretEncoding is BASE32 but the value is not base32: {reason}"),
            )
        }),
        Some(_) => Err(credential("secretEncoding", "neither BASE32 nor absent")),
    };
    secret.value.zeroize();
    let mut key = key?;
    if key.is_empty() {
        return Err(credential("secretData", "the value is empty"));
    }
    if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
        let bytes = key.len();
        key.zeroize();
        return Err(KeycloakRefusal::KeyLength { bytes });
    }
    let encoded = base32_encode(&key);
    key.zeroize();
    let Some(identifier) = identifier.filter(|i| !i.is_empty()) else {
        return Err(KeycloakRefusal::NoIdentifier(which));
    };
    let item = OtpImport::new(identifier, encoded).map_err(|e| {
        if e.field() == "secret" {
            credential("secretData", e.reason())
        } else {
            KeycloakRefusal::Identifier {
                identifier: which,
                reason: e.reason().to_owned(),
            }
        }
    })?;
    Ok(KeycloakRecord {
        item,
        created_date: created_date(otp),
        credential_id: otp.get("id").and_then(Value::as_str).map(str::to_owned),
    })
}

/// RFC 4648 base32's alphabet.
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `bytes` in base32, upper case, without padding.
pub(super) fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity((bytes.len() * 8).div_ceil(5));
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8 | u32::from(b)) & 0xFFF;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[(acc >> bits & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[(acc << (5 - bits) & 31) as usize]));
    }
    acc.zeroize();
    out
}

/// The bytes a base32 text encodes: letters in either case and digits 2–7, spaces and tabs
/// ignored, `=` padding only at the end; bits past the last whole byte are dropped, as
/// Keycloak's decoder drops them. A refusal names a character's position, never the text.
///
/// Stricter than Keycloak's `Base32.decode`, which skips any character outside the alphabet:
/// a value with one is more likely a mistake than a key, so it is refused.
pub(super) fn base32_decode(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut acc, mut bits, mut chars) = (0u32, 0u32, 0usize);
    let mut padding = false;
    for (i, c) in text.chars().enumerate() {
        let digit = match c {
            ' ' | '\t' => continue,
            '=' => {
                padding = true;
                continue;
            }
            'A'..='Z' if !padding => c as u32 - 'A' as u32,
            'a'..='z' if !padding => c as u32 - 'a' as u32,
            '2'..='7' if !padding => c as u32 - '2' as u32 + 26,
            _ => return Err(format!("character {} is not", i + 1)),
        };
        chars += 1;
        acc = (acc << 5 | digit) & 0xFFF;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    acc.zeroize();
    if matches!(chars % 8, 1 | 3 | 6) {
        out.zeroize();
        return Err(format!(
            "{chars} base32 characters cannot encode whole bytes"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_round_trips_rfc_4648_vectors() {
        for (bytes, text) in [
            (&b""[..], ""),
            (b"f", "MY"),
            (b"fo", "MZXQ"),
            (b"foo", "MZXW6"),
            (b"foob", "MZXW6YQ"),
            (b"fooba", "MZXW6YTB"),
            (b"foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(bytes), text);
            assert_eq!(base32_decode(text).unwrap(), bytes);
            assert_eq!(base32_decode(&text.to_lowercase()).unwrap(), bytes);
        }
        assert_eq!(base32_decode("MZXW 6YTB OI======").unwrap(), b"foobar");
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(base32_decode(&base32_encode(&all)).unwrap(), all);
    }

    #[test]
    fn base32_refusals_name_positions() {
        assert_eq!(base32_decode("MZXW1YTB").unwrap_err(), "character 5 is not");
        assert_eq!(base32_decode("MZ=XW").unwrap_err(), "character 4 is not");
        assert_eq!(
            base32_decode("MZXW-6YTB").unwrap_err(),
            "character 5 is not"
        );
        assert_eq!(
            base32_decode("MZX").unwrap_err(),
            "3 base32 characters cannot encode whole bytes"
        );
    }

    #[test]
    fn key_bounds_are_authings_secret_bounds() {
        assert_eq!(
            base32_encode(&[0; MIN_KEY_BYTES]).len(),
            OtpImport::MIN_SECRET_CHARS
        );
        assert_eq!(
            base32_encode(&[0; MAX_KEY_BYTES]).len(),
            OtpImport::MAX_SECRET_CHARS
        );
        assert!(base32_encode(&[0; MIN_KEY_BYTES - 1]).len() < OtpImport::MIN_SECRET_CHARS);
        assert!(base32_encode(&[0; MAX_KEY_BYTES + 1]).len() > OtpImport::MAX_SECRET_CHARS);
    }
}
