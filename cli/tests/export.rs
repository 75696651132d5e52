//! `authing-otp export`, run as a process against emulators on loopback: exact output in each
//! format, users without OTP reported and not written, outputs refused before any request,
//! and a killed export resumed, then imported into another pool.

mod common;

use std::{
    collections::BTreeMap,
    io::Write as _,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use authing_otp_emulator::{Emulator, User};
use common::{bound, command, expected, output, secret, secrets_file, summary, temp_dir, text};
use secrecy::ExposeSecret;

/// `authing-otp SUBCOMMAND ARGS…` against `emulator`.
fn run_against(
    emulator: &Emulator,
    subcommand: &str,
    args: &[&dyn AsRef<std::ffi::OsStr>],
) -> Command {
    let mut command = command();
    command
        .arg(subcommand)
        .args(args.iter().map(|a| a.as_ref()))
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

async fn emulator_of(users: impl IntoIterator<Item = User>, rate_limit: Option<u32>) -> Emulator {
    let mut builder = Emulator::builder().users(users);
    if let Some(qps) = rate_limit {
        builder = builder.rate_limit(qps);
    }
    builder.start().await.unwrap()
}

/// Binds `secret(i)` to `u-i` for `0..n` by running `authing-otp import`.
async fn seed_by_import(emulator: &Emulator, dir: &Path, n: usize) {
    let file = secrets_file(dir, n);
    let out = output(run_against(emulator, "import", &[&file, &"--quiet"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let bound = bound(emulator);
    for (user, secret) in expected(n) {
        assert_eq!(bound.get(&user), Some(&secret), "{user}");
    }
    emulator.reset_counters();
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_format_is_written_exactly_and_a_user_without_otp_is_reported_not_written() {
    let dir = temp_dir("export-formats");
    let users = (0..3).map(|i| User::new(format!("u-{i}"))).chain([
        User::new("u-none"),
        User::new("u-mail")
            .email("al,ice@example.com")
            .otp(secret(7)),
    ]);
    let emulator = emulator_of(users, None).await;
    seed_by_import(&emulator, &dir, 3).await;
    let list = dir.join("users.txt");
    std::fs::write(&list, "u-0\nu-1\nu-none\n\nu-2\n").unwrap();

    // JSON Lines, the default: the user without OTP in the report and the summary only.
    let out_jsonl = dir.join("out.jsonl");
    let report = dir.join("report.jsonl");
    let out = output(run_against(
        &emulator,
        "export",
        &[
            &list,
            &"--output",
            &out_jsonl,
            &"--report",
            &report,
            &"--json",
        ],
    ))
    .await;
    let sum = summary(&out);
    assert_eq!(out.status.code(), Some(1), "{sum} {}", text(&out.stderr));
    assert_eq!(
        (
            &sum["users"],
            &sum["exported"],
            &sum["withoutOtp"],
            &sum["notAttempted"]
        ),
        (&4.into(), &3.into(), &1.into(), &0.into()),
        "{sum}"
    );
    assert_eq!(sum["refused"][0]["userId"], "u-none", "{sum}");
    assert_eq!(sum["refused"][0]["line"], 3, "{sum}");
    let expected_jsonl: String = (0..3)
        .map(|i| format!("{{\"userId\":\"u-{i}\",\"secret\":\"{}\"}}\n", secret(i)))
        .collect();
    assert_eq!(std::fs::read_to_string(&out_jsonl).unwrap(), expected_jsonl);
    let reported: Vec<serde_json::Value> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0]["userId"], "u-none");
    assert_eq!(reported[0]["statusCode"], 404);
    #[cfg(unix)]
    assert_eq!(mode(&out_jsonl), 0o600);
    // No secret anywhere but the output.
    for i in 0..3 {
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!all.contains(&secret(i)));
    }

    // CSV, with a user named by email: the userIdType column, and quoting.
    let list_jsonl = dir.join("users.jsonl");
    std::fs::write(
        &list_jsonl,
        "{\"userId\":\"u-1\"}\n{\"userId\":\"al,ice@example.com\",\"userIdType\":\"email\"}\n",
    )
    .unwrap();
    let out_csv = dir.join("out.csv");
    let out = output(run_against(
        &emulator,
        "export",
        &[
            &list_jsonl,
            &"--output",
            &out_csv,
            &"--format",
            &"csv",
            &"--quiet",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(&out_csv).unwrap(),
        format!(
            "userId,secret,userIdType\nu-1,{},\n\"al,ice@example.com\",{},email\n",
            secret(1),
            secret(7)
        )
    );

    // Key URIs, importable as `<userId> <uri>` lines.
    let out_uri = dir.join("out.uri");
    let out = output(run_against(
        &emulator,
        "export",
        &[
            &list,
            &"--output",
            &out_uri,
            &"--format",
            &"uri",
            &"--issuer",
            &"Acme Corp",
            &"--quiet",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let expected_uri: String = (0..3)
        .map(|i| {
            format!(
                "u-{i} otpauth://totp/Acme%20Corp:u-{i}?secret={}&issuer=Acme%20Corp\n",
                secret(i)
            )
        })
        .collect();
    assert_eq!(std::fs::read_to_string(&out_uri).unwrap(), expected_uri);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_that_exist_or_alias_the_input_and_bad_lines_are_refused_before_any_request() {
    let dir = temp_dir("export-refused");
    let emulator = emulator_of((0..2).map(|i| User::new(format!("u-{i}"))), None).await;
    let list = dir.join("users.txt");
    std::fs::write(&list, "u-0\nu-1\n").unwrap();
    let existing = dir.join("existing.jsonl");
    std::fs::write(&existing, "precious\n").unwrap();
    let out = output(run_against(
        &emulator,
        "export",
        &[&list, &"--output", &existing],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("exists: refused"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "precious\n");

    #[cfg(unix)]
    {
        let link = dir.join("link.jsonl");
        std::fs::hard_link(&list, &link).unwrap();
        let out = output(run_against(
            &emulator,
            "export",
            &[&list, &"--output", &link],
        ))
        .await;
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("the input and --output name the same file"),
            "{}",
            text(&out.stderr)
        );
        assert_eq!(std::fs::read_to_string(&list).unwrap(), "u-0\nu-1\n");
    }

    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"userId\":\"u-0\"}\n{\"userId\":\"u-1\",\"userIdType\":\"mail\"}\n{}\n{\"userId\":\"u-0\"}\n",
    )
    .unwrap();
    let new = dir.join("new.jsonl");
    let out = output(run_against(&emulator, "export", &[&bad, &"--output", &new])).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("line 2: userIdType: unknown user id type `mail`"),
        "{stderr}"
    );
    assert!(stderr.contains("line 3: userId: missing"), "{stderr}");
    assert!(
        stderr.contains("line 4: userId: the same user as line 1"),
        "{stderr}"
    );
    assert!(!new.exists(), "no output created");

    // --format uri without --issuer.
    let out = output(run_against(
        &emulator,
        "export",
        &[&list, &"--output", &new, &"--format", &"uri"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(emulator.counters().total(), 0, "nothing was sent");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_export_resumes_each_user_once_and_imports_into_another_pool() {
    const N: usize = 300;
    let dir = temp_dir("export-resume");
    let users = || (0..N).map(|i| User::new(format!("u-{i}")));
    let source = emulator_of(users(), Some(60)).await;
    seed_by_import(&source, &dir, N).await;
    let list = dir.join("users.txt");
    let names: String = (0..N).map(|i| format!("u-{i}\n")).collect();
    std::fs::write(&list, names).unwrap();
    let out_file = dir.join("backup.jsonl");
    let journal = dir.join("export.journal");
    let args: [&dyn AsRef<std::ffi::OsStr>; 10] = [
        &list,
        &"--output",
        &out_file,
        &"--journal",
        &journal,
        &"--rps",
        &"40",
        &"--concurrency",
        &"2",
        &"--json",
    ];
    // Killed once the journal has recorded a batch (its header and one entry): lines written
    // after it are the ones a resumed run must cut back and write again.
    let mut child = run_against(&source, "export", &args).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Whole lines only: an entry caught half-written is not one yet.
        let entries = std::fs::read_to_string(&journal)
            .map(|t| t[..t.rfind('\n').map_or(0, |end| end + 1)].lines().count())
            .unwrap_or(0);
        if entries >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no progress: {entries} journal lines"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let written = std::fs::read_to_string(&out_file).unwrap().lines().count();
    assert!(written < N, "killed mid-way: {written}");
    // A line cut short, as a kill during a write would leave.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&out_file)
        .unwrap()
        .write_all(b"{\"userId\":\"u-")
        .unwrap();

    let out = output(run_against(&source, "export", &args)).await;
    let sum = summary(&out);
    assert_eq!(out.status.code(), Some(0), "{sum} {}", text(&out.stderr));
    assert!(sum["resumedFrom"].as_u64().unwrap() > 0, "{sum}");
    assert_eq!(sum["exported"], N, "{sum}");
    let text_out = std::fs::read_to_string(&out_file).unwrap();
    let mut seen = BTreeMap::new();
    for line in text_out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let user = v["userId"].as_str().unwrap().to_owned();
        let secret = v["secret"].as_str().unwrap().to_owned();
        assert!(seen.insert(user.clone(), secret).is_none(), "{user} twice");
    }
    assert_eq!(seen, expected(N));
    // Fewer reads than twice over: done users were not read again.
    assert!(
        source.counters().get_otp_secret_requests < 2 * N as u64,
        "{:?}",
        source.counters()
    );

    // Pool to pool: the backup imports as it is.
    let target = emulator_of(users(), None).await;
    let out = output(run_against(
        &target,
        "import",
        &[&out_file, &"--verify", &"--json"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(bound(&target), expected(N));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Pool to pool as a migration between brands meets it: users named by email on both sides
/// (their ids differ from pool to pool), an Authing pool exported, a GenAuth-only pool (which
/// refuses Authing's dialect) imported into, with the read-back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authing_pool_moves_into_a_genauth_pool_by_email() {
    const N: usize = 120;
    let dir = temp_dir("pool-to-pool");
    let email = |i: usize| format!("user{i}@example.com");
    let source = emulator_of(
        (0..N).map(|i| User::new(format!("a-{i}")).email(email(i))),
        None,
    )
    .await;
    let target = Emulator::builder()
        .users((0..N).map(|i| User::new(format!("g-{i}")).email(email(i))))
        .only_brand(authing_otp::Brand::GenAuth)
        .start()
        .await
        .unwrap();
    // The source pool's enrolments, imported by email.
    let seed = dir.join("seed.csv");
    let rows: String = (0..N)
        .map(|i| format!("{},{}\n", email(i), secret(i)))
        .collect();
    std::fs::write(&seed, format!("userId,secret\n{rows}")).unwrap();
    let out = output(run_against(
        &source,
        "import",
        &[&seed, &"--user-id-type", &"email", &"--quiet"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Export by email.
    let list = dir.join("emails.txt");
    std::fs::write(&list, (0..N).map(|i| email(i) + "\n").collect::<String>()).unwrap();
    let backup = dir.join("backup.jsonl");
    let out = output(run_against(
        &source,
        "export",
        &[
            &list,
            &"--user-id-type",
            &"email",
            &"--output",
            &backup,
            &"--quiet",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first = std::fs::read_to_string(&backup).unwrap();
    let first = first.lines().next().unwrap();
    let first: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(first["userIdType"], "email", "{first}");

    // Import into the GenAuth pool: the records say they name users by email.
    let out = output(run_against(
        &target,
        "import",
        &[&backup, &"--brand", &"genauth", &"--verify", &"--json"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sum = summary(&out);
    assert_eq!(sum["imported"], N, "{sum}");
    assert_eq!(sum["resolve"]["found"], N, "{sum}");
    // Each email's secret is the same in both pools.
    let by_email = |bound: BTreeMap<String, String>, prefix: &str| -> BTreeMap<String, String> {
        bound
            .into_iter()
            .map(|(id, secret)| {
                let i: usize = id.strip_prefix(prefix).unwrap().parse().unwrap();
                (email(i), secret)
            })
            .collect()
    };
    let moved = by_email(bound(&target), "g-");
    assert_eq!(moved.len(), N);
    assert_eq!(moved, by_email(bound(&source), "a-"));
    let _ = std::fs::remove_dir_all(&dir);
}
