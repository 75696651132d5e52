//! `authing-otp export`'s files: the list of users to read back, the lines written for each
//! secret, and the journal that lets a killed export resume without writing a user twice.
//!
//! **The users file** is read one line at a time, each line at most
//! [`MAX_RECORD_BYTES`] long (a longer one is refused without
//! being read whole), in one of three formats ([`UsersFormat`]):
//!
//! - `lines`: one bare value per line, all of one type (`--user-id-type`, `user_id` by
//!   default). Blank lines are skipped, and spaces around a value are not part of it. A value
//!   is never split at `:` (an email address or a username may hold one).
//! - `jsonl`: one object per line with `userId` and optionally `userIdType`; other fields are
//!   ignored, so an import file serves as a list of users.
//! - `csv`: a header naming a `userId` column and optionally a `userIdType` column; other
//!   columns are ignored. Fields may be quoted (`"a,b"`, `""` for a quote); a record is one
//!   line.
//!
//! Every error names its line and its field and never repeats a value.
//!
//! **The output** is written a whole line at a time (one `write` per line), so a killed run
//! leaves whole lines and at most one line cut short. **The journal** ([`ExportJournal`])
//! says, after each batch, which users are done and how long the output then was: a resumed
//! run cuts the output back to that length (dropping the lines of a batch the journal does
//! not list, and a line cut short) and reads those users again, so every user is in the
//! output exactly once.

use std::{
    fs::File,
    io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use authing_otp::{InputError, UserIdType, UserRef, json_error_summary};
use serde::{Deserialize, Serialize};

use crate::{
    import::MAX_RECORD_BYTES,
    journal::{InputIdentity, MAX_HEADER_BYTES, MAX_LINE_BYTES, RecordSet, RefusedRecord},
};

/// The format of a users file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum UsersFormat {
    /// One bare value per line, of the type `--user-id-type` gives.
    Lines,
    /// One JSON object per line: `userId`, and optionally `userIdType`.
    Jsonl,
    /// CSV with a header naming `userId` (and optionally `userIdType`).
    Csv,
}

impl UsersFormat {
    /// The format a file name implies: `.jsonl`, `.ndjson`, `.json` are JSON Lines, `.csv` is
    /// CSV, anything else is one value per line.
    ///
    /// ```
    /// use std::path::Path;
    /// use authing_otp_cli::export::UsersFormat;
    /// assert_eq!(UsersFormat::from_path(Path::new("u.CSV")), UsersFormat::Csv);
    /// assert_eq!(UsersFormat::from_path(Path::new("users.txt")), UsersFormat::Lines);
    /// ```
    pub fn from_path(path: &Path) -> Self {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("jsonl" | "ndjson" | "json") => UsersFormat::Jsonl,
            Some("csv") => UsersFormat::Csv,
            _ => UsersFormat::Lines,
        }
    }
}

/// One user of the users file, and its line (from 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserLine {
    /// The 1-based line number.
    pub line: u64,
    /// The user.
    pub user: UserRef,
}

/// Why a line of the users file, or the file, was refused. Never quotes a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsersFileError {
    /// The file could not be read: the reader returns this once, then ends.
    #[error("reading line {line}: {source}")]
    Io {
        /// The line being read.
        line: u64,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A line is not well-formed, or a field's value was refused.
    #[error("line {line}: {reason}")]
    Invalid {
        /// The 1-based line number.
        line: u64,
        /// Which field and what is wrong.
        reason: String,
    },
}

impl UsersFileError {
    fn at(line: u64, reason: impl Into<String>) -> Self {
        UsersFileError::Invalid {
            line,
            reason: reason.into(),
        }
    }

    fn input(line: u64, e: InputError) -> Self {
        UsersFileError::at(line, e.to_string())
    }
}

