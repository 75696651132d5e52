//! The bulk-import engine against the emulator: every record gets an outcome, refused batches
//! are split down to the records at fault, a 413 makes later batches smaller, and a server
//! that stays down stops the run without losing track of anything.

use std::time::Duration;

use authing_otp::{
    ExposeSecret, ManagementClient, OtpImport, RetryConfig,
    bulk::{BulkOptions, Outcome, UserFingerprints},
};
use authing_otp_emulator::{Emulator, Fault, Operation, User};
use reqwest::StatusCode;

const SECRET: &str = "JBSWY3DPEHPK3PXP";

async fn emulator(users: usize, max_list: Option<usize>) -> Emulator {
    let mut builder = Emulator::builder().users((0..users).map(|n| User::new(format!("u-{n}"))));
    if let Some(n) = max_list {
        builder = builder.max_list(n);
    }
    builder.start().await.unwrap()
}

fn client(emulator: &Emulator) -> ManagementClient {
    ManagementClient::builder()
        .host(emulator.base_url())
        .access_key(
            emulator.access_key_id(),
            emulator.access_key_secret().expose_secret(),
        )
        .retry(
            RetryConfig::default()
                .initial_backoff(Duration::from_millis(1))
                .max_backoff(Duration::from_millis(5)),
        )
        .build()
        .unwrap()
}

/// Records for `u-0..u-n`, and `ghost-k` (unknown to the emulator) at each of `ghosts`.
fn records(n: usize, ghosts: &[usize]) -> Vec<(usize, OtpImport)> {
    (0..n)
        .map(|i| {
            let user = if ghosts.contains(&i) {
                format!("ghost-{i}")
            } else {
                format!("u-{i}")
            };
            (i, OtpImport::new(user, SECRET).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn refused_batches_are_split_to_isolate_exactly_the_records_at_fault() {
    let emulator = emulator(1000, None).await;
    let client = client(&emulator);
    let ghosts = [3, 250, 251, 999];
    let mut outcomes = vec![None; 1000];
    let summary = client
        .bulk_import(
            BulkOptions::default().batch_size(100).concurrency(4),
            records(1000, &ghosts),
            |done| {
                for (key, user, outcome) in done.outcomes {
                    assert!(outcomes[key].is_none(), "record {key} reported twice");
                    outcomes[key] = Some((user, outcome));
                }
            },
        )
        .await;
    assert_eq!(
        (
            summary.records,
            summary.imported,
            summary.refused,
            summary.not_attempted
        ),
        (1000, 996, 4, 0)
    );
    assert!(summary.stopped.is_none());
    for (i, outcome) in outcomes.iter().enumerate() {
        let (user, outcome) = outcome
            .as_ref()
            .unwrap_or_else(|| panic!("record {i}: none"));
        if ghosts.contains(&i) {
            let Outcome::Refused(why) = outcome else {
                panic!("{i}: {outcome:?}")
            };
            assert_eq!(user, &format!("ghost-{i}"));
            assert_eq!(why.status_code, Some(404), "{why}");
        } else {
            assert_eq!(outcome, &Outcome::Imported, "{i}");
            assert_eq!(
                emulator.otp_of(user).unwrap().secret.expose_secret(),
                SECRET
            );
        }
    }
    // 10 batches, 3 of them refused and split: far fewer requests than records.
    assert!(summary.requests < 60, "{} requests", summary.requests);
    assert_eq!(emulator.counters().import_otp_requests, summary.requests);
}

#[tokio::test]
async fn a_413_makes_later_batches_smaller() {
    let emulator = emulator(500, Some(30)).await;
    let client = client(&emulator);
    let summary = client
        .bulk_import(
            BulkOptions::default().batch_size(100).concurrency(1),
            records(500, &[]),
            |_| {},
        )
        .await;
    assert_eq!((summary.imported, summary.refused), (500, 0));
    // 100 → 50 → 25 fits under 30.
    assert_eq!(summary.final_batch_size, 25);
    // One 413 for 100, one for 50; then every batch of 25 is taken.
    assert!(
        summary.requests <= 4 + 500 / 25,
        "{} requests",
        summary.requests
    );
}

#[tokio::test]
async fn a_server_that_stays_down_stops_the_run_and_says_what_was_not_attempted() {
    let emulator = emulator(1000, None).await;
    let client = client(&emulator);
    // Warm the token, then everything fails.
    client
        .import_otp([OtpImport::new("u-0", SECRET).unwrap()])
        .await
        .unwrap();
    emulator.fail_next_on(
        Operation::ImportOtp,
        1_000_000,
        Fault::Status(StatusCode::SERVICE_UNAVAILABLE),
    );
    let mut reported = 0;
    let summary = client
        .bulk_import(
            BulkOptions::default().batch_size(10).concurrency(2),
            records(1000, &[]),
            |done| reported += done.outcomes.len(),
        )
        .await;
    let stopped = summary.stopped.as_deref().expect("the run stopped");
    assert_eq!(stopped.http_status(), Some(503));
    assert_eq!(summary.imported, 0);
    assert_eq!(summary.not_attempted, summary.records);
    // It stopped reading: at most the batches in flight were taken from the input.
    assert!(summary.records <= 40, "{} records read", summary.records);
    assert_eq!(reported as u64, summary.records);
}

#[test]
fn fingerprints_find_repeats_among_many() {
    let mut seen = UserFingerprints::with_capacity(100_001);
    for n in 0..100_000 {
        seen.push(&format!("user-{n}@example.com"));
    }
    seen.push("user-99999@example.com");
    let repeated = seen.repeated();
    assert_eq!(repeated.len(), 1);
    assert!(repeated.contains(&seen.hash("user-99999@example.com")));
    assert_eq!(seen.len(), 100_001);
    assert_eq!(format!("{seen:?}"), "UserFingerprints { users: 100001 }");
}

#[tokio::test]
async fn a_proxys_html_413_is_split_like_authings() {
    let emulator = emulator(200, None).await;
    let client = client(&emulator);
    emulator.fail_next_on(
        Operation::ImportOtp,
        1,
        Fault::Raw {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            content_type: "text/html".into(),
            body: "<html><h1>413 Request Entity Too Large</h1></html>".into(),
        },
    );
    let summary = client
        .bulk_import(
            BulkOptions::default().batch_size(100).concurrency(1),
            records(200, &[]),
            |_| {},
        )
        .await;
    assert!(summary.stopped.is_none(), "{:?}", summary.stopped);
    assert_eq!((summary.imported, summary.refused), (200, 0));
    assert_eq!(summary.final_batch_size, 50);
}
