//! The fault matrix: the typed client against the emulator misbehaving the way real servers
//! do, one test per row. Each row asserts the outcome (success after K attempts, or the error
//! kind), the time it took against its budget, how many requests the server saw, and that no
//! secret shows in the error's `Display` (with its causes) or `Debug`.

use std::time::{Duration, Instant, SystemTime};

use authing_otp::{
    AuthScheme, Error, ErrorKind, ExposeSecret, ManagementClient, OtpImport, RetryConfig, UserRef,
};
use authing_otp_emulator::{Emulator, Fault, Operation, RetryAfter, User};
use reqwest::StatusCode;

const OTP: &str = "MATRIXSECRETAAAA";
const NEW_OTP: &str = "IMPORTEDSECRETBB";
const RECOVERY: &str = "rc-matrix-9932";

async fn emulator() -> Emulator {
    Emulator::builder()
        .user(User::new("u1").email("alice@example.com").otp(OTP))
        .start()
        .await
        .unwrap()
}

fn builder(emulator: &Emulator) -> authing_otp::ManagementClientBuilder {
    ManagementClient::builder()
        .host(emulator.base_url())
        .access_key(
            emulator.access_key_id(),
            emulator.access_key_secret().expose_secret(),
        )
}

/// The default client, its token already fetched, so that faults hit the operation.
async fn warm(client: ManagementClient) -> ManagementClient {
    client.get_otp_secret_by_user(&user()).await.unwrap();
    client
}

fn user() -> UserRef {
    UserRef::user_id("u1").unwrap()
}

fn item() -> OtpImport {
    OtpImport::new("u1", NEW_OTP)
        .unwrap()
        .with_recovery_code(RECOVERY)
        .unwrap()
}

/// No secret of the emulator's or the call's in what the error says.
#[track_caller]
fn assert_no_secret(emulator: &Emulator, error: &Error) {
    let texts = [error.display_chain(), format!("{error:?}")];
    for text in &texts {
        for secret in [
            emulator.access_key_secret().expose_secret(),
            OTP,
            NEW_OTP,
            RECOVERY,
        ] {
            assert!(!text.contains(secret), "{secret} shows in {text}");
        }
        // The emulator's tokens are JWT-shaped: none may show either.
        assert!(!text.contains("eyJ"), "a token shows in {text}");
        assert!(
            !text.chars().any(char::is_control),
            "control character in {text:?}"
        );
    }
}

/// Requests the emulator saw for `op` since `before`.
fn seen(emulator: &Emulator, op: Operation, before: authing_otp_emulator::Counters) -> u64 {
    let now = emulator.counters();
    match op {
        Operation::GetManagementToken => now.token_requests - before.token_requests,
        Operation::ImportOtp => now.import_otp_requests - before.import_otp_requests,
        Operation::GetOtpSecretByUser => {
            now.get_otp_secret_requests - before.get_otp_secret_requests
        }
        other => panic!("no counter for {other:?}"),
    }
}

#[track_caller]
fn within(started: Instant, budget: Duration) {
    let elapsed = started.elapsed();
    assert!(elapsed <= budget, "took {elapsed:?}, budget {budget:?}");
}

#[tokio::test]
async fn http_429_twice_then_success() {
    let emulator = emulator().await;
    let client = warm(builder(&emulator).build().unwrap()).await;
    let before = emulator.counters();
    emulator.fail_next_on(
        Operation::GetOtpSecretByUser,
        2,
        Fault::TooManyRequests { retry_after: None },
    );
    let started = Instant::now();
    let secret = client.get_otp_secret_by_user(&user()).await.unwrap();
    assert_eq!(secret.expose_secret(), OTP);
    within(started, Duration::from_secs(2));
    assert_eq!(seen(&emulator, Operation::GetOtpSecretByUser, before), 3);
}

#[tokio::test]
async fn http_429_with_retry_after_seconds_is_honoured() {
    let emulator = emulator().await;
    let client = warm(builder(&emulator).build().unwrap()).await;
    let before = emulator.counters();
    emulator.fail_next_on(
        Operation::GetOtpSecretByUser,
        1,
        Fault::TooManyRequests {
            retry_after: Some(RetryAfter::Seconds(1)),
        },
    );
    let started = Instant::now();
    client.get_otp_secret_by_user(&user()).await.unwrap();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(950),
        "waited only {elapsed:?}"
    );
    within(started, Duration::from_secs(3));
    assert_eq!(seen(&emulator, Operation::GetOtpSecretByUser, before), 2);
}

