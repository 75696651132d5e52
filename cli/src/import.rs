//! Reading OTP import files, one record at a time.
//!
//! Three formats:
//! - JSON Lines, one object per line, either flat `{"userId", "secret", "recoveryCode"?}` or
//!   upstream's shape `{"userId", "otp": {"secret", "recoveryCode"?}}`; blank lines are skipped.
//! - CSV with the header `userId,secret,recoveryCode` (the last column may be left out, or left
//!   empty on a row; the columns may come in any order).
//! - Key URIs, the `otpauth://` links of authenticator apps' QR codes: one record per line,
//!   `<userId><TAB or spaces><otpauth URI>`, such as
//!   `u1 otpauth://totp/Acme:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=Acme`. Blank
//!   lines and lines starting with `#` (after any indentation) are skipped, so a user id can
//!   neither contain a space or a tab nor start with `#`. The URI must be of type `totp` and have a `secret`; `issuer`,
//!   `algorithm`, `digits` and `period` are optional, but the algorithm must be SHA1, the
//!   digits 6 and the period 30 (seconds): those are the codes Authing's authenticator checks,
//!   and `importOtp` carries only the secret, so another kind of key would produce codes that
//!   never match. Query values are percent-decoded (`+` is a space); other parameters are
//!   ignored. There is no recovery code in this format.
//!
//! `userId` names the user as [`ImportReader::user_id_type`] says (Authing's user id unless
//! told otherwise: an email, a username, an external id…). A record may say otherwise for
//! itself, with a `userIdType` field (JSON Lines) or column (CSV) holding one of
//! [`UserIdType`]'s wire names; Key URI lines have no room for one. Each record's user is a
//! [`UserRef`], checked as the client checks one.
//!
//! Secrets are taken as authenticator apps show them (spaces, lower case, padding) and kept in
//! their canonical form: see [`OtpImport::new`].
//!
//! [`ImportReader`] is an iterator that streams: it holds one record at a time, so a file of
//! millions of lines costs no more memory than one line, and a line costs at most
//! [`MAX_RECORD_BYTES`]: a longer one is refused without being read whole, and the next line
//! read. Every error names its line (1-based, the CSV header being line 1) and never repeats a
//! secret; after an error reading the input ([`ImportFileError::Io`]) the iterator ends.
//! Records and errors about a line also carry the line's bytes as they were in the input
//! ([`ImportRecord::raw`], [`ImportFileError::raw_line`]), so that refused lines can be written
//! out again byte for byte; those bytes hold the secret, and `Debug` shows only their length.
//!
//! CSV is read as RFC 4180 has it and the csv crate reads it (`"` quotes a field, `""` in one is
//! a quote, a record ends with `\n`, `\r\n` or `\r`, blank lines are skipped); a row with more
//! fields than the header, or a quote left open at the end of the file, is refused.
//!
//! ```
//! use authing_otp_cli::import::{ImportFormat, ImportReader};
//!
//! let file = "userId,secret,recoveryCode\nu1,HZ2F6J3AGNAVSOTV,b471-8ec0\nu2,,\n";
//! let mut records = ImportReader::new(file.as_bytes(), ImportFormat::Csv);
//! let first = records.next().unwrap()?;
//! assert_eq!((first.line, first.item.user_id()), (2, "u1"));
//! assert_eq!(first.raw(), b"u1,HZ2F6J3AGNAVSOTV,b471-8ec0");
//! let second = records.next().unwrap().unwrap_err();
//! assert_eq!(second.to_string(), "line 3: secret: missing");
//! assert_eq!(second.raw_line(), Some(&b"u2,,"[..]));
//!
//! let uris = "# exported from the old system\n\
//!             u1 otpauth://totp/Acme:alice%40example.com?secret=jbsw%20y3dp%20ehpk%203pxp\n\
//!             u2\totpauth://hotp/Acme:bob?secret=JBSWY3DPEHPK3PXP&counter=1\n";
//! let mut records = ImportReader::new(uris.as_bytes(), ImportFormat::KeyUri);
//! let first = records.next().unwrap()?;
//! assert_eq!((first.line, first.item.user_id()), (2, "u1"));
//! let second = records.next().unwrap().unwrap_err();
//! assert!(second.to_string().starts_with("line 3: type: hotp"), "{second}");
//! # Ok::<(), authing_otp_cli::import::ImportFileError>(())
//! ```

use std::{
    borrow::Cow,
    fmt,
    fs::File,
    io::{self, BufRead, BufReader, Read},
    path::Path,
};

use serde::Deserialize;

use authing_otp::{InputError, OtpImport, UserIdType, UserRef, json_error_summary};

/// The UTF-8 byte order mark some editors start files with; not part of the first line.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// The longest line (JSON Lines, Key URIs) or CSV record (all its lines, for one with a quoted
/// field spanning several) that [`ImportReader`] accepts, in bytes, not counting its line
/// terminator nor, on line 1, a byte order mark: 64 KiB.
///
/// A record is well under 1 KiB, so anything longer is not an import record. Such a line is
/// refused with its line number ([`ImportFileError::Malformed`]) without being read whole:
/// the reader keeps at most this many bytes of it, skips the rest up to the end of the line
/// (for CSV, of the record: quotes are followed), and goes on with the next line. The error
/// has no raw bytes ([`ImportFileError::raw_line`] is `None`), as they were not kept. So
/// whatever the input, the reader holds at most a few buffers of this size, and reads each
/// byte once.
///
/// Any line counts, a Key URI comment or a blank line of spaces too.
///
/// ```
/// use authing_otp_cli::import::{ImportFormat, ImportReader, MAX_RECORD_BYTES};
///
/// let mut file = br#"{"userId":"u1","secret":""#.to_vec();
/// file.resize(file.len() + MAX_RECORD_BYTES, b'A');
/// file.extend_from_slice(b"\"}\n{\"userId\":\"u2\",\"secret\":\"JBSWY3DPEHPK3PXP\"}\n");
/// let mut records = ImportReader::new(&file[..], ImportFormat::JsonLines);
/// let err = records.next().unwrap().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "line 1: line longer than 65536 bytes: refused unread (a record is well under 1 KiB; \
///      is this the right file?)"
/// );
/// assert_eq!(err.raw_line(), None);
/// assert_eq!(records.next().unwrap()?.line, 2);
/// assert!(records.next().is_none());
/// # Ok::<(), authing_otp_cli::import::ImportFileError>(())
/// ```
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// The format of an import file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImportFormat {
    /// One JSON object per line.
    JsonLines,
    /// Comma-separated values with a header.
    Csv,
    /// One `<userId> <otpauth://totp/…>` per line (see the [module docs](self)).
    KeyUri,
}

/// How much of a file [`ImportFormat::detect`] looks at.
const SNIFFED: u64 = 4096;

impl ImportFormat {
    /// The format a file name implies: `.csv` is CSV, `.jsonl`, `.ndjson` and `.json` are JSON
    /// Lines, `.txt`, `.uri` and `.otpauth` are Key URIs (letters in either case).
    ///
    /// ```
    /// use std::path::Path;
    /// use authing_otp_cli::import::ImportFormat;
    ///
    /// assert_eq!(ImportFormat::from_path(Path::new("a.CSV")), Some(ImportFormat::Csv));
    /// assert_eq!(ImportFormat::from_path(Path::new("a.otpauth")), Some(ImportFormat::KeyUri));
    /// assert_eq!(ImportFormat::from_path(Path::new("secrets")), None);
    /// ```
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(ImportFormat::Csv),
            "jsonl" | "ndjson" | "json" => Some(ImportFormat::JsonLines),
            "txt" | "uri" | "otpauth" => Some(ImportFormat::KeyUri),
            _ => None,
        }
    }

    /// The format of the file at `path`: the one its extension implies
    /// ([`from_path`](Self::from_path)), else the one its start shows: JSON Lines when the
    /// first character other than a byte order mark and whitespace is `{`, Key URIs when its
    /// first 4 KiB hold `otpauth://`, CSV otherwise.
    ///
    /// ```
    /// use authing_otp_cli::import::ImportFormat;
    ///
    /// let path = std::env::temp_dir().join(format!("detect-doc-{}", std::process::id()));
    /// std::fs::write(&path, "u1 otpauth://totp/Acme:alice?secret=JBSWY3DPEHPK3PXP\n")?;
    /// assert_eq!(ImportFormat::detect(&path)?, ImportFormat::KeyUri);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn detect(path: &Path) -> Result<Self, ImportFileError> {
        let file = File::open(path).map_err(|source| ImportFileError::Io { line: None, source })?;
        Self::detect_in(path, file)
    }

    /// The format of the input read by `reader`, named `path`: the one the name implies
    /// ([`from_path`](Self::from_path)), else the one its first 4 KiB show, as
    /// [`detect`](Self::detect) does. For an input that is not a file by that name (standard
    /// input, a copy of a stream).
    ///
    /// ```
    /// use std::path::Path;
    /// use authing_otp_cli::import::ImportFormat;
    ///
    /// let stdin = &b"  {\"userId\":\"u1\",\"secret\":\"JBSWY3DPEHPK3PXP\"}\n"[..];
    /// assert_eq!(ImportFormat::detect_in(Path::new("-"), stdin)?, ImportFormat::JsonLines);
    /// # Ok::<(), authing_otp_cli::import::ImportFileError>(())
    /// ```
    pub fn detect_in(path: &Path, reader: impl Read) -> Result<Self, ImportFileError> {
        if let Some(format) = Self::from_path(path) {
            return Ok(format);
        }
        let mut head = Vec::new();
        reader
            .take(SNIFFED)
            .read_to_end(&mut head)
            .map_err(|source| ImportFileError::Io { line: None, source })?;
        Ok(Self::sniff(&head))
    }

    fn sniff(head: &[u8]) -> Self {
        let text = head.strip_prefix(BOM).unwrap_or(head).trim_ascii_start();
        if text.starts_with(b"{") {
            ImportFormat::JsonLines
        } else if text
            .windows(KEY_URI_SCHEME.len())
            .any(|w| w.eq_ignore_ascii_case(KEY_URI_SCHEME))
        {
            ImportFormat::KeyUri
        } else {
            ImportFormat::Csv
        }
    }
}

/// One valid record, the line it came from, and that line's bytes.
///
/// ```
/// use authing_otp_cli::import::{ImportFormat, ImportReader};
///
/// let file = b"{\"userId\":\"u1\",\"secret\":\"jbsw y3dp ehpk 3pxp\"}\r\n";
/// let record = ImportReader::new(&file[..], ImportFormat::JsonLines).next().unwrap()?;
/// assert_eq!(record.line, 1);
/// assert_eq!(record.raw(), br#"{"userId":"u1","secret":"jbsw y3dp ehpk 3pxp"}"#);
/// assert!(!format!("{record:?}").contains("3pxp"));
/// # Ok::<(), authing_otp_cli::import::ImportFileError>(())
/// ```
#[non_exhaustive]
pub struct ImportRecord {
    /// The 1-based line number (of the first line, for a CSV record spanning several).
    pub line: u64,
    /// The user, as the record names it: `userId`, typed by the record's `userIdType` or the
    /// reader's [`user_id_type`](ImportReader::user_id_type).
    pub user: UserRef,
    /// The validated item. Its user id is the record's `userId` as given, which is an Authing
    /// user id only when [`user`](Self::user) is of type [`UserIdType::UserId`].
    pub item: OtpImport,
    raw: Vec<u8>,
}

