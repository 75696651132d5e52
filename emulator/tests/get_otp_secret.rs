//! The emulator over HTTP: getOtpSecretByUser.

mod common;

use common::*;

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
