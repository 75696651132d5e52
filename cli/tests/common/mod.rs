//! What the command's process tests share: running the binary with a clean environment,
//! temporary directories, distinct secrets, an emulator in another process, and reading what
//! an emulator has bound.
#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
};

pub const BIN: &str = env!("CARGO_BIN_EXE_authing-otp");

/// The command, with no `AUTHING_*` or `GENAUTH_*` variable from the caller's environment.
pub fn command() -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("AUTHING_") || name.starts_with("GENAUTH_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command.stdin(Stdio::null());
    command
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A new, empty directory of this test process.
pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "authing-otp-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A distinct 16-character base32 secret for user `n`.
pub fn secret(n: usize) -> String {
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

/// A JSON Lines import file for `u-0..u-n`, each with [`secret`].
pub fn secrets_file(dir: &Path, n: usize) -> PathBuf {
    let lines: String = (0..n)
        .map(|i| format!("{{\"userId\":\"u-{i}\",\"secret\":\"{}\"}}\n", secret(i)))
        .collect();
    let path = dir.join("secrets.jsonl");
    std::fs::write(&path, lines).unwrap();
    path
}

/// `u-i` → [`secret`]`(i)` for `0..n`.
pub fn expected(n: usize) -> BTreeMap<String, String> {
    (0..n).map(|i| (format!("u-{i}"), secret(i))).collect()
}

/// `authing-otp emulator` in a process of its own.
pub struct EmulatorProcess {
    pub child: Child,
    pub url: String,
}

impl EmulatorProcess {
    /// Starts it with `args`, its users created from `users_file` (JSON Lines with `userId`).
    pub fn start(users_file: &Path, args: &[&str]) -> Self {
        let mut child = command()
            .arg("emulator")
            .arg("--seed-users-from")
            .arg(users_file)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_owned();
        EmulatorProcess { child, url }
    }

    /// Sends the process a signal (`STOP`, `CONT`).
    #[cfg(unix)]
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// What it has bound, user id → secret.
    pub async fn bindings(&self) -> BTreeMap<String, String> {
        bindings(&self.url).await
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            let _ = Command::new("kill")
                .args(["-CONT", &self.child.id().to_string()])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bindings of the emulator at `url`, user id → secret.
pub async fn bindings(url: &str) -> BTreeMap<String, String> {
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

/// The lines of a journal after its header, parsed.
pub fn journal_entries(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs `command` to the end without blocking the runtime that serves an in-process emulator.
pub async fn output(mut command: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// The `--json` summary a command printed, or a panic that shows what it printed instead.
pub fn summary(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "not a JSON summary: {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

/// What an in-process emulator has bound, user id → secret.
pub fn bound(emulator: &authing_otp_emulator::Emulator) -> BTreeMap<String, String> {
    use secrecy::ExposeSecret;
    emulator
        .bindings()
        .into_iter()
        .map(|(user, otp)| (user, otp.secret.expose_secret().to_owned()))
        .collect()
}
