//! Peak memory and time of the Keycloak export reader on a realm export of a million users.
//!
//! ```sh
//! cargo run --release -p authing-otp-cli --example keycloak_memory -- [USERS | huge]
//! cli/scripts/keycloak_bench.sh [USERS | huge]
//! ```
//!
//! Writes a realm export of `USERS` users (default 1,000,000) to a temporary file, streamed, as
//! `kc.sh export --file` writes one (Jackson's pretty printing; realm keys before and after
//! `users`; each user with attributes, roles, groups, a password credential and one OTP
//! credential whose value is 20 random letters and digits, as Keycloak makes them), reads it
//! back with [`KeycloakExport`], checks every user's secret, deletes the file, and prints the
//! time taken and the peak resident set size (`VmHWM` of `/proc/self/status`, Linux only).
//! Not a test: the figures depend on the machine. The goal is a peak under 64 MB that does not
//! grow with the number of users.
//!
//! `huge` writes instead an export whose first user has a 200 MB attribute, then one ordinary
//! user: the first must be refused as too large without the peak growing, the second read.

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    time::Instant,
};

use authing_otp::ExposeSecret;
use authing_otp_cli::keycloak::{KeycloakExport, KeycloakOptions, KeycloakOutcome};

/// A xorshift generator: the same export every run, without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }

    /// What Keycloak's `HmacOTP.generateSecret(20)` makes: 20 letters and digits.
    fn otp_value(&mut self) -> String {
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..20)
            .map(|_| char::from(CHARS[(self.next() % CHARS.len() as u64) as usize]))
            .collect()
    }
}

/// Base32 of `bytes`, RFC 4648 without padding: the secret expected.
fn b32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut acc, mut bits) = (0u64, 0);
    for &b in bytes {
        acc = (acc << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

const REALM_HEAD: &str = r#"{
  "id" : "0b1f5b3e-2f0e-4a55-9c1d-5d8a3c0e7f11",
  "realm" : "acme",
  "notBefore" : 0,
  "defaultSignatureAlgorithm" : "RS256",
  "enabled" : true,
  "sslRequired" : "external",
  "otpPolicyType" : "totp",
  "otpPolicyAlgorithm" : "HmacSHA1",
  "otpPolicyInitialCounter" : 0,
  "otpPolicyDigits" : 6,
  "otpPolicyLookAheadWindow" : 1,
  "otpPolicyPeriod" : 30,
  "otpPolicyCodeReusable" : false,
  "roles" : {
    "realm" : [ {
      "id" : "5c7e2f9a-1b3d-4e6f-8a0b-2c4d6e8f0a1b",
      "name" : "default-roles-acme",
      "description" : "${role_default-roles}",
      "composite" : true,
      "composites" : {
        "realm" : [ "offline_access", "uma_authorization" ]
      },
      "clientRole" : false,
      "containerId" : "0b1f5b3e-2f0e-4a55-9c1d-5d8a3c0e7f11",
      "attributes" : { }
    } ],
    "client" : { }
  },
  "groups" : [ ],
"#;

const REALM_TAIL: &str = r#",
  "clients" : [ {
    "id" : "7a9c1e3f-5b7d-4f1a-8c2e-4a6c8e0a2c4e",
    "clientId" : "account",
    "name" : "${client_account}",
    "rootUrl" : "${authBaseUrl}",
    "baseUrl" : "/realms/acme/account/",
    "enabled" : true,
    "clientAuthenticatorType" : "client-secret",
    "redirectUris" : [ "/realms/acme/account/*" ],
    "protocolMappers" : [ {
      "name" : "audience resolve",
      "protocol" : "openid-connect",
      "protocolMapper" : "oidc-audience-resolve-mapper",
      "config" : { }
    } ]
  } ],
  "components" : {
    "org.keycloak.keys.KeyProvider" : [ {
      "name" : "rsa-generated",
      "providerId" : "rsa-generated",
      "config" : { "priority" : [ "100" ] }
    } ]
  },
  "internationalizationEnabled" : false,
  "keycloakVersion" : "26.0.0"
}
"#;

/// Writes one user as Keycloak 26 exports it.
fn write_user(out: &mut impl Write, rng: &mut Rng, n: u64, value: &str) -> io::Result<()> {
    let created = 1_690_000_000_000 + n * 1000;
    let (id, password_id, otp_id) = (rng.uuid(), rng.uuid(), rng.uuid());
    write!(
        out,
        r#"{{
    "id" : "{id}",
    "createdTimestamp" : {created},
    "username" : "user{n:07}",
    "enabled" : true,
    "totp" : false,
    "emailVerified" : true,
    "firstName" : "User",
    "lastName" : "Number {n}",
    "email" : "user{n:07}@example.com",
    "attributes" : {{
      "department" : [ "engineering" ],
      "locale" : [ "en" ]
    }},
    "credentials" : [ {{
      "id" : "{password_id}",
      "type" : "password",
      "userLabel" : "My password",
      "createdDate" : {created},
      "secretData" : "{{\"value\":\"9d2Xo7kQ1bR8sV3nF6mL0pZ4tY5wC2eA8gH1jK7lN3q=\",\"salt\":\"bXlzYWx0c2FsdHNhbHQ=\",\"additionalParameters\":{{}}}}",
      "credentialData" : "{{\"hashIterations\":27500,\"algorithm\":\"pbkdf2-sha256\",\"additionalParameters\":{{}}}}"
    }}, {{
      "id" : "{otp_id}",
      "type" : "otp",
      "userLabel" : "Phone",
      "createdDate" : {otp_created},
      "secretData" : "{{\"value\":\"{value}\"}}",
      "credentialData" : "{{\"subType\":\"totp\",\"digits\":6,\"counter\":0,\"period\":30,\"algorithm\":\"HmacSHA1\"}}"
    }} ],
    "disableableCredentialTypes" : [ ],
    "requiredActions" : [ ],
    "realmRoles" : [ "default-roles-acme", "offline_access" ],
    "clientRoles" : {{
      "account" : [ "manage-account", "view-profile" ]
    }},
    "notBefore" : 0,
    "groups" : [ "/staff" ]
  }}"#,
        otp_created = created + 60_000,
    )
}

