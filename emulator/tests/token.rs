//! The emulator over HTTP: token endpoint.

mod common;

use common::*;

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