impl ImportRecord {
    /// The record's bytes as they were in the input: its line, or for a CSV record with a
    /// quoted field spanning lines all of its lines (the line breaks inside included), without
    /// the line terminator (`\n` or `\r\n`) and, on line 1, without a UTF-8 byte order mark.
    /// They hold the secret as it was written, not in its canonical form.
    ///
    /// ```
    /// use authing_otp_cli::import::{ImportFormat, ImportReader};
    ///
    /// let file = b"userId,secret,recoveryCode\r\nu1,HZ2F6J3AGNAVSOTV,\"b471\r\n8ec0\"\r\n";
    /// let record = ImportReader::new(&file[..], ImportFormat::Csv).next().unwrap();
    /// // A recovery code with a line break is refused, with the record's bytes.
    /// let err = record.unwrap_err();
    /// assert_eq!(err.raw_line(), Some(&b"u1,HZ2F6J3AGNAVSOTV,\"b471\r\n8ec0\""[..]));
    /// ```
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }
}

impl fmt::Debug for ImportRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportRecord")
            .field("line", &self.line)
            .field("user", &self.user)
            .field("item", &self.item)
            .field("raw", &Withheld(self.raw.len()))
            .finish()
    }
}

/// Shows how many bytes a line has, not what they are.
struct Withheld(usize);

impl fmt::Debug for Withheld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes withheld>", self.0)
    }
}

/// Why a line, or the file, was refused.
///
/// `Display` names the line and what is wrong, never a value; the line's bytes, in
/// [`raw_line`](Self::raw_line), are for writing the line out again, and `Debug` shows only
/// their length.
///
/// ```
/// use authing_otp_cli::import::{ImportFileError, ImportFormat, ImportReader};
///
/// let file = b"{\"userId\":\"u1\",\"secret\":\"JBSWY3DP\"}\n";
/// let err = ImportReader::new(&file[..], ImportFormat::JsonLines).next().unwrap().unwrap_err();
/// assert!(matches!(err, ImportFileError::Invalid { line: 1, .. }));
/// assert!(err.to_string().starts_with("line 1: secret: too short"));
/// assert_eq!(err.raw_line(), Some(&file[..file.len() - 1]));
/// assert!(!format!("{err} {err:?}").contains("JBSWY3DP"));
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum ImportFileError {
    /// The file could not be read: the reader returns this once, then ends.
    #[error("{}: {source}", reading(*.line))]
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
        /// The line's bytes, as [`ImportRecord::raw`] would have them.
        raw: Vec<u8>,
    },
    /// A field's value was refused.
    #[error("line {line}: {source}")]
    Invalid {
        /// The 1-based line number.
        line: u64,
        /// Which field and why.
        #[source]
        source: InputError,
        /// The line's bytes, as [`ImportRecord::raw`] would have them.
        raw: Vec<u8>,
    },
}

/// Where an I/O error happened.
fn reading(line: Option<u64>) -> String {
    line.map_or_else(|| "reading the file".to_owned(), |l| format!("line {l}"))
}

impl ImportFileError {
    /// The 1-based line at fault, if the error is about one line.
    ///
    /// ```
    /// use authing_otp_cli::import::{ImportFormat, ImportReader};
    ///
    /// let err = ImportReader::new(&b"\n\nnot json\n"[..], ImportFormat::JsonLines)
    ///     .next()
    ///     .unwrap()
    ///     .unwrap_err();
    /// assert_eq!(err.line(), Some(3));
    /// ```
    pub fn line(&self) -> Option<u64> {
        match self {
            ImportFileError::Io { line, .. } => *line,
            ImportFileError::Malformed { line, .. } | ImportFileError::Invalid { line, .. } => {
                Some(*line)
            }
        }
    }

    /// The bytes of the line at fault as they were in the input (see [`ImportRecord::raw`]),
    /// if the error is about a line that could be read (`None` for an I/O error, and for a line
    /// longer than [`MAX_RECORD_BYTES`], whose bytes were not kept).
    ///
    /// ```
    /// use authing_otp_cli::import::{ImportFormat, ImportReader};
    ///
    /// let file = b"userId,secret\r\nu1,\r\n";
    /// let err = ImportReader::new(&file[..], ImportFormat::Csv).next().unwrap().unwrap_err();
    /// assert_eq!(err.raw_line(), Some(&b"u1,"[..]));
    /// ```
    pub fn raw_line(&self) -> Option<&[u8]> {
        match self {
            ImportFileError::Io { .. } => None,
            ImportFileError::Malformed { raw, .. } | ImportFileError::Invalid { raw, .. } => {
                Some(raw.as_slice()).filter(|raw| !raw.is_empty())
            }
        }
    }
}

impl fmt::Debug for ImportFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportFileError::Io { line, source } => f
                .debug_struct("Io")
                .field("line", line)
                .field("source", source)
                .finish(),
            ImportFileError::Malformed { line, reason, raw } => f
                .debug_struct("Malformed")
                .field("line", line)
                .field("reason", reason)
                .field("raw", &Withheld(raw.len()))
                .finish(),
            ImportFileError::Invalid { line, source, raw } => f
                .debug_struct("Invalid")
                .field("line", line)
                .field("source", source)
                .field("raw", &Withheld(raw.len()))
                .finish(),
        }
    }
}

/// Why a line is refused, before its number and bytes are attached.
enum Problem {
    Malformed(String),
    Invalid(InputError),
}

impl Problem {
    fn malformed(reason: impl Into<String>) -> Self {
        Problem::Malformed(reason.into())
    }

    fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Problem::Invalid(InputError::new(field, reason))
    }

    fn at(self, line: u64, raw: &[u8]) -> ImportFileError {
        let raw = raw.to_vec();
        match self {
            Problem::Malformed(reason) => ImportFileError::Malformed { line, reason, raw },
            Problem::Invalid(source) => ImportFileError::Invalid { line, source, raw },
        }
    }
}

/// The fields of a record, as found, before validation.
#[derive(Default)]
struct Fields {
    user_id: Option<String>,
    user_id_type: Option<String>,
    secret: Option<String>,
    recovery_code: Option<String>,
}

/// The record of line `line`, whose bytes are `raw`, or why it is refused. Its user is typed
/// by its own `userIdType`, else by `default_type`.
fn checked_record(
    line: u64,
    raw: &[u8],
    fields: Result<Fields, Problem>,
    default_type: UserIdType,
) -> Result<ImportRecord, ImportFileError> {
    let checked = fields.and_then(|fields| {
        let user_id = fields
            .user_id
            .ok_or_else(|| Problem::invalid("userId", "missing"))?;
        let secret = fields
            .secret
            .ok_or_else(|| Problem::invalid("secret", "missing"))?;
        let item = OtpImport::from_parts(user_id, secret, fields.recovery_code)
            .map_err(Problem::Invalid)?;
        let user_id_type = match fields.user_id_type.as_deref().map(str::trim) {
            None | Some("") => default_type,
            Some(name) => name.parse().map_err(Problem::Invalid)?,
        };
        let user = UserRef::new(user_id_type, item.user_id()).map_err(Problem::Invalid)?;
        Ok((user, item))
    });
    match checked {
        Ok((user, item)) => Ok(ImportRecord {
            line,
            user,
            item,
            raw: raw.to_vec(),
        }),
        Err(problem) => Err(problem.at(line, raw)),
    }
}

/// Streams [`ImportRecord`]s out of a JSON Lines, CSV or Key URI reader.
///
/// ```
/// use authing_otp_cli::import::{ImportFormat, ImportReader};
///
/// let file = "u1\totpauth://totp/Acme:alice?secret=JBSWY3DPEHPK3PXP&issuer=Acme\n\
///             u2 otpauth://totp/Acme:bob?secret=HZ2F6J3AGNAVSOTV&algorithm=SHA256\n";
/// let results: Vec<_> = ImportReader::new(file.as_bytes(), ImportFormat::KeyUri).collect();
/// assert!(results[0].is_ok());
/// assert_eq!(
///     results[1].as_ref().unwrap_err().to_string(),
///     "line 2: algorithm: SHA256 is not supported: Authing's authenticator codes are SHA1, \
///      6 digits, 30 s, and importOtp carries only the secret, so codes would never match"
/// );
/// ```
pub struct ImportReader<R: Read> {
    inner: Inner<R>,
    default_type: UserIdType,
}

enum Inner<R: Read> {
    Json(Lines<R>),
    KeyUri(Lines<R>),
    Csv(CsvRecords<R>),
}

