//! The emulator over HTTP: importOtp.

mod common;

use common::*;

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
