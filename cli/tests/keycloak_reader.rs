//! The Keycloak export reader on exports made here: what each user becomes, the exact secrets
//! (computed here independently), the refusals, directories, broken files, and that a code
//! Keycloak computes is the code an authenticator computes from the imported secret.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use authing_otp::ExposeSecret;
use authing_otp_cli::keycloak::{
    KeycloakExport, KeycloakFileError, KeycloakIdentifier, KeycloakOptions, KeycloakOutcome,
    KeycloakReader, KeycloakRefusal, KeycloakUser,
};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Independent helpers: base32 by way of a string of bits, TOTP as RFC 6238 has it.

const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding, by writing the bits out and reading them 5 at a time.
fn b32(bytes: &[u8]) -> String {
    let mut bits: String = bytes.iter().map(|b| format!("{b:08b}")).collect();
    while !bits.len().is_multiple_of(5) {
        bits.push('0');
    }
    bits.as_bytes()
        .chunks(5)
        .map(|c| {
            let i = usize::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap();
            ALPHABET.as_bytes()[i] as char
        })
        .collect()
}

/// The bytes of an unpadded base32 text (upper case), bits past the last whole byte dropped.
fn unb32(text: &str) -> Vec<u8> {
    let bits: String = text
        .chars()
        .map(|c| format!("{:05b}", ALPHABET.find(c).expect("base32")))
        .collect();
    bits.as_bytes()
        .chunks_exact(8)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap())
        .collect()
}

/// The TOTP code (HMAC-SHA1, 30 s steps) of `key` at Unix time `t`, as Keycloak's `TimeBasedOTP`
/// and authenticators compute it.
fn totp(key: &[u8], t: u64, digits: u32) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
    mac.update(&(t / 30).to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let at = usize::from(hash[19] & 0xf);
    let n = u32::from_be_bytes([hash[at] & 0x7f, hash[at + 1], hash[at + 2], hash[at + 3]]);
    format!("{:0width$}", n % 10u32.pow(digits), width = digits as usize)
}

#[test]
fn the_helpers_match_the_rfcs() {
    assert_eq!(b32(b"foobar"), "MZXW6YTBOI");
    assert_eq!(unb32("MZXW6YTBOI"), b"foobar");
    // RFC 6238's SHA1 vectors (its key is ASCII text, as Keycloak's keys are).
    assert_eq!(totp(b"12345678901234567890", 59, 8), "94287082");
    assert_eq!(totp(b"12345678901234567890", 1111111109, 8), "07081804");
}

// ---------------------------------------------------------------------------------------------
// A realm export, as Keycloak writes one.

const T0: i64 = 1_700_000_000_000;

/// `credentialData` of an OTP credential.
fn data(
    sub_type: &str,
    algorithm: &str,
    digits: u32,
    period: u32,
    encoding: Option<&str>,
) -> String {
    let mut data = json!({
        "subType": sub_type, "digits": digits, "counter": 0, "period": period,
        "algorithm": algorithm,
    });
    if let Some(encoding) = encoding {
        data["secretEncoding"] = json!(encoding);
    }
    data.to_string()
}

fn totp_data() -> String {
    data("totp", "HmacSHA1", 6, 30, None)
}

/// An OTP credential with `secretData` as given (a JSON text) and `credentialData`.
fn otp_raw(id: &str, created: i64, secret_data: &str, credential_data: &str) -> Value {
    json!({
        "id": id, "type": "otp", "userLabel": "Phone", "createdDate": created,
        "secretData": secret_data, "credentialData": credential_data, "priority": 20,
    })
}

/// An OTP credential whose `value` is `value`.
fn otp(id: &str, created: i64, value: &str, credential_data: &str) -> Value {
    otp_raw(
        id,
        created,
        &json!({ "value": value }).to_string(),
        credential_data,
    )
}

