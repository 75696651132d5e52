//! The emulator, driven over HTTP with plain reqwest.
//!
//! `cargo test --features emulator --test emulator`; the command-line tests need `--features cli`.
#![cfg(feature = "emulator")]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use authing_otp::emulator::{
    Emulator, EmulatorBuilder, Error, Fault, Operation, Seed, UnauthorizedStyle, User, codes,
};
use base64::Engine as _;
use reqwest::StatusCode;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

const TOKEN: &str = "/api/v3/get-management-token";
const IMPORT: &str = "/api/v3/import-otp";
const GET_SECRET: &str = "/api/v3/get-otp-secret-by-user";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn start(builder: EmulatorBuilder) -> Emulator {
    builder.start().await.expect("emulator starts")
}

/// A user with every kind of id, and an OTP bound.
fn alice() -> User {
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
fn bob() -> User {
    User::new("u-bob")
        .email("bob@example.com")
        .custom_field("dept", "eng")
}

async fn post_json(
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

async fn token(emu: &Emulator) -> String {
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

async fn get_secret(emu: &Emulator, token: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
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

async fn import(emu: &Emulator, token: &str, body: &Value) -> (StatusCode, Value) {
    post_json(emu, IMPORT, Some(token), body).await
}

/// Asserts an HTTP 200 business error and returns its message.
#[track_caller]
fn business_error(reply: &(StatusCode, Value), status_code: u16, api_code: u32) -> String {
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

fn jwt_payload(token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "JWT-shaped");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

#[tokio::test]
async fn issues_a_jwt_shaped_token_for_the_configured_key_pair() {
    let emu = start(
        Emulator::builder()
            .access_key_id("ak-test")
            .access_key_secret("sk-test")
            .user_pool_id("up-test-1"),
    )
    .await;
    assert_eq!(emu.access_key_id(), "ak-test");
    assert_eq!(emu.access_key_secret().expose_secret(), "sk-test");
    assert_eq!(emu.user_pool_id(), "up-test-1");

    // The exact bytes the Python SDK sends.
    let resp = http()
        .post(format!("{}{TOKEN}", emu.base_url()))
        .header("content-type", "application/json")
        .body(r#"{"accessKeyId": "ak-test", "accessKeySecret": "sk-test"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["statusCode"], 200);
    assert!(body["message"].is_string());
    assert_eq!(body["data"]["expires_in"], 7200);
    let token = body["data"]["access_token"].as_str().unwrap();
    let payload = jwt_payload(token);
    assert_eq!(payload["scoped_userpool_id"], "up-test-1");
    let exp = payload["exp"].as_u64().unwrap();
    let now = unix_now();
    assert!(
        (now + 7190..=now + 7210).contains(&exp),
        "exp {exp}, now {now}"
    );

    // Each request gets a fresh token.
    assert_ne!(self::token(&emu).await, token);
}

#[tokio::test]
async fn token_lifetime_is_configurable() {
    let emu = start(Emulator::builder().token_ttl(Duration::from_secs(60))).await;
    let (_, body) = post_json(
        &emu,
        TOKEN,
        None,
        &json!({"accessKeyId": emu.access_key_id(), "accessKeySecret": emu.access_key_secret().expose_secret()}),
    )
    .await;
    assert_eq!(body["data"]["expires_in"], 60);
    emu.set_token_ttl(Duration::from_secs(5));
    let (_, body) = post_json(
        &emu,
        TOKEN,
        None,
        &json!({"accessKeyId": emu.access_key_id(), "accessKeySecret": emu.access_key_secret().expose_secret()}),
    )
    .await;
    assert_eq!(body["data"]["expires_in"], 5);
}

#[tokio::test]
async fn a_wrong_key_pair_is_a_business_error() {
    let emu = start(
        Emulator::builder()
            .access_key_id("ak")
            .access_key_secret("right-secret"),
    )
    .await;
    for (id, secret) in [("ak", "wrong-secret"), ("other", "right-secret"), ("", "")] {
        let reply = post_json(
            &emu,
            TOKEN,
            None,
            &json!({"accessKeyId": id, "accessKeySecret": secret}),
        )
        .await;
        let message = business_error(&reply, 403, codes::INVALID_ACCESS_KEY);
        assert!(!message.contains("secret-"), "{message}");
        assert!(reply.1.get("data").is_none());
    }
    assert_eq!(emu.counters().token_requests, 3);
}

// ---------------------------------------------------------------------------------------------
// getOtpSecretByUser

#[tokio::test]
async fn every_user_id_type_resolves() {
    let emu = start(Emulator::builder().user(alice()).user(bob())).await;
    let t = token(&emu).await;
    let cases: &[(&str, Option<&str>)] = &[
        ("u-alice", None),
        ("u-alice", Some("user_id")),
        ("alice@example.com", Some("email")),
        ("ALICE@EXAMPLE.COM", Some("email")),
        ("+8613800000001", Some("phone")),
        ("alice", Some("username")),
        ("emp-001", Some("external_id")),
        ("62f20932716fbcc10d966ee5:ou_8bae:746e", Some("identity")),
        ("lark:ou_c0ffee", Some("sync_relation")),
        ("employeeNo:E-42", Some("custom_field")),
    ];
    for (id, ty) in cases {
        let mut query = vec![("userId", *id)];
        if let Some(ty) = ty {
            query.push(("userIdType", ty));
        }
        let (status, body) = get_secret(&emu, &t, &query).await;
        assert_eq!(status, StatusCode::OK, "{id} {ty:?}: {body}");
        assert_eq!(body["statusCode"], 200, "{id} {ty:?}: {body}");
        assert_eq!(body["data"]["secret"], "ALICESECRETBASE32", "{id} {ty:?}");
    }
    assert_eq!(emu.counters().get_otp_secret_requests, cases.len() as u64);
}

#[tokio::test]
async fn ids_are_url_decoded_like_the_sdks_encode_them() {
    let weird = "a b+c@x.com:é/?&=[]";
    let emu = start(Emulator::builder().user(User::new("u1").email(weird).otp("S1"))).await;
    let t = token(&emu).await;
    // Node's encoding, written by hand, and Python's (which also encodes ':').
    for raw in [
        "a+b%2Bc%40x.com:%C3%A9%2F%3F%26%3D%5B%5D",
        "a+b%2Bc%40x.com%3A%C3%A9%2F%3F%26%3D%5B%5D",
    ] {
        let url = format!(
            "{}{GET_SECRET}?userId={raw}&userIdType=email",
            emu.base_url()
        );
        let resp = http()
            .get(url)
            .bearer_auth(&t)
            .header("x-authing-userpool-id", emu.user_pool_id())
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["data"]["secret"], "S1", "{raw}: {body}");
    }
}

#[tokio::test]
async fn an_unknown_user_is_a_business_error() {
    let emu = start(Emulator::builder().user(alice())).await;
    let t = token(&emu).await;
    for (id, ty) in [
        ("nobody", "user_id"),
        ("nobody@example.com", "email"),
        ("+860", "phone"),
        ("nobody", "username"),
        ("emp-999", "external_id"),
        ("62f20932716fbcc10d966ee5:other", "identity"),
        ("wechatwork:ou_c0ffee", "sync_relation"),
        ("employeeNo:E-43", "custom_field"),
    ] {
        let reply = get_secret(&emu, &t, &[("userId", id), ("userIdType", ty)]).await;
        let message = business_error(&reply, 404, codes::USER_NOT_FOUND);
        assert!(message.contains("not found"), "{message}");
    }
}

#[tokio::test]
async fn a_user_without_otp_is_a_business_error() {
    let emu = start(Emulator::builder().user(bob())).await;
    let t = token(&emu).await;
    let reply = get_secret(
        &emu,
        &t,
        &[("userId", "bob@example.com"), ("userIdType", "email")],
    )
    .await;
    let message = business_error(&reply, 404, codes::OTP_NOT_BOUND);
    assert!(message.contains("no OTP"), "{message}");
}

#[tokio::test]
async fn a_custom_field_matching_several_users_is_ambiguous() {
    let emu = start(
        Emulator::builder()
            .user(bob())
            .user(User::new("u-carol").custom_field("dept", "eng")),
    )
    .await;
    let t = token(&emu).await;
    let reply = get_secret(
        &emu,
        &t,
        &[("userId", "dept:eng"), ("userIdType", "custom_field")],
    )
    .await;
    business_error(&reply, 409, codes::AMBIGUOUS_USER);
}

#[tokio::test]
async fn composite_ids_without_a_colon_are_invalid() {
    let emu = start(Emulator::builder().user(alice())).await;
    let t = token(&emu).await;
    for (ty, shape) in [
        ("identity", "<extIdpId>:<userIdInIdp>"),
        ("sync_relation", "<provider>:<userIdInIdp>"),
        ("custom_field", "<fieldKey>:<value>"),
    ] {
        let reply = get_secret(&emu, &t, &[("userId", "no-colon"), ("userIdType", ty)]).await;
        let message = business_error(&reply, 400, codes::INVALID_REQUEST);
        assert_eq!(message, format!("userId: a {ty} id must be {shape}"));
    }
}

// ---------------------------------------------------------------------------------------------
// importOtp

#[tokio::test]
async fn imported_secrets_can_be_read_back() {
    let emu = start(Emulator::builder().user(bob()).user(User::new("u2"))).await;
    let t = token(&emu).await;
    let reply = import(
        &emu,
        &t,
        &json!({"list": [
            {"userId": "u-bob", "otp": {"secret": "BOBSECRET", "recoveryCode": "bob-rc"}},
            {"userId": "u2", "otp": {"secret": "FIRST"}},
            {"userId": "u2", "otp": {"secret": "SECOND"}},
        ]}),
    )
    .await;
    assert_eq!(reply.0, StatusCode::OK);
    assert_eq!(reply.1["statusCode"], 200, "{}", reply.1);
    assert!(reply.1["message"].is_string());

    let (_, body) = get_secret(
        &emu,
        &t,
        &[("userId", "bob@example.com"), ("userIdType", "email")],
    )
    .await;
    assert_eq!(body["data"]["secret"], "BOBSECRET");
    let (_, body) = get_secret(&emu, &t, &[("userId", "u2")]).await;
    assert_eq!(body["data"]["secret"], "SECOND", "a later entry wins");

    let stored = emu.otp_of("u-bob").unwrap();
    assert_eq!(stored.secret.expose_secret(), "BOBSECRET");
    assert_eq!(stored.recovery_code.unwrap().expose_secret(), "bob-rc");
    assert!(emu.otp_of("u2").unwrap().recovery_code.is_none());

    // Importing again replaces the binding.
    import(
        &emu,
        &t,
        &json!({"list": [{"userId": "u-bob", "otp": {"secret": "NEWER"}}]}),
    )
    .await;
    let (_, body) = get_secret(&emu, &t, &[("userId", "u-bob")]).await;
    assert_eq!(body["data"]["secret"], "NEWER");
}

#[tokio::test]
async fn importing_for_unknown_users_refuses_the_whole_request() {
    let emu = start(Emulator::builder().user(bob())).await;
    let t = token(&emu).await;
    let reply = import(
        &emu,
        &t,
        &json!({"list": [
            {"userId": "u-bob", "otp": {"secret": "BOBSECRET"}},
            {"userId": "ghost-1", "otp": {"secret": "X"}},
            {"userId": "ghost-2", "otp": {"secret": "Y"}},
            {"userId": "ghost-1", "otp": {"secret": "Z"}},
        ]}),
    )
    .await;
    let message = business_error(&reply, 404, codes::USER_NOT_FOUND);
    assert_eq!(
        message,
        "users not found: ghost-1, ghost-2; nothing was imported"
    );
    assert!(emu.otp_of("u-bob").is_none(), "nothing stored");
}

#[tokio::test]
async fn an_empty_import_list_is_accepted() {
    let emu = start(Emulator::builder()).await;
    let t = token(&emu).await;
    let reply = import(&emu, &t, &json!({"list": []})).await;
    assert_eq!(reply.1["statusCode"], 200);
}

// ---------------------------------------------------------------------------------------------
// Validation against the fragment

#[tokio::test]
async fn import_bodies_that_do_not_match_the_fragment_are_rejected() {
    let emu = start(Emulator::builder().user(bob())).await;
    let t = token(&emu).await;
    let cases = [
        (json!({}), "list: required"),
        (json!({"list": {}}), "list: expected array, got object"),
        (json!([]), "body: expected object, got array"),
        (
            json!({"list": [
                {"userId": "u-bob", "otp": {"secret": "A"}},
                {"userId": "u-bob", "otp": {"secret": "B"}},
                {"userId": "u-bob", "otp": {"recoveryCode": "C"}},
            ]}),
            "list[2].otp.secret: required",
        ),
        (
            json!({"list": [{"otp": {"secret": "A"}}]}),
            "list[0].userId: required",
        ),
        (
            json!({"list": [{"userId": "u-bob"}]}),
            "list[0].otp: required",
        ),
        (
            json!({"list": [{"userId": 7, "otp": {"secret": "A"}}]}),
            "list[0].userId: expected string, got number",
        ),
        (
            json!({"list": [{"userId": "u-bob", "otp": {"secret": "A", "recoveryCode": false}}]}),
            "list[0].otp.recoveryCode: expected string, got boolean",
        ),
        (
            json!({"list": [{"userId": "u-bob", "otp": "A"}]}),
            "list[0].otp: expected object, got string",
        ),
        (
            json!({"list": [{"userId": 1, "otp": {}}]}),
            "list[0].otp.secret: required; list[0].userId: expected string, got number",
        ),
    ];
    for (body, expected) in cases {
        let reply = import(&emu, &t, &body).await;
        let message = business_error(&reply, 400, codes::INVALID_REQUEST);
        assert_eq!(message, expected, "for {body}");
    }
    assert!(emu.otp_of("u-bob").is_none());
}

#[tokio::test]
async fn bodies_that_are_not_json_are_rejected() {
    let emu = start(Emulator::builder()).await;
    let t = token(&emu).await;
    let send = |content_type: Option<&'static str>, body: &'static str| {
        let mut req = http()
            .post(format!("{}{IMPORT}", emu.base_url()))
            .bearer_auth(&t)
            .header("x-authing-userpool-id", emu.user_pool_id())
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        }
    };
    let not_json = business_error(
        &send(Some("application/json"), "{list: [").await,
        400,
        codes::INVALID_REQUEST,
    );
    assert!(not_json.starts_with("body: not valid JSON ("), "{not_json}");
    let empty = business_error(
        &send(Some("application/json"), "").await,
        400,
        codes::INVALID_REQUEST,
    );
    assert_eq!(empty, "body: required");
    let form = business_error(
        &send(Some("application/x-www-form-urlencoded"), "list=1").await,
        400,
        codes::INVALID_REQUEST,
    );
    assert_eq!(form, "content-type: expected application/json");
    let none = business_error(
        &send(None, r#"{"list":[]}"#).await,
        400,
        codes::INVALID_REQUEST,
    );
    assert_eq!(none, "content-type: expected application/json");
    let charset = send(Some("application/json; charset=utf-8"), r#"{"list":[]}"#).await;
    assert_eq!(charset.1["statusCode"], 200);
}

#[tokio::test]
async fn token_bodies_that_do_not_match_the_fragment_are_rejected() {
    let emu = start(Emulator::builder()).await;
    let reply = post_json(&emu, TOKEN, None, &json!({"accessKeyId": "x"})).await;
    assert_eq!(
        business_error(&reply, 400, codes::INVALID_REQUEST),
        "accessKeySecret: required"
    );
    let reply = post_json(
        &emu,
        TOKEN,
        None,
        &json!({"accessKeyId": 1, "accessKeySecret": ["s"]}),
    )
    .await;
    assert_eq!(
        business_error(&reply, 400, codes::INVALID_REQUEST),
        "accessKeyId: expected string, got number; accessKeySecret: expected string, got array"
    );
}

#[tokio::test]
async fn query_parameters_that_do_not_match_the_fragment_are_rejected() {
    let emu = start(Emulator::builder().user(alice())).await;
    let t = token(&emu).await;
    let reply = get_secret(&emu, &t, &[]).await;
    assert_eq!(
        business_error(&reply, 400, codes::INVALID_REQUEST),
        "userId: required"
    );
    let reply = get_secret(&emu, &t, &[("userIdType", "email")]).await;
    assert_eq!(
        business_error(&reply, 400, codes::INVALID_REQUEST),
        "userId: required"
    );
    let reply = get_secret(&emu, &t, &[("userId", "alice"), ("userIdType", "nickname")]).await;
    assert_eq!(
        business_error(&reply, 400, codes::INVALID_REQUEST),
        "userIdType: must be one of user_id, external_id, phone, email, username, identity, sync_relation, custom_field"
    );
    let reply = get_secret(&emu, &t, &[("userId", "u-alice"), ("userId", "u-bob")]).await;
    assert_eq!(
        business_error(&reply, 400, codes::INVALID_REQUEST),
        "userId: expected a single value, given 2"
    );
}

// ---------------------------------------------------------------------------------------------
// Authentication

/// Sends getOtpSecretByUser with exactly these headers.
async fn get_with_headers(emu: &Emulator, headers: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut req = http().get(format!("{}{GET_SECRET}?userId=u-alice", emu.base_url()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

#[track_caller]
fn unauthorized(reply: &(StatusCode, Value), http_status: StatusCode, api_code: u32) {
    let (status, body) = reply;
    assert_eq!(*status, http_status, "{body}");
    assert_eq!(body["statusCode"], 401, "{body}");
    assert_eq!(body["apiCode"], api_code, "{body}");
    assert!(
        body["message"].is_string() && body["requestId"].is_string(),
        "{body}"
    );
    assert!(body.get("data").is_none());
}

#[tokio::test]
async fn otp_requests_need_a_token_and_the_matching_pool_header() {
    let emu = start(Emulator::builder().user(alice())).await;
    let t = token(&emu).await;
    let bearer = format!("Bearer {t}");
    let pool = emu.user_pool_id().to_owned();
    let u = StatusCode::UNAUTHORIZED;

    unauthorized(
        &get_with_headers(&emu, &[("x-authing-userpool-id", &pool)]).await,
        u,
        codes::MISSING_AUTHORIZATION,
    );
    unauthorized(
        &get_with_headers(&emu, &[("authorization", &bearer)]).await,
        u,
        codes::MISSING_USERPOOL,
    );
    unauthorized(
        &get_with_headers(
            &emu,
            &[
                ("authorization", &bearer),
                ("x-authing-userpool-id", "another-pool"),
            ],
        )
        .await,
        u,
        codes::USERPOOL_MISMATCH,
    );
    // A token the emulator did not issue, though shaped right and scoped to the right pool: the
    // one the Python SDK recording was answered with.
    let foreign = "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzY29wZWRfdXNlcnBvb2xfaWQiOiJ1cC10ZXN0LTEiLCJleHAiOjQxMDI0NDQ4MDB9.c2lnLXRlc3Q";
    unauthorized(
        &get_with_headers(
            &emu,
            &[("authorization", foreign), ("x-authing-userpool-id", &pool)],
        )
        .await,
        u,
        codes::INVALID_TOKEN,
    );
    unauthorized(
        &get_with_headers(
            &emu,
            &[
                ("authorization", "Basic dXNlcjpwYXNz"),
                ("x-authing-userpool-id", &pool),
            ],
        )
        .await,
        u,
        codes::MISSING_AUTHORIZATION,
    );
    unauthorized(
        &get_with_headers(
            &emu,
            &[
                (
                    "authorization",
                    "authing ak-test:ThdnJGdfJSI6981FIXxPikR10Cw=",
                ),
                ("x-authing-userpool-id", &pool),
            ],
        )
        .await,
        u,
        codes::SIGNATURE_HEADER_MISSING,
    );

    // With both: fine; `bearer` in any case, and a bare token (as the Java SDK sends it).
    for auth in [bearer.clone(), format!("bearer {t}"), t.clone()] {
        let reply = get_with_headers(
            &emu,
            &[("authorization", &auth), ("x-authing-userpool-id", &pool)],
        )
        .await;
        assert_eq!(
            reply.1["data"]["secret"], "ALICESECRETBASE32",
            "{auth:.8}…: {}",
            reply.1
        );
    }

    // Import is guarded the same way, before its body is looked at.
    let resp = http()
        .post(format!("{}{IMPORT}", emu.base_url()))
        .header("x-authing-userpool-id", &pool)
        .body("not even json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["apiCode"], codes::MISSING_AUTHORIZATION);
}

#[tokio::test]
async fn the_http_200_style_puts_401_in_the_body_only() {
    let emu = start(Emulator::builder().unauthorized_style(UnauthorizedStyle::Http200)).await;
    unauthorized(
        &get_with_headers(&emu, &[]).await,
        StatusCode::OK,
        codes::MISSING_AUTHORIZATION,
    );
    emu.set_unauthorized_style(UnauthorizedStyle::Http401);
    unauthorized(
        &get_with_headers(&emu, &[]).await,
        StatusCode::UNAUTHORIZED,
        codes::MISSING_AUTHORIZATION,
    );
}

#[tokio::test]
async fn tokens_expire_after_their_lifetime_in_both_styles() {
    for (style, http_status) in [
        (UnauthorizedStyle::Http401, StatusCode::UNAUTHORIZED),
        (UnauthorizedStyle::Http200, StatusCode::OK),
    ] {
        let emu = start(
            Emulator::builder()
                .user(alice())
                .token_ttl(Duration::from_secs(1))
                .unauthorized_style(style),
        )
        .await;
        let t = token(&emu).await;
        let payload = jwt_payload(&t);
        assert!(payload["exp"].as_u64().unwrap() <= unix_now() + 2);
        // The token was issued before its response arrived, so this sleeps past its lifetime.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let reply = get_secret(&emu, &t, &[("userId", "u-alice")]).await;
        unauthorized(&reply, http_status, codes::TOKEN_EXPIRED);
        let reply = import(&emu, &t, &json!({"list": []})).await;
        unauthorized(&reply, http_status, codes::TOKEN_EXPIRED);
        // A fresh token works again.
        let t = token(&emu).await;
        let (_, body) = get_secret(&emu, &t, &[("userId", "u-alice")]).await;
        assert_eq!(body["statusCode"], 200);
    }
}

#[tokio::test]
async fn tokens_can_be_expired_or_revoked_at_will() {
    let emu = start(Emulator::builder().user(alice())).await;
    let t = token(&emu).await;
    emu.expire_tokens();
    unauthorized(
        &get_secret(&emu, &t, &[("userId", "u-alice")]).await,
        StatusCode::UNAUTHORIZED,
        codes::TOKEN_EXPIRED,
    );
    let t = token(&emu).await;
    emu.revoke_tokens();
    unauthorized(
        &get_secret(&emu, &t, &[("userId", "u-alice")]).await,
        StatusCode::UNAUTHORIZED,
        codes::INVALID_TOKEN,
    );
    // Tokens made through the Rust API are as good as issued ones, and are not counted.
    let direct = emu.issue_token();
    let (_, body) = get_secret(&emu, direct.expose_secret(), &[("userId", "u-alice")]).await;
    assert_eq!(body["statusCode"], 200);
    assert_eq!(emu.counters().token_requests, 2);
}

// ---------------------------------------------------------------------------------------------
// Faults, latency, counters

#[tokio::test]
async fn status_faults_fail_the_next_requests_then_stop() {
    let emu = start(Emulator::builder()).await;
    emu.fail_next(2, Fault::Status(StatusCode::SERVICE_UNAVAILABLE));
    emu.fail_next(1, Fault::Status(StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(emu.pending_faults(), 3);
    let creds = json!({"accessKeyId": emu.access_key_id(), "accessKeySecret": emu.access_key_secret().expose_secret()});
    for expected in [503, 503, 429] {
        let (status, body) = post_json(&emu, TOKEN, None, &creds).await;
        assert_eq!(status.as_u16(), expected);
        assert_eq!(body["statusCode"], expected, "{body}");
    }
    assert_eq!(emu.pending_faults(), 0);
    let (status, body) = post_json(&emu, TOKEN, None, &creds).await;
    assert_eq!(
        (status, body["statusCode"].as_u64()),
        (StatusCode::OK, Some(200))
    );
    assert_eq!(
        emu.counters().token_requests,
        4,
        "faulted requests count too"
    );
}

#[tokio::test]
async fn faults_can_target_one_operation() {
    let emu = start(Emulator::builder().user(alice())).await;
    emu.fail_next_on(
        Operation::GetOtpSecretByUser,
        1,
        Fault::Status(StatusCode::INTERNAL_SERVER_ERROR),
    );
    let t = token(&emu).await; // not affected
    let (status, _) = get_secret(&emu, &t, &[("userId", "u-alice")]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, body) = get_secret(&emu, &t, &[("userId", "u-alice")]).await;
    assert_eq!(
        (status, &body["data"]["secret"]),
        (StatusCode::OK, &json!("ALICESECRETBASE32"))
    );

    emu.fail_next(5, Fault::DropConnection);
    emu.clear_faults();
    assert_eq!(emu.pending_faults(), 0);
    assert_eq!(
        get_secret(&emu, &t, &[("userId", "u-alice")]).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_dropped_connection_gets_no_response() {
    let emu = start(Emulator::builder().user(alice())).await;
    let t = token(&emu).await;
    emu.fail_next(1, Fault::DropConnection);
    let client = http();
    let err = client
        .get(format!("{}{GET_SECRET}?userId=u-alice", emu.base_url()))
        .bearer_auth(&t)
        .header("x-authing-userpool-id", emu.user_pool_id())
        .send()
        .await
        .expect_err("the connection is closed without a response");
    assert!(err.status().is_none() && !err.is_timeout(), "{err:?}");
    assert!(err.is_request() || err.is_connect(), "{err:?}");
    // The same client carries on with a new connection.
    let resp = client
        .get(format!("{}{GET_SECRET}?userId=u-alice", emu.base_url()))
        .bearer_auth(&t)
        .header("x-authing-userpool-id", emu.user_pool_id())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(emu.counters().get_otp_secret_requests, 2);
}

#[tokio::test]
async fn a_malformed_body_is_http_200_and_not_json() {
    let emu = start(Emulator::builder()).await;
    emu.fail_next(1, Fault::MalformedBody);
    let resp = http()
        .post(format!("{}{TOKEN}", emu.base_url()))
        .json(&json!({"accessKeyId": emu.access_key_id(), "accessKeySecret": emu.access_key_secret().expose_secret()}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let text = resp.text().await.unwrap();
    assert!(!text.is_empty());
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
}

#[tokio::test]
async fn raw_faults_answer_anything() {
    let emu = start(Emulator::builder()).await;
    emu.fail_next(
        1,
        Fault::Raw {
            status: StatusCode::BAD_GATEWAY,
            content_type: "text/html".to_owned(),
            body: "<html><body>502 Bad Gateway</body></html>".to_owned(),
        },
    );
    let resp = http()
        .get(format!("{}/anything", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(resp.headers()["content-type"], "text/html");
    assert!(resp.text().await.unwrap().contains("502 Bad Gateway"));
}

#[tokio::test]
async fn latency_delays_every_response() {
    let latency = Duration::from_millis(300);
    let emu = start(Emulator::builder().latency(latency)).await;
    let started = Instant::now();
    token(&emu).await;
    assert!(started.elapsed() >= latency, "{:?}", started.elapsed());

    emu.set_latency(Duration::from_millis(150));
    emu.fail_next(1, Fault::Status(StatusCode::SERVICE_UNAVAILABLE));
    let started = Instant::now();
    let resp = http()
        .get(format!("{}{GET_SECRET}", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "faults are delayed too"
    );
}

#[tokio::test]
async fn counters_count_requests_per_operation() {
    let emu = start(Emulator::builder().user(alice())).await;
    assert_eq!(emu.counters().total(), 0);
    let t = token(&emu).await;
    for _ in 0..3 {
        get_secret(&emu, &t, &[("userId", "u-alice")]).await;
    }
    import(&emu, &t, &json!({"list": []})).await;
    get_with_headers(&emu, &[]).await; // refused, still counted
    http()
        .get(format!("{}/api/v3/nope", emu.base_url()))
        .send()
        .await
        .unwrap();

    let c = emu.counters();
    assert_eq!(c.token_requests, 1, "exactly one token request");
    assert_eq!(c.get_otp_secret_requests, 4);
    assert_eq!(c.import_otp_requests, 1);
    assert_eq!(c.otp_requests(), 5);
    assert_eq!(c.other_requests, 1);
    assert_eq!(c.total(), 7);
    emu.reset_counters();
    assert_eq!(emu.counters().total(), 0);
}

#[tokio::test]
async fn concurrent_requests_are_all_served() {
    let emu = start(Emulator::builder().user(alice())).await;
    let t = token(&emu).await;
    let client = http();
    let requests = (0..32).map(|_| {
        client
            .get(format!("{}{GET_SECRET}?userId=u-alice", emu.base_url()))
            .bearer_auth(&t)
            .header("x-authing-userpool-id", emu.user_pool_id())
            .send()
    });
    for resp in futures_join_all(requests).await {
        assert_eq!(resp.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(emu.counters().get_otp_secret_requests, 32);
}

/// `futures::future::join_all` without the dependency.
async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Routing, lifecycle, seeding, secrets

#[tokio::test]
async fn unknown_routes_answer_404_like_nestjs() {
    let emu = start(Emulator::builder()).await;
    let resp = http()
        .get(format!("{}/api/v3/list-users", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"statusCode": 404, "message": "Cannot GET /api/v3/list-users", "error": "Not Found"})
    );
    let resp = http()
        .get(format!("{}{IMPORT}", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::NOT_FOUND,
        "wrong method on a known path"
    );
}

#[tokio::test]
async fn only_loopback_addresses_are_accepted() {
    for addr in ["0.0.0.0:0", "192.0.2.10:8080", "[::]:0", "[2001:db8::1]:0"] {
        let addr: SocketAddr = addr.parse().unwrap();
        match Emulator::builder().addr(addr).start().await {
            Err(Error::NonLoopback(a)) => assert_eq!(a, addr),
            other => panic!("{addr}: {other:?}"),
        }
    }
    let emu = start(Emulator::builder().addr("127.0.0.1:0".parse().unwrap())).await;
    assert!(emu.addr().ip().is_loopback());
    assert_ne!(emu.addr().port(), 0);
    assert_eq!(
        emu.base_url(),
        format!("http://127.0.0.1:{}", emu.addr().port())
    );

    // IPv6 loopback, where the host has it.
    match Emulator::builder()
        .addr("[::1]:0".parse().unwrap())
        .start()
        .await
    {
        Ok(v6) => {
            assert_eq!(v6.base_url(), format!("http://[::1]:{}", v6.addr().port()));
            let resp = http()
                .get(format!("{}/", v6.base_url()))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        }
        Err(Error::Bind { .. }) => eprintln!("no IPv6 loopback here"),
        Err(other) => panic!("[::1]: {other}"),
    }
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let emu = start(Emulator::builder()).await;
    let url = format!("{}{TOKEN}", emu.base_url());
    emu.shutdown().await;
    let err = http().post(&url).send().await.expect_err("nobody listens");
    assert!(err.is_connect(), "{err:?}");

    let emu = start(Emulator::builder()).await;
    let addr = emu.addr();
    drop(emu);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still listening after drop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn users_can_be_seeded_from_rust_and_from_a_file() {
    let path = std::env::temp_dir().join(format!("authing-otp-seed-{}.json", std::process::id()));
    std::fs::write(
        &path,
        r#"{"users": [
            {"id": "u1", "email": "one@example.com", "phone": "+861", "username": "one",
             "externalId": "x1", "identities": [{"extIdpId": "idp", "userIdInIdp": "i1"}],
             "syncRelations": [{"provider": "wechatwork", "userIdInIdp": "w1"}],
             "customFields": {"badge": 7}, "otp": {"secret": "SEEDED1", "recoveryCode": "rc1"}},
            {"id": "u2"}
        ]}"#,
    )
    .unwrap();
    let seed = Seed::from_path(&path);
    std::fs::remove_file(&path).unwrap();
    let emu = start(Emulator::builder().seed(seed.unwrap())).await;
    let t = token(&emu).await;
    for (id, ty) in [
        ("idp:i1", "identity"),
        ("wechatwork:w1", "sync_relation"),
        ("badge:7", "custom_field"),
        ("x1", "external_id"),
    ] {
        let (_, body) = get_secret(&emu, &t, &[("userId", id), ("userIdType", ty)]).await;
        assert_eq!(body["data"]["secret"], "SEEDED1", "{ty}");
    }
    assert_eq!(
        emu.otp_of("u1")
            .unwrap()
            .recovery_code
            .unwrap()
            .expose_secret(),
        "rc1"
    );

    emu.seed_user(User::new("u3").email("three@example.com").otp("SEEDED3"))
        .unwrap();
    let (_, body) = get_secret(
        &emu,
        &t,
        &[("userId", "three@example.com"), ("userIdType", "email")],
    )
    .await;
    assert_eq!(body["data"]["secret"], "SEEDED3");

    // Unique ids stay unique.
    let err = emu
        .seed_user(User::new("u4").email("ONE@example.com"))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidUser { .. }), "{err}");
    let err = emu.seed_user(User::new("u2")).unwrap_err();
    assert!(err.to_string().contains("id is already used"), "{err}");
    let err = Emulator::builder()
        .user(User::new("a").phone("1"))
        .user(User::new("b").phone("1"))
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidUser { .. }), "{err}");

    // A missing file and a broken one are reported.
    assert!(matches!(
        Seed::from_path("/nonexistent/seed.json"),
        Err(Error::SeedRead { .. })
    ));
    let broken = Seed::from_json(r#"{"users": [{"id": "u1", "otp": {"secret": 1}}]}"#).unwrap_err();
    assert!(matches!(broken, Error::SeedParse { .. }), "{broken}");
}

#[tokio::test]
async fn secrets_never_show_in_debug_output() {
    let emu = start(
        Emulator::builder()
            .access_key_secret("super-secret-key")
            .user(alice()),
    )
    .await;
    let t = token(&emu).await;
    let direct = emu.issue_token();
    let builder = Emulator::builder()
        .access_key_secret("super-secret-key")
        .user(alice());
    for text in [
        format!("{emu:?}"),
        format!("{builder:?}"),
        format!("{:?}", alice()),
        format!("{:?}", emu.otp_of("u-alice")),
        format!("{direct:?}"),
    ] {
        for secret in [
            "super-secret-key",
            t.as_str(),
            direct.expose_secret(),
            "ALICESECRETBASE32",
            "alice-recovery",
        ] {
            assert!(!text.contains(secret), "{text}");
        }
    }
    assert!(format!("{emu:?}").contains(emu.base_url()));
}

// ---------------------------------------------------------------------------------------------
// The official SDKs' recorded requests, replayed (when ../shared is there)

/// A recording of the official SDKs, from `$AUTHING_OTP_SHARED/fixtures/peers` (`.ci/run` sets
/// it); `None` when the variable is unset, a failure when it is set and the file is missing.
fn recording(name: &str) -> Option<Vec<Value>> {
    let shared = std::env::var_os("AUTHING_OTP_SHARED")?;
    let path = std::path::Path::new(&shared)
        .join("fixtures/peers")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("AUTHING_OTP_SHARED is set but {}: {e}", path.display()));
    Some(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    )
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
async fn the_python_sdk_scenario_replays() {
    let Some(records) = recording("python.jsonl") else {
        eprintln!("AUTHING_OTP_SHARED is not set: recording replay NOT RUN");
        return;
    };
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
async fn the_node_sdk_signed_requests_are_verified() {
    let Some(records) = recording("node.jsonl") else {
        eprintln!("AUTHING_OTP_SHARED is not set: recording replay NOT RUN");
        return;
    };
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

// ---------------------------------------------------------------------------------------------
// The command

#[cfg(feature = "cli")]
mod command {
    use super::*;
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
    use tokio::process::{Child, ChildStdout, Command};

    const BIN: &str = env!("CARGO_BIN_EXE_authing-otp");
    const SECRET: &str = "cli-secret-do-not-print";

    fn command(args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("emulator")
            .args(args)
            .env("AUTHING_ACCESS_KEY_SECRET", SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// The first line of the child's stdout, and a reader for the rest (which may already be
    /// buffered in it).
    async fn first_line(child: &mut Child) -> (String, BufReader<ChildStdout>) {
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), reader.read_until(b'\n', &mut line))
            .await
            .expect("the first line comes promptly")
            .unwrap();
        (String::from_utf8(line).unwrap(), reader)
    }

    #[tokio::test]
    async fn the_command_serves_until_sigterm() {
        let seed =
            std::env::temp_dir().join(format!("authing-otp-cli-seed-{}.json", std::process::id()));
        std::fs::write(
            &seed,
            r#"[{"id": "u1", "email": "cli@example.com", "otp": {"secret": "CLISECRET"}}]"#,
        )
        .unwrap();
        let mut child = command(&[
            "--addr",
            "127.0.0.1:0",
            "--access-key-id",
            "ak-cli",
            "--user-pool-id",
            "up-cli",
            "--token-ttl",
            "90",
            "--seed",
            seed.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
        let (line, mut stdout) = first_line(&mut child).await;
        std::fs::remove_file(&seed).unwrap();
        let base = line
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line: {line:?}"))
            .to_owned();
        assert!(
            base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
            "{base}"
        );

        let resp = http()
            .post(format!("{base}{TOKEN}"))
            .json(&json!({"accessKeyId": "ak-cli", "accessKeySecret": SECRET}))
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["data"]["expires_in"], 90, "{body}");
        let token = body["data"]["access_token"].as_str().unwrap();
        assert_eq!(jwt_payload(token)["scoped_userpool_id"], "up-cli");
        let body: Value = http()
            .get(format!(
                "{base}{GET_SECRET}?userId=cli@example.com&userIdType=email"
            ))
            .bearer_auth(token)
            .header("x-authing-userpool-id", "up-cli")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["data"]["secret"], "CLISECRET");

        #[cfg(unix)]
        {
            let pid = child.id().unwrap().to_string();
            let killed = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap();
            assert!(killed.success());
            let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
                .await
                .unwrap()
                .unwrap();
            assert!(status.success(), "exits cleanly on SIGTERM: {status:?}");
        }
        #[cfg(not(unix))]
        child.kill().await.unwrap();

        let mut rest = String::new();
        stdout.read_to_string(&mut rest).await.unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut rest)
            .await
            .unwrap();
        assert!(rest.contains("user pool id: up-cli"), "{rest}");
        assert!(
            !rest.contains(SECRET) && !line.contains(SECRET),
            "the secret is never printed"
        );
    }

    #[tokio::test]
    async fn help_never_shows_the_secret() {
        let out = command(&["--help"]).output().await.unwrap();
        assert!(out.status.success());
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(help.contains("--access-key-secret"), "{help}");
        assert!(help.contains("AUTHING_ACCESS_KEY_SECRET"), "{help}");
        assert!(!help.contains(SECRET), "{help}");
        assert!(
            !help.contains(authing_otp::emulator::DEFAULT_ACCESS_KEY_SECRET),
            "{help}"
        );
    }

    #[tokio::test]
    async fn the_command_refuses_a_non_loopback_address() {
        let out = command(&["--addr", "0.0.0.0:0"]).output().await.unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains("loopback"), "{stderr}");
        assert!(out.stdout.is_empty());
    }

    #[tokio::test]
    async fn the_command_reports_a_bad_seed_file() {
        let out = command(&["--seed", "/nonexistent/seed.json"])
            .output()
            .await
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains("/nonexistent/seed.json"), "{stderr}");
    }
}

#[tokio::test]
async fn huge_lifetimes_and_skews_do_not_overflow() {
    let emu = start(
        Emulator::builder()
            .token_ttl(Duration::MAX)
            .max_clock_skew(Duration::MAX)
            .user(User::new("u1").otp("ALICESECRETBASE32")),
    )
    .await;
    let token = emu.issue_token();
    let (status, reply) = get_with_headers(
        &emu,
        &[
            (
                "authorization",
                &format!("Bearer {}", token.expose_secret()),
            ),
            ("x-authing-userpool-id", emu.user_pool_id()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
}