/// The users of a users file, one line at a time.
///
/// ```
/// use authing_otp::UserIdType;
/// use authing_otp_cli::export::{UsersFormat, UsersReader};
///
/// let file = "userId,userIdType\nu1,\nalice@example.com,email\n,email\n";
/// let mut users = UsersReader::new(file.as_bytes(), UsersFormat::Csv, UserIdType::UserId);
/// assert_eq!(users.next().unwrap()?.user.id(), "u1");
/// let second = users.next().unwrap()?;
/// assert_eq!((second.line, second.user.id_type()), (3, UserIdType::Email));
/// assert_eq!(users.next().unwrap().unwrap_err().to_string(), "line 4: userId: missing");
/// assert!(users.next().is_none());
/// # Ok::<(), authing_otp_cli::export::UsersFileError>(())
/// ```
pub struct UsersReader<R> {
    reader: BufReader<R>,
    format: UsersFormat,
    default_type: UserIdType,
    line: u64,
    buf: Vec<u8>,
    /// For CSV, once read: the columns of `userId` and `userIdType`.
    columns: Option<(usize, Option<usize>)>,
    fused: bool,
}

/// A JSON line of a users file.
#[derive(Deserialize)]
struct JsonUser {
    #[serde(rename = "userId")]
    user_id: Option<serde_json::Value>,
    #[serde(rename = "userIdType")]
    user_id_type: Option<serde_json::Value>,
}

impl<R: Read> UsersReader<R> {
    /// Reads users of `format` from `reader`; a user without a type is of `default_type`.
    pub fn new(reader: R, format: UsersFormat, default_type: UserIdType) -> Self {
        UsersReader {
            reader: BufReader::new(reader),
            format,
            default_type,
            line: 0,
            buf: Vec::new(),
            columns: None,
            fused: false,
        }
    }

    /// The next line (without `\n` or `\r\n`), or `Ok(None)` at the end; `Err` for an I/O
    /// error, and for a line too long (skipped to its end, not kept).
    fn next_line(&mut self) -> Result<Option<u64>, UsersFileError> {
        self.buf.clear();
        let number = self.line + 1;
        let limit = MAX_RECORD_BYTES as u64 + 2;
        let read = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
            .map_err(|source| UsersFileError::Io {
                line: number,
                source,
            })?;
        if read == 0 {
            return Ok(None);
        }
        self.line = number;
        let ended = self.buf.last() == Some(&b'\n');
        if !ended && read as u64 == limit {
            self.buf.clear();
            self.reader
                .skip_until(b'\n')
                .map_err(|source| UsersFileError::Io {
                    line: number,
                    source,
                })?;
            return Err(UsersFileError::at(
                number,
                format!(
                    "line longer than {MAX_RECORD_BYTES} bytes: refused unread (is this the \
                     right file?)"
                ),
            ));
        }
        if ended {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        if number == 1 && self.buf.starts_with(b"\xef\xbb\xbf") {
            self.buf.drain(..3);
        }
        Ok(Some(number))
    }

    fn user(&mut self, line: u64) -> Result<Option<UserRef>, UsersFileError> {
        let Ok(text) = std::str::from_utf8(&self.buf) else {
            return Err(UsersFileError::at(line, "not valid UTF-8"));
        };
        if text.trim().is_empty() {
            return Ok(None);
        }
        let typed = |id: &str, id_type: Option<&str>| -> Result<UserRef, UsersFileError> {
            let id_type = match id_type.map(str::trim).filter(|t| !t.is_empty()) {
                Some(t) => t
                    .parse::<UserIdType>()
                    .map_err(|e| UsersFileError::input(line, e))?,
                None => self.default_type,
            };
            if id.is_empty() {
                return Err(UsersFileError::at(line, "userId: missing"));
            }
            UserRef::new(id_type, id).map_err(|e| UsersFileError::input(line, e))
        };
        match self.format {
            UsersFormat::Lines => typed(text.trim(), None).map(Some),
            UsersFormat::Jsonl => {
                let parsed: JsonUser = serde_json::from_str(text)
                    .map_err(|e| UsersFileError::at(line, json_error_summary(&e)))?;
                let id = match parsed.user_id {
                    None | Some(serde_json::Value::Null) => {
                        return Err(UsersFileError::at(line, "userId: missing"));
                    }
                    Some(serde_json::Value::String(id)) => id,
                    Some(_) => return Err(UsersFileError::at(line, "userId: not a string")),
                };
                let id_type = match parsed.user_id_type {
                    None | Some(serde_json::Value::Null) => None,
                    Some(serde_json::Value::String(t)) => Some(t),
                    Some(_) => return Err(UsersFileError::at(line, "userIdType: not a string")),
                };
                typed(&id, id_type.as_deref()).map(Some)
            }
            UsersFormat::Csv => {
                let fields = csv_fields(text).map_err(|why| UsersFileError::at(line, why))?;
                let Some((id_at, type_at)) = self.columns else {
                    let names: Vec<&str> = fields.iter().map(|f| f.trim()).collect();
                    let find = |name: &str| names.iter().position(|n| *n == name);
                    let Some(id_at) = find("userId") else {
                        // The rows cannot be read without it: one error, then the end.
                        self.fused = true;
                        return Err(UsersFileError::at(
                            line,
                            "the header must name a userId column (and may name userIdType)",
                        ));
                    };
                    self.columns = Some((id_at, find("userIdType")));
                    return Ok(None);
                };
                let field = |at: usize| fields.get(at).map(|f| f.trim()).unwrap_or("");
                typed(field(id_at), type_at.map(field)).map(Some)
            }
        }
    }
}

impl<R: Read> Iterator for UsersReader<R> {
    type Item = Result<UserLine, UsersFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.fused {
                return None;
            }
            let line = match self.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => return None,
                Err(e) => {
                    if matches!(e, UsersFileError::Io { .. }) {
                        self.fused = true;
                    }
                    return Some(Err(e));
                }
            };
            match self.user(line) {
                Ok(Some(user)) => return Some(Ok(UserLine { line, user })),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// The fields of one CSV line (RFC 4180 quoting, within the line).
fn csv_fields(text: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field is not closed on its line"),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err("a quoted field is followed by something other than `,`"),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("a quote inside an unquoted field"),
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

/// The formats of the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum OutputFormat {
    /// `{"userId","userIdType"?,"secret"}` per line: what `authing-otp import` reads.
    Jsonl,
    /// `userId,secret` (and a userIdType column when a user is not of type user_id).
    Csv,
    /// `<userId> otpauth://totp/ISSUER:<userId>?secret=…&issuer=ISSUER` per line.
    Uri,
}

/// How one line of the output is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineFormat {
    /// The format.
    pub format: OutputFormat,
    /// For CSV: whether the userIdType column is there.
    pub typed_column: bool,
    /// For Key URIs: the issuer.
    pub issuer: String,
}

impl LineFormat {
    /// The first line of the output, if the format has one (CSV's header).
    pub fn header(&self) -> Option<&'static str> {
        match (self.format, self.typed_column) {
            (OutputFormat::Csv, false) => Some("userId,secret\n"),
            (OutputFormat::Csv, true) => Some("userId,secret,userIdType\n"),
            _ => None,
        }
    }