fn password() -> Value {
    json!({
        "id": "pw", "type": "password", "createdDate": T0,
        "secretData": "{\"value\":\"PASSWORD-HASH-x7Gq\",\"salt\":\"c2FsdHNhbHQ=\",\"additionalParameters\":{}}",
        "credentialData": "{\"hashIterations\":27500,\"algorithm\":\"pbkdf2-sha256\",\"additionalParameters\":{}}",
        "priority": 10,
    })
}

fn user(name: &str, email: Option<&str>, credentials: Vec<Value>) -> Value {
    let mut user = json!({
        "id": format!("id-{name}"),
        "createdTimestamp": T0,
        "username": name,
        "enabled": true,
        "emailVerified": false,
        "attributes": { "department": ["R&D"] },
        "credentials": credentials,
        "disableableCredentialTypes": [],
        "requiredActions": [],
        "realmRoles": ["default-roles-acme"],
        "notBefore": 0,
        "groups": [],
    });
    if let Some(email) = email {
        user["email"] = json!(email);
    }
    user
}

/// Keycloak's raw secrets are 20 random letters and digits; this one is also all base32
/// characters, so that a naive migration would import it without a complaint.
const ALICE: &str = "KRUGKIDROVUWG2ZAMJZG";
/// Non-ASCII, written with JSON escapes (a surrogate pair included) in the `secretData` text.
const BRUNO: &str = "clé-secrète-東京-🔑";
const BRUNO_SECRET_DATA: &str = r#"{"value":"cl\u00e9-secr\u00e8te-\u6771\u4eac-\ud83d\udd11"}"#;
const CARLA_B32: &str = "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp";
const IVY_OLD: &str = "ivy-old-secret-0001";
const IVY_NEW: &str = "ivy-new-secret-0002";
const RFC: &str = "12345678901234567890";
const OTHERS: &str = "Zq7Lm2Xc9Vb4Nn8Kk1Pp";

/// Every secret of the export, for the checks that none is shown.
const SECRETS: &[&str] = &[
    ALICE,
    BRUNO,
    CARLA_B32,
    IVY_OLD,
    IVY_NEW,
    RFC,
    OTHERS,
    "JBSWY3DP",
    "PASSWORD-HASH",
    "short",
    "GEZDGNBVGY3TQOJQ",
];

fn export_users() -> Vec<Value> {
    vec![
        user(
            "alice",
            Some("alice@example.com"),
            vec![password(), otp("c-alice", T0, ALICE, &totp_data())],
        ),
        user(
            "bruno",
            Some("bruno@example.com"),
            vec![
                otp_raw("c-bruno", T0, BRUNO_SECRET_DATA, &totp_data()),
                password(),
            ],
        ),
        user(
            "carla",
            Some("carla@example.com"),
            vec![otp(
                "c-carla",
                T0,
                CARLA_B32,
                &data("totp", "HmacSHA1", 6, 30, Some("BASE32")),
            )],
        ),
        user(
            "dora",
            Some("dora@example.com"),
            vec![otp(
                "c-dora",
                T0,
                OTHERS,
                &data("hotp", "HmacSHA1", 6, 30, None),
            )],
        ),
        user(
            "emil",
            Some("emil@example.com"),
            vec![otp(
                "c-emil",
                T0,
                OTHERS,
                &data("totp", "HmacSHA256", 6, 30, None),
            )],
        ),
        user(
            "fay",
            Some("fay@example.com"),
            vec![otp(
                "c-fay",
                T0,
                OTHERS,
                &data("totp", "HmacSHA1", 8, 30, None),
            )],
        ),
        user(
            "gus",
            Some("gus@example.com"),
            vec![otp(
                "c-gus",
                T0,
                OTHERS,
                &data("totp", "HmacSHA1", 6, 60, None),
            )],
        ),
        user("hank", Some("hank@example.com"), vec![password()]),
        user(
            "ivy",
            Some("ivy@example.com"),
            vec![
                otp("c-ivy-old", T0, IVY_OLD, &totp_data()),
                password(),
                otp("c-ivy-new", T0 + 1000, IVY_NEW, &totp_data()),
            ],
        ),
        user(
            "jack",
            Some("jack@example.com"),
            vec![
                otp("c-jack-1", T0, OTHERS, &totp_data()),
                otp("c-jack-2", T0, OTHERS, &totp_data()),
            ],
        ),
        user(
            "kim",
            Some("kim@example.com"),
            vec![otp_raw(
                "c-kim",
                T0,
                r#"{"value":"Zq7Lm2Xc9V"#,
                &totp_data(),
            )],
        ),
        user(
            "lea",
            Some("lea@example.com"),
            vec![otp(
                "c-lea",
                T0,
                "JBSWY3DP!EHPK3PXP",
                &data("totp", "HmacSHA1", 6, 30, Some("BASE32")),
            )],
        ),
        user(
            "max",
            Some("max@example.com"),
            vec![otp("c-max", T0, "short", &totp_data())],
        ),
        user("nia", None, vec![otp("c-nia", T0, OTHERS, &totp_data())]),
        user(
            "otto",
            Some("otto@example.com"),
            vec![otp("c-otto", T0, RFC, &totp_data())],
        ),
        json!({ "id": "id-svc", "username": "service-account-app", "serviceAccountClientId": "app" }),
    ]
}