#[tokio::test]
async fn http_429_with_a_retry_after_date_is_honoured_within_the_cap() {
    let emulator = emulator().await;
    let client = builder(&emulator)
        .retry(RetryConfig::default().max_backoff(Duration::from_millis(1500)))
        .build()
        .unwrap();
    let client = warm(client).await;
    let before = emulator.counters();
    // An hour away: the cap (1.5 s here) wins.
    emulator.fail_next_on(
        Operation::GetOtpSecretByUser,
        1,
        Fault::TooManyRequests {
            retry_after: Some(RetryAfter::At(
                SystemTime::now() + Duration::from_secs(3600),
            )),
        },
    );
    let started = Instant::now();
    client.get_otp_secret_by_user(&user()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(1400));
    within(started, Duration::from_secs(4));
    assert_eq!(seen(&emulator, Operation::GetOtpSecretByUser, before), 2);
}

#[tokio::test]
async fn status_code_429_in_an_http_200_body_is_retried() {
    let emulator = emulator().await;
    let client = warm(builder(&emulator).build().unwrap()).await;
    let before = emulator.counters();
    emulator.fail_next_on(
        Operation::GetOtpSecretByUser,
        2,
        Fault::ThrottledInBody { retry_after: None },
    );
    let started = Instant::now();
    client.get_otp_secret_by_user(&user()).await.unwrap();
    within(started, Duration::from_secs(2));
    assert_eq!(seen(&emulator, Operation::GetOtpSecretByUser, before), 3);
}

#[tokio::test]
async fn throttled_every_time_gives_up_after_three_attempts() {
    let emulator = emulator().await;
    let client = warm(builder(&emulator).build().unwrap()).await;
    let before = emulator.counters();
    emulator.fail_next(100, Fault::TooManyRequests { retry_after: None });
    let started = Instant::now();
    let err = client.get_otp_secret_by_user(&user()).await.unwrap_err();
    assert_eq!((err.kind(), err.http_status()), (ErrorKind::Api, Some(429)));
    assert!(err.is_retryable());
    within(started, Duration::from_secs(2));
    assert_eq!(seen(&emulator, Operation::GetOtpSecretByUser, before), 3);
    assert_no_secret(&emulator, &err);
}

#[tokio::test]
async fn http_503_once_then_success() {
    let emulator = emulator().await;
    let client = warm(builder(&emulator).build().unwrap()).await;
    let before = emulator.counters();
    emulator.fail_next(1, Fault::Status(StatusCode::SERVICE_UNAVAILABLE));
    let started = Instant::now();
    client.get_otp_secret_by_user(&user()).await.unwrap();
    within(started, Duration::from_secs(1));
    assert_eq!(seen(&emulator, Operation::GetOtpSecretByUser, before), 2);
}

#[tokio::test]
async fn an_html_502_from_a_gateway_is_retried() {
    let emulator = emulator().await;
    let client = warm(builder(&emulator).build().unwrap()).await;
    let before = emulator.counters();
    emulator.fail_next(
        2,
        Fault::Raw {
            status: StatusCode::BAD_GATEWAY,
            content_type: "text/html".into(),
            body: "<html><h1>502 Bad Gateway</h1></html>".into(),
        },
    );
    client.get_otp_secret_by_user(&user()).await.unwrap();
    assert_eq!(seen(&emulator, Operation::GetOtpSecretByUser, before), 3);
}

#[tokio::test]
async fn status_code_503_in_an_http_200_body_is_retried() {
    let emulator = emulator().await;
    let client = warm(builder(&emulator).build().unwrap()).await;
    let before = emulator.counters();
    emulator.fail_next(
        1,
        Fault::Raw {
            status: StatusCode::OK,
            content_type: "application/json".into(),
            body: r#"{"statusCode":503,"message":"under maintenance"}"#.into(),
        },
    );
    client.get_otp_secret_by_user(&user()).await.unwrap();
    assert_eq!(seen(&emulator, Operation::GetOtpSecretByUser, before), 2);
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let emulator = emulator().await;
    let client = warm(builder(&emulator).build().unwrap()).await;
    let before = emulator.counters();
    emulator.fail_next(1, Fault::DropConnection);
    let started = Instant::now();
    client.get_otp_secret_by_user(&user()).await.unwrap();
    within(started, Duration::from_secs(1));
    assert_eq!(seen(&emulator, Operation::GetOtpSecretByUser, before), 2);
}

