//! Peak memory and time of the import-file reader on hostile input: one case per run.
//!
//! ```sh
//! cargo run --release -p authing-otp-cli --example reader_memory -- jsonl-line
//! cli/scripts/reader_memory.sh            # every case, each in its own process
//! ```
//!
//! Cases (the input is generated as it is read, so the only memory that grows is the reader's):
//!
//! - `jsonl-line`, `csv-line`, `keyuri-line`: one 200 MB line (a secret that never ends);
//! - `csv-quoted`: a 100 MB quoted CSV field, with line breaks inside;
//! - `jsonl-blank`, `csv-blank`, `keyuri-blank`: 500 MB of blank lines;
//! - `jsonl-nested`: 64 KiB lines of `[`, 10,000 of them (deep nesting, 655 MB in all);
//! - `keyuri-long`: valid Key URI lines just under the limit, 5,000 of them (328 MB);
//! - `journal-line`: a journal whose first line is 200 MB that starts like a header;
//! - `journal-entry`: a journal with a valid header, then a 200 MB line;
//! - `journal-blank`: a journal with a valid header, then 500 MB of blank lines.
//!
//! The journal cases are written to a temporary file first (a journal is a file), then opened
//! as a resuming run opens one: each must be refused as "not a journal" at once.
//!
//! Each input ends with one valid record, which the reader must still return. Prints what the
//! reader returned, the time taken and the peak resident set size (`VmHWM` of
//! `/proc/self/status`, Linux only). Not a test: the figures depend on the machine.

use std::io::{self, Read};
use std::time::Instant;

use authing_otp_cli::import::{ImportFormat, ImportReader};
use authing_otp_cli::journal::{IdentifyingReader, Journal};

const MB: u64 = 1_000_000;

/// Input made of parts, each a literal or a byte repeated, produced as it is read.
struct Generated {
    parts: Vec<Part>,
    /// Bytes of the current part already produced.
    done: u64,
}

enum Part {
    Bytes(Vec<u8>),
    /// `pattern` repeated until `len` bytes are out.
    Repeat {
        pattern: Vec<u8>,
        len: u64,
    },
}

impl Part {
    fn len(&self) -> u64 {
        match self {
            Part::Bytes(b) => b.len() as u64,
            Part::Repeat { len, .. } => *len,
        }
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(part) = self.parts.first() else {
                return Ok(0);
            };
            let left = part.len() - self.done;
            if left == 0 {
                self.parts.remove(0);
                self.done = 0;
                continue;
            }
            let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            match part {
                Part::Bytes(b) => {
                    let from = self.done as usize;
                    buf[..n].copy_from_slice(&b[from..from + n]);
                }
                Part::Repeat { pattern, .. } => {
                    // `pattern` is whole copies of the repeated bytes, some 64 KiB of them.
                    let at = (self.done % pattern.len() as u64) as usize;
                    let n = n.min(pattern.len() - at);
                    buf[..n].copy_from_slice(&pattern[at..at + n]);
                    self.done += n as u64;
                    return Ok(n);
                }
            }
            self.done += n as u64;
            return Ok(n);
        }
    }
}

fn bytes(b: &[u8]) -> Part {
    Part::Bytes(b.to_vec())
}

fn repeat(pattern: &[u8], len: u64) -> Part {
    Part::Repeat {
        pattern: pattern.repeat((64 * 1024 / pattern.len()).max(1)),
        len,
    }
}

/// The input and format of a case.
fn case(name: &str) -> Option<(ImportFormat, Vec<Part>)> {
    use ImportFormat::{Csv, JsonLines, KeyUri};
    const JSON_OK: &[u8] = b"{\"userId\":\"u2\",\"secret\":\"JBSWY3DPEHPK3PXP\"}\n";
    const CSV_OK: &[u8] = b"u2,JBSWY3DPEHPK3PXP,\n";
    const URI_OK: &[u8] = b"u2 otpauth://totp/a?secret=JBSWY3DPEHPK3PXP\n";
    Some(match name {
        "jsonl-line" => (
            JsonLines,
            vec![
                bytes(b"{\"userId\":\"u1\",\"secret\":\""),
                repeat(b"A", 200 * MB),
                bytes(b"\"}\n"),
                bytes(JSON_OK),
            ],
        ),
        "csv-line" => (
            Csv,
            vec![
                bytes(b"userId,secret,recoveryCode\nu1,"),
                repeat(b"A", 200 * MB),
                bytes(b",rc\n"),
                bytes(CSV_OK),
            ],
        ),
        "csv-quoted" => (
            Csv,
            vec![
                bytes(b"userId,secret,recoveryCode\nu1,\""),
                repeat(b"AAAAAAA,\"\"AAAAAAAAAAAAAAAAAAAAA\n", 100 * MB),
                bytes(b"\",rc\n"),
                bytes(CSV_OK),
            ],
        ),
        "keyuri-line" => (
            KeyUri,
            vec![
                bytes(b"u1 otpauth://totp/a?secret="),
                repeat(b"A", 200 * MB),
                bytes(b"\n"),
                bytes(URI_OK),
            ],
        ),
        "jsonl-blank" => (JsonLines, vec![repeat(b"\n", 500 * MB), bytes(JSON_OK)]),
        "csv-blank" => (
            Csv,
            vec![
                bytes(b"userId,secret,recoveryCode\n"),
                repeat(b"\n", 500 * MB),
                bytes(CSV_OK),
            ],
        ),
        "keyuri-blank" => (KeyUri, vec![repeat(b"\n", 500 * MB), bytes(URI_OK)]),
        "jsonl-nested" => {
            let mut line = vec![b'['; 64 * 1024 - 1];
            line.push(b'\n');
            let lines = 10_000;
            (
                JsonLines,
                vec![repeat(&line, lines * line.len() as u64), bytes(JSON_OK)],
            )
        }
        "keyuri-long" => {
            // Valid lines just under the limit, most of them a percent-encoded issuer.
            let mut line = b"u1 otpauth://totp/Acme?secret=JBSWY3DPEHPK3PXP&issuer=".to_vec();
            while line.len() + 4 <= 64 * 1024 {
                line.extend_from_slice(b"%41");
            }
            line.push(b'\n');
            (
                KeyUri,
                vec![repeat(&line, 5_000 * line.len() as u64), bytes(URI_OK)],
            )
        }
        _ => return None,
    })
}

