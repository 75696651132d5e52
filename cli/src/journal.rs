//! The journal of a bulk import: what is done, so that a run killed at any moment continues
//! where it stopped.
//!
//! A JSON Lines file. The first line names the input (its size and SHA-1), so that a journal
//! is never applied to another file or to a changed one. Each later line is one finished
//! batch of the import (the records it settled, as ranges of record numbers counting the
//! input's valid records from 0, and those the server refused, with why) or of the read-back
//! of `--verify` (the records read back, and those whose secret differs or could not be read):
//!
//! ```text
//! {"authingOtpJournal":2,"input":{"bytes":5301,"sha1":"9f0c…"}}
//! {"done":[[0,99]],"refused":[]}
//! {"done":[[200,299]],"refused":[{"record":250,"line":252,"userId":"u-250","statusCode":404,…}]}
//! {"verified":[[0,99]],"mismatched":[{"record":7,"line":9,"userId":"u-7","message":"…"}]}
//! ```
//!
//! Version 1 journals (without read-back lines) are read as they are.
//!
//! A line is written (one `write` call) as soon as its batch is done, so a killed process loses
//! nothing the kernel has; it is made durable (`fsync`) at least once a second and at the end,
//! so a machine that loses power re-sends at most the last second's batches, which is harmless:
//! importing the same secret again binds it again. A last line cut short by a crash is ignored
//! and cut off before new lines are added.
//!
//! The journal holds user ids and the server's messages (at most 1 KiB each), never a secret.
//!
//! One run at a time: a run holds an exclusive lock on its journal from before it checks the
//! input to its end, and a second run on the same journal is refused at once. The journal must
//! be a regular file. Reading it is bounded: a header longer than [`MAX_HEADER_BYTES`], or a
//! line longer than [`MAX_LINE_BYTES`] (a batch is at most 1,000 records, whose line stays
//! far below), makes the file "not a journal" without it being read whole.
//!
//! What a journal says is done is kept compact ([`Progress`]: ranges of record numbers); the
//! refusals themselves stay in the file and are read back one line at a time
//! ([`problems`]) when the report is written, so a run with a million refusals holds no more
//! of them in memory than one without.

use std::{
    collections::VecDeque,
    fs::File,
    io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

const VERSION: u32 = 2;
/// The longest header line read.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// The longest line after the header read: a batch of 1,000 records refused with 1 KiB
/// messages and 1 KiB user ids writes about 2.3 MB.
pub const MAX_LINE_BYTES: usize = 8 << 20;
/// Versions read: 1 had no read-back lines.
const READ_VERSIONS: [u32; 2] = [1, 2];
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// What identifies an input file: its size and the SHA-1 of its bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputIdentity {
    /// Its size in bytes.
    pub bytes: u64,
    /// The SHA-1 of its content, hex.
    pub sha1: String,
}

/// Reads through `inner`, hashing every byte, so that checking a file and identifying it take
/// one pass.
///
/// ```
/// use std::io::Read;
/// let mut reader = authing_otp_cli::journal::IdentifyingReader::new(&b"abc"[..]);
/// std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
/// let id = reader.identity();
/// assert_eq!((id.bytes, id.sha1.as_str()), (3, "a9993e364706816aba3e25717850c26c9cd0d89d"));
/// ```
pub struct IdentifyingReader<R> {
    inner: R,
    hasher: Sha1,
    bytes: u64,
}

impl<R: Read> IdentifyingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        IdentifyingReader {
            inner,
            hasher: Sha1::new(),
            bytes: 0,
        }
    }

    /// The identity of what was read so far (the whole input, once it is read to the end).
    pub fn identity(&self) -> InputIdentity {
        let digest = self.hasher.clone().finalize();
        InputIdentity {
            bytes: self.bytes,
            sha1: digest.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }
}

impl<R: Read> Read for IdentifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// One refused record, as the journal and the report keep it: no secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefusedRecord {
    /// Its number among the input's valid records, from 0.
    pub record: u64,
    /// Its first line in the input, from 1.
    pub line: u64,
    /// Its user id.
    pub user_id: String,
    /// The HTTP status of the refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The body's `statusCode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i64>,
    /// The body's `apiCode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_code: Option<i64>,
    /// What the server said, scrubbed of secrets.
    pub message: String,
}