#[tokio::test]
async fn a_reset_in_the_middle_of_the_body_is_retried() {
    let emulator = emulator().await;
    let client = warm(builder(&emulator).build().unwrap()).await;
    let before = emulator.counters();
    emulator.fail_next(1, Fault::ResetMidBody);
    let started = Instant::now();
    let secret = client.get_otp_secret_by_user(&user()).await.unwrap();
    assert_eq!(secret.expose_secret(), OTP);
    within(started, Duration::from_secs(1));
    assert_eq!(seen(&emulator, Operation::GetOtpSecretByUser, before), 2);
}

#[tokio::test]
async fn reset_every_time_is_a_transport_error_after_three_attempts() {
    let emulator = emulator().await;
    let client = warm(builder(&emulator).build().unwrap()).await;
    let before = emulator.counters();
    emulator.fail_next(100, Fault::ResetMidBody);
    let err = client.get_otp_secret_by_user(&user()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{}", err.display_chain());
    assert!(err.is_retryable());
    assert_eq!(seen(&emulator, Operation::GetOtpSecretByUser, before), 3);
    assert_no_secret(&emulator, &err);
    // The URL (whose query holds the user id) is not in the error.
    assert!(
        !err.display_chain().contains("userId"),
        "{}",
        err.display_chain()
    );
}

#[tokio::test]
async fn a_trickling_body_times_out_within_the_per_request_timeout() {
    let emulator = emulator().await;
    let client = builder(&emulator)
        .timeout(Duration::from_millis(300))
        .retry(RetryConfig::default().max_attempts(2))
        .build()
        .unwrap();
    let client = warm(client).await;
    let before = emulator.counters();
    emulator.fail_next(
        100,
        Fault::Trickle {
            interval: Duration::from_millis(200),
        },
    );
    let started = Instant::now();
    let err = client.get_otp_secret_by_user(&user()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{}", err.display_chain());
    // Two attempts of 300 ms and one short wait: the body's trickle does not stretch it.
    within(started, Duration::from_millis(1200));
    assert_eq!(seen(&emulator, Operation::GetOtpSecretByUser, before), 2);
    assert_no_secret(&emulator, &err);
}

#[tokio::test]
async fn the_whole_call_deadline_bounds_attempts_times_timeout() {
    let emulator = emulator().await;
    let client = builder(&emulator)
        .timeout(Duration::from_secs(10))
        .retry(RetryConfig::default().call_timeout(Duration::from_millis(800)))
        .build()
        .unwrap();
    let client = warm(client).await;
    let before = emulator.counters();
    emulator.set_latency(Duration::from_secs(5));
    let started = Instant::now();
    let err = client.get_otp_secret_by_user(&user()).await.unwrap_err();
    assert!(
        matches!(err, Error::Timeout { source: None, .. }),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "the call's deadline passed");
    within(started, Duration::from_millis(1300));
    assert_eq!(seen(&emulator, Operation::GetOtpSecretByUser, before), 1);
}

#[tokio::test]
async fn a_307_on_import_is_refused_and_nothing_is_resent() {
    let emulator = emulator().await;
    let client = warm(builder(&emulator).build().unwrap()).await;
    let before = emulator.counters();
    emulator.fail_next_on(
        Operation::ImportOtp,
        1,
        Fault::Redirect {
            status: StatusCode::TEMPORARY_REDIRECT,
            location: "https://collector.example:8443/steal?list=all#x".into(),
        },
    );
    let err = client.import_otp([item()]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Redirect);
    assert_eq!(err.http_status(), Some(307));
    assert_eq!(
        err.to_string(),
        "the server answered HTTP 307 redirecting to https://collector.example:8443; \
         redirects are not followed"
    );
    assert!(!err.is_retryable());
    assert_eq!(seen(&emulator, Operation::ImportOtp, before), 1);
    assert_no_secret(&emulator, &err);
    // Nothing was bound.
    assert_eq!(emulator.otp_of("u1").unwrap().secret.expose_secret(), OTP);
}

#[tokio::test]
async fn a_302_on_import_is_not_turned_into_a_get_that_looks_like_success() {
    let emulator = emulator().await;
    let client = warm(builder(&emulator).build().unwrap()).await;
    let before = emulator.counters();
    emulator.fail_next_on(
        Operation::ImportOtp,
        1,
        Fault::Redirect {
            status: StatusCode::FOUND,
            location: "/api/v3/get-otp-secret-by-user?userId=u1".into(),
        },
    );
    let err = client.import_otp([item()]).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.http_status()),
        (ErrorKind::Redirect, Some(302))
    );
    assert!(err.to_string().contains(emulator.base_url()), "{err}");
    assert!(!err.to_string().contains("userId=u1"), "{err}");
    assert_eq!(seen(&emulator, Operation::ImportOtp, before), 1);
    assert_eq!(seen(&emulator, Operation::GetOtpSecretByUser, before), 0);
}

