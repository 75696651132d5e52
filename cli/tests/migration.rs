//! `authing-otp import` as a migration meets it, run as a process: a pool that throttles, a
//! server that goes away for a while, an endpoint that refuses everything, a kill during the
//! read-back of `--verify`, secrets read back in another spelling, and logs written to a pipe.

mod common;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use authing_otp_emulator::{Emulator, Fault, Operation, User};
use common::{
    EmulatorProcess, bound, command, expected, journal_entries, output, secret, secrets_file,
    summary, temp_dir, text,
};
use secrecy::ExposeSecret;

/// `authing-otp import FILE ARGS…` against the in-process `emulator`.
fn import(emulator: &Emulator, file: &Path, args: &[&str]) -> Command {
    import_at(
        emulator.base_url(),
        emulator.access_key_secret().expose_secret(),
        file,
        args,
    )
}

fn import_at(url: &str, key_secret: &str, file: &Path, args: &[&str]) -> Command {
    let mut command = command();
    command
        .arg("import")
        .arg(file)
        .args(args)
        .env("AUTHING_HOST", url)
        .env(
            "AUTHING_ACCESS_KEY_ID",
            authing_otp_emulator::DEFAULT_ACCESS_KEY_ID,
        )
        .env("AUTHING_ACCESS_KEY_SECRET", key_secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

async fn emulator_of(
    users: usize,
    configure: impl FnOnce(
        authing_otp_emulator::EmulatorBuilder,
    ) -> authing_otp_emulator::EmulatorBuilder,
) -> Emulator {
    let builder = Emulator::builder().users((0..users).map(|i| User::new(format!("u-{i}"))));
    configure(builder).start().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_throttling_three_times_below_rps_slows_the_run_and_it_finishes() {
    let dir = temp_dir("throttled");
    let file = secrets_file(&dir, 2000);
    let emulator = emulator_of(2000, |b| b.rate_limit(40)).await;
    let out = output(import(
        &emulator,
        &file,
        &[
            "--rps",
            "120",
            "--batch-size",
            "20",
            "--concurrency",
            "8",
            "--json",
        ],
    ))
    .await;
    let summary = summary(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{summary} {}",
        text(&out.stderr)
    );
    assert_eq!(summary["imported"], 2000, "{summary}");
    assert_eq!(summary["stopped"], serde_json::Value::Null);
    assert!(
        summary["import"]["throttled"].as_u64().unwrap() > 0,
        "{summary}"
    );
    // Every throttled batch went back into the queue: 100 batches were taken.
    let throttled = summary["import"]["throttled"].as_u64().unwrap();
    assert_eq!(summary["import"]["requests"], 100 + throttled, "{summary}");
    assert_eq!(
        emulator.counters().import_otp_requests,
        100 + throttled,
        "{summary}"
    );
    assert_eq!(bound(&emulator), expected(2000));
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_gone_for_seconds_costs_seconds_and_the_run_finishes() {
    let dir = temp_dir("outage");
    let file = secrets_file(&dir, 3000);
    let emulator = EmulatorProcess::start(&file, &[]);
    let child = import_at(
        &emulator.url,
        authing_otp_emulator::DEFAULT_ACCESS_KEY_SECRET,
        &file,
        &[
            "--rps",
            "100",
            "--batch-size",
            "5",
            "--timeout",
            "1",
            "--json",
        ],
    )
    .spawn()
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    emulator.signal("STOP");
    let stopped_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    emulator.signal("CONT");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let summary = summary(&out);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{summary}\n{stderr}");
    assert_eq!(summary["imported"], 3000);
    assert!(
        summary["import"]["unavailable"].as_u64().unwrap() > 0,
        "{summary}"
    );
    // Said as it happened, on stderr (a pipe here: plain lines).
    assert!(
        stderr.contains("authing-otp import: server unavailable for "),
        "{stderr}"
    );
    assert!(stderr.contains(", next try in "), "{stderr}");
    assert!(
        stderr.contains("authing-otp import: server available again after "),
        "{stderr}"
    );
    assert!(stopped_at.elapsed() < Duration::from_secs(60));
    assert_eq!(emulator.bindings().await, expected(3000));
    let _ = std::fs::remove_dir_all(&dir);
}

/// An endpoint that refuses every import the same way: the run stops within a few requests,
/// the journal lists nothing as done, and once the endpoint is fixed the same command imports
/// everything.
async fn a_broken_endpoint_marks_nothing_done(fault: Fault, says: &str) {
    let dir = temp_dir("broken-endpoint");
    let file = secrets_file(&dir, 1000);
    let journal = dir.join("journal.jsonl");
    let emulator = emulator_of(1000, |b| b).await;
    emulator.fail_next_on(Operation::ImportOtp, 1_000_000, fault);
    let report = dir.join("report.jsonl");
    let args = [
        "--journal",
        journal.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--json",
    ];
    let out = output(import(&emulator, &file, &args)).await;
    let first = summary(&out);
    assert_eq!(out.status.code(), Some(1), "{first}");
    let stopped = first["stopped"]
        .as_str()
        .unwrap_or_else(|| panic!("{first}"));
    assert!(stopped.contains(says), "{stopped}");
    assert_eq!(
        (
            &first["imported"],
            &first["refused"],
            &first["notAttempted"]
        ),
        (&0.into(), &0.into(), &1000.into()),
        "{first}"
    );
    let sent = emulator.counters().import_otp_requests;
    assert!(sent <= 16, "{sent} requests for a broken endpoint");
    assert_eq!(first["import"]["requests"], sent);
    assert!(journal_entries(&journal).is_empty(), "nothing is done");
    assert_eq!(
        std::fs::read_to_string(&report).unwrap(),
        "",
        "nothing was refused"
    );
    // The text summary says to run it again.
    let out = output(import(&emulator, &file, &args[..4])).await;
    assert!(
        text(&out.stdout).contains("; run the same command again to continue"),
        "{}",
        text(&out.stdout)
    );
    emulator.clear_faults();
    let out = output(import(&emulator, &file, &args)).await;
    let again = summary(&out);
    assert_eq!(out.status.code(), Some(0), "{again}");
    assert_eq!(
        (&again["imported"], &again["resumedFrom"]),
        (&1000.into(), &0.into())
    );
    assert_eq!(bound(&emulator), expected(1000));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_404_for_every_import_marks_nothing_done() {
    a_broken_endpoint_marks_nothing_done(
        Fault::Raw {
            status: http::StatusCode::NOT_FOUND,
            content_type: "text/html".into(),
            body: "<html><body><h1>404 Not Found</h1></body></html>".into(),
        },
        "the server refused a request for a reason that is not about the records: \
         unexpected response (HTTP 404)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_wide_statuscode_400_marks_nothing_done() {
    a_broken_endpoint_marks_nothing_done(
        Fault::Raw {
            status: http::StatusCode::OK,
            content_type: "application/json".into(),
            body: r#"{"statusCode":400,"message":"no permission to import OTP","apiCode":40010}"#
                .into(),
        },
        "were all refused the same way before any was accepted",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_during_verify_resumes_the_read_back_where_it_stopped() {
    let dir = temp_dir("verify-kill");
    let file = secrets_file(&dir, 400);
    let journal = dir.join("journal.jsonl");
    let emulator = emulator_of(400, |b| b.latency(Duration::from_millis(20))).await;
    let args = [
        "--verify",
        "--journal",
        journal.to_str().unwrap(),
        "--batch-size",
        "20",
        "--concurrency",
        "2",
        "--json",
    ];
    let mut child = import(&emulator, &file, &args).spawn().unwrap();
    // Killed as soon as the journal says some records were read back.
    let verified = |entries: &[serde_json::Value]| -> u64 {
        entries
            .iter()
            .flat_map(|e| e["verified"].as_array().cloned().unwrap_or_default())
            .map(|r| r[1].as_u64().unwrap() - r[0].as_u64().unwrap() + 1)
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "no read-back in the journal");
        if journal.exists() && verified(&journal_entries(&journal)) > 0 {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the kill"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = verified(&journal_entries(&journal));
    assert!(before > 0 && before < 400, "{before}");
    emulator.reset_counters();
    let out = output(import(&emulator, &file, &args)).await;
    let summary = summary(&out);
    assert_eq!(out.status.code(), Some(0), "{summary}");
    let counters = emulator.counters();
    assert_eq!(counters.import_otp_requests, 0, "the import was done");
    assert_eq!(
        counters.get_otp_secret_requests,
        400 - before,
        "only the rest"
    );
    let verify = &summary["verify"];
    assert_eq!(verify["resumedFrom"], before, "{summary}");
    assert_eq!(verify["records"], 400 - before, "{summary}");
    assert_eq!(verify["requests"], 400 - before, "{summary}");
    assert_eq!(verify["verified"], 400, "{summary}");
    assert_eq!(verify["mismatchedInAll"], 0, "{summary}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_compares_canonical_secrets_and_reports_what_differs() {
    let dir = temp_dir("verify-canonical");
    let file = secrets_file(&dir, 3);
    let report = dir.join("report.jsonl");
    let emulator = emulator_of(3, |b| b).await;
    let answer = |secret: &str| Fault::Raw {
        status: http::StatusCode::OK,
        content_type: "application/json".into(),
        body: format!(r#"{{"statusCode":200,"message":"success","data":{{"secret":"{secret}"}}}}"#),
    };
    // u-0 reads back lower-case and padded: the same key. u-1 reads back another key.
    let padded = format!("{}========", secret(0).to_ascii_lowercase());
    emulator.fail_next_on(Operation::GetOtpSecretByUser, 1, answer(&padded));
    emulator.fail_next_on(Operation::GetOtpSecretByUser, 1, answer(&secret(7)));
    let out = output(import(
        &emulator,
        &file,
        &[
            "--verify",
            "--concurrency",
            "1",
            "--report",
            report.to_str().unwrap(),
            "--json",
        ],
    ))
    .await;
    let summary = summary(&out);
    assert_eq!(out.status.code(), Some(1), "{summary}");
    assert_eq!(summary["imported"], 3);
    assert_eq!(
        (
            &summary["verify"]["matched"],
            &summary["verify"]["mismatched"]
        ),
        (&2.into(), &1.into()),
        "{summary}"
    );
    let report = std::fs::read_to_string(&report).unwrap();
    let lines: Vec<serde_json::Value> = report
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [serde_json::json!({
            "phase": "verify",
            "record": 1,
            "line": 2,
            "userId": "u-1",
            "message": "the secret read back differs from the one imported",
        })]
    );
    let everything = format!("{report}{}{}", text(&out.stdout), text(&out.stderr));
    for n in [0, 1, 2, 7] {
        assert!(!everything.contains(&secret(n)), "secret {n} shown");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_written_to_a_pipe_carry_no_escape_sequences() {
    let dir = temp_dir("logs");
    let file = secrets_file(&dir, 10);
    let emulator = emulator_of(10, |b| b).await;
    emulator.fail_next_on(
        Operation::ImportOtp,
        2,
        Fault::Status(http::StatusCode::SERVICE_UNAVAILABLE),
    );
    let out = output(import(&emulator, &file, &["-vv", "--batch-size", "5"])).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("server unavailable"), "{stderr}");
    assert!(stderr.contains("INFO"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// On a terminal, colours; with `NO_COLOR` set, none (a pseudo-terminal from `script`).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_color_turns_colours_off_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        panic!("`script` (util-linux) is needed for this test");
    }
    let emulator = emulator_of(1, |b| b).await;
    emulator.fail_next_on(
        Operation::GetOtpSecretByUser,
        1,
        Fault::Status(http::StatusCode::SERVICE_UNAVAILABLE),
    );
    let shell = |no_color: bool| {
        let mut command = Command::new("script");
        command
            .args(["-qec"])
            .arg(format!(
                "{} -v get-secret u-0 --host {}",
                common::BIN,
                emulator.base_url()
            ))
            .arg("/dev/null")
            .env("AUTHING_ACCESS_KEY_ID", emulator.access_key_id())
            .env(
                "AUTHING_ACCESS_KEY_SECRET",
                emulator.access_key_secret().expose_secret(),
            )
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        if no_color {
            command.env("NO_COLOR", "1");
        } else {
            command.env_remove("NO_COLOR");
        }
        command
    };
    let coloured = text(&output(shell(false)).await.stdout);
    assert!(coloured.contains("retrying"), "{coloured}");
    assert!(
        coloured.contains('\u{1b}'),
        "a terminal gets colours: {coloured:?}"
    );
    emulator.fail_next_on(
        Operation::GetOtpSecretByUser,
        1,
        Fault::Status(http::StatusCode::SERVICE_UNAVAILABLE),
    );
    let plain = text(&output(shell(true)).await.stdout);
    assert!(plain.contains("retrying"), "{plain}");
    assert!(!plain.contains('\u{1b}'), "{plain:?}");
}
