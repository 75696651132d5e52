//! The import reader on hostile input, through its public API and through `authing-otp import
//! --dry-run`: lines over the limit, a directory given as the file, CSV rows with extra fields
//! and quotes left open. Every refusal names its line and never quotes a secret, and the reader
//! goes on with the next line (or, after a read error, stops).
//!
//! Memory and time on 200 MB lines are measured by `cli/scripts/reader_memory.sh`, not here;
//! the unit tests in `src/import.rs` check that the reader's buffers stay within the limit.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use authing_otp_cli::import::{ImportFormat, ImportReader, MAX_RECORD_BYTES};

/// A fresh, empty directory for one test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "authing-otp-reader-bounds-{}-{test}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("creating a temp dir");
    dir
}

/// The line of each record, or the message of each error (`None` raw bytes marked `!raw`).
fn outcomes<R: Read>(reader: ImportReader<R>) -> Vec<Result<u64, String>> {
    reader
        .map(|r| {
            r.map(|record| record.line).map_err(|e| {
                let raw = if e.raw_line().is_none() { " !raw" } else { "" };
                format!("{e}{raw}")
            })
        })
        .collect()
}

const SECRET: &str = "JBSWY3DPEHPK3PXP";

fn too_long(line: u64, what: &str) -> String {
    format!(
        "line {line}: {what} longer than {MAX_RECORD_BYTES} bytes: refused unread (a record is \
         well under 1 KiB; is this the right file?) !raw"
    )
}

#[test]
fn an_over_long_line_is_one_error_then_the_next_line_is_read() {
    let huge = SECRET.repeat(4 * MAX_RECORD_BYTES / SECRET.len());
    let cases = [
        (
            ImportFormat::JsonLines,
            format!(
                "{{\"userId\":\"u1\",\"secret\":\"{huge}\"}}\n\n\
                 {{\"userId\":\"u3\",\"secret\":\"{SECRET}\"}}\n\
                 {huge}"
            ),
            vec![Err(too_long(1, "line")), Ok(3), Err(too_long(4, "line"))],
        ),
        (
            ImportFormat::KeyUri,
            format!(
                "u1 otpauth://totp/a?secret={huge}\r\n\
                 u2 otpauth://totp/a?secret={SECRET}\r\n"
            ),
            vec![Err(too_long(1, "line")), Ok(2)],
        ),
        (
            ImportFormat::Csv,
            format!(
                "userId,secret\nu1,{huge}\nu2,\"{SECRET}\n{huge}\n\"\n\
                 u3,{SECRET}\n"
            ),
            vec![
                Err(too_long(2, "record")),
                Err(too_long(3, "record")),
                Ok(6),
            ],
        ),
    ];
    for (format, text, expect) in cases {
        let got = outcomes(ImportReader::new(text.as_bytes(), format));
        assert_eq!(got, expect, "{format:?}");
        for outcome in got.iter().filter_map(|o| o.as_ref().err()) {
            assert!(!outcome.contains("JBSW"), "{outcome}");
        }
    }
}

#[test]
fn a_directory_ends_the_records_with_one_error() {
    let dir = temp_dir("directory-api");
    for format in [
        ImportFormat::JsonLines,
        ImportFormat::Csv,
        ImportFormat::KeyUri,
    ] {
        let file = fs::File::open(&dir).expect("opening a directory for reading");
        let got: Vec<_> = outcomes(ImportReader::new(file, format))
            .into_iter()
            .take(3)
            .collect();
        assert_eq!(got.len(), 1, "{format:?}: {got:?}");
        let message = got[0].as_ref().unwrap_err();
        assert!(
            message.starts_with("line 1: Is a directory"),
            "{format:?}: {message}"
        );
    }
    let _ = fs::remove_dir_all(&dir);
}

/// Runs `authing-otp` with `args` and no `AUTHING_*` settings, killing it (and failing) if it
/// runs for more than a minute: exit code and stderr.
fn run(args: &[&str]) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_authing-otp"));
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars() {
        if name.starts_with("AUTHING_") || name.starts_with("GENAUTH_") {
            command.env_remove(name);
        }
    }
    let mut child = command.spawn().expect("running authing-otp");
    let mut stderr = child.stderr.take().unwrap();
    // Read as it comes, so that a process printing for ever cannot fill the pipe and stall.
    let reader = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            if kept.len() < 1 << 20 {
                kept.extend_from_slice(&buf[..n]);
            }
        }
        kept
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            let _ = child.wait();
            let kept = reader.join().unwrap();
            panic!(
                "authing-otp {args:?} still running after 60 s; stderr began:\n{}",
                String::from_utf8_lossy(&kept[..kept.len().min(2000)])
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = String::from_utf8(reader.join().unwrap()).unwrap();
    (status.code().expect("exited"), stderr)
}

/// The reader's lines of `authing-otp import <path> --dry-run`, without the command's prefix.
fn dry_run(path: &Path) -> (i32, Vec<String>, String) {
    let (code, stderr) = run(&["import", path.to_str().unwrap(), "--dry-run", "--quiet"]);
    let prefix = format!("authing-otp import: {}: ", path.display());
    let lines = stderr
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter(|l| l.starts_with("line "))
        .map(str::to_owned)
        .collect();
    (code, lines, stderr)
}

#[test]
fn importing_a_directory_stops_at_once() {
    let dir = temp_dir("directory-cli");
    for name in ["dir.jsonl", "dir.csv", "dir.txt"] {
        let path = dir.join(name);
        fs::create_dir(&path).unwrap();
        let (code, lines, stderr) = dry_run(&path);
        assert_eq!(code, 2, "{name}: {stderr}");
        // Refused before any line is read, and said once.
        assert!(lines.is_empty(), "{name}: {stderr}");
        assert_eq!(
            stderr.trim_end(),
            format!(
                "authing-otp import: the input {} is a directory, not a file of records; \
                 nothing was sent",
                path.display()
            ),
            "{name}"
        );
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_dry_run_names_each_refused_line_without_its_secret() {
    let dir = temp_dir("dry-run");
    let huge = SECRET.repeat(2 * MAX_RECORD_BYTES / SECRET.len());
    let cases = [
        (
            "long.jsonl",
            format!(
                "{{\"userId\":\"u1\",\"secret\":\"{huge}\"}}\n\
                 {{\"userId\":\"u2\",\"secret\":\"{SECRET}\"}}\n"
            ),
            vec![
                "line 1: line longer than 65536 bytes: refused unread (a record is well under \
                 1 KiB; is this the right file?)",
            ],
        ),
        (
            "rows.csv",
            format!("userId,secret\nu1,{SECRET},rc-1\nu2,{SECRET}\nu3,\"{SECRET}\nu4,{SECRET}\n"),
            vec![
                "line 2: 3 fields, but the header has 2",
                "line 4: unterminated quoted field at line 4: its closing `\"` is missing",
            ],
        ),
        (
            "long.csv",
            format!("userId,secret,recoveryCode\nu1,{SECRET},\"{huge}\"\nu2,{SECRET},\n"),
            vec![
                "line 2: record longer than 65536 bytes: refused unread (a record is well \
                 under 1 KiB; is this the right file?)",
            ],
        ),
    ];
    for (name, text, expect) in cases {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        let (code, lines, stderr) = dry_run(&path);
        assert_eq!(code, 2, "{name}: {stderr}");
        assert_eq!(lines, expect, "{name}: {stderr}");
        assert!(!stderr.contains("JBSW"), "{name}: {stderr}");
    }
    let _ = fs::remove_dir_all(&dir);
}