/// The realm export: `users` among the realm's other keys, pretty-printed as Keycloak does.
fn realm_export(users: &[Value]) -> String {
    let realm = json!({
        "id": "acme",
        "realm": "acme",
        "enabled": true,
        "roles": { "realm": [{ "name": "default-roles-acme", "composite": true }], "client": {} },
        "groups": [],
        "defaultRole": { "name": "default-roles-acme" },
        "otpPolicyType": "totp",
        "otpPolicyAlgorithm": "HmacSHA1",
        "otpPolicyDigits": 6,
        "otpPolicyPeriod": 30,
        "users": users,
        "clients": [{ "clientId": "app", "secret": "CLIENT-SECRET", "protocolMappers": [
            { "name": "m", "config": { "claim.name": "users", "users": "[1,2]" } }
        ] }],
        "components": { "org.keycloak.keys.KeyProvider": [{ "name": "rsa", "config": { "privateKey": ["MIIE"] } }] },
        "attributes": { "frontendUrl": "" },
    });
    serde_json::to_string_pretty(&realm).unwrap()
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("keycloak-reader-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read(text: &str, options: KeycloakOptions) -> Vec<Result<KeycloakUser, KeycloakFileError>> {
    KeycloakReader::new(text.as_bytes(), Path::new("acme.json"), options).collect()
}

/// Each user by username: its secret, or `refused: …`, or `no OTP`.
fn outcomes(users: &[KeycloakUser]) -> BTreeMap<String, String> {
    users
        .iter()
        .map(|u| {
            let what = match &u.outcome {
                KeycloakOutcome::Record(r) => {
                    format!("{} {}", r.item.user_id(), r.item.secret().expose_secret())
                }
                KeycloakOutcome::Refused(why) => format!("refused: {why}"),
                KeycloakOutcome::NoOtp => "no OTP".to_owned(),
                _ => unreachable!(),
            };
            (u.username.clone().unwrap(), what)
        })
        .collect()
}

fn all_ok(results: Vec<Result<KeycloakUser, KeycloakFileError>>) -> Vec<KeycloakUser> {
    results.into_iter().map(Result::unwrap).collect()
}

const NOT_AUTHINGS: &str = "Authing's authenticator codes are TOTP, HmacSHA1, 6 digits, 30 s, and \
                            importOtp carries only the secret, so codes would never match";

#[test]
fn each_user_becomes_a_record_a_refusal_or_nothing() {
    let users = all_ok(read(
        &realm_export(&export_users()),
        KeycloakOptions::default(),
    ));
    let got = outcomes(&users);
    let record = |name: &str, key: &[u8]| format!("{name} {}", b32(key));
    let expected: BTreeMap<String, String> = [
        ("alice", record("alice", ALICE.as_bytes())),
        ("bruno", record("bruno", BRUNO.as_bytes())),
        ("carla", record("carla", &unb32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"))),
        ("dora", format!("refused: OTP credential: subType: hotp (counter-based) is not supported: {NOT_AUTHINGS}")),
        ("emil", format!("refused: OTP credential: algorithm: HmacSHA256 is not supported: {NOT_AUTHINGS}")),
        ("fay", format!("refused: OTP credential: digits: 8 is not supported: {NOT_AUTHINGS}")),
        ("gus", format!("refused: OTP credential: period: 60 s is not supported: {NOT_AUTHINGS}")),
        ("hank", "no OTP".to_owned()),
        ("ivy", "refused: 2 OTP credentials: which one to import is not known (the newest by createdDate can be picked)".to_owned()),
        ("jack", "refused: 2 OTP credentials: which one to import is not known (the newest by createdDate can be picked)".to_owned()),
        ("kim", "refused: OTP credential: secretData: not as Keycloak writes it: JSON that ends early (line 1, column 20)".to_owned()),
        ("lea", "refused: OTP credential: secretData: secretEncoding is BASE32 but the value is not base32: character 9 is not".to_owned()),
        ("max", "refused: OTP credential: a key of 5 bytes is 8 base32 characters; Authing takes 16 to 128 (a key of 10 to 80 bytes)".to_owned()),
        ("nia", record("nia", OTHERS.as_bytes())),
        ("otto", record("otto", RFC.as_bytes())),
        ("service-account-app", "no OTP".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(got, expected);
    // The well-known value, written out: RFC 6238's key in base32.
    assert_eq!(got["otto"], "otto GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    // Not the naive reading of a value that happens to be base32.
    assert_ne!(got["alice"], format!("alice {ALICE}"));

    let text = realm_export(&export_users());
    let mut reader = KeycloakReader::new(
        text.as_bytes(),
        Path::new("acme.json"),
        KeycloakOptions::default(),
    );
    reader.by_ref().for_each(|u| drop(u.unwrap()));
    let counts = reader.counts();
    assert_eq!(
        (
            counts.records,
            counts.refused,
            counts.no_otp,
            counts.users()
        ),
        (5, 9, 2, 16)
    );

    // Positions: in order, 0-based, on the lines the entries start on.
    for (i, u) in users.iter().enumerate() {
        assert_eq!(u.position.index, i as u64);
        assert_eq!(u.position.index_in_file, i as u64);
        assert_eq!(&*u.position.file, Path::new("acme.json"));
        let at = u.position.offset as usize;
        assert_eq!(&text[at..at + 1], "{");
        assert_eq!(text[..at].matches('\n').count() as u64 + 1, u.position.line);
    }
}

#[test]
fn newest_picks_by_created_date_and_refuses_ties() {
    let options = KeycloakOptions::default().newest(true);
    let users = all_ok(read(&realm_export(&export_users()), options));
    let got = outcomes(&users);
    assert_eq!(got["ivy"], format!("ivy {}", b32(IVY_NEW.as_bytes())));
    assert_eq!(
        got["jack"],
        "refused: 2 OTP credentials, the newest two with the same createdDate: which one to \
         import is not known"
    );
    let ivy = users
        .iter()
        .find(|u| u.username.as_deref() == Some("ivy"))
        .unwrap();
    let KeycloakOutcome::Record(record) = &ivy.outcome else {
        panic!("{ivy}")
    };
    assert_eq!(record.created_date, Some(T0 + 1000));
    assert_eq!(record.credential_id.as_deref(), Some("c-ivy-new"));
    // Its entry keeps only the credential picked.
    let entry: Value = serde_json::from_slice(&ivy.entry_json()).unwrap();
    let ids: Vec<_> = entry["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(ids, [json!("c-ivy-new")]);

    // A credential without a date: the newest is not known.
    let mut no_date = otp("c-x", T0, OTHERS, &totp_data());
    no_date.as_object_mut().unwrap().remove("createdDate");
    let export = realm_export(&[user(
        "x",
        None,
        vec![otp("c-y", T0, OTHERS, &totp_data()), no_date],
    )]);
    let x = all_ok(read(&export, KeycloakOptions::default().newest(true)));
    assert_eq!(
        x[0].outcome_refusal(),
        Some(&KeycloakRefusal::NewestUnknown {
            count: 2,
            tie: false
        })
    );
}

trait Refusal {
    fn outcome_refusal(&self) -> Option<&KeycloakRefusal>;
}

impl Refusal for KeycloakUser {
    fn outcome_refusal(&self) -> Option<&KeycloakRefusal> {
        match &self.outcome {
            KeycloakOutcome::Refused(why) => Some(why),
            _ => None,
        }
    }
}

#[test]
fn the_identifier_is_chosen() {
    for (which, alice, nia) in [
        (
            KeycloakIdentifier::Email,
            "alice@example.com",
            Err("no email"),
        ),
        (KeycloakIdentifier::Id, "id-alice", Ok("id-nia")),
        (KeycloakIdentifier::Username, "alice", Ok("nia")),
    ] {
        let users = all_ok(read(
            &realm_export(&export_users()),
            KeycloakOptions::default().identifier(which),
        ));
        let by_name = |name: &str| {
            users
                .iter()
                .find(|u| u.username.as_deref() == Some(name))
                .unwrap()
        };
        let KeycloakOutcome::Record(record) = &by_name("alice").outcome else {
            panic!()
        };
        assert_eq!(record.item.user_id(), alice);
        match (&by_name("nia").outcome, nia) {
            (KeycloakOutcome::Record(record), Ok(id)) => assert_eq!(record.item.user_id(), id),
            (KeycloakOutcome::Refused(why), Err(reason)) => {
                assert_eq!(why, &KeycloakRefusal::NoIdentifier(which));
                assert_eq!(why.to_string(), reason);
                assert_eq!(by_name("nia").identifier(which), None);
            }
            (other, _) => panic!("{other:?}"),
        }
    }
    // A username Authing would refuse as a user id.
    let export = realm_export(&[user(
        " padded ",
        None,
        vec![otp("c", T0, OTHERS, &totp_data())],
    )]);
    let users = all_ok(read(&export, KeycloakOptions::default()));
    assert_eq!(
        users[0].outcome_refusal().unwrap().to_string(),
        "username: must not have surrounding whitespace or control characters"
    );
}

#[test]
fn nothing_shown_holds_a_secret() {
    let text = realm_export(&export_users());
    let mut shown = String::new();
    for options in [
        KeycloakOptions::default(),
        KeycloakOptions::default().newest(true),
    ] {
        for u in all_ok(read(&text, options)) {
            shown += &format!("{u}\n{u:?}\n");
            if let KeycloakOutcome::Refused(why) = &u.outcome {
                shown += &format!("{why}\n{why:?}\n");
            }
        }
    }
    // The file errors too.
    for cut in [text.len() / 3, text.find("KRUGKID").unwrap() + 3] {
        for r in read(&text[..cut], KeycloakOptions::default()) {
            if let Err(e) = r {
                shown += &format!("{e}\n{e:?}\n");
            }
        }
    }
    assert!(shown.contains("username \"alice\""), "{shown}");
    let lower = shown.to_lowercase();
    let mut secrets: Vec<String> = SECRETS.iter().map(|s| s.to_lowercase()).collect();
    for key in [ALICE, BRUNO, IVY_NEW, IVY_OLD, RFC, OTHERS] {
        secrets.push(b32(key.as_bytes()).to_lowercase());
    }
    for secret in secrets {
        assert!(!lower.contains(&secret), "{secret} shown");
    }
}

#[test]
fn the_entry_keeps_only_otp_credentials() {
    let users = all_ok(read(
        &realm_export(&export_users()),
        KeycloakOptions::default(),
    ));
    let by_name = |name: &str| {
        users
            .iter()
            .find(|u| u.username.as_deref() == Some(name))
            .unwrap()
    };
    let ivy = by_name("ivy");
    let bytes = ivy.entry_json();
    assert!(!bytes.contains(&b'\n'));
    let entry: Value = serde_json::from_slice(&bytes).unwrap();
    let expected = user(
        "ivy",
        Some("ivy@example.com"),
        vec![
            otp("c-ivy-old", T0, IVY_OLD, &totp_data()),
            otp("c-ivy-new", T0 + 1000, IVY_NEW, &totp_data()),
        ],
    );
    // The key order is the export's.
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&entry), keys(&expected));
    assert_eq!(entry, expected);
    assert_eq!(
        serde_json::from_slice::<Value>(&by_name("hank").entry_json()).unwrap(),
        expected_hank()
    );
    // Secret bytes are there (it is for a failures file), but not in Debug.
    assert!(String::from_utf8(bytes).unwrap().contains(IVY_OLD));
    assert!(!format!("{ivy:?}").contains(IVY_OLD));
}

fn expected_hank() -> Value {
    user("hank", Some("hank@example.com"), vec![])
}

#[test]
fn a_keycloak_code_is_the_code_of_the_imported_secret() {
    let users = all_ok(read(
        &realm_export(&export_users()),
        KeycloakOptions::default(),
    ));
    let t = 1_700_000_015;
    for (name, value) in [("alice", ALICE), ("bruno", BRUNO), ("otto", RFC)] {
        let u = users
            .iter()
            .find(|u| u.username.as_deref() == Some(name))
            .unwrap();
        let KeycloakOutcome::Record(record) = &u.outcome else {
            panic!("{u}")
        };
        // Keycloak: HMAC-SHA1 over the value's UTF-8 bytes.
        let keycloak = totp(value.as_bytes(), t, 6);
        // An authenticator given the imported secret: HMAC-SHA1 over its base32 decoding.
        let authenticator = totp(&unb32(record.item.secret().expose_secret()), t, 6);
        assert_eq!(keycloak, authenticator, "{name}");
    }
    // Importing alice's value as if it were base32 gives a code Keycloak never gave.
    assert_ne!(totp(ALICE.as_bytes(), t, 6), totp(&unb32(ALICE), t, 6));
    // RFC 6238 at T = 59, 6 digits, from the imported secret.
    let otto = users
        .iter()
        .find(|u| u.username.as_deref() == Some("otto"))
        .unwrap();
    let KeycloakOutcome::Record(record) = &otto.outcome else {
        panic!()
    };
    assert_eq!(
        totp(&unb32(record.item.secret().expose_secret()), 59, 6),
        "287082"
    );
}

#[test]
fn a_directory_export_is_read_file_by_file_in_numeric_order() {
    let dir = TempDir::new("dir");
    let all = export_users();
    dir.write(
        "acme-realm.json",
        &realm_export(&[]).replace("\"users\": [],", ""),
    );
    let users_file = |users: &[Value]| {
        serde_json::to_string_pretty(&json!({ "realm": "acme", "users": users })).unwrap()
    };
    dir.write("acme-users-10.json", &users_file(&all[2..3]));
    dir.write("acme-users-1.json", &users_file(&all[1..2]));
    dir.write("acme-users-0.json", &users_file(&all[0..1]));
    dir.write(
        "acme-federated-users-0.json",
        r#"{"realm":"acme","federatedUsers":[{"id":"f:1"}]}"#,
    );
    dir.write("notes.txt", "not json");
    let export = KeycloakExport::open(&dir.0).unwrap();
    let names: Vec<_> = export
        .files()
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "acme-realm.json",
            "acme-users-0.json",
            "acme-users-1.json",
            "acme-users-10.json"
        ]
    );
    let mut users = export.users(KeycloakOptions::default());
    let got: Vec<_> = users.by_ref().map(Result::unwrap).collect();
    let summary: Vec<_> = got
        .iter()
        .map(|u| {
            (
                u.username.clone().unwrap(),
                u.position.index,
                u.position.index_in_file,
                u.position
                    .file
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("alice".to_owned(), 0, 0, "acme-users-0.json".to_owned()),
            ("bruno".to_owned(), 1, 0, "acme-users-1.json".to_owned()),
            ("carla".to_owned(), 2, 0, "acme-users-10.json".to_owned()),
        ]
    );
    assert_eq!(users.counts().records, 3);
    assert!(
        got[1].to_string().starts_with(&format!(
            "{}: line 4: users[0] (username \"bruno\")",
            dir.0.join("acme-users-1.json").display()
        )),
        "{}",
        got[1]
    );

    // A realm file that holds users (`--users same_file` into a directory) is read first.
    dir.write("acme-realm.json", &realm_export(&all[3..4]));
    let names: Vec<_> = KeycloakExport::open(&dir.0)
        .unwrap()
        .users(KeycloakOptions::default())
        .map(|u| u.unwrap().username.unwrap())
        .collect();
    assert_eq!(names, ["dora", "alice", "bruno", "carla"]);

    // Two realms: one must be named.
    dir.write("master-realm.json", &realm_export(&[]));
    let err = KeycloakExport::open(&dir.0).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the exports of several realms (\"acme\", \"master\"): name the one to read",
            dir.0.display()
        )
    );
    assert_eq!(
        KeycloakExport::open_realm(&dir.0, "acme")
            .unwrap()
            .files()
            .len(),
        4
    );
    let master = KeycloakExport::open_realm(&dir.0, "master").unwrap();
    assert_eq!(master.files().len(), 1);
    assert_eq!(master.users(KeycloakOptions::default()).count(), 0);
    assert!(matches!(
        KeycloakExport::open_realm(&dir.0, "other"),
        Err(KeycloakFileError::Directory { .. })
    ));
}

#[test]
fn a_directory_without_users_and_an_empty_one_are_refused() {
    let dir = TempDir::new("nousers");
    let err = KeycloakExport::open(&dir.0).unwrap_err();
    assert!(matches!(err, KeycloakFileError::Directory { .. }), "{err}");
    dir.write("acme-realm.json", r#"{"realm":"acme"}"#);
    let results: Vec<_> = KeycloakExport::open(&dir.0)
        .unwrap()
        .users(KeycloakOptions::default())
        .collect();
    assert_eq!(results.len(), 1);
    let err = results.into_iter().next().unwrap().unwrap_err();
    assert!(
        matches!(&err, KeycloakFileError::NoUsers { file } if *file == dir.0),
        "{err}"
    );
}

#[test]
fn a_truncated_file_is_one_error_and_the_end() {
    let dir = TempDir::new("truncated");
    let text = realm_export(&export_users());
    let cut = text.find("\"username\": \"carla\"").unwrap();
    let path = dir.write("acme.json", &text[..cut]);
    let results: Vec<_> = KeycloakExport::open(&path)
        .unwrap()
        .users(KeycloakOptions::default())
        .collect();
    assert_eq!(results.len(), 3, "alice, bruno, then the error");
    assert!(results[..2].iter().all(Result::is_ok));
    let err = results.into_iter().last().unwrap().unwrap_err();
    match &err {
        KeycloakFileError::Truncated {
            file, offset, line, ..
        } => {
            assert_eq!(file, &path);
            assert_eq!(*offset, cut as u64);
            assert_eq!(*line, text[..cut].matches('\n').count() as u64 + 1);
        }
        other => panic!("{other}"),
    }
    assert!(
        err.to_string()
            .ends_with("the JSON ends early: is the export truncated?"),
        "{err}"
    );
}

#[test]
fn files_that_are_not_exports_are_refused_by_position() {
    let cases: &[(&str, &str)] = &[
        (
            "userId,secret\nu1,JBSWY3DPEHPK3PXP\n",
            "acme.json: line 1, column 1 (byte 0): not valid JSON: expected a value",
        ),
        (
            "[{\"realm\":\"acme\",\"users\":[]}]",
            "acme.json: line 1, column 1 (byte 0): a JSON array, as `kc.sh export` writes when it exports every realm: export one realm (--realm NAME)",
        ),
        (
            "\"acme\"",
            "acme.json: line 1, column 7 (byte 6): not a JSON object (a Keycloak realm export is one)",
        ),
        (
            "{\"realm\":\"acme\",\"clients\":[]}",
            "acme.json: no `users` in the export (exported with --users skip? For an export to a directory, give the directory)",
        ),
        (
            "{\"users\":{}}",
            "acme.json: line 1, column 10 (byte 9): `users` is not an array",
        ),
        (
            "{\"users\":[],\n\"users\":[]}",
            "acme.json: line 2, column 9 (byte 21): a second `users` key",
        ),
        (
            "{\"users\":[]} {}",
            "acme.json: line 1, column 14 (byte 13): not valid JSON: data after the end of the JSON object",
        ),
        (
            "{\"clients\":[{\"secret\":\"CLIENT-SECRET\" \"x\":1}],\"users\":[]}",
            "acme.json: line 1, column 39 (byte 38): not valid JSON: expected `,` or `}`",
        ),
        (
            "",
            "acme.json: line 1, column 1 (byte 0): the JSON ends early: is the export truncated?",
        ),
    ];
    for (text, expected) in cases {
        let results = read(text, KeycloakOptions::default());
        let errors: Vec<_> = results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors, [*expected], "{text:?}");
        assert_eq!(results.len(), 1, "{text:?}");
        assert!(!errors[0].contains("CLIENT-SECRET"));
    }
    // `"users": null` is a realm without users; the users key may come first or last.
    assert!(
        read(
            "{\"users\":null,\"realm\":\"acme\"}",
            KeycloakOptions::default()
        )
        .is_empty()
    );
    let last = format!(
        "{{\"realm\":\"acme\",\"users\":[{}]}}",
        user("a", None, vec![])
    );
    assert_eq!(all_ok(read(&last, KeycloakOptions::default())).len(), 1);
}

#[test]
fn malformed_users_are_refused_and_reading_goes_on() {
    let text = r#"{"users":[
        42,
        {"username":"bad-creds","credentials":{"type":"otp"}},
        {"username":7},
        {"username":"bad-data","credentials":[{"type":"otp","secretData":"{\"value\":\"Zq7Lm2Xc9Vb4Nn8Kk1Pp\"}","credentialData":{"subType":"totp"}}]},
        {"username":"bad-encoding","credentials":[{"type":"otp","secretData":"{\"value\":\"Zq7Lm2Xc9Vb4Nn8Kk1Pp\"}","credentialData":"{\"subType\":\"totp\",\"digits\":6,\"period\":30,\"algorithm\":\"HmacSHA1\",\"secretEncoding\":\"HEX\"}"}]},
        {"username":"no-secret","credentials":[{"type":"otp","credentialData":"{\"subType\":\"totp\",\"digits\":6,\"period\":30,\"algorithm\":\"HmacSHA1\"}"}]},
        {"username":"ok","credentials":[{"type":"otp","secretData":"{\"value\":\"Zq7Lm2Xc9Vb4Nn8Kk1Pp\"}","credentialData":"{\"subType\":\"totp\",\"digits\":6,\"period\":30,\"algorithm\":\"HmacSHA1\"}"}]}
    ]}"#;
    let got: Vec<String> = all_ok(read(text, KeycloakOptions::default()))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        got,
        [
            "acme.json: line 2: users[0]: refused: not a JSON object",
            "acme.json: line 3: users[1] (username \"bad-creds\"): refused: `credentials` is not an array",
            "acme.json: line 4: users[2]: refused: `username` is not a string",
            "acme.json: line 5: users[3] (username \"bad-data\"): refused: OTP credential: credentialData: not a string (Keycloak writes a JSON text in a string)",
            "acme.json: line 6: users[4] (username \"bad-encoding\"): refused: OTP credential: secretEncoding: neither BASE32 nor absent",
            "acme.json: line 7: users[5] (username \"no-secret\"): refused: OTP credential: secretData: missing",
            "acme.json: line 8: users[6] (username \"ok\"): to import",
        ]
    );
}
