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

/// The message of Authing's rate-limit answer.
const THROTTLED: &str = "您的请求已超过最大数量限制，请稍后重试";

/// A client that does not follow redirects.
fn http_no_redirects() -> reqwest::Client {
    authing_otp::tls::http_client_builder()
        .unwrap()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// GET getOtpSecretByUser without credentials (faults answer before authentication).
async fn get_plain(client: &reqwest::Client, emu: &Emulator) -> reqwest::Response {
    client
        .get(format!("{}{GET_SECRET}?userId=u-alice", emu.base_url()))
        .send()
        .await
        .unwrap()
}

fn header<'r>(resp: &'r reqwest::Response, name: &str) -> Option<&'r str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

#[track_caller]
fn assert_json_content_type(resp: &reqwest::Response) {
    let content_type = header(resp, "content-type").unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
}

/// Asserts Authing's rate-limit body, exactly.
#[track_caller]
fn assert_throttled_body(body: &Value) {
    let fields = body.as_object().unwrap();
    assert_eq!(fields.len(), 3, "{body}");
    assert_eq!(body["statusCode"], 429, "{body}");
    assert_eq!(body["message"], THROTTLED, "{body}");
    let request_id = body["requestId"].as_str().unwrap();
    assert_eq!(request_id.len(), 36, "{body}");
    assert_eq!(request_id.matches('-').count(), 4, "{body}");
}

#[tokio::test]
async fn too_many_requests_is_http_429_with_authings_body_and_retry_after() {
    let emu = start(Emulator::builder()).await;
    let at = std::time::UNIX_EPOCH + Duration::from_secs(unix_now() + 90);
    emu.fail_next(
        1,
        Fault::TooManyRequests {
            retry_after: Some(RetryAfter::Seconds(3)),
        },
    );
    emu.fail_next(
        1,
        Fault::TooManyRequests {
            retry_after: Some(RetryAfter::At(at)),
        },
    );
    emu.fail_next(1, Fault::TooManyRequests { retry_after: None });
    let client = http();

    let resp = get_plain(&client, &emu).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_json_content_type(&resp);
    assert_eq!(header(&resp, "retry-after"), Some("3"));
    assert_throttled_body(&resp.json().await.unwrap());

    let resp = get_plain(&client, &emu).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let date = header(&resp, "retry-after").unwrap().to_owned();
    assert!(date.ends_with(" GMT"), "{date}");
    assert_eq!(httpdate::parse_http_date(&date).unwrap(), at);
    assert_eq!(date, httpdate::fmt_http_date(at));
    assert_throttled_body(&resp.json().await.unwrap());

    let resp = get_plain(&client, &emu).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&resp, "retry-after"), None);
    assert_throttled_body(&resp.json().await.unwrap());

    assert_eq!(emu.pending_faults(), 0);
    assert_eq!(
        get_plain(&client, &emu).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn throttled_in_body_is_http_200_with_the_same_body() {
    let emu = start(Emulator::builder()).await;
    emu.fail_next(
        1,
        Fault::ThrottledInBody {
            retry_after: Some(RetryAfter::Seconds(7)),
        },
    );
    emu.fail_next(1, Fault::ThrottledInBody { retry_after: None });
    let client = http();

    let resp = get_plain(&client, &emu).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_json_content_type(&resp);
    assert_eq!(header(&resp, "retry-after"), Some("7"));
    assert_throttled_body(&resp.json().await.unwrap());

    let resp = get_plain(&client, &emu).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "retry-after"), None);
    assert_throttled_body(&resp.json().await.unwrap());
}

#[tokio::test]
async fn throttling_n_times_on_one_operation_then_success() {
    let emu = start(Emulator::builder().user(alice())).await;
    emu.fail_next_on(
        Operation::GetOtpSecretByUser,
        2,
        Fault::TooManyRequests {
            retry_after: Some(RetryAfter::Seconds(1)),
        },
    );
    let t = token(&emu).await; // not affected
    for _ in 0..2 {
        let (status, body) = get_secret(&emu, &t, &[("userId", "u-alice")]).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_throttled_body(&body);
    }
    let (status, body) = get_secret(&emu, &t, &[("userId", "u-alice")]).await;
    assert_eq!(
        (status, &body["data"]["secret"]),
        (StatusCode::OK, &json!("ALICESECRETBASE32"))
    );
    assert_eq!(emu.counters().get_otp_secret_requests, 3);
}

