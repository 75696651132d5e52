//! The typed client against a loopback server: exactly what goes over the wire, token caching and
//! refresh, and every error kind.

mod common;
#[path = "support/piecemeal_server.rs"]
mod piecemeal_server;

use std::time::Duration;

use authing_otp::{ErrorKind, Lang, ManagementClient, OtpImport, UserRef};
use authing_otp_httpmock::{MockServerExt, Refusal, Throttling};
use common::*;
use httpmock::Method;
use secrecy::ExposeSecret;
use serde_json::json;

const SDK: &str = concat!("authing-otp-rust:", env!("CARGO_PKG_VERSION"));
const UA: &str = concat!("authing-otp-rust/", env!("CARGO_PKG_VERSION"));

#[tokio::test]
async fn get_secret_sends_exactly_this() {
    let wire = Wire::start().await;
    wire.token_route(7200.0, Duration::ZERO).await;
    wire.get_secret_route(|_, _| secret_ok()).await;

    let secret = client(&wire)
        .get_otp_secret_by_user(&UserRef::email("alice@example.com").unwrap())
        .await
        .unwrap();
    assert_eq!(secret.expose_secret(), OTP_SECRET);

    let seen = wire.seen();
    assert_eq!(seen.len(), 2);
    let host = format!("127.0.0.1:{}", wire.server.port());

    let token = &seen[0];
    assert_eq!(token.method, "POST");
    assert_eq!(token.target, "/api/v3/get-management-token");
    assert_eq!(
        token.header_names(),
        [
            "accept",
            "api-version",
            "content-length",
            "content-type",
            "host",
            "user-agent",
            "x-authing-sdk-version"
        ]
    );
    assert_eq!(token.header("accept"), Some("application/json"));
    assert_eq!(token.header("content-type"), Some("application/json"));
    assert_eq!(token.header("x-authing-sdk-version"), Some(SDK));
    assert_eq!(token.header("user-agent"), Some(UA));
    assert_eq!(token.header("host"), Some(host.as_str()));
    assert_eq!(
        token.body,
        format!(r#"{{"accessKeyId":"{AK}","accessKeySecret":"{SK}"}}"#)
    );

    let call = &seen[1];
    assert_eq!(call.method, "GET");
    assert_eq!(
        call.target,
        "/api/v3/get-otp-secret-by-user?userId=alice%40example.com&userIdType=email"
    );
    assert_eq!(
        call.header_names(),
        [
            "accept",
            "api-version",
            "authorization",
            "host",
            "user-agent",
            "x-authing-sdk-version",
            "x-authing-userpool-id"
        ]
    );
    assert_eq!(
        call.header("authorization"),
        Some(format!("Bearer {}", token_at(0)).as_str())
    );
    assert_eq!(call.header("x-authing-userpool-id"), Some(POOL));
    assert_eq!(call.header("x-authing-sdk-version"), Some(SDK));
    assert_eq!(call.body, "");
}

fn token_at(n: usize) -> String {
    common::token(n)
}

#[tokio::test]
async fn user_ids_are_form_encoded_and_user_id_type_is_always_sent() {
    let wire = Wire::start().await;
    wire.token_route(7200.0, Duration::ZERO).await;
    wire.get_secret_route(|_, _| secret_ok()).await;
    let client = client(&wire);

    let cases = [
        (
            UserRef::email("a b+c@x.com:é/?&=[]").unwrap(),
            "userId=a+b%2Bc%40x.com%3A%C3%A9%2F%3F%26%3D%5B%5D&userIdType=email",
        ),
        (
            UserRef::user_id("6229ffaxxxxxxxxcade3e3d9").unwrap(),
            "userId=6229ffaxxxxxxxxcade3e3d9&userIdType=user_id",
        ),
        (
            UserRef::phone("+86 13800000000").unwrap(),
            "userId=%2B86+13800000000&userIdType=phone",
        ),
        (
            UserRef::identity("62f20932716fbcc10d966ee5", "ou_8bae").unwrap(),
            "userId=62f20932716fbcc10d966ee5%3Aou_8bae&userIdType=identity",
        ),
        (
            UserRef::sync_relation("lark", "ou_8bae").unwrap(),
            "userId=lark%3Aou_8bae&userIdType=sync_relation",
        ),
        (
            UserRef::username("张三").unwrap(),
            "userId=%E5%BC%A0%E4%B8%89&userIdType=username",
        ),
        (
            UserRef::external_id("ext-1").unwrap(),
            "userId=ext-1&userIdType=external_id",
        ),
        (
            UserRef::custom_field("employee:42").unwrap(),
            "userId=employee%3A42&userIdType=custom_field",
        ),
    ];
    for (user, _) in &cases {
        client.get_otp_secret_by_user(user).await.unwrap();
    }
    let targets: Vec<String> = wire
        .seen_at("/api/v3/get-otp-secret-by-user")
        .into_iter()
        .map(|s| s.target)
        .collect();
    let expected: Vec<String> = cases
        .iter()
        .map(|(_, q)| format!("/api/v3/get-otp-secret-by-user?{q}"))
        .collect();
    assert_eq!(targets, expected);
}

#[tokio::test]
async fn import_sends_exactly_this() {
    let wire = Wire::start().await;
    wire.token_route(7200.0, Duration::ZERO).await;
    wire.route(
        Method::POST,
        "/api/v3/import-otp",
        Duration::ZERO,
        |_, _| json(200, &json!({"statusCode": 200, "message": "imported"})),
    )
    .await;

    let receipt = client(&wire)
        .import_otp([
            OtpImport::new("u1", OTP_SECRET)
                .unwrap()
                .with_recovery_code("b471-8ec0")
                .unwrap(),
            // As an authenticator app shows it: sent in canonical form.
            OtpImport::new("u2", "mzxw 6yqm zxw6 yqaa").unwrap(),
        ])
        .await
        .unwrap();
    assert_eq!(receipt.imported, 2);
    assert_eq!(receipt.message, "imported");

    let call = &wire.seen_at("/api/v3/import-otp")[0];
    assert_eq!(call.method, "POST");
    assert_eq!(call.target, "/api/v3/import-otp");
    assert_eq!(
        call.header_names(),
        [
            "accept",
            "api-version",
            "authorization",
            "content-length",
            "content-type",
            "host",
            "user-agent",
            "x-authing-sdk-version",
            "x-authing-userpool-id"
        ]
    );
    assert_eq!(call.header("content-type"), Some("application/json"));
    assert_eq!(
        call.body,
        r#"{"list":[{"otp":{"recoveryCode":"b471-8ec0","secret":"HZ2F6J3AGNAVSOTV"},"userId":"u1"},{"otp":{"secret":"MZXW6YQMZXW6YQAA"},"userId":"u2"}]}"#
    );
}

#[tokio::test]
async fn lang_tenant_and_pool_options_become_headers() {
    let wire = Wire::start().await;
    wire.token_route(7200.0, Duration::ZERO).await;
    wire.get_secret_route(|_, _| secret_ok()).await;
    let client = ManagementClient::builder()
        .access_key(AK, SK)
        // A trailing slash is tolerated.
        .host(format!("{}/", wire.url()))
        .lang(Lang::EnUs)
        .tenant_id("tenant-1")
        .user_pool_id("explicit-pool")
        .build()
        .unwrap();
    client
        .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
        .await
        .unwrap();
    for seen in wire.seen() {
        assert_eq!(
            seen.header("x-authing-lang"),
            Some("en-US"),
            "{}",
            seen.target
        );
        assert_eq!(seen.header("x-authing-app-tenant-id"), Some("tenant-1"));
        assert!(seen.target.starts_with("/api/v3/"), "{}", seen.target);
    }
    let call = &wire.seen_at("/api/v3/get-otp-secret-by-user")[0];
    assert_eq!(call.header("x-authing-userpool-id"), Some("explicit-pool"));
}

#[tokio::test]
async fn one_token_serves_many_calls() {
    let wire = Wire::start().await;
    wire.token_route(7200.0, Duration::ZERO).await;
    wire.get_secret_route(|_, _| secret_ok()).await;
    let client = client(&wire);
    let user = UserRef::user_id("u1").unwrap();
    for _ in 0..5 {
        client.get_otp_secret_by_user(&user).await.unwrap();
    }
    // Clones share the cache.
    client.clone().get_otp_secret_by_user(&user).await.unwrap();
    assert_eq!(wire.token_requests(), 1);
    assert_eq!(wire.seen_at("/api/v3/get-otp-secret-by-user").len(), 6);
}

/// Waits (at most 5 s) until the wire has seen `n` token requests, the last made in the
/// background, then asserts it saw exactly `n`.
async fn background_token_requests(wire: &Wire, n: usize) {
    for _ in 0..250 {
        if wire.token_requests() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(wire.token_requests(), n);
}

#[tokio::test]
async fn token_is_refreshed_ahead_of_expiry() {
    let wire = Wire::start().await;
    // Ten seconds of life, the shortest kept: replaced from 8 s on.
    wire.token_route(10.0, Duration::ZERO).await;
    wire.get_secret_route(|_, _| secret_ok()).await;
    let client = client(&wire);
    let user = UserRef::user_id("u1").unwrap();
    client.get_otp_secret_by_user(&user).await.unwrap();
    client.get_otp_secret_by_user(&user).await.unwrap();
    assert_eq!(wire.token_requests(), 1);
    tokio::time::sleep(Duration::from_millis(8200)).await;
    // Due for replacement but still valid: this call does not wait for the replacement, which
    // is fetched beside it (issue 16: callers with a valid token never wait).
    client.get_otp_secret_by_user(&user).await.unwrap();
    background_token_requests(&wire, 2).await;
    // Let the replacement land in the cache.
    tokio::time::sleep(Duration::from_millis(200)).await;
    client.get_otp_secret_by_user(&user).await.unwrap();
    let calls = wire.seen_at("/api/v3/get-otp-secret-by-user");
    let bearer = |n: usize| format!("Bearer {}", token_at(n));
    assert_eq!(calls[1].header("authorization"), Some(bearer(0).as_str()));
    assert_eq!(calls[2].header("authorization"), Some(bearer(0).as_str()));
    assert_eq!(calls[3].header("authorization"), Some(bearer(1).as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_first_calls_share_one_token_request() {
    let wire = Wire::start().await;
    // A slow token endpoint, so that every caller arrives while the first fetch is in flight.
    wire.token_route(7200.0, Duration::from_millis(300)).await;
    wire.get_secret_route(|_, _| secret_ok()).await;
    let client = client(&wire);
    let calls = (0..64).map(|i| {
        let client = client.clone();
        tokio::spawn(async move {
            let user = UserRef::user_id(format!("u{i}")).unwrap();
            client.get_otp_secret_by_user(&user).await
        })
    });
    for call in calls.collect::<Vec<_>>() {
        call.await.unwrap().unwrap();
    }
    assert_eq!(wire.token_requests(), 1);
    assert_eq!(wire.seen_at("/api/v3/get-otp-secret-by-user").len(), 64);
}

async fn rejected_once(first: impl Fn() -> httpmock::HttpMockResponse + Send + Sync + 'static) {
    let wire = Wire::start().await;
    wire.token_route(7200.0, Duration::ZERO).await;
    wire.get_secret_route(move |n, _| if n == 0 { first() } else { secret_ok() })
        .await;
    let secret = client(&wire)
        .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
        .await
        .unwrap();
    assert_eq!(secret.expose_secret(), OTP_SECRET);
    assert_eq!(wire.token_requests(), 2);
    let calls = wire.seen_at("/api/v3/get-otp-secret-by-user");
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[1].header("authorization"),
        Some(format!("Bearer {}", token_at(1)).as_str())
    );
    assert_eq!(calls[0].target, calls[1].target);
}

#[tokio::test]
async fn http_401_refreshes_the_token_and_retries_once() {
    rejected_once(|| json(401, &json!({"statusCode": 401, "message": "token expired"}))).await;
}

#[tokio::test]
async fn status_code_401_in_a_200_body_refreshes_and_retries_once() {
    rejected_once(|| json(200, &json!({"statusCode": 401, "message": "token expired"}))).await;
}

#[tokio::test]
async fn import_is_retried_with_the_same_body_after_a_401() {
    let wire = Wire::start().await;
    wire.token_route(7200.0, Duration::ZERO).await;
    wire.route(
        Method::POST,
        "/api/v3/import-otp",
        Duration::ZERO,
        |n, _| {
            let code = if n == 0 { 401 } else { 200 };
            json(200, &json!({"statusCode": code, "message": "m"}))
        },
    )
    .await;
    client(&wire)
        .import_otp([OtpImport::new("u1", OTP_SECRET).unwrap()])
        .await
        .unwrap();
    let calls = wire.seen_at("/api/v3/import-otp");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].body, calls[1].body);
    assert!(calls[1].body.contains(OTP_SECRET));
}

#[tokio::test]
async fn a_second_rejection_is_an_error() {
    let wire = Wire::start().await;
    wire.token_route(7200.0, Duration::ZERO).await;
    wire.get_secret_route(|_, _| {
        json(
            401,
            &json!({"statusCode": 401, "apiCode": 2020, "message": "no", "requestId": "r-1"}),
        )
    })
    .await;
    let err = client(&wire)
        .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert!(
        matches!(err, authing_otp::Error::Unauthenticated { .. }),
        "{err:?}"
    );
    assert_eq!(err.api_code(), Some(2020));
    assert_eq!(err.request_id(), Some("r-1"));
    assert_eq!(err.http_status(), Some(401));
    assert!(!err.is_retryable());
    assert_eq!(wire.token_requests(), 2);
    assert_eq!(wire.seen_at("/api/v3/get-otp-secret-by-user").len(), 2);
}

#[tokio::test]
async fn business_error_in_a_200_body_is_an_api_error() {
    let wire = Wire::start().await;
    wire.token_route(7200.0, Duration::ZERO).await;
    let nobody = UserRef::email("nobody@example.com").unwrap();
    let refused = wire.server.get_otp_secret_by_user(|when, then| {
        when.user(&nobody);
        then.refused(
            &Refusal::new(400, "user not found")
                .api_code(2004)
                .request_id("req-9"),
        );
    });
    let err = client(&wire)
        .get_otp_secret_by_user(&nobody)
        .await
        .unwrap_err();
    refused.assert();
    let api = err.api_error().expect("an API error").clone();
    assert_eq!(err.kind(), ErrorKind::Api);
    assert_eq!(
        (
            api.http_status,
            api.status_code,
            api.api_code,
            api.message.as_str()
        ),
        (200, 400, Some(2004), "user not found")
    );
    assert_eq!(api.request_id.as_deref(), Some("req-9"));
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "the Authing API said no: statusCode 400, apiCode 2004: user not found (requestId req-9)"
    );
}

#[tokio::test]
async fn rate_limiting_is_a_retryable_api_error() {
    let wire = Wire::start().await;
    wire.token_route(7200.0, Duration::ZERO).await;
    let throttled = wire.server.get_otp_secret_by_user(|_, then| {
        then.throttled(&Throttling::http_429());
    });
    let err = client(&wire)
        .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Api);
    assert_eq!(err.http_status(), Some(429));
    assert_eq!(err.status_code(), Some(429));
    assert!(err.is_retryable());
    // The first attempt and the default configuration's retries.
    assert!(throttled.calls() > 1);
}

