//! What the emulator's tests share: requests made with reqwest (the client crate's TLS set-up),
//! seeded users, and
//! assertions on Authing's answer shapes. Each test file uses some of it.
#![allow(dead_code, unused_imports)]

pub use std::net::SocketAddr;
pub use std::time::{Duration, Instant};

pub use authing_otp_emulator::{
    Emulator, EmulatorBuilder, Error, Fault, Operation, RetryAfter, Seed, UnauthorizedStyle, User,
    codes,
};
pub use base64::Engine as _;
pub use reqwest::StatusCode;
pub use secrecy::ExposeSecret as _;
pub use serde_json::{Value, json};

pub const TOKEN: &str = "/api/v3/get-management-token";
pub const IMPORT: &str = "/api/v3/import-otp";
pub const GET_SECRET: &str = "/api/v3/get-otp-secret-by-user";

pub fn http() -> reqwest::Client {
    authing_otp::tls::http_client_builder()
        .unwrap()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub async fn start(builder: EmulatorBuilder) -> Emulator {
    builder.start().await.expect("emulator starts")
}

/// A user with every kind of id, and an OTP bound.
pub fn alice() -> User {
    User::new("u-alice")
        .email("Alice@Example.com")
        .phone("+8613800000001")
        .username("alice")
        .external_id("emp-001")
        .identity("62f20932716fbcc10d966ee5", "ou_8bae:746e")
        .sync_relation("lark", "ou_c0ffee")
        .custom_field("employeeNo", "E-42")
        .otp_with_recovery_code("ALICESECRETBASE32", "alice-recovery")
}

/// A user without OTP.
pub fn bob() -> User {
    User::new("u-bob")
        .email("bob@example.com")
        .custom_field("dept", "eng")
}

pub async fn post_json(
    emu: &Emulator,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> (StatusCode, Value) {
    let mut req = http().post(format!("{}{path}", emu.base_url())).json(body);
    if let Some(token) = token {
        req = req
            .bearer_auth(token)
            .header("x-authing-userpool-id", emu.user_pool_id());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

pub async fn token(emu: &Emulator) -> String {
    let (status, body) = post_json(
        emu,
        TOKEN,
        None,
        &json!({"accessKeyId": emu.access_key_id(), "accessKeySecret": emu.access_key_secret().expose_secret()}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["statusCode"], 200, "{body}");
    body["data"]["access_token"].as_str().unwrap().to_owned()
}

pub async fn get_secret(
    emu: &Emulator,
    token: &str,
    query: &[(&str, &str)],
) -> (StatusCode, Value) {
    let resp = http()
        .get(format!("{}{GET_SECRET}", emu.base_url()))
        .query(query)
        .bearer_auth(token)
        .header("x-authing-userpool-id", emu.user_pool_id())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

pub async fn import(emu: &Emulator, token: &str, body: &Value) -> (StatusCode, Value) {
    post_json(emu, IMPORT, Some(token), body).await
}

/// Asserts an HTTP 200 business error and returns its message.
#[track_caller]
pub fn business_error(reply: &(StatusCode, Value), status_code: u16, api_code: i64) -> String {
    let (status, body) = reply;
    assert_eq!(*status, StatusCode::OK, "{body}");
    assert_eq!(body["statusCode"], status_code, "{body}");
    assert_eq!(body["apiCode"], api_code, "{body}");
    assert!(
        body["requestId"].as_str().is_some_and(|id| id.len() == 36),
        "{body}"
    );
    body["message"].as_str().unwrap().to_owned()
}

pub fn jwt_payload(token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "JWT-shaped");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Sends getOtpSecretByUser with exactly these headers.
pub async fn get_with_headers(emu: &Emulator, headers: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut req = http().get(format!("{}{GET_SECRET}?userId=u-alice", emu.base_url()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}