/// Record numbers, as sorted disjoint inclusive ranges: a million records in a few thousand
/// ranges at most (one per batch), usually far fewer once adjacent ranges merge.
///
/// ```
/// let mut set = authing_otp_cli::journal::RecordSet::default();
/// set.insert(0, 9);
/// set.insert(20, 29);
/// set.insert(10, 19);
/// assert_eq!(set.ranges(), &[(0, 29)]);
/// assert!(set.contains(15) && !set.contains(30));
/// assert_eq!(set.count(), 30);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordSet(Vec<(u64, u64)>);

impl RecordSet {
    /// Adds `first..=last`.
    pub fn insert(&mut self, first: u64, last: u64) {
        let (mut first, mut last) = (first.min(last), first.max(last));
        // Ranges that overlap or touch the new one are merged into it.
        let start = self
            .0
            .partition_point(|&(_, l)| l.saturating_add(1) < first);
        let mut end = start;
        while end < self.0.len() && self.0[end].0 <= last.saturating_add(1) {
            first = first.min(self.0[end].0);
            last = last.max(self.0[end].1);
            end += 1;
        }
        self.0.splice(start..end, [(first, last)]);
    }

    /// Whether `record` is in the set.
    pub fn contains(&self, record: u64) -> bool {
        let at = self.0.partition_point(|&(_, l)| l < record);
        self.0.get(at).is_some_and(|&(f, _)| f <= record)
    }

    /// How many records the set holds.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|&(f, l)| l - f + 1).sum()
    }

    /// The ranges, sorted.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.0
    }

    /// The ranges covering `records` (any order).
    pub fn of(records: impl IntoIterator<Item = u64>) -> Self {
        let mut set = RecordSet::default();
        for r in records {
            set.insert(r, r);
        }
        set
    }
}

/// What a journal says is done: record numbers, as ranges. The refusals themselves are read
/// from the journal when needed ([`problems`]).
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Records settled: imported or refused.
    pub done: RecordSet,
    /// The refused ones.
    pub refused: RecordSet,
    /// Records read back by `--verify`: matching or not.
    pub verified: RecordSet,
    /// The ones read back whose secret differs, or that could not be read.
    pub mismatched: RecordSet,
}

impl Progress {
    /// Adds a finished batch of the import.
    pub fn apply(&mut self, done: &RecordSet, refused: &[RefusedRecord]) {
        for &(first, last) in done.ranges() {
            self.done.insert(first, last);
        }
        for r in refused {
            self.refused.insert(r.record, r.record);
        }
    }

    /// Adds a finished batch of the read-back.
    pub fn apply_verified(&mut self, verified: &RecordSet, mismatched: &[RefusedRecord]) {
        for &(first, last) in verified.ranges() {
            self.verified.insert(first, last);
        }
        for r in mismatched {
            self.mismatched.insert(r.record, r.record);
        }
    }

    /// Whether `record` was imported (settled and not refused).
    pub fn imported(&self, record: u64) -> bool {
        self.done.contains(record) && !self.refused.contains(record)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    authing_otp_journal: u32,
    input: InputIdentity,
}

/// One line after the header: a batch of the import (`done` and `refused`), or of the
/// read-back (`verified` and `mismatched`).
#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    done: Vec<(u64, u64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refused: Option<Vec<RefusedRecord>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    verified: Vec<(u64, u64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mismatched: Option<Vec<RefusedRecord>>,
}

