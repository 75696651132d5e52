//! The emulator over HTTP: the rate limit and the import list limit.

mod common;

use common::*;

const THROTTLED: &str = "您的请求已超过最大数量限制，请稍后重试";

fn creds(emu: &Emulator) -> Value {
    json!({
        "accessKeyId": emu.access_key_id(),
        "accessKeySecret": emu.access_key_secret().expose_secret(),
    })
}

/// Asserts Authing's HTTP 429 answer, without `Retry-After`.
#[track_caller]
fn assert_throttled(status: StatusCode, retry_after: bool, body: &Value) {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(!retry_after, "no Retry-After");
    assert_eq!(body["statusCode"], 429, "{body}");
    assert_eq!(body["message"], THROTTLED, "{body}");
    assert!(
        body["requestId"].as_str().is_some_and(|id| id.len() == 36),
        "{body}"
    );
    assert!(body.get("apiCode").is_none(), "{body}");
}

/// Sends a token request: the status, whether there was a `Retry-After`, and the body.
async fn token_request(
    client: &reqwest::Client,
    base_url: &str,
    creds: &Value,
) -> (StatusCode, bool, Value) {
    let resp = client
        .post(format!("{base_url}{TOKEN}"))
        .json(creds)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let retry_after = resp.headers().contains_key("retry-after");
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    (status, retry_after, resp.json().await.unwrap())
}

#[tokio::test]
async fn requests_over_the_rate_limit_get_authings_429() {
    let emu = start(Emulator::builder().rate_limit(20)).await;
    let client = http();
    let creds = creds(&emu);
    let started = Instant::now();
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..60 {
        let (client, base_url, creds) = (client.clone(), emu.base_url().to_owned(), creds.clone());
        requests.spawn(async move { token_request(&client, &base_url, &creds).await });
    }
    let replies = requests.join_all().await;
    let elapsed = started.elapsed();
    let mut served = 0;
    let mut refused = 0;
    for (status, retry_after, body) in &replies {
        if *status == StatusCode::OK {
            assert_eq!(body["statusCode"], 200, "{body}");
            served += 1;
        } else {
            assert_throttled(*status, *retry_after, body);
            refused += 1;
        }
    }
    assert_eq!(served + refused, 60);
    assert!(refused > 0, "{served} served in {elapsed:?}");
    let seconds = elapsed.as_secs() + 1;
    assert!(
        served <= 20 * seconds,
        "{served} served in {elapsed:?}: more than 20 a second"
    );
    assert_eq!(emu.counters().token_requests, 60, "refused requests count");
}

