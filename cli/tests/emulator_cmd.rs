//! `authing-otp emulator`: the emulator as a command, run as a process.

use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::process::{Child, ChildStdout, Command};

use authing_otp_emulator as emulator;

const TOKEN: &str = "/api/v3/get-management-token";
const IMPORT: &str = "/api/v3/import-otp";
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

/// Starts the command with `args` and returns it with its base URL (from the first line).
async fn spawn_emulator(args: &[&str]) -> (Child, String) {
    let mut child = command(args).spawn().unwrap();
    let (line, _) = first_line(&mut child).await;
    let base = line
        .trim_end()
        .strip_prefix("listening on http://127.0.0.1:")
        .map(|port| format!("http://127.0.0.1:{port}"))
        .unwrap_or_else(|| panic!("first line: {line:?}"));
    (child, base)
}

async fn token(base: &str) -> String {
    let body: Value = http()
        .post(format!("{base}{TOKEN}"))
        .json(
            &json!({"accessKeyId": authing_otp_emulator::DEFAULT_ACCESS_KEY_ID,
            "accessKeySecret": SECRET}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"]["access_token"].as_str().unwrap().to_owned()
}

fn temp_file(name: &str, text: &[u8]) -> std::path::PathBuf {
    let path =
        std::env::temp_dir().join(format!("authing-otp-cli-emu-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn the_command_seeds_users_from_a_file_limits_lists_and_lists_bindings() {
    let users = temp_file(
        "users.jsonl",
        br#"{"userId":"u-1","secret":"MZXW6YQ=","recoveryCode":"rc-1"}

{"userId":"u-2","otp":{"secret":"JBSWY3DPEHPK3PXP"}}
{"userId":"u-3","secret":"X"}
"#,
    );
    let (_child, base) = spawn_emulator(&[
        "--seed-users-from",
        users.to_str().unwrap(),
        "--max-list",
        "2",
    ])
    .await;
    std::fs::remove_file(&users).unwrap();
    let bindings = format!("{base}{}", authing_otp_emulator::BINDINGS_PATH);
    let resp = http().get(&bindings).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "", "seeded users have no OTP");

    let t = token(&base).await;
    let import = |list: Value| {
        http()
            .post(format!("{base}{IMPORT}"))
            .bearer_auth(&t)
            .header("x-authing-userpool-id", emulator::DEFAULT_USER_POOL_ID)
            .json(&json!({ "list": list }))
            .send()
    };
    let resp = import(json!([
        {"userId": "u-1", "otp": {"secret": "MZXW6YQ=", "recoveryCode": "rc-1"}},
        {"userId": "u-2", "otp": {"secret": "JBSWY3DPEHPK3PXP"}},
        {"userId": "u-3", "otp": {"secret": "X"}},
    ]))
    .await
    .unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["statusCode"], 413, "{body}");
    assert_eq!(body["apiCode"], emulator::codes::LIST_TOO_LARGE, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("request entity too large"),
        "{body}"
    );

    let resp = import(json!([
        {"userId": "u-2", "otp": {"secret": "JBSWY3DPEHPK3PXP"}},
        {"userId": "u-1", "otp": {"secret": "MZXW6YQ=", "recoveryCode": "rc-1"}},
    ]))
    .await
    .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["statusCode"], 200, "{body}");

    let resp = http().get(&bindings).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    assert_eq!(
        resp.text().await.unwrap(),
        concat!(
            r#"{"userId":"u-1","secret":"MZXW6YQ=","recoveryCode":"rc-1"}"#,
            "\n",
            r#"{"userId":"u-2","secret":"JBSWY3DPEHPK3PXP"}"#,
            "\n",
        )
    );
}

#[tokio::test]
async fn the_command_rate_limits_like_authing() {
    let (_child, base) = spawn_emulator(&["--rate-limit", "5"]).await;
    let started = std::time::Instant::now();
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let base = base.clone();
        requests.spawn(async move {
            let resp = http()
                .post(format!("{base}{TOKEN}"))
                .json(&json!({"accessKeyId": emulator::DEFAULT_ACCESS_KEY_ID,
                    "accessKeySecret": SECRET}))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let retry_after = resp.headers().contains_key("retry-after");
            (status, retry_after, resp.json::<Value>().await.unwrap())
        });
    }
    let replies = requests.join_all().await;
    let elapsed = started.elapsed();
    let served = replies.iter().filter(|(status, ..)| *status == 200).count();
    for (status, retry_after, body) in replies.iter().filter(|(status, ..)| *status != 200) {
        assert_eq!(*status, 429, "{body}");
        assert!(!retry_after);
        assert_eq!(body["statusCode"], 429, "{body}");
        assert_eq!(body["message"], "您的请求已超过最大数量限制，请稍后重试");
        assert!(body["requestId"].is_string(), "{body}");
    }
    assert!(served < 20, "some refused ({elapsed:?})");
    assert!(
        served as u64 <= 5 * (elapsed.as_secs() + 1),
        "{served} in {elapsed:?}"
    );
    // The bindings endpoint is not limited.
    for _ in 0..10 {
        let bindings = format!("{base}{}", authing_otp_emulator::BINDINGS_PATH);
        assert_eq!(http().get(bindings).send().await.unwrap().status(), 200);
    }
}