/// Why a journal cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// It could not be read or written.
    #[error("journal {}: {source}", path.display())]
    Io {
        /// The journal.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// It was made for another input, or the input changed since.
    #[error(
        "journal {} was made for another input file, or the file changed since, or with \
         another --user-id-type or --keycloak-pick ({} bytes, SHA-1 {} then; {} bytes, SHA-1 {} \
         now): use a new journal, or the original file and options",
        path.display(), then.bytes, then.sha1, now.bytes, now.sha1
    )]
    OtherInput {
        /// The journal.
        path: PathBuf,
        /// What the journal names.
        then: InputIdentity,
        /// What the input is now.
        now: InputIdentity,
    },
    /// It is not a journal of this command.
    #[error("{} is not an authing-otp import journal (line {line})", path.display())]
    NotAJournal {
        /// The file.
        path: PathBuf,
        /// The first line that is not what a journal holds.
        line: u64,
    },
    /// Another run holds it.
    #[error(
        "journal {} is in use by another run of authing-otp import (it holds the journal's \
         lock): wait for that run to end, or use another journal",
        path.display()
    )]
    Locked {
        /// The journal.
        path: PathBuf,
    },
}

/// A journal file, open and locked for this run, not read yet: see [`Journal::lock`].
#[derive(Debug)]
pub struct LockedJournal {
    path: PathBuf,
    file: File,
    /// Kept while the journal is a temporary one (removed with it).
    _temporary: Option<crate::files::Spool>,
}

/// An open journal, appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    last_sync: Instant,
    dirty: bool,
    _temporary: Option<crate::files::Spool>,
}

