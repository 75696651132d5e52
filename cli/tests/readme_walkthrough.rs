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

#[test]
fn the_migration_walkthrough_runs_as_written() {
    let script = walkthrough("migration");
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
