//! One exported user: its identifiers, its OTP credentials, and the outcome.

use std::borrow::Cow;

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
    /// Which of the OTP credentials was picked among several, if one was.
    pub(super) picked: Option<usize>,
}

impl Converted {
    fn refused(refusal: KeycloakRefusal) -> Self {
        Converted {
            id: None,
            username: None,
            email: None,
            outcome: KeycloakOutcome::Refused(refusal),
            picked: None,
        }
    }
}

/// A string field as found: absent (or `null`), a string, or something else.
enum Text<'a> {
    Missing,
    Str(Cow<'a, str>),
    NotStr,
}

impl<'a> Text<'a> {
    fn of(value: Option<&'a Value>) -> Self {
        match value {
            None | Some(Value::Null) => Text::Missing,
            Some(Value::String(s)) => Text::Str(Cow::Borrowed(s)),
            Some(_) => Text::NotStr,
        }
    }

    fn from_option(value: Option<Cow<'a, str>>) -> Self {
        value.map_or(Text::Missing, Text::Str)
    }
}

/// What an OTP credential's import depends on.
struct OtpFacts<'a> {
    id: Option<Cow<'a, str>>,
    created_date: Option<i64>,
    secret_data: Text<'a>,
    credential_data: Text<'a>,
}

/// What a user's outcome depends on, read from its entry: its identifiers and its OTP
/// credentials (those with `"type": "otp"`), in order.
struct Facts<'a> {
    id: Option<Cow<'a, str>>,
    username: Option<Cow<'a, str>>,
    email: Option<Cow<'a, str>>,
    otp: Vec<OtpFacts<'a>>,
}

/// A user as Keycloak writes one, with only what is read, borrowed from the entry: the fast
/// path. Any other type than these (a number for a username…) fails it, and the entry is read
/// again as a [`Value`] ([`facts_of_value`]), which says what is wrong; both read the same
/// facts from the entries both can read.
#[derive(Deserialize)]
struct UserView<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    username: Option<Cow<'a, str>>,
    #[serde(borrow)]
    email: Option<Cow<'a, str>>,
    #[serde(borrow)]
    credentials: Option<Vec<CredentialView<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CredentialView<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    created_date: Option<i64>,
    #[serde(borrow)]
    secret_data: Option<Cow<'a, str>>,
    #[serde(borrow)]
    credential_data: Option<Cow<'a, str>>,
}

fn facts_of_view(view: UserView<'_>) -> Facts<'_> {
    Facts {
        id: view.id,
        username: view.username,
        email: view.email,
        otp: view
            .credentials
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.kind.as_deref() == Some(OTP_TYPE))
            .map(|c| OtpFacts {
                id: c.id,
                created_date: c.created_date,
                secret_data: Text::from_option(c.secret_data),
                credential_data: Text::from_option(c.credential_data),
            })
            .collect(),
    }
}

/// Whether the credential `c` is an OTP one.
pub(super) fn is_otp(c: &Value) -> bool {
    c.get("type").and_then(Value::as_str) == Some(OTP_TYPE)
}

/// The facts of a user read as a [`Value`], or why they cannot be read.
fn facts_of_value(user: &Map<String, Value>) -> Result<Facts<'_>, KeycloakRefusal> {
    let text = |key: &'static str| match Text::of(user.get(key)) {
        Text::Missing => Ok(None),
        Text::Str(s) => Ok(Some(s)),
        Text::NotStr => Err(malformed(format!("`{key}` is not a string"))),
    };
    let (id, username, email) = (text("id")?, text("username")?, text("email")?);
    let otp = match user.get("credentials") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(credentials)) => credentials
            .iter()
            .filter(|c| is_otp(c))
            .map(|c| OtpFacts {
                id: c.get("id").and_then(Value::as_str).map(Cow::Borrowed),
                created_date: c.get("createdDate").and_then(Value::as_i64),
                secret_data: Text::of(c.get("secretData")),
                credential_data: Text::of(c.get("credentialData")),
            })
            .collect(),
        Some(_) => return Err(malformed("`credentials` is not an array")),
    };
    Ok(Facts {
        id,
        username,
        email,
        otp,
    })
}

