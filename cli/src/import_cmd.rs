//! `authing-otp import`: a bulk migration of OTP enrolments, resumable, with an outcome for
//! every record.
//!
//! Passes over the file, none holding it in memory: check every line (and identify the file
//! for the journal), import what the journal does not list as done, read back what
//! `--verify` has not yet read back, then write the failures file and the report from the
//! journal. Throttling and outages slow the import and the read-back down; only a lack of
//! progress for `--stall-timeout`, or a refusal that is not about the records, stops them.

use std::{
    cell::Cell,
    collections::HashMap,
    fs::{File, OpenOptions},
    io::{self, BufWriter, IsTerminal, Write},
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

use authing_otp::{
    ManagementClient, UserRef,
    bulk::{
        BatchDone, BulkEvent, BulkOptions, Outcome, ReadDone, ReadOutcome, StopReason,
        UserFingerprints,
    },
};
use authing_otp_cli::{
    import::{ImportFileError, ImportFormat, ImportReader, ImportRecord},
    journal::{IdentifyingReader, InputIdentity, Journal, Progress, RecordSet, RefusedRecord},
};
use indicatif::{ProgressBar, ProgressStyle};
use secrecy::SecretString;

use crate::client_cmd::{ClientArgs, fail};

/// Options of `authing-otp import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(flatten)]
    client: ClientArgs,

    /// JSON Lines ({"userId","secret","recoveryCode"?} or {"userId","otp":{…}} per line), CSV
    /// with the header userId,secret,recoveryCode, or Key URIs (`<userId> otpauth://totp/…` per
    /// line). The extension picks the format (.jsonl, .csv, .txt/.uri/.otpauth), else the content.
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Records per request; halved after a 413.
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u16).range(1..))]
    batch_size: u16,

    /// Requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,

    /// Stop when no record has finished for this long, in seconds: throttling and outages are
    /// waited out until then. The same command continues a stopped run (with --journal).
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0)]
    stall_timeout: f64,

    /// Where to keep what is done, so that the same command resumes after a crash.
    #[arg(long, value_name = "PATH")]
    journal: Option<PathBuf>,

    /// Write the refused records' lines there, byte for byte (owner-only: it holds secrets).
    #[arg(long, value_name = "PATH")]
    failures: Option<PathBuf>,

    /// Write why each record was refused (and, with --verify, which secrets read back differ)
    /// there, as JSON Lines (no secrets).
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,

    /// After importing, read every imported user's secret back and compare (a phase of its
    /// own: progress, throttling and outage rules, and the journal, as for the import).
    #[arg(long)]
    verify: bool,

    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,

    /// No progress output.
    #[arg(short, long)]
    quiet: bool,

    /// Check the file and stop: nothing is sent.
    #[arg(long)]
    dry_run: bool,
}

/// How many line errors are printed before the rest are only counted.
const MAX_SHOWN_ERRORS: usize = 20;
/// How often a progress line is printed when stderr is not a terminal.
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// How long a throttling notice stays in the progress output.
const STATUS_SHOWN_FOR: Duration = Duration::from_secs(10);
/// The longest `--stall-timeout`: a week.
const MAX_STALL_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

fn open(path: &Path) -> Result<ImportReader<File>, ImportFileError> {
    let format = ImportFormat::detect(path)?;
    let file = File::open(path).map_err(|source| ImportFileError::Io { line: None, source })?;
    Ok(ImportReader::new(file, format))
}

/// How many lines the file has: an upper bound of its records, to size the duplicate check.
fn count_lines(path: &Path) -> io::Result<usize> {
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut lines = 1;
    loop {
        let n = io::Read::read(&mut file, &mut buf)?;
        if n == 0 {
            return Ok(lines);
        }
        lines += memchr::memchr_iter(b'\n', &buf[..n]).count();
    }
}

/// The file's size and SHA-1, for the journal: one more read, at disk speed.
fn identify(path: &Path) -> io::Result<InputIdentity> {
    let mut reader = IdentifyingReader::new(File::open(path)?);
    io::copy(&mut reader, &mut io::sink())?;
    Ok(reader.identity())
}

