//! Every helper against the real client: what the client sends matches, and what the stubs
//! answer is what the client makes of Authing's answers.

use std::{
    io::{Read, Write},
    time::Duration,
};

use authing_otp::{
    AuthScheme, ErrorKind, ExposeSecret, ManagementClient, OtpImport, RetryConfig, UserRef,
};
use authing_otp_httpmock::{MockServerExt, Refusal, Throttling, httpmock::MockServer};

const AK: &str = "ak-test";
const SK: &str = "sk-test-SECRET";
const POOL: &str = "up-test-1";
const SECRET: &str = "JBSWY3DPEHPK3PXP";

/// A client in token mode, retrying at once (no backoff, no budget).
fn client(server: &MockServer) -> ManagementClient {
    ManagementClient::builder()
        .access_key(AK, SK)
        .host(server.base_url())
        .retry(quick_retries())
        .build()
        .unwrap()
}

fn quick_retries() -> RetryConfig {
    RetryConfig::default()
        .initial_backoff(Duration::ZERO)
        .max_backoff(Duration::from_millis(50))
        .budget(false)
}

async fn token_route(server: &MockServer) -> authing_otp_httpmock::httpmock::Mock<'_> {
    server.get_management_token(|when, then| {
        when.access_key(AK, SK);
        then.pool_token(POOL, 7200);
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_for_each_kind_of_user_is_matched_and_read() {
    let server = MockServer::start_async().await;
    let token = token_route(&server).await;
    let client = client(&server);
    let users = [
        UserRef::email("a b+c@x.com:é/?&=[]").unwrap(),
        UserRef::user_id("6229ffaxxxxxxxxcade3e3d9").unwrap(),
        UserRef::phone("+86 13800000000").unwrap(),
        UserRef::identity("62f20932716fbcc10d966ee5", "ou_8bae").unwrap(),
        UserRef::sync_relation("lark", "ou_8bae").unwrap(),
        UserRef::username("张三").unwrap(),
        UserRef::external_id("ext-1").unwrap(),
        UserRef::custom_field("employee:42").unwrap(),
    ];
    for user in &users {
        let mock = server.get_otp_secret_by_user(|when, then| {
            when.user(user);
            then.secret(SECRET);
        });
        let secret = client.get_otp_secret_by_user(user).await.unwrap();
        assert_eq!(secret.expose_secret(), SECRET, "{user:?}");
        mock.assert();
    }
    // One token served every call.
    token.assert_calls(1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_matcher_does_not_match_another_user() {
    let server = MockServer::start_async().await;
    token_route(&server).await;
    let alice = server.get_otp_secret_by_user(|when, then| {
        when.user(&UserRef::email("alice@example.com").unwrap());
        then.secret(SECRET);
    });
    // Same id, another type: no match (httpmock answers 404, which the client reports).
    let err = client(&server)
        .get_otp_secret_by_user(&UserRef::username("alice@example.com").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(404));
    alice.assert_calls(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_in_a_200_is_a_typed_api_error() {
    let server = MockServer::start_async().await;
    token_route(&server).await;
    let nobody = UserRef::email("nobody@example.com").unwrap();
    let mock = server.get_otp_secret_by_user(|when, then| {
        when.user(&nobody);
        then.refused(
            &Refusal::new(404, "user not found")
                .api_code(2004)
                .request_id("req-9"),
        );
    });
    let err = client(&server)
        .get_otp_secret_by_user(&nobody)
        .await
        .unwrap_err();
    mock.assert();
    assert_eq!(err.kind(), ErrorKind::Api);
    assert!(err.is_not_found());
    assert_eq!(err.http_status(), Some(200));
    assert_eq!(err.status_code(), Some(404));
    assert_eq!(err.api_code(), Some(2004));
    assert_eq!(err.request_id(), Some("req-9"));
    assert_eq!(err.api_error().unwrap().message, "user not found");
    assert!(!err.is_retryable());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_of_the_import_and_one_in_another_http_status() {
    let server = MockServer::start_async().await;
    token_route(&server).await;
    let import = server.import_otp(|_, then| {
        then.refused(&Refusal::new(400, "secret is not base32"));
    });
    let err = client(&server)
        .import_otp([OtpImport::new("u1", SECRET).unwrap()])
        .await
        .unwrap_err();
    import.assert();
    assert_eq!(err.status_code(), Some(400));
    assert_eq!(err.api_code(), None);
    assert_eq!(err.request_id(), None);
    assert!(!err.is_not_found());

    // A 401 refreshes the token and tries once more, then gives up.
    let server = MockServer::start_async().await;
    let token = token_route(&server).await;
    let rejected = server.get_otp_secret_by_user(|_, then| {
        then.refused(&Refusal::new(401, "token expired").http_status(401));
    });
    let err = client(&server)
        .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert_eq!(err.http_status(), Some(401));
    rejected.assert_calls(2);
    token.assert_calls(2);
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_in_both_styles_is_retried_then_answered() {
    let styles = [
        Throttling::http_429(),
        Throttling::http_429().retry_after(Duration::from_secs(1)),
        Throttling::in_200(),
        Throttling::in_200().retry_after(Duration::from_secs(1)),
    ];
    for style in styles {
        let server = MockServer::start_async().await;
        token_route(&server).await;
        let user = UserRef::user_id("u1").unwrap();
        let throttled = server.get_otp_secret_by_user(|when, then| {
            when.user(&user);
            then.throttled(&style.clone().times(2));
        });
        let answered = server.get_otp_secret_by_user(|when, then| {
            when.user(&user);
            then.secret(SECRET);
        });
        let secret = client(&server).get_otp_secret_by_user(&user).await.unwrap();
        assert_eq!(secret.expose_secret(), SECRET, "{style:?}");
        throttled.assert_calls(2);
        answered.assert_calls(1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_that_does_not_end_is_a_retryable_error() {
    for (style, http) in [(Throttling::http_429(), 429), (Throttling::in_200(), 200)] {
        let server = MockServer::start_async().await;
        token_route(&server).await;
        let throttled = server.get_otp_secret_by_user(|_, then| {
            then.throttled(&style);
        });
        let err = ManagementClient::builder()
            .access_key(AK, SK)
            .host(server.base_url())
            .retry(RetryConfig::disabled())
            .build()
            .unwrap()
            .get_otp_secret_by_user(&UserRef::user_id("u1").unwrap())
            .await
            .unwrap_err();
        throttled.assert_calls(1);
        assert_eq!(err.kind(), ErrorKind::Api);
        assert_eq!(err.http_status(), Some(http));
        assert_eq!(err.status_code(), Some(429));
        assert!(err.is_retryable());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_import_list_matches_the_body_the_client_sends() {
    let server = MockServer::start_async().await;
    token_route(&server).await;
    let items = [
        OtpImport::new("u1", "HZ2F6J3AGNAVSOTV")
            .unwrap()
            .with_recovery_code("b471-8ec0")
            .unwrap(),
        // As an authenticator app shows it: the client sends it in canonical form.
        OtpImport::new("u2", "mzxw 6yqm zxw6 yqaa").unwrap(),
    ];
    let mock = server.import_otp(|when, then| {
        when.items(&items);
        then.imported("imported");
    });
    let receipt = client(&server).import_otp(&items).await.unwrap();
    mock.assert();
    assert_eq!(receipt.imported, 2);
    assert_eq!(receipt.message, "imported");

    // The same items in another order are another body.
    let server = MockServer::start_async().await;
    token_route(&server).await;
    let mock = server.import_otp(|when, then| {
        when.items(items.iter().rev());
        then.imported("imported");
    });
    let err = client(&server).import_otp(&items).await.unwrap_err();
    assert_eq!(err.http_status(), Some(404));
    mock.assert_calls(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_endpoint_serves_a_client_with_an_access_key_and_not_a_signing_one() {
    // An opaque token: the pool comes from the client's configuration.
    let server = MockServer::start_async().await;
    let token = server.get_management_token(|when, then| {
        when.access_key(AK, SK);
        then.token("opaque", 7200);
    });
    let user = UserRef::user_id("u1").unwrap();
    let call = server.get_otp_secret_by_user(|when, then| {
        when.user(&user)
            .into_inner()
            .header("authorization", "Bearer opaque")
            .header("x-authing-userpool-id", "pool-9");
        then.secret(SECRET);
    });
    let client = ManagementClient::builder()
        .access_key(AK, SK)
        .host(server.base_url())
        .user_pool_id("pool-9")
        .build()
        .unwrap();
    client.get_otp_secret_by_user(&user).await.unwrap();
    client.get_otp_secret_by_user(&user).await.unwrap();
    token.assert_calls(1);
    call.assert_calls(2);

    // A pool token names its pool: no configuration needed.
    let server = MockServer::start_async().await;
    let token = token_route(&server).await;
    let bearer = format!("Bearer {}", authing_otp_httpmock::management_token(POOL));
    let call = server.get_otp_secret_by_user(|when, then| {
        when.user(&user)
            .into_inner()
            .header("authorization", bearer)
            .header("x-authing-userpool-id", POOL);
        then.secret(SECRET);
    });
    client_of(&server, AuthScheme::Token)
        .get_otp_secret_by_user(&user)
        .await
        .unwrap();
    token.assert_calls(1);
    call.assert();

    // Another key pair's token request does not match (httpmock's 404 is no token answer).
    let server = MockServer::start_async().await;
    let token = token_route(&server).await;
    let err = ManagementClient::builder()
        .access_key("another-ak", SK)
        .host(server.base_url())
        .build()
        .unwrap()
        .get_otp_secret_by_user(&user)
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(404), "{err}");
    token.assert_calls(0);

    // A signing client asks for no token.
    let server = MockServer::start_async().await;
    let token = token_route(&server).await;
    let call = server.get_otp_secret_by_user(|when, then| {
        when.user(&user);
        then.secret(SECRET);
    });
    client_of(&server, AuthScheme::Signature)
        .get_otp_secret_by_user(&user)
        .await
        .unwrap();
    token.assert_calls(0);
    call.assert();
}

fn client_of(server: &MockServer, auth: AuthScheme) -> ManagementClient {
    ManagementClient::builder()
        .access_key(AK, SK)
        .host(server.base_url())
        .auth(auth)
        .build()
        .unwrap()
}

#[test]
fn the_token_answer_is_throttled_and_refused_too() {
    let server = MockServer::start();
    let throttled = server.get_management_token(|_, then| {
        then.throttled(&Throttling::http_429().retry_after(Duration::from_secs(2)));
    });
    let (status, head, body) = get(&server, "POST", "/api/v3/get-management-token");
    assert_eq!(status, 429);
    assert!(head.contains("retry-after: 2"), "{head}");
    // Compared as JSON: the key order depends on serde_json's `preserve_order`.
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"statusCode": 429, "message": "too many requests"})
    );
    throttled.assert();
}

/// `getUserBatch`'s `userIds` is an array: one pair per value, each matched.
#[test]
fn every_user_id_of_a_batch_is_matched() {
    let server = MockServer::start();
    let mock = server.get_user_batch(|when, then| {
        when.user_ids(&vec!["u1".to_owned(), "u2".to_owned()]);
        then.refused(&Refusal::new(403, "not for this key"));
    });
    let path = "/api/v3/get-user-batch";
    assert_eq!(get(&server, "GET", &format!("{path}?userIds=u1")).0, 404);
    let (status, _, body) = get(&server, "GET", &format!("{path}?userIds=u1&userIds=u2"));
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"statusCode": 403, "message": "not for this key"})
    );
    mock.assert_calls(1);
}

/// One plain HTTP/1.1 request: the status, the lower-cased head, the body.
fn get(server: &MockServer, method: &str, target: &str) -> (u16, String, String) {
    let mut stream = std::net::TcpStream::connect(server.address()).unwrap();
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nhost: {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        server.address()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// A lookup by email through the typed stubs: the client's `resolve_user_ids` maps each
/// reference to the user answered, or to none.
#[tokio::test(flavor = "multi_thread")]
async fn a_lookup_by_email_is_matched_and_answered() {
    use authing_otp::Resolution;
    let server = MockServer::start_async().await;
    let users = [
        UserRef::email("alice@example.com").unwrap(),
        UserRef::email("nobody@example.com").unwrap(),
    ];
    let token = token_route(&server).await;
    let lookup = server.get_user_batch(|when, then| {
        when.users(&users);
        then.users([("62f2a1", &users[0])]);
    });
    let found = client(&server).resolve_user_ids(&users).await.unwrap();
    assert_eq!(
        found,
        [Resolution::Found("62f2a1".to_owned()), Resolution::NotFound]
    );
    lookup.assert_calls(1);
    token.assert_calls(1);
}
