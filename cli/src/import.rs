//! Reading OTP import files, one record at a time.
//!
//! Two formats:
//! - JSON Lines, one object per line, either flat `{"userId", "secret", "recoveryCode"?}` or
//!   upstream's shape `{"userId", "otp": {"secret", "recoveryCode"?}}`; blank lines are skipped.
//! - CSV with the header `userId,secret,recoveryCode` (the last column may be left out, or left
//!   empty on a row).
//!
//! [`ImportReader`] is an iterator that streams: it holds one record at a time, so a file of
//! millions of lines costs no more memory than one line. Every error names its line (1-based,
//! the CSV header being line 1) and never repeats a secret.
//!
//! ```
//! use authing_otp_cli::import::{ImportFormat, ImportReader};
//!
//! let file = "userId,secret,recoveryCode\nu1,HZ2F6J3AGNAVSOTV,b471-8ec0\nu2,,\n";
//! let mut records = ImportReader::new(file.as_bytes(), ImportFormat::Csv);
//! let first = records.next().unwrap()?;
//! assert_eq!((first.line, first.item.user_id()), (2, "u1"));
//! let second = records.next().unwrap().unwrap_err();
//! assert_eq!(second.to_string(), "line 3: secret: missing");
//! # Ok::<(), authing_otp_cli::import::ImportFileError>(())
//! ```

use std::{
    collections::VecDeque,
    fmt,
    fs::File,
    io::{self, BufRead, BufReader, Read},
    path::Path,
};

use serde::Deserialize;

use authing_otp::{InputError, OtpImport, json_error_summary};

/// The format of an import file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImportFormat {
    /// One JSON object per line.
    JsonLines,
    /// Comma-separated values with a header.
    Csv,
}

impl ImportFormat {
    /// The format a file name implies: `.csv` is CSV, `.jsonl`, `.ndjson` and `.json` are JSON
    /// Lines.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(ImportFormat::Csv),
            "jsonl" | "ndjson" | "json" => Some(ImportFormat::JsonLines),
            _ => None,
        }
    }
}

/// One valid record and the line it came from.
#[derive(Debug)]
#[non_exhaustive]
pub struct ImportRecord {
    /// The 1-based line number.
    pub line: u64,
    /// The validated item.
    pub item: OtpImport,
}

/// Why a line, or the file, was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportFileError {
    /// The file could not be read.
    #[error("{}: {source}", .line.map_or_else(|| "reading the file".to_owned(), |l| format!("line {l}")))]
    Io {
        /// The line being read, when known.
        line: Option<u64>,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A line is not valid UTF-8, not well-formed, or not of the expected shape.
    #[error("line {line}: {reason}")]
    Malformed {
        /// The 1-based line number.
        line: u64,
        /// What is wrong, without quoting values.
        reason: String,
    },
    /// A field's value was refused.
    #[error("line {line}: {source}")]
    Invalid {
        /// The 1-based line number.
        line: u64,
        /// Which field and why.
        #[source]
        source: InputError,
    },
}

impl ImportFileError {
    /// The 1-based line at fault, if the error is about one line.
    pub fn line(&self) -> Option<u64> {
        match self {
            ImportFileError::Io { line, .. } => *line,
            ImportFileError::Malformed { line, .. } | ImportFileError::Invalid { line, .. } => {
                Some(*line)
            }
        }
    }
}

/// Streams [`ImportRecord`]s out of a JSON Lines or CSV reader.
pub struct ImportReader<R: Read> {
    inner: Inner<R>,
}

enum Inner<R: Read> {
    Json {
        reader: BufReader<R>,
        line: u64,
        buf: Vec<u8>,
    },
    Csv {
        reader: csv::Reader<LineIndex<R>>,
        checked_header: bool,
        record: csv::ByteRecord,
    },
}

/// Notes where each line the CSV parser reads past ends, and whether it was blank, so that a
/// record's byte offset (which the parser reports reliably) maps to the line it starts on,
/// whatever the line endings and however many blank lines (which the parser skips) came before.
/// It holds only the lines of the parser's read-ahead.
struct LineIndex<R> {
    inner: R,
    read: u64,
    lines: VecDeque<LineEnd>,
    blank_so_far: bool,
    lines_before: u64,
}

struct LineEnd {
    /// The offset of the line's `\n`.
    at: u64,
    blank: bool,
}