/// The valid records of the file, numbered from 0, with their lines. The first pass found
/// every line valid, so a line that is not now means the file changed (or a read failed): the
/// records stop there and `broken` says so, rather than numbering the rest differently.
fn records<'a>(
    path: &Path,
    broken: &'a Cell<bool>,
) -> Result<impl Iterator<Item = (u64, ImportRecord)> + 'a, ImportFileError> {
    Ok(open(path)?
        .map_while(move |record| record.map_err(|_| broken.set(true)).ok())
        .enumerate()
        .map(|(n, record)| (n as u64, record)))
}

/// Refuses output paths that are the input or the journal: opening them for writing would
/// empty the file the run reads.
fn check_outputs(args: &ImportArgs) -> Result<(), String> {
    let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    for (flag, output) in [("--failures", &args.failures), ("--report", &args.report)] {
        let Some(output) = output else { continue };
        if same(output, &args.file) {
            return Err(format!("{flag} names the input file"));
        }
        if args.journal.as_deref().is_some_and(|j| same(output, j)) {
            return Err(format!("{flag} names the journal"));
        }
    }
    if args.journal.as_deref().is_some_and(|j| same(j, &args.file)) {
        return Err("--journal names the input file".into());
    }
    Ok(())
}

/// Pass 1: every line checked, duplicates found, the file identified. `Err` is the exit code.
fn check(args: &ImportArgs) -> Result<(u64, InputIdentity), ExitCode> {
    let shown = args.file.display();
    let mut reader = open(&args.file).map_err(|e| {
        eprintln!("authing-otp import: {shown}: {e}");
        ExitCode::from(2)
    })?;
    let mut fingerprints = UserFingerprints::with_capacity(count_lines(&args.file).unwrap_or(0));
    let mut errors = 0usize;
    let mut records = 0u64;
    for record in reader.by_ref() {
        match record {
            Ok(record) => {
                fingerprints.push(record.item.user_id());
                records += 1;
            }
            Err(e) => {
                errors += 1;
                if errors <= MAX_SHOWN_ERRORS {
                    eprintln!("authing-otp import: {shown}: {e}");
                }
            }
        }
    }
    let repeated = fingerprints.repeated();
    if !repeated.is_empty() {
        // A second pass names the lines of each repeated user, as strings only for those (and
        // settles a hash collision: two different ids, no duplicate).
        let mut lines_of: HashMap<String, Vec<u64>> = HashMap::new();
        if let Ok(reader) = open(&args.file) {
            for record in reader.flatten() {
                let user = record.item.user_id();
                if repeated.contains(&fingerprints.hash(user)) {
                    lines_of
                        .entry(user.to_owned())
                        .or_default()
                        .push(record.line);
                }
            }
        }
        let mut duplicates: Vec<(u64, u64)> = lines_of
            .values()
            .filter(|lines| lines.len() > 1)
            .flat_map(|lines| lines[1..].iter().map(|&line| (line, lines[0])))
            .collect();
        duplicates.sort_unstable();
        for (line, first) in duplicates {
            errors += 1;
            if errors <= MAX_SHOWN_ERRORS {
                eprintln!(
                    "authing-otp import: {shown}: line {line}: userId: the same user as line {first}"
                );
            }
        }
    }
    drop(fingerprints);
    let identity = identify(&args.file).map_err(|e| {
        eprintln!("authing-otp import: {shown}: {e}");
        ExitCode::from(2)
    })?;
    if errors > 0 {
        if errors > MAX_SHOWN_ERRORS {
            eprintln!(
                "authing-otp import: … and {} more errors",
                errors - MAX_SHOWN_ERRORS
            );
        }
        eprintln!("authing-otp import: {shown}: {errors} invalid lines; nothing was sent");
        return Err(ExitCode::from(2));
    }
    if records == 0 {
        eprintln!("authing-otp import: {shown}: no records; nothing was sent");
        return Err(ExitCode::from(2));
    }
    Ok((records, identity))
}

/// What a phase calls its records' outcomes, for the progress output.
struct Words {
    /// Before the counts: "" for the import, "verify: " for the read-back.
    phase: &'static str,
    unit: &'static str,
    good: &'static str,
    bad: &'static str,
}

const IMPORT_WORDS: Words = Words {
    phase: "",
    unit: "records",
    good: "imported",
    bad: "refused",
};