/// The bytes `reader` has buffered, reading more when there are none (and again when
/// interrupted); an empty slice at the end of the input.
fn fill<R: Read>(reader: &mut BufReader<R>) -> io::Result<&[u8]> {
    loop {
        match reader.fill_buf() {
            // What was just filled, borrowed anew (a borrow returned from a loop outlives it).
            Ok(_) => return Ok(reader.buffer()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Appends `bytes` to `buf`, growing its capacity by doubling but never past `cap`, which
/// `buf.len() + bytes.len()` must not exceed: so the buffer never holds more than `cap` bytes.
fn extend_within(buf: &mut Vec<u8>, bytes: &[u8], cap: usize) {
    let needed = buf.len() + bytes.len();
    debug_assert!(needed <= cap);
    if needed > buf.capacity() {
        let target = needed.max(buf.capacity().saturating_mul(2)).min(cap);
        buf.reserve_exact(target - buf.len());
    }
    buf.extend_from_slice(bytes);
}

/// The error for a line or record over [`MAX_RECORD_BYTES`]: it has no raw bytes, as they were
/// never kept.
fn too_long(line: u64, what: &str) -> ImportFileError {
    ImportFileError::Malformed {
        line,
        reason: format!(
            "{what} longer than {MAX_RECORD_BYTES} bytes: refused unread (a record is well under \
             1 KiB; is this the right file?)"
        ),
        raw: Vec::new(),
    }
}

/// The lines of a line-based format, one at a time in a reused buffer of at most
/// [`MAX_RECORD_BYTES`] (and a few) bytes.
struct Lines<R> {
    reader: BufReader<R>,
    line: u64,
    buf: Vec<u8>,
    /// Set by an I/O error: nothing more is read.
    fused: bool,
}

impl<R: Read> Lines<R> {
    fn new(reader: R) -> Self {
        Lines {
            reader: BufReader::new(reader),
            line: 0,
            buf: Vec::new(),
            fused: false,
        }
    }

    /// The next line's number and bytes, without its terminator (`\n` or `\r\n`) and, on line
    /// 1, without a byte order mark; `None` at the end of the input, and after an I/O error
    /// (which is returned once). A line longer than [`MAX_RECORD_BYTES`] is an error: only its
    /// first bytes are kept, the rest is skipped up to the next `\n`.
    fn next_line(&mut self) -> Option<Result<(u64, &[u8]), ImportFileError>> {
        if self.fused {
            return None;
        }
        self.buf.clear();
        let number = self.line + 1;
        // The longest line, its `\r` and on line 1 a byte order mark: past that, it is too long.
        let room = MAX_RECORD_BYTES + 1 + if number == 1 { BOM.len() } else { 0 };
        let mut over = false;
        let mut any = false;
        let ended = loop {
            let chunk = match fill(&mut self.reader) {
                Ok(chunk) => chunk,
                Err(source) => {
                    self.fused = true;
                    return Some(Err(ImportFileError::Io {
                        line: Some(number),
                        source,
                    }));
                }
            };
            if chunk.is_empty() {
                if !any {
                    return None;
                }
                break false;
            }
            any = true;
            let (content, used) = match memchr::memchr(b'\n', chunk) {
                Some(at) => (at, at + 1),
                None => (chunk.len(), chunk.len()),
            };
            if !over {
                if self.buf.len() + content > room {
                    over = true;
                    self.buf.clear();
                } else {
                    extend_within(&mut self.buf, &chunk[..content], room);
                }
            }
            self.reader.consume(used);
            if used > content {
                break true;
            }
        };
        self.line = number;
        let mut raw = &self.buf[..];
        if ended {
            raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        }
        if number == 1 {
            raw = raw.strip_prefix(BOM).unwrap_or(raw);
        }
        if over || raw.len() > MAX_RECORD_BYTES {
            return Some(Err(too_long(number, "line")));
        }
        Some(Ok((number, raw)))
    }
}

/// How many fields of a CSV row are kept apart; a row with more is refused anyway (the header
/// has at most three), and its fields past these are only counted.
const CSV_FIELDS_KEPT: usize = 16;

/// The records of a CSV file (RFC 4180, as the csv crate reads it: `,` between fields, `"`
/// quoting with `""` for a quote, records ended by `\n`, `\r\n` or `\r`, blank lines skipped),
/// one at a time in reused buffers of at most [`MAX_RECORD_BYTES`] each.
///
/// Lines are counted by their `\n`, inside quoted fields too, so a record's line is the one it
/// starts on. A quote still open at the end of the input is an error, not a record; a record
/// longer than the limit is skipped to its end (quotes respected) without being kept.
struct CsvRecords<R> {
    reader: BufReader<R>,
    /// How much of a byte order mark the input started with, until it is known whether it has
    /// one.
    bom_matched: Option<usize>,
    /// Set by an I/O error: nothing more is read.
    fused: bool,
    /// Where each field is, once the header is read.
    columns: Option<Columns>,
    /// The header's bytes, once read.
    header: Option<Vec<u8>>,
    parser: CsvParser,
}

/// Where the CSV parser is within a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CsvState {
    /// Between records: line terminators are skipped.
    StartRecord,
    /// At the start of a field: a `"` opens a quoted one.
    StartField,
    /// In an unquoted field (or the rest of a quoted one after its closing quote).
    InField,
    /// In a quoted field.
    InQuoted,
    /// Just after a `"` in a quoted field: another `"` is a quote, anything else closes it.
    QuoteInQuoted,
}

/// The CSV state machine and the record it is reading.
struct CsvParser {
    state: CsvState,
    /// `\n`s read so far.
    newlines: u64,
    /// The line the record starts on.
    line: u64,
    /// The line of the last quote that opened a field.
    quote_line: u64,
    /// The record's bytes as in the input, without its terminator.
    raw: Vec<u8>,
    /// The values of its fields, one after the other; `ends` says where the first
    /// [`CSV_FIELDS_KEPT`] end.
    values: Vec<u8>,
    ends: Vec<usize>,
    fields: usize,
    /// Whether the record has passed [`MAX_RECORD_BYTES`]: from then on nothing is kept.
    over: bool,
}

impl CsvParser {
    fn new() -> Self {
        CsvParser {
            state: CsvState::StartRecord,
            newlines: 0,
            line: 0,
            quote_line: 0,
            raw: Vec::new(),
            values: Vec::new(),
            ends: Vec::new(),
            fields: 0,
            over: false,
        }
    }

    /// Forgets the record read.
    fn clear(&mut self) {
        self.raw.clear();
        self.values.clear();
        self.ends.clear();
        self.fields = 0;
        self.over = false;
    }

    fn push_value(&mut self, bytes: &[u8]) {
        // A value's bytes are fewer than the record's: past the limit, so is the record.
        if !self.over && self.values.len() + bytes.len() <= MAX_RECORD_BYTES {
            extend_within(&mut self.values, bytes, MAX_RECORD_BYTES);
        }
    }

    fn push_raw(&mut self, bytes: &[u8]) {
        if self.over {
            return;
        }
        if self.raw.len() + bytes.len() > MAX_RECORD_BYTES {
            self.over = true;
            self.raw.clear();
            self.values.clear();
            self.ends.clear();
        } else {
            extend_within(&mut self.raw, bytes, MAX_RECORD_BYTES);
        }
    }

    fn end_field(&mut self) {
        self.fields += 1;
        if !self.over && self.ends.len() < CSV_FIELDS_KEPT {
            self.ends.push(self.values.len());
        }
    }

    /// Reads `chunk` up to the end of a record (its terminator included) or of the chunk:
    /// how many bytes were used and whether a record ended.
    fn feed(&mut self, chunk: &[u8]) -> (usize, bool) {
        use CsvState::*;
        let mut at = 0;
        // Where the record's bytes start in this chunk.
        let mut from = 0;
        let mut ended = false;
        while at < chunk.len() {
            let byte = chunk[at];
            match self.state {
                StartRecord => {
                    if matches!(byte, b'\r' | b'\n') {
                        self.newlines += u64::from(byte == b'\n');
                        at += 1;
                        from = at;
                    } else {
                        self.line = self.newlines + 1;
                        self.state = StartField;
                    }
                }
                StartField | QuoteInQuoted if byte == b'"' => {
                    if self.state == StartField {
                        self.quote_line = self.newlines + 1;
                    } else {
                        self.push_value(b"\"");
                    }
                    self.state = InQuoted;
                    at += 1;
                }
                // After a closing quote, bytes other than a delimiter or terminator are the
                // field's too, as the csv crate has them; a `"` not opening a field is a byte.
                StartField | InField | QuoteInQuoted => {
                    let run = memchr::memchr3(b',', b'\r', b'\n', &chunk[at..])
                        .unwrap_or(chunk.len() - at);
                    if run > 0 {
                        self.push_value(&chunk[at..at + run]);
                        self.state = InField;
                        at += run;
                        continue;
                    }
                    self.end_field();
                    if byte == b',' {
                        self.state = StartField;
                        at += 1;
                    } else {
                        ended = true;
                        break;
                    }
                }
                InQuoted => {
                    let run = memchr::memchr(b'"', &chunk[at..]).unwrap_or(chunk.len() - at);
                    let value = &chunk[at..at + run];
                    self.newlines += memchr::memchr_iter(b'\n', value).count() as u64;
                    self.push_value(value);
                    at += run;
                    if at < chunk.len() {
                        self.state = QuoteInQuoted;
                        at += 1;
                    }
                }
            }
        }
        if self.state != StartRecord {
            self.push_raw(&chunk[from..at]);
        }
        if ended {
            // The terminator: one byte, the rest of a CRLF is skipped before the next record.
            self.newlines += u64::from(chunk[at] == b'\n');
            at += 1;
            self.state = StartRecord;
        }
        (at, ended)
    }

    /// Ends the record at the end of the input: whether there was one.
    fn finish(&mut self) -> bool {
        match self.state {
            CsvState::StartRecord => false,
            // Left to the caller: an unterminated quote.
            CsvState::InQuoted => true,
            _ => {
                self.end_field();
                self.state = CsvState::StartRecord;
                true
            }
        }
    }

    /// The fields kept, as text.
    fn fields(&self) -> Result<Vec<&str>, Problem> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let field = &self.values[start..end];
                start = end;
                std::str::from_utf8(field).map_err(|_| Problem::malformed("not valid UTF-8"))
            })
            .collect()
    }
}

impl<R: Read> CsvRecords<R> {
    fn new(reader: R) -> Self {
        CsvRecords {
            reader: BufReader::new(reader),
            bom_matched: Some(0),
            fused: false,
            columns: None,
            header: None,
            parser: CsvParser::new(),
        }
    }

    /// Reads the next record into the parser: `None` at the end of the input (and after an
    /// I/O error, which is returned once), an error for a record over the limit or with a
    /// quote left open.
    fn read_record(&mut self) -> Option<Result<(), ImportFileError>> {
        if self.fused {
            return None;
        }
        let parser = &mut self.parser;
        parser.clear();
        loop {
            let chunk = match fill(&mut self.reader) {
                Ok(chunk) => chunk,
                Err(source) => {
                    self.fused = true;
                    let line = match parser.state {
                        CsvState::StartRecord => parser.newlines + 1,
                        _ => parser.line,
                    };
                    return Some(Err(ImportFileError::Io {
                        line: Some(line),
                        source,
                    }));
                }
            };
            if self.bom_matched.is_some() {
                // Looking for a byte order mark, however the input comes in.
                let matched = self.bom_matched.unwrap_or_default();
                let take = (BOM.len() - matched).min(chunk.len());
                if take > 0 && chunk[..take] == BOM[matched..matched + take] {
                    self.reader.consume(take);
                    self.bom_matched = Some(matched + take).filter(|&m| m < BOM.len());
                    continue;
                }
                // Not one: the bytes taken for one are the record's.
                self.bom_matched = None;
                let (used, ended) = parser.feed(&BOM[..matched]);
                debug_assert!(used == matched && !ended);
                continue;
            }
            if chunk.is_empty() {
                if !parser.finish() {
                    return None;
                }
                break;
            }
            let (used, ended) = parser.feed(chunk);
            self.reader.consume(used);
            if ended {
                break;
            }
        }
        if parser.state == CsvState::InQuoted {
            // The end of the input, in a quoted field: what follows the quote is not a record.
            parser.state = CsvState::StartRecord;
            return Some(Err(ImportFileError::Malformed {
                line: parser.line,
                reason: format!(
                    "unterminated quoted field at line {}: its closing `\"` is missing",
                    parser.quote_line
                ),
                raw: std::mem::take(&mut parser.raw),
            }));
        }
        if parser.over {
            return Some(Err(too_long(parser.line, "record")));
        }
        Some(Ok(()))
    }
}

impl<R: Read> fmt::Debug for ImportReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ImportReader")
    }
}

impl ImportReader<File> {
    /// Opens `path`, choosing the format with [`ImportFormat::detect`].
    ///
    /// ```
    /// use authing_otp_cli::import::ImportReader;
    ///
    /// let path = std::env::temp_dir().join(format!("open-doc-{}.csv", std::process::id()));
    /// std::fs::write(&path, "userId,secret\nu1,JBSWY3DPEHPK3PXP\n")?;
    /// let records: Vec<_> = ImportReader::open(&path)?.collect();
    /// assert_eq!(records.len(), 1);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: &Path) -> Result<Self, ImportFileError> {
        let format = ImportFormat::detect(path)?;
        let file = File::open(path).map_err(|source| ImportFileError::Io { line: None, source })?;
        Ok(ImportReader::new(file, format))
    }
}

