//! `resolve_user_ids` against a loopback server: exactly what goes over the wire
//! (`getUserBatch`), how the users answered map to the references asked, what is refused
//! before sending, and what a refusal or an odd answer comes to.

mod common;

use std::time::Duration;

use authing_otp::{
    AuthScheme, Error, ErrorKind, MAX_USERS_PER_LOOKUP, ManagementClient, Resolution, UserRef,
};
use common::*;
use httpmock::{HttpMockResponse, Method};
use serde_json::json;

const PATH: &str = "/api/v3/get-user-batch";

fn users_ok(users: serde_json::Value) -> HttpMockResponse {
    json(
        200,
        &json!({"statusCode": 200, "message": "success", "data": users}),
    )
}

fn signing_client(wire: &Wire) -> ManagementClient {
    ManagementClient::builder()
        .access_key(AK, SK)
        .host(wire.url())
        .auth(AuthScheme::Signature)
        .retry(authing_otp::RetryConfig::default().initial_backoff(Duration::from_millis(1)))
        .build()
        .unwrap()
}

#[tokio::test]
async fn resolve_sends_exactly_this_and_maps_each_reference() {
    let wire = Wire::start().await;
    wire.token_route(7200.0, Duration::ZERO).await;
    wire.route(Method::GET, PATH, Duration::ZERO, |_, _| {
        // In no particular order, with fields the client does not read, and one email that
        // two users have (as differently cased addresses may be on the real server).
        users_ok(json!([
            {"userId": "u-bob", "email": "BOB@example.com", "status": "Activated",
             "identities": null, "customData": {"x": 1}},
            {"userId": "u-alice", "email": "alice@example.com", "phone": 13800000000u64},
            {"userId": "u-carol-1", "email": "carol@example.com"},
            {"userId": "u-carol-2", "email": "Carol@Example.com"},
        ]))
    })
    .await;
    let users = [
        UserRef::email("alice@example.com").unwrap(),
        UserRef::email("bob@example.com").unwrap(),
        UserRef::email("carol@example.com").unwrap(),
        UserRef::email("dave+x@example.com").unwrap(),
        UserRef::email("alice@example.com").unwrap(),
    ];
    let found = client(&wire).resolve_user_ids(&users).await.unwrap();
    assert_eq!(
        found,
        [
            Resolution::Found("u-alice".into()),
            Resolution::Found("u-bob".into()),
            Resolution::Ambiguous,
            Resolution::NotFound,
            Resolution::Found("u-alice".into()),
        ]
    );

    let calls = wire.seen_at(PATH);
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.method, "GET");
    // An array is its name repeated (OpenAPI's `form`, exploded), in the order given; the
    // type is always sent; no flag the lookup does not need.
    assert_eq!(
        call.target,
        "/api/v3/get-user-batch?userIdType=email&userIds=alice%40example.com\
         &userIds=bob%40example.com&userIds=carol%40example.com\
         &userIds=dave%2Bx%40example.com&userIds=alice%40example.com"
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
    assert_eq!(call.header("x-authing-userpool-id"), Some(POOL));
    assert_eq!(call.body, "");
}

#[tokio::test]
async fn repeated_user_ids_are_signed_as_sent() {
    let wire = Wire::start().await;
    wire.route(Method::GET, PATH, Duration::ZERO, |_, _| {
        users_ok(json!([{"userId": "u1", "username": "alice"}]))
    })
    .await;
    let users = [
        UserRef::username("bob").unwrap(),
        UserRef::username("alice").unwrap(),
    ];
    let found = signing_client(&wire)
        .resolve_user_ids(&users)
        .await
        .unwrap();
    assert_eq!(
        found,
        [Resolution::NotFound, Resolution::Found("u1".into())]
    );
    let call = &wire.seen_at(PATH)[0];
    let (path, query) = call.target.split_once('?').unwrap();
    assert_eq!(query, "userIdType=username&userIds=bob&userIds=alice");
    let params = authing_otp::signing::params_from_query(query);
    let headers: Vec<(&str, &str)> = call
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let text = authing_otp::signing::string_to_sign("GET", path, headers, &params);
    // Repeated keys keep their order in the string to sign.
    assert!(
        text.ends_with("/api/v3/get-user-batch?userIdType=username&userIds=bob&userIds=alice"),
        "{text}"
    );
    let expected = format!("authing {AK}:{}", authing_otp::signing::sign(SK, &text));
    assert_eq!(call.header("authorization"), Some(expected.as_str()));
}