    /// Writes `user`'s line, `\n` included, into `out` (cleared first). It holds the secret:
    /// the caller writes it with one `write` and wipes it.
    ///
    /// ```
    /// use authing_otp::UserRef;
    /// use authing_otp_cli::export::{LineFormat, OutputFormat};
    ///
    /// let mut line = Vec::new();
    /// let format = LineFormat { format: OutputFormat::Uri, typed_column: false, issuer: "A&B".into() };
    /// format.write_line(&UserRef::email("al ice@x.org")?, "JBSWY3DPEHPK3PXP", &mut line);
    /// assert_eq!(
    ///     String::from_utf8(line).unwrap(),
    ///     "al ice@x.org otpauth://totp/A%26B:al%20ice%40x.org?secret=JBSWY3DPEHPK3PXP&issuer=A%26B\n"
    /// );
    /// # Ok::<(), authing_otp::InputError>(())
    /// ```
    pub fn write_line(&self, user: &UserRef, secret: &str, out: &mut Vec<u8>) {
        out.clear();
        let typed = user.id_type() != UserIdType::UserId;
        match self.format {
            OutputFormat::Jsonl => {
                let json = |out: &mut Vec<u8>, s: &str| {
                    serde_json::to_writer(out, s).expect("a string serializes");
                };
                out.extend_from_slice(b"{\"userId\":");
                json(out, user.id());
                if typed {
                    out.extend_from_slice(b",\"userIdType\":");
                    json(out, user.id_type().as_str());
                }
                out.extend_from_slice(b",\"secret\":");
                json(out, secret);
                out.extend_from_slice(b"}\n");
            }
            OutputFormat::Csv => {
                csv_field(out, user.id());
                out.push(b',');
                csv_field(out, secret);
                if self.typed_column {
                    out.push(b',');
                    if typed {
                        out.extend_from_slice(user.id_type().as_str().as_bytes());
                    }
                }
                out.push(b'\n');
            }
            OutputFormat::Uri => {
                out.extend_from_slice(user.id().as_bytes());
                out.extend_from_slice(b" otpauth://totp/");
                percent_encode(out, &self.issuer);
                out.push(b':');
                percent_encode(out, user.id());
                out.extend_from_slice(b"?secret=");
                percent_encode(out, secret);
                out.extend_from_slice(b"&issuer=");
                percent_encode(out, &self.issuer);
                out.push(b'\n');
            }
        }
    }
}