#[tokio::test]
async fn the_command_reports_a_bad_users_file_by_line_without_values() {
    let users = temp_file(
        "bad-users.jsonl",
        b"{\"userId\":\"u-1\"}\n{\"userId\":[\"S3CR3T\"]}\n",
    );
    let out = command(&["--seed-users-from", users.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    std::fs::remove_file(&users).unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("line 2:"), "{stderr}");
    assert!(stderr.contains(users.to_str().unwrap()), "{stderr}");
    assert!(!stderr.contains("S3CR3T"), "{stderr}");
}

#[tokio::test]
async fn help_shows_the_limit_and_seeding_flags() {
    let out = command(&["--help"]).output().await.unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--rate-limit <QPS>",
        "--max-list <N>",
        "--seed-users-from <FILE>",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
}

/// The lines after the first, up to and including the `export` line.
async fn lines_to_export(reader: &mut BufReader<ChildStdout>) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(60), reader.read_line(&mut line))
            .await
            .expect("the lines come promptly")
            .unwrap();
        assert!(n > 0, "no export line in {lines:?}");
        let done = line.starts_with("export ");
        lines.push(line.trim_end().to_owned());
        if done {
            return lines;
        }
    }
}

#[tokio::test]
async fn the_command_prints_the_settings_to_paste() {
    // The published development secret: printed, so that the line works when pasted.
    let mut cmd = command(&["--addr", "127.0.0.1:0"]);
    cmd.env_remove("AUTHING_ACCESS_KEY_SECRET")
        .env_remove("AUTHING_ACCESS_KEY_ID")
        .env_remove("AUTHING_USERPOOL_ID");
    let mut child = cmd.spawn().unwrap();
    let (first, mut stdout) = first_line(&mut child).await;
    let base = first
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let lines = lines_to_export(&mut stdout).await;
    assert_eq!(
        lines.last().unwrap(),
        &format!(
            "export AUTHING_HOST={base} AUTHING_ACCESS_KEY_ID={} AUTHING_ACCESS_KEY_SECRET={}",
            emulator::DEFAULT_ACCESS_KEY_ID,
            emulator::DEFAULT_ACCESS_KEY_SECRET
        )
    );
    child.kill().await.unwrap();
    // A secret of one's own is never printed; the line says to set it.
    let mut child = command(&["--addr", "127.0.0.1:0", "--access-key-id", "my key"])
        .spawn()
        .unwrap();
    let (first, mut stdout) = first_line(&mut child).await;
    let base = first
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let lines = lines_to_export(&mut stdout).await;
    assert_eq!(
        lines.last().unwrap(),
        &format!(
            "export AUTHING_HOST={base} AUTHING_ACCESS_KEY_ID='my key'   \
             # and AUTHING_ACCESS_KEY_SECRET, as you gave it to the emulator"
        )
    );
    assert!(!lines.concat().contains(SECRET));
    child.kill().await.unwrap();
}