/// The peak resident set size, in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The journal cases: the parts of the file.
fn journal_case(name: &str) -> Option<Vec<Part>> {
    let header = b"{\"authingOtpJournal\":2,\"input\":{\"bytes\":1,\"sha1\":\"11f6ad8ec52a2984abaafd7c3b516503785c2072\"}}\n";
    Some(match name {
        "journal-line" => vec![
            bytes(b"{\"authingOtpJournal\":2,\"input\":{\"bytes\":1,\"sha1\":\""),
            repeat(b"0", 200 * MB),
        ],
        "journal-entry" => vec![
            bytes(header),
            bytes(b"{\"done\":[[0,"),
            repeat(b"0", 200 * MB),
        ],
        "journal-blank" => vec![bytes(header), repeat(b"\n", 500 * MB)],
        _ => return None,
    })
}

/// Writes a journal case to a temporary file and opens it as a resuming run does.
fn journal_main(name: &str, parts: Vec<Part>) -> std::process::ExitCode {
    let path = std::env::temp_dir().join(format!("reader-memory-{}-{name}", std::process::id()));
    let input_bytes: u64 = parts.iter().map(Part::len).sum();
    let mut file = std::fs::File::create(&path).expect("a temporary file");
    io::copy(&mut Generated { parts, done: 0 }, &mut file).expect("written");
    drop(file);
    let mut identity = IdentifyingReader::new(&b"x"[..]);
    io::copy(&mut identity, &mut io::sink()).expect("in memory");
    let before = peak_rss_kib();
    let start = Instant::now();
    let result = Journal::open(&path, &identity.identity());
    let elapsed = start.elapsed();
    let _ = std::fs::remove_file(&path);
    println!(
        "{name:<13} {:>6.0} MB in {:>6.2} s  peak RSS {:>10} (at start {})  {}",
        input_bytes as f64 / MB as f64,
        elapsed.as_secs_f64(),
        kib(peak_rss_kib()),
        kib(before),
        match result {
            Ok(_) => "opened (it should not have been)".to_owned(),
            Err(e) => format!("refused: {e}"),
        }
    );
    std::process::ExitCode::SUCCESS
}

fn kib(v: Option<u64>) -> String {
    v.map_or_else(
        || "?".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

fn main() -> std::process::ExitCode {
    let name = std::env::args().nth(1).unwrap_or_default();
    if let Some(parts) = journal_case(&name) {
        return journal_main(&name, parts);
    }
    let names = [
        "jsonl-line",
        "csv-line",
        "csv-quoted",
        "keyuri-line",
        "jsonl-blank",
        "csv-blank",
        "keyuri-blank",
        "jsonl-nested",
        "keyuri-long",
        "journal-line",
        "journal-entry",
        "journal-blank",
    ];
    let Some((format, parts)) = case(&name) else {
        eprintln!("usage: reader_memory <{}>", names.join("|"));
        return std::process::ExitCode::from(2);
    };
    let input_bytes: u64 = parts.iter().map(Part::len).sum();
    let before = peak_rss_kib();
    let start = Instant::now();
    let (mut records, mut errors, mut last_record) = (0u64, 0u64, None);
    let mut first_errors = Vec::new();
    for result in ImportReader::new(Generated { parts, done: 0 }, format) {
        match result {
            Ok(record) => {
                records += 1;
                last_record = Some(record.line);
            }
            Err(e) => {
                errors += 1;
                if first_errors.len() < 2 {
                    first_errors.push(e.to_string());
                }
            }
        }
    }
    let elapsed = start.elapsed();
    println!(
        "{name:<13} {:>6.0} MB in {:>6.2} s  peak RSS {:>10} (at start {})  {records} record(s), last at line {}, {errors} error(s){}",
        input_bytes as f64 / MB as f64,
        elapsed.as_secs_f64(),
        kib(peak_rss_kib()),
        kib(before),
        last_record.map_or_else(|| "-".to_owned(), |l| l.to_string()),
        first_errors
            .iter()
            .map(|e| format!("; {e}"))
            .collect::<String>(),
    );
    std::process::ExitCode::SUCCESS
}