const VERIFY_WORDS: Words = Words {
    phase: "verify: ",
    unit: "read back",
    good: "match",
    bad: "differ",
};

/// Shows how far a phase is: a bar on a terminal, a line every few seconds otherwise, and
/// what the server is doing (throttling, outages) as it happens.
struct Display {
    words: &'static Words,
    bar: Option<ProgressBar>,
    plain: bool,
    last_line: Instant,
    started: Instant,
    total: u64,
    done: u64,
    good: u64,
    bad: u64,
    /// The last throttling notice, and when it came.
    status: Option<(String, Instant)>,
    /// When an outage line was last printed (plain output prints at most one per interval).
    last_outage_line: Option<Instant>,
}

impl Display {
    fn new(quiet: bool, total: u64, words: &'static Words) -> Self {
        let terminal = io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix}{bar:30} {pos}/{len} {unit}  {rate}  ETA {eta}  {msg}",
                )
                .expect("a valid template")
                .with_key(
                    "rate",
                    |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0}/s", state.per_sec());
                    },
                )
                .with_key(
                    "unit",
                    move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = w.write_str(words.unit);
                    },
                ),
            );
            bar.set_prefix(words.phase);
            bar
        });
        Display {
            words,
            bar,
            plain: !quiet && !terminal,
            last_line: Instant::now(),
            started: Instant::now(),
            total,
            done: 0,
            good: 0,
            bad: 0,
            status: None,
            last_outage_line: None,
        }
    }

    /// The counts, and the server's state if it is recent.
    fn message(&self) -> String {
        let mut message = format!(
            "{} {}, {} {}",
            self.good, self.words.good, self.bad, self.words.bad
        );
        if let Some((status, at)) = &self.status
            && at.elapsed() < STATUS_SHOWN_FOR
        {
            message.push_str("; ");
            message.push_str(status);
        }
        message
    }

    fn batch(&mut self, good: u64, bad: u64, settled: u64) {
        self.good += good;
        self.bad += bad;
        self.done += settled;
        if let Some(bar) = &self.bar {
            bar.set_position(self.done);
            bar.set_message(self.message());
        } else if self.plain && self.last_line.elapsed() >= PLAIN_PROGRESS_EVERY {
            self.last_line = Instant::now();
            let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
            eprintln!(
                "authing-otp import: {}{}/{} {} ({:.0}/s): {}",
                self.words.phase,
                self.done,
                self.total,
                self.words.unit,
                rate,
                self.message()
            );
        }
    }

    /// Throttling, an outage, a recovery.
    fn event<D>(&mut self, event: &BulkEvent<D>) {
        let text = event.to_string();
        match event {
            BulkEvent::Throttled { .. } => {
                self.status = Some((text, Instant::now()));
                if let Some(bar) = &self.bar {
                    bar.set_message(self.message());
                }
            }
            BulkEvent::Unavailable { .. } | BulkEvent::Recovered { .. } => {
                let recovered = matches!(event, BulkEvent::Recovered { .. });
                if !recovered {
                    self.status = Some((text.clone(), Instant::now()));
                } else {
                    self.status = None;
                }
                if let Some(bar) = &self.bar {
                    bar.println(format!("authing-otp import: {}{text}", self.words.phase));
                    bar.set_message(self.message());
                } else if self.plain
                    && (recovered
                        || self
                            .last_outage_line
                            .is_none_or(|at| at.elapsed() >= PLAIN_PROGRESS_EVERY))
                {
                    self.last_outage_line = Some(Instant::now());
                    eprintln!("authing-otp import: {}{text}", self.words.phase);
                }
            }
            _ => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Creates `path` for writing, owner-only where the platform allows.
fn create_private(path: &Path) -> io::Result<BufWriter<File>> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    // An existing file keeps its mode through open(): make sure.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(BufWriter::new(file))
}

/// The line of the report for a record whose read-back failed.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct VerifyReportLine<'a> {
    phase: &'static str,
    #[serde(flatten)]
    record: &'a RefusedRecord,
}

