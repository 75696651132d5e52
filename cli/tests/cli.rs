//! The `authing-otp` command run as a process against the emulator.

use std::{
    path::PathBuf,
    process::Output,
    sync::atomic::{AtomicUsize, Ordering},
};

use authing_otp_emulator::{Emulator, Fault, Operation, User};
use secrecy::ExposeSecret;

const SECRET: &str = "HZ2F6J3AGNAVSOTV";

async fn emulator() -> Emulator {
    Emulator::builder()
        .user(
            User::new("u-1")
                .email("alice@example.com")
                .identity("62f2", "ou_1")
                .otp(SECRET),
        )
        .user(User::new("u-2"))
        .user(User::new("u-3"))
        .start()
        .await
        .unwrap()
}

/// Runs the binary with only the given `AUTHING_*` settings (none from the caller's
/// environment).
async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_authing-otp"));
    command.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("AUTHING_") || name.starts_with("GENAUTH_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command.output().await.unwrap()
}

async fn run_against(emulator: &Emulator, args: &[&str]) -> Output {
    let secret = emulator.access_key_secret().expose_secret().to_owned();
    run(
        args,
        &[
            ("AUTHING_HOST", emulator.base_url()),
            ("AUTHING_ACCESS_KEY_ID", emulator.access_key_id()),
            ("AUTHING_ACCESS_KEY_SECRET", &secret),
        ],
    )
    .await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "authing-otp-cli-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[tokio::test]
async fn get_secret_prints_the_secret_alone() {
    let emulator = emulator().await;
    for user in [
        "email:alice@example.com",
        "identity:62f2:ou_1",
        "u-1",
        "user_id:u-1",
    ] {
        let out = run_against(&emulator, &["get-secret", user]).await;
        assert!(out.status.success(), "{user}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), format!("{SECRET}\n"), "{user}");
    }
    let out = run_against(
        &emulator,
        &["get-secret", "email:alice@example.com", "--json"],
    )
    .await;
    assert!(out.status.success());
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        answer,
        serde_json::json!({"userId": "alice@example.com", "userIdType": "email", "secret": SECRET})
    );
}

#[tokio::test]
async fn get_secret_failures_exit_non_zero_with_a_message() {
    let emulator = emulator().await;
    let out = run_against(&emulator, &["get-secret", "email:nobody@example.com"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("apiCode 40401"),
        "{}",
        text(&out.stderr)
    );

    let out = run_against(&emulator, &["get-secret", "identity:62f2:"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("userIdInIdp: must not be empty"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        emulator.counters().token_requests,
        1,
        "nothing sent for the bad reference"
    );
}

#[tokio::test]
async fn the_access_key_secret_is_never_echoed() {
    let emulator = emulator().await;
    let wrong = "wrong-secret-DO-NOT-PRINT";
    let out = run(
        &["get-secret", "u-1"],
        &[
            ("AUTHING_HOST", emulator.base_url()),
            ("AUTHING_ACCESS_KEY_ID", emulator.access_key_id()),
            ("AUTHING_ACCESS_KEY_SECRET", wrong),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("could not obtain a management token"),
        "{stderr}"
    );
    assert!(!stderr.contains(wrong) && !text(&out.stdout).contains(wrong));

    let help = run(&["--help"], &[("AUTHING_ACCESS_KEY_SECRET", wrong)]).await;
    assert!(help.status.success());
    assert!(
        !text(&help.stdout).contains(wrong),
        "{}",
        text(&help.stdout)
    );
    let help = run(
        &["emulator", "--help"],
        &[("AUTHING_ACCESS_KEY_SECRET", wrong)],
    )
    .await;
    assert!(!text(&help.stdout).contains(wrong));
}

#[tokio::test]
async fn import_jsonl_in_both_shapes() {
    let emulator = emulator().await;
    let file = temp_file(
        "secrets.jsonl",
        br#"{"userId":"u-2","secret":"mzxw 6yqm zxw6 yqaa","recoveryCode":"rc-2-8ec0"}
{"userId":"u-3","otp":{"secret":"JBSWY3DPEHPK3PXP"}}
"#,
    );
    let out = run_against(&emulator, &["import", file.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("2 records: 2 imported, 0 refused, 0 not attempted"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        emulator.otp_of("u-2").unwrap().secret.expose_secret(),
        "MZXW6YQMZXW6YQAA"
    );
    assert_eq!(
        emulator.otp_of("u-3").unwrap().secret.expose_secret(),
        "JBSWY3DPEHPK3PXP"
    );
}

#[tokio::test]
async fn import_csv_in_batches() {
    let emulator = emulator().await;
    let file = temp_file(
        "secrets.csv",
        b"userId,secret,recoveryCode\nu-2,MZXW6YQMZXW6YQAA,rc-2-8ec0\nu-3,JBSWY3DPEHPK3PXP,\n",
    );
    let out = run_against(
        &emulator,
        &["import", file.to_str().unwrap(), "--batch-size", "1"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("2 imported, 0 refused"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(emulator.counters().import_otp_requests, 2);
    assert!(emulator.otp_of("u-3").unwrap().recovery_code.is_none());
}

#[tokio::test]
async fn bad_files_name_the_line_and_send_nothing() {
    let emulator = emulator().await;
    let mut invalid_utf8 = b"userId,secret\nu-2,MZXW6YQMZXW6YQAA\n".to_vec();
    invalid_utf8.extend_from_slice(b"u-\xff3,JBSWY3DPEHPK3PXP\n");
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "header.csv",
            b"user,secret\nu-2,MZXW6YQMZXW6YQAA\n".to_vec(),
            "line 1: the header must be `userId,secret,recoveryCode`",
        ),
        (
            "missing.jsonl",
            b"{\"userId\":\"u-2\",\"secret\":\"MZXW6YQMZXW6YQAA\"}\n\n{\"userId\":\"u-3\"}\n".to_vec(),
            "line 3: secret: missing",
        ),
        (
            "missing.csv",
            b"userId,secret\nu-2,MZXW6YQMZXW6YQAA\nu-3,\n".to_vec(),
            "line 3: secret: missing",
        ),
        ("utf8.csv", invalid_utf8, "line 3: not valid UTF-8"),
        (
            "dup.jsonl",
            b"{\"userId\":\"u-2\",\"secret\":\"MZXW6YQMZXW6YQAA\"}\n{\"userId\":\"u-2\",\"secret\":\"MZXW6YQMZXW6YQAA\"}\n"
                .to_vec(),
            "line 2: userId: the same user as line 1",
        ),
    ];
    for (name, contents, expected) in cases {
        let file = temp_file(name, &contents);
        let out = run_against(&emulator, &["import", file.to_str().unwrap()]).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(stderr.contains("nothing was sent"), "{name}: {stderr}");
    }
    assert_eq!(emulator.counters().total(), 0, "not even a token request");
}

#[tokio::test]
async fn quickstart_without_credentials_uses_the_emulator() {
    let out = run(&["quickstart"], &[]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("starting the local emulator, as authing"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("(matches the import)").count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("getOtpSecretByUser email:"));
    assert!(stdout.contains("getOtpSecretByUser identity:"));
}

#[tokio::test]
async fn quickstart_signs_requests_when_asked() {
    let out = run(&["quickstart", "--auth", "signature"], &[]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("0 token request served 3 OTP requests"),
        "{stdout}"
    );
}

#[tokio::test]
async fn quickstart_with_credentials_only_reads() {
    let emulator = emulator().await;
    let out = run_against(
        &emulator,
        &["quickstart", "--user", "email:alice@example.com"],
    )
    .await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("a secret of 16 characters is bound"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(SECRET),
        "a real user's secret is not printed: {stdout}"
    );
    assert_eq!(emulator.counters().import_otp_requests, 0);
}

#[tokio::test]
async fn retries_show_with_v_on_stderr_and_never_the_secret_or_the_user() {
    let emulator = emulator().await;
    emulator.fail_next_on(
        Operation::GetOtpSecretByUser,
        2,
        Fault::TooManyRequests { retry_after: None },
    );
    let out = run_against(&emulator, &["get-secret", "-v", "email:alice@example.com"]).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(text(&out.stdout), format!("{SECRET}\n"));
    assert_eq!(stderr.matches("retrying").count(), 2, "{stderr}");
    assert!(stderr.contains("throttled (429)"), "{stderr}");
    let key_secret = emulator.access_key_secret().expose_secret().to_owned();
    for hidden in [SECRET, "alice@example.com", key_secret.as_str()] {
        assert!(!stderr.contains(hidden), "{hidden} in {stderr}");
    }
    assert_eq!(emulator.counters().get_otp_secret_requests, 3);
}

#[tokio::test]
async fn max_attempts_1_turns_retries_off() {
    let emulator = emulator().await;
    emulator.fail_next_on(
        Operation::GetOtpSecretByUser,
        1,
        Fault::Status(http::StatusCode::SERVICE_UNAVAILABLE),
    );
    let out = run_against(
        &emulator,
        &[
            "get-secret",
            "--max-attempts",
            "1",
            "email:alice@example.com",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("statusCode 503"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(emulator.counters().get_otp_secret_requests, 1);
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused_before_anything_is_sent() {
    let out = run(
        &[
            "get-secret",
            "--host",
            "http://some.remote.host",
            "email:alice@example.com",
        ],
        &[
            ("AUTHING_ACCESS_KEY_ID", "ak"),
            ("AUTHING_ACCESS_KEY_SECRET", "sk-cli-secret"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("use https"), "{stderr}");
    assert!(!stderr.contains("sk-cli-secret"), "{stderr}");
}

#[tokio::test]
async fn a_redirect_is_reported_with_its_origin_only() {
    let emulator = emulator().await;
    emulator.fail_next_on(
        Operation::GetOtpSecretByUser,
        1,
        Fault::Redirect {
            status: http::StatusCode::TEMPORARY_REDIRECT,
            location: "https://collector.example/steal?user=alice".into(),
        },
    );
    let out = run_against(&emulator, &["get-secret", "email:alice@example.com"]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("HTTP 307 redirecting to https://collector.example;"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("steal") && !stderr.contains("alice"),
        "{stderr}"
    );
}

#[tokio::test]
async fn key_uris_import_canonical_secrets_and_verify_reads_them_back() {
    let emulator = emulator().await;
    let file = temp_file(
        "export.txt",
        b"# exported from the old system\n\
          u-2 otpauth://totp/Acme:alice%40example.com?secret=jbsw%20y3dp%20ehpk%203pxp&issuer=Acme\n\
          u-3\totpauth://totp/Acme:bob?secret=MZXW6YQMZXW6YQAA&algorithm=SHA1&digits=6&period=30\n",
    );
    let out = run_against(
        &emulator,
        &["import", file.to_str().unwrap(), "--verify", "--json"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["imported"], 2, "{summary}");
    let verify = &summary["verify"];
    assert_eq!(
        (
            &verify["records"],
            &verify["matched"],
            &verify["mismatched"],
            &verify["notAttempted"]
        ),
        (&2.into(), &2.into(), &0.into(), &0.into()),
        "{summary}"
    );
    assert_eq!(verify["requests"], 2, "{summary}");
    assert_eq!(
        emulator.otp_of("u-2").unwrap().secret.expose_secret(),
        "JBSWY3DPEHPK3PXP"
    );
    // A URI whose codes Authing would compute differently is refused, by line.
    let file = temp_file(
        "sha256.txt",
        b"u-2 otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&algorithm=SHA256\n",
    );
    let out = run_against(&emulator, &["import", file.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 1") && stderr.contains("algorithm"),
        "{stderr}"
    );
    assert!(!stderr.contains("JBSWY3DPEHPK3PXP"), "{stderr}");
}

#[tokio::test]
async fn quickstart_speaks_genauth_when_asked_in_both_auth_schemes() {
    for auth in ["token", "signature"] {
        let out = run(&["quickstart", "--brand", "genauth", "--auth", auth], &[]).await;
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{auth}: {stdout}{}",
            text(&out.stderr)
        );
        // The emulator accepts only GenAuth's dialect: success proves the client spoke it.
        assert!(
            stdout.contains("accepting only genauth's dialect (x-genauth-* headers)"),
            "{stdout}"
        );
        assert_eq!(
            stdout.matches("(matches the import)").count(),
            2,
            "{stdout}"
        );
    }
}

// Issue 15.

#[tokio::test]
async fn a_host_with_a_password_is_refused_without_echoing_it() {
    for (flag, env) in [
        (Some("ftp://admin:hunter2@api.authing.cn"), None),
        (None, Some("ftp://admin:hunter2@api.authing.cn")),
        (Some("admin:hunter2@api.authing.cn"), None),
    ] {
        let mut args = vec!["get-secret", "u-1"];
        if let Some(host) = flag {
            args.extend(["--host", host]);
        }
        let mut vars = vec![
            ("AUTHING_ACCESS_KEY_ID", "ak"),
            ("AUTHING_ACCESS_KEY_SECRET", "sk-cli-secret"),
        ];
        if let Some(host) = env {
            vars.push(("AUTHING_HOST", host));
        }
        let out = run(&args, &vars).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("is not an http(s) URL"), "{stderr}");
        if flag.is_some_and(|h| h.starts_with("ftp:")) || env.is_some() {
            assert!(stderr.contains("`ftp://api.authing.cn`"), "{stderr}");
        }
        for needle in ["hunter2", "admin", "sk-cli-secret"] {
            assert!(!stderr.contains(needle), "{needle}: {stderr}");
        }
    }
}

#[tokio::test]
async fn a_user_id_of_120_kb_is_an_input_error_and_not_repeated() {
    let emulator = emulator().await;
    let id = format!("user_id:{}", "u".repeat(120 * 1024));
    let out = run_against(&emulator, &["get-secret", &id]).await;
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        &stderr[..stderr.len().min(300)]
    );
    assert!(
        stderr.contains("userId: too long: 122880 bytes; at most 1024"),
        "{}",
        &stderr[..stderr.len().min(300)]
    );
    assert!(stderr.len() < 1000, "{} bytes of stderr", stderr.len());
    assert!(out.stdout.is_empty());
    assert_eq!(emulator.counters().total(), 0, "nothing was sent");
}

#[tokio::test]
async fn a_short_recovery_code_is_refused_and_never_shown() {
    let emulator = emulator().await;
    for (name, contents) in [
        (
            "short.jsonl",
            &b"{\"userId\":\"u-2\",\"secret\":\"MZXW6YQMZXW6YQAA\",\"recoveryCode\":\"q7z\"}\n"[..],
        ),
        (
            "short.csv",
            b"userId,secret,recoveryCode\nu-2,MZXW6YQMZXW6YQAA,q7z\n",
        ),
    ] {
        let file = temp_file(name, contents);
        let out = run_against(&emulator, &["import", file.to_str().unwrap()]).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains("recoveryCode: too short: a recovery code has at least 6 characters"),
            "{name}: {stderr}"
        );
        assert!(
            !stderr.contains("q7z") && !text(&out.stdout).contains("q7z"),
            "{name}: {stderr}"
        );
    }
    assert_eq!(emulator.counters().total(), 0, "nothing was sent");
}