impl<R: Read> ImportReader<R> {
    /// Reads records of `format` from `reader`.
    ///
    /// ```
    /// use authing_otp_cli::import::{ImportFormat, ImportReader};
    ///
    /// let file = b"{\"userId\":\"u1\",\"otp\":{\"secret\":\"JBSWY3DPEHPK3PXP\"}}\n";
    /// assert_eq!(ImportReader::new(&file[..], ImportFormat::JsonLines).count(), 1);
    /// ```
    pub fn new(reader: R, format: ImportFormat) -> Self {
        let inner = match format {
            ImportFormat::JsonLines => Inner::Json(Lines::new(reader)),
            ImportFormat::KeyUri => Inner::KeyUri(Lines::new(reader)),
            ImportFormat::Csv => Inner::Csv(CsvRecords::new(reader)),
        };
        ImportReader {
            inner,
            default_type: UserIdType::UserId,
        }
    }

    /// How a record's `userId` names its user when the record does not say
    /// ([`UserIdType::UserId`], Authing's user id, unless set).
    ///
    /// ```
    /// use authing_otp::{UserIdType, UserRef};
    /// use authing_otp_cli::import::{ImportFormat, ImportReader};
    ///
    /// let file = "userId,secret,userIdType\n\
    ///             alice@example.com,JBSWY3DPEHPK3PXP,\n\
    ///             u-62f2,HZ2F6J3AGNAVSOTV,user_id\n";
    /// let mut records =
    ///     ImportReader::new(file.as_bytes(), ImportFormat::Csv).user_id_type(UserIdType::Email);
    /// assert_eq!(records.next().unwrap()?.user, UserRef::email("alice@example.com")?);
    /// assert_eq!(records.next().unwrap()?.user, UserRef::user_id("u-62f2")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn user_id_type(mut self, user_id_type: UserIdType) -> Self {
        self.default_type = user_id_type;
        self
    }

    /// The CSV header's bytes as they were in the input (as [`ImportRecord::raw`] has a
    /// record's: no terminator, no byte order mark), once the reader has read it; `None` before,
    /// for a header too long to keep, and for the other formats. For writing refused rows out
    /// again under the same header: the first line is not always the header (a file may end
    /// lines with `\r` alone, or start with blank lines).
    ///
    /// ```
    /// use authing_otp_cli::import::{ImportFormat, ImportReader};
    ///
    /// let file = b"\xef\xbb\xbf\r\nuserId,secret\ru1,JBSWY3DPEHPK3PXP\r";
    /// let mut records = ImportReader::new(&file[..], ImportFormat::Csv);
    /// assert_eq!(records.csv_header(), None);
    /// assert_eq!(records.next().unwrap()?.line, 2);
    /// assert_eq!(records.csv_header(), Some(&b"userId,secret"[..]));
    /// # Ok::<(), authing_otp_cli::import::ImportFileError>(())
    /// ```
    pub fn csv_header(&self) -> Option<&[u8]> {
        match &self.inner {
            Inner::Csv(records) => records.header.as_deref(),
            _ => None,
        }
    }
}

impl<R: Read> Iterator for ImportReader<R> {
    type Item = Result<ImportRecord, ImportFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        let default_type = self.default_type;
        match &mut self.inner {
            Inner::Json(lines) => next_json(lines, default_type),
            Inner::KeyUri(lines) => next_key_uri(lines, default_type),
            Inner::Csv(records) => next_csv(records, default_type),
        }
    }
}

/// A JSON line, in either accepted shape, before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLine {
    #[serde(rename = "userId")]
    user_id: Option<String>,
    #[serde(rename = "userIdType")]
    user_id_type: Option<String>,
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
    lines: &mut Lines<R>,
    default_type: UserIdType,
) -> Option<Result<ImportRecord, ImportFileError>> {
    loop {
        let (line, raw) = match lines.next_line()? {
            Ok(next) => next,
            Err(e) => return Some(Err(e)),
        };
        let Ok(text) = std::str::from_utf8(raw) else {
            return Some(Err(Problem::malformed("not valid UTF-8").at(line, raw)));
        };
        if text.trim().is_empty() {
            continue;
        }
        return Some(checked_record(line, raw, json_fields(text), default_type));
    }
}

fn json_fields(text: &str) -> Result<Fields, Problem> {
    let parsed: JsonLine =
        serde_json::from_str(text).map_err(|e| Problem::Malformed(json_error_summary(&e)))?;
    let (secret, recovery_code) = match (parsed.secret, parsed.otp) {
        (Some(_), Some(_)) => {
            return Err(Problem::malformed(
                "give either `secret` or `otp`, not both",
            ));
        }
        (Some(secret), None) => (Some(secret), parsed.recovery_code),
        (None, Some(otp)) if parsed.recovery_code.is_none() => (otp.secret, otp.recovery_code),
        (None, Some(_)) => {
            return Err(Problem::malformed(
                "`recoveryCode` belongs inside `otp` in this shape",
            ));
        }
        (None, None) => (None, parsed.recovery_code),
    };
    Ok(Fields {
        user_id: parsed.user_id,
        user_id_type: parsed.user_id_type,
        secret,
        recovery_code,
    })
}

fn next_key_uri<R: Read>(
    lines: &mut Lines<R>,
    default_type: UserIdType,
) -> Option<Result<ImportRecord, ImportFileError>> {
    loop {
        let (line, raw) = match lines.next_line()? {
            Ok(next) => next,
            Err(e) => return Some(Err(e)),
        };
        let trimmed = raw.trim_ascii();
        if trimmed.is_empty() || trimmed.starts_with(b"#") {
            continue;
        }
        let Ok(text) = std::str::from_utf8(trimmed) else {
            return Some(Err(Problem::malformed("not valid UTF-8").at(line, raw)));
        };
        return Some(checked_record(
            line,
            raw,
            key_uri_fields(text),
            default_type,
        ));
    }
}

/// The scheme of Key URIs, in either case.
const KEY_URI_SCHEME: &[u8] = b"otpauth://";

/// What Authing's authenticator computes, and so the only keys worth importing.
const TOTP_RULE: &str = "Authing's authenticator codes are SHA1, 6 digits, 30 s, and importOtp \
                         carries only the secret, so codes would never match";

/// A Key URI line: `<userId><TAB or spaces><otpauth URI>`, trimmed, not a comment.
fn key_uri_fields(text: &str) -> Result<Fields, Problem> {
    let is_uri = |s: &str| {
        s.as_bytes()
            .get(..KEY_URI_SCHEME.len())
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case(KEY_URI_SCHEME))
    };
    let Some((user_id, uri)) = text.split_once([' ', '\t']) else {
        return Err(if is_uri(text) {
            Problem::invalid("userId", "missing: a line is `<userId> <otpauth URI>`")
        } else {
            Problem::malformed("expected `<userId> <otpauth://totp/…?secret=…>`")
        });
    };
    let uri = uri.trim_start_matches([' ', '\t']);
    if !is_uri(uri) {
        return Err(Problem::malformed(
            "expected an otpauth:// URI after the userId",
        ));
    }
    let secret = key_uri_secret(&uri[KEY_URI_SCHEME.len()..])?;
    Ok(Fields {
        user_id: Some(user_id.to_owned()),
        secret: Some(secret),
        ..Fields::default()
    })
}

/// The Key URI parameters this reader looks at; others (`counter`, `image`, …) are ignored.
const KEY_URI_PARAMETERS: [&str; 5] = ["secret", "issuer", "algorithm", "digits", "period"];

/// The secret of the Key URI `otpauth://<rest>`, once its type and parameters are checked.
fn key_uri_secret(rest: &str) -> Result<String, Problem> {
    let rest = rest
        .split_once('#')
        .map_or(rest, |(before, _fragment)| before);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (kind, label) = path.split_once('/').unwrap_or((path, ""));
    if kind.eq_ignore_ascii_case("hotp") {
        return Err(Problem::invalid(
            "type",
            "hotp (counter-based) keys cannot be imported: Authing's authenticator is TOTP",
        ));
    }
    if !kind.eq_ignore_ascii_case("totp") {
        return Err(Problem::invalid(
            "type",
            "must be totp (otpauth://totp/<label>?secret=…)",
        ));
    }
    if std::str::from_utf8(&percent_decode(label, false)).is_err() {
        return Err(Problem::invalid(
            "label",
            "not valid UTF-8 once percent-decoded",
        ));
    }
    let mut values: [Option<String>; KEY_URI_PARAMETERS.len()] = Default::default();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name, true);
        let Some(slot) = KEY_URI_PARAMETERS
            .iter()
            .position(|known| name.eq_ignore_ascii_case(known.as_bytes()))
        else {
            continue;
        };
        let field = KEY_URI_PARAMETERS[slot];
        if values[slot].is_some() {
            return Err(Problem::malformed(format!(
                "the parameter `{field}` is given twice"
            )));
        }
        let value = match percent_decode(value, true) {
            Cow::Borrowed(_) => value.to_owned(),
            Cow::Owned(bytes) => String::from_utf8(bytes)
                .map_err(|_| Problem::invalid(field, "not valid UTF-8 once percent-decoded"))?,
        };
        values[slot] = Some(value);
    }
    let [secret, _issuer, algorithm, digits, period] = values;
    if let Some(algorithm) = algorithm {
        check_algorithm(&algorithm)?;
    }
    if let Some(digits) = digits {
        check_number("digits", &digits, 6, |n| {
            format!("{n} digits are not supported")
        })?;
    }
    if let Some(period) = period {
        check_number("period", &period, 30, |n| {
            format!("a period of {n} s is not supported")
        })?;
    }
    secret.ok_or_else(|| Problem::invalid("secret", "missing"))
}

fn check_algorithm(algorithm: &str) -> Result<(), Problem> {
    let name = algorithm.trim().to_ascii_uppercase();
    if name == "SHA1" || name == "SHA-1" {
        return Ok(());
    }
    // Only a known name is repeated: the value could be anything, even a misplaced secret.
    let known = [
        "SHA224", "SHA256", "SHA384", "SHA512", "SHA-224", "SHA-256", "SHA-384", "SHA-512",
        "SHA3-256", "SHA3-512", "MD5",
    ];
    let reason = match known.contains(&name.as_str()) {
        true => format!("{name} is not supported: {TOTP_RULE}"),
        false => format!("only SHA1 is supported: {TOTP_RULE}"),
    };
    Err(Problem::invalid("algorithm", reason))
}

fn check_number(
    field: &'static str,
    value: &str,
    expected: u32,
    unsupported: impl FnOnce(u32) -> String,
) -> Result<(), Problem> {
    match value.trim().parse::<u32>() {
        Ok(n) if n == expected => Ok(()),
        Ok(n) => Err(Problem::invalid(
            field,
            format!("{}: {TOTP_RULE}", unsupported(n)),
        )),
        Err(_) => Err(Problem::invalid(field, "must be a number")),
    }
}