/// Last pass: the failures file (refused lines, byte for byte, after the header for CSV, so
/// that it can be imported again) and the report, from the journal's complete list of
/// refusals and read-back mismatches.
fn write_outputs(args: &ImportArgs, progress: &Progress) -> io::Result<()> {
    if let Some(path) = &args.failures {
        let mut out = create_private(path)?;
        let broken = Cell::new(false);
        if !progress.refused.is_empty() {
            if ImportFormat::detect(&args.file).map_err(io::Error::other)? == ImportFormat::Csv {
                let mut header = Vec::new();
                io::BufRead::read_until(
                    &mut io::BufReader::new(File::open(&args.file)?),
                    b'\n',
                    &mut header,
                )?;
                out.write_all(&header)?;
                if !header.ends_with(b"\n") {
                    out.write_all(b"\n")?;
                }
            }
            let reader = records(&args.file, &broken).map_err(io::Error::other)?;
            for (n, record) in reader {
                if progress.refused.contains_key(&n) {
                    out.write_all(record.raw())?;
                    out.write_all(b"\n")?;
                }
            }
        }
        out.flush()?;
        if broken.get() {
            return Err(io::Error::other("the input changed during the run"));
        }
    }
    if let Some(path) = &args.report {
        let mut out = create_private(path)?;
        for refusal in progress.refused.values() {
            serde_json::to_writer(&mut out, refusal)?;
            out.write_all(b"\n")?;
        }
        for mismatch in progress.mismatched.values() {
            let line = VerifyReportLine {
                phase: "verify",
                record: mismatch,
            };
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
    }
    Ok(())
}

/// What one phase did in this run.
#[derive(Default)]
struct PhaseReport {
    /// Records this run took on (resumed ones not included).
    records: u64,
    good: u64,
    bad: u64,
    not_attempted: u64,
    requests: u64,
    throttled: u64,
    unavailable: u64,
    elapsed: Duration,
    stopped: Option<StopReason>,
}

impl PhaseReport {
    fn json(&self, good: &str, bad: &str, resumed: u64) -> serde_json::Value {
        let elapsed = self.elapsed.as_secs_f64();
        serde_json::json!({
            "records": self.records,
            good: self.good,
            bad: self.bad,
            "notAttempted": self.not_attempted,
            "resumedFrom": resumed,
            "requests": self.requests,
            "throttled": self.throttled,
            "unavailable": self.unavailable,
            "elapsedSeconds": elapsed,
            "recordsPerSecond": (self.good + self.bad) as f64 / elapsed.max(1e-3),
            "stopped": self.stopped.as_ref().map(StopReason::display_chain),
        })
    }
}

/// The journal, if any, and what became of writing to it.
struct JournalState {
    journal: Option<Journal>,
    error: Option<authing_otp_cli::journal::JournalError>,
}

impl JournalState {
    fn write(
        &mut self,
        write: impl FnOnce(&mut Journal) -> Result<(), authing_otp_cli::journal::JournalError>,
    ) {
        if let Some(journal) = self.journal.as_mut()
            && self.error.is_none()
            && let Err(e) = write(journal)
        {
            eprintln!("authing-otp import: {e}; the run goes on, but cannot be resumed");
            self.error = Some(e);
        }
    }

    fn sync(&mut self) {
        if let Some(journal) = self.journal.as_mut()
            && let Err(e) = journal.sync()
        {
            eprintln!("authing-otp import: {e}");
            self.error.get_or_insert(e);
        }
    }
}

/// The import phase: every record the journal does not list as done.
async fn import_phase(
    args: &ImportArgs,
    client: &ManagementClient,
    options: BulkOptions,
    journal: &mut JournalState,
    progress: &mut Progress,
    total: u64,
    broken: &Cell<bool>,
) -> Result<(PhaseReport, usize), ImportFileError> {
    let already = progress.done.clone();
    let todo = records(&args.file, broken)?
        .filter(move |(n, _)| !already.contains(*n))
        .map(|(n, record)| ((n, record.line), record.item));
    let mut display = Display::new(args.quiet, total - progress.done.count(), &IMPORT_WORDS);
    let summary = client
        .bulk_import(options, todo, |event| {
            let done: BatchDone<(u64, u64)> = match event {
                BulkEvent::Done(done) => done,
                other => return display.event(&other),
            };
            let mut settled = Vec::new();
            let mut refused = Vec::new();
            let mut imported = 0;
            for ((n, line), user_id, outcome) in done.outcomes {
                match outcome {
                    Outcome::Imported => {
                        imported += 1;
                        settled.push(n);
                    }
                    Outcome::Refused(why) => {
                        settled.push(n);
                        refused.push(RefusedRecord {
                            record: n,
                            line,
                            user_id,
                            http_status: why.http_status,
                            status_code: why.status_code,
                            api_code: why.api_code,
                            message: why.message,
                        });
                    }
                    // Not sent (the command checked the file for duplicates, and the run
                    // stopped): left for the next run.
                    _ => {}
                }
            }
            let settled_count = settled.len() as u64;
            let done_set = RecordSet::of(settled);
            progress.apply(&done_set, &refused);
            // A batch that settled nothing (the run stopped) leaves no line.
            if settled_count > 0 {
                journal.write(|j| j.record(&done_set, &refused));
            }
            display.batch(imported, refused.len() as u64, settled_count);
        })
        .await;
    display.finish();
    let report = PhaseReport {
        records: summary.records,
        good: summary.imported,
        bad: summary.refused,
        not_attempted: summary.not_attempted,
        requests: summary.requests,
        throttled: summary.throttled,
        unavailable: summary.unavailable,
        elapsed: summary.elapsed,
        stopped: summary.stopped,
    };
    Ok((report, summary.final_batch_size))
}

/// The key of a record being read back: its number, its line, and the secret it imported.
type VerifyKey = (u64, u64, SecretString);

/// The read-back phase: every imported record the journal does not list as read back,
/// compared by canonical secret.
async fn verify_phase(
    args: &ImportArgs,
    client: &ManagementClient,
    options: BulkOptions,
    journal: &mut JournalState,
    progress: &mut Progress,
    broken: &Cell<bool>,
) -> Result<PhaseReport, ImportFileError> {
    let imported = progress.done.count() - progress.refused.len() as u64;
    let remaining = imported.saturating_sub(progress.verified.count());
    let snapshot = progress.clone();
    let todo = records(&args.file, broken)?
        .filter(move |(n, _)| snapshot.imported(*n) && !snapshot.verified.contains(*n))
        .filter_map(|(n, record)| {
            let user = UserRef::by_user_id(record.item.user_id()).ok()?;
            let key: VerifyKey = (n, record.line, record.item.secret().clone());
            Some((key, user))
        });
    let mut display = Display::new(args.quiet, remaining, &VERIFY_WORDS);
    let (mut matched_total, mut mismatched_total) = (0, 0);
    let summary = client
        .bulk_get_otp_secrets(options, todo, |event| {
            let done: ReadDone<VerifyKey> = match event {
                BulkEvent::Done(done) => done,
                other => return display.event(&other),
            };
            let mut settled = Vec::new();
            let mut mismatched = Vec::new();
            let mut matched = 0;
            for ((n, line, expected), user, outcome) in done.outcomes {
                let failure = |message: String| RefusedRecord {
                    record: n,
                    line,
                    user_id: user.user_id().to_owned(),
                    http_status: None,
                    status_code: None,
                    api_code: None,
                    message,
                };
                match outcome {
                    ReadOutcome::Secret(secret) => {
                        settled.push(n);
                        if secret.is_same_key(secrecy::ExposeSecret::expose_secret(&expected)) {
                            matched += 1;
                        } else {
                            mismatched.push(failure(
                                "the secret read back differs from the one imported".into(),
                            ));
                        }
                    }
                    ReadOutcome::Refused(why) => {
                        settled.push(n);
                        mismatched.push(RefusedRecord {
                            http_status: why.http_status,
                            status_code: why.status_code,
                            api_code: why.api_code,
                            ..failure(format!("could not be read back: {}", why.message))
                        });
                    }
                    _ => {}
                }
            }
            let settled_count = settled.len() as u64;
            let verified = RecordSet::of(settled);
            progress.apply_verified(&verified, &mismatched);
            if settled_count > 0 {
                journal.write(|j| j.record_verified(&verified, &mismatched));
            }
            matched_total += matched;
            mismatched_total += mismatched.len() as u64;
            display.batch(matched, mismatched.len() as u64, settled_count);
        })
        .await;
    display.finish();
    Ok(PhaseReport {
        records: summary.records,
        good: matched_total,
        bad: mismatched_total,
        not_attempted: summary.not_attempted,
        requests: summary.requests,
        throttled: summary.throttled,
        unavailable: summary.unavailable,
        elapsed: summary.elapsed,
        stopped: summary.stopped,
    })
}

/// Peak resident memory and CPU time of this process, where the platform tells.
fn resources() -> (Option<u64>, Option<f64>) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024);
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces, inside parentheses).
    let cpu = stat.rsplit_once(')').and_then(|(_, rest)| {
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
        // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after `) state`.
        Some((ticks(11)? + ticks(12)?) / 100.0)
    });
    (peak, cpu)
}