impl<R> LineIndex<R> {
    fn new(inner: R) -> Self {
        LineIndex {
            inner,
            read: 0,
            lines: VecDeque::new(),
            blank_so_far: true,
            lines_before: 0,
        }
    }

    /// The 1-based line of the record the parser reports at byte `offset`; offsets must come
    /// in increasing order. The parser reports a record from where it started looking: after
    /// a CRLF that is the `\n` (the `\r` ended the record before), and before skipped blank
    /// lines that is where they begin.
    fn line_at(&mut self, offset: u64) -> u64 {
        while let Some(line) = self.lines.front() {
            if line.at <= offset || line.blank {
                self.lines.pop_front();
                self.lines_before += 1;
            } else {
                break;
            }
        }
        self.lines_before + 1
    }
}

impl<R: Read> Read for LineIndex<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        let only_cr = |bytes: &[u8]| bytes.iter().all(|&b| b == b'\r');
        let mut line_start = 0;
        for at in memchr::memchr_iter(b'\n', chunk) {
            // `all` stops at the first other byte: a line with content costs one comparison.
            let blank = self.blank_so_far && only_cr(&chunk[line_start..at]);
            self.lines.push_back(LineEnd {
                at: self.read + at as u64,
                blank,
            });
            self.blank_so_far = true;
            line_start = at + 1;
        }
        self.blank_so_far = self.blank_so_far && only_cr(&chunk[line_start..]);
        self.read += n as u64;
        Ok(n)
    }
}

impl<R: Read> fmt::Debug for ImportReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ImportReader")
    }
}

impl ImportReader<File> {
    /// Opens `path`, choosing the format from its extension (see [`ImportFormat::from_path`]),
    /// or from its first byte when the extension says nothing (`{` means JSON Lines).
    pub fn open(path: &Path) -> Result<Self, ImportFileError> {
        let io = |source| ImportFileError::Io { line: None, source };
        let format = match ImportFormat::from_path(path) {
            Some(format) => format,
            None => {
                let mut first = [0u8; 1];
                let n = File::open(path)
                    .and_then(|mut f| f.read(&mut first))
                    .map_err(io)?;
                if n == 1 && first[0] == b'{' {
                    ImportFormat::JsonLines
                } else {
                    ImportFormat::Csv
                }
            }
        };
        Ok(ImportReader::new(File::open(path).map_err(io)?, format))
    }
}

impl<R: Read> ImportReader<R> {
    /// Reads records of `format` from `reader`.
    pub fn new(reader: R, format: ImportFormat) -> Self {
        let inner = match format {
            ImportFormat::JsonLines => Inner::Json {
                reader: BufReader::new(reader),
                line: 0,
                buf: Vec::new(),
            },
            ImportFormat::Csv => Inner::Csv {
                reader: csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(LineIndex::new(reader)),
                checked_header: false,
                record: csv::ByteRecord::new(),
            },
        };
        ImportReader { inner }
    }
}

impl<R: Read> Iterator for ImportReader<R> {
    type Item = Result<ImportRecord, ImportFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Json { reader, line, buf } => next_json(reader, line, buf),
            Inner::Csv {
                reader,
                checked_header,
                record,
            } => next_csv(reader, checked_header, record),
        }
    }
}

/// A JSON line, in either accepted shape, before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLine {
    #[serde(rename = "userId")]
    user_id: Option<String>,
    secret: Option<String>,
    #[serde(rename = "recoveryCode")]
    recovery_code: Option<String>,
    otp: Option<JsonOtp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonOtp {
    secret: Option<String>,
    #[serde(rename = "recoveryCode")]
    recovery_code: Option<String>,
}