#[tokio::test]
async fn html_500_is_an_unexpected_response_with_an_excerpt() {
    let wire = Wire::start().await;
    wire.token_route(7200.0, Duration::ZERO).await;
    wire.get_secret_route(|_, _| {
        raw(
            500,
            "text/html",
            "<html><body>Internal Server Error</body></html>",
        )
    })
    .await;
    let err = client(&wire)
        .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnexpectedResponse);
    assert_eq!(err.http_status(), Some(500));
    let text = err.to_string();
    assert!(
        text.contains("HTTP 500") && text.contains("Internal Server Error"),
        "{text}"
    );
    assert!(err.is_retryable(), "a 5xx is transient, JSON body or not");
}

#[tokio::test]
async fn a_200_answer_that_is_not_the_promised_json_is_unexpected() {
    for body in [
        "not json at all",
        r#"{"statusCode":200,"message":"ok"}"#,
        r#"{"statusCode":200,"message":"ok","data":{"secret":42}}"#,
    ] {
        let wire = Wire::start().await;
        wire.token_route(7200.0, Duration::ZERO).await;
        wire.get_secret_route(move |_, _| raw(200, "application/json", body))
            .await;
        let err = client(&wire)
            .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedResponse, "{body}: {err}");
        assert_eq!(err.http_status(), Some(200));
    }
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let wire = Wire::start().await;
    wire.token_route(7200.0, Duration::ZERO).await;
    wire.route(
        Method::GET,
        "/api/v3/get-otp-secret-by-user",
        Duration::from_secs(3),
        |_, _| secret_ok(),
    )
    .await;
    let client = ManagementClient::builder()
        .access_key(AK, SK)
        .host(wire.url())
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = client
        .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn the_timeout_also_bounds_a_caller_supplied_client() {
    let wire = Wire::start().await;
    wire.route(
        Method::POST,
        "/api/v3/get-management-token",
        Duration::from_secs(3),
        |_, _| secret_ok(),
    )
    .await;
    let client = ManagementClient::builder()
        .access_key(AK, SK)
        .host(wire.url())
        .http_client(
            authing_otp::tls::http_client_builder()
                .unwrap()
                .build()
                .unwrap(),
        )
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = client
        .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
        .await
        .unwrap_err();
    // The token error keeps its cause's kind: a timeout, not a refused key pair.
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        err.is_retryable(),
        "a token request that timed out may be retried"
    );
    assert!(err.to_string().contains("could not be reached"), "{err}");
}