/// A CSV field, quoted when it must be.
fn csv_field(out: &mut Vec<u8>, value: &str) {
    if value.contains([',', '"', '\r', '\n']) || value.trim() != value {
        out.push(b'"');
        out.extend_from_slice(value.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(value.as_bytes());
    }
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn percent_encode(out: &mut Vec<u8>, value: &str) {
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
}

/// Which file the output is: device and inode, where the platform has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputIdentity {
    /// The device.
    pub dev: u64,
    /// The inode.
    pub ino: u64,
}

impl OutputIdentity {
    /// The identity of an open file (`None` where the platform has no inodes).
    pub fn of(file: &File) -> io::Result<Option<Self>> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let m = file.metadata()?;
            Ok(Some(OutputIdentity {
                dev: m.dev(),
                ino: m.ino(),
            }))
        }
        #[cfg(not(unix))]
        {
            let _ = file;
            Ok(None)
        }
    }
}

/// The first line of an export journal: what it was made for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportHeader {
    /// Always 1.
    pub authing_otp_export_journal: u32,
    /// The users file.
    pub input: InputIdentity,
    /// The output file the run created.
    pub output: Option<OutputIdentity>,
    /// How lines are written.
    pub format: OutputFormat,
    /// The issuer of Key URIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Whether the CSV has the userIdType column.
    #[serde(default)]
    pub typed_column: bool,
    /// How long the output was when created (its header).
    pub output_start: u64,
}

/// One line after the header: a finished batch.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExportEntry {
    done: Vec<(u64, u64)>,
    refused: Vec<RefusedRecord>,
    output_bytes: u64,
}

/// What an export journal says.
#[derive(Clone, Debug, Default)]
pub struct ExportProgress {
    /// Its header, unless the journal is new.
    pub header: Option<ExportHeader>,
    /// Users settled: written or refused.
    pub done: RecordSet,
    /// The refused ones.
    pub refused: RecordSet,
    /// How long the output was after the last batch: anything after it is cut off.
    pub output_bytes: u64,
}

/// Why an export journal cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportJournalError {
    /// It could not be read or written.
    #[error("journal {}: {source}", path.display())]
    Io {
        /// The journal.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// It is not an export journal.
    #[error("{} is not an authing-otp export journal (line {line})", path.display())]
    NotAJournal {
        /// The file.
        path: PathBuf,
        /// The first line that is not what a journal holds.
        line: u64,
    },
    /// Another run holds it.
    #[error(
        "journal {} is in use by another run of authing-otp (it holds the journal's lock): \
         wait for that run to end, or use another journal",
        path.display()
    )]
    Locked {
        /// The journal.
        path: PathBuf,
    },
}

/// The journal of an export, open, locked and read.
#[derive(Debug)]
pub struct ExportJournal {
    path: PathBuf,
    file: File,
    last_sync: Instant,
    dirty: bool,
    _temporary: Option<crate::files::Spool>,
}

const SYNC_EVERY: Duration = Duration::from_secs(1);

impl ExportJournal {
    /// Opens (creating it owner-only) and locks the journal at `path`, and reads it; a last
    /// line cut short by a crash is cut off.
    pub fn open(path: &Path) -> Result<(Self, ExportProgress), ExportJournalError> {
        let io = |source| ExportJournalError::Io {
            path: path.to_owned(),
            source,
        };
        let Some(file) = crate::files::open_locked(path).map_err(io)? else {
            return Err(ExportJournalError::Locked {
                path: path.to_owned(),
            });
        };
        Self::read(path.to_owned(), file, None)
    }