/// Percent-decodes `text` as URIs and forms do (WHATWG): `%` and two hex digits is a byte, and
/// anything else, a lone `%` included, stands for itself; `+` is a space in a query. Borrowed
/// when there is nothing to decode.
fn percent_decode(text: &str, plus_is_space: bool) -> Cow<'_, [u8]> {
    let hex = |b: Option<&u8>| b.and_then(|&b| char::from(b).to_digit(16));
    let bytes = text.as_bytes();
    if !bytes
        .iter()
        .any(|&b| b == b'%' || (plus_is_space && b == b'+'))
    {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// The CSV header in its usual order. The columns may come in any order, `recoveryCode` may
/// be left out, and [`CSV_USER_ID_TYPE`] may be added.
pub const CSV_HEADER: [&str; 3] = ["userId", "secret", "recoveryCode"];

/// The optional column naming how each row's `userId` names its user.
pub const CSV_USER_ID_TYPE: &str = "userIdType";

/// Where each field of a row is, from the header.
#[derive(Clone, Copy, Debug)]
struct Columns {
    user_id: usize,
    secret: usize,
    recovery_code: Option<usize>,
    user_id_type: Option<usize>,
    width: usize,
}

impl Columns {
    /// Columns as the usual header has them: taken for the rows after a header that could not
    /// be read, so that they are still checked.
    const USUAL: Columns = Columns {
        user_id: 0,
        secret: 1,
        recovery_code: Some(2),
        user_id_type: None,
        width: 3,
    };

    /// The columns a header names, if it names the right ones, each once.
    fn of(names: &[&str]) -> Option<Columns> {
        let at = |name: &str| -> Result<Option<usize>, ()> {
            let mut found = names.iter().enumerate().filter(|(_, n)| **n == name);
            match (found.next(), found.next()) {
                (Some((i, _)), None) => Ok(Some(i)),
                (None, _) => Ok(None),
                _ => Err(()),
            }
        };
        let known = [
            CSV_HEADER[0],
            CSV_HEADER[1],
            CSV_HEADER[2],
            CSV_USER_ID_TYPE,
        ];
        if names.iter().any(|n| !known.contains(n)) {
            return None;
        }
        Some(Columns {
            user_id: at(CSV_HEADER[0]).ok()??,
            secret: at(CSV_HEADER[1]).ok()??,
            recovery_code: at(CSV_HEADER[2]).ok()?,
            user_id_type: at(CSV_USER_ID_TYPE).ok()?,
            width: names.len(),
        })
    }
}

fn next_csv<R: Read>(
    records: &mut CsvRecords<R>,
    default_type: UserIdType,
) -> Option<Result<ImportRecord, ImportFileError>> {
    loop {
        if let Err(e) = records.read_record()? {
            // The header is not read again: the next record is a row.
            records.columns.get_or_insert(Columns::USUAL);
            return Some(Err(e));
        }
        let parser = &records.parser;
        let (line, raw) = (parser.line, &parser.raw[..]);
        if records.columns.is_none() {
            records.header = Some(raw.to_vec());
        }
        match csv_fields(parser, &mut records.columns) {
            Err(problem) => return Some(Err(problem.at(line, raw))),
            // The header, or a blank row.
            Ok(None) => continue,
            Ok(Some(fields)) => {
                return Some(checked_record(line, raw, Ok(fields), default_type));
            }
        }
    }
}

/// A CSV row's fields, or `None` for the header and rows of empty fields; the header, read
/// first, sets `columns` (to the usual ones when it is refused).
fn csv_fields(
    record: &CsvParser,
    columns: &mut Option<Columns>,
) -> Result<Option<Fields>, Problem> {
    let Some(columns) = *columns else {
        // Whatever the header holds, the next row is a row.
        *columns = Some(Columns::USUAL);
        let fields = record.fields()?;
        let names: Vec<&str> = fields.iter().map(|f| f.trim()).collect();
        let found = (record.fields == fields.len())
            .then(|| Columns::of(&names))
            .flatten();
        if let Some(found) = found {
            *columns = Some(found);
        } else {
            return Err(Problem::Malformed(format!(
                "the header must be `{}` (recoveryCode may be left out, a {CSV_USER_ID_TYPE} \
                 column added, in any order)",
                CSV_HEADER.join(",")
            )));
        }
        return Ok(None);
    };
    let width = columns.width;
    let fields = record.fields()?;
    let blank = fields.iter().all(|f| f.trim().is_empty());
    if record.fields > fields.len() || (record.fields > width && !blank) {
        return Err(Problem::Malformed(format!(
            "{} fields, but the header has {width}",
            record.fields
        )));
    }
    if blank {
        return Ok(None);
    }
    let field = |i: Option<usize>| {
        i.and_then(|i| fields.get(i))
            .map(|f| f.to_string())
            .filter(|f| !f.is_empty())
    };
    Ok(Some(Fields {
        user_id: field(Some(columns.user_id)),
        user_id_type: field(columns.user_id_type),
        secret: field(Some(columns.secret)),
        recovery_code: field(columns.recovery_code),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8], format: ImportFormat) -> Vec<Result<ImportRecord, String>> {
        ImportReader::new(text, format)
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
    }

    fn errors(text: &[u8], format: ImportFormat) -> Vec<String> {
        read(text, format)
            .into_iter()
            .filter_map(Result::err)
            .collect()
    }

    /// Each record's or error's line and raw bytes, in order.
    fn raws(text: &[u8], format: ImportFormat) -> Vec<(u64, Vec<u8>)> {
        ImportReader::new(text, format)
            .map(|r| match r {
                Ok(record) => (record.line, record.raw().to_vec()),
                Err(e) => (e.line().unwrap(), e.raw_line().unwrap().to_vec()),
            })
            .collect()
    }

    #[test]
    fn json_lines_in_both_shapes() {
        let text = br#"{"userId":"u1","secret":"HZ2F6J3AGNAVSOTV","recoveryCode":"rc-0001"}

{"userId":"u2","otp":{"secret":"MZXW6YQMZXW6YQAA","recoveryCode":"rc-0002"}}
{"userId":"u3","otp":{"secret":"mzxw 6yqm zxw6 yqaa="}}
"#;
        let records = read(text, ImportFormat::JsonLines);
        let lines: Vec<u64> = records.iter().map(|r| r.as_ref().unwrap().line).collect();
        assert_eq!(lines, [1, 3, 4]);
        let third = records[2].as_ref().unwrap();
        assert_eq!(
            authing_otp::ExposeSecret::expose_secret(third.item.secret()),
            "MZXW6YQMZXW6YQAA"
        );
    }

    #[test]
    fn json_errors_name_the_line_without_values() {
        let text = concat!(
            "{\"userId\":\"u1\",\"secret\":\"HZ2F6J3AGNAVSOTV\"}\n",
            "{\"userId\":\"u2\"}\n",
            "{\"userId\":\"u3\",\"secret\":7}\n",
            "not json\n",
            "{\"userId\":\"u4\",\"secret\":\"S3CRET!!S3CRET!!\"}\n",
            "{\"userId\":\"u5\",\"secret\":\"MZXW6YQMZXW6YQAA\",\"extra\":1}\n",
            "{\"userId\":\"u6\",\"secret\":\"MZXW6YQ=\"}\n",
        );
        let errors = errors(text.as_bytes(), ImportFormat::JsonLines);
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
        assert_eq!(
            errors[5],
            "line 7: secret: too short: 7 base32 characters (35 bits); a TOTP key has at least \
             16 (80 bits)"
        );
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let mut text = b"userId,secret\nu1,HZ2F6J3AGNAVSOTV\n".to_vec();
        text.extend_from_slice(b"u\xff2,HZ2F6J3AGNAVSOTV\n");
        assert_eq!(
            errors(&text, ImportFormat::Csv),
            ["line 3: not valid UTF-8"]
        );
        let json = b"{\"userId\":\"u\xff\",\"secret\":\"HZ2F6J3AGNAVSOTV\"}\n";
        assert_eq!(
            read(json, ImportFormat::JsonLines)[0].as_ref().unwrap_err(),
            "line 1: not valid UTF-8"
        );
        let uri = b"# \xff comments are not read\nu\xff otpauth://totp/a?secret=HZ2F6J3AGNAVSOTV\n";
        assert_eq!(
            errors(uri, ImportFormat::KeyUri),
            ["line 2: not valid UTF-8"]
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
        assert_eq!(
            errors(quoted, ImportFormat::Csv),
            [
                "line 2: recoveryCode: must not contain control characters",
                "line 4: secret: missing"
            ]
        );
        let bom_csv = b"\xef\xbb\xbfuserId,secret\nu1,HZ2F6J3AGNAVSOTV\n";
        assert!(read(bom_csv, ImportFormat::Csv)[0].is_ok());
        let bom_json = b"\xef\xbb\xbf{\"userId\":\"u1\",\"secret\":\"HZ2F6J3AGNAVSOTV\"}\r\n\
                         {\"userId\":\"u2\"}\r\n";
        let records = read(bom_json, ImportFormat::JsonLines);
        assert!(records[0].is_ok(), "{:?}", records[0].as_ref().err());
        assert_eq!(records[1].as_ref().unwrap_err(), "line 2: secret: missing");
        let bom_uri =
            b"\xef\xbb\xbfu1 otpauth://totp/a?secret=HZ2F6J3AGNAVSOTV\r\n\r\n# c\r\nu2\r\n";
        let records = read(bom_uri, ImportFormat::KeyUri);
        assert!(records[0].is_ok(), "{:?}", records[0].as_ref().err());
        assert!(
            records[1]
                .as_ref()
                .unwrap_err()
                .starts_with("line 4: expected `<userId> <otpauth://"),
            "{:?}",
            records[1].as_ref().err()
        );
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
        // A header that is not UTF-8 is refused, and the next row read as a row.
        let records = read(
            b"user\xffId,secret\nu1,HZ2F6J3AGNAVSOTV\n",
            ImportFormat::Csv,
        );
        assert_eq!(records[0].as_ref().unwrap_err(), "line 1: not valid UTF-8");
        assert_eq!(records[1].as_ref().unwrap().line, 2);
    }

    #[test]
    fn records_name_their_users_by_type() {
        use authing_otp::{UserIdType, UserRef};
        let text = b"{\"userId\":\"a@example.com\",\"secret\":\"HZ2F6J3AGNAVSOTV\"}\n\
{\"userId\":\"u1\",\"userIdType\":\"user_id\",\"secret\":\"HZ2F6J3AGNAVSOTV\"}\n\
{\"userId\":\"u2\",\"userIdType\":\"nickname\",\"secret\":\"HZ2F6J3AGNAVSOTV\"}\n";
        let records: Vec<_> = ImportReader::new(&text[..], ImportFormat::JsonLines)
            .user_id_type(UserIdType::Email)
            .collect();
        assert_eq!(
            records[0].as_ref().unwrap().user,
            UserRef::email("a@example.com").unwrap()
        );
        assert_eq!(
            records[1].as_ref().unwrap().user,
            UserRef::user_id("u1").unwrap()
        );
        let refused = records[2].as_ref().unwrap_err().to_string();
        assert!(refused.starts_with("line 3: "), "{refused}");
        assert!(refused.contains("userIdType"), "{refused}");

        // CSV columns in any order, the type column optional per row.
        let csv =
            b"secret,userIdType,userId\nHZ2F6J3AGNAVSOTV,username,alice\nHZ2F6J3AGNAVSOTV,,u9\n";
        let rows = read(csv, ImportFormat::Csv);
        assert_eq!(
            rows[0].as_ref().unwrap().user,
            UserRef::username("alice").unwrap()
        );
        assert_eq!(
            rows[1].as_ref().unwrap().user,
            UserRef::user_id("u9").unwrap()
        );
        // A column named twice, or an unknown one, is refused.
        for header in ["userId,secret,userId", "userId,secret,nickname"] {
            let text = format!("{header}\nu1,HZ2F6J3AGNAVSOTV,x\n");
            let rows = read(text.as_bytes(), ImportFormat::Csv);
            assert!(
                rows[0]
                    .as_ref()
                    .unwrap_err()
                    .starts_with("line 1: the header must be"),
                "{header}"
            );
        }
    }

    #[test]
    fn csv_secrets_are_canonical() {
        let text = b"userId,secret,recoveryCode\nu1,\"jbsw y3dp ehpk 3pxp\",\"rc,0001\"\n";
        let records = read(text, ImportFormat::Csv);
        let record = records[0].as_ref().unwrap();
        assert_eq!(
            authing_otp::ExposeSecret::expose_secret(record.item.secret()),
            "JBSWY3DPEHPK3PXP"
        );
        assert_eq!(record.raw(), b"u1,\"jbsw y3dp ehpk 3pxp\",\"rc,0001\"");
    }

    /// The user id and secret of each Key URI line, or its error.
    fn key_uris(text: &str) -> Vec<Result<(u64, String, String), String>> {
        ImportReader::new(text.as_bytes(), ImportFormat::KeyUri)
            .map(|r| {
                r.map(|record| {
                    let secret = authing_otp::ExposeSecret::expose_secret(record.item.secret());
                    (
                        record.line,
                        record.item.user_id().to_owned(),
                        secret.to_owned(),
                    )
                })
                .map_err(|e| e.to_string())
            })
            .collect()
    }

    #[test]
    fn key_uris_are_read() {
        let text = "# userId, then the URI of the user's QR code\n\
                    \n\
                    u1 otpauth://totp/Acme:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=Acme\n\
                    u2\totpauth://totp/Acme%20Co:bob%40example.com?\
                    secret=HZ2F%206J3A%20GNAV%20SOTV\n\
                    u3 \t  otpauth://totp/x?issuer=Acme&secret=jbsw+y3dp+ehpk+3pxp&algorithm=sha1\
                    &digits=6&period=30&image=https%3A%2F%2Fexample.com%2Fa.png\r\n\
                    \x20  # an indented comment\n\
                    u4 OTPAUTH://TOTP/?SECRET=%4A%42%53%57Y3DPEHPK3PXP%3d%3D&counter=7#fragment\n\
                    u5 otpauth://totp/%E2%9C%93?secret=MZXW6YQMZXW6YQAA&algorithm=SHA-1  \n\
                    u6 otpauth://totp?secret=MZXW6YQMZXW6YQAA";
        let records = key_uris(text);
        let expect = [
            (3, "u1", "JBSWY3DPEHPK3PXP"),
            (4, "u2", "HZ2F6J3AGNAVSOTV"),
            (5, "u3", "JBSWY3DPEHPK3PXP"),
            (7, "u4", "JBSWY3DPEHPK3PXP"),
            (8, "u5", "MZXW6YQMZXW6YQAA"),
            (9, "u6", "MZXW6YQMZXW6YQAA"),
        ];
        assert_eq!(records.len(), expect.len(), "{records:?}");
        for (got, (line, user, secret)) in records.iter().zip(expect) {
            assert_eq!(
                got.as_ref().unwrap(),
                &(line, user.to_owned(), secret.to_owned())
            );
        }
        let record = ImportReader::new(text.as_bytes(), ImportFormat::KeyUri)
            .nth(2)
            .unwrap()
            .unwrap();
        assert!(record.item.recovery_code().is_none());
    }

    #[test]
    fn key_uris_that_would_give_wrong_codes_are_refused() {
        let text = "u1 otpauth://hotp/Acme:alice?secret=JBSWY3DPEHPK3PXP&counter=0\n\
                    u2 otpauth://totp/Acme:bob?secret=JBSWY3DPEHPK3PXP&algorithm=SHA256\n\
                    u3 otpauth://totp/Acme:carol?secret=JBSWY3DPEHPK3PXP&digits=8\n\
                    u4 otpauth://totp/Acme:dan?secret=JBSWY3DPEHPK3PXP&period=60\n\
                    u5 otpauth://totp/Acme:erin?issuer=Acme\n\
                    u6 otpauth://totp/Acme:frank?secret=JBSWY3DPEHPK3PXP&\
                    algorithm=JBSWY3DPEHPK3PXP\n\
                    u7 otpauth://totp/Acme:gus?secret=JBSWY3DPEHPK3PXP&digits=six\n\
                    u8 otpauth://totp/Acme:hal?secret=JBSWY3DP\n\
                    u9 otpauth://totp/Acme:ida?secret=JBSWY3DPEHPK3PXP&secret=HZ2F6J3AGNAVSOTV\n\
                    u10 otpauth://totp/Acme:jo?secret=JBSW-Y3DP-EHPK-3PXP\n\
                    u11 otpauth://totp/Acme:kim?secret=%FF%FEJBSWY3DPEHPK3PXP\n\
                    u12 otpauth://totp/Acme:lee?secret=\n";
        let rule = "Authing's authenticator codes are SHA1, 6 digits, 30 s, and importOtp \
                    carries only the secret, so codes would never match";
        let expect = [
            "line 1: type: hotp (counter-based) keys cannot be imported: Authing's \
             authenticator is TOTP"
                .to_owned(),
            format!("line 2: algorithm: SHA256 is not supported: {rule}"),
            format!("line 3: digits: 8 digits are not supported: {rule}"),
            format!("line 4: period: a period of 60 s is not supported: {rule}"),
            "line 5: secret: missing".to_owned(),
            format!("line 6: algorithm: only SHA1 is supported: {rule}"),
            "line 7: digits: must be a number".to_owned(),
            "line 8: secret: too short: 8 base32 characters (40 bits); a TOTP key has at \
             least 16 (80 bits)"
                .to_owned(),
            "line 9: the parameter `secret` is given twice".to_owned(),
            "line 10: secret: must be base32 (letters A-Z in either case, digits 2-7; spaces, \
             tabs and `=` padding at the end are ignored); character 5 is not"
                .to_owned(),
            "line 11: secret: not valid UTF-8 once percent-decoded".to_owned(),
            "line 12: secret: must not be empty".to_owned(),
        ];
        let errors = errors(text.as_bytes(), ImportFormat::KeyUri);
        assert_eq!(errors, expect);
        for e in &errors {
            for secret in ["JBSW", "HZ2F"] {
                assert!(!e.contains(secret), "{e}");
            }
        }
    }

    #[test]
    fn key_uri_garbage_is_refused_with_its_line() {
        let text = "u1\n\
                    otpauth://totp/Acme:alice?secret=JBSWY3DPEHPK3PXP\n\
                    u3 https://example.com/?secret=JBSWY3DPEHPK3PXP\n\
                    u4 otpauth:/totp/a?secret=JBSWY3DPEHPK3PXP\n\
                    u5 otpauth://\n\
                    u6 otpauth://foo/a?secret=JBSWY3DPEHPK3PXP\n\
                    u7 otpauth://totp/%FF?secret=JBSWY3DPEHPK3PXP\n\
                    {\"userId\":\"u8\",\"secret\":\"JBSWY3DPEHPK3PXP\"}\n\
                    u\u{1}9 otpauth://totp/a?secret=JBSWY3DPEHPK3PXP\n\
                    u10 otpauth://totp/a?secret=JBSWY3DPEHPK3PXP%\n\
                    u11 otpauth://totp/a?&&=&secret=JBSWY3DPEHPK3PXP&&\n";
        let errors = errors(text.as_bytes(), ImportFormat::KeyUri);
        let expect = [
            "line 1: expected `<userId> <otpauth://totp/…?secret=…>`",
            "line 2: userId: missing: a line is `<userId> <otpauth URI>`",
            "line 3: expected an otpauth:// URI after the userId",
            "line 4: expected an otpauth:// URI after the userId",
            "line 5: type: must be totp (otpauth://totp/<label>?secret=…)",
            "line 6: type: must be totp (otpauth://totp/<label>?secret=…)",
            "line 7: label: not valid UTF-8 once percent-decoded",
            "line 8: expected `<userId> <otpauth://totp/…?secret=…>`",
            "line 9: userId: must not have surrounding whitespace or control characters",
            "line 10: secret: must be base32 (letters A-Z in either case, digits 2-7; spaces, \
             tabs and `=` padding at the end are ignored); character 17 is not",
        ];
        assert_eq!(errors, expect);
        for e in &errors {
            assert!(!e.contains("JBSW"), "{e}");
        }
    }

    #[test]
    fn percent_decoding_is_lenient_like_forms() {
        assert_eq!(
            percent_decode("a%20b+c%2Bd%e2%9C%93", true),
            "a b c+d✓".as_bytes()
        );
        assert_eq!(percent_decode("a+b", false), &b"a+b"[..]);
        assert_eq!(percent_decode("%", true), &b"%"[..]);
        assert_eq!(percent_decode("%4", true), &b"%4"[..]);
        assert_eq!(percent_decode("%zz%41", true), &b"%zzA"[..]);
        assert_eq!(percent_decode("%%41", true), &b"%A"[..]);
        assert!(matches!(
            percent_decode("JBSW/Y3DP", true),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn raw_bytes_of_json_lines() {
        let text = b"\xef\xbb\xbf{\"userId\":\"u1\",\"secret\":\"JBSWY3DPEHPK3PXP\"}\r\n\
                     \r\n\
                     {\"userId\":\"u2\"}\n\
                     {\"userId\":\"u3\",\"secret\":\"jbsw y3dp ehpk 3pxp\"} \t\r\n\
                     not json\r\r\n\
                     {\"userId\":\"u5\",\"secret\":\"JBSWY3DPEHPK3PXP\"}";
        let expect: [(u64, &[u8]); 5] = [
            (1, b"{\"userId\":\"u1\",\"secret\":\"JBSWY3DPEHPK3PXP\"}"),
            (3, b"{\"userId\":\"u2\"}"),
            (
                4,
                b"{\"userId\":\"u3\",\"secret\":\"jbsw y3dp ehpk 3pxp\"} \t",
            ),
            (5, b"not json\r"),
            (6, b"{\"userId\":\"u5\",\"secret\":\"JBSWY3DPEHPK3PXP\"}"),
        ];
        let got = raws(text, ImportFormat::JsonLines);
        assert_eq!(got.len(), expect.len());
        for ((line, raw), (want_line, want_raw)) in got.iter().zip(expect) {
            assert_eq!(
                (*line, raw.as_slice()),
                (want_line, want_raw),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn raw_bytes_of_csv_records() {
        let text = b"\xef\xbb\xbfuserId,secret,recoveryCode\r\n\
                     u1,JBSWY3DPEHPK3PXP,rc-0001\r\n\
                     \r\n\
                     \n\
                     u2,\"JBSW Y3DP\r\nEHPK 3PXP\",rc-0002\r\n\
                     u3,\"HZ2F6J3AGNAVSOTV\",\"two\nlines\"\n\
                     ,,\n\
                     u4 , JBSWY3DPEHPK3PXP ,\n\
                     u5,HZ2F6J3AGNAVSOTV";
        let expect: [(u64, &[u8]); 5] = [
            (2, b"u1,JBSWY3DPEHPK3PXP,rc-0001"),
            (5, b"u2,\"JBSW Y3DP\r\nEHPK 3PXP\",rc-0002"),
            (7, b"u3,\"HZ2F6J3AGNAVSOTV\",\"two\nlines\""),
            (10, b"u4 , JBSWY3DPEHPK3PXP ,"),
            (11, b"u5,HZ2F6J3AGNAVSOTV"),
        ];
        let got = raws(text, ImportFormat::Csv);
        assert_eq!(got.len(), expect.len(), "{got:?}");
        for ((line, raw), (want_line, want_raw)) in got.iter().zip(expect) {
            assert_eq!(
                (*line, raw.as_slice()),
                (want_line, want_raw),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        // Which of those were refused, and why.
        assert_eq!(
            errors(text, ImportFormat::Csv),
            [
                "line 5: secret: must be base32 (letters A-Z in either case, digits 2-7; \
                 spaces, tabs and `=` padding at the end are ignored); character 10 is not",
                "line 7: recoveryCode: must not contain control characters",
                "line 10: userId: must not have surrounding whitespace or control characters"
            ]
        );
        // The header's bytes, when it is refused, without the byte order mark.
        let err = ImportReader::new(&b"\xef\xbb\xbfuser,secret\r\n"[..], ImportFormat::Csv)
            .next()
            .unwrap()
            .unwrap_err();
        assert_eq!(err.raw_line(), Some(&b"user,secret"[..]));
        // CR alone ends a CSV record too.
        let cr = b"userId,secret\ru1,JBSWY3DPEHPK3PXP\ru2,\r";
        let got = raws(cr, ImportFormat::Csv);
        let raws: Vec<&[u8]> = got.iter().map(|(_, raw)| raw.as_slice()).collect();
        assert_eq!(raws, [&b"u1,JBSWY3DPEHPK3PXP"[..], b"u2,"]);
    }

    #[test]
    fn raw_bytes_of_key_uri_lines() {
        let text = b"# c\r\nu1 otpauth://totp/a?secret=JBSWY3DPEHPK3PXP  \r\n\
                     u2 otpauth://hotp/a?secret=JBSWY3DPEHPK3PXP\n";
        assert_eq!(
            raws(text, ImportFormat::KeyUri),
            [
                (2, b"u1 otpauth://totp/a?secret=JBSWY3DPEHPK3PXP  ".to_vec()),
                (3, b"u2 otpauth://hotp/a?secret=JBSWY3DPEHPK3PXP".to_vec()),
            ]
        );
    }

    #[test]
    fn debug_withholds_the_raw_bytes() {
        let text = b"{\"userId\":\"u1\",\"secret\":\"JBSWY3DPEHPK3PXP\"}\n\
                     {\"userId\":\"u2\",\"secret\":\"JBSWY3DPEHPK3PX!\"}\n\
                     {\"userId\":\"u3\",\"otp\":{\"secret\":\"JBSWY3DPEHPK3PXP\"},\
                     \"recoveryCode\":\"r\"}\n";
        let mut reader = ImportReader::new(&text[..], ImportFormat::JsonLines);
        let record = reader.next().unwrap().unwrap();
        let invalid = reader.next().unwrap().unwrap_err();
        let malformed = reader.next().unwrap().unwrap_err();
        for shown in [
            format!("{record:?}"),
            format!("{invalid:?} {invalid}"),
            format!("{malformed:?} {malformed}"),
        ] {
            assert!(!shown.contains("JBSW"), "{shown}");
            assert!(shown.contains("bytes withheld>"), "{shown}");
        }
        assert!(matches!(invalid, ImportFileError::Invalid { line: 2, .. }));
        assert!(matches!(
            malformed,
            ImportFileError::Malformed { line: 3, .. }
        ));
    }

    #[test]
    fn csv_keeps_only_the_read_ahead() {
        let mut text = b"userId,secret\n".to_vec();
        for i in 0..20_000 {
            text.extend_from_slice(format!("user-{i},JBSWY3DPEHPK3PXP\n").as_bytes());
        }
        let mut reader = ImportReader::new(&text[..], ImportFormat::Csv);
        let mut most = 0;
        let mut n = 0;
        while let Some(record) = reader.next() {
            assert!(record.is_ok());
            n += 1;
            if let Inner::Csv(records) = &reader.inner {
                let parser = &records.parser;
                most = most.max(parser.raw.capacity().max(parser.values.capacity()));
            }
        }
        assert_eq!(n, 20_000);
        assert!(
            most <= 64 * 1024,
            "kept {most} bytes for a {} byte file",
            text.len()
        );
    }

    /// Gives `data` at most `chunk` bytes per read, and an interruption before every other read.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        chunk: usize,
        interrupt: bool,
    }

    impl Trickle {
        fn new(data: Vec<u8>, chunk: usize) -> Self {
            Trickle {
                data,
                at: 0,
                chunk,
                interrupt: false,
            }
        }
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = buf.len().min(self.chunk).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// The capacity of the largest buffer the reader holds a line or record in.
    fn largest_buffer<R: Read>(reader: &ImportReader<R>) -> usize {
        match &reader.inner {
            Inner::Json(lines) | Inner::KeyUri(lines) => {
                lines.buf.capacity().max(lines.reader.capacity())
            }
            Inner::Csv(records) => {
                let parser = &records.parser;
                parser
                    .raw
                    .capacity()
                    .max(parser.values.capacity())
                    .max(records.reader.capacity())
                    .max(parser.ends.capacity() * std::mem::size_of::<usize>())
            }
        }
    }

    /// Each result as its line and either `Ok(userId)` or `Err(message)`, the raw bytes of
    /// errors as `None` when there are none, reading `text` a few KiB at a time, and the
    /// largest buffer the reader had.
    #[allow(clippy::type_complexity)]
    fn bounded(
        text: Vec<u8>,
        format: ImportFormat,
    ) -> (Vec<(u64, Result<String, (String, Option<usize>)>)>, usize) {
        let mut reader = ImportReader::new(Trickle::new(text, 3000), format);
        let mut out = Vec::new();
        let mut largest = 0;
        while let Some(result) = reader.next() {
            largest = largest.max(largest_buffer(&reader));
            out.push(match result {
                Ok(record) => (record.line, Ok(record.item.user_id().to_owned())),
                Err(e) => (
                    e.line().unwrap(),
                    Err((e.to_string(), e.raw_line().map(<[u8]>::len))),
                ),
            });
        }
        (out, largest)
    }

    fn too_long_message(line: u64, what: &str) -> String {
        format!(
            "line {line}: {what} longer than 65536 bytes: refused unread (a record is well \
             under 1 KiB; is this the right file?)"
        )
    }

    #[test]
    fn an_over_long_line_is_one_error_in_bounded_memory_then_the_next_line() {
        const HUGE: usize = 1 << 20;
        let secret = "A".repeat(HUGE);
        let quoted = "AAAA\n\"\"AA,A\r\n".repeat(HUGE / 12);
        let cases = [
            (
                ImportFormat::JsonLines,
                format!(
                    "{{\"userId\":\"u0\",\"secret\":\"{secret}\"}}\r\n\
                     {{\"userId\":\"u1\",\"secret\":\"JBSWY3DPEHPK3PXP\"}}\n"
                ),
                "line",
                1,
                2,
            ),
            (
                ImportFormat::KeyUri,
                format!(
                    "# {secret}\n\
                     u0 otpauth://totp/a?secret={secret}\n\
                     u1 otpauth://totp/a?secret=JBSWY3DPEHPK3PXP"
                ),
                "line",
                1,
                3,
            ),
            (
                ImportFormat::Csv,
                format!("userId,secret\nu0,{secret}\nu1,JBSWY3DPEHPK3PXP\n"),
                "record",
                2,
                3,
            ),
            (
                ImportFormat::Csv,
                format!("userId,secret\r\nu0,\"{quoted}\"\r\nu1,JBSWY3DPEHPK3PXP\r\n"),
                "record",
                2,
                2 + 2 * (HUGE / 12) as u64 + 1,
            ),
        ];
        for (format, text, what, bad, good) in cases {
            let (results, largest) = bounded(text.into_bytes(), format);
            let mut expect = vec![(bad, Err((too_long_message(bad, what), None)))];
            if format == ImportFormat::KeyUri {
                // The comment line is too long as well: any line counts.
                expect.push((2, Err((too_long_message(2, what), None))));
            }
            expect.push((good, Ok("u1".to_owned())));
            assert_eq!(results, expect, "{format:?}");
            assert!(
                largest <= MAX_RECORD_BYTES + 4,
                "{format:?}: a buffer of {largest} bytes"
            );
        }
    }

    #[test]
    fn the_longest_line_is_read_and_one_byte_more_is_refused() {
        let json = |len: usize, bom: bool, crlf: bool| {
            let mut line = br#"{"userId":"u1","secret":"JBSWY3DPEHPK3PXP"}"#.to_vec();
            line.resize(len, b' ');
            if bom {
                line.splice(..0, BOM.iter().copied());
            }
            line.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            line
        };
        let csv = |len: usize| {
            let mut row = b"u1,JBSWY3DPEHPK3PXP,rc ".to_vec();
            row.resize(len, b'x');
            [&b"userId,secret,recoveryCode\n"[..], &row, b"\r\n"].concat()
        };
        for (text, format, line) in [
            (
                json(MAX_RECORD_BYTES, false, false),
                ImportFormat::JsonLines,
                1,
            ),
            (
                json(MAX_RECORD_BYTES, true, true),
                ImportFormat::JsonLines,
                1,
            ),
            (csv(MAX_RECORD_BYTES), ImportFormat::Csv, 2),
        ] {
            let (results, largest) = bounded(text.clone(), format);
            assert_eq!(results, [(line, Ok("u1".to_owned()))]);
            assert!(largest <= MAX_RECORD_BYTES + 4, "{largest}");
            let record = ImportReader::new(&text[..], format)
                .next()
                .unwrap()
                .unwrap();
            assert_eq!(record.raw().len(), MAX_RECORD_BYTES);
        }
        for (text, format, line, what) in [
            (
                json(MAX_RECORD_BYTES + 1, false, true),
                ImportFormat::JsonLines,
                1,
                "line",
            ),
            (
                json(MAX_RECORD_BYTES + 1, true, false),
                ImportFormat::JsonLines,
                1,
                "line",
            ),
            (csv(MAX_RECORD_BYTES + 1), ImportFormat::Csv, 2, "record"),
        ] {
            let (results, _) = bounded(text, format);
            assert_eq!(results, [(line, Err((too_long_message(line, what), None)))]);
        }
    }

    #[test]
    fn blank_lines_cost_nothing() {
        let mut json = vec![b'\n'; 1 << 20];
        json.extend_from_slice(b"{\"userId\":\"u1\",\"secret\":\"JBSWY3DPEHPK3PXP\"}");
        let mut csv = b"userId,secret\n".to_vec();
        csv.extend(std::iter::repeat_n(&b"\r\n"[..], 1 << 19).flatten());
        csv.extend_from_slice(b"u1,JBSWY3DPEHPK3PXP");
        for (text, format, line) in [
            (json, ImportFormat::JsonLines, (1 << 20) + 1),
            (csv, ImportFormat::Csv, (1 << 19) + 2),
        ] {
            let (results, largest) = bounded(text, format);
            assert_eq!(results, [(line, Ok("u1".to_owned()))]);
            assert!(largest <= 8 * 1024, "{format:?}: {largest}");
        }
    }

    /// Fails every read, as reading a directory does.
    struct Broken;

    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("Is a directory"))
        }
    }

    #[test]
    fn a_read_error_ends_the_records() {
        for format in [
            ImportFormat::JsonLines,
            ImportFormat::Csv,
            ImportFormat::KeyUri,
        ] {
            let results: Vec<String> = ImportReader::new(Broken, format)
                .take(3)
                .map(|r| r.unwrap_err().to_string())
                .collect();
            assert_eq!(results, ["line 1: Is a directory"], "{format:?}");
        }
        // Records read before the error come first; the error names the line it broke in.
        let text = b"userId,secret\nu1,JBSWY3DPEHPK3PXP\nu2,\"JBSW\n".to_vec();
        let reader = io::Read::chain(&text[..], Broken);
        let results = read_all(reader, ImportFormat::Csv);
        assert_eq!(results, [Ok(2), Err("line 3: Is a directory".to_owned())]);
        let text = b"{\"userId\":\"u1\",\"secret\":\"JBSWY3DPEHPK3PXP\"}\n{\"userId\"".to_vec();
        let reader = io::Read::chain(&text[..], Broken);
        let results = read_all(reader, ImportFormat::JsonLines);
        assert_eq!(results, [Ok(1), Err("line 2: Is a directory".to_owned())]);
    }

    /// The line of each record, or the message of each error.
    fn read_all<R: Read>(reader: R, format: ImportFormat) -> Vec<Result<u64, String>> {
        ImportReader::new(reader, format)
            .map(|r| r.map(|r| r.line).map_err(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn csv_rows_with_more_fields_than_the_header_are_refused() {
        let text = b"userId,secret\n\
                     u1,JBSWY3DPEHPK3PXP,rc-0001\n\
                     u2,JBSWY3DPEHPK3PXP\n\
                     ,,,\n\
                     u3\n\
                     u4,JBSWY3DPEHPK3PXP,\n";
        assert_eq!(
            read_all(&text[..], ImportFormat::Csv),
            [
                Err("line 2: 3 fields, but the header has 2".to_owned()),
                Ok(3),
                Err("line 5: secret: missing".to_owned()),
                Err("line 6: 3 fields, but the header has 2".to_owned()),
            ]
        );
        let many = format!(
            "userId,secret,recoveryCode\nu1,JBSWY3DPEHPK3PXP,rc,x\n{}\n{}\n",
            ",".repeat(40),
            ",".repeat(2)
        );
        assert_eq!(
            read_all(many.as_bytes(), ImportFormat::Csv),
            [
                Err("line 2: 4 fields, but the header has 3".to_owned()),
                Err("line 3: 41 fields, but the header has 3".to_owned()),
            ]
        );
        // A refused header leaves the widest: rows are read as rows.
        let text = b"userId,secret,recoveryCode,extra\nu1,JBSWY3DPEHPK3PXP,rc-0001\n";
        let results = read_all(&text[..], ImportFormat::Csv);
        assert!(
            results[0]
                .as_ref()
                .unwrap_err()
                .starts_with("line 1: the header must be")
        );
        assert_eq!(results[1], Ok(2));
    }

    #[test]
    fn an_unterminated_quote_is_named_with_its_line() {
        let text = b"userId,secret,recoveryCode\r\nu1,JBSWY3DPEHPK3PXP,\r\n\
                     u2,\"JBSWY3DPEHPK3PXP,\r\nu3,JBSWY3DPEHPK3PXP,\r\n";
        let mut reader = ImportReader::new(&text[..], ImportFormat::Csv);
        assert_eq!(reader.next().unwrap().unwrap().line, 2);
        let err = reader.next().unwrap().unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 3: unterminated quoted field at line 3: its closing `\"` is missing"
        );
        assert_eq!(
            err.raw_line(),
            Some(&b"u2,\"JBSWY3DPEHPK3PXP,\r\nu3,JBSWY3DPEHPK3PXP,\r\n"[..])
        );
        assert!(!format!("{err} {err:?}").contains("JBSW"));
        assert!(reader.next().is_none());
        // The quote may open on a later line of the record than its first.
        let text = b"userId,secret,recoveryCode\nu1,\"JBSWY3DP\nEHPK3PXP\",\"rc\n";
        assert_eq!(
            read_all(&text[..], ImportFormat::Csv),
            [Err(
                "line 2: unterminated quoted field at line 3: its closing `\"` is missing"
                    .to_owned()
            )]
        );
        // Past the limit too, it is the open quote that is named, without the bytes.
        let mut text = b"userId,secret\nu1,\"".to_vec();
        text.resize(text.len() + 3 * MAX_RECORD_BYTES, b'A');
        let (results, largest) = bounded(text, ImportFormat::Csv);
        assert_eq!(
            results,
            [(
                2,
                Err((
                    "line 2: unterminated quoted field at line 2: its closing `\"` is missing"
                        .to_owned(),
                    None
                ))
            )]
        );
        assert!(largest <= MAX_RECORD_BYTES, "{largest}");
        // A quote closed at the very end is fine.
        let text = b"userId,secret\nu1,\"JBSWY3DPEHPK3PXP\"";
        assert_eq!(read_all(&text[..], ImportFormat::Csv), [Ok(2)]);
    }

    #[test]
    fn deeply_nested_json_is_refused_at_once() {
        let deep = "[".repeat(60_000);
        let text = format!(
            "{deep}\n{{\"userId\":\"u1\",\"otp\":{deep}\n\
             {{\"userId\":\"u2\",\"secret\":\"JBSWY3DPEHPK3PXP\"}}\n"
        );
        let results = read_all(text.as_bytes(), ImportFormat::JsonLines);
        assert_eq!(results.len(), 3, "{results:?}");
        assert!(
            results[0]
                .as_ref()
                .unwrap_err()
                .starts_with("line 1: a field has the wrong type or value"),
            "{results:?}"
        );
        assert!(
            results[1].as_ref().unwrap_err().starts_with("line 2: "),
            "{results:?}"
        );
        assert_eq!(results[2], Ok(3));
    }

    /// A small deterministic generator (xorshift), for the differential test.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// Field values as the csv crate reads `text` (with the reader's settings before it was
    /// replaced: no header, rows of any length).
    fn csv_crate_rows(text: &[u8]) -> Vec<Vec<Vec<u8>>> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text)
            .byte_records()
            .map(|r| r.unwrap().iter().map(<[u8]>::to_vec).collect())
            .collect()
    }

    /// Field values as this reader's parser reads `text`, fed `chunk` bytes at a time; `None`
    /// when a quote is left open.
    fn parser_rows(text: &[u8], chunk: usize) -> Option<Vec<Vec<Vec<u8>>>> {
        let mut records = CsvRecords::new(Trickle::new(text.to_vec(), chunk));
        let mut rows = Vec::new();
        while let Some(result) = records.read_record() {
            if result.is_err() {
                return None;
            }
            let parser = &records.parser;
            assert!(parser.fields <= CSV_FIELDS_KEPT);
            let mut start = 0;
            rows.push(
                parser
                    .ends
                    .iter()
                    .map(|&end| {
                        let field = parser.values[start..end].to_vec();
                        start = end;
                        field
                    })
                    .collect(),
            );
        }
        Some(rows)
    }

    #[test]
    fn csv_fields_are_read_as_the_csv_crate_reads_them() {
        let alphabet: &[&[u8]] = &[
            b"a",
            b"b",
            b" ",
            b",",
            b"\"",
            b"\"\"",
            b"\r",
            b"\n",
            b"\r\n",
            b"\xef\xbb\xbf",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut compared = 0;
        for _ in 0..6_000 {
            let len = rng.below(24);
            let text: Vec<u8> = (0..len)
                .flat_map(|_| alphabet[rng.below(alphabet.len())].iter().copied())
                .collect();
            if text.iter().filter(|&&b| b == b',').count() >= CSV_FIELDS_KEPT {
                continue;
            }
            let expected = csv_crate_rows(&text);
            for chunk in [1, 2, 3, 64] {
                let shown = String::from_utf8_lossy(&text);
                match parser_rows(&text, chunk) {
                    Some(rows) => assert_eq!(rows, expected, "{shown:?}"),
                    // A quote left open, which the csv crate closes at the end of the input:
                    // closed there, it is read the same.
                    None => {
                        let closed = [&text[..], b"\""].concat();
                        assert_eq!(
                            parser_rows(&closed, chunk),
                            Some(expected.clone()),
                            "{shown:?}"
                        );
                    }
                }
            }
            compared += 1;
        }
        assert!(compared > 5_000, "{compared}");
    }

    #[test]
    fn formats_from_names_and_contents() {
        for (name, format) in [
            ("a.csv", Some(ImportFormat::Csv)),
            ("a.JSONL", Some(ImportFormat::JsonLines)),
            ("a.ndjson", Some(ImportFormat::JsonLines)),
            ("a.json", Some(ImportFormat::JsonLines)),
            ("a.txt", Some(ImportFormat::KeyUri)),
            ("a.URI", Some(ImportFormat::KeyUri)),
            ("a.otpauth", Some(ImportFormat::KeyUri)),
            ("a.tsv", None),
            ("secrets", None),
        ] {
            assert_eq!(ImportFormat::from_path(Path::new(name)), format, "{name}");
        }
        for (head, format) in [
            (&b"{\"userId\":\"u1\"}"[..], ImportFormat::JsonLines),
            (
                b"\xef\xbb\xbf\r\n  {\"userId\":\"u1\"}",
                ImportFormat::JsonLines,
            ),
            (
                b"# export\nu1 OTPAUTH://totp/a?secret=X",
                ImportFormat::KeyUri,
            ),
            (b"userId,secret\nu1,X\n", ImportFormat::Csv),
            (b"", ImportFormat::Csv),
        ] {
            assert_eq!(ImportFormat::sniff(head), format);
        }
    }
}
