//! The bulk engines against the emulator: every record gets an outcome, refused batches are
//! split down to the records at fault, a 413 makes later batches smaller, throttling and
//! outages slow a run down without ending it, a broken endpoint stops it without marking
//! anything done, duplicates are refused naming the first record, and every count is what
//! the server received.

#[path = "support/outage_proxy.rs"]
mod outage_proxy;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use authing_otp::{
    ExposeSecret, ManagementClient, OtpImport, RetryConfig, UserRef,
    bulk::{BatchDone, BulkEvent, BulkOptions, Outcome, ReadOutcome, StopReason},
};
use authing_otp_emulator::{Emulator, Fault, Operation, RetryAfter, User};
use outage_proxy::OutageProxy;
use reqwest::StatusCode;

const SECRET: &str = "JBSWY3DPEHPK3PXP";

async fn emulator(users: usize, max_list: Option<usize>) -> Emulator {
    emulator_with(users, |b| match max_list {
        Some(n) => b.max_list(n),
        None => b,
    })
    .await
}

async fn emulator_with(
    users: usize,
    configure: impl FnOnce(
        authing_otp_emulator::EmulatorBuilder,
    ) -> authing_otp_emulator::EmulatorBuilder,
) -> Emulator {
    let builder = Emulator::builder().users((0..users).map(|n| User::new(format!("u-{n}"))));
    configure(builder).start().await.unwrap()
}

fn client_at(emulator: &Emulator, host: &str, rps: Option<f64>) -> ManagementClient {
    let mut builder = ManagementClient::builder()
        .host(host)
        .access_key(
            emulator.access_key_id(),
            emulator.access_key_secret().expose_secret(),
        )
        .timeout(Duration::from_secs(2))
        .retry(
            RetryConfig::default()
                .initial_backoff(Duration::from_millis(1))
                .max_backoff(Duration::from_millis(5)),
        );
    if let Some(rps) = rps {
        builder = builder.rate_limit(rps);
    }
    builder.build().unwrap()
}

fn client(emulator: &Emulator) -> ManagementClient {
    client_at(emulator, emulator.base_url(), None)
}

/// A distinct secret for record `n`, so that a binding tells which record made it.
fn secret(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    (0..16)
        .map(|i| ALPHABET[((n >> (5 * (i % 4))) % 32) ^ (i % 7)] as char)
        .collect()
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
            (i, OtpImport::new(user, secret(i)).unwrap())
        })
        .collect()
}

/// Every outcome by key, and the events that were not batches, as `Display` shows them.
#[derive(Default)]
struct Seen {
    outcomes: Vec<Option<(String, Outcome<usize>)>>,
    events: Vec<String>,
}

impl Seen {
    fn new(n: usize) -> Self {
        Seen {
            outcomes: vec![None; n],
            events: Vec::new(),
        }
    }

    fn take(&mut self, event: BulkEvent<BatchDone<usize>>) {
        match event {
            BulkEvent::Done(done) => {
                for (key, user, outcome) in done.outcomes {
                    assert!(self.outcomes[key].is_none(), "record {key} reported twice");
                    self.outcomes[key] = Some((user, outcome));
                }
            }
            other => self.events.push(other.to_string()),
        }
    }

    fn outcome(&self, key: usize) -> &Outcome<usize> {
        &self.outcomes[key]
            .as_ref()
            .expect("every record reported")
            .1
    }
}

/// Every `u-i` of `0..n` bound to record `i`'s secret.
fn assert_all_bound(emulator: &Emulator, n: usize) {
    for i in 0..n {
        let otp = emulator
            .otp_of(&format!("u-{i}"))
            .unwrap_or_else(|| panic!("u-{i} not bound"));
        assert_eq!(otp.secret.expose_secret(), secret(i), "u-{i}");
    }
}