fn next_json<R: Read>(
    reader: &mut BufReader<R>,
    line: &mut u64,
    buf: &mut Vec<u8>,
) -> Option<Result<ImportRecord, ImportFileError>> {
    loop {
        buf.clear();
        *line += 1;
        match reader.read_until(b'\n', buf) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(source) => {
                return Some(Err(ImportFileError::Io {
                    line: Some(*line),
                    source,
                }));
            }
        }
        let malformed = |reason: String| ImportFileError::Malformed {
            line: *line,
            reason,
        };
        let Ok(mut text) = std::str::from_utf8(buf) else {
            return Some(Err(malformed("not valid UTF-8".into())));
        };
        if *line == 1 {
            // Editors on Windows start UTF-8 files with a byte order mark.
            text = text.strip_prefix('\u{feff}').unwrap_or(text);
        }
        if text.trim().is_empty() {
            continue;
        }
        let parsed: JsonLine = match serde_json::from_str(text) {
            Ok(parsed) => parsed,
            Err(e) => return Some(Err(malformed(json_error_summary(&e)))),
        };
        let (secret, recovery_code) = match (parsed.secret, parsed.otp) {
            (Some(_), Some(_)) => {
                return Some(Err(malformed(
                    "give either `secret` or `otp`, not both".into(),
                )));
            }
            (Some(secret), None) => (Some(secret), parsed.recovery_code),
            (None, Some(otp)) if parsed.recovery_code.is_none() => (otp.secret, otp.recovery_code),
            (None, Some(_)) => {
                return Some(Err(malformed(
                    "`recoveryCode` belongs inside `otp` in this shape".into(),
                )));
            }
            (None, None) => (None, parsed.recovery_code),
        };
        return Some(validated(*line, parsed.user_id, secret, recovery_code));
    }
}

/// The CSV header, and so the column order.
pub const CSV_HEADER: [&str; 3] = ["userId", "secret", "recoveryCode"];

fn next_csv<R: Read>(
    reader: &mut csv::Reader<LineIndex<R>>,
    checked_header: &mut bool,
    record: &mut csv::ByteRecord,
) -> Option<Result<ImportRecord, ImportFileError>> {
    loop {
        let start = reader.position().byte();
        match reader.read_byte_record(record) {
            Ok(false) => return None,
            Ok(true) => {}
            Err(e) => {
                let at = e.position().map_or(start, |p| p.byte());
                let line = reader.get_mut().line_at(at);
                return Some(Err(match e.into_kind() {
                    csv::ErrorKind::Io(source) => ImportFileError::Io {
                        line: Some(line),
                        source,
                    },
                    _ => ImportFileError::Malformed {
                        line,
                        reason: "not well-formed CSV".into(),
                    },
                }));
            }
        }
        let at = record.position().map_or(start, |p| p.byte());
        let line = reader.get_mut().line_at(at);
        let malformed = |reason: String| ImportFileError::Malformed { line, reason };
        let mut fields = Vec::with_capacity(3);
        for field in record.iter() {
            match std::str::from_utf8(field) {
                Ok(text) => fields.push(text),
                Err(_) => return Some(Err(malformed("not valid UTF-8".into()))),
            }
        }
        if !*checked_header {
            *checked_header = true;
            let names: Vec<&str> = fields.iter().map(|f| f.trim()).collect();
            if names != CSV_HEADER[..2] && names != CSV_HEADER {
                return Some(Err(malformed(format!(
                    "the header must be `{}` (recoveryCode may be left out)",
                    CSV_HEADER.join(",")
                ))));
            }
            continue;
        }
        if fields.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if fields.len() > CSV_HEADER.len() {
            return Some(Err(malformed(format!(
                "{} fields, the header names at most {}",
                fields.len(),
                CSV_HEADER.len()
            ))));
        }
        let field = |i: usize| {
            fields
                .get(i)
                .map(|f| f.to_string())
                .filter(|f| !f.is_empty())
        };
        return Some(validated(line, field(0), field(1), field(2)));
    }
}

