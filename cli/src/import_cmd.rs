//! `authing-otp import`: a bulk migration of OTP enrolments, resumable, with an outcome for
//! every record.
//!
//! Three passes over the file, none holding it in memory: check every line (and identify the
//! file for the journal), import what the journal does not list as done, then write the
//! failures file and the report from the journal. `--verify` adds a fourth, reading back what
//! was imported.

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
    ExposeSecret, ManagementClient, UserRef,
    bulk::{BatchDone, BulkOptions, Outcome, UserFingerprints},
};
use authing_otp_cli::{
    import::{ImportFileError, ImportFormat, ImportReader, ImportRecord},
    journal::{IdentifyingReader, InputIdentity, Journal, Progress, RecordSet, RefusedRecord},
};
use indicatif::{ProgressBar, ProgressStyle};

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

    /// Where to keep what is done, so that the same command resumes after a crash.
    #[arg(long, value_name = "PATH")]
    journal: Option<PathBuf>,

    /// Write the refused records' lines there, byte for byte (owner-only: it holds secrets).
    #[arg(long, value_name = "PATH")]
    failures: Option<PathBuf>,

    /// Write why each record was refused there, as JSON Lines (no secrets).
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,

    /// After importing, read every imported user's secret back and compare.
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

/// Shows how far the import is: a bar on a terminal, a line every few seconds otherwise.
struct Display {
    bar: Option<ProgressBar>,
    plain: bool,
    last_line: Instant,
    started: Instant,
    total: u64,
    done: u64,
    imported: u64,
    refused: u64,
}

impl Display {
    fn new(quiet: bool, total: u64) -> Self {
        let terminal = io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} records  {rate}  ETA {eta}  {msg}",
                )
                .expect("a valid template")
                .with_key(
                    "rate",
                    |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0} records/s", state.per_sec());
                    },
                ),
            );
            bar
        });
        Display {
            bar,
            plain: !quiet && !terminal,
            last_line: Instant::now(),
            started: Instant::now(),
            total,
            done: 0,
            imported: 0,
            refused: 0,
        }
    }

    fn batch(&mut self, imported: u64, refused: u64, settled: u64) {
        self.imported += imported;
        self.refused += refused;
        self.done += settled;
        if let Some(bar) = &self.bar {
            bar.set_position(self.done);
            bar.set_message(format!(
                "{} imported, {} refused",
                self.imported, self.refused
            ));
        } else if self.plain && self.last_line.elapsed() >= PLAIN_PROGRESS_EVERY {
            self.last_line = Instant::now();
            let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
            eprintln!(
                "authing-otp import: {}/{} records ({:.0}/s): {} imported, {} refused",
                self.done, self.total, rate, self.imported, self.refused
            );
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

/// Pass 3: the failures file (refused lines, byte for byte, after the header for CSV, so that
/// it can be imported again) and the report, from the journal's complete list of refusals.
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
        out.flush()?;
    }
    Ok(())
}

/// What `--verify` found.
#[derive(Default)]
struct Verified {
    checked: u64,
    mismatches: u64,
    errors: u64,
}

/// Pass 4: reads back each imported record's secret (by user id) and compares.
async fn verify(
    args: &ImportArgs,
    client: &ManagementClient,
    progress: &Progress,
) -> io::Result<Verified> {
    let mut verified = Verified::default();
    let mut tasks = tokio::task::JoinSet::new();
    let limit = usize::from(args.concurrency);
    let broken = Cell::new(false);
    let reader = records(&args.file, &broken).map_err(io::Error::other)?;
    let imported =
        reader.filter(|(n, _)| progress.done.contains(*n) && !progress.refused.contains_key(n));
    for (_, record) in imported {
        while tasks.len() >= limit {
            tally(&mut verified, tasks.join_next().await);
        }
        let client = client.clone();
        tasks.spawn(async move {
            let user = UserRef::by_user_id(record.item.user_id()).ok()?;
            let got = client.get_otp_secret_by_user(&user).await;
            Some((
                record.line,
                got.map(|s| s.expose_secret() == record.item.secret().expose_secret()),
            ))
        });
    }
    while let Some(joined) = tasks.join_next().await {
        tally(&mut verified, Some(joined));
    }
    Ok(verified)
}

type VerifyResult = Option<(u64, Result<bool, authing_otp::Error>)>;

