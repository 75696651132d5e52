//! The emulator over HTTP: the official SDKs' recorded requests, replayed (`--ignored`, with
//! `AUTHING_OTP_SHARED` naming ../shared).

mod common;

use common::*;

/// A recording of the official SDKs, from `$AUTHING_OTP_SHARED/fixtures/peers`: the tests that
/// read one are `#[ignore]`d (a checkout without `../shared` reports them as not run), and
/// `.ci/run` runs them with `--ignored`, where a missing variable or file fails them.
fn recording(name: &str) -> Vec<Value> {
    let shared = std::env::var_os("AUTHING_OTP_SHARED")
        .expect("AUTHING_OTP_SHARED is not set: this test reads ../shared's recordings");
    let path = std::path::Path::new(&shared)
        .join("fixtures/peers")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("AUTHING_OTP_SHARED is set but {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn replay(emu: &Emulator, record: &Value, token: Option<&str>) -> Value {
    let method =
        reqwest::Method::from_bytes(record["method"].as_str().unwrap().as_bytes()).unwrap();
    let mut req = http().request(
        method,
        format!("{}{}", emu.base_url(), record["path"].as_str().unwrap()),
    );
    for pair in record["headers"].as_array().unwrap() {
        let (name, value) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
        let name_lc = name.to_ascii_lowercase();
        if ["host", "content-length", "connection", "accept-encoding"].contains(&name_lc.as_str()) {
            continue;
        }
        match (name_lc.as_str(), token) {
            ("authorization", Some(token)) if value.starts_with("Bearer ") => {
                req = req.header(name, format!("Bearer {token}"));
            }
            _ => req = req.header(name, value),
        }
    }
    req = req.body(record["body"].as_str().unwrap().to_owned());
    req.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
#[ignore = "reads the official SDKs' recordings in ../shared: set AUTHING_OTP_SHARED and pass --ignored (.ci/run does)"]
async fn the_python_sdk_scenario_replays() {
    let records = recording("python.jsonl");
    // The scenario reads user "u1" by email "u1" and imports by Authing id "u1".
    let emu = start(
        Emulator::builder()
            .access_key_id("ak-test")
            .access_key_secret("sk-test")
            .user_pool_id("up-test-1")
            .user(User::new("u1").email("u1")),
    )
    .await;
    let reply = replay(&emu, &records[0], None).await;
    assert_eq!(reply["statusCode"], 200, "{reply}");
    let token = reply["data"]["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_payload(&token)["scoped_userpool_id"], "up-test-1");

    let before = replay(&emu, &records[1], Some(&token)).await;
    assert_eq!(before["apiCode"], codes::OTP_NOT_BOUND, "{before}");
    let imported = replay(&emu, &records[2], Some(&token)).await;
    assert_eq!(imported["statusCode"], 200, "{imported}");
    let after = replay(&emu, &records[3], Some(&token)).await;
    assert_eq!(after["data"]["secret"], "HZ2F6J3AGNAVSOTV", "{after}");
    assert_eq!(
        emu.otp_of("u1")
            .unwrap()
            .recovery_code
            .unwrap()
            .expose_secret(),
        "b471-8ec0"
    );
    assert_eq!(emu.counters().token_requests, 1);
    assert_eq!(emu.counters().otp_requests(), 3);
}

#[tokio::test]
#[ignore = "reads the official SDKs' recordings in ../shared: set AUTHING_OTP_SHARED and pass --ignored (.ci/run does)"]
async fn the_node_sdk_signed_requests_are_verified() {
    let records = recording("node.jsonl");
    let builder = || {
        Emulator::builder()
            .access_key_id("ak-test")
            .access_key_secret("sk-test")
            .user(User::new("u1").email("u1"))
    };
    // The recordings' dates are in the past: within a generous skew they verify as recorded.
    let emu = start(builder().max_clock_skew(Duration::from_secs(10 * 365 * 86_400))).await;
    let before = replay(&emu, &records[0], None).await;
    assert_eq!(
        before["apiCode"],
        codes::OTP_NOT_BOUND,
        "signature accepted: {before}"
    );
    let imported = replay(&emu, &records[1], None).await;
    assert_eq!(imported["statusCode"], 200, "{imported}");
    let after = replay(&emu, &records[2], None).await;
    assert_eq!(after["data"]["secret"], "HZ2F6J3AGNAVSOTV", "{after}");
    // The same request again: its nonce is spent.
    let again = replay(&emu, &records[0], None).await;
    assert_eq!(again["apiCode"], codes::NONCE_REUSED, "{again}");
    assert_eq!(
        emu.otp_of("u1").unwrap().secret.expose_secret(),
        "HZ2F6J3AGNAVSOTV"
    );

    // A tampered body no longer matches its signature (and does not burn the nonce).
    let emu = start(builder().max_clock_skew(Duration::from_secs(10 * 365 * 86_400))).await;
    let mut tampered = records[1].clone();
    tampered["body"] = Value::String(
        tampered["body"]
            .as_str()
            .unwrap()
            .replace("HZ2F6J3AGNAVSOTV", "MZXW6YQMZXW6YQAA"),
    );
    let reply = replay(&emu, &tampered, None).await;
    assert_eq!(reply["apiCode"], codes::SIGNATURE_MISMATCH, "{reply}");
    let reply = replay(&emu, &records[1], None).await;
    assert_eq!(reply["statusCode"], 200, "{reply}");

    // With the default skew, a date from the recording session is too old.
    let emu = start(builder()).await;
    let stale = replay(&emu, &records[0], None).await;
    assert_eq!(stale["apiCode"], codes::CLOCK_SKEW, "{stale}");

    // Another key pair: unknown access key id.
    let emu = start(
        Emulator::builder()
            .max_clock_skew(Duration::from_secs(10 * 365 * 86_400))
            .user(User::new("u1").email("u1")),
    )
    .await;
    let reply = replay(&emu, &records[0], None).await;
    assert_eq!(reply["apiCode"], codes::UNKNOWN_ACCESS_KEY, "{reply}");
}

#[tokio::test]
async fn signed_requests_with_bad_headers_are_refused() {
    let emu = start(Emulator::builder().user(User::new("u1").otp("ALICESECRETBASE32"))).await;
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let signed = [
        ("x-authing-signature-nonce", "n-1"),
        ("x-authing-signature-method", "HMAC-SHA1"),
        ("x-authing-signature-version", "1.0"),
        ("date", date.as_str()),
    ];
    let with = |auth: &'static str, replace: Option<(&'static str, &'static str)>| {
        let mut headers: Vec<(&str, &str)> = signed.to_vec();
        if let Some((name, value)) = replace {
            headers.retain(|(n, _)| *n != name);
            if !value.is_empty() {
                headers.push((name, value));
            }
        }
        headers.push(("authorization", auth));
        headers
    };
    let auth = "authing emulator-access-key-id:AAAA";
    let cases = [
        (with("authing no-colon", None), codes::SIGNATURE_MALFORMED),
        (
            with(auth, Some(("date", ""))),
            codes::SIGNATURE_HEADER_MISSING,
        ),
        (
            with(auth, Some(("date", "yesterday"))),
            codes::SIGNATURE_MALFORMED,
        ),
        (
            with(auth, Some(("x-authing-signature-method", "HMAC-SHA256"))),
            codes::SIGNATURE_METHOD_UNSUPPORTED,
        ),
        (with(auth, None), codes::SIGNATURE_MISMATCH),
    ];
    for (headers, code) in cases {
        let (status, reply) = get_with_headers(&emu, &headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}: {reply}");
        assert_eq!(reply["apiCode"], json!(code), "{headers:?}: {reply}");
    }
}
