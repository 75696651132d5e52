//! `authing-otp import` from where enrolments live: records naming users by email, username
//! or a `userIdType` of their own (looked up with get-user-batch), and Keycloak realm exports,
//! run as a process against the emulator.

mod common;

use std::{
    collections::BTreeMap,
    path::Path,
    process::{Command, Stdio},
};

use authing_otp_emulator::{Emulator, User};
use common::{bound, command, output, secret, summary, temp_dir, text};
use secrecy::ExposeSecret;

fn import(emulator: &Emulator, file: &Path, args: &[&str]) -> Command {
    let mut command = command();
    command
        .arg("import")
        .arg(file)
        .args(args)
        .env("AUTHING_HOST", emulator.base_url())
        .env(
            "AUTHING_ACCESS_KEY_ID",
            authing_otp_emulator::DEFAULT_ACCESS_KEY_ID,
        )
        .env(
            "AUTHING_ACCESS_KEY_SECRET",
            emulator.access_key_secret().expose_secret(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn report(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_keyed_by_email_are_looked_up_unknown_ones_and_two_names_of_one_user_refused() {
    let users = (0..120).map(|i| {
        User::new(format!("u-{i}"))
            .email(format!("user{i}@example.com"))
            .username(format!("user{i}"))
    });
    let emulator = Emulator::builder()
        .users(users)
        .user(
            User::new("u-both")
                .email("both@example.com")
                .username("both"),
        )
        .start()
        .await
        .unwrap();
    let dir = temp_dir("by-email");
    let mut lines: String = (0..120)
        .map(|i| {
            format!(
                "{{\"userId\":\"user{i}@example.com\",\"secret\":\"{}\"}}\n",
                secret(i)
            )
        })
        .collect();
    // Line 121: nobody; lines 122 and 123: one user named twice, by email and by username.
    lines.push_str(&format!(
        "{{\"userId\":\"nobody@example.com\",\"secret\":\"{}\"}}\n",
        secret(500)
    ));
    lines.push_str(&format!(
        "{{\"userId\":\"both@example.com\",\"secret\":\"{}\"}}\n",
        secret(501)
    ));
    lines.push_str(&format!(
        "{{\"userId\":\"both\",\"userIdType\":\"username\",\"secret\":\"{}\"}}\n",
        secret(502)
    ));
    let file = dir.join("by-email.jsonl");
    std::fs::write(&file, lines).unwrap();
    let report_path = dir.join("report.jsonl");

    let out = output(import(
        &emulator,
        &file,
        &[
            "--user-id-type",
            "email",
            "--json",
            "--quiet",
            "--report",
            report_path.to_str().unwrap(),
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let got = summary(&out);
    assert_eq!(got["records"], 123);
    assert_eq!(got["imported"], 120);
    assert_eq!(got["refused"], 3);
    assert_eq!(got["resolve"]["found"], 122);
    assert_eq!(got["resolve"]["refused"], 3);

    let expected: BTreeMap<String, String> =
        (0..120).map(|i| (format!("u-{i}"), secret(i))).collect();
    assert_eq!(bound(&emulator), expected);
    // 121 emails in 3 requests of at most 50, and one username.
    let counters = emulator.counters();
    assert_eq!(counters.get_user_batch_requests, 4, "{counters:?}");
    assert_eq!(counters.import_otp_requests, 2, "{counters:?}");

    let report = report(&report_path);
    let by_line: BTreeMap<u64, &serde_json::Value> = report
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r))
        .collect();
    assert_eq!(by_line.keys().copied().collect::<Vec<_>>(), [121, 122, 123]);
    assert_eq!(by_line[&121]["userId"], "nobody@example.com");
    assert_eq!(by_line[&121]["message"], "no user with that email");
    for (line, other) in [(122, "123"), (123, "122")] {
        let message = by_line[&line]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("the same user (u-both) as line {other}")),
            "{message}"
        );
    }
    let all = std::fs::read_to_string(&report_path).unwrap();
    for i in [500, 501, 502] {
        assert!(!all.contains(&secret(i)));
    }

    // The same command again: everything was settled, nothing is looked up or sent.
    emulator.reset_counters();
    let again = output(import(
        &emulator,
        &file,
        &["--user-id-type", "email", "--json", "--quiet"],
    ))
    .await;
    assert_eq!(again.status.code(), Some(1), "{}", text(&again.stderr));
    assert_eq!(summary(&again)["imported"], 120);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_reference_is_refused_before_anything_is_sent() {
    let emulator = Emulator::builder()
        .user(User::new("u-1").email("a@example.com"))
        .start()
        .await
        .unwrap();
    let dir = temp_dir("dup-ref");
    let file = dir.join("dup.csv");
    std::fs::write(
        &file,
        format!(
            "userId,secret,userIdType\na@example.com,{},email\na@example.com,{},email\nu-1,{},\n",
            secret(1),
            secret(2),
            secret(3)
        ),
    )
    .unwrap();
    let out = output(import(&emulator, &file, &["--quiet"])).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 3: userId (email): the same user as line 2"),
        "{stderr}"
    );
    assert_eq!(emulator.counters().total(), 0);

    // A type the command does not know: the line and the field.
    std::fs::write(
        &file,
        format!("userId,secret,userIdType\nx,{},mail\n", secret(1)),
    )
    .unwrap();
    let out = output(import(&emulator, &file, &["--quiet"])).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("line 2: userIdType"), "{stderr}");
    assert_eq!(emulator.counters().total(), 0);
}

/// A Keycloak credential of type otp, as `kc.sh export` writes it.
fn otp(created: i64, value: &str, data: &str) -> serde_json::Value {
    serde_json::json!({
        "id": format!("cred-{created}"),
        "type": "otp",
        "userLabel": "Phone",
        "createdDate": created,
        "secretData": serde_json::json!({ "value": value }).to_string(),
        "credentialData": data,
    })
}

const TOTP: &str =
    r#"{"subType":"totp","digits":6,"counter":0,"period":30,"algorithm":"HmacSHA1"}"#;

fn keycloak_user(username: &str, credentials: Vec<serde_json::Value>) -> serde_json::Value {
    let mut all = vec![serde_json::json!({
        "id": "pw", "type": "password",
        "secretData": "{\"value\":\"hash-of-password\",\"salt\":\"c2FsdA==\"}",
        "credentialData": "{\"hashIterations\":27500,\"algorithm\":\"pbkdf2-sha256\"}"
    })];
    all.extend(credentials);
    serde_json::json!({
        "id": format!("kc-{username}"),
        "username": username,
        "email": format!("{username}@example.com"),
        "enabled": true,
        "credentials": all,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keycloak_realm_export_imports_the_keys_keycloak_checks_and_refuses_the_rest() {
    let names = [
        "alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank",
    ];
    let emulator = Emulator::builder()
        .users(
            names
                .iter()
                .map(|n| User::new(format!("id-{n}")).username(*n)),
        )
        .start()
        .await
        .unwrap();
    let users = vec![
        // The key is the UTF-8 bytes of value.
        keycloak_user("alice", vec![otp(1, "12345678901234567890", TOTP)]),
        // Imported as base32.
        keycloak_user(
            "bob",
            vec![otp(
                1,
                "jbsw y3dp ehpk 3pxp",
                r#"{"subType":"totp","digits":6,"counter":0,"period":30,"algorithm":"HmacSHA1","secretEncoding":"BASE32"}"#,
            )],
        ),
        keycloak_user(
            "carol",
            vec![otp(
                1,
                "12345678901234567890",
                r#"{"subType":"hotp","digits":6,"counter":4,"period":30,"algorithm":"HmacSHA1"}"#,
            )],
        ),
        keycloak_user(
            "dave",
            vec![otp(
                1,
                "12345678901234567890",
                r#"{"subType":"totp","digits":6,"counter":0,"period":30,"algorithm":"HmacSHA256"}"#,
            )],
        ),
        keycloak_user(
            "erin",
            vec![otp(
                1,
                "12345678901234567890",
                r#"{"subType":"totp","digits":8,"counter":0,"period":30,"algorithm":"HmacSHA1"}"#,
            )],
        ),
        keycloak_user(
            "frank",
            vec![otp(
                1,
                "12345678901234567890",
                r#"{"subType":"totp","digits":6,"counter":0,"period":60,"algorithm":"HmacSHA1"}"#,
            )],
        ),
        keycloak_user("gina", vec![]),
        keycloak_user(
            "hank",
            vec![
                otp(1000, "abcdefghijabcdefghij", TOTP),
                otp(
                    2000,
                    "HZ2F6J3AGNAVSOTV",
                    r#"{"subType":"totp","digits":6,"counter":0,"period":30,"algorithm":"HmacSHA1","secretEncoding":"BASE32"}"#,
                ),
            ],
        ),
    ];
    let realm = serde_json::json!({
        "id": "acme", "realm": "acme", "enabled": true, "users": users, "clients": [],
    });
    let dir = temp_dir("keycloak");
    let export = dir.join("acme-realm.json");
    std::fs::write(&export, serde_json::to_string_pretty(&realm).unwrap()).unwrap();

    // --dry-run counts, and sends nothing.
    let out = output(import(
        &emulator,
        &export,
        &["--format", "keycloak", "--dry-run"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("2 users to import, 5 refused, 1 without OTP"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout).contains("2 users named otherwise than by user id are looked up"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(emulator.counters().total(), 0);

    let failures = dir.join("failures.jsonl");
    let report_path = dir.join("report.jsonl");
    let journal = dir.join("journal");
    let out = output(import(
        &emulator,
        &export,
        &[
            "--format",
            "keycloak",
            "--json",
            "--quiet",
            "--journal",
            journal.to_str().unwrap(),
            "--failures",
            failures.to_str().unwrap(),
            "--report",
            report_path.to_str().unwrap(),
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let got = summary(&out);
    assert_eq!(got["records"], 7);
    assert_eq!(got["imported"], 2);
    assert_eq!(got["refused"], 5);
    assert_eq!(got["keycloak"]["withoutOtp"], 1);
    assert_eq!(got["keycloak"]["users"], 8);
    let expected: BTreeMap<String, String> = [
        ("id-alice", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
        ("id-bob", "JBSWY3DPEHPK3PXP"),
    ]
    .into_iter()
    .map(|(u, s)| (u.to_owned(), s.to_owned()))
    .collect();
    assert_eq!(bound(&emulator), expected);

    // One line per refused user: its entry as exported, without its password.
    let failed = std::fs::read_to_string(&failures).unwrap();
    let failed: Vec<serde_json::Value> = failed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let refused: Vec<&str> = failed
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(refused, ["carol", "dave", "erin", "frank", "hank"]);
    assert!(failed.iter().all(|u| {
        u["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["type"] == "otp")
    }));
    let report = report(&report_path);
    let messages: Vec<String> = report
        .iter()
        .map(|r| format!("{}: {}", r["userId"], r["message"]))
        .collect();
    assert_eq!(messages.len(), 5, "{messages:?}");
    for (user, why) in [
        ("carol", "hotp"),
        ("dave", "HmacSHA256"),
        ("erin", "digits: 8"),
        ("frank", "period: 60 s"),
        ("hank", "2 OTP credentials"),
    ] {
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with(&format!("\"{user}\"")) && m.contains(why)),
            "{user}: {why} in {messages:?}"
        );
    }
    let all = std::fs::read_to_string(&report_path).unwrap();
    assert!(!all.contains("12345678901234567890") && !all.contains("HZ2F6J3AGNAVSOTV"));

    // Picking the newest of hank's two credentials: a new run, a new journal.
    emulator.reset_counters();
    let out = output(import(
        &emulator,
        &export,
        &[
            "--format",
            "keycloak",
            "--keycloak-pick",
            "newest",
            "--json",
            "--quiet",
        ],
    ))
    .await;
    assert_eq!(summary(&out)["imported"], 3, "{}", text(&out.stderr));
    assert_eq!(bound(&emulator)["id-hank"], "HZ2F6J3AGNAVSOTV");
    // Three usernames looked up in one request.
    assert_eq!(emulator.counters().get_user_batch_requests, 1);

    // Keycloak's user id, as the Authing users' external id; and the email.
    for (flag, user) in [
        ("external_id", User::new("x-alice").external_id("kc-alice")),
        ("email", User::new("x-alice").email("alice@example.com")),
    ] {
        let pool = Emulator::builder().user(user).start().await.unwrap();
        let out = output(import(
            &pool,
            &export,
            &[
                "--format",
                "keycloak",
                "--user-id-type",
                flag,
                "--json",
                "--quiet",
            ],
        ))
        .await;
        let got = summary(&out);
        assert_eq!(got["imported"], 1, "{flag}: {got}");
        // bob, the other user to import, is not in this pool.
        assert_eq!(got["resolve"]["refused"], 1, "{flag}: {got}");
        assert_eq!(
            bound(&pool),
            BTreeMap::from([(
                "x-alice".to_owned(),
                "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ".to_owned()
            )])
        );
    }

    // A type that names no Keycloak user.
    let out = output(import(
        &emulator,
        &export,
        &["--format", "keycloak", "--user-id-type", "phone"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("username, email or external_id"));
}

/// A journal is bound to how the file names its users: resumed with another --user-id-type,
/// whose refusals would be stale, it is refused before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_is_not_resumed_with_another_user_id_type() {
    let emulator = Emulator::builder()
        .user(User::new("u-1").username("alice"))
        .start()
        .await
        .unwrap();
    let dir = temp_dir("journal-options");
    let file = dir.join("users.jsonl");
    std::fs::write(
        &file,
        format!("{{\"userId\":\"alice\",\"secret\":\"{}\"}}\n", secret(1)),
    )
    .unwrap();
    let journal = dir.join("j");
    let journal_arg = journal.to_str().unwrap();
    // Named by external id by mistake: no user with that external id, refused, journaled.
    let out = output(import(
        &emulator,
        &file,
        &[
            "--user-id-type",
            "external_id",
            "--journal",
            journal_arg,
            "-q",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    emulator.reset_counters();
    let out = output(import(
        &emulator,
        &file,
        &["--user-id-type", "username", "--journal", journal_arg, "-q"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("another --user-id-type"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(emulator.counters().total(), 0);
    // With a new journal, the user is found.
    let out = output(import(
        &emulator,
        &file,
        &["--user-id-type", "username", "--json", "-q"],
    ))
    .await;
    assert_eq!(summary(&out)["imported"], 1);
    assert_eq!(bound(&emulator)["u-1"], secret(1));
}