#[tokio::test]
async fn the_rate_window_slides_and_refuses_before_authentication() {
    let emu = start(Emulator::builder().user(alice()).rate_limit(2)).await;
    let client = http();
    let creds = creds(&emu);
    let first = Instant::now();
    let (status, _, body) = token_request(&client, emu.base_url(), &creds).await;
    assert_eq!((status, &body["statusCode"]), (StatusCode::OK, &json!(200)));
    let t = body["data"]["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        get_secret(&emu, &t, &[("userId", "u-alice")]).await.0,
        StatusCode::OK
    );
    let second = Instant::now();
    // Over the limit: refused before the missing authorization is noticed.
    let (status, body) = get_with_headers(&emu, &[]).await;
    if first.elapsed() < Duration::from_millis(900) {
        assert_throttled(status, false, &body);
        let (status, body) = post_json(&emu, "/nowhere", None, &json!({})).await;
        assert_throttled(status, false, &body);
    }
    // Once the served requests have left the window, more are served.
    tokio::time::sleep(Duration::from_millis(1050).saturating_sub(second.elapsed())).await;
    let (status, body) = get_secret(&emu, &t, &[("userId", "u-alice")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["secret"], "ALICESECRETBASE32");
    let counters = emu.counters();
    assert_eq!((counters.token_requests, counters.otp_requests()), (1, 3));
}

#[tokio::test]
async fn a_pending_fault_wins_over_the_rate_limit() {
    let emu = start(Emulator::builder().rate_limit(1)).await;
    let client = http();
    let creds = creds(&emu);
    let first = Instant::now();
    assert_eq!(
        token_request(&client, emu.base_url(), &creds).await.0,
        StatusCode::OK
    );
    emu.fail_next(1, Fault::Status(StatusCode::SERVICE_UNAVAILABLE));
    let (status, _, _) = token_request(&client, emu.base_url(), &creds).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(emu.pending_faults(), 0);
    let (status, retry_after, body) = token_request(&client, emu.base_url(), &creds).await;
    if first.elapsed() < Duration::from_millis(900) {
        assert_throttled(status, retry_after, &body);
    }
}

#[tokio::test]
async fn no_rate_limit_by_default_or_with_zero() {
    for builder in [Emulator::builder(), Emulator::builder().rate_limit(0)] {
        let emu = start(builder).await;
        let client = http();
        let creds = creds(&emu);
        for _ in 0..30 {
            let (status, _, body) = token_request(&client, emu.base_url(), &creds).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
}

#[tokio::test]
async fn the_bindings_endpoint_is_not_rate_limited() {
    let emu = start(Emulator::builder().user(alice()).rate_limit(1)).await;
    let client = http();
    let first = Instant::now();
    let (status, _, _) = token_request(&client, emu.base_url(), &creds(&emu)).await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..5 {
        let resp = client
            .get(format!(
                "{}{}",
                emu.base_url(),
                authing_otp_emulator::BINDINGS_PATH
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.text().await.unwrap().contains("ALICESECRETBASE32"));
    }
    let (status, retry_after, body) = token_request(&client, emu.base_url(), &creds(&emu)).await;
    if first.elapsed() < Duration::from_millis(900) {
        assert_throttled(status, retry_after, &body);
    }
    assert_eq!(emu.counters().other_requests, 5, "counted, not limited");
}

#[tokio::test]
async fn an_import_list_over_max_list_is_refused_with_413() {
    let users = ["u1", "u2", "u3"].map(User::new);
    let emu = start(Emulator::builder().users(users).max_list(2)).await;
    let t = token(&emu).await;
    let three = json!({"list": [
        {"userId": "u1", "otp": {"secret": "S1"}},
        {"userId": "u2", "otp": {"secret": "S2"}},
        {"userId": "u3", "otp": {"secret": "S3"}},
    ]});
    let (status, body) = import(&emu, &t, &three).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["statusCode"], 413, "{body}");
    assert_eq!(body["apiCode"], codes::LIST_TOO_LARGE, "{body}");
    assert_eq!(codes::LIST_TOO_LARGE, 41301);
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("request entity too large"), "{message}");
    assert!(message.contains('3') && message.contains('2'), "{message}");
    assert!(!message.contains("S1"), "{message}");
    assert!(
        body["requestId"].as_str().is_some_and(|id| id.len() == 36),
        "{body}"
    );
    assert!(emu.bindings().is_empty(), "nothing bound");

    // Too many items wins over unknown users; at the limit, unknown users are still refused.
    let ghosts = json!({"list": [
        {"userId": "g1", "otp": {"secret": "S1"}},
        {"userId": "g2", "otp": {"secret": "S2"}},
        {"userId": "g3", "otp": {"secret": "S3"}},
    ]});
    assert_eq!(
        import(&emu, &t, &ghosts).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let two_ghosts = json!({"list": [
        {"userId": "u1", "otp": {"secret": "S1"}},
        {"userId": "g2", "otp": {"secret": "S2"}},
    ]});
    business_error(
        &import(&emu, &t, &two_ghosts).await,
        404,
        codes::USER_NOT_FOUND,
    );

    let two = json!({"list": [
        {"userId": "u1", "otp": {"secret": "S1"}},
        {"userId": "u2", "otp": {"secret": "S2"}},
    ]});
    let (status, body) = import(&emu, &t, &two).await;
    assert_eq!((status, &body["statusCode"]), (StatusCode::OK, &json!(200)));
    assert_eq!(emu.bindings().len(), 2);
    // Authentication comes first.
    let (status, body) = post_json(&emu, IMPORT, None, &three).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn max_list_zero_accepts_only_empty_lists() {
    let emu = start(Emulator::builder().user(User::new("u1")).max_list(0)).await;
    let t = token(&emu).await;
    let (status, body) = import(&emu, &t, &json!({"list": []})).await;
    assert_eq!((status, &body["statusCode"]), (StatusCode::OK, &json!(200)));
    let one = json!({"list": [{"userId": "u1", "otp": {"secret": "S1"}}]});
    assert_eq!(
        import(&emu, &t, &one).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert!(emu.otp_of("u1").is_none());
}
