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
//! The journal holds user ids and the server's messages, never a secret.

use std::{
    collections::BTreeMap,
    fs::{File, OpenOptions},
    io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

const VERSION: u32 = 2;
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

/// What a journal says is done.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Records settled: imported or refused.
    pub done: RecordSet,
    /// The refused ones, by record number (each once, whatever the resumes).
    pub refused: BTreeMap<u64, RefusedRecord>,
    /// Records read back by `--verify`: matching or not.
    pub verified: RecordSet,
    /// The ones read back whose secret differs, or that could not be read, with why.
    pub mismatched: BTreeMap<u64, RefusedRecord>,
}

impl Progress {
    /// Adds a finished batch of the import.
    pub fn apply(&mut self, done: &RecordSet, refused: &[RefusedRecord]) {
        for &(first, last) in done.ranges() {
            self.done.insert(first, last);
        }
        for r in refused {
            self.refused.insert(r.record, r.clone());
        }
    }

    /// Adds a finished batch of the read-back.
    pub fn apply_verified(&mut self, verified: &RecordSet, mismatched: &[RefusedRecord]) {
        for &(first, last) in verified.ranges() {
            self.verified.insert(first, last);
        }
        for r in mismatched {
            self.mismatched.insert(r.record, r.clone());
        }
    }

    /// Whether `record` was imported (settled and not refused).
    pub fn imported(&self, record: u64) -> bool {
        self.done.contains(record) && !self.refused.contains_key(&record)
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
        "journal {} was made for another input file, or the file changed since ({} bytes, \
         SHA-1 {} then; {} bytes, SHA-1 {} now): use a new journal, or the original file",
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
}

/// An open journal, appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    last_sync: Instant,
    dirty: bool,
}

impl Journal {
    /// Opens the journal at `path` for `input`: creates it (owner-only) if it does not exist,
    /// or reads what it says is done and checks that it was made for this very input.
    pub fn open(path: &Path, input: &InputIdentity) -> Result<(Journal, Progress), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        let (progress, good_len, empty) = read(&mut file, path, input)?;
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
                path: path.to_owned(),
                file,
                last_sync: Instant::now(),
                dirty: false,
            },
            progress,
        ))
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
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io)?;
        if n == 0 {
            break;
        }
        number += 1;
        if line.last() != Some(&b'\n') {
            // Cut short by a crash: everything before it stands. A first line cut short must
            // still look like a journal's header: any other file is not overwritten.
            if number == 1 && !br#"{"authingOtpJournal""#.starts_with(&line[..line.len().min(20)]) {
                return Err(JournalError::NotAJournal {
                    path: path.to_owned(),
                    line: 1,
                });
            }
            break;
        }
        if number == 1 {
            let header: Header =
                serde_json::from_slice(&line).map_err(|_| JournalError::NotAJournal {
                    path: path.to_owned(),
                    line: 1,
                })?;
            if !READ_VERSIONS.contains(&header.authing_otp_journal) {
                return Err(JournalError::NotAJournal {
                    path: path.to_owned(),
                    line: 1,
                });
            }
            if header.input != *input {
                return Err(JournalError::OtherInput {
                    path: path.to_owned(),
                    then: header.input,
                    now: input.clone(),
                });
            }
        } else {
            let entry = serde_json::from_slice::<Entry>(&line)
                .ok()
                .filter(|e| e.refused.is_some() != e.mismatched.is_some())
                .ok_or_else(|| JournalError::NotAJournal {
                    path: path.to_owned(),
                    line: number,
                })?;
            let set = |ranges: Vec<(u64, u64)>| {
                let mut set = RecordSet::default();
                for (first, last) in ranges {
                    set.insert(first, last);
                }
                set
            };
            progress.apply(&set(entry.done), &entry.refused.unwrap_or_default());
            progress.apply_verified(&set(entry.verified), &entry.mismatched.unwrap_or_default());
        }
        good_len += n as u64;
    }
    Ok((progress, good_len, good_len == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(progress.refused.len(), 1);
        // The same batch again (re-sent after a crash): still one refusal.
        journal
            .record(&RecordSet::of(0..100), &[refused(7)])
            .unwrap();
        drop(journal);
        let (_, progress) = Journal::open(&path, &input).unwrap();
        assert_eq!(progress.refused.keys().collect::<Vec<_>>(), [&7]);
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
        assert_eq!(progress.mismatched.keys().collect::<Vec<_>>(), [&4]);
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