/// The peak resident set size, in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "?".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

/// Removes the file when dropped, whatever happens.
struct Remove(std::path::PathBuf);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The `huge` case: a 200 MB user, then an ordinary one.
fn huge(path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    const BIG: usize = 200_000_000;
    let at_start = peak_rss_kib();
    let mut out = BufWriter::new(File::create(path)?);
    out.write_all(REALM_HEAD.as_bytes())?;
    out.write_all(
        b"  \"users\" : [ {\n    \"username\" : \"huge\",\n    \"attributes\" : { \"blob\" : [ \"",
    )?;
    let chunk = [b'A'; 64 * 1024];
    for _ in 0..BIG / chunk.len() {
        out.write_all(&chunk)?;
    }
    out.write_all(b"\" ] }\n  }, ")?;
    let mut rng = Rng(1);
    let value = rng.otp_value();
    write_user(&mut out, &mut rng, 1, &value)?;
    out.write_all(b" ]")?;
    out.write_all(REALM_TAIL.as_bytes())?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    let bytes = std::fs::metadata(path)?.len();

    let start = Instant::now();
    let export = KeycloakExport::open(path)?;
    let results: Vec<String> = export
        .users(KeycloakOptions::default())
        .map(|user| {
            user.map(|u| u.to_string())
                .unwrap_or_else(|e| e.to_string())
        })
        .collect();
    println!(
        "huge: {:.0} MB read in {:.1} s: {}",
        bytes as f64 / 1e6,
        start.elapsed().as_secs_f64(),
        results.join("; ")
    );
    println!(
        "peak RSS (VmHWM): {} at start, {} after reading",
        mib(at_start),
        mib(peak_rss_kib())
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = std::env::args().nth(1);
    let path = std::env::temp_dir().join(format!("keycloak-memory-{}.json", std::process::id()));
    let _remove = Remove(path.clone());
    if arg.as_deref() == Some("huge") {
        return huge(&path);
    }
    let users: u64 = match arg {
        Some(n) => n.replace('_', "").parse()?,
        None => 1_000_000,
    };
    let at_start = peak_rss_kib();

    let start = Instant::now();
    let mut out = BufWriter::new(File::create(&path)?);
    out.write_all(REALM_HEAD.as_bytes())?;
    out.write_all(b"  \"users\" : [ ")?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for n in 0..users {
        if n > 0 {
            out.write_all(b", ")?;
        }
        let value = rng.otp_value();
        write_user(&mut out, &mut rng, n, &value)?;
    }
    out.write_all(b" ]")?;
    out.write_all(REALM_TAIL.as_bytes())?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    let bytes = std::fs::metadata(&path)?.len();
    let written = start.elapsed();
    let after_writing = peak_rss_kib();

    // Read back: every user a record, with the secret expected (the generator again).
    let start = Instant::now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let export = KeycloakExport::open(&path)?;
    let mut reader = export.users(KeycloakOptions::default());
    let mut wrong = 0u64;
    for (n, user) in reader.by_ref().enumerate() {
        let user = user?;
        let value = rng.otp_value();
        // The ids the writer drew after the value.
        for _ in 0..3 {
            rng.uuid();
        }
        match &user.outcome {
            KeycloakOutcome::Record(record)
                if record.item.user_id() == format!("user{n:07}")
                    && record.item.secret().expose_secret() == b32(value.as_bytes()) => {}
            _ => {
                wrong += 1;
                if wrong <= 3 {
                    eprintln!("unexpected: {user}");
                }
            }
        }
    }
    let read = start.elapsed();
    let counts = reader.counts();
    println!(
        "{users} users, {:.0} MB: written in {:.1} s; read in {:.1} s ({:.0} MB/s, {:.0} users/s): \
         {} records, {} refused, {} without OTP, {wrong} unexpected",
        bytes as f64 / 1e6,
        written.as_secs_f64(),
        read.as_secs_f64(),
        bytes as f64 / 1e6 / read.as_secs_f64(),
        users as f64 / read.as_secs_f64(),
        counts.records,
        counts.refused,
        counts.no_otp,
    );
    // The whole command on the same file, when asked: `import --format keycloak --dry-run`
    // (every user read and checked, duplicates looked for; nothing sent).
    if let Some(command) = std::env::var_os("KEYCLOAK_BENCH_COMMAND") {
        let out = std::process::Command::new(command)
            .args(["import", "--format", "keycloak", "--dry-run", "--json"])
            .arg(&path)
            .output()?;
        println!(
            "authing-otp import --format keycloak --dry-run: {}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    println!(
        "peak RSS (VmHWM): {} at start, {} after writing, {} after reading",
        mib(at_start),
        mib(after_writing),
        mib(peak_rss_kib())
    );
    if wrong > 0 || counts.records != users {
        return Err("some users were not read as expected".into());
    }
    Ok(())
}
