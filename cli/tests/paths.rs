//! `authing-otp import` never harms a file it touches, run as a process against an emulator:
//! directories, devices, outputs that alias each other or the input, outputs that cannot be
//! written, two runs on one journal, an input that grows during the run, standard input and
//! FIFOs, a closed stdout, and servers that quote megabytes back. Each case asserts the exit
//! code, the message, the files left behind (contents and modes) and what was sent.

mod common;

use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::Duration,
};

use authing_otp_emulator::{Emulator, Fault, Operation, User};
use common::{command, expected, output, secret, secrets_file, temp_dir, text};
use secrecy::ExposeSecret;

fn import(emulator: &Emulator, args: &[&str]) -> Command {
    let mut command = command();
    command
        .arg("import")
        .args(args)
        .env("AUTHING_HOST", emulator.base_url())
        .env("AUTHING_ACCESS_KEY_ID", emulator.access_key_id())
        .env(
            "AUTHING_ACCESS_KEY_SECRET",
            emulator.access_key_secret().expose_secret(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

async fn emulator(users: usize) -> Emulator {
    Emulator::builder()
        .users((0..users).map(|i| User::new(format!("u-{i}"))))
        .start()
        .await
        .unwrap()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Asserts a refusal before anything was sent: exit 2, the message, no request.
fn refused_before_sending(emulator: &Emulator, out: &Output, says: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(says), "{stderr}");
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert_eq!(emulator.counters().total(), 0, "something was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_as_the_input_is_refused_at_once() {
    let dir = temp_dir("input-dir");
    let input = dir.join("dir.jsonl");
    fs::create_dir(&input).unwrap();
    let emulator = emulator(1).await;
    let mut command = import(&emulator, &[s(&input), "--dry-run"]);
    let started = std::time::Instant::now();
    let out = output({
        command.stdin(Stdio::null());
        command
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(30));
    refused_before_sending(&emulator, &out, "is a directory, not a file of records");
    assert_eq!(text(&out.stderr).matches("directory").count(), 1);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_as_an_output_is_refused_and_left_as_it_was() {
    let dir = temp_dir("device");
    let file = secrets_file(&dir, 2);
    let emulator = emulator(2).await;
    let before = mode(Path::new("/dev/null"));
    for flag in ["--report", "--failures", "--journal"] {
        let out = output(import(&emulator, &[s(&file), flag, "/dev/null"])).await;
        refused_before_sending(
            &emulator,
            &out,
            &format!("{flag} /dev/null is not a regular file (a character device)"),
        );
        assert_eq!(mode(Path::new("/dev/null")), before, "{flag}");
    }
    let out = output(import(&emulator, &[s(&file), "--report", s(&dir)])).await;
    refused_before_sending(&emulator, &out, "is not a regular file (a directory)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_that_alias_each_other_or_the_input_are_refused() {
    let dir = temp_dir("aliases");
    let file = secrets_file(&dir, 2);
    let input_bytes = fs::read(&file).unwrap();
    let emulator = emulator(2).await;
    let j = dir.join("j");
    let x = dir.join("x");
    let link = dir.join("link-to-input");
    fs::hard_link(&file, &link).unwrap();
    let x_again = dir.join("sub/../x");
    let input_again = dir.join("./secrets.jsonl");
    let cases: [(&[&str], &str); 5] = [
        (
            &["--journal", s(&j), "--failures", s(&j)],
            "--journal and --failures name the same file",
        ),
        (
            &["--journal", s(&j), "--report", s(&j)],
            "--journal and --report name the same file",
        ),
        (
            &["--failures", s(&x), "--report", s(&x_again)],
            "--failures and --report name the same file",
        ),
        (
            &["--failures", s(&link)],
            "the input and --failures name the same file",
        ),
        (
            &["--journal", s(&input_again)],
            "the input and --journal name the same file",
        ),
    ];
    fs::create_dir(dir.join("sub")).unwrap();
    for (flags, says) in cases {
        let mut args = vec![s(&file)];
        args.extend_from_slice(flags);
        let out = output(import(&emulator, &args)).await;
        refused_before_sending(&emulator, &out, says);
        assert!(!j.exists() && !x.exists(), "{flags:?} created a file");
    }
    // The input, and its hard link, unchanged, mode included.
    assert_eq!(fs::read(&file).unwrap(), input_bytes);
    #[cfg(unix)]
    assert_eq!(mode(&file), mode(&link));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_that_cannot_be_written_is_found_before_the_first_request() {
    let dir = temp_dir("unwritable");
    let file = secrets_file(&dir, 2);
    let emulator = emulator(2).await;
    let missing = dir.join("no-such-dir/refused.jsonl");
    for flag in ["--failures", "--report", "--journal"] {
        let out = output(import(&emulator, &[s(&file), flag, s(&missing)])).await;
        refused_before_sending(
            &emulator,
            &out,
            &format!("{flag} {}: its directory cannot be used", s(&missing)),
        );
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_are_owner_only_from_creation_and_replace_an_existing_file_whole() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("modes");
    let file = dir.join("in.jsonl");
    fs::write(
        &file,
        format!(
            "{{\"userId\":\"u-0\",\"secret\":\"{}\"}}\n{{\"userId\":\"ghost\",\"secret\":\"{}\"}}\n",
            secret(0),
            secret(1)
        ),
    )
    .unwrap();
    let emulator = emulator(1).await;
    let report = dir.join("report.jsonl");
    fs::write(&report, "an older report\n").unwrap();
    fs::set_permissions(&report, fs::Permissions::from_mode(0o644)).unwrap();
    let failures = dir.join("failures.jsonl");
    let journal = dir.join("journal");
    let out = output(import(
        &emulator,
        &[
            s(&file),
            "--report",
            s(&report),
            "--failures",
            s(&failures),
            "--journal",
            s(&journal),
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    for path in [&report, &failures, &journal] {
        assert_eq!(mode(path), 0o600, "{}", path.display());
    }
    let report_text = fs::read_to_string(&report).unwrap();
    assert!(
        report_text.starts_with("{\"record\":1,\"line\":2,\"userId\":\"ghost\""),
        "{report_text}"
    );
    assert!(!report_text.contains("older"));
    // Nothing of the run's own is left beside the outputs.
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["failures.jsonl", "in.jsonl", "journal", "report.jsonl"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_a_journal_in_use_is_refused_at_once() {
    let dir = temp_dir("locked");
    let file = secrets_file(&dir, 200);
    let journal = dir.join("journal");
    let emulator = Emulator::builder()
        .users((0..200).map(|i| User::new(format!("u-{i}"))))
        .latency(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let args = [
        s(&file),
        "--journal",
        s(&journal),
        "--batch-size",
        "10",
        "--concurrency",
        "1",
    ];
    let first = import(&emulator, &args).spawn().unwrap();
    // The first run holds the lock once the journal has its header.
    while fs::metadata(&journal).map_or(0, |m| m.len()) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let second = output(import(&emulator, &args)).await;
    let stderr = text(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("is in use by another run of authing-otp import"),
        "{stderr}"
    );
    let first = tokio::task::spawn_blocking(move || first.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    // One run's requests: 20 batches of 10.
    assert_eq!(emulator.counters().import_otp_requests, 20);
    assert_eq!(
        emulator
            .bindings()
            .into_iter()
            .map(|(u, o)| (u, o.secret.expose_secret().to_owned()))
            .collect::<std::collections::BTreeMap<_, _>>(),
        expected(200)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_appended_during_a_run_are_not_sent_and_the_change_is_reported() {
    let dir = temp_dir("appended");
    let file = secrets_file(&dir, 100);
    let emulator = Emulator::builder()
        .users((0..101).map(|i| User::new(format!("u-{i}"))))
        .latency(Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    let child = import(
        &emulator,
        &[
            s(&file),
            "--batch-size",
            "5",
            "--concurrency",
            "1",
            "--json",
        ],
    )
    .spawn()
    .unwrap();
    while emulator.counters().import_otp_requests < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A duplicate of u-0 with another secret, and a new user: neither was checked.
    fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap()
        .write_all(
            format!(
                "{{\"userId\":\"u-0\",\"secret\":\"{}\"}}\n{{\"userId\":\"u-100\",\"secret\":\"{}\"}}\n",
                secret(500),
                secret(100)
            )
            .as_bytes(),
        )
        .unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{summary} {stderr}");
    assert_eq!(
        (&summary["records"], &summary["imported"]),
        (&100.into(), &100.into()),
        "{summary}"
    );
    assert!(stderr.contains("changed ("), "{stderr}");
    assert!(stderr.contains("only the"), "{stderr}");
    assert_eq!(emulator.counters().import_otp_requests, 20);
    let bound = emulator.otp_of("u-0").unwrap();
    assert_eq!(bound.secret.expose_secret(), secret(0));
    assert!(emulator.otp_of("u-100").is_none());
}

/// A file's records fed to `import -` through a pipe, `/dev/stdin`, and a FIFO.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_can_come_from_standard_input_or_a_fifo() {
    let dir = temp_dir("streams");
    let file = secrets_file(&dir, 30);
    let records = fs::read(&file).unwrap();
    let emulator = emulator(30).await;
    for name in ["-", "/dev/stdin"] {
        emulator.reset_counters();
        let mut child = import(&emulator, &[name, "--json", "--batch-size", "10"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let bytes = records.clone();
        std::thread::spawn(move || stdin.write_all(&bytes).unwrap());
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{name}: {}", text(&out.stderr)));
        assert_eq!(out.status.code(), Some(0), "{name}: {summary}");
        assert_eq!(summary["imported"], 30, "{name}: {summary}");
    }
    // A FIFO, written once by another process.
    let fifo = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let writer = {
        let fifo = fifo.clone();
        let records = records.clone();
        std::thread::spawn(move || fs::write(&fifo, records).unwrap())
    };
    let out = output(import(&emulator, &[s(&fifo), "--dry-run"])).await;
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("30 valid records"),
        "{}",
        text(&out.stdout)
    );
    // No copy is left behind.
    let leftovers: Vec<PathBuf> = fs::read_dir(std::env::temp_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".spool.authing-otp-"))
        })
        .collect();
    assert!(
        leftovers.iter().all(|p| !p
            .to_string_lossy()
            .contains(&format!("-{}-", std::process::id()))),
        "{leftovers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_the_output_quietly() {
    let dir = temp_dir("epipe");
    let file = secrets_file(&dir, 3);
    let emulator = emulator(3).await;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut command = import(&emulator, &[s(&file), "--json"]);
    command.stdout(writer);
    let out = output(command).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
    assert_eq!(emulator.bindings().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_quoting_megabytes_back_leaves_a_kilobyte_per_refusal() {
    let dir = temp_dir("long-messages");
    let file = secrets_file(&dir, 20);
    let journal = dir.join("journal");
    let report = dir.join("report");
    let emulator = emulator(20).await;
    let message = "x".repeat(200_000);
    emulator.fail_next_on(
        Operation::ImportOtp,
        5,
        Fault::Raw {
            status: http::StatusCode::OK,
            content_type: "application/json".into(),
            body: format!(
                r#"{{"statusCode":404,"apiCode":40401,"message":"{message}","requestId":"r"}}"#
            ),
        },
    );
    let out = output(import(
        &emulator,
        &[
            s(&file),
            "--batch-size",
            "1",
            "--concurrency",
            "1",
            "--journal",
            s(&journal),
            "--report",
            s(&report),
        ],
    ))
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("15 imported, 5 refused"), "{stdout}");
    let report = fs::read_to_string(&report).unwrap();
    assert_eq!(report.lines().count(), 5);
    for line in report.lines() {
        assert!(line.len() < 1200, "{} bytes", line.len());
        let refusal: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(refusal["message"].as_str().unwrap().ends_with('…'));
    }
    assert!(fs::metadata(&journal).unwrap().len() < 16 * 1024);
    assert!(stdout.len() < 16 * 1024);
}