#[tokio::test]
async fn a_redirect_from_the_token_endpoint_never_resends_the_key_pair() {
    let emulator = emulator().await;
    let client = builder(&emulator).build().unwrap();
    emulator.fail_next_on(
        Operation::GetManagementToken,
        1,
        Fault::Redirect {
            status: StatusCode::TEMPORARY_REDIRECT,
            location: "https://collector.example/token".into(),
        },
    );
    let err = client.get_otp_secret_by_user(&user()).await.unwrap_err();
    assert!(matches!(err, Error::Token { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Redirect, "keeps its cause's kind");
    assert!(!err.is_retryable());
    let counters = emulator.counters();
    assert_eq!(
        (counters.token_requests, counters.get_otp_secret_requests),
        (1, 0)
    );
    assert_no_secret(&emulator, &err);
}

#[tokio::test]
async fn an_oversized_answer_is_refused_quickly_and_not_retried() {
    let emulator = emulator().await;
    let client = warm(builder(&emulator).build().unwrap()).await;
    let before = emulator.counters();
    emulator.fail_next(1, Fault::Oversized { bytes: 50 << 20 });
    let started = Instant::now();
    let err = client.get_otp_secret_by_user(&user()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnexpectedResponse, "{err}");
    assert!(err.to_string().contains("larger than 256 KiB"), "{err}");
    within(started, Duration::from_secs(2));
    assert_eq!(seen(&emulator, Operation::GetOtpSecretByUser, before), 1);
}

#[tokio::test]
async fn http_413_is_not_retried() {
    let emulator = emulator().await;
    let client = warm(builder(&emulator).build().unwrap()).await;
    let before = emulator.counters();
    emulator.fail_next_on(
        Operation::ImportOtp,
        1,
        Fault::Status(StatusCode::PAYLOAD_TOO_LARGE),
    );
    let err = client.import_otp([item()]).await.unwrap_err();
    assert_eq!((err.kind(), err.http_status()), (ErrorKind::Api, Some(413)));
    assert!(!err.is_retryable());
    assert_eq!(seen(&emulator, Operation::ImportOtp, before), 1);
}

#[tokio::test]
async fn a_business_refusal_is_not_retried() {
    let emulator = emulator().await;
    let client = warm(builder(&emulator).build().unwrap()).await;
    let before = emulator.counters();
    let err = client
        .get_otp_secret_by_user(&UserRef::user_id("nobody").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Api);
    assert!(!err.is_retryable());
    assert_eq!(seen(&emulator, Operation::GetOtpSecretByUser, before), 1);
}

#[tokio::test]
async fn the_token_request_is_retried_too() {
    let emulator = emulator().await;
    let client = builder(&emulator).build().unwrap();
    emulator.fail_next_on(
        Operation::GetManagementToken,
        2,
        Fault::Status(StatusCode::SERVICE_UNAVAILABLE),
    );
    client.get_otp_secret_by_user(&user()).await.unwrap();
    let counters = emulator.counters();
    assert_eq!(
        (counters.token_requests, counters.get_otp_secret_requests),
        (3, 1)
    );
}

#[tokio::test]
async fn a_token_endpoint_down_is_a_retryable_api_error_not_a_refused_key_pair() {
    let emulator = emulator().await;
    let client = builder(&emulator).build().unwrap();
    emulator.fail_next_on(
        Operation::GetManagementToken,
        100,
        Fault::Status(StatusCode::SERVICE_UNAVAILABLE),
    );
    let err = client.get_otp_secret_by_user(&user()).await.unwrap_err();
    assert_eq!((err.kind(), err.http_status()), (ErrorKind::Api, Some(503)));
    assert!(err.is_retryable());
    assert!(!err.to_string().contains("refused"), "{err}");
    assert_eq!(emulator.counters().token_requests, 3);
    assert_no_secret(&emulator, &err);
}

#[tokio::test]
async fn a_refused_token_then_a_503_refreshes_once_and_retries() {
    let emulator = emulator().await;
    let client = warm(builder(&emulator).build().unwrap()).await;
    let before = emulator.counters();
    emulator.revoke_tokens();
    emulator.fail_next_on(
        Operation::GetOtpSecretByUser,
        2,
        Fault::Status(StatusCode::SERVICE_UNAVAILABLE),
    );
    // The 503s come first (faults precede authentication), then the revoked token's 401, a
    // new token, and the call again.
    client.get_otp_secret_by_user(&user()).await.unwrap();
    assert_eq!(seen(&emulator, Operation::GetManagementToken, before), 1);
    assert_eq!(seen(&emulator, Operation::GetOtpSecretByUser, before), 4);
}

#[tokio::test]
async fn signature_mode_retries_end_to_end() {
    let emulator = emulator().await;
    let client = builder(&emulator)
        .auth(AuthScheme::Signature)
        .build()
        .unwrap();
    emulator.fail_next(2, Fault::Status(StatusCode::SERVICE_UNAVAILABLE));
    // (The emulator applies faults before it checks nonces: that each attempt carries a new
    // nonce and signature is asserted on the wire in client_wire.rs.)
    let secret = client.get_otp_secret_by_user(&user()).await.unwrap();
    assert_eq!(secret.expose_secret(), OTP);
    let counters = emulator.counters();
    assert_eq!(
        (counters.token_requests, counters.get_otp_secret_requests),
        (0, 3)
    );
}

#[tokio::test]
async fn a_server_quoting_the_batch_back_gets_it_scrubbed_and_escaped() {
    let emulator = emulator().await;
    let client = warm(builder(&emulator).build().unwrap()).await;
    let body = serde_json::json!({
        "statusCode": 400,
        "apiCode": 2004,
        "message": format!(
            "bad otp {} / {} \u{1b}[31mfor u1\u{1b}[0m",
            NEW_OTP.to_lowercase(),
            RECOVERY
        ),
        "requestId": format!("req-{}", emulator.access_key_secret().expose_secret()),
    });
    emulator.fail_next_on(
        Operation::ImportOtp,
        1,
        Fault::Raw {
            status: StatusCode::OK,
            content_type: "application/json".into(),
            body: body.to_string(),
        },
    );
    let err = client.import_otp([item()]).await.unwrap_err();
    assert_eq!(err.api_code(), Some(2004));
    assert_no_secret(&emulator, &err);
    let api = err.api_error().unwrap();
    assert_eq!(
        api.message,
        "bad otp <redacted> / <redacted> \\u{1b}[31mfor u1\\u{1b}[0m"
    );
    assert_eq!(api.request_id.as_deref(), Some("req-<redacted>"));
}

#[tokio::test]
async fn an_empty_secret_is_an_unexpected_answer_not_a_secret() {
    let emulator = emulator().await;
    let client = warm(builder(&emulator).build().unwrap()).await;
    for secret in ["", "not base32!"] {
        emulator.fail_next(
            1,
            Fault::Raw {
                status: StatusCode::OK,
                content_type: "application/json".into(),
                body: serde_json::json!({"statusCode": 200, "message": "ok",
                                         "data": {"secret": secret}})
                .to_string(),
            },
        );
        let err = client.get_otp_secret_by_user(&user()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedResponse, "{err}");
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn a_spent_retry_budget_sends_each_call_once() {
    let emulator = emulator().await;
    let fast = RetryConfig::default()
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(1));
    let client = warm(builder(&emulator).retry(fast).build().unwrap()).await;
    emulator.fail_next(100_000, Fault::Status(StatusCode::SERVICE_UNAVAILABLE));
    // 500 tokens, 5 per retry, 2 retries per call: 50 calls spend it.
    for _ in 0..50 {
        client.get_otp_secret_by_user(&user()).await.unwrap_err();
    }
    let before = emulator.counters();
    // A clone shares the budget.
    let clone = client.clone();
    let err = clone.get_otp_secret_by_user(&user()).await.unwrap_err();
    assert_eq!(err.http_status(), Some(503));
    assert_eq!(seen(&emulator, Operation::GetOtpSecretByUser, before), 1);
}

// On tokio's paused clock, which moves only from one timer to the next while the loopback I/O
// is served at once: the elapsed time is the rate limit's own schedule, whatever the machine.
#[tokio::test(start_paused = true)]
async fn the_rate_limit_spaces_requests_and_is_shared_by_clones() {
    let emulator = emulator().await;
    let client = builder(&emulator).rate_limit(20.0).build().unwrap();
    let started = tokio::time::Instant::now();
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get_otp_secret_by_user(&user()).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    // 11 requests (the token's included) 50 ms apart, the first two at once: 450 ms.
    let elapsed = started.elapsed();
    assert!(
        (Duration::from_millis(450)..Duration::from_millis(500)).contains(&elapsed),
        "{elapsed:?}"
    );
    assert_eq!(emulator.counters().total(), 11);
}
