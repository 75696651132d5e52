//! The emulator over HTTP: faults, latency, counters.

mod common;

use common::*;

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
