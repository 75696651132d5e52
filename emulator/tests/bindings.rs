//! The emulator over HTTP: the bindings endpoint, and users seeded from a JSON Lines file.

mod common;

use std::path::PathBuf;

use authing_otp_emulator::BINDINGS_PATH;
use common::*;

/// `GET /__emulator/bindings`, unauthenticated: status, content type and body.
async fn get_bindings(emu: &Emulator) -> (StatusCode, String, String) {
    let resp = http()
        .get(format!("{}{BINDINGS_PATH}", emu.base_url()))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, resp.text().await.unwrap())
}

fn temp_file(name: &str, text: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "authing-otp-emulator-test-{}-{name}",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn bindings_are_listed_as_json_lines_sorted_by_user_id() {
    let emu = start(
        Emulator::builder()
            .user(alice())
            .user(bob())
            .user(User::new("u-0")),
    )
    .await;
    let t = token(&emu).await;
    let reply = import(
        &emu,
        &t,
        &json!({"list": [{"userId": "u-0", "otp": {"secret": "ZERO\"QUOTED"}}]}),
    )
    .await;
    assert_eq!(reply.1["statusCode"], 200, "{}", reply.1);

    let (status, content_type, body) = get_bindings(&emu).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/x-ndjson");
    assert_eq!(
        body,
        concat!(
            r#"{"userId":"u-0","secret":"ZERO\"QUOTED"}"#,
            "\n",
            r#"{"userId":"u-alice","secret":"ALICESECRETBASE32","recoveryCode":"alice-recovery"}"#,
            "\n",
        )
    );

    let rust: Vec<(String, Option<String>)> = emu
        .bindings()
        .into_iter()
        .map(|(id, otp)| {
            assert!(!otp.secret.expose_secret().is_empty());
            (id, otp.recovery_code.map(|c| c.expose_secret().to_owned()))
        })
        .collect();
    assert_eq!(
        rust,
        [
            ("u-0".to_owned(), None),
            ("u-alice".to_owned(), Some("alice-recovery".to_owned()))
        ]
    );
    assert_eq!(emu.counters().other_requests, 1);

    // Only GET.
    let (status, body) = post_json(&emu, BINDINGS_PATH, None, &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Cannot POST /__emulator/bindings");
}

#[tokio::test]
async fn no_bindings_is_an_empty_body() {
    let emu = start(Emulator::builder().user(bob())).await;
    let (status, content_type, body) = get_bindings(&emu).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/x-ndjson");
    assert_eq!(body, "");
    assert!(emu.bindings().is_empty());
}

#[tokio::test]
async fn many_bindings_come_in_several_chunks_in_order() {
    let emu = start(Emulator::builder()).await;
    for n in (0..3000).rev() {
        emu.seed_user(User::new(format!("user-{n:05}")).otp(format!("SECRET{n:05}")))
            .unwrap();
    }
    let (status, _, body) = get_bindings(&emu).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.len() > 64 * 1024, "{}", body.len());
    let lines: Vec<Value> = body
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3000);
    for (n, line) in lines.iter().enumerate() {
        assert_eq!(line["userId"], format!("user-{n:05}"));
        assert_eq!(line["secret"], format!("SECRET{n:05}"));
        assert!(line.get("recoveryCode").is_none());
    }
}

