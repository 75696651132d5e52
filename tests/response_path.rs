//! Property: whatever a server answers (any status, headers and body bytes), the client returns
//! a typed result, never panics, never hands back an invalid secret, and never lets a secret it
//! sent or a control character reach an error's text.
//!
//! `PROPTEST_CASES` sets the number of cases (256 by default); one real loopback HTTP exchange
//! per case and operation.

#[path = "support/fixed_server.rs"]
mod fixed_server;

use std::{sync::OnceLock, time::Duration};

use authing_otp::{ExposeSecret, ManagementClient, OtpImport, RetryConfig, UserRef};
use bytes::Bytes;
use fixed_server::{Canned, FixedServer};
use proptest::prelude::*;

const SK: &str = "sk-prop-SECRET-1";
const OTP: &str = "PROPSECRETAAAAAA";
const RECOVERY: &str = "rc-prop-7781";
/// What an import call carries: the client's secrets and the batch's.
const CARRIED_BY_IMPORT: [&str; 4] = [SK, fixed_server::TOKEN, OTP, RECOVERY];

struct World {
    runtime: tokio::runtime::Runtime,
    server: FixedServer,
    client: ManagementClient,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(FixedServer::start(Canned::secret(OTP)));
        let client = ManagementClient::builder()
            .access_key("ak-prop", SK)
            .host(server.url())
            // Two attempts and (almost) no waiting: the retry path is exercised, quickly.
            .retry(
                RetryConfig::default()
                    .max_attempts(2)
                    .initial_backoff(Duration::ZERO)
                    .max_backoff(Duration::from_millis(1))
                    .budget(false),
            )
            .timeout(Duration::from_secs(5))
            // Its bookkeeping on every request, and its slow-down on every 429.
            .rate_limit(1e6)
            .build()
            .unwrap();
        World {
            runtime,
            server,
            client,
        }
    })
}

/// Text a hostile server might write: the call's own secrets, escapes, anything.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        Just(format!("quoting {OTP} and {RECOVERY} and {SK}")),
        Just(format!("lower {}", OTP.to_lowercase())),
        // Secrets straddling where an excerpt is cut (200 characters).
        (150usize..260).prop_map(|n| format!("{}{OTP} {RECOVERY}", "x".repeat(n))),
        Just("\u{1b}[2J\u{1b}[31mred\u{7}\u{202e}".to_owned()),
        "[a-zA-Z0-9 =]{0,40}",
    ]
}

/// A JSON value where a number, string or object is expected, or something else entirely.
fn json_scalar() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        prop_oneof![
            Just(200),
            Just(401),
            Just(413),
            Just(429),
            Just(500),
            Just(503)
        ]
        .prop_map(serde_json::Value::from),
        hostile_text().prop_map(serde_json::Value::from),
    ]
}

/// Envelopes of every shape: right, almost right and wrong.
fn envelope() -> impl Strategy<Value = Bytes> {
    (
        json_scalar(),
        json_scalar(),
        prop::option::of(json_scalar()),
        prop::option::of(json_scalar()),
        prop::option::of(prop_oneof![
            json_scalar(),
            Just(serde_json::json!(OTP)),
            Just(serde_json::json!("")),
            Just(serde_json::json!("not base32!")),
        ]),
    )
        .prop_map(|(status_code, message, api_code, request_id, secret)| {
            let mut body = serde_json::json!({"statusCode": status_code, "message": message});
            if let Some(code) = api_code {
                body["apiCode"] = code;
            }
            if let Some(id) = request_id {
                body["requestId"] = id;
            }
            if let Some(secret) = secret {
                body["data"] = serde_json::json!({ "secret": secret });
            }
            Bytes::from(body.to_string())
        })
}

fn body() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        4 => envelope(),
        2 => prop::collection::vec(any::<u8>(), 0..600).prop_map(Bytes::from),
        1 => hostile_text().prop_map(|t| Bytes::from(format!("<html>{t}</html>"))),
        1 => (300_000usize..400_000).prop_map(|n| Bytes::from(vec![b' '; n])),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        Just("content-type".to_owned()),
        Just("retry-after".to_owned()),
        Just("location".to_owned()),
        "x-[a-z]{1,8}",
    ];
    let value = prop_oneof![
        Just("application/json".to_owned()),
        Just("text/html".to_owned()),
        Just("0".to_owned()),
        Just("18446744073709551615".to_owned()),
        Just("Wed, 21 Oct 2015 07:28:00 GMT".to_owned()),
        Just("https://elsewhere.example/steal?x=1".to_owned()),
        "[ -~]{0,30}",
    ];
    prop::collection::vec((name, value), 0..4)
}

fn status() -> impl Strategy<Value = u16> {
    // 1xx are not final answers; hyper will not send them as one.
    prop_oneof![
        3 => Just(200u16),
        1 => 200u16..600,
        1 => prop_oneof![Just(301u16), Just(302), Just(307), Just(308), Just(401), Just(429)],
        1 => 600u16..1000,
    ]
}

/// None of `secrets`, and no raw control character, in what an error says.
fn assert_clean(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !text
                .to_ascii_lowercase()
                .contains(&secret.to_ascii_lowercase()),
            "{secret} in {text:?}"
        );
    }
    assert!(
        !text
            .chars()
            .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
        "control character in {text:?}"
    );
}

proptest! {
    // No regression files: the strategies are the record of what is covered.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_answer_gives_a_typed_result(status in status(), headers in headers(), body in body()) {
        let world = world();
        world.server.set(Canned { status, headers, body });
        world.runtime.block_on(async {
            let user = UserRef::user_id("u1").unwrap();
            match world.client.get_otp_secret_by_user(&user).await {
                Ok(secret) => {
                    let s = secret.expose_secret();
                    prop_assert!(!s.is_empty());
                    prop_assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'='));
                }
                Err(e) => {
                    let _ = (e.kind(), e.is_retryable(), e.http_status(), e.api_code());
                    // This call carried the access key secret and the token.
                    assert_clean(&e.display_chain(), &[SK, fixed_server::TOKEN]);
                    assert_clean(&format!("{e:?}"), &[SK, fixed_server::TOKEN]);
                }
            }
            let item = OtpImport::new("u1", OTP).unwrap().with_recovery_code(RECOVERY).unwrap();
            match world.client.import_otp([item]).await {
                Ok(receipt) => {
                    assert_clean(&receipt.message, &CARRIED_BY_IMPORT);
                    prop_assert_eq!(receipt.imported, 1);
                }
                Err(e) => {
                    assert_clean(&e.display_chain(), &CARRIED_BY_IMPORT);
                    assert_clean(&format!("{e:?}"), &CARRIED_BY_IMPORT);
                }
            }
            Ok(())
        })?;
    }
}