/// Reads the entry `bytes` (`None`: longer than the limit, not kept).
pub(super) fn convert(bytes: Option<&[u8]>, options: &KeycloakOptions) -> Converted {
    let Some(bytes) = bytes else {
        return Converted::refused(KeycloakRefusal::TooLarge);
    };
    if let Ok(view) = serde_json::from_slice::<UserView<'_>>(bytes) {
        return converted(facts_of_view(view), options);
    }
    let user = match serde_json::from_slice::<Value>(bytes) {
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
    match facts_of_value(&user) {
        Ok(facts) => converted(facts, options),
        Err(refusal) => {
            let text = |key| user.get(key).and_then(Value::as_str).map(str::to_owned);
            Converted {
                id: text("id"),
                username: text("username"),
                email: text("email"),
                ..Converted::refused(refusal)
            }
        }
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

/// The outcome for a user of these facts.
fn converted(facts: Facts<'_>, options: &KeycloakOptions) -> Converted {
    let Facts {
        id,
        username,
        email,
        otp,
    } = facts;
    let chosen = match otp.len() {
        0 => None,
        1 => Some(Ok(0)),
        count if !options.newest => Some(Err(KeycloakRefusal::SeveralOtp { count })),
        count => Some(newest(&otp).ok_or(KeycloakRefusal::NewestUnknown {
            count,
            tie: otp.iter().all(|c| c.created_date.is_some()),
        })),
    };
    let picked = match chosen {
        Some(Ok(i)) if otp.len() > 1 => Some(i),
        _ => None,
    };
    let outcome = match chosen {
        None => KeycloakOutcome::NoOtp,
        Some(Err(refusal)) => KeycloakOutcome::Refused(refusal),
        Some(Ok(i)) => {
            let identifier = match options.identifier {
                KeycloakIdentifier::Username => &username,
                KeycloakIdentifier::Email => &email,
                KeycloakIdentifier::Id => &id,
            };
            match record(&otp[i], identifier.as_deref(), options.identifier) {
                Ok(record) => KeycloakOutcome::Record(record),
                Err(refusal) => KeycloakOutcome::Refused(refusal),
            }
        }
    };
    Converted {
        id: id.map(Cow::into_owned),
        username: username.map(Cow::into_owned),
        email: email.map(Cow::into_owned),
        outcome,
        picked,
    }
}

/// The index of the credential created last, if every one has a date and no other shares it.
fn newest(otp: &[OtpFacts<'_>]) -> Option<usize> {
    let dates = otp
        .iter()
        .map(|c| c.created_date)
        .collect::<Option<Vec<_>>>()?;
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

/// The JSON text held in the string `field` (`text`) of an OTP credential, parsed as `T`.
fn embedded<T: for<'de> Deserialize<'de>>(
    text: &Text<'_>,
    field: &'static str,
) -> Result<T, KeycloakRefusal> {
    match text {
        Text::Missing => Err(credential(field, "missing")),
        Text::Str(text) => serde_json::from_str(text).map_err(|e| {
            credential(
                field,
                format!("not as Keycloak writes it: {}", json_error_summary(&e)),
            )
        }),
        Text::NotStr => Err(credential(
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
    otp: &OtpFacts<'_>,
    identifier: Option<&str>,
    which: KeycloakIdentifier,
) -> Result<KeycloakRecord, KeycloakRefusal> {
    let data: CredentialData = embedded(&otp.credential_data, "credentialData")?;
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
    let mut secret: SecretData = embedded(&otp.secret_data, "secretData")?;
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
    let Some(identifier) = identifier.filter(|i| !i.is_empty()) else {
        key.zeroize();
        return Err(KeycloakRefusal::NoIdentifier(which));
    };
    let encoded = base32_encode(&key);
    key.zeroize();
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
        created_date: otp.created_date,
        credential_id: otp.id.as_deref().map(str::to_owned),
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
    use authing_otp::ExposeSecret;

    /// An outcome as text, secrets included (for comparisons only).
    fn summary(c: &Converted) -> String {
        let outcome = match &c.outcome {
            KeycloakOutcome::Record(r) => format!(
                "record {} {} {:?} {:?}",
                r.item.user_id(),
                r.item.secret().expose_secret(),
                r.created_date,
                r.credential_id
            ),
            KeycloakOutcome::Refused(why) => format!("refused: {why}"),
            KeycloakOutcome::NoOtp => "no OTP".to_owned(),
        };
        format!(
            "{:?} {:?} {:?} {:?} {outcome}",
            c.id, c.username, c.email, c.picked
        )
    }

    /// Both ways of reading an entry give the same outcome, whenever the fast one can read it.
    #[test]
    fn the_fast_path_reads_what_the_value_path_reads() {
        let data = r#""{\"subType\":\"totp\",\"digits\":6,\"counter\":0,\"period\":30,\"algorithm\":\"HmacSHA1\"}""#;
        let entries = [
            format!(
                r#"{{"id":"1","username":"a","email":"a@x","credentials":[{{"type":"password","secretData":"{{}}"}},{{"id":"c","type":"otp","createdDate":5,"secretData":"{{\"value\":\"Zq7Lm2Xc9Vb4Nn8Kk1Pp\"}}","credentialData":{data}}}]}}"#
            ),
            // Escapes in the strings (the fast path's are then owned).
            format!(
                r#"{{"username":"\u0061","credentials":[{{"type":"ot\u0070","secretData":"{{\"value\":\"cl\\u00e9-secr\u00e8te-0001\"}}","credentialData":{data}}}]}}"#
            ),
            format!(
                r#"{{"username":"b","credentials":[{{"type":"otp","createdDate":1,"secretData":"{{\"value\":\"old-old-old-old-1\"}}","credentialData":{data}}},{{"type":"otp","createdDate":2,"secretData":"{{\"value\":\"new-new-new-new-2\"}}","credentialData":{data}}}]}}"#
            ),
            format!(
                r#"{{"username":"c","credentials":[{{"type":"otp","createdDate":1,"secretData":"{{\"value\":\"x\"}}","credentialData":{data}}},{{"type":"otp","secretData":null,"credentialData":{data}}}]}}"#
            ),
            r#"{"username":"d","credentials":[{"type":"otp","secretData":"{\"value\":1}","credentialData":"{}"}]}"#.to_owned(),
            r#"{"username":"e","credentials":null,"email":null}"#.to_owned(),
            r#"{"username":"f"}"#.to_owned(),
        ];
        for newest in [false, true] {
            for identifier in [KeycloakIdentifier::Username, KeycloakIdentifier::Email] {
                let options = KeycloakOptions::default()
                    .newest(newest)
                    .identifier(identifier);
                for entry in &entries {
                    let view: UserView<'_> = serde_json::from_str(entry).expect(entry);
                    let fast = converted(facts_of_view(view), &options);
                    let value: Map<String, Value> = serde_json::from_str(entry).unwrap();
                    let slow = converted(facts_of_value(&value).unwrap(), &options);
                    assert_eq!(summary(&fast), summary(&slow), "{entry}");
                    assert_eq!(
                        summary(&convert(Some(entry.as_bytes()), &options)),
                        summary(&fast)
                    );
                }
            }
        }
    }

    /// Entries the fast path cannot read are read as values, which say what is wrong.
    #[test]
    fn other_types_are_read_as_values() {
        let options = KeycloakOptions::default();
        for (entry, expected) in [
            (
                r#"{"username":7}"#,
                "None None None None refused: `username` is not a string",
            ),
            (
                r#"{"id":"i","credentials":{"type":"otp"}}"#,
                r#"Some("i") None None None refused: `credentials` is not an array"#,
            ),
            (
                r#"{"username":"u","credentials":["otp",{"type":"otp","createdDate":"today","secretData":{"value":"x"}}]}"#,
                r#"None Some("u") None None refused: OTP credential: credentialData: missing"#,
            ),
            (
                r#"{"username":"u","credentials":[{"type":"otp","credentialData":"{\"subType\":\"totp\",\"digits\":6,\"period\":30,\"algorithm\":\"HmacSHA1\"}","secretData":{"value":"x"}}]}"#,
                r#"None Some("u") None None refused: OTP credential: secretData: not a string (Keycloak writes a JSON text in a string)"#,
            ),
            ("[1]", "None None None None refused: not a JSON object"),
        ] {
            assert!(
                serde_json::from_str::<UserView<'_>>(entry).is_err(),
                "{entry}"
            );
            assert_eq!(
                summary(&convert(Some(entry.as_bytes()), &options)),
                expected
            );
        }
    }

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