#[tokio::test]
async fn a_closed_port_is_a_transport_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = ManagementClient::builder()
        .access_key(AK, SK)
        .host(format!("http://127.0.0.1:{port}"))
        .build()
        .unwrap();
    let err = client
        .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    match &err {
        authing_otp::Error::Token { source, .. } => {
            assert_eq!(source.as_deref().unwrap().kind(), ErrorKind::Transport)
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_retryable());
}

async fn token_failure(answer: httpmock::HttpMockResponse) -> (authing_otp::Error, Wire) {
    let wire = Wire::start().await;
    let answer = std::sync::Arc::new(answer);
    wire.route(
        Method::POST,
        "/api/v3/get-management-token",
        Duration::ZERO,
        move |_, _| (*answer).clone(),
    )
    .await;
    wire.get_secret_route(|_, _| secret_ok()).await;
    let err = client(&wire)
        .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, authing_otp::Error::Token { .. }), "{err:?}");
    assert!(!err.display_chain().contains(SK), "{err}");
    assert!(!format!("{err:?}").contains(SK), "{err:?}");
    assert!(wire.seen_at("/api/v3/get-otp-secret-by-user").is_empty());
    (err, wire)
}

#[tokio::test]
async fn token_failures_name_their_cause() {
    let (err, _) = token_failure(json(
        200,
        &json!({"statusCode": 400, "apiCode": 1001, "message": "invalid access key", "requestId": "t-1"}),
    ))
    .await;
    // Each part says its own piece once; the cause is the source.
    assert_eq!(
        err.display_chain(),
        "could not obtain a management token: the token endpoint refused the access key pair: \
         the Authing API said no: statusCode 400, apiCode 1001: invalid access key (requestId t-1)"
    );
    assert_eq!(
        err.to_string(),
        "could not obtain a management token: the token endpoint refused the access key pair"
    );
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert_eq!(err.api_code(), Some(1001));
    assert!(!err.is_retryable());

    let (err, _) = token_failure(raw(500, "text/html", "<html>oops</html>")).await;
    assert!(err.display_chain().contains("HTTP 500"), "{err}");
    assert_eq!(
        err.kind(),
        ErrorKind::UnexpectedResponse,
        "keeps its cause's kind"
    );
    assert!(err.is_retryable());

    let (err, _) = token_failure(json(
        200,
        &json!({"statusCode": 200, "message": "ok", "data": {"expires_in": 7200}}),
    ))
    .await;
    assert!(
        err.display_chain().contains("missing field `access_token`"),
        "{err}"
    );

    let (err, _) = token_failure(json(
        200,
        &json!({"statusCode": 200, "message": "ok", "data": {"access_token": "", "expires_in": 7200}}),
    ))
    .await;
    assert!(err.to_string().contains("without an access_token"), "{err}");

    let (err, _) = token_failure(json(
        200,
        &json!({"statusCode": 200, "message": "ok", "data": {"access_token": "opaque", "expires_in": 7200}}),
    ))
    .await;
    assert!(err.to_string().contains("scoped_userpool_id"), "{err}");
}

