//! The README's migration walkthrough, copied into a shell as a newcomer would: in an empty
//! directory, with `authing-otp` on the PATH and no `AUTHING_*` or `GENAUTH_*` variable set.

mod common;

use std::{path::Path, process::Stdio};

use common::{temp_dir, text};

/// The shell block after `<!-- walkthrough: NAME -->` in the README.
fn walkthrough(name: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("the workspace README");
    let marker = format!("<!-- walkthrough: {name} -->");
    let after = &readme[readme.find(&marker).expect("the walkthrough's marker") + marker.len()..];
    let block = after
        .trim_start()
        .strip_prefix("```sh\n")
        .expect("a ```sh block right after the marker");
    block[..block.find("\n```").expect("the end of the block")].to_owned()
}

/// Runs the walkthrough `name` in a new directory: its stdout and the directory.
fn run_walkthrough(name: &str) -> (String, std::path::PathBuf) {
    let script = walkthrough(name);
    let dir = temp_dir("walkthrough");
    let bin_dir = Path::new(common::BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // A fresh shell: nothing of this process's environment but PATH; errors are fatal.
    // Bounded, so that a walkthrough that waits for ever fails instead.
    let out = std::process::Command::new("timeout")
        .args([
            "--kill-after=5",
            "120",
            "bash",
            "-euo",
            "pipefail",
            "-c",
            &script,
        ])
        .current_dir(&dir)
        .env_clear()
        .env("PATH", path)
        .env("HOME", &dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(
        out.status.success(),
        "{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    (stdout, dir)
}

#[test]
fn the_migration_walkthrough_runs_as_written() {
    let (stdout, dir) = run_walkthrough("migration");
    assert!(
        stdout.contains("secrets.jsonl: 2 valid records; nothing was sent (--dry-run)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("secrets.jsonl: 2 records: 2 imported, 0 refused, 0 not attempted"),
        "{stdout}"
    );
    assert!(
        stdout.contains("in all 2 of 2 read back, 0 differ"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("HZ2F6J3AGNAVSOTV"), "{stdout}");
    for file in ["migration.journal", "refused.jsonl", "refused-why.jsonl"] {
        assert!(dir.join(file).exists(), "{file}");
    }
    assert_eq!(std::fs::read(dir.join("refused.jsonl")).unwrap(), b"");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_keycloak_walkthrough_runs_as_written() {
    let (stdout, dir) = run_walkthrough("keycloak");
    assert!(
        stdout.contains("1 users to import, 0 refused, 1 without OTP; nothing was sent"),
        "{stdout}"
    );
    assert!(
        stdout.contains("acme-realm.json: 1 records: 1 imported, 0 refused, 0 not attempted"),
        "{stdout}"
    );
    assert!(
        stdout.contains("in all 1 of 1 read back, 0 differ"),
        "{stdout}"
    );
    assert!(
        stdout
            .trim_end()
            .ends_with("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_pool_to_pool_walkthrough_runs_as_written() {
    let (stdout, dir) = run_walkthrough("pool-to-pool");
    assert!(
        stdout.contains("users.txt: 2 users: 2 written to otp.jsonl"),
        "{stdout}"
    );
    assert!(
        stdout.contains("otp.jsonl: 2 records: 2 imported, 0 refused, 0 not attempted"),
        "{stdout}"
    );
    assert!(
        stdout.contains("in all 2 of 2 read back, 0 differ"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("HZ2F6J3AGNAVSOTV"), "{stdout}");
    assert!(!dir.join("otp.jsonl").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