#[tokio::test]
async fn users_can_be_seeded_from_an_import_file() {
    let path = temp_file(
        "users.jsonl",
        br#"{"userId":"u-1","secret":"MZXW6YQ=","recoveryCode":"rc-1"}

{"otp":{"secret":"JBSWY3DPEHPK3PXP"},"userId":"u-2","extra":[1,{"a":null}]}
{"userId":"u-1","secret":"AGAIN"}
{"userId":"u-bob"}
"#,
    );
    let emu = start(Emulator::builder().user(bob()).seed_users_from(&path)).await;
    std::fs::remove_file(&path).unwrap();
    assert!(
        emu.bindings().is_empty(),
        "the file's secrets are not bound"
    );
    let t = token(&emu).await;
    let reply = get_secret(&emu, &t, &[("userId", "u-1")]).await;
    business_error(&reply, 404, codes::OTP_NOT_BOUND);
    let reply = get_secret(
        &emu,
        &t,
        &[("userId", "bob@example.com"), ("userIdType", "email")],
    )
    .await;
    business_error(&reply, 404, codes::OTP_NOT_BOUND);

    let reply = import(
        &emu,
        &t,
        &json!({"list": [
            {"userId": "u-1", "otp": {"secret": "MZXW6YQ=", "recoveryCode": "rc-1"}},
            {"userId": "u-2", "otp": {"secret": "JBSWY3DPEHPK3PXP"}},
        ]}),
    )
    .await;
    assert_eq!(reply.1["statusCode"], 200, "{}", reply.1);
    let (_, _, body) = get_bindings(&emu).await;
    assert_eq!(
        body,
        concat!(
            r#"{"userId":"u-1","secret":"MZXW6YQ=","recoveryCode":"rc-1"}"#,
            "\n",
            r#"{"userId":"u-2","secret":"JBSWY3DPEHPK3PXP"}"#,
            "\n",
        )
    );
}

#[tokio::test]
async fn a_large_users_file_is_read() {
    let mut text = Vec::new();
    for n in 0..20_000 {
        text.extend_from_slice(
            format!("{{\"userId\":\"bulk-{n}\",\"secret\":\"S{n}\"}}\n").as_bytes(),
        );
    }
    let path = temp_file("bulk.jsonl", &text);
    let emu = start(Emulator::builder().seed_users_from(&path)).await;
    std::fs::remove_file(&path).unwrap();
    emu.seed_user(User::new("bulk-19999"))
        .expect_err("the last line's user exists");
    let t = token(&emu).await;
    let reply = get_secret(&emu, &t, &[("userId", "bulk-12345")]).await;
    business_error(&reply, 404, codes::OTP_NOT_BOUND);
}

#[tokio::test]
async fn a_bad_users_file_fails_start_naming_the_line_not_the_value() {
    let path = temp_file(
        "bad.jsonl",
        b"{\"userId\":\"u-1\"}\n\n{\"userId\":{\"secret\":\"S3CR3T\"}}\n",
    );
    let err = Emulator::builder()
        .seed_users_from(&path)
        .start()
        .await
        .unwrap_err();
    std::fs::remove_file(&path).unwrap();
    let text = err.to_string();
    assert!(matches!(err, Error::SeedParse { .. }), "{text}");
    assert!(text.contains("line 3:"), "{text}");
    assert!(text.contains(path.to_str().unwrap()), "{text}");
    assert!(!text.contains("S3CR3T"), "{text}");

    let path = temp_file("not-json.jsonl", b"{\"userId\":\"u-1\"}\nS3CR3T,u-2\n");
    let err = Emulator::builder()
        .seed_users_from(&path)
        .start()
        .await
        .unwrap_err();
    std::fs::remove_file(&path).unwrap();
    let text = err.to_string();
    assert!(text.contains("line 2: not valid JSON"), "{text}");
    assert!(!text.contains("S3CR3T"), "{text}");

    let err = Emulator::builder()
        .seed_users_from("/nonexistent/users.jsonl")
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SeedRead { .. }), "{err}");

    // A user the file names and a Rust user conflict on nothing but the id: the file's is
    // skipped, the Rust one (with its email) stays.
    let path = temp_file("dup.jsonl", b"{\"userId\":\"u-bob\"}\n");
    let emu = start(Emulator::builder().seed_users_from(&path).user(bob())).await;
    std::fs::remove_file(&path).unwrap();
    let t = token(&emu).await;
    let reply = get_secret(
        &emu,
        &t,
        &[("userId", "bob@example.com"), ("userIdType", "email")],
    )
    .await;
    business_error(&reply, 404, codes::OTP_NOT_BOUND);
}
