//! The import-file reader, timed without a network: `cargo bench -p authing-otp-cli`.
//!
//! Reads and validates 100,000 records from memory, five rounds per format, and prints the time
//! per file and the records per second. Every record keeps its line's bytes, as the import
//! command's failures file needs them.

use std::{hint::black_box, time::Instant};

use authing_otp_cli::import::{ImportFormat, ImportReader};

fn main() {
    // Under `cargo test --benches` only check that it runs.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    const LINES: usize = 100_000;
    let jsonl: String = (0..LINES)
        .map(|i| {
            format!(
                "{{\"userId\":\"user-{i}\",\"secret\":\"HZ2F6J3AGNAVSOTV\",\
                 \"recoveryCode\":\"rc-{i:06}\"}}\n"
            )
        })
        .collect();
    let csv: String = std::iter::once("userId,secret,recoveryCode\n".to_owned())
        .chain((0..LINES).map(|i| format!("user-{i},HZ2F6J3AGNAVSOTV,rc-{i:06}\n")))
        .collect();
    let uris: String = (0..LINES)
        .map(|i| {
            format!(
                "user-{i}\totpauth://totp/Acme:user-{i}%40example.com?secret=HZ2F6J3AGNAVSOTV\
                 &issuer=Acme\n"
            )
        })
        .collect();
    for (name, text, format) in [
        (
            "read+validate 100k JSON Lines records",
            &jsonl,
            ImportFormat::JsonLines,
        ),
        ("read+validate 100k CSV records", &csv, ImportFormat::Csv),
        (
            "read+validate 100k Key URI records",
            &uris,
            ImportFormat::KeyUri,
        ),
    ] {
        let start = Instant::now();
        let rounds = 5;
        for _ in 0..rounds {
            let mut n = 0;
            for record in ImportReader::new(text.as_bytes(), format) {
                let record = record.unwrap();
                black_box(record.raw());
                black_box(record);
                n += 1;
            }
            assert_eq!(n, LINES);
        }
        let per_round = start.elapsed() / rounds;
        println!(
            "{name:<48} {:>12.1} ms/file ({:.0} records/s)",
            per_round.as_secs_f64() * 1e3,
            LINES as f64 / per_round.as_secs_f64()
        );
    }
}