fn tally(verified: &mut Verified, joined: Option<Result<VerifyResult, tokio::task::JoinError>>) {
    let Some(Ok(Some((line, result)))) = joined else {
        verified.errors += 1;
        return;
    };
    verified.checked += 1;
    match result {
        Ok(true) => {}
        Ok(false) => {
            verified.mismatches += 1;
            eprintln!("authing-otp import: verify: line {line}: the secret read back differs");
        }
        Err(e) => {
            verified.errors += 1;
            eprintln!(
                "authing-otp import: verify: line {line}: {}",
                e.display_chain()
            );
        }
    }
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

/// Checks the whole file, then imports it in batches, resumable with `--journal`.
pub async fn import(args: ImportArgs) -> ExitCode {
    let shown = args.file.display().to_string();
    if let Err(why) = check_outputs(&args) {
        eprintln!("authing-otp import: {why}; nothing was sent");
        return ExitCode::from(2);
    }
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
    let (mut journal, mut progress) = match &args.journal {
        Some(path) => match Journal::open(path, &identity) {
            Ok((journal, progress)) => (Some(journal), progress),
            Err(e) => {
                eprintln!("authing-otp import: {e}");
                return ExitCode::from(2);
            }
        },
        None => (None, Progress::default()),
    };
    if progress
        .done
        .ranges()
        .last()
        .is_some_and(|&(_, last)| last >= records_total)
    {
        eprintln!(
            "authing-otp import: the journal lists records beyond the {records_total} of \
             {shown}: it was not made by this command for this file; nothing was sent"
        );
        return ExitCode::from(2);
    }
    let resumed = progress.done.count();
    if resumed > 0 && !args.quiet {
        eprintln!(
            "authing-otp import: resuming: {resumed} of {records_total} records were done before"
        );
    }
    let broken = Cell::new(false);
    let reader = match records(&args.file, &broken) {
        Ok(reader) => reader,
        Err(e) => {
            eprintln!("authing-otp import: {shown}: {e}");
            return ExitCode::from(2);
        }
    };
    let already = progress.done.clone();
    let todo = reader
        .filter(move |(n, _)| !already.contains(*n))
        .map(|(n, record)| ((n, record.line), record.item));
    let mut display = Display::new(args.quiet, records_total - resumed);
    let mut journal_error = None;
    let options = BulkOptions::default()
        .batch_size(usize::from(args.batch_size))
        .concurrency(usize::from(args.concurrency));
    let summary = client
        .bulk_import(options, todo, |done: BatchDone<(u64, u64)>| {
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
                    _ => {}
                }
            }
            let settled_count = settled.len() as u64;
            let done_set = RecordSet::of(settled);
            progress.apply(&done_set, &refused);
            if let Some(journal) = journal.as_mut()
                && journal_error.is_none()
                && let Err(e) = journal.record(&done_set, &refused)
            {
                eprintln!("authing-otp import: {e}; the run goes on, but cannot be resumed");
                journal_error = Some(e);
            }
            display.batch(imported, refused.len() as u64, settled_count);
        })
        .await;
    display.finish();
    if let Some(journal) = journal.as_mut()
        && let Err(e) = journal.sync()
    {
        eprintln!("authing-otp import: {e}");
        journal_error.get_or_insert(e);
    }
    if let Err(e) = write_outputs(&args, &progress) {
        eprintln!("authing-otp import: writing the failures file or the report: {e}");
        return ExitCode::FAILURE;
    }
    let verified = if args.verify && summary.stopped.is_none() {
        match verify(&args, &client, &progress).await {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("authing-otp import: verify: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };

    let refused = progress.refused.len() as u64;
    let imported = progress.done.count().saturating_sub(refused);
    let not_attempted = records_total.saturating_sub(progress.done.count());
    // The numbering holds only for the file the run checked.
    let changed = broken.get() || identify(&args.file).ok().as_ref() != Some(&identity);
    if changed {
        eprintln!(
            "authing-otp import: {shown} changed or could not be read during the run: what \
             the journal says of it no longer holds; start again with a new journal"
        );
    }
    let stats = client.stats();
    let elapsed = summary.elapsed.as_secs_f64();
    let rate = (summary.imported + summary.refused) as f64 / elapsed.max(1e-3);
    let (peak_rss, cpu) = resources();
    let stopped = summary
        .stopped
        .as_deref()
        .map(authing_otp::Error::display_chain);
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
            "recordsPerSecond": rate,
            "batchSize": summary.final_batch_size,
            "stopped": stopped,
            "verify": verified.as_ref().map(|v| serde_json::json!({
                "checked": v.checked, "mismatches": v.mismatches, "errors": v.errors
            })),
            "peakRssBytes": peak_rss,
            "cpuSeconds": cpu,
        });
        println!("{answer}");
    } else {
        println!(
            "{shown}: {records_total} records: {imported} imported, {refused} refused, \
             {not_attempted} not attempted; {} requests ({} retries, {} throttled) in {elapsed:.1} s \
             ({rate:.0} records/s)",
            stats.requests, stats.retries, stats.throttled
        );
        if refused > 0 {
            for r in progress.refused.values().take(MAX_SHOWN_ERRORS) {
                let code = match (r.status_code, r.http_status) {
                    (Some(code), _) => format!("statusCode {code}"),
                    (None, Some(status)) => format!("HTTP {status}"),
                    (None, None) => "refused".to_owned(),
                };
                let api = r
                    .api_code
                    .map(|c| format!(", apiCode {c}"))
                    .unwrap_or_default();
                println!(
                    "  line {}: {}: {code}{api}: {}",
                    r.line, r.user_id, r.message
                );
            }
            if refused > MAX_SHOWN_ERRORS as u64 {
                println!(
                    "  … and {} more (see --report)",
                    refused - MAX_SHOWN_ERRORS as u64
                );
            }
        }
        if let Some(v) = &verified {
            println!(
                "verify: {} read back, {} mismatches, {} errors",
                v.checked, v.mismatches, v.errors
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
    let verify_ok = verified.is_none_or(|v| v.mismatches == 0 && v.errors == 0);
    if refused == 0 && not_attempted == 0 && verify_ok && journal_error.is_none() && !changed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
