//! The emulator over HTTP: validation against the fragment.

mod common;

use common::*;

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