/// `--stall-timeout`, checked.
fn stall_timeout(seconds: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|t| *t >= Duration::from_secs(1) && *t <= MAX_STALL_TIMEOUT)
        .ok_or_else(|| {
            format!(
                "--stall-timeout must be at least 1 and at most {} seconds",
                MAX_STALL_TIMEOUT.as_secs()
            )
        })
}

/// Checks the whole file, then imports it in batches, resumable with `--journal`.
pub async fn import(args: ImportArgs) -> ExitCode {
    let shown = args.file.display().to_string();
    let started = Instant::now();
    if let Err(why) = check_outputs(&args) {
        eprintln!("authing-otp import: {why}; nothing was sent");
        return ExitCode::from(2);
    }
    let stall = match stall_timeout(args.stall_timeout) {
        Ok(stall) => stall,
        Err(why) => {
            eprintln!("authing-otp import: {why}");
            return ExitCode::from(2);
        }
    };
    let (records_total, identity) = match check(&args) {
        Ok(checked) => checked,
        Err(code) => return code,
    };
    if args.dry_run {
        println!("{shown}: {records_total} valid records; nothing was sent (--dry-run)");
        return ExitCode::SUCCESS;
    }
    let client = match args.client.client(None) {
        Ok(client) => client,
        Err(e) => return fail("import", &e),
    };
    let (journal, mut progress) = match &args.journal {
        Some(path) => match Journal::open(path, &identity) {
            Ok((journal, progress)) => (Some(journal), progress),
            Err(e) => {
                eprintln!("authing-otp import: {e}");
                return ExitCode::from(2);
            }
        },
        None => (None, Progress::default()),
    };
    let mut journal = JournalState {
        journal,
        error: None,
    };
    let beyond = |set: &RecordSet| {
        set.ranges()
            .last()
            .is_some_and(|&(_, last)| last >= records_total)
    };
    if beyond(&progress.done) || beyond(&progress.verified) {
        eprintln!(
            "authing-otp import: the journal lists records beyond the {records_total} of \
             {shown}: it was not made by this command for this file; nothing was sent"
        );
        return ExitCode::from(2);
    }
    let resumed = progress.done.count();
    let resumed_verified = progress.verified.count();
    if resumed > 0 && !args.quiet {
        eprintln!(
            "authing-otp import: resuming: {resumed} of {records_total} records were done before"
        );
    }
    // The command checked the whole file for duplicates: the engine need not keep a
    // fingerprint per record again.
    let options = BulkOptions::default()
        .batch_size(usize::from(args.batch_size))
        .concurrency(usize::from(args.concurrency))
        .stall_timeout(stall)
        .check_duplicates(false);
    let broken = Cell::new(false);
    let (import, batch_size) = match import_phase(
        &args,
        &client,
        options.clone(),
        &mut journal,
        &mut progress,
        records_total,
        &broken,
    )
    .await
    {
        Ok(done) => done,
        Err(e) => {
            eprintln!("authing-otp import: {shown}: {e}");
            return ExitCode::from(2);
        }
    };
    journal.sync();
    let all_imported = progress.done.count() == records_total;
    let verify = if args.verify && import.stopped.is_none() && all_imported && !broken.get() {
        if resumed_verified > 0 && !args.quiet {
            eprintln!(
                "authing-otp import: verify: resuming: {resumed_verified} records were read \
                 back before"
            );
        }
        match verify_phase(
            &args,
            &client,
            options,
            &mut journal,
            &mut progress,
            &broken,
        )
        .await
        {
            Ok(report) => Some(report),
            Err(e) => {
                eprintln!("authing-otp import: {shown}: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    journal.sync();
    if let Err(e) = write_outputs(&args, &progress) {
        eprintln!("authing-otp import: writing the failures file or the report: {e}");
        return ExitCode::FAILURE;
    }

    let refused = progress.refused.len() as u64;
    let imported = progress.done.count().saturating_sub(refused);
    let not_attempted = records_total.saturating_sub(progress.done.count());
    let mismatched = progress.mismatched.len() as u64;
    let verified = progress.verified.count();
    // The numbering holds only for the file the run checked.
    let changed = broken.get() || identify(&args.file).ok().as_ref() != Some(&identity);
    if changed {
        eprintln!(
            "authing-otp import: {shown} changed or could not be read during the run: what \
             the journal says of it no longer holds; start again with a new journal"
        );
    }
    let stats = client.stats();
    let elapsed = started.elapsed().as_secs_f64();
    let (peak_rss, cpu) = resources();
    let stopped = import
        .stopped
        .as_ref()
        .or(verify.as_ref().and_then(|v| v.stopped.as_ref()))
        .map(StopReason::display_chain);
    let import_rate = (import.good + import.bad) as f64 / import.elapsed.as_secs_f64().max(1e-3);
    if args.json {
        let answer = serde_json::json!({
            "file": shown,
            "records": records_total,
            "imported": imported,
            "refused": refused,
            "notAttempted": not_attempted,
            "resumedFrom": resumed,
            "requests": stats.requests,
            "retries": stats.retries,
            "throttled": stats.throttled,
            "elapsedSeconds": elapsed,
            "recordsPerSecond": import_rate,
            "batchSize": batch_size,
            "stopped": stopped,
            "import": import.json("imported", "refused", resumed),
            "verify": verify.as_ref().map(|v| {
                let mut json = v.json("matched", "mismatched", resumed_verified);
                json["verified"] = verified.into();
                json["mismatchedInAll"] = mismatched.into();
                json
            }),
            "peakRssBytes": peak_rss,
            "cpuSeconds": cpu,
        });
        println!("{answer}");
    } else {
        println!(
            "{shown}: {records_total} records: {imported} imported, {refused} refused, \
             {not_attempted} not attempted; {} requests in {elapsed:.1} s",
            stats.requests
        );
        println!(
            "  import: {} records in {:.1} s ({import_rate:.0}/s), {} requests ({} throttled, \
             {} unavailable)",
            import.good + import.bad,
            import.elapsed.as_secs_f64(),
            import.requests,
            import.throttled,
            import.unavailable
        );
        if let Some(v) = &verify {
            println!(
                "  verify: {} read back in {:.1} s, {} requests ({} throttled, {} unavailable); \
                 in all {verified} of {imported} read back, {mismatched} differ",
                v.good + v.bad,
                v.elapsed.as_secs_f64(),
                v.requests,
                v.throttled,
                v.unavailable
            );
        }
        let line_of = |r: &RefusedRecord| {
            let code = match (r.status_code, r.http_status) {
                (Some(code), _) => format!("statusCode {code}: "),
                (None, Some(status)) => format!("HTTP {status}: "),
                (None, None) => String::new(),
            };
            let api = r
                .api_code
                .map(|c| format!("apiCode {c}: "))
                .unwrap_or_default();
            format!("  line {}: {}: {code}{api}{}", r.line, r.user_id, r.message)
        };
        let problems: Vec<&RefusedRecord> = progress
            .refused
            .values()
            .chain(progress.mismatched.values())
            .collect();
        for r in problems.iter().take(MAX_SHOWN_ERRORS) {
            println!("{}", line_of(r));
        }
        if problems.len() > MAX_SHOWN_ERRORS {
            println!(
                "  … and {} more (see --report)",
                problems.len() - MAX_SHOWN_ERRORS
            );
        }
        if let Some(why) = &stopped {
            let again = if args.journal.is_some() {
                "run the same command again to continue"
            } else {
                "run it again with --journal to continue where a run stops"
            };
            println!("stopped: {why}; {again}");
        }
    }
    let verify_ok = !args.verify || (verified == imported && mismatched == 0);
    if refused == 0
        && not_attempted == 0
        && verify_ok
        && stopped.is_none()
        && journal.error.is_none()
        && !changed
    {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