#[tokio::test]
async fn an_opaque_token_works_with_an_explicit_pool_id() {
    let wire = Wire::start().await;
    let token = wire.server.get_management_token(|when, then| {
        when.access_key(AK, SK);
        then.token("opaque", 7200);
    });
    wire.get_secret_route(|_, _| secret_ok()).await;
    ManagementClient::builder()
        .access_key(AK, SK)
        .host(wire.url())
        .user_pool_id("pool-9")
        .build()
        .unwrap()
        .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
        .await
        .unwrap();
    let call = &wire.seen_at("/api/v3/get-otp-secret-by-user")[0];
    assert_eq!(call.header("authorization"), Some("Bearer opaque"));
    assert_eq!(call.header("x-authing-userpool-id"), Some("pool-9"));
    token.assert();
}

#[tokio::test]
async fn invalid_input_is_refused_before_anything_is_sent() {
    let wire = Wire::start().await;
    wire.token_route(7200.0, Duration::ZERO).await;
    let client = client(&wire);

    let err = client
        .import_otp(Vec::<OtpImport>::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "invalid input: list: must contain at least one item"
    );

    let items = [
        OtpImport::new("u1", OTP_SECRET).unwrap(),
        OtpImport::new("u2", OTP_SECRET).unwrap(),
        OtpImport::new("u1", "MZXW6YQMZXW6YQAA").unwrap(),
    ];
    let err = client.import_otp(items).await.unwrap_err();
    match &err {
        authing_otp::Error::InvalidInput { 0: input, .. } => {
            assert_eq!((input.item(), input.field()), (Some(2), "userId"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "invalid input: item 2: userId: names the same user as item 0"
    );
    assert!(wire.seen().is_empty());
}

#[tokio::test]
async fn nothing_secret_shows_in_debug_or_display() {
    let wire = Wire::start().await;
    wire.token_route(7200.0, Duration::ZERO).await;
    wire.get_secret_route(|_, _| secret_ok()).await;
    let builder = ManagementClient::builder()
        .access_key(AK, SK)
        .host(wire.url());
    let builder_debug = format!("{builder:?}");
    let client = builder.build().unwrap();
    let secret = client
        .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
        .await
        .unwrap();
    let item = OtpImport::new("u1", OTP_SECRET)
        .unwrap()
        .with_recovery_code("b471-8ec0")
        .unwrap();
    // The client, after a token is cached, its builder, the secret and an import item.
    let shown = [
        format!("{client:?}"),
        format!("{client:#?}"),
        builder_debug,
        format!("{secret:?}"), // no Display: it does not compile (a doc test checks)
        format!("{item:?}"),
    ];
    for text in &shown {
        for needle in [SK, OTP_SECRET, "b471-8ec0", &token_at(0)] {
            assert!(!text.contains(needle), "{needle} shows in {text}");
        }
    }
    assert!(
        shown[0].contains(AK),
        "the access key id is not secret: {}",
        shown[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_queued_behind_a_failed_token_request_share_its_error() {
    let wire = Wire::start().await;
    // Slower than the timeout: the one attempt times out (retries are off to count it).
    let token_mock = wire.token_route(7200.0, Duration::from_secs(2)).await;
    wire.get_secret_route(|_, _| secret_ok()).await;
    let client = ManagementClient::builder()
        .access_key(AK, SK)
        .host(wire.url())
        .timeout(Duration::from_millis(300))
        .retry(authing_otp::RetryConfig::disabled())
        .build()
        .unwrap();
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let user = UserRef::user_id(format!("u{i}")).unwrap();
                client.get_otp_secret_by_user(&user).await
            })
        })
        .collect();
    for call in calls {
        let err = call.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(err.is_retryable(), "{err}");
        assert!(err.to_string().contains("could not be reached"), "{err}");
    }
    assert_eq!(token_mock.calls_async().await, 1, "one attempt, shared");
    // The next call tries again.
    let _ = client
        .get_otp_secret_by_user(&UserRef::user_id("u").unwrap())
        .await;
    assert_eq!(token_mock.calls_async().await, 2);
}

#[tokio::test]
async fn an_absurd_expires_in_is_capped_not_a_panic() {
    let wire = Wire::start().await;
    wire.token_route(1e30, Duration::ZERO).await;
    wire.get_secret_route(|_, _| secret_ok()).await;
    let client = client(&wire);
    let user = UserRef::user_id("u1").unwrap();
    client.get_otp_secret_by_user(&user).await.unwrap();
    client.get_otp_secret_by_user(&user).await.unwrap();
    assert_eq!(wire.token_requests(), 1);
}

#[tokio::test]
async fn a_failed_early_refresh_keeps_the_unexpired_token_in_service() {
    let wire = Wire::start().await;
    // The first token lives 10 s (replaced from 8 s on); every later token request fails.
    wire.route(
        Method::POST,
        "/api/v3/get-management-token",
        Duration::ZERO,
        |n, _| {
            if n == 0 {
                json(
                    200,
                    &json!({"statusCode": 200, "message": "ok",
                            "data": {"access_token": token_at(0), "expires_in": 10}}),
                )
            } else {
                raw(503, "text/html", "<html>maintenance</html>")
            }
        },
    )
    .await;
    wire.get_secret_route(|_, _| secret_ok()).await;
    // Without retries, so that each refresh is one token request.
    let client = ManagementClient::builder()
        .access_key(AK, SK)
        .host(wire.url())
        .retry(authing_otp::RetryConfig::disabled())
        .build()
        .unwrap();
    let user = UserRef::user_id("u1").unwrap();
    client.get_otp_secret_by_user(&user).await.unwrap();
    tokio::time::sleep(Duration::from_millis(8200)).await;
    // Due for replacement, the replacement fails, the current token still serves.
    client.get_otp_secret_by_user(&user).await.unwrap();
    background_token_requests(&wire, 2).await;
    let calls = wire.seen_at("/api/v3/get-otp-secret-by-user");
    assert_eq!(
        calls[1].header("authorization"),
        Some(format!("Bearer {}", token_at(0)).as_str())
    );
}

#[tokio::test]
async fn every_retry_is_signed_afresh_on_the_wire() {
    let wire = Wire::start().await;
    wire.get_secret_route(|n, _| {
        if n < 2 {
            json(503, &json!({"statusCode": 503, "message": "maintenance"}))
        } else {
            secret_ok()
        }
    })
    .await;
    let client = ManagementClient::builder()
        .access_key(AK, SK)
        .host(wire.url())
        .auth(authing_otp::AuthScheme::Signature)
        .build()
        .unwrap();
    client
        .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
        .await
        .unwrap();
    let seen = wire.seen_at("/api/v3/get-otp-secret-by-user");
    assert_eq!(seen.len(), 3);
    let nonces: std::collections::HashSet<_> = seen
        .iter()
        .map(|s| s.header("x-authing-signature-nonce").unwrap().to_owned())
        .collect();
    let signatures: std::collections::HashSet<_> = seen
        .iter()
        .map(|s| s.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!((nonces.len(), signatures.len()), (3, 3), "{seen:?}");
    // And each signature is right for its own nonce and date.
    for s in &seen {
        let headers: Vec<(&str, &str)> = s
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let (path, query) = s.target.split_once('?').unwrap();
        let params = authing_otp::signing::params_from_query(query);
        let text = authing_otp::signing::string_to_sign("GET", path, headers, &params);
        let expected = format!("authing {AK}:{}", authing_otp::signing::sign(SK, &text));
        assert_eq!(s.header("authorization"), Some(expected.as_str()));
    }
}

#[tokio::test]
async fn a_redirect_followed_by_a_caller_supplied_client_is_refused() {
    let wire = Wire::start().await;
    let target = Wire::start().await;
    target.token_route(7200.0, Duration::ZERO).await;
    let location = format!("{}/api/v3/get-management-token", target.url());
    wire.route(
        Method::POST,
        "/api/v3/get-management-token",
        Duration::ZERO,
        move |_, _| {
            httpmock::HttpMockResponse::builder()
                .status(307)
                .header("location", location.clone())
                .build()
        },
    )
    .await;
    // A client of the caller's that follows redirects (reqwest's default).
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        )
        .build()
        .unwrap();
    let client = ManagementClient::builder()
        .access_key(AK, SK)
        .host(wire.url())
        .http_client(http)
        .build()
        .unwrap();
    let err = client
        .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Redirect, "{}", err.display_chain());
    assert!(
        err.display_chain().contains(&target.url()),
        "{}",
        err.display_chain()
    );
}

// Issue 15: what a hostile or broken server can make the client do, and what the client says
// about it.

/// A client that signs its requests, so that the server sees no token request, and retries at
/// once unless told to wait.
fn signing_client(url: &str, retry: authing_otp::RetryConfig) -> ManagementClient {
    ManagementClient::builder()
        .access_key(AK, SK)
        .host(url)
        .auth(authing_otp::AuthScheme::Signature)
        .retry(retry)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_retry_after_too_large_to_read_is_the_longest_wait() {
    const CAP: Duration = Duration::from_millis(400);
    for value in [
        "99999999999999999999",
        "1e9",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ] {
        let wire = Wire::start().await;
        let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = answered.clone();
        wire.get_secret_route(move |n, _| {
            log.lock().unwrap().push(std::time::Instant::now());
            if n == 0 {
                httpmock::HttpMockResponse::builder()
                    .status(429)
                    .header("content-type", "application/json")
                    .header("retry-after", value)
                    .body(r#"{"statusCode":429,"message":"slow down"}"#)
                    .build()
            } else {
                secret_ok()
            }
        })
        .await;
        // Without a usable Retry-After the retry would go at once.
        let retry = authing_otp::RetryConfig::default()
            .initial_backoff(Duration::ZERO)
            .max_backoff(CAP)
            .budget(false);
        signing_client(&wire.url(), retry)
            .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
            .await
            .unwrap();
        let at = answered.lock().unwrap().clone();
        assert_eq!(at.len(), 2, "{value}");
        let waited = at[1] - at[0];
        assert!(waited >= CAP, "{value}: retried after {waited:?}");
    }
}

#[tokio::test]
async fn a_status_code_that_is_not_a_whole_number_is_not_shown_as_another() {
    for (http, body, says) in [
        (
            200,
            json!({"statusCode": 200.5, "message": "ok", "data": {"secret": OTP_SECRET}}),
            "the body's statusCode is not a whole number",
        ),
        (
            200,
            json!({"statusCode": 503.5, "message": "busy"}),
            "the body's statusCode is not a whole number",
        ),
        (
            400,
            json!({"statusCode": 400, "apiCode": 2004.25, "message": "no such user"}),
            "the body's apiCode is not a whole number",
        ),
        (
            200,
            json!({"statusCode": 1e300, "message": "huge"}),
            "the body's statusCode is too large to be a code",
        ),
        (
            200,
            json!({"statusCode": 9007199254740993u64, "message": "2^53 + 1"}),
            "the body's statusCode is too large to be a code",
        ),
    ] {
        let wire = Wire::start().await;
        let answer = body.clone();
        wire.get_secret_route(move |_, _| json(http, &answer)).await;
        let err = signing_client(&wire.url(), authing_otp::RetryConfig::default())
            .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
            .await
            .unwrap_err();
        let text = err.display_chain();
        assert_eq!(err.kind(), ErrorKind::UnexpectedResponse, "{body}: {text}");
        assert_eq!(err.http_status(), Some(http));
        assert!(text.contains(says), "{body}: {text}");
        // The number as it came is in the excerpt; never another one as the code.
        assert!(!text.contains("said no"), "{body}: {text}");
        assert!(!err.is_retryable(), "{body}");
        assert_eq!(
            wire.seen_at("/api/v3/get-otp-secret-by-user").len(),
            1,
            "not retried: {body}"
        );
    }
    let text = {
        let wire = Wire::start().await;
        wire.get_secret_route(|_, _| json(200, &json!({"statusCode": 200.5, "message": "m"})))
            .await;
        signing_client(&wire.url(), authing_otp::RetryConfig::disabled())
            .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
            .await
            .unwrap_err()
            .to_string()
    };
    assert!(text.contains(r#""statusCode":200.5"#), "{text}");
}

#[tokio::test]
async fn a_token_answer_with_a_fractional_status_code_is_not_a_refused_key_pair() {
    let wire = Wire::start().await;
    wire.route(
        Method::POST,
        "/api/v3/get-management-token",
        Duration::ZERO,
        |_, _| {
            json(
                200,
                &json!({"statusCode": 401.5, "message": "ok",
                        "data": {"access_token": token_at(0), "expires_in": 7200}}),
            )
        },
    )
    .await;
    let err = client(&wire)
        .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
        .await
        .unwrap_err();
    let text = err.display_chain();
    assert_eq!(err.kind(), ErrorKind::UnexpectedResponse, "{text}");
    assert!(text.contains("answer could not be used"), "{text}");
    assert!(!text.contains("refused the access key pair"), "{text}");
    assert!(!text.contains(&token_at(0)), "{text}");
    assert!(wire.seen_at("/api/v3/get-otp-secret-by-user").is_empty());
}

#[tokio::test]
async fn a_3xx_that_is_not_a_redirect_is_an_unexpected_response() {
    for (status, says) in [
        (
            304,
            "unexpected response (HTTP 304): 304 Not Modified, which this client never asks for",
        ),
        (
            300,
            "(HTTP 300): 300 Multiple Choices, which is not a redirect",
        ),
        (305, "(HTTP 305): 305 Use Proxy, which is not a redirect"),
        (
            306,
            "(HTTP 306): 306 (an unassigned 3xx status), which is not a redirect",
        ),
        (
            399,
            "(HTTP 399): 399 (an unassigned 3xx status), which is not a redirect",
        ),
    ] {
        let wire = Wire::start().await;
        wire.get_secret_route(move |_, _| {
            httpmock::HttpMockResponse::builder()
                .status(status)
                .header("location", "https://elsewhere.example/x")
                .build()
        })
        .await;
        let err = signing_client(&wire.url(), authing_otp::RetryConfig::default())
            .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
            .await
            .unwrap_err();
        let text = err.display_chain();
        assert_eq!(
            err.kind(),
            ErrorKind::UnexpectedResponse,
            "{status}: {text}"
        );
        assert_eq!(err.http_status(), Some(status));
        assert!(text.contains(says), "{status}: {text}");
        if status == 304 {
            assert_eq!(text, says);
        }
        assert!(!text.contains("redirecting"), "{text}");
        assert!(!err.is_retryable());
        assert_eq!(wire.seen_at("/api/v3/get-otp-secret-by-user").len(), 1);
    }
}

#[tokio::test]
async fn a_redirect_without_a_usable_location_says_so() {
    for (status, location) in [
        (302, None),
        (301, Some("https://exa mple.example/")),
        (307, Some("ftp://files.example/x")),
        (308, Some("http://[::1")),
    ] {
        let wire = Wire::start().await;
        wire.get_secret_route(move |_, _| {
            let mut answer = httpmock::HttpMockResponse::builder().status(status);
            if let Some(location) = location {
                answer = answer.header("location", location);
            }
            answer.build()
        })
        .await;
        let err = signing_client(&wire.url(), authing_otp::RetryConfig::default())
            .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Redirect, "{status}");
        assert_eq!(
            err.to_string(),
            format!(
                "the server answered HTTP {status}, a redirect without a usable location; \
                 redirects are not followed"
            )
        );
        assert_eq!(wire.seen_at("/api/v3/get-otp-secret-by-user").len(), 1);
    }
}

#[tokio::test]
async fn user_ids_up_to_the_maximum_are_sent_and_longer_ones_refused_before_sending() {
    let wire = Wire::start().await;
    wire.token_route(7200.0, Duration::ZERO).await;
    wire.get_secret_route(|_, _| secret_ok()).await;
    wire.route(
        Method::POST,
        "/api/v3/import-otp",
        Duration::ZERO,
        |_, _| json(200, &json!({"statusCode": 200, "message": "ok"})),
    )
    .await;
    let client = client(&wire);
    let max = UserRef::MAX_USER_ID_BYTES;
    assert_eq!(max, 1024);
    let longest = format!("{}@x.example", "é".repeat((max - 10) / 2));
    assert_eq!(longest.len(), max);
    client
        .get_otp_secret_by_user(&UserRef::email(&longest).unwrap())
        .await
        .unwrap();
    let seen = &wire.seen_at("/api/v3/get-otp-secret-by-user")[0];
    let (_, query) = seen.target.split_once('?').unwrap();
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert!(
        params.contains(&("userId".to_owned(), longest.clone())),
        "{params:?}"
    );
    client
        .import_otp([OtpImport::new("a".repeat(max), OTP_SECRET).unwrap()])
        .await
        .unwrap();
    let body: serde_json::Value =
        serde_json::from_str(&wire.seen_at("/api/v3/import-otp")[0].body).unwrap();
    assert_eq!(body["list"][0]["userId"], "a".repeat(max));

    // One byte more, or the 120 KB of the issue, is refused where it is made.
    let sent = wire.seen().len();
    for long in [
        format!("{longest}a"),
        format!("{}@x", "a".repeat(120 * 1024)),
    ] {
        let err = authing_otp::Error::from(UserRef::email(&long).unwrap_err());
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            err.to_string(),
            format!(
                "invalid input: userId: too long: {} bytes; at most 1024",
                long.len()
            )
        );
        let err = OtpImport::new(long.clone(), OTP_SECRET).unwrap_err();
        assert_eq!(err.field(), "userId");
    }
    assert_eq!(wire.seen().len(), sent, "nothing more was sent");
}

#[tokio::test]
async fn a_token_said_to_live_a_nanosecond_is_kept_ten_seconds() {
    let wire = Wire::start().await;
    wire.token_route(1e-9, Duration::ZERO).await;
    wire.get_secret_route(|_, _| secret_ok()).await;
    let client = client(&wire);
    let user = UserRef::user_id("u1").unwrap();
    for _ in 0..20 {
        client.get_otp_secret_by_user(&user).await.unwrap();
    }
    assert_eq!(wire.token_requests(), 1, "one token, not one per call");
    let calls = wire.seen_at("/api/v3/get-otp-secret-by-user");
    assert_eq!(calls.len(), 20);
    let bearer = format!("Bearer {}", token_at(0));
    assert!(
        calls
            .iter()
            .all(|c| c.header("authorization") == Some(bearer.as_str()))
    );
}

#[tokio::test]
async fn an_answer_in_a_quarter_million_one_byte_pieces_is_refused_after_1024() {
    const BYTES: usize = 256 * 1024;
    // All of it within about 4 s: a client reading it all would see it finish.
    let server =
        piecemeal_server::PiecemealServer::start(BYTES, 256, Duration::from_millis(4)).await;
    let client = ManagementClient::builder()
        .access_key(AK, SK)
        .host(server.url())
        .auth(authing_otp::AuthScheme::Signature)
        // Long enough not to be what stops it.
        .timeout(Duration::from_secs(60))
        .retry(authing_otp::RetryConfig::default().call_timeout(Duration::from_secs(120)))
        .build()
        .unwrap();
    let err = client
        .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnexpectedResponse, "{err}");
    assert_eq!(
        err.to_string(),
        "unexpected response (HTTP 200): the answer arrived in more than 1024 pieces, where any \
         answer of this operation takes a few"
    );
    assert!(!err.is_retryable());
    // The client hung up long before the end: the server could not write it all.
    let mut waited = Duration::ZERO;
    while !server.sent().iter().all(|s| s.over()) && waited < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    let sent = server.sent();
    assert_eq!(sent.len(), 1, "not retried: {sent:?}");
    assert!(sent[0].hung_up && !sent[0].finished, "{sent:?}");
    assert!(sent[0].chunks < BYTES, "{sent:?}");
}

#[tokio::test]
async fn the_attempt_timeout_covers_an_answer_that_trickles_in_pieces() {
    // 1024 pieces would take 50 s at this pace: the timeout stops it first.
    let server = piecemeal_server::PiecemealServer::start(1000, 1, Duration::from_millis(50)).await;
    let client = ManagementClient::builder()
        .access_key(AK, SK)
        .host(server.url())
        .auth(authing_otp::AuthScheme::Signature)
        .timeout(Duration::from_millis(500))
        .retry(authing_otp::RetryConfig::disabled())
        .build()
        .unwrap();
    let err = client
        .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{}", err.display_chain());
    assert_eq!(err.to_string(), "the request timed out");
    assert!(server.sent()[0].chunks < 1000, "{:?}", server.sent());
}