#[tokio::test]
async fn reset_mid_body_announces_64_bytes_and_breaks_the_body() {
    let emu = start(Emulator::builder()).await;
    emu.fail_next(2, Fault::ResetMidBody);
    let client = http();

    let resp = get_plain(&client, &emu).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_json_content_type(&resp);
    assert_eq!(header(&resp, "content-length"), Some("64"));
    let err = resp
        .bytes()
        .await
        .expect_err("the body is cut off, not short");
    assert!(err.is_body() || err.is_decode(), "{err:?}");
    assert!(!err.is_timeout(), "{err:?}");

    // Read piece by piece: the start of a JSON object arrives, then the error.
    let mut resp = get_plain(&client, &emu).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut received = Vec::new();
    let err = loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => received.extend_from_slice(&chunk),
            Ok(None) => panic!("the body ended cleanly after {} bytes", received.len()),
            Err(err) => break err,
        }
    };
    assert!(err.is_body() || err.is_decode(), "{err:?}");
    assert_eq!(received, br#"{"statusCode":200,"m"#);

    // The same client carries on with a new connection.
    assert_eq!(
        get_plain(&client, &emu).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(emu.counters().get_otp_secret_requests, 3);
}

#[tokio::test]
async fn trickle_sends_a_valid_envelope_one_byte_at_a_time() {
    let emu = start(Emulator::builder()).await;
    let interval = Duration::from_millis(5);
    emu.fail_next(1, Fault::Trickle { interval });
    let started = Instant::now();
    let resp = get_plain(&http(), &emu).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_json_content_type(&resp);
    let length: usize = header(&resp, "content-length").unwrap().parse().unwrap();
    let body = resp.bytes().await.unwrap();
    assert_eq!(body.len(), length);
    assert!(
        started.elapsed() >= interval * u32::try_from(length).unwrap(),
        "{length} bytes in {:?}",
        started.elapsed()
    );
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["statusCode"], 200, "{body}");
    assert_eq!(body["message"], "success", "{body}");
    assert_eq!(
        body["data"],
        json!({"secret": "TRICKLEDSECRETAA"}),
        "{body}"
    );
    assert_eq!(body["requestId"].as_str().unwrap().len(), 36, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 4, "{body}");
}

#[tokio::test]
async fn trickle_trips_a_short_client_timeout_while_reading_the_body() {
    let emu = start(Emulator::builder()).await;
    emu.fail_next(
        1,
        Fault::Trickle {
            interval: Duration::from_secs(30),
        },
    );
    let client = authing_otp::tls::http_client_builder()
        .unwrap()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let resp = get_plain(&client, &emu).await; // the head comes at once
    assert_eq!(resp.status(), StatusCode::OK);
    assert_json_content_type(&resp);
    let err = resp.bytes().await.expect_err("the body is too slow");
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn redirects_answer_the_status_and_location_with_an_empty_body() {
    let emu = start(Emulator::builder()).await;
    let client = http_no_redirects();
    for status in [
        StatusCode::FOUND,
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
    ] {
        emu.fail_next(
            1,
            Fault::Redirect {
                status,
                location: "https://login.example.com/sso?next=%2Fapi".to_owned(),
            },
        );
        let resp = get_plain(&client, &emu).await;
        assert_eq!(resp.status(), status);
        assert_eq!(
            header(&resp, "location"),
            Some("https://login.example.com/sso?next=%2Fapi")
        );
        assert_eq!(header(&resp, "content-length"), Some("0"));
        assert!(resp.bytes().await.unwrap().is_empty());
    }

    emu.fail_next(
        1,
        Fault::Redirect {
            status: StatusCode::FOUND,
            location: "/wartung?grund=Überlast\n".to_owned(),
        },
    );
    let resp = get_plain(&client, &emu).await;
    assert_eq!(
        header(&resp, "location"),
        Some("/wartung?grund=%C3%9Cberlast%0A")
    );

    // A client that follows redirects lands on the real operation.
    emu.reset_counters();
    emu.fail_next(
        1,
        Fault::Redirect {
            status: StatusCode::TEMPORARY_REDIRECT,
            location: format!("{}{GET_SECRET}?userId=u-bob", emu.base_url()),
        },
    );
    // Explicitly: the crate's client builder never follows redirects.
    let following = authing_otp::tls::http_client_builder()
        .unwrap()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::limited(10))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let resp = get_plain(&following, &emu).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.url().query(), Some("userId=u-bob"));
    assert_eq!(emu.counters().get_otp_secret_requests, 2);
}

#[tokio::test]
async fn oversized_streams_exactly_that_many_bytes_chunked() {
    let emu = start(Emulator::builder()).await;
    let bytes = (1 << 20) + 12_345;
    emu.fail_next(1, Fault::Oversized { bytes });
    let mut resp = get_plain(&http(), &emu).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_json_content_type(&resp);
    assert_eq!(header(&resp, "content-length"), None);
    assert_eq!(header(&resp, "transfer-encoding"), Some("chunked"));
    let prefix = br#"{"statusCode":200,"message":""#;
    let mut received = 0;
    let mut start = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        chunks += 1;
        let head = prefix.len().saturating_sub(received).min(chunk.len());
        start.extend_from_slice(&chunk[..head]);
        assert!(chunk[head..].iter().all(|&b| b == b'x'), "filler is x");
        received += chunk.len();
    }
    assert_eq!(received, bytes);
    assert_eq!(start, prefix);
    assert!(chunks > 1, "streamed, not in one piece");

    for (bytes, expected) in [(10, &br#"{"statusCo"#[..]), (0, b"")] {
        emu.fail_next(1, Fault::Oversized { bytes });
        let resp = get_plain(&http(), &emu).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header(&resp, "content-length"), None);
        assert_eq!(&resp.bytes().await.unwrap()[..], expected);
    }
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