fn validated(
    line: u64,
    user_id: Option<String>,
    secret: Option<String>,
    recovery_code: Option<String>,
) -> Result<ImportRecord, ImportFileError> {
    let invalid = |source| ImportFileError::Invalid { line, source };
    let user_id = user_id.ok_or_else(|| invalid(InputError::new("userId", "missing")))?;
    let secret = secret.ok_or_else(|| invalid(InputError::new("secret", "missing")))?;
    let item = OtpImport::from_parts(user_id, secret, recovery_code).map_err(invalid)?;
    Ok(ImportRecord { line, item })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8], format: ImportFormat) -> Vec<Result<ImportRecord, String>> {
        ImportReader::new(text, format)
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn json_lines_in_both_shapes() {
        let text = br#"{"userId":"u1","secret":"HZ2F6J3AGNAVSOTV","recoveryCode":"r1"}

{"userId":"u2","otp":{"secret":"MZXW6YQ=","recoveryCode":"r2"}}
{"userId":"u3","otp":{"secret":"MZXW6YQ="}}
"#;
        let records = read(text, ImportFormat::JsonLines);
        let lines: Vec<u64> = records.iter().map(|r| r.as_ref().unwrap().line).collect();
        assert_eq!(lines, [1, 3, 4]);
    }

    #[test]
    fn json_errors_name_the_line_without_values() {
        let text = "{\"userId\":\"u1\",\"secret\":\"HZ2F6J3AGNAVSOTV\"}\n{\"userId\":\"u2\"}\n{\"userId\":\"u3\",\"secret\":7}\nnot json\n{\"userId\":\"u4\",\"secret\":\"S3CRET!!\"}\n{\"userId\":\"u5\",\"secret\":\"MZXW6YQ=\",\"extra\":1}\n";
        let records = read(text.as_bytes(), ImportFormat::JsonLines);
        let errors: Vec<String> = records.into_iter().filter_map(Result::err).collect();
        assert_eq!(errors[0], "line 2: secret: missing");
        assert!(errors[1].starts_with("line 3: "), "{}", errors[1]);
        assert!(errors[2].starts_with("line 4: "), "{}", errors[2]);
        assert!(
            errors[3].starts_with("line 5: secret: must be base32"),
            "{}",
            errors[3]
        );
        assert!(!errors[3].contains("S3CRET"));
        assert!(
            errors[4].contains("line 6: unknown field `extra`"),
            "{}",
            errors[4]
        );
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let mut text = b"userId,secret\nu1,HZ2F6J3AGNAVSOTV\n".to_vec();
        text.extend_from_slice(b"u\xff2,HZ2F6J3AGNAVSOTV\n");
        let errors: Vec<String> = read(&text, ImportFormat::Csv)
            .into_iter()
            .filter_map(Result::err)
            .collect();
        assert_eq!(errors, ["line 3: not valid UTF-8"]);
        let json = b"{\"userId\":\"u\xff\",\"secret\":\"HZ2F6J3AGNAVSOTV\"}\n";
        assert_eq!(
            read(json, ImportFormat::JsonLines)[0].as_ref().unwrap_err(),
            "line 1: not valid UTF-8"
        );
    }

    #[test]
    fn line_numbers_survive_crlf_blank_lines_quotes_and_a_bom() {
        let line_of_error = |text: &[u8], format| {
            read(text, format)
                .into_iter()
                .find_map(Result::err)
                .expect("an error")
        };
        let crlf = b"userId,secret\r\nu1,HZ2F6J3AGNAVSOTV\r\nu2,HZ2F6J3AGNAVSOTV\r\nu3,\r\n";
        assert_eq!(
            line_of_error(crlf, ImportFormat::Csv),
            "line 4: secret: missing"
        );
        let blank = b"userId,secret\nu1,HZ2F6J3AGNAVSOTV\n\n\n\nu3,\n";
        assert_eq!(
            line_of_error(blank, ImportFormat::Csv),
            "line 6: secret: missing"
        );
        // A quoted field spanning two lines: refused (a control character), and the next
        // record's line still counts both.
        let quoted = b"userId,secret,recoveryCode\nu1,HZ2F6J3AGNAVSOTV,\"two\nlines\"\nu3,\n";
        let errors: Vec<String> = read(quoted, ImportFormat::Csv)
            .into_iter()
            .filter_map(Result::err)
            .collect();
        assert_eq!(
            errors,
            [
                "line 2: recoveryCode: must not contain control characters",
                "line 4: secret: missing"
            ]
        );
        let bom_csv = b"\xef\xbb\xbfuserId,secret\nu1,HZ2F6J3AGNAVSOTV\n";
        assert!(read(bom_csv, ImportFormat::Csv)[0].is_ok());
        let bom_json = b"\xef\xbb\xbf{\"userId\":\"u1\",\"secret\":\"HZ2F6J3AGNAVSOTV\"}\r\n{\"userId\":\"u2\"}\r\n";
        let records = read(bom_json, ImportFormat::JsonLines);
        assert!(records[0].is_ok(), "{:?}", records[0].as_ref().err());
        assert_eq!(records[1].as_ref().unwrap_err(), "line 2: secret: missing");
    }

    #[test]
    fn csv_header_is_checked() {
        let records = read(b"user,secret\nu1,HZ2F6J3AGNAVSOTV\n", ImportFormat::Csv);
        assert!(
            records[0]
                .as_ref()
                .unwrap_err()
                .starts_with("line 1: the header must be")
        );
        let ok = read(b"userId,secret\nu1,HZ2F6J3AGNAVSOTV\n", ImportFormat::Csv);
        assert_eq!(ok.len(), 1);
        assert!(ok[0].is_ok());
    }
}
