//! `authing-otp import` killed with SIGKILL at random moments and started again, against
//! `authing-otp emulator` in another process: in the end the emulator's bindings equal the file
//! exactly, and the failures file holds exactly the planted bad lines, byte for byte.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_authing-otp");
const KEY_SECRET: &str = "sk-resume-test-SECRET";
const USERS: usize = 6000;

/// A distinct 16-character base32 secret for user `n`.
fn secret(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut x = n as u64 * 2_654_435_761 + 12_345;
    (0..16)
        .map(|_| {
            let c = ALPHABET[(x % 32) as usize] as char;
            x = x / 32 + 7_919 * (n as u64 + 1);
            c
        })
        .collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("authing-otp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tiny deterministic generator, seeded from the clock (the seed is printed to replay).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low)
    }
}

struct EmulatorProcess {
    child: Child,
    url: String,
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_emulator(users_file: &Path) -> EmulatorProcess {
    let mut child = Command::new(BIN)
        .args([
            "emulator",
            "--rate-limit",
            "400",
            "--max-list",
            "40",
            "--seed-users-from",
        ])
        .arg(users_file)
        .env("AUTHING_ACCESS_KEY_SECRET", KEY_SECRET)
        .env_remove("AUTHING_ACCESS_KEY_ID")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    EmulatorProcess { child, url }
}

fn import(emulator: &EmulatorProcess, dir: &Path, file: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("import")
        .arg(file)
        .args([
            "--batch-size",
            "50",
            "--concurrency",
            "4",
            "--rps",
            "300",
            "-q",
            "--json",
        ])
        .arg("--journal")
        .arg(dir.join("journal.jsonl"))
        .arg("--failures")
        .arg(dir.join("failures.jsonl"))
        .arg("--report")
        .arg(dir.join("report.jsonl"))
        .args(["--host", &emulator.url]);
    for (name, _) in std::env::vars() {
        if name.starts_with("AUTHING_") {
            command.env_remove(name);
        }
    }
    command
        .env(
            "AUTHING_ACCESS_KEY_ID",
            authing_otp_emulator::DEFAULT_ACCESS_KEY_ID,
        )
        .env("AUTHING_ACCESS_KEY_SECRET", KEY_SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// The emulator's bindings, user id → secret.
async fn bindings(url: &str) -> BTreeMap<String, String> {
    let http = authing_otp::tls::http_client_builder()
        .unwrap()
        .no_proxy()
        .build()
        .unwrap();
    let text = http
        .get(format!("{url}/__emulator/bindings"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["userId"].as_str().unwrap().to_owned(),
                v["secret"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_and_resumed_it_imports_every_record_once() {
    // BULK_RESUME_SEED=<the printed seed> replays a run's kill times.
    let seed = std::env::var("BULK_RESUME_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
        | 1;
    println!("seed {seed}");
    let mut rng = Rng(seed);
    let dir = temp_dir("bulk-resume");

    // The pool's users, and a file naming them all plus planted lines for unknown users.
    let users: String = (0..USERS)
        .map(|n| format!("{{\"userId\":\"u-{n}\"}}\n"))
        .collect();
    std::fs::write(dir.join("users.jsonl"), users).unwrap();
    let mut lines = Vec::new();
    let mut planted = Vec::new();
    let mut expected = BTreeMap::new();
    for n in 0..USERS {
        if n % 1000 == 500 {
            let bad = format!(
                "{{\"userId\":\"ghost-{n}\",\"secret\":\"{}\", \"recoveryCode\":\"rc-{n:06}\"}}",
                secret(n + 100_000)
            );
            planted.push(bad.clone());
            lines.push(bad);
        }
        lines.push(format!(
            "{{\"userId\":\"u-{n}\",\"secret\":\"{}\"}}",
            secret(n)
        ));
        expected.insert(format!("u-{n}"), secret(n));
    }
    let file = dir.join("secrets.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();

    let emulator = start_emulator(&dir.join("users.jsonl"));
    let started = Instant::now();
    let mut kills = 0;
    for _ in 0..5 {
        let mut child = import(&emulator, &dir, &file).spawn().unwrap();
        let after = Duration::from_millis(rng.between(150, 900));
        std::thread::sleep(after);
        match child.try_wait().unwrap() {
            Some(_) => break,
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
    let last = import(&emulator, &dir, &file).output().unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&last.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&last.stderr)));
    println!(
        "{kills} kills; last run: {summary}; {:?} in all",
        started.elapsed()
    );
    assert!(
        kills >= 1,
        "the import finished before the first kill: make it bigger"
    );
    // Some records were refused (the planted ones): exit 1, as documented.
    assert_eq!(last.status.code(), Some(1), "{summary}");
    assert_eq!(summary["records"], USERS + planted.len());
    assert_eq!(summary["imported"], USERS);
    assert_eq!(summary["refused"], planted.len());
    assert_eq!(summary["notAttempted"], 0);
    // The last run started from what the journal said was done.
    assert!(summary["resumedFrom"].as_u64().unwrap() > 0, "{summary}");

    assert_eq!(bindings(&emulator.url).await, expected);
    let failures = std::fs::read_to_string(dir.join("failures.jsonl")).unwrap();
    assert_eq!(failures, planted.join("\n") + "\n");
    let report = std::fs::read_to_string(dir.join("report.jsonl")).unwrap();
    let mut reported: Vec<serde_json::Value> = report
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reported.len(), planted.len());
    // The report is in the order the batches finished, which kills and concurrency shuffle:
    // compared in the file's order.
    reported.sort_by_key(|r| r["line"].as_u64());
    for (r, line) in reported.iter().zip(&planted) {
        assert!(line.contains(r["userId"].as_str().unwrap()), "{r}");
        assert!(!report.contains("recoveryCode") && !report.contains("\"secret\""));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("failures.jsonl"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_journal_made_for_another_file_is_refused() {
    let dir = temp_dir("bulk-journal-other");
    std::fs::write(dir.join("users.jsonl"), "{\"userId\":\"u-1\"}\n").unwrap();
    let emulator = start_emulator(&dir.join("users.jsonl"));
    let file = dir.join("one.jsonl");
    std::fs::write(
        &file,
        format!("{{\"userId\":\"u-1\",\"secret\":\"{}\"}}\n", secret(1)),
    )
    .unwrap();
    let out = import(&emulator, &dir, &file).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The file changes; the journal stays.
    std::fs::write(
        &file,
        format!("{{\"userId\":\"u-1\",\"secret\":\"{}\"}}\n", secret(2)),
    )
    .unwrap();
    let out = import(&emulator, &dir, &file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("was made for another input file"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_csv_failures_file_keeps_its_header_and_outputs_never_overwrite_the_input() {
    let dir = temp_dir("bulk-csv-failures");
    std::fs::write(dir.join("users.jsonl"), "{\"userId\":\"u-1\"}\n").unwrap();
    let emulator = start_emulator(&dir.join("users.jsonl"));
    let file = dir.join("secrets.csv");
    let input = format!(
        "userId,secret,recoveryCode\r\nu-1,{},rc-0001\r\nghost,{},\r\n",
        secret(1),
        secret(2)
    );
    std::fs::write(&file, &input).unwrap();
    let out = import(&emulator, &dir, &file).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let failures = std::fs::read(dir.join("failures.jsonl")).unwrap();
    assert_eq!(
        String::from_utf8(failures).unwrap(),
        // The header as it was, every line ended by `\n`.
        format!("userId,secret,recoveryCode\nghost,{},\n", secret(2))
    );
    // Imported again, it parses (and is refused again, for the same reason).
    let again = dir.join("again");
    std::fs::create_dir_all(&again).unwrap();
    std::fs::copy(dir.join("failures.jsonl"), again.join("fix.csv")).unwrap();
    let out = import(&emulator, &again, &again.join("fix.csv"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An output naming the input is refused before anything is touched.
    let out = Command::new(BIN)
        .arg("import")
        .arg(&file)
        .arg("--failures")
        .arg(&file)
        .args(["--host", &emulator.url])
        .env(
            "AUTHING_ACCESS_KEY_ID",
            authing_otp_emulator::DEFAULT_ACCESS_KEY_ID,
        )
        .env("AUTHING_ACCESS_KEY_SECRET", KEY_SECRET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("the input and --failures name the same file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), input);
    let _ = std::fs::remove_dir_all(&dir);
}