#[tokio::test]
async fn identities_are_asked_for_and_matched_and_sync_relations_go_one_per_request() {
    let wire = Wire::start().await;
    wire.route(Method::GET, PATH, Duration::ZERO, |n, seen| {
        if seen.target.contains("userIdType=identity") {
            users_ok(json!([
                {"userId": "u1", "identities": [
                    {"extIdpId": "idp-a", "userIdInIdp": "ou:1", "provider": "lark"},
                    {"extIdpId": 7}
                ]},
            ]))
        } else if n == 1 {
            users_ok(json!([{"userId": "u-sync"}]))
        } else {
            users_ok(json!([]))
        }
    })
    .await;
    let client = signing_client(&wire);
    let found = client
        .resolve_user_ids(&[
            UserRef::identity("idp-b", "ou:1").unwrap(),
            UserRef::identity("idp-a", "ou:1").unwrap(),
        ])
        .await
        .unwrap();
    assert_eq!(
        found,
        [Resolution::NotFound, Resolution::Found("u1".into())]
    );
    let found = client
        .resolve_user_ids(&[
            UserRef::sync_relation("lark", "a").unwrap(),
            UserRef::sync_relation("lark", "b").unwrap(),
        ])
        .await
        .unwrap();
    assert_eq!(
        found,
        [Resolution::Found("u-sync".into()), Resolution::NotFound]
    );
    let targets: Vec<String> = wire.seen_at(PATH).into_iter().map(|s| s.target).collect();
    assert_eq!(
        targets,
        [
            "/api/v3/get-user-batch?userIdType=identity&userIds=idp-b%3Aou%3A1\
             &userIds=idp-a%3Aou%3A1&withIdentities=true",
            "/api/v3/get-user-batch?userIdType=sync_relation&userIds=lark%3Aa",
            "/api/v3/get-user-batch?userIdType=sync_relation&userIds=lark%3Ab",
        ]
    );
}

#[tokio::test]
async fn invalid_lookups_are_refused_before_anything_is_sent() {
    let wire = Wire::start().await;
    let token = wire.token_route(7200.0, Duration::ZERO).await;
    let batch = wire
        .route(Method::GET, PATH, Duration::ZERO, |_, _| {
            users_ok(json!([]))
        })
        .await;
    let client = client(&wire);

    let err = client.resolve_user_ids(&[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "invalid input: userIds: must name at least one user"
    );

    let many: Vec<UserRef> = (0..=MAX_USERS_PER_LOOKUP)
        .map(|n| UserRef::email(format!("user{n}@example.com")).unwrap())
        .collect();
    let err = client.resolve_user_ids(&many).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: userIds: names 51 users; at most 50 per lookup"
    );

    let mixed = [
        UserRef::email("alice@example.com").unwrap(),
        UserRef::username("alice").unwrap(),
    ];
    let err = client.resolve_user_ids(&mixed).await.unwrap_err();
    let Error::InvalidInput { 0: input, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((input.item(), input.field()), (Some(1), "userIdType"));
    assert!(!err.to_string().contains("alice"), "{err}");

    // User ids need no request.
    let ids = [
        UserRef::user_id("u1").unwrap(),
        UserRef::user_id("u2").unwrap(),
    ];
    assert_eq!(
        client.resolve_user_ids(&ids).await.unwrap(),
        [
            Resolution::Found("u1".into()),
            Resolution::Found("u2".into())
        ]
    );

    assert_eq!(batch.calls_async().await, 0);
    assert_eq!(token.calls_async().await, 0);
    assert_eq!(client.stats().requests, 0);
}

#[tokio::test]
async fn a_refusal_is_an_api_error() {
    let wire = Wire::start().await;
    wire.route(Method::GET, PATH, Duration::ZERO, |_, _| {
        json(
            200,
            &json!({"statusCode": 403, "message": "no permission to read users",
                    "apiCode": 40301, "requestId": "r-403"}),
        )
    })
    .await;
    let err = signing_client(&wire)
        .resolve_user_ids(&[UserRef::email("alice@example.com").unwrap()])
        .await
        .unwrap_err();
    let api = err.api_error().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(
        (api.http_status, api.status_code, api.api_code),
        (200, 403, Some(40301))
    );
    assert_eq!(err.request_id(), Some("r-403"));
    assert!(!err.is_retryable());
    assert_eq!(wire.seen_at(PATH).len(), 1);
}

#[tokio::test]
async fn odd_answers_are_unexpected_responses_not_panics() {
    for answer in [
        json!({"statusCode": 200, "message": "ok"}),
        json!({"statusCode": 200, "message": "ok", "data": null}),
        json!({"statusCode": 200, "message": "ok", "data": {"userId": "u1"}}),
        json!({"statusCode": 200, "message": "ok", "data": [{"email": "alice@example.com"}]}),
        json!({"statusCode": 200, "message": "ok", "data": [{"userId": 42}]}),
        json!({"statusCode": 200, "message": "ok", "data": [{"userId": ""}]}),
        json!({"statusCode": 200, "message": "ok", "data": ["u1"]}),
    ] {
        let wire = Wire::start().await;
        let body = answer.clone();
        wire.route(Method::GET, PATH, Duration::ZERO, move |_, _| {
            json(200, &body)
        })
        .await;
        let err = signing_client(&wire)
            .resolve_user_ids(&[UserRef::email("alice@example.com").unwrap()])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedResponse, "{answer}: {err}");
        assert_eq!(wire.seen_at(PATH).len(), 1, "{answer}");
    }
}
