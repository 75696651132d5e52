//! `authing-otp emulator`: the emulator as a command, run as a process.

use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::process::{Child, ChildStdout, Command};

const TOKEN: &str = "/api/v3/get-management-token";
const GET_SECRET: &str = "/api/v3/get-otp-secret-by-user";

fn jwt_payload(token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "JWT-shaped");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

fn http() -> reqwest::Client {
    authing_otp::tls::http_client_builder()
        .unwrap()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

const BIN: &str = env!("CARGO_BIN_EXE_authing-otp");
const SECRET: &str = "cli-secret-do-not-print";

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("emulator")
        .args(args)
        .env("AUTHING_ACCESS_KEY_SECRET", SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// The first line of the child's stdout, and a reader for the rest (which may already be
/// buffered in it).
async fn first_line(child: &mut Child) -> (String, BufReader<ChildStdout>) {
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), reader.read_until(b'\n', &mut line))
        .await
        .expect("the first line comes promptly")
        .unwrap();
    (String::from_utf8(line).unwrap(), reader)
}

#[tokio::test]
async fn the_command_serves_until_sigterm() {
    let seed =
        std::env::temp_dir().join(format!("authing-otp-cli-seed-{}.json", std::process::id()));
    std::fs::write(
        &seed,
        r#"[{"id": "u1", "email": "cli@example.com", "otp": {"secret": "CLISECRET"}}]"#,
    )
    .unwrap();
    let mut child = command(&[
        "--addr",
        "127.0.0.1:0",
        "--access-key-id",
        "ak-cli",
        "--user-pool-id",
        "up-cli",
        "--token-ttl",
        "90",
        "--seed",
        seed.to_str().unwrap(),
    ])
    .spawn()
    .unwrap();
    let (line, mut stdout) = first_line(&mut child).await;
    std::fs::remove_file(&seed).unwrap();
    let base = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_owned();
    assert!(
        base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
        "{base}"
    );

    let resp = http()
        .post(format!("{base}{TOKEN}"))
        .json(&json!({"accessKeyId": "ak-cli", "accessKeySecret": SECRET}))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["expires_in"], 90, "{body}");
    let token = body["data"]["access_token"].as_str().unwrap();
    assert_eq!(jwt_payload(token)["scoped_userpool_id"], "up-cli");
    let body: Value = http()
        .get(format!(
            "{base}{GET_SECRET}?userId=cli@example.com&userIdType=email"
        ))
        .bearer_auth(token)
        .header("x-authing-userpool-id", "up-cli")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["secret"], "CLISECRET");

    #[cfg(unix)]
    {
        let pid = child.id().unwrap().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "exits cleanly on SIGTERM: {status:?}");
    }
    #[cfg(not(unix))]
    child.kill().await.unwrap();

    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut rest)
        .await
        .unwrap();
    assert!(rest.contains("user pool id: up-cli"), "{rest}");
    assert!(
        !rest.contains(SECRET) && !line.contains(SECRET),
        "the secret is never printed"
    );
}

#[tokio::test]
async fn help_never_shows_the_secret() {
    let out = command(&["--help"]).output().await.unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("--access-key-secret"), "{help}");
    assert!(help.contains("AUTHING_ACCESS_KEY_SECRET"), "{help}");
    assert!(!help.contains(SECRET), "{help}");
    assert!(
        !help.contains(authing_otp_emulator::DEFAULT_ACCESS_KEY_SECRET),
        "{help}"
    );
}

#[tokio::test]
async fn the_command_refuses_a_non_loopback_address() {
    let out = command(&["--addr", "0.0.0.0:0"]).output().await.unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("loopback"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn the_command_reports_a_bad_seed_file() {
    let out = command(&["--seed", "/nonexistent/seed.json"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("/nonexistent/seed.json"), "{stderr}");
}