impl LockedJournal {
    /// Reads what the journal says is done and checks that it was made for this very input;
    /// writes its header if it is new.
    pub fn open(self, input: &InputIdentity) -> Result<(Journal, Progress), JournalError> {
        let LockedJournal {
            path,
            mut file,
            _temporary,
        } = self;
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        let (progress, good_len, empty) = read(&mut file, &path, input)?;
        if empty {
            let header = Header {
                authing_otp_journal: VERSION,
                input: input.clone(),
            };
            let mut line = serde_json::to_vec(&header).expect("a header serializes");
            line.push(b'\n');
            file.set_len(0).map_err(io)?;
            file.write_all(&line).map_err(io)?;
            file.sync_all().map_err(io)?;
        } else if file.metadata().map_err(io)?.len() != good_len {
            // A line cut short by a crash: cut it off, so that new lines start clean.
            file.set_len(good_len).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok((
            Journal {
                path,
                file,
                last_sync: Instant::now(),
                dirty: false,
                _temporary,
            },
            progress,
        ))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Journal {
    /// Opens the journal at `path` (creating it owner-only if it does not exist) and takes its
    /// lock, before anything else: a second run on it is refused at once. It must be a regular
    /// file.
    pub fn lock(path: &Path) -> Result<LockedJournal, JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let Some(file) = crate::files::open_locked(path).map_err(io)? else {
            return Err(JournalError::Locked {
                path: path.to_owned(),
            });
        };
        Ok(LockedJournal {
            path: path.to_owned(),
            file,
            _temporary: None,
        })
    }

    /// A journal of this run only, in the system's temporary directory, removed when the
    /// journal is dropped: the report and the failures file are written from it as from a
    /// journal the user named.
    pub fn temporary() -> Result<LockedJournal, JournalError> {
        let (spool, file) = crate::files::Spool::create().map_err(|source| JournalError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        Ok(LockedJournal {
            path: spool.path().to_owned(),
            file,
            _temporary: Some(spool),
        })
    }

    /// [`lock`](Self::lock), then [`LockedJournal::open`].
    pub fn open(path: &Path, input: &InputIdentity) -> Result<(Journal, Progress), JournalError> {
        Self::lock(path)?.open(input)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a finished batch of the import: one `write`, and an `fsync` if the last was a
    /// second ago.
    pub fn record(
        &mut self,
        done: &RecordSet,
        refused: &[RefusedRecord],
    ) -> Result<(), JournalError> {
        self.append(&Entry {
            done: done.ranges().to_vec(),
            refused: Some(refused.to_vec()),
            ..Entry::default()
        })
    }

    /// Appends a finished batch of the read-back, as [`record`](Self::record) does.
    pub fn record_verified(
        &mut self,
        verified: &RecordSet,
        mismatched: &[RefusedRecord],
    ) -> Result<(), JournalError> {
        self.append(&Entry {
            verified: verified.ranges().to_vec(),
            mismatched: Some(mismatched.to_vec()),
            ..Entry::default()
        })
    }

    fn append(&mut self, entry: &Entry) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(entry).expect("an entry serializes");
        if line.len() >= MAX_LINE_BYTES {
            // Never write what reading would refuse.
            return Err(self.io(io::Error::other(format!(
                "a batch's line would be longer than {} MiB; use smaller batches",
                MAX_LINE_BYTES >> 20
            ))));
        }
        line.push(b'\n');
        self.file.write_all(&line).map_err(|e| self.io(e))?;
        self.dirty = true;
        if self.last_sync.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// Makes everything written durable.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        if self.dirty {
            self.file.sync_data().map_err(|e| self.io(e))?;
            self.dirty = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    fn io(&self, source: io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

/// How a line of a journal ended.
enum Line {
    /// With its `\n`.
    Complete,
    /// At the end of the file without a `\n`: cut short by a crash.
    Torn,
    /// Longer than allowed: not read further.
    TooLong,
    /// No more lines.
    End,
}

/// Reads the next line into `line` (emptied first), never more than `max` bytes of it.
fn next_line(reader: &mut impl BufRead, line: &mut Vec<u8>, max: usize) -> io::Result<Line> {
    line.clear();
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(if line.is_empty() {
                Line::End
            } else {
                Line::Torn
            });
        }
        let (take, complete) = match memchr::memchr(b'\n', available) {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        if line.len() + take > max {
            return Ok(Line::TooLong);
        }
        line.extend_from_slice(&available[..take]);
        reader.consume(take);
        if complete {
            return Ok(Line::Complete);
        }
    }
}

/// Checks a journal's header line.
fn check_header(
    line: &[u8],
    path: &Path,
    input: Option<&InputIdentity>,
) -> Result<(), JournalError> {
    let not_a_journal = || JournalError::NotAJournal {
        path: path.to_owned(),
        line: 1,
    };
    let header: Header = serde_json::from_slice(line).map_err(|_| not_a_journal())?;
    if !READ_VERSIONS.contains(&header.authing_otp_journal) {
        return Err(not_a_journal());
    }
    if let Some(input) = input
        && header.input != *input
    {
        return Err(JournalError::OtherInput {
            path: path.to_owned(),
            then: header.input,
            now: input.clone(),
        });
    }
    Ok(())
}

/// Parses a line after the header.
fn entry(line: &[u8], path: &Path, number: u64) -> Result<Entry, JournalError> {
    serde_json::from_slice::<Entry>(line)
        .ok()
        .filter(|e| e.refused.is_some() != e.mismatched.is_some())
        .ok_or_else(|| JournalError::NotAJournal {
            path: path.to_owned(),
            line: number,
        })
}

/// Reads a journal: its progress, the length of its complete lines, and whether it is empty.
fn read(
    file: &mut File,
    path: &Path,
    input: &InputIdentity,
) -> Result<(Progress, u64, bool), JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_owned(),
        source,
    };
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut reader = BufReader::new(&*file);
    let mut progress = Progress::default();
    let mut line = Vec::new();
    let mut good_len = 0u64;
    let mut number = 0u64;
    loop {
        number += 1;
        let max = if number == 1 {
            MAX_HEADER_BYTES
        } else {
            MAX_LINE_BYTES
        };
        match next_line(&mut reader, &mut line, max).map_err(io)? {
            Line::End => break,
            Line::TooLong => {
                return Err(JournalError::NotAJournal {
                    path: path.to_owned(),
                    line: number,
                });
            }
            Line::Torn => {
                // Cut short by a crash: everything before it stands. A first line cut short
                // must still look like a journal's header: any other file is not overwritten.
                if number == 1
                    && !br#"{"authingOtpJournal""#.starts_with(&line[..line.len().min(20)])
                {
                    return Err(JournalError::NotAJournal {
                        path: path.to_owned(),
                        line: 1,
                    });
                }
                break;
            }
            Line::Complete if number == 1 => check_header(&line, path, Some(input))?,
            Line::Complete => {
                let entry = entry(&line, path, number)?;
                let set = |ranges: Vec<(u64, u64)>| {
                    let mut set = RecordSet::default();
                    for (first, last) in ranges {
                        set.insert(first, last);
                    }
                    set
                };
                progress.apply(&set(entry.done), &entry.refused.unwrap_or_default());
                progress
                    .apply_verified(&set(entry.verified), &entry.mismatched.unwrap_or_default());
            }
        }
        good_len += line.len() as u64;
    }
    Ok((progress, good_len, good_len == 0))
}

/// A refusal of the import, or a record whose read-back failed, as the journal keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The server refused the record.
    Refused(RefusedRecord),
    /// `--verify` read back another secret, or could not read it.
    Mismatched(RefusedRecord),
}

/// The refusals and read-back failures a journal holds, in the order they were written (a
/// record written twice, after a crash, comes twice), read one line at a time.
///
/// ```
/// use authing_otp_cli::journal::{IdentifyingReader, Journal, Problem, RecordSet, RefusedRecord, problems};
///
/// let dir = std::env::temp_dir().join(format!("problems-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("journal.jsonl");
/// let mut identify = IdentifyingReader::new(&b"input"[..]);
/// std::io::copy(&mut identify, &mut std::io::sink())?;
/// let (mut journal, _) = Journal::open(&path, &identify.identity())?;
/// let refused = RefusedRecord {
///     record: 3, line: 4, user_id: "u-3".into(), http_status: Some(200),
///     status_code: Some(404), api_code: None, message: "no such user".into(),
/// };
/// journal.record(&RecordSet::of(0..10), &[refused.clone()])?;
/// drop(journal);
/// let all: Vec<Problem> = problems(&path)?.collect::<Result<_, _>>()?;
/// assert_eq!(all, [Problem::Refused(refused)]);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn problems(path: &Path) -> Result<Problems, JournalError> {
    let file = File::open(path).map_err(|source| JournalError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut problems = Problems {
        path: path.to_owned(),
        reader: BufReader::new(file),
        line: Vec::new(),
        number: 1,
        pending: VecDeque::new(),
        done: false,
    };
    match next_line(&mut problems.reader, &mut problems.line, MAX_HEADER_BYTES)
        .map_err(|source| problems.io(source))?
    {
        Line::Complete => check_header(&problems.line, path, None)?,
        Line::End => problems.done = true,
        Line::Torn | Line::TooLong => {
            return Err(JournalError::NotAJournal {
                path: path.to_owned(),
                line: 1,
            });
        }
    }
    Ok(problems)
}

/// See [`problems`].
#[derive(Debug)]
pub struct Problems {
    path: PathBuf,
    reader: BufReader<File>,
    line: Vec<u8>,
    number: u64,
    /// The problems of the line read last, not handed out yet.
    pending: VecDeque<Problem>,
    done: bool,
}

impl Problems {
    fn io(&self, source: io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

impl Iterator for Problems {
    type Item = Result<Problem, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(problem) = self.pending.pop_front() {
                return Some(Ok(problem));
            }
            if self.done {
                return None;
            }
            self.number += 1;
            let line = next_line(&mut self.reader, &mut self.line, MAX_LINE_BYTES);
            match line {
                Err(source) => {
                    self.done = true;
                    return Some(Err(self.io(source)));
                }
                // A torn last line is what a crash leaves: it never counted.
                Ok(Line::End | Line::Torn) => self.done = true,
                Ok(Line::TooLong) => {
                    self.done = true;
                    return Some(Err(JournalError::NotAJournal {
                        path: self.path.clone(),
                        line: self.number,
                    }));
                }
                Ok(Line::Complete) => match entry(&self.line, &self.path, self.number) {
                    Ok(entry) => {
                        // A line holds one kind or the other (see `entry`).
                        let refused = entry.refused.unwrap_or_default();
                        let mismatched = entry.mismatched.unwrap_or_default();
                        self.pending
                            .extend(refused.into_iter().map(Problem::Refused));
                        self.pending
                            .extend(mismatched.into_iter().map(Problem::Mismatched));
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    fn identity(text: &str) -> InputIdentity {
        let mut reader = IdentifyingReader::new(text.as_bytes());
        io::copy(&mut reader, &mut io::sink()).unwrap();
        reader.identity()
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("authing-otp-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        path
    }

    fn refused(record: u64) -> RefusedRecord {
        RefusedRecord {
            record,
            line: record + 2,
            user_id: format!("u{record}"),
            http_status: Some(200),
            status_code: Some(404),
            api_code: Some(40401),
            message: "no such user".into(),
        }
    }

    #[test]
    fn resumes_from_what_was_written_and_keeps_each_refusal_once() {
        let path = temp("resume.jsonl");
        let input = identity("userId,secret\n");
        let (mut journal, progress) = Journal::open(&path, &input).unwrap();
        assert_eq!(progress.done.count(), 0);
        journal
            .record(&RecordSet::of(0..100), &[refused(7)])
            .unwrap();
        journal.record(&RecordSet::of(200..300), &[]).unwrap();
        drop(journal);
        let (mut journal, progress) = Journal::open(&path, &input).unwrap();
        assert_eq!(progress.done.ranges(), &[(0, 99), (200, 299)]);
        assert_eq!(progress.refused.count(), 1);
        // The same batch again (re-sent after a crash): still one refusal.
        journal
            .record(&RecordSet::of(0..100), &[refused(7)])
            .unwrap();
        drop(journal);
        let (_, progress) = Journal::open(&path, &input).unwrap();
        assert_eq!(progress.refused.ranges(), &[(7, 7)]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn read_back_lines_resume_too_and_version_1_journals_still_read() {
        let path = temp("verify.jsonl");
        let input = identity("u");
        let (mut journal, _) = Journal::open(&path, &input).unwrap();
        journal
            .record(&RecordSet::of(0..10), &[refused(3)])
            .unwrap();
        journal
            .record_verified(&RecordSet::of(0..5), &[refused(4)])
            .unwrap();
        drop(journal);
        let (_, progress) = Journal::open(&path, &input).unwrap();
        assert_eq!(progress.done.ranges(), &[(0, 9)]);
        assert_eq!(progress.verified.ranges(), &[(0, 4)]);
        assert_eq!(progress.mismatched.ranges(), &[(4, 4)]);
        assert!(progress.imported(2) && !progress.imported(3) && !progress.imported(10));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(r#"{"authingOtpJournal":2,"#), "{text}");
        // Written by the previous release.
        let v1 = format!(
            "{{\"authingOtpJournal\":1,\"input\":{}}}\n{{\"done\":[[0,4]],\"refused\":[]}}\n",
            serde_json::to_string(&input).unwrap()
        );
        std::fs::write(&path, v1).unwrap();
        let (_, progress) = Journal::open(&path, &input).unwrap();
        assert_eq!(progress.done.ranges(), &[(0, 4)]);
        // A line that is neither kind is not a journal's.
        for bad in [
            "{}",
            r#"{"done":[[0,1]]}"#,
            r#"{"refused":[],"mismatched":[]}"#,
        ] {
            let text = format!(
                "{{\"authingOtpJournal\":2,\"input\":{}}}\n{bad}\n",
                serde_json::to_string(&input).unwrap()
            );
            std::fs::write(&path, text).unwrap();
            let err = Journal::open(&path, &input).unwrap_err();
            assert!(
                matches!(err, JournalError::NotAJournal { line: 2, .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn one_run_at_a_time_holds_a_journal() {
        let path = temp("locked.jsonl");
        let input = identity("x");
        let (journal, _) = Journal::open(&path, &input).unwrap();
        let err = Journal::lock(&path).unwrap_err();
        assert!(matches!(err, JournalError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("in use by another run"), "{err}");
        drop(journal);
        assert!(Journal::lock(&path).is_ok(), "released with the run");
        #[cfg(unix)]
        {
            let err = Journal::lock(Path::new("/dev/null")).unwrap_err();
            assert!(err.to_string().contains("not a regular file"), "{err}");
        }
    }

    #[test]
    fn overlong_lines_are_refused_without_being_read_whole() {
        let path = temp("long.jsonl");
        let input = identity("x");
        // A "header" longer than any header, even one that starts like a header.
        let mut text = br#"{"authingOtpJournal":2,"input":{"bytes":1,"sha1":""#.to_vec();
        text.resize(MAX_HEADER_BYTES + 1, b'0');
        std::fs::write(&path, &text).unwrap();
        let err = Journal::open(&path, &input).unwrap_err();
        assert!(
            matches!(err, JournalError::NotAJournal { line: 1, .. }),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), text, "left untouched");
        // A line after the header longer than any batch's.
        let path = temp("long-entry.jsonl");
        let (journal, _) = Journal::open(&path, &input).unwrap();
        drop(journal);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&vec![b' '; MAX_LINE_BYTES + 1]).unwrap();
        drop(file);
        let err = Journal::open(&path, &input).unwrap_err();
        assert!(
            matches!(err, JournalError::NotAJournal { line: 2, .. }),
            "{err}"
        );
        let err = problems(&path).unwrap().next().unwrap().unwrap_err();
        assert!(
            matches!(err, JournalError::NotAJournal { line: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn problems_come_back_in_order_each_line_once() {
        let path = temp("problems.jsonl");
        let input = identity("x");
        let (mut journal, _) = Journal::open(&path, &input).unwrap();
        journal
            .record(&RecordSet::of(0..10), &[refused(3), refused(5)])
            .unwrap();
        journal
            .record_verified(&RecordSet::of(0..3), &[refused(1)])
            .unwrap();
        drop(journal);
        // A line cut short by a crash never counted.
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(br#"{"done":[[10,19]],"refused":[{"rec"#)
            .unwrap();
        let all: Vec<Problem> = problems(&path).unwrap().map(Result::unwrap).collect();
        assert_eq!(
            all,
            [
                Problem::Refused(refused(3)),
                Problem::Refused(refused(5)),
                Problem::Mismatched(refused(1))
            ]
        );
    }

    #[test]
    fn a_torn_last_line_is_cut_off() {
        let path = temp("torn.jsonl");
        let input = identity("x");
        let (mut journal, _) = Journal::open(&path, &input).unwrap();
        journal.record(&RecordSet::of(0..10), &[]).unwrap();
        drop(journal);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"done":[[10,1"#).unwrap();
        drop(file);
        let (mut journal, progress) = Journal::open(&path, &input).unwrap();
        assert_eq!(progress.done.ranges(), &[(0, 9)]);
        journal.record(&RecordSet::of(10..20), &[]).unwrap();
        drop(journal);
        let (_, progress) = Journal::open(&path, &input).unwrap();
        assert_eq!(progress.done.ranges(), &[(0, 19)]);
    }

    #[test]
    fn a_journal_for_another_input_is_refused() {
        let path = temp("other.jsonl");
        Journal::open(&path, &identity("one file")).unwrap();
        let err = Journal::open(&path, &identity("another file")).unwrap_err();
        assert!(matches!(err, JournalError::OtherInput { .. }), "{err}");
        assert!(err.to_string().contains("another input file"), "{err}");
        std::fs::write(&path, "not a journal\n").unwrap();
        let err = Journal::open(&path, &identity("x")).unwrap_err();
        assert!(
            matches!(err, JournalError::NotAJournal { line: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn record_sets_merge_and_answer() {
        let mut set = RecordSet::default();
        for (f, l) in [(10, 19), (0, 4), (30, 39), (5, 9), (21, 25)] {
            set.insert(f, l);
        }
        assert_eq!(set.ranges(), &[(0, 19), (21, 25), (30, 39)]);
        assert!(!set.contains(20) && set.contains(21) && !set.contains(40));
        set.insert(20, 29);
        assert_eq!(set.ranges(), &[(0, 39)]);
        assert_eq!(RecordSet::of([5, 3, 4, 9]).ranges(), &[(3, 5), (9, 9)]);
    }
}
