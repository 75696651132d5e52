//! The emulator over HTTP: authentication.

mod common;

use common::*;

#[track_caller]
fn unauthorized(reply: &(StatusCode, Value), http_status: StatusCode, api_code: i64) {
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