    /// A journal of this run only, removed when dropped.
    pub fn temporary() -> Result<(Self, ExportProgress), ExportJournalError> {
        let (spool, file) =
            crate::files::Spool::create().map_err(|source| ExportJournalError::Io {
                path: std::env::temp_dir(),
                source,
            })?;
        Self::read(spool.path().to_owned(), file, Some(spool))
    }

    fn read(
        path: PathBuf,
        mut file: File,
        temporary: Option<crate::files::Spool>,
    ) -> Result<(Self, ExportProgress), ExportJournalError> {
        let io = |source| ExportJournalError::Io {
            path: path.clone(),
            source,
        };
        let not_a_journal = |line| ExportJournalError::NotAJournal {
            path: path.clone(),
            line,
        };
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let mut reader = BufReader::new(&mut file);
        let mut progress = ExportProgress::default();
        let mut good_len = 0u64;
        let mut buf = Vec::new();
        for number in 1u64.. {
            buf.clear();
            let limit = if number == 1 {
                MAX_HEADER_BYTES
            } else {
                MAX_LINE_BYTES
            } as u64
                + 1;
            let read = (&mut reader)
                .take(limit)
                .read_until(b'\n', &mut buf)
                .map_err(io)?;
            if read == 0 {
                break;
            }
            if buf.last() != Some(&b'\n') {
                if read as u64 == limit {
                    return Err(not_a_journal(number));
                }
                // Cut short by a crash: everything before it stands. A first line cut short
                // must look like a header: any other file is not overwritten.
                let start = br#"{"authingOtpExportJournal""#;
                if number == 1 && !start.starts_with(&buf[..buf.len().min(start.len())]) {
                    return Err(not_a_journal(1));
                }
                break;
            }
            if number == 1 {
                let header: ExportHeader =
                    serde_json::from_slice(&buf).map_err(|_| not_a_journal(1))?;
                if header.authing_otp_export_journal != 1 {
                    return Err(not_a_journal(1));
                }
                progress.output_bytes = header.output_start;
                progress.header = Some(header);
            } else {
                let entry: ExportEntry =
                    serde_json::from_slice(&buf).map_err(|_| not_a_journal(number))?;
                for (first, last) in entry.done {
                    progress.done.insert(first, last);
                }
                for r in entry.refused {
                    progress.refused.insert(r.record, r.record);
                }
                progress.output_bytes = entry.output_bytes;
            }
            good_len += read as u64;
        }
        drop(reader);
        if file.metadata().map_err(io)?.len() != good_len {
            file.set_len(good_len).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok((
            ExportJournal {
                path,
                file,
                last_sync: Instant::now(),
                dirty: false,
                _temporary: temporary,
            },
            progress,
        ))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the header of a new journal, durably.
    pub fn start(&mut self, header: &ExportHeader) -> Result<(), ExportJournalError> {
        let mut line = serde_json::to_vec(header).expect("a header serializes");
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_all())
            .map_err(|source| self.io(source))
    }

    fn io(&self, source: io::Error) -> ExportJournalError {
        ExportJournalError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Records a finished batch, and the output's length after its lines (one `write`; made
    /// durable at least once a second).
    pub fn record(
        &mut self,
        done: &RecordSet,
        refused: &[RefusedRecord],
        output_bytes: u64,
    ) -> Result<(), ExportJournalError> {
        let entry = ExportEntry {
            done: done.ranges().to_vec(),
            refused: refused.to_vec(),
            output_bytes,
        };
        let mut line = serde_json::to_vec(&entry).expect("an entry serializes");
        line.push(b'\n');
        self.file.write_all(&line).map_err(|e| self.io(e))?;
        self.dirty = true;
        if self.last_sync.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// Makes what was written durable.
    pub fn sync(&mut self) -> Result<(), ExportJournalError> {
        if self.dirty {
            self.file.sync_data().map_err(|e| self.io(e))?;
            self.dirty = false;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    /// Calls `each` with every refusal the journal holds, each user once, in the order
    /// written: one at a time, so that a million users without OTP cost no memory.
    pub fn for_each_refusal(
        &self,
        mut each: impl FnMut(RefusedRecord) -> io::Result<()>,
    ) -> Result<(), ExportJournalError> {
        let file = File::open(&self.path).map_err(|e| self.io(e))?;
        let mut seen = RecordSet::default();
        for (n, line) in BufReader::new(file).lines().enumerate().skip(1) {
            let line = line.map_err(|e| self.io(e))?;
            let entry: ExportEntry =
                serde_json::from_str(&line).map_err(|_| ExportJournalError::NotAJournal {
                    path: self.path.clone(),
                    line: n as u64 + 1,
                })?;
            for r in entry.refused {
                if !seen.contains(r.record) {
                    seen.insert(r.record, r.record);
                    each(r).map_err(|e| self.io(e))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(text: &str, format: UsersFormat) -> Vec<Result<(u64, String, String), String>> {
        UsersReader::new(text.as_bytes(), format, UserIdType::UserId)
            .map(|r| {
                r.map(|u| (u.line, u.user.id_type().to_string(), u.user.id().to_owned()))
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    #[test]
    fn each_format_reads_and_names_the_line_and_field_at_fault() {
        let ok = |l: u64, t: &str, id: &str| Ok((l, t.to_owned(), id.to_owned()));
        assert_eq!(
            users(
                "\u{feff}u1\r\n\n  a:b@x  \nsync_relation:x\n",
                UsersFormat::Lines
            ),
            [
                ok(1, "user_id", "u1"),
                ok(3, "user_id", "a:b@x"),
                ok(4, "user_id", "sync_relation:x")
            ]
        );
        let mut read = users(
            "{\"userId\":\"u1\",\"secret\":\"x\"}\n{\"userId\":\"a@x\",\"userIdType\":\"email\"}\n\
             {\"userIdType\":\"email\"}\n{\"userId\":\"a\",\"userIdType\":\"mail\"}\n[1]\n",
            UsersFormat::Jsonl,
        );
        let last = read.pop().unwrap().unwrap_err();
        assert!(last.starts_with("line 5: "), "{last}");
        assert_eq!(
            read,
            [
                ok(1, "user_id", "u1"),
                ok(2, "email", "a@x"),
                Err("line 3: userId: missing".into()),
                Err(
                    "line 4: userIdType: unknown user id type `mail`; expected one of user_id, \
                     external_id, phone, email, username, identity, sync_relation, custom_field"
                        .into()
                ),
            ]
        );
        assert_eq!(
            users(
                "name, userId ,userIdType\nx,\"a,b\",username\ny,\"bad\nz,u3\n",
                UsersFormat::Csv
            ),
            [
                ok(2, "username", "a,b"),
                Err("line 3: a quoted field is not closed on its line".into()),
                ok(4, "user_id", "u3"),
            ]
        );
        assert_eq!(
            users("id,secret\nu1,x\n", UsersFormat::Csv),
            [Err(
                "line 1: the header must name a userId column (and may name userIdType)".into()
            )]
        );
        let long = format!("{}\nu2\n", "a".repeat(MAX_RECORD_BYTES + 10));
        let read = users(&long, UsersFormat::Lines);
        assert!(
            read[0]
                .as_ref()
                .unwrap_err()
                .starts_with("line 1: line longer than")
        );
        assert_eq!(read[1], ok(2, "user_id", "u2"));
    }

    #[test]
    fn lines_are_written_as_import_reads_them() {
        let mut line = Vec::new();
        let user = UserRef::user_id("u\"1").unwrap();
        let email = UserRef::email("a,b@x").unwrap();
        let jsonl = LineFormat {
            format: OutputFormat::Jsonl,
            typed_column: false,
            issuer: String::new(),
        };
        jsonl.write_line(&user, "S", &mut line);
        assert_eq!(line, b"{\"userId\":\"u\\\"1\",\"secret\":\"S\"}\n");
        jsonl.write_line(&email, "S", &mut line);
        assert_eq!(
            line,
            b"{\"userId\":\"a,b@x\",\"userIdType\":\"email\",\"secret\":\"S\"}\n"
        );
        let csv = LineFormat {
            format: OutputFormat::Csv,
            typed_column: true,
            issuer: String::new(),
        };
        csv.write_line(&email, "S", &mut line);
        assert_eq!(line, b"\"a,b@x\",S,email\n");
        csv.write_line(&user, "S", &mut line);
        assert_eq!(line, b"\"u\"\"1\",S,\n");
    }
}