#[tokio::test]
async fn refused_batches_are_split_to_isolate_exactly_the_records_at_fault() {
    let emulator = emulator(1000, None).await;
    let client = client(&emulator);
    let ghosts = [3, 250, 251, 999];
    let mut seen = Seen::new(1000);
    let summary = client
        .bulk_import(
            BulkOptions::default().batch_size(100).concurrency(4),
            records(1000, &ghosts),
            |event| seen.take(event),
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
    for i in 0..1000 {
        let (user, outcome) = seen.outcomes[i].as_ref().unwrap();
        if ghosts.contains(&i) {
            let Outcome::Refused(why) = outcome else {
                panic!("{i}: {outcome:?}")
            };
            assert_eq!(user, &format!("ghost-{i}"));
            assert_eq!(why.status_code, Some(404), "{why}");
        } else {
            assert_eq!(outcome, &Outcome::Imported, "{i}");
            let bound = emulator.otp_of(user).unwrap();
            assert_eq!(bound.secret.expose_secret(), secret(i));
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
    assert_eq!(emulator.counters().import_otp_requests, summary.requests);
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

#[tokio::test]
async fn a_rate_limit_three_times_below_the_ceiling_slows_the_run_down_and_it_completes() {
    // The pool serves 20 requests a second; the client was told 60.
    let emulator = emulator_with(300, |b| b.rate_limit(20)).await;
    let client = client_at(&emulator, emulator.base_url(), Some(60.0));
    let mut seen = Seen::new(300);
    let started = Instant::now();
    let summary = client
        .bulk_import(
            BulkOptions::default().batch_size(5).concurrency(4),
            records(300, &[]),
            |event| seen.take(event),
        )
        .await;
    assert!(summary.stopped.is_none(), "{:?}", summary.stopped);
    assert_eq!((summary.imported, summary.not_attempted), (300, 0));
    assert_all_bound(&emulator, 300);
    assert!(summary.throttled > 0, "the emulator never throttled");
    assert!(
        seen.events.iter().any(|e| e.starts_with("throttled: ")),
        "{:?}",
        seen.events
    );
    // Every 429 was sent again, and counted: 60 batches took 60 accepted requests.
    assert_eq!(summary.requests, 60 + summary.throttled);
    let counters = emulator.counters();
    assert_eq!(counters.import_otp_requests, summary.requests);
    // 60 requests at 20 a second take about 3 s (the token request shares the window).
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn without_a_ceiling_the_run_finds_the_pools_pace() {
    let emulator = emulator_with(200, |b| b.rate_limit(25)).await;
    let client = client(&emulator);
    let summary = client
        .bulk_import(
            BulkOptions::default().batch_size(4).concurrency(8),
            records(200, &[]),
            |_| {},
        )
        .await;
    assert!(summary.stopped.is_none(), "{:?}", summary.stopped);
    assert_eq!(summary.imported, 200);
    assert_all_bound(&emulator, 200);
    assert_eq!(emulator.counters().import_otp_requests, summary.requests);
}

#[tokio::test]
async fn retry_after_is_honoured_and_the_throttled_batch_goes_back_into_the_queue() {
    let emulator = emulator(20, None).await;
    let client = client(&emulator);
    emulator.fail_next_on(
        Operation::ImportOtp,
        1,
        Fault::ThrottledInBody {
            retry_after: Some(RetryAfter::Seconds(1)),
        },
    );
    let mut seen = Seen::new(20);
    let started = Instant::now();
    let summary = client
        .bulk_import(
            BulkOptions::default().batch_size(10).concurrency(1),
            records(20, &[]),
            |event| seen.take(event),
        )
        .await;
    assert_eq!((summary.imported, summary.throttled), (20, 1));
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(summary.requests, 3);
    assert_eq!(
        seen.events
            .iter()
            .filter(|e| e.contains("(Retry-After 1 s)"))
            .count(),
        1,
        "{:?}",
        seen.events
    );
}

#[tokio::test]
async fn an_outage_in_the_middle_of_a_run_costs_its_length_and_the_run_completes() {
    let emulator = emulator(2000, None).await;
    let proxy = OutageProxy::start(emulator.addr()).await;
    let client = client_at(&emulator, &proxy.url(), Some(200.0));
    let events = Arc::new(Mutex::new(Vec::new()));
    let run = {
        let client = client.clone();
        let events = events.clone();
        tokio::spawn(async move {
            client
                .bulk_import(
                    BulkOptions::default()
                        .batch_size(5)
                        .concurrency(4)
                        .longest_wait(Duration::from_secs(1)),
                    records(2000, &[]),
                    move |event| {
                        if !matches!(event, BulkEvent::Done(_)) {
                            events.lock().unwrap().push(event.to_string());
                        }
                    },
                )
                .await
        })
    };
    // Let it get going, then make the server unreachable for 3 s.
    while emulator.bindings().len() < 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.down();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!run.is_finished(), "the outage ended the run");
    let bound_during = emulator.bindings().len();
    proxy.up();
    let summary = run.await.unwrap();
    assert!(summary.stopped.is_none(), "{:?}", summary.stopped);
    assert_eq!((summary.imported, summary.not_attempted), (2000, 0));
    assert!(bound_during < 2000);
    assert_all_bound(&emulator, 2000);
    assert!(summary.unavailable > 0);
    assert!(proxy.refused() > 0, "the proxy refused nothing");
    let events = events.lock().unwrap();
    let unavailable = events
        .iter()
        .find(|e| e.starts_with("server unavailable for "))
        .unwrap_or_else(|| panic!("{events:?}"));
    assert!(unavailable.contains(", next try in "), "{unavailable}");
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("server available again after ")),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_server_that_stays_down_stops_the_run_after_the_stall_timeout() {
    let emulator = emulator(1000, None).await;
    let client = client(&emulator);
    emulator.fail_next_on(
        Operation::ImportOtp,
        1_000_000,
        Fault::Status(StatusCode::SERVICE_UNAVAILABLE),
    );
    let mut reported = 0;
    let started = Instant::now();
    let summary = client
        .bulk_import(
            BulkOptions::default()
                .batch_size(10)
                .concurrency(2)
                .stall_timeout(Duration::from_secs(2))
                .longest_wait(Duration::from_secs(1)),
            records(1000, &[]),
            |event| {
                if let BulkEvent::Done(done) = event {
                    reported += done.outcomes.len();
                }
            },
        )
        .await;
    let elapsed = started.elapsed();
    let Some(StopReason::Stalled { after, last_error }) = &summary.stopped else {
        panic!("{:?}", summary.stopped)
    };
    assert!(*after >= Duration::from_secs(2));
    assert!(elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(10));
    assert_eq!(last_error.as_deref().unwrap().http_status(), Some(503));
    let shown = summary.stopped.as_ref().unwrap().display_chain();
    assert!(shown.starts_with("no record finished for 2 s: "), "{shown}");
    assert_eq!(summary.imported, 0);
    assert_eq!(summary.not_attempted, summary.records);
    // It stopped reading: at most the batches in flight were taken from the input.
    assert!(summary.records <= 20, "{} records read", summary.records);
    assert_eq!(reported as u64, summary.records);
    // One probe at a time while down, not every batch hammering the server.
    assert_eq!(emulator.counters().import_otp_requests, summary.requests);
    assert!(summary.requests < 20, "{} requests", summary.requests);
}

/// Every import refused the same way, then a healthy server: the first run stops within a few
/// requests and marks nothing done; the same records then import.
async fn a_broken_endpoint_stops_the_run_and_marks_nothing(fault: Fault) -> StopReason {
    let emulator = emulator(1000, None).await;
    let client = client(&emulator);
    emulator.fail_next_on(Operation::ImportOtp, 1_000_000, fault);
    let mut seen = Seen::new(1000);
    let summary = client
        .bulk_import(
            BulkOptions::default().batch_size(100).concurrency(4),
            records(1000, &[]),
            |event| seen.take(event),
        )
        .await;
    let stopped = summary.stopped.clone().expect("the run stopped");
    let sent = emulator.counters().import_otp_requests;
    assert_eq!(sent, summary.requests);
    // 4 batches, then a record at a time until 6 are refused alike, and what was in flight.
    assert!(sent <= 14, "{sent} requests for a broken endpoint");
    assert_eq!((summary.imported, summary.refused), (0, 0));
    assert_eq!(summary.not_attempted, summary.records);
    assert!(summary.records <= 400, "{} records read", summary.records);
    for (_, outcome) in seen.outcomes.iter().flatten() {
        assert_eq!(outcome, &Outcome::NotAttempted);
    }
    // Fixed: the same records, all of them, import.
    emulator.clear_faults();
    let summary = client
        .bulk_import(BulkOptions::default(), records(1000, &[]), |_| {})
        .await;
    assert!(summary.stopped.is_none(), "{:?}", summary.stopped);
    assert_eq!(summary.imported, 1000);
    assert_all_bound(&emulator, 1000);
    stopped
}

#[tokio::test]
async fn an_html_404_for_every_import_stops_the_run_within_a_few_requests() {
    let stopped = a_broken_endpoint_stops_the_run_and_marks_nothing(Fault::Raw {
        status: StatusCode::NOT_FOUND,
        content_type: "text/html".into(),
        body: "<html><body><h1>404 Not Found</h1>nginx</body></html>".into(),
    })
    .await;
    let StopReason::Refused(error) = &stopped else {
        panic!("{stopped:?}")
    };
    assert_eq!(error.http_status(), Some(404));
    let shown = stopped.display_chain();
    assert!(shown.contains("unexpected response (HTTP 404)"), "{shown}");
}

#[tokio::test]
async fn a_route_that_does_not_exist_stops_the_run() {
    // NestJS's own answer for an unknown route: HTTP 404 with a JSON envelope.
    let stopped = a_broken_endpoint_stops_the_run_and_marks_nothing(Fault::Raw {
        status: StatusCode::NOT_FOUND,
        content_type: "application/json".into(),
        body:
            r#"{"statusCode":404,"message":"Cannot POST /api/v3/import-otp","error":"Not Found"}"#
                .into(),
    })
    .await;
    assert!(matches!(stopped, StopReason::Refused(_)), "{stopped:?}");
}

#[tokio::test]
async fn a_pool_wide_refusal_stops_the_run_within_a_few_requests() {
    let stopped = a_broken_endpoint_stops_the_run_and_marks_nothing(Fault::Raw {
        status: StatusCode::OK,
        content_type: "application/json".into(),
        body: r#"{"statusCode":400,"message":"the key pair may not import OTP secrets","apiCode":40010,"requestId":"r-1"}"#.into(),
    })
    .await;
    let StopReason::RefusedAlike { error, records } = &stopped else {
        panic!("{stopped:?}")
    };
    assert_eq!(*records, 6);
    assert_eq!(error.api_code(), Some(40010));
    let shown = stopped.display_chain();
    assert!(
        shown.starts_with("the first 6 records tried were all refused the same way"),
        "{shown}"
    );
    assert!(
        shown.contains("the key pair may not import OTP secrets"),
        "{shown}"
    );
}

#[tokio::test]
async fn refused_credentials_stop_the_run_at_once() {
    let emulator = emulator(100, None).await;
    let client = ManagementClient::builder()
        .host(emulator.base_url())
        .access_key(emulator.access_key_id(), "not-the-secret")
        .build()
        .unwrap();
    let summary = client
        .bulk_import(BulkOptions::default(), records(100, &[]), |_| {})
        .await;
    let Some(StopReason::Refused(error)) = &summary.stopped else {
        panic!("{:?}", summary.stopped)
    };
    assert_eq!(error.kind(), authing_otp::ErrorKind::Authentication);
    assert_eq!(summary.not_attempted, 100);
    assert_eq!(summary.requests, 0, "no import was sent without a token");
}

#[tokio::test]
async fn a_user_named_twice_is_refused_naming_the_first_record() {
    let emulator = emulator(3, None).await;
    let client = client(&emulator);
    let item = |user: &str, n: usize| OtpImport::new(user, secret(n)).unwrap();
    // Within a batch, and across batches.
    for batch_size in [100, 2] {
        emulator.reset_counters();
        let records = vec![
            (1, item("u-1", 1)),
            (2, item("u-2", 2)),
            (3, item("u-1", 3)),
        ];
        let mut seen = Seen::new(4);
        let summary = client
            .bulk_import(
                BulkOptions::default().batch_size(batch_size),
                records,
                |event| seen.take(event),
            )
            .await;
        assert_eq!(seen.outcome(1), &Outcome::Imported);
        assert_eq!(seen.outcome(2), &Outcome::Imported);
        assert_eq!(seen.outcome(3), &Outcome::Duplicate(1));
        assert_eq!(
            (summary.imported, summary.duplicates, summary.refused),
            (2, 1, 0)
        );
        // u-1 keeps record 1's secret.
        assert_eq!(
            emulator.otp_of("u-1").unwrap().secret.expose_secret(),
            secret(1)
        );
        // Every count is what the server received.
        assert_eq!(summary.requests, emulator.counters().import_otp_requests);
    }
}

#[tokio::test]
async fn read_back_gives_every_user_an_outcome() {
    let emulator = Emulator::builder()
        .user(User::new("u-1").email("a@example.com").otp(SECRET))
        .user(User::new("u-2").email("b@example.com"))
        .start()
        .await
        .unwrap();
    let client = client(&emulator);
    let users = vec![
        (0, UserRef::email("a@example.com").unwrap()),
        (1, UserRef::email("b@example.com").unwrap()),
        (2, UserRef::email("nobody@example.com").unwrap()),
    ];
    let mut outcomes = [None, None, None];
    let summary = client
        .bulk_get_otp_secrets(BulkOptions::default().batch_size(2), users, |event| {
            if let BulkEvent::Done(done) = event {
                for (key, _, outcome) in done.outcomes {
                    outcomes[key] = Some(outcome);
                }
            }
        })
        .await;
    assert!(summary.stopped.is_none(), "{:?}", summary.stopped);
    assert_eq!((summary.read, summary.refused), (1, 2));
    assert!(matches!(&outcomes[0], Some(ReadOutcome::Secret(s)) if s.expose_secret() == SECRET));
    for i in [1, 2] {
        let Some(ReadOutcome::Refused(why)) = &outcomes[i] else {
            panic!("{:?}", outcomes[i])
        };
        assert_eq!(why.status_code, Some(404));
    }
    assert_eq!(
        summary.requests,
        emulator.counters().get_otp_secret_requests
    );
}

/// Emulator users `u-0..u-n`, each with the email `user<n>@example.com`.
async fn users_with_emails(n: usize) -> Emulator {
    Emulator::builder()
        .users((0..n).map(|i| User::new(format!("u-{i}")).email(format!("user{i}@example.com"))))
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn emails_are_resolved_fifty_a_request_through_throttling() {
    use authing_otp::bulk::{ResolveDone, ResolveOutcome};

    let emulator = users_with_emails(120).await;
    let client = client(&emulator);
    emulator.fail_next_on(
        Operation::GetUserBatch,
        1,
        Fault::ThrottledInBody { retry_after: None },
    );
    // 120 known users, every other one in capitals, and 5 unknown ones among them.
    let mut users: Vec<(usize, UserRef)> = (0..120)
        .map(|i| {
            let email = format!("user{i}@example.com");
            let email = if i % 2 == 0 {
                email.to_uppercase()
            } else {
                email
            };
            (i, UserRef::email(email).unwrap())
        })
        .collect();
    for k in 0..5 {
        let at = 7 + 23 * k;
        users.insert(
            at,
            (
                1000 + k,
                UserRef::email(format!("ghost{k}@example.com")).unwrap(),
            ),
        );
    }
    let mut outcomes = std::collections::BTreeMap::new();
    let mut batches = Vec::new();
    let summary = client
        .bulk_resolve_users(
            // Larger than a lookup takes: capped at 50.
            BulkOptions::default().batch_size(500).concurrency(2),
            users,
            |event: BulkEvent<ResolveDone<usize>>| {
                if let BulkEvent::Done(batch) = event {
                    batches.push(batch.outcomes.len());
                    for (key, _, outcome) in batch.outcomes {
                        assert!(outcomes.insert(key, outcome).is_none());
                    }
                }
            },
        )
        .await;
    batches.sort_unstable();
    assert_eq!(batches, [25, 50, 50]);
    assert!(summary.stopped.is_none(), "{:?}", summary.stopped);
    assert_eq!(
        (summary.records, summary.found, summary.not_found),
        (125, 120, 5)
    );
    assert_eq!(
        (summary.ambiguous, summary.refused, summary.not_attempted),
        (0, 0, 0)
    );
    assert_eq!((summary.requests, summary.throttled), (4, 1));
    assert_eq!(emulator.counters().get_user_batch_requests, 4);
    for i in 0..120 {
        assert_eq!(outcomes[&i], ResolveOutcome::Found(format!("u-{i}")), "{i}");
    }
    for k in 0..5 {
        assert_eq!(outcomes[&(1000 + k)], ResolveOutcome::NotFound);
    }
}

#[tokio::test]
async fn batches_hold_one_user_id_type_and_user_ids_cost_no_request() {
    use authing_otp::bulk::ResolveOutcome;

    let emulator = users_with_emails(4).await;
    let client = client(&emulator);
    let users = vec![
        (0, UserRef::email("user0@example.com").unwrap()),
        (1, UserRef::user_id("u-1").unwrap()),
        (2, UserRef::user_id("u-2").unwrap()),
        (3, UserRef::email("user3@example.com").unwrap()),
        (4, UserRef::username("nobody").unwrap()),
    ];
    let mut batches = Vec::new();
    let summary = client
        .bulk_resolve_users(BulkOptions::default().concurrency(1), users, |event| {
            if let BulkEvent::Done(batch) = event {
                batches.push(
                    batch
                        .outcomes
                        .into_iter()
                        .map(|(key, _, outcome)| (key, outcome))
                        .collect::<Vec<_>>(),
                );
            }
        })
        .await;
    assert_eq!(
        batches,
        [
            vec![(0, ResolveOutcome::Found("u-0".into()))],
            vec![
                (1, ResolveOutcome::Found("u-1".into())),
                (2, ResolveOutcome::Found("u-2".into()))
            ],
            vec![(3, ResolveOutcome::Found("u-3".into()))],
            vec![(4, ResolveOutcome::NotFound)],
        ]
    );
    assert_eq!(
        (summary.found, summary.not_found, summary.requests),
        (4, 1, 3)
    );
    assert_eq!(emulator.counters().get_user_batch_requests, 3);
}

#[tokio::test]
async fn a_signed_lookup_of_several_ids_passes_the_emulators_signature_check() {
    let emulator = users_with_emails(3).await;
    let client = ManagementClient::builder()
        .host(emulator.base_url())
        .access_key(
            emulator.access_key_id(),
            emulator.access_key_secret().expose_secret(),
        )
        .auth(authing_otp::AuthScheme::Signature)
        .build()
        .unwrap();
    let users = [
        UserRef::email("user2@example.com").unwrap(),
        UserRef::email("nobody@example.com").unwrap(),
        UserRef::email("USER0@example.com").unwrap(),
    ];
    let found = client.resolve_user_ids(&users).await.unwrap();
    assert_eq!(
        found,
        [
            authing_otp::Resolution::Found("u-2".into()),
            authing_otp::Resolution::NotFound,
            authing_otp::Resolution::Found("u-0".into()),
        ]
    );
}
